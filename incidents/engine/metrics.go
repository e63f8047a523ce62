package engine

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lookout-status/lookout/incidents"
)

type metrics struct {
	open         *prometheus.GaugeVec
	tta          prometheus.Histogram
	events       *prometheus.CounterVec
	probeResults prometheus.Counter // events{type="probe_result"}: one per probe run, so no label lookup
	commitErrors prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		open: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "lookout_incidents_open",
			Help: "Open incidents by organization and lifecycle state.",
		}, []string{"organization", "state"}),
		tta: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "lookout_incident_time_to_acknowledge_seconds",
			Help:    "Time from an incident opening to its acknowledgement.",
			Buckets: []float64{30, 60, 120, 300, 600, 900, 1800, 3600, 7200},
		}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lookout_incident_events_total",
			Help: "Events applied to the incident state machine, by type.",
		}, []string{"type"}),
		commitErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lookout_incident_commit_errors_total",
			Help: "Failed commits of incident state (the previous state was kept).",
		}),
	}
	m.probeResults = m.events.WithLabelValues("probe_result")
	if reg != nil {
		reg.MustRegister(m.open, m.tta, m.events, m.commitErrors)
	}
	return m
}

func (m *metrics) event(ev incidents.Event) {
	var t string
	switch ev.(type) {
	case incidents.ProbeResult:
		m.probeResults.Inc()
		return
	case incidents.Tick:
		return // ticks are not interesting and very frequent
	case incidents.ExternalAlert:
		t = "external_alert"
	case incidents.Acknowledge:
		t = "acknowledge"
	case incidents.Resolve:
		t = "resolve"
	case incidents.Snooze:
		t = "snooze"
	case incidents.AddNote:
		t = "note"
	case incidents.PublicUpdate:
		t = "public_update"
	default:
		t = "other"
	}
	m.events.WithLabelValues(t).Inc()
}

func (m *metrics) observe(org string, prev *incidents.State, st incidents.State, effs []incidents.Effect) {
	counts := map[incidents.Lifecycle]int{incidents.Triggered: 0, incidents.Acknowledged: 0}
	for _, inc := range st.Incidents {
		counts[inc.Lifecycle]++
	}
	for lc, n := range counts {
		m.open.WithLabelValues(org, string(lc)).Set(float64(n))
	}
	if prev == nil {
		return
	}
	for _, ef := range effs {
		u, ok := ef.(incidents.IncidentUpdated)
		if !ok || u.Incident.Lifecycle != incidents.Acknowledged || u.Incident.AckedAt.IsZero() {
			continue
		}
		if old, ok := prev.Incidents[u.Incident.ID]; ok && old.Lifecycle == incidents.Triggered {
			m.tta.Observe(u.Incident.AckedAt.Sub(u.Incident.StartedAt).Seconds())
		}
	}
}

package probes

import (
	"github.com/prometheus/client_golang/prometheus"
)

// durationBuckets spans 1 ms to 30 s, the range of a probe's wall time.
var durationBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// lagBuckets spans 1 ms to 30 s, how late a run may start behind its slot.
var lagBuckets = []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// knownOutcomes are the outcomes whose result counters are created with the
// probe, so a series exists (at 0) before its first occurrence.
var knownOutcomes = [...]Outcome{Up, Degraded, Down}

// schedulerMetrics are the scheduler's Prometheus collectors. Probe ids are
// unique per organization only, so every per-probe series carries the
// organization label too.
type schedulerMetrics struct {
	duration  *prometheus.HistogramVec // organization, probe, component, region
	results   *prometheus.CounterVec   // organization, probe, component, region, outcome
	skipped   *prometheus.CounterVec   // organization, probe
	lag       prometheus.Histogram
	inFlight  prometheus.Gauge
	scheduled prometheus.Gauge
}

// newSchedulerMetrics builds the collectors and registers them on reg unless
// it is nil. Registering twice on one registry panics, as MustRegister does.
func newSchedulerMetrics(reg prometheus.Registerer) *schedulerMetrics {
	probeLabels := []string{"organization", "probe", "component", "region"}
	m := &schedulerMetrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "lookout_probe_duration_seconds",
			Help:    "Wall time of completed probe runs.",
			Buckets: durationBuckets,
		}, probeLabels),
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lookout_probe_results_total",
			Help: "Completed probe runs, by outcome.",
		}, append(probeLabels[:len(probeLabels):len(probeLabels)], "outcome")),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lookout_probe_skipped_total",
			Help: "Scheduled probe runs skipped because the previous run of the probe was still in flight.",
		}, []string{"organization", "probe"}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "lookout_scheduler_lag_seconds",
			Help:    "Delay between a probe run's scheduled time and its actual start.",
			Buckets: lagBuckets,
		}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "lookout_probes_in_flight",
			Help: "Probe runs executing now.",
		}),
		scheduled: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "lookout_probes_scheduled",
			Help: "Probes on the schedule.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.duration, m.results, m.skipped, m.lag, m.inFlight, m.scheduled)
	}
	return m
}

// probeSeries caches one probe's series so a run records its metrics
// without a label lookup. Observing a child after its series was deleted
// (the probe was removed mid-run) does not bring the series back.
type probeSeries struct {
	org, id, component, region string

	duration prometheus.Observer
	results  [len(knownOutcomes)]prometheus.Counter
	skipped  prometheus.Counter
}

func (m *schedulerMetrics) series(org, id, component, region string) *probeSeries {
	ps := &probeSeries{org: org, id: id, component: component, region: region}
	ps.duration = m.duration.WithLabelValues(org, id, component, region)
	for i, o := range knownOutcomes {
		ps.results[i] = m.results.WithLabelValues(org, id, component, region, string(o))
	}
	ps.skipped = m.skipped.WithLabelValues(org, id)
	return ps
}

// sameLabels reports whether ps has these label values.
func (ps *probeSeries) sameLabels(org, id, component, region string) bool {
	return ps.org == org && ps.id == id && ps.component == component && ps.region == region
}

// result returns the counter for outcome o; o must be a known outcome.
func (ps *probeSeries) result(o Outcome) prometheus.Counter {
	for i, k := range knownOutcomes {
		if k == o {
			return ps.results[i]
		}
	}
	return ps.results[len(ps.results)-1] // Down; the scheduler normalises outcomes
}

// delete removes every series of ps from the vectors.
func (m *schedulerMetrics) delete(ps *probeSeries) {
	m.duration.DeleteLabelValues(ps.org, ps.id, ps.component, ps.region)
	for _, o := range knownOutcomes {
		m.results.DeleteLabelValues(ps.org, ps.id, ps.component, ps.region, string(o))
	}
	m.skipped.DeleteLabelValues(ps.org, ps.id)
}

package probes

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// durationBuckets spans 1 ms to 30 s, the range of a probe's wall time.
var durationBuckets = [...]float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// lagBuckets spans 1 ms to 30 s, how late a run may start behind its slot.
var lagBuckets = []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// knownOutcomes are the outcomes whose result counters exist from the
// probe's start, so a series exists (at 0) before its first occurrence.
var knownOutcomes = [...]Outcome{Up, Degraded, Down}

// schedulerMetrics are the scheduler's Prometheus collectors. Probe ids are
// unique per organization only, so every per-probe series carries the
// organization label too.
type schedulerMetrics struct {
	probes    *probeCollector
	lag       prometheus.Histogram
	inFlight  prometheus.Gauge
	scheduled prometheus.Gauge
}

// newSchedulerMetrics builds the collectors and registers them on reg unless
// it is nil. Registering twice on one registry panics, as MustRegister does.
func newSchedulerMetrics(reg prometheus.Registerer) *schedulerMetrics {
	m := &schedulerMetrics{
		probes: newProbeCollector(),
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
		reg.MustRegister(m.probes, m.lag, m.inFlight, m.scheduled)
	}
	return m
}

// series returns a new set of series for one probe, exposed from now on.
func (m *schedulerMetrics) series(org, id, component, region string) *probeSeries {
	return m.probes.add(org, id, component, region)
}

// delete stops exposing ps. Recording into it afterwards (a run of a
// removed probe finishing) changes nothing visible.
func (m *schedulerMetrics) delete(ps *probeSeries) { m.probes.remove(ps) }

// probeCollector exposes every probe's series:
//
//	lookout_probe_duration_seconds{organization, probe, component, region}  histogram, 14 buckets
//	lookout_probe_results_total{organization, probe, component, region, outcome}  up, degraded, down
//	lookout_probe_skipped_total{organization, probe}
//
// That is 21 lines of exposition per probe (17 for the histogram, 3 result
// counters, 1 skipped counter). It is a collector of its own rather than
// client_golang vectors because vectors keep, per child, label-pair objects,
// a map entry and a hot/cold histogram: about 5 KB per probe, 25 MB at 5,000
// probes. Here a probe's series are plain counters under one mutex, and
// the label pairs are built once per probe and shared by its series.
type probeCollector struct {
	duration, results, skipped *prometheus.Desc
	outcomePairs               [len(knownOutcomes)]*dto.LabelPair

	mu  sync.Mutex
	all map[*probeSeries]struct{}
}

func newProbeCollector() *probeCollector {
	probeLabels := []string{"organization", "probe", "component", "region"}
	c := &probeCollector{
		duration: prometheus.NewDesc("lookout_probe_duration_seconds",
			"Wall time of completed probe runs.", probeLabels, nil),
		results: prometheus.NewDesc("lookout_probe_results_total",
			"Completed probe runs, by outcome.", append(probeLabels[:4:4], "outcome"), nil),
		skipped: prometheus.NewDesc("lookout_probe_skipped_total",
			"Scheduled probe runs skipped because the previous run of the probe was still in flight.",
			[]string{"organization", "probe"}, nil),
		all: map[*probeSeries]struct{}{},
	}
	for i, o := range knownOutcomes {
		c.outcomePairs[i] = labelPair("outcome", string(o))
	}
	return c
}

func labelPair(name, value string) *dto.LabelPair {
	return &dto.LabelPair{Name: &name, Value: &value}
}

// Describe implements prometheus.Collector.
func (c *probeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.duration
	ch <- c.results
	ch <- c.skipped
}

// Collect implements prometheus.Collector.
func (c *probeCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	all := make([]*probeSeries, 0, len(c.all))
	for ps := range c.all {
		all = append(all, ps)
	}
	c.mu.Unlock()
	for _, ps := range all {
		ch <- probeMetric{ps: ps, desc: c.duration, kind: -1}
		for i := range knownOutcomes {
			ch <- probeMetric{ps: ps, desc: c.results, kind: i}
		}
		ch <- probeMetric{ps: ps, desc: c.skipped, kind: len(knownOutcomes)}
	}
}

func (c *probeCollector) add(org, id, component, region string) *probeSeries {
	ps := &probeSeries{org: org, id: id, component: component, region: region}
	// Label pairs sorted by name, as the exposition wants them.
	comp, orgP, probe, reg := labelPair("component", component), labelPair("organization", org),
		labelPair("probe", id), labelPair("region", region)
	ps.labels = []*dto.LabelPair{comp, orgP, probe, reg}
	for i, op := range c.outcomePairs {
		ps.outcomeLabels[i] = []*dto.LabelPair{comp, orgP, op, probe, reg}
	}
	ps.skippedLabels = []*dto.LabelPair{orgP, probe}
	c.mu.Lock()
	c.all[ps] = struct{}{}
	c.mu.Unlock()
	return ps
}

func (c *probeCollector) remove(ps *probeSeries) {
	c.mu.Lock()
	delete(c.all, ps)
	c.mu.Unlock()
}

// probeSeries is one probe's series. Its label values identify it; the
// label pairs are shared read-only with every scrape.
type probeSeries struct {
	org, id, component, region string

	labels        []*dto.LabelPair // component, organization, probe, region
	outcomeLabels [len(knownOutcomes)][]*dto.LabelPair
	skippedLabels []*dto.LabelPair // organization, probe

	mu sync.Mutex
	// buckets counts durations per bucket, not cumulative; the last one
	// counts those above the largest bound.
	buckets [len(durationBuckets) + 1]uint64
	sum     float64
	results [len(knownOutcomes)]uint64
	skip    uint64
}

// sameLabels reports whether ps has these label values.
func (ps *probeSeries) sameLabels(org, id, component, region string) bool {
	return ps.org == org && ps.id == id && ps.component == component && ps.region == region
}

// record counts one completed run: its wall time in seconds and its
// outcome (an outcome that is not known counts as down; the scheduler
// normalises outcomes before this).
func (ps *probeSeries) record(seconds float64, o Outcome) {
	b := len(durationBuckets)
	for i, ub := range durationBuckets {
		if seconds <= ub {
			b = i
			break
		}
	}
	r := len(knownOutcomes) - 1
	for i, k := range knownOutcomes {
		if k == o {
			r = i
			break
		}
	}
	ps.mu.Lock()
	ps.buckets[b]++
	ps.sum += seconds
	ps.results[r]++
	ps.mu.Unlock()
}

// skipped counts one skipped slot.
func (ps *probeSeries) skipped() {
	ps.mu.Lock()
	ps.skip++
	ps.mu.Unlock()
}

// probeMetric is one of a probe's series at scrape time: kind -1 is the
// duration histogram, 0..2 a result counter (by knownOutcomes index), 3 the
// skipped counter.
type probeMetric struct {
	ps   *probeSeries
	desc *prometheus.Desc
	kind int
}

func (m probeMetric) Desc() *prometheus.Desc { return m.desc }

func (m probeMetric) Write(out *dto.Metric) error {
	ps := m.ps
	switch {
	case m.kind < 0:
		ps.mu.Lock()
		counts, sum := ps.buckets, ps.sum
		ps.mu.Unlock()
		h := &dto.Histogram{SampleSum: &sum, Bucket: make([]*dto.Bucket, len(durationBuckets))}
		var cum uint64
		for i := range durationBuckets {
			cum += counts[i]
			h.Bucket[i] = &dto.Bucket{CumulativeCount: ptr(cum), UpperBound: &durationBuckets[i]}
		}
		cum += counts[len(durationBuckets)]
		h.SampleCount = &cum
		out.Label, out.Histogram = ps.labels, h
	case m.kind < len(knownOutcomes):
		ps.mu.Lock()
		v := float64(ps.results[m.kind])
		ps.mu.Unlock()
		out.Label, out.Counter = ps.outcomeLabels[m.kind], &dto.Counter{Value: &v}
	default:
		ps.mu.Lock()
		v := float64(ps.skip)
		ps.mu.Unlock()
		out.Label, out.Counter = ps.skippedLabels, &dto.Counter{Value: &v}
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

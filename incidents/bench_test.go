package incidents

import (
	"fmt"
	"math/rand"
	"testing"
	"time"
)

// benchState is an organization with n components in groups of 20, one
// probe each (failure threshold 2, quorum 2 of 3 regions).
func benchState(n int) State {
	cfg := testConfig()
	cfg.Components, cfg.Probes = nil, nil
	for i := range n {
		id := fmt.Sprintf("c%04d", i)
		cfg.Components = append(cfg.Components, ComponentConfig{ID: id, Name: id, Group: fmt.Sprintf("g%d", i/20)})
		cfg.Probes = append(cfg.Probes, ProbeConfig{ID: "p-" + id, Component: id, FailureThreshold: 2, Quorum: 2})
	}
	cfg.Policy.FlapChanges, cfg.Policy.FlapWindow = 5, 30*time.Minute
	return New("acme", cfg)
}

// benchEvents returns results from 3 regions for random probes, 2% down,
// 1% degraded, one every 10ms of simulated time.
func benchEvents(n, count int) []ProbeResult {
	r := rand.New(rand.NewSource(1))
	evs := make([]ProbeResult, count)
	for i := range evs {
		o := Up
		switch x := r.Intn(100); {
		case x < 2:
			o = Down
		case x < 3:
			o = Degraded
		}
		evs[i] = ProbeResult{Org: "acme", Probe: fmt.Sprintf("p-c%04d", r.Intn(n)), Region: genRegions[r.Intn(3)],
			Outcome: o, At: t0.Add(time.Duration(i) * 10 * time.Millisecond)}
	}
	return evs
}

// BenchmarkStep measures Step (copying the state) and Apply (in place) on
// 1,000 components with random results.
func BenchmarkStep(b *testing.B) {
	const n = 1000
	evs := benchEvents(n, 1<<16)
	b.Run("Step", func(b *testing.B) {
		s := benchState(n)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			e := evs[i%len(evs)]
			e.At = e.At.Add(time.Duration(i/len(evs)) * time.Hour)
			s, _ = Step(s, e, e.At)
			i++
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("Apply", func(b *testing.B) {
		s := benchState(n)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			e := evs[i%len(evs)]
			e.At = e.At.Add(time.Duration(i/len(evs)) * time.Hour)
			s.Apply(e, e.At)
			i++
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
}

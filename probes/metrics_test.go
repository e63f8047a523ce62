package probes

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkProbeSeriesMemory reports the heap a probe's metric series keep
// (B/probe), for 5,000 probes, and the cost of one recorded run (ns/op).
func BenchmarkProbeSeriesMemory(b *testing.B) {
	const n = 5000
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	reg := prometheus.NewRegistry()
	m := newSchedulerMetrics(reg)
	before := heap()
	all := make([]*probeSeries, n)
	for i := range all {
		all[i] = m.series("acme", fmt.Sprintf("probe-%d", i), fmt.Sprintf("c%d", i%10), DefaultRegion)
	}
	perProbe := float64(heap()-before) / n
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		all[i%n].record(0.0123, Up)
		i++
	}
	runtime.KeepAlive(all)
	b.ReportMetric(perProbe, "B/probe")
}

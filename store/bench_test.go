package store

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/lookout-status/lookout/clock"
	"github.com/lookout-status/lookout/config"
	"github.com/lookout-status/lookout/probes"
)

// The sizing target: 5,000 probes every 30 s.
const (
	benchProbes   = 5000
	benchInterval = 30 * time.Second
	benchBatch    = 500
)

func benchDB(b *testing.B) (*DB, *clock.Fake) {
	b.Helper()
	fc := clock.NewFake(t0)
	db := mustOpenPath(b, b.TempDir()+"/bench.db", Options{Now: fc.Now})
	org := config.Organization{ID: "acme", Name: "Acme", Components: []config.Component{{ID: "api", Name: "API"}}}
	for i := range benchProbes {
		org.Probes = append(org.Probes, config.Probe{ID: fmt.Sprintf("probe-%04d", i), Name: "p", Component: "api",
			Kind: "http", Interval: benchInterval, Timeout: 10 * time.Second, Definition: `{"url":"https://api.acme.test/"}`})
	}
	if _, err := db.Apply(context.Background(), &config.Config{Organizations: []config.Organization{org}}); err != nil {
		b.Fatal(err)
	}
	return db, fc
}

// benchResult is result n of the stream: probes in turn, one round every
// benchInterval, with an HTTP probe's phases.
func benchResult(n int) probes.Result {
	p := n % benchProbes
	round := n / benchProbes
	r := probes.Result{
		ProbeID:  fmt.Sprintf("probe-%04d", p),
		Region:   "local",
		Started:  t0.Add(time.Duration(round)*benchInterval + time.Duration(p)*benchInterval/benchProbes),
		Duration: time.Duration(40+n%60) * time.Millisecond,
		Outcome:  probes.Up,
	}
	r.AddPhase("dns", 800*time.Microsecond)
	r.AddPhase("connect", 12*time.Millisecond)
	r.AddPhase("tls", 18*time.Millisecond)
	r.AddPhase("first_byte", 35*time.Millisecond)
	r.AddPhase("total", r.Duration)
	if n%97 == 0 {
		r.Outcome = probes.Down
		r.Error = "connect: connection refused"
	}
	return r
}

// fileBytes checkpoints the WAL into the main file and returns its size.
func fileBytes(b *testing.B, db *DB) int64 {
	b.Helper()
	if _, err := db.w.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		b.Fatal(err)
	}
	st, err := os.Stat(db.Path())
	if err != nil {
		b.Fatal(err)
	}
	return st.Size()
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkInsertResults writes batches of 500 results in one transaction
// each and reports wall and CPU time per result and database bytes per
// result (index included, after a checkpoint).
func BenchmarkInsertResults(b *testing.B) {
	db, _ := benchDB(b)
	ctx := context.Background()
	batch := make([]probes.Result, benchBatch)
	before := fileBytes(b, db)
	n := 0
	b.ResetTimer()
	cpu0 := cpuTime()
	for range b.N {
		for j := range batch {
			batch[j] = benchResult(n)
			n++
		}
		if err := db.InsertResults(ctx, "acme", batch); err != nil {
			b.Fatal(err)
		}
	}
	cpu := cpuTime() - cpu0
	b.StopTimer()
	results := float64(b.N * benchBatch)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/results, "ns/result")
	b.ReportMetric(float64(cpu.Nanoseconds())/results, "cpu-ns/result")
	b.ReportMetric(float64(fileBytes(b, db)-before)/results, "B/result")
}

// BenchmarkRollup measures one Rollup run as a deployment would run it:
// 5,000 probes, hour buckets part full, and the rounds of results that
// arrive between two runs (two a minute at a 30 s interval).
func BenchmarkRollup(b *testing.B) {
	for _, every := range []time.Duration{time.Minute, 5 * time.Minute} {
		b.Run("every-"+every.String(), func(b *testing.B) {
			rounds := int(every / benchInterval)
			db, fc := benchDB(b)
			ctx := context.Background()
			n := 0
			insertRounds := func(rounds int) {
				batch := make([]probes.Result, 0, benchBatch)
				for range rounds * benchProbes {
					batch = append(batch, benchResult(n))
					n++
					if len(batch) == benchBatch {
						if err := db.InsertResults(ctx, "acme", batch); err != nil {
							b.Fatal(err)
						}
						batch = batch[:0]
					}
				}
			}
			insertRounds(30) // a quarter of an hour already in
			if err := db.Rollup(ctx); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				insertRounds(rounds)
				fc.Set(t0.Add(time.Duration(n/benchProbes) * benchInterval))
				b.StartTimer()
				if err := db.Rollup(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rounds*benchProbes), "ns/new-result")
		})
	}
}

package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lookout-status/lookout/clock"
	"github.com/lookout-status/lookout/probes"
)

type flushEvent struct {
	n   int
	err error
}

// startWriter runs a Writer on a fake clock; flushes reports every write
// attempt. stop cancels Run and returns its error.
func startWriter(t *testing.T, db *DB, opts WriterOptions) (w *Writer, fc *clock.Fake, flushes chan flushEvent, stop func() error) {
	t.Helper()
	fc = clock.NewFake(t0)
	flushes = make(chan flushEvent, 100)
	opts.Clock = fc
	opts.OnFlush = func(n int, err error) { flushes <- flushEvent{n, err} }
	w = NewWriter(db, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var stopped bool
	var runErr error
	stop = func() error {
		if !stopped {
			cancel()
			runErr, stopped = <-done, true
		}
		return runErr
	}
	t.Cleanup(func() { stop() })
	return w, fc, flushes, stop
}

func waitFlush(t *testing.T, flushes chan flushEvent) flushEvent {
	t.Helper()
	select {
	case f := <-flushes:
		return f
	case <-time.After(10 * time.Second):
		t.Fatal("no flush within 10s")
		return flushEvent{}
	}
}

func noFlush(t *testing.T, flushes chan flushEvent) {
	t.Helper()
	select {
	case f := <-flushes:
		t.Fatalf("got a flush %+v, want none yet", f)
	default:
	}
}

func result(i int) probes.Result {
	return probes.Result{ProbeID: "api-http", Region: "local", Started: t0.Add(time.Duration(i) * time.Second), Outcome: probes.Up}
}

func TestWriterFlushesOnSize(t *testing.T) {
	db, _ := mustOpen(t)
	mustApply(t, db, testConfig())
	w, _, flushes, _ := startWriter(t, db, WriterOptions{FlushSize: 3, FlushInterval: time.Hour})
	ctx := context.Background()
	for i := range 3 {
		if err := w.Add(ctx, "acme", result(i)); err != nil {
			t.Fatal(err)
		}
	}
	if f := waitFlush(t, flushes); f.n != 3 || f.err != nil {
		t.Fatalf("flush: got %d results, err %v; want 3, nil", f.n, f.err)
	}
	if n := countResults(t, db); n != 3 {
		t.Errorf("stored: got %d, want 3", n)
	}
}

func TestWriterFlushesOnInterval(t *testing.T) {
	db, _ := mustOpen(t)
	mustApply(t, db, testConfig())
	w, fc, flushes, _ := startWriter(t, db, WriterOptions{FlushSize: 100, FlushInterval: time.Second})
	created := fc.TimerCreated()
	if err := w.Add(context.Background(), "acme", result(0)); err != nil {
		t.Fatal(err)
	}
	<-created // the writer holds the result and waits for its interval
	noFlush(t, flushes)
	fc.Advance(999 * time.Millisecond)
	noFlush(t, flushes)
	fc.Advance(time.Millisecond)
	if f := waitFlush(t, flushes); f.n != 1 || f.err != nil {
		t.Fatalf("flush: got %d results, err %v; want 1, nil", f.n, f.err)
	}
	if n := countResults(t, db); n != 1 {
		t.Errorf("stored: got %d, want 1", n)
	}
}

func TestWriterFlushesOnShutdown(t *testing.T) {
	db, _ := mustOpen(t)
	mustApply(t, db, testConfig())
	w, _, _, stop := startWriter(t, db, WriterOptions{FlushSize: 100, FlushInterval: time.Hour})
	ctx := context.Background()
	for i := range 5 {
		if err := w.Add(ctx, "acme", result(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if n := countResults(t, db); n != 5 {
		t.Errorf("stored after shutdown: got %d, want 5", n)
	}
	if err := w.Add(ctx, "acme", result(9)); !errors.Is(err, ErrWriterClosed) {
		t.Errorf("Add after shutdown: got %v, want ErrWriterClosed", err)
	}
}

func TestWriterAddBlocksWhenFull(t *testing.T) {
	db, _ := mustOpen(t)
	mustApply(t, db, testConfig())
	w := NewWriter(db, WriterOptions{FlushSize: 1, Buffer: 1, Clock: clock.NewFake(t0)})
	if err := w.Add(context.Background(), "acme", result(0)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := w.Add(ctx, "acme", result(1)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Add to a full buffer: got %v, want it to wait until its context ends", err)
	}
	// Run with an ended context writes what was queued and returns.
	if err := w.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if n := countResults(t, db); n != 1 {
		t.Errorf("stored: got %d, want 1", n)
	}
}

func TestWriterRetriesFailedBatch(t *testing.T) {
	db, _ := mustOpen(t)
	mustApply(t, db, testConfig())
	// A switchable failure: every insert aborts while store_state.fail = 1.
	if _, err := db.w.Exec(`INSERT INTO store_state (name, value) VALUES ('fail', 1);
		CREATE TEMP TRIGGER fail_inserts BEFORE INSERT ON results
		WHEN (SELECT value FROM store_state WHERE name = 'fail') = 1
		BEGIN SELECT RAISE(ABORT, 'disk on fire'); END;`); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	w, fc, flushes, _ := startWriter(t, db, WriterOptions{FlushSize: 2, FlushInterval: time.Second, Metrics: reg})
	ctx := context.Background()
	for i := range 2 {
		if err := w.Add(ctx, "acme", result(i)); err != nil {
			t.Fatal(err)
		}
	}
	if f := waitFlush(t, flushes); f.err == nil {
		t.Fatalf("first flush: got %d results written, want an error", f.n)
	}
	if got := metricValue(t, reg, "lookout_db_write_errors_total", nil); got != 1 {
		t.Errorf("lookout_db_write_errors_total: got %v, want 1", got)
	}
	if _, err := db.w.Exec("UPDATE store_state SET value = 0 WHERE name = 'fail'"); err != nil {
		t.Fatal(err)
	}
	fc.Advance(time.Second)
	if f := waitFlush(t, flushes); f.n != 2 || f.err != nil {
		t.Fatalf("retry: got %d results, err %v; want 2, nil", f.n, f.err)
	}
	if n := countResults(t, db); n != 2 {
		t.Errorf("stored: got %d, want 2", n)
	}
}

func TestWriterDropsUnknownProbesLoudly(t *testing.T) {
	db, _ := mustOpen(t)
	mustApply(t, db, testConfig())
	reg := prometheus.NewRegistry()
	w, _, flushes, _ := startWriter(t, db, WriterOptions{FlushSize: 2, FlushInterval: time.Hour, Metrics: reg})
	ctx := context.Background()
	bad := result(1)
	bad.ProbeID = "gone"
	if err := w.Add(ctx, "acme", result(0)); err != nil {
		t.Fatal(err)
	}
	if err := w.Add(ctx, "acme", bad); err != nil {
		t.Fatal(err)
	}
	if f := waitFlush(t, flushes); f.n != 1 || f.err != nil {
		t.Fatalf("flush: got %d results, err %v; want 1 (the known probe's), nil", f.n, f.err)
	}
	if got := metricValue(t, reg, "lookout_db_results_dropped_total", map[string]string{"reason": "unknown_probe"}); got != 1 {
		t.Errorf("dropped{unknown_probe}: got %v, want 1", got)
	}
	if got := metricValue(t, reg, "lookout_db_write_batch_size", nil); got != 1 {
		t.Errorf("lookout_db_write_batch_size observations: got %v, want 1", got)
	}
}

// metricValue returns a counter's value or a histogram's sample count.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue metrics
				}
			}
			if h := m.GetHistogram(); h != nil {
				return float64(h.GetSampleCount())
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

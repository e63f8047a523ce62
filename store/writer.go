package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lookout-status/lookout/clock"
	"github.com/lookout-status/lookout/probes"
)

// ErrWriterClosed is returned by Writer.Add once the writer has stopped.
var ErrWriterClosed = errors.New("result writer stopped")

// Defaults for WriterOptions.
const (
	DefaultFlushInterval = time.Second
	DefaultFlushSize     = 500
)

// WriterOptions configure a Writer. The zero value is usable.
type WriterOptions struct {
	// FlushInterval bounds how long a result waits before it is written
	// (default 1s); FlushSize results are written at once (default 500).
	FlushInterval time.Duration
	FlushSize     int
	// Buffer is how many results Add queues before it blocks (default
	// 4×FlushSize).
	Buffer int
	// MaxPending bounds the results kept for another try while writes fail
	// (default 20×FlushSize); past it the oldest are dropped, logged and
	// counted.
	MaxPending int
	Clock      clock.Clock // default: the wall clock
	Metrics    prometheus.Registerer
	Logger     *slog.Logger
	// OnFlush, if set, is called after every write attempt with the number
	// of results written and the error: a hook for tests and tracing.
	OnFlush func(n int, err error)
}

// Writer batches probe results into the database: one transaction per
// batch, written when FlushSize results are waiting or FlushInterval after
// the first of them. Add never drops a result silently: it blocks while the
// buffer is full, and results that cannot be stored are logged and counted.
type Writer struct {
	db   *DB
	opts WriterOptions
	log  *slog.Logger
	ch   chan orgResult

	mu       sync.Mutex
	closed   bool
	inflight sync.WaitGroup
	started  atomic.Bool

	batchSize prometheus.Histogram
	duration  prometheus.Histogram
	errs      prometheus.Counter
	dropped   *prometheus.CounterVec
}

// NewWriter returns a Writer for db; start it with Run.
func NewWriter(db *DB, opts WriterOptions) *Writer {
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = DefaultFlushInterval
	}
	if opts.FlushSize <= 0 {
		opts.FlushSize = DefaultFlushSize
	}
	if opts.Buffer <= 0 {
		opts.Buffer = 4 * opts.FlushSize
	}
	if opts.MaxPending <= 0 {
		opts.MaxPending = 20 * opts.FlushSize
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Logger == nil {
		opts.Logger = db.log
	}
	w := &Writer{
		db:   db,
		opts: opts,
		log:  opts.Logger.With("component", "result_writer"),
		ch:   make(chan orgResult, opts.Buffer),
	}
	w.batchSize = register(opts.Metrics, prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "lookout_db_write_batch_size",
		Help:    "Probe results written per transaction.",
		Buckets: []float64{1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500},
	}))
	w.duration = register(opts.Metrics, prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "lookout_db_write_duration_seconds",
		Help:    "Time to write one batch of probe results.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}))
	w.errs = register(opts.Metrics, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "lookout_db_write_errors_total",
		Help: "Failed batch writes of probe results (the batch is kept and tried again).",
	}))
	w.dropped = register(opts.Metrics, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "lookout_db_results_dropped_total",
		Help: "Probe results not stored, by reason: unknown_probe, invalid, backlog (writes kept failing), shutdown.",
	}, []string{"reason"}))
	return w
}

// register registers c, or returns the collector already registered under
// the same name, so several writers can share one registry.
func register[T prometheus.Collector](reg prometheus.Registerer, c T) T {
	if reg == nil {
		return c
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(T); ok {
				return existing
			}
		}
	}
	return c
}

// Add queues one of org's results. It blocks while the buffer is full,
// until there is room, ctx ends (its error is returned) or the writer stops
// (ErrWriterClosed).
func (w *Writer) Add(ctx context.Context, org string, r probes.Result) error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return ErrWriterClosed
	}
	w.inflight.Add(1)
	w.mu.Unlock()
	defer w.inflight.Done()
	select {
	case w.ch <- orgResult{org, r}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("queue result of %s/%s: %w", org, r.ProbeID, ctx.Err())
	}
}

// shutdownTimeout bounds the final flush once Run's context has ended.
const shutdownTimeout = 30 * time.Second

// Run writes batches until ctx ends, then writes everything queued and
// returns. It returns an error only if that last write fails.
func (w *Writer) Run(ctx context.Context) error {
	if !w.started.CompareAndSwap(false, true) {
		return errors.New("result writer: Run called twice")
	}
	var (
		pending []orgResult
		timer   clock.Timer
		tick    <-chan time.Time
		failing bool // the last write failed: wait for the timer to retry
	)
	stopTimer := func() {
		if timer != nil {
			timer.Stop()
			timer, tick = nil, nil
		}
	}
	startTimer := func() {
		if timer == nil {
			timer = w.opts.Clock.NewTimer(w.opts.FlushInterval)
			tick = timer.C()
		}
	}
	flush := func() {
		var err error
		pending, err = w.flush(ctx, pending)
		failing = err != nil
		stopTimer()
		if len(pending) > 0 {
			startTimer()
		}
	}
	for {
		select {
		case it := <-w.ch:
			pending = append(pending, it)
		drain:
			for len(pending) < w.opts.FlushSize {
				select {
				case it := <-w.ch:
					pending = append(pending, it)
				default:
					break drain
				}
			}
			if len(pending) >= w.opts.FlushSize && !failing {
				flush()
			} else {
				startTimer()
			}
		case <-tick:
			timer, tick = nil, nil
			flush()
		case <-ctx.Done():
			stopTimer()
			return w.shutdown(ctx, pending)
		}
	}
}

// shutdown refuses new results, collects those queued or being added, and
// writes them.
func (w *Writer) shutdown(ctx context.Context, pending []orgResult) error {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	allIn := make(chan struct{})
	go func() {
		w.inflight.Wait()
		close(allIn)
	}()
collect:
	for {
		select {
		case it := <-w.ch:
			pending = append(pending, it)
		case <-allIn:
			break collect
		}
	}
	for {
		select {
		case it := <-w.ch:
			pending = append(pending, it)
			continue
		default:
		}
		break
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	for len(pending) > 0 {
		n := min(len(pending), w.opts.FlushSize)
		if _, err := w.flush(fctx, pending[:n]); err != nil {
			lost := len(pending)
			w.dropped.WithLabelValues("shutdown").Add(float64(lost))
			w.log.Error("results lost at shutdown", "results", lost, "err", err)
			return fmt.Errorf("result writer: final write: %d results lost: %w", lost, err)
		}
		pending = pending[n:]
	}
	return nil
}

// flush writes pending in one transaction. On failure it returns what is
// to be tried again (trimmed to MaxPending) and the error.
func (w *Writer) flush(ctx context.Context, pending []orgResult) ([]orgResult, error) {
	if len(pending) == 0 {
		return pending, nil
	}
	start := w.opts.Clock.Now()
	bad, err := w.db.insertResults(ctx, pending, true)
	w.duration.Observe(w.opts.Clock.Now().Sub(start).Seconds())
	if err != nil {
		w.errs.Inc()
		w.log.Error("write results", "results", len(pending), "err", err)
		if over := len(pending) - w.opts.MaxPending; over > 0 {
			w.dropped.WithLabelValues("backlog").Add(float64(over))
			w.log.Error("results dropped: writes keep failing", "results", over)
			pending = append(pending[:0], pending[over:]...)
		}
		w.hook(0, err)
		return pending, err
	}
	w.batchSize.Observe(float64(len(pending) - len(bad)))
	if len(bad) > 0 {
		for _, b := range bad {
			w.dropped.WithLabelValues(b.reason).Inc()
		}
		w.log.Warn("results not stored", "results", len(bad), "reason", bad[0].reason,
			"org", bad[0].org, "probe", bad[0].r.ProbeID)
	}
	w.hook(len(pending)-len(bad), nil)
	return pending[:0], nil
}

func (w *Writer) hook(n int, err error) {
	if w.opts.OnFlush != nil {
		w.opts.OnFlush(n, err)
	}
}

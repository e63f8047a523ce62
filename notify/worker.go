package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/lookout-status/lookout/clock"
	"github.com/prometheus/client_golang/prometheus"
)

// Delivery is one outbox row: a message to one channel waiting for its next
// attempt.
type Delivery struct {
	ID int64
	// Channel names the notifier that delivers it, e.g. "slack:ops".
	Channel string
	// Destination groups deliveries that share a receiver (a webhook's host,
	// a Slack channel): they start in order, at most PerDestination at a
	// time, and a slow destination holds up no other. "" means Channel.
	Destination string
	Message     Message
	// Attempt counts the attempts already made (0 for a new row).
	Attempt int
	// NextAt is when the row is due.
	NextAt time.Time
}

// Outbox is the store of pending deliveries the worker drains. Every method
// that records an outcome counts one more attempt on the row. Rows the
// worker has taken but not recorded (it stopped, or crashed) stay due and
// are delivered again later with the same Message.Key.
type Outbox interface {
	// Due returns up to limit rows whose NextAt is not after now, oldest
	// first (so in order per destination), leaving out rows whose
	// destination is in busy: the worker still holds rows for those.
	Due(ctx context.Context, now time.Time, limit int, busy []string) ([]Delivery, error)
	// Delivered marks the row done and remembers r.Ref for the row's
	// (channel, incident), to hand back in Message.Ref on later rows.
	Delivered(ctx context.Context, id int64, at time.Time, r Receipt) error
	// Failed records a failed attempt; the row is due again at retryAt.
	Failed(ctx context.Context, id int64, at time.Time, reason string, retryAt time.Time) error
	// GaveUp records the last failed attempt; the row is never retried.
	GaveUp(ctx context.Context, id int64, at time.Time, reason string) error
}

// AttemptLog is optionally implemented by an Outbox to keep a log of every
// attempt (the subscribers' delivery log). The worker calls it after
// recording the attempt's outcome; a failure to log is logged, not retried.
type AttemptLog interface {
	LogAttempt(ctx context.Context, a Attempt) error
}

// Attempt is one delivery attempt as the delivery log records it.
type Attempt struct {
	// Delivery is the row as the worker took it: this attempt's number is
	// Delivery.Attempt+1.
	Delivery Delivery
	At       time.Time // when the attempt started
	Latency  time.Duration
	Outcome  string // "delivered", "failed" or "gave_up"
	Reply    Reply
	Err      string
}

// OutboxStats is optionally implemented by an Outbox to feed the depth
// gauges.
type OutboxStats interface {
	// Stats returns how many rows are pending (not delivered, not given up)
	// and the creation time of the oldest (zero when there are none).
	Stats(ctx context.Context) (depth int, oldest time.Time, err error)
}

// Worker defaults.
const (
	DefaultPerDestination = 2
	// DefaultMaxAttempts with the default backoff spans about a day: the
	// waits grow from 5 s to the 2 h cap by the 12th attempt; full jitter
	// halves them on average, so 30 attempts wait about 19 h in all
	// (at most about 39 h).
	DefaultMaxAttempts  = 30
	DefaultBackoffBase  = 5 * time.Second
	DefaultBackoffMax   = 2 * time.Hour
	DefaultPollInterval = time.Second
	DefaultBatch        = 500
	DefaultTimeout      = 10 * time.Second
	DefaultDrain        = 10 * time.Second
)

const (
	maxReasonLen  = 1000             // bytes of a failure reason stored
	recordTimeout = 10 * time.Second // bounds writing one outcome
	// maxRetryAfterHonored caps a receiver's Retry-After.
	maxRetryAfterHonored = DefaultBackoffMax

	outcomeDelivered = "delivered"
	outcomeFailed    = "failed"
	outcomeGaveUp    = "gave_up"
)

// WorkerOptions configures a Worker. Only Outbox is required.
type WorkerOptions struct {
	Outbox Outbox
	// Notifiers by channel name. A row whose channel has none is given up.
	Notifiers map[string]Notifier
	Clock     clock.Clock           // default clock.Real
	Logger    *slog.Logger          // default discards
	Metrics   prometheus.Registerer // nil: metrics are kept but not registered
	// PerDestination bounds concurrent deliveries to one destination.
	PerDestination int
	// MaxAttempts bounds the attempts of one row, the first included.
	MaxAttempts int
	// Backoff returns the wait after the attempt-th failed attempt (1 after
	// the first). Default: ExponentialBackoff(5s, 2h, Rand).
	Backoff func(attempt int) time.Duration
	// Rand is the jitter source of the default backoff, returning values in
	// [0, 1). Default math/rand/v2's Float64. It is called concurrently.
	Rand func() float64
	// PollInterval is how often the outbox is read when nothing calls Wake.
	PollInterval time.Duration
	// Batch is how many rows one read of the outbox takes at most.
	Batch int
	// Timeout bounds one Deliver call.
	Timeout time.Duration
	// Drain is how long Run lets deliveries in flight finish on shutdown
	// before cancelling them.
	Drain time.Duration
}

// Worker drains an Outbox through Notifiers: deliveries to one destination
// start in outbox order, at most PerDestination at a time, each destination
// on its own goroutines so one slow or dead receiver delays no other.
// Failures are retried with backoff until MaxAttempts; permanent failures
// (see Permanent) give up at once.
type Worker struct {
	outbox         Outbox
	stats          OutboxStats // nil if the outbox has none
	attempts       AttemptLog  // nil if the outbox keeps no log
	clock          clock.Clock
	log            *slog.Logger
	m              *workerMetrics
	perDestination int
	maxAttempts    int
	backoff        func(int) time.Duration
	pollInterval   time.Duration
	batch          int
	timeout        time.Duration
	drain          time.Duration

	wake chan struct{}
	// kill cancels deliveries in flight once the drain period has passed.
	kill     context.Context
	killAll  context.CancelFunc
	wg       sync.WaitGroup
	nmu      sync.RWMutex
	notifier map[string]Notifier

	mu       sync.Mutex
	started  bool
	stopping bool
	dests    map[string]*destination
}

// destination is the queue of rows the worker holds for one destination.
type destination struct {
	queue   []Delivery
	running int // goroutines draining the queue
}

// NewWorker returns a worker; call Run to start it.
func NewWorker(opts WorkerOptions) (*Worker, error) {
	if opts.Outbox == nil {
		return nil, errors.New("new notification worker: no outbox")
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.PerDestination <= 0 {
		opts.PerDestination = DefaultPerDestination
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = DefaultMaxAttempts
	}
	if opts.Rand == nil {
		opts.Rand = rand.Float64
	}
	if opts.Backoff == nil {
		opts.Backoff = ExponentialBackoff(DefaultBackoffBase, DefaultBackoffMax, opts.Rand)
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.Batch <= 0 {
		opts.Batch = DefaultBatch
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Drain <= 0 {
		opts.Drain = DefaultDrain
	}
	m, err := newWorkerMetrics(opts.Metrics)
	if err != nil {
		return nil, fmt.Errorf("new notification worker: %w", err)
	}
	stats, _ := opts.Outbox.(OutboxStats)
	attempts, _ := opts.Outbox.(AttemptLog)
	kill, killAll := context.WithCancel(context.Background())
	w := &Worker{
		outbox:         opts.Outbox,
		stats:          stats,
		attempts:       attempts,
		clock:          opts.Clock,
		log:            opts.Logger,
		m:              m,
		perDestination: opts.PerDestination,
		maxAttempts:    opts.MaxAttempts,
		backoff:        opts.Backoff,
		pollInterval:   opts.PollInterval,
		batch:          opts.Batch,
		timeout:        opts.Timeout,
		drain:          opts.Drain,
		wake:           make(chan struct{}, 1),
		kill:           kill,
		killAll:        killAll,
		dests:          map[string]*destination{},
	}
	w.SetNotifiers(opts.Notifiers)
	return w, nil
}

// SetNotifiers replaces the notifiers, as on a config reload. Deliveries in
// flight finish with the notifier they started with.
func (w *Worker) SetNotifiers(ns map[string]Notifier) {
	cp := make(map[string]Notifier, len(ns))
	for ch, n := range ns {
		cp[ch] = n
		w.m.channel(ch)
	}
	w.nmu.Lock()
	w.notifier = cp
	w.nmu.Unlock()
}

// Wake makes the worker read the outbox now instead of at its next poll;
// call it after writing rows. It never blocks.
func (w *Worker) Wake() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx is done, then stops taking rows, lets deliveries in
// flight finish for up to the drain period, cancels the rest, and returns
// once every goroutine it started has exited. Rows not delivered stay in the
// outbox for the next Run. Run may be called once; it returns nil after a
// shutdown.
func (w *Worker) Run(ctx context.Context) error {
	w.mu.Lock()
	if w.started {
		w.mu.Unlock()
		return errors.New("run notification worker: already started")
	}
	w.started = true
	w.mu.Unlock()

	w.loop(ctx)

	w.mu.Lock()
	w.stopping = true
	held := 0
	for _, d := range w.dests {
		held += len(d.queue)
		d.queue = nil // left in the outbox
	}
	w.mu.Unlock()
	if held > 0 {
		w.log.Info("stopping: deliveries not started are left in the outbox", "count", held)
	}

	done := make(chan struct{})
	go func() {
		w.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	default:
		t := w.clock.NewTimer(w.drain)
		select {
		case <-done:
		case <-t.C():
			w.log.Warn("drain deadline passed, cancelling deliveries in flight", "drain", w.drain)
			w.killAll()
			<-done
		}
		t.Stop()
	}
	w.killAll()
	return nil
}

// loop reads the outbox on every poll tick or Wake until ctx is done.
func (w *Worker) loop(ctx context.Context) {
	for {
		more := w.poll(ctx)
		if ctx.Err() != nil {
			return
		}
		if more {
			continue // a full batch: there may be more due right now
		}
		t := w.clock.NewTimer(w.pollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-w.wake:
			t.Stop()
		case <-t.C():
		}
	}
}

// poll takes due rows for destinations the worker is not busy with and
// starts their goroutines. It reports whether it took a full batch of new
// rows, so the caller reads again at once.
func (w *Worker) poll(ctx context.Context) bool {
	now := w.clock.Now()
	w.updateStats(ctx, now)

	w.mu.Lock()
	busy := make([]string, 0, len(w.dests))
	for k := range w.dests {
		busy = append(busy, k)
	}
	w.mu.Unlock()
	sort.Strings(busy)

	rows, err := w.outbox.Due(ctx, now, w.batch, busy)
	if err != nil {
		if ctx.Err() == nil {
			w.log.Error("read outbox", "err", err)
		}
		return false
	}

	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopping {
		return false
	}
	busySet := make(map[string]bool, len(busy))
	for _, k := range busy {
		busySet[k] = true
	}
	taken := 0
	var fresh []string
	seen := make(map[int64]bool, len(rows))
	for _, d := range rows {
		k := destinationKey(d)
		if busySet[k] || seen[d.ID] {
			continue // the outbox ignored busy: we already hold this destination
		}
		seen[d.ID] = true
		dst := w.dests[k]
		if dst == nil {
			dst = &destination{}
			w.dests[k] = dst
			fresh = append(fresh, k)
		}
		dst.queue = append(dst.queue, d)
		taken++
	}
	for _, k := range fresh {
		dst := w.dests[k]
		for dst.running < w.perDestination && dst.running < len(dst.queue) {
			dst.running++
			w.wg.Add(1)
			go w.work(k, dst)
		}
	}
	return taken > 0 && len(rows) >= w.batch
}

func destinationKey(d Delivery) string {
	if d.Destination != "" {
		return d.Destination
	}
	return d.Channel
}

// work delivers rows from one destination's queue, in order, until the
// queue is empty or the worker stops.
func (w *Worker) work(key string, dst *destination) {
	defer w.wg.Done()
	for {
		w.mu.Lock()
		if w.stopping || len(dst.queue) == 0 {
			dst.running--
			if dst.running == 0 {
				delete(w.dests, key)
				if !w.stopping {
					// More rows for this destination may have become due
					// while it was busy.
					w.Wake()
				}
			}
			w.mu.Unlock()
			return
		}
		d := dst.queue[0]
		dst.queue = dst.queue[1:]
		w.mu.Unlock()
		w.attempt(d)
	}
}

// attempt makes one delivery attempt and records its outcome.
func (w *Worker) attempt(d Delivery) {
	log := w.log.With("delivery_id", d.ID, "channel", d.Channel, "key", d.Message.Key, "attempt", d.Attempt+1)
	w.nmu.RLock()
	n, ok := w.notifier[d.Channel]
	w.nmu.RUnlock()
	start := w.clock.Now()
	if !ok {
		reason := fmt.Sprintf("no notifier for channel %q (removed from the configuration?)", d.Channel)
		if w.giveUp(log, d, start, reason) {
			w.logAttempt(log, Attempt{Delivery: d, At: start, Outcome: outcomeGaveUp, Err: reason})
		}
		return
	}

	ctx, cancel := context.WithTimeout(w.kill, w.timeout)
	r, err := n.Deliver(ctx, d.Message)
	cancel()
	end := w.clock.Now()
	w.m.channel(d.Channel).duration.Observe(end.Sub(start).Seconds())

	if err != nil && w.kill.Err() != nil {
		// Cancelled by shutdown: not an attempt; the row stays due.
		log.Warn("delivery interrupted by shutdown; left in the outbox", "err", err)
		return
	}
	a := Attempt{Delivery: d, At: start, Latency: end.Sub(start), Reply: r.Reply}
	if err == nil {
		w.m.channel(d.Channel).delivered.Inc()
		rctx, rcancel := w.recordContext()
		defer rcancel()
		if rerr := w.outbox.Delivered(rctx, d.ID, end, r); rerr != nil {
			log.Error("record delivery; it will be delivered again with the same key", "err", rerr)
			return
		}
		a.Outcome = outcomeDelivered
		w.logAttempt(log, a)
		log.Debug("delivered")
		return
	}
	a.Reply, _ = ReplyOf(err)
	a.Err = truncateReason(err.Error())

	attempts := d.Attempt + 1
	switch {
	case IsPermanent(err):
		if w.giveUp(log, d, end, err.Error()) {
			a.Outcome = outcomeGaveUp
			w.logAttempt(log, a)
		}
		return
	case attempts >= w.maxAttempts:
		if w.giveUp(log, d, end, fmt.Sprintf("gave up after %d attempts: %v", attempts, err)) {
			a.Outcome = outcomeGaveUp
			w.logAttempt(log, a)
		}
		return
	}
	delay := w.backoff(attempts)
	if ra, ok := RetryAfterDelay(err); ok && ra > delay {
		delay = min(ra, maxRetryAfterHonored)
	}
	retryAt := end.Add(delay)
	w.m.channel(d.Channel).failed.Inc()
	rctx, rcancel := w.recordContext()
	defer rcancel()
	if rerr := w.outbox.Failed(rctx, d.ID, end, truncateReason(err.Error()), retryAt); rerr != nil {
		log.Error("record failed delivery", "err", rerr, "delivery_err", err)
		return
	}
	a.Outcome = outcomeFailed
	w.logAttempt(log, a)
	log.Warn("delivery failed, will retry", "err", err, "retry_at", retryAt)
}

// giveUp records the row's last attempt; it reports whether that worked.
func (w *Worker) giveUp(log *slog.Logger, d Delivery, at time.Time, reason string) bool {
	w.m.channel(d.Channel).gaveUp.Inc()
	ctx, cancel := w.recordContext()
	defer cancel()
	if err := w.outbox.GaveUp(ctx, d.ID, at, truncateReason(reason)); err != nil {
		log.Error("record given-up delivery", "err", err, "reason", reason)
		return false
	}
	log.Error("delivery given up", "reason", reason)
	return true
}

// logAttempt hands a recorded attempt to the outbox's log, if it keeps one.
func (w *Worker) logAttempt(log *slog.Logger, a Attempt) {
	if w.attempts == nil {
		return
	}
	ctx, cancel := w.recordContext()
	defer cancel()
	if err := w.attempts.LogAttempt(ctx, a); err != nil {
		log.Warn("log delivery attempt", "err", err)
	}
}

// recordContext bounds writing an outcome, which happens even during the
// drain: a delivery that succeeded must be recorded.
func (w *Worker) recordContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(w.kill), recordTimeout)
}

func (w *Worker) updateStats(ctx context.Context, now time.Time) {
	if w.stats == nil {
		return
	}
	depth, oldest, err := w.stats.Stats(ctx)
	if err != nil {
		if ctx.Err() == nil {
			w.log.Error("read outbox stats", "err", err)
		}
		return
	}
	w.m.depth.Set(float64(depth))
	age := 0.0
	if depth > 0 && !oldest.IsZero() && now.After(oldest) {
		age = now.Sub(oldest).Seconds()
	}
	w.m.oldest.Set(age)
}

// truncateReason keeps stored failure reasons short, cutting on a rune
// boundary.
func truncateReason(s string) string {
	if len(s) <= maxReasonLen {
		return s
	}
	cut := maxReasonLen
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// ExponentialBackoff returns a backoff with full jitter: after the n-th
// failed attempt it waits a random duration in [0, min(limit, base·2ⁿ⁻¹)),
// drawn from rnd (values in [0, 1)).
func ExponentialBackoff(base, limit time.Duration, rnd func() float64) func(attempt int) time.Duration {
	return func(attempt int) time.Duration {
		d := base
		for i := 1; i < attempt && d < limit; i++ {
			d *= 2
		}
		d = min(d, limit)
		return time.Duration(rnd() * float64(d))
	}
}

// RetryAfter wraps err with the delay the receiver asked for (an HTTP
// Retry-After). The worker waits at least that long, up to 2 h, before the
// next attempt. A permanent err stays permanent.
func RetryAfter(err error, d time.Duration) error {
	if err == nil {
		return nil
	}
	return &retryAfterError{err: err, after: d}
}

type retryAfterError struct {
	err   error
	after time.Duration
}

func (e *retryAfterError) Error() string { return e.err.Error() }
func (e *retryAfterError) Unwrap() error { return e.err }

// RetryAfterDelay reports the delay err (or one it wraps) carries from
// RetryAfter.
func RetryAfterDelay(err error) (time.Duration, bool) {
	var ra *retryAfterError
	if errors.As(err, &ra) {
		return ra.after, true
	}
	return 0, false
}

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

// Outbox is the store of pending deliveries the worker drains. Rows the
// worker has taken but not recorded (it stopped, or crashed) stay due and
// are delivered again later with the same Message.Key.
type Outbox interface {
	// Due returns up to limit rows whose NextAt is not after now, oldest
	// first (so in order per destination), leaving out rows whose
	// destination is in busy: the worker still holds rows for those.
	Due(ctx context.Context, now time.Time, limit int, busy []string) ([]Delivery, error)
	// Record writes one attempt of a pending row, all or nothing: the
	// row's outcome, counting one more attempt (delivered: the row is
	// done, and a.Ref is remembered for the row's channel and incident,
	// to hand back in Message.Ref on later rows; failed: the row is due
	// again at a.RetryAt; gave_up: it is never retried), with whatever
	// else the outbox keeps of an attempt (a delivery log; the disabling
	// of a subscription whose delivery was given up). A row that is no
	// longer pending is an error, and then nothing is written.
	Record(ctx context.Context, a Attempt) error
}

// Outcome is how a delivery attempt ended.
type Outcome string

// The outcomes.
const (
	OutcomeDelivered Outcome = "delivered"
	OutcomeFailed    Outcome = "failed"  // retried at RetryAt
	OutcomeGaveUp    Outcome = "gave_up" // never retried
)

// Attempt is one delivery attempt, as the worker hands it to
// Outbox.Record.
type Attempt struct {
	// Delivery is the row as the worker took it: this attempt's number is
	// Delivery.Attempt+1.
	Delivery Delivery
	At       time.Time // when the attempt started
	// End is when it ended: the row's last attempt (and, delivered, its
	// delivery) time.
	End     time.Time
	Latency time.Duration
	Outcome Outcome
	Reply   Reply
	// Err is the attempt's error, as the delivery log shows it; "" when
	// delivered.
	Err string
	// Reason is what the row keeps as its last error: Err, or for a row
	// given up because its attempts ran out, "gave up after N attempts: "
	// and the error. "" when delivered.
	Reason string
	// Ref is what the channel returned for a delivered message (a Slack
	// thread), handed to the incident's later messages on the channel.
	Ref string
	// RetryAt is when a failed row is due again.
	RetryAt time.Time
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
	recordTimeout = 10 * time.Second // bounds recording one attempt
	// maxRetryAfterHonored caps a receiver's Retry-After.
	maxRetryAfterHonored = DefaultBackoffMax
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
	kill, killAll := context.WithCancel(context.Background())
	w := &Worker{
		outbox:         opts.Outbox,
		stats:          stats,
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

// attempt makes one delivery attempt and records it.
func (w *Worker) attempt(d Delivery) {
	log := w.log.With("delivery_id", d.ID, "channel", d.Channel, "key", d.Message.Key, "attempt", d.Attempt+1)
	w.nmu.RLock()
	n, ok := w.notifier[d.Channel]
	w.nmu.RUnlock()
	start := w.clock.Now()
	if !ok {
		reason := truncateReason(fmt.Sprintf("no notifier for channel %q (removed from the configuration?)", d.Channel))
		w.record(log, Attempt{Delivery: d, At: start, End: start, Outcome: OutcomeGaveUp, Err: reason, Reason: reason}, nil)
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
	a := Attempt{Delivery: d, At: start, End: end, Latency: end.Sub(start)}
	if err == nil {
		a.Outcome, a.Reply, a.Ref = OutcomeDelivered, r.Reply, r.Ref
		w.record(log, a, nil)
		return
	}
	a.Reply, _ = ReplyOf(err)
	a.Err = truncateReason(err.Error())
	a.Reason = a.Err

	attempts := d.Attempt + 1
	switch {
	case IsPermanent(err):
		a.Outcome = OutcomeGaveUp
	case attempts >= w.maxAttempts:
		a.Outcome = OutcomeGaveUp
		a.Reason = truncateReason(fmt.Sprintf("gave up after %d attempts: %v", attempts, err))
	default:
		delay := w.backoff(attempts)
		if ra, ok := RetryAfterDelay(err); ok && ra > delay {
			delay = min(ra, maxRetryAfterHonored)
		}
		a.Outcome, a.RetryAt = OutcomeFailed, end.Add(delay)
	}
	w.record(log, a, err)
}

// record counts the attempt in the metrics, hands it to the outbox and
// logs it; err is the delivery's error.
func (w *Worker) record(log *slog.Logger, a Attempt, err error) {
	m := w.m.channel(a.Delivery.Channel)
	switch a.Outcome {
	case OutcomeDelivered:
		m.delivered.Inc()
	case OutcomeFailed:
		m.failed.Inc()
	case OutcomeGaveUp:
		m.gaveUp.Inc()
	}
	ctx, cancel := w.recordContext()
	defer cancel()
	rerr := w.outbox.Record(ctx, a)
	switch {
	case a.Outcome == OutcomeDelivered && rerr != nil:
		log.Error("record delivery; it will be delivered again with the same key", "err", rerr)
	case a.Outcome == OutcomeDelivered:
		log.Debug("delivered")
	case a.Outcome == OutcomeFailed && rerr != nil:
		log.Error("record failed delivery", "err", rerr, "delivery_err", err)
	case a.Outcome == OutcomeFailed:
		log.Warn("delivery failed, will retry", "err", err, "retry_at", a.RetryAt)
	case rerr != nil:
		log.Error("record given-up delivery", "err", rerr, "reason", a.Reason)
	default:
		log.Error("delivery given up", "reason", a.Reason)
	}
}

// recordContext bounds recording an attempt, which happens even during the
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

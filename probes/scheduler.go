package probes

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lookout-status/lookout/clock"
)

// Scheduler defaults.
const (
	DefaultMaxConcurrency = 256
	DefaultDrain          = 10 * time.Second
	DefaultRegion         = "local"
)

// Scheduler errors, checked with errors.Is.
var (
	// ErrAlreadyRunning: RunNow found a run of the probe in flight. RunNow
	// does not wait for it; ask again when it has finished.
	ErrAlreadyRunning = errors.New("probe is already running")
	// ErrUnknownProbe: no probe with that organization and id is scheduled.
	ErrUnknownProbe = errors.New("unknown probe")
	// ErrNotRunning: the scheduler has not started or is shutting down.
	ErrNotRunning = errors.New("scheduler is not running")
)

// SchedulerOptions configure a Scheduler.
type SchedulerOptions struct {
	Clock clock.Clock // default clock.Real
	// Env is the template every run's Env is copied from; the scheduler sets
	// Egress per probe (one *Env per distinct policy), and fills Clock,
	// Region ("local"), MaxBody and Logger when they are zero.
	Env Env
	// MaxConcurrency bounds probe runs executing at once (default 256).
	MaxConcurrency int
	// Drain is how long shutdown lets in-flight runs finish before
	// cancelling them (default 10s).
	Drain time.Duration
	// Sink receives every completed run, from the run's goroutine, so
	// concurrently; it is never called after Run returns. Runs cancelled by
	// shutdown and runs of probes removed mid-run are not delivered.
	Sink func(org string, r Result)
	// Metrics is where the scheduler's collectors are registered (nil: not
	// registered). Never the global default registry.
	Metrics prometheus.Registerer
	Logger  *slog.Logger
}

// Scheduler runs every probe on its interval. One goroutine keeps a min-heap
// of next-run times and sleeps on a single timer until the earliest; each run
// executes in its own goroutine, bounded by a semaphore of MaxConcurrency.
//
// Each probe has a fixed phase: a hash of its organization and id modulo its
// interval. It runs at the instants t where (t - phase) is a multiple of the
// interval, counted from the Unix epoch, so probes spread evenly over the
// interval (in steps of SlotGrain, so nearby probes start as one burst), every probe first runs within one interval of being scheduled,
// and a restarted process resumes the same slots without a burst.
//
// After each run is started its next slot is computed from the clock's now;
// missed slots are never replayed. If the wall clock jumps forward, probes
// that missed a whole interval move to their next slot instead of all
// running at once; if it jumps back, probes are rescheduled from the new now
// rather than waiting out the jump.
//
// A probe never has two runs in flight: a slot that comes due while the
// previous run is still executing is skipped and counted in
// lookout_probe_skipped_total.
type Scheduler struct {
	clock clock.Clock
	env   Env // template, defaults filled
	drain time.Duration
	sink  func(org string, r Result)
	log   *slog.Logger
	m     *schedulerMetrics
	sem   chan struct{}
	// jobs feeds a pool of long-lived run goroutines (one per concurrency
	// slot): their stacks stay grown, where a goroutine per run paid for
	// growing its stack on every run (≈ 9 % of a probe's CPU, profiled).
	jobs     chan job
	workers  sync.WaitGroup
	wake     chan struct{}
	stopping chan struct{} // closed when Run's ctx is done
	kill     context.Context
	killRuns context.CancelFunc // cancels runs still going at the drain deadline
	wg       sync.WaitGroup     // every run goroutine

	mu      sync.Mutex
	state   schedState
	entries map[probeKey]*entry
	queue   entryHeap
	retired map[probeKey]*entry // removed while a run was in flight
	envs    map[*Egress]*Env
	last    time.Time // clock reading at the previous wake, to see backward jumps
}

type schedState int

const (
	stateIdle schedState = iota
	stateRunning
	stateStopping
	stateStopped
)

type probeKey struct{ org, id string }

// entry is one scheduled probe. next, index and cfg are guarded by
// Scheduler.mu; running and removed are read by run goroutines.
type entry struct {
	key     probeKey
	cfg     *probeCfg
	phase   time.Duration
	next    time.Time
	index   int // in the heap
	running atomic.Bool
	removed atomic.Bool
}

// probeCfg is what a run needs, immutable once built: Set swaps in a new one,
// and a run keeps the one it started with.
type probeCfg struct {
	probe   Probe
	timeout time.Duration
	env     *Env
	since   time.Time
	series  *probeSeries
}

// NewScheduler returns a scheduler with no probes; call Set, then Run.
func NewScheduler(opts SchedulerOptions) *Scheduler {
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.MaxConcurrency <= 0 {
		opts.MaxConcurrency = DefaultMaxConcurrency
	}
	if opts.Drain <= 0 {
		opts.Drain = DefaultDrain
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	env := opts.Env
	if env.Clock == nil {
		env.Clock = opts.Clock
	}
	if env.Region == "" {
		env.Region = DefaultRegion
	}
	if env.MaxBody <= 0 {
		env.MaxBody = DefaultMaxBody
	}
	if env.Logger == nil {
		env.Logger = opts.Logger
	}
	kill, killRuns := context.WithCancel(context.Background())
	return &Scheduler{
		clock:    opts.Clock,
		env:      env,
		drain:    opts.Drain,
		sink:     opts.Sink,
		log:      opts.Logger,
		m:        newSchedulerMetrics(opts.Metrics),
		sem:      make(chan struct{}, opts.MaxConcurrency),
		jobs:     make(chan job, opts.MaxConcurrency),
		wake:     make(chan struct{}, 1),
		stopping: make(chan struct{}),
		kill:     kill,
		killRuns: killRuns,
		entries:  map[probeKey]*entry{},
		retired:  map[probeKey]*entry{},
		envs:     map[*Egress]*Env{},
	}
}

// Set replaces the probe set, as on a config reload. A probe is identified
// by organization and id. A probe present before keeps its slot if its
// interval is unchanged (its new settings apply from its next run); one
// whose interval changed moves to its slot under the new interval. Removed
// probes stop (a run in flight finishes but is not delivered), and new ones
// start at their phase. Probes without an id, a positive interval or a spec
// are logged and left out, as is the second of two with the same key.
// A timeout that is not positive defaults to the interval.
func (s *Scheduler) Set(ps []Probe) {
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := make(map[probeKey]bool, len(ps))
	envs := make(map[*Egress]*Env, len(s.envs))
	for _, p := range ps {
		k := probeKey{p.Organization, p.ID}
		switch {
		case seen[k]:
			s.log.Error("duplicate probe id, ignoring the second",
				"organization", p.Organization, "probe", p.ID)
			continue
		case p.ID == "" || p.Interval <= 0 || p.Spec == nil:
			s.log.Error("probe without an id, a positive interval or a spec, not scheduled",
				"organization", p.Organization, "probe", p.ID, "interval", p.Interval, "has_spec", p.Spec != nil)
			continue
		}
		seen[k] = true
		env := envs[p.Egress]
		if env == nil {
			env = s.envs[p.Egress]
			if env == nil {
				e := s.env
				e.Egress = p.Egress
				env = &e
			}
			envs[p.Egress] = env
		}
		e := s.entries[k]
		if e == nil {
			// A probe removed while running and now back reuses its entry,
			// so the old run still counts as in flight.
			if e = s.retired[k]; e != nil {
				delete(s.retired, k)
				e.removed.Store(false)
			} else {
				e = &entry{key: k}
			}
			e.cfg = s.newCfg(p, env, now, nil)
			e.phase = phase(k, p.Interval)
			e.next = firstSlot(now, p.Interval, e.phase)
			s.entries[k] = e
			heap.Push(&s.queue, e)
			continue
		}
		old := e.cfg
		e.cfg = s.newCfg(p, env, now, old)
		if p.Interval != old.probe.Interval {
			e.phase = phase(k, p.Interval)
			e.next = firstSlot(now, p.Interval, e.phase)
			heap.Fix(&s.queue, e.index)
		}
	}
	for k, e := range s.entries {
		if seen[k] {
			continue
		}
		heap.Remove(&s.queue, e.index)
		delete(s.entries, k)
		e.removed.Store(true)
		s.m.delete(e.cfg.series)
		if e.running.Load() {
			s.retired[k] = e
		}
	}
	for k, e := range s.retired {
		if !e.running.Load() {
			delete(s.retired, k)
		}
	}
	s.envs = envs
	s.m.scheduled.Set(float64(len(s.entries)))
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// newCfg builds a probe's run settings, reusing old's metric series and
// start of monitoring where they still apply. Called with s.mu held.
func (s *Scheduler) newCfg(p Probe, env *Env, now time.Time, old *probeCfg) *probeCfg {
	c := &probeCfg{probe: p, timeout: p.Timeout, env: env, since: now}
	if c.timeout <= 0 {
		c.timeout = p.Interval
	}
	if old == nil {
		c.series = s.m.series(p.Organization, p.ID, p.Component, env.Region)
		return c
	}
	if old.probe.Kind == p.Kind {
		c.since = old.since
	}
	if old.series.sameLabels(p.Organization, p.ID, p.Component, env.Region) {
		c.series = old.series
	} else {
		s.m.delete(old.series) // before creating the new ones: they share the skipped series
		c.series = s.m.series(p.Organization, p.ID, p.Component, env.Region)
	}
	return c
}

// NextRun returns when the probe is next due.
func (s *Scheduler) NextRun(org, id string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entries[probeKey{org, id}]
	if e == nil {
		return time.Time{}, false
	}
	return e.next, true
}

// Run schedules probes until ctx is done, then stops starting runs, lets
// runs in flight finish for up to the drain period, cancels the rest, and
// returns once every run goroutine has exited. A spec that ignores its ctx
// therefore delays Run's return. Run may be called once; it returns nil
// after a shutdown.
func (s *Scheduler) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.state != stateIdle {
		s.mu.Unlock()
		return errors.New("run scheduler: already started")
	}
	s.state = stateRunning
	// Slots are counted from now, not from when Set was called.
	now := s.clock.Now()
	for _, e := range s.entries {
		e.next = firstSlot(now, e.cfg.probe.Interval, e.phase)
	}
	heap.Init(&s.queue)
	s.last = now
	select {
	case <-s.wake: // from a Set before Run; already accounted for
	default:
	}
	s.mu.Unlock()

	for i := 0; i < cap(s.sem); i++ {
		s.workers.Add(1)
		go func() {
			defer s.workers.Done()
			for j := range s.jobs {
				s.run(j.e, j.c, j.scheduled, nil)
			}
		}()
	}
	s.loop(ctx)
	// No dispatch happens after loop returns: the pool may close. Queued
	// jobs still pass through run, which drops them once stopping is closed.
	defer s.workers.Wait()
	defer close(s.jobs)

	s.mu.Lock()
	s.state = stateStopping
	s.mu.Unlock()
	close(s.stopping)

	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	default:
		t := s.clock.NewTimer(s.drain)
		select {
		case <-done:
		case <-t.C():
			s.log.Warn("drain deadline passed, cancelling probe runs in flight", "drain", s.drain)
			s.killRuns()
			<-done
		}
		t.Stop()
	}
	s.killRuns()
	s.mu.Lock()
	s.state = stateStopped
	s.mu.Unlock()
	return nil
}

// loop is the one scheduling goroutine: start what is due, sleep until the
// next slot or a Set.
func (s *Scheduler) loop(ctx context.Context) {
	for {
		s.mu.Lock()
		wait := s.dispatch(s.clock.Now())
		s.mu.Unlock()

		var (
			t     clock.Timer
			fired <-chan time.Time
		)
		if wait >= 0 {
			t = s.clock.NewTimer(wait)
			fired = t.C()
		}
		select {
		case <-ctx.Done():
			if t != nil {
				t.Stop()
			}
			return
		case <-fired:
		case <-s.wake:
			if t != nil {
				t.Stop()
			}
		}
	}
}

// dispatch starts every due run and returns how long until the next one is
// due, or -1 with nothing scheduled. Called with s.mu held.
func (s *Scheduler) dispatch(now time.Time) time.Duration {
	if now.Before(s.last) {
		s.rescheduleAfterJumpBack(now)
	}
	s.last = now
	missed := 0
	for len(s.queue) > 0 {
		e := s.queue[0]
		if e.next.After(now) {
			break
		}
		c := e.cfg
		iv := c.probe.Interval
		scheduled := e.next
		if now.Sub(scheduled) >= iv {
			// A whole interval went by unnoticed: the wall clock jumped or the
			// process was stopped. Resume at the phase instead of a burst.
			missed++
			e.next = firstSlot(now, iv, e.phase) // may be now: then it runs below
			heap.Fix(&s.queue, 0)
			continue
		}
		e.next = nextSlot(now, iv, e.phase)
		heap.Fix(&s.queue, 0)
		if !e.running.CompareAndSwap(false, true) {
			c.series.skipped()
			s.log.Debug("probe still running, skipping its slot",
				"organization", e.key.org, "probe", e.key.id, "slot", scheduled)
			continue
		}
		s.wg.Add(1)
		select {
		case s.jobs <- job{e: e, c: c, scheduled: scheduled}:
		default:
			// Every worker is busy and the queue is full: a goroutine of
			// its own still honours the concurrency limit (the semaphore).
			go s.run(e, c, scheduled, nil)
		}
	}
	if missed > 0 {
		s.log.Warn("clock jumped forward or scheduler stalled, resuming probes at their next slot",
			"missed_probes", missed, "now", now)
	}
	if len(s.queue) == 0 {
		return -1
	}
	return s.queue[0].next.Sub(now)
}

// rescheduleAfterJumpBack moves probes whose next slot lies more than an
// interval ahead (the wall clock went back) to their slot from now.
func (s *Scheduler) rescheduleAfterJumpBack(now time.Time) {
	moved := 0
	for _, e := range s.queue {
		iv := e.cfg.probe.Interval
		if e.next.Sub(now) > iv {
			e.next = firstSlot(now, iv, e.phase)
			moved++
		}
	}
	if moved > 0 {
		heap.Init(&s.queue)
	}
	s.log.Warn("clock jumped backwards, rescheduled probes from now",
		"by", s.last.Sub(now), "rescheduled_probes", moved)
}

// RunNow runs the probe immediately, delivers the result to the sink and
// returns it. It does not wait for a run already in flight: it returns
// ErrAlreadyRunning. The run itself is not tied to ctx (only to its timeout
// and shutdown), so a caller that gives up does not turn it into a failure;
// RunNow then returns ctx's error and the result still reaches the sink.
// The probe's regular slots are unaffected, except that one falling due
// during this run is skipped.
func (s *Scheduler) RunNow(ctx context.Context, org, id string) (Result, error) {
	s.mu.Lock()
	if s.state != stateRunning {
		s.mu.Unlock()
		return Result{}, fmt.Errorf("run probe %s/%s: %w", org, id, ErrNotRunning)
	}
	e := s.entries[probeKey{org, id}]
	if e == nil {
		s.mu.Unlock()
		return Result{}, fmt.Errorf("run probe %s/%s: %w", org, id, ErrUnknownProbe)
	}
	if !e.running.CompareAndSwap(false, true) {
		s.mu.Unlock()
		return Result{}, fmt.Errorf("run probe %s/%s: %w", org, id, ErrAlreadyRunning)
	}
	reply := make(chan runReply, 1)
	s.wg.Add(1)
	go s.run(e, e.cfg, time.Time{}, reply)
	s.mu.Unlock()

	select {
	case rr := <-reply:
		if rr.err != nil {
			return Result{}, fmt.Errorf("run probe %s/%s: %w", org, id, rr.err)
		}
		return rr.r, nil
	case <-ctx.Done():
		return Result{}, fmt.Errorf("run probe %s/%s: %w", org, id, ctx.Err())
	}
}

// job is one scheduled run handed to the worker pool.
type job struct {
	e         *entry
	c         *probeCfg
	scheduled time.Time
}

type runReply struct {
	r   Result
	err error
}

// run executes one run of e with settings c. scheduled is its slot (zero for
// RunNow, which then gets reply). The caller has set e.running and wg.
func (s *Scheduler) run(e *entry, c *probeCfg, scheduled time.Time, reply chan<- runReply) {
	defer s.wg.Done()
	defer e.running.Store(false)

	acquired := false
	select {
	case s.sem <- struct{}{}:
		acquired = true
	case <-s.stopping:
	}
	select {
	case <-s.stopping:
		// Shutting down: a run that has not started does not start.
		if acquired {
			<-s.sem
		}
		if reply != nil {
			reply <- runReply{err: ErrNotRunning}
		}
		return
	default:
	}
	s.m.inFlight.Inc()
	start := s.clock.Now()
	if !scheduled.IsZero() {
		s.m.lag.Observe(max(0, start.Sub(scheduled)).Seconds())
	}
	r := s.execute(c, start)
	s.m.inFlight.Dec()
	<-s.sem

	p := &c.probe
	if s.kill.Err() != nil {
		// Cancelled at the drain deadline: the result says nothing about
		// the target.
		s.log.Info("probe run cancelled at shutdown, result dropped",
			"organization", p.Organization, "probe", p.ID)
		if reply != nil {
			reply <- runReply{err: ErrNotRunning}
		}
		return
	}
	c.series.record(r.Duration.Seconds(), r.Outcome)
	if s.sink != nil && !e.removed.Load() {
		s.sink(p.Organization, r)
	}
	if reply != nil {
		reply <- runReply{r: r}
	}
}

// execute calls the spec under the probe's timeout and fills the fields the
// scheduler owns. A panicking spec yields a down result.
func (s *Scheduler) execute(c *probeCfg, start time.Time) (r Result) {
	p := &c.probe
	ctx, cancel := context.WithTimeout(s.kill, c.timeout)
	defer func() {
		cancel()
		if v := recover(); v != nil {
			s.log.Error("probe panicked", "organization", p.Organization, "probe", p.ID,
				"kind", p.Kind, "panic", v, "stack", string(debug.Stack()))
			r = Result{Outcome: Down, Error: "internal error: the probe crashed"}
		}
		switch r.Outcome {
		case Up, Degraded, Down:
		default:
			s.log.Error("probe returned an invalid outcome", "organization", p.Organization,
				"probe", p.ID, "kind", p.Kind, "outcome", r.Outcome)
			if r.Error == "" {
				r.Error = fmt.Sprintf("internal error: invalid outcome %q", r.Outcome)
			}
			r.Outcome = Down
		}
		r.ProbeID = p.ID
		r.Region = c.env.Region
		r.Started = start
		if r.Duration == 0 {
			r.Duration = s.clock.Now().Sub(start)
		}
	}()
	return p.Spec.Probe(ctx, Run{Env: c.env, Organization: p.Organization, ProbeID: p.ID, Since: c.since, Timeout: c.timeout})
}

// SlotGrain is the granularity of probe phases: a probe whose interval is a
// multiple of it starts on a multiple of it, so the probes due within one
// grain start together, as one burst, instead of one every few
// milliseconds. A burst costs the process one set of wake-ups (the
// scheduler's timer, idle threads, the result writer and the incident
// engine) for all its runs: 5,000 probes at 30 s are 17 runs every 100 ms
// rather than one every 6 ms, and a bare GET issued that way costs about a
// third of the CPU of one issued alone (docs/PERFORMANCE.md). 100 ms is far
// below any interval's precision a user can notice, and the bursts stay
// small: the spread over the interval is unchanged.
const SlotGrain = 100 * time.Millisecond

// phase is the probe's fixed offset within its interval: FNV-1a of the
// organization and id, modulo the interval, rounded down to SlotGrain when
// the interval spans at least two grains.
func phase(k probeKey, interval time.Duration) time.Duration {
	const (
		offset64 = 14695981039346656037
		prime64  = 1099511628211
	)
	h := uint64(offset64)
	for i := 0; i < len(k.org); i++ {
		h = (h ^ uint64(k.org[i])) * prime64
	}
	h = (h ^ 0) * prime64 // separator: ("ab","c") and ("a","bc") differ
	for i := 0; i < len(k.id); i++ {
		h = (h ^ uint64(k.id[i])) * prime64
	}
	if slots := uint64(interval / SlotGrain); slots >= 2 {
		return time.Duration(h%slots) * SlotGrain
	}
	return time.Duration(h % uint64(interval))
}

// sinceSlot returns how far now is past the probe's latest slot at or
// before now, in [0, interval).
func sinceSlot(now time.Time, interval, phase time.Duration) time.Duration {
	r := (now.UnixNano() - int64(phase)) % int64(interval)
	if r < 0 {
		r += int64(interval)
	}
	return time.Duration(r)
}

// firstSlot returns the probe's first slot at or after now.
func firstSlot(now time.Time, interval, phase time.Duration) time.Time {
	r := sinceSlot(now, interval, phase)
	if r == 0 {
		return now
	}
	return now.Add(interval - r)
}

// nextSlot returns the probe's first slot strictly after now.
func nextSlot(now time.Time, interval, phase time.Duration) time.Time {
	return now.Add(interval - sinceSlot(now, interval, phase))
}

// entryHeap orders entries by next run time.
type entryHeap []*entry

func (h entryHeap) Len() int           { return len(h) }
func (h entryHeap) Less(i, j int) bool { return h[i].next.Before(h[j].next) }
func (h entryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}

func (h *entryHeap) Push(x any) {
	e := x.(*entry)
	e.index = len(*h)
	*h = append(*h, e)
}

func (h *entryHeap) Pop() any {
	old := *h
	n := len(old)
	e := old[n-1]
	old[n-1] = nil
	e.index = -1
	*h = old[:n-1]
	return e
}

package probes

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"github.com/lookout-status/lookout/clock"
)

// funcSpec is a test-only probe kind whose run calls f.
type funcSpec struct {
	f func(ctx context.Context, r Run) Result
}

func (funcSpec) Validate(*Egress) error                    { return nil }
func (s funcSpec) Probe(ctx context.Context, r Run) Result { return s.f(ctx, r) }

func upSpec() funcSpec {
	return funcSpec{f: func(context.Context, Run) Result { return Result{Outcome: Up} }}
}

// t0 is deliberately not a round time, so slots are not trivially aligned.
var t0 = time.Date(2026, 3, 1, 12, 0, 7, 123456789, time.UTC)

// guard bounds every wait in these tests so a bug fails instead of hanging.
const guard = 10 * time.Second

func probe(org, id string, interval time.Duration, spec Spec) Probe {
	return Probe{ID: id, Organization: org, Component: "api", Name: id, Kind: "func",
		Interval: interval, Timeout: interval / 2, Spec: spec}
}

type delivered struct {
	org string
	r   Result
}

// harness runs a Scheduler on a fake clock and records what the sink gets.
type harness struct {
	t   testing.TB
	clk *clock.Fake
	reg *prometheus.Registry
	s   *Scheduler

	mu      sync.Mutex
	results []delivered

	cancel context.CancelFunc
	done   chan error
}

func newHarness(t testing.TB, edit func(*SchedulerOptions)) *harness {
	t.Helper()
	h := &harness{t: t, clk: clock.NewFake(t0), reg: prometheus.NewRegistry()}
	opts := SchedulerOptions{
		Clock:   h.clk,
		Metrics: h.reg,
		Sink: func(org string, r Result) {
			h.mu.Lock()
			h.results = append(h.results, delivered{org, r})
			h.mu.Unlock()
		},
	}
	if edit != nil {
		edit(&opts)
	}
	h.s = NewScheduler(opts)
	return h
}

// start runs the scheduler and waits until it sleeps on its first timer.
func (h *harness) start() {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.done = make(chan error, 1)
	created := h.clk.TimerCreated()
	go func() { h.done <- h.s.Run(ctx) }()
	h.wait(created, "the scheduler's first timer")
	h.s.wg.Wait()
}

// stop cancels Run and waits for it to return.
func (h *harness) stop() {
	h.t.Helper()
	h.cancel()
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Fatalf("Run: got %v, want nil", err)
		}
	case <-time.After(guard):
		h.t.Fatal("Run did not return after cancel")
	}
}

func (h *harness) wait(c <-chan struct{}, what string) {
	h.t.Helper()
	select {
	case <-c:
	case <-time.After(guard):
		h.t.Fatalf("timed out waiting for %s", what)
	}
}

// nextWake is when the scheduler's timer is due.
func (h *harness) nextWake() (time.Time, bool) {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	if len(h.s.queue) == 0 {
		return time.Time{}, false
	}
	return h.s.queue[0].next, true
}

// wake moves the clock with move (which must fire the scheduler's timer),
// waits for the scheduler to sleep again and, if settle, for every run it
// started to finish. The scheduler goroutine is parked when wg.Wait runs,
// so no Add races with it.
func (h *harness) wake(move func(), settle bool) {
	h.t.Helper()
	created := h.clk.TimerCreated()
	move()
	h.wait(created, "the scheduler's next timer")
	if settle {
		h.s.wg.Wait()
	}
}

// advanceTo steps the clock through every wake up to target, letting each
// wake's runs finish before the next.
func (h *harness) advanceTo(target time.Time) {
	h.t.Helper()
	for {
		w, ok := h.nextWake()
		if !ok || w.After(target) {
			break
		}
		h.wake(func() { h.clk.Set(w) }, true)
	}
	h.clk.Set(target)
}

func (h *harness) delivered() []delivered {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]delivered(nil), h.results...)
}

// runsByProbe groups delivered results' start times by probe id.
func (h *harness) runsByProbe() map[string][]time.Time {
	out := map[string][]time.Time{}
	for _, d := range h.delivered() {
		out[d.r.ProbeID] = append(out[d.r.ProbeID], d.r.Started)
	}
	return out
}

// metric returns a sample's value (a histogram's count) for the series with
// exactly these labels.
func metric(t testing.TB, g prometheus.Gatherer, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, lp := range m.GetLabel() {
				if v, ok := labels[lp.GetName()]; !ok || v != lp.GetValue() {
					continue next
				}
			}
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				return m.GetCounter().GetValue(), true
			case dto.MetricType_GAUGE:
				return m.GetGauge().GetValue(), true
			case dto.MetricType_HISTOGRAM:
				return float64(m.GetHistogram().GetSampleCount()), true
			}
		}
	}
	return 0, false
}

func histogramSum(t testing.TB, g prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetHistogram().GetSampleSum()
		}
	}
	t.Fatalf("no single-series histogram %s", name)
	return 0
}

func TestPhaseDeterministicAndSpread(t *testing.T) {
	const n, bins = 1000, 10
	iv := 30 * time.Second
	counts := make([]int, bins)
	for i := range n {
		k := probeKey{"acme", fmt.Sprintf("probe-%d", i)}
		p := phase(k, iv)
		if p < 0 || p >= iv {
			t.Fatalf("phase(%v) = %v, want in [0, %v)", k, p, iv)
		}
		if again := phase(k, iv); again != p {
			t.Fatalf("phase(%v) = %v then %v, want the same", k, p, again)
		}
		counts[int(p*bins/iv)]++
	}
	// Binomial(1000, 0.1): sd ≈ 9.5; ±35 is over 3.5 sd.
	for i, c := range counts {
		if c < n/bins-35 || c > n/bins+35 {
			t.Errorf("bin %d of %d holds %d offsets, want about %d (all: %v)", i, bins, c, n/bins, counts)
		}
	}
	if phase(probeKey{"ab", "c"}, time.Hour) == phase(probeKey{"a", "bc"}, time.Hour) && phase(probeKey{"ab", "c"}, time.Hour+1) == phase(probeKey{"a", "bc"}, time.Hour+1) {
		t.Error(`phase("ab","c") == phase("a","bc"): organization and id run together`)
	}
}

func TestSlotArithmetic(t *testing.T) {
	iv := 30 * time.Second
	for _, tc := range []struct {
		name       string
		now        time.Time
		phase      time.Duration
		first, nxt time.Time
	}{
		{"on the slot", time.Unix(60+7, 0), 7 * time.Second, time.Unix(67, 0), time.Unix(97, 0)},
		{"just after", time.Unix(68, 0), 7 * time.Second, time.Unix(97, 0), time.Unix(97, 0)},
		{"just before", time.Unix(66, 0), 7 * time.Second, time.Unix(67, 0), time.Unix(67, 0)},
		{"before 1970", time.Unix(-40, 0), 7 * time.Second, time.Unix(-23, 0), time.Unix(-23, 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := firstSlot(tc.now, iv, tc.phase); !got.Equal(tc.first) {
				t.Errorf("firstSlot = %v, want %v", got.Unix(), tc.first.Unix())
			}
			if got := nextSlot(tc.now, iv, tc.phase); !got.Equal(tc.nxt) {
				t.Errorf("nextSlot = %v, want %v", got.Unix(), tc.nxt.Unix())
			}
		})
	}
}

// A restarted scheduler resumes the same slots: the next run of a probe is
// on the same grid whenever the process starts.
func TestRestartKeepsPhase(t *testing.T) {
	defer goleak.VerifyNone(t)
	iv := 30 * time.Second
	ps := []Probe{probe("acme", "api", iv, upSpec()), probe("acme", "web", iv, upSpec())}
	var grid []time.Time
	for i, startAt := range []time.Time{t0, t0.Add(17*time.Hour + 3*time.Second + 5)} {
		clk := clock.NewFake(startAt)
		s := NewScheduler(SchedulerOptions{Clock: clk})
		s.Set(ps)
		for j, p := range ps {
			next, ok := s.NextRun(p.Organization, p.ID)
			if !ok {
				t.Fatalf("NextRun(%s): not scheduled", p.ID)
			}
			if next.Before(startAt) || !next.Before(startAt.Add(iv)) {
				t.Errorf("start %d: NextRun(%s) = %v, want in [%v, %v)", i, p.ID, next, startAt, startAt.Add(iv))
			}
			if i == 0 {
				grid = append(grid, next)
				continue
			}
			if d := next.Sub(grid[j]) % iv; d != 0 {
				t.Errorf("after restart %s runs %v off its former grid, want 0", p.ID, d)
			}
		}
	}
}

func TestRunsOnPhaseAndRepeatAtInterval(t *testing.T) {
	defer goleak.VerifyNone(t)
	h := newHarness(t, nil)
	var ps []Probe
	intervals := []time.Duration{10 * time.Second, 30 * time.Second, time.Minute}
	for i := range 60 {
		ps = append(ps, probe("acme", fmt.Sprintf("p%d", i), intervals[i%3], upSpec()))
	}
	h.s.Set(ps)
	h.start()
	h.advanceTo(t0.Add(5 * time.Minute))
	h.stop()

	runs := h.runsByProbe()
	for _, p := range ps {
		got := runs[p.ID]
		want := int(5 * time.Minute / p.Interval)
		if len(got) < want || len(got) > want+1 {
			t.Errorf("%s (every %v): got %d runs in 5m, want %d or %d", p.ID, p.Interval, len(got), want, want+1)
			continue
		}
		if first := got[0]; first.Before(t0) || !first.Before(t0.Add(p.Interval)) {
			t.Errorf("%s: first run at %v, want within one interval of start %v", p.ID, first, t0)
		}
		ph := phase(probeKey{p.Organization, p.ID}, p.Interval)
		for i, at := range got {
			if off := sinceSlot(at, p.Interval, ph); off != 0 {
				t.Errorf("%s run %d at %v: %v past its slot, want 0", p.ID, i, at, off)
			}
			if i > 0 && at.Sub(got[i-1]) != p.Interval {
				t.Errorf("%s: runs %d and %d are %v apart, want %v", p.ID, i-1, i, at.Sub(got[i-1]), p.Interval)
			}
		}
	}
}

func TestRunFieldsAndEnv(t *testing.T) {
	defer goleak.VerifyNone(t)
	egA, egB := NewEgress(nil), NewEgress(nil)
	var (
		mu   sync.Mutex
		seen = map[string]Run{}
		dl   = map[string]time.Duration{}
	)
	spec := funcSpec{f: func(ctx context.Context, r Run) Result {
		d, _ := ctx.Deadline()
		mu.Lock()
		seen[r.ProbeID], dl[r.ProbeID] = r, time.Until(d)
		mu.Unlock()
		// A spec that leaves Duration 0 and sets its own ProbeID wrongly.
		return Result{ProbeID: "wrong", Outcome: Degraded}
	}}
	h := newHarness(t, func(o *SchedulerOptions) { o.Env.MaxBody = 42 })
	a := probe("acme", "a", 30*time.Second, spec)
	a.Egress, a.Timeout = egA, 5*time.Second
	b := probe("acme", "b", 30*time.Second, spec)
	b.Egress = egA
	c := probe("acme", "c", 30*time.Second, spec)
	c.Egress, c.Timeout = egB, 0 // defaults to the interval
	h.s.Set([]Probe{a, b, c})
	h.clk.Advance(time.Minute) // Run counts slots from its own start
	h.start()
	startedAt := h.clk.Now()
	h.advanceTo(startedAt.Add(30 * time.Second))
	h.stop()

	if seen["a"].Env != seen["b"].Env {
		t.Error("probes with the same egress policy got different *Env, want one shared")
	}
	if seen["a"].Env == seen["c"].Env {
		t.Error("probes with different egress policies share an *Env")
	}
	for _, tc := range []struct {
		id      string
		egress  *Egress
		timeout time.Duration
	}{{"a", egA, 5 * time.Second}, {"b", egA, 15 * time.Second}, {"c", egB, 30 * time.Second}} {
		r := seen[tc.id]
		if r.ProbeID != tc.id {
			t.Errorf("Run.ProbeID = %q, want %q", r.ProbeID, tc.id)
		}
		if r.Env == nil || r.Egress != tc.egress || r.Region != "local" || r.MaxBody != 42 || r.Clock != h.clk {
			t.Errorf("%s: Env = %+v, want egress %p, region local, max body 42, the fake clock", tc.id, r.Env, tc.egress)
		}
		if !r.Since.Equal(t0) {
			t.Errorf("%s: Run.Since = %v, want when Set saw it, %v", tc.id, r.Since, t0)
		}
		if r.Timeout != tc.timeout {
			t.Errorf("%s: Run.Timeout = %v, want the configured %v (timeout messages name it)", tc.id, r.Timeout, tc.timeout)
		}
		if d := dl[tc.id]; d > tc.timeout || d < tc.timeout-2*time.Second {
			t.Errorf("%s: ctx deadline %v away, want about the timeout %v", tc.id, d, tc.timeout)
		}
	}
	got := h.delivered()
	if len(got) != 3 {
		t.Fatalf("got %d results, want 3", len(got))
	}
	for _, d := range got {
		r := d.r
		if d.org != "acme" || r.ProbeID == "wrong" || r.Region != "local" || r.Outcome != Degraded {
			t.Errorf("delivered %q %+v, want org acme, the real probe id, region local, degraded", d.org, r)
		}
		if r.Started.Before(startedAt) || r.Duration != 0 {
			// The fake clock does not move during a run: 0 is the filled value.
			t.Errorf("%s: Started %v Duration %v, want >= %v and 0", r.ProbeID, r.Started, r.Duration, startedAt)
		}
	}
}

func TestSlowProbeIsSkippedNotDoubled(t *testing.T) {
	defer goleak.VerifyNone(t)
	iv := 30 * time.Second
	var cur, maxCur, starts atomic.Int32
	started := make(chan struct{}, 10)
	release := make(chan struct{})
	spec := funcSpec{f: func(ctx context.Context, r Run) Result {
		n := cur.Add(1)
		defer cur.Add(-1)
		if n > maxCur.Load() {
			maxCur.Store(n)
		}
		if starts.Add(1) == 1 {
			started <- struct{}{}
			<-release // the first run outlives two slots
		}
		return Result{Outcome: Up}
	}}
	h := newHarness(t, nil)
	p := probe("acme", "slow", iv, spec)
	p.Timeout = 0 // run the whole interval; the spec ignores ctx anyway
	h.s.Set([]Probe{p})
	h.start()
	first, _ := h.nextWake()
	h.wake(func() { h.clk.Set(first) }, false)
	h.wait(started, "the first run")
	// Two more slots come due while the first run is in flight.
	for i := 1; i <= 2; i++ {
		h.wake(func() { h.clk.Set(first.Add(time.Duration(i) * iv)) }, false)
		labels := map[string]string{"organization": "acme", "probe": "slow"}
		if got, _ := metric(t, h.reg, "lookout_probe_skipped_total", labels); got != float64(i) {
			t.Errorf("after %d overlapping slots: lookout_probe_skipped_total = %v, want %d", i, got, i)
		}
	}
	close(release)
	h.s.wg.Wait()
	h.advanceTo(first.Add(3 * iv))
	h.stop()

	if got := maxCur.Load(); got != 1 {
		t.Errorf("max concurrent runs of one probe = %d, want 1", got)
	}
	if got := starts.Load(); got != 2 {
		t.Errorf("runs started = %d, want 2 (the slow one, then the slot after it ended)", got)
	}
	runs := h.runsByProbe()["slow"]
	if len(runs) != 2 || !runs[0].Equal(first) || !runs[1].Equal(first.Add(3*iv)) {
		t.Errorf("runs started at %v, want [%v %v]", runs, first, first.Add(3*iv))
	}
}

func TestMaxConcurrency(t *testing.T) {
	defer goleak.VerifyNone(t)
	const probes, limit = 20, 4
	var cur, maxCur atomic.Int32
	started := make(chan struct{}, probes)
	release := make(chan struct{})
	spec := funcSpec{f: func(ctx context.Context, r Run) Result {
		n := cur.Add(1)
		for {
			m := maxCur.Load()
			if n <= m || maxCur.CompareAndSwap(m, n) {
				break
			}
		}
		started <- struct{}{}
		<-release
		cur.Add(-1)
		return Result{Outcome: Up}
	}}
	h := newHarness(t, func(o *SchedulerOptions) { o.MaxConcurrency = limit })
	var ps []Probe
	for i := range probes {
		ps = append(ps, probe("acme", fmt.Sprintf("p%d", i), time.Minute, spec))
	}
	h.s.Set(ps)
	h.start()
	// One jump to the end of the interval starts every probe at once.
	h.wake(func() { h.clk.Set(t0.Add(time.Minute - time.Nanosecond)) }, false)
	for range limit {
		h.wait(started, "a run to start")
	}
	if got, _ := metric(t, h.reg, "lookout_probes_in_flight", map[string]string{}); got != limit {
		t.Errorf("lookout_probes_in_flight = %v, want %d", got, limit)
	}
	select {
	case <-started:
		t.Errorf("a run beyond MaxConcurrency=%d started", limit)
	default:
	}
	close(release)
	h.s.wg.Wait()
	h.stop()
	if got := maxCur.Load(); got != limit {
		t.Errorf("max concurrent runs = %d, want %d", got, limit)
	}
	if got := len(h.delivered()); got != probes {
		t.Errorf("got %d results, want %d", got, probes)
	}
	if got, _ := metric(t, h.reg, "lookout_probes_in_flight", map[string]string{}); got != 0 {
		t.Errorf("lookout_probes_in_flight after the runs = %v, want 0", got)
	}
}

func TestRunNow(t *testing.T) {
	defer goleak.VerifyNone(t)
	block := make(chan struct{})
	blocking := make(chan struct{}, 1)
	h := newHarness(t, nil)
	h.s.Set([]Probe{
		probe("acme", "api", time.Minute, funcSpec{f: func(context.Context, Run) Result {
			return Result{Outcome: Down, Error: "connect: connection refused"}
		}}),
		probe("acme", "slow", time.Minute, funcSpec{f: func(ctx context.Context, r Run) Result {
			blocking <- struct{}{}
			<-block
			return Result{Outcome: Up}
		}}),
	})
	ctx := context.Background()
	if _, err := h.s.RunNow(ctx, "acme", "api"); !errors.Is(err, ErrNotRunning) {
		t.Errorf("RunNow before Run: got %v, want ErrNotRunning", err)
	}
	h.start()
	next, _ := h.s.NextRun("acme", "api")

	r, err := h.s.RunNow(ctx, "acme", "api")
	if err != nil {
		t.Fatalf("RunNow: %v", err)
	}
	if r.ProbeID != "api" || r.Outcome != Down || r.Error != "connect: connection refused" || !r.Started.Equal(t0) || r.Region != "local" {
		t.Errorf("RunNow = %+v, want api down at %v in region local with the spec's error", r, t0)
	}
	if got := h.delivered(); len(got) != 1 || got[0].r.ProbeID != "api" || got[0].org != "acme" {
		t.Errorf("sink got %+v, want the RunNow result", got)
	}
	if after, _ := h.s.NextRun("acme", "api"); !after.Equal(next) {
		t.Errorf("NextRun after RunNow = %v, want unchanged %v", after, next)
	}

	for _, tc := range []struct {
		name, org, id string
		want          error
	}{
		{"unknown id", "acme", "nope", ErrUnknownProbe},
		{"another organization's probe", "evil", "api", ErrUnknownProbe},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := h.s.RunNow(ctx, tc.org, tc.id); !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}

	// A caller that gives up gets its ctx error; the run still completes
	// and reaches the sink. A second RunNow meanwhile is refused.
	cctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() {
		_, err := h.s.RunNow(cctx, "acme", "slow")
		errc <- err
	}()
	h.wait(blocking, "the slow run to start")
	if _, err := h.s.RunNow(ctx, "acme", "slow"); !errors.Is(err, ErrAlreadyRunning) {
		t.Errorf("RunNow while running: got %v, want ErrAlreadyRunning", err)
	}
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("RunNow with cancelled ctx: got %v, want context.Canceled", err)
		}
	case <-time.After(guard):
		t.Fatal("RunNow did not return when its ctx was cancelled")
	}
	close(block)
	h.s.wg.Wait()
	if got := h.delivered(); len(got) != 2 || got[1].r.ProbeID != "slow" || got[1].r.Outcome != Up {
		t.Errorf("sink got %+v, want the abandoned run's real result too", got)
	}
	h.stop()
	if _, err := h.s.RunNow(ctx, "acme", "api"); !errors.Is(err, ErrNotRunning) {
		t.Errorf("RunNow after Run returned: got %v, want ErrNotRunning", err)
	}
}

func TestSetAddsRemovesKeeps(t *testing.T) {
	defer goleak.VerifyNone(t)
	iv := 30 * time.Second
	outcome := func(o Outcome) funcSpec {
		return funcSpec{f: func(context.Context, Run) Result { return Result{Outcome: o} }}
	}
	h := newHarness(t, nil)
	keep := probe("acme", "keep", iv, outcome(Up))
	gone := probe("acme", "gone", iv, outcome(Up))
	move := probe("acme", "move", iv, outcome(Up))
	h.s.Set([]Probe{keep, gone, move})
	h.start()
	h.advanceTo(t0.Add(50 * time.Second))
	keepNext, _ := h.s.NextRun("acme", "keep")
	series := func(id, component string) map[string]string {
		return map[string]string{"organization": "acme", "probe": id, "component": component, "region": "local", "outcome": "up"}
	}
	if _, ok := metric(t, h.reg, "lookout_probe_results_total", series("gone", "api")); !ok {
		t.Fatal("no results series for gone before Set")
	}

	keep2 := keep
	keep2.Spec = outcome(Degraded) // new settings, same interval
	keep2.Component = "edge"
	move2 := move
	move2.Interval = time.Minute
	added := probe("acme", "added", iv, outcome(Up))
	h.wake(func() { h.s.Set([]Probe{keep2, move2, added}) }, true)
	now := h.clk.Now()

	if _, ok := h.s.NextRun("acme", "gone"); ok {
		t.Error("removed probe still scheduled")
	}
	if got, _ := h.s.NextRun("acme", "keep"); !got.Equal(keepNext) {
		t.Errorf("unchanged-interval probe: NextRun = %v, want its old slot %v", got, keepNext)
	}
	for _, p := range []Probe{move2, added} {
		got, _ := h.s.NextRun(p.Organization, p.ID)
		want := firstSlot(now, p.Interval, phase(probeKey{p.Organization, p.ID}, p.Interval))
		if !got.Equal(want) {
			t.Errorf("%s: NextRun = %v, want its phase slot %v", p.ID, got, want)
		}
	}
	if got, _ := metric(t, h.reg, "lookout_probes_scheduled", map[string]string{}); got != 3 {
		t.Errorf("lookout_probes_scheduled = %v, want 3", got)
	}
	for _, tc := range []struct {
		name, id, component string
		want                bool
	}{
		{"removed probe", "gone", "api", false},
		{"old component of kept probe", "keep", "api", false},
		{"new component of kept probe", "keep", "edge", true},
		{"added probe", "added", "api", true},
	} {
		if _, ok := metric(t, h.reg, "lookout_probe_results_total", series(tc.id, tc.component)); ok != tc.want {
			t.Errorf("%s: results series present = %v, want %v", tc.name, ok, tc.want)
		}
	}
	if _, ok := metric(t, h.reg, "lookout_probe_skipped_total", map[string]string{"organization": "acme", "probe": "gone"}); ok {
		t.Error("removed probe's skipped series still present")
	}

	before := len(h.delivered())
	h.advanceTo(now.Add(2 * time.Minute))
	h.stop()
	for _, d := range h.delivered()[before:] {
		switch id := d.r.ProbeID; {
		case id == "gone":
			t.Errorf("removed probe ran at %v", d.r.Started)
		case id == "keep" && d.r.Outcome != Degraded:
			t.Errorf("kept probe ran with its old spec: outcome %s, want degraded", d.r.Outcome)
		}
	}
	runs := h.runsByProbe()
	if got := runs["keep"]; len(got) == 0 || got[len(got)-1].Sub(got[0])%iv != 0 {
		t.Errorf("kept probe runs %v, want on its unchanged grid", got)
	}
	if len(runs["added"]) < 4 || len(runs["move"]) < 2 {
		t.Errorf("runs after Set: added %d, move %d; want >= 4 and >= 2", len(runs["added"]), len(runs["move"]))
	}
}

// A probe removed mid-run and added back at once must not get a second run
// beside the one still in flight.
func TestSetRemoveAndReAddWhileRunning(t *testing.T) {
	defer goleak.VerifyNone(t)
	iv := 30 * time.Second
	var cur, maxCur, starts atomic.Int32
	started := make(chan struct{}, 10)
	release := make(chan struct{})
	spec := funcSpec{f: func(ctx context.Context, r Run) Result {
		if n := cur.Add(1); n > maxCur.Load() {
			maxCur.Store(n)
		}
		defer cur.Add(-1)
		if starts.Add(1) == 1 {
			started <- struct{}{}
			<-release
		}
		return Result{Outcome: Up}
	}}
	h := newHarness(t, nil)
	p := probe("acme", "p", iv, spec)
	p.Timeout = 0
	h.s.Set([]Probe{p})
	h.start()
	first, _ := h.nextWake()
	h.wake(func() { h.clk.Set(first) }, false)
	h.wait(started, "the first run")
	// One Set per wake, so each is seen before the clock moves; the other
	// probe keeps the scheduler's timer going.
	other := probe("acme", "other", time.Hour, upSpec())
	h.clk.Set(first.Add(time.Second)) // off p's slot, which is not due for 29s
	h.wake(func() { h.s.Set([]Probe{other}) }, false)
	h.wake(func() { h.s.Set([]Probe{other, p}) }, false)
	next, _ := h.s.NextRun("acme", "p")
	h.wake(func() { h.clk.Set(next) }, false)
	if got, _ := metric(t, h.reg, "lookout_probe_skipped_total", map[string]string{"organization": "acme", "probe": "p"}); got != 1 {
		t.Errorf("lookout_probe_skipped_total = %v, want 1: the re-added probe's slot came while its old run was in flight", got)
	}
	close(release)
	h.s.wg.Wait()
	h.advanceTo(next.Add(iv))
	h.stop()
	if got := maxCur.Load(); got != 1 {
		t.Errorf("max concurrent runs = %d, want 1", got)
	}
	if got := starts.Load(); got != 2 {
		t.Errorf("runs of p started = %d, want 2", got)
	}
}

func TestSetKeepsSinceUnlessKindChanges(t *testing.T) {
	defer goleak.VerifyNone(t)
	h := newHarness(t, nil)
	var mu sync.Mutex
	since := map[string]time.Time{}
	spec := funcSpec{f: func(_ context.Context, r Run) Result {
		mu.Lock()
		since[r.ProbeID] = r.Since
		mu.Unlock()
		return Result{Outcome: Up}
	}}
	a, b := probe("acme", "a", time.Minute, spec), probe("acme", "b", time.Minute, spec)
	h.s.Set([]Probe{a, b})
	h.clk.Advance(time.Hour)
	b.Kind = "other"
	h.s.Set([]Probe{a, b})
	h.start()
	for _, id := range []string{"a", "b"} {
		if _, err := h.s.RunNow(context.Background(), "acme", id); err != nil {
			t.Fatalf("RunNow(%s): %v", id, err)
		}
	}
	h.stop()
	if !since["a"].Equal(t0) || !since["b"].Equal(t0.Add(time.Hour)) {
		t.Errorf("Since: a %v, b %v; want %v (kept) and %v (kind changed)", since["a"], since["b"], t0, t0.Add(time.Hour))
	}
}

func TestShutdown(t *testing.T) {
	for _, tc := range []struct {
		name        string
		finishFirst bool // the run ends before the drain deadline
	}{
		{"run finishes within drain", true},
		{"run cancelled at drain deadline", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer goleak.VerifyNone(t)
			started := make(chan struct{})
			finish := make(chan struct{})
			ctxErr := make(chan error, 1)
			spec := funcSpec{f: func(ctx context.Context, r Run) Result {
				close(started)
				select {
				case <-finish:
					return Result{Outcome: Up}
				case <-ctx.Done():
					ctxErr <- ctx.Err()
					return Result{Outcome: Down, Error: ctx.Err().Error()}
				}
			}}
			h := newHarness(t, func(o *SchedulerOptions) { o.Drain = 5 * time.Second })
			h.s.Set([]Probe{probe("acme", "p", time.Hour, spec)})
			h.start()
			first, _ := h.nextWake()
			h.wake(func() { h.clk.Set(first) }, false)
			h.wait(started, "the run to start")

			drainTimer := h.clk.TimerCreated()
			h.cancel()
			h.wait(drainTimer, "the drain timer")
			select {
			case err := <-h.done:
				t.Fatalf("Run returned %v with a run in flight before the drain deadline", err)
			default:
			}
			if tc.finishFirst {
				close(finish)
			} else {
				h.clk.Advance(5*time.Second - 1)
				select {
				case err := <-ctxErr:
					t.Fatalf("run cancelled (%v) before the drain deadline", err)
				default:
				}
				h.clk.Advance(1)
				select {
				case err := <-ctxErr:
					if !errors.Is(err, context.Canceled) {
						t.Errorf("run's ctx error = %v, want context.Canceled", err)
					}
				case <-time.After(guard):
					t.Fatal("run not cancelled at the drain deadline")
				}
			}
			select {
			case err := <-h.done:
				if err != nil {
					t.Errorf("Run = %v, want nil", err)
				}
			case <-time.After(guard):
				t.Fatal("Run did not return")
			}
			got := h.delivered()
			if tc.finishFirst && (len(got) != 1 || got[0].r.Outcome != Up) {
				t.Errorf("sink got %+v, want the drained run's up result", got)
			}
			if !tc.finishFirst && len(got) != 0 {
				t.Errorf("sink got %+v, want nothing: a run cancelled at shutdown says nothing about the target", got)
			}
		})
	}
}

// Runs queued behind the semaphore when shutdown begins never start.
func TestShutdownDropsQueuedRuns(t *testing.T) {
	defer goleak.VerifyNone(t)
	var starts atomic.Int32
	started := make(chan struct{}, 10)
	release := make(chan struct{})
	spec := funcSpec{f: func(ctx context.Context, r Run) Result {
		starts.Add(1)
		started <- struct{}{}
		<-release
		return Result{Outcome: Up}
	}}
	h := newHarness(t, func(o *SchedulerOptions) { o.MaxConcurrency = 1 })
	h.s.Set([]Probe{probe("acme", "a", time.Hour, spec), probe("acme", "b", time.Hour, spec), probe("acme", "c", time.Hour, spec)})
	h.start()
	h.wake(func() { h.clk.Set(t0.Add(time.Hour - 1)) }, false)
	h.wait(started, "a run")
	drainTimer := h.clk.TimerCreated()
	h.cancel()
	h.wait(drainTimer, "the drain timer")
	close(release)
	select {
	case <-h.done:
	case <-time.After(guard):
		t.Fatal("Run did not return")
	}
	if got := starts.Load(); got != 1 {
		t.Errorf("runs started = %d, want 1: queued runs must not start during shutdown", got)
	}
	if got := len(h.delivered()); got != 1 {
		t.Errorf("results delivered = %d, want 1", got)
	}
}

func TestClockJump(t *testing.T) {
	iv := 30 * time.Second
	for _, tc := range []struct {
		name string
		jump func(h *harness) // moves the clock and brings the scheduler to its next wake
	}{
		{"forward 1h, timers fire", func(h *harness) {
			h.wake(func() { h.clk.Set(h.clk.Now().Add(time.Hour)) }, true)
		}},
		{"forward 1h, timers keep their duration", func(h *harness) {
			w, _ := h.nextWake()
			rem := w.Sub(h.clk.Now())
			h.clk.Jump(time.Hour)
			h.wake(func() { h.clk.Advance(rem) }, true)
		}},
		{"back 1h", func(h *harness) {
			w, _ := h.nextWake()
			rem := w.Sub(h.clk.Now())
			h.clk.Jump(-time.Hour)
			h.wake(func() { h.clk.Advance(rem) }, true)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer goleak.VerifyNone(t)
			h := newHarness(t, nil)
			var ps []Probe
			for i := range 50 {
				ps = append(ps, probe("acme", fmt.Sprintf("p%d", i), iv, upSpec()))
			}
			h.s.Set(ps)
			h.start()
			h.advanceTo(t0.Add(iv + iv/2))
			before := len(h.delivered())

			tc.jump(h)
			jumped := h.clk.Now()
			atJump := h.delivered()[before:]
			h.advanceTo(jumped.Add(iv))
			h.advanceTo(jumped.Add(2 * iv))
			h.stop()

			perProbe := map[string]int{}
			for _, d := range atJump {
				perProbe[d.r.ProbeID]++
			}
			for id, n := range perProbe {
				if n > 1 {
					t.Errorf("%s ran %d times at the jump, want at most 1", id, n)
				}
			}
			// In each interval after the jump every probe runs once: no
			// burst, no stall.
			for i, window := range [][2]time.Time{{jumped, jumped.Add(iv)}, {jumped.Add(iv), jumped.Add(2 * iv)}} {
				count := map[string]int{}
				for _, d := range h.delivered()[before:] {
					if at := d.r.Started; !at.Before(window[0]) && at.Before(window[1]) {
						count[d.r.ProbeID]++
					}
				}
				for _, p := range ps {
					if count[p.ID] != 1 {
						t.Errorf("interval %d after the jump: %s ran %d times, want 1", i+1, p.ID, count[p.ID])
					}
				}
			}
		})
	}
}

func TestPanickingProbe(t *testing.T) {
	defer goleak.VerifyNone(t)
	h := newHarness(t, nil)
	h.s.Set([]Probe{
		probe("acme", "boom", time.Minute, funcSpec{f: func(context.Context, Run) Result { panic("nil map") }}),
		probe("acme", "blank", time.Minute, funcSpec{f: func(context.Context, Run) Result { return Result{} }}),
	})
	h.start()
	for _, tc := range []struct{ id, wantErr string }{
		{"boom", "internal error: the probe crashed"},
		{"blank", `internal error: invalid outcome ""`},
	} {
		r, err := h.s.RunNow(context.Background(), "acme", tc.id)
		if err != nil {
			t.Fatalf("RunNow(%s): %v", tc.id, err)
		}
		if r.Outcome != Down || r.Error != tc.wantErr || r.ProbeID != tc.id {
			t.Errorf("%s: got %s %q, want down %q", tc.id, r.Outcome, r.Error, tc.wantErr)
		}
	}
	h.stop()
}

func TestSetIgnoresInvalidProbes(t *testing.T) {
	h := newHarness(t, nil)
	ok := probe("acme", "ok", time.Minute, upSpec())
	noInterval := probe("acme", "zero", 0, upSpec())
	noSpec := probe("acme", "nospec", time.Minute, nil)
	noSpec.Spec = nil
	dup := probe("acme", "ok", 2*time.Minute, upSpec())
	otherOrg := probe("other", "ok", time.Minute, upSpec())
	h.s.Set([]Probe{ok, noInterval, noSpec, dup, otherOrg})
	for _, tc := range []struct {
		org, id string
		want    bool
	}{{"acme", "ok", true}, {"acme", "zero", false}, {"acme", "nospec", false}, {"other", "ok", true}} {
		if _, got := h.s.NextRun(tc.org, tc.id); got != tc.want {
			t.Errorf("%s/%s scheduled = %v, want %v", tc.org, tc.id, got, tc.want)
		}
	}
	if got, _ := metric(t, h.reg, "lookout_probes_scheduled", map[string]string{}); got != 2 {
		t.Errorf("lookout_probes_scheduled = %v, want 2", got)
	}
}

func TestMetrics(t *testing.T) {
	defer goleak.VerifyNone(t)
	var n atomic.Int32
	h := newHarness(t, func(o *SchedulerOptions) { o.Env.Region = "eu-west" })
	h.s.Set([]Probe{probe("acme", "api", time.Minute, funcSpec{f: func(context.Context, Run) Result {
		if n.Add(1) == 2 {
			return Result{Outcome: Down, Duration: 1500 * time.Millisecond}
		}
		return Result{Outcome: Up, Duration: 20 * time.Millisecond}
	}})})
	h.start()
	first, _ := h.nextWake()
	// The first run starts 2s late: lag 2s. The second starts on time.
	h.wake(func() { h.clk.Set(first.Add(2 * time.Second)) }, true)
	h.advanceTo(first.Add(time.Minute))
	h.stop()

	want := `
# HELP lookout_probe_duration_seconds Wall time of completed probe runs.
# TYPE lookout_probe_duration_seconds histogram
lookout_probe_duration_seconds_bucket{component="api",organization="acme",probe="api",region="eu-west",le="0.001"} 0
lookout_probe_duration_seconds_bucket{component="api",organization="acme",probe="api",region="eu-west",le="0.0025"} 0
lookout_probe_duration_seconds_bucket{component="api",organization="acme",probe="api",region="eu-west",le="0.005"} 0
lookout_probe_duration_seconds_bucket{component="api",organization="acme",probe="api",region="eu-west",le="0.01"} 0
lookout_probe_duration_seconds_bucket{component="api",organization="acme",probe="api",region="eu-west",le="0.025"} 1
lookout_probe_duration_seconds_bucket{component="api",organization="acme",probe="api",region="eu-west",le="0.05"} 1
lookout_probe_duration_seconds_bucket{component="api",organization="acme",probe="api",region="eu-west",le="0.1"} 1
lookout_probe_duration_seconds_bucket{component="api",organization="acme",probe="api",region="eu-west",le="0.25"} 1
lookout_probe_duration_seconds_bucket{component="api",organization="acme",probe="api",region="eu-west",le="0.5"} 1
lookout_probe_duration_seconds_bucket{component="api",organization="acme",probe="api",region="eu-west",le="1"} 1
lookout_probe_duration_seconds_bucket{component="api",organization="acme",probe="api",region="eu-west",le="2.5"} 2
lookout_probe_duration_seconds_bucket{component="api",organization="acme",probe="api",region="eu-west",le="5"} 2
lookout_probe_duration_seconds_bucket{component="api",organization="acme",probe="api",region="eu-west",le="10"} 2
lookout_probe_duration_seconds_bucket{component="api",organization="acme",probe="api",region="eu-west",le="30"} 2
lookout_probe_duration_seconds_bucket{component="api",organization="acme",probe="api",region="eu-west",le="+Inf"} 2
lookout_probe_duration_seconds_sum{component="api",organization="acme",probe="api",region="eu-west"} 1.52
lookout_probe_duration_seconds_count{component="api",organization="acme",probe="api",region="eu-west"} 2
# HELP lookout_probe_results_total Completed probe runs, by outcome.
# TYPE lookout_probe_results_total counter
lookout_probe_results_total{component="api",organization="acme",outcome="degraded",probe="api",region="eu-west"} 0
lookout_probe_results_total{component="api",organization="acme",outcome="down",probe="api",region="eu-west"} 1
lookout_probe_results_total{component="api",organization="acme",outcome="up",probe="api",region="eu-west"} 1
# HELP lookout_probe_skipped_total Scheduled probe runs skipped because the previous run of the probe was still in flight.
# TYPE lookout_probe_skipped_total counter
lookout_probe_skipped_total{organization="acme",probe="api"} 0
# HELP lookout_probes_in_flight Probe runs executing now.
# TYPE lookout_probes_in_flight gauge
lookout_probes_in_flight 0
# HELP lookout_probes_scheduled Probes on the schedule.
# TYPE lookout_probes_scheduled gauge
lookout_probes_scheduled 1
`
	if err := testutil.GatherAndCompare(h.reg, strings.NewReader(want),
		"lookout_probe_duration_seconds", "lookout_probe_results_total", "lookout_probe_skipped_total", "lookout_probes_in_flight", "lookout_probes_scheduled"); err != nil {
		t.Error(err)
	}
	labels := map[string]string{"organization": "acme", "probe": "api", "component": "api", "region": "eu-west"}
	if got, _ := metric(t, h.reg, "lookout_probe_duration_seconds", labels); got != 2 {
		t.Errorf("lookout_probe_duration_seconds count = %v, want 2", got)
	}
	if got, _ := metric(t, h.reg, "lookout_scheduler_lag_seconds", map[string]string{}); got != 2 {
		t.Errorf("lookout_scheduler_lag_seconds count = %v, want 2", got)
	}
	if got := histogramSum(t, h.reg, "lookout_scheduler_lag_seconds"); got != 2 {
		t.Errorf("lookout_scheduler_lag_seconds sum = %v, want 2", got)
	}
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

func TestRunTwice(t *testing.T) {
	defer goleak.VerifyNone(t)
	h := newHarness(t, nil)
	h.s.Set([]Probe{probe("acme", "a", time.Minute, upSpec())})
	h.start()
	if err := h.s.Run(context.Background()); err == nil {
		t.Error("second Run: got nil, want an error")
	}
	h.stop()
}

// BenchmarkSchedulerOverhead measures the scheduler's own cost per run with
// 5,000 probes and a no-op spec: dispatch, goroutine, semaphore, timeout
// context, metrics and sink, plus the fake clock's stepping.
func BenchmarkSchedulerOverhead(b *testing.B) {
	var runs atomic.Int64
	clk := clock.NewFake(t0)
	s := NewScheduler(SchedulerOptions{
		Clock:   clk,
		Metrics: prometheus.NewRegistry(),
		Sink:    func(string, Result) { runs.Add(1) },
	})
	var ps []Probe
	for i := range 5000 {
		ps = append(ps, probe("acme", fmt.Sprintf("probe-%d", i), 30*time.Second, upSpec()))
	}
	s.Set(ps)
	h := &harness{t: b, clk: clk, s: s}
	h.start()
	b.ReportAllocs()
	b.ResetTimer()
	for runs.Load() < int64(b.N) {
		w, _ := h.nextWake()
		h.wake(func() { clk.Set(w) }, false)
	}
	s.wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(runs.Load()), "ns/run")
	h.stop()
}

// BenchmarkSchedulerLagRealClock runs 5,000 probes at a 1 s interval (30
// times the target load of 5,000 at 30 s) on the real clock for 3 s and
// reports how late runs started behind their slots. Run it with
// -benchtime 1x; it is not part of the default test run.
func BenchmarkSchedulerLagRealClock(b *testing.B) {
	const n, iv, span = 5000, time.Second, 3 * time.Second
	var (
		mu   sync.Mutex
		lags []time.Duration
	)
	phases := map[string]time.Duration{}
	var ps []Probe
	for i := range n {
		p := probe("acme", fmt.Sprintf("probe-%d", i), iv, upSpec())
		phases[p.ID] = phase(probeKey{p.Organization, p.ID}, iv)
		ps = append(ps, p)
	}
	for range b.N {
		lags = lags[:0]
		s := NewScheduler(SchedulerOptions{
			Metrics: prometheus.NewRegistry(),
			Sink: func(_ string, r Result) {
				l := sinceSlot(r.Started, iv, phases[r.ProbeID])
				mu.Lock()
				lags = append(lags, l)
				mu.Unlock()
			},
		})
		s.Set(ps)
		ctx, cancel := context.WithTimeout(context.Background(), span)
		if err := s.Run(ctx); err != nil {
			b.Fatal(err)
		}
		cancel()
	}
	slices.Sort(lags)
	if len(lags) == 0 {
		b.Fatal("no runs")
	}
	b.ReportMetric(float64(len(lags))/float64(b.N)/span.Seconds(), "runs/s")
	b.ReportMetric(float64(lags[len(lags)*50/100].Microseconds())/1000, "p50_lag_ms")
	b.ReportMetric(float64(lags[len(lags)*99/100].Microseconds())/1000, "p99_lag_ms")
	b.ReportMetric(float64(lags[len(lags)-1].Microseconds())/1000, "max_lag_ms")
}

// Probes due within one SlotGrain share a start instant, so a burst of them
// costs one wake-up; an interval too short for two grains keeps the exact
// phase.
func TestPhaseOnSlotGrain(t *testing.T) {
	iv := 30 * time.Second
	starts := map[time.Duration]int{}
	for i := range 5000 {
		p := phase(probeKey{"acme", fmt.Sprintf("p%d", i)}, iv)
		if p%SlotGrain != 0 {
			t.Fatalf("phase of p%d = %v, not a multiple of %v", i, p, SlotGrain)
		}
		starts[p]++
	}
	if want := int(iv / SlotGrain); len(starts) < want*9/10 {
		t.Errorf("5,000 probes use %d distinct start instants, want nearly all %d grains of the interval", len(starts), want)
	}
	// The slot instants of a grain-aligned phase are grain-aligned.
	now := time.Unix(1_700_000_000, 123_456_789)
	for i := range 100 {
		ph := phase(probeKey{"acme", fmt.Sprintf("p%d", i)}, iv)
		if at := nextSlot(now, iv, ph); at.UnixNano()%int64(SlotGrain) != 0 {
			t.Fatalf("next slot of p%d at %v is off the grain", i, at)
		}
	}
	short := SlotGrain + SlotGrain/2
	off := 0
	for i := range 200 {
		if phase(probeKey{"acme", fmt.Sprintf("p%d", i)}, short)%SlotGrain != 0 {
			off++
		}
	}
	if off == 0 {
		t.Errorf("an interval of %v (under two grains) should keep exact phases; all 200 were on the grain", short)
	}
}

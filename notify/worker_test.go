package notify_test

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lookout-status/lookout/clock"
	"github.com/lookout-status/lookout/notify"
	"github.com/lookout-status/lookout/notify/webhook"
	"github.com/lookout-status/lookout/probes"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)

// wait bounds how long a test waits for the worker before failing instead
// of hanging; nothing waits on it for timing.
const wait = 10 * time.Second

// memOutbox is an in-memory Outbox: the seam the SQLite outbox fills. It
// keeps every recorded attempt and reports each on events.
type memOutbox struct {
	mu       sync.Mutex
	rows     []*memRow
	events   chan event
	attempts []notify.Attempt // the attempt log
}

type memRow struct {
	d       notify.Delivery
	created time.Time
	state   string // pending, delivered, gave_up
	ref     string
}

type event struct {
	kind    string // delivered, failed, gave_up
	id      int64
	key     string
	at      time.Time
	reason  string
	retryAt time.Time
}

func newOutbox() *memOutbox { return &memOutbox{events: make(chan event, 1000)} }

// add writes a pending row due at due; it returns the row's id.
func (o *memOutbox) add(channel, dest, key string, due time.Time) int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	id := int64(len(o.rows) + 1)
	m := notify.Message{Key: key, Event: notify.Triggered, Incident: notify.Incident{ID: "inc_1", Title: "API down"}, At: due}
	o.rows = append(o.rows, &memRow{
		d:       notify.Delivery{ID: id, Channel: channel, Destination: dest, Message: m, NextAt: due},
		created: due,
		state:   "pending",
	})
	return id
}

func (o *memOutbox) row(id int64) memRow {
	o.mu.Lock()
	defer o.mu.Unlock()
	return *o.rows[id-1]
}

func (o *memOutbox) Due(_ context.Context, now time.Time, limit int, busy []string) ([]notify.Delivery, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	skip := map[string]bool{}
	for _, b := range busy {
		skip[b] = true
	}
	var out []notify.Delivery
	for _, r := range o.rows {
		dest := r.d.Destination
		if dest == "" {
			dest = r.d.Channel
		}
		if r.state == "pending" && !r.d.NextAt.After(now) && !skip[dest] && len(out) < limit {
			out = append(out, r.d)
		}
	}
	return out, nil
}

// Record implements notify.Outbox: it applies the attempt's outcome to a
// pending row (recording twice is an error) and keeps the attempt.
func (o *memOutbox) Record(_ context.Context, a notify.Attempt) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	id := a.Delivery.ID
	if id < 1 || int(id) > len(o.rows) {
		return fmt.Errorf("no row %d", id)
	}
	r := o.rows[id-1]
	if r.state != "pending" {
		return fmt.Errorf("row %d is %s, not pending", id, r.state)
	}
	switch a.Outcome {
	case notify.OutcomeDelivered:
		r.state, r.ref = "delivered", a.Ref
	case notify.OutcomeFailed:
		r.d.NextAt = a.RetryAt
	case notify.OutcomeGaveUp:
		r.state = "gave_up"
	default:
		return fmt.Errorf("row %d: unknown outcome %q", id, a.Outcome)
	}
	r.d.Attempt++
	o.attempts = append(o.attempts, a)
	o.events <- event{kind: string(a.Outcome), id: id, key: r.d.Message.Key, at: a.End, reason: a.Reason, retryAt: a.RetryAt}
	return nil
}

func (o *memOutbox) Stats(context.Context) (int, time.Time, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	n, oldest := 0, time.Time{}
	for _, r := range o.rows {
		if r.state == "pending" {
			n++
			if oldest.IsZero() || r.created.Before(oldest) {
				oldest = r.created
			}
		}
	}
	return n, oldest, nil
}

// next returns the next recorded outcome.
func (o *memOutbox) next(t *testing.T) event {
	t.Helper()
	select {
	case e := <-o.events:
		return e
	case <-time.After(wait):
		t.Fatalf("no outcome recorded within %s", wait)
		return event{}
	}
}

// noMoreEvents fails if an outcome was recorded and not consumed.
func (o *memOutbox) noMoreEvents(t *testing.T) {
	t.Helper()
	select {
	case e := <-o.events:
		t.Errorf("unexpected outcome %+v", e)
	default:
	}
}

// hook is a real webhook receiver with the notifier that posts to it.
type hook struct {
	srv    *httptest.Server
	n      *webhook.Notifier
	secret string
	mu     sync.Mutex
	reqs   []*http.Request
	bodies [][]byte
}

// newHook starts a receiver; respond answers the n-th request (from 1).
func newHook(t *testing.T, clk clock.Clock, respond func(n int, w http.ResponseWriter, r *http.Request)) *hook {
	t.Helper()
	h := &hook{secret: webhook.GenerateSecret()}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.reqs = append(h.reqs, r)
		h.bodies = append(h.bodies, body)
		n := len(h.reqs)
		h.mu.Unlock()
		if respond != nil {
			respond(n, w, r)
		}
	}))
	t.Cleanup(h.srv.Close)
	n, err := webhook.New(webhook.Config{URL: h.srv.URL + "/hook", Secret: h.secret, Clock: clk},
		nil, probes.NewEgress([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.CloseIdleConnections)
	h.n = n
	return h
}

// ids returns the webhook-id of each request received, in order.
func (h *hook) ids() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var ids []string
	for _, r := range h.reqs {
		ids = append(ids, r.Header.Get("webhook-id"))
	}
	return ids
}

func statusAfter(codes ...int) func(int, http.ResponseWriter, *http.Request) {
	return func(n int, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(codes[min(n, len(codes))-1])
	}
}

// harness runs a worker on a fake clock.
type harness struct {
	t      *testing.T
	clk    *clock.Fake
	ob     *memOutbox
	reg    *prometheus.Registry
	w      *notify.Worker
	drain  time.Duration
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// start runs a worker and returns once its first read of the outbox is
// done and it waits for the next. PollInterval defaults to an hour here,
// so reads happen on Wake unless a test advances the clock.
func start(t *testing.T, clk *clock.Fake, ob *memOutbox, opts notify.WorkerOptions) *harness {
	t.Helper()
	h := &harness{t: t, clk: clk, ob: ob, reg: prometheus.NewRegistry(), done: make(chan error, 1)}
	opts.Outbox, opts.Clock, opts.Metrics = ob, clk, h.reg
	if opts.PollInterval == 0 {
		opts.PollInterval = time.Hour
	}
	if opts.Drain == 0 {
		opts.Drain = 10 * time.Second
	}
	h.drain = opts.Drain
	w, err := notify.NewWorker(opts)
	if err != nil {
		t.Fatal(err)
	}
	h.w = w
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	created := clk.TimerCreated()
	go func() { h.done <- w.Run(ctx) }()
	select {
	case <-created:
	case <-time.After(wait):
		t.Fatal("worker never waited for its next poll")
	}
	t.Cleanup(h.stop)
	return h
}

// stop cancels Run and moves the clock past the drain period until Run
// returns.
func (h *harness) stop() {
	h.once.Do(func() {
		h.cancel()
		deadline := time.After(wait)
		for {
			created := h.clk.TimerCreated()
			h.clk.Advance(h.drain)
			select {
			case err := <-h.done:
				if err != nil {
					h.t.Errorf("Run: got %v, want nil", err)
				}
				return
			case <-created:
			case <-deadline:
				h.t.Fatalf("Run did not return within %s of shutdown", wait)
			}
		}
	})
}

// metric returns the value of the series of name with these labels, or -1.
func (h *harness) metric(name string, labels ...string) float64 {
	h.t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		h.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue series
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return -1
}

func (h *harness) outcomes(channel string) [3]float64 {
	return [3]float64{
		h.metric("lookout_notifications_total", "channel", channel, "outcome", "delivered"),
		h.metric("lookout_notifications_total", "channel", channel, "outcome", "failed"),
		h.metric("lookout_notifications_total", "channel", channel, "outcome", "gave_up"),
	}
}

func half() float64 { return 0.5 }

// TestWorkerRetriesThenDelivers: a receiver answering 500 twice then 200
// gets three attempts with the same webhook-id, spaced by the backoff.
func TestWorkerRetriesThenDelivers(t *testing.T) {
	clk := clock.NewFake(t0)
	hk := newHook(t, clk, statusAfter(500, 500, 200))
	h := start(t, clk, newOutbox(), notify.WorkerOptions{
		Notifiers: map[string]notify.Notifier{"webhook:ops": hk.n},
		Rand:      half, // the default backoff waits half its bound: 2.5 s, 5 s, ...
	})
	id := h.ob.add("webhook:ops", hk.n.Destination(), "inc_1:triggered:0", t0)
	h.w.Wake()

	e := h.ob.next(t)
	if e.kind != "failed" || e.id != id || !e.at.Equal(t0) || !e.retryAt.Equal(t0.Add(2500*time.Millisecond)) {
		t.Fatalf("first attempt: got %+v, want failed at %v, retry at +2.5s", e, t0)
	}
	if !strings.Contains(e.reason, "HTTP 500") {
		t.Errorf("reason: got %q, want it to name HTTP 500", e.reason)
	}
	clk.Set(e.retryAt)
	h.w.Wake()
	e = h.ob.next(t)
	if e.kind != "failed" || !e.retryAt.Equal(t0.Add(7500*time.Millisecond)) {
		t.Fatalf("second attempt: got %+v, want failed, retry 5 s later at %v", e, t0.Add(7500*time.Millisecond))
	}
	clk.Set(e.retryAt)
	h.w.Wake()
	e = h.ob.next(t)
	if e.kind != "delivered" || !e.at.Equal(t0.Add(7500*time.Millisecond)) {
		t.Fatalf("third attempt: got %+v, want delivered", e)
	}
	h.stop()
	h.ob.noMoreEvents(t)

	if got := hk.ids(); strings.Join(got, " ") != "inc_1:triggered:0 inc_1:triggered:0 inc_1:triggered:0" {
		t.Errorf("webhook-ids: got %q, want the same key on every attempt", got)
	}
	for i, sentAt := range []time.Time{t0, t0.Add(2500 * time.Millisecond), t0.Add(7500 * time.Millisecond)} {
		if err := webhook.Verify(hk.secret, hk.reqs[i].Header, hk.bodies[i], sentAt, time.Second); err != nil {
			t.Errorf("attempt %d: %v", i+1, err)
		}
	}
	if got, want := h.row(id).d.Attempt, 3; got != want {
		t.Errorf("attempts recorded: got %d, want %d", got, want)
	}
	if got, want := h.outcomes("webhook:ops"), [3]float64{1, 2, 0}; got != want {
		t.Errorf("delivered, failed, gave_up: got %v, want %v", got, want)
	}
	if got := h.metric("lookout_notification_duration_seconds", "channel", "webhook:ops"); got != 3 {
		t.Errorf("duration observations: got %v, want 3", got)
	}
	// The attempt log has each attempt with its number, outcome and the
	// receiver's status.
	h.ob.mu.Lock()
	log := slices.Clone(h.ob.attempts)
	h.ob.mu.Unlock()
	var got []string
	for _, a := range log {
		got = append(got, fmt.Sprintf("%d:%s:%d", a.Delivery.Attempt+1, a.Outcome, a.Reply.Code))
		if a.Delivery.ID != id || (a.Outcome == "failed") != (a.Err != "") {
			t.Errorf("attempt %+v: want row %d, an error exactly when failed", a, id)
		}
	}
	if strings.Join(got, " ") != "1:failed:500 2:failed:500 3:delivered:200" {
		t.Errorf("attempt log: got %q, want 1:failed:500 2:failed:500 3:delivered:200", got)
	}
}

func (h *harness) row(id int64) memRow { return h.ob.row(id) }

// TestWorkerGivesUp drives rows to give-up and checks the outcome metrics.
func TestWorkerGivesUp(t *testing.T) {
	tests := []struct {
		name       string
		codes      []int
		channel    string
		kinds      []string
		wantReason string
		wantHits   int
		wantCounts [3]float64 // delivered, failed, gave_up
	}{
		{
			name: "max attempts", codes: []int{500}, channel: "webhook:ops",
			kinds:      []string{"failed", "failed", "gave_up"},
			wantReason: "gave up after 3 attempts: webhook 127.0.0.1:", wantHits: 3, wantCounts: [3]float64{0, 2, 1},
		},
		{
			name: "410 gone at once", codes: []int{410}, channel: "webhook:ops",
			kinds: []string{"gave_up"}, wantReason: "HTTP 410: the receiver wants no more deliveries", wantHits: 1, wantCounts: [3]float64{0, 0, 1},
		},
		{
			name: "400 at once", codes: []int{400}, channel: "webhook:ops",
			kinds: []string{"gave_up"}, wantReason: "HTTP 400", wantHits: 1, wantCounts: [3]float64{0, 0, 1},
		},
		{
			name: "unknown channel", codes: []int{200}, channel: "slack:gone",
			kinds: []string{"gave_up"}, wantReason: `no notifier for channel "slack:gone"`, wantHits: 0, wantCounts: [3]float64{0, 0, 1},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := clock.NewFake(t0)
			hk := newHook(t, clk, statusAfter(tc.codes...))
			h := start(t, clk, newOutbox(), notify.WorkerOptions{
				Notifiers:   map[string]notify.Notifier{"webhook:ops": hk.n},
				MaxAttempts: 3,
				Backoff:     func(n int) time.Duration { return time.Duration(n) * time.Minute },
			})
			id := h.ob.add(tc.channel, "", "k1", t0)
			h.w.Wake()
			var e event
			for i, kind := range tc.kinds {
				e = h.ob.next(t)
				if e.kind != kind || e.id != id {
					t.Fatalf("outcome %d: got %+v, want %s", i+1, e, kind)
				}
				if kind == "failed" {
					if want := clk.Now().Add(time.Duration(i+1) * time.Minute); !e.retryAt.Equal(want) {
						t.Errorf("outcome %d: retry at %v, want %v", i+1, e.retryAt, want)
					}
					clk.Set(e.retryAt)
					h.w.Wake()
				}
			}
			if !strings.Contains(e.reason, tc.wantReason) {
				t.Errorf("reason: got %q, want it to contain %q", e.reason, tc.wantReason)
			}
			// The delivery log keeps the last attempt's own error; the
			// row's reason may say why it was the last.
			h.ob.mu.Lock()
			last := h.ob.attempts[len(h.ob.attempts)-1]
			h.ob.mu.Unlock()
			if last.Err == "" || strings.HasPrefix(last.Err, "gave up") || !strings.HasSuffix(last.Reason, last.Err) {
				t.Errorf("last attempt: got error %q, reason %q; want the attempt's error, ending the reason", last.Err, last.Reason)
			}
			h.stop()
			h.ob.noMoreEvents(t)
			if got := len(hk.ids()); got != tc.wantHits {
				t.Errorf("receiver hits: got %d, want %d", got, tc.wantHits)
			}
			if got := h.row(id); got.state != "gave_up" || got.d.Attempt != len(tc.kinds) {
				t.Errorf("row: got %s after %d attempts, want gave_up after %d", got.state, got.d.Attempt, len(tc.kinds))
			}
			if got := h.outcomes(tc.channel); got != tc.wantCounts {
				t.Errorf("delivered, failed, gave_up: got %v, want %v", got, tc.wantCounts)
			}
		})
	}
}

func TestWorkerHonoursRetryAfter(t *testing.T) {
	tests := []struct {
		name       string
		retryAfter string
		want       time.Duration
	}{
		{"longer than the backoff", "600", 10 * time.Minute},
		{"shorter than the backoff", "1", 2500 * time.Millisecond},
		{"capped at 2 h", "86400", 2 * time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := clock.NewFake(t0)
			hk := newHook(t, clk, func(n int, w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Retry-After", tc.retryAfter)
				w.WriteHeader(http.StatusTooManyRequests)
			})
			h := start(t, clk, newOutbox(), notify.WorkerOptions{Notifiers: map[string]notify.Notifier{"webhook:ops": hk.n}, Rand: half})
			h.ob.add("webhook:ops", "", "k1", t0)
			h.w.Wake()
			e := h.ob.next(t)
			if e.kind != "failed" || !e.retryAt.Equal(t0.Add(tc.want)) {
				t.Errorf("got %s with retry at %v, want failed with retry at +%v", e.kind, e.retryAt, tc.want)
			}
		})
	}
}

// TestWorkerOrderPerDestination: with one delivery at a time, each
// destination receives its rows in outbox order.
func TestWorkerOrderPerDestination(t *testing.T) {
	clk := clock.NewFake(t0)
	a, b := newHook(t, clk, nil), newHook(t, clk, nil)
	h := start(t, clk, newOutbox(), notify.WorkerOptions{
		Notifiers:      map[string]notify.Notifier{"webhook:a": a.n, "webhook:b": b.n},
		PerDestination: 1,
	})
	var wantA, wantB []string
	for i := range 5 {
		k := fmt.Sprintf("a%d", i+1)
		h.ob.add("webhook:a", "a", k, t0.Add(time.Duration(i)*time.Second))
		wantA = append(wantA, k)
		if i < 3 {
			k := fmt.Sprintf("b%d", i+1)
			h.ob.add("webhook:b", "b", k, t0.Add(time.Duration(i)*time.Second))
			wantB = append(wantB, k)
		}
	}
	clk.Advance(time.Minute)
	h.w.Wake()
	for range 8 {
		if e := h.ob.next(t); e.kind != "delivered" {
			t.Fatalf("got %+v, want delivered", e)
		}
	}
	if got := a.ids(); strings.Join(got, " ") != strings.Join(wantA, " ") {
		t.Errorf("destination a: got %v, want %v", got, wantA)
	}
	if got := b.ids(); strings.Join(got, " ") != strings.Join(wantB, " ") {
		t.Errorf("destination b: got %v, want %v", got, wantB)
	}
}

// TestWorkerPerDestinationLimit: a destination never has more than
// PerDestination deliveries in flight.
func TestWorkerPerDestinationLimit(t *testing.T) {
	clk := clock.NewFake(t0)
	var cur, peak atomic.Int32
	arrived, release := make(chan struct{}), make(chan struct{})
	hk := newHook(t, clk, func(_ int, w http.ResponseWriter, r *http.Request) {
		if c := cur.Add(1); c > peak.Load() {
			peak.Store(c)
		}
		defer cur.Add(-1)
		select {
		case arrived <- struct{}{}:
		case <-r.Context().Done():
			return
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	h := start(t, clk, newOutbox(), notify.WorkerOptions{Notifiers: map[string]notify.Notifier{"webhook:ops": hk.n}, PerDestination: 2})
	for i := range 6 {
		h.ob.add("webhook:ops", "ops", fmt.Sprintf("k%d", i+1), t0)
	}
	h.w.Wake()
	recv := func(what string) {
		t.Helper()
		select {
		case <-arrived:
		case <-time.After(wait):
			t.Fatalf("no %s within %s", what, wait)
		}
	}
	recv("first delivery")
	recv("second delivery")
	for i := 3; i <= 6; i++ {
		release <- struct{}{}               // one finishes ...
		recv(fmt.Sprintf("delivery %d", i)) // ... and the next starts
	}
	release <- struct{}{}
	release <- struct{}{}
	for range 6 {
		if e := h.ob.next(t); e.kind != "delivered" {
			t.Fatalf("got %+v, want delivered", e)
		}
	}
	if got := peak.Load(); got != 2 {
		t.Errorf("peak concurrent deliveries to one destination: got %d, want 2", got)
	}
}

// blocking returns a handler that signals each arrival and then holds the
// request until the client gives up.
func blocking(arrived chan<- string) func(int, http.ResponseWriter, *http.Request) {
	return func(_ int, _ http.ResponseWriter, r *http.Request) {
		select {
		case arrived <- r.Header.Get("webhook-id"):
		case <-r.Context().Done():
			return
		}
		<-r.Context().Done()
	}
}

// TestWorkerSlowDestinationDoesNotDelayOthers: a blackholed receiver holds
// its own deliveries only; undelivered rows stay in the outbox untouched
// when the worker stops.
func TestWorkerSlowDestinationDoesNotDelayOthers(t *testing.T) {
	clk := clock.NewFake(t0)
	arrived := make(chan string, 10)
	dead := newHook(t, clk, blocking(arrived))
	live := newHook(t, clk, nil)
	h := start(t, clk, newOutbox(), notify.WorkerOptions{
		Notifiers: map[string]notify.Notifier{"webhook:dead": dead.n, "webhook:live": live.n},
	})
	var deadIDs []int64
	for i := range 4 {
		deadIDs = append(deadIDs, h.ob.add("webhook:dead", dead.n.Destination(), fmt.Sprintf("dead%d", i+1), t0))
	}
	live1 := h.ob.add("webhook:live", live.n.Destination(), "live1", t0)
	h.w.Wake()
	if e := h.ob.next(t); e.kind != "delivered" || e.id != live1 {
		t.Fatalf("got %+v, want live1 delivered", e)
	}
	for range 2 {
		select {
		case <-arrived:
		case <-time.After(wait):
			t.Fatal("the dead destination never got its two deliveries")
		}
	}
	// A row written later for the live destination is not held up either.
	live2 := h.ob.add("webhook:live", live.n.Destination(), "live2", t0)
	h.w.Wake()
	if e := h.ob.next(t); e.kind != "delivered" || e.id != live2 {
		t.Fatalf("got %+v, want live2 delivered", e)
	}

	h.stop() // the drain passes; the two stuck deliveries are cancelled
	h.ob.noMoreEvents(t)
	if got := len(arrived); got != 0 {
		t.Errorf("the dead destination got %d deliveries beyond PerDestination", got)
	}
	for _, id := range deadIDs {
		if r := h.row(id); r.state != "pending" || r.d.Attempt != 0 {
			t.Errorf("row %d: got %s after %d attempts, want pending, 0 attempts (a shutdown is not an attempt)", id, r.state, r.d.Attempt)
		}
	}
}

// TestWorkerShutdownDrainsAndResumes: on shutdown the delivery in flight
// finishes and is recorded, rows not started stay in the outbox, and the
// next worker delivers them with their original keys.
func TestWorkerShutdownDrainsAndResumes(t *testing.T) {
	clk := clock.NewFake(t0)
	var hold atomic.Bool
	hold.Store(true)
	arrived, release := make(chan string, 10), make(chan struct{})
	hk := newHook(t, clk, func(_ int, w http.ResponseWriter, r *http.Request) {
		if !hold.Load() {
			return
		}
		arrived <- r.Header.Get("webhook-id")
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	notifiers := map[string]notify.Notifier{"webhook:ops": hk.n}
	ob := newOutbox()
	h := start(t, clk, ob, notify.WorkerOptions{Notifiers: notifiers, PerDestination: 1})
	for _, k := range []string{"k1", "k2", "k3"} {
		ob.add("webhook:ops", "ops", k, t0)
	}
	polled := clk.TimerCreated()
	h.w.Wake()
	select {
	case got := <-arrived:
		if got != "k1" {
			t.Fatalf("first delivery: got %s, want k1", got)
		}
	case <-time.After(wait):
		t.Fatal("no delivery started")
	}
	<-polled // the worker is back waiting for its next poll

	draining := clk.TimerCreated()
	h.cancel()
	<-draining // Run has stopped taking rows and waits for the drain
	release <- struct{}{}
	select {
	case err := <-h.done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(wait):
		t.Fatal("Run did not return once the delivery in flight finished")
	}
	h.once.Do(func() {}) // stopped already
	if e := ob.next(t); e.kind != "delivered" || e.key != "k1" {
		t.Fatalf("got %+v, want k1 delivered during the drain", e)
	}
	ob.noMoreEvents(t)
	for id := int64(2); id <= 3; id++ {
		if r := ob.row(id); r.state != "pending" || r.d.Attempt != 0 {
			t.Errorf("row %d: got %s after %d attempts, want pending and untouched", id, r.state, r.d.Attempt)
		}
	}

	// After a restart the rest go out, with the keys they were written with.
	hold.Store(false)
	start(t, clk, ob, notify.WorkerOptions{Notifiers: notifiers, PerDestination: 1})
	for _, want := range []string{"k2", "k3"} {
		if e := ob.next(t); e.kind != "delivered" || e.key != want {
			t.Fatalf("after restart: got %+v, want %s delivered", e, want)
		}
	}
	if got := strings.Join(hk.ids(), " "); got != "k1 k2 k3" {
		t.Errorf("receiver saw %q, want each key once, in order", got)
	}
}

// TestWorkerPolls: rows written without Wake go out on the next poll.
func TestWorkerPolls(t *testing.T) {
	clk := clock.NewFake(t0)
	hk := newHook(t, clk, nil)
	h := start(t, clk, newOutbox(), notify.WorkerOptions{Notifiers: map[string]notify.Notifier{"webhook:ops": hk.n}, PollInterval: 5 * time.Second})
	h.ob.add("webhook:ops", "", "k1", t0)
	clk.Advance(5 * time.Second)
	if e := h.ob.next(t); e.kind != "delivered" || !e.at.Equal(t0.Add(5*time.Second)) {
		t.Fatalf("got %+v, want delivered at the first poll", e)
	}
}

func TestWorkerOutboxGauges(t *testing.T) {
	clk := clock.NewFake(t0)
	ob := newOutbox()
	ob.add("webhook:ops", "", "k1", t0.Add(-90*time.Second))
	ob.add("webhook:ops", "", "k2", t0.Add(-30*time.Second))
	ob.rows[0].d.NextAt, ob.rows[1].d.NextAt = t0.Add(time.Hour), t0.Add(time.Hour) // retrying later
	h := start(t, clk, ob, notify.WorkerOptions{})
	if got := h.metric("lookout_outbox_depth"); got != 2 {
		t.Errorf("lookout_outbox_depth: got %v, want 2", got)
	}
	if got := h.metric("lookout_outbox_oldest_pending_seconds"); got != 90 {
		t.Errorf("lookout_outbox_oldest_pending_seconds: got %v, want 90", got)
	}
}

func TestNewWorker(t *testing.T) {
	if _, err := notify.NewWorker(notify.WorkerOptions{}); err == nil || !strings.Contains(err.Error(), "no outbox") {
		t.Errorf("no outbox: got %v, want an error", err)
	}
	reg := prometheus.NewRegistry()
	if _, err := notify.NewWorker(notify.WorkerOptions{Outbox: newOutbox(), Metrics: reg}); err != nil {
		t.Fatal(err)
	}
	if _, err := notify.NewWorker(notify.WorkerOptions{Outbox: newOutbox(), Metrics: reg}); err == nil {
		t.Error("second worker on one registry: got no error, want a registration error")
	}

	clk := clock.NewFake(t0)
	h := start(t, clk, newOutbox(), notify.WorkerOptions{})
	if err := h.w.Run(context.Background()); err == nil {
		t.Error("second Run: got nil, want an error")
	}
}

func TestExponentialBackoff(t *testing.T) {
	top := func() float64 { return math.Nextafter(1, 0) }
	bounds := notify.ExponentialBackoff(5*time.Second, 2*time.Hour, top)
	tests := []struct {
		attempt int
		want    time.Duration // just under this
	}{
		{1, 5 * time.Second}, {2, 10 * time.Second}, {3, 20 * time.Second},
		{11, 5120 * time.Second}, {12, 2 * time.Hour}, {30, 2 * time.Hour}, {500, 2 * time.Hour},
	}
	for _, tc := range tests {
		got := bounds(tc.attempt)
		if got >= tc.want || got < tc.want-time.Millisecond {
			t.Errorf("attempt %d: got %v, want just under %v", tc.attempt, got, tc.want)
		}
	}
	if got := notify.ExponentialBackoff(5*time.Second, 2*time.Hour, func() float64 { return 0 })(7); got != 0 {
		t.Errorf("jitter 0: got %v, want 0", got)
	}

	// The default attempts span about a day on average.
	mean := notify.ExponentialBackoff(notify.DefaultBackoffBase, notify.DefaultBackoffMax, half)
	var total time.Duration
	for n := 1; n < notify.DefaultMaxAttempts; n++ {
		total += mean(n)
	}
	if total < 12*time.Hour || total > 36*time.Hour {
		t.Errorf("mean span of the default retries: got %v, want about a day", total)
	}
}

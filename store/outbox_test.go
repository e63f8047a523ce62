package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lookout-status/lookout/incidents"
	"github.com/lookout-status/lookout/notify"
)

// delivery is a message about incident to channel, due at due.
func delivery(key, channel, dest, incident string, due time.Time) notify.Delivery {
	return notify.Delivery{Channel: channel, Destination: dest, NextAt: due, Message: notify.Message{
		Key: key, Event: notify.Triggered, At: due,
		Incident: notify.Incident{ID: incident, Org: "acme", Title: "API down " + incident, StartedAt: due},
	}}
}

// queue commits deliveries for org acme.
func queue(tb testing.TB, db *DB, ds ...notify.Delivery) {
	tb.Helper()
	if err := db.CommitIncidents(context.Background(), "acme", incidents.State{Org: "acme"}, nil, ds); err != nil {
		tb.Fatalf("queue: %v", err)
	}
}

// due returns the keys Due returns, with their refs as key@ref.
func due(tb testing.TB, db *DB, now time.Time, limit int, busy ...string) []string {
	tb.Helper()
	ds, err := db.Due(context.Background(), now, limit, busy)
	if err != nil {
		tb.Fatalf("due: %v", err)
	}
	out := []string{}
	for _, d := range ds {
		k := d.Message.Key
		if d.Message.Ref != "" {
			k += "@" + d.Message.Ref
		}
		out = append(out, k)
	}
	return out
}

// taken returns the outbox row of key as the worker takes it from Due.
func taken(tb testing.TB, db *DB, key string) notify.Delivery {
	tb.Helper()
	d := notify.Delivery{Message: notify.Message{Key: key}}
	var event string
	if err := db.r.QueryRow("SELECT id, channel, destination, event, attempts FROM outbox WHERE key = ?", key).
		Scan(&d.ID, &d.Channel, &d.Destination, &event, &d.Attempt); err != nil {
		tb.Fatalf("row %s: %v", key, err)
	}
	d.Message.Event = notify.Event(event)
	return d
}

// delivered, failed and gaveUp are attempts of d that ended at at.
func delivered(d notify.Delivery, at time.Time, ref string) notify.Attempt {
	return notify.Attempt{Delivery: d, At: at, End: at, Outcome: notify.OutcomeDelivered, Ref: ref}
}

func failed(d notify.Delivery, at time.Time, reason string, retryAt time.Time) notify.Attempt {
	return notify.Attempt{Delivery: d, At: at, End: at, Outcome: notify.OutcomeFailed, Err: reason, Reason: reason, RetryAt: retryAt}
}

func gaveUp(d notify.Delivery, at time.Time, reason string) notify.Attempt {
	return notify.Attempt{Delivery: d, At: at, End: at, Outcome: notify.OutcomeGaveUp, Err: reason, Reason: reason}
}

// idOf returns the outbox id of key.
func idOf(tb testing.TB, db *DB, key string) int64 {
	tb.Helper()
	var id int64
	if err := db.r.QueryRow("SELECT id FROM outbox WHERE key = ?", key).Scan(&id); err != nil {
		tb.Fatalf("id of %s: %v", key, err)
	}
	return id
}

func TestOutboxQueuesEachKeyOnce(t *testing.T) {
	ctx := context.Background()
	db, _ := mustOpen(t)
	d := delivery("acme-1/opened/slack", "slack", "", "acme-1", t0)
	queue(t, db, d, d)
	queue(t, db, d)
	if n := count(t, db, "SELECT count(*) FROM outbox"); n != 1 {
		t.Fatalf("got %d rows, want 1", n)
	}
	ds, err := db.Due(ctx, t0, 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 1 {
		t.Fatalf("got %d due, want 1", len(ds))
	}
	got := ds[0]
	if got.Destination != "slack" || got.Channel != "slack" || got.Attempt != 0 || !got.NextAt.Equal(t0) {
		t.Errorf("got %+v, want channel and destination slack, attempt 0, due %v", got, t0)
	}
	if got.Message.Key != d.Message.Key || got.Message.Incident.Title != "API down acme-1" || !got.Message.At.Equal(t0) {
		t.Errorf("message: got %+v, want %+v", got.Message, d.Message)
	}

	// Delivered, then queued again (a re-run step): still not sent twice.
	if err := db.Record(ctx, delivered(got, t0, "")); err != nil {
		t.Fatal(err)
	}
	queue(t, db, d)
	if keys := due(t, db, t0.Add(time.Hour), 10); len(keys) != 0 {
		t.Errorf("due after delivery and re-queue: got %v, want none", keys)
	}
}

func TestOutboxLifecycle(t *testing.T) {
	ctx := context.Background()
	db, fc := mustOpen(t)
	queue(t, db,
		delivery("a1/slack", "slack", "slack:#ops", "acme-1", t0),
		delivery("a1/hook", "hook", "hooks.example.net", "acme-1", t0),
		delivery("b1/slack", "slack", "slack:#ops", "acme-2", t0),
		delivery("later/slack", "slack", "slack:#ops", "acme-3", t0.Add(time.Hour)),
	)
	if depth, oldest, err := db.Stats(ctx); err != nil || depth != 4 || !oldest.Equal(t0) {
		t.Errorf("stats: got %d, %v, %v; want 4, %v", depth, oldest, err, t0)
	}

	steps := []struct {
		name string
		do   func(t *testing.T)
		now  time.Time
		busy []string
		want []string
	}{
		{name: "oldest first, not-yet-due left out", now: t0,
			want: []string{"a1/slack", "a1/hook", "b1/slack"}},
		{name: "busy destination left out", now: t0, busy: []string{"slack:#ops"},
			want: []string{"a1/hook"}},
		{name: "limit", now: t0, want: []string{"a1/slack", "a1/hook"}},
		{name: "delivered with a ref; the next message about the incident carries it", now: t0,
			do: func(t *testing.T) {
				mustOK(t, db.Record(ctx, delivered(taken(t, db, "a1/slack"), t0, "C1/1700.1")))
				queue(t, db, delivery("a2/slack", "slack", "slack:#ops", "acme-1", t0))
			},
			want: []string{"a1/hook", "b1/slack", "a2/slack@C1/1700.1"}},
		{name: "the ref is the channel's own", now: t0,
			do: func(t *testing.T) {
				mustOK(t, db.Record(ctx, delivered(taken(t, db, "a1/hook"), t0, "")))
				queue(t, db, delivery("a2/hook", "hook", "hooks.example.net", "acme-1", t0))
			},
			want: []string{"b1/slack", "a2/slack@C1/1700.1", "a2/hook"}},
		{name: "failed: due again at retryAt; the incident's later message waits behind it", now: t0.Add(30 * time.Second),
			do: func(t *testing.T) {
				mustOK(t, db.Record(ctx, failed(taken(t, db, "b1/slack"), t0, "503 Service Unavailable", t0.Add(time.Minute))))
				queue(t, db, delivery("b2/slack", "slack", "slack:#ops", "acme-2", t0))
			},
			want: []string{"a2/slack@C1/1700.1", "a2/hook"}},
		{name: "retry due", now: t0.Add(time.Minute),
			want: []string{"b1/slack", "a2/slack@C1/1700.1", "a2/hook"}},
		{name: "gave up: the next message goes", now: t0.Add(time.Minute),
			do: func(t *testing.T) {
				mustOK(t, db.Record(ctx, gaveUp(taken(t, db, "b1/slack"), t0.Add(time.Minute), "410 Gone")))
			},
			want: []string{"a2/slack@C1/1700.1", "a2/hook", "b2/slack"}},
		{name: "an hour on", now: t0.Add(time.Hour), busy: []string{"hooks.example.net"},
			want: []string{"later/slack", "a2/slack@C1/1700.1", "b2/slack"}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if s.do != nil {
				s.do(t)
			}
			limit := 10
			if s.name == "limit" {
				limit = 2
			}
			if got := due(t, db, s.now, limit, s.busy...); !slices.Equal(got, s.want) {
				t.Errorf("due: got %v, want %v", got, s.want)
			}
		})
	}

	b1 := idOf(t, db, "b1/slack")
	log, err := db.Deliveries(ctx, "acme", "acme-2")
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != 2 {
		t.Fatalf("delivery log of acme-2: got %d rows, want 2", len(log))
	}
	if l := log[0]; l.ID != b1 || l.Status != DeliveryGaveUp || l.Attempts != 2 || l.LastError != "410 Gone" ||
		!l.LastAttemptAt.Equal(t0.Add(time.Minute)) || !l.DeliveredAt.IsZero() || l.Channel != "slack" || l.Event != notify.Triggered {
		t.Errorf("given-up row: got %+v, want gave_up after 2 attempts, last error 410 Gone", l)
	}
	if l := log[1]; l.Key != "b2/slack" || l.Status != DeliveryPending || l.Attempts != 0 {
		t.Errorf("second row: got %+v, want b2/slack pending", l)
	}
	a1, err := db.Deliveries(ctx, "acme", "acme-1")
	if err != nil {
		t.Fatal(err)
	}
	if l := a1[0]; l.Key != "a1/slack" || l.Status != DeliveryDelivered || l.Attempts != 1 || !l.DeliveredAt.Equal(t0) || l.Destination != "slack:#ops" {
		t.Errorf("delivered row: got %+v, want a1/slack delivered at %v after 1 attempt", l, t0)
	}

	fc.Advance(time.Minute)
	if depth, oldest, err := db.Stats(ctx); err != nil || depth != 4 || !oldest.Equal(t0) {
		t.Errorf("stats: got %d, %v, %v; want 4 pending (a2 ×2, b2, later), oldest %v", depth, oldest, err, t0)
	}

	// Outcomes are recorded once, on pending rows only; a refused attempt
	// leaves no row in the delivery log.
	logged := count(t, db, "SELECT count(*) FROM delivery_attempts")
	if logged != 4 {
		t.Errorf("delivery log: got %d attempts, want 4 (a1 ×2 delivered, b1 failed then gave_up)", logged)
	}
	again := taken(t, db, "b1/slack")
	again.Attempt = 1
	if err := db.Record(ctx, delivered(again, t0, "")); err == nil || !strings.Contains(err.Error(), "gave_up") {
		t.Errorf("delivering a given-up row: got %v, want an error saying it is gave_up", err)
	}
	unknown := notify.Delivery{ID: 9999, Channel: "slack", Message: notify.Message{Key: "x"}}
	if err := db.Record(ctx, failed(unknown, t0, "x", t0)); !errors.Is(err, ErrNotFound) {
		t.Errorf("failing an unknown row: got %v, want ErrNotFound", err)
	}
	if err := db.Record(ctx, gaveUp(unknown, t0, "x")); !errors.Is(err, ErrNotFound) {
		t.Errorf("giving up an unknown row: got %v, want ErrNotFound", err)
	}
	if err := db.Record(ctx, delivered(unknown, t0, "r")); !errors.Is(err, ErrNotFound) {
		t.Errorf("delivering an unknown row: got %v, want ErrNotFound", err)
	}
	if n := count(t, db, "SELECT count(*) FROM delivery_attempts"); n != logged {
		t.Errorf("delivery log after refused attempts: got %d attempts, want %d", n, logged)
	}
}

func TestOutboxStatsEmpty(t *testing.T) {
	db, _ := mustOpen(t)
	depth, oldest, err := db.Stats(context.Background())
	if err != nil || depth != 0 || !oldest.IsZero() {
		t.Errorf("got %d, %v, %v; want 0, zero time, nil", depth, oldest, err)
	}
}

func TestPruneOutbox(t *testing.T) {
	ctx := context.Background()
	db, fc := mustOpen(t)
	r := newIncRun(t, db, "acme")
	r.down(t, "api-http", t0)
	opened := deliverAll(t, db, t0, func(d notify.Delivery) notify.Receipt { return notify.Receipt{Ref: "ref-" + d.Channel} })
	fc.Advance(time.Hour)
	r.step(t, t0.Add(time.Hour), incidents.Resolve{ID: "r1", Incident: "acme-1", Actor: "ana"})
	if n := count(t, db, "SELECT count(*) FROM notify_refs"); n != 2 {
		t.Fatalf("setup: got %d refs, want 2", n)
	}

	n, err := db.PruneOutbox(ctx, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(opened) {
		t.Errorf("pruned: got %d, want %d", n, opened)
	}
	if n := count(t, db, "SELECT count(*) FROM notify_refs"); n != 2 {
		t.Errorf("refs with the resolution still pending: got %d, want 2 (it must thread)", n)
	}
	deliverAll(t, db, t0.Add(time.Hour), func(d notify.Delivery) notify.Receipt {
		if d.Message.Ref != "ref-"+d.Channel {
			t.Errorf("%s: got ref %q, want ref-%s", d.Message.Key, d.Message.Ref, d.Channel)
		}
		return notify.Receipt{}
	})
	if _, err := db.PruneOutbox(ctx, t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, "SELECT count(*) FROM notify_refs"); n != 0 {
		t.Errorf("refs of a resolved incident with nothing pending: got %d, want 0", n)
	}
	if n := count(t, db, "SELECT count(*) FROM outbox"); n != 0 {
		t.Errorf("outbox rows after pruning everything: got %d, want 0", n)
	}
}

func mustOK(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// deliverAll delivers everything due at now, as a worker would, and
// returns how many rows it delivered.
func deliverAll(tb testing.TB, db *DB, now time.Time, receipt func(notify.Delivery) notify.Receipt) int {
	tb.Helper()
	n := 0
	for {
		ds, err := db.Due(context.Background(), now, 100, nil)
		if err != nil {
			tb.Fatal(err)
		}
		if len(ds) == 0 {
			return n
		}
		for _, d := range ds {
			mustOK(tb, db.Record(context.Background(), delivered(d, now, receipt(d).Ref)))
			n++
		}
	}
}

// wallWait bounds waiting for the worker's goroutines (wall time: a
// deadline for a broken test, not a sleep).
const wallWait = 10 * time.Second

// recorder is a notifier that records every message and fails the first
// attempt of the keys in failFirst. Its receipts carry ref-<incident>-<n>.
type recorder struct {
	mu        sync.Mutex
	failFirst map[string]bool
	got       []notify.Message
	n         int
}

func (r *recorder) Deliver(_ context.Context, m notify.Message) (notify.Receipt, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, m)
	if r.failFirst[m.Key] {
		delete(r.failFirst, m.Key)
		return notify.Receipt{}, errors.New("502 Bad Gateway")
	}
	r.n++
	return notify.Receipt{Ref: fmt.Sprintf("ref-%s-%d", m.Incident.ID, r.n)}, nil
}

func (r *recorder) messages() []notify.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// signalOutbox tells the test each time the worker has recorded an outcome.
type signalOutbox struct {
	*DB
	outcomes chan string
}

func (o signalOutbox) Record(ctx context.Context, a notify.Attempt) error {
	err := o.DB.Record(ctx, a)
	o.outcomes <- fmt.Sprintf("%s %d %v", a.Outcome, a.Delivery.ID, err)
	return err
}

func TestWorkerDrainsTheStoreOutbox(t *testing.T) {
	db, fc := mustOpen(t)
	rec := &recorder{failFirst: map[string]bool{"acme-2/opened/slack": true}}
	ob := signalOutbox{DB: db, outcomes: make(chan string, 100)}
	w, err := notify.NewWorker(notify.WorkerOptions{
		Outbox: ob, Notifiers: map[string]notify.Notifier{"slack": rec}, Clock: fc,
		PollInterval: time.Hour, Backoff: func(int) time.Duration { return time.Minute },
	})
	if err != nil {
		t.Fatal(err)
	}
	next := func(want string) {
		t.Helper()
		select {
		case got := <-ob.outcomes:
			if !strings.HasPrefix(got, want+" ") || !strings.HasSuffix(got, " <nil>") {
				t.Fatalf("outcome: got %q, want %s recorded without error", got, want)
			}
		case <-time.After(wallWait):
			t.Fatalf("no outcome within %s, want %s", wallWait, want)
		}
	}

	queue(t, db,
		delivery("acme-1/opened/slack", "slack", "slack:#ops", "acme-1", t0),
		delivery("acme-2/opened/slack", "slack", "slack:#ops", "acme-2", t0))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: got %v, want nil", err)
			}
		case <-time.After(wallWait):
			t.Errorf("Run did not return within %s of cancel", wallWait)
		}
	}()

	// Both go out at once (one Slack destination, two at a time); the
	// second fails and is retried a minute later.
	got := []string{}
	for range 2 {
		select {
		case s := <-ob.outcomes:
			got = append(got, strings.Fields(s)[0]+" "+strings.Fields(s)[2])
		case <-time.After(wallWait):
			t.Fatalf("outcomes so far %v; want two", got)
		}
	}
	slices.Sort(got)
	if want := []string{"delivered <nil>", "failed <nil>"}; !slices.Equal(got, want) {
		t.Fatalf("first outcomes: got %v, want %v", got, want)
	}

	// An update about acme-1 carries the ref its first message got.
	queue(t, db, delivery("acme-1/rev/1/slack", "slack", "slack:#ops", "acme-1", t0))
	w.Wake()
	next("delivered")

	// The retry: advance the clock until the worker's poll timer fires past
	// the retry time.
	deadline := time.After(wallWait)
retry:
	for {
		created := fc.TimerCreated()
		fc.Advance(time.Hour)
		select {
		case got := <-ob.outcomes:
			if !strings.HasPrefix(got, "delivered ") {
				t.Fatalf("retry: got %q, want delivered", got)
			}
			break retry
		case <-created:
		case <-deadline:
			t.Fatal("the failed delivery was never retried")
		}
	}

	msgs := rec.messages()
	var keys, refs []string
	for _, m := range msgs {
		keys = append(keys, m.Key)
		refs = append(refs, m.Ref)
	}
	counts := map[string]int{}
	for _, k := range keys {
		counts[k]++
	}
	if counts["acme-1/opened/slack"] != 1 || counts["acme-1/rev/1/slack"] != 1 || counts["acme-2/opened/slack"] != 2 {
		t.Errorf("messages: got %v, want acme-1's two once each and acme-2's twice (a retry, same key)", keys)
	}
	for _, m := range msgs {
		switch m.Key {
		case "acme-1/opened/slack", "acme-2/opened/slack":
			if m.Ref != "" {
				t.Errorf("%s: got ref %q, want none (first message about the incident)", m.Key, m.Ref)
			}
		case "acme-1/rev/1/slack":
			if !strings.HasPrefix(m.Ref, "ref-acme-1-") {
				t.Errorf("%s: got ref %q, want acme-1's first receipt", m.Key, m.Ref)
			}
		}
	}
	for _, id := range []string{"acme-1", "acme-2"} {
		log, err := db.Deliveries(context.Background(), "acme", id)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range log {
			if d.Status != DeliveryDelivered {
				t.Errorf("%s: got %s, want delivered", d.Key, d.Status)
			}
		}
	}
	if depth, _, err := db.Stats(context.Background()); err != nil || depth != 0 {
		t.Errorf("stats after draining: got depth %d, %v; want 0", depth, err)
	}
}

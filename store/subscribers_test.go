package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/lookout-status/lookout/notify"
)

func TestSubscribers(t *testing.T) {
	ctx := context.Background()
	db, fc := mustOpen(t)
	verify := notify.Delivery{Channel: SubscriberChannel("sub_1"), Destination: "hooks.example", NextAt: t0,
		Message: notify.Message{Key: "subscriber/sub_1/verification", Event: "verification", At: t0}}
	s := Subscriber{ID: "sub_1", Org: "acme", URL: "https://hooks.example/x", Secret: "whsec_abc", Components: []string{"api"}}
	if err := db.CreateSubscriber(ctx, s, []notify.Delivery{verify}); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateSubscriber(ctx, s, nil); err == nil {
		t.Errorf("second create with the same id: got no error")
	}
	got, err := db.Subscriber(ctx, "sub_1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != SubscriberPending || got.Org != "acme" || !slices.Equal(got.Components, []string{"api"}) || got.Secret != "whsec_abc" {
		t.Errorf("got %+v, want the pending subscription as created", got)
	}
	due, err := db.Due(ctx, t0, 10, nil)
	if err != nil || len(due) != 1 || due[0].Channel != "subscriber:sub_1" {
		t.Fatalf("got due %+v (%v), want the verification row", due, err)
	}

	fc.Advance(1)
	for range 2 { // confirming twice is fine
		if err := db.ConfirmSubscriber(ctx, "sub_1", t0); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := db.Subscriber(ctx, "sub_1"); got.Status != SubscriberActive || !got.ConfirmedAt.Equal(t0) {
		t.Errorf("got status %s confirmed at %v, want active at %v", got.Status, got.ConfirmedAt, t0)
	}
	for range 2 { // disabling twice records it once
		if err := db.DisableSubscriber(ctx, "sub_1", t0, "gave up after 30 attempts"); err != nil {
			t.Fatal(err)
		}
	}
	audit, err := db.AuditEntries(ctx, "acme", AuditQuery{Target: "sub_1"})
	if err != nil || len(audit) != 1 {
		t.Fatalf("got audit entries %+v (%v), want one", audit, err)
	}
	if a := audit[0]; a.Actor != "system" || a.Via != "system" || a.Action != "subscriber.disabled" ||
		a.Summary != "disabled: gave up after 30 attempts" || !a.Time.Equal(t0) {
		t.Errorf("got audit entry %+v, want system's subscriber.disabled with the reason at %v", a, t0)
	}
	got, _ = db.Subscriber(ctx, "sub_1")
	if got.Status != SubscriberDisabled || got.DisabledReason != "gave up after 30 attempts" {
		t.Errorf("got %s %q, want disabled with the reason", got.Status, got.DisabledReason)
	}
	if due, _ := db.Due(ctx, t0, 10, nil); len(due) != 0 {
		t.Errorf("got %d due rows after disabling, want 0", len(due))
	}
	if err := db.ConfirmSubscriber(ctx, "sub_1", t0); err == nil {
		t.Errorf("confirming a disabled subscriber: got no error")
	}
	list, err := db.Subscribers(ctx, "acme")
	if err != nil || len(list) != 1 {
		t.Errorf("got %d subscribers (%v), want 1", len(list), err)
	}
	if list, _ := db.Subscribers(ctx, "other"); len(list) != 0 {
		t.Errorf("another organization: got %d subscribers, want 0", len(list))
	}
	for i, want := range []bool{true, false} {
		found, err := db.DeleteSubscriber(ctx, "sub_1")
		if err != nil || found != want {
			t.Errorf("delete #%d: got %v (%v), want %v", i+1, found, err, want)
		}
	}
	if _, err := db.Subscriber(ctx, "sub_1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("after delete: got %v, want ErrNotFound", err)
	}
}

func TestEmailSubscribers(t *testing.T) {
	ctx := context.Background()
	db, fc := mustOpen(t)
	mk := func(id string, expires time.Time) {
		t.Helper()
		confirm := notify.Delivery{Channel: SubscriberChannel(id), Destination: "smtp:127.0.0.1:25", NextAt: t0,
			Message: notify.Message{Key: "subscriber/" + id + "/confirmation", Event: "confirmation", At: t0, Body: []byte(`{}`)}}
		if err := db.CreateSubscriber(ctx, Subscriber{ID: id, Org: "acme", Kind: KindEmail, Email: "dana@example.net", Secret: "k", ExpiresAt: expires},
			[]notify.Delivery{confirm}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.CreateSubscriber(ctx, Subscriber{ID: "bad", Org: "acme", Kind: KindEmail, URL: "https://x", Secret: "k"}, nil); err == nil {
		t.Errorf("e-mail subscriber without an address: got no error")
	}
	mk("sub_old", t0.Add(48*time.Hour))
	mk("sub_new", t0.Add(48*time.Hour))
	mk("sub_late", t0.Add(time.Hour))
	if n, err := db.RecentEmailSubscriptions(ctx, "dana@example.net", t0.Add(-time.Hour)); err != nil || n != 3 {
		t.Errorf("recent: got %d, %v; want 3", n, err)
	}
	if err := db.ConfirmSubscriber(ctx, "sub_old", t0); err != nil {
		t.Fatal(err)
	}
	// Confirming the newer one replaces the older choice.
	if err := db.ConfirmSubscriber(ctx, "sub_new", t0); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Subscriber(ctx, "sub_old"); !errors.Is(err, ErrNotFound) {
		t.Errorf("old subscription after confirming a new one: got %v, want ErrNotFound", err)
	}
	if err := db.ConfirmSubscriber(ctx, "sub_late", t0.Add(time.Hour)); !errors.Is(err, ErrExpired) {
		t.Errorf("confirm after expiry: got %v, want ErrExpired", err)
	}
	fc.Advance(2 * time.Hour)
	if n, err := db.DeleteExpiredSubscribers(ctx, t0.Add(2*time.Hour)); err != nil || n != 1 {
		t.Errorf("expired: got %d, %v; want 1 (sub_late)", n, err)
	}
	if got, err := db.Subscriber(ctx, "sub_new"); err != nil || got.Status != SubscriberActive {
		t.Errorf("sub_new: got %+v, %v; want active", got, err)
	}
	if due, _ := db.Due(ctx, t0.Add(3*time.Hour), 10, nil); len(due) != 1 || due[0].Channel != SubscriberChannel("sub_new") {
		t.Errorf("got due %+v, want sub_new's confirmation only (those of deleted subscriptions given up)", due)
	}
}

func TestAttemptsLog(t *testing.T) {
	ctx := context.Background()
	db, _ := mustOpen(t)
	ch := SubscriberChannel("sub_1")
	queue(t, db, notify.Delivery{Channel: ch, NextAt: t0, Message: notify.Message{Key: "k", Event: "incident", At: t0}})
	for i := 1; i <= 5; i++ {
		a := notify.Attempt{Delivery: taken(t, db, "k"), At: t0.Add(time.Duration(i) * time.Second), Latency: 1500 * time.Millisecond,
			Outcome: notify.OutcomeFailed, Reply: notify.Reply{Code: 500 - i}, Err: "HTTP", Reason: "HTTP"}
		a.End, a.RetryAt = a.At.Add(a.Latency), a.At.Add(a.Latency)
		if i == 5 {
			a.Outcome, a.Err, a.Reason = notify.OutcomeDelivered, "", ""
		}
		if err := db.Record(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	var got []int
	var before int64
	for range 5 {
		page, next, err := db.Attempts(ctx, ch, before, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range page {
			got = append(got, a.Attempt)
			if a.Latency != 1500*time.Millisecond || a.Reply.Code != 500-a.Attempt {
				t.Errorf("attempt %d: got latency %s reply %+v", a.Attempt, a.Latency, a.Reply)
			}
		}
		if before = next; next == 0 {
			break
		}
	}
	if !slices.Equal(got, []int{5, 4, 3, 2, 1}) {
		t.Errorf("got attempts %v, want [5 4 3 2 1]", got)
	}
	if other, _, _ := db.Attempts(ctx, SubscriberChannel("sub_2"), 0, 10); len(other) != 0 {
		t.Errorf("another channel: got %d attempts, want 0", len(other))
	}
	if _, err := db.PruneOutbox(ctx, t0.Add(3500*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if left, _, _ := db.Attempts(ctx, ch, 0, 10); len(left) != 2 {
		t.Errorf("after pruning: got %d attempts, want 2", len(left))
	}
}

// A rule that keeps an e-mail subscription through given-up deliveries
// sees how many were given up in a row; a delivered one resets the count.
func TestGiveUpRuleCountsInARow(t *testing.T) {
	ctx := context.Background()
	db, _ := mustOpen(t)
	var ds []notify.Delivery
	for i := range 4 {
		ds = append(ds, notify.Delivery{Channel: SubscriberChannel("sub_1"), NextAt: t0,
			Message: notify.Message{Key: fmt.Sprintf("k%d", i), Event: "incident", At: t0, Body: []byte(`{}`)}})
	}
	if err := db.CreateSubscriber(ctx, Subscriber{ID: "sub_1", Org: "acme", Kind: KindEmail, Email: "d@example.net", Secret: "k"}, ds); err != nil {
		t.Fatal(err)
	}
	var seen []int
	keep := func(sub Subscriber, inARow int, reason string) (string, bool) {
		if sub.ID != "sub_1" || sub.Kind != KindEmail || reason != "550" {
			t.Errorf("rule: got %s (%s) %q, want sub_1 (email) 550", sub.ID, sub.Kind, reason)
		}
		seen = append(seen, inARow)
		return "", false
	}
	var got []GivenUp
	for i := range 4 {
		due, _ := db.Due(ctx, t0, 10, nil) // one at a time: one thread
		if len(due) != 1 {
			t.Fatalf("step %d: got %d due rows, want 1", i, len(due))
		}
		a := gaveUp(due[0], t0, "550")
		if i == 1 {
			a = delivered(due[0], t0, "")
		}
		g, err := db.RecordWith(ctx, a, keep)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, g)
	}
	if !slices.Equal(seen, []int{1, 1, 2}) {
		t.Errorf("rule saw %v given up in a row, want [1 1 2]", seen)
	}
	want := []GivenUp{{Subscriber: "sub_1", Kind: KindEmail, InARow: 1}, {}, {Subscriber: "sub_1", Kind: KindEmail, InARow: 1},
		{Subscriber: "sub_1", Kind: KindEmail, InARow: 2}}
	if !slices.Equal(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if s, _ := db.Subscriber(ctx, "sub_1"); s.Status != SubscriberPending {
		t.Errorf("got status %s, want pending (the rule kept it)", s.Status)
	}
}

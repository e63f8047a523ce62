package store

import (
	"context"
	"errors"
	"slices"
	"testing"

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
	if ch, err := db.DeliveryChannel(ctx, due[0].ID); err != nil || ch != "subscriber:sub_1" {
		t.Errorf("got channel %q (%v), want subscriber:sub_1", ch, err)
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
	if err := db.DisableSubscriber(ctx, "sub_1", t0, "gave up after 30 attempts"); err != nil {
		t.Fatal(err)
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

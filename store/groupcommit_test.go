package store

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/lookout-status/lookout/notify"
)

// Attempts recorded concurrently share transactions; one write's failure
// (a row no longer pending) writes nothing of that attempt (no second
// delivery-log row) and leaves the rest of its group committed.
func TestGroupCommit(t *testing.T) {
	ctx := context.Background()
	db, _ := mustOpen(t)
	const n = 200
	var ds []notify.Delivery
	for i := range n {
		ds = append(ds, notify.Delivery{Channel: fmt.Sprintf("subscriber:s%d", i), NextAt: t0,
			Message: notify.Message{Key: fmt.Sprintf("k%d", i), Event: "incident", At: t0}})
	}
	if err := db.CreateSubscriber(ctx, Subscriber{ID: "sub_1", Org: "acme", URL: "https://hooks.example/x", Secret: "whsec_x"}, ds); err != nil {
		t.Fatal(err)
	}
	due, err := db.Due(ctx, t0, n, nil)
	if err != nil || len(due) != n {
		t.Fatalf("got %d due (%v), want %d", len(due), err, n)
	}
	// Row 0 is recorded twice: the second attempt must fail alone.
	var wg sync.WaitGroup
	errs := make([]error, n+1)
	for i := range n + 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := due[i%n]
			errs[i] = db.Record(ctx, delivered(d, t0, ""))
		}()
	}
	wg.Wait()
	failed := 0
	for _, err := range errs {
		if err != nil {
			failed++
		}
	}
	if failed != 1 {
		t.Errorf("got %d failed writes, want 1 (row 0 recorded twice): %v", failed, errs)
	}
	if depth, _, _ := db.Stats(ctx); depth != 0 {
		t.Errorf("got %d pending rows, want 0", depth)
	}
	for i := range n {
		if got, _, _ := db.Attempts(ctx, fmt.Sprintf("subscriber:s%d", i), 0, 10); len(got) != 1 {
			t.Fatalf("channel s%d: got %d logged attempts, want 1", i, len(got))
		}
	}
}

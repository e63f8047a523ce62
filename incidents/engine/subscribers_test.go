package engine_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/lookout-status/lookout/clock"
	"github.com/lookout-status/lookout/incidents"
	"github.com/lookout-status/lookout/incidents/engine"
	"github.com/lookout-status/lookout/notify"
)

// The Subscribers hook's deliveries are queued in the same commit as the
// channels' rows.
func TestSubscribersHook(t *testing.T) {
	checkLeaks(t)
	fc := clock.NewFake(t0)
	db := openStore(t, filepath.Join(t.TempDir(), "l.db"), fc)
	eng := engine.New(engine.Options{Clock: fc, Store: db, TickEvery: time.Second})
	cfg := orgConfig()
	cfg.Subscribers = func(_ incidents.State, effs []incidents.Effect, now time.Time) []notify.Delivery {
		var out []notify.Delivery
		for _, ef := range effs {
			if _, ok := ef.(incidents.ComponentStatusChanged); ok {
				out = append(out, notify.Delivery{Channel: "subscriber:s1", NextAt: now,
					Message: notify.Message{Key: ef.Key() + "/s1", Event: "component", At: now, Body: []byte(`{}`)}})
			}
		}
		return out
	}
	if err := eng.Configure(context.Background(), []engine.OrgConfig{cfg}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	for range 2 {
		fc.Advance(time.Second)
		if _, err := eng.Do(context.Background(), "acme", incidents.ProbeResult{Org: "acme", Probe: "s3", Region: "local",
			Outcome: incidents.Down, At: fc.Now(), Error: "refused"}); err != nil {
			t.Fatal(err)
		}
	}
	ds, err := db.Due(context.Background(), fc.Now().Add(time.Hour), 100, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range ds {
		if d.Channel == "subscriber:s1" {
			n++
			if string(d.Message.Body) != `{}` {
				t.Errorf("got body %s, want the hook's", d.Message.Body)
			}
		}
	}
	if n == 0 {
		t.Errorf("got no subscriber rows among %d due, want the hook's", len(ds))
	}
}

package incidents

import (
	"reflect"
	"testing"
	"time"
)

// TestJourneyStorageThenSync is the outage from the design notes: Storage
// fails twice at 03:12 (threshold 2), one incident pages ana; Sync fails a
// minute later and joins the same incident without a second page; ana
// acknowledges; both recover; ten quiet minutes later it auto-resolves.
func TestJourneyStorageThenSync(t *testing.T) {
	s := newState(t, nil)
	type want struct {
		effects []string
		state   string
	}
	steps := []struct {
		name string
		step
		want
	}{
		{"first failure is below threshold", result("storage-s3", "eu", Down, 0), want{
			nil, ""}},
		{"second failure opens and pages", result("storage-s3", "eu", Down, 30*time.Second), want{[]string{
			"status storage operational>major_outage",
			"open acme-1 [storage] impact=major published=true",
			"timeline acme-1 opened by probe:storage-s3: Storage: major outage",
			"notify acme-1/notify/g0/l0/r0 triggered [ana]",
		}, "storage=major_outage acme-1:triggered[storage]"}},
		{"sync fails a minute later and joins", result("sync-tx", "eu", Down, 90*time.Second), want{[]string{
			"status sync operational>major_outage",
			"join acme-1 sync",
			"timeline acme-1 joined by lookout: Sync joined: major_outage",
			"update acme-1 triggered/investigating",
		}, "storage=major_outage sync=major_outage acme-1:triggered[storage sync]"}},
		{"ana acknowledges", ev(Acknowledge{ID: "a1", Incident: "acme-1", Actor: "ana"}, 3*time.Minute), want{[]string{
			"timeline acme-1 acknowledged by ana",
			"update acme-1 acknowledged/investigating",
		}, "storage=major_outage sync=major_outage acme-1:acknowledged[storage sync]"}},
		{"no level 1 after the ack", tick(6 * time.Minute), want{nil,
			"storage=major_outage sync=major_outage acme-1:acknowledged[storage sync]"}},
		{"storage recovers", result("storage-s3", "eu", Up, 8*time.Minute), want{[]string{
			"status storage major_outage>operational",
		}, "sync=major_outage acme-1:acknowledged[storage sync]"}},
		{"sync recovers", result("sync-tx", "eu", Up, 9*time.Minute), want{[]string{
			"status sync major_outage>operational",
		}, "acme-1:acknowledged[storage sync]"}},
		{"still quiet period", tick(18 * time.Minute), want{nil, "acme-1:acknowledged[storage sync]"}},
		{"auto-resolves after ten quiet minutes", tick(19 * time.Minute), want{[]string{
			"timeline acme-1 resolved by lookout: auto-resolved: healthy for 10m0s",
			"resolve acme-1",
		}, ""}},
	}
	for _, st := range steps {
		var effs []Effect
		s, effs = Step(s, st.ev, st.now)
		if d := diffLines(describeAll(effs), st.effects); d != "" {
			t.Fatalf("%s: %s", st.name, d)
		}
		if got := summarize(s); got != st.state {
			t.Fatalf("%s: got state %q, want %q", st.name, got, st.state)
		}
	}
}

// TestStepDoesNotModifyInput checks Step's copy-on-write promise.
func TestStepDoesNotModifyInput(t *testing.T) {
	s := newState(t, nil)
	s, _, _ = run(t, s, []step{
		result("storage-s3", "eu", Down, 0),
		result("storage-s3", "eu", Down, time.Second),
		ev(AddNote{ID: "n1", Incident: "acme-1", Actor: "ana", Body: "looking"}, 2*time.Second),
	})
	before := s.Clone()
	for _, st := range []step{
		result("storage-s3", "eu", Up, 3*time.Second),
		ev(AddNote{ID: "n2", Incident: "acme-1", Actor: "ana", Body: "fixed"}, 4*time.Second),
		result("sync-tx", "eu", Down, 5*time.Second),
		tick(time.Hour),
	} {
		Step(s, st.ev, st.now)
		if !reflect.DeepEqual(s, before) {
			t.Fatalf("Step(%T) modified its input state", st.ev)
		}
	}
}

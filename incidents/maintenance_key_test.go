package incidents

import (
	"testing"
	"time"
)

// A window rescheduled with only its components or title changed, or moved
// and moved back, is a new change each time: its MaintenanceChanged keys
// (the outbox's idempotency keys, so subscribers hear of each) differ.
func TestMaintenanceChangeKeysAreUnique(t *testing.T) {
	s := New("acme", testConfig())
	seen := map[string]int{}
	changes := 0
	apply := func(ev Event, now time.Time) {
		t.Helper()
		next, effs := Step(s, ev, now)
		for _, e := range effs {
			mc, ok := e.(MaintenanceChanged)
			if !ok {
				continue
			}
			changes++
			if n, dup := seen[mc.Key()]; dup {
				t.Fatalf("change %d (%+v) reuses the key %q of change %d", changes, mc.Maintenance, mc.Key(), n)
			}
			seen[mc.Key()] = changes
		}
		s = next
	}
	win := func(title string, start, end time.Duration, comps ...string) Event {
		return MaintenanceSchedule{ID: "m1", Title: title, Components: comps, Start: at(start), End: at(end), Actor: "ana"}
	}
	apply(win("db upgrade", time.Hour, 2*time.Hour, "storage"), t0)
	apply(win("db upgrade", time.Hour, 2*time.Hour, "storage", "sync"), at(time.Minute))
	apply(win("db upgrade", time.Hour, 2*time.Hour, "storage"), at(2*time.Minute))
	apply(win("db and cache upgrade", time.Hour, 2*time.Hour, "storage"), at(3*time.Minute))
	apply(win("db and cache upgrade", 3*time.Hour, 4*time.Hour, "storage"), at(4*time.Minute))
	apply(win("db and cache upgrade", time.Hour, 2*time.Hour, "storage"), at(5*time.Minute))
	apply(Tick{}, at(time.Hour)) // in progress
	apply(win("db and cache upgrade", time.Hour, 2*time.Hour, "storage", "sync"), at(70*time.Minute))
	apply(Tick{}, at(2*time.Hour)) // completed
	if changes != 9 {
		t.Fatalf("%d maintenance changes, want 9", changes)
	}
	// A repeat changes nothing and emits nothing.
	before := changes
	apply(win("db and cache upgrade", time.Hour, 2*time.Hour, "storage", "sync"), at(2*time.Hour))
	if changes != before {
		t.Fatalf("a schedule for a completed window emitted %d changes", changes-before)
	}
}

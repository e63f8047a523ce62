package incidents

import (
	"testing"
	"time"
)

// TestFlapping: a probe changing state more than 3 times in 10 minutes marks
// its incident flapping, which then stays open (no resolve/reopen loop, no
// new pages) until the probe has been stable for the window.
func TestFlapping(t *testing.T) {
	s := newState(t, func(c *Config) {
		c.Policy.QuietPeriod = 0
		c.Policy.FlapChanges = 3
		c.Policy.FlapWindow = 10 * time.Minute
	})
	steps := []struct {
		name string
		step
		want  []string
		state string
	}{
		{"down opens", result("sync-tx", "eu", Down, 0), []string{
			"status sync operational>major_outage",
			"open acme-1 [sync] impact=major published=true",
			"timeline acme-1 opened by probe:sync-tx: Sync: major outage",
			"notify acme-1/notify/g0/l0/r0 triggered [ana]",
		}, "sync=major_outage acme-1:triggered[sync]"},
		{"up resolves at once (quiet period 0)", result("sync-tx", "eu", Up, time.Minute), []string{
			"status sync major_outage>operational",
			"timeline acme-1 resolved by lookout: auto-resolved: healthy for 0s",
			"resolve acme-1",
		}, ""},
		{"down again opens a second incident (3 changes: not yet flapping)", result("sync-tx", "eu", Down, 2*time.Minute), []string{
			"status sync operational>major_outage",
			"open acme-2 [sync] impact=major published=true",
			"timeline acme-2 opened by probe:sync-tx: Sync: major outage",
			"notify acme-2/notify/g0/l0/r0 triggered [ana]",
		}, "sync=major_outage acme-2:triggered[sync]"},
		{"the fourth change is flapping: kept open", result("sync-tx", "eu", Up, 3*time.Minute), []string{
			"status sync major_outage>operational",
			"timeline acme-2 flapping by lookout: flapping: kept open until stable",
			"update acme-2 triggered/investigating",
		}, "acme-2:triggered[sync]:flapping"},
		{"down while flapping: no new incident, no page", result("sync-tx", "eu", Down, 4*time.Minute), []string{
			"status sync operational>major_outage",
		}, "sync=major_outage acme-2:triggered[sync]:flapping"},
		{"up while flapping: not resolved", result("sync-tx", "eu", Up, 5*time.Minute), []string{
			"status sync major_outage>operational",
		}, "acme-2:triggered[sync]:flapping"},
		{"still flapping within the window", tick(12 * time.Minute), nil, "acme-2:triggered[sync]:flapping"},
		{"stable for the window: resolves", tick(12*time.Minute + time.Second), []string{
			"timeline acme-2 stable by lookout: no longer flapping",
			"timeline acme-2 resolved by lookout: auto-resolved: healthy for 0s",
			"resolve acme-2",
		}, ""},
	}
	for _, st := range steps {
		var effs []Effect
		s, effs = Step(s, st.ev, st.now)
		if d := diffLines(describeAll(effs), st.want); d != "" {
			t.Fatalf("%s: %s", st.name, d)
		}
		if got := summarize(s); got != st.state {
			t.Fatalf("%s: got state %q, want %q", st.name, got, st.state)
		}
	}
}

package incidents

import (
	"testing"
	"time"
)

const (
	sec = time.Second
	min = time.Minute
)

// openStorage fails storage-s3 twice: acme-1 opens at t0+1s and pages ana.
var openStorage = []step{
	result("storage-s3", "eu", Down, 0),
	result("storage-s3", "eu", Down, sec),
}

func with(prefix []step, rest ...step) []step {
	return append(append([]step(nil), prefix...), rest...)
}

// TestStepTable drives (state, event, now) → (state, effects): each case
// applies its steps to a fresh state and checks the effects of the last
// step and the state after it.
func TestStepTable(t *testing.T) {
	tests := []struct {
		name  string
		cfg   func(*Config)
		steps []step
		want  []string // effects of the last step
		state string   // summarize() after the last step
	}{
		// ---- thresholds ----
		{
			name:  "one failure below the threshold changes nothing",
			steps: []step{result("storage-s3", "eu", Down, 0)},
		},
		{
			name:  "an up between failures resets the streak",
			steps: []step{result("storage-s3", "eu", Down, 0), result("storage-s3", "eu", Up, sec), result("storage-s3", "eu", Down, 2*sec)},
		},
		{
			name:  "the same result twice counts once",
			steps: []step{result("storage-s3", "eu", Down, 0), result("storage-s3", "eu", Down, 0)},
		},
		{
			name:  "an older result arriving late is ignored",
			steps: []step{result("storage-s3", "eu", Down, 5*sec), result("storage-s3", "eu", Down, 4*sec)},
		},
		{
			name:  "a result for an unknown probe is ignored",
			steps: []step{result("nope", "eu", Down, 0)},
		},
		{
			name:  "a result for another organization is ignored",
			steps: []step{{ProbeResult{Org: "other", Probe: "sync-tx", Region: "eu", Outcome: Down, At: t0}, t0}},
		},
		{
			name:  "a result with an unknown outcome is ignored",
			steps: []step{result("sync-tx", "eu", Outcome("boom"), 0)},
		},
		{
			name:  "reaching the threshold opens an incident and pages the on-call",
			steps: openStorage,
			want: []string{
				"status storage operational>major_outage",
				"open acme-1 [storage] impact=major published=true",
				"timeline acme-1 opened by probe:storage-s3: Storage: major outage",
				"notify acme-1/notify/g0/l0/r0 triggered [ana]",
			},
			state: "storage=major_outage acme-1:triggered[storage]",
		},
		{
			name: "the probe error goes into the opening entry",
			steps: []step{
				result("storage-s3", "eu", Down, 0),
				{ProbeResult{Probe: "storage-s3", Region: "eu", Outcome: Down, At: at(sec), Error: "put object: 503"}, at(sec)},
			},
			want: []string{
				"status storage operational>major_outage",
				"open acme-1 [storage] impact=major published=true",
				"timeline acme-1 opened by probe:storage-s3: Storage: major outage (put object: 503)",
				"notify acme-1/notify/g0/l0/r0 triggered [ana]",
			},
			state: "storage=major_outage acme-1:triggered[storage]",
		},
		{
			name: "success threshold: one up is not enough to recover",
			steps: []step{
				result("api-http", "eu", Down, 0), result("api-http", "eu", Down, sec),
				result("api-http", "us", Down, 0), result("api-http", "us", Down, sec),
				result("api-http", "eu", Up, 2*sec),
			},
			state: "api=major_outage acme-1:triggered[api]",
		},
		{
			name: "success threshold: the second up recovers the region, quorum lost",
			steps: []step{
				result("api-http", "eu", Down, 0), result("api-http", "eu", Down, sec),
				result("api-http", "us", Down, 0), result("api-http", "us", Down, sec),
				result("api-http", "eu", Up, 2*sec), result("api-http", "eu", Up, 3*sec),
			},
			want:  []string{"status api major_outage>operational"},
			state: "acme-1:triggered[api]",
		},
		{
			name:  "draft when the organization does not publish automatically",
			cfg:   func(c *Config) { c.Policy.PublishAutomatically = false },
			steps: []step{result("sync-tx", "eu", Down, 0)},
			want: []string{
				"status sync operational>major_outage",
				"open acme-1 [sync] impact=major published=false",
				"timeline acme-1 opened by probe:sync-tx: Sync: major outage",
				"notify acme-1/notify/g0/l0/r0 triggered [ana]",
			},
			state: "sync=major_outage acme-1:triggered[sync]",
		},
		{
			name:  "a component without an escalation policy opens without paging",
			steps: []step{result("docs-http", "eu", Down, 0)},
			want: []string{
				"status docs operational>major_outage",
				"open acme-1 [docs] impact=major published=true",
				"timeline acme-1 opened by probe:docs-http: Docs: major outage",
			},
			state: "docs=major_outage acme-1:triggered[docs]",
		},

		// ---- quorum ----
		{
			name: "quorum: one region down of two required is not down",
			steps: []step{
				result("api-http", "eu", Down, 0), result("api-http", "eu", Down, sec),
				result("api-http", "us", Up, 0), result("api-http", "ap", Up, 0),
			},
		},
		{
			name: "quorum: the second region agreeing opens the incident",
			steps: []step{
				result("api-http", "eu", Down, 0), result("api-http", "eu", Down, sec),
				result("api-http", "us", Down, 0), result("api-http", "us", Down, sec),
			},
			want: []string{
				"status api operational>major_outage",
				"open acme-1 [api] impact=major published=true",
				"timeline acme-1 opened by probe:api-http: API: major outage",
				"notify acme-1/notify/g0/l0/r0 triggered [ana]",
			},
			state: "api=major_outage acme-1:triggered[api]",
		},
		{
			name: "quorum: one region down and one degraded is degraded",
			steps: []step{
				result("api-http", "eu", Down, 0), result("api-http", "eu", Down, sec),
				result("api-http", "us", Degraded, 0), result("api-http", "us", Degraded, sec),
			},
			want:  []string{"status api operational>degraded_performance"},
			state: "api=degraded_performance",
		},

		// ---- degraded ----
		{
			name:  "degraded degrades the component without paging",
			steps: []step{result("web-http", "eu", Degraded, 0)},
			want:  []string{"status web operational>degraded_performance"},
			state: "web=degraded_performance",
		},
		{
			name: "degraded pages when the probe says so",
			cfg: func(c *Config) {
				c.Probes[3].DegradedPages = true
			},
			steps: []step{result("web-http", "eu", Degraded, 0)},
			want: []string{
				"status web operational>degraded_performance",
				"open acme-1 [web] impact=minor published=true",
				"timeline acme-1 opened by probe:web-http: Web: degraded performance",
				"notify acme-1/notify/g0/l0/r0 triggered [ana]",
			},
			state: "web=degraded_performance acme-1:triggered[web]",
		},
		{
			name:  "degraded then down pages",
			steps: []step{result("web-http", "eu", Degraded, 0), result("web-http", "eu", Down, sec)},
			want: []string{
				"status web degraded_performance>major_outage",
				"open acme-1 [web] impact=major published=true",
				"timeline acme-1 opened by probe:web-http: Web: major outage",
				"notify acme-1/notify/g0/l0/r0 triggered [ana]",
			},
			state: "web=major_outage acme-1:triggered[web]",
		},
		{
			name: "two probes, one down: partial outage",
			cfg: func(c *Config) {
				c.Probes = append(c.Probes, ProbeConfig{ID: "sync-ping", Component: "sync"})
			},
			steps: []step{result("sync-tx", "eu", Down, 0)},
			want: []string{
				"status sync operational>partial_outage",
				"open acme-1 [sync] impact=minor published=true",
				"timeline acme-1 opened by probe:sync-tx: Sync: partial outage",
				"notify acme-1/notify/g0/l0/r0 triggered [ana]",
			},
			state: "sync=partial_outage acme-1:triggered[sync]",
		},

		// ---- grouping ----
		{
			name:  "a related component in the window joins without a page",
			steps: with(openStorage, result("sync-tx", "eu", Down, min)),
			want: []string{
				"status sync operational>major_outage",
				"join acme-1 sync",
				"timeline acme-1 joined by lookout: Sync joined: major_outage",
				"update acme-1 triggered/investigating",
			},
			state: "storage=major_outage sync=major_outage acme-1:triggered[storage sync]",
		},
		{
			name: "a declared dependency joins",
			steps: []step{
				result("api-http", "eu", Down, 0), result("api-http", "eu", Down, sec),
				result("api-http", "us", Down, 0), result("api-http", "us", Down, sec),
				result("web-http", "eu", Down, 2*min),
			},
			want: []string{
				"status web operational>major_outage",
				"join acme-1 web",
				"timeline acme-1 joined by lookout: Web joined: major_outage",
				"update acme-1 triggered/investigating",
			},
			state: "api=major_outage web=major_outage acme-1:triggered[api web]",
		},
		{
			name:  "outside the grouping window: a second incident and a second page",
			steps: with(openStorage, result("sync-tx", "eu", Down, 6*min)),
			want: []string{
				"notify acme-1/notify/g0/l1/r0 escalated [lead,#ops]", // every event fires due timers first
				"status sync operational>major_outage",
				"open acme-2 [sync] impact=major published=true",
				"timeline acme-2 opened by probe:sync-tx: Sync: major outage",
				"notify acme-2/notify/g0/l0/r0 triggered [ana]",
			},
			state: "storage=major_outage sync=major_outage acme-1:triggered[storage] acme-2:triggered[sync]",
		},
		{
			name:  "an unrelated component opens its own incident",
			steps: with(openStorage, result("web-http", "eu", Down, min)),
			want: []string{
				"status web operational>major_outage",
				"open acme-2 [web] impact=major published=true",
				"timeline acme-2 opened by probe:web-http: Web: major outage",
				"notify acme-2/notify/g0/l0/r0 triggered [ana]",
			},
			state: "storage=major_outage web=major_outage acme-1:triggered[storage] acme-2:triggered[web]",
		},
		{
			name:  "grouping disabled",
			cfg:   func(c *Config) { c.Policy.GroupingWindow = 0 },
			steps: with(openStorage, result("sync-tx", "eu", Down, min)),
			want: []string{
				"status sync operational>major_outage",
				"open acme-2 [sync] impact=major published=true",
				"timeline acme-2 opened by probe:sync-tx: Sync: major outage",
				"notify acme-2/notify/g0/l0/r0 triggered [ana]",
			},
			state: "storage=major_outage sync=major_outage acme-1:triggered[storage] acme-2:triggered[sync]",
		},

		// ---- escalation ----
		{
			name:  "escalation: nothing before the level's wait",
			steps: with(openStorage, tick(5*min)),
			state: "storage=major_outage acme-1:triggered[storage]",
		},
		{
			name:  "escalation: level 1 after five minutes",
			steps: with(openStorage, tick(5*min+sec)),
			want:  []string{"notify acme-1/notify/g0/l1/r0 escalated [lead,#ops]"},
			state: "storage=major_outage acme-1:triggered[storage]",
		},
		{
			name:  "escalation: the same tick twice pages once",
			steps: with(openStorage, tick(5*min+sec), tick(5*min+sec)),
			state: "storage=major_outage acme-1:triggered[storage]",
		},
		{
			name:  "escalation: repeat from level 0 after the last level's wait",
			steps: with(openStorage, tick(5*min+sec), tick(15*min+sec)),
			want:  []string{"notify acme-1/notify/g0/l0/r1 escalated [ana]"},
			state: "storage=major_outage acme-1:triggered[storage]",
		},
		{
			name:  "escalation: the last level of the last repeat",
			steps: with(openStorage, tick(5*min+sec), tick(15*min+sec), tick(20*min+sec)),
			want:  []string{"notify acme-1/notify/g0/l1/r1 escalated [lead,#ops]"},
			state: "storage=major_outage acme-1:triggered[storage]",
		},
		{
			name:  "escalation: done after the repeats",
			steps: with(openStorage, tick(5*min+sec), tick(15*min+sec), tick(20*min+sec), tick(2*time.Hour)),
			state: "storage=major_outage acme-1:triggered[storage]",
		},
		{
			name:  "escalation: the schedule resolves at the time the level fires",
			steps: with(openStorage, tick(5*min+sec), tick(21*time.Hour)),
			want:  []string{"notify acme-1/notify/g0/l0/r1 escalated [ben]"},
			state: "storage=major_outage acme-1:triggered[storage]",
		},
		{
			name: "escalation: stops on acknowledgement",
			steps: with(openStorage,
				ev(Acknowledge{ID: "a1", Incident: "acme-1", Actor: "ana"}, min),
				tick(5*min+sec), tick(15*min+sec), tick(20*min+sec)),
			state: "storage=major_outage acme-1:acknowledged[storage]",
		},
		{
			name:  "acknowledge: recorded with who and when",
			steps: with(openStorage, ev(Acknowledge{ID: "a1", Incident: "acme-1", Actor: "ana"}, min)),
			want: []string{
				"timeline acme-1 acknowledged by ana",
				"update acme-1 acknowledged/investigating",
			},
			state: "storage=major_outage acme-1:acknowledged[storage]",
		},
		{
			name: "acknowledge: a second acknowledgement changes nothing",
			steps: with(openStorage,
				ev(Acknowledge{ID: "a1", Incident: "acme-1", Actor: "ana"}, min),
				ev(Acknowledge{ID: "a2", Incident: "acme-1", Actor: "ben"}, 2*min)),
			state: "storage=major_outage acme-1:acknowledged[storage]",
		},
		{
			name:  "acknowledge: an unknown incident is ignored",
			steps: with(openStorage, ev(Acknowledge{ID: "a1", Incident: "acme-9", Actor: "ana"}, min)),
			state: "storage=major_outage acme-1:triggered[storage]",
		},
		{
			name: "escalation: held while all components are in maintenance, fires after",
			steps: with(openStorage,
				ev(MaintenanceSchedule{ID: "m1", Components: []string{"storage"}, Start: at(2 * min), End: at(30 * min)}, min),
				tick(2*min), tick(10*min), tick(30*min)),
			want: []string{
				"maintenance m1 completed",
				"status storage under_maintenance>major_outage",
				"notify acme-1/notify/g0/l1/r0 escalated [lead,#ops]",
			},
			state: "storage=major_outage acme-1:triggered[storage] m1:completed",
		},

		// ---- ack timeout ----
		{
			name: "ack timeout: still failing 30 minutes after the ack re-notifies the acknowledger",
			steps: with(openStorage,
				ev(Acknowledge{ID: "a1", Incident: "acme-1", Actor: "lead"}, min),
				tick(31*min)),
			want:  []string{"notify acme-1/ack-timeout/g0/1 ack_timeout [lead]"},
			state: "storage=major_outage acme-1:acknowledged[storage]",
		},
		{
			name: "ack timeout: not before",
			steps: with(openStorage,
				ev(Acknowledge{ID: "a1", Incident: "acme-1", Actor: "lead"}, min),
				tick(31*min-sec)),
			state: "storage=major_outage acme-1:acknowledged[storage]",
		},
		{
			name: "ack timeout: and again every timeout",
			steps: with(openStorage,
				ev(Acknowledge{ID: "a1", Incident: "acme-1", Actor: "lead"}, min),
				tick(31*min), tick(50*min), tick(61*min)),
			want:  []string{"notify acme-1/ack-timeout/g0/2 ack_timeout [lead]"},
			state: "storage=major_outage acme-1:acknowledged[storage]",
		},
		{
			name: "ack timeout: not once recovered",
			cfg:  func(c *Config) { c.Policy.AutoResolve = false },
			steps: with(openStorage,
				ev(Acknowledge{ID: "a1", Incident: "acme-1", Actor: "lead"}, min),
				result("storage-s3", "eu", Up, 10*min),
				tick(31*min)),
			state: "acme-1:acknowledged[storage]",
		},
		{
			name: "ack timeout: disabled",
			cfg:  func(c *Config) { c.Policy.AckTimeout = 0 },
			steps: with(openStorage,
				ev(Acknowledge{ID: "a1", Incident: "acme-1", Actor: "lead"}, min),
				tick(31*min), tick(5*time.Hour)),
			state: "storage=major_outage acme-1:acknowledged[storage]",
		},

		// ---- re-trigger ----
		{
			name: "re-trigger: an acknowledged incident that recovered and fails again pages afresh",
			cfg:  func(c *Config) { c.Policy.AutoResolve = false },
			steps: with(openStorage,
				ev(Acknowledge{ID: "a1", Incident: "acme-1", Actor: "ana"}, min),
				result("storage-s3", "eu", Up, 2*min),
				result("storage-s3", "eu", Down, 3*min),
				result("storage-s3", "eu", Down, 4*min)),
			want: []string{
				"status storage operational>major_outage",
				"timeline acme-1 retriggered by lookout: failing again after recovering",
				"notify acme-1/notify/g1/l0/r0 retriggered [ana]",
				"update acme-1 triggered/investigating",
			},
			state: "storage=major_outage acme-1:triggered[storage]",
		},
		{
			name: "re-trigger: not while part of the incident still fails",
			cfg:  func(c *Config) { c.Policy.AutoResolve = false },
			steps: with(openStorage,
				result("sync-tx", "eu", Down, min),
				ev(Acknowledge{ID: "a1", Incident: "acme-1", Actor: "ana"}, 2*min),
				result("sync-tx", "eu", Up, 3*min),
				result("sync-tx", "eu", Down, 4*min)),
			want:  []string{"status sync operational>major_outage"},
			state: "storage=major_outage sync=major_outage acme-1:acknowledged[storage sync]",
		},

		// ---- snooze ----
		{
			name: "snooze: acknowledges and silences",
			steps: with(openStorage,
				ev(Snooze{ID: "z1", Incident: "acme-1", Actor: "ana", For: time.Hour}, min)),
			want: []string{
				"timeline acme-1 snoozed by ana: snoozed for 1h0m0s",
				"update acme-1 acknowledged/investigating",
			},
			state: "storage=major_outage acme-1:acknowledged[storage]:snoozed",
		},
		{
			name: "snooze: no ack timeout while snoozed",
			steps: with(openStorage,
				ev(Snooze{ID: "z1", Incident: "acme-1", Actor: "ana", For: time.Hour}, min),
				tick(31*min), tick(60*min)),
			state: "storage=major_outage acme-1:acknowledged[storage]:snoozed",
		},
		{
			name: "snooze: expiry while still failing re-triggers from level 0",
			steps: with(openStorage,
				ev(Snooze{ID: "z1", Incident: "acme-1", Actor: "ana", For: time.Hour}, min),
				tick(61*min)),
			want: []string{
				"timeline acme-1 snooze_ended by lookout",
				"timeline acme-1 retriggered by lookout: snooze ended and still failing",
				"notify acme-1/notify/g1/l0/r0 snooze_expired [ana]",
				"update acme-1 triggered/investigating",
			},
			state: "storage=major_outage acme-1:triggered[storage]",
		},
		{
			name: "snooze: expiry after recovery stays quiet",
			cfg:  func(c *Config) { c.Policy.AutoResolve = false },
			steps: with(openStorage,
				ev(Snooze{ID: "z1", Incident: "acme-1", Actor: "ana", For: time.Hour}, min),
				result("storage-s3", "eu", Up, 10*min),
				tick(61*min)),
			want:  []string{"timeline acme-1 snooze_ended by lookout"},
			state: "acme-1:acknowledged[storage]",
		},
		{
			name: "snooze: the same snooze twice does not extend it",
			steps: with(openStorage,
				ev(Snooze{ID: "z1", Incident: "acme-1", Actor: "ana", For: time.Hour}, min),
				ev(Snooze{ID: "z1", Incident: "acme-1", Actor: "ana", For: time.Hour}, 30*min),
				tick(61*min)),
			want: []string{
				"timeline acme-1 snooze_ended by lookout",
				"timeline acme-1 retriggered by lookout: snooze ended and still failing",
				"notify acme-1/notify/g1/l0/r0 snooze_expired [ana]",
				"update acme-1 triggered/investigating",
			},
			state: "storage=major_outage acme-1:triggered[storage]",
		},

		// ---- auto-resolve ----
		{
			name:  "auto-resolve: not during the quiet period",
			steps: with(openStorage, result("storage-s3", "eu", Up, 2*min), tick(12*min-sec)),
			state: "acme-1:triggered[storage]",
		},
		{
			name:  "auto-resolve: after the quiet period, with a timeline entry",
			steps: with(openStorage, result("storage-s3", "eu", Up, 2*min), tick(12*min)),
			want: []string{
				"timeline acme-1 resolved by lookout: auto-resolved: healthy for 10m0s",
				"resolve acme-1",
			},
		},
		{
			name:  "auto-resolve: a failure during the quiet period restarts it",
			steps: with(openStorage, result("storage-s3", "eu", Up, 2*min), result("storage-s3", "eu", Down, 5*min), result("storage-s3", "eu", Down, 6*min), result("storage-s3", "eu", Up, 7*min), tick(12*min)),
			state: "acme-1:triggered[storage]",
		},
		{
			name:  "auto-resolve: off waits for a human",
			cfg:   func(c *Config) { c.Policy.AutoResolve = false },
			steps: with(openStorage, result("storage-s3", "eu", Up, 2*min), tick(48*time.Hour)),
			state: "acme-1:triggered[storage]",
		},
		{
			name:  "auto-resolve: a recovered triggered incident does not escalate",
			cfg:   func(c *Config) { c.Policy.AutoResolve = false },
			steps: with(openStorage, result("storage-s3", "eu", Up, 2*min), tick(6*min), tick(16*min)),
			state: "acme-1:triggered[storage]",
		},

		// ---- resolve ----
		{
			name:  "resolve: ends the incident, keeps the component's real status",
			steps: with(openStorage, ev(Resolve{ID: "r1", Incident: "acme-1", Actor: "ana", Body: "fixed"}, 2*min)),
			want: []string{
				"timeline acme-1 resolved by ana: fixed",
				"resolve acme-1",
			},
			state: "storage=major_outage",
		},
		{
			name: "resolve: nothing pages afterwards and no new incident while still down",
			steps: with(openStorage,
				ev(Resolve{ID: "r1", Incident: "acme-1", Actor: "ana"}, 2*min),
				ev(Resolve{ID: "r1", Incident: "acme-1", Actor: "ana"}, 3*min),
				result("storage-s3", "eu", Down, 4*min),
				tick(6*min), tick(time.Hour)),
			state: "storage=major_outage",
		},
		{
			name: "resolve: a failure after recovering opens a new incident",
			steps: with(openStorage,
				ev(Resolve{ID: "r1", Incident: "acme-1", Actor: "ana"}, 2*min),
				result("storage-s3", "eu", Up, 3*min),
				result("storage-s3", "eu", Down, 4*min),
				result("storage-s3", "eu", Down, 5*min)),
			want: []string{
				"status storage operational>major_outage",
				"open acme-2 [storage] impact=major published=true",
				"timeline acme-2 opened by probe:storage-s3: Storage: major outage",
				"notify acme-2/notify/g0/l0/r0 triggered [ana]",
			},
			state: "storage=major_outage acme-2:triggered[storage]",
		},

		// ---- maintenance ----
		{
			name:  "maintenance: scheduling shows nothing yet",
			steps: []step{ev(MaintenanceSchedule{ID: "m1", Title: "db upgrade", Components: []string{"storage", "sync"}, Start: at(time.Hour), End: at(2 * time.Hour)}, 0)},
			want:  []string{"maintenance m1 scheduled"},
			state: "m1:scheduled",
		},
		{
			name: "maintenance: the window starting shows under_maintenance",
			steps: []step{
				ev(MaintenanceSchedule{ID: "m1", Components: []string{"storage", "sync"}, Start: at(time.Hour), End: at(2 * time.Hour)}, 0),
				tick(time.Hour),
			},
			want: []string{
				"maintenance m1 in_progress",
				"status storage operational>under_maintenance",
				"status sync operational>under_maintenance",
			},
			state: "storage=under_maintenance sync=under_maintenance m1:in_progress",
		},
		{
			name: "maintenance: failures inside the window open nothing and page nobody",
			steps: []step{
				ev(MaintenanceSchedule{ID: "m1", Components: []string{"storage", "sync"}, Start: at(time.Hour), End: at(2 * time.Hour)}, 0),
				tick(time.Hour),
				result("storage-s3", "eu", Down, time.Hour+sec), result("storage-s3", "eu", Down, time.Hour+2*sec),
				result("sync-tx", "eu", Down, time.Hour+3*sec),
			},
			state: "storage=under_maintenance sync=under_maintenance m1:in_progress",
		},
		{
			name: "maintenance: the window ending shows the real status and opens if still down",
			steps: []step{
				ev(MaintenanceSchedule{ID: "m1", Components: []string{"storage", "sync"}, Start: at(time.Hour), End: at(2 * time.Hour)}, 0),
				tick(time.Hour),
				result("storage-s3", "eu", Down, time.Hour+sec), result("storage-s3", "eu", Down, time.Hour+2*sec),
				tick(2 * time.Hour),
			},
			want: []string{
				"maintenance m1 completed",
				"status storage under_maintenance>major_outage",
				"open acme-1 [storage] impact=major published=true",
				"timeline acme-1 opened by probe:storage-s3: Storage: major outage",
				"notify acme-1/notify/g0/l0/r0 triggered [ana]",
				"status sync under_maintenance>operational",
			},
			state: "storage=major_outage acme-1:triggered[storage] m1:completed",
		},
		{
			name: "maintenance: advanced by hand through verifying to completed",
			steps: []step{
				ev(MaintenanceSchedule{ID: "m1", Components: []string{"sync"}, Start: at(time.Hour), End: at(2 * time.Hour)}, 0),
				ev(MaintenanceAdvance{ID: "m1", Actor: "ana", To: MaintenanceInProgress}, 30*min),
				ev(MaintenanceAdvance{ID: "m1", Actor: "ana", To: MaintenanceVerifying}, 40*min),
				ev(MaintenanceAdvance{ID: "m1", Actor: "ana", To: MaintenanceCompleted}, 50*min),
			},
			want: []string{
				"maintenance m1 completed",
				"status sync under_maintenance>operational",
			},
			state: "m1:completed",
		},
		{
			name: "maintenance: advancing backwards is ignored",
			steps: []step{
				ev(MaintenanceSchedule{ID: "m1", Components: []string{"sync"}, Start: at(time.Hour), End: at(2 * time.Hour)}, 0),
				ev(MaintenanceAdvance{ID: "m1", Actor: "ana", To: MaintenanceVerifying}, 30*min),
				ev(MaintenanceAdvance{ID: "m1", Actor: "ana", To: MaintenanceInProgress}, 40*min),
			},
			state: "sync=under_maintenance m1:verifying",
		},
		{
			name: "maintenance: cancelled before the start never shows",
			steps: []step{
				ev(MaintenanceSchedule{ID: "m1", Components: []string{"sync"}, Start: at(time.Hour), End: at(2 * time.Hour)}, 0),
				ev(MaintenanceCancel{ID: "m1", Actor: "ana"}, 30*min),
				tick(time.Hour),
			},
			state: "m1:cancelled",
		},
		{
			name: "maintenance: the same schedule twice changes nothing",
			steps: []step{
				ev(MaintenanceSchedule{ID: "m1", Components: []string{"sync"}, Start: at(time.Hour), End: at(2 * time.Hour)}, 0),
				ev(MaintenanceSchedule{ID: "m1", Components: []string{"sync"}, Start: at(time.Hour), End: at(2 * time.Hour)}, sec),
			},
			state: "m1:scheduled",
		},
		{
			name: "maintenance: a duplicate after completion does not restart it",
			steps: []step{
				ev(MaintenanceSchedule{ID: "m1", Components: []string{"sync"}, Start: at(time.Hour), End: at(2 * time.Hour)}, 0),
				ev(MaintenanceAdvance{ID: "m1", Actor: "ana", To: MaintenanceCompleted}, 90*min),
				ev(MaintenanceSchedule{ID: "m1", Components: []string{"sync"}, Start: at(time.Hour), End: at(2 * time.Hour)}, 91*min),
			},
			state: "m1:completed",
		},
		{
			name: "maintenance: a running window is extended and changes components, keeping its start",
			steps: []step{
				ev(MaintenanceSchedule{ID: "m1", Components: []string{"storage"}, Start: at(time.Hour), End: at(2 * time.Hour)}, 0),
				tick(time.Hour),
				ev(MaintenanceSchedule{ID: "m1", Title: "longer", Components: []string{"sync"}, Start: at(90 * min), End: at(3 * time.Hour)}, 61*min),
			},
			want: []string{
				"maintenance m1 in_progress",
				"status storage under_maintenance>operational",
				"status sync operational>under_maintenance",
			},
			state: "sync=under_maintenance m1:in_progress",
		},
		{
			name: "maintenance: an extended window outlives its first end",
			steps: []step{
				ev(MaintenanceSchedule{ID: "m1", Components: []string{"sync"}, Start: at(time.Hour), End: at(2 * time.Hour)}, 0),
				tick(time.Hour),
				ev(MaintenanceSchedule{ID: "m1", Components: []string{"sync"}, Start: at(time.Hour), End: at(3 * time.Hour)}, 61*min),
				tick(2*time.Hour + min),
			},
			state: "sync=under_maintenance m1:in_progress",
		},
		{
			name: "maintenance: a window already over is refused",
			steps: []step{
				ev(MaintenanceSchedule{ID: "m1", Components: []string{"sync"}, Start: at(-2 * time.Hour), End: at(-time.Hour)}, 0),
			},
		},
		{
			name: "maintenance: forgotten a day after its end",
			steps: []step{
				ev(MaintenanceSchedule{ID: "m1", Components: []string{"sync"}, Start: at(time.Hour), End: at(2 * time.Hour)}, 0),
				tick(time.Hour), tick(2 * time.Hour), tick(27 * time.Hour),
			},
		},

		// ---- human updates ----
		{
			name:  "public update: publishes a draft, sets status and component status",
			cfg:   func(c *Config) { c.Policy.PublishAutomatically = false },
			steps: with(openStorage, ev(PublicUpdate{ID: "u1", Incident: "acme-1", Actor: "ana", Status: Identified, Body: "a bad disk", ComponentStatuses: map[string]ComponentStatus{"storage": PartialOutage}}, 2*min)),
			want: []string{
				"timeline acme-1 update by ana: a bad disk",
				"status storage major_outage>partial_outage",
				"update acme-1 triggered/identified",
			},
			state: "storage=partial_outage acme-1:triggered[storage]",
		},
		{
			name: "public update: the same update twice is posted once",
			steps: with(openStorage,
				ev(PublicUpdate{ID: "u1", Incident: "acme-1", Actor: "ana", Status: Identified, Body: "a bad disk"}, 2*min),
				ev(PublicUpdate{ID: "u1", Incident: "acme-1", Actor: "ana", Status: Identified, Body: "a bad disk"}, 3*min)),
			state: "storage=major_outage acme-1:triggered[storage]",
		},
		{
			name: "public update: naming a free component adds it",
			steps: with(openStorage,
				ev(PublicUpdate{ID: "u1", Incident: "acme-1", Actor: "ana", Status: Identified, ComponentStatuses: map[string]ComponentStatus{"web": DegradedPerformance}}, 2*min)),
			want: []string{
				"join acme-1 web",
				"timeline acme-1 joined by ana: Web joined: operational",
				"timeline acme-1 update by ana",
				"status web operational>degraded_performance",
				"update acme-1 triggered/identified",
			},
			state: "storage=major_outage web=degraded_performance acme-1:triggered[storage web]",
		},
		{
			name: "public update: resolved resolves",
			steps: with(openStorage,
				ev(PublicUpdate{ID: "u1", Incident: "acme-1", Actor: "ana", Status: PublicResolved, Body: "all good"}, 2*min)),
			want: []string{
				"timeline acme-1 resolved by ana: all good",
				"resolve acme-1",
			},
			state: "storage=major_outage",
		},
		{
			name: "public update: declared statuses end with the incident",
			steps: with(openStorage,
				ev(PublicUpdate{ID: "u1", Incident: "acme-1", Actor: "ana", Status: Monitoring, ComponentStatuses: map[string]ComponentStatus{"storage": DegradedPerformance}}, 2*min),
				ev(Resolve{ID: "r1", Incident: "acme-1", Actor: "ana"}, 3*min)),
			want: []string{
				"timeline acme-1 resolved by ana",
				"status storage degraded_performance>major_outage",
				"resolve acme-1",
			},
			state: "storage=major_outage",
		},
		{
			name: "note: added once per id",
			steps: with(openStorage,
				ev(AddNote{ID: "n1", Incident: "acme-1", Actor: "ana", Body: "looking"}, 2*min),
				ev(AddNote{ID: "n1", Incident: "acme-1", Actor: "ana", Body: "looking"}, 3*min)),
			state: "storage=major_outage acme-1:triggered[storage]",
		},
		{
			name:  "note: recorded",
			steps: with(openStorage, ev(AddNote{ID: "n1", Incident: "acme-1", Actor: "ana", Body: "looking"}, 2*min)),
			want:  []string{"timeline acme-1 note by ana: looking"},
			state: "storage=major_outage acme-1:triggered[storage]",
		},
		{
			name:  "impact: set by a human",
			steps: with(openStorage, ev(SetImpact{ID: "i1", Incident: "acme-1", Actor: "ana", Impact: ImpactCritical}, 2*min)),
			want: []string{
				"timeline acme-1 impact by ana",
				"update acme-1 triggered/investigating",
			},
			state: "storage=major_outage acme-1:triggered[storage]",
		},
		{
			name:  "impact: an invalid value is ignored",
			steps: with(openStorage, ev(SetImpact{ID: "i1", Incident: "acme-1", Actor: "ana", Impact: "apocalyptic"}, 2*min)),
			state: "storage=major_outage acme-1:triggered[storage]",
		},

		// ---- overrides ----
		{
			name:  "override: wins over probes and does not page",
			steps: []step{ev(ComponentOverride{Component: "sync", Status: MajorOutage, Actor: "ana"}, 0)},
			want:  []string{"status sync operational>major_outage"},
			state: "sync=major_outage",
		},
		{
			name: "override: wins over maintenance until cleared",
			steps: []step{
				ev(ComponentOverride{Component: "sync", Status: DegradedPerformance, Actor: "ana"}, 0),
				ev(MaintenanceSchedule{ID: "m1", Components: []string{"sync"}, Start: at(min), End: at(time.Hour)}, 0),
				tick(min),
				ev(ComponentOverride{Component: "sync", Actor: "ana"}, 2*min),
			},
			want:  []string{"status sync degraded_performance>under_maintenance"},
			state: "sync=under_maintenance m1:in_progress",
		},
		{
			name: "override: the same override twice changes nothing",
			steps: []step{
				ev(ComponentOverride{Component: "sync", Status: MajorOutage, Actor: "ana"}, 0),
				ev(ComponentOverride{Component: "sync", Status: MajorOutage, Actor: "ana"}, sec),
			},
			state: "sync=major_outage",
		},
		{
			name:  "override: an invalid status is ignored",
			steps: []step{ev(ComponentOverride{Component: "sync", Status: "on_fire", Actor: "ana"}, 0)},
		},

		// ---- external alerts ----
		{
			name: "alert: firing opens its own incident",
			steps: []step{
				ev(ExternalAlert{Fingerprint: "f1", Status: AlertFiring, Labels: map[string]string{"alertname": "DiskFull"}, StartsAt: t0}, 0),
			},
			want: []string{
				"open acme-1 [] impact=minor published=true",
				"timeline acme-1 opened by alert:f1: DiskFull",
				"notify acme-1/notify/g0/l0/r0 triggered [ana]",
			},
			state: "acme-1:triggered[]",
		},
		{
			name: "alert: delivered twice (HA pair) changes nothing",
			steps: []step{
				ev(ExternalAlert{Fingerprint: "f1", Status: AlertFiring, Labels: map[string]string{"alertname": "DiskFull"}, StartsAt: t0}, 0),
				ev(ExternalAlert{Fingerprint: "f1", Status: AlertFiring, Labels: map[string]string{"alertname": "DiskFull"}, StartsAt: t0}, sec),
			},
			state: "acme-1:triggered[]",
		},
		{
			name: "alert: resolved, then auto-resolved after the quiet period",
			steps: []step{
				ev(ExternalAlert{Fingerprint: "f1", Status: AlertFiring, StartsAt: t0}, 0),
				ev(ExternalAlert{Fingerprint: "f1", Status: AlertResolved, StartsAt: t0}, min),
				tick(11 * min),
			},
			want: []string{
				"timeline acme-1 resolved by lookout: auto-resolved: healthy for 10m0s",
				"resolve acme-1",
			},
		},
		{
			name: "alert: a late firing after the same occurrence resolved is ignored",
			steps: []step{
				ev(ExternalAlert{Fingerprint: "f1", Status: AlertFiring, StartsAt: t0}, 0),
				ev(ExternalAlert{Fingerprint: "f1", Status: AlertResolved, StartsAt: t0}, min),
				tick(11 * min),
				ev(ExternalAlert{Fingerprint: "f1", Status: AlertFiring, StartsAt: t0}, 12*min),
			},
		},
		{
			name: "alert: a new occurrence opens a new incident",
			steps: []step{
				ev(ExternalAlert{Fingerprint: "f1", Status: AlertFiring, StartsAt: t0}, 0),
				ev(ExternalAlert{Fingerprint: "f1", Status: AlertResolved, StartsAt: t0}, min),
				tick(11 * min),
				ev(ExternalAlert{Fingerprint: "f1", Status: AlertFiring, StartsAt: at(20 * min)}, 20*min),
			},
			want: []string{
				"open acme-2 [] impact=minor published=true",
				"timeline acme-2 opened by alert:f1: alert f1",
				"notify acme-2/notify/g0/l0/r0 triggered [ana]",
			},
			state: "acme-2:triggered[]",
		},
		{
			name: "alert: on a component counts against it",
			steps: []step{
				ev(ExternalAlert{Fingerprint: "f1", Status: AlertFiring, Component: "sync", Labels: map[string]string{"severity": "critical"}, StartsAt: t0}, 0),
			},
			want: []string{
				"status sync operational>major_outage",
				"open acme-1 [sync] impact=major published=true",
				"timeline acme-1 opened by alert:f1: Sync: major outage",
				"notify acme-1/notify/g0/l0/r0 triggered [ana]",
				"update acme-1 triggered/investigating",
			},
			state: "sync=major_outage acme-1:triggered[sync]",
		},
		{
			name: "alert: on a component in maintenance opens nothing",
			steps: []step{
				ev(MaintenanceSchedule{ID: "m1", Components: []string{"sync"}, Start: t0, End: at(time.Hour)}, 0),
				ev(ExternalAlert{Fingerprint: "f1", Status: AlertFiring, Component: "sync", StartsAt: t0}, min),
			},
			state: "sync=under_maintenance m1:in_progress",
		},
		{
			name: "alert: an unknown status is ignored",
			steps: []step{
				ev(ExternalAlert{Fingerprint: "f1", Status: "pending", StartsAt: t0}, 0),
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newState(t, tc.cfg)
			s, last, _ := run(t, s, tc.steps)
			if d := diffLines(describeAll(last), tc.want); d != "" {
				t.Error(d)
			}
			if got := summarize(s); got != tc.state {
				t.Errorf("got state %q, want %q", got, tc.state)
			}
		})
	}
}

// TestConfigureKeepsRuntimeState: reloading the configuration keeps streaks,
// statuses and incidents; removing and re-adding a component reattaches it
// to the incident that still lists it.
func TestConfigureKeepsRuntimeState(t *testing.T) {
	s := newState(t, nil)
	s, _, _ = run(t, s, with(openStorage, result("api-http", "eu", Down, 2*sec)))
	s2, effs := Step(s, Configure{Config: testConfig()}, at(3*sec))
	if len(effs) != 0 {
		t.Errorf("same configuration again: got effects %v, want none", describeAll(effs))
	}
	if got, want := summarize(s2), "storage=major_outage acme-1:triggered[storage]"; got != want {
		t.Errorf("got state %q, want %q", got, want)
	}
	if got := s2.Probes["api-http"].Regions[0].Down; got != 1 {
		t.Errorf("api-http eu down streak: got %d, want 1", got)
	}

	cfg := testConfig()
	cfg.Components = cfg.Components[1:] // storage removed
	cfg.Probes = cfg.Probes[1:]
	s3, _ := Step(s2, Configure{Config: cfg}, at(4*sec))
	if _, ok := s3.Components["storage"]; ok {
		t.Fatal("storage still configured after removal")
	}
	s4, _ := Step(s3, Configure{Config: testConfig()}, at(5*sec))
	if got := s4.Components["storage"].Incident; got != "acme-1" {
		t.Errorf("re-added storage: got incident %q, want acme-1", got)
	}
}

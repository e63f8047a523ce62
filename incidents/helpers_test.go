package incidents

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// t0 is 03:12 UTC on a Tuesday; the primary schedule hands off daily at
// 00:00 UTC: ana on 2026-03-10, ben on 2026-03-11.
var t0 = time.Date(2026, 3, 10, 3, 12, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

func testConfig() Config {
	return Config{
		Policy: Policy{
			GroupingWindow:       5 * time.Minute,
			AutoResolve:          true,
			QuietPeriod:          10 * time.Minute,
			PublishAutomatically: true,
			Escalation:           "default",
			AckTimeout:           30 * time.Minute,
		},
		Components: []ComponentConfig{
			{ID: "storage", Name: "Storage", Group: "backend"},
			{ID: "sync", Name: "Sync", Group: "backend"},
			{ID: "api", Name: "API"},
			{ID: "web", Name: "Web", DependsOn: []string{"api"}},
			{ID: "docs", Name: "Docs", Escalation: "none"},
		},
		Probes: []ProbeConfig{
			{ID: "storage-s3", Component: "storage", FailureThreshold: 2},
			{ID: "sync-tx", Component: "sync"},
			{ID: "api-http", Component: "api", FailureThreshold: 2, SuccessThreshold: 2, Quorum: 2},
			{ID: "web-http", Component: "web"},
			{ID: "docs-http", Component: "docs"},
		},
		Escalations: []EscalationPolicy{{
			ID: "default",
			Levels: []EscalationLevel{
				{Targets: []Target{{Kind: TargetSchedule, ID: "primary"}}, Wait: 5 * time.Minute},
				{Targets: []Target{{Kind: TargetUser, ID: "lead"}, {Kind: TargetChannel, ID: "#ops"}}, Wait: 10 * time.Minute},
			},
			Repeats: 1,
		}},
		Schedules: []Schedule{{
			ID: "primary",
			Layers: []Layer{{
				Members: []string{"ana", "ben"},
				Start:   time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC),
				Length:  24 * time.Hour,
			}},
		}},
	}
}

// step is one event applied at a time.
type step struct {
	ev  Event
	now time.Time
}

func result(probe, region string, o Outcome, d time.Duration) step {
	return step{ProbeResult{Org: "acme", Probe: probe, Region: region, Outcome: o, At: at(d)}, at(d)}
}

func tick(d time.Duration) step { return step{Tick{}, at(d)} }

func ev(e Event, d time.Duration) step { return step{e, at(d)} }

func newState(t testing.TB, mod func(*Config)) State {
	t.Helper()
	cfg := testConfig()
	if mod != nil {
		mod(&cfg)
	}
	return New("acme", cfg)
}

// run applies steps, returning the final state and the effects of the last
// step (and all effects).
func run(t testing.TB, s State, steps []step) (State, []Effect, []Effect) {
	t.Helper()
	var last, all []Effect
	for _, st := range steps {
		s, last = Step(s, st.ev, st.now)
		all = append(all, last...)
	}
	return s, last, all
}

// describe renders an effect as one short line.
func describe(e Effect) string {
	switch e := e.(type) {
	case IncidentOpened:
		return fmt.Sprintf("open %s %v impact=%s published=%v", e.Incident.ID, e.Incident.Components, e.Incident.Impact, e.Incident.Published)
	case ComponentJoined:
		return fmt.Sprintf("join %s %s", e.Incident, e.Component)
	case ComponentStatusChanged:
		return fmt.Sprintf("status %s %s>%s", e.Component, e.From, e.To)
	case Notify:
		var rs []string
		for _, r := range e.Recipients {
			rs = append(rs, r.ID)
		}
		return fmt.Sprintf("notify %s %s [%s]", e.IdemKey, e.Reason, strings.Join(rs, ","))
	case IncidentUpdated:
		return fmt.Sprintf("update %s %s/%s", e.Incident.ID, e.Incident.Lifecycle, e.Incident.Public)
	case IncidentResolved:
		return fmt.Sprintf("resolve %s", e.Incident.ID)
	case TimelineAppended:
		s := fmt.Sprintf("timeline %s %s by %s", e.Incident, e.Entry.Kind, e.Entry.Actor)
		if e.Entry.Body != "" {
			s += ": " + e.Entry.Body
		}
		return s
	case MaintenanceChanged:
		return fmt.Sprintf("maintenance %s %s", e.Maintenance.ID, e.Maintenance.Status)
	}
	return fmt.Sprintf("%T", e)
}

func describeAll(effs []Effect) []string {
	out := make([]string, 0, len(effs))
	for _, e := range effs {
		out = append(out, describe(e))
	}
	return out
}

// summarize renders the parts of a state a reader checks: non-operational
// components, open incidents, maintenances.
func summarize(s State) string {
	var parts []string
	for _, id := range sortedKeys(s.Components) {
		if c := s.Components[id]; c.Status != Operational {
			parts = append(parts, id+"="+string(c.Status))
		}
	}
	ids := sortedKeys(s.Incidents)
	s.sortIncidentIDs(ids)
	for _, id := range ids {
		inc := s.Incidents[id]
		d := fmt.Sprintf("%s:%s%v", id, inc.Lifecycle, inc.Components)
		if inc.Flapping {
			d += ":flapping"
		}
		if !inc.SnoozedUntil.IsZero() {
			d += ":snoozed"
		}
		parts = append(parts, d)
	}
	for _, id := range sortedKeys(s.Maintenances) {
		parts = append(parts, id+":"+string(s.Maintenances[id].Status))
	}
	return strings.Join(parts, " ")
}

func diffLines(got, want []string) string {
	if slices.Equal(got, want) {
		return ""
	}
	return fmt.Sprintf("got effects:\n\t%s\nwant:\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
}

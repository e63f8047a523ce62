package incidents

import (
	"fmt"
	"maps"
	"math/rand"
	"reflect"
	"slices"
	"testing"
	"time"
)

// gen produces random but plausible event sequences over testConfig.
type gen struct {
	r   *rand.Rand
	now time.Time
	// past holds earlier times, reused for duplicate and stale deliveries.
	past []time.Time
}

var (
	genProbes  = []string{"storage-s3", "sync-tx", "api-http", "web-http", "docs-http", "ghost"}
	genRegions = []string{"eu", "us", "ap"}
	genComps   = []string{"storage", "sync", "api", "web", "docs", "ghost"}
	genActors  = []string{"ana", "ben", "lead"}
)

func (g *gen) pick(xs []string) string { return xs[g.r.Intn(len(xs))] }

func (g *gen) pastTime() time.Time {
	if len(g.past) == 0 || g.r.Intn(3) > 0 {
		return g.now
	}
	return g.past[g.r.Intn(len(g.past))]
}

// advance moves the clock: mostly forward by seconds to minutes, sometimes
// by hours, rarely a little backwards (a skewed clock).
func (g *gen) advance() {
	switch n := g.r.Intn(100); {
	case n < 3:
		g.now = g.now.Add(-time.Duration(g.r.Intn(120)) * time.Second)
	case n < 10:
		g.now = g.now.Add(time.Duration(g.r.Intn(6*3600)) * time.Second)
	case n < 20:
		// stay
	default:
		g.now = g.now.Add(time.Duration(1+g.r.Intn(300)) * time.Second)
	}
	g.past = append(g.past, g.now)
	if len(g.past) > 50 {
		g.past = g.past[1:]
	}
}

func (g *gen) incident(s State) string {
	return fmt.Sprintf("acme-%d", 1+g.r.Intn(s.NextIncident+1))
}

func (g *gen) eventID() string { return fmt.Sprintf("e%d", g.r.Intn(40)) }

func (g *gen) event(s State) Event {
	r := g.r
	switch n := r.Intn(100); {
	case n < 55:
		o := []Outcome{Up, Up, Down, Down, Degraded}[r.Intn(5)]
		return ProbeResult{Org: "acme", Probe: g.pick(genProbes), Region: g.pick(genRegions), Outcome: o, At: g.pastTime(), Error: "boom"}
	case n < 62:
		return Tick{}
	case n < 66:
		return Acknowledge{ID: g.eventID(), Incident: g.incident(s), Actor: g.pick(genActors)}
	case n < 68:
		return Resolve{ID: g.eventID(), Incident: g.incident(s), Actor: g.pick(genActors)}
	case n < 70:
		return Snooze{ID: g.eventID(), Incident: g.incident(s), Actor: g.pick(genActors), For: time.Duration(r.Intn(120)) * time.Minute}
	case n < 72:
		return AddNote{ID: g.eventID(), Incident: g.incident(s), Actor: g.pick(genActors), Body: "note"}
	case n < 74:
		st := []PublicStatus{Investigating, Identified, Monitoring, PublicResolved, ""}[r.Intn(5)]
		cs := map[string]ComponentStatus{}
		if r.Intn(2) == 0 {
			cs[g.pick(genComps)] = []ComponentStatus{DegradedPerformance, PartialOutage, MajorOutage, UnderMaintenance}[r.Intn(4)]
		}
		return PublicUpdate{ID: g.eventID(), Incident: g.incident(s), Actor: g.pick(genActors), Status: st, Body: "update", ComponentStatuses: cs}
	case n < 75:
		return SetImpact{ID: g.eventID(), Incident: g.incident(s), Actor: g.pick(genActors), Impact: []Impact{ImpactNone, ImpactMinor, ImpactMajor, ImpactCritical}[r.Intn(4)]}
	case n < 77:
		st := []ComponentStatus{"", "", MajorOutage, DegradedPerformance}[r.Intn(4)]
		return ComponentOverride{Component: g.pick(genComps), Status: st, Actor: g.pick(genActors)}
	case n < 81:
		start := g.now.Add(time.Duration(r.Intn(7200)-600) * time.Second)
		comps := []string{g.pick(genComps)}
		if r.Intn(2) == 0 {
			comps = append(comps, g.pick(genComps))
		}
		return MaintenanceSchedule{ID: fmt.Sprintf("m%d", r.Intn(4)), Components: comps, Start: start, End: start.Add(time.Duration(1+r.Intn(7200)) * time.Second), Actor: "ana"}
	case n < 82:
		return MaintenanceCancel{ID: fmt.Sprintf("m%d", r.Intn(4)), Actor: "ana"}
	case n < 84:
		to := []MaintenanceStatus{MaintenanceInProgress, MaintenanceVerifying, MaintenanceCompleted, MaintenanceScheduled}[r.Intn(4)]
		return MaintenanceAdvance{ID: fmt.Sprintf("m%d", r.Intn(4)), Actor: "ana", To: to}
	case n < 98:
		st := []AlertStatus{AlertFiring, AlertResolved}[r.Intn(2)]
		comp := ""
		if r.Intn(2) == 0 {
			comp = g.pick(genComps)
		}
		return ExternalAlert{Fingerprint: fmt.Sprintf("f%d", r.Intn(5)), Status: st, Component: comp,
			Labels: map[string]string{"severity": g.pick([]string{"critical", "warning", ""})}, StartsAt: g.pastTime()}
	default:
		cfg := testConfig()
		g.randomPolicy(&cfg)
		if r.Intn(3) == 0 { // drop a component and its probe
			i := r.Intn(len(cfg.Components))
			cfg.Components = slices.Delete(slices.Clone(cfg.Components), i, i+1)
		}
		return Configure{Config: cfg}
	}
}

func (g *gen) randomPolicy(cfg *Config) {
	r := g.r
	p := &cfg.Policy
	p.GroupingWindow = time.Duration(r.Intn(3)) * 5 * time.Minute
	p.AutoResolve = r.Intn(3) > 0
	p.QuietPeriod = time.Duration(r.Intn(3)) * 5 * time.Minute
	p.PublishAutomatically = r.Intn(2) == 0
	p.AckTimeout = time.Duration(r.Intn(3)) * 15 * time.Minute
	p.FlapChanges = r.Intn(4)
	p.FlapWindow = time.Duration(r.Intn(3)) * 10 * time.Minute
	if r.Intn(2) == 0 {
		cfg.Probes[3].DegradedPages = true
	}
	cfg.Schedules[0].Overrides = []Override{{User: "zoe", Start: t0.Add(time.Hour), End: t0.Add(3 * time.Hour)}}
}

// checker verifies the invariants of one step and of the whole run.
type checker struct {
	t    *testing.T
	keys map[string]string // effect key → description, across the run
}

func (c *checker) step(prev State, ev Event, now time.Time, next State, effs []Effect) {
	t := c.t
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("after %T%+v at %s: %s", ev, ev, now.Format(time.TimeOnly), fmt.Sprintf(format, args...))
	}

	// At most one open incident per component, and the index agrees.
	owner := map[string]string{}
	for id, inc := range next.Incidents {
		if inc.Lifecycle == Resolved {
			fail("resolved incident %s still in the state", id)
		}
		for _, cid := range inc.Components {
			if other, dup := owner[cid]; dup {
				fail("component %s in two open incidents: %s and %s", cid, other, id)
			}
			owner[cid] = id
		}
	}
	for id, comp := range next.Components {
		if comp.Incident != owner[id] && !(comp.Incident == "" && owner[id] == "") {
			if _, known := next.Components[id]; known {
				fail("component %s points at incident %q, but %q holds it", id, comp.Incident, owner[id])
			}
		}
	}

	// Shown statuses are never stale.
	m := &machine{s: &next, now: now}
	for id, comp := range next.Components {
		st, _, troubled, maint := m.compute(comp)
		if st != comp.Status || troubled != comp.Troubled || (troubled && !maint) != comp.Paging {
			fail("component %s shows %s troubled=%v paging=%v, want %s troubled=%v paging=%v",
				id, comp.Status, comp.Troubled, comp.Paging, st, troubled, troubled && !maint)
		}
	}

	resolvedAt := map[string]int{}
	for i, e := range effs {
		if r, ok := e.(IncidentResolved); ok {
			if r.Incident.EndedAt.Before(r.Incident.StartedAt) {
				fail("incident %s ended %s before it started %s", r.Incident.ID, r.Incident.EndedAt, r.Incident.StartedAt)
			}
			if r.Incident.Lifecycle != Resolved || r.Incident.Public != PublicResolved {
				fail("resolved incident %s is %s/%s", r.Incident.ID, r.Incident.Lifecycle, r.Incident.Public)
			}
			resolvedAt[r.Incident.ID] = i
		}
	}

	// Maintenance as it stood when each effect was emitted: the windows
	// before the step, updated by the MaintenanceChanged effects so far.
	windows := maps.Clone(prev.Maintenances)
	inMaint := func(cid string) bool {
		for _, w := range windows {
			if w.Status.active() && slices.Contains(w.Components, cid) {
				return true
			}
		}
		return false
	}
	// Each incident's lifecycle and acknowledger as the effects unfold.
	lc, acker := map[string]Lifecycle{}, map[string]string{}
	for id, inc := range prev.Incidents {
		lc[id], acker[id] = inc.Lifecycle, inc.AckedBy
	}
	for i, e := range effs {
		switch e := e.(type) {
		case MaintenanceChanged:
			windows[e.Maintenance.ID] = e.Maintenance
		case IncidentOpened:
			lc[e.Incident.ID] = Triggered
		case TimelineAppended:
			switch en := e.Entry; en.Kind {
			case "acknowledged", "snoozed", "retriggered", "resolved":
				if en.From == string(Triggered) && en.To == string(Acknowledged) {
					acker[e.Incident] = en.Actor
				}
				lc[e.Incident] = Lifecycle(en.To)
			}
		}
		// Effect keys are unique across the run.
		k, d := e.Key(), describe(e)
		if old, dup := c.keys[k]; dup {
			fail("effect key %q reused: %s, then %s", k, old, d)
		}
		c.keys[k] = d

		switch e := e.(type) {
		case IncidentOpened:
			for _, cid := range e.Incident.Components {
				if inMaint(cid) {
					fail("incident %s opened for %s under maintenance", e.Incident.ID, cid)
				}
			}
		case ComponentJoined:
			if inMaint(e.Component) {
				fail("%s joined %s under maintenance", e.Component, e.Incident)
			}
		case Notify:
			if ri, ok := resolvedAt[e.Incident]; ok && ri < i {
				fail("notify %s after the incident resolved", e.IdemKey)
			}
			inc, open := next.Incidents[e.Incident]
			if !open {
				for _, r := range effs {
					if r, ok := r.(IncidentResolved); ok && r.Incident.ID == e.Incident {
						inc, open = r.Incident, true
					}
				}
			}
			if !open {
				fail("notify %s for an incident that is not open", e.IdemKey)
			}
			// Nothing pages inside maintenance.
			if len(inc.Components) > 0 && !slices.ContainsFunc(inc.Components, func(cid string) bool {
				_, known := next.Components[cid]
				_, knew := prev.Components[cid]
				return (known || knew) && !inMaint(cid)
			}) && !slices.ContainsFunc(inc.Alerts, func(fp string) bool {
				// A firing alert of no known component pages on its own
				// (judged before or after the event: timers fire on both sides).
				for _, st := range []State{prev, next} {
					a := st.Alerts[fp]
					if _, known := st.Components[a.Component]; a.Firing && !known {
						return true
					}
				}
				return false
			}) {
				fail("notify %s while all of %v are under maintenance", e.IdemKey, inc.Components)
			}
			// After an acknowledgement: only the ack-timeout reminder to the
			// acknowledger, until the incident re-triggers.
			if lc[e.Incident] == Acknowledged {
				want := []Recipient{{Kind: TargetUser, ID: acker[e.Incident]}}
				if e.Reason != ReasonAckTimeout || !reflect.DeepEqual(e.Recipients, want) {
					fail("notify %s (%s to %v) for incident acknowledged by %s", e.IdemKey, e.Reason, e.Recipients, acker[e.Incident])
				}
			} else if e.Reason == ReasonAckTimeout {
				fail("ack-timeout notify %s for an incident %s", e.IdemKey, lc[e.Incident])
			}
		}
	}
}

func TestPropertiesRandomSequences(t *testing.T) {
	seeds, steps := 100, 300
	if testing.Short() {
		seeds = 10
	}
	for seed := range seeds {
		r := rand.New(rand.NewSource(int64(seed)))
		g := &gen{r: r, now: t0}
		cfg := testConfig()
		g.randomPolicy(&cfg)
		s := New("acme", cfg)
		c := &checker{t: t, keys: map[string]string{}}
		for i := range steps {
			g.advance()
			ev := g.event(s)
			var before State
			if i%4 == 0 {
				before = s.Clone()
			}
			next, effs := Step(s, ev, g.now)
			if i%4 == 0 {
				if !reflect.DeepEqual(s, before) {
					t.Fatalf("seed %d: Step(%T) modified its input", seed, ev)
				}
				// Deterministic.
				again, effs2 := Step(s, ev, g.now)
				if !reflect.DeepEqual(next, again) || !reflect.DeepEqual(effs, effs2) {
					t.Fatalf("seed %d: Step(%T) is not deterministic", seed, ev)
				}
				// A sibling stepped from the same parent does not disturb it.
				snap := next.Clone()
				Step(s, g.event(s), g.now.Add(time.Minute))
				if !reflect.DeepEqual(next, snap) {
					t.Fatalf("seed %d: stepping a sibling changed the result of %T", seed, ev)
				}
			}
			c.step(s, ev, g.now, next, effs)
			// Idempotent: the same event again at the same time changes nothing.
			twice, effs3 := Step(next, ev, g.now)
			if len(effs3) > 0 || !reflect.DeepEqual(twice, next) {
				t.Fatalf("seed %d: %T%+v applied twice: effects %v", seed, ev, ev, describeAll(effs3))
			}
			s = next
		}
	}
}

// TestApplyMatchesStep: the in-place Apply gives what Step gives.
func TestApplyMatchesStep(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	g := &gen{r: r, now: t0}
	s := New("acme", testConfig())
	inPlace := s.Clone()
	for range 2000 {
		g.advance()
		ev := g.event(s)
		var effs []Effect
		s, effs = Step(s, ev, g.now)
		effs2 := inPlace.Apply(ev, g.now)
		if !reflect.DeepEqual(s, inPlace) || !reflect.DeepEqual(effs, effs2) {
			t.Fatalf("Apply(%T) differs from Step", ev)
		}
	}
}

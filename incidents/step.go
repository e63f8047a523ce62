package incidents

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Step applies ev at now to s and returns the new state and the effects, in
// the order they happened. It is deterministic and never modifies s or
// anything reachable from it: each map is copied on its first write and
// nested slices are never written in place, so the new State may share the
// maps it did not change with s. Treat States from Step as immutable values
// (Clone gives a private deep copy). Time comes only from now; every event,
// Tick included, fires the timers due at now both before and after the
// event itself.
func Step(s State, ev Event, now time.Time) (State, []Effect) {
	// s is a shallow copy; its maps are shared with the caller's State
	// until the machine first writes to each (copy-on-write), and nested
	// slices are never written in place.
	m := &machine{s: &s, now: now, cow: true}
	return s, m.apply(ev)
}

// Apply is Step in place: it modifies s instead of copying maps, for hot
// paths where a failed persist can reload the state. The caller must own s
// exclusively: a State from New or Clone, never one that shares maps with
// another State (such as a Step result and its input).
func (s *State) Apply(ev Event, now time.Time) []Effect {
	m := &machine{s: s, now: now}
	return m.apply(ev)
}

func (m *machine) apply(ev Event) []Effect {
	m.s.init()
	// Timers due at now fire before the event, so the event meets the
	// state as it stands at now (a window that starts at now has started, a
	// snooze that ends at now has ended), and again after it for what the
	// event made due.
	m.timers()
	switch e := ev.(type) {
	case Configure:
		m.configure(e.Config)
	case ProbeResult:
		m.probeResult(e)
	case Tick:
	case Acknowledge:
		m.acknowledge(e)
	case Resolve:
		m.resolveEvent(e)
	case Snooze:
		m.snooze(e)
	case AddNote:
		m.addNote(e)
	case PublicUpdate:
		m.publicUpdate(e)
	case SetImpact:
		m.setImpact(e)
	case ComponentOverride:
		m.override(e)
	case MaintenanceSchedule:
		m.maintenanceSchedule(e)
	case MaintenanceCancel:
		m.maintenanceCancel(e)
	case MaintenanceAdvance:
		m.maintenanceAdvance(e)
	case ExternalAlert:
		m.externalAlert(e)
	}
	m.timers()
	m.flushUpdates()
	return m.effs
}

func (s *State) init() {
	if s.Components == nil {
		s.Components = map[string]Component{}
	}
	if s.Probes == nil {
		s.Probes = map[string]Probe{}
	}
	if s.Escalations == nil {
		s.Escalations = map[string]EscalationPolicy{}
	}
	if s.Schedules == nil {
		s.Schedules = map[string]Schedule{}
	}
	if s.Incidents == nil {
		s.Incidents = map[string]Incident{}
	}
	if s.Maintenances == nil {
		s.Maintenances = map[string]Maintenance{}
	}
	if s.Alerts == nil {
		s.Alerts = map[string]Alert{}
	}
}

// New returns the state of an organization configured with cfg, everything
// operational.
func New(org string, cfg Config) State {
	s := State{Org: org}
	s.Apply(Configure{Config: cfg}, time.Time{})
	return s
}

// machine is one Apply in progress.
type machine struct {
	s     *State
	now   time.Time
	effs  []Effect
	dirty map[string]bool // incidents needing an IncidentUpdated
	// cow: the State's maps are shared with the caller's until owned.
	cow   bool
	owned uint8
}

// The maps of a State, for copy-on-write.
const (
	ownComponents uint8 = 1 << iota
	ownProbes
	ownIncidents
	ownMaintenances
	ownAlerts
)

// own makes the machine's State hold its own copy of a map before a write.
func (m *machine) own(which uint8) {
	if !m.cow || m.owned&which != 0 {
		return
	}
	m.owned |= which
	s := m.s
	switch which {
	case ownComponents:
		s.Components = maps.Clone(s.Components)
	case ownProbes:
		s.Probes = maps.Clone(s.Probes)
	case ownIncidents:
		s.Incidents = maps.Clone(s.Incidents)
	case ownMaintenances:
		s.Maintenances = maps.Clone(s.Maintenances)
	case ownAlerts:
		s.Alerts = maps.Clone(s.Alerts)
	}
}

func (m *machine) putComponent(id string, c Component) {
	m.own(ownComponents)
	m.s.Components[id] = c
}

func (m *machine) putProbe(id string, p Probe) {
	m.own(ownProbes)
	m.s.Probes[id] = p
}

func (m *machine) putIncident(inc Incident) {
	m.own(ownIncidents)
	m.s.Incidents[inc.ID] = inc
}

// putMaintenance stores a changed window under its next revision and
// returns it as stored.
func (m *machine) putMaintenance(w Maintenance) Maintenance {
	m.own(ownMaintenances)
	w.Rev = m.s.Maintenances[w.ID].Rev + 1
	m.s.Maintenances[w.ID] = w
	return w
}

func (m *machine) putAlert(fp string, a Alert) {
	m.own(ownAlerts)
	m.s.Alerts[fp] = a
}

func (m *machine) emit(e Effect) { m.effs = append(m.effs, e) }

func (m *machine) markDirty(id string) {
	if m.dirty == nil {
		m.dirty = map[string]bool{}
	}
	m.dirty[id] = true
}

func (m *machine) flushUpdates() {
	ids := make([]string, 0, len(m.dirty))
	for id := range m.dirty {
		ids = append(ids, id)
	}
	m.s.sortIncidentIDs(ids)
	for _, id := range ids {
		inc, ok := m.s.Incidents[id]
		if !ok {
			continue
		}
		inc.Rev++
		m.putIncident(inc)
		m.emit(IncidentUpdated{Incident: inc.snapshot()})
	}
}

// sortIncidentIDs orders ids by incident number, then id.
func (s *State) sortIncidentIDs(ids []string) {
	sort.Slice(ids, func(i, j int) bool {
		a, b := s.Incidents[ids[i]].Number, s.Incidents[ids[j]].Number
		if a != b {
			return a < b
		}
		return ids[i] < ids[j]
	})
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// entry appends to inc's timeline and emits it.
func (m *machine) entry(inc *Incident, e Entry) {
	e.Seq = len(inc.Timeline) + 1
	e.At = m.now
	inc.Timeline = append(slices.Clip(inc.Timeline), e)
	m.emit(TimelineAppended{Incident: inc.ID, Entry: e})
}

// seen reports whether the human event id was already applied to inc.
func seen(inc Incident, id string) bool {
	if id == "" {
		return false
	}
	for _, e := range inc.Timeline {
		if e.EventID == id {
			return true
		}
	}
	return false
}

// ---- configuration ----

func (m *machine) configure(cfg Config) {
	s := m.s
	s.Policy = cfg.Policy
	s.Escalations = make(map[string]EscalationPolicy, len(cfg.Escalations))
	for _, e := range cfg.Escalations {
		if e.ID != "" {
			s.Escalations[e.ID] = e
		}
	}
	s.Schedules = make(map[string]Schedule, len(cfg.Schedules))
	for _, sc := range cfg.Schedules {
		if sc.ID != "" {
			s.Schedules[sc.ID] = sc
		}
	}
	comps := make(map[string]Component, len(cfg.Components))
	for _, cc := range cfg.Components {
		if cc.ID == "" {
			continue
		}
		c, ok := s.Components[cc.ID]
		if !ok {
			c = Component{Status: Operational}
			for _, inc := range s.Incidents { // re-added while an incident lists it
				if slices.Contains(inc.Components, cc.ID) {
					c.Incident = inc.ID
				}
			}
		}
		cc.DependsOn = slices.Clone(cc.DependsOn)
		c.ComponentConfig = cc
		c.Probes = nil
		comps[cc.ID] = c
	}
	probes := make(map[string]Probe, len(cfg.Probes))
	for _, pc := range cfg.Probes {
		c, ok := comps[pc.Component]
		if pc.ID == "" || !ok {
			continue
		}
		if _, dup := probes[pc.ID]; dup {
			continue
		}
		p := s.Probes[pc.ID]
		p.ProbeConfig = pc
		p.Verdict = p.verdict()
		probes[pc.ID] = p
		c.Probes = append(c.Probes, pc.ID)
		comps[pc.Component] = c
	}
	for id, c := range comps {
		slices.Sort(c.Probes)
		comps[id] = c
	}
	s.Components = comps
	s.Probes = probes
	m.owned |= ownComponents | ownProbes
	// Alerts naming a component that no longer exists stop counting
	// against it; open incidents keep listing removed components.
	for _, id := range sortedKeys(comps) {
		m.refresh(id, "configuration")
	}
}

// ---- probe results ----

func (m *machine) probeResult(e ProbeResult) {
	s := m.s
	if e.Org != "" && s.Org != "" && e.Org != s.Org {
		return
	}
	p, ok := s.Probes[e.Probe]
	if !ok {
		return
	}
	switch e.Outcome {
	case Up, Degraded, Down:
	default:
		return
	}
	i, found := slices.BinarySearchFunc(p.Regions, e.Region, func(r RegionHealth, name string) int {
		return strings.Compare(r.Region, name)
	})
	if found && !e.At.After(p.Regions[i].LastAt) {
		return // duplicate or out of order
	}
	if m.cow {
		p.Regions = slices.Clone(p.Regions) // shared with the caller's state
	}
	if !found {
		p.Regions = slices.Insert(p.Regions, i, RegionHealth{Region: e.Region, Verdict: Up})
	}
	r := &p.Regions[i]
	r.LastAt = e.At
	switch e.Outcome {
	case Down:
		r.Down++
		r.Bad++
		r.Good, r.NotDown = 0, 0
	case Degraded:
		r.Down, r.Good = 0, 0
		r.Bad++
		r.NotDown++
	case Up:
		r.Down, r.Bad = 0, 0
		r.Good++
		r.NotDown++
	}
	ft, st := max(p.FailureThreshold, 1), max(p.SuccessThreshold, 1)
	switch r.Verdict {
	case Down:
		if r.Good >= st {
			r.Verdict = Up
		} else if r.NotDown >= st {
			r.Verdict = Degraded
		}
	case Degraded:
		if r.Down >= ft {
			r.Verdict = Down
		} else if r.Good >= st {
			r.Verdict = Up
		}
	default:
		if r.Down >= ft {
			r.Verdict = Down
		} else if r.Bad >= ft {
			r.Verdict = Degraded
		}
	}
	if e.Error != "" {
		p.LastError = e.Error
	}
	v := p.verdict()
	changed := v != p.Verdict && !(p.Verdict == "" && v == Up)
	p.Verdict = v
	if changed {
		n, w := m.flapSettings(p)
		if n > 0 && w > 0 {
			p.Changes = append(slices.Clip(p.Changes), m.now)
			p.pruneChanges(m.now, n, w)
		}
	}
	m.putProbe(e.Probe, p)
	if changed {
		m.refresh(p.Component, "probe "+p.ID+" "+string(v))
	}
}

// verdict applies the quorum to the region verdicts.
func (p Probe) verdict() Outcome {
	q := max(p.Quorum, 1)
	down, bad := 0, 0
	for _, r := range p.Regions {
		switch r.Verdict {
		case Down:
			down++
			bad++
		case Degraded:
			bad++
		}
	}
	switch {
	case down >= q:
		return Down
	case bad >= q:
		return Degraded
	}
	return Up
}

func (m *machine) flapSettings(p Probe) (int, time.Duration) {
	n, w := p.FlapChanges, p.FlapWindow
	if n == 0 {
		n = m.s.Policy.FlapChanges
	}
	if w == 0 {
		w = m.s.Policy.FlapWindow
	}
	return n, w
}

// pruneChanges drops changes older than the window (keeping at most n+1,
// enough to decide) and sets Flapping.
func (p *Probe) pruneChanges(now time.Time, n int, w time.Duration) {
	cut := now.Add(-w)
	k := 0
	for k < len(p.Changes) && p.Changes[k].Before(cut) {
		k++
	}
	if extra := len(p.Changes) - k - (n + 1); extra > 0 {
		k += extra
	}
	if k > 0 {
		p.Changes = slices.Clone(p.Changes[k:])
	}
	if len(p.Changes) == 0 {
		p.Changes = nil
	}
	p.Flapping = len(p.Changes) > n
}

// probeFlapping refreshes and returns a probe's flapping flag at now.
func (m *machine) probeFlapping(id string) bool {
	p, ok := m.s.Probes[id]
	if !ok {
		return false
	}
	n, w := m.flapSettings(p)
	if n <= 0 || w <= 0 {
		if p.Flapping || p.Changes != nil {
			p.Flapping, p.Changes = false, nil
			m.putProbe(id, p)
		}
		return false
	}
	if len(p.Changes) == 0 && !p.Flapping {
		return false
	}
	p.pruneChanges(m.now, n, w)
	m.putProbe(id, p)
	return p.Flapping
}

func (m *machine) incidentFlapping(inc Incident) bool {
	fl := false
	for _, cid := range inc.Components {
		for _, pid := range m.s.Components[cid].Probes {
			if m.probeFlapping(pid) {
				fl = true
			}
		}
	}
	return fl
}

// ---- components ----

// assess derives a component's status from its probes and alerts, and
// whether that failure pages.
func (m *machine) assess(c Component) (ComponentStatus, bool) {
	st, troubled := Operational, false
	total, down, degraded := 0, 0, 0
	for _, pid := range c.Probes {
		p := m.s.Probes[pid]
		total++
		switch p.Verdict {
		case Down:
			down++
			troubled = true
		case Degraded:
			degraded++
			if p.DegradedPages {
				troubled = true
			}
		}
	}
	switch {
	case down > 0 && down == total:
		st = MajorOutage
	case down > 0:
		st = PartialOutage
	case degraded > 0:
		st = DegradedPerformance
	}
	for _, a := range m.s.Alerts {
		if a.Firing && a.Component == c.ID {
			troubled = true
			st = worse(st, alertStatus(a.Labels))
		}
	}
	return st, troubled
}

// alertStatus maps an alert's severity label to a component status.
func alertStatus(labels map[string]string) ComponentStatus {
	switch strings.ToLower(labels["severity"]) {
	case "critical", "page":
		return MajorOutage
	case "warning", "info":
		return DegradedPerformance
	}
	return PartialOutage
}

func (m *machine) inMaintenance(component string) (string, bool) {
	found := ""
	for id, w := range m.s.Maintenances {
		if w.Status.active() && slices.Contains(w.Components, component) && (found == "" || id < found) {
			found = id
		}
	}
	return found, found != ""
}

// compute returns what a component should show and why ("" when its
// probes and alerts decide), whether its failure pages, and whether it is
// under maintenance. Precedence: human override, maintenance, status declared
// by the incident's public update, probes and alerts.
func (m *machine) compute(c Component) (status ComponentStatus, why string, troubled, maint bool) {
	status, troubled = m.assess(c)
	if inc, ok := m.s.Incidents[c.Incident]; ok {
		if d, ok := inc.Declared[c.ID]; ok {
			status, why = d, "incident "+inc.ID
		}
	}
	mid, maint := m.inMaintenance(c.ID)
	if maint {
		status, why = UnderMaintenance, "maintenance "+mid
	}
	if c.Override != "" {
		status, why = c.Override, "override by "+c.OverrideBy
	}
	return status, why, troubled, maint
}

// refresh recomputes a component's shown status and paging, emitting the
// status change and opening, joining or re-triggering an incident when it
// starts paging.
func (m *machine) refresh(id, cause string) {
	s := m.s
	c, ok := s.Components[id]
	if !ok {
		return
	}
	status, why, troubled, maint := m.compute(c)
	if why == "" {
		why = cause
	}
	if status != c.Status {
		c.Rev++
		m.emit(ComponentStatusChanged{Component: id, From: c.Status, To: status, At: m.now, Cause: why, Rev: c.Rev})
		c.Status = status
	}
	paging := troubled && !maint
	rising := paging && !c.Paging
	c.Troubled, c.Paging = troubled, paging
	m.putComponent(id, c)
	if rising {
		m.componentFailing(id)
	}
}

// componentFailing handles a component starting to page.
func (m *machine) componentFailing(id string) {
	s := m.s
	c := s.Components[id]
	if inc, ok := s.Incidents[c.Incident]; ok {
		m.failingAgain(inc)
		return
	}
	if target := m.groupTarget(c); target != "" {
		inc := s.Incidents[target]
		m.join(&inc, id, "lookout")
		m.putIncident(inc)
		return
	}
	title := fmt.Sprintf("%s: %s", orDefault(c.Name, c.ID), strings.ReplaceAll(string(c.Status), "_", " "))
	m.open(title, []string{id}, nil, orDefault(c.Escalation, s.Policy.Escalation), m.failureActor(c))
}

// failingAgain: something in an open incident started failing again. An
// acknowledged incident that had wholly recovered re-triggers, unless it is
// flapping or snoozed.
func (m *machine) failingAgain(inc Incident) {
	if inc.Lifecycle != Acknowledged || inc.QuietSince.IsZero() || inc.SnoozedUntil.After(m.now) {
		return
	}
	if m.incidentFlapping(inc) {
		return
	}
	m.retrigger(&inc, ReasonRetriggered, "failing again after recovering")
	m.putIncident(inc)
}

func (m *machine) failureActor(c Component) string {
	for _, pid := range c.Probes {
		if p := m.s.Probes[pid]; p.Verdict == Down || p.Verdict == Degraded {
			return "probe:" + pid
		}
	}
	for _, fp := range sortedKeys(m.s.Alerts) {
		if a := m.s.Alerts[fp]; a.Firing && a.Component == c.ID {
			return "alert:" + fp
		}
	}
	return "lookout"
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// related reports whether a failure of a groups with an incident on b.
func related(a, b Component) bool {
	return (a.Group != "" && a.Group == b.Group) ||
		slices.Contains(a.DependsOn, b.ID) || slices.Contains(b.DependsOn, a.ID)
}

// groupTarget returns the open incident c should join, or "".
func (m *machine) groupTarget(c Component) string {
	w := m.s.Policy.GroupingWindow
	if w <= 0 {
		return ""
	}
	best, bestN := "", 0
	for id, inc := range m.s.Incidents {
		if inc.StartedAt.Before(m.now.Add(-w)) {
			continue
		}
		for _, member := range inc.Components {
			mc, ok := m.s.Components[member]
			if ok && related(c, mc) {
				if best == "" || inc.Number < bestN || (inc.Number == bestN && id < best) {
					best, bestN = id, inc.Number
				}
				break
			}
		}
	}
	return best
}

func impactFor(st ComponentStatus) Impact {
	switch st {
	case MajorOutage:
		return ImpactMajor
	case PartialOutage, DegradedPerformance:
		return ImpactMinor
	}
	return ImpactNone
}

func (m *machine) join(inc *Incident, component, actor string) {
	c := m.s.Components[component]
	inc.Components = append(slices.Clip(inc.Components), component)
	c.Incident = inc.ID
	m.putComponent(component, c)
	m.emit(ComponentJoined{Incident: inc.ID, Component: component, At: m.now})
	m.entry(inc, Entry{Actor: actor, Kind: "joined", To: component, Body: orDefault(c.Name, c.ID) + " joined: " + string(c.Status)})
	if !inc.ImpactSet {
		if imp := impactFor(c.Status); imp.rank() > inc.Impact.rank() {
			inc.Impact = imp
		}
	}
	m.markDirty(inc.ID)
}

// incidentID is the id of organization org's incident number n: ORG-N
// ("N" without an organization).
func incidentID(org string, n int) string {
	if org == "" {
		return strconv.Itoa(n)
	}
	return org + "-" + strconv.Itoa(n)
}

// IncidentOrg returns the organization an incident id names (ids are
// ORG-N, the number last: organization ids may hold dashes, numbers not);
// ok is false for an id of any other shape.
func IncidentOrg(id string) (org string, ok bool) {
	i := strings.LastIndexByte(id, '-')
	if i <= 0 || i == len(id)-1 {
		return "", false
	}
	for _, c := range id[i+1:] {
		if c < '0' || c > '9' {
			return "", false
		}
	}
	return id[:i], true
}

// open creates an incident over components and alerts and starts paging.
func (m *machine) open(title string, components, alerts []string, policy, actor string) Incident {
	s := m.s
	var id string
	for {
		s.NextIncident++
		id = incidentID(s.Org, s.NextIncident)
		if _, taken := s.Incidents[id]; !taken {
			break
		}
	}
	inc := Incident{
		ID:         id,
		Number:     s.NextIncident,
		Title:      title,
		Components: components,
		Alerts:     alerts,
		Lifecycle:  Triggered,
		Public:     Investigating,
		Published:  s.Policy.PublishAutomatically,
		Impact:     ImpactNone,
		StartedAt:  m.now,
		Escalation: Escalation{Policy: policy},
	}
	body := title
	for _, cid := range components {
		c := s.Components[cid]
		c.Incident = id
		m.putComponent(cid, c)
		if imp := impactFor(c.Status); imp.rank() > inc.Impact.rank() {
			inc.Impact = imp
		}
		for _, pid := range c.Probes {
			if p := s.Probes[pid]; p.Verdict != Up && p.LastError != "" {
				body += " (" + p.LastError + ")"
				break
			}
		}
	}
	if len(components) == 0 {
		inc.Impact = ImpactMinor
	}
	inc.Flapping = m.incidentFlapping(inc)
	m.emit(IncidentOpened{Incident: inc.snapshot()})
	m.entry(&inc, Entry{Actor: actor, Kind: "opened", To: string(Triggered), Body: body})
	m.startEscalation(&inc, ReasonTriggered)
	m.putIncident(inc)
	return inc
}

// ---- escalation ----

// startEscalation starts (or restarts) paging at the first level.
func (m *machine) startEscalation(inc *Incident, reason NotifyReason) {
	e := &inc.Escalation
	e.Level, e.Repeat, e.Done, e.NextAt = 0, 0, false, time.Time{}
	pol, ok := m.s.Escalations[e.Policy]
	if !ok || len(pol.Levels) == 0 {
		e.Done = true
		return
	}
	if m.suppressed(*inc) {
		e.NextAt = m.now // fires once no longer suppressed
		return
	}
	m.fire(inc, reason)
}

// fire notifies the current level and moves to the next one.
func (m *machine) fire(inc *Incident, reason NotifyReason) {
	e := &inc.Escalation
	pol, ok := m.s.Escalations[e.Policy]
	if !ok || e.Level < 0 || e.Level >= len(pol.Levels) {
		e.Done, e.NextAt = true, time.Time{}
		return
	}
	level := pol.Levels[e.Level]
	m.emit(Notify{
		Incident:   inc.ID,
		Level:      e.Level,
		Repeat:     e.Repeat,
		Recipients: m.recipients(level.Targets),
		Reason:     reason,
		Title:      inc.Title,
		IdemKey:    fmt.Sprintf("%s/notify/g%d/l%d/r%d", inc.ID, e.Gen, e.Level, e.Repeat),
	})
	e.NextAt = m.now.Add(max(level.Wait, 0))
	e.Level++
	if e.Level >= len(pol.Levels) {
		if e.Repeat < pol.Repeats {
			e.Repeat++
			e.Level = 0
		} else {
			e.Done, e.NextAt = true, time.Time{}
		}
	}
}

// recipients resolves targets at now: schedules to whoever is on call.
func (m *machine) recipients(targets []Target) []Recipient {
	var out []Recipient
	add := func(r Recipient) {
		for _, x := range out {
			if x.Kind == r.Kind && x.ID == r.ID {
				return
			}
		}
		out = append(out, r)
	}
	for _, t := range targets {
		switch t.Kind {
		case TargetUser:
			add(Recipient{Kind: TargetUser, ID: t.ID})
		case TargetChannel:
			add(Recipient{Kind: TargetChannel, ID: t.ID})
		case TargetSchedule:
			if sc, ok := m.s.Schedules[t.ID]; ok {
				for _, u := range sc.OnCall(m.now) {
					add(Recipient{Kind: TargetUser, ID: u, Via: t.ID})
				}
			}
		}
	}
	return out
}

// suppressed reports whether every source of the incident is under
// maintenance: then nothing about it pages.
func (m *machine) suppressed(inc Incident) bool {
	if len(inc.Components) == 0 {
		return false
	}
	for _, fp := range inc.Alerts {
		if a, ok := m.s.Alerts[fp]; ok && a.Firing {
			if _, known := m.s.Components[a.Component]; !known {
				return false
			}
		}
	}
	for _, cid := range inc.Components {
		if _, in := m.inMaintenance(cid); !in {
			if _, known := m.s.Components[cid]; known {
				return false
			}
		}
	}
	return true
}

// troubled reports whether anything in the incident is failing.
func (m *machine) troubled(inc Incident) bool {
	for _, cid := range inc.Components {
		if c, ok := m.s.Components[cid]; ok && c.Troubled {
			return true
		}
	}
	for _, fp := range inc.Alerts {
		if a, ok := m.s.Alerts[fp]; ok && a.Firing {
			return true
		}
	}
	return false
}

func (m *machine) retrigger(inc *Incident, reason NotifyReason, why string) {
	from := inc.Lifecycle
	inc.Lifecycle = Triggered
	inc.AckedAt, inc.AckedBy = time.Time{}, ""
	inc.AckNotifyAt, inc.AckNotified = time.Time{}, 0
	inc.SnoozedUntil = time.Time{}
	inc.Escalation.Gen++
	m.entry(inc, Entry{Actor: "lookout", Kind: "retriggered", From: string(from), To: string(Triggered), Body: why})
	m.markDirty(inc.ID)
	m.startEscalation(inc, reason)
}

// ---- timers ----

func (m *machine) timers() {
	m.maintenanceTimers()
	m.incidentTimers()
}

func (m *machine) maintenanceTimers() {
	s := m.s
	for _, id := range sortedKeys(s.Maintenances) {
		w := s.Maintenances[id]
		if w.Status == MaintenanceScheduled && !m.now.Before(w.Start) {
			m.moveMaintenance(w, MaintenanceInProgress, "lookout")
			w = s.Maintenances[id]
		}
		// A clock that jumped past the whole window starts and ends it.
		if w.Status.active() && !m.now.Before(w.End) {
			m.moveMaintenance(w, MaintenanceCompleted, "lookout")
			w = s.Maintenances[id]
		}
		if w.Status.final() && m.now.After(w.End.Add(keepFinished)) {
			m.own(ownMaintenances)
			delete(s.Maintenances, id)
		}
	}
}

func (m *machine) incidentTimers() {
	s := m.s
	for fp, a := range s.Alerts {
		if !a.Firing && m.now.After(a.ResolvedAt.Add(keepFinished)) {
			m.own(ownAlerts)
			delete(s.Alerts, fp)
		}
	}
	ids := make([]string, 0, len(s.Incidents))
	for id := range s.Incidents {
		ids = append(ids, id)
	}
	s.sortIncidentIDs(ids)
	for _, id := range ids {
		if inc, ok := s.Incidents[id]; ok {
			m.tickIncident(inc)
		}
	}
}

// keepFinished is how long finished maintenances and resolved alerts stay
// in the state to recognise duplicate events.
const keepFinished = 24 * time.Hour

func (m *machine) tickIncident(inc Incident) {
	s := m.s
	if fl := m.incidentFlapping(inc); fl != inc.Flapping {
		inc.Flapping = fl
		kind, body := "stable", "no longer flapping"
		if fl {
			kind, body = "flapping", "flapping: kept open until stable"
		}
		m.entry(&inc, Entry{Actor: "lookout", Kind: kind, Body: body})
		m.markDirty(inc.ID)
	}
	troubled := m.troubled(inc)
	switch {
	case troubled:
		inc.QuietSince = time.Time{}
	case inc.QuietSince.IsZero():
		inc.QuietSince = m.now
	}
	if !troubled && s.Policy.AutoResolve && !inc.Flapping && !m.now.Before(inc.QuietSince.Add(s.Policy.QuietPeriod)) {
		body := fmt.Sprintf("auto-resolved: healthy for %s", s.Policy.QuietPeriod)
		m.resolve(&inc, "lookout", body, "")
		return
	}
	if !inc.SnoozedUntil.IsZero() && !m.now.Before(inc.SnoozedUntil) {
		inc.SnoozedUntil = time.Time{}
		m.entry(&inc, Entry{Actor: "lookout", Kind: "snooze_ended"})
		if troubled {
			m.retrigger(&inc, ReasonSnoozeExpired, "snooze ended and still failing")
		} else if s.Policy.AckTimeout > 0 {
			inc.AckNotifyAt = m.now.Add(s.Policy.AckTimeout)
		}
	}
	live := troubled && !m.suppressed(inc)
	e := inc.Escalation
	if inc.Lifecycle == Triggered && live && !e.Done && !e.NextAt.IsZero() && !m.now.Before(e.NextAt) {
		reason := ReasonEscalated
		if e.Level == 0 && e.Repeat == 0 {
			reason = ReasonTriggered // the first level was held back by maintenance
			if e.Gen > 0 {
				reason = ReasonRetriggered
			}
		}
		m.fire(&inc, reason)
	}
	if inc.Lifecycle == Acknowledged && live && inc.SnoozedUntil.IsZero() && s.Policy.AckTimeout > 0 &&
		!inc.AckNotifyAt.IsZero() && !m.now.Before(inc.AckNotifyAt) {
		inc.AckNotified++
		if inc.AckedBy != "" {
			m.emit(Notify{
				Incident:   inc.ID,
				Recipients: []Recipient{{Kind: TargetUser, ID: inc.AckedBy}},
				Reason:     ReasonAckTimeout,
				Title:      inc.Title,
				IdemKey:    fmt.Sprintf("%s/ack-timeout/g%d/%d", inc.ID, inc.Escalation.Gen, inc.AckNotified),
			})
		}
		inc.AckNotifyAt = m.now.Add(s.Policy.AckTimeout)
	}
	m.putIncident(inc)
}

// ---- resolution ----

func (m *machine) resolve(inc *Incident, actor, body, eventID string) {
	s := m.s
	from := inc.Lifecycle
	inc.Lifecycle = Resolved
	inc.Public = PublicResolved
	inc.EndedAt = m.now
	if inc.EndedAt.Before(inc.StartedAt) {
		inc.EndedAt = inc.StartedAt
	}
	inc.Escalation.Done, inc.Escalation.NextAt = true, time.Time{}
	inc.AckNotifyAt, inc.SnoozedUntil = time.Time{}, time.Time{}
	m.entry(inc, Entry{Actor: actor, Kind: "resolved", From: string(from), To: string(Resolved), Body: body, EventID: eventID})
	m.own(ownIncidents)
	delete(s.Incidents, inc.ID)
	delete(m.dirty, inc.ID)
	for fp, a := range s.Alerts {
		if a.Incident == inc.ID {
			a.Incident = ""
			m.putAlert(fp, a)
		}
	}
	for _, cid := range inc.Components {
		if c, ok := s.Components[cid]; ok && c.Incident == inc.ID {
			c.Incident = ""
			m.putComponent(cid, c)
			m.refresh(cid, "incident "+inc.ID+" resolved")
		}
	}
	m.emit(IncidentResolved{Incident: inc.clone()})
}

// ---- human actions ----

// openIncident returns the open incident an event names, unless the event
// was already applied.
func (m *machine) openIncident(id, eventID string) (Incident, bool) {
	inc, ok := m.s.Incidents[id]
	if !ok || seen(inc, eventID) {
		return Incident{}, false
	}
	return inc, true
}

func (m *machine) acknowledge(e Acknowledge) {
	inc, ok := m.openIncident(e.Incident, e.ID)
	if !ok || inc.Lifecycle != Triggered {
		return
	}
	inc.Lifecycle = Acknowledged
	inc.AckedAt, inc.AckedBy = m.now, e.Actor
	inc.AckNotified = 0
	inc.AckNotifyAt = time.Time{}
	if m.s.Policy.AckTimeout > 0 {
		inc.AckNotifyAt = m.now.Add(m.s.Policy.AckTimeout)
	}
	m.entry(&inc, Entry{Actor: e.Actor, Kind: "acknowledged", From: string(Triggered), To: string(Acknowledged), EventID: e.ID})
	m.markDirty(inc.ID)
	m.putIncident(inc)
}

func (m *machine) resolveEvent(e Resolve) {
	inc, ok := m.openIncident(e.Incident, e.ID)
	if !ok {
		return
	}
	m.resolve(&inc, e.Actor, e.Body, e.ID)
}

func (m *machine) snooze(e Snooze) {
	inc, ok := m.openIncident(e.Incident, e.ID)
	if !ok || e.For <= 0 {
		return
	}
	from := inc.Lifecycle
	if inc.Lifecycle == Triggered {
		inc.Lifecycle = Acknowledged
		inc.AckedAt, inc.AckedBy = m.now, e.Actor
		inc.AckNotified = 0
	}
	inc.SnoozedUntil = m.now.Add(e.For)
	inc.AckNotifyAt = time.Time{}
	m.entry(&inc, Entry{Actor: e.Actor, Kind: "snoozed", From: string(from), To: string(inc.Lifecycle),
		Body: "snoozed for " + e.For.String(), EventID: e.ID})
	m.markDirty(inc.ID)
	m.putIncident(inc)
}

func (m *machine) addNote(e AddNote) {
	inc, ok := m.openIncident(e.Incident, e.ID)
	if !ok || e.Body == "" {
		return
	}
	m.entry(&inc, Entry{Actor: e.Actor, Kind: "note", Body: e.Body, EventID: e.ID})
	m.putIncident(inc)
}

func (m *machine) publicUpdate(e PublicUpdate) {
	s := m.s
	inc, ok := m.openIncident(e.Incident, e.ID)
	if !ok || (e.Status != "" && !e.Status.Valid()) {
		return
	}
	if e.Status == PublicResolved {
		inc.Published = true
		m.resolve(&inc, e.Actor, e.Body, e.ID)
		return
	}
	from := inc.Public
	if e.Status != "" {
		inc.Public = e.Status
	}
	inc.Published = true
	var touched []string
	for _, cid := range sortedKeys(e.ComponentStatuses) {
		st := e.ComponentStatuses[cid]
		c, known := s.Components[cid]
		if !known || !st.Valid() || st == UnderMaintenance {
			continue
		}
		if _, in := m.inMaintenance(cid); in {
			continue // shows under_maintenance; nothing opens or joins for it
		}
		if c.Incident != inc.ID {
			if c.Incident != "" {
				continue // covered by another incident
			}
			m.join(&inc, cid, e.Actor)
		}
		if len(touched) == 0 {
			inc.Declared = maps.Clone(inc.Declared) // shared with the caller's state
			if inc.Declared == nil {
				inc.Declared = map[string]ComponentStatus{}
			}
		}
		inc.Declared[cid] = st
		touched = append(touched, cid)
	}
	m.entry(&inc, Entry{Actor: e.Actor, Kind: "update", From: string(from), To: string(inc.Public), Body: e.Body, EventID: e.ID})
	m.markDirty(inc.ID)
	m.putIncident(inc)
	for _, cid := range touched {
		m.refresh(cid, "incident "+inc.ID)
	}
}

func (m *machine) setImpact(e SetImpact) {
	inc, ok := m.openIncident(e.Incident, e.ID)
	if !ok || !e.Impact.Valid() || (inc.ImpactSet && inc.Impact == e.Impact) {
		return
	}
	from := inc.Impact
	inc.Impact, inc.ImpactSet = e.Impact, true
	m.entry(&inc, Entry{Actor: e.Actor, Kind: "impact", From: string(from), To: string(e.Impact), EventID: e.ID})
	m.markDirty(inc.ID)
	m.putIncident(inc)
}

func (m *machine) override(e ComponentOverride) {
	c, ok := m.s.Components[e.Component]
	if !ok || (e.Status != "" && !e.Status.Valid()) || c.Override == e.Status {
		return
	}
	c.Override, c.OverrideBy = e.Status, e.Actor
	m.putComponent(e.Component, c)
	m.refresh(e.Component, "override cleared by "+e.Actor)
}

// ---- maintenance ----

func (m *machine) maintenanceSchedule(e MaintenanceSchedule) {
	s := m.s
	if e.ID == "" || !e.End.After(e.Start) || !e.End.After(m.now) {
		return
	}
	comps := slices.Clone(e.Components)
	slices.Sort(comps)
	comps = slices.Compact(comps)
	w := Maintenance{ID: e.ID, Title: e.Title, Components: comps, Start: e.Start, End: e.End, Status: MaintenanceScheduled}
	old, ok := s.Maintenances[e.ID]
	if ok {
		if old.Status.final() {
			return
		}
		if old.Status.active() {
			// A running window keeps its start and status; its end,
			// title and components may change.
			w.Start, w.Status = old.Start, old.Status
		}
		if old.Title == w.Title && old.Start.Equal(w.Start) && old.End.Equal(w.End) && slices.Equal(old.Components, w.Components) {
			return
		}
	}
	w = m.putMaintenance(w)
	m.emit(MaintenanceChanged{Maintenance: w, Actor: e.Actor})
	if ok && old.Status.active() {
		// Components that left or joined a running window show their
		// real status, or under_maintenance, at once.
		for _, cid := range mergedSorted(old.Components, w.Components) {
			if slices.Contains(old.Components, cid) != slices.Contains(w.Components, cid) {
				m.refresh(cid, "maintenance "+w.ID+" changed")
			}
		}
	}
}

// mergedSorted returns the sorted union of a and b.
func mergedSorted(a, b []string) []string {
	out := append(slices.Clone(a), b...)
	slices.Sort(out)
	return slices.Compact(out)
}

func (m *machine) maintenanceCancel(e MaintenanceCancel) {
	w, ok := m.s.Maintenances[e.ID]
	if !ok || w.Status.final() {
		return
	}
	m.moveMaintenance(w, MaintenanceCancelled, e.Actor)
}

func (m *machine) maintenanceAdvance(e MaintenanceAdvance) {
	w, ok := m.s.Maintenances[e.ID]
	if !ok || e.To == MaintenanceCancelled || e.To.rank() <= w.Status.rank() {
		return
	}
	m.moveMaintenance(w, e.To, e.Actor)
}

func (m *machine) moveMaintenance(w Maintenance, to MaintenanceStatus, actor string) {
	was := w.Status.active()
	w.Status = to
	w = m.putMaintenance(w)
	m.emit(MaintenanceChanged{Maintenance: w, Actor: actor})
	if was != to.active() {
		for _, cid := range w.Components {
			m.refresh(cid, "maintenance "+w.ID+" "+string(to))
		}
	}
}

// ---- external alerts ----

func (m *machine) externalAlert(e ExternalAlert) {
	s := m.s
	if e.Fingerprint == "" || (e.Status != AlertFiring && e.Status != AlertResolved) {
		return
	}
	rec, exists := s.Alerts[e.Fingerprint]
	if exists {
		switch {
		case e.StartsAt.Before(rec.StartsAt):
			return // stale
		case e.StartsAt.Equal(rec.StartsAt):
			if e.Status == AlertFiring || !rec.Firing {
				return // duplicate, or a late firing after this occurrence resolved
			}
		}
	}
	wasFiring := exists && rec.Firing
	oldComponent := rec.Component
	rec = Alert{Fingerprint: e.Fingerprint, Labels: maps.Clone(e.Labels), Component: e.Component, Summary: e.Summary,
		StartsAt: e.StartsAt, Firing: e.Status == AlertFiring, Incident: rec.Incident}
	if _, known := s.Components[rec.Component]; !known {
		rec.Component = ""
	}
	if !rec.Firing {
		rec.ResolvedAt = m.now
	}
	if _, open := s.Incidents[rec.Incident]; !open {
		rec.Incident = ""
	}
	m.putAlert(e.Fingerprint, rec)
	if oldComponent != "" && oldComponent != rec.Component {
		m.refresh(oldComponent, "alert "+e.Fingerprint)
	}
	if rec.Component != "" {
		m.refresh(rec.Component, "alert "+e.Fingerprint+" "+string(e.Status))
		if rec.Firing {
			c := s.Components[rec.Component]
			if inc, ok := s.Incidents[c.Incident]; ok {
				rec.Incident = inc.ID
				m.putAlert(e.Fingerprint, rec)
				if !slices.Contains(inc.Alerts, e.Fingerprint) {
					inc.Alerts = append(slices.Clip(inc.Alerts), e.Fingerprint)
					m.markDirty(inc.ID)
					m.putIncident(inc)
				}
			}
		}
		return
	}
	if !rec.Firing || wasFiring {
		return
	}
	if inc, ok := s.Incidents[rec.Incident]; ok {
		m.failingAgain(inc)
		return
	}
	title := e.Summary
	if title == "" {
		title = orDefault(e.Labels["alertname"], "alert "+e.Fingerprint)
	}
	inc := m.open(title, nil, []string{e.Fingerprint}, s.Policy.Escalation, "alert:"+e.Fingerprint)
	rec.Incident = inc.ID
	m.putAlert(e.Fingerprint, rec)
}

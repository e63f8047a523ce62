// Package incidents is Lookout's pure core: probe results, external alerts,
// human actions and the passing of time go in as events; the new state and a
// list of effects (open an incident, page level N, change a component's
// status, resolve) come out.
//
//	s2, effects := incidents.Step(s, ev, now)
//
// Nothing here does I/O, logs, reads the clock or starts a goroutine: the
// imperative shell loads a State, calls Step, persists the new State and the
// effects in one transaction and delivers the effects through an outbox.
//
// One State holds one organization. The shell routes each event to its
// organization's State (a ProbeResult naming another organization is
// ignored). Incident ids are "<org>-<n>" from a counter in the State, so they
// are deterministic and unique across organizations.
package incidents

import "time"

// ComponentStatus is what the status page shows for a component, as
// Statuspage names it.
type ComponentStatus string

// The component statuses, from best to worst (maintenance aside).
const (
	Operational         ComponentStatus = "operational"
	DegradedPerformance ComponentStatus = "degraded_performance"
	PartialOutage       ComponentStatus = "partial_outage"
	MajorOutage         ComponentStatus = "major_outage"
	UnderMaintenance    ComponentStatus = "under_maintenance"
)

// Valid reports whether c is one of the five statuses.
func (c ComponentStatus) Valid() bool {
	switch c {
	case Operational, DegradedPerformance, PartialOutage, MajorOutage, UnderMaintenance:
		return true
	}
	return false
}

// severity orders the outage statuses; under_maintenance sorts last.
func (c ComponentStatus) severity() int {
	switch c {
	case DegradedPerformance:
		return 1
	case PartialOutage:
		return 2
	case MajorOutage:
		return 3
	case UnderMaintenance:
		return 4
	}
	return 0
}

func worse(a, b ComponentStatus) ComponentStatus {
	if b.severity() > a.severity() {
		return b
	}
	return a
}

// Outcome is a probe result's verdict (the same strings as probes.Outcome).
type Outcome string

// The outcomes.
const (
	Up       Outcome = "up"
	Degraded Outcome = "degraded"
	Down     Outcome = "down"
)

// Lifecycle is an incident's internal state.
type Lifecycle string

// The lifecycle states.
const (
	Triggered    Lifecycle = "triggered"
	Acknowledged Lifecycle = "acknowledged"
	Resolved     Lifecycle = "resolved"
)

// PublicStatus is the incident status visitors see.
type PublicStatus string

// The public statuses.
const (
	Investigating  PublicStatus = "investigating"
	Identified     PublicStatus = "identified"
	Monitoring     PublicStatus = "monitoring"
	PublicResolved PublicStatus = "resolved"
)

// Valid reports whether p is one of the four public statuses.
func (p PublicStatus) Valid() bool {
	switch p {
	case Investigating, Identified, Monitoring, PublicResolved:
		return true
	}
	return false
}

// Impact is how bad an incident is.
type Impact string

// The impacts.
const (
	ImpactNone     Impact = "none"
	ImpactMinor    Impact = "minor"
	ImpactMajor    Impact = "major"
	ImpactCritical Impact = "critical"
)

// Valid reports whether i is one of the four impacts.
func (i Impact) Valid() bool {
	switch i {
	case ImpactNone, ImpactMinor, ImpactMajor, ImpactCritical:
		return true
	}
	return false
}

func (i Impact) rank() int {
	switch i {
	case ImpactMinor:
		return 1
	case ImpactMajor:
		return 2
	case ImpactCritical:
		return 3
	}
	return 0
}

// MaintenanceStatus is a maintenance window's state.
type MaintenanceStatus string

// The maintenance states. Cancelled is final, like Completed.
const (
	MaintenanceScheduled  MaintenanceStatus = "scheduled"
	MaintenanceInProgress MaintenanceStatus = "in_progress"
	MaintenanceVerifying  MaintenanceStatus = "verifying"
	MaintenanceCompleted  MaintenanceStatus = "completed"
	MaintenanceCancelled  MaintenanceStatus = "cancelled"
)

func (m MaintenanceStatus) rank() int {
	switch m {
	case MaintenanceScheduled:
		return 0
	case MaintenanceInProgress:
		return 1
	case MaintenanceVerifying:
		return 2
	case MaintenanceCompleted, MaintenanceCancelled:
		return 3
	}
	return -1
}

// active reports whether the window suppresses paging right now.
func (m MaintenanceStatus) active() bool {
	return m == MaintenanceInProgress || m == MaintenanceVerifying
}

func (m MaintenanceStatus) final() bool {
	return m == MaintenanceCompleted || m == MaintenanceCancelled
}

// AlertStatus is an external (Alertmanager) alert's state.
type AlertStatus string

// The alert states.
const (
	AlertFiring   AlertStatus = "firing"
	AlertResolved AlertStatus = "resolved"
)

// TargetKind says what an escalation target names.
type TargetKind string

// The target kinds.
const (
	TargetUser     TargetKind = "user"
	TargetSchedule TargetKind = "schedule" // whoever is on call when the level fires
	TargetChannel  TargetKind = "channel"
)

// Policy is an organization's incident policy.
type Policy struct {
	// GroupingWindow: a component starting to fail joins the open incident
	// covering a related component (same group, or a declared dependency in
	// either direction) if that incident started at most this long ago.
	// Zero disables grouping.
	GroupingWindow time.Duration
	// AutoResolve resolves an incident once everything in it has been
	// healthy for QuietPeriod; otherwise a human resolves it.
	AutoResolve bool
	QuietPeriod time.Duration
	// PublishAutomatically publishes auto-created incidents at once; when
	// false they are drafts until the first PublicUpdate.
	PublishAutomatically bool
	// Escalation is the default escalation policy id for components that
	// name none and for component-less external alerts.
	Escalation string
	// AckTimeout: an acknowledged incident still failing this long after the
	// acknowledgement (and every AckTimeout after that) re-notifies the
	// acknowledger. Zero disables.
	AckTimeout time.Duration
	// FlapChanges and FlapWindow are the default flap detection for probes
	// that set none: more than FlapChanges verdict changes within FlapWindow
	// marks the probe flapping. Zero FlapChanges disables.
	FlapChanges int
	FlapWindow  time.Duration
}

// ComponentConfig is a component's configuration.
type ComponentConfig struct {
	ID    string
	Name  string
	Group string
	// DependsOn lists components this one depends on: a failure of either
	// groups into the other's incident.
	DependsOn []string
	// Escalation names the escalation policy; empty uses the org default.
	Escalation string
}

// ProbeConfig is a probe's configuration as far as incidents care.
type ProbeConfig struct {
	ID        string
	Component string
	// FailureThreshold consecutive down results in a region mark the region
	// down; SuccessThreshold consecutive up results recover it. Default 1.
	FailureThreshold int
	SuccessThreshold int
	// Quorum regions must agree for the probe to be down. Default 1.
	Quorum int
	// DegradedPages makes a degraded probe page (open an incident); by
	// default degraded only degrades the component.
	DegradedPages bool
	// FlapChanges/FlapWindow override the organization's flap detection.
	FlapChanges int
	FlapWindow  time.Duration
}

// EscalationPolicy is an ordered list of levels, repeated Repeats more times
// after the last level fired without an acknowledgement.
type EscalationPolicy struct {
	ID      string
	Levels  []EscalationLevel
	Repeats int
}

// EscalationLevel notifies its targets and waits Wait for an
// acknowledgement before the next level fires.
type EscalationLevel struct {
	Targets []Target
	Wait    time.Duration
}

// Target is one escalation target.
type Target struct {
	Kind TargetKind
	ID   string // user id, schedule id or channel name
}

// Config is everything an organization's State holds from configuration.
type Config struct {
	Policy      Policy
	Components  []ComponentConfig
	Probes      []ProbeConfig
	Escalations []EscalationPolicy
	Schedules   []Schedule
}

// State is one organization's incident state. Treat it as a value: Step
// returns a new State and leaves its argument untouched.
type State struct {
	Org    string
	Policy Policy
	// Components, Probes, Escalations and Schedules come from
	// configuration (see Configure) plus the runtime fields.
	Components  map[string]Component
	Probes      map[string]Probe
	Escalations map[string]EscalationPolicy
	Schedules   map[string]Schedule
	// Incidents holds the open incidents only; a resolved incident leaves
	// the state in the IncidentResolved effect.
	Incidents map[string]Incident
	// Maintenances holds scheduled and running windows, and finished ones
	// for a day after their end (to recognise duplicate events).
	Maintenances map[string]Maintenance
	// Alerts holds external alerts by fingerprint; resolved ones are kept
	// for a day to recognise late duplicates.
	Alerts map[string]Alert
	// NextIncident numbers the next incident.
	NextIncident int
}

// Component is a component's configuration and current state.
type Component struct {
	ComponentConfig
	// Probes lists the ids of the probes bound to it, sorted.
	Probes []string
	// Status is what the page shows now.
	Status ComponentStatus
	// Override is a human override ("" for none); it wins over everything
	// until cleared with a ComponentOverride whose Status is "".
	Override   ComponentStatus
	OverrideBy string
	// Troubled: a probe (or firing alert) says it is failing in a way that
	// pages. Paging: Troubled and not under maintenance.
	Troubled bool
	Paging   bool
	// Incident is the open incident covering it, or "".
	Incident string
	// Rev counts status changes (for effect keys).
	Rev int
}

// Probe is a probe's configuration and health.
type Probe struct {
	ProbeConfig
	// Regions holds per-region streaks, sorted by region name.
	Regions []RegionHealth
	// Verdict is the probe's health across regions (quorum applied).
	Verdict Outcome
	// Changes are the times of recent verdict changes (within the flap
	// window); Flapping is set while there are more than FlapChanges.
	Changes  []time.Time
	Flapping bool
	// LastError is the last non-empty error reported.
	LastError string
}

// RegionHealth is one region's view of a probe.
type RegionHealth struct {
	Region string
	LastAt time.Time // At of the newest result; older or equal ones are ignored
	// Consecutive counts: down results, non-up results, up results,
	// non-down results.
	Down, Bad, Good, NotDown int
	Verdict                  Outcome
}

// Incident is an open (or, inside effects, just resolved) incident.
type Incident struct {
	ID     string
	Number int
	Title  string
	// Components are the member components, in joining order.
	Components []string
	// Alerts are fingerprints of external alerts that opened or joined it.
	Alerts    []string
	Lifecycle Lifecycle
	Public    PublicStatus
	Published bool
	Impact    Impact
	// ImpactSet: a human chose the impact; it no longer follows the
	// components.
	ImpactSet bool
	StartedAt time.Time
	AckedAt   time.Time
	AckedBy   string
	EndedAt   time.Time
	// QuietSince is when everything in it stopped failing (zero while
	// something fails).
	QuietSince   time.Time
	Flapping     bool
	SnoozedUntil time.Time
	// Declared holds component statuses set by public updates; they show
	// until the incident resolves (a human override still wins).
	Declared   map[string]ComponentStatus
	Escalation Escalation
	// AckNotifyAt is when the ack timeout next re-notifies the acknowledger;
	// AckNotified counts those re-notifications in this generation.
	AckNotifyAt time.Time
	AckNotified int
	Timeline    []Entry
	// Rev counts IncidentUpdated effects (for their keys).
	Rev int
}

// Escalation is where an incident's escalation stands.
type Escalation struct {
	Policy string
	// Gen counts (re)triggers: 0 at open, +1 on each re-trigger.
	Gen    int
	Level  int
	Repeat int
	// NextAt is when Level (of Repeat) fires next; zero when done.
	NextAt time.Time
	Done   bool
}

// Entry is one timeline entry: who or what did what, when, from what to
// what, and why.
type Entry struct {
	Seq   int
	At    time.Time
	Actor string // a user id, "probe:<id>", "alert:<fingerprint>" or "lookout"
	Kind  string // opened, joined, acknowledged, snoozed, note, update, impact, flapping, stable, resolved, retriggered, ...
	From  string
	To    string
	Body  string
	// EventID is the id of the human event that made it, to drop duplicates.
	EventID string
}

// Maintenance is a maintenance window.
type Maintenance struct {
	ID         string
	Title      string
	Components []string
	Start, End time.Time
	Status     MaintenanceStatus
	// Rev counts the window's changes (1 when scheduled). With its times
	// it makes each change's effect key unique, so a reschedule that only
	// changes components or title is delivered like any other.
	Rev int `json:",omitempty"`
}

// Alert is an external alert's last known state.
type Alert struct {
	Fingerprint string
	Labels      map[string]string
	Component   string
	Summary     string
	StartsAt    time.Time
	Firing      bool
	ResolvedAt  time.Time
	Incident    string
}

package incidents

import "time"

// Event is something that happened: a probe result, an external alert, a
// human action, a configuration change or the passing of time.
//
// Every event is idempotent: applying it twice changes nothing the second
// time. Probe results are recognised by (probe, region, At); alerts by
// (fingerprint, StartsAt, status); human events that are not naturally
// idempotent (notes, updates, snoozes, impact) by their ID, which the shell
// fills from the request (Slack callback id, HTTP idempotency key, or a fresh
// id). A human event with an empty ID is applied each time it arrives.
type Event interface {
	isEvent()
}

// Configure replaces the configuration part of the State (policy,
// components, probes, escalation policies, schedules), keeping the runtime
// state of everything that stays. Removed components leave the status page;
// an open incident keeps listing them but they no longer keep it failing.
type Configure struct {
	Config Config
}

// ProbeResult is one run of one probe in one region. Results for unknown
// probes, for another organization, or not newer than the last result from
// the same (probe, region) are ignored.
type ProbeResult struct {
	Org       string
	Probe     string
	Component string // informational; the configured binding wins
	Region    string
	Outcome   Outcome
	At        time.Time
	Error     string
}

// Tick says time has passed; timers due at now fire. (Every event fires due
// timers; Tick is an event that does nothing else.)
type Tick struct{}

// Acknowledge stops a triggered incident's escalation.
//
// From then on the incident's only Notify effects are ack-timeout reminders
// (ReasonAckTimeout) to the acknowledger alone: Policy.AckTimeout after the
// acknowledgement and every AckTimeout after that, while something in the
// incident still fails and is not under maintenance (never while snoozed).
// That holds until the incident re-triggers, which happens when a snooze
// ends with it still failing (ReasonSnoozeExpired), or when it had wholly
// recovered and something in it fails again, unless it is flapping
// (ReasonRetriggered). A re-trigger pages from the first level again, with
// keys of a new generation ("g1", "g2"...). Acknowledging an incident that is
// not triggered changes nothing.
type Acknowledge struct {
	ID       string
	Incident string
	Actor    string
}

// Resolve ends an incident.
type Resolve struct {
	ID       string
	Incident string
	Actor    string
	Body     string // optional closing note, published as the resolved update
}

// Snooze acknowledges an incident and silences it for For; when the snooze
// ends with the incident still failing it re-triggers from the first level.
type Snooze struct {
	ID       string
	Incident string
	Actor    string
	For      time.Duration
}

// AddNote adds an internal note to the timeline.
type AddNote struct {
	ID       string
	Incident string
	Actor    string
	Body     string
}

// PublicUpdate posts a public update: it publishes a draft, sets the public
// status and the listed components' statuses (shown until the incident
// resolves). Status resolved resolves the incident.
type PublicUpdate struct {
	ID                string
	Incident          string
	Actor             string
	Status            PublicStatus
	Body              string
	ComponentStatuses map[string]ComponentStatus
}

// SetImpact sets an incident's impact; it then no longer follows the
// components.
type SetImpact struct {
	ID       string
	Incident string
	Actor    string
	Impact   Impact
}

// ComponentOverride sets a human override of a component's status. Status ""
// clears it. An override changes what the page shows; it does not page.
type ComponentOverride struct {
	Component string
	Status    ComponentStatus
	Actor     string
}

// MaintenanceSchedule creates a maintenance window, or reschedules one that
// has not started. Windows already over (End ≤ now) are ignored.
type MaintenanceSchedule struct {
	ID         string
	Title      string
	Components []string
	Start, End time.Time
	Actor      string
}

// MaintenanceCancel cancels a window that has not completed.
type MaintenanceCancel struct {
	ID    string
	Actor string
}

// MaintenanceAdvance moves a window forward to To (in_progress, verifying or
// completed); moving backwards or sideways is ignored.
type MaintenanceAdvance struct {
	ID    string
	Actor string
	To    MaintenanceStatus
}

// ExternalAlert is one alert from an Alertmanager webhook. An alert is
// identified by Fingerprint and one occurrence of it by StartsAt: the same
// alert delivered twice (an HA pair) changes nothing, and a stale delivery
// (older StartsAt, or firing after the same occurrence resolved) is
// ignored. Component, if it names a configured component, makes the alert
// count against that component; otherwise the alert gets an incident of its
// own.
type ExternalAlert struct {
	Fingerprint string
	Status      AlertStatus
	Labels      map[string]string
	Component   string
	Summary     string
	StartsAt    time.Time
}

func (Configure) isEvent()           {}
func (ProbeResult) isEvent()         {}
func (Tick) isEvent()                {}
func (Acknowledge) isEvent()         {}
func (Resolve) isEvent()             {}
func (Snooze) isEvent()              {}
func (AddNote) isEvent()             {}
func (PublicUpdate) isEvent()        {}
func (SetImpact) isEvent()           {}
func (ComponentOverride) isEvent()   {}
func (MaintenanceSchedule) isEvent() {}
func (MaintenanceCancel) isEvent()   {}
func (MaintenanceAdvance) isEvent()  {}
func (ExternalAlert) isEvent()       {}

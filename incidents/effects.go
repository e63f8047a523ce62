package incidents

import (
	"fmt"
	"time"
)

// Effect is something the shell must persist or deliver. Key is a
// deterministic idempotency key: re-running the same Step on the same State
// yields the same keys, so an outbox row retried after a crash carries the
// key of its first attempt.
type Effect interface {
	Key() string
}

// NotifyReason says why a Notify was sent.
type NotifyReason string

// The notify reasons.
const (
	ReasonTriggered     NotifyReason = "triggered"      // first level of a new incident
	ReasonEscalated     NotifyReason = "escalated"      // a later level, or a repeat
	ReasonRetriggered   NotifyReason = "retriggered"    // an acknowledged incident failed again after recovering
	ReasonSnoozeExpired NotifyReason = "snooze_expired" // the snooze ended with the incident still failing
	ReasonAckTimeout    NotifyReason = "ack_timeout"    // acknowledged but still failing: the acknowledger is reminded
)

// Recipient is one resolved notification target.
type Recipient struct {
	Kind TargetKind // user or channel
	ID   string
	// Via is the schedule that put this user on call, if any.
	Via string
}

// IncidentOpened: a new incident. Incident is a snapshot.
type IncidentOpened struct{ Incident Incident }

// ComponentJoined: a component joined an open incident (no page).
type ComponentJoined struct {
	Incident  string
	Component string
	At        time.Time
}

// ComponentStatusChanged: the status page shows a new status.
type ComponentStatusChanged struct {
	Component string
	From, To  ComponentStatus
	At        time.Time
	Cause     string // "probes", "override by alice", "maintenance m1", "incident org-3"
	Rev       int
}

// Notify pages people: level Level of repeat Repeat of the incident's
// escalation, with recipients resolved (schedules to their on-call at the
// moment the level fires). Recipients may be empty when a schedule has
// nobody on call; the Notify is still emitted so the gap is visible.
type Notify struct {
	Incident   string
	Level      int
	Repeat     int
	Recipients []Recipient
	Reason     NotifyReason
	Title      string
	// IdemKey is "<incident>/notify/g<gen>/l<level>/r<repeat>", or
	// "<incident>/ack-timeout/g<gen>/<n>" for ack timeouts.
	IdemKey string
}

// IncidentUpdated: an open incident changed (status, members, impact,
// flapping, publication): update the Slack message, re-post to Alertmanager.
type IncidentUpdated struct{ Incident Incident }

// IncidentResolved: the incident ended; Incident is its final snapshot,
// timeline included. It is no longer in the State.
type IncidentResolved struct{ Incident Incident }

// TimelineAppended: an entry was added to an incident's timeline.
type TimelineAppended struct {
	Incident string
	Entry    Entry
}

// MaintenanceChanged: a window was created, rescheduled or moved state.
type MaintenanceChanged struct {
	Maintenance Maintenance
	Actor       string
}

// Key implements Effect.
func (e IncidentOpened) Key() string { return e.Incident.ID + "/opened" }

// Key implements Effect.
func (e ComponentJoined) Key() string { return e.Incident + "/joined/" + e.Component }

// Key implements Effect.
func (e ComponentStatusChanged) Key() string {
	return fmt.Sprintf("component/%s/status/%d/%d", e.Component, e.Rev, e.At.UnixNano())
}

// Key implements Effect.
func (e Notify) Key() string { return e.IdemKey }

// Key implements Effect.
func (e IncidentUpdated) Key() string { return fmt.Sprintf("%s/rev/%d", e.Incident.ID, e.Incident.Rev) }

// Key implements Effect.
func (e IncidentResolved) Key() string { return e.Incident.ID + "/resolved" }

// Key implements Effect.
func (e TimelineAppended) Key() string { return fmt.Sprintf("%s/timeline/%d", e.Incident, e.Entry.Seq) }

// Key implements Effect.
func (e MaintenanceChanged) Key() string {
	m := e.Maintenance
	// Rev alone restarts when a finished window leaves the state and its
	// id is used again; that window ends later than the old one did.
	return fmt.Sprintf("maintenance/%s/rev/%d/%s/%d-%d", m.ID, m.Rev, m.Status, m.Start.UnixNano(), m.End.UnixNano())
}

package templates

// The maintenance and on-call console pages' view models (console_maint.templ).
// Every text is precomputed by package web; times are shown in UTC.

// MaintenanceListPage is /console/maintenance: the windows running,
// coming and recently over, and the form scheduling a new one.
type MaintenanceListPage struct {
	Console                Console
	Active, Upcoming, Past []MaintenanceRow
	// Form is the schedule form; nil when the role may not schedule.
	Form *MaintenanceForm
}

// MaintenanceRow is one window in a list.
type MaintenanceRow struct {
	Title, Href, Status, StatusLabel, Components, When string
	// Source is "config" for a window the configuration file defines.
	Source string
}

// MaintenanceForm schedules or reschedules a window. Start and End are
// datetime-local values in UTC ("2026-03-10T04:00").
type MaintenanceForm struct {
	Action, Submit       string
	Title                string
	Components           []SchedChoice
	Start, End           string
	StartLocked          bool // a started window keeps its start
	StartLockedText      string
	Message              string
	MessageLabel, Legend string
}

// SchedChoice is one option of a select or a checkbox list.
type SchedChoice struct {
	Value, Label string
	Selected     bool
}

// MaintenanceDetailPage is /console/maintenance/{id}.
type MaintenanceDetailPage struct {
	Console                                              Console
	Title, Status, StatusLabel, Components, When, Source string
	ReadOnlyNote                                         string // why nothing can change here ("" when it can)
	Updates                                              []MaintenanceUpdateRow
	// The forms, each nil when not offered.
	Update   *MaintenanceUpdateForm
	Edit     *MaintenanceForm
	Cancel   string // action URL
	Complete string // action URL
}

// MaintenanceUpdateRow is one entry of a window's log, newest first.
type MaintenanceUpdateRow struct {
	At, Actor, StatusLabel, Body, Change string
}

// MaintenanceUpdateForm posts a message, optionally moving the window on.
type MaintenanceUpdateForm struct {
	Action   string
	Statuses []SchedChoice
	Body     string
}

// OnCallPage is /console/oncall.
type OnCallPage struct {
	Console Console
	At      string
	Teams   []OnCallTeam
	// Form adds an override; nil when the role may not.
	Form *OverrideForm
}

// OnCallTeam is a team with its schedules.
type OnCallTeam struct {
	ID, Name  string
	Schedules []OnCallSchedule
}

// OnCallSchedule is one schedule: who is on call now and next, the shifts
// of the next 7 days and the overrides not yet over.
type OnCallSchedule struct {
	ID, TimeZone string
	Now, Next    string
	Shifts       []ShiftRow
	Overrides    []OverrideRow
}

// ShiftRow is one shift.
type ShiftRow struct {
	Who, From, Until string
}

// OverrideRow is one override; Delete is its delete form's action, "" for a
// configured override (read-only) or a role that may not delete.
type OverrideRow struct {
	Who, From, Until, Source, CreatedBy string
	Delete                              string
}

// OverrideForm adds an override; Start and End are datetime-local values in
// UTC.
type OverrideForm struct {
	Action     string
	Schedules  []SchedChoice
	Users      []SchedChoice
	Start, End string
}

package templates

import "github.com/a-h/templ"

// ConsoleTime is a moment as the console shows it: ISO is the
// <time datetime> value, Text what people read. Empty ISO: never.
type ConsoleTime struct {
	ISO, Text string
}

// ConsoleStatus is an incident's lifecycle as text with an icon beside it
// (never instead of it); Class colours it.
type ConsoleStatus struct {
	Class, Icon, Label string
}

// ConsoleLink is a navigation link; Current marks the one shown.
type ConsoleLink struct {
	Label, Href string
	Current     bool
}

// ConsoleOption is one <option>.
type ConsoleOption struct {
	Value, Label string
	Selected     bool
}

// ConsoleIncidentList is the incident list.
type ConsoleIncidentList struct {
	Filters []ConsoleLink
	Rows    []ConsoleIncidentRow
	// Empty is said when there are no rows.
	Empty string
	// NewestHref leads back to the first page ("" on it); NextHref to the
	// next page ("" on the last).
	NewestHref, NextHref string
	// CanAct shows the responder's row actions.
	CanAct bool
	// Back is the hidden field row forms carry so the action returns here.
	Back string
}

// ConsoleIncidentRow is one incident in the list.
type ConsoleIncidentRow struct {
	ID string
	// Anchor is the row's id: an action from the list returns to
	// #Anchor, which the stylesheet highlights.
	Anchor     string
	Href       string
	Number     string // "#12"
	Title      string
	Status     ConsoleStatus
	Impact     string
	Components string
	Started    ConsoleTime
	Age        string
	AckedBy    string
	// Notes are short flags: "draft", "snoozed until 04:10 UTC", "flapping".
	Notes []string
	// AckAction is the acknowledge form's action ("" when the incident is
	// not triggered or the viewer may not act); Key its idempotency key.
	AckAction, Key string
}

// ConsoleIncident is one incident's page.
type ConsoleIncident struct {
	ID, Number, Title string
	ListHref          string
	Status            ConsoleStatus
	PublicStatus      string
	// Published: visitors see it; otherwise it is a draft until the first
	// public update.
	Published  bool
	Impact     string
	Components []ConsoleComponent
	Alerts     []string
	Started    ConsoleTime
	Age        string
	// Acknowledged is "by dana at …" (empty: not acknowledged).
	AckedBy      string
	AckedAt      ConsoleTime
	Resolved     ConsoleTime
	Duration     string
	SnoozedUntil ConsoleTime
	Flapping     bool

	Open bool
	// CanAct shows the action forms (responder and above); CanAcknowledge
	// the acknowledge form (a triggered incident).
	CanAct, CanAcknowledge bool
	Actions                ConsoleIncidentActions
	SnoozeOptions          []ConsoleOption
	PublicStatuses         []ConsoleOption
	Impacts                []ConsoleOption
	UpdateComponents       []ConsoleComponentField
	// Drafts keep what was typed when an action was refused.
	UpdateBody, NoteBody, ResolveBody string

	Timeline   []ConsoleEntry
	Postmortem ConsoleLink
}

// ConsoleIncidentActions are the action forms' targets and idempotency
// keys.
type ConsoleIncidentActions struct {
	Acknowledge, Resolve, Snooze, Update, Impact, Note string
	AcknowledgeKey, ResolveKey, SnoozeKey, UpdateKey   string
	ImpactKey, NoteKey                                 string
}

// ConsoleComponent is an affected component; Declared is the status the
// last public update gave it ("" for none).
type ConsoleComponent struct {
	ID, Name, Declared string
}

// ConsoleComponentField is a component's status select in the update
// form (Name is the form field).
type ConsoleComponentField struct {
	Label, Name, FieldID string
	Options              []ConsoleOption
}

// ConsoleEntry is one timeline entry; Public marks what visitors saw.
type ConsoleEntry struct {
	At     ConsoleTime
	Actor  string
	Kind   string
	Change string // "triggered → acknowledged"
	Body   string
	Public bool
}

// ConsolePostmortem is the postmortem editor.
type ConsolePostmortem struct {
	IncidentHref, Number, Title string
	// State says where the postmortem stands ("Not saved yet: generated
	// from the timeline", "Draft", "Published", ...).
	State       string
	UpdatedBy   string
	UpdatedAt   ConsoleTime
	PublishedAt ConsoleTime
	Body        string
	MaxBytes    int
	// CanEdit shows the editor (responder and above); viewers read.
	CanEdit                                  bool
	SaveAction, PreviewAction, PublishAction string
	// PublishBlocked says why it cannot be published yet ("" when it can).
	PublishBlocked string
	// Preview is the rendering of Body (after Preview), Published the
	// rendering visitors see; both sanitised HTML from web, nil for none.
	Preview, Published templ.Component
}

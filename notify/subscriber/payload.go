// Package subscriber delivers a status page's changes to its webhook
// subscribers: Statuspage-shaped JSON payloads (meta, page, then incident,
// or component and component_update), built when the change is decided and
// posted signed per Standard Webhooks. Each subscriber is its own outbox
// channel ("subscriber:<id>"), so one dead endpoint delays no other.
package subscriber

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lookout-status/lookout/incidents"
	"github.com/lookout-status/lookout/notify"
)

// ChannelPrefix starts every subscriber channel's name.
const ChannelPrefix = notify.SubscriberChannelPrefix

// Channel is the outbox channel of subscriber id.
func Channel(id string) string { return notify.SubscriberChannel(id) }

// The events (the outbox's event column).
const (
	EventVerification notify.Event = "verification"
	EventIncident     notify.Event = "incident"
	EventComponent    notify.Event = "component"
	// EventPostmortem: an incident's postmortem was published; the
	// payload is the incident with postmortem_body set.
	EventPostmortem   notify.Event = "postmortem"
	EventMaintenance  notify.Event = "maintenance"
	EventConfirmation notify.Event = "confirmation" // an e-mail subscriber's double opt-in
)

// Page is what payloads say about the status page.
type Page struct {
	ID   string
	Name string // shown in e-mails
	URL  string // public address, for shortlinks
	// Components are the page's public components by id; others (private
	// or not on the page) are never mentioned.
	Components map[string]Component
	// Documentation links to the payloads' description.
	Documentation string
}

// Subscription is one active subscriber as deliveries need it.
type Subscription struct {
	ID string
	// Destination groups its deliveries in the worker (the URL's host).
	Destination string
	// Components limits deliveries to changes touching these; empty: all.
	Components []string
	// Unsubscribe is its one-click unsubscribe link.
	Unsubscribe string
	// Email, when set, makes it an e-mail subscriber: it is sent incident
	// and maintenance updates as e-mails (not component changes).
	Email string
}

// Payload is the JSON body of every delivery, after Statuspage's
// subscriber webhooks.
type Payload struct {
	Meta            Meta             `json:"meta"`
	Page            PageStatus       `json:"page"`
	Incident        *Incident        `json:"incident,omitempty"`
	Component       *Component       `json:"component,omitempty"`
	ComponentUpdate *ComponentUpdate `json:"component_update,omitempty"`
	// Verification is Lookout's own: the first message, which the
	// endpoint must answer 2xx for the subscription to start.
	Verification *Verification `json:"verification,omitempty"`

	// maintenance is the window's own status when Incident is a
	// maintenance (e-mails tell a cancelled window from a completed one).
	maintenance incidents.MaintenanceStatus
}

// Meta says how to stop and where the format is described.
type Meta struct {
	Unsubscribe   string `json:"unsubscribe"`
	Documentation string `json:"documentation"`
	GeneratedAt   Time   `json:"generated_at"`
}

// PageStatus is the page's overall status.
type PageStatus struct {
	ID                string `json:"id"`
	StatusIndicator   string `json:"status_indicator"`
	StatusDescription string `json:"status_description"`
}

// Incident mirrors /api/v2's incident.
type Incident struct {
	ID              string      `json:"id"`
	Name            string      `json:"name"`
	Status          string      `json:"status"`
	Impact          string      `json:"impact"`
	CreatedAt       Time        `json:"created_at"`
	UpdatedAt       Time        `json:"updated_at"`
	StartedAt       Time        `json:"started_at"`
	MonitoringAt    Time        `json:"monitoring_at"`
	ResolvedAt      Time        `json:"resolved_at"`
	Shortlink       string      `json:"shortlink"`
	PageID          string      `json:"page_id"`
	IncidentUpdates []Update    `json:"incident_updates"`
	Components      []Component `json:"components"`
	// PostmortemBody (Markdown) and PostmortemPublishedAt are set in
	// postmortem events only.
	PostmortemBody        string `json:"postmortem_body,omitempty"`
	PostmortemPublishedAt Time   `json:"postmortem_published_at,omitzero"`
	// ScheduledFor and ScheduledUntil are a maintenance's window (null for
	// incidents), as Statuspage sends scheduled maintenances.
	ScheduledFor   Time `json:"scheduled_for"`
	ScheduledUntil Time `json:"scheduled_until"`
}

// Update is one public incident update.
type Update struct {
	ID         string `json:"id"`
	IncidentID string `json:"incident_id"`
	Status     string `json:"status"`
	Body       string `json:"body"`
	CreatedAt  Time   `json:"created_at"`
	UpdatedAt  Time   `json:"updated_at"`
	DisplayAt  Time   `json:"display_at"`
}

// Component is a component and its status.
type Component struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Status    string `json:"status"`
	CreatedAt Time   `json:"created_at"`
	UpdatedAt Time   `json:"updated_at"`
}

// ComponentUpdate is one change of a component's status.
type ComponentUpdate struct {
	ID          string `json:"id"`
	ComponentID string `json:"component_id"`
	OldStatus   string `json:"old_status"`
	NewStatus   string `json:"new_status"`
	CreatedAt   Time   `json:"created_at"`
}

// Verification asks the endpoint to confirm the subscription.
type Verification struct {
	SubscriberID string `json:"subscriber_id"`
	Message      string `json:"message"`
}

// Time is written as Statuspage does ("2025-03-04T05:06:07.000Z"), zero
// as null.
type Time time.Time

// MarshalJSON implements json.Marshaler.
func (t Time) MarshalJSON() ([]byte, error) {
	tt := time.Time(t)
	if tt.IsZero() {
		return []byte("null"), nil
	}
	return []byte(`"` + tt.UTC().Format("2006-01-02T15:04:05.000Z07:00") + `"`), nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (t *Time) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*t = Time{}
		return nil
	}
	var tt time.Time
	if err := json.Unmarshal(b, &tt); err != nil {
		return err
	}
	*t = Time(tt)
	return nil
}

// pageStatus is the page's indicator (incidents.PageIndicator, the rule
// the status page uses): its public components and its open published
// incidents.
func pageStatus(page Page, st incidents.State) PageStatus {
	var statuses []incidents.ComponentStatus
	for id := range page.Components {
		statuses = append(statuses, st.Components[id].Status)
	}
	var impacts []incidents.Impact
	for _, inc := range st.Incidents {
		if !inc.Published || inc.Lifecycle == incidents.Resolved || !page.shows(inc.Components) {
			continue
		}
		impacts = append(impacts, inc.Impact)
	}
	ind := incidents.PageIndicator(statuses, impacts)
	return PageStatus{ID: page.ID, StatusIndicator: string(ind), StatusDescription: ind.Description()}
}

// shows reports whether something over these components is the page's
// business: page-wide (none), or touching a public component.
func (page Page) shows(ids []string) bool {
	if len(ids) == 0 {
		return true
	}
	for _, id := range ids {
		if _, ok := page.Components[id]; ok {
			return true
		}
	}
	return false
}

// wants reports whether sub hears of a change touching ids.
func (s Subscription) wants(ids []string) bool {
	if len(s.Components) == 0 || len(ids) == 0 {
		return true
	}
	for _, id := range ids {
		if slices.Contains(s.Components, id) {
			return true
		}
	}
	return false
}

func (page Page) shortlink(id string) string {
	return strings.TrimSuffix(page.URL, "/") + "/incidents/" + id
}

// publicUpdates lists the incident's public timeline, newest first, as the
// public page words it.
func publicUpdates(inc incidents.Incident) ([]Update, time.Time) {
	var out []Update
	var monitoringAt time.Time
	for _, e := range inc.Timeline {
		u := Update{ID: inc.ID + "-" + strconv.Itoa(e.Seq), IncidentID: inc.ID,
			CreatedAt: Time(e.At), UpdatedAt: Time(e.At), DisplayAt: Time(e.At)}
		switch e.Kind {
		case "opened":
			u.Status, u.Body = string(incidents.Investigating), "We are investigating this issue."
		case "update":
			u.Status, u.Body = e.To, e.Body
			if e.To == string(incidents.Monitoring) && monitoringAt.IsZero() {
				monitoringAt = e.At
			}
		case "resolved":
			u.Status, u.Body = string(incidents.PublicResolved), e.Body
			if u.Body == "" {
				u.Body = "This incident has been resolved."
			}
		default:
			continue
		}
		out = append(out, u)
	}
	slices.Reverse(out)
	if out == nil {
		out = []Update{}
	}
	return out, monitoringAt
}

func (page Page) incident(inc incidents.Incident, st incidents.State) *Incident {
	updates, monitoringAt := publicUpdates(inc)
	status := inc.Public
	if inc.Lifecycle == incidents.Resolved {
		status = incidents.PublicResolved
	}
	out := &Incident{
		ID: inc.ID, Name: inc.Title, Status: string(status), Impact: string(inc.Impact),
		CreatedAt: Time(inc.StartedAt), StartedAt: Time(inc.StartedAt), ResolvedAt: Time(inc.EndedAt),
		MonitoringAt: Time(monitoringAt), Shortlink: page.shortlink(inc.ID), PageID: page.ID,
		IncidentUpdates: updates, Components: []Component{},
	}
	out.UpdatedAt = out.CreatedAt
	if len(updates) > 0 {
		out.UpdatedAt = updates[0].CreatedAt
	}
	for _, id := range inc.Components {
		if c, ok := page.component(id, st); ok {
			out.Components = append(out.Components, c)
		}
	}
	return out
}

// component returns a public component with its current status.
func (page Page) component(id string, st incidents.State) (Component, bool) {
	c, ok := page.Components[id]
	if !ok {
		return Component{}, false
	}
	c.ID = id
	if sc, ok := st.Components[id]; ok && sc.Status != "" {
		c.Status = string(sc.Status)
	}
	if c.Status == "" {
		c.Status = string(incidents.Operational)
	}
	return c, true
}

// Deliveries maps one commit's effects to one outbox row per interested
// subscriber: a published incident's public update (opened, update,
// resolved) becomes an incident payload, a public component's status
// change a component payload. Keys are the effect's key and the
// subscriber's id, so a re-run queues the same rows and a retry carries the
// same webhook-id.
func Deliveries(org string, page Page, subs []Subscription, st incidents.State, effs []incidents.Effect, now time.Time) []notify.Delivery {
	if len(subs) == 0 {
		return nil
	}
	// The newest snapshot of each incident in this commit (a resolved one
	// may have left the state already).
	snaps := map[string]incidents.Incident{}
	for _, ef := range effs {
		switch ef := ef.(type) {
		case incidents.IncidentOpened:
			snaps[ef.Incident.ID] = ef.Incident
		case incidents.IncidentUpdated:
			snaps[ef.Incident.ID] = ef.Incident
		case incidents.IncidentResolved:
			snaps[ef.Incident.ID] = ef.Incident
		}
	}
	status := pageStatus(page, st)
	var out []notify.Delivery
	queue := func(key, incident string, ev notify.Event, touches []string, p Payload) {
		out = append(out, queueFor(org, page, subs, key, incident, ev, touches, p, now)...)
	}
	for _, ef := range effs {
		switch ef := ef.(type) {
		case incidents.TimelineAppended:
			if ef.Entry.Kind != "opened" && ef.Entry.Kind != "update" && ef.Entry.Kind != "resolved" {
				continue
			}
			inc, ok := snaps[ef.Incident]
			if !ok {
				if inc, ok = st.Incidents[ef.Incident]; !ok {
					continue
				}
			}
			if !inc.Published || !page.shows(inc.Components) {
				continue
			}
			inc.Timeline = timelineUpTo(inc, st.Incidents[inc.ID], ef.Entry)
			queue(ef.Key(), inc.ID, EventIncident, page.public(inc.Components), Payload{Page: status, Incident: page.incident(inc, st)})
		case incidents.MaintenanceChanged:
			m := ef.Maintenance
			if !page.shows(m.Components) {
				continue
			}
			// One thread per window in the outbox, so its messages reach
			// each subscriber in order.
			queue(ef.Key(), MaintenanceThread(m.ID), EventMaintenance, page.public(m.Components),
				Payload{Page: status, Incident: page.maintenance(m, st, now), maintenance: m.Status})
		case incidents.ComponentStatusChanged:
			c, ok := page.component(ef.Component, st)
			if !ok || ef.From == ef.To {
				continue
			}
			c.Status, c.UpdatedAt = string(ef.To), Time(ef.At)
			cu := &ComponentUpdate{ID: ef.Component + "-" + strconv.Itoa(ef.Rev), ComponentID: ef.Component,
				OldStatus: string(ef.From), NewStatus: string(ef.To), CreatedAt: Time(ef.At)}
			queue(ef.Key(), "", EventComponent, []string{ef.Component}, Payload{Page: status, Component: &c, ComponentUpdate: cu})
		}
	}
	return out
}

// queueFor is one delivery of p to each subscriber in subs that wants a
// change touching these components, keyed key/<subscriber id>: the
// Statuspage webhook payload, or for an e-mail subscriber the message.
func queueFor(org string, page Page, subs []Subscription, key, incident string, ev notify.Event, touches []string, p Payload, now time.Time) []notify.Delivery {
	var out []notify.Delivery
	for _, s := range subs {
		if !s.wants(touches) {
			continue
		}
		var body []byte
		var err error
		if s.Email != "" {
			if ev == EventComponent {
				continue // e-mails are about incidents and maintenances
			}
			body, err = json.Marshal(page.email(s, key+"/"+s.ID, p, now))
		} else {
			p.Meta = Meta{Unsubscribe: s.Unsubscribe, Documentation: page.Documentation, GeneratedAt: Time(now)}
			body, err = json.Marshal(p)
		}
		if err != nil {
			continue // plain structs of strings and times: cannot fail
		}
		out = append(out, notify.Delivery{
			Channel: Channel(s.ID), Destination: s.Destination, NextAt: now,
			Message: notify.Message{Key: key + "/" + s.ID, Event: ev,
				Incident: notify.Incident{ID: incident, Org: org}, At: now, Body: body},
		})
	}
	return out
}

// public lists the ids among ids that are public components of the page.
func (page Page) public(ids []string) []string {
	var out []string
	for _, id := range ids {
		if _, ok := page.Components[id]; ok {
			out = append(out, id)
		}
	}
	return out
}

// PostmortemDeliveries tells subscribers that inc's postmortem was
// published: an incident payload (inc with its timeline, as of now) with
// postmortem_body set to the published Markdown, for each subscriber
// interested in its public components. Nothing goes out for an incident
// the page does not show (a draft, or one over private components only).
// Keys derive from the text: publishing the same text again queues nothing
// new, an edited text is news.
func PostmortemDeliveries(org string, page Page, subs []Subscription, st incidents.State, inc incidents.Incident, body string, now time.Time) []notify.Delivery {
	if len(subs) == 0 || !inc.Published || !page.shows(inc.Components) {
		return nil
	}
	pi := page.incident(inc, st)
	pi.PostmortemBody, pi.PostmortemPublishedAt = body, Time(now)
	sum := sha256.Sum256([]byte(body))
	key := inc.ID + "/postmortem/" + hex.EncodeToString(sum[:12])
	return queueFor(org, page, subs, key, inc.ID, EventPostmortem, page.public(inc.Components), Payload{Page: pageStatus(page, st), Incident: pi}, now)
}

// MaintenanceThread is the outbox's incident column for a maintenance
// window's messages.
func MaintenanceThread(id string) string { return "maintenance/" + id }

// maintenance is a maintenance window in the shape Statuspage sends
// scheduled maintenances: an incident with impact "maintenance", its window
// in scheduled_for and scheduled_until, and one update for its current
// status (a cancelled window is reported completed, Statuspage having no
// cancelled status).
func (page Page) maintenance(m incidents.Maintenance, st incidents.State, now time.Time) *Incident {
	status, body := string(m.Status), ""
	switch m.Status {
	case incidents.MaintenanceScheduled:
		body = "Scheduled maintenance from " + mailTime(m.Start) + " to " + mailTime(m.End) + "."
	case incidents.MaintenanceInProgress:
		body = "Scheduled maintenance is currently in progress. We will provide updates as necessary."
	case incidents.MaintenanceVerifying:
		body = "Verification is currently underway for the maintenance items."
	case incidents.MaintenanceCompleted:
		body = "The scheduled maintenance has been completed."
	case incidents.MaintenanceCancelled:
		status, body = string(incidents.MaintenanceCompleted), "The scheduled maintenance has been cancelled."
	}
	u := Update{ID: m.ID + "-" + string(m.Status), IncidentID: m.ID, Status: status, Body: body,
		CreatedAt: Time(now), UpdatedAt: Time(now), DisplayAt: Time(now)}
	out := &Incident{
		ID: m.ID, Name: m.Title, Status: status, Impact: "maintenance",
		CreatedAt: Time(m.Start), UpdatedAt: Time(now), StartedAt: Time(m.Start),
		Shortlink: strings.TrimSuffix(page.URL, "/") + "/", PageID: page.ID,
		IncidentUpdates: []Update{u}, Components: []Component{},
		ScheduledFor: Time(m.Start), ScheduledUntil: Time(m.End),
	}
	if m.Status == incidents.MaintenanceCompleted || m.Status == incidents.MaintenanceCancelled {
		out.ResolvedAt = Time(now)
	}
	for _, id := range m.Components {
		if c, ok := page.component(id, st); ok {
			out.Components = append(out.Components, c)
		}
	}
	return out
}

// timelineUpTo is the incident's timeline as of entry e: a snapshot taken
// before e was appended lacks it, so the longer of the two timelines is
// used, e added if missing, and anything after it left out (each delivery
// shows the timeline of its own update).
func timelineUpTo(snap, cur incidents.Incident, e incidents.Entry) []incidents.Entry {
	tl := snap.Timeline
	if len(cur.Timeline) > len(tl) {
		tl = cur.Timeline
	}
	var out []incidents.Entry
	for _, x := range tl {
		if x.Seq < e.Seq {
			out = append(out, x)
		}
	}
	return append(out, e)
}

// VerificationDelivery is the first message to a new subscriber: it must
// answer 2xx for the subscription to become active.
func VerificationDelivery(org string, page Page, s Subscription, now time.Time) notify.Delivery {
	p := Payload{
		Meta: Meta{Unsubscribe: s.Unsubscribe, Documentation: page.Documentation, GeneratedAt: Time(now)},
		Page: PageStatus{ID: page.ID},
		Verification: &Verification{SubscriberID: s.ID,
			Message: "Answer this request with any 2xx status to start receiving status updates."},
	}
	body, _ := json.Marshal(p) // cannot fail: strings and times
	return notify.Delivery{
		Channel: Channel(s.ID), Destination: s.Destination, NextAt: now,
		Message: notify.Message{Key: "subscriber/" + s.ID + "/verification", Event: EventVerification,
			Incident: notify.Incident{Org: org}, At: now, Body: body},
	}
}

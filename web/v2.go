package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/lookout-status/lookout/incidents"
)

// The Statuspage-compatible API (docs/api.md): the documents and field
// names of Atlassian Statuspage's public /api/v2, so that existing widgets,
// aggregators and scripts read a Lookout page unchanged.

// v2Names are the documents served under /api/v2/.
var v2Names = []string{
	"summary.json",
	"status.json",
	"components.json",
	"incidents.json",
	"incidents/unresolved.json",
	"scheduled-maintenances.json",
	"scheduled-maintenances/upcoming.json",
	"scheduled-maintenances/active.json",
}

// v2IncidentLimit is how many incidents incidents.json lists, as
// Statuspage does.
const v2IncidentLimit = 50

// v2Time writes a time as Statuspage does ("2025-03-04T05:06:07.000Z"),
// and a zero time as null.
type v2Time time.Time

func (t v2Time) MarshalJSON() ([]byte, error) {
	tt := time.Time(t)
	if tt.IsZero() {
		return []byte("null"), nil
	}
	return []byte(`"` + tt.UTC().Format("2006-01-02T15:04:05.000Z07:00") + `"`), nil
}

type v2Page struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	URL       string `json:"url"`
	TimeZone  string `json:"time_zone"`
	UpdatedAt v2Time `json:"updated_at"`
}

type v2Status struct {
	Indicator   string `json:"indicator"`
	Description string `json:"description"`
}

type v2Component struct {
	ID                 string   `json:"id"`
	Name               string   `json:"name"`
	Status             string   `json:"status"`
	CreatedAt          v2Time   `json:"created_at"`
	UpdatedAt          v2Time   `json:"updated_at"`
	Position           int      `json:"position"`
	Description        *string  `json:"description"`
	Showcase           bool     `json:"showcase"`
	StartDate          *string  `json:"start_date"`
	GroupID            *string  `json:"group_id"`
	PageID             string   `json:"page_id"`
	Group              bool     `json:"group"`
	OnlyShowIfDegraded bool     `json:"only_show_if_degraded"`
	Components         []string `json:"components,omitempty"` // a group's members
}

type v2Update struct {
	ID                 string `json:"id"`
	Status             string `json:"status"`
	Body               string `json:"body"`
	IncidentID         string `json:"incident_id"`
	CreatedAt          v2Time `json:"created_at"`
	UpdatedAt          v2Time `json:"updated_at"`
	DisplayAt          v2Time `json:"display_at"`
	AffectedComponents []any  `json:"affected_components"` // always null: not tracked per update
}

type v2Incident struct {
	ID              string        `json:"id"`
	Name            string        `json:"name"`
	Status          string        `json:"status"`
	CreatedAt       v2Time        `json:"created_at"`
	UpdatedAt       v2Time        `json:"updated_at"`
	MonitoringAt    v2Time        `json:"monitoring_at"`
	ResolvedAt      v2Time        `json:"resolved_at"`
	Impact          string        `json:"impact"`
	Shortlink       string        `json:"shortlink"`
	StartedAt       v2Time        `json:"started_at"`
	PageID          string        `json:"page_id"`
	IncidentUpdates []v2Update    `json:"incident_updates"`
	Components      []v2Component `json:"components"`
	// Maintenances only.
	ScheduledFor   *v2Time `json:"scheduled_for,omitempty"`
	ScheduledUntil *v2Time `json:"scheduled_until,omitempty"`
}

// v2Doc is every document's shape; each leaves out what it does not carry.
type v2Doc struct {
	Page                  v2Page         `json:"page"`
	Components            *[]v2Component `json:"components,omitempty"`
	Incidents             *[]v2Incident  `json:"incidents,omitempty"`
	ScheduledMaintenances *[]v2Incident  `json:"scheduled_maintenances,omitempty"`
	Status                *v2Status      `json:"status,omitempty"`
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// v2Components lists the public components, each group before its
// members, positions counting from 1 in that order.
func (p *publicPage) v2Components() ([]v2Component, map[string]v2Component) {
	out := []v2Component{}
	byID := map[string]v2Component{}
	add := func(c v2Component) {
		c.Position = len(out) + 1
		c.PageID = p.ID
		c.Showcase = true
		out = append(out, c)
		byID[c.ID] = c
	}
	for _, g := range p.groups() {
		var groupID *string
		if g.Name != "" {
			members := make([]string, 0, len(g.Members))
			for _, c := range g.Members {
				members = append(members, c.ID)
			}
			add(v2Component{ID: g.ID, Name: g.Name, Status: string(g.Status), CreatedAt: v2Time(g.CreatedAt),
				UpdatedAt: v2Time(g.UpdatedAt), StartDate: startDate(g.CreatedAt), Group: true, Components: members})
			groupID = &g.ID
		}
		for _, c := range g.Members {
			add(v2Component{ID: c.ID, Name: c.Name, Status: string(c.Status), CreatedAt: v2Time(c.CreatedAt),
				UpdatedAt: v2Time(c.UpdatedAt), Description: strPtr(c.Description), StartDate: startDate(c.CreatedAt),
				GroupID: groupID})
		}
	}
	return out, byID
}

func startDate(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	return strPtr(t.UTC().Format(time.DateOnly))
}

func (p *publicPage) shortlink(id string) string {
	return p.abs.incident(id)
}

func v2Updates(id string, us []IncidentUpdate) []v2Update {
	out := []v2Update{}
	for _, u := range us {
		out = append(out, v2Update{ID: u.ID, Status: u.Status, Body: u.Body, IncidentID: id,
			CreatedAt: v2Time(u.At), UpdatedAt: v2Time(u.At), DisplayAt: v2Time(u.At)})
	}
	return out
}

func v2ComponentsOf(ids []string, byID map[string]v2Component) []v2Component {
	out := []v2Component{}
	for _, id := range ids {
		if c, ok := byID[id]; ok {
			out = append(out, c)
		}
	}
	return out
}

func (p *publicPage) v2Incident(inc PageIncident, byID map[string]v2Component) v2Incident {
	return v2Incident{
		ID: inc.ID, Name: inc.Name, Status: string(inc.Status),
		CreatedAt: v2Time(inc.CreatedAt), UpdatedAt: v2Time(inc.UpdatedAt),
		MonitoringAt: v2Time(inc.MonitoringAt), ResolvedAt: v2Time(inc.ResolvedAt),
		Impact: string(inc.Impact), Shortlink: p.shortlink(inc.ID), StartedAt: v2Time(inc.StartedAt),
		PageID: p.ID, IncidentUpdates: v2Updates(inc.ID, inc.Updates),
		Components: v2ComponentsOf(inc.Components, byID),
	}
}

// v2MaintenanceStatus maps a window's status to Statuspage's, which has no
// "cancelled".
func v2MaintenanceStatus(s incidents.MaintenanceStatus) string {
	if s == incidents.MaintenanceCancelled {
		return string(incidents.MaintenanceCompleted)
	}
	return string(s)
}

func (p *publicPage) v2Maintenance(m PageMaintenance, byID map[string]v2Component) v2Incident {
	from, until := v2Time(m.ScheduledFor), v2Time(m.ScheduledUntil)
	out := v2Incident{
		ID: m.ID, Name: m.Name, Status: v2MaintenanceStatus(m.Status),
		CreatedAt: v2Time(m.CreatedAt), UpdatedAt: v2Time(m.UpdatedAt),
		Impact: "maintenance", Shortlink: p.abs.home() + "#maintenance-" + url.PathEscape(m.ID), StartedAt: from,
		PageID: p.ID, IncidentUpdates: v2Updates(m.ID, m.Updates),
		Components: v2ComponentsOf(m.Components, byID), ScheduledFor: &from, ScheduledUntil: &until,
	}
	if m.Status == incidents.MaintenanceCompleted || m.Status == incidents.MaintenanceCancelled {
		out.ResolvedAt = v2Time(m.UpdatedAt)
	}
	return out
}

// v2Document builds the named document.
func (p *publicPage) v2Document(name string) (v2Doc, error) {
	tz := p.TimeZone
	if tz == "" {
		tz = "Etc/UTC"
	}
	doc := v2Doc{Page: v2Page{ID: p.ID, Name: p.Name, URL: p.URL, TimeZone: tz, UpdatedAt: v2Time(p.UpdatedAt)}}
	comps, byID := p.v2Components()
	incs := func(list []PageIncident, limit int) *[]v2Incident {
		out := []v2Incident{}
		for _, inc := range list {
			if len(out) == limit {
				break
			}
			out = append(out, p.v2Incident(inc, byID))
		}
		return &out
	}
	maints := func(lists ...[]PageMaintenance) *[]v2Incident {
		out := []v2Incident{}
		for _, l := range lists {
			for _, m := range l {
				out = append(out, p.v2Maintenance(m, byID))
			}
		}
		return &out
	}
	status := &v2Status{Indicator: string(p.indicator), Description: p.indicator.Description()}
	switch name {
	case "summary.json":
		doc.Components = &comps
		doc.Incidents = incs(p.active, -1)
		doc.ScheduledMaintenances = maints(p.inProgress, p.upcoming)
		doc.Status = status
	case "status.json":
		doc.Status = status
	case "components.json":
		doc.Components = &comps
	case "incidents.json":
		doc.Incidents = incs(p.Incidents, v2IncidentLimit)
	case "incidents/unresolved.json":
		doc.Incidents = incs(p.active, -1)
	case "scheduled-maintenances.json":
		// Newest first, like incidents.
		all := make([]PageMaintenance, 0, len(p.Maintenances))
		for i := len(p.Maintenances) - 1; i >= 0; i-- {
			all = append(all, p.Maintenances[i])
		}
		doc.ScheduledMaintenances = maints(all)
	case "scheduled-maintenances/upcoming.json":
		doc.ScheduledMaintenances = maints(p.upcoming)
	case "scheduled-maintenances/active.json":
		doc.ScheduledMaintenances = maints(p.inProgress)
	default:
		return v2Doc{}, fmt.Errorf("v2 document %q: %w", name, errNotFound)
	}
	return doc, nil
}

func (s *server) handleV2(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := s.pageView(r)
		if err != nil {
			s.failView(w, r, err, false)
			return
		}
		// Public data, read by widgets on other sites; a member's view is
		// for no other site.
		if !p.member {
			w.Header().Set("Access-Control-Allow-Origin", "*")
		}
		s.serveCached(w, r, p, "v2/"+name, "application/json", func(buf *bytes.Buffer) error {
			return p.writeV2(buf, name)
		})
	}
}

// writeV2 writes the named document as indented JSON.
func (p *publicPage) writeV2(buf *bytes.Buffer, name string) error {
	doc, err := p.v2Document(name)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(buf)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

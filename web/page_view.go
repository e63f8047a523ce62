package web

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/a-h/templ"

	"github.com/lookout-status/lookout/incidents"
	"github.com/lookout-status/lookout/templates"
)

// recentDays is how far back the page lists past incidents.
const recentDays = 14

var componentLabels = map[incidents.ComponentStatus]string{
	incidents.Operational:         "Operational",
	incidents.DegradedPerformance: "Degraded performance",
	incidents.PartialOutage:       "Partial outage",
	incidents.MajorOutage:         "Major outage",
	incidents.UnderMaintenance:    "Under maintenance",
}

// componentIcons go next to the status text, never instead of it.
var componentIcons = map[incidents.ComponentStatus]string{
	incidents.Operational:         "✓",
	incidents.DegradedPerformance: "▲",
	incidents.PartialOutage:       "◆",
	incidents.MajorOutage:         "✕",
	incidents.UnderMaintenance:    "⚙",
}

var publicLabels = map[string]string{
	string(incidents.Investigating):         "Investigating",
	string(incidents.Identified):            "Identified",
	string(incidents.Monitoring):            "Monitoring",
	string(incidents.PublicResolved):        "Resolved",
	string(incidents.MaintenanceScheduled):  "Scheduled",
	string(incidents.MaintenanceInProgress): "In progress",
	string(incidents.MaintenanceVerifying):  "Verifying",
	string(incidents.MaintenanceCompleted):  "Completed",
	string(incidents.MaintenanceCancelled):  "Cancelled",
}

var impactLabels = map[incidents.Impact]string{
	incidents.ImpactNone:     "No impact",
	incidents.ImpactMinor:    "Minor impact",
	incidents.ImpactMajor:    "Major impact",
	incidents.ImpactCritical: "Critical impact",
}

// label returns m[k], or k itself for a value this code does not know.
func label[K ~string](m map[K]string, k K) string {
	if l, ok := m[k]; ok {
		return l
	}
	return string(k)
}

const (
	humanDateTime = "2 Jan 2006 15:04 UTC"
	humanDay      = "2 Jan"
)

func isoTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func humanTimeOf(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(humanDateTime)
}

// accentRe is the only accent colour form accepted: the theme stylesheet's
// name is built from it.
var accentRe = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// shell builds the header every page shares.
func (p *publicPage) shell(title string) templates.Shell {
	name := p.Name
	if name == "" {
		name = "Status"
	}
	l := p.link
	s := templates.Shell{
		Title: name, Name: name,
		HomeHref: l.home(), HistoryHref: l.history(""), APIHref: l.api("summary.json"),
		CSS: l.asset("page.css"), Favicon: l.asset("favicon.svg"), Script: l.asset("page.js"),
		SignInHref: p.signIn, ConsoleHref: p.console,
	}
	if title != "" {
		s.Title = title + " · " + name
	}
	// Only a same-origin path: the CSP allows images from nowhere else,
	// and "//host/x" would be another origin. A static copy has no logo:
	// Lookout does not serve it, so it is not in the copy.
	if !l.files && strings.HasPrefix(p.Logo, "/") && !strings.HasPrefix(p.Logo, "//") && !strings.ContainsAny(p.Logo, "\\\"'<> \t\r\n") {
		s.Logo = p.Logo
	}
	if accentRe.MatchString(p.Accent) {
		s.ThemeCSS = l.theme(strings.ToLower(p.Accent[1:]))
	}
	return s
}

// indexView builds the view model of the status page.
func (p *publicPage) indexView() templates.Page {
	v := templates.Page{
		Shell:      p.shell(""),
		Indicator:  string(p.indicator),
		Banner:     p.indicator.Description(),
		Updated:    humanTimeOf(p.UpdatedAt),
		UpdatedAt:  isoTime(p.UpdatedAt),
		RecentDays: fmt.Sprint(recentDays),
	}
	for _, inc := range p.active {
		v.Active = append(v.Active, p.incidentView(inc))
	}
	for _, m := range append(append([]PageMaintenance(nil), p.inProgress...), p.upcoming...) {
		v.Maintenances = append(v.Maintenances, p.maintenanceView(m))
	}
	last := p.AsOf.UTC().Truncate(24 * time.Hour)
	v.WindowStart = last.AddDate(0, 0, -(statusWindow - 1)).Format(humanDay)
	v.WindowEnd = last.Format(humanDay)
	for _, g := range p.groups() {
		gv := templates.ComponentGroup{
			Name:        g.Name,
			Status:      string(g.Status),
			StatusLabel: label(componentLabels, g.Status),
			Icon:        componentIcons[g.Status],
			Open:        g.Status != incidents.Operational,
		}
		for _, c := range g.Members {
			gv.Components = append(gv.Components, p.componentRow(c))
		}
		v.Groups = append(v.Groups, gv)
	}
	if p.EmailSubscriptions {
		f := &templates.SubscribeForm{Action: p.link.subscribe(), Feed: p.link.feed("", "atom")}
		for _, c := range p.Components {
			if !c.Private {
				f.Components = append(f.Components, templates.SubscribeComponent{ID: c.ID, Name: c.Name})
			}
		}
		v.Subscribe = f
	}
	since := p.AsOf.AddDate(0, 0, -recentDays)
	for _, inc := range p.recent {
		if inc.ResolvedAt.IsZero() || !inc.ResolvedAt.Before(since) {
			v.Recent = append(v.Recent, p.incidentView(inc))
		}
	}
	return v
}

func (p *publicPage) componentRow(c *PageComponent) templates.ComponentRow {
	row := templates.ComponentRow{
		ID:          c.ID,
		Href:        p.link.component(c.ID),
		Name:        c.Name,
		Description: c.Description,
		Status:      string(c.Status),
		StatusLabel: label(componentLabels, c.Status),
		Icon:        componentIcons[c.Status],
		Uptime:      "No data",
	}
	days := window(c, p.AsOf, statusWindow)
	if u, ok := uptime(days); ok {
		row.Uptime = formatPercent(u) + " uptime"
	}
	for _, d := range days {
		cell := templates.DayCell{
			Class: "day-none",
			Href:  p.link.history(d.Day.Format("2006-01")) + "#day-" + d.Day.Format(time.DateOnly),
		}
		text := d.Day.Format(humanDay) + ": "
		if u, ok := uptime([]DayStat{d}); ok {
			text += formatPercent(u) + " uptime"
			cell.Class = "day-" + string(cmpOr(d.Worst, incidents.Operational))
		} else {
			text += "no data"
			if d.Worst != "" {
				cell.Class = "day-" + string(d.Worst)
			}
		}
		switch d.Incidents {
		case 0:
		case 1:
			text += ", 1 incident"
		default:
			text += fmt.Sprintf(", %d incidents", d.Incidents)
		}
		cell.Label = text
		row.Days = append(row.Days, cell)
	}
	return row
}

func cmpOr(s, fallback incidents.ComponentStatus) incidents.ComponentStatus {
	if s == "" {
		return fallback
	}
	return s
}

// formatPercent writes a share as a percentage with up to two decimals,
// never rounding a failure up to 100%: 0.99996 is "99.99%".
func formatPercent(u float64) string {
	hundredths := int64(u * 10000) // truncates
	s := fmt.Sprintf("%d.%02d", hundredths/100, hundredths%100)
	s = strings.TrimSuffix(strings.TrimSuffix(s, "0"), "0")
	s = strings.TrimSuffix(s, ".")
	return s + "%"
}

// componentNames lists the public components' names for ids, skipping
// unknown ones.
func (p *publicPage) componentNames(ids []string) string {
	var names []string
	for _, id := range ids {
		if c := p.byID[id]; c != nil {
			names = append(names, c.Name)
		}
	}
	return strings.Join(names, ", ")
}

func (p *publicPage) incidentView(inc PageIncident) templates.IncidentView {
	return templates.IncidentView{
		ID:          inc.ID,
		Href:        p.link.incident(inc.ID),
		Name:        inc.Name,
		Impact:      string(inc.Impact),
		ImpactLabel: label(impactLabels, inc.Impact),
		Status:      string(inc.Status),
		StatusLabel: label(publicLabels, string(inc.Status)),
		Components:  p.componentNames(inc.Components),
		Started:     humanTimeOf(inc.StartedAt),
		StartedAt:   isoTime(inc.StartedAt),
		Resolved:    humanTimeOf(inc.ResolvedAt),
		ResolvedAt:  isoTime(inc.ResolvedAt),
		Updates:     updateViews(inc.Updates),
	}
}

func updateViews(us []IncidentUpdate) []templates.UpdateView {
	var out []templates.UpdateView
	for _, u := range us {
		out = append(out, templates.UpdateView{
			Status:      u.Status,
			StatusLabel: label(publicLabels, u.Status),
			Body:        u.Body,
			At:          humanTimeOf(u.At),
			AtISO:       isoTime(u.At),
		})
	}
	return out
}

func (p *publicPage) maintenanceView(m PageMaintenance) templates.MaintenanceView {
	return templates.MaintenanceView{
		ID:          m.ID,
		Name:        m.Name,
		Status:      string(m.Status),
		StatusLabel: label(publicLabels, string(m.Status)),
		Components:  p.componentNames(m.Components),
		From:        humanTimeOf(m.ScheduledFor),
		FromISO:     isoTime(m.ScheduledFor),
		Until:       humanTimeOf(m.ScheduledUntil),
		UntilISO:    isoTime(m.ScheduledUntil),
		Updates:     updateViews(m.Updates),
	}
}

// incident returns the incident the page shows as id; ok is false when
// it shows no such incident.
func (p *publicPage) incident(id string) (PageIncident, bool) {
	for _, inc := range p.Incidents {
		if inc.ID == id {
			return inc, true
		}
	}
	return PageIncident{}, false
}

// postmortemMarkdown renders every postmortem; built on first use, then
// only read.
var postmortemMarkdown = sync.OnceValue(newMarkdown)

// incidentPage builds the view model of inc's page, rendering its
// postmortem's Markdown to sanitised HTML.
func (p *publicPage) incidentPage(inc PageIncident) (templates.IncidentPage, error) {
	v := templates.IncidentPage{
		Shell:    p.shell(inc.Name),
		Incident: p.incidentView(inc),
	}
	if strings.TrimSpace(inc.Postmortem) != "" {
		html, err := postmortemMarkdown().HTML(inc.Postmortem)
		if err != nil {
			return templates.IncidentPage{}, fmt.Errorf("postmortem of %s: %w", inc.ID, err)
		}
		if strings.TrimSpace(html) != "" { // nothing left to show: no section
			v.Postmortem = templ.Raw(html)
		}
	}
	return v, nil
}

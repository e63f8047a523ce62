package web

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lookout-status/lookout/incidents"
)

// PageSource returns everything one public status page shows. Page is
// called on every request to a page route, so it must answer from memory (a
// snapshot rebuilt when the state changes), never from the database writer.
// An unknown host should yield an error matching fs.ErrNotExist (errors.Is),
// which answers 404.
type PageSource interface {
	Page(ctx context.Context, host string) (PageData, error)
}

// PageData is one page's snapshot. Rendering is a pure function of it: the
// same data always gives the same bytes, so every representation is
// rendered at most once per Version.
type PageData struct {
	// Version changes whenever anything below changes (a counter or a hash
	// from the source). Empty: web hashes the data itself, on every request.
	Version string
	// AsOf is when the snapshot was taken; it decides which maintenances
	// are upcoming and which days the uptime bars cover.
	AsOf time.Time

	// Org is the organization that owns the page: its members may see
	// its private components (see Viewer).
	Org string
	// Private: the whole page is for Org's members only. To anyone else
	// every route of it answers 404, as if there were no page at all, and
	// it has no static copy.
	Private bool
	// ID, Name, URL: the page's identity. URL is its public address
	// (shortlinks); Logo is a same-origin path ("/logo.png": the CSP
	// allows no other origin); Accent is "#rrggbb" or empty.
	ID, Name, URL string
	Logo, Accent  string
	// TimeZone is an IANA name for the JSON API (default "Etc/UTC").
	TimeZone string
	// UpdatedAt is the last change of anything shown.
	UpdatedAt time.Time

	// Components in display order; Private ones are never shown to
	// visitors and never count towards the overall status.
	Components []PageComponent
	// Incidents holds the published incidents: every open one and those
	// resolved in the last 14 days (at least), any order.
	Incidents []PageIncident
	// Maintenances holds scheduled, running and recently finished windows.
	Maintenances []PageMaintenance
	// EmailSubscriptions shows the e-mail subscription form (an SMTP
	// server is configured and the page has a public URL for the links).
	EmailSubscriptions bool
}

// PageComponent is one component on a page.
type PageComponent struct {
	ID, Name, Description, Group string
	Status                       incidents.ComponentStatus
	Private                      bool
	CreatedAt, UpdatedAt         time.Time
	// Days are the last 90 UTC days, any order; days without an entry
	// show "no data".
	Days []DayStat
}

// DayStat is one UTC day of a component: its probes' checks and how many
// were down, the worst status shown that day and the incidents touching it.
type DayStat struct {
	Day          time.Time // midnight UTC
	Checks, Down int
	Worst        incidents.ComponentStatus // "" when nothing was recorded
	Incidents    int
	// P50 and P95 are the day's median and 95th percentile response
	// times of checks that were not down; zero when unknown.
	P50, P95 time.Duration
}

// PageIncident is a published incident.
type PageIncident struct {
	ID, Name string
	Status   incidents.PublicStatus
	Impact   incidents.Impact
	// Components are the affected component ids.
	Components                      []string
	CreatedAt, UpdatedAt, StartedAt time.Time
	MonitoringAt, ResolvedAt        time.Time // zero: not (yet)
	Updates                         []IncidentUpdate
	// Postmortem is Markdown, empty when there is none.
	Postmortem string
}

// IncidentUpdate is one public update of an incident or maintenance.
type IncidentUpdate struct {
	ID     string
	Status string // investigating..resolved, or scheduled..completed
	Body   string
	At     time.Time
}

// PageMaintenance is a maintenance window.
type PageMaintenance struct {
	ID, Name   string
	Status     incidents.MaintenanceStatus
	Components []string
	// ScheduledFor and ScheduledUntil bound the window.
	ScheduledFor, ScheduledUntil time.Time
	CreatedAt, UpdatedAt         time.Time
	Updates                      []IncidentUpdate
}

// version returns d.Version, or a hash of the data when the source gives
// none.
func (d *PageData) version() (string, error) {
	if d.Version != "" {
		return d.Version, nil
	}
	b, err := json.Marshal(d)
	if err != nil {
		return "", fmt.Errorf("hash page data: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12]), nil
}

// Viewer is who looks at a page. The zero Viewer, Anonymous, is a visitor
// who has not signed in: everything public, nothing private. A Viewer with
// Org set is a signed-in member of that organization (a session or a
// token of any role, page_viewer.go), who also sees its private
// components and pages. Members of other organizations, and credentials
// that do not check out, are Anonymous; so is every static copy.
type Viewer struct {
	Org string
}

// Anonymous is the viewer every public (cacheable) representation is made
// for.
var Anonymous = Viewer{}

// seesPrivate reports whether v may see d's private components.
func (v Viewer) seesPrivate(d *PageData) bool {
	return v.Org != "" && v.Org == d.Org
}

// publicPage is a page as one viewer may see it: for Anonymous, private
// components gone, incidents and maintenances that only touched private
// components gone, and the survivors' component lists cut to public
// components. Incidents come newest first and updates newest first.
type publicPage struct {
	PageData
	// link makes the hrefs of HTML documents; abs the absolute URLs of
	// feeds and API documents (see links.go).
	link, abs  links
	byID       map[string]*PageComponent
	active     []PageIncident // unresolved, newest first
	recent     []PageIncident // resolved, newest first
	upcoming   []PageMaintenance
	inProgress []PageMaintenance
	indicator  incidents.Indicator
	// member: the view of a member of the page's organization, private
	// components included; its renderings are never stored by a cache
	// but the server's (page_viewer.go).
	member bool
	// signIn and console link the header to the sign-in page (anonymous
	// views on a server with accounts) or the console (a member's view);
	// empty in a static copy.
	signIn, console string
	// keyPrefix starts the render cache's keys of this view: organization,
	// page and view (cacheKey).
	keyPrefix string
}

// statusWindow is the number of days the uptime bars cover.
const statusWindow = 90

// pageFor is the one place that decides what viewer v sees of d: the page,
// its API, feeds, badges, the overall indicator and the static copy are
// all built from what it returns.
func pageFor(d PageData, v Viewer) *publicPage {
	p := &publicPage{PageData: d, byID: map[string]*PageComponent{}, abs: liveLinks(d.URL)}
	p.Name = cleanText(p.Name)
	private := map[string]bool{}
	p.Components = nil
	seesPrivate := v.seesPrivate(&d)
	for _, c := range d.Components {
		// Every component of a private page is private, whatever the
		// source says.
		if (c.Private || d.Private) && !seesPrivate {
			private[c.ID] = true
			continue
		}
		c.Name, c.Description, c.Group = cleanText(c.Name), cleanText(c.Description), cleanText(c.Group)
		p.Components = append(p.Components, c)
	}
	for i := range p.Components {
		p.byID[p.Components[i].ID] = &p.Components[i]
	}
	keep := func(ids []string) ([]string, bool) {
		var out []string
		for _, id := range ids {
			if !private[id] {
				out = append(out, id)
			}
		}
		// Something with no components at all is page-wide; one whose
		// components are all private is none of the visitors' business.
		return out, len(ids) == 0 || len(out) > 0
	}
	p.Incidents = nil
	for _, inc := range d.Incidents {
		var ok bool
		if inc.Components, ok = keep(inc.Components); !ok {
			continue
		}
		inc.Name, inc.Postmortem = cleanText(inc.Name), cleanText(inc.Postmortem)
		inc.Updates = newestFirst(inc.Updates)
		p.Incidents = append(p.Incidents, inc)
	}
	slices.SortStableFunc(p.Incidents, func(a, b PageIncident) int {
		return cmp.Or(b.StartedAt.Compare(a.StartedAt), cmp.Compare(b.ID, a.ID))
	})
	for _, inc := range p.Incidents {
		if inc.Status == incidents.PublicResolved {
			p.recent = append(p.recent, inc)
		} else {
			p.active = append(p.active, inc)
		}
	}
	p.Maintenances = nil
	for _, m := range d.Maintenances {
		var ok bool
		if m.Components, ok = keep(m.Components); !ok {
			continue
		}
		m.Name = cleanText(m.Name)
		m.Updates = newestFirst(m.Updates)
		p.Maintenances = append(p.Maintenances, m)
	}
	slices.SortStableFunc(p.Maintenances, func(a, b PageMaintenance) int {
		return cmp.Or(a.ScheduledFor.Compare(b.ScheduledFor), cmp.Compare(a.ID, b.ID))
	})
	for _, m := range p.Maintenances {
		switch m.Status {
		case incidents.MaintenanceInProgress, incidents.MaintenanceVerifying:
			p.inProgress = append(p.inProgress, m)
		case incidents.MaintenanceScheduled:
			if m.ScheduledUntil.After(d.AsOf) {
				p.upcoming = append(p.upcoming, m)
			}
		}
	}
	p.indicator = overallIndicator(p.Components, p.active)
	return p
}

// cleanText makes text from the source safe to put in HTML, JSON and XML
// alike: valid UTF-8 and no control characters but newline and tab.
// (Escaping is each format's job; this only removes what none can carry.)
func cleanText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' || (r >= 0x20 && r != 0x7f && !(r >= 0x80 && r < 0xa0) && r != 0xfffe && r != 0xffff) {
			return r
		}
		return -1
	}, s)
}

func newestFirst(us []IncidentUpdate) []IncidentUpdate {
	out := slices.Clone(us)
	for i := range out {
		out[i].Body = cleanText(out[i].Body)
	}
	slices.SortStableFunc(out, func(a, b IncidentUpdate) int {
		return cmp.Or(b.At.Compare(a.At), cmp.Compare(b.ID, a.ID))
	})
	return out
}

// overallIndicator is the page's indicator from its public components and
// unresolved incidents (incidents.PageIndicator holds the rule, shared with
// subscriber webhooks).
func overallIndicator(cs []PageComponent, active []PageIncident) incidents.Indicator {
	statuses := make([]incidents.ComponentStatus, 0, len(cs))
	for _, c := range cs {
		statuses = append(statuses, c.Status)
	}
	impacts := make([]incidents.Impact, 0, len(active))
	for _, inc := range active {
		impacts = append(impacts, inc.Impact)
	}
	return incidents.PageIndicator(statuses, impacts)
}

// componentRank orders component statuses for a group's worst member;
// maintenance ranks below any outage.
func componentRank(s incidents.ComponentStatus) int {
	switch s {
	case incidents.UnderMaintenance:
		return 1
	case incidents.DegradedPerformance:
		return 2
	case incidents.PartialOutage:
		return 3
	case incidents.MajorOutage:
		return 4
	}
	return 0
}

func worstStatus(a, b incidents.ComponentStatus) incidents.ComponentStatus {
	if componentRank(b) > componentRank(a) {
		return b
	}
	if a == "" {
		return b
	}
	return a
}

// componentGroup is a run of components shown under one heading.
type componentGroup struct {
	ID, Name   string // empty for components outside any group
	Status     incidents.ComponentStatus
	Members    []*PageComponent
	CreatedAt  time.Time
	UpdatedAt  time.Time
	firstIndex int
}

// groups gathers the public components by group, each group where its
// first member appears.
func (p *publicPage) groups() []*componentGroup {
	var out []*componentGroup
	index := map[string]*componentGroup{}
	for i := range p.Components {
		c := &p.Components[i]
		g := index[c.Group]
		if g == nil || c.Group == "" {
			g = &componentGroup{Name: c.Group, firstIndex: i, CreatedAt: c.CreatedAt}
			if c.Group != "" {
				g.ID = groupID(p.ID, c.Group)
				index[c.Group] = g
			}
			out = append(out, g)
		}
		g.Members = append(g.Members, c)
		g.Status = worstStatus(g.Status, c.Status)
		if c.CreatedAt.Before(g.CreatedAt) {
			g.CreatedAt = c.CreatedAt
		}
		if c.UpdatedAt.After(g.UpdatedAt) {
			g.UpdatedAt = c.UpdatedAt
		}
	}
	return out
}

// groupID names a group in the JSON API: stable for a page and group name.
func groupID(page, group string) string {
	sum := sha256.Sum256([]byte(page + "\x00" + group))
	return "group-" + hex.EncodeToString(sum[:6])
}

// uptime returns the share of checks that were not down over days, and
// false when none ran.
func uptime(days []DayStat) (float64, bool) {
	var checks, down int
	for _, d := range days {
		checks += d.Checks
		down += d.Down
	}
	if checks == 0 {
		return 0, false
	}
	return float64(checks-down) / float64(checks), true
}

// window returns the component's stats for the n UTC days ending with the
// day of asOf, oldest first, with empty entries for days without data.
func window(c *PageComponent, asOf time.Time, n int) []DayStat {
	last := asOf.UTC().Truncate(24 * time.Hour)
	first := last.AddDate(0, 0, -(n - 1))
	out := make([]DayStat, n)
	for i := range out {
		out[i].Day = first.AddDate(0, 0, i)
	}
	for _, d := range c.Days {
		day := d.Day.UTC().Truncate(24 * time.Hour)
		i := int(day.Sub(first) / (24 * time.Hour))
		if day.Before(first) || i >= n {
			continue
		}
		out[i].Checks += d.Checks
		out[i].Down += d.Down
		out[i].Incidents += d.Incidents
		out[i].Worst = worstStatus(out[i].Worst, d.Worst)
		out[i].P50, out[i].P95 = max(out[i].P50, d.P50), max(out[i].P95, d.P95)
	}
	return out
}

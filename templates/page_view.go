package templates

import "github.com/a-h/templ"

// Shell is what every public page shares: the page's name, logo and the
// stylesheet carrying its accent colour.
type Shell struct {
	// Title is the document title; Name is the page's name in the header.
	Title string
	Name  string
	// Logo is a same-origin path, empty for none.
	Logo string
	// ThemeCSS is the path of the accent stylesheet, empty for none.
	ThemeCSS string
	// The links every page has: home, the newest month of history, the
	// JSON API, the stylesheet, the icon and the script. Root paths on
	// the server, relative file paths in a static copy.
	HomeHref, HistoryHref, APIHref string
	CSS, Favicon, Script           string
	// SignInHref links "Sign in" for a visitor, ConsoleHref "Console" for
	// a signed-in member; both empty in a static copy.
	SignInHref, ConsoleHref string
}

// Page is the public status page.
type Page struct {
	Shell
	// Indicator is none, minor, major, critical or maintenance; Banner
	// says it in words.
	Indicator string
	Banner    string
	// Updated is the last change: human text and RFC 3339.
	Updated   string
	UpdatedAt string
	Active    []IncidentView
	// Maintenances lists running windows, then upcoming ones.
	Maintenances []MaintenanceView
	Groups       []ComponentGroup
	// WindowStart and WindowEnd label the ends of the uptime bars.
	WindowStart string
	WindowEnd   string
	Recent      []IncidentView
	// RecentDays is how far back Recent goes ("14").
	RecentDays string
	// Subscribe, when set, shows the e-mail subscription form.
	Subscribe *SubscribeForm
}

// ComponentGroup is a group of components, or a single ungrouped component
// (Name empty, one member).
type ComponentGroup struct {
	Name        string
	Status      string
	StatusLabel string
	Icon        string
	// Open: the group is shown expanded (a member is not operational).
	Open       bool
	Components []ComponentRow
}

// ComponentRow is one component with its 90-day bar.
type ComponentRow struct {
	ID          string
	Href        string // the component's page
	Name        string
	Description string
	Status      string
	StatusLabel string
	Icon        string
	// Uptime is "99.95% uptime" or "No data".
	Uptime string
	Days   []DayCell
}

// DayCell is one day of an uptime bar.
type DayCell struct {
	// Class is "day-" plus the day's worst status, or "day-none".
	Class string
	// Label reads "12 Nov: 99.2% uptime, 1 incident".
	Label string
	Href  string
}

// IncidentView is an incident with its updates, newest first.
type IncidentView struct {
	ID          string
	Href        string
	Name        string
	Impact      string
	ImpactLabel string
	Status      string
	StatusLabel string
	// Components names the affected components, comma separated.
	Components string
	Started    string
	StartedAt  string
	Resolved   string
	ResolvedAt string
	Updates    []UpdateView
}

// UpdateView is one public update.
type UpdateView struct {
	Status      string
	StatusLabel string
	Body        string
	At          string // human text
	AtISO       string // RFC 3339
}

// MaintenanceView is a maintenance window.
type MaintenanceView struct {
	ID          string
	Name        string
	Status      string
	StatusLabel string
	Components  string
	From        string
	FromISO     string
	Until       string
	UntilISO    string
	Updates     []UpdateView
}

// IncidentPage is one incident's page.
type IncidentPage struct {
	Shell
	Incident IncidentView
	// Postmortem is the published postmortem as sanitised HTML (web
	// renders and sanitises its Markdown); nil when there is none.
	Postmortem templ.Component
}

// HistoryPage is one month of the page's history, newest day first.
type HistoryPage struct {
	Shell
	Month string // "November 2025"
	// PrevHref and NextHref link the neighbouring months; empty when the
	// page keeps no history there.
	PrevHref string
	NextHref string
	Days     []HistoryDay
}

// HistoryDay is one day: the worst status any component showed, the
// uptime over every component's checks, and the incidents that started.
type HistoryDay struct {
	ID          string // "day-2025-11-09", the bars' link target
	Date        string
	DateISO     string
	Status      string
	StatusLabel string
	Icon        string
	Uptime      string
	Incidents   []IncidentView
}

// ComponentPageView is one component's page: its 90 days, newest first,
// and its response-time chart.
type ComponentPageView struct {
	Shell
	Name        string
	Description string
	Status      string
	StatusLabel string
	Icon        string
	// Uptime is "99.95% uptime over the last 90 days" or "No data".
	Uptime string
	Chart  Chart
	Days   []ComponentDay
}

// ComponentDay is one day of a component.
type ComponentDay struct {
	Date        string
	DateISO     string
	Class       string // "day-" plus the worst status, or "day-none"
	StatusLabel string // empty: no data
	Uptime      string // "99.2%" or "No data"
	P50, P95    string // "182 ms" or "–"
	Incidents   []IncidentLink
}

// IncidentLink names an incident and links to its page.
type IncidentLink struct {
	Name string
	Href string
}

// Chart is a line chart of daily p50 and p95 response times, laid out by
// web: every coordinate is precomputed.
type Chart struct {
	Width, Height int
	// Title and Desc are the chart's accessible name and description.
	Title, Desc string
	// Empty: nothing to draw (Desc says so).
	Empty bool
	// P50 and P95 are polyline point lists, one per run of days with
	// data.
	P50, P95 []string
	// YTicks are horizontal grid lines (Pos is y); XTicks label the first
	// and last days (Pos is x).
	YTicks, XTicks []ChartTick
	// Left, Right and Bottom bound the plot; LabelY is the x labels'
	// baseline and AxisX the y labels' right edge.
	Left, Right, Bottom, LabelY, AxisX string
}

// ChartTick is a labelled position on an axis.
type ChartTick struct {
	Pos   string
	Label string
}

// NoticePage is a short message page; Action and Button, when set, make a
// form posting to Action.
type NoticePage struct {
	Shell
	Heading    string
	Paragraphs []string
	Action     string // a same-origin path
	Button     string
}

// SubscribeForm is the e-mail subscription form; Components lists the
// page's public components to choose from.
type SubscribeForm struct {
	Action     string // where the form posts: /subscribe, or under the page's path
	Feed       string // the page's Atom feed
	Components []SubscribeComponent
}

// SubscribeComponent is one choice of the form.
type SubscribeComponent struct {
	ID, Name string
}

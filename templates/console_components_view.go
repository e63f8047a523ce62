package templates

// The components console pages (console_components.templ): components in
// their groups with their status, each probe with its last result, a 24 h
// latency sparkline and a "Run now" button; a probe's recent results.

// ConsoleComponentsPage is /console/components.
type ConsoleComponentsPage struct {
	Console Console
	Groups  []ConsoleComponentGroup
	// Empty says the organization has no components yet.
	Empty bool
}

// ConsoleComponentGroup is a named group of components ("" for ungrouped ones).
type ConsoleComponentGroup struct {
	Name       string
	Components []ConsoleComponentRow
}

// ConsoleComponentRow is one component and its probes.
type ConsoleComponentRow struct {
	ID, Name, Description string
	// Status is the machine value (operational, degraded_performance, ...)
	// for styling; StatusLabel and StatusIcon say it in words and a glyph.
	Status, StatusLabel, StatusIcon string
	Private                         bool
	Probes                          []ConsoleProbeRow
}

// ConsoleProbeRow is one probe as the console lists it.
type ConsoleProbeRow struct {
	ID, Name, Kind, Target string
	// Href opens the probe's page; RunAction is the "Run now" form's
	// action, empty when the viewer may not run probes.
	Href, RunAction string
	Every           string // "every 30s, timeout 10s"
	Last            ConsoleResult
	Spark           Sparkline
}

// ConsoleResult is a probe's last result, or none (Has false).
type ConsoleResult struct {
	Has            bool
	Outcome        string // up, degraded, down
	Latency        string // "123 ms"
	At, AtISO, Ago string
	Region, Error  string
}

// Sparkline is a server-rendered latency chart. Label summarises it for
// assistive technology (role="img").
type Sparkline struct {
	Label         string
	Width, Height string
	ViewBox       string
	// Lines are polyline point lists, one per run of hours with data.
	Lines []string
	// Down marks hours with failed checks.
	Down  []SparkMark
	Empty bool
}

// SparkMark is a small mark at X.
type SparkMark struct{ X, Y, W, H string }

// ConsoleProbePage is /console/probes/{id}.
type ConsoleProbePage struct {
	Console   Console
	Probe     ConsoleProbeRow
	Component string // the component's name
	// BackHref returns to the components page.
	BackHref string
	Results  []ConsoleResult
	// OlderHref pages to older results; empty on the last page.
	OlderHref string
}

// Package templates holds the templ components of the public pages and the
// view models they take. Views do no formatting and no lookups: package web
// precomputes every string shown.
package templates

// StatusPage is the public status page.
type StatusPage struct {
	Title string
	// Overall is the worst component status ("operational", ...,
	// "unknown"); OverallLabel says it in words.
	Overall      string
	OverallLabel string
	// Updated is when the page was built: human text and RFC 3339.
	Updated   string
	UpdatedAt string
	Groups    []GroupView
}

// GroupView is a run of components under one heading; Name is empty for
// components outside any group.
type GroupView struct {
	Name       string
	Components []ComponentView
}

// ComponentView is one component and the latest results of its probes.
type ComponentView struct {
	ID          string
	Name        string
	Description string
	Group       string
	// Status is the machine value (operational, degraded_performance,
	// partial_outage, major_outage, unknown); StatusLabel is its text.
	Status      string
	StatusLabel string
	Probes      []ProbeView
}

// ProbeView is one probe's latest result. A probe without results has an
// empty Outcome, CheckedAt and Latency, and OutcomeLabel says it is pending.
type ProbeView struct {
	ID           string
	Name         string
	Kind         string
	Outcome      string // up, degraded, down; empty: no result yet
	OutcomeLabel string
	Latency      string // "123 ms"
	Error        string
	CheckedAt    string // RFC 3339, for <time datetime>
	CheckedText  string // human text of CheckedAt
}

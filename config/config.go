// Package config reads Lookout's declarative YAML configuration: strictly
// (unknown keys, bad values and dangling references are errors naming file,
// line and field), with ${ENV} references for secrets.
package config

import (
	"net/netip"
	"net/url"
	"time"

	"github.com/lookout-status/lookout/probes"
)

// Config is a whole, validated configuration file.
type Config struct {
	// Path is the file it was read from, for messages.
	Path          string
	Storage       Storage
	Scheduler     Scheduler
	Organizations []Organization
	Backup        *Backup // nil: no scheduled backups
	SMTP          *SMTP   // nil: no e-mail subscribers
	Server        Server
}

// Server describes this deployment as people reach it.
type Server struct {
	// URL is the origin where this Lookout is served to its members
	// ("https://lookout.example.com", no path): notifications link to
	// incidents in its console. "" leaves it to each organization's first
	// page URL's origin (ConsoleURL).
	URL string
}

// Storage settings.
type Storage struct {
	// RawRetention is how long raw probe results are kept (default 7 days);
	// hourly and daily rollups are kept for RollupRetention (default 400 days,
	// at least 90).
	RawRetention    time.Duration
	RollupRetention time.Duration
	// FlushInterval bounds how long a probe result waits in the write batch
	// (default 1s); FlushSize flushes earlier (default 500).
	FlushInterval time.Duration
	FlushSize     int
}

// Scheduler settings.
type Scheduler struct {
	// MaxConcurrency bounds probes running at once (default 256).
	MaxConcurrency int
	// Region is the name results from this process carry (default "local").
	Region string
}

// Organization owns pages, components, probes, users and teams.
type Organization struct {
	ID   string
	Name string
	// Egress lists prefixes this organization's probes and webhooks may
	// reach although the default policy refuses them (loopback, private
	// ranges...).
	Egress     []netip.Prefix
	Pages      []Page
	Components []Component
	Probes     []Probe
	// Maintenances are scheduled maintenance windows.
	Maintenances []Maintenance
	// Policy is the organization's incident policy (see oncall.go).
	Policy IncidentPolicy
	Users  []User
	// Teams own the schedules and escalation policies; their ids are
	// unique across the organization.
	Teams        []Team
	Notifiers    []Notifier
	Integrations Integrations
	// Tokens are API tokens for the incident actions API.
	Tokens []Token
	// Require2FA sends members who have no second factor (TOTP) to enroll
	// before anything else in the console or the API.
	Require2FA bool
}

// Page is a public status page.
type Page struct {
	ID     string `yaml:"id"`
	Name   string `yaml:"name"`   // default: the organization's name
	Host   string `yaml:"host"`   // optional host name the page answers on
	Logo   string `yaml:"logo"`   // URL or path of the logo
	Accent string `yaml:"accent"` // accent colour, "#rrggbb"
	URL    string `yaml:"url"`    // public URL of the page (for links in feeds, alerts)
	// Components lists the component ids shown; empty means all of the
	// organization's public components.
	Components []string `yaml:"components"`
	Private    bool     `yaml:"private"`
	// Mirror, if set, publishes a static copy of the page (mirror.go).
	Mirror *Mirror `yaml:"mirror"`
}

// Component is a thing visitors care about.
type Component struct {
	ID          string `yaml:"id"`
	Name        string `yaml:"name"` // default: the id
	Description string `yaml:"description"`
	Group       string `yaml:"group"`
	Private     bool   `yaml:"private"`
	// DependsOn lists components (of the same organization) this one
	// depends on: a failure of either groups into the other's incident.
	DependsOn []string `yaml:"depends_on"`
	// Escalation names the escalation policy paged for this component;
	// empty uses the organization's default (Policy.Escalation).
	Escalation string `yaml:"escalation"`
}

// Probe is one configured check with its kind's spec.
type Probe struct {
	ID        string
	Name      string
	Component string
	Kind      string
	Interval  time.Duration
	Timeout   time.Duration
	// FailureThreshold consecutive failures mark the probe down (default 1);
	// SuccessThreshold consecutive successes recover it (default 1).
	FailureThreshold int
	SuccessThreshold int
	// Quorum regions must agree before the probe counts as down (default
	// 1); with Regions set it is at most len(Regions).
	Quorum int
	// Regions lists the regions that run the probe; empty means every
	// region.
	Regions []string
	// DegradedPages makes a degraded probe open an incident; by default
	// degraded only degrades the component.
	DegradedPages bool
	// Flapping overrides the organization's flap detection; zero fields
	// fall back to Policy.Flapping.
	Flapping Flapping
	Spec     probes.Spec
	// Definition is the probe's kind block as canonical JSON *before* ${ENV}
	// expansion: safe to store and compare (holds no secret values).
	Definition string
	// Secrets lists the names of the ${ENV} variables the kind block uses,
	// sorted.
	Secrets []string
}

// ConsoleURL is the base of console links for org: the server's URL, else
// the origin of the organization's first page URL ("" when neither is
// set: messages carry no console link).
func (c *Config) ConsoleURL(org Organization) string {
	if c.Server.URL != "" {
		return c.Server.URL
	}
	if len(org.Pages) == 0 || org.Pages[0].URL == "" {
		return ""
	}
	u, err := url.Parse(org.Pages[0].URL)
	if err != nil || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

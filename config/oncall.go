package config

import (
	"slices"
	"time"

	"github.com/lookout-status/lookout/incidents"
)

// Incident policy defaults and limits.
const (
	DefaultGroupingWindow = 5 * time.Minute
	DefaultQuietPeriod    = 5 * time.Minute
	DefaultAckTimeout     = 30 * time.Minute
	DefaultFlapChanges    = 6
	DefaultFlapWindow     = 30 * time.Minute
	// DefaultComponentLabel is the Alertmanager label naming a component.
	DefaultComponentLabel = "component"
	// MinTokenLength is the shortest API or ingest token accepted.
	MinTokenLength = 24
)

// The values of IncidentPolicy.Publish.
const (
	PublishImmediately = "immediately"
	PublishDraft       = "draft"
)

// IncidentPolicy is an organization's incident policy (the YAML
// "incidents" block).
type IncidentPolicy struct {
	// GroupingWindow: a failing component joins a related open incident
	// that started at most this long ago (default 5m; 0 disables).
	GroupingWindow time.Duration
	// AutoResolve resolves an incident once everything in it has been
	// healthy for QuietPeriod (default true, 5m).
	AutoResolve bool
	QuietPeriod time.Duration
	// Publish is PublishImmediately (the default) or PublishDraft.
	Publish string
	// AckTimeout re-notifies the acknowledger of a still failing incident
	// (default 30m; 0 disables).
	AckTimeout time.Duration
	// Flapping is the default flap detection (default 6 changes in 30m;
	// 0 changes disables).
	Flapping Flapping
	// Escalation is the default escalation policy's id: as written, or the
	// only policy when there is exactly one; "" for none.
	Escalation string
}

// Flapping is flap detection: more than Changes verdict changes within
// Window marks a probe flapping.
type Flapping struct {
	Changes int
	Window  time.Duration
}

// User is a person who can be paged.
type User struct {
	ID    string `yaml:"id"`
	Name  string `yaml:"name"` // default: the id
	Email string `yaml:"email"`
	// SlackID is the Slack member id (U…), to mention the user.
	SlackID string `yaml:"slack_id"`
}

// Team owns schedules and escalation policies.
type Team struct {
	ID                 string
	Name               string   // default: the id
	Members            []string // user ids
	Schedules          []Schedule
	EscalationPolicies []EscalationPolicy
}

// Schedule says who is on call when; its layers and overrides are the pure
// core's types, with times resolved in Location.
type Schedule struct {
	ID string
	// TimeZone is the zone's name as written ("" for UTC); Location is the
	// loaded zone (never nil).
	TimeZone  string
	Location  *time.Location
	Layers    []incidents.Layer
	Overrides []incidents.Override
}

// EscalationPolicy is an ordered list of levels, repeated Repeats more times
// after the last one fired without an acknowledgement.
type EscalationPolicy struct {
	ID      string            `yaml:"id"`
	Repeats int               `yaml:"repeats"`
	Levels  []EscalationLevel `yaml:"levels"`
}

// EscalationLevel notifies its targets, then waits Wait for an
// acknowledgement before the next level fires.
type EscalationLevel struct {
	Wait    time.Duration `yaml:"wait"`
	Targets []Target      `yaml:"targets"`
}

// Target is one escalation target: exactly one field is set.
type Target struct {
	Schedule string `yaml:"schedule"` // whoever is on call when the level fires
	User     string `yaml:"user"`
	Notifier string `yaml:"notifier"` // a notifier's id (a Slack channel, a webhook...)
}

// Integrations are the organization's inbound integrations.
type Integrations struct {
	// Alertmanager, when set, accepts Alertmanager webhooks at
	// POST /api/v1/integrations/alertmanager with Token as a bearer token.
	Alertmanager *AlertmanagerIngest `yaml:"alertmanager"`
}

// AlertmanagerIngest configures the Alertmanager ingest endpoint.
type AlertmanagerIngest struct {
	Token Secret `yaml:"token"`
	// ComponentLabel is the alert label that names a Lookout component
	// (default "component").
	ComponentLabel string `yaml:"component_label"`
}

// Role is what a token (later, a user) may do in an organization.
type Role string

// The roles, from most to least powerful.
const (
	RoleOwner     Role = "owner"
	RoleAdmin     Role = "admin"
	RoleResponder Role = "responder"
	RoleViewer    Role = "viewer"
)

// Valid reports whether r is one of the four roles.
func (r Role) Valid() bool {
	switch r {
	case RoleOwner, RoleAdmin, RoleResponder, RoleViewer:
		return true
	}
	return false
}

// Token is an API token for the incident actions API, acting as User.
type Token struct {
	ID    string `yaml:"id"`
	User  string `yaml:"user"`
	Token Secret `yaml:"token"`
	Role  Role   `yaml:"role"`
}

// User returns the organization's user with the given id.
func (o *Organization) User(id string) (User, bool) {
	for _, u := range o.Users {
		if u.ID == id {
			return u, true
		}
	}
	return User{}, false
}

// Notifier returns the organization's notifier with the given id.
func (o *Organization) Notifier(id string) (Notifier, bool) {
	for _, n := range o.Notifiers {
		if n.ID == id {
			return n, true
		}
	}
	return Notifier{}, false
}

// IncidentConfig returns the organization's configuration as the pure
// incident core takes it. Escalation targets map schedule → TargetSchedule,
// user → TargetUser and notifier → TargetChannel (with the notifier's id).
// The result shares nothing with o.
func (o *Organization) IncidentConfig() incidents.Config {
	p := o.Policy
	cfg := incidents.Config{Policy: incidents.Policy{
		GroupingWindow:       p.GroupingWindow,
		AutoResolve:          p.AutoResolve,
		QuietPeriod:          p.QuietPeriod,
		PublishAutomatically: p.Publish != PublishDraft,
		Escalation:           p.Escalation,
		AckTimeout:           p.AckTimeout,
		FlapChanges:          p.Flapping.Changes,
		FlapWindow:           p.Flapping.Window,
	}}
	for _, c := range o.Components {
		cfg.Components = append(cfg.Components, incidents.ComponentConfig{
			ID:         c.ID,
			Name:       c.Name,
			Group:      c.Group,
			DependsOn:  slices.Clone(c.DependsOn),
			Escalation: c.Escalation,
		})
	}
	for _, pr := range o.Probes {
		cfg.Probes = append(cfg.Probes, incidents.ProbeConfig{
			ID:               pr.ID,
			Component:        pr.Component,
			FailureThreshold: pr.FailureThreshold,
			SuccessThreshold: pr.SuccessThreshold,
			Quorum:           pr.Quorum,
			DegradedPages:    pr.DegradedPages,
			FlapChanges:      pr.Flapping.Changes,
			FlapWindow:       pr.Flapping.Window,
		})
	}
	for _, t := range o.Teams {
		for _, s := range t.Schedules {
			cs := incidents.Schedule{
				ID:        s.ID,
				TimeZone:  s.Location,
				Overrides: slices.Clone(s.Overrides),
			}
			for _, l := range s.Layers {
				l.Members = slices.Clone(l.Members)
				l.Restrictions = slices.Clone(l.Restrictions)
				cs.Layers = append(cs.Layers, l)
			}
			cfg.Schedules = append(cfg.Schedules, cs)
		}
		for _, ep := range t.EscalationPolicies {
			cp := incidents.EscalationPolicy{ID: ep.ID, Repeats: ep.Repeats}
			for _, lv := range ep.Levels {
				cl := incidents.EscalationLevel{Wait: lv.Wait}
				for _, tg := range lv.Targets {
					cl.Targets = append(cl.Targets, tg.incidentTarget())
				}
				cp.Levels = append(cp.Levels, cl)
			}
			cfg.Escalations = append(cfg.Escalations, cp)
		}
	}
	return cfg
}

func (t Target) incidentTarget() incidents.Target {
	switch {
	case t.Schedule != "":
		return incidents.Target{Kind: incidents.TargetSchedule, ID: t.Schedule}
	case t.User != "":
		return incidents.Target{Kind: incidents.TargetUser, ID: t.User}
	default:
		return incidents.Target{Kind: incidents.TargetChannel, ID: t.Notifier}
	}
}

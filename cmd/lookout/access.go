package main

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"io/fs"
	"sync"
	"time"

	"github.com/lookout-status/lookout/config"
	"github.com/lookout-status/lookout/store"
	"github.com/lookout-status/lookout/web"
)

// access answers the web layer's questions about tokens, Slack users,
// Alertmanager ingest tokens and who is on call, from the running config.
type access struct {
	mu  sync.RWMutex
	cfg *config.Config
	// tokens by SHA-256: a lookup's timing reveals nothing about a guess.
	tokens map[[32]byte]web.Principal
	ingest map[[32]byte]ingestRef
	// stored, when set, returns the organization's on-call overrides
	// added through the API, applied after the configured ones.
	stored func(org string) []store.OnCallOverride
}

type ingestRef struct{ org, label string }

func (a *access) set(cfg *config.Config) {
	tokens := map[[32]byte]web.Principal{}
	ingest := map[[32]byte]ingestRef{}
	for _, org := range cfg.Organizations {
		for _, t := range org.Tokens {
			tokens[sha256.Sum256([]byte(t.Token.Reveal()))] = web.Principal{Org: org.ID, User: t.User, Role: string(t.Role)}
		}
		if am := org.Integrations.Alertmanager; am != nil {
			label := am.ComponentLabel
			if label == "" {
				label = "component"
			}
			ingest[sha256.Sum256([]byte(am.Token.Reveal()))] = ingestRef{org.ID, label}
		}
	}
	a.mu.Lock()
	a.cfg, a.tokens, a.ingest = cfg, tokens, ingest
	a.mu.Unlock()
}

// Token implements web.Authenticator.
func (a *access) Token(_ context.Context, token string) (web.Principal, bool) {
	sum := sha256.Sum256([]byte(token))
	a.mu.RLock()
	defer a.mu.RUnlock()
	for k, p := range a.tokens {
		if subtle.ConstantTimeCompare(k[:], sum[:]) == 1 {
			return p, true
		}
	}
	return web.Principal{}, false
}

// Session implements web.Authenticator: the config knows no sessions.
func (a *access) Session(context.Context, string, string) (web.Principal, bool) {
	return web.Principal{}, false
}

// Lookup implements web.AlertIngest.
func (a *access) Lookup(token string) (string, string, bool) {
	sum := sha256.Sum256([]byte(token))
	a.mu.RLock()
	defer a.mu.RUnlock()
	for k, r := range a.ingest {
		if subtle.ConstantTimeCompare(k[:], sum[:]) == 1 {
			return r.org, r.label, true
		}
	}
	return "", "", false
}

// SlackUser implements web.SlackDirectory: a Slack user is the config user
// with that slack_id (one Slack workspace per deployment). Users act as
// responders.
func (a *access) SlackUser(_, slackUserID string) (web.Principal, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.cfg == nil || slackUserID == "" {
		return web.Principal{}, false
	}
	for _, org := range a.cfg.Organizations {
		for _, u := range org.Users {
			if u.SlackID == slackUserID {
				return web.Principal{Org: org.ID, User: u.ID, Role: "responder"}, true
			}
		}
	}
	return web.Principal{}, false
}

// OnCall implements web.OnCall: who is on call in the team's schedules.
func (a *access) OnCall(_ context.Context, org, team string, at time.Time) ([]string, error) {
	a.mu.RLock()
	cfg := a.cfg
	a.mu.RUnlock()
	var stored []store.OnCallOverride
	if a.stored != nil {
		stored = a.stored(org)
	}
	return onCall(cfg, stored, org, team, at)
}

// onCall lists who is on call now in each schedule of the team (the first
// team when team is ""), with the stored overrides applied.
func onCall(cfg *config.Config, stored []store.OnCallOverride, org, team string, at time.Time) ([]string, error) {
	if cfg == nil {
		return nil, fmt.Errorf("no configuration: %w", fs.ErrNotExist)
	}
	for _, o := range cfg.Organizations {
		if o.ID != org {
			continue
		}
		for _, t := range o.Teams {
			if team != "" && t.ID != team {
				continue
			}
			var out []string
			seen := map[string]bool{}
			ic := o.IncidentConfig()
			for _, s := range store.WithOverrides(ic.Schedules, stored) {
				if !scheduleOf(t, s.ID) {
					continue
				}
				for _, u := range s.OnCall(at) {
					if !seen[u] {
						seen[u] = true
						out = append(out, u)
					}
				}
			}
			return out, nil
		}
		return nil, fmt.Errorf("no team %q in %s: %w", team, org, fs.ErrNotExist)
	}
	return nil, fmt.Errorf("no organization %q: %w", org, fs.ErrNotExist)
}

func scheduleOf(t config.Team, id string) bool {
	for _, s := range t.Schedules {
		if s.ID == id {
			return true
		}
	}
	return false
}

// slackSigningSecret is the first Slack notifier's signing secret: one
// Slack app per deployment receives the buttons and slash commands.
func slackSigningSecret(cfg *config.Config) string {
	for _, org := range cfg.Organizations {
		for _, n := range org.Notifiers {
			if n.Slack != nil && n.Slack.SigningSecret.Reveal() != "" {
				return n.Slack.SigningSecret.Reveal()
			}
		}
	}
	return ""
}

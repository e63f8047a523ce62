package main

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"time"

	"github.com/lookout-status/lookout/accounts"
	"github.com/lookout-status/lookout/config"
	"github.com/lookout-status/lookout/store"
	"github.com/lookout-status/lookout/web"
)

// access answers the web layer's questions about tokens, sessions, Slack
// users, Alertmanager ingest tokens, the organization's directory (users,
// teams, schedules: scheduling.go) and who is on call: from the running
// config, and for lko_ tokens and sessions from the accounts core.
type access struct {
	// accounts resolves sessions and lko_ tokens (nil: config tokens
	// only).
	accounts *accounts.Service

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
	if a.accounts != nil {
		a.accounts.SetOrgs(accountOrgs(cfg))
	}
}

// accountOrgs is the organizations as the accounts core needs them.
func accountOrgs(cfg *config.Config) []accounts.Org {
	out := make([]accounts.Org, 0, len(cfg.Organizations))
	for _, o := range cfg.Organizations {
		out = append(out, accounts.Org{ID: o.ID, Name: o.Name, RequireTOTP: o.Require2FA})
	}
	return out
}

func webPrincipal(p accounts.Principal) web.Principal {
	return web.Principal{Org: p.Org, User: p.User, Role: p.Role, EnrollTOTP: p.EnrollTOTP}
}

// Token implements web.Authenticator: lko_ tokens are the accounts core's
// (a malformed one is refused before any lookup), others the config's.
func (a *access) Token(ctx context.Context, token string) (web.Principal, bool) {
	if strings.HasPrefix(token, accounts.TokenPrefix) {
		if a.accounts == nil {
			return web.Principal{}, false
		}
		p, ok := a.accounts.Token(ctx, token)
		return webPrincipal(p), ok
	}
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

// Session implements web.Authenticator.
func (a *access) Session(ctx context.Context, id, org string) (web.Principal, bool) {
	if a.accounts == nil {
		return web.Principal{}, false
	}
	p, ok := a.accounts.Session(ctx, id, org)
	return webPrincipal(p), ok
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

// SlackUsers implements web.SlackDirectory: in each organization, the
// config user with that slack_id (one Slack workspace per deployment; the
// web layer picks the organization of what is acted on). A config user
// acts as a responder; one with an account acts with their membership's
// role there, and not at all once the account is disabled.
func (a *access) SlackUsers(ctx context.Context, _, slackUserID string) []web.Principal {
	if slackUserID == "" {
		return nil
	}
	a.mu.RLock()
	cfg := a.cfg
	a.mu.RUnlock()
	if cfg == nil {
		return nil
	}
	var out []web.Principal
	for _, org := range cfg.Organizations {
		for _, u := range org.Users {
			if u.SlackID != slackUserID {
				continue
			}
			if p, ok := a.slackPrincipal(ctx, org.ID, u.ID); ok {
				out = append(out, p)
			}
			break
		}
	}
	return out
}

// slackPrincipal is config user user of org acting from Slack.
func (a *access) slackPrincipal(ctx context.Context, org, user string) (web.Principal, bool) {
	p := web.Principal{Org: org, User: user, Role: "responder", Via: "slack"}
	if a.accounts == nil {
		return p, true
	}
	acct, err := a.accounts.Account(ctx, user)
	if errors.Is(err, store.ErrNotFound) {
		return p, true
	}
	if err != nil || !acct.DisabledAt.IsZero() {
		return web.Principal{}, false
	}
	m, err := a.accounts.Member(ctx, org, user)
	switch {
	case err == nil:
		p.Role = m.Role
	case !errors.Is(err, store.ErrNotFound):
		return web.Principal{}, false
	}
	return p, true
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

package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/lookout-status/lookout/clock"
	"github.com/lookout-status/lookout/config"
	"github.com/lookout-status/lookout/incidents/engine"
	"github.com/lookout-status/lookout/store"
	"github.com/lookout-status/lookout/web"
)

// scheduling feeds the incident engine the configuration merged with what
// responders stored through the API and the console: maintenance windows
// join the configured ones, on-call overrides are added to their
// schedules after the configured ones (store.WithOverrides). It is applied
// at start, on every reload, and after every stored change (web's
// SchedulingChanged); Slack's /lookout oncall reads the same overrides.
type scheduling struct {
	db     *store.DB
	eng    *engine.Engine
	subs   *subscribers
	clock  clock.Clock
	logger *slog.Logger

	// mu serialises applying: a reload and an API change never interleave.
	mu    sync.Mutex
	cfg   *config.Config
	dests map[string]string

	ovMu      sync.RWMutex
	overrides map[string][]store.OnCallOverride // by organization, as last applied
}

// recentlyEnded keeps a window the clock has just ended in the engine's
// list, so the engine's own timer completes it (a window dropped from the
// list before that would be cancelled).
const recentlyEnded = time.Hour

// configure installs cfg (and its notifiers' destinations) and applies it.
func (s *scheduling) configure(ctx context.Context, cfg *config.Config, dests map[string]string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	prevCfg, prevDests := s.cfg, s.dests
	s.cfg, s.dests = cfg, dests
	if err := s.apply(ctx); err != nil {
		// The running configuration stays whole.
		s.cfg, s.dests = prevCfg, prevDests
		return err
	}
	return nil
}

// changed implements web's SchedulingChanged: the stored windows or
// overrides of org changed. Every organization is re-applied (Configure
// replaces them all); unchanged ones cost a comparison.
func (s *scheduling) changed(ctx context.Context, org string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.apply(ctx); err != nil {
		return fmt.Errorf("apply scheduling of %s: %w", org, err)
	}
	return nil
}

// apply configures the engine from the config and the store. Callers hold mu.
func (s *scheduling) apply(ctx context.Context) error {
	if s.cfg == nil {
		return nil
	}
	ocs, ovs, err := mergeStored(ctx, s.db, s.clock.Now(), engineConfigs(s.cfg, s.dests))
	if err != nil {
		return err
	}
	if err := s.eng.Configure(ctx, s.subs.engineConfigs(ocs)); err != nil {
		return err
	}
	s.ovMu.Lock()
	s.overrides = ovs
	s.ovMu.Unlock()
	return nil
}

// mergeStored adds each organization's stored windows (those not ended by a
// person, nor by the clock more than recentlyEnded ago) and overrides (those
// not over) to its engine configuration. It returns the overrides by
// organization too.
func mergeStored(ctx context.Context, db *store.DB, now time.Time, ocs []engine.OrgConfig) ([]engine.OrgConfig, map[string][]store.OnCallOverride, error) {
	ovsByOrg := map[string][]store.OnCallOverride{}
	for i := range ocs {
		oc := &ocs[i]
		ws, err := db.MaintenanceWindows(ctx, oc.Org, store.MaintenanceFilter{When: store.MaintenanceLive, Now: now.Add(-recentlyEnded)})
		if err != nil {
			return nil, nil, err
		}
		for _, w := range ws {
			oc.Maintenances = append(oc.Maintenances, w.Schedule(w.CreatedBy))
		}
		ovs, err := db.OnCallOverrides(ctx, oc.Org, now)
		if err != nil {
			return nil, nil, err
		}
		oc.Config.Schedules = store.WithOverrides(oc.Config.Schedules, ovs)
		ovsByOrg[oc.Org] = ovs
	}
	return ocs, ovsByOrg, nil
}

// storedOverrides returns org's stored overrides as last applied.
func (s *scheduling) storedOverrides(org string) []store.OnCallOverride {
	s.ovMu.RLock()
	defer s.ovMu.RUnlock()
	return s.overrides[org]
}

// Directory implements web.Directory from the running configuration: the
// one view of an organization's users, teams and schedules the web layer
// reads (maintenance, on-call and teams pages and API).
func (a *access) Directory(_ context.Context, org string) (web.OrgDirectory, error) {
	a.mu.RLock()
	cfg := a.cfg
	a.mu.RUnlock()
	var d web.OrgDirectory
	if cfg == nil {
		return d, nil
	}
	for _, o := range cfg.Organizations {
		if o.ID != org {
			continue
		}
		for _, u := range o.Users {
			d.Users = append(d.Users, web.DirectoryUser{ID: u.ID, Name: u.Name, Email: u.Email})
		}
		ic := o.IncidentConfig()
		for _, t := range o.Teams {
			dt := web.DirectoryTeam{ID: t.ID, Name: t.Name, Members: t.Members}
			for _, s := range ic.Schedules {
				if scheduleOf(t, s.ID) {
					dt.Schedules = append(dt.Schedules, s)
				}
			}
			d.Teams = append(d.Teams, dt)
		}
		for _, m := range o.Maintenances {
			d.Maintenances = append(d.Maintenances, engineMaintenance(m))
		}
	}
	return d, nil
}

package main

import (
	"context"
	"sync"

	"github.com/lookout-status/lookout/config"
	"github.com/lookout-status/lookout/incidents"
	"github.com/lookout-status/lookout/incidents/engine"
	"github.com/lookout-status/lookout/store"
	"github.com/lookout-status/lookout/web"
)

// catalog implements web.ProbeReader: components, probes and results from
// the store, component statuses from the incident engine, and what each
// probe checks from the running configuration's specs (their Target,
// which holds no secret).
type catalog struct {
	*store.DB
	eng *engine.Engine

	mu      sync.RWMutex
	targets map[[2]string]string // {org, probe} -> target
}

var _ web.ProbeReader = (*catalog)(nil)

func (c *catalog) set(cfg *config.Config) {
	t := map[[2]string]string{}
	for _, o := range cfg.Organizations {
		for _, p := range o.Probes {
			t[[2]string{o.ID, p.ID}] = target(p.Spec)
		}
	}
	c.mu.Lock()
	c.targets = t
	c.mu.Unlock()
}

// ProbeTarget implements web.ProbeReader.
func (c *catalog) ProbeTarget(org, probe string) string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.targets[[2]string{org, probe}]
}

// ComponentStatuses implements web.ProbeReader.
func (c *catalog) ComponentStatuses(_ context.Context, org string) (map[string]incidents.ComponentStatus, error) {
	st, _ := c.eng.State(org)
	out := make(map[string]incidents.ComponentStatus, len(st.Components))
	for id, comp := range st.Components {
		out[id] = comp.Status
	}
	return out, nil
}

package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync"

	"github.com/lookout-status/lookout/clock"
	"github.com/lookout-status/lookout/config"
	"github.com/lookout-status/lookout/probes"
	"github.com/lookout-status/lookout/store"
	"github.com/lookout-status/lookout/web"
)

// statusSource builds the page's view of components and their probes' latest
// results from the running config and the database.
type statusSource struct {
	db    *store.DB
	clock clock.Clock

	mu  sync.RWMutex
	cfg *config.Config
	// heartbeat tokens, by SHA-256 so a lookup's timing says nothing about
	// how much of a guessed token matched.
	tokens map[[32]byte]probeRef
}

type probeRef struct{ org, probe string }

func (s *statusSource) set(cfg *config.Config) {
	tokens := map[[32]byte]probeRef{}
	for _, org := range cfg.Organizations {
		for _, p := range org.Probes {
			if hb, ok := p.Spec.(interface{ Token() string }); ok {
				tokens[sha256.Sum256([]byte(hb.Token()))] = probeRef{org.ID, p.ID}
			}
		}
	}
	s.mu.Lock()
	s.cfg, s.tokens = cfg, tokens
	s.mu.Unlock()
}

func (s *statusSource) current() *config.Config {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.cfg
}

// Status implements web.StatusSource: the first organization's first page
// (multi-page routing comes with the full status page).
func (s *statusSource) Status(ctx context.Context) (web.Status, error) {
	cfg := s.current()
	if cfg == nil || len(cfg.Organizations) == 0 {
		return web.Status{Title: "Lookout"}, nil
	}
	org := cfg.Organizations[0]
	st := web.Status{Title: org.Name}
	show := map[string]bool{}
	if len(org.Pages) > 0 {
		st.Title = org.Pages[0].Name
		for _, id := range org.Pages[0].Components {
			show[id] = true
		}
	}
	latest, err := s.db.LatestResults(ctx, org.ID)
	if err != nil {
		return web.Status{}, fmt.Errorf("latest results: %w", err)
	}
	for _, c := range org.Components {
		if c.Private || (len(show) > 0 && !show[c.ID]) {
			continue
		}
		wc := web.Component{ID: c.ID, Name: c.Name, Description: c.Description, Group: c.Group}
		for _, p := range org.Probes {
			if p.Component != c.ID {
				continue
			}
			wp := web.Probe{ID: p.ID, Name: p.Name, Kind: p.Kind}
			if r, ok := latest[p.ID]; ok {
				r := r
				wp.Last = &r
			}
			wc.Probes = append(wc.Probes, wp)
		}
		st.Components = append(st.Components, wc)
	}
	return st, nil
}

// heartbeatReceiver records pings from monitored jobs.
type heartbeatReceiver struct {
	db    *store.DB
	clock clock.Clock
	cfg   *statusSource
}

// maxPingMessage caps what a job may say with its ping.
const maxPingMessage = 1024

func (h *heartbeatReceiver) Ping(ctx context.Context, token string, failed bool, message string) (bool, error) {
	h.cfg.mu.RLock()
	ref, ok := h.cfg.tokens[sha256.Sum256([]byte(token))]
	h.cfg.mu.RUnlock()
	if !ok {
		return false, nil
	}
	if len(message) > maxPingMessage {
		message = message[:maxPingMessage]
	}
	err := h.db.RecordPing(ctx, ref.org, ref.probe, probes.Ping{At: h.clock.Now(), Failed: failed, Message: message})
	if err != nil {
		return true, fmt.Errorf("record ping for %s/%s: %w", ref.org, ref.probe, err)
	}
	return true, nil
}

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
)

// heartbeatReceiver records pings from monitored jobs (web.HeartbeatReceiver).
// The web layer caps and cleans the message before it gets here.
type heartbeatReceiver struct {
	db    *store.DB
	clock clock.Clock

	mu sync.RWMutex
	// tokens by SHA-256, so a lookup's timing says nothing about how much
	// of a guessed token matched.
	tokens map[[32]byte]probeRef
}

type probeRef struct{ org, probe string }

// set takes the heartbeat probes' tokens from the running config.
func (h *heartbeatReceiver) set(cfg *config.Config) {
	tokens := map[[32]byte]probeRef{}
	for _, org := range cfg.Organizations {
		for _, p := range org.Probes {
			if hb, ok := p.Spec.(interface{ Token() string }); ok {
				tokens[sha256.Sum256([]byte(hb.Token()))] = probeRef{org.ID, p.ID}
			}
		}
	}
	h.mu.Lock()
	h.tokens = tokens
	h.mu.Unlock()
}

// Ping implements web.HeartbeatReceiver.
func (h *heartbeatReceiver) Ping(ctx context.Context, token string, failed bool, message string) (bool, error) {
	h.mu.RLock()
	ref, ok := h.tokens[sha256.Sum256([]byte(token))]
	h.mu.RUnlock()
	if !ok {
		return false, nil
	}
	err := h.db.RecordPing(ctx, ref.org, ref.probe, probes.Ping{At: h.clock.Now(), Failed: failed, Message: message})
	if err != nil {
		return true, fmt.Errorf("record ping for %s/%s: %w", ref.org, ref.probe, err)
	}
	return true, nil
}

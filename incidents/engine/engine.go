// Package engine is the imperative shell around the pure incident core: it
// turns probe results, alerts and human actions into events, runs them
// through incidents.State.Apply, and persists the new state together with
// the effects and their outbox deliveries in one transaction, before anyone
// is told. A crash therefore loses nothing and a retried delivery carries
// the key of its first attempt.
//
// One goroutine (Run) owns every organization's state; events queue to it
// and are applied in batches, one commit per organization per batch.
// Readers get immutable snapshots.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lookout-status/lookout/clock"
	"github.com/lookout-status/lookout/incidents"
	"github.com/lookout-status/lookout/notify"
)

// Store persists incident state and the outbox. Both methods are called
// only from the engine's goroutine.
type Store interface {
	// LoadIncidentState returns the organization's saved state; ok is false
	// when there is none yet.
	LoadIncidentState(ctx context.Context, org string) (st incidents.State, ok bool, err error)
	// CommitIncidents saves the new state, records the effects (incident
	// rows, timeline, component status history) and queues the deliveries,
	// all in one transaction. A delivery whose Message.Key is already
	// queued is ignored (idempotency).
	CommitIncidents(ctx context.Context, org string, st incidents.State, effects []incidents.Effect, deliveries []notify.Delivery) error
}

// Channel is one notifier an organization's incidents are sent to.
type Channel struct {
	// ID names the notifier (the outbox's channel).
	ID string
	// Destination groups deliveries for per-destination concurrency.
	Destination string
}

// OrgConfig is what the engine needs to know about an organization.
type OrgConfig struct {
	Org      string
	Config   incidents.Config
	Channels []Channel
	// Users resolves escalation recipients into names, Slack ids, e-mails.
	Users map[string]notify.Target
	// ConsoleURL and PageURL build links in messages ("" leaves them out).
	ConsoleURL string
	PageURL    string
	// Maintenances are the windows the configuration schedules. Windows
	// not listed that have not finished are cancelled: the configuration
	// is the source of maintenance windows until an API creates them.
	Maintenances []incidents.MaintenanceSchedule
	// Subscribers, when set, maps a commit's effects to deliveries for the
	// status page's webhook subscribers, queued with the channels' rows.
	// It runs on the engine's goroutine: it must answer from memory.
	Subscribers func(st incidents.State, effs []incidents.Effect, now time.Time) []notify.Delivery
}

// Options configures an Engine.
type Options struct {
	Clock  clock.Clock
	Store  Store
	Logger *slog.Logger
	// Metrics is where the engine's metrics are registered (nil: none).
	Metrics prometheus.Registerer
	// TickEvery is how often timers (escalations, quiet periods,
	// maintenance windows) are evaluated; default 1s.
	TickEvery time.Duration
	// Delivered is called after a commit that queued deliveries, to wake
	// the notify worker.
	Delivered func()
	// QueueSize bounds queued events (default 4096); Submit blocks beyond.
	QueueSize int
	// SaveEvery bounds how long probe streaks that changed nothing visible
	// stay unsaved (default 30s): a restart loses at most that much of a
	// threshold count, never an incident or a page.
	SaveEvery time.Duration
}

// ErrUnknownOrg is returned for events of an organization not configured.
var ErrUnknownOrg = errors.New("unknown organization")

// ErrClosed is returned once Run has returned.
var ErrClosed = errors.New("incident engine stopped")

type request struct {
	org    string
	events []incidents.Event
	// reply, when set, receives the effects of these events after commit.
	reply chan result
}

type result struct {
	effects []incidents.Effect
	err     error
}

// Engine runs the incident state machine for every organization.
type Engine struct {
	opts    Options
	logger  *slog.Logger
	queue   chan request
	done    chan struct{}
	metrics *metrics

	// procMu serialises state changes: Run's batches and Configure.
	procMu sync.Mutex
	mu     sync.RWMutex
	orgs   map[string]*orgState
}

type orgState struct {
	cfg OrgConfig
	// live is the working state, owned by whoever holds procMu and changed
	// in place (incidents.State.Apply): cloning thousands of probes per
	// batch would cost more than everything else together.
	live *incidents.State
	// state is the last committed state as readers see it: a clone taken
	// when a commit changed something readers care about. Never mutated.
	state incidents.State
	// dirty: live holds probe streaks not yet saved; savedAt is the last
	// commit, so streak-only changes are saved at most every SaveEvery.
	dirty   bool
	savedAt time.Time
	// version counts published snapshots, so readers can cache on it.
	version uint64
}

// New returns an engine; call Configure, then Run.
func New(opts Options) *Engine {
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.TickEvery <= 0 {
		opts.TickEvery = time.Second
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = 4096
	}
	if opts.SaveEvery <= 0 {
		opts.SaveEvery = 30 * time.Second
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Engine{
		opts:    opts,
		logger:  logger,
		queue:   make(chan request, opts.QueueSize),
		done:    make(chan struct{}),
		orgs:    map[string]*orgState{},
		metrics: newMetrics(opts.Metrics),
	}
}

// Configure installs (or replaces) the organizations' configuration. A new
// organization's state is loaded from the store; an existing one keeps its
// runtime state (open incidents, streaks) and takes the new configuration.
// It is safe to call while Run is running (config reload).
func (e *Engine) Configure(ctx context.Context, orgs []OrgConfig) error {
	e.procMu.Lock()
	defer e.procMu.Unlock()
	now := e.opts.Clock.Now()
	next := map[string]*orgState{}
	e.mu.RLock()
	cur := e.orgs
	e.mu.RUnlock()
	for _, oc := range orgs {
		var st incidents.State
		old, existed := cur[oc.Org]
		if existed {
			st = *old.live
		} else {
			loaded, ok, err := e.opts.Store.LoadIncidentState(ctx, oc.Org)
			if err != nil {
				return fmt.Errorf("load incident state of %s: %w", oc.Org, err)
			}
			if ok {
				st = loaded
			} else {
				st = incidents.New(oc.Org, incidents.Config{})
			}
		}
		st.Org = oc.Org
		var prev *incidents.State
		if existed {
			prev = &old.state
		}
		effs := st.Apply(incidents.Configure{Config: oc.Config}, now)
		effs = append(effs, applyMaintenances(&st, oc.Maintenances, now)...)
		if err := e.commit(ctx, oc, prev, st, effs); err != nil {
			if existed {
				// live may hold part of the new config: reload it whole.
				e.reload(ctx, old, now)
			}
			return err
		}
		var version uint64
		if existed {
			version = old.version + 1
		}
		next[oc.Org] = &orgState{cfg: oc, live: &st, state: st.Clone(), savedAt: now, version: version}
	}
	e.mu.Lock()
	e.orgs = next
	e.mu.Unlock()
	return nil
}

// Submit queues events without waiting for them to be applied (probe
// results). It blocks while the queue is full, until ctx is done.
func (e *Engine) Submit(ctx context.Context, org string, evs ...incidents.Event) error {
	select {
	case e.queue <- request{org: org, events: evs}:
		return nil
	case <-e.done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Do applies events and returns their effects once they are committed
// (human actions: the caller learns whether anything changed).
func (e *Engine) Do(ctx context.Context, org string, evs ...incidents.Event) ([]incidents.Effect, error) {
	reply := make(chan result, 1)
	select {
	case e.queue <- request{org: org, events: evs, reply: reply}:
	case <-e.done:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case r := <-reply:
		return r.effects, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// State returns the organization's committed state. Treat it as read-only.
func (e *Engine) State(org string) (incidents.State, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	os, ok := e.orgs[org]
	if !ok {
		return incidents.State{}, false
	}
	return os.state, true
}

// Version changes whenever the organization's published state does.
func (e *Engine) Version(org string) uint64 {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if os, ok := e.orgs[org]; ok {
		return os.version
	}
	return 0
}

// Orgs lists the configured organizations, sorted.
func (e *Engine) Orgs() []string {
	e.mu.RLock()
	defer e.mu.RUnlock()
	out := make([]string, 0, len(e.orgs))
	for id := range e.orgs {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// OpenIncidents returns message snapshots of the organization's open
// incidents (for Alertmanager's periodic re-post).
func (e *Engine) OpenIncidents(org string) []notify.Incident {
	e.mu.RLock()
	os, ok := e.orgs[org]
	e.mu.RUnlock()
	if !ok {
		return nil
	}
	var out []notify.Incident
	for _, inc := range os.state.Incidents {
		out = append(out, incidentMessage(os.cfg, os.state, inc))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Run applies queued events and periodic ticks until ctx is done. Events
// still queued when it stops are dropped (probe results are re-measured;
// human actions get ErrClosed or their ctx error).
func (e *Engine) Run(ctx context.Context) error {
	defer close(e.done)
	timer := e.opts.Clock.NewTimer(e.opts.TickEvery)
	defer func() { timer.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C():
			timer = e.opts.Clock.NewTimer(e.opts.TickEvery)
			var reqs []request
			for _, org := range e.Orgs() {
				reqs = append(reqs, request{org: org, events: []incidents.Event{incidents.Tick{}}})
			}
			e.process(ctx, reqs)
		case r := <-e.queue:
			batch := []request{r}
		drain:
			for len(batch) < 512 {
				select {
				case r := <-e.queue:
					batch = append(batch, r)
				default:
					break drain
				}
			}
			e.process(ctx, batch)
		}
	}
}

// process applies a batch: per organization, on a private copy of its
// state, then commits once; on a failed commit the old state stays.
func (e *Engine) process(ctx context.Context, batch []request) {
	e.procMu.Lock()
	defer e.procMu.Unlock()
	now := e.opts.Clock.Now()
	byOrg := map[string][]request{}
	var order []string
	for _, r := range batch {
		if _, seen := byOrg[r.org]; !seen {
			order = append(order, r.org)
		}
		byOrg[r.org] = append(byOrg[r.org], r)
	}
	for _, org := range order {
		reqs := byOrg[org]
		e.mu.RLock()
		os, ok := e.orgs[org]
		e.mu.RUnlock()
		if !ok {
			for _, r := range reqs {
				if r.reply != nil {
					r.reply <- result{err: fmt.Errorf("%w %q", ErrUnknownOrg, org)}
				}
			}
			continue
		}
		st := os.live
		var all []incidents.Effect
		per := make([][]incidents.Effect, len(reqs))
		for i, r := range reqs {
			for _, ev := range r.events {
				effs := st.Apply(ev, now)
				per[i] = append(per[i], effs...)
				all = append(all, effs...)
				e.metrics.event(ev)
			}
			if _, tick := r.events[0].(incidents.Tick); !tick || len(r.events) > 1 {
				os.dirty = true
			}
		}
		var err error
		if len(all) > 0 || (os.dirty && now.Sub(os.savedAt) >= e.opts.SaveEvery) {
			prev := os.state
			err = e.commit(ctx, os.cfg, &prev, *st, all)
			if err == nil {
				os.dirty, os.savedAt = false, now
				if len(all) > 0 {
					snap := st.Clone()
					e.mu.Lock()
					os.state = snap
					os.version++
					e.mu.Unlock()
				}
			} else {
				e.logger.Error("commit incident state; reloading the last saved state", "org", org, "err", err)
				e.reload(ctx, os, now)
			}
		}
		for i, r := range reqs {
			if r.reply == nil {
				continue
			}
			if err != nil {
				r.reply <- result{err: err}
			} else {
				r.reply <- result{effects: per[i]}
			}
		}
	}
}

// applyMaintenances schedules the configured windows and cancels the
// unfinished ones no longer configured.
func applyMaintenances(st *incidents.State, ms []incidents.MaintenanceSchedule, now time.Time) []incidents.Effect {
	var effs []incidents.Effect
	want := map[string]bool{}
	for _, m := range ms {
		want[m.ID] = true
		if old, ok := st.Maintenances[m.ID]; ok && old.Title == m.Title && old.Start.Equal(m.Start) && old.End.Equal(m.End) && slices.Equal(old.Components, m.Components) {
			continue
		}
		effs = append(effs, st.Apply(m, now)...)
	}
	ids := make([]string, 0, len(st.Maintenances))
	for id := range st.Maintenances {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		m := st.Maintenances[id]
		if want[id] || m.Status == incidents.MaintenanceCompleted || m.Status == incidents.MaintenanceCancelled {
			continue
		}
		effs = append(effs, st.Apply(incidents.MaintenanceCancel{ID: id, Actor: "config"}, now)...)
	}
	return effs
}

// reload replaces an organization's live state with the last saved one
// after a failed commit: the events of the failed batch are lost (probes
// measure again; human actions got the error).
func (e *Engine) reload(ctx context.Context, os *orgState, now time.Time) {
	st, ok, err := e.opts.Store.LoadIncidentState(ctx, os.cfg.Org)
	if err != nil || !ok {
		e.logger.Error("reload incident state; continuing from the last published state", "org", os.cfg.Org, "err", err)
		st = os.state.Clone()
	}
	st.Org = os.cfg.Org
	st.Apply(incidents.Configure{Config: os.cfg.Config}, now)
	applyMaintenances(&st, os.cfg.Maintenances, now)
	*os.live = st
}

// commit persists st with its effects and the deliveries they imply.
func (e *Engine) commit(ctx context.Context, cfg OrgConfig, prev *incidents.State, st incidents.State, effs []incidents.Effect) error {
	deliveries := Deliveries(cfg, prev, st, effs, e.opts.Clock.Now())
	if cfg.Subscribers != nil {
		deliveries = append(deliveries, cfg.Subscribers(st, effs, e.opts.Clock.Now())...)
	}
	if err := e.opts.Store.CommitIncidents(ctx, cfg.Org, st, effs, deliveries); err != nil {
		e.metrics.commitErrors.Inc()
		return fmt.Errorf("commit incidents of %s: %w", cfg.Org, err)
	}
	e.metrics.observe(cfg.Org, prev, st, effs)
	if len(deliveries) > 0 && e.opts.Delivered != nil {
		e.opts.Delivered()
	}
	return nil
}

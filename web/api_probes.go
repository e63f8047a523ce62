package web

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/lookout-status/lookout/incidents"
	"github.com/lookout-status/lookout/probes"
	"github.com/lookout-status/lookout/store"
)

// Components and probes: the API (GET /api/v1/components, /probes, a
// probe's results, POST /api/v1/probes/{id}/run) and the console pages
// (console_components.go) read them through ProbeReader and run a probe
// now through ProbeRunner.

// ProbeReader reads an organization's applied components and probes, their
// results and current status. Every method is scoped by org: another
// organization's probe is store.ErrNotFound.
type ProbeReader interface {
	// Components and Probes list what is applied and not deleted.
	Components(ctx context.Context, org string) ([]store.Component, error)
	Probes(ctx context.Context, org string) ([]store.ProbeRow, error)
	LatestResults(ctx context.Context, org string) (map[string]probes.Result, error)
	ProbeResults(ctx context.Context, org, probe string, after store.ResultCursor, limit int) ([]store.ResultRecord, error)
	HourlyStats(ctx context.Context, org, probe string, from, to time.Time) ([]store.HourStat, store.LatencySummary, error)
	// ComponentStatuses is each component's current status; a component
	// missing from the map is operational.
	ComponentStatuses(ctx context.Context, org string) (map[string]incidents.ComponentStatus, error)
	// ProbeTarget describes what a probe checks, without secrets
	// ("GET https://api.example.net/health"); "" when unknown.
	ProbeTarget(org, probe string) string
}

// ProbeRunner runs a probe now (the scheduler's RunNow): the result also
// reaches storage and the incident engine like a scheduled run's. It
// returns an error wrapping probes.ErrUnknownProbe, ErrAlreadyRunning or
// ErrNotRunning when it cannot.
type ProbeRunner interface {
	RunNow(ctx context.Context, org, id string) (probes.Result, error)
}

// Running a probe on demand: at most once per runEvery per probe, so the
// button cannot be used to hammer a target; a run waits at most runWait.
const (
	runEvery = 10 * time.Second
	runWait  = 60 * time.Second
)

// apiComponent is a component as the API shows it.
type apiComponent struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Group       string    `json:"group"`
	Private     bool      `json:"private"`
	Status      string    `json:"status"`
	Probes      []string  `json:"probes"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// apiProbe is a probe as the API shows it.
type apiProbe struct {
	ID               string     `json:"id"`
	Name             string     `json:"name"`
	Component        string     `json:"component"`
	Kind             string     `json:"kind"`
	Target           string     `json:"target"`
	IntervalMS       int64      `json:"interval_ms"`
	TimeoutMS        int64      `json:"timeout_ms"`
	FailureThreshold int        `json:"failure_threshold"`
	SuccessThreshold int        `json:"success_threshold"`
	LastResult       *apiResult `json:"last_result"`
	UpdatedAt        time.Time  `json:"updated_at"`
}

// apiResult is one run's result.
type apiResult struct {
	CheckedAt time.Time  `json:"checked_at"`
	Region    string     `json:"region"`
	Outcome   string     `json:"outcome"`
	LatencyMS float64    `json:"latency_ms"`
	Error     string     `json:"error,omitempty"`
	Phases    []apiPhase `json:"phases"`
}

type apiPhase struct {
	Name      string  `json:"name"`
	LatencyMS float64 `json:"latency_ms"`
}

// millis is d in milliseconds, to the microsecond.
func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func newAPIResult(r probes.Result) *apiResult {
	v := &apiResult{CheckedAt: r.Started.UTC(), Region: r.Region, Outcome: string(r.Outcome),
		LatencyMS: millis(r.Duration), Error: r.Error, Phases: make([]apiPhase, 0, len(r.Phases))}
	for _, p := range r.Phases {
		v.Phases = append(v.Phases, apiPhase{Name: p.Name, LatencyMS: millis(p.Duration)})
	}
	return v
}

func (s *server) newAPIProbe(org string, p store.ProbeRow, last map[string]probes.Result) apiProbe {
	v := apiProbe{ID: p.ID, Name: p.Name, Component: p.Component, Kind: p.Kind,
		Target: s.probes.ProbeTarget(org, p.ID), IntervalMS: p.Interval.Milliseconds(), TimeoutMS: p.Timeout.Milliseconds(),
		FailureThreshold: p.FailureThreshold, SuccessThreshold: p.SuccessThreshold, UpdatedAt: p.UpdatedAt.UTC()}
	if r, ok := last[p.ID]; ok {
		v.LastResult = newAPIResult(r)
	}
	return v
}

// catalog is an organization's components and probes as of one read.
type catalog struct {
	components []store.Component
	probes     []store.ProbeRow
	statuses   map[string]incidents.ComponentStatus
	last       map[string]probes.Result
}

func (s *server) readCatalog(ctx context.Context, org string) (catalog, error) {
	var c catalog
	var err error
	if c.components, err = s.probes.Components(ctx, org); err != nil {
		return c, fmt.Errorf("read components: %w", err)
	}
	if c.probes, err = s.probes.Probes(ctx, org); err != nil {
		return c, fmt.Errorf("read probes: %w", err)
	}
	if c.statuses, err = s.probes.ComponentStatuses(ctx, org); err != nil {
		return c, fmt.Errorf("read component statuses: %w", err)
	}
	if c.last, err = s.probes.LatestResults(ctx, org); err != nil {
		return c, fmt.Errorf("read latest results: %w", err)
	}
	return c, nil
}

func (c catalog) status(component string) incidents.ComponentStatus {
	if st, ok := c.statuses[component]; ok && st != "" {
		return st
	}
	return incidents.Operational
}

func (c catalog) apiComponent(comp store.Component) apiComponent {
	v := apiComponent{ID: comp.ID, Name: comp.Name, Description: comp.Description, Group: comp.Group,
		Private: comp.Private, Status: string(c.status(comp.ID)), Probes: []string{}, UpdatedAt: comp.UpdatedAt.UTC()}
	for _, p := range c.probes {
		if p.Component == comp.ID {
			v.Probes = append(v.Probes, p.ID)
		}
	}
	return v
}

// readProbe reads org's catalog and the probe id in it: errNotFound when
// there is none.
func (s *server) readProbe(ctx context.Context, org, id string) (catalog, store.ProbeRow, error) {
	c, err := s.readCatalog(ctx, org)
	if err != nil {
		return c, store.ProbeRow{}, err
	}
	for _, p := range c.probes {
		if p.ID == id {
			return c, p, nil
		}
	}
	return c, store.ProbeRow{}, errNotFound
}

// probeRoutes registers the OpenAPI document (openapi.go), the components
// and probes API and console pages, and the config apply endpoint
// (config_apply.go). API routes take a token or a session; the general
// cross-origin check is bypassed for them as for every API route (see
// routes.go).
func (s *server) probeRoutes(mux *http.ServeMux) {
	s.public(mux, "GET "+openAPIPath, http.HandlerFunc(s.handleOpenAPI))
	if s.auth == nil {
		return
	}
	if s.config != nil {
		s.api(mux, "POST "+configPath, roleAdmin, s.handleApplyConfig)
	}
	if s.probes == nil {
		return
	}
	s.api(mux, "GET /api/v1/components", roleViewer, s.handleListComponents)
	s.api(mux, "GET /api/v1/components/{id}", roleViewer, s.handleGetComponent)
	s.api(mux, "GET /api/v1/probes", roleViewer, s.handleListProbes)
	s.api(mux, "GET /api/v1/probes/{id}", roleViewer, s.handleGetProbe)
	s.api(mux, "GET /api/v1/probes/{id}/results", roleViewer, s.handleProbeResults)
	if s.runner != nil {
		s.api(mux, "POST /api/v1/probes/{id}/run", roleResponder, s.handleRunProbe)
	}
	s.componentConsoleRoutes(mux)
}

func (s *server) handleListComponents(w http.ResponseWriter, r *http.Request, p Principal) {
	c, err := s.readCatalog(r.Context(), p.Org)
	if err != nil {
		s.failAPI(w, r, err)
		return
	}
	out := make([]apiComponent, 0, len(c.components))
	for _, comp := range c.components {
		out = append(out, c.apiComponent(comp))
	}
	respondJSON(w, http.StatusOK, struct {
		Components []apiComponent `json:"components"`
	}{out})
}

func (s *server) handleGetComponent(w http.ResponseWriter, r *http.Request, p Principal) {
	c, err := s.readCatalog(r.Context(), p.Org)
	if err != nil {
		s.failAPI(w, r, err)
		return
	}
	id := r.PathValue("id")
	for _, comp := range c.components {
		if comp.ID != id {
			continue
		}
		ps := []apiProbe{}
		for _, pr := range c.probes {
			if pr.Component == id {
				ps = append(ps, s.newAPIProbe(p.Org, pr, c.last))
			}
		}
		respondJSON(w, http.StatusOK, struct {
			Component apiComponent `json:"component"`
			Probes    []apiProbe   `json:"probes"`
		}{c.apiComponent(comp), ps})
		return
	}
	s.failAPI(w, r, errNotFound)
}

func (s *server) handleListProbes(w http.ResponseWriter, r *http.Request, p Principal) {
	c, err := s.readCatalog(r.Context(), p.Org)
	if err != nil {
		s.failAPI(w, r, err)
		return
	}
	out := make([]apiProbe, 0, len(c.probes))
	for _, pr := range c.probes {
		out = append(out, s.newAPIProbe(p.Org, pr, c.last))
	}
	respondJSON(w, http.StatusOK, struct {
		Probes []apiProbe `json:"probes"`
	}{out})
}

func (s *server) handleGetProbe(w http.ResponseWriter, r *http.Request, p Principal) {
	c, pr, err := s.readProbe(r.Context(), p.Org, r.PathValue("id"))
	if err != nil {
		s.failAPI(w, r, err)
		return
	}
	respondJSON(w, http.StatusOK, struct {
		Probe apiProbe `json:"probe"`
	}{s.newAPIProbe(p.Org, pr, c.last)})
}

// probeExists reports whether org has the (not deleted) probe id.
func (s *server) probeExists(ctx context.Context, org, id string) (store.ProbeRow, error) {
	ps, err := s.probes.Probes(ctx, org)
	if err != nil {
		return store.ProbeRow{}, fmt.Errorf("read probes: %w", err)
	}
	for _, p := range ps {
		if p.ID == id {
			return p, nil
		}
	}
	return store.ProbeRow{}, errNotFound
}

// pageParams reads ?cursor= and ?limit= of a results page.
func pageParams(r *http.Request) (store.ResultCursor, int, error) {
	q := r.URL.Query()
	limit := defaultListLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxListLimit {
			return store.ResultCursor{}, 0, badField("limit", "want a whole number from 1 to %d", maxListLimit)
		}
		limit = n
	}
	var cur store.ResultCursor
	if v := q.Get("cursor"); v != "" {
		c, err := store.ParseResultCursor(v)
		if err != nil {
			return store.ResultCursor{}, 0, badField("cursor", "want the next_cursor of the previous page")
		}
		cur = c
	}
	return cur, limit, nil
}

func (s *server) handleProbeResults(w http.ResponseWriter, r *http.Request, p Principal) {
	cur, limit, err := pageParams(r)
	if err != nil {
		s.failAPI(w, r, err)
		return
	}
	id := r.PathValue("id")
	if _, err := s.probeExists(r.Context(), p.Org, id); err != nil {
		s.failAPI(w, r, err)
		return
	}
	recs, err := s.probes.ProbeResults(r.Context(), p.Org, id, cur, limit+1)
	if err != nil {
		s.failAPI(w, r, fmt.Errorf("read results: %w", err))
		return
	}
	resp := struct {
		Results    []*apiResult `json:"results"`
		NextCursor *string      `json:"next_cursor"`
	}{Results: make([]*apiResult, 0, min(len(recs), limit))}
	if len(recs) > limit {
		recs = recs[:limit]
		next := recs[limit-1].Cursor().String()
		resp.NextCursor = &next
	}
	for _, rec := range recs {
		resp.Results = append(resp.Results, newAPIResult(rec.Result))
	}
	respondJSON(w, http.StatusOK, resp)
}

// runProbe runs org's probe id now, within the per-probe rate limit.
func (s *server) runProbe(ctx context.Context, w http.ResponseWriter, org, id string) (probes.Result, error) {
	if _, err := s.probeExists(ctx, org, id); err != nil {
		return probes.Result{}, err
	}
	if wait, ok := s.runLimit.allow(org+"/"+id, s.clock.Now()); !ok {
		secs := int(math.Ceil(wait.Seconds()))
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		return probes.Result{}, &apiError{status: http.StatusTooManyRequests, code: "rate_limited",
			message: fmt.Sprintf("this probe was run moments ago; run it again in %d s", secs)}
	}
	ctx, cancel := context.WithTimeout(ctx, runWait)
	defer cancel()
	res, err := s.runner.RunNow(ctx, org, id)
	switch {
	case err == nil:
		return res, nil
	case errors.Is(err, probes.ErrUnknownProbe):
		return res, errNotFound
	case errors.Is(err, probes.ErrAlreadyRunning):
		return res, &apiError{status: http.StatusConflict, code: "already_running",
			message: "the probe is running now; its result will show when it finishes"}
	case errors.Is(err, probes.ErrNotRunning):
		return res, &apiError{status: http.StatusServiceUnavailable, code: "unavailable",
			message: "probes are not running (the server is starting or stopping)"}
	case errors.Is(err, context.DeadlineExceeded):
		return res, &apiError{status: http.StatusGatewayTimeout, code: "timeout",
			message: "the probe is still running; its result will be recorded when it finishes"}
	}
	return res, fmt.Errorf("run probe: %w", err)
}

func (s *server) handleRunProbe(w http.ResponseWriter, r *http.Request, p Principal) {
	id := r.PathValue("id")
	res, err := s.runProbe(r.Context(), w, p.Org, id)
	if err != nil {
		s.failAPI(w, r, err)
		return
	}
	noteAudit(r, id, "ran probe now: "+string(res.Outcome))
	s.logger.InfoContext(r.Context(), "probe run on demand", "org", p.Org, "user", p.User, "probe", id, "outcome", res.Outcome)
	respondJSON(w, http.StatusOK, struct {
		Probe  string     `json:"probe"`
		Result *apiResult `json:"result"`
	}{id, newAPIResult(res)})
}

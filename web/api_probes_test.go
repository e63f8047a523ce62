package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lookout-status/lookout/config"
	"github.com/lookout-status/lookout/incidents"
	"github.com/lookout-status/lookout/probes"
	"github.com/lookout-status/lookout/store"
)

// probeEnv is newAPIEnv plus applied components and probes (a real config
// applied to the real store), a real scheduler on the fake clock whose
// results go to the store, and a real HTTP target counting its hits.
type probeEnv struct {
	*apiEnv
	cfg   *config.Config
	sched *probes.Scheduler
	hits  atomic.Int32
	fail  atomic.Bool // the target answers 500
}

const probeSecret = "s3cr3t-header-value-0123456789"

// testProbeReader is the ProbeReader cmd/lookout builds: the store, the
// targets of the config's specs, the statuses of the committed incident
// state.
type testProbeReader struct {
	*store.DB
	cfg *config.Config
}

func (r testProbeReader) ComponentStatuses(ctx context.Context, org string) (map[string]incidents.ComponentStatus, error) {
	st, _, err := r.LoadIncidentState(ctx, org)
	if err != nil {
		return nil, err
	}
	out := map[string]incidents.ComponentStatus{}
	for id, c := range st.Components {
		out[id] = c.Status
	}
	return out, nil
}

func (r testProbeReader) ProbeTarget(org, id string) string {
	for _, o := range r.cfg.Organizations {
		for _, p := range o.Probes {
			if o.ID == org && p.ID == id {
				if t, ok := p.Spec.(interface{ Target() string }); ok {
					return t.Target()
				}
			}
		}
	}
	return ""
}

func newProbeEnv(t *testing.T, mod func(*Deps)) *probeEnv {
	t.Helper()
	e := &probeEnv{}
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.hits.Add(1)
		if e.fail.Load() {
			http.Error(w, "broken", http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "ok")
	}))
	t.Cleanup(target.Close)
	ln := target.Listener.Addr().String()
	yaml := fmt.Sprintf(`organizations:
  - id: acme
    egress: {allow: [127.0.0.0/8]}
    components:
      - {id: api, name: API, group: Cloud, description: The public API}
      - {id: storage, name: Storage, group: Cloud}
      - {id: web, name: "Web <b>", private: true}
    probes:
      - id: api-http
        name: API health
        component: api
        interval: 1h
        http:
          url: %[1]s/health?token=${SECRET}
          headers: {Authorization: "Bearer ${SECRET}"}
      - {id: storage-tcp, component: storage, interval: 1h, tcp: {address: "%[2]s"}}
      - {id: web-http, component: web, interval: 1h, http: {url: "%[1]s/"}}
  - id: globex
    egress: {allow: [127.0.0.0/8]}
    components: [{id: api}]
    probes:
      - {id: api-http, component: api, interval: 1h, http: {url: "%[1]s/globex"}}
`, target.URL, ln)
	cfg, err := config.Parse("probes.yaml", []byte(yaml), func(string) string { return probeSecret })
	if err != nil {
		t.Fatalf("parse config: %v", err)
	}
	e.cfg = cfg
	var deps *Deps
	e.apiEnv = newAPIEnv(t, func(d *Deps) {
		deps = d
		if mod != nil {
			mod(d)
		}
	})
	db := e.db
	if _, err := db.Apply(context.Background(), cfg); err != nil {
		t.Fatalf("apply: %v", err)
	}
	e.sched = probes.NewScheduler(probes.SchedulerOptions{
		Clock: e.clock,
		Sink: func(org string, r probes.Result) {
			if err := db.InsertResults(context.Background(), org, []probes.Result{r}); err != nil {
				t.Errorf("store result: %v", err)
			}
		},
	})
	var ps []probes.Probe
	for _, o := range cfg.Organizations {
		eg := probes.NewEgress(o.Egress)
		for _, p := range o.Probes {
			ps = append(ps, probes.Probe{ID: p.ID, Organization: o.ID, Component: p.Component, Name: p.Name, Kind: p.Kind,
				Interval: p.Interval, Timeout: p.Timeout, Spec: p.Spec, Egress: eg})
		}
	}
	e.sched.Set(ps)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	created := e.clock.TimerCreated()
	go func() { done <- e.sched.Run(ctx) }()
	select {
	case <-created: // the scheduler sleeps until its first slot: running
	case <-time.After(10 * time.Second):
		t.Fatal("the scheduler did not start")
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("scheduler: %v", err)
		}
	})
	// The server again, now with the probe dependencies.
	deps.Probes = testProbeReader{DB: db, cfg: cfg}
	deps.Runner = e.sched
	e.h = NewServer(*deps)
	return e
}

type probeList struct {
	Probes []apiProbe `json:"probes"`
}

type componentListBody struct {
	Components []apiComponent `json:"components"`
}

func TestProbesAPIAccess(t *testing.T) {
	e := newProbeEnv(t, nil)
	routes := []struct {
		method, path string
		write        bool
	}{
		{"GET", "/api/v1/components", false},
		{"GET", "/api/v1/components/storage", false},
		{"GET", "/api/v1/probes", false},
		{"GET", "/api/v1/probes/storage-tcp", false},
		{"GET", "/api/v1/probes/storage-tcp/results", false},
		{"POST", "/api/v1/probes/storage-tcp/run", true},
	}
	callers := []struct {
		name, token string
		read, write int
	}{
		{"no token", "", 401, 401},
		{"viewer", tokViewer, 200, 403},
		{"responder", tokResponder, 200, 200},
		{"other organization", tokGlobex, 404, 404},
	}
	for _, rt := range routes {
		for _, c := range callers {
			t.Run(rt.method+" "+rt.path+"/"+c.name, func(t *testing.T) {
				e.clock.Advance(runEvery) // every run within the rate limit
				want := c.read
				if rt.write {
					want = c.write
				}
				if c.name == "other organization" && (rt.path == "/api/v1/components" || rt.path == "/api/v1/probes") {
					want = 200 // its own lists
				}
				w := e.do(t, rt.method, rt.path, c.token, "")
				if w.Code != want {
					t.Fatalf("got status %d, want %d; body %s", w.Code, want, w.Body)
				}
				if want != 200 {
					if b := decode[apiErrorBody](t, w); b.Error.Code == "" {
						t.Errorf("error body: got %s, want a code", w.Body)
					}
				}
				if c.name == "other organization" && strings.Contains(w.Body.String(), "storage") {
					t.Errorf("globex sees acme's storage: %s", w.Body)
				}
			})
		}
	}
}

func TestListComponentsAndProbes(t *testing.T) {
	e := newProbeEnv(t, nil)
	w := e.do(t, "GET", "/api/v1/components", tokViewer, "")
	if w.Code != 200 {
		t.Fatalf("got %d: %s", w.Code, w.Body)
	}
	comps := decode[componentListBody](t, w).Components
	var got []string
	for _, c := range comps {
		got = append(got, fmt.Sprintf("%s %s %q private=%v %v", c.ID, c.Status, c.Group, c.Private, c.Probes))
	}
	// acme's api-http probe is down in newAPIEnv: its component is out.
	want := []string{
		`api major_outage "Cloud" private=false [api-http]`,
		`storage operational "Cloud" private=false [storage-tcp]`,
		`web operational "" private=true [web-http]`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	w = e.do(t, "GET", "/api/v1/probes", tokViewer, "")
	ps := decode[probeList](t, w).Probes
	if len(ps) != 3 || ps[0].ID != "api-http" || ps[0].Kind != "http" || ps[0].IntervalMS != 3600000 || ps[0].LastResult != nil {
		t.Errorf("got %+v, want api-http first (http, 1h), not run yet", ps)
	}
	if !strings.HasPrefix(ps[0].Target, "GET http://127.0.0.1:") || !strings.HasSuffix(ps[0].Target, "/health") {
		t.Errorf("target: got %q, want GET http://127.0.0.1:PORT/health (no query)", ps[0].Target)
	}
	if strings.Contains(w.Body.String(), probeSecret) {
		t.Errorf("the probe list shows a secret: %s", w.Body)
	}
	if !strings.Contains(w.Body.String(), `"last_result":null`) {
		t.Errorf("got %s, want last_result null before any run", w.Body)
	}

	w = e.do(t, "GET", "/api/v1/components/api", tokViewer, "")
	var detail struct {
		Component apiComponent `json:"component"`
		Probes    []apiProbe   `json:"probes"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &detail); err != nil || detail.Component.Name != "API" || len(detail.Probes) != 1 || detail.Probes[0].Name != "API health" {
		t.Errorf("component api: got %s (%v), want API with its probe API health", w.Body, err)
	}
	for _, path := range []string{"/api/v1/components/nope", "/api/v1/probes/nope", "/api/v1/probes/nope/results", "/api/v1/probes/nope/run"} {
		method := "GET"
		if strings.HasSuffix(path, "/run") {
			method = "POST"
		}
		if w := e.do(t, method, path, tokResponder, ""); w.Code != 404 {
			t.Errorf("%s %s: got %d, want 404", method, path, w.Code)
		}
	}
}

type runBody struct {
	Probe  string    `json:"probe"`
	Result apiResult `json:"result"`
}

// TestRunProbeNow runs a probe through the API and the real scheduler: the
// result answers the request, lands in the store and shows as the last
// result; a second run within 10 s is 429 and reaches no target.
func TestRunProbeNow(t *testing.T) {
	audit := &memAudit{}
	e := newProbeEnv(t, func(d *Deps) { d.Audit = audit })
	w := e.do(t, "POST", "/api/v1/probes/api-http/run", tokResponder, "")
	if w.Code != 200 {
		t.Fatalf("got %d: %s", w.Code, w.Body)
	}
	b := decode[runBody](t, w)
	if b.Probe != "api-http" || b.Result.Outcome != "up" || !b.Result.CheckedAt.Equal(apiNow) || b.Result.Region != "local" {
		t.Errorf("got %+v, want api-http up at %v from local", b, apiNow)
	}
	if n := e.hits.Load(); n != 1 {
		t.Errorf("target hit %d times, want 1", n)
	}

	// At once again: refused before the target is touched.
	e.clock.Advance(3 * time.Second)
	w = e.do(t, "POST", "/api/v1/probes/api-http/run", tokOwner, "")
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "7" {
		t.Errorf("second run: got %d Retry-After %q, want 429 and 7", w.Code, w.Header().Get("Retry-After"))
	}
	if b := decode[apiErrorBody](t, w); b.Error.Code != "rate_limited" {
		t.Errorf("second run: got code %q, want rate_limited", b.Error.Code)
	}
	// Another probe is not limited by this one.
	if w := e.do(t, "POST", "/api/v1/probes/storage-tcp/run", tokResponder, ""); w.Code != 200 {
		t.Errorf("another probe: got %d, want 200", w.Code)
	}
	if n := e.hits.Load(); n != 1 {
		t.Errorf("target hit %d times, want 1", n)
	}

	// Ten seconds after the first run, it may run again; this time it fails.
	e.clock.Advance(7 * time.Second)
	e.fail.Store(true)
	w = e.do(t, "POST", "/api/v1/probes/api-http/run", tokResponder, "")
	b = decode[runBody](t, w)
	if w.Code != 200 || b.Result.Outcome != "down" || !strings.Contains(b.Result.Error, "500") {
		t.Errorf("third run: got %d %+v, want 200 with a down result naming the 500", w.Code, b.Result)
	}
	if strings.Contains(w.Body.String(), probeSecret) {
		t.Errorf("the result shows a secret: %s", w.Body)
	}

	w = e.do(t, "GET", "/api/v1/probes/api-http", tokViewer, "")
	var one struct{ Probe apiProbe }
	if err := json.Unmarshal(w.Body.Bytes(), &one); err != nil || one.Probe.LastResult == nil || one.Probe.LastResult.Outcome != "down" {
		t.Errorf("last result: got %s, want the down run", w.Body)
	}

	var runs []AuditEntry
	for _, a := range audit.all() {
		if a.Action == "POST /api/v1/probes/{id}/run" {
			runs = append(runs, a)
		}
	}
	if len(runs) != 4 || runs[0].Target != "api-http" || runs[0].Summary != "ran probe now: up" || runs[1].Status != 429 {
		t.Errorf("audit: got %+v, want 4 runs, the first by alice up, the second 429", runs)
	}
}

func TestProbeResultsPagination(t *testing.T) {
	e := newProbeEnv(t, nil)
	ctx := context.Background()
	var rs []probes.Result
	for i := range 5 {
		rs = append(rs, probes.Result{ProbeID: "api-http", Region: "eu", Started: apiNow.Add(time.Duration(i) * time.Minute),
			Duration: time.Duration(i+1) * time.Millisecond, Outcome: probes.Up})
	}
	if err := e.db.InsertResults(ctx, "acme", rs); err != nil {
		t.Fatal(err)
	}
	var got []float64
	for _, r := range pages[apiResult](t, e.apiEnv, "/api/v1/probes/api-http/results?limit=2", "cursor", "results") {
		got = append(got, r.LatencyMS)
	}
	if want := []float64{5, 4, 3, 2, 1}; !slices.Equal(got, want) {
		t.Errorf("latencies newest first: got %v, want %v", got, want)
	}
	for _, q := range []string{"limit=0", "limit=201", "limit=x", "cursor=x", "cursor=1.0", "cursor=-5.3"} {
		w := e.do(t, "GET", "/api/v1/probes/api-http/results?"+q, tokViewer, "")
		field, _, _ := strings.Cut(q, "=")
		if b := decode[apiErrorBody](t, w); w.Code != 400 || b.Error.Field != field {
			t.Errorf("?%s: got %d field %q, want 400 field %q", q, w.Code, b.Error.Field, field)
		}
	}
	// Globex's probe of the same id has none of acme's results.
	w := e.do(t, "GET", "/api/v1/probes/api-http/results", tokGlobex, "")
	if !strings.Contains(w.Body.String(), `"results":[]`) {
		t.Errorf("globex's api-http: got %s, want no results", w.Body)
	}
}

func TestSparkline(t *testing.T) {
	now := time.Date(2026, 3, 10, 12, 30, 0, 0, time.UTC)
	hour := func(h int) time.Time { return time.Date(2026, 3, 10, h, 0, 0, 0, time.UTC) }
	tests := []struct {
		name      string
		hours     []store.HourStat
		sum       store.LatencySummary
		label     string
		lines     int
		downMarks int
	}{
		{"no data", nil, store.LatencySummary{}, "No results in the last 24 hours", 0, 0},
		{"two runs with a gap", []store.HourStat{
			{Hour: hour(0), Count: 60, P95: 100 * time.Millisecond},
			{Hour: hour(1), Count: 60, P95: 200 * time.Millisecond},
			{Hour: hour(5), Count: 60, Down: 60},
			{Hour: hour(11), Count: 60, Down: 2, P95: 50 * time.Millisecond},
			{Hour: hour(12), Count: 30, P95: 40 * time.Millisecond},
		}, store.LatencySummary{Count: 270, Down: 62, Min: 8 * time.Millisecond, P95: 180 * time.Millisecond, Max: 1200 * time.Millisecond},
			"Latency over the last 24 hours: min 8 ms, p95 180 ms, max 1.20 s; 270 checks, 62 failed", 2, 2},
		{"all down", []store.HourStat{{Hour: hour(12), Count: 3, Down: 3}}, store.LatencySummary{Count: 3, Down: 3},
			"Latency over the last 24 hours: every one of 3 checks failed", 0, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sp := sparkline(tc.hours, tc.sum, now)
			if sp.Label != tc.label || len(sp.Lines) != tc.lines || len(sp.Down) != tc.downMarks {
				t.Errorf("got label %q, %d lines, %d down marks; want %q, %d, %d", sp.Label, len(sp.Lines), len(sp.Down), tc.label, tc.lines, tc.downMarks)
			}
			for _, l := range sp.Lines {
				for _, pt := range strings.Fields(l) {
					var x, y float64
					if _, err := fmt.Sscanf(pt, "%g,%g", &x, &y); err != nil || x < 0 || x > sparkW || y < 0 || y > sparkH {
						t.Errorf("point %q outside the %dx%d box", pt, sparkW, sparkH)
					}
				}
			}
		})
	}
}

package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lookout-status/lookout/clock"
	"github.com/lookout-status/lookout/config"
	"github.com/lookout-status/lookout/incidents"
	"github.com/lookout-status/lookout/incidents/engine"
	"github.com/lookout-status/lookout/store"
	"github.com/lookout-status/lookout/web"
)

// schedNow is a Tuesday; ops-primary's weekly rotation has ana on call
// from Monday 9 March 09:00 to Monday 16 March 09:00.
var schedNow = time.Date(2026, 3, 10, 3, 12, 0, 0, time.UTC)

const schedConfigYAML = `organizations:
  - id: acme
    name: Acme
    egress: {allow: ["127.0.0.0/8"]}
    pages:
      - {id: status, name: Acme Status, url: "https://status.example.net"}
    incidents: {grouping_window: 0s}
    users:
      - {id: dana, name: Dana}
      - {id: ana, name: Ana}
      - {id: vic, name: Vic}
    teams:
      - id: ops
        members: [dana, ana, vic]
        schedules:
          - id: ops-primary
            layers:
              - {name: weekly, members: [dana, ana], start: "2026-03-02T09:00", rotation: 168h}
        escalation_policies:
          - id: default
            levels:
              - targets: [{schedule: ops-primary}]
    tokens:
      - {id: cli, user: dana, token: "${LOOKOUT_API_TOKEN}", role: responder}
      - {id: dash, user: vic, token: "${LOOKOUT_VIEWER_TOKEN}", role: viewer}
    components:
      - {id: storage, name: Storage}
      - {id: api, name: API}
    probes:
      - {id: s3, component: storage, interval: 30s, failure_threshold: 2, http: {url: "http://127.0.0.1:1/s3"}}
      - {id: api-status, component: api, interval: 30s, failure_threshold: 2, http: {url: "http://127.0.0.1:1/api"}}
    maintenances:
      - {id: cfg-window, title: API upgrade, components: [api], start: "2026-03-11T02:00Z", end: "2026-03-11T03:00Z"}
`

// schedStack is serve's composition minus the probes and the notifiers:
// the real store, incident engine (on a fake clock), status pages,
// access and scheduling, behind the real web server on loopback.
type schedStack struct {
	t     testing.TB
	clk   *clock.Fake
	db    *store.DB
	eng   *engine.Engine
	cfg   *config.Config
	plans *scheduling
	acc   *access
	pages *pageSource
	base  string
}

func newSchedStack(t testing.TB) *schedStack {
	t.Helper()
	ctx := context.Background()
	s := &schedStack{t: t, clk: clock.NewFake(schedNow)}
	cfg, err := config.Parse("lookout.yaml", []byte(schedConfigYAML), e2eEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	s.cfg = cfg
	if s.db, err = store.Open(ctx, filepath.Join(t.TempDir(), "lookout.db"), store.Options{Now: s.clk.Now}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.db.Close() })
	if _, err := s.db.Apply(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	s.eng = engine.New(engine.Options{Clock: s.clk, Store: s.db, Logger: logger})
	subs := &subscribers{db: s.db, clock: s.clk, logger: logger}
	s.plans = &scheduling{db: s.db, eng: s.eng, subs: subs, clock: s.clk, logger: logger}
	if err := s.plans.configure(ctx, cfg, nil); err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.eng.Run(runCtx) }()
	t.Cleanup(func() { cancel(); <-done })
	s.acc = &access{stored: s.plans.storedOverrides}
	s.acc.set(cfg)
	s.pages = &pageSource{db: s.db, eng: s.eng, clock: s.clk, logger: logger}
	s.pages.setConfig(cfg)
	srv := httptest.NewServer(web.NewServer(web.Deps{
		Logger: logger, Clock: s.clk, Pages: s.pages, Actions: s.eng, IncidentStore: s.db,
		Auth: s.acc, OnCall: s.acc, Scheduling: s.db, Directory: s.acc, SchedulingChanged: s.plans.changed,
	}))
	t.Cleanup(srv.Close)
	s.base = srv.URL
	return s
}

// call sends a JSON API request with the responder's token and decodes the
// answer into out.
func (s *schedStack) call(method, path, body string, wantStatus int, out any) {
	s.t.Helper()
	req, err := http.NewRequest(method, s.base+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e2eAPIToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		s.t.Fatalf("%s %s: got %d, want %d; %s", method, path, resp.StatusCode, wantStatus, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			s.t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
}

// componentStatus is what /api/v2/components.json says of id, once the
// engine has run its timers and the pages have been rebuilt.
func (s *schedStack) componentStatus(id string) string {
	s.t.Helper()
	s.tick()
	if err := s.pages.refresh(context.Background()); err != nil {
		s.t.Fatal(err)
	}
	var doc struct {
		Components []struct{ ID, Status string }
	}
	s.call("GET", "/api/v2/components.json", "", 200, &doc)
	for _, c := range doc.Components {
		if c.ID == id {
			return c.Status
		}
	}
	s.t.Fatalf("no component %s in components.json", id)
	return ""
}

func (s *schedStack) tick() {
	s.t.Helper()
	if _, err := s.eng.Do(context.Background(), "acme", incidents.Tick{}); err != nil {
		s.t.Fatal(err)
	}
}

// fail reports probe failures on a component's probe and returns who was
// notified.
func (s *schedStack) fail(probe, component string, n int) []string {
	s.t.Helper()
	var notified []string
	for range n {
		s.clk.Advance(time.Second)
		effs, err := s.eng.Do(context.Background(), "acme", incidents.ProbeResult{Org: "acme", Probe: probe, Component: component,
			Region: "test", Outcome: incidents.Down, At: s.clk.Now(), Error: "connection refused"})
		if err != nil {
			s.t.Fatal(err)
		}
		for _, ef := range effs {
			if nf, ok := ef.(incidents.Notify); ok {
				for _, r := range nf.Recipients {
					notified = append(notified, r.ID)
				}
			}
		}
	}
	return notified
}

type stackMaintenance struct {
	Maintenance struct {
		ID, Status string
	}
}

// TestStoredMaintenanceSuppressesPaging: a window scheduled through the
// API shows under_maintenance on /api/v2 in its window, keeps a failing
// probe from paging, survives a config reload, and cancelling it lets the
// failure page.
func TestStoredMaintenanceSuppressesPaging(t *testing.T) {
	s := newSchedStack(t)
	var m stackMaintenance
	s.call("POST", "/api/v1/maintenances", `{"title":"Storage upgrade","components":["storage"],
		"starts_at":"2026-03-10T04:00:00Z","ends_at":"2026-03-10T06:00:00Z","message":"Uploads pause."}`, 201, &m)
	if got := s.componentStatus("storage"); got != "operational" {
		t.Fatalf("before the window: got %s, want operational", got)
	}
	var upcoming struct {
		ScheduledMaintenances []struct {
			ID              string `json:"id"`
			Status          string `json:"status"`
			IncidentUpdates []struct {
				Body string `json:"body"`
			} `json:"incident_updates"`
		} `json:"scheduled_maintenances"`
	}
	apiGet(t, s.base, "/api/v2/scheduled-maintenances/upcoming.json", "", &upcoming)
	var ids []string
	for _, u := range upcoming.ScheduledMaintenances {
		ids = append(ids, u.ID)
		if u.ID == m.Maintenance.ID && (len(u.IncidentUpdates) != 1 || u.IncidentUpdates[0].Body != "Uploads pause.") {
			t.Errorf("upcoming %s: got updates %+v, want the message", u.ID, u.IncidentUpdates)
		}
	}
	if !slices.Equal(ids, []string{m.Maintenance.ID, "cfg-window"}) {
		t.Errorf("upcoming.json: got %v, want the stored window then the configured one", ids)
	}

	s.clk.Advance(50 * time.Minute) // 04:02
	if got := s.componentStatus("storage"); got != "under_maintenance" {
		t.Fatalf("inside the window: got %s, want under_maintenance", got)
	}
	if who := s.fail("s3", "storage", 3); len(who) != 0 || len(s.eng.OpenIncidents("acme")) != 0 {
		t.Fatalf("inside the window: notified %v, %d incidents; want nobody, none", who, len(s.eng.OpenIncidents("acme")))
	}
	// A reload (SIGHUP) keeps the running window running.
	if err := s.plans.configure(context.Background(), s.cfg, nil); err != nil {
		t.Fatal(err)
	}
	if got := s.componentStatus("storage"); got != "under_maintenance" {
		t.Fatalf("after a reload: got %s, want under_maintenance", got)
	}
	// Posting a message rebuilds the page with it.
	s.call("POST", "/api/v1/maintenances/"+m.Maintenance.ID+"/updates", `{"body":"Halfway."}`, 200, nil)
	s.componentStatus("storage")
	var active struct {
		ScheduledMaintenances []struct {
			IncidentUpdates []struct{ Body string } `json:"incident_updates"`
		} `json:"scheduled_maintenances"`
	}
	apiGet(t, s.base, "/api/v2/scheduled-maintenances/active.json", "", &active)
	if len(active.ScheduledMaintenances) != 1 || len(active.ScheduledMaintenances[0].IncidentUpdates) != 2 ||
		active.ScheduledMaintenances[0].IncidentUpdates[0].Body != "Halfway." {
		t.Errorf("active.json: got %+v, want the window with its newest message first", active.ScheduledMaintenances)
	}

	// Cancelled: storage shows what its probes say, and the failure pages.
	s.call("POST", "/api/v1/maintenances/"+m.Maintenance.ID+"/cancel", `{"body":"Rolled back."}`, 200, &m)
	if m.Maintenance.Status != "cancelled" {
		t.Fatalf("cancel: got %s, want cancelled", m.Maintenance.Status)
	}
	if got := s.componentStatus("storage"); got != "major_outage" {
		t.Errorf("after cancel: got %s, want major_outage", got)
	}
	if open := s.eng.OpenIncidents("acme"); len(open) != 1 {
		t.Errorf("after cancel: got %d open incidents, want 1", len(open))
	}
	// The configured window is read-only.
	s.call("PATCH", "/api/v1/maintenances/cfg-window", `{"title":"Mine"}`, 409, nil)
}

// TestStoredOverrideReachesEscalationAndSlack: an override added through
// the API changes who GET /api/v1/oncall reports, who Slack's /lookout
// oncall names and who the escalation pages; deleting it undoes that.
func TestStoredOverrideReachesEscalationAndSlack(t *testing.T) {
	s := newSchedStack(t)
	ctx := context.Background()
	onCallNow := func() []string {
		t.Helper()
		var b struct {
			Teams []struct {
				Schedules []struct {
					Now *struct{ Users []string }
				}
			}
		}
		s.call("GET", "/api/v1/oncall", "", 200, &b)
		if len(b.Teams) != 1 || len(b.Teams[0].Schedules) != 1 || b.Teams[0].Schedules[0].Now == nil {
			t.Fatalf("GET /api/v1/oncall: got %+v, want one schedule with someone on call", b)
		}
		return b.Teams[0].Schedules[0].Now.Users
	}
	slack := func() []string {
		t.Helper()
		users, err := s.acc.OnCall(ctx, "acme", "ops", s.clk.Now())
		if err != nil {
			t.Fatal(err)
		}
		return users
	}
	if got, sl := onCallNow(), slack(); !slices.Equal(got, []string{"ana"}) || !slices.Equal(sl, []string{"ana"}) {
		t.Fatalf("before: got %v (slack %v), want ana", got, sl)
	}
	var o struct{ Override struct{ ID string } }
	s.call("POST", "/api/v1/oncall/overrides", `{"schedule":"ops-primary","user":"vic",
		"starts_at":"2026-03-10T03:10:00Z","ends_at":"2026-03-10T07:00:00Z"}`, 201, &o)
	if got, sl := onCallNow(), slack(); !slices.Equal(got, []string{"vic"}) || !slices.Equal(sl, []string{"vic"}) {
		t.Fatalf("with the override: got %v (slack %v), want vic", got, sl)
	}
	if who := s.fail("api-status", "api", 2); !slices.Equal(who, []string{"vic"}) {
		t.Fatalf("paged: got %v, want vic", who)
	}
	// A reload keeps the override.
	if err := s.plans.configure(ctx, s.cfg, nil); err != nil {
		t.Fatal(err)
	}
	s.call("DELETE", "/api/v1/oncall/overrides/"+o.Override.ID, "", 200, nil)
	if got, sl := onCallNow(), slack(); !slices.Equal(got, []string{"ana"}) || !slices.Equal(sl, []string{"ana"}) {
		t.Fatalf("after delete: got %v (slack %v), want ana", got, sl)
	}
	if who := s.fail("s3", "storage", 2); !slices.Equal(who, []string{"ana"}) {
		t.Errorf("paged after delete: got %v, want ana", who)
	}
}

// BenchmarkScheduleMaintenance measures POST /api/v1/maintenances through
// the real stack: validation, the store, the engine event and the
// re-configuration the change sets off.
func BenchmarkScheduleMaintenance(b *testing.B) {
	s := newSchedStack(b)
	body := `{"title":"Bench","components":["storage"],"starts_at":"2026-03-11T04:00:00Z","ends_at":"2026-03-11T05:00:00Z"}`
	for b.Loop() {
		s.call("POST", "/api/v1/maintenances", body, 201, nil)
	}
}

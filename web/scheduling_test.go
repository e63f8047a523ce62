package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lookout-status/lookout/config"
	"github.com/lookout-status/lookout/incidents"
)

// schedConfig gives both test organizations components in the store.
const schedConfig = `organizations:
  - id: acme
    name: Acme
    components:
      - {id: api, name: API}
      - {id: storage, name: Storage}
      - {id: web, name: Web}
  - id: globex
    name: Globex
    components:
      - {id: api, name: API}
`

// schedDirectory is what the configuration would say: acme's users, teams
// and schedules, and one configured window.
type schedDirectory struct{}

func (schedDirectory) Directory(_ context.Context, org string) (OrgDirectory, error) {
	if org != "acme" {
		return OrgDirectory{Users: []DirectoryUser{{ID: "gina", Name: "Gina"}}}, nil
	}
	week := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC) // Monday: dana, then ana from 9 March
	return OrgDirectory{
		Users: []DirectoryUser{{ID: "dana", Name: "Dana Scully"}, {ID: "ana", Name: "Ana"}, {ID: "vic", Name: "Vic"},
			{ID: "alice", Name: "Alice"}, {ID: "olga", Name: "Olga"}},
		Teams: []DirectoryTeam{
			{ID: "ops", Name: "Operations", Members: []string{"dana", "ana", "vic"}, Schedules: []incidents.Schedule{{
				ID:     "ops-primary",
				Layers: []incidents.Layer{{Name: "weekly", Members: []string{"dana", "ana"}, Start: week, Length: 7 * 24 * time.Hour}},
				Overrides: []incidents.Override{{User: "vic", Start: time.Date(2026, 12, 24, 0, 0, 0, 0, time.UTC),
					End: time.Date(2026, 12, 27, 0, 0, 0, 0, time.UTC)}},
			}}},
			{ID: "db", Members: []string{"ana"}, Schedules: []incidents.Schedule{{ID: "db-primary",
				Layers: []incidents.Layer{{Members: []string{"ana"}, Start: week, Length: 24 * time.Hour}}}}},
		},
		Maintenances: []incidents.MaintenanceSchedule{{ID: "db-upgrade", Title: "Database upgrade", Components: []string{"storage"},
			Start: apiNow.Add(5 * time.Hour), End: apiNow.Add(6 * time.Hour), Actor: "config"}},
	}, nil
}

// changes counts SchedulingChanged calls per organization.
type changes struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *changes) changed(_ context.Context, org string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[org]++
	return nil
}

func (c *changes) count(org string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[org]
}

type schedEnv struct {
	*apiEnv
	audit   *memAudit
	changes *changes
}

func newSchedEnv(t *testing.T) *schedEnv {
	t.Helper()
	e := &schedEnv{audit: &memAudit{}, changes: &changes{n: map[string]int{}}}
	e.apiEnv = newAPIEnv(t, func(d *Deps) {
		d.Audit = e.audit
		d.Scheduling = d.IncidentStore.(schedulingDB)
		d.Directory = schedDirectory{}
		d.SchedulingChanged = e.changes.changed
	})
	cfg, err := config.Parse("lookout.yaml", []byte(schedConfig), nil)
	if err != nil {
		t.Fatalf("parse config: %v", err)
	}
	if _, err := e.db.Apply(context.Background(), cfg); err != nil {
		t.Fatalf("apply config: %v", err)
	}
	e.auth.sessions = map[string]Principal{
		sessAlice:  {Org: "acme", User: "alice", Role: "responder"},
		sessVictor: {Org: "acme", User: "victor", Role: "viewer"},
	}
	return e
}

// schedulingDB is what the store offers both APIs.
type schedulingDB interface {
	IncidentReader
	SchedulingStore
}

type maintBody struct {
	Maintenance apiMaintenanceDetail `json:"maintenance"`
}

type maintList struct {
	Maintenances []apiMaintenance `json:"maintenances"`
	NextCursor   *string          `json:"next_cursor"`
}

func rfc(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// schedule creates a window as alice and returns it.
func (e *schedEnv) schedule(t *testing.T, title string, start, end time.Duration, comps ...string) apiMaintenanceDetail {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"title": title, "components": comps,
		"starts_at": rfc(e.clock.Now().Add(start)), "ends_at": rfc(e.clock.Now().Add(end)), "message": "We will upgrade " + title + "."})
	w := e.do(t, "POST", "/api/v1/maintenances", tokResponder, string(body))
	if w.Code != http.StatusCreated {
		t.Fatalf("schedule %s: got %d, want 201; %s", title, w.Code, w.Body)
	}
	return decode[maintBody](t, w).Maintenance
}

func TestMaintenanceLifecycle(t *testing.T) {
	e := newSchedEnv(t)
	m := e.schedule(t, "Storage upgrade", time.Hour, 2*time.Hour, "storage", "api", "storage")
	if !strings.HasPrefix(m.ID, "mnt_") || m.Status != "scheduled" || m.Source != "api" || m.ReadOnly ||
		!slices.Equal(m.Components, []string{"storage", "api"}) || m.CreatedBy != "alice" {
		t.Fatalf("created: got %+v, want a scheduled api window by alice over storage, api", m.apiMaintenance)
	}
	if len(m.Updates) != 1 || m.Updates[0].Body != "We will upgrade Storage upgrade." || m.Updates[0].Status != "scheduled" {
		t.Fatalf("updates: got %+v, want the scheduling message", m.Updates)
	}
	// The engine was told: the window is in acme's incident state.
	if got := e.actions.state("acme").Maintenances[m.ID]; got.Status != incidents.MaintenanceScheduled || got.Title != "Storage upgrade" {
		t.Fatalf("engine state: got %+v, want the window scheduled", got)
	}
	path := "/api/v1/maintenances/" + m.ID
	steps := []struct {
		name, method, path, body string
		advance                  time.Duration
		wantCode                 int
		wantStatus, wantCode2    string
	}{
		{"extend before the start", "PATCH", path, `{"ends_at":"` + rfc(apiNow.Add(3*time.Hour)) + `","message":"Longer."}`, 0, 200, "scheduled", ""},
		{"move the start", "PATCH", path, `{"starts_at":"` + rfc(apiNow.Add(30*time.Minute)) + `"}`, 0, 200, "scheduled", ""},
		{"nothing to change", "PATCH", path, `{"starts_at":"` + rfc(apiNow.Add(30*time.Minute)) + `"}`, 0, 400, "", "empty_change"},
		{"started: the clock moves it", "GET", path, ``, 31 * time.Minute, 200, "in_progress", ""},
		{"started: the start is fixed", "PATCH", path, `{"starts_at":"` + rfc(apiNow.Add(40*time.Minute)) + `"}`, 0, 409, "", "started"},
		{"started: components change", "PATCH", path, `{"components":["storage"]}`, 0, 200, "in_progress", ""},
		{"verifying", "POST", path + "/updates", `{"status":"verifying","body":"Checking."}`, 0, 200, "verifying", ""},
		{"no going back", "POST", path + "/updates", `{"status":"in_progress","body":"Oops."}`, 0, 400, "", "invalid_field"},
		{"complete early", "POST", path + "/complete", `{"body":"Done early."}`, 0, 200, "completed", ""},
		{"finished: nothing changes", "PATCH", path, `{"title":"Again"}`, 0, 409, "", "finished"},
		{"finished: no cancel", "POST", path + "/cancel", ``, 0, 409, "", "finished"},
	}
	for _, s := range steps {
		e.clock.Advance(s.advance)
		tok := tokResponder
		if s.method == "GET" {
			tok = tokViewer
		}
		w := e.do(t, s.method, s.path, tok, s.body)
		if w.Code != s.wantCode {
			t.Fatalf("%s: got %d, want %d; %s", s.name, w.Code, s.wantCode, w.Body)
		}
		if s.wantCode == 200 {
			if got := decode[maintBody](t, w).Maintenance.Status; got != s.wantStatus {
				t.Fatalf("%s: got status %s, want %s", s.name, got, s.wantStatus)
			}
		} else if got := decode[apiErrorBody](t, w).Error.Code; got != s.wantCode2 {
			t.Fatalf("%s: got error code %s, want %s; %s", s.name, got, s.wantCode2, w.Body)
		}
	}
	d := decode[maintBody](t, e.do(t, "GET", path, tokViewer, "")).Maintenance
	var log []string
	for _, u := range d.Updates {
		log = append(log, u.Status+"|"+u.Change+"|"+u.Body)
	}
	want := []string{
		"scheduled|scheduled|We will upgrade Storage upgrade.",
		"scheduled|end 2026-03-10 05:12 UTC → 2026-03-10 06:12 UTC|Longer.",
		"scheduled|start 2026-03-10 04:12 UTC → 2026-03-10 03:42 UTC|",
		"in_progress|components storage, api → storage|",
		"verifying|status in_progress → verifying|Checking.",
		"completed|status verifying → completed|Done early.",
	}
	if !slices.Equal(log, want) {
		t.Errorf("log:\ngot  %q\nwant %q", log, want)
	}
	if d.EndedAt == nil || !d.EndedAt.Equal(e.clock.Now()) {
		t.Errorf("ended_at: got %v, want %v", d.EndedAt, e.clock.Now())
	}
	// The engine followed: completed, and storage no longer under maintenance.
	st := e.actions.state("acme")
	if got := st.Maintenances[m.ID].Status; got != incidents.MaintenanceCompleted {
		t.Errorf("engine: got %s, want completed", got)
	}
	if got := st.Components["storage"].Status; got == incidents.UnderMaintenance {
		t.Errorf("engine: storage still %s after completion", got)
	}
	// Every write was audited with a summary; refused ones too.
	var audited []string
	for _, a := range e.audit.all() {
		audited = append(audited, a.Action+" "+http.StatusText(a.Status))
		if a.Status < 300 && (a.Target != m.ID || a.Summary == "") {
			t.Errorf("audit entry %+v: want target %s and a summary", a, m.ID)
		}
	}
	if len(audited) != 11 {
		t.Errorf("got %d audit entries, want 11: %q", len(audited), audited)
	}
	if got := e.changes.count("acme"); got != 6 {
		t.Errorf("SchedulingChanged: got %d calls, want 6 (one per stored change)", got)
	}
	if s := e.audit.all()[1].Summary; !strings.Contains(s, "before: ") || !strings.Contains(s, "05:12 UTC; after: ") || !strings.Contains(s, "06:12 UTC") {
		t.Errorf("reschedule audit summary: got %q, want before and after", s)
	}
}

func TestMaintenanceCancelTellsTheEngine(t *testing.T) {
	e := newSchedEnv(t)
	m := e.schedule(t, "Web deploy", 0, time.Hour, "web")
	e.probe(t, "acme", "web-http", incidents.Up) // a tick: the window starts
	if got := e.actions.state("acme").Components["web"].Status; got != incidents.UnderMaintenance {
		t.Fatalf("web: got %s, want under_maintenance", got)
	}
	w := e.do(t, "POST", "/api/v1/maintenances/"+m.ID+"/cancel", tokResponder, `{"body":"Postponed."}`)
	if w.Code != 200 || decode[maintBody](t, w).Maintenance.Status != "cancelled" {
		t.Fatalf("cancel: got %d %s, want 200 cancelled", w.Code, w.Body)
	}
	st := e.actions.state("acme")
	if got := st.Components["web"].Status; got != incidents.Operational {
		t.Errorf("web after cancel: got %s, want operational", got)
	}
	if got := st.Maintenances[m.ID].Status; got != incidents.MaintenanceCancelled {
		t.Errorf("engine: got %s, want cancelled", got)
	}
}

func TestMaintenanceValidation(t *testing.T) {
	at := func(d time.Duration) string { return rfc(apiNow.Add(d)) }
	ok := map[string]any{"title": "Upgrade", "components": []string{"api"}, "starts_at": at(time.Hour), "ends_at": at(2 * time.Hour)}
	with := func(k string, v any) string {
		m := map[string]any{}
		for kk, vv := range ok {
			m[kk] = vv
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	cases := []struct {
		name, body  string
		status      int
		code, field string
	}{
		{"no title", with("title", nil), 400, "invalid_field", "title"},
		{"blank title", with("title", "  "), 400, "invalid_field", "title"},
		{"control character in title", with("title", "a\u0007b"), 400, "invalid_field", "title"},
		{"long title", with("title", strings.Repeat("t", 201)), 400, "invalid_field", "title"},
		{"no components", with("components", []string{}), 400, "invalid_field", "components"},
		{"unknown component", with("components", []string{"api", "billing"}), 400, "invalid_field", "components"},
		{"another organization's only component name", with("components", []string{"<script>"}), 400, "invalid_field", "components"},
		{"components not a list", with("components", "api"), 400, "invalid_field", "components"},
		{"no start", with("starts_at", nil), 400, "invalid_field", "starts_at"},
		{"start not a time", with("starts_at", "tomorrow"), 400, "invalid_field", "starts_at"},
		{"start an hour ago", with("starts_at", at(-time.Hour)), 400, "invalid_field", "starts_at"},
		{"end before start", with("ends_at", at(30*time.Minute)), 400, "invalid_field", "ends_at"},
		{"end equal to start", with("ends_at", at(time.Hour)), 400, "invalid_field", "ends_at"},
		{"eight days", with("ends_at", at(8*24*time.Hour)), 400, "invalid_field", "ends_at"},
		{"huge message", with("message", strings.Repeat("m", 17<<10)), 400, "invalid_field", "message"},
		{"unknown field", with("force", true), 400, "unknown_field", "force"},
		{"not JSON", `{"title":`, 400, "invalid_json", ""},
		{"over the body cap", with("message", strings.Repeat("m", 70<<10)), 413, "too_large", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newSchedEnv(t)
			w := e.do(t, "POST", "/api/v1/maintenances", tokResponder, c.body)
			b := decode[apiErrorBody](t, w)
			if w.Code != c.status || b.Error.Code != c.code || b.Error.Field != c.field {
				t.Fatalf("got %d %q field %q, want %d %q field %q; %s", w.Code, b.Error.Code, b.Error.Field, c.status, c.code, c.field, w.Body)
			}
			if c.code == "invalid_field" && !strings.HasPrefix(b.Error.Message, c.field+": ") {
				t.Errorf("message %q does not name the field", b.Error.Message)
			}
			list := decode[maintList](t, e.do(t, "GET", "/api/v1/maintenances?when=upcoming", tokViewer, ""))
			if len(list.Maintenances) != 1 || list.Maintenances[0].Source != "config" {
				t.Errorf("after a refused create: got %+v, want only the configured window", list.Maintenances)
			}
			if e.changes.count("acme") != 0 {
				t.Errorf("SchedulingChanged called for a refused create")
			}
		})
	}
}

func TestMaintenanceAccess(t *testing.T) {
	e := newSchedEnv(t)
	m := e.schedule(t, "Upgrade", time.Hour, 2*time.Hour, "api")
	mine := "/api/v1/maintenances/" + m.ID
	writes := []struct{ method, path, body string }{
		{"POST", "/api/v1/maintenances", `{"title":"x","components":["api"],"starts_at":"` + rfc(apiNow.Add(time.Hour)) + `","ends_at":"` + rfc(apiNow.Add(2*time.Hour)) + `"}`},
		{"PATCH", mine, `{"title":"Renamed"}`},
		{"POST", mine + "/updates", `{"body":"hello"}`},
		{"POST", mine + "/cancel", ``},
		{"POST", mine + "/complete", ``},
		{"POST", "/api/v1/oncall/overrides", `{"schedule":"ops-primary","user":"vic","starts_at":"` + rfc(apiNow) + `","ends_at":"` + rfc(apiNow.Add(time.Hour)) + `"}`},
		{"DELETE", "/api/v1/oncall/overrides/ovr_aaaaaaaaaaaaaaaa", ``},
	}
	for _, wr := range writes {
		if w := e.do(t, wr.method, wr.path, tokViewer, wr.body); w.Code != http.StatusForbidden {
			t.Errorf("viewer %s %s: got %d, want 403", wr.method, wr.path, w.Code)
		}
		if w := e.do(t, wr.method, wr.path, "", wr.body); w.Code != http.StatusUnauthorized {
			t.Errorf("anonymous %s %s: got %d, want 401", wr.method, wr.path, w.Code)
		}
	}
	// Another organization: acme's window does not exist for globex.
	for _, wr := range append(writes[1:5], struct{ method, path, body string }{"GET", mine, ""}) {
		if w := e.do(t, wr.method, wr.path, tokGlobex, wr.body); w.Code != http.StatusNotFound {
			t.Errorf("globex %s %s: got %d, want 404; %s", wr.method, wr.path, w.Code, w.Body)
		}
	}
	if l := decode[maintList](t, e.do(t, "GET", "/api/v1/maintenances", tokGlobex, "")); len(l.Maintenances) != 0 {
		t.Errorf("globex's list: got %+v, want nothing of acme's", l.Maintenances)
	}
	// The configured window is shown, never changed.
	w := e.do(t, "GET", "/api/v1/maintenances/db-upgrade", tokViewer, "")
	if d := decode[maintBody](t, w).Maintenance; w.Code != 200 || !d.ReadOnly || d.Source != "config" || d.Title != "Database upgrade" {
		t.Errorf("configured window: got %d %+v, want it read-only from config", w.Code, d)
	}
	for _, wr := range []struct{ method, path, body string }{
		{"PATCH", "/api/v1/maintenances/db-upgrade", `{"title":"Mine now"}`},
		{"POST", "/api/v1/maintenances/db-upgrade/updates", `{"body":"hi"}`},
		{"POST", "/api/v1/maintenances/db-upgrade/cancel", ``},
		{"POST", "/api/v1/maintenances/db-upgrade/complete", ``},
	} {
		w := e.do(t, wr.method, wr.path, tokResponder, wr.body)
		b := decode[apiErrorBody](t, w)
		if w.Code != http.StatusConflict || b.Error.Code != "read_only" || !strings.Contains(b.Error.Message, "configuration file") {
			t.Errorf("%s %s: got %d %s, want 409 read_only naming the configuration file", wr.method, wr.path, w.Code, w.Body)
		}
	}
	if w := e.do(t, "GET", "/api/v1/maintenances/mnt_nothere", tokViewer, ""); w.Code != 404 {
		t.Errorf("unknown window: got %d, want 404", w.Code)
	}
	if d := decode[maintBody](t, e.do(t, "GET", mine, tokViewer, "")).Maintenance; d.Title != "Upgrade" || len(d.Updates) != 1 {
		t.Errorf("after refused writes: got %q with %d updates, want it unchanged", d.Title, len(d.Updates))
	}
}

func TestMaintenanceListPages(t *testing.T) {
	e := newSchedEnv(t)
	for i, start := range []time.Duration{time.Hour, 3 * time.Hour, 8 * time.Hour} {
		e.schedule(t, "Window "+string(rune('A'+i)), start, start+time.Hour, "api")
	}
	running := e.schedule(t, "Running", 0, time.Hour, "web")
	var got []string
	cursor := ""
	for range 10 {
		target := "/api/v1/maintenances?when=upcoming&limit=2"
		if cursor != "" {
			target += "&cursor=" + url.QueryEscape(cursor)
		}
		l := decode[maintList](t, e.do(t, "GET", target, tokViewer, ""))
		for _, m := range l.Maintenances {
			got = append(got, m.Title)
		}
		if l.NextCursor == nil {
			break
		}
		cursor = *l.NextCursor
	}
	// The configured window (in 5h) sits among the stored ones, soonest first.
	if want := []string{"Window A", "Window B", "Database upgrade", "Window C"}; !slices.Equal(got, want) {
		t.Errorf("upcoming pages: got %q, want %q", got, want)
	}
	l := decode[maintList](t, e.do(t, "GET", "/api/v1/maintenances?when=active", tokViewer, ""))
	if len(l.Maintenances) != 1 || l.Maintenances[0].ID != running.ID || l.Maintenances[0].Status != "in_progress" {
		t.Errorf("active: got %+v, want the running window", l.Maintenances)
	}
	for _, q := range []string{"when=soon", "limit=0", "limit=201", "cursor=!!!", "cursor=bm9wZQ"} {
		w := e.do(t, "GET", "/api/v1/maintenances?"+q, tokViewer, "")
		field, _, _ := strings.Cut(q, "=")
		if b := decode[apiErrorBody](t, w); w.Code != 400 || b.Error.Field != field {
			t.Errorf("?%s: got %d field %q, want 400 field %q", q, w.Code, b.Error.Field, field)
		}
	}
}

type onCallBody struct {
	At    time.Time         `json:"at"`
	Teams []apiTeam         `json:"teams"`
	Users map[string]string `json:"users"`
}

// onCallNow returns who is on call now in schedule, and who is next.
func (e *schedEnv) onCallNow(t *testing.T, schedule string) (now, next string) {
	t.Helper()
	w := e.do(t, "GET", "/api/v1/oncall", tokViewer, "")
	if w.Code != 200 {
		t.Fatalf("GET /api/v1/oncall: got %d; %s", w.Code, w.Body)
	}
	for _, tm := range decode[onCallBody](t, w).Teams {
		for _, s := range tm.Schedules {
			if s.ID != schedule {
				continue
			}
			if s.Now != nil {
				now = strings.Join(s.Now.Users, "+") + " until " + s.Now.EndsAt.Format("01-02 15:04")
			}
			if s.Next != nil {
				next = strings.Join(s.Next.Users, "+") + " from " + s.Next.StartsAt.Format("01-02 15:04")
			}
			return now, next
		}
	}
	t.Fatalf("no schedule %s in %s", schedule, w.Body)
	return "", ""
}

func TestOnCallOverridesAPI(t *testing.T) {
	e := newSchedEnv(t)
	w := e.do(t, "GET", "/api/v1/oncall", tokViewer, "")
	b := decode[onCallBody](t, w)
	if len(b.Teams) != 2 || b.Teams[0].Name != "Operations" || b.Users["dana"] != "Dana Scully" {
		t.Fatalf("got %s, want teams ops and db with user names", w.Body)
	}
	ops := b.Teams[0].Schedules[0]
	if len(ops.Overrides) != 1 || ops.Overrides[0].Source != "config" || ops.Overrides[0].ID != "" {
		t.Errorf("ops overrides: got %+v, want the configured one, without an id", ops.Overrides)
	}
	if len(ops.Shifts) != 2 || ops.Shifts[0].StartsAt == nil || !ops.Shifts[0].StartsAt.Equal(time.Date(2026, 3, 9, 9, 0, 0, 0, time.UTC)) {
		t.Errorf("ops shifts: got %+v, want ana's week from 9 March then dana's", ops.Shifts)
	}
	if now, next := e.onCallNow(t, "ops-primary"); now != "ana until 03-16 09:00" || next != "dana from 03-16 09:00" {
		t.Fatalf("before overrides: got now %q next %q", now, next)
	}
	add := func(user string, start, end time.Duration) apiOverride {
		t.Helper()
		body := `{"schedule":"ops-primary","user":"` + user + `","starts_at":"` + rfc(apiNow.Add(start)) + `","ends_at":"` + rfc(apiNow.Add(end)) + `"}`
		w := e.do(t, "POST", "/api/v1/oncall/overrides", tokResponder, body)
		if w.Code != http.StatusCreated {
			t.Fatalf("add override: got %d; %s", w.Code, w.Body)
		}
		return decode[struct{ Override apiOverride }](t, w).Override
	}
	dana := add("dana", 0, 2*time.Hour)
	if !strings.HasPrefix(dana.ID, "ovr_") || dana.Source != "api" || dana.CreatedBy != "alice" {
		t.Errorf("created: got %+v", dana)
	}
	if now, next := e.onCallNow(t, "ops-primary"); now != "dana until 03-10 05:12" || next != "ana from 03-10 05:12" {
		t.Errorf("with dana's override: got now %q next %q", now, next)
	}
	// Overlapping overrides: everyone covered is on call, in creation order.
	vic := add("vic", time.Hour, 3*time.Hour)
	e.clock.Advance(90 * time.Minute)
	if now, _ := e.onCallNow(t, "ops-primary"); now != "dana+vic until 03-10 05:12" {
		t.Errorf("overlap: got now %q, want dana+vic until 05:12", now)
	}
	if w := e.do(t, "DELETE", "/api/v1/oncall/overrides/"+dana.ID, tokGlobex, ""); w.Code != 404 {
		t.Errorf("globex deleting acme's override: got %d, want 404", w.Code)
	}
	w = e.do(t, "DELETE", "/api/v1/oncall/overrides/"+dana.ID, tokResponder, "")
	if w.Code != 200 {
		t.Fatalf("delete: got %d; %s", w.Code, w.Body)
	}
	if now, _ := e.onCallNow(t, "ops-primary"); now != "vic until 03-10 06:12" {
		t.Errorf("after deleting dana's: got now %q, want vic until 06:12", now)
	}
	if w := e.do(t, "DELETE", "/api/v1/oncall/overrides/"+dana.ID, tokResponder, ""); w.Code != 404 {
		t.Errorf("second delete: got %d, want 404", w.Code)
	}
	if got := e.changes.count("acme"); got != 3 {
		t.Errorf("SchedulingChanged: got %d, want 3", got)
	}
	var summaries []string
	for _, a := range e.audit.all() {
		if a.Status < 300 {
			summaries = append(summaries, a.Summary)
		}
	}
	if len(summaries) != 3 || !strings.HasPrefix(summaries[2], "deleted: dana on call for ops-primary") || vic.ID == "" {
		t.Errorf("audit summaries: got %q", summaries)
	}
}

func TestOnCallOverrideValidation(t *testing.T) {
	at := func(d time.Duration) string { return rfc(apiNow.Add(d)) }
	body := func(sched, user, start, end string) string {
		b, _ := json.Marshal(map[string]string{"schedule": sched, "user": user, "starts_at": start, "ends_at": end})
		return string(b)
	}
	cases := []struct {
		name, body string
		field      string
	}{
		{"no schedule", body("", "vic", at(0), at(time.Hour)), "schedule"},
		{"unknown schedule", body("nope", "vic", at(0), at(time.Hour)), "schedule"},
		{"unknown user", body("ops-primary", "mallory", at(0), at(time.Hour)), "user"},
		{"not a team member", body("db-primary", "vic", at(0), at(time.Hour)), "user"},
		{"another organization's user", body("ops-primary", "gina", at(0), at(time.Hour)), "user"},
		{"start long past", body("ops-primary", "vic", at(-time.Hour), at(time.Hour)), "starts_at"},
		{"bad start", body("ops-primary", "vic", "now", at(time.Hour)), "starts_at"},
		{"end before start", body("ops-primary", "vic", at(time.Hour), at(0)), "ends_at"},
		{"two months", body("ops-primary", "vic", at(0), at(60*24*time.Hour)), "ends_at"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newSchedEnv(t)
			w := e.do(t, "POST", "/api/v1/oncall/overrides", tokResponder, c.body)
			if b := decode[apiErrorBody](t, w); w.Code != 400 || b.Error.Field != c.field {
				t.Fatalf("got %d field %q, want 400 field %q; %s", w.Code, b.Error.Field, c.field, w.Body)
			}
			if now, _ := e.onCallNow(t, "ops-primary"); now != "ana until 03-16 09:00" {
				t.Errorf("after a refused override: got now %q, want ana", now)
			}
		})
	}
	e := newSchedEnv(t)
	if w := e.do(t, "GET", "/api/v1/oncall?team=nope", tokViewer, ""); w.Code != 400 {
		t.Errorf("unknown team: got %d, want 400", w.Code)
	}
	if w := e.do(t, "GET", "/api/v1/oncall?at=soon", tokViewer, ""); w.Code != 400 {
		t.Errorf("bad at: got %d, want 400", w.Code)
	}
}

// consoleDo sends a console request with a session cookie, same-origin.
func (e *schedEnv) consoleDo(t *testing.T, method, target, session string, form url.Values, cookies ...*http.Cookie) *httptest.ResponseRecorder {
	t.Helper()
	var body string
	if form != nil {
		body = form.Encode()
	}
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	r.AddCookie(&http.Cookie{Name: SessionCookie, Value: session})
	for _, c := range cookies {
		r.AddCookie(c)
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	return w
}

func flashOf(w *httptest.ResponseRecorder) *http.Cookie {
	for _, c := range w.Result().Cookies() {
		if c.Name == flashCookie && c.MaxAge > 0 {
			return c
		}
	}
	return nil
}

func TestConsoleMaintenance(t *testing.T) {
	e := newSchedEnv(t)
	w := e.consoleDo(t, "GET", "/console/maintenance?org=acme", sessAlice, nil)
	if w.Code != 200 || !strings.Contains(w.Body.String(), `action="/console/maintenance?org=acme"`) ||
		!strings.Contains(w.Body.String(), "Database upgrade") || !strings.Contains(w.Body.String(), "Start (UTC)") {
		t.Fatalf("list: got %d, want the schedule form and the configured window; %s", w.Code, w.Body)
	}
	if w := e.consoleDo(t, "GET", "/console/maintenance?org=acme", sessVictor, nil); w.Code != 200 || strings.Contains(w.Body.String(), "<form class=\"maint-form\"") {
		t.Errorf("viewer: got %d, want the list without the form", w.Code)
	}
	form := url.Values{"title": {`Swap "disks" <now>`}, "components": {"storage", "api"},
		"start": {"2026-03-10T05:00"}, "end": {"2026-03-10T06:30"}, "message": {"Storage will be read-only."}}
	w = e.consoleDo(t, "POST", "/console/maintenance?org=acme", sessAlice, form)
	loc := w.Header().Get("Location")
	if w.Code != http.StatusSeeOther || !strings.HasPrefix(loc, "/console/maintenance/mnt_") || flashOf(w) == nil {
		t.Fatalf("schedule: got %d to %q, want 303 to the window with a flash; %s", w.Code, loc, w.Body)
	}
	w = e.consoleDo(t, "GET", loc, sessAlice, nil, flashOf(w))
	page := w.Body.String()
	for _, want := range []string{"Scheduled “Swap &#34;disks&#34; &lt;now&gt;”.", "Tue 10 Mar 2026 05:00 UTC – Tue 10 Mar 2026 06:30 UTC",
		"Storage will be read-only.", "Cancel maintenance", "Post update"} {
		if !strings.Contains(page, want) {
			t.Errorf("detail page lacks %q", want)
		}
	}
	if strings.Contains(page, "<now>") {
		t.Errorf("title not escaped")
	}
	// A refused form shows the error and keeps what was typed.
	bad := url.Values{"title": {"Too long"}, "components": {"api"}, "start": {"2026-03-10T05:00"}, "end": {"2026-03-20T05:00"}}
	w = e.consoleDo(t, "POST", "/console/maintenance?org=acme", sessAlice, bad)
	if w.Code != 400 || !strings.Contains(w.Body.String(), "ends_at: the window is longer than 7 days") || !strings.Contains(w.Body.String(), `value="Too long"`) {
		t.Errorf("refused form: got %d, want 400 with the error and the typed title; %s", w.Code, w.Body)
	}
	// Post an update, then cancel, through the forms.
	id := strings.TrimPrefix(strings.Split(loc, "?")[0], "/console/maintenance/")
	w = e.consoleDo(t, "POST", "/console/maintenance/"+id+"/updates?org=acme", sessAlice, url.Values{"status": {"scheduled"}, "body": {"On track."}})
	if w.Code != http.StatusSeeOther {
		t.Fatalf("update: got %d; %s", w.Code, w.Body)
	}
	w = e.consoleDo(t, "POST", "/console/maintenance/"+id+"/cancel?org=acme", sessAlice, url.Values{})
	if w.Code != http.StatusSeeOther {
		t.Fatalf("cancel: got %d; %s", w.Code, w.Body)
	}
	page = e.consoleDo(t, "GET", "/console/maintenance/"+id+"?org=acme", sessAlice, nil).Body.String()
	if !strings.Contains(page, "Cancelled") || !strings.Contains(page, "On track.") || strings.Contains(page, "Post update") {
		t.Errorf("after cancel: want Cancelled, the update, no forms; got %s", page)
	}
	// The viewer may not post; a cross-site form may not either.
	if w := e.consoleDo(t, "POST", "/console/maintenance?org=acme", sessVictor, form); w.Code != 403 {
		t.Errorf("viewer POST: got %d, want 403", w.Code)
	}
	r := httptest.NewRequest("POST", "/console/maintenance?org=acme", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Sec-Fetch-Site", "cross-site")
	r.AddCookie(&http.Cookie{Name: SessionCookie, Value: sessAlice})
	cw := httptest.NewRecorder()
	e.h.ServeHTTP(cw, r)
	if cw.Code != 403 {
		t.Errorf("cross-site POST: got %d, want 403", cw.Code)
	}
	if w := e.consoleDo(t, "GET", "/console/maintenance/db-upgrade?org=acme", sessAlice, nil); !strings.Contains(w.Body.String(), "defined in the configuration file") ||
		strings.Contains(w.Body.String(), "Post update") {
		t.Errorf("configured window page: want read-only; got %s", w.Body)
	}
	if w := e.consoleDo(t, "GET", "/console/maintenance/mnt_nothere?org=acme", sessAlice, nil); w.Code != 404 {
		t.Errorf("unknown window page: got %d, want 404", w.Code)
	}
}

func TestConsoleOnCall(t *testing.T) {
	e := newSchedEnv(t)
	w := e.consoleDo(t, "GET", "/console/oncall?org=acme", sessAlice, nil)
	page := w.Body.String()
	for _, want := range []string{"Operations", "Ana (ana) until Mon 16 Mar 2026 09:00 UTC", "Dana Scully (dana) from Mon 16 Mar 2026 09:00 UTC", "Add override", "From (UTC)"} {
		if !strings.Contains(page, want) {
			t.Errorf("on-call page lacks %q", want)
		}
	}
	form := url.Values{"schedule": {"ops-primary"}, "user": {"vic"}, "start": {"2026-03-10T03:10"}, "end": {"2026-03-10T09:00"}}
	w = e.consoleDo(t, "POST", "/console/oncall/overrides?org=acme", sessAlice, form)
	if w.Code != http.StatusSeeOther || flashOf(w) == nil {
		t.Fatalf("add: got %d; %s", w.Code, w.Body)
	}
	page = e.consoleDo(t, "GET", "/console/oncall?org=acme", sessAlice, nil, flashOf(w)).Body.String()
	if !strings.Contains(page, "vic is on call for ops-primary") || !strings.Contains(page, "Vic (vic) until Tue 10 Mar 2026 09:00 UTC") {
		t.Fatalf("after adding: want the flash and vic on call; got %s", page)
	}
	i := strings.Index(page, "/console/oncall/overrides/ovr_")
	if i < 0 {
		t.Fatalf("no delete form for the override")
	}
	del := page[i : i+strings.Index(page[i:], `"`)]
	del = strings.ReplaceAll(del, "&amp;", "&")
	if w := e.consoleDo(t, "POST", del, sessVictor, url.Values{}); w.Code != 403 {
		t.Errorf("viewer delete: got %d, want 403", w.Code)
	}
	if w := e.consoleDo(t, "POST", del, sessAlice, url.Values{}); w.Code != http.StatusSeeOther {
		t.Fatalf("delete: got %d; %s", w.Code, w.Body)
	}
	if page := e.consoleDo(t, "GET", "/console/oncall?org=acme", sessAlice, nil).Body.String(); !strings.Contains(page, "Ana (ana) until Mon 16 Mar") {
		t.Errorf("after deleting: want ana back on call")
	}
	bad := url.Values{"schedule": {"db-primary"}, "user": {"vic"}, "start": {"2026-03-10T03:00"}, "end": {"2026-03-10T09:00"}}
	w = e.consoleDo(t, "POST", "/console/oncall/overrides?org=acme", sessAlice, bad)
	if w.Code != 400 || !strings.Contains(w.Body.String(), "user: vic is not a member of team db") {
		t.Errorf("refused override: got %d; %s", w.Code, w.Body)
	}
}

// TestSchedulingRouteRules: every maintenance and on-call route is
// registered with the least role the API promises.
func TestSchedulingRouteRules(t *testing.T) {
	s := &server{csrf: http.NewCrossOriginProtection(), csrfStrict: http.NewCrossOriginProtection(),
		auth: &fakeAuth{}, directory: schedDirectory{}}
	s.routes()
	for _, r := range s.rules {
		if strings.Contains(r.Pattern, "maintenance") || strings.Contains(r.Pattern, "oncall") {
			t.Errorf("routed without a store: %s", r.Pattern)
		}
	}
	e := newSchedEnv(t) // for a store
	s = &server{csrf: http.NewCrossOriginProtection(), csrfStrict: http.NewCrossOriginProtection(),
		auth: &fakeAuth{}, scheduling: e.db, directory: schedDirectory{}}
	s.routes()
	want := map[string]string{
		"GET /api/v1/maintenances":                   roleViewer,
		"POST /api/v1/maintenances":                  roleResponder,
		"GET /api/v1/maintenances/{id}":              roleViewer,
		"PATCH /api/v1/maintenances/{id}":            roleResponder,
		"POST /api/v1/maintenances/{id}/updates":     roleResponder,
		"POST /api/v1/maintenances/{id}/cancel":      roleResponder,
		"POST /api/v1/maintenances/{id}/complete":    roleResponder,
		"GET /api/v1/oncall":                         roleViewer,
		"POST /api/v1/oncall/overrides":              roleResponder,
		"DELETE /api/v1/oncall/overrides/{id}":       roleResponder,
		"GET /console/maintenance":                   roleViewer,
		"POST /console/maintenance":                  roleResponder,
		"GET /console/maintenance/{id}":              roleViewer,
		"POST /console/maintenance/{id}":             roleResponder,
		"POST /console/maintenance/{id}/updates":     roleResponder,
		"POST /console/maintenance/{id}/cancel":      roleResponder,
		"POST /console/maintenance/{id}/complete":    roleResponder,
		"GET /console/oncall":                        roleViewer,
		"POST /console/oncall/overrides":             roleResponder,
		"POST /console/oncall/overrides/{id}/delete": roleResponder,
	}
	got := map[string]string{}
	for _, r := range s.rules {
		if _, ok := want[r.Pattern]; ok {
			got[r.Pattern] = r.Role
			if r.HTML != strings.Contains(r.Pattern, "/console/") {
				t.Errorf("%s: HTML %v", r.Pattern, r.HTML)
			}
		}
	}
	for p, role := range want {
		if got[p] != role {
			t.Errorf("%s: got role %q, want %q", p, got[p], role)
		}
	}
}

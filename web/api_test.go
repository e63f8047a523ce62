package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lookout-status/lookout/clock"
	"github.com/lookout-status/lookout/config"
	"github.com/lookout-status/lookout/incidents"
	"github.com/lookout-status/lookout/store"
)

var apiNow = time.Date(2026, 3, 10, 3, 12, 0, 0, time.UTC)

// Tokens of the test organizations; each at least config.MinTokenLength.
const (
	tokOwner     = "acme-owner-0123456789abcdefghij"
	tokResponder = "acme-responder-0123456789abcdefghij"
	tokViewer    = "acme-viewer-0123456789abcdefghij"
	tokGlobex    = "globex-responder-0123456789abcdefghij"
	tokUnknown   = "nobody-knows-0123456789abcdefghij"
	tokIngest    = "acme-alertmanager-0123456789abcdefghij"
)

// stateActions is IncidentActions over the real pure core, as the engine
// runs it minus the goroutine: one incidents.State per organization, events
// applied with State.Apply at the fake clock's now, the state and effects
// committed to a real store.DB before Do returns.
type stateActions struct {
	mu     sync.Mutex
	clock  *clock.Fake
	db     *store.DB
	states map[string]*incidents.State
	calls  int
	last   []incidents.Effect // of the last Do
}

func (a *stateActions) Do(ctx context.Context, org string, evs ...incidents.Event) ([]incidents.Effect, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls++
	st, ok := a.states[org]
	if !ok {
		return nil, fmt.Errorf("unknown organization %q", org)
	}
	now := a.clock.Now()
	var all []incidents.Effect
	for _, ev := range evs {
		all = append(all, st.Apply(ev, now)...)
	}
	if len(all) > 0 {
		if err := a.db.CommitIncidents(ctx, org, *st, all, nil); err != nil {
			return nil, err
		}
	}
	a.last = all
	return all, nil
}

func (a *stateActions) lastEffects() (calls int, effs []incidents.Effect) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls, a.last
}

func (a *stateActions) state(org string) incidents.State {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.states[org].Clone()
}

func orgConfig() incidents.Config {
	return incidents.Config{
		Policy: incidents.Policy{PublishAutomatically: true},
		Components: []incidents.ComponentConfig{
			{ID: "api", Name: "API"}, {ID: "storage", Name: "Storage"}, {ID: "web", Name: "Web"},
		},
		Probes: []incidents.ProbeConfig{
			{ID: "api-http", Component: "api"}, {ID: "storage-s3", Component: "storage"}, {ID: "web-http", Component: "web"},
		},
	}
}

type fakeAuth struct {
	mu       sync.Mutex
	tokens   map[string]Principal
	sessions map[string]Principal
	lookups  int
}

func (f *fakeAuth) Session(_ context.Context, id, org string) (Principal, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups++
	p, ok := f.sessions[id]
	if org != "" && p.Org != org {
		return Principal{}, false
	}
	return p, ok
}

func (f *fakeAuth) Token(_ context.Context, token string) (Principal, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups++
	p, ok := f.tokens[token]
	return p, ok
}

func (f *fakeAuth) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lookups
}

type apiEnv struct {
	h       http.Handler
	clock   *clock.Fake
	db      *store.DB
	actions *stateActions
	auth    *fakeAuth
	ingest  *fakeIngest
	logs    *syncBuffer
}

// syncBuffer is a log sink the handler may write to while a test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newAPIEnv serves the API over two organizations, acme and globex, whose
// api components are down: each has one open incident, acme-1 and globex-1.
func newAPIEnv(t testing.TB, mod func(*Deps)) *apiEnv {
	t.Helper()
	fc := clock.NewFake(apiNow)
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "lookout.db"), store.Options{Now: fc.Now})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	e := &apiEnv{
		clock:   fc,
		db:      db,
		actions: &stateActions{clock: fc, db: db, states: map[string]*incidents.State{}},
		auth: &fakeAuth{tokens: map[string]Principal{
			tokOwner:     {Org: "acme", User: "olga", Role: "owner"},
			tokResponder: {Org: "acme", User: "alice", Role: "responder"},
			tokViewer:    {Org: "acme", User: "victor", Role: "viewer"},
			tokGlobex:    {Org: "globex", User: "gina", Role: "responder"},
		}},
		ingest: &fakeIngest{tokens: map[string]string{tokIngest: "acme"}},
		logs:   &syncBuffer{},
	}
	for _, org := range []string{"acme", "globex"} {
		st := incidents.New(org, orgConfig())
		e.actions.states[org] = &st
		e.probe(t, org, "api-http", incidents.Down)
	}
	deps := Deps{
		Logger:        slog.New(slog.NewTextHandler(e.logs, nil)),
		Clock:         fc,
		Actions:       e.actions,
		IncidentStore: db,
		Auth:          e.auth,
		Ingest:        e.ingest,
	}
	if mod != nil {
		mod(&deps)
	}
	e.h = NewServer(deps)
	return e
}

// probe reports a probe result now, as the scheduler would.
func (e *apiEnv) probe(t testing.TB, org, probe string, o incidents.Outcome) {
	t.Helper()
	ev := incidents.ProbeResult{Org: org, Probe: probe, Region: "eu", Outcome: o, At: e.clock.Now()}
	if _, err := e.actions.Do(context.Background(), org, ev); err != nil {
		t.Fatalf("probe %s: %v", probe, err)
	}
}

func (e *apiEnv) do(t *testing.T, method, target, token, body string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, target, rd)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	return w
}

// pages GETs first with the viewer token, then each next page (next_cursor
// passed as the query parameter param), at most five, and returns the
// items listed under key on all of them.
func pages[T any](t *testing.T, e *apiEnv, first, param, key string) []T {
	t.Helper()
	var items []T
	target := first
	for range 5 {
		w := e.do(t, "GET", target, tokViewer, "")
		if w.Code != 200 {
			t.Fatalf("GET %s: got status %d, want 200; body %s", target, w.Code, w.Body)
		}
		var b map[string]json.RawMessage
		var page []T
		var next *string
		if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b[key], &page); err != nil {
			t.Fatalf("GET %s: %s: %v", target, key, err)
		}
		if raw, ok := b["next_cursor"]; ok && json.Unmarshal(raw, &next) != nil {
			t.Fatalf("GET %s: next_cursor: got %s, want a string or null", target, raw)
		}
		items = append(items, page...)
		if next == nil {
			break
		}
		target = first + "&" + param + "=" + *next
	}
	return items
}

type apiErrorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field"`
	} `json:"error"`
}

type actionBody struct {
	Incident apiIncidentDetail `json:"incident"`
	Changed  *bool             `json:"changed"`
}

func decode[T any](t *testing.T, w *httptest.ResponseRecorder) T {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type: got %q, want application/json", ct)
	}
	var v T
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
		t.Fatalf("decode %s: %v", w.Body, err)
	}
	return v
}

func TestTokenLengthMatchesConfig(t *testing.T) {
	if minTokenLen != config.MinTokenLength {
		t.Errorf("got minTokenLen %d, want config.MinTokenLength %d", minTokenLen, config.MinTokenLength)
	}
	if defaultComponentLabel != config.DefaultComponentLabel {
		t.Errorf("got defaultComponentLabel %q, want %q", defaultComponentLabel, config.DefaultComponentLabel)
	}
}

// TestAPIAccess drives every route with every kind of caller.
func TestAPIAccess(t *testing.T) {
	routes := []struct {
		method, path, body string
		write              bool
	}{
		{"GET", "/api/v1/incidents", "", false},
		{"GET", "/api/v1/incidents/acme-1", "", false},
		{"POST", "/api/v1/incidents/acme-1/acknowledge", "", true},
		{"POST", "/api/v1/incidents/acme-1/resolve", `{"body":"fixed the router"}`, true},
		{"POST", "/api/v1/incidents/acme-1/snooze", `{"for":"30m"}`, true},
		{"POST", "/api/v1/incidents/acme-1/notes", `{"body":"looking"}`, true},
		{"POST", "/api/v1/incidents/acme-1/updates", `{"status":"identified","body":"a bad deploy","components":{"api":"major_outage"}}`, true},
		{"POST", "/api/v1/incidents/acme-1/impact", `{"impact":"critical"}`, true},
	}
	callers := []struct {
		name, header string
		// status for reads, then writes
		read, write int
		lookup      bool // the token reaches the Authenticator
	}{
		{"no token", "", 401, 401, false},
		{"unknown token", "Bearer " + tokUnknown, 401, 401, true},
		{"basic auth", "Basic YWxpY2U6c2VjcmV0", 401, 401, false},
		{"short token", "Bearer abc", 401, 401, false},
		{"token with control character", "Bearer " + tokResponder[:10] + "\x01" + tokResponder[11:], 401, 401, false},
		{"oversized token", "Bearer " + strings.Repeat("a", 4096), 401, 401, false},
		{"viewer", "Bearer " + tokViewer, 200, 403, true},
		{"responder", "Bearer " + tokResponder, 200, 200, true},
		{"owner", "Bearer " + tokOwner, 200, 200, true},
		{"other organization", "Bearer " + tokGlobex, 404, 404, true},
	}
	for _, rt := range routes {
		for _, c := range callers {
			t.Run(rt.method+" "+rt.path+"/"+c.name, func(t *testing.T) {
				e := newAPIEnv(t, nil)
				r := httptest.NewRequest(rt.method, rt.path, strings.NewReader(rt.body))
				if c.header != "" {
					r.Header.Set("Authorization", c.header)
				}
				// Cross-site, as a browser app on another origin would send it:
				// bearer-token calls are not subject to cross-origin protection.
				r.Header.Set("Sec-Fetch-Site", "cross-site")
				r.Header.Set("Origin", "https://app.example.net")
				w := httptest.NewRecorder()
				e.h.ServeHTTP(w, r)

				want := c.read
				if rt.write {
					want = c.write
				}
				if rt.path == "/api/v1/incidents" && c.name == "other organization" {
					want = 200 // its own list, without acme's incidents
				}
				if w.Code != want {
					t.Fatalf("got status %d, want %d; body %s", w.Code, want, w.Body)
				}
				if got := e.auth.count() > 0; got != c.lookup {
					t.Errorf("token looked up: got %v, want %v", got, c.lookup)
				}
				if want == 401 && w.Header().Get("WWW-Authenticate") == "" {
					t.Errorf("401 without WWW-Authenticate")
				}
				if want != 200 {
					body := decode[apiErrorBody](t, w)
					if body.Error.Code == "" || body.Error.Message == "" {
						t.Errorf("error body: got %s, want a code and a message", w.Body)
					}
				}
				if want == 403 && !strings.Contains(e.logs.String(), "role too low") {
					t.Errorf("refused write not logged; logs:\n%s", e.logs)
				}
				if rt.path == "/api/v1/incidents" && c.name == "other organization" {
					if strings.Contains(w.Body.String(), "acme") {
						t.Errorf("globex's list shows acme's incidents: %s", w.Body)
					}
				}
				// Nothing but an allowed write changes acme's incident.
				if rt.write && want != 200 {
					inc := e.actions.state("acme").Incidents["acme-1"]
					if inc.Lifecycle != incidents.Triggered || len(inc.Timeline) != 1 {
						t.Errorf("acme-1 changed by a refused request: lifecycle %s, %d timeline entries", inc.Lifecycle, len(inc.Timeline))
					}
				}
				if want == 200 && rt.write {
					body := decode[actionBody](t, w)
					if body.Changed == nil || !*body.Changed {
						t.Errorf("changed: got %v, want true; body %s", body.Changed, w.Body)
					}
					if body.Incident.ID != "acme-1" {
						t.Errorf("incident: got %q, want acme-1", body.Incident.ID)
					}
				}
			})
		}
	}
}

func TestAcknowledgeTwice(t *testing.T) {
	e := newAPIEnv(t, nil)
	for i, want := range []bool{true, false} {
		w := e.do(t, "POST", "/api/v1/incidents/acme-1/acknowledge", tokResponder, "")
		if w.Code != 200 {
			t.Fatalf("ack %d: got status %d, want 200; body %s", i+1, w.Code, w.Body)
		}
		b := decode[actionBody](t, w)
		if b.Changed == nil || *b.Changed != want {
			t.Errorf("ack %d: got changed %v, want %v", i+1, b.Changed, want)
		}
		if b.Incident.Status != "acknowledged" || b.Incident.AcknowledgedBy != "alice" {
			t.Errorf("ack %d: got status %q by %q, want acknowledged by alice", i+1, b.Incident.Status, b.Incident.AcknowledgedBy)
		}
		if b.Incident.AcknowledgedAt == nil || !b.Incident.AcknowledgedAt.Equal(apiNow) {
			t.Errorf("ack %d: got acknowledged_at %v, want %v", i+1, b.Incident.AcknowledgedAt, apiNow)
		}
		acks := 0
		for _, en := range b.Incident.Timeline {
			if en.Kind == "acknowledged" {
				acks++
			}
		}
		if acks != 1 {
			t.Errorf("ack %d: got %d acknowledged entries, want 1", i+1, acks)
		}
	}
}

func TestIdempotencyKey(t *testing.T) {
	e := newAPIEnv(t, nil)
	note := func(key string) bool {
		t.Helper()
		var hdr []string
		if key != "" {
			hdr = []string{"Idempotency-Key", key}
		}
		w := e.do(t, "POST", "/api/v1/incidents/acme-1/notes", tokResponder, `{"body":"checking the load balancer"}`, hdr...)
		if w.Code != 200 {
			t.Fatalf("note: got status %d, want 200; body %s", w.Code, w.Body)
		}
		return *decode[actionBody](t, w).Changed
	}
	if got := []bool{note("k1"), note("k1"), note(""), note("")}; !slices.Equal(got, []bool{true, false, true, true}) {
		t.Errorf("changed for key k1, k1, none, none: got %v, want [true false true true]", got)
	}
	notes := 0
	for _, en := range e.actions.state("acme").Incidents["acme-1"].Timeline {
		if en.Kind == "note" {
			notes++
		}
	}
	if notes != 3 {
		t.Errorf("got %d notes, want 3", notes)
	}
	// Another user's identical key is another request.
	w := e.do(t, "POST", "/api/v1/incidents/acme-1/notes", tokOwner, `{"body":"me too"}`, "Idempotency-Key", "k1")
	if b := decode[actionBody](t, w); b.Changed == nil || !*b.Changed {
		t.Errorf("owner's note with alice's key: got changed %v, want true", b.Changed)
	}
}

func TestActionsChangeTheIncident(t *testing.T) {
	e := newAPIEnv(t, nil)
	steps := []struct {
		path, body string
		check      func(d apiIncidentDetail) string
	}{
		{"impact", `{"impact":"critical"}`, func(d apiIncidentDetail) string { return d.Impact }},
		{"snooze", `{"for":"45m"}`, func(d apiIncidentDetail) string {
			return d.Status + " until " + d.SnoozedUntil.Format(time.RFC3339)
		}},
		{"updates", `{"status":"identified","body":"A bad deploy.","components":{"api":"partial_outage"}}`,
			func(d apiIncidentDetail) string { return d.PublicStatus + " " + d.Timeline[len(d.Timeline)-1].Body }},
		{"resolve", `{"body":"Rolled back."}`, func(d apiIncidentDetail) string {
			return d.Status + " " + d.ResolvedAt.Format(time.RFC3339)
		}},
	}
	want := []string{
		"critical",
		"acknowledged until " + apiNow.Add(45*time.Minute).Format(time.RFC3339),
		"identified A bad deploy.",
		"resolved " + apiNow.Format(time.RFC3339),
	}
	for i, s := range steps {
		w := e.do(t, "POST", "/api/v1/incidents/acme-1/"+s.path, tokResponder, s.body)
		if w.Code != 200 {
			t.Fatalf("%s: got status %d, want 200; body %s", s.path, w.Code, w.Body)
		}
		b := decode[actionBody](t, w)
		if got := s.check(b.Incident); got != want[i] {
			t.Errorf("%s: got %q, want %q", s.path, got, want[i])
		}
	}
	// Resolved: the incident is gone from the open list, in the resolved one.
	for status, want := range map[string]int{"open": 0, "resolved": 1, "all": 1} {
		w := e.do(t, "GET", "/api/v1/incidents?status="+status, tokViewer, "")
		var b struct{ Incidents []apiIncident }
		if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil || len(b.Incidents) != want {
			t.Errorf("status=%s: got %d incidents (err %v), want %d; body %s", status, len(b.Incidents), err, want, w.Body)
		}
	}
	// Acting on a resolved incident records nothing, and says so: 409, so
	// nobody believes an update or note was recorded. Resolving it again
	// meets the wish (200, no change).
	for _, a := range []struct{ path, body string }{
		{"acknowledge", ""}, {"notes", `{"body":"late note"}`}, {"updates", `{"status":"identified","body":"late"}`},
	} {
		w := e.do(t, "POST", "/api/v1/incidents/acme-1/"+a.path, tokResponder, a.body)
		if b := decode[apiErrorBody](t, w); w.Code != http.StatusConflict || b.Error.Code != "resolved" {
			t.Errorf("%s after resolve: got %d %+v, want 409 resolved", a.path, w.Code, b.Error)
		}
	}
	w := e.do(t, "POST", "/api/v1/incidents/acme-1/resolve", tokResponder, "")
	if b := decode[actionBody](t, w); w.Code != 200 || *b.Changed || b.Incident.Status != "resolved" {
		t.Errorf("resolve after resolve: got %d changed %v status %q, want 200 false resolved", w.Code, *b.Changed, b.Incident.Status)
	}
}

func TestActionBadRequests(t *testing.T) {
	cases := []struct {
		name, path, body string
		hdr              []string
		status           int
		code, field      string
	}{
		{"snooze without for", "snooze", `{}`, nil, 400, "invalid_field", "for"},
		{"snooze for a word", "snooze", `{"for":"soon"}`, nil, 400, "invalid_field", "for"},
		{"snooze for a year", "snooze", `{"for":"8760h"}`, nil, 400, "invalid_field", "for"},
		{"snooze for a number", "snooze", `{"for":30}`, nil, 400, "invalid_field", "for"},
		{"update with unknown status", "updates", `{"status":"fixed","body":"x"}`, nil, 400, "invalid_field", "status"},
		{"update without body", "updates", `{"status":"identified"}`, nil, 400, "invalid_field", "body"},
		{"update with bad component status", "updates", `{"status":"identified","body":"x","components":{"storage":"broken"}}`, nil, 400, "invalid_field", "components.storage"},
		{"impact unknown", "impact", `{"impact":"huge"}`, nil, 400, "invalid_field", "impact"},
		{"impact missing", "impact", ``, nil, 400, "invalid_field", "impact"},
		{"empty note", "notes", `{"body":"   "}`, nil, 400, "invalid_field", "body"},
		{"malformed JSON", "notes", `{"body":`, nil, 400, "invalid_json", ""},
		{"not an object", "notes", `["x"]`, nil, 400, "invalid_json", ""},
		{"trailing data", "notes", `{"body":"x"} {}`, nil, 400, "invalid_json", ""},
		{"unknown field", "acknowledge", `{"force":true}`, nil, 400, "unknown_field", "force"},
		{"oversized body", "notes", `{"body":"` + strings.Repeat("a", 70<<10) + `"}`, nil, 413, "too_large", ""},
		{"bad idempotency key", "acknowledge", ``, []string{"Idempotency-Key", "a\nb"}, 400, "invalid_field", "Idempotency-Key"},
		{"unknown incident", "../acme-99/acknowledge", ``, nil, 404, "not_found", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newAPIEnv(t, nil)
			path := "/api/v1/incidents/acme-1/" + c.path
			if strings.HasPrefix(c.path, "../") {
				path = "/api/v1/incidents/" + strings.TrimPrefix(c.path, "../")
			}
			w := e.do(t, "POST", path, tokResponder, c.body, c.hdr...)
			if w.Code != c.status {
				t.Fatalf("got status %d, want %d; body %s", w.Code, c.status, w.Body)
			}
			b := decode[apiErrorBody](t, w)
			if b.Error.Code != c.code || b.Error.Field != c.field {
				t.Errorf("got code %q field %q, want %q %q; body %s", b.Error.Code, b.Error.Field, c.code, c.field, w.Body)
			}
			if n := len(e.actions.state("acme").Incidents["acme-1"].Timeline); n != 1 {
				t.Errorf("got %d timeline entries, want 1 (nothing applied)", n)
			}
		})
	}
}

func TestGetIncident(t *testing.T) {
	e := newAPIEnv(t, nil)
	w := e.do(t, "GET", "/api/v1/incidents/acme-1", tokViewer, "")
	if w.Code != 200 {
		t.Fatalf("got status %d, want 200; body %s", w.Code, w.Body)
	}
	var b struct{ Incident apiIncidentDetail }
	if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil {
		t.Fatal(err)
	}
	d := b.Incident
	if d.ID != "acme-1" || d.Number != 1 || d.Status != "triggered" || !slices.Equal(d.Components, []string{"api"}) {
		t.Errorf("got %+v, want acme-1, number 1, triggered, components [api]", d.apiIncident)
	}
	if len(d.Timeline) != 1 || d.Timeline[0].Kind != "opened" {
		t.Errorf("got timeline %+v, want one opened entry", d.Timeline)
	}
	if !strings.Contains(w.Body.String(), `"acknowledged_at":null`) || w.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("got %s (Cache-Control %q), want acknowledged_at null, no-store", w.Body, w.Header().Get("Cache-Control"))
	}
	for _, id := range []string{"acme-2", "globex-1", "acme-1%00"} {
		if w := e.do(t, "GET", "/api/v1/incidents/"+id, tokViewer, ""); w.Code != 404 {
			t.Errorf("GET %s: got status %d, want 404", id, w.Code)
		}
	}
}

func TestListIncidentsPages(t *testing.T) {
	e := newAPIEnv(t, nil)
	e.clock.Advance(time.Minute)
	e.probe(t, "acme", "storage-s3", incidents.Down)
	e.clock.Advance(time.Minute)
	e.probe(t, "acme", "web-http", incidents.Down)

	var got []string
	for _, inc := range pages[apiIncident](t, e, "/api/v1/incidents?status=open&limit=2", "before", "incidents") {
		got = append(got, inc.ID)
	}
	if want := []string{"acme-3", "acme-2", "acme-1"}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for _, q := range []string{"status=closed", "limit=0", "limit=1000", "limit=x", "before=-1", "before=x"} {
		w := e.do(t, "GET", "/api/v1/incidents?"+q, tokViewer, "")
		field, _, _ := strings.Cut(q, "=")
		if b := decode[apiErrorBody](t, w); w.Code != 400 || b.Error.Field != field {
			t.Errorf("?%s: got %d field %q, want 400 field %q", q, w.Code, b.Error.Field, field)
		}
	}
}

func TestAPIUnroutedWithoutDeps(t *testing.T) {
	e := newAPIEnv(t, func(d *Deps) { d.Auth, d.Slack, d.Ingest = nil, nil, nil })
	for _, target := range []string{"/api/v1/incidents", "/api/v1/incidents/acme-1/acknowledge", alertmanagerPath, "/integrations/slack/actions"} {
		for _, method := range []string{"GET", "POST"} {
			if w := e.do(t, method, target, tokResponder, ""); w.Code != 404 && w.Code != 405 {
				t.Errorf("%s %s: got status %d, want 404 or 405", method, target, w.Code)
			}
		}
	}
}

func TestSnoozeEnds(t *testing.T) {
	e := newAPIEnv(t, nil)
	w := e.do(t, "POST", "/api/v1/incidents/acme-1/snooze", tokResponder, `{"for":"30m"}`)
	if b := decode[actionBody](t, w); b.Incident.SnoozedUntil == nil || !b.Incident.SnoozedUntil.Equal(apiNow.Add(30*time.Minute)) {
		t.Fatalf("got snoozed_until %v, want %v", b.Incident.SnoozedUntil, apiNow.Add(30*time.Minute))
	}
	e.clock.Advance(31 * time.Minute)
	w = e.do(t, "GET", "/api/v1/incidents/acme-1", tokViewer, "")
	if !strings.Contains(w.Body.String(), `"snoozed_until":null`) {
		t.Errorf("after the snooze: got %s, want snoozed_until null", w.Body)
	}
}

// TestCrossSiteForms: exempting the token-authenticated routes from
// cross-origin protection leaves every other route protected, and a
// cross-site form cannot act on an incident (it has no token).
func TestCrossSiteForms(t *testing.T) {
	e := newAPIEnv(t, func(d *Deps) { d.Demo = &fakeDemo{}; d.Heartbeats = &fakeHeartbeats{} })
	cases := []struct {
		path   string
		status int
	}{
		{"/demo/break/api", 403},
		{"/heartbeats/tok-123_ABC", 403},
		{"/api/v1/incidents/acme-1/acknowledge/", 403}, // not an exempt pattern
		{"/api/v1/incidents/acme-1/acknowledge", 401},
		{alertmanagerPath, 401},
	}
	for _, c := range cases {
		w := e.do(t, "POST", c.path, "", "body=x", "Content-Type", "application/x-www-form-urlencoded",
			"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example")
		if w.Code != c.status {
			t.Errorf("cross-site form POST %s: got status %d, want %d", c.path, w.Code, c.status)
		}
	}
	if inc := e.actions.state("acme").Incidents["acme-1"]; inc.Lifecycle != incidents.Triggered {
		t.Errorf("acme-1: got %s, want triggered", inc.Lifecycle)
	}
}

// TestRetryAfterResolveIsNotRefused: a note the incident took, retried with
// the same Idempotency-Key after the incident resolved, answers 200 (the
// note is there); the same note under a new key answers 409.
func TestRetryAfterResolveIsNotRefused(t *testing.T) {
	e := newAPIEnv(t, nil)
	note := `{"body":"rolled back"}`
	if w := e.do(t, "POST", "/api/v1/incidents/acme-1/notes", tokResponder, note, "Idempotency-Key", "k1"); w.Code != 200 {
		t.Fatalf("note: got %d, want 200: %s", w.Code, w.Body)
	}
	if w := e.do(t, "POST", "/api/v1/incidents/acme-1/resolve", tokResponder, ""); w.Code != 200 {
		t.Fatalf("resolve: got %d, want 200: %s", w.Code, w.Body)
	}
	if w := e.do(t, "POST", "/api/v1/incidents/acme-1/notes", tokResponder, note, "Idempotency-Key", "k1"); w.Code != 200 {
		t.Errorf("retried note: got %d, want 200: %s", w.Code, w.Body)
	}
	if w := e.do(t, "POST", "/api/v1/incidents/acme-1/notes", tokResponder, note, "Idempotency-Key", "k2"); w.Code != http.StatusConflict {
		t.Errorf("new note after resolve: got %d, want 409: %s", w.Code, w.Body)
	}
}

// TestActionMeetsADueTimer: the timers due at an action's time fire before
// it. An update arriving just as its incident auto-resolves is refused
// (409, nothing recorded), not answered 200 with changed:true while the
// timeline lacks it (the kill -9 fault test caught that); and acknowledging
// an acknowledged incident is no change, even when its snooze ends in the
// same commit (a timeline entry of the timer's, not the responder's).
func TestActionMeetsADueTimer(t *testing.T) {
	e := newAPIEnv(t, nil)
	cfg := orgConfig()
	cfg.Policy.AutoResolve, cfg.Policy.QuietPeriod = true, 5*time.Minute
	if _, err := e.actions.Do(context.Background(), "acme", incidents.Configure{Config: cfg}); err != nil {
		t.Fatal(err)
	}
	// globex-1 (no auto-resolve): acknowledged and snoozed for 30 minutes.
	if w := e.do(t, "POST", "/api/v1/incidents/globex-1/snooze", tokGlobex, `{"for":"30m"}`); w.Code != 200 || !*decode[actionBody](t, w).Changed {
		t.Fatalf("snooze: got %d %s, want 200 changed", w.Code, w.Body)
	}

	// Both healthy from a minute on; nothing ticks until the next action.
	e.clock.Advance(time.Minute)
	e.probe(t, "acme", "api-http", incidents.Up)
	e.probe(t, "globex", "api-http", incidents.Up)
	e.clock.Advance(10 * time.Minute)

	w := e.do(t, "POST", "/api/v1/incidents/acme-1/updates", tokResponder, `{"status":"monitoring","body":"watching the fix"}`)
	if b := decode[apiErrorBody](t, w); w.Code != http.StatusConflict || b.Error.Code != "resolved" {
		t.Errorf("update as the incident auto-resolves: got %d %s, want 409 resolved", w.Code, w.Body)
	}
	d := decode[struct{ Incident apiIncidentDetail }](t, e.do(t, "GET", "/api/v1/incidents/acme-1", tokViewer, ""))
	if last := d.Incident.Timeline[len(d.Incident.Timeline)-1]; d.Incident.Status != "resolved" || last.Actor != "lookout" {
		t.Errorf("acme-1: got %s, last entry %+v, want resolved by lookout (the quiet period)", d.Incident.Status, last)
	}
	for _, en := range d.Incident.Timeline {
		if en.Kind == "update" {
			t.Errorf("acme-1 timeline holds the refused update: %+v", en)
		}
	}

	e.clock.Advance(20 * time.Minute)
	w = e.do(t, "POST", "/api/v1/incidents/globex-1/acknowledge", tokGlobex, "")
	b := decode[actionBody](t, w)
	if w.Code != 200 || *b.Changed {
		t.Errorf("acknowledging again as the snooze ends: got %d %s, want 200 changed:false", w.Code, w.Body)
	}
	if last := b.Incident.Timeline[len(b.Incident.Timeline)-1]; last.Kind != "snooze_ended" || b.Incident.Status != "acknowledged" {
		t.Errorf("globex-1: got %s, last entry %+v, want acknowledged, the snooze ended in the same commit", b.Incident.Status, last)
	}
}

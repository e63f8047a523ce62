package web

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lookout-status/lookout/accounts"
	"github.com/lookout-status/lookout/config"
	"github.com/lookout-status/lookout/incidents"
	"github.com/lookout-status/lookout/notify"
	"github.com/lookout-status/lookout/probes"
	"github.com/lookout-status/lookout/store"
)

// Tokens the authorization table adds to the config's.
const (
	tokAdmin       = "acme-admin-0123456789abcdefghij"
	tokGlobexOwner = "globex-owner-0123456789abcdefghij"
)

// authzServer is a server with EVERY Deps field set, so every route is
// registered; it fails when Deps gains a field nobody set here.
func authzServer(t *testing.T) (*acctEnv, []routeRule) {
	t.Helper()
	var deps Deps
	a := newAccountsEnv(t, func(d *Deps) {
		d.Gatherer = prometheus.NewRegistry()
		d.Ready = func(context.Context) error { return nil }
		d.Heartbeats = &fakeHeartbeats{tokens: map[string]bool{}}
		d.Demo = &fakeDemo{}
		d.Pages = &fakePages{data: basePage()}
		d.PageCacheControl = "no-cache"
		d.Slack = &SlackDeps{SigningSecret: slackSecret, Directory: fakeDirectory{}}
		d.OnCall = fakeOnCall{}
		db := d.IncidentStore.(*store.DB)
		cfg, err := config.Parse("authz.yaml", []byte(authzConfig), nil)
		if err != nil {
			t.Fatalf("parse config: %v", err)
		}
		if _, err := db.Apply(context.Background(), cfg); err != nil {
			t.Fatalf("apply config: %v", err)
		}
		d.Probes = testProbeReader{DB: db, cfg: cfg}
		d.Runner = authzRunner{}
		d.Config = &fakeApplier{}
		d.Scheduling = db
		d.Directory = schedDirectory{}
		d.SchedulingChanged = func(context.Context, string) error { return nil }
		d.Postmortems = db
		d.PostmortemNotices = func(string, incidents.Incident, string, time.Time) []notify.Delivery { return nil }
		d.ComponentNames = func(string) map[string]string { return nil }
		v := reflect.ValueOf(*d)
		for i := range v.NumField() {
			if v.Field(i).IsZero() {
				t.Errorf("Deps.%s is not set: set it in authzServer so its routes are checked", v.Type().Field(i).Name)
			}
		}
		deps = *d
	})
	a.auth.mu.Lock()
	a.auth.tokens[tokAdmin] = Principal{Org: "acme", User: "adam", Role: "admin"}
	a.auth.tokens[tokGlobexOwner] = Principal{Org: "globex", User: "gina", Role: "owner"}
	a.auth.mu.Unlock()
	// The same deps again, for the rules the server registers.
	s, _ := newServer(deps)
	return a, s.rules
}

// authzObjects are real objects of acme, by the path segment before {id}:
// the table fills path parameters with them. Add yours when a route acts
// on a new kind of object.
func (a *acctEnv) authzObjects(t *testing.T) map[string]string {
	t.Helper()
	ctx := context.Background()
	_, tok, err := a.svc.CreateToken(ctx, accounts.TokenRequest{Org: "acme", Name: "alice's", Role: "responder", CreatedBy: "alice", CreatorRole: "responder"})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := a.subs.Subscribe(ctx, SubscribeRequest{Org: "acme", Type: "webhook", URL: "https://hooks.example.net/lookout"})
	if err != nil {
		t.Fatal(err)
	}
	db := a.db
	mw, err := db.CreateMaintenanceWindow(ctx, store.MaintenanceWindow{Org: "acme", Title: "upgrade", Components: []string{"storage"},
		Start: apiNow.Add(time.Hour), End: apiNow.Add(2 * time.Hour), CreatedBy: "ana"}, "soon")
	if err != nil {
		t.Fatal(err)
	}
	ov, err := db.CreateOnCallOverride(ctx, store.OnCallOverride{Org: "acme", Schedule: "ops-primary", User: "vic",
		Start: apiNow.Add(time.Hour), End: apiNow.Add(2 * time.Hour), CreatedBy: "ana"})
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"incidents":    "acme-1",
		"probes":       "api-http",
		"components":   "api",
		"maintenance":  mw.ID,
		"maintenances": mw.ID,
		"overrides":    ov.ID,
		"users":        "zed",
		"tokens":       tok.ID,
		"subscribers":  sub.ID,
	}
}

// authzConfig gives acme components and probes; globex has others, so a
// request of globex's names an object only acme has (ids are scoped by
// organization: globex's own "api" would rightly answer 200).
const authzConfig = `organizations:
  - id: acme
    components: [{id: api}, {id: storage}]
    probes:
      - {id: api-http, component: api, interval: 1h, tcp: {address: "status.example.net:443"}}
  - id: globex
    components: [{id: db}]
    probes:
      - {id: db-tcp, component: db, interval: 1h, tcp: {address: "status.example.net:443"}}
`

// authzRunner runs acme's one probe; anything else is unknown, as the
// scheduler says.
type authzRunner struct{}

func (authzRunner) RunNow(_ context.Context, org, id string) (probes.Result, error) {
	if org != "acme" || id != "api-http" {
		return probes.Result{}, fmt.Errorf("run %s/%s: %w", org, id, probes.ErrUnknownProbe)
	}
	return probes.Result{Outcome: probes.Up, Started: apiNow}, nil
}

// authzBodies are valid request bodies of write routes, so a route's
// answer reflects the object and the caller, not a refused body. Add yours
// (JSON for /api/, form encoding for the console); the default is empty.
var authzBodies = map[string]string{
	"POST /api/v1/incidents/{id}/snooze":     `{"for":"30m"}`,
	"POST /api/v1/incidents/{id}/notes":      `{"body":"looking"}`,
	"POST /api/v1/incidents/{id}/updates":    `{"status":"identified","body":"found it"}`,
	"POST /api/v1/incidents/{id}/impact":     `{"impact":"major"}`,
	"PATCH /api/v1/users/{id}":               `{"role":"responder"}`,
	"POST /api/v1/users":                     `{"username":"newbie","role":"viewer"}`,
	"POST /api/v1/tokens":                    `{"name":"ci","role":"viewer"}`,
	"POST /console/users/{id}/role":          "role=responder",
	"POST /console/users":                    "username=newbie2&role=viewer",
	"POST /console/tokens":                   "name=ci&role=viewer",
	"POST /api/v1/maintenances":              `{"title":"t","components":["api"],"starts_at":"2026-03-10T06:00:00Z","ends_at":"2026-03-10T07:00:00Z"}`,
	"PATCH /api/v1/maintenances/{id}":        `{"title":"renamed"}`,
	"POST /api/v1/maintenances/{id}/updates": `{"body":"on track"}`,
	"POST /api/v1/oncall/overrides":          `{"schedule":"ops-primary","user":"vic","starts_at":"2026-03-11T00:00:00Z","ends_at":"2026-03-11T06:00:00Z"}`,
	"PUT /api/v1/incidents/{id}/postmortem":  "# What happened",
}

// fill replaces the path parameters of a rule's path with objects.
func fill(path string, objects map[string]string) string {
	path = strings.ReplaceAll(path, "{$}", "")
	segs := strings.Split(path, "/")
	for i, s := range segs {
		if strings.HasPrefix(s, "{") {
			v := "x"
			if i > 0 && objects[segs[i-1]] != "" {
				v = objects[segs[i-1]]
			}
			segs[i] = v
		}
	}
	return strings.Join(segs, "/")
}

// TestAuthorizationTable walks every rule the server registers: without
// credentials (401, or 303 to /login for a console page's GET), with each
// role (403 below the rule's, neither 401 nor 403 at or above), and with an
// owner token of another organization on routes naming an object (404,
// never 200). The expectations come from the rules, so routes added later
// are covered.
func TestAuthorizationTable(t *testing.T) {
	a, rules := authzServer(t)
	objects := a.authzObjects(t)
	roles := []struct{ role, token string }{
		{roleViewer, tokViewer}, {roleResponder, tokResponder}, {roleAdmin, tokAdmin}, {roleOwner, tokOwner},
	}
	checked := 0
	send := func(pattern, path, token string) *http.Response {
		method, _, _ := strings.Cut(pattern, " ")
		body, hdr := authzBodies[pattern], []string{}
		if !safeMethod(method) {
			if strings.HasPrefix(path, "/api/") {
				if body == "" {
					body = "{}"
				}
				hdr = []string{"Content-Type", "application/json"}
				if strings.HasSuffix(path, "/postmortem") {
					hdr = []string{"Content-Type", "text/markdown"}
				}
			} else {
				hdr = []string{"Content-Type", "application/x-www-form-urlencoded"}
			}
		}
		return a.do(t, method, path, token, body, hdr...).Result()
	}

	// Another organization's owner on object routes first, while every
	// object still exists.
	for _, r := range rules {
		if r.Role == "" || !strings.Contains(r.Pattern, "{") {
			continue
		}
		_, path, _ := strings.Cut(r.Pattern, " ")
		target := fill(path, objects)
		resp := send(r.Pattern, target, tokGlobexOwner)
		if resp.StatusCode == http.StatusBadRequest {
			// A body refused before any lookup says nothing about the
			// object: acme's own owner gets the same answer.
			if own := send(r.Pattern, target, tokOwner); own.StatusCode == http.StatusBadRequest {
				continue
			}
		}
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s as globex's owner on %s: got %d, want 404", r.Pattern, target, resp.StatusCode)
		}
	}
	// …and none of acme's objects changed.
	if m, err := a.svc.Member(context.Background(), "acme", "zed"); err != nil || m.Role != roleViewer {
		t.Errorf("after globex's requests, zed in acme: got %+v, %v; want an unchanged viewer", m, err)
	}
	if tk, err := a.svc.TokenByID(context.Background(), "acme", objects["tokens"]); err != nil || !tk.RevokedAt.IsZero() {
		t.Errorf("after globex's requests, acme's token: got %+v, %v; want it live", tk, err)
	}
	for _, r := range rules {
		if r.Role == "" {
			continue
		}
		checked++
		method, path, _ := strings.Cut(r.Pattern, " ")
		target := fill(path, objects)
		resp := send(r.Pattern, target, "")
		switch {
		case r.HTML && safeMethod(method):
			if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login?next=") {
				t.Errorf("%s without credentials: got %d to %q, want 303 to /login", r.Pattern, resp.StatusCode, resp.Header.Get("Location"))
			}
		case resp.StatusCode != http.StatusUnauthorized:
			t.Errorf("%s without credentials: got %d, want 401", r.Pattern, resp.StatusCode)
		}
		for _, ro := range roles {
			resp := send(r.Pattern, target, ro.token)
			below := roleRank(ro.role) < roleRank(r.Role)
			switch {
			case below && resp.StatusCode != http.StatusForbidden:
				t.Errorf("%s as %s (below %s): got %d, want 403", r.Pattern, ro.role, r.Role, resp.StatusCode)
			case !below && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden || resp.StatusCode >= 500):
				t.Errorf("%s as %s (at or above %s): got %d", r.Pattern, ro.role, r.Role, resp.StatusCode)
			}
		}
	}
	if checked < 20 {
		t.Errorf("checked %d member and console rules; want every one (is every Deps field set?)", checked)
	}
}

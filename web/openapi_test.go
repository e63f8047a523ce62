package web

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/lookout-status/lookout/probes"
	"github.com/lookout-status/lookout/store"
)

// allRoutesServer is a server with every optional dependency set, so
// routes() registers every route there is.
func allRoutesServer() *server {
	s := &server{csrf: http.NewCrossOriginProtection(), csrfStrict: http.NewCrossOriginProtection()}
	s.auth = &fakeAuth{}
	s.incidentStore = (*store.DB)(nil)
	s.actions = &stateActions{}
	s.subscribers = &fakeSubs{}
	s.ingest = &fakeIngest{}
	s.probes = testProbeReader{}
	s.runner = (*probes.Scheduler)(nil)
	s.config = &fakeApplier{}
	s.runLimit = newRateLimiter(1, runEvery)
	s.scheduling = (*store.DB)(nil)
	s.directory = schedDirectory{}
	s.postmortems = (*store.DB)(nil)
	return s
}

// TestOpenAPICoversRoutes: every /api/v1 route has an operation in the
// document, with the route's role, and every operation a route.
func TestOpenAPICoversRoutes(t *testing.T) {
	s := allRoutesServer()
	s.routes()
	routes := map[string]string{} // "METHOD path" -> role
	for _, r := range s.rules {
		method, path, _ := strings.Cut(r.Pattern, " ")
		if !strings.HasPrefix(path, "/api/v1/") || path == openAPIPath {
			continue
		}
		role := r.Role
		if path == alertmanagerPath {
			role = "ingest"
		}
		routes[method+" "+path] = role
	}
	ops := map[string]string{}
	for _, op := range apiOperations {
		k := op.Method + " " + op.Path
		if _, dup := ops[k]; dup {
			t.Errorf("operation %s described twice", k)
		}
		ops[k] = op.Role
	}
	for k, role := range routes {
		opRole, ok := ops[k]
		switch {
		case !ok:
			t.Errorf("route %s has no operation in the OpenAPI document (add it to apiOperations in openapi.go)", k)
		case opRole != role:
			t.Errorf("route %s: the document says role %q, the route admits %q", k, opRole, role)
		}
	}
	for k := range ops {
		if _, ok := routes[k]; !ok {
			t.Errorf("the OpenAPI document lists %s, which no route serves", k)
		}
	}
	if len(routes) < 18 {
		t.Errorf("got %d /api/v1 routes, want every one (18 or more)", len(routes))
	}
}

// TestOpenAPIDocumentValid loads the served document with kin-openapi and
// validates it.
func TestOpenAPIDocumentValid(t *testing.T) {
	e := newAPIEnv(t, nil)
	w := e.do(t, "GET", openAPIPath, "", "")
	if w.Code != 200 || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("got %d %q, want 200 application/json", w.Code, w.Header().Get("Content-Type"))
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(w.Body.Bytes())
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("validate: %v", err)
	}
	for _, name := range []string{"bearer", "session"} {
		if doc.Components.SecuritySchemes[name] == nil {
			t.Errorf("security scheme %q missing", name)
		}
	}
	run := doc.Paths.Find("/api/v1/probes/{id}/run")
	if run == nil || run.Post == nil || run.Post.Responses.Status(429) == nil || run.Post.Responses.Status(403) == nil {
		t.Fatalf("POST /api/v1/probes/{id}/run: want 403 and 429 responses documented")
	}
	results := doc.Paths.Find("/api/v1/probes/{id}/results").Get
	var params []string
	for _, p := range results.Parameters {
		params = append(params, p.Value.In+":"+p.Value.Name)
	}
	if want := []string{"path:id", "query:cursor", "query:limit"}; !slices.Equal(params, want) {
		t.Errorf("results parameters: got %v, want %v", params, want)
	}
	// Every operation's success body validates a real answer: spot-check
	// the error schema against a real 404.
	nf := e.do(t, "GET", "/api/v1/incidents/acme-99", tokViewer, "")
	var body any
	if err := json.Unmarshal(nf.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if err := doc.Components.Schemas["Error"].Value.VisitJSON(body); err != nil {
		t.Errorf("a real 404 does not match the Error schema: %v", err)
	}
}

package web

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// fakeApplier stands in for cmd/lookout's applier (tested there through
// the real binary): it refuses files holding "broken" or "globex" the way
// the real one does, and records what it was asked.
type fakeApplier struct {
	mu    sync.Mutex
	calls []string
}

func (f *fakeApplier) ApplyConfig(_ context.Context, org string, body []byte, dryRun bool) (ConfigPlan, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, org)
	switch {
	case strings.Contains(string(body), "globex"):
		return ConfigPlan{}, &ConfigError{Forbidden: true, Problems: []ConfigProblem{{Line: 2, Path: "organizations[0].id", Message: `this token acts for organization "acme"`}}}
	case strings.Contains(string(body), "broken"):
		return ConfigPlan{}, &ConfigError{Problems: []ConfigProblem{
			{Line: 7, Path: "organizations[0].probes[0].interval", Message: `invalid duration "soon"`},
			{Line: 9, Path: "organizations[0].probes[0].http.url", Message: "unsupported scheme"},
		}}
	}
	return ConfigPlan{Applied: !dryRun, Changes: []ConfigChange{{Op: "create", Kind: "component", ID: org + "/db"}}}, nil
}

func TestApplyConfigEndpoint(t *testing.T) {
	fa := &fakeApplier{}
	audit := &memAudit{}
	e := newAPIEnv(t, func(d *Deps) { d.Config = fa; d.Audit = audit })
	yaml := []string{"Content-Type", "application/yaml"}
	cases := []struct {
		name, token, query, body string
		hdr                      []string
		status                   int
		want                     string
	}{
		{"dry run", tokOwner, "?dry_run=true", "organizations: []", yaml, 200, `"dry_run":true,"changes":[{"op":"create","kind":"component","id":"acme/db"}],"applied":false`},
		{"apply", tokOwner, "?dry_run=false", "organizations: []", yaml, 200, `"applied":true`},
		{"invalid", tokOwner, "", "broken", yaml, 400, `"error":{"code":"invalid_config","message":"invalid duration \"soon\" (and 1 more problems)","field":"line 7: organizations[0].probes[0].interval"}`},
		{"every problem listed", tokOwner, "", "broken", yaml, 400, `{"line":9,"path":"organizations[0].probes[0].http.url","message":"unsupported scheme","field":"line 9: organizations[0].probes[0].http.url"}`},
		{"another organization", tokOwner, "", "globex", yaml, 403, `"field":"line 2: organizations[0].id"`},
		{"responder", tokResponder, "", "x", yaml, 403, `"code":"forbidden"`},
		{"viewer", tokViewer, "", "x", yaml, 403, `"code":"forbidden"`},
		{"no token", "", "", "x", yaml, 401, `"code":"unauthorized"`},
		{"a form", tokOwner, "", "a=b", []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, `"code":"unsupported_media_type"`},
		{"bad dry_run", tokOwner, "?dry_run=yes", "x", yaml, 400, `"field":"dry_run"`},
		{"too large", tokOwner, "", strings.Repeat("#", maxConfigBody+1), yaml, 413, `"code":"too_large"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := e.do(t, "POST", configPath+c.query, c.token, c.body, c.hdr...)
			if w.Code != c.status || !strings.Contains(w.Body.String(), c.want) {
				t.Errorf("got %d %s\nwant %d containing %s", w.Code, w.Body, c.status, c.want)
			}
		})
	}
	if n := len(fa.calls); n != 5 {
		t.Errorf("the applier was asked %d times, want 5 (only admins' well-formed requests)", n)
	}
	var got []string
	for _, a := range audit.all() {
		got = append(got, a.Summary)
	}
	if len(got) < 2 || got[0] != "configuration planned: 1 to create, 0 to update, 0 to delete" || got[1] != "configuration applied: 1 to create, 0 to update, 0 to delete" {
		t.Errorf("audit summaries: got %q", got)
	}
	// A body within the cap but over the general 64 KiB one reaches the applier.
	if w := e.do(t, "POST", configPath+"?dry_run=true", tokOwner, "# "+strings.Repeat("x", 200<<10)+"\norganizations: []", yaml...); w.Code != http.StatusOK {
		t.Errorf("a 200 KiB file: got %d, want 200", w.Code)
	}
}

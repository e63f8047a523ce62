package web

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
)

type memAudit struct {
	mu      sync.Mutex
	entries []AuditEntry
}

func (m *memAudit) Record(_ context.Context, e AuditEntry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.entries = append(m.entries, e)
	return nil
}

func (m *memAudit) all() []AuditEntry {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]AuditEntry(nil), m.entries...)
}

const sessResponder = "sessionresponderAAAAAAAAAAAAAAAAAAAAAAAAAAA"

// TestSessionWrites drives the session cookie through the real handler:
// a same-origin write is admitted and audited with Via "session"; the
// same write from another site is refused although the API route bypasses
// the general cross-origin check for tokens.
func TestSessionWrites(t *testing.T) {
	audit := &memAudit{}
	e := newAPIEnv(t, func(d *Deps) { d.Audit = audit })
	e.auth.sessions = map[string]Principal{sessResponder: {Org: "acme", User: "alice", Role: "responder"}}
	cookie := SessionCookie + "=" + sessResponder

	cases := []struct {
		name       string
		site       string
		cookie     string
		wantStatus int
	}{
		{"same origin", "same-origin", cookie, http.StatusOK},
		{"cross site", "cross-site", cookie, http.StatusForbidden},
		{"unknown session", "same-origin", SessionCookie + "=" + strings.Repeat("x", 43), http.StatusUnauthorized},
		{"malformed session", "same-origin", SessionCookie + "=<script>", http.StatusUnauthorized},
		{"no credentials", "same-origin", "", http.StatusUnauthorized},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hdr := []string{"Sec-Fetch-Site", c.site}
			if c.cookie != "" {
				hdr = append(hdr, "Cookie", c.cookie)
			}
			w := e.do(t, "POST", "/api/v1/incidents/acme-1/notes", "", `{"body":"looking"}`, hdr...)
			if w.Code != c.wantStatus {
				t.Fatalf("got %d, want %d: %s", w.Code, c.wantStatus, w.Body)
			}
		})
	}
	got := audit.all()
	if len(got) != 1 {
		t.Fatalf("got %d audit entries, want 1 (the admitted write): %+v", len(got), got)
	}
	a := got[0]
	if a.Actor != "alice" || a.Via != "session" || a.Org != "acme" || a.Target != "acme-1" ||
		a.Action != "POST /api/v1/incidents/{id}/notes" || a.Status != http.StatusOK {
		t.Errorf("got audit entry %+v", a)
	}
}

// TestRefusedWriteAudited: a viewer's write is 403 and audited (HOSTILE 22).
func TestRefusedWriteAudited(t *testing.T) {
	audit := &memAudit{}
	e := newAPIEnv(t, func(d *Deps) { d.Audit = audit })
	w := e.do(t, "POST", "/api/v1/incidents/acme-1/acknowledge", tokViewer, `{}`)
	if w.Code != http.StatusForbidden {
		t.Fatalf("got %d, want 403", w.Code)
	}
	got := audit.all()
	if len(got) != 1 || got[0].Status != http.StatusForbidden || got[0].Actor != "victor" || got[0].Via != "token" {
		t.Fatalf("got audit entries %+v, want one 403 by victor via token", got)
	}
}

// TestEveryRouteHasARule: the registry sees every route the mux serves.
func TestEveryRouteHasARule(t *testing.T) {
	s := &server{csrf: http.NewCrossOriginProtection(), csrfStrict: http.NewCrossOriginProtection()}
	s.auth = &fakeAuth{}
	mux := s.routes()
	seen := map[string]bool{}
	for _, r := range s.rules {
		if seen[r.Pattern] {
			t.Errorf("route %q registered twice", r.Pattern)
		}
		seen[r.Pattern] = true
		method, path, _ := strings.Cut(r.Pattern, " ")
		req, _ := http.NewRequest(method, strings.ReplaceAll(strings.ReplaceAll(path, "{$}", ""), "{", "x"), nil)
		if _, pat := mux.Handler(req); pat == "" {
			t.Errorf("rule %q has no route", r.Pattern)
		}
	}
	if len(s.rules) < 5 {
		t.Fatalf("got %d rules, want every route", len(s.rules))
	}
}

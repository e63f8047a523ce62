package web

import (
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/lookout-status/lookout/accounts"
)

// countingAuth counts the lookups that reach the accounts store.
type countingAuth struct {
	Authenticator
	sessions, tokens atomic.Int64
}

func (c *countingAuth) Session(ctx context.Context, id, org string) (Principal, bool) {
	c.sessions.Add(1)
	return c.Authenticator.Session(ctx, id, org)
}

func (c *countingAuth) Token(ctx context.Context, token string) (Principal, bool) {
	c.tokens.Add(1)
	return c.Authenticator.Token(ctx, token)
}

func (c *countingAuth) lookups() int64 { return c.sessions.Load() + c.tokens.Load() }

// privateEnv is acme's page (a private component "Secret DB" in a major
// outage, a critical incident acme-0 and a maintenance m-3 of it alone)
// served with real sessions over the real store.
type privateEnv struct {
	*acctEnv
	src  *fakePages
	auth *countingAuth
}

func newPrivateEnv(t testing.TB, d PageData) *privateEnv {
	t.Helper()
	e := &privateEnv{src: &fakePages{data: d}}
	e.acctEnv = newAccountsEnv(t, func(deps *Deps) {
		deps.Pages = e.src
		e.auth = &countingAuth{Authenticator: deps.Auth}
		deps.Auth = e.auth
	})
	return e
}

func acmePage() PageData {
	d := pageStates()["maintenance"]
	d.Org = "acme"
	return d
}

// privateLeaks are what only a member of acme may read.
var privateLeaks = []string{"secret-db", "Secret DB", "acme-0", "m-3", "critical", "Major Service Outage"}

// pageRoute is a public page route and what a member reads there that
// nobody else may.
type pageRoute struct {
	target string
	member string // in the member's body
	// onlyPrivate: the route shows a private object, 404 to anyone else.
	onlyPrivate bool
}

var privateRoutes = []pageRoute{
	{target: "/", member: "Secret DB"},
	{target: "/incidents/acme-0", member: "Secret DB down", onlyPrivate: true},
	{target: "/history", member: "Secret DB down"},
	{target: "/components/secret-db", member: "Secret DB", onlyPrivate: true},
	{target: "/api/v2/summary.json", member: `"id": "secret-db"`},
	{target: "/api/v2/status.json", member: `"indicator": "critical"`},
	{target: "/api/v2/components.json", member: `"name": "Secret DB"`},
	{target: "/api/v2/incidents.json", member: `"id": "acme-0"`},
	{target: "/api/v2/incidents/unresolved.json", member: `"id": "acme-0"`},
	{target: "/api/v2/scheduled-maintenances.json", member: `"id": "m-3"`},
	{target: "/badge/secret-db.svg", member: "Secret DB: major outage", onlyPrivate: true},
	{target: "/badge/secret-db/uptime.svg?days=7", member: "Secret DB uptime 7d", onlyPrivate: true},
	{target: "/history.atom", member: "acme-0"},
	{target: "/history.rss", member: "m-3"},
	{target: "/components/secret-db/history.atom", member: "Secret DB", onlyPrivate: true},
}

// TestPrivateComponentsPerViewer walks every public page route as each
// kind of caller: only members of acme, signed in or with a token, read
// the private component; everyone else gets the anonymous view, publicly
// cacheable, or 404 where the route is about the private component alone.
func TestPrivateComponentsPerViewer(t *testing.T) {
	e := newPrivateEnv(t, acmePage())
	victor := e.session(t, "victor") // an acme viewer: the least role
	gina := e.session(t, "gina")     // globex's owner
	cookie := func(v string) []string { return []string{"Cookie", SessionCookie + "=" + v} }
	viewers := []struct {
		name   string
		token  string
		hdr    []string
		member bool
	}{
		{name: "anonymous"},
		{name: "acme member, session", hdr: cookie(victor), member: true},
		{name: "acme member, token", token: tokViewer, member: true},
		{name: "acme member, session among other cookies", hdr: []string{"Cookie", "theme=dark; " + SessionCookie + "=" + victor + "; x=1"}, member: true},
		{name: "globex member, session", hdr: cookie(gina)},
		{name: "globex member, token", token: tokGlobex},
		{name: "forged session", hdr: cookie(strings.Repeat("A", 43))},
		{name: "malformed session", hdr: cookie(`"><script>`)},
		{name: "unknown token", token: "lko_" + strings.Repeat("x", 40)},
		{name: "basic credentials of a proxy", hdr: []string{"Authorization", "Basic dXNlcjpwYXNz"}},
	}
	for _, rt := range privateRoutes {
		for _, v := range viewers {
			t.Run(rt.target+"/"+v.name, func(t *testing.T) {
				w := e.do(t, "GET", rt.target, v.token, "", v.hdr...)
				body, h := w.Body.String(), w.Header()
				if v.member {
					if w.Code != http.StatusOK {
						t.Fatalf("got %d, want 200: %s", w.Code, body)
					}
					if !strings.Contains(body, rt.member) {
						t.Errorf("got a body without %q, want the member's view", rt.member)
					}
					if got := h.Get("Cache-Control"); got != memberCacheControl {
						t.Errorf("Cache-Control: got %q, want %q", got, memberCacheControl)
					}
					if got := h.Get("Vary"); !strings.Contains(got, "Cookie") || !strings.Contains(got, "Authorization") {
						t.Errorf("Vary: got %q, want Cookie and Authorization in it", got)
					}
					if got := h.Get("Access-Control-Allow-Origin"); got != "" {
						t.Errorf("Access-Control-Allow-Origin: got %q, want none on a member's view", got)
					}
					return
				}
				for _, bad := range privateLeaks {
					if strings.Contains(body, bad) {
						t.Errorf("got %q in the body of a non-member", bad)
					}
				}
				if rt.onlyPrivate {
					if w.Code != http.StatusNotFound {
						t.Fatalf("got %d, want 404", w.Code)
					}
					if got := h.Get("Cache-Control"); got != "no-store" {
						t.Errorf("Cache-Control of the 404: got %q, want no-store", got)
					}
					return
				}
				if w.Code != http.StatusOK {
					t.Fatalf("got %d, want 200 (the anonymous view, never an error): %s", w.Code, body)
				}
				if got := h.Get("Cache-Control"); got != defaultPageCacheControl {
					t.Errorf("Cache-Control: got %q, want %q", got, defaultPageCacheControl)
				}
				if got := h.Get("Vary"); got != "Accept-Encoding" {
					t.Errorf("Vary: got %q, want Accept-Encoding", got)
				}
			})
		}
	}
}

// TestPrivateIndicatorAndHeader: the banner counts the private component
// and its incident for a member only; the header offers sign-in to
// visitors and the console to members; the two views' ETags differ.
func TestPrivateIndicatorAndHeader(t *testing.T) {
	e := newPrivateEnv(t, acmePage())
	victor := e.session(t, "victor")
	anon := e.do(t, "GET", "/", "", "")
	member := e.do(t, "GET", "/", "", "", "Cookie", SessionCookie+"="+victor)
	for _, tc := range []struct {
		name      string
		w         *httptest.ResponseRecorder
		want, not []string
		cacheCtl  string
	}{
		{"anonymous", anon,
			[]string{`class="banner ind-maintenance"`, "Service Under Maintenance", `<a href="/login?next=%2F">Sign in</a>`},
			[]string{"Console", "/console/"}, defaultPageCacheControl},
		{"member", member,
			[]string{`class="banner ind-critical"`, "Major Service Outage", `<a href="/console/incidents?org=acme">Console</a>`},
			[]string{"Sign in", "/login"}, memberCacheControl},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, s := range tc.want {
				if !strings.Contains(tc.w.Body.String(), s) {
					t.Errorf("got a page without %s", s)
				}
			}
			for _, s := range tc.not {
				if strings.Contains(tc.w.Body.String(), s) {
					t.Errorf("got %s in the page", s)
				}
			}
			if got := tc.w.Header().Get("Cache-Control"); got != tc.cacheCtl {
				t.Errorf("Cache-Control: got %q, want %q", got, tc.cacheCtl)
			}
		})
	}
	for _, target := range []string{"/", "/api/v2/status.json", "/history.atom"} {
		for _, enc := range []string{"", "gzip", "br"} {
			a := e.do(t, "GET", target, "", "", "Accept-Encoding", enc).Header().Get("ETag")
			m := e.do(t, "GET", target, "", "", "Accept-Encoding", enc, "Cookie", SessionCookie+"="+victor).Header().Get("ETag")
			if a == "" || m == "" || a == m {
				t.Errorf("GET %s (%q): got ETags %q (anonymous) and %q (member), want two different ones", target, enc, a, m)
			}
			// The anonymous ETag never validates the member's view.
			if w := e.do(t, "GET", target, "", "", "Accept-Encoding", enc, "Cookie", SessionCookie+"="+victor, "If-None-Match", a); w.Code != http.StatusOK {
				t.Errorf("GET %s with the anonymous ETag as a member: got %d, want 200", target, w.Code)
			}
		}
	}
	// Even where both views are the same bytes (no private component),
	// the ETags differ.
	d := acmePage()
	d.Components = d.Components[:2]
	d.Incidents, d.Maintenances = nil, nil
	d.Version = "2"
	e.src.set(d)
	a := e.do(t, "GET", "/api/v2/components.json", "", "")
	m := e.do(t, "GET", "/api/v2/components.json", tokViewer, "")
	if a.Body.String() != m.Body.String() || a.Header().Get("ETag") == m.Header().Get("ETag") {
		t.Errorf("same document: got ETags %q and %q, want them apart", a.Header().Get("ETag"), m.Header().Get("ETag"))
	}
}

// TestPrivateAnonymousNeverLooksUp: a visitor without credentials costs no
// lookup, whatever the route; nor does a cookie that cannot be a session.
func TestPrivateAnonymousNeverLooksUp(t *testing.T) {
	e := newPrivateEnv(t, acmePage())
	for _, hdr := range [][]string{
		nil,
		{"Cookie", "theme=dark; _ga=GA1.2.3"},
		{"Cookie", SessionCookie + "=short"},
		{"Authorization", "Bearer short"},
	} {
		for _, rt := range privateRoutes {
			e.do(t, "GET", rt.target, "", "", hdr...)
			e.do(t, "HEAD", rt.target, "", "", hdr...)
		}
		if got := e.auth.lookups(); got != 0 {
			t.Fatalf("headers %q: got %d lookups, want 0", hdr, got)
		}
	}
	victor := e.session(t, "victor")
	e.do(t, "GET", "/", "", "", "Cookie", SessionCookie+"="+victor)
	if got := e.auth.sessions.Load(); got != 1 {
		t.Errorf("one member's request: got %d session lookups, want 1", got)
	}
}

// TestPrivateSessionEnds: an expired session, or a signed-out one, sees the
// anonymous view, not an error page.
func TestPrivateSessionEnds(t *testing.T) {
	e := newPrivateEnv(t, acmePage())
	victor := e.session(t, "victor")
	alice := e.session(t, "alice")
	if w := e.do(t, "GET", "/components/secret-db", "", "", "Cookie", SessionCookie+"="+victor); w.Code != http.StatusOK {
		t.Fatalf("live session: got %d, want 200", w.Code)
	}
	if w := e.withSession(t, "POST", "/logout", alice, ""); w.Code != http.StatusSeeOther {
		t.Fatalf("logout: got %d", w.Code)
	}
	e.clock.Advance(accounts.IdleTimeout)
	for name, sess := range map[string]string{"expired": victor, "signed out": alice} {
		t.Run(name, func(t *testing.T) {
			w := e.do(t, "GET", "/", "", "", "Cookie", SessionCookie+"="+sess)
			if w.Code != http.StatusOK || strings.Contains(w.Body.String(), "Secret DB") ||
				!strings.Contains(w.Body.String(), "Sign in") {
				t.Errorf("got %d, private %v, want 200 and the anonymous view", w.Code, strings.Contains(w.Body.String(), "Secret DB"))
			}
			if w := e.do(t, "GET", "/components/secret-db", "", "", "Cookie", SessionCookie+"="+sess); w.Code != http.StatusNotFound {
				t.Errorf("private component: got %d, want 404", w.Code)
			}
		})
	}
}

// TestPrivatePage: a private page is 404 to anyone but its members, the
// very bytes a host without a page answers; its members see all of it.
func TestPrivatePage(t *testing.T) {
	d := acmePage()
	d.Private = true
	e := newPrivateEnv(t, d)
	victor := e.session(t, "victor")
	gina := e.session(t, "gina")
	targets := []string{"/", "/history", "/incidents/acme-1", "/components/api", "/api/v2/summary.json",
		"/api/v2/status.json", "/badge/api.svg", "/badge/api/uptime.svg", "/history.atom", "/components/api/history.rss"}
	for _, target := range targets {
		t.Run(target, func(t *testing.T) {
			nowhere := e.do(t, "GET", "http://unknown.example"+target, "", "")
			if nowhere.Code != http.StatusNotFound {
				t.Fatalf("host without a page: got %d, want 404", nowhere.Code)
			}
			for name, hdr := range map[string][]string{
				"anonymous":      nil,
				"globex member":  {"Cookie", SessionCookie + "=" + gina},
				"globex token":   {"Authorization", "Bearer " + tokGlobex},
				"forged session": {"Cookie", SessionCookie + "=" + strings.Repeat("B", 43)},
			} {
				w := e.do(t, "GET", target, "", "", hdr...)
				if w.Code != http.StatusNotFound {
					t.Errorf("%s: got %d, want 404 (never 401 nor 403)", name, w.Code)
				}
				if w.Body.String() != nowhere.Body.String() {
					t.Errorf("%s: got 404 body %q, want the same as a host without a page: %q", name, w.Body, nowhere.Body)
				}
				for _, k := range []string{"Content-Type", "Cache-Control", "Vary"} {
					if got, want := w.Header().Get(k), nowhere.Header().Get(k); got != want {
						t.Errorf("%s: %s: got %q, want %q as for a host without a page", name, k, got, want)
					}
				}
				if strings.Contains(w.Body.String(), "Acme") {
					t.Errorf("%s: got the page's name in the 404", name)
				}
			}
			w := e.do(t, "GET", target, "", "", "Cookie", SessionCookie+"="+victor)
			if w.Code != http.StatusOK || w.Header().Get("Cache-Control") != memberCacheControl {
				t.Errorf("member: got %d with Cache-Control %q, want 200 and %q", w.Code, w.Header().Get("Cache-Control"), memberCacheControl)
			}
			if w := e.do(t, "GET", target, tokViewer, ""); w.Code != http.StatusOK {
				t.Errorf("member's token: got %d, want 200", w.Code)
			}
		})
	}
	// The HTML 404 offers a sign-in that names nothing.
	w := e.do(t, "GET", "/", "", "")
	if !strings.Contains(w.Body.String(), `<a href="/login?next=%2F">Sign in</a>`) || w.Header().Get("Content-Type") != htmlType {
		t.Errorf("got the 404 %q (%s), want an HTML page with a sign-in link", w.Body, w.Header().Get("Content-Type"))
	}
	// Every component of a private page is the members', whatever the
	// source marked, and nobody subscribes to it.
	w = e.do(t, "GET", "/", "", "", "Cookie", SessionCookie+"="+victor)
	for _, s := range []string{"API", "Secret DB", "Storage"} {
		if !strings.Contains(w.Body.String(), s) {
			t.Errorf("member: got a page without %s", s)
		}
	}
	if w := e.do(t, "POST", "/subscribe", "", `{"type":"webhook","url":"https://hooks.example.net/x"}`,
		"Content-Type", "application/json", "Cookie", SessionCookie+"="+victor); w.Code != http.StatusNotFound {
		t.Errorf("subscribe to a private page: got %d, want 404", w.Code)
	}
}

// hostPages serves a page per host.
type hostPages map[string]PageData

func (h hostPages) Page(_ context.Context, host string) (PageData, error) {
	d, ok := h[host]
	if !ok {
		return PageData{}, fmt.Errorf("no page for %s: %w", host, fs.ErrNotExist)
	}
	return d, nil
}

// TestPrivateViewsPerOrganization: two organizations' pages with the same
// id: each member sees their own organization's private components and
// never the other's; each view is rendered once per version, however many
// members ask.
func TestPrivateViewsPerOrganization(t *testing.T) {
	acme, globex := acmePage(), acmePage()
	acme.ID, globex.ID = "status", "status"
	globex.Org, globex.Name, globex.Version = "globex", "Globex", "g1"
	for i := range globex.Components {
		if globex.Components[i].Private {
			globex.Components[i].ID, globex.Components[i].Name = "vault", "Globex Vault"
		}
	}
	globex.Incidents, globex.Maintenances = nil, nil
	auth := &fakeAuth{sessions: map[string]Principal{
		"session-acme-victor-0123456789": {Org: "acme", User: "victor", Role: roleViewer},
		"session-acme-olga-0123456789ab": {Org: "acme", User: "olga", Role: roleOwner},
		"session-globex-gina-0123456789": {Org: "globex", User: "gina", Role: roleOwner},
		"session-acme-odd-role-0123456":  {Org: "acme", User: "odd", Role: "intern"},
		"session-acme-enroll-012345678":  {Org: "acme", User: "eve", Role: roleOwner, EnrollTOTP: true},
	}}
	s, h := newServer(Deps{Pages: hostPages{"acme.example": acme, "globex.example": globex}, Auth: auth})
	renders := map[string]int{}
	var mu sync.Mutex
	s.renders.onRender = func(key string) {
		mu.Lock()
		renders[key]++
		mu.Unlock()
	}
	req := func(host, sess string) string {
		r := httptest.NewRequest("GET", "http://"+host+"/api/v2/components.json", nil)
		if sess != "" {
			r.Header.Set("Cookie", SessionCookie+"="+sess)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			t.Fatalf("GET %s as %s: got %d", host, sess, w.Code)
		}
		return w.Body.String()
	}
	for _, tc := range []struct {
		host, sess string
		want, not  []string
	}{
		{"acme.example", "session-acme-victor-0123456789", []string{"Secret DB"}, []string{"Globex Vault"}},
		{"acme.example", "session-acme-olga-0123456789ab", []string{"Secret DB"}, []string{"Globex Vault"}},
		{"acme.example", "session-globex-gina-0123456789", nil, []string{"Secret DB", "Globex Vault"}},
		{"acme.example", "session-acme-odd-role-0123456", nil, []string{"Secret DB"}},
		{"acme.example", "session-acme-enroll-012345678", nil, []string{"Secret DB"}},
		{"globex.example", "session-globex-gina-0123456789", []string{"Globex Vault"}, []string{"Secret DB"}},
		{"globex.example", "session-acme-victor-0123456789", nil, []string{"Secret DB", "Globex Vault"}},
		{"globex.example", "", nil, []string{"Secret DB", "Globex Vault"}},
	} {
		for range 3 {
			body := req(tc.host, tc.sess)
			for _, s := range tc.want {
				if !strings.Contains(body, s) {
					t.Errorf("%s as %s: got no %q", tc.host, tc.sess, s)
				}
			}
			for _, s := range tc.not {
				if strings.Contains(body, s) {
					t.Errorf("%s as %s: got %q", tc.host, tc.sess, s)
				}
			}
		}
	}
	for key, n := range renders {
		if n != 1 {
			t.Errorf("%q: got %d renders, want 1", key, n)
		}
	}
	if len(renders) != 4 { // two pages × two views
		t.Errorf("got renderings %q, want one per page and view", keysOf(renders))
	}
}

func keysOf(m map[string]int) []string {
	var out []string
	for k := range m {
		out = append(out, strings.ReplaceAll(k, "\x00", "/"))
	}
	return out
}

// BenchmarkPageViews: the page as a visitor (on a server with sign-in: no
// lookup) and as a member (a session lookup per request; the rendering is
// cached as the visitor's is).
func BenchmarkPageViews(b *testing.B) {
	const sess = "session-acme-victor-0123456789"
	d := pageStates()["incident"]
	d.Org = "acme"
	auth := &fakeAuth{sessions: map[string]Principal{sess: {Org: "acme", User: "victor", Role: roleViewer}}}
	h := NewServer(Deps{Pages: &fakePages{data: d}, Auth: auth})
	for _, bc := range []struct {
		name, cookie string
		cc           string
	}{
		{"anonymous", "", defaultPageCacheControl},
		{"member", SessionCookie + "=" + sess, memberCacheControl},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					r := httptest.NewRequest("GET", "/", nil)
					r.Header.Set("Accept-Encoding", "gzip")
					if bc.cookie != "" {
						r.Header.Set("Cookie", bc.cookie)
					}
					w := httptest.NewRecorder()
					h.ServeHTTP(w, r)
					if w.Code != http.StatusOK || w.Header().Get("Cache-Control") != bc.cc {
						b.Fatalf("got %d %q", w.Code, w.Header().Get("Cache-Control"))
					}
				}
			})
		})
	}
	// A member through the accounts core over SQLite: the session's
	// lookup is most of the cost.
	b.Run("member-sqlite", func(b *testing.B) {
		e := newPrivateEnv(b, d)
		cookie := SessionCookie + "=" + e.session(b, "victor")
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				r := httptest.NewRequest("GET", "/", nil)
				r.Header.Set("Accept-Encoding", "gzip")
				r.Header.Set("Cookie", cookie)
				w := httptest.NewRecorder()
				e.h.ServeHTTP(w, r)
				if w.Code != http.StatusOK || w.Header().Get("Cache-Control") != memberCacheControl {
					b.Fatalf("got %d %q", w.Code, w.Header().Get("Cache-Control"))
				}
			}
		})
	})
}

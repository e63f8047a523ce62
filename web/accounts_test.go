package web

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/alexedwards/argon2id"

	"github.com/lookout-status/lookout/accounts"
	"github.com/lookout-status/lookout/store"
)

const testPassword = "correct horse battery"

// accountsAuth is what cmd/lookout's access does: lko_ tokens and sessions
// through the accounts core, other tokens through the config's.
type accountsAuth struct {
	svc    *accounts.Service
	config Authenticator
}

func toWeb(p accounts.Principal) Principal {
	return Principal{Org: p.Org, User: p.User, Role: p.Role, EnrollTOTP: p.EnrollTOTP}
}

func (a accountsAuth) Token(ctx context.Context, tok string) (Principal, bool) {
	if strings.HasPrefix(tok, accounts.TokenPrefix) {
		p, ok := a.svc.Token(ctx, tok)
		return toWeb(p), ok
	}
	return a.config.Token(ctx, tok)
}

func (a accountsAuth) Session(ctx context.Context, id, org string) (Principal, bool) {
	p, ok := a.svc.Session(ctx, id, org)
	return toWeb(p), ok
}

type acctEnv struct {
	*apiEnv
	svc  *accounts.Service
	subs *fakeSubs
}

// Members of the test organizations (all with testPassword): acme has an
// owner, an admin, a responder, a viewer and zed (a viewer other tests
// act on); globex, which requires a second factor, has gina (owner).
var acmeMembers = []struct{ user, role string }{
	{"olga", "owner"}, {"adam", "admin"}, {"alice", "responder"}, {"victor", "viewer"}, {"zed", "viewer"},
}

// newAccountsEnv is newAPIEnv with every Deps field of the accounts helper
// set over the real store: sessions and lko_ tokens through the accounts
// core, the audit log in the store, config tokens still working.
func newAccountsEnv(t testing.TB, mod ...func(*Deps)) *acctEnv {
	t.Helper()
	a := &acctEnv{subs: &fakeSubs{}}
	e := newAPIEnv(t, func(d *Deps) {
		db := d.IncidentStore.(*store.DB)
		svc, err := accounts.New(accounts.Options{DB: db, Clock: d.Clock,
			Params: &argon2id.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}})
		if err != nil {
			t.Fatal(err)
		}
		svc.SetOrgs([]accounts.Org{{ID: "acme", Name: "Acme"}, {ID: "globex", Name: "Globex", RequireTOTP: true}})
		a.svc = svc
		d.Accounts = svc
		d.Auth = accountsAuth{svc: svc, config: d.Auth}
		d.Audit = StoreAuditLog(db)
		d.AuditReader = db
		d.Directory = schedDirectory{}
		d.Subscribers = a.subs
		for _, m := range mod {
			m(d)
		}
	})
	a.apiEnv = e
	ctx := context.Background()
	add := func(org, user, role string) {
		if _, err := a.svc.Account(ctx, user); err != nil {
			if _, err := a.svc.CreateAccount(ctx, user, testPassword); err != nil {
				t.Fatal(err)
			}
		}
		acc, _ := a.svc.Account(ctx, user)
		if err := e.db.PutMember(ctx, org, acc.ID, role); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range acmeMembers {
		add("acme", m.user, m.role)
	}
	add("globex", "gina", "owner")
	return a
}

// login posts the sign-in form from addr.
func (a *acctEnv) login(t testing.TB, addr, user, pass string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	form := url.Values{"username": {user}, "password": {pass}}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "form:code" || hdr[i] == "form:next" {
			form.Set(strings.TrimPrefix(hdr[i], "form:"), hdr[i+1])
		}
	}
	r := httptest.NewRequest("POST", "/login", strings.NewReader(form.Encode()))
	r.RemoteAddr = addr
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(hdr); i += 2 {
		if !strings.HasPrefix(hdr[i], "form:") {
			r.Header.Add(hdr[i], hdr[i+1])
		}
	}
	w := httptest.NewRecorder()
	a.h.ServeHTTP(w, r)
	return w
}

// session signs user in and returns the session cookie's value.
func (a *acctEnv) session(t testing.TB, user string) string {
	t.Helper()
	w := a.login(t, "192.0.2.10:1234", user, testPassword)
	c := cookieNamed(w, SessionCookie)
	if w.Code != http.StatusSeeOther || c == nil {
		t.Fatalf("sign in %s: got %d, cookie %v: %s", user, w.Code, c, w.Body)
	}
	return c.Value
}

func cookieNamed(w *httptest.ResponseRecorder, name string) *http.Cookie {
	for _, c := range w.Result().Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// withSession sends a same-origin browser request with the session
// cookie.
func (a *acctEnv) withSession(t *testing.T, method, target, sess, body string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	hdr = append([]string{"Cookie", SessionCookie + "=" + sess, "Sec-Fetch-Site", "same-origin"}, hdr...)
	if method == "POST" && body != "" && !strings.HasPrefix(body, "{") {
		hdr = append(hdr, "Content-Type", "application/x-www-form-urlencoded")
	}
	return a.do(t, method, target, "", body, hdr...)
}

func TestLoginSetsAHardenedSessionCookie(t *testing.T) {
	a := newAccountsEnv(t)
	if w := a.do(t, "GET", "/login?next=/console/tokens", "", ""); w.Code != 200 || !strings.Contains(w.Body.String(), `name="password"`) {
		t.Fatalf("GET /login: got %d", w.Code)
	}
	// A session id planted before sign-in (fixation) is not the one after,
	// and no longer works.
	planted := a.session(t, "alice")
	w := a.login(t, "192.0.2.10:1", "alice", testPassword, "Cookie", SessionCookie+"="+planted)
	c := cookieNamed(w, SessionCookie)
	if w.Code != http.StatusSeeOther || c == nil {
		t.Fatalf("got %d, cookie %v", w.Code, c)
	}
	if c.Value == planted {
		t.Fatal("the session id was not rotated at sign-in")
	}
	if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "" || !strings.HasPrefix(c.Name, "__Host-") {
		t.Errorf("got cookie %+v; want __Host-, HttpOnly, Secure, SameSite=Lax, Path=/, no Domain", c)
	}
	if got := a.withSession(t, "GET", "/console/account", planted, ""); got.Code != http.StatusSeeOther || !strings.HasPrefix(got.Header().Get("Location"), "/login") {
		t.Errorf("planted session after sign-in: got %d %s, want 303 to /login", got.Code, got.Header().Get("Location"))
	}
	if got := a.withSession(t, "GET", "/console/account", c.Value, ""); got.Code != 200 || !strings.Contains(got.Body.String(), "Your account: alice") {
		t.Errorf("new session: got %d", got.Code)
	}

	// Sign out ends it.
	if w := a.withSession(t, "POST", "/logout", c.Value, ""); w.Code != http.StatusSeeOther {
		t.Fatalf("logout: got %d", w.Code)
	}
	if got := a.withSession(t, "GET", "/api/v1/tokens", c.Value, ""); got.Code != 401 {
		t.Errorf("after sign-out: got %d, want 401", got.Code)
	}
}

func TestLoginRedirectsOnlyWithinTheSite(t *testing.T) {
	a := newAccountsEnv(t)
	cases := []struct{ next, want string }{
		{"/console/tokens?org=acme", "/console/tokens?org=acme"},
		{"", consoleHome},
		{"//evil.example/", consoleHome},
		{"https://evil.example/", consoleHome},
		{"/\\evil.example/", consoleHome},
		{"javascript:alert(1)", consoleHome},
		{"/%2F%2Fevil.example", consoleHome}, // a path, but refused all the same
		{"http:/evil.example", consoleHome},
	}
	for _, c := range cases {
		w := a.login(t, "192.0.2.10:1", "alice", testPassword, "form:next", c.next)
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != c.want {
			t.Errorf("next=%q: got %d to %q, want 303 to %q", c.next, w.Code, w.Header().Get("Location"), c.want)
		}
	}
}

func TestLoginRefusals(t *testing.T) {
	a := newAccountsEnv(t)
	cases := []struct {
		name string
		user string
		pass string
		hdr  []string
		want int
	}{
		{"wrong password", "alice", "not the password", nil, 401},
		{"unknown user", "nobody", testPassword, nil, 401},
		{"1 MB password", "alice", strings.Repeat("x", 1<<20), nil, 413},
		{"129-byte password", "alice", strings.Repeat("x", 129), nil, 400},
		{"cross-site form", "alice", testPassword, []string{"Sec-Fetch-Site", "cross-site"}, 403},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := a.login(t, "192.0.2.20:1", c.user, c.pass, c.hdr...)
			if w.Code != c.want || cookieNamed(w, SessionCookie) != nil {
				t.Errorf("got %d (cookie %v), want %d", w.Code, cookieNamed(w, SessionCookie), c.want)
			}
		})
	}
}

// TestLoginThrottle: HOSTILE 25. The limit keys on the peer address, so a
// forged X-Forwarded-For changes nothing; another address is unaffected.
func TestLoginThrottle(t *testing.T) {
	a := newAccountsEnv(t)
	var last *httptest.ResponseRecorder
	for i := range 21 {
		last = a.login(t, "198.51.100.7:4000", fmt.Sprintf("guess%d", i), "wrong password!", "X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i))
		if i < 20 && last.Code != 401 {
			t.Fatalf("attempt %d: got %d, want 401", i, last.Code)
		}
	}
	if last.Code != http.StatusTooManyRequests || last.Header().Get("Retry-After") != "3" {
		t.Fatalf("21st attempt: got %d, Retry-After %q; want 429 and 3", last.Code, last.Header().Get("Retry-After"))
	}
	if w := a.login(t, "198.51.100.8:4000", "olga", testPassword); w.Code != http.StatusSeeOther {
		t.Errorf("another address: got %d, want 303", w.Code)
	}
	// One username from many addresses: 10 failures, then 429 for it…
	dev := cookieNamed(a.login(t, "192.0.2.98:1", "alice", testPassword), deviceCookie)
	for i := range 11 {
		last = a.login(t, fmt.Sprintf("192.0.2.%d:1", 100+i), "alice", "wrong password!")
	}
	if last.Code != http.StatusTooManyRequests || last.Header().Get("Retry-After") != "60" {
		t.Fatalf("11th failure for alice: got %d, Retry-After %q; want 429 and 60", last.Code, last.Header().Get("Retry-After"))
	}
	// …but not from a browser where alice signed in before (its device
	// cookie): guessing her password does not lock her out.
	if w := a.login(t, "192.0.2.97:1", "alice", testPassword, "Cookie", deviceCookie+"="+dev.Value); w.Code != http.StatusSeeOther {
		t.Errorf("alice with her device cookie: got %d, want 303", w.Code)
	}
	if w := a.login(t, "192.0.2.96:1", "alice", testPassword); w.Code != http.StatusTooManyRequests {
		t.Errorf("alice elsewhere: got %d, want 429", w.Code)
	}
	a.clock.Advance(3 * time.Second)
	if w := a.login(t, "198.51.100.7:4000", "olga", testPassword); w.Code != http.StatusSeeOther {
		t.Errorf("after Retry-After: got %d, want 303", w.Code)
	}
}

func TestPasswordChangeEndsOtherSessions(t *testing.T) {
	a := newAccountsEnv(t)
	laptop, phone := a.session(t, "alice"), a.session(t, "alice")
	form := url.Values{"current": {testPassword}, "new": {"a brand new passphrase"}, "confirm": {"a brand new passphrase"}}
	w := a.withSession(t, "POST", "/console/account/password?org=acme", laptop, form.Encode())
	if w.Code != http.StatusSeeOther {
		t.Fatalf("change password: got %d: %s", w.Code, w.Body)
	}
	if got := a.withSession(t, "GET", "/console/account?org=acme", laptop, ""); got.Code != 200 {
		t.Errorf("the session that changed it: got %d, want 200", got.Code)
	}
	if got := a.withSession(t, "GET", "/console/account?org=acme", phone, ""); got.Code != http.StatusSeeOther {
		t.Errorf("another session: got %d, want 303 to /login", got.Code)
	}
	if w := a.login(t, "192.0.2.30:1", "alice", testPassword); w.Code != 401 {
		t.Errorf("old password: got %d, want 401", w.Code)
	}
	// A cross-site form cannot change it.
	w = a.withSession(t, "POST", "/console/account/password?org=acme", laptop, form.Encode(), "Sec-Fetch-Site", "cross-site")
	if w.Code != http.StatusForbidden {
		t.Errorf("cross-site password change: got %d, want 403", w.Code)
	}
}

func TestTOTPEnrollmentAndReplay(t *testing.T) {
	a := newAccountsEnv(t)
	gina := a.session(t, "gina")
	// globex requires a second factor: every page sends her to enroll.
	w := a.withSession(t, "GET", "/console/tokens?org=globex", gina, "")
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/console/account?org=globex" {
		t.Fatalf("before enrolling: got %d to %q", w.Code, w.Header().Get("Location"))
	}
	if w := a.withSession(t, "GET", "/api/v1/tokens?org=globex", gina, ""); w.Code != 403 || !strings.Contains(w.Body.String(), "totp_required") {
		t.Fatalf("API before enrolling: got %d %s", w.Code, w.Body)
	}
	if w := a.withSession(t, "POST", "/console/account/totp?org=globex", gina, ""); w.Code != http.StatusSeeOther {
		t.Fatalf("begin: got %d", w.Code)
	}
	page := a.withSession(t, "GET", "/console/account?org=globex", gina, "").Body.String()
	en, ok := a.svc.PendingTOTP(context.Background(), "gina")
	if !ok || !strings.Contains(page, en.Secret) || !strings.Contains(page, "otpauth://totp/Lookout:gina?") {
		t.Fatalf("the account page does not show the key:\n%s", page)
	}
	code, _ := accounts.TOTPCode(en.Secret, a.clock.Now())
	w = a.withSession(t, "POST", "/console/account/totp/confirm?org=globex", gina, "code="+code)
	if w.Code != 200 || strings.Count(w.Body.String(), "<li><code>") != accounts.RecoveryCodes {
		t.Fatalf("confirm: got %d:\n%s", w.Code, w.Body)
	}
	if w := a.withSession(t, "GET", "/console/tokens?org=globex", gina, ""); w.Code != 200 {
		t.Errorf("after enrolling: got %d, want 200", w.Code)
	}

	a.clock.Advance(time.Minute)
	code, _ = accounts.TOTPCode(en.Secret, a.clock.Now())
	if w := a.login(t, "192.0.2.40:1", "gina", testPassword); w.Code != 401 || !strings.Contains(w.Body.String(), "authenticator") {
		t.Errorf("no code: got %d", w.Code)
	}
	if w := a.login(t, "192.0.2.40:1", "gina", testPassword, "form:code", code); w.Code != http.StatusSeeOther {
		t.Fatalf("with code: got %d", w.Code)
	}
	if w := a.login(t, "192.0.2.41:1", "gina", testPassword, "form:code", code); w.Code != 401 {
		t.Errorf("the same code again (replay): got %d, want 401", w.Code)
	}
}

func TestTokensThroughTheAPI(t *testing.T) {
	a := newAccountsEnv(t)
	alice, victor := a.session(t, "alice"), a.session(t, "victor")

	// A viewer may not create a token (HOSTILE 22): 403, audited.
	w := a.withSession(t, "POST", "/api/v1/tokens", victor, `{"name":"mine","role":"viewer"}`)
	if w.Code != 403 {
		t.Fatalf("viewer creating a token: got %d", w.Code)
	}
	// Nor may a responder make one above their role.
	if w := a.withSession(t, "POST", "/api/v1/tokens", alice, `{"name":"x","role":"admin"}`); w.Code != 400 || decode[apiErrorBody](t, w).Error.Field != "role" {
		t.Fatalf("token above the creator's role: got %d %s", w.Code, w.Body)
	}
	w = a.withSession(t, "POST", "/api/v1/tokens", alice, `{"name":"ci","role":"responder","expires_in":"30d"}`)
	if w.Code != 201 {
		t.Fatalf("create: got %d %s", w.Code, w.Body)
	}
	created := decode[struct {
		Value string   `json:"value"`
		Token apiToken `json:"token"`
	}](t, w)
	if !accounts.Valid(created.Value) || created.Token.ExpiresAt == nil || !created.Token.ExpiresAt.Equal(apiNow.Add(30*24*time.Hour)) {
		t.Fatalf("got %+v", created)
	}
	if w := a.do(t, "GET", "/api/v1/incidents/acme-1", created.Value, ""); w.Code != 200 {
		t.Fatalf("read with the new token: got %d", w.Code)
	}
	if w := a.do(t, "GET", "/api/v1/incidents/globex-1", created.Value, ""); w.Code != 404 {
		t.Errorf("another organization's incident: got %d, want 404", w.Code)
	}
	list := decode[struct {
		Tokens []apiToken `json:"tokens"`
	}](t, a.do(t, "GET", "/api/v1/tokens", created.Value, ""))
	if len(list.Tokens) != 1 || list.Tokens[0].CreatedBy != "alice" || strings.Contains(a.do(t, "GET", "/api/v1/tokens", created.Value, "").Body.String(), created.Value) {
		t.Errorf("list: got %+v", list)
	}
	// Another responder may not revoke alice's token; an admin may.
	other, _, _ := a.svc.CreateToken(context.Background(), accounts.TokenRequest{Org: "acme", Name: "adam's", Role: "viewer", CreatedBy: "adam", CreatorRole: "admin"})
	if w := a.withSession(t, "DELETE", "/api/v1/tokens/"+list.Tokens[0].ID, a.session(t, "zed"), ""); w.Code != 403 {
		t.Errorf("a viewer revoking: got %d, want 403", w.Code)
	}
	if w := a.do(t, "DELETE", "/api/v1/tokens/"+list.Tokens[0].ID, tokGlobex, ""); w.Code != 404 {
		t.Errorf("globex revoking acme's token: got %d, want 404", w.Code)
	}
	if w := a.withSession(t, "DELETE", "/api/v1/tokens/"+list.Tokens[0].ID, alice, ""); w.Code != 204 {
		t.Fatalf("revoke own: got %d %s", w.Code, w.Body)
	}
	if w := a.do(t, "GET", "/api/v1/incidents", created.Value, ""); w.Code != 401 {
		t.Errorf("revoked token: got %d, want 401", w.Code)
	}
	if w := a.do(t, "GET", "/api/v1/incidents", other, ""); w.Code != 200 {
		t.Errorf("another token: got %d", w.Code)
	}
	for _, bad := range []string{"lko_" + strings.Repeat("A", 36), created.Value[:39] + "Z"} {
		if w := a.do(t, "GET", "/api/v1/incidents", bad, ""); w.Code != 401 {
			t.Errorf("malformed %q: got %d", bad, w.Code)
		}
	}
	a.clock.Advance(31 * 24 * time.Hour)
	exp := a.withSession(t, "POST", "/api/v1/tokens", a.session(t, "olga"), `{"name":"short","role":"viewer","expires_in":"1h"}`)
	v := decode[struct {
		Value string `json:"value"`
	}](t, exp).Value
	a.clock.Advance(time.Hour)
	if w := a.do(t, "GET", "/api/v1/incidents", v, ""); w.Code != 401 {
		t.Errorf("expired token: got %d, want 401", w.Code)
	}
}

func TestUsersThroughTheAPI(t *testing.T) {
	a := newAccountsEnv(t)
	olga := a.session(t, "olga")
	if w := a.withSession(t, "POST", "/api/v1/users", a.session(t, "adam"), `{"username":"bob","role":"viewer"}`); w.Code != 403 {
		t.Fatalf("an admin adding a member: got %d, want 403", w.Code)
	}
	w := a.withSession(t, "POST", "/api/v1/users", olga, `{"username":"bob","role":"responder"}`)
	added := decode[struct {
		User     apiUser `json:"user"`
		Password string  `json:"password"`
	}](t, w)
	if w.Code != 201 || added.User.Role != "responder" || len(added.Password) < 12 {
		t.Fatalf("add: got %d %+v", w.Code, added)
	}
	if w := a.login(t, "192.0.2.50:1", "bob", added.Password); w.Code != http.StatusSeeOther {
		t.Errorf("the new member signs in: got %d", w.Code)
	}
	// gina (globex) joins acme too: no new password.
	w = a.withSession(t, "POST", "/api/v1/users", olga, `{"username":"gina","role":"viewer"}`)
	if w.Code != 201 || strings.Contains(w.Body.String(), "password") {
		t.Errorf("existing account: got %d %s", w.Code, w.Body)
	}
	if w := a.withSession(t, "PATCH", "/api/v1/users/bob", olga, `{"role":"admin"}`); w.Code != 200 || decode[struct {
		User apiUser `json:"user"`
	}](t, w).User.Role != "admin" {
		t.Errorf("patch: got %d %s", w.Code, w.Body)
	}
	if w := a.withSession(t, "DELETE", "/api/v1/users/olga", olga, ""); w.Code != 409 || decode[apiErrorBody](t, w).Error.Code != "last_owner" {
		t.Errorf("removing the last owner: got %d %s", w.Code, w.Body)
	}
	if w := a.withSession(t, "PATCH", "/api/v1/users/olga", olga, `{"role":"admin"}`); w.Code != 409 {
		t.Errorf("demoting the last owner: got %d", w.Code)
	}
	if w := a.withSession(t, "DELETE", "/api/v1/users/bob", olga, ""); w.Code != 204 {
		t.Errorf("remove: got %d", w.Code)
	}
	if w := a.withSession(t, "DELETE", "/api/v1/users/gina", a.session(t, "gina"), "", "Sec-Fetch-Site", "same-origin"); w.Code != 403 {
		// gina is a viewer of acme (her first organization is acme now).
		t.Errorf("a viewer removing: got %d", w.Code)
	}
	list := decode[struct {
		Users []apiUser `json:"users"`
	}](t, a.withSession(t, "GET", "/api/v1/users", olga, ""))
	if len(list.Users) != len(acmeMembers)+1 {
		t.Errorf("got %d users, want %d", len(list.Users), len(acmeMembers)+1)
	}
}

// TestAuditHoldsNoSecrets: every write is in the audit log, and no
// password, token or recovery code is.
func TestAuditHoldsNoSecrets(t *testing.T) {
	a := newAccountsEnv(t)
	olga := a.session(t, "olga")
	newPass := "a secret new passphrase"
	form := url.Values{"current": {testPassword}, "new": {newPass}, "confirm": {newPass}}
	a.withSession(t, "POST", "/console/account/password?org=acme", olga, form.Encode())
	w := a.withSession(t, "POST", "/api/v1/tokens", olga, `{"name":"ci","role":"admin"}`)
	tok := decode[struct {
		Value string `json:"value"`
	}](t, w).Value
	w = a.withSession(t, "POST", "/api/v1/users", olga, `{"username":"bob","role":"viewer"}`)
	bobPass := decode[struct {
		Password string `json:"password"`
	}](t, w).Password
	a.withSession(t, "POST", "/console/tokens?org=acme", olga, "name=form-made&role=viewer&expires=30d")
	a.withSession(t, "POST", "/api/v1/tokens", a.session(t, "victor"), `{"name":"nope","role":"viewer"}`)

	es, err := a.db.AuditEntries(context.Background(), "acme", store.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	actions := map[string]int{}
	for _, e := range es {
		actions[e.Action+" "+http.StatusText(e.Status)]++
	}
	for _, want := range []string{
		"POST /console/account/password See Other", "POST /api/v1/tokens Created", "POST /api/v1/users Created",
		"POST /console/tokens OK", "POST /api/v1/tokens Forbidden", "POST /login See Other",
	} {
		if actions[want] == 0 {
			t.Errorf("no audit entry %q in %v", want, actions)
		}
	}
	// Read the table raw: every column of every row.
	raw, err := sql.Open("sqlite3", "file:"+a.db.Path()+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var dump string
	if err := raw.QueryRow(`SELECT group_concat(at || org || actor || role || via || action || target || status || summary || client_ip, '|') FROM audit_log`).Scan(&dump); err != nil {
		t.Fatal(err)
	}
	for name, secret := range map[string]string{"old password": testPassword, "new password": newPass, "token": tok, "generated password": bobPass, "token body": tok[4:20]} {
		if secret != "" && strings.Contains(dump, secret) {
			t.Errorf("the audit log holds the %s", name)
		}
	}
	if !strings.Contains(dump, `token "ci" created, role admin`) {
		t.Errorf("the token creation's summary is missing:\n%s", dump)
	}
}

func TestTeamsAndAuditAPI(t *testing.T) {
	a := newAccountsEnv(t)
	w := a.do(t, "GET", "/api/v1/teams", tokViewer, "")
	var teams struct {
		Teams []struct {
			ID        string `json:"id"`
			Schedules []struct {
				OnCall []string `json:"on_call"`
			} `json:"schedules"`
		} `json:"teams"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &teams); err != nil || w.Code != 200 || len(teams.Teams) != 2 || teams.Teams[0].Schedules[0].OnCall[0] != "ana" {
		t.Fatalf("teams: got %d %s", w.Code, w.Body)
	}
	for range 3 {
		a.do(t, "POST", "/api/v1/incidents/acme-1/notes", tokResponder, `{"body":"looking"}`)
	}
	if w := a.do(t, "GET", "/api/v1/audit", tokResponder, ""); w.Code != 403 {
		t.Errorf("a responder reading the audit log: got %d", w.Code)
	}
	w = a.do(t, "GET", "/api/v1/audit?limit=2&actor=alice", tokOwner, "")
	page := decode[struct {
		Entries    []apiAuditEntry `json:"entries"`
		NextCursor *string         `json:"next_cursor"`
	}](t, w)
	if len(page.Entries) != 2 || page.NextCursor == nil || page.Entries[0].Action != "POST /api/v1/incidents/{id}/notes" {
		t.Fatalf("audit page: got %s", w.Body)
	}
	w = a.do(t, "GET", "/api/v1/audit?limit=2&actor=alice&cursor="+*page.NextCursor, tokOwner, "")
	if p2 := decode[struct {
		Entries    []apiAuditEntry `json:"entries"`
		NextCursor *string         `json:"next_cursor"`
	}](t, w); len(p2.Entries) != 1 || p2.NextCursor != nil {
		t.Errorf("second page: got %s", w.Body)
	}
	w = a.do(t, "GET", "/api/v1/audit/export", tokOwner, "")
	if w.Code != 200 || strings.Count(w.Body.String(), "\n") != 3 || w.Header().Get("Content-Type") != "application/jsonl" {
		t.Errorf("export: got %d %q:\n%s", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
	if w := a.do(t, "GET", "/api/v1/audit", tokGlobex, ""); strings.Contains(w.Body.String(), "alice") {
		t.Errorf("globex sees acme's audit log: %s", w.Body)
	}
	// An entry of the system's own (no HTTP request, no status) shows a
	// dash on the console page, not a status 0.
	if err := a.db.AppendAudit(context.Background(), store.AuditEntry{Time: apiNow, Org: "acme", Actor: "system", Via: "system",
		Action: "subscriber.disabled", Target: "sub_1", Summary: "disabled: gone"}); err != nil {
		t.Fatal(err)
	}
	w = a.do(t, "GET", "/console/audit", tokOwner, "")
	if body := w.Body.String(); w.Code != 200 || !strings.Contains(body, "subscriber.disabled") || strings.Contains(body, "<td>0</td>") {
		t.Errorf("console audit page: got %d, want the system entry without a status 0:\n%s", w.Code, body)
	}
}

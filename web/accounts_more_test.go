package web

import (
	"bytes"
	"context"
	"encoding/base64"
	"image/png"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lookout-status/lookout/accounts"
	"github.com/lookout-status/lookout/store"
)

// auditSummaries returns "ACTION STATUS: SUMMARY" of acme's audit entries
// whose action contains action.
func (a *acctEnv) auditSummaries(t *testing.T, action string) []string {
	t.Helper()
	es, err := a.db.AuditEntries(context.Background(), "acme", store.AuditQuery{Action: action})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Action+" "+http.StatusText(e.Status)+": "+e.Actor+" → "+e.Target+": "+e.Summary)
	}
	return out
}

func TestSignOutOtherSessions(t *testing.T) {
	a := newAccountsEnv(t)
	laptop, phone, tablet := a.session(t, "alice"), a.session(t, "alice"), a.session(t, "alice")
	page := a.withSession(t, "GET", "/console/account?org=acme", laptop, "").Body.String()
	if !strings.Contains(page, `action="/console/account/sessions/others/signout?org=acme"`) {
		t.Fatalf("the account page has no sign-out-others button:\n%s", page)
	}
	// Warm the cache of the other sessions: the sign-out must end them at once.
	for _, s := range []string{phone, tablet} {
		if w := a.withSession(t, "GET", "/console/incidents?org=acme", s, ""); w.Code != 200 {
			t.Fatalf("before: got %d, want 200", w.Code)
		}
	}
	if w := a.withSession(t, "POST", "/console/account/sessions/others/signout?org=acme", laptop, ""); w.Code != http.StatusSeeOther ||
		w.Header().Get("Location") != "/console/account?org=acme" {
		t.Fatalf("sign out others: got %d to %q", w.Code, w.Header().Get("Location"))
	}
	for name, s := range map[string]string{"phone": phone, "tablet": tablet} {
		if w := a.withSession(t, "GET", "/console/incidents?org=acme", s, ""); w.Code != http.StatusSeeOther || !strings.HasPrefix(w.Header().Get("Location"), "/login") {
			t.Errorf("%s after the sign-out: got %d to %q, want 303 to /login", name, w.Code, w.Header().Get("Location"))
		}
	}
	page = a.withSession(t, "GET", "/console/account?org=acme", laptop, "").Body.String()
	if strings.Count(page, "(this one)") != 1 || strings.Contains(page, "sessions/others/signout") {
		t.Errorf("after: the page should list this session alone, without the button:\n%s", page)
	}
	if got, want := a.auditSummaries(t, "sessions/others"), []string{"POST /console/account/sessions/others/signout See Other: alice → alice: signed out 2 other session(s)"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("audit: got %q, want %q", got, want)
	}
	// A cross-site form cannot do it.
	if w := a.withSession(t, "POST", "/console/account/sessions/others/signout?org=acme", laptop, "", "Sec-Fetch-Site", "cross-site"); w.Code != http.StatusForbidden {
		t.Errorf("cross-site: got %d, want 403", w.Code)
	}
}

func TestDisableMember(t *testing.T) {
	a := newAccountsEnv(t)
	ctx := context.Background()
	olga := a.session(t, "olga")
	alice := a.session(t, "alice")
	aliceTok, _, err := a.svc.CreateToken(ctx, accounts.TokenRequest{Org: "acme", Name: "ci", Role: "responder", CreatedBy: "alice", CreatorRole: "responder"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ what, cookie, token string }{{"session", alice, ""}, {"token", "", aliceTok}} {
		if w := a.get(t, c.cookie, c.token); w.Code != 200 {
			t.Fatalf("alice's %s before: got %d, want 200", c.what, w.Code)
		}
	}

	type userResp struct {
		User apiUser `json:"user"`
	}
	w := a.withSession(t, "PATCH", "/api/v1/users/alice", olga, `{"disabled":true}`)
	if w.Code != 200 || !decode[userResp](t, w).User.Disabled {
		t.Fatalf("disable: got %d %s", w.Code, w.Body)
	}
	for _, c := range []struct{ what, cookie, token string }{{"session", alice, ""}, {"token", "", aliceTok}} {
		if w := a.get(t, c.cookie, c.token); w.Code != 401 {
			t.Errorf("alice's %s once disabled: got %d, want 401", c.what, w.Code)
		}
	}
	if w := a.login(t, "192.0.2.60:1", "alice", testPassword); w.Code != 401 {
		t.Errorf("a disabled account signing in: got %d, want 401", w.Code)
	}
	if w := a.withSession(t, "PATCH", "/api/v1/users/alice", olga, `{"disabled":false}`); w.Code != 200 || decode[userResp](t, w).User.Disabled {
		t.Fatalf("enable: got %d %s", w.Code, w.Body)
	}
	if w := a.get(t, "", aliceTok); w.Code != 200 {
		t.Errorf("alice's token once enabled: got %d, want 200", w.Code)
	}
	if w := a.get(t, a.session(t, "alice"), ""); w.Code != 200 {
		t.Errorf("alice signed in again: got %d, want 200", w.Code)
	}

	// Refusals.
	opsTok, _, err := a.svc.CreateToken(ctx, accounts.TokenRequest{Org: "acme", Name: "ops", Role: "owner"}) // the operator's, for no member
	if err != nil {
		t.Fatal(err)
	}
	globexTok, _, err := a.svc.CreateToken(ctx, accounts.TokenRequest{Org: "globex", Name: "ops", Role: "owner"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.svc.AddMember(ctx, "acme", "gina", "viewer"); err != nil { // gina owns globex
		t.Fatal(err)
	}
	refusals := []struct {
		name, cookie, token, target string
		status                      int
		code                        string
	}{
		{"an admin", a.session(t, "adam"), "", "alice", 403, "forbidden"},
		{"oneself", olga, "", "olga", 409, "self"},
		{"the last owner", "", opsTok, "olga", 409, "last_owner"},
		{"a member of an organization the owner does not own", olga, "", "gina", 403, "other_organizations"},
		{"a non-member", olga, "", "nobody", 404, "not_found"},
		{"another organization's member", "", globexTok, "alice", 404, "not_found"},
	}
	for _, r := range refusals {
		t.Run(r.name, func(t *testing.T) {
			var w *httptest.ResponseRecorder
			if r.cookie != "" {
				w = a.withSession(t, "PATCH", "/api/v1/users/"+r.target, r.cookie, `{"disabled":true}`)
			} else {
				w = a.do(t, "PATCH", "/api/v1/users/"+r.target, r.token, `{"disabled":true}`)
			}
			if w.Code != r.status || decode[apiErrorBody](t, w).Error.Code != r.code {
				t.Errorf("got %d %s, want %d %s", w.Code, w.Body, r.status, r.code)
			}
		})
	}
	for _, u := range []string{"olga", "gina"} {
		if acct, _ := a.svc.Account(ctx, u); !acct.DisabledAt.IsZero() {
			t.Errorf("%s was disabled by a refused request", u)
		}
	}

	// The console: a Disable button per member but oneself; Enable once
	// disabled.
	page := a.withSession(t, "GET", "/console/users?org=acme", olga, "").Body.String()
	if !strings.Contains(page, `action="/console/users/zed/disable?org=acme"`) || strings.Contains(page, `/console/users/olga/disable`) {
		t.Fatalf("users page: want a Disable button for zed and none for olga:\n%s", page)
	}
	zed := a.session(t, "zed")
	if w := a.withSession(t, "POST", "/console/users/zed/disable?org=acme", olga, ""); w.Code != http.StatusSeeOther {
		t.Fatalf("console disable: got %d %s", w.Code, w.Body)
	}
	if w := a.withSession(t, "GET", "/console/incidents?org=acme", zed, ""); w.Code != http.StatusSeeOther {
		t.Errorf("zed's session once disabled from the console: got %d, want 303 to /login", w.Code)
	}
	page = a.withSession(t, "GET", "/console/users?org=acme", olga, "").Body.String()
	if !regexp.MustCompile(`zed\s*<span class="muted">\(disabled\)</span>`).MatchString(page) || !strings.Contains(page, `action="/console/users/zed/enable?org=acme"`) {
		t.Errorf("users page after disabling zed: want (disabled) and an Enable button:\n%s", page)
	}
	if w := a.withSession(t, "POST", "/console/users/gina/disable?org=acme", olga, ""); w.Code != http.StatusSeeOther {
		t.Errorf("console refusal: got %d, want 303 back with a flash", w.Code)
	}

	want := []string{
		"POST /console/users/{id}/disable See Other: olga → gina: disable refused: the account also belongs to an organization you do not own: remove them from this one instead",
		"POST /console/users/{id}/disable See Other: olga → zed: account disabled; its sessions ended, its tokens stopped",
		"PATCH /api/v1/users/{id} Forbidden: adam → alice: ",
		"PATCH /api/v1/users/{id} OK: olga → alice: account enabled",
		"PATCH /api/v1/users/{id} OK: olga → alice: account disabled; its sessions ended, its tokens stopped",
	}
	got := a.auditSummaries(t, "/users/{id}")
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || g == w
		}
		if !found {
			t.Errorf("audit lacks %q; got:\n%s", w, strings.Join(got, "\n"))
		}
	}
}

// get reads the incidents API with a session cookie or a token.
func (a *acctEnv) get(t *testing.T, cookie, token string) *httptest.ResponseRecorder {
	t.Helper()
	if cookie != "" {
		return a.withSession(t, "GET", "/api/v1/incidents?org=acme", cookie, "")
	}
	return a.do(t, "GET", "/api/v1/incidents", token, "")
}

func TestNoMembershipPage(t *testing.T) {
	a := newAccountsEnv(t)
	if _, err := a.svc.CreateAccount(context.Background(), "nomad", testPassword); err != nil {
		t.Fatal(err)
	}
	w := a.login(t, "192.0.2.70:1", "nomad", testPassword)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != consoleHome {
		t.Fatalf("sign in: got %d to %q", w.Code, w.Header().Get("Location"))
	}
	nomad := cookieNamed(w, SessionCookie).Value
	w = a.withSession(t, "GET", consoleHome, nomad, "")
	if w.Code != http.StatusForbidden {
		t.Fatalf("console with no membership: got %d to %q, want 403 (not a bounce to /login)", w.Code, w.Header().Get("Location"))
	}
	for _, want := range []string{"You are not a member of any organization", "Ask an owner to add you.", "<strong>nomad</strong>", `action="/logout"`} {
		if !strings.Contains(w.Body.String(), want) {
			t.Errorf("page lacks %q:\n%s", want, w.Body)
		}
	}
	if w := a.withSession(t, "GET", "/api/v1/incidents", nomad, ""); w.Code != 403 || decode[apiErrorBody](t, w).Error.Code != "no_membership" {
		t.Errorf("API with no membership: got %d %s", w.Code, w.Body)
	}

	// A member of acme asking for globex: told so, with a way back.
	w = a.withSession(t, "GET", "/console/incidents?org=globex", a.session(t, "alice"), "")
	if w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "You are not a member of globex") ||
		!strings.Contains(w.Body.String(), `href="/console/incidents?org=acme"`) {
		t.Errorf("another organization: got %d:\n%s", w.Code, w.Body)
	}
	// No session at all still goes to the sign-in page.
	if w := a.do(t, "GET", consoleHome, "", ""); w.Code != http.StatusSeeOther || !strings.HasPrefix(w.Header().Get("Location"), "/login") {
		t.Errorf("signed out: got %d to %q, want 303 to /login", w.Code, w.Header().Get("Location"))
	}
}

func TestTOTPEnrollmentShowsAQRCode(t *testing.T) {
	a := newAccountsEnv(t)
	alice := a.session(t, "alice")
	if w := a.withSession(t, "POST", "/console/account/totp?org=acme", alice, ""); w.Code != http.StatusSeeOther {
		t.Fatalf("begin: got %d", w.Code)
	}
	page := a.withSession(t, "GET", "/console/account?org=acme", alice, "").Body.String()
	m := regexp.MustCompile(`<img class="qr" src="data:image/png;base64,([A-Za-z0-9+/=]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no QR code image on the page:\n%s", page)
	}
	b, err := base64.StdEncoding.DecodeString(m[1])
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("the QR code is not a PNG: %v", err)
	}
	if got := img.Bounds().Dx(); got != qrSize {
		t.Errorf("QR code width: got %d, want %d", got, qrSize)
	}
	// The code draws the otpauth URI the page shows as text.
	en, _ := a.svc.PendingTOTP(context.Background(), "alice")
	want, err := qrDataURL(en.URI)
	if err != nil || want != "data:image/png;base64,"+m[1] {
		t.Errorf("the QR code does not encode the enrollment URI (err %v)", err)
	}
}

// TestTeamsShowStoredOverrides: the teams page and API read the one
// Directory the on-call page reads, with the overrides stored through the
// API applied: they agree on who is on call.
func TestTeamsShowStoredOverrides(t *testing.T) {
	a := newAccountsEnv(t, func(d *Deps) { d.Scheduling = d.IncidentStore.(*store.DB) })
	if _, err := a.db.CreateOnCallOverride(context.Background(), store.OnCallOverride{Org: "acme", Schedule: "ops-primary", User: "vic",
		Start: apiNow.Add(-time.Hour), End: apiNow.Add(time.Hour), CreatedBy: "alice"}); err != nil {
		t.Fatal(err)
	}
	type team struct {
		ID      string `json:"id"`
		Members []struct {
			ID, Name string
		} `json:"members"`
		Schedules []struct {
			ID     string   `json:"id"`
			OnCall []string `json:"on_call"`
		} `json:"schedules"`
	}
	teams := decode[struct {
		Teams []team `json:"teams"`
	}](t, a.do(t, "GET", "/api/v1/teams", tokViewer, "")).Teams
	if len(teams) != 2 || teams[0].ID != "ops" || len(teams[0].Schedules) != 1 {
		t.Fatalf("teams: got %+v", teams)
	}
	if got := strings.Join(teams[0].Schedules[0].OnCall, ","); got != "vic" {
		t.Errorf("ops-primary on call: got %q, want vic (the stored override)", got)
	}
	if got := teams[0].Members[0]; got.ID != "dana" || got.Name != "Dana Scully" {
		t.Errorf("first member: got %+v, want dana (Dana Scully)", got)
	}
	oncall := decode[struct {
		Teams []struct {
			Schedules []struct {
				Now struct {
					Users []string `json:"users"`
				} `json:"now"`
			} `json:"schedules"`
		} `json:"teams"`
	}](t, a.do(t, "GET", "/api/v1/oncall?team=ops", tokViewer, ""))
	if got := strings.Join(oncall.Teams[0].Schedules[0].Now.Users, ","); got != "vic" {
		t.Errorf("the on-call API: got %q, want vic", got)
	}
	page := a.withSession(t, "GET", "/console/teams?org=acme", a.session(t, "alice"), "").Body.String()
	if !regexp.MustCompile(`<td>ops-primary</td>\s*<td>\s*vic\s*</td>`).MatchString(page) {
		t.Errorf("the teams page does not show vic on call:\n%s", page)
	}
}

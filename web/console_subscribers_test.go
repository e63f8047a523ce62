package web

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/lookout-status/lookout/store"
)

// subscribersEnv has acme subscriptions of each kind and state (sub_1 a
// webhook whose URL carries a token, sub_2 an e-mail, sub_3 a webhook the
// delivery worker disabled) and one of globex (sub_4).
func subscribersEnv(t *testing.T) *acctEnv {
	t.Helper()
	a := newAccountsEnv(t)
	ctx := context.Background()
	for _, req := range []SubscribeRequest{
		{Org: "acme", Type: "webhook", URL: "https://hooks.example.net/in?token=sekrit-query-token", Components: []string{"api"}},
		{Org: "acme", Type: "email", Email: "ops@example.net"},
		{Org: "acme", Type: "webhook", URL: "https://gone.example.net/x"},
		{Org: "globex", Type: "webhook", URL: "https://globex.example.net/hook"},
	} {
		if _, err := a.subs.Subscribe(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	a.subs.mu.Lock()
	a.subs.disabled = map[string]string{"sub_3": "gave up after 30 attempts: subscriber webhook gone.example.net: HTTP 500"}
	a.subs.mu.Unlock()
	return a
}

func TestConsoleSubscribersList(t *testing.T) {
	a := subscribersEnv(t)
	adam := a.session(t, "adam")
	w := a.withSession(t, "GET", "/console/subscribers?org=acme", adam, "")
	if w.Code != http.StatusOK {
		t.Fatalf("GET /console/subscribers as admin: got %d, want 200: %s", w.Code, w.Body)
	}
	if got := w.Header().Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control: got %q, want no-store", got)
	}
	body := w.Body.String()
	for _, want := range []string{
		"3 subscriptions: 0 active, 2 pending, 1 disabled.",
		`href="/console/subscribers/sub_1?org=acme"`, "https://hooks.example.net/in?…", "Webhook",
		"ops@example.net", "E-mail", "All public components",
		`data-status="disabled">Disabled</span>`, "gave up after 30 attempts: subscriber webhook gone.example.net: HTTP 500",
		`action="/console/subscribers/sub_3/remove?org=acme"`, `aria-current>Subscribers</a>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("list lacks %q", want)
		}
	}
	for _, never := range []string{"sekrit-query-token", "globex.example.net", "sub_4"} {
		if strings.Contains(body, never) {
			t.Errorf("list shows %q", never)
		}
	}
	for _, tc := range []struct{ name, user, target string }{
		{"responder", "alice", "/console/subscribers?org=acme"},
		{"viewer", "victor", "/console/subscribers/sub_1?org=acme"},
	} {
		t.Run(tc.name+" is refused", func(t *testing.T) {
			if w := a.withSession(t, "GET", tc.target, a.session(t, tc.user), ""); w.Code != http.StatusForbidden {
				t.Errorf("GET %s as %s: got %d, want 403", tc.target, tc.user, w.Code)
			}
		})
	}
	if w := a.withSession(t, "GET", "/console/subscribers?org=acme&page=0", adam, ""); w.Code != http.StatusBadRequest {
		t.Errorf("page=0: got %d, want 400", w.Code)
	}
}

func TestConsoleSubscriberDeliveryLog(t *testing.T) {
	a := subscribersEnv(t)
	adam := a.session(t, "adam")
	attempts := regexp.MustCompile(`<td>incident</td><td>(\d)</td>`)
	numbers := func(body string) string {
		var out []string
		for _, m := range attempts.FindAllStringSubmatch(body, -1) {
			out = append(out, m[1])
		}
		return strings.Join(out, ",")
	}
	for _, tc := range []struct {
		name, target string
		code         int
		attempts     string   // in the order shown
		want, never  []string // in the body
	}{
		{"newest first", "/console/subscribers/sub_1?org=acme", 200, "5,4,3,2,1",
			[]string{"Subscription sub_1", "https://hooks.example.net/in?…", "HTTP 500", "msg_x", `data-outcome="failed"`, "<dd>api</dd>"},
			[]string{"sekrit-query-token", "Newest</a>"}},
		{"older than a cursor", "/console/subscribers/sub_1?org=acme&cursor=3", 200, "2,1",
			[]string{`href="/console/subscribers/sub_1?org=acme">Newest</a>`}, nil},
		{"bad cursor", "/console/subscribers/sub_1?org=acme&cursor=x", 400, "", nil, nil},
		{"no such subscription", "/console/subscribers/sub_9?org=acme", 404, "", []string{"There is no such subscription"}, nil},
		{"another organization's", "/console/subscribers/sub_4?org=acme", 404, "", []string{"There is no such subscription"}, []string{"globex.example.net"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := a.withSession(t, "GET", tc.target, adam, "")
			body := w.Body.String()
			if w.Code != tc.code {
				t.Fatalf("GET %s: got %d, want %d: %s", tc.target, w.Code, tc.code, body)
			}
			if got := numbers(body); got != tc.attempts {
				t.Errorf("attempts shown: got %q, want %q", got, tc.attempts)
			}
			for _, want := range tc.want {
				if !strings.Contains(body, want) {
					t.Errorf("page lacks %q", want)
				}
			}
			for _, never := range tc.never {
				if strings.Contains(body, never) {
					t.Errorf("page shows %q", never)
				}
			}
		})
	}
}

func TestConsoleRemoveSubscriber(t *testing.T) {
	a := subscribersEnv(t)
	adam := a.session(t, "adam")

	// A cross-site form is refused and removes nothing.
	w := a.withSession(t, "POST", "/console/subscribers/sub_1/remove?org=acme", adam, "", "Sec-Fetch-Site", "cross-site")
	if w.Code != http.StatusForbidden {
		t.Errorf("cross-site remove: got %d, want 403", w.Code)
	}
	w = a.withSession(t, "POST", "/console/subscribers/sub_1/remove?org=acme", adam, "")
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/console/subscribers?org=acme" {
		t.Fatalf("remove: got %d to %q, want 303 to the list", w.Code, w.Header().Get("Location"))
	}
	flash := cookieNamed(w, flashCookie)
	if flash == nil {
		t.Fatal("remove: no flash message")
	}
	list := a.withSession(t, "GET", "/console/subscribers?org=acme", adam, "", "Cookie", SessionCookie+"="+adam+"; "+flashCookie+"="+flash.Value)
	if body := list.Body.String(); !strings.Contains(body, "Removed the webhook subscription sub_1; nothing more is sent to it.") ||
		strings.Contains(body, `href="/console/subscribers/sub_1?org=acme"`) {
		t.Errorf("after removing sub_1 the list reads:\n%s", body)
	}
	// Removing it again, or another organization's, is not found.
	for _, target := range []string{"/console/subscribers/sub_1/remove?org=acme", "/console/subscribers/sub_4/remove?org=acme"} {
		if w := a.withSession(t, "POST", target, adam, ""); w.Code != http.StatusNotFound {
			t.Errorf("POST %s: got %d, want 404", target, w.Code)
		}
	}
	if _, ok := a.subs.subs["sub_4"]; !ok {
		t.Error("globex's subscription was removed")
	}

	// The audit log names who removed what, and where it delivered to —
	// its host, not its URL.
	es, err := a.db.AuditEntries(context.Background(), "acme", store.AuditQuery{Action: "/console/subscribers/{id}/remove"})
	if err != nil {
		t.Fatal(err)
	}
	var removed []store.AuditEntry
	for _, e := range es {
		if e.Status == http.StatusSeeOther {
			removed = append(removed, e)
		}
	}
	if len(removed) != 1 {
		t.Fatalf("got %d successful removal entries (of %d), want 1: %+v", len(removed), len(es), es)
	}
	e := removed[0]
	if e.Actor != "adam" || e.Role != "admin" || e.Target != "sub_1" ||
		e.Summary != "removed webhook subscription to hooks.example.net (was pending)" {
		t.Errorf("got audit entry %+v", e)
	}
	for _, e := range es {
		if strings.Contains(e.Summary, "sekrit") || strings.Contains(e.Summary, "/in") {
			t.Errorf("audit summary %q holds the URL", e.Summary)
		}
	}
}

// TestConsoleSubscribe: an admin subscribes a webhook from the console
// (its signing secret shown on the answer, once) and an address; a refused
// URL shows the form again as typed with the reason; each subscription is
// audited with its host, never its URL.
func TestConsoleSubscribe(t *testing.T) {
	a := newAccountsEnv(t, func(d *Deps) {
		d.ComponentNames = func(string) map[string]string { return map[string]string{"api": "API", "storage": "Storage"} }
	})
	adam := a.session(t, "adam")
	form := url.Values{"type": {"webhook"}, "url": {"https://partner.example.net/lookout?key=k-123"}, "components": {"api"}}
	w := a.withSession(t, "POST", "/console/subscribers?org=acme", adam, form.Encode())
	body := w.Body.String()
	if w.Code != http.StatusOK || !strings.Contains(body, "Subscribed: <a href=\"/console/subscribers/sub_1?org=acme\">sub_1</a>") ||
		!strings.Contains(body, `<code class="secret">whsec_x</code>`) {
		t.Fatalf("subscribe a webhook: got %d:\n%s", w.Code, body)
	}
	a.subs.mu.Lock()
	got := a.subs.subs["sub_1"]
	a.subs.mu.Unlock()
	if got.Org != "acme" || got.URL != "https://partner.example.net/lookout?key=k-123" || len(got.Components) != 1 || got.Components[0] != "api" {
		t.Errorf("stored %+v", got)
	}
	// The list shows the secret only on that answer.
	if list := a.withSession(t, "GET", "/console/subscribers?org=acme", adam, ""); strings.Contains(list.Body.String(), "whsec_x") {
		t.Error("the list shows the signing secret again")
	}

	w = a.withSession(t, "POST", "/console/subscribers?org=acme", adam, url.Values{"type": {"email"}, "email": {"sre@example.net"}}.Encode())
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "Subscribed: <a href=\"/console/subscribers/sub_2?org=acme\">sub_2</a>") || strings.Contains(w.Body.String(), `class="secret"`) {
		t.Errorf("subscribe an address: got %d:\n%s", w.Code, w.Body)
	}

	// Refused: an internal URL. The form comes back as typed, with why.
	bad := url.Values{"type": {"webhook"}, "url": {"http://169.254.169.254/latest"}, "components": {"api"}}
	w = a.withSession(t, "POST", "/console/subscribers?org=acme", adam, bad.Encode())
	if body := w.Body.String(); w.Code != http.StatusUnprocessableEntity || !strings.Contains(body, `role="alert">url: `) || strings.Contains(body, "url: url:") ||
		!strings.Contains(body, `value="http://169.254.169.254/latest"`) || !strings.Contains(body, `value="api" checked`) {
		t.Errorf("internal URL: got %d:\n%s", w.Code, body)
	}
	// A responder may not subscribe anyone.
	if w := a.withSession(t, "POST", "/console/subscribers?org=acme", a.session(t, "alice"), form.Encode()); w.Code != http.StatusForbidden {
		t.Errorf("a responder subscribing: got %d, want 403", w.Code)
	}
	es, err := a.db.AuditEntries(context.Background(), "acme", store.AuditQuery{Action: "POST /console/subscribers"})
	if err != nil {
		t.Fatal(err)
	}
	var summaries []string
	for _, e := range es {
		summaries = append(summaries, e.Summary)
		if strings.Contains(e.Summary, "k-123") || strings.Contains(e.Summary, "/lookout") {
			t.Errorf("an audit entry holds the URL: %q", e.Summary)
		}
	}
	if !slices.Contains(summaries, "subscribed webhook to partner.example.net") {
		t.Errorf("audit summaries %q, want the webhook's host", summaries)
	}
}

package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lookout-status/lookout/store"
	"github.com/lookout-status/lookout/web"
)

// TestFailingSubscriberDisabledWithAuditEntry (HOSTILE 13): an endpoint
// that refuses deliveries for good (410) is disabled by the delivery
// worker, and the organization's audit log says so — actor system, action
// subscriber.disabled, the subscription as target, the reason with the
// last error — without the endpoint's URL query or the signing secret.
func TestFailingSubscriberDisabledWithAuditEntry(t *testing.T) {
	if testing.Short() {
		t.Skip("runs serve")
	}
	var hits atomic.Int32
	gone := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Error(w, "this endpoint was removed", http.StatusGone)
	}))
	defer gone.Close()
	cfg := writeFile(t, "lookout.yaml", acmeConfig("", olgaOwner+`    components:
      - {id: api, name: API}
`))
	lk := startInProcess(t, cfg, e2eEnv(map[string]string{"SUBS_OWNER_TOKEN": subsOwnerToken}))
	call := func(method, path, body string, out any) int {
		t.Helper()
		return apiDo(t, method, lk.base+path, subsOwnerToken, body, out)
	}
	const querySecret = "hook-query-secret-1234"
	var sub web.Subscription
	if code := call("POST", "/api/v1/subscribers", fmt.Sprintf(`{"type":"webhook","url":%q}`, gone.URL+"/hook?token="+querySecret), &sub); code != 201 {
		t.Fatalf("subscribe: got %d, want 201", code)
	}

	var list struct{ Subscribers []web.Subscription }
	poll(t, 15*time.Second, "the subscription to be disabled", func() bool {
		call("GET", "/api/v1/subscribers", "", &list)
		return len(list.Subscribers) == 1 && list.Subscribers[0].Status == "disabled"
	}, func() string {
		return fmt.Sprintf("subscriptions %+v, %d requests to the endpoint", list.Subscribers, hits.Load())
	})
	got := list.Subscribers[0]
	if !strings.Contains(got.DisabledReason, "HTTP 410") || got.DisabledAt == nil {
		t.Errorf("disabled subscription: got reason %q at %v, want the 410 and a time", got.DisabledReason, got.DisabledAt)
	}

	var audit struct {
		Entries []struct {
			Actor, Via, Action, Target, Summary string
		}
	}
	if code := call("GET", "/api/v1/audit?action=subscriber.disabled", "", &audit); code != 200 {
		t.Fatalf("audit log: got %d, want 200", code)
	}
	if len(audit.Entries) != 1 {
		t.Fatalf("got %d subscriber.disabled audit entries %+v, want 1", len(audit.Entries), audit.Entries)
	}
	e := audit.Entries[0]
	if e.Actor != "system" || e.Via != "system" || e.Target != sub.ID || !strings.HasPrefix(e.Summary, "disabled: ") ||
		!strings.Contains(e.Summary, "HTTP 410") {
		t.Errorf("got audit entry %+v, want actor system, target %s and the 410 in the summary", e, sub.ID)
	}

	// The console shows it disabled with the reason, and its delivery log
	// the refused attempt; the URL's query stays hidden.
	page := func(path string) string {
		t.Helper()
		req, _ := http.NewRequest("GET", lk.base+path, nil)
		req.Header.Set("Authorization", "Bearer "+subsOwnerToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: got %d, want 200", path, resp.StatusCode)
		}
		return string(b)
	}
	listPage := page("/console/subscribers?org=acme")
	// The given-up attempt is in the delivery log: it was recorded in the
	// transaction that disabled the subscription.
	detail := page("/console/subscribers/" + sub.ID + "?org=acme")
	if !strings.Contains(detail, `data-outcome="gave_up"`) {
		t.Errorf("the delivery log lacks the given-up attempt:\n%s", detail)
	}
	for _, want := range []string{`data-status="disabled">Disabled</span>`, "HTTP 410", gone.URL + "/hook?…"} {
		if !strings.Contains(listPage, want) || !strings.Contains(detail, want) {
			t.Errorf("console pages lack %q:\n%s\n%s", want, listPage, detail)
		}
	}
	for _, secret := range []string{querySecret, sub.Secret} {
		if strings.Contains(listPage, secret) || strings.Contains(detail, secret) {
			t.Errorf("a console page shows %q", secret)
		}
	}
	for _, secret := range []string{querySecret, sub.Secret, "/hook"} {
		if strings.Contains(e.Summary, secret) || strings.Contains(got.DisabledReason, secret) {
			t.Errorf("the audit summary %q or reason %q holds %q", e.Summary, got.DisabledReason, secret)
		}
	}
}

func TestGiveUpRule(t *testing.T) {
	webhook := store.Subscriber{ID: "sub_w", Kind: store.KindWebhook}
	mail := store.Subscriber{ID: "sub_m", Kind: store.KindEmail}
	for _, tc := range []struct {
		name        string
		sub         store.Subscriber
		inARow      int
		reason      string
		wantDisable bool
		wantReason  string
	}{
		{"webhook at its first", webhook, 1, "HTTP 410", true, "HTTP 410"},
		{"webhook reason without the URL's secrets", webhook, 1, `Post "https://h.example/in?token=abc": EOF`, true, `Post "https://h.example": EOF`},
		{"e-mail, one bounce", mail, 1, "550 5.1.1 unknown", false, ""},
		{"e-mail, one short", mail, maxBounces - 1, "550 5.1.1 unknown", false, ""},
		{"e-mail, enough in a row", mail, maxBounces, "550 5.1.1 unknown", true, fmt.Sprintf("%d e-mails in a row given up; last: 550 5.1.1 unknown", maxBounces)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reason, disable := giveUpRule(tc.sub, tc.inARow, tc.reason)
			if disable != tc.wantDisable || reason != tc.wantReason {
				t.Errorf("got %q, %v; want %q, %v", reason, disable, tc.wantReason, tc.wantDisable)
			}
		})
	}
}

func TestWithoutURLSecrets(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"no URL", "HTTP 500", "HTTP 500"},
		{"query", `Post "https://hooks.example.net/in?token=abc": EOF`, `Post "https://hooks.example.net": EOF`},
		{"path and user", "to http://u:p@h.example:8080/services/T0/B0/xyz failed", "to http://h.example:8080 failed"},
		{"two", "a https://x.example/1?k=v b https://y.example/2", "a https://x.example b https://y.example"},
		{"no host", "file:///etc/passwd", "[url]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := withoutURLSecrets(tc.in); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lookout-status/lookout/clock"
	"github.com/lookout-status/lookout/config"
	"github.com/lookout-status/lookout/probes"
	"github.com/lookout-status/lookout/store"
	"github.com/lookout-status/lookout/web"
)

// specVerify checks a Standard Webhooks signature from the spec alone.
func specVerify(secret string, h http.Header, body []byte) bool {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%s.%s", h.Get("webhook-id"), h.Get("webhook-timestamp"), body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, s := range strings.Fields(h.Get("webhook-signature")) {
		if hmac.Equal([]byte(s), []byte(want)) {
			return true
		}
	}
	return false
}

const subsOwnerToken = "subs-owner-token-0123456789abcdef"

// TestSubscriberEndToEnd: an admin subscribes a loopback endpoint (the
// organization allow-lists loopback), which gets the signed verification,
// then, when the API breaks, the incident and the component change; the
// one-click link unsubscribes it, twice without error.
func TestSubscriberEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs serve and probes for a few seconds")
	}
	svc := newBreakable(t)
	rcv := newHookSink(t, hookSinkOptions{accepting: true})
	cfg := writeFile(t, "lookout.yaml", acmeConfig("", "    incidents: {quiet_period: 2s, grouping_window: 0s}\n"+olgaOwner+fmt.Sprintf(`    components:
      - {id: api, name: API}
      - {id: vault, name: Vault, private: true}
    probes:
      - {id: api-status, component: api, interval: 1s, timeout: 800ms, failure_threshold: 2, http: {url: "%s/api"}}
`, svc.srv.URL)))
	lk := startInProcess(t, cfg, e2eEnv(map[string]string{"SUBS_OWNER_TOKEN": subsOwnerToken}))

	api := func(method, path, ctype, body string) (int, []byte) {
		req, _ := http.NewRequest(method, lk.base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+subsOwnerToken)
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	post := func(body string) (int, []byte) {
		return api("POST", "/api/v1/subscribers", "application/json", body)
	}
	if code, body := post(`{"type":"webhook","url":"http://127.0.0.1:1/x","components":["vault"]}`); code != 400 || !strings.Contains(string(body), `"field":"components"`) {
		t.Errorf("private component: got %d %s, want 400 naming components", code, body)
	}
	code, body := post(fmt.Sprintf(`{"type":"webhook","url":%q,"components":["api"]}`, rcv.srv.URL+"/hook"))
	if code != 201 {
		t.Fatalf("subscribe: got %d %s, want 201", code, body)
	}
	var sub web.Subscription
	if err := json.Unmarshal(body, &sub); err != nil || !strings.HasPrefix(sub.Secret, "whsec_") || sub.Status != "pending" {
		t.Fatalf("got %s (%v), want a pending subscription with a whsec_ secret", body, err)
	}

	var verification hookRequest
	poll(t, 10*time.Second, "verification event", func() bool {
		var ok bool
		verification, ok = rcv.find(func(r hookRequest) bool { return r.kind == "verification" })
		return ok
	}, func() string { return fmt.Sprintf("%d requests", rcv.count()) })
	if !specVerify(sub.Secret, verification.header, verification.body) {
		t.Errorf("verification: signature does not verify")
	}
	unsubscribe := verification.payload().Meta.Unsubscribe

	svc.set("/api", true)
	poll(t, 15*time.Second, "incident and component payloads", func() bool {
		_, inc := rcv.find(func(r hookRequest) bool {
			p := r.payload()
			return p.Incident != nil && len(p.Incident.IncidentUpdates) > 0
		})
		_, comp := rcv.find(func(r hookRequest) bool {
			p := r.payload()
			return p.ComponentUpdate != nil && p.ComponentUpdate.ComponentID == "api"
		})
		return inc && comp
	}, func() string { return fmt.Sprintf("%d requests", rcv.count()) })
	for j, r := range rcv.requests() {
		if !specVerify(sub.Secret, r.header, r.body) {
			t.Errorf("delivery %d: signature does not verify: %s", j, r.body)
		}
		if bytes.Contains(r.body, []byte("vault")) {
			t.Errorf("delivery %d mentions the private component: %s", j, r.body)
		}
	}

	// Journey 5: recovery, then the postmortem is published through the
	// API; subscribers get it and the incident page shows it.
	svc.set("/api", false)
	poll(t, 15*time.Second, "the incident to resolve", func() bool {
		_, b := api("GET", "/api/v1/incidents/acme-1", "", "")
		return bytes.Contains(b, []byte(`"status":"resolved"`))
	}, func() string { _, b := api("GET", "/api/v1/incidents/acme-1", "", ""); return string(b) })
	if code, b := api("PUT", "/api/v1/incidents/acme-1/postmortem", "text/markdown", "## Root cause\n\nA *bad* deploy.\n"); code != 200 {
		t.Fatalf("save postmortem: got %d %s", code, b)
	}
	if code, b := api("POST", "/api/v1/incidents/acme-1/postmortem/publish", "", ""); code != 200 ||
		!bytes.Contains(b, []byte(`"notified_subscribers":1`)) {
		t.Fatalf("publish postmortem: got %d %s, want 200 notifying 1 subscriber", code, b)
	}
	poll(t, 10*time.Second, "the postmortem payload", func() bool {
		_, ok := rcv.find(func(r hookRequest) bool {
			p := r.payload()
			return p.Incident != nil && p.Incident.PostmortemBody == "## Root cause\n\nA *bad* deploy.\n"
		})
		return ok
	}, func() string { return fmt.Sprintf("%d requests", rcv.count()) })
	poll(t, 10*time.Second, "the postmortem on the incident page", func() bool {
		resp, err := http.Get(lk.base + "/incidents/acme-1")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return bytes.Contains(b, []byte("<h4>Root cause</h4>")) && bytes.Contains(b, []byte("<em>bad</em>"))
	}, func() string { return "" })

	u, err := url.Parse(unsubscribe)
	if err != nil || !strings.HasPrefix(u.Path, "/unsubscribe/") {
		t.Fatalf("got unsubscribe link %q, want /unsubscribe/…", unsubscribe)
	}
	for n := range 2 {
		resp, err := http.Post(lk.base+u.Path, "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("unsubscribe #%d: got %d, want 200", n+1, resp.StatusCode)
		}
	}
	resp, err := http.Get(lk.base + u.Path[:len(u.Path)-3] + "AAA")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 { // the subscription is gone: answered as done
		t.Errorf("forged link after unsubscribing: got %d, want 200", resp.StatusCode)
	}
}

// Under the default egress policy, loopback, link-local and private
// addresses are refused with a field error naming url.
func TestSubscribeRefusedURLs(t *testing.T) {
	ctx := context.Background()
	fc := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "l.db"), store.Options{Now: fc.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s := &subscribers{db: db, clock: fc, logger: slog.New(slog.DiscardHandler)}
	cfg := &config.Config{Organizations: []config.Organization{{ID: "acme", Components: []config.Component{{ID: "api"}}}}}
	if err := s.setConfig(ctx, cfg, nil); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"http://127.0.0.1:8080/", "http://169.254.169.254/latest", "http://192.168.1.1/", "http://[::1]/", "http://2130706433/"} {
		_, err := s.Subscribe(ctx, web.SubscribeRequest{Org: "acme", Type: "webhook", URL: u})
		var fe *probes.FieldError
		if !errors.As(err, &fe) || fe.Field != "url" {
			t.Errorf("%s: got %v, want a field error naming url", u, err)
		}
	}
	got, err := s.Subscribe(ctx, web.SubscribeRequest{Org: "acme", Type: "webhook", URL: "https://hooks.example.com/x"})
	if err != nil || got.Status != "pending" {
		t.Fatalf("public URL: got %+v, %v; want pending", got, err)
	}
	if _, err := s.Subscribe(ctx, web.SubscribeRequest{Page: "acme", Type: "webhook", URL: "https://hooks.example.com/y", Components: []string{"nope"}}); err == nil {
		t.Errorf("unknown component: got no error")
	}
	// Another organization cannot delete it.
	if found, _ := s.Unsubscribe(ctx, "globex", got.ID); found {
		t.Errorf("another organization deleted the subscription")
	}
	if found, err := s.Unsubscribe(ctx, "acme", got.ID); !found || err != nil {
		t.Errorf("got %v, %v; want deleted", found, err)
	}
}

// TestSubscribeDuringReload: a subscription created while a reload (after
// another subscriber's confirmation) has read the rows but not yet
// published them keeps its notifier; otherwise the worker gives up its
// verification ("no notifier for channel"), as the soak's 1,000
// subscribers showed under load.
func TestSubscribeDuringReload(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "l.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s := &subscribers{db: db, clock: clock.Real{}, logger: slog.New(slog.DiscardHandler)}
	cfg := &config.Config{Organizations: []config.Organization{{ID: "acme", Components: []config.Component{{ID: "api"}}}}}
	if err := s.setConfig(ctx, cfg, nil); err != nil {
		t.Fatal(err)
	}
	subscribed := make(chan web.Subscription, 1)
	s.afterRead = func() {
		s.afterRead = nil
		go func() {
			got, err := s.Subscribe(ctx, web.SubscribeRequest{Org: "acme", Type: "webhook", URL: "https://hooks.example.com/new"})
			if err != nil {
				t.Error(err)
			}
			subscribed <- got
		}()
		// Give the subscription the chance to complete inside the
		// window (it does unless reloads and creations are serialized).
		select {
		case got := <-subscribed:
			subscribed <- got
		case <-time.After(200 * time.Millisecond):
		}
	}
	if err := s.reload(ctx); err != nil {
		t.Fatal(err)
	}
	got := <-subscribed
	s.mu.RLock()
	_, ok := s.notifiers[got.ID]
	s.mu.RUnlock()
	if !ok {
		t.Errorf("subscription %s created during a reload: no notifier after it, want one", got.ID)
	}
}

// TestSubscribeWhileOthersConfirm: subscriptions created from several
// clients at once while earlier ones confirm (each confirmation reloads the
// subscriptions) all get their verification and become active; none is
// given up for want of a notifier (the soak's 1,000 subscribers found that
// race).
func TestSubscribeWhileOthersConfirm(t *testing.T) {
	rcv := newHookSink(t, hookSinkOptions{accepting: true})
	cfg := writeFile(t, "lookout.yaml", `organizations:
  - id: acme
    name: Acme
    egress: {allow: ["127.0.0.0/8"]}
    users: [{id: olga, name: Olga}]
    tokens:
      - {id: admin, user: olga, token: "${SUBS_OWNER_TOKEN}", role: owner}
    components: [{id: api, name: API}]
`)
	lk := startInProcess(t, cfg, e2eEnv(map[string]string{"SUBS_OWNER_TOKEN": subsOwnerToken}))
	const clients, each = 4, 50
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				body := fmt.Sprintf(`{"type":"webhook","url":%q}`, fmt.Sprintf("%s/hook/%d/%d", rcv.srv.URL, c, i))
				req, _ := http.NewRequest("POST", lk.base+"/api/v1/subscribers", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+subsOwnerToken)
				req.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated {
					t.Errorf("subscribe: got %d, want 201", resp.StatusCode)
				}
			}
		}()
	}
	wg.Wait()
	var subs []store.Subscriber
	poll(t, 30*time.Second, "every subscription active", func() bool {
		db, err := store.Open(context.Background(), filepath.Join(lk.data, "lookout.db"), store.Options{Now: clock.Real{}.Now})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if subs, err = db.Subscribers(context.Background(), "acme"); err != nil {
			t.Fatal(err)
		}
		for _, s := range subs {
			if s.Status != store.SubscriberActive {
				return false
			}
		}
		return len(subs) == clients*each
	}, func() string {
		n := map[store.SubscriberStatus]int{}
		for _, s := range subs {
			n[s.Status]++
		}
		return fmt.Sprintf("%d subscriptions by status %v; %d verifications received; log:\n%s", len(subs), n, rcv.count(), lk.stderr)
	})
}

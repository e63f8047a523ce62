package main

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lookout-status/lookout/clock"
	"github.com/lookout-status/lookout/store"
)

const privateConfig = `organizations:
  - id: acme
    name: Acme
    components:
      - {id: api, name: Public API}
      - {id: vault, name: Vault of Secrets, private: true}
    pages:
      - {id: status, name: Acme Status, host: status.acme.test}
      - {id: internal, name: Acme Internal, host: internal.acme.test, private: true}
  - id: globex
    name: Globex
    components: [{id: api, name: API}]
`

// TestPrivateThroughServe: through the real server, a signed-in member of
// acme sees its private component and its private page; a member of
// globex and a visitor see neither, and the private page is 404 to them.
func TestPrivateThroughServe(t *testing.T) {
	cfg := writeFile(t, "lookout.yaml", privateConfig)
	data := t.TempDir()
	getenv := func(k string) string {
		if k == "LOOKOUT_PASSWORD" {
			return "a passphrase of some length"
		}
		return ""
	}
	for _, args := range [][]string{
		{"user", "create", "--data", data, "--org", "acme", "--role", "viewer", "vera"},
		{"user", "create", "--data", data, "--org", "globex", "--role", "owner", "gus"},
	} {
		if out, errOut, err := runCmd(t, getenv, args...); err != nil {
			t.Fatalf("%s: %v\n%s%s", args, err, out, errOut)
		}
	}
	addr := startServeWith(t, serveOptions{load: func() (*configT, error) { return loadConfig(cfg) }, data: data,
		clock: clock.NewFake(time.Now())})
	base := "http://" + addr
	waitFor(t, base+"/api/v2/components.json", 20*time.Second, func(b string) bool { return strings.Contains(b, "Public API") })

	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	session := func(user string) string {
		t.Helper()
		resp, err := client.PostForm(base+"/login", url.Values{"username": {user}, "password": {"a passphrase of some length"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		for _, c := range resp.Cookies() {
			if c.Name == "__Host-lookout_session" {
				return c.Value
			}
		}
		t.Fatalf("sign in %s: got %d and no session", user, resp.StatusCode)
		return ""
	}
	get := func(host, path, sess string) (int, string, http.Header) {
		t.Helper()
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Host = host
		if sess != "" {
			req.Header.Set("Cookie", "__Host-lookout_session="+sess)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	vera, gus := session("vera"), session("gus")
	for _, tc := range []struct {
		name, sess string
		member     bool
	}{
		{"visitor", "", false},
		{"acme member", vera, true},
		{"globex member", gus, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{"/", "/api/v2/summary.json"} {
				code, body, h := get("status.acme.test", path, tc.sess)
				if code != 200 || strings.Contains(body, "Vault of Secrets") != tc.member {
					t.Errorf("public page %s: got %d, private component shown %v, want 200 and %v",
						path, code, strings.Contains(body, "Vault of Secrets"), tc.member)
				}
				if got := h.Get("Cache-Control"); (got == "private, no-store") != tc.member {
					t.Errorf("public page %s: got Cache-Control %q", path, got)
				}
			}
			code, body, _ := get("internal.acme.test", "/", tc.sess)
			if tc.member && (code != 200 || !strings.Contains(body, "Acme Internal") || !strings.Contains(body, "Public API")) {
				t.Errorf("private page: got %d, want 200 with the page", code)
			}
			if !tc.member && (code != 404 || strings.Contains(body, "Acme")) {
				t.Errorf("private page: got %d %q, want 404 naming nothing", code, body)
			}
			// Every page under its path, on any host name: the same
			// rules. Globex has no pages: its page is named after it.
			code, body, _ = get("lookout.example", "/pages/acme/internal/", tc.sess)
			if tc.member != (code == 200 && strings.Contains(body, "Acme Internal") && strings.Contains(body, `href="/pages/acme/internal/history"`)) {
				t.Errorf("private page under its path: got %d, want it shown only to acme's member", code)
			}
			if !tc.member && (code != 404 || strings.Contains(body, "Acme")) {
				t.Errorf("private page under its path: got %d %q, want 404 naming nothing", code, body)
			}
			code, body, _ = get("lookout.example", "/pages/globex/globex/api/v2/summary.json", tc.sess)
			if code != 200 || !strings.Contains(body, `"name": "Globex"`) || strings.Contains(body, "Public API") {
				t.Errorf("globex's page under its path: got %d %.200s", code, body)
			}
			code, body, _ = get("lookout.example", "/pages/acme/status/", tc.sess)
			if code != 200 || !strings.Contains(body, "Acme Status") || strings.Contains(body, "Vault of Secrets") != tc.member {
				t.Errorf("acme's public page under its path: got %d", code)
			}
			if !tc.member && !strings.Contains(body, `href="/login?next=%2Fpages%2Facme%2Fstatus%2F"`) {
				t.Errorf("acme's page under its path: its Sign in link does not lead back to it")
			}
		})
	}
}

// TestSubscribeSamePageIDAcrossOrganizations: acme and globex each have a
// page "status"; a visitor subscribing on globex's page, by host name or
// by path, subscribes to globex, never to the first organization with a
// page of that id.
func TestSubscribeSamePageIDAcrossOrganizations(t *testing.T) {
	cfg := writeFile(t, "lookout.yaml", `organizations:
  - id: acme
    name: Acme
    components: [{id: api, name: API}]
    pages: [{id: status, name: Acme Status, host: status.acme.test}]
  - id: globex
    name: Globex
    components: [{id: api, name: API}]
    pages: [{id: status, name: Globex Status, host: status.globex.test}]
`)
	data := t.TempDir()
	addr := startServeWith(t, serveOptions{load: func() (*configT, error) { return loadConfig(cfg) }, data: data,
		clock: clock.NewFake(time.Now())})
	base := "http://" + addr
	waitFor(t, base+"/pages/globex/status/api/v2/summary.json", 20*time.Second, func(b string) bool { return strings.Contains(b, "Globex Status") })

	subscribe := func(host, path, hook string) {
		t.Helper()
		req, _ := http.NewRequest("POST", base+path, strings.NewReader(`{"type":"webhook","url":"https://hooks.example.com/`+hook+`"}`))
		req.Host = host
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("POST %s (host %s): got %d %s, want 201", path, host, resp.StatusCode, b)
		}
	}
	subscribe("status.globex.test", "/subscribe", "globex-by-host")
	subscribe("lookout.example", "/pages/globex/status/subscribe", "globex-by-path")
	subscribe("lookout.example", "/pages/acme/status/subscribe", "acme-by-path")

	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(data, "lookout.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for org, want := range map[string][]string{
		"globex": {"https://hooks.example.com/globex-by-host", "https://hooks.example.com/globex-by-path"},
		"acme":   {"https://hooks.example.com/acme-by-path"},
	} {
		subs, err := db.Subscribers(ctx, org)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, s := range subs {
			got = append(got, s.URL)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s's subscribers: got %v, want %v", org, got, want)
		}
	}
}

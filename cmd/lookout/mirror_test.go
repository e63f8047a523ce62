package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// A page with a directory mirror: within a few seconds the directory holds
// a complete static copy of what an anonymous visitor sees, with no trace
// of the private component, and the mirror's metrics say so.
func TestMirrorToDirectory(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real probes")
	}
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/down" {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok")
	}))
	defer target.Close()
	dir := filepath.Join(t.TempDir(), "site")
	base := startLookout(t, fmt.Sprintf(`storage: {flush_interval: 100ms, flush_size: 50}
organizations:
  - id: acme
    name: Acme
    egress: {allow: ["127.0.0.0/8"]}
    users: [{id: dana}]
    tokens:
      - {id: ci-bot, user: dana, token: "${LOOKOUT_API_TOKEN}", role: viewer}
    pages:
      - id: status
        name: Acme Status
        accent: "#0b5fff"
        mirror: {to: %q, interval: 1s}
    components:
      - {id: api, name: API, group: Cloud}
      - {id: website, name: Website}
      - {id: vault, name: Vault Internals, private: true}
    probes:
      - {id: api-status, component: api, interval: 1s, timeout: 500ms, http: {url: "%[2]s/"}}
      - {id: website-home, component: website, interval: 1s, timeout: 500ms, http: {url: "%[2]s/"}}
      - {id: vault-status, component: vault, interval: 1s, timeout: 500ms, http: {url: "%[2]s/down"}}
`, dir, target.URL), func(k string) string {
		if k == "LOOKOUT_API_TOKEN" {
			return browserToken
		}
		return ""
	})

	// The private component goes down and an incident opens for it while
	// the public ones are up: the copy published after that still says all
	// is well, like the live page.
	deadline := time.Now().Add(60 * time.Second)
	var started time.Time
	for started.IsZero() {
		var list struct {
			Incidents []struct {
				Components []string
				StartedAt  time.Time `json:"started_at"`
			}
		}
		apiCall(t, http.MethodGet, base+"/api/v1/incidents?status=open", nil, &list)
		if len(list.Incidents) > 0 && strings.Join(list.Incidents[0].Components, ",") == "vault" {
			started = list.Incidents[0].StartedAt
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no incident for the private component within 60s: %+v", list)
		}
		<-time.After(200 * time.Millisecond)
	}
	// The copy published after that: its summary.json was built (page
	// updated_at, in milliseconds) after the incident started.
	for {
		var doc struct {
			Page struct {
				UpdatedAt time.Time `json:"updated_at"`
			}
		}
		b, _ := os.ReadFile(filepath.Join(dir, "api", "v2", "summary.json"))
		if json.Unmarshal(b, &doc) == nil && !doc.Page.UpdatedAt.Before(started) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no copy built after the incident started at %s; summary.json:\n%s", started, b)
		}
		<-time.After(200 * time.Millisecond)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "index.html")); !strings.Contains(string(b), "All Systems Operational") || !strings.Contains(string(b), "Website") {
		t.Errorf("mirrored index.html does not show the public components, all operational:\n%s", b)
	}

	hrefRe := regexp.MustCompile(`(?:href|src)="([^"]*)"`)
	var htmlFiles int
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.Contains(strings.ToLower(rel+string(b)), "vault") {
			t.Errorf("%s: the private component reached the mirror", rel)
		}
		if !strings.HasSuffix(rel, ".html") {
			return nil
		}
		htmlFiles++
		for _, m := range hrefRe.FindAllStringSubmatch(string(b), -1) {
			ref := strings.ReplaceAll(m[1], "&amp;", "&")
			u, err := url.Parse(ref)
			if err != nil || u.Scheme != "" || u.Host != "" || ref == "" || strings.HasPrefix(ref, "#") {
				continue
			}
			if strings.HasPrefix(u.Path, "/") || u.RawQuery != "" {
				t.Errorf("%s: link %q does not stay in the copy", rel, ref)
				continue
			}
			to := path.Join(path.Dir(rel), u.Path)
			if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(to))); err != nil {
				t.Errorf("%s: link %q: %v", rel, ref, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if htmlFiles < 4 {
		t.Errorf("got %d HTML files, want the index, history, and component pages", htmlFiles)
	}
	for _, want := range []string{"api/v2/summary.json", "history.atom", "badge/api.svg", "components/website.html", "theme/0b5fff.css"} {
		if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(want))); err != nil {
			t.Errorf("%s: %v", want, err)
		}
	}

}

func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

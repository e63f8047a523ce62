package web

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// pathPage is the fixture page as organization acme's page "status".
func pathPage() PageData {
	d := basePage()
	d.Org, d.ID = "acme", "status"
	d.URL = "" // no public URL: absolute links fall back to the path
	d.EmailSubscriptions = true
	return d
}

// Every page route answers under /pages/{org}/{page}/ with links that stay
// there; nothing else does; the host's page keeps its own links.
func TestPageUnderItsPath(t *testing.T) {
	_, h := newPageServer(t, pathPage())
	const base = "/pages/acme/status"

	w := get(t, h, base+"/")
	if w.Code != http.StatusOK {
		t.Fatalf("GET %s/: %d %s", base, w.Code, w.Body)
	}
	page := w.Body.String()
	for _, want := range []string{
		`href="` + base + `/incidents/acme-1"`,
		`href="` + base + `/history"`,
		`href="` + base + `/components/api"`,
		`href="` + base + `/api/v2/summary.json"`,
		`href="` + base + `/static/page.`,
		`action="` + base + `/subscribe"`,
		"Slow API responses",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page under its path lacks %s", want)
		}
	}
	// No link of the page leaves the prefix, but for the logo: the
	// configured logo is a URL or a path of the operator's choosing.
	for _, m := range regexp.MustCompile(`(?:href|src|action)="(/[^"]*)"`).FindAllStringSubmatch(page, -1) {
		if !strings.HasPrefix(m[1], base+"/") && m[1] != basePage().Logo {
			t.Errorf("link %q leaves %s/", m[1], base)
		}
	}
	if strings.Contains(page, "Secret DB") {
		t.Error("a private component shows to a visitor under the path")
	}

	// Every link of the page resolves under the prefix.
	for _, m := range regexp.MustCompile(`(?:href|src)="(`+base+`/[^"#]*)"`).FindAllStringSubmatch(page, -1) {
		link := strings.ReplaceAll(m[1], "&amp;", "&")
		if w := get(t, h, link); w.Code != http.StatusOK {
			t.Errorf("GET %s (linked from the page): %d", link, w.Code)
		}
	}

	for _, tc := range []struct{ path, want string }{
		{base + "/incidents/acme-1", "We are looking into slow responses."},
		{base + "/components/api", "Public REST API"},
		{base + "/badge/api.svg", "<svg"},
		{base + "/history.atom", base + "/incidents/acme-1"},
	} {
		w := get(t, h, tc.path)
		if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), tc.want) {
			t.Errorf("GET %s: %d, want 200 with %q; body %.300s", tc.path, w.Code, tc.want, w.Body)
		}
	}

	var sum struct {
		Incidents []struct {
			Shortlink string `json:"shortlink"`
		} `json:"incidents"`
		Components []struct {
			ID string `json:"id"`
		} `json:"components"`
	}
	w = get(t, h, base+"/api/v2/incidents.json")
	if err := json.Unmarshal(w.Body.Bytes(), &sum); err != nil || w.Code != http.StatusOK {
		t.Fatalf("incidents.json: %d %v", w.Code, err)
	}
	if len(sum.Incidents) == 0 || sum.Incidents[0].Shortlink != base+"/incidents/acme-1" {
		t.Errorf("shortlinks under the path: got %+v, want %s/incidents/acme-1", sum.Incidents, base)
	}

	// Not the page's: unknown pages, odd ids, other routes.
	for _, p := range []string{
		"/pages/acme/nope/", "/pages/globex/status/", "/pages/ACME/status/", "/pages/-acme/status/",
		base + "/api/v1/incidents", base + "/healthz", base + "/metrics", base + "/login",
		base + "/console/incidents", base + "/pages/acme/status/", base + "/nothing",
		base + "/..%2f..%2fapi/v1/incidents", base + "/%2e%2e/metrics", base + "/incidents%2f..%2f..%2fhealthz",
	} {
		if w := get(t, h, p); w.Code != http.StatusNotFound {
			t.Errorf("GET %s: got %d, want 404", p, w.Code)
		}
	}
	if w := get(t, h, base); w.Code/100 != 3 || w.Header().Get("Location") != base+"/" {
		t.Errorf("GET %s: got %d to %q, want a redirect to %s/", base, w.Code, w.Header().Get("Location"), base)
	}

	// The host's page, rendered after the path's, keeps root links; the
	// two renderings differ and so do their ETags.
	w = get(t, h, "/")
	if w.Code != http.StatusOK || strings.Contains(w.Body.String(), "/pages/") || !strings.Contains(w.Body.String(), `href="/history"`) {
		t.Errorf("the host's page after the path's: %d, links under /pages/ or no root links", w.Code)
	}
	if a, b := w.Header().Get("ETag"), get(t, h, base+"/").Header().Get("ETag"); a == b {
		t.Errorf("host and path renderings share the ETag %s", a)
	}
}

func TestPrivatePageUnderItsPath(t *testing.T) {
	d := pathPage()
	d.Private = true
	_, h := newPageServer(t, d)
	for _, p := range []string{"/pages/acme/status/", "/pages/acme/status/api/v2/summary.json", "/pages/acme/status/badge/api.svg"} {
		if w := get(t, h, p); w.Code != http.StatusNotFound {
			t.Errorf("GET %s of a private page, signed out: %d, want 404", p, w.Code)
		}
	}
}

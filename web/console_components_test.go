package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lookout-status/lookout/probes"
)

const (
	sessViewer = "sessionviewerAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	sessGlobex = "sessionglobexAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
)

// consoleGet and consolePost act as a browser with a session cookie on the
// same origin; extra cookies (a flash) ride along.
func (e *probeEnv) console(t *testing.T, method, target, session, body string, cookies ...*http.Cookie) *httptest.ResponseRecorder {
	t.Helper()
	hdr := []string{"Sec-Fetch-Site", "same-origin"}
	if body != "" {
		hdr = append(hdr, "Content-Type", "application/x-www-form-urlencoded")
	}
	c := ""
	if session != "" {
		c = SessionCookie + "=" + session
	}
	for _, k := range cookies {
		if c != "" {
			c += "; "
		}
		c += k.Name + "=" + k.Value
	}
	if c != "" {
		hdr = append(hdr, "Cookie", c)
	}
	return e.do(t, method, target, "", body, hdr...)
}

func newComponentsConsoleEnv(t *testing.T) *probeEnv {
	t.Helper()
	e := newProbeEnv(t, nil)
	e.auth.sessions = map[string]Principal{
		sessResponder: {Org: "acme", User: "alice", Role: "responder"},
		sessViewer:    {Org: "acme", User: "victor", Role: "viewer"},
		sessGlobex:    {Org: "globex", User: "gina", Role: "responder"},
	}
	return e
}

func TestConsoleComponentsPage(t *testing.T) {
	e := newComponentsConsoleEnv(t)
	ctx := context.Background()
	// A day of results: latency rising through the day, two failures.
	var rs []probes.Result
	for i := range 24 * 6 {
		at := apiNow.Add(-24*time.Hour + time.Duration(i)*10*time.Minute)
		r := probes.Result{ProbeID: "api-http", Region: "local", Started: at, Outcome: probes.Up, Duration: time.Duration(20+i) * time.Millisecond}
		if i == 100 || i == 101 {
			r.Outcome, r.Error = probes.Down, "connect: connection refused"
		}
		rs = append(rs, r)
	}
	if err := e.db.InsertResults(ctx, "acme", rs); err != nil {
		t.Fatal(err)
	}
	if err := e.db.Rollup(ctx); err != nil {
		t.Fatal(err)
	}

	w := e.console(t, "GET", "/console/components?org=acme", sessViewer, "")
	if w.Code != 200 || w.Header().Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("got %d %q: %s", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
	page := w.Body.String()
	for _, want := range []string{
		`<h2>Cloud</h2>`,
		`data-status="major_outage"><span class="status-icon" aria-hidden="true">✕</span> Major outage</span>`,
		`Storage <span class="status" data-status="operational">`,
		`Web &lt;b&gt;`, // names are escaped
		`<span class="private">private</span>`,
		`<a href="/console/probes/api-http?org=acme">API health</a>`,
		// The hours that started in the last 24 (from 04:00 yesterday).
		`role="img" aria-label="Latency over the last 24 hours: min 25 ms, p95 159 ms, max 163 ms; 139 checks, 2 failed"`,
		`<span class="outcome" data-outcome="up">up</span> 163 ms`,
		`not run yet`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if strings.Contains(page, "Run now") {
		t.Errorf("a viewer sees Run now buttons")
	}
	if strings.Contains(page, probeSecret) {
		t.Errorf("the page shows a probe secret")
	}
	if n := len(regexp.MustCompile(`<polyline class="spark-line" points="[0-9., ]+">`).FindAllString(page, -1)); n != 1 {
		t.Errorf("got %d sparkline polylines, want 1 (the only probe with results)", n)
	}

	w = e.console(t, "GET", "/console/components?org=acme", sessResponder, "")
	if got := strings.Count(w.Body.String(), `>Run now</button>`); got != 3 {
		t.Errorf("a responder sees %d Run now buttons, want 3", got)
	}

	// Signed out: to the sign-in page.
	w = e.console(t, "GET", "/console/components?org=acme", "", "")
	if w.Code != http.StatusSeeOther || !strings.HasPrefix(w.Header().Get("Location"), "/login?next=") {
		t.Errorf("signed out: got %d %q, want 303 to /login", w.Code, w.Header().Get("Location"))
	}
}

// TestConsoleRunNow: the button runs the probe, redirects back (303) and the
// next page shows the result once, from a cookie, never from the URL.
func TestConsoleRunNow(t *testing.T) {
	e := newComponentsConsoleEnv(t)
	w := e.console(t, "POST", "/console/probes/storage-tcp/run?org=acme", sessResponder, "x=1")
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/console/components?org=acme#component-storage" {
		t.Fatalf("got %d to %q, want 303 to the components page", w.Code, w.Header().Get("Location"))
	}
	flash := findCookie(w, flashCookie)
	if flash == nil || !flash.Secure || !flash.HttpOnly || flash.MaxAge <= 0 {
		t.Fatalf("got flash cookie %+v, want a Secure HttpOnly short-lived one", flash)
	}
	w = e.console(t, "GET", "/console/components?org=acme", sessResponder, "", flash)
	if !strings.Contains(w.Body.String(), `<p class="flash" role="status">Ran storage-tcp: up in `) {
		t.Errorf("the page after Run now lacks the result flash")
	}
	if c := findCookie(w, flashCookie); c == nil || c.MaxAge >= 0 {
		t.Errorf("the flash is not cleared once shown: %+v", c)
	}

	// At once again: refused, said on the page; the probe page form returns there.
	w = e.console(t, "POST", "/console/probes/storage-tcp/run?org=acme", sessResponder, "back=probe")
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/console/probes/storage-tcp?org=acme" {
		t.Fatalf("second run: got %d to %q, want 303 to the probe page", w.Code, w.Header().Get("Location"))
	}
	w = e.console(t, "GET", "/console/probes/storage-tcp?org=acme", sessResponder, "", findCookie(w, flashCookie))
	page := w.Body.String()
	if !strings.Contains(page, `<p class="error" role="alert">Could not run storage-tcp: this probe was run moments ago; run it again in 10 s</p>`) {
		t.Errorf("the refusal is not shown on the probe page")
	}
	if !strings.Contains(page, `<td><span class="outcome" data-outcome="up">up</span></td>`) {
		t.Errorf("the probe page lacks the run's result in its table")
	}

	cases := []struct {
		name, session, site, path string
		status                    int
	}{
		{"viewer", sessViewer, "same-origin", "/console/probes/storage-tcp/run?org=acme", http.StatusForbidden},
		{"cross-site form", sessResponder, "cross-site", "/console/probes/storage-tcp/run?org=acme", http.StatusForbidden},
		{"another organization's probe", sessGlobex, "same-origin", "/console/probes/storage-tcp/run?org=globex", http.StatusNotFound},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.clock.Advance(runEvery)
			hits := e.hits.Load()
			w := e.do(t, "POST", c.path, "", "x=1", "Cookie", SessionCookie+"="+c.session,
				"Sec-Fetch-Site", c.site, "Content-Type", "application/x-www-form-urlencoded")
			if w.Code != c.status {
				t.Errorf("got %d, want %d", w.Code, c.status)
			}
			if e.hits.Load() != hits {
				t.Errorf("the target was reached")
			}
		})
	}
}

func TestConsoleProbePagination(t *testing.T) {
	e := newComponentsConsoleEnv(t)
	var rs []probes.Result
	for i := range consoleResultsPage + 5 {
		rs = append(rs, probes.Result{ProbeID: "api-http", Region: "local", Started: apiNow.Add(-time.Duration(i) * time.Minute), Outcome: probes.Up})
	}
	if err := e.db.InsertResults(context.Background(), "acme", rs); err != nil {
		t.Fatal(err)
	}
	w := e.console(t, "GET", "/console/probes/api-http?org=acme", sessViewer, "")
	page := w.Body.String()
	if n := strings.Count(page, `data-outcome="up">up</span></td>`); n != consoleResultsPage {
		t.Errorf("first page: got %d rows, want %d", n, consoleResultsPage)
	}
	m := regexp.MustCompile(`<a href="(/console/probes/api-http\?org=acme&amp;cursor=[0-9.]+)" rel="next">`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no link to older results")
	}
	w = e.console(t, "GET", strings.ReplaceAll(m[1], "&amp;", "&"), sessViewer, "")
	if n := strings.Count(w.Body.String(), `data-outcome="up">up</span></td>`); n != 5 || strings.Contains(w.Body.String(), `rel="next"`) {
		t.Errorf("second page: got %d rows, want 5 and no further link", n)
	}
	for _, path := range []string{"/console/probes/nope?org=acme", "/console/probes/api-http?org=acme&cursor=x"} {
		if w := e.console(t, "GET", path, sessViewer, ""); w.Code != 404 {
			t.Errorf("GET %s: got %d, want 404", path, w.Code)
		}
	}
}

func findCookie(w *httptest.ResponseRecorder, name string) *http.Cookie {
	for _, c := range w.Result().Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

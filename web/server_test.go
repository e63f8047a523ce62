package web

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lookout-status/lookout/clock"
	"github.com/lookout-status/lookout/static"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

var testNow = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)

type ping struct {
	token   string
	failed  bool
	message string
}

type fakeHeartbeats struct {
	mu     sync.Mutex
	tokens map[string]bool
	err    error
	pings  []ping
}

func (f *fakeHeartbeats) Ping(_ context.Context, token string, failed bool, message string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pings = append(f.pings, ping{token, failed, message})
	if f.err != nil {
		return false, f.err
	}
	return f.tokens[token], nil
}

type fakeDemo struct{ calls []string }

var errUnknownPart = fmt.Errorf("unknown demo part: %w", fs.ErrNotExist)

func (f *fakeDemo) act(verb, name string) error {
	if name != "api" && name != "sync" && name != "storage" {
		return errUnknownPart
	}
	f.calls = append(f.calls, verb+" "+name)
	return nil
}
func (f *fakeDemo) Break(name string) error { return f.act("break", name) }
func (f *fakeDemo) Fix(name string) error   { return f.act("fix", name) }

type testServer struct {
	h          http.Handler
	logs       *bytes.Buffer
	heartbeats *fakeHeartbeats
	demo       *fakeDemo
}

func newTestServer(t *testing.T, mod func(*Deps)) *testServer {
	t.Helper()
	ts := &testServer{
		logs:       &bytes.Buffer{},
		heartbeats: &fakeHeartbeats{tokens: map[string]bool{"tok-123_ABC": true}},
	}
	deps := Deps{
		Logger:     slog.New(slog.NewTextHandler(ts.logs, nil)),
		Pages:      &fakePages{data: basePage()},
		Heartbeats: ts.heartbeats,
		Clock:      clock.NewFake(testNow),
	}
	if mod != nil {
		mod(&deps)
	}
	if d, ok := deps.Demo.(*fakeDemo); ok {
		ts.demo = d
	}
	ts.h = NewServer(deps)
	return ts
}

func (ts *testServer) do(t *testing.T, method, target string, body string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	var r *http.Request
	if body == "" {
		r = httptest.NewRequest(method, target, nil)
	} else {
		r = httptest.NewRequest(method, target, strings.NewReader(body))
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	ts.h.ServeHTTP(w, r)
	return w
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test ./web -update): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s: page differs from golden file (run go test ./web -update to accept):\ngot:\n%s", path, got)
	}
}

func TestUnknownPath(t *testing.T) {
	ts := newTestServer(t, nil)
	if w := ts.do(t, "GET", "/nope", ""); w.Code != http.StatusNotFound {
		t.Errorf("got status %d, want 404", w.Code)
	}
}

// Without a page source there is no page: the health, metrics and
// heartbeat routes still answer.
func TestNoPageSource(t *testing.T) {
	ts := newTestServer(t, func(d *Deps) { d.Pages = nil })
	for _, tc := range []struct {
		target string
		code   int
	}{{"/", 404}, {"/api/v2/summary.json", 404}, {"/history.atom", 404}, {"/healthz", 200}} {
		if w := ts.do(t, "GET", tc.target, ""); w.Code != tc.code {
			t.Errorf("GET %s: got status %d, want %d", tc.target, w.Code, tc.code)
		}
	}
}

func TestSecurityHeaders(t *testing.T) {
	ts := newTestServer(t, func(d *Deps) { d.Demo = &fakeDemo{} })
	for _, target := range []string{"/", "/healthz", "/nope", "/heartbeats/unknown", static.Path("page.css")} {
		t.Run(target, func(t *testing.T) {
			w := ts.do(t, "GET", target, "")
			csp := w.Header().Get("Content-Security-Policy")
			for _, want := range []string{"default-src 'self'", "frame-ancestors 'none'", "object-src 'none'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("CSP: got %q, want it to contain %q", csp, want)
				}
			}
			if strings.Contains(csp, "unsafe-inline") {
				t.Errorf("CSP: got %q, want no 'unsafe-inline'", csp)
			}
			if got := w.Header().Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options: got %q, want nosniff", got)
			}
			if got := w.Header().Get("Referrer-Policy"); got == "" {
				t.Errorf("Referrer-Policy: got none, want one")
			}
		})
	}
	t.Run("cross-site POST refused", func(t *testing.T) {
		w := ts.do(t, "POST", "/demo/break/api", "", "Sec-Fetch-Site", "cross-site")
		if w.Code != http.StatusForbidden {
			t.Errorf("got status %d, want 403", w.Code)
		}
		if len(ts.demo.calls) != 0 {
			t.Errorf("got demo calls %v, want none", ts.demo.calls)
		}
	})
}

func TestHealthAndReady(t *testing.T) {
	for _, tc := range []struct {
		name     string
		ready    func(context.Context) error
		target   string
		wantCode int
		wantBody string
	}{
		{"healthz", nil, "/healthz", 200, "ok"},
		{"healthz while not ready", func(context.Context) error { return errors.New("disk full") }, "/healthz", 200, "ok"},
		{"readyz without check", nil, "/readyz", 200, "ok"},
		{"readyz ready", func(context.Context) error { return nil }, "/readyz", 200, "ok"},
		{"readyz not ready", func(context.Context) error { return errors.New("database: disk full") }, "/readyz", 503, "not ready: database: disk full"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, func(d *Deps) { d.Ready = tc.ready })
			w := ts.do(t, "GET", tc.target, "")
			if w.Code != tc.wantCode {
				t.Errorf("got status %d, want %d", w.Code, tc.wantCode)
			}
			if got := strings.TrimSpace(w.Body.String()); got != tc.wantBody {
				t.Errorf("got body %q, want %q", got, tc.wantBody)
			}
		})
	}
}

func TestHeartbeat(t *testing.T) {
	long := strings.Repeat("x", 1023) + "é" + strings.Repeat("y", 100) // é straddles the 1 KiB cap
	for _, tc := range []struct {
		name      string
		method    string
		target    string
		body      string
		fail      error
		wantCode  int
		wantPings []ping
	}{
		{"POST", "POST", "/heartbeats/tok-123_ABC", "", nil, 200, []ping{{"tok-123_ABC", false, ""}}},
		{"POST with message", "POST", "/heartbeats/tok-123_ABC", "backup done: 3 files\n", nil, 200, []ping{{"tok-123_ABC", false, "backup done: 3 files"}}},
		{"GET", "GET", "/heartbeats/tok-123_ABC", "", nil, 200, []ping{{"tok-123_ABC", false, ""}}},
		{"HEAD", "HEAD", "/heartbeats/tok-123_ABC", "", nil, 200, []ping{{"tok-123_ABC", false, ""}}},
		{"failure", "POST", "/heartbeats/tok-123_ABC?status=fail", "exit 1", nil, 200, []ping{{"tok-123_ABC", true, "exit 1"}}},
		{"failure by GET", "GET", "/heartbeats/tok-123_ABC?status=fail", "", nil, 200, []ping{{"tok-123_ABC", true, ""}}},
		{"message capped at 1 KiB", "POST", "/heartbeats/tok-123_ABC", long, nil, 200, []ping{{"tok-123_ABC", false, strings.Repeat("x", 1023)}}},
		{"control characters dropped", "POST", "/heartbeats/tok-123_ABC", "a\x00b\x1b[31mc\xff", nil, 200, []ping{{"tok-123_ABC", false, "ab[31mc\uFFFD"}}},
		{"unknown token", "POST", "/heartbeats/nope", "", nil, 404, []ping{{"nope", false, ""}}},
		{"malformed token not looked up", "POST", "/heartbeats/" + strings.Repeat("a", 200), "", nil, 404, nil},
		{"token with odd characters not looked up", "POST", "/heartbeats/a%27%3B--", "", nil, 404, nil},
		{"body over the request cap", "POST", "/heartbeats/tok-123_ABC", strings.Repeat("z", maxRequestBody+1), nil, 413, nil},
		{"receiver fails", "POST", "/heartbeats/tok-123_ABC", "", errors.New("db locked"), 500, []ping{{"tok-123_ABC", false, ""}}},
		{"PUT refused", "PUT", "/heartbeats/tok-123_ABC", "", nil, 405, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, nil)
			ts.heartbeats.err = tc.fail
			w := ts.do(t, tc.method, tc.target, tc.body)
			if w.Code != tc.wantCode {
				t.Errorf("got status %d, want %d; body %q", w.Code, tc.wantCode, w.Body)
			}
			if len(ts.heartbeats.pings) != len(tc.wantPings) {
				t.Fatalf("got pings %+v, want %+v", ts.heartbeats.pings, tc.wantPings)
			}
			for i := range tc.wantPings {
				if got, want := ts.heartbeats.pings[i], tc.wantPings[i]; got != want {
					t.Errorf("ping %d: got %+v, want %+v", i, got, want)
				}
			}
			if strings.Contains(ts.logs.String(), "tok-123_ABC") {
				t.Errorf("logs hold the heartbeat token:\n%s", ts.logs)
			}
		})
	}
}

func TestHeartbeatWithoutReceiver(t *testing.T) {
	ts := newTestServer(t, func(d *Deps) { d.Heartbeats = nil })
	if w := ts.do(t, "POST", "/heartbeats/tok-123_ABC", ""); w.Code != http.StatusNotFound {
		t.Errorf("got status %d, want 404", w.Code)
	}
}

func TestDemoRoutes(t *testing.T) {
	t.Run("absent outside demo mode", func(t *testing.T) {
		ts := newTestServer(t, nil)
		for _, target := range []string{"/demo/break/api", "/demo/fix/api"} {
			if w := ts.do(t, "POST", target, ""); w.Code != http.StatusNotFound {
				t.Errorf("POST %s: got status %d, want 404", target, w.Code)
			}
		}
	})
	for _, tc := range []struct {
		name      string
		method    string
		target    string
		wantCode  int
		wantCalls []string
	}{
		{"break api", "POST", "/demo/break/api", 200, []string{"break api"}},
		{"fix storage", "POST", "/demo/fix/storage", 200, []string{"fix storage"}},
		{"break sync", "POST", "/demo/break/sync", 200, []string{"break sync"}},
		{"unknown part", "POST", "/demo/break/database", 404, nil},
		{"GET refused", "GET", "/demo/break/api", 405, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, func(d *Deps) { d.Demo = &fakeDemo{} })
			w := ts.do(t, tc.method, tc.target, "")
			if w.Code != tc.wantCode {
				t.Errorf("got status %d, want %d", w.Code, tc.wantCode)
			}
			if fmt.Sprint(ts.demo.calls) != fmt.Sprint(tc.wantCalls) {
				t.Errorf("got calls %v, want %v", ts.demo.calls, tc.wantCalls)
			}
		})
	}
}

func TestStatic(t *testing.T) {
	ts := newTestServer(t, nil)
	p := static.Path("page.css")
	if !strings.HasPrefix(p, "/static/page.") || !strings.HasSuffix(p, ".css") || len(p) != len("/static/page..css")+12 {
		t.Fatalf("got path %q, want /static/page.<12 hex>.css", p)
	}
	w := ts.do(t, "GET", p, "")
	if w.Code != http.StatusOK {
		t.Fatalf("GET %s: got status %d, want 200", p, w.Code)
	}
	for k, want := range map[string]string{
		"Cache-Control": "public, max-age=31536000, immutable",
		"Content-Type":  "text/css; charset=utf-8",
	} {
		if got := w.Header().Get(k); got != want {
			t.Errorf("%s: got %q, want %q", k, got, want)
		}
	}
	if !strings.Contains(w.Body.String(), "prefers-color-scheme: dark") {
		t.Errorf("got a body without the dark mode rule")
	}
	etag := w.Header().Get("ETag")
	if w := ts.do(t, "GET", p, "", "If-None-Match", etag); w.Code != http.StatusNotModified {
		t.Errorf("revalidation: got status %d, want 304", w.Code)
	}
	// Compressed once, served by Accept-Encoding: brotli preferred, the
	// same stylesheet once decoded, an ETag of its own.
	for _, c := range []struct{ accept, enc string }{{"gzip, br", "br"}, {"gzip", "gzip"}, {"", ""}} {
		w := ts.do(t, "GET", p, "", "Accept-Encoding", c.accept)
		if got := w.Header().Get("Content-Encoding"); got != c.enc {
			t.Errorf("Accept-Encoding %q: got Content-Encoding %q, want %q", c.accept, got, c.enc)
		}
		if got := w.Header().Get("Vary"); got != "Accept-Encoding" {
			t.Errorf("Accept-Encoding %q: got Vary %q", c.accept, got)
		}
		body := w.Body.Bytes()
		switch c.enc {
		case "gzip":
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatalf("gzip: %v", err)
			}
			body, _ = io.ReadAll(zr)
		case "br":
			body, _ = io.ReadAll(brotli.NewReader(bytes.NewReader(body)))
		}
		if !strings.Contains(string(body), "prefers-color-scheme: dark") || len(w.Body.Bytes()) == 0 {
			t.Errorf("Accept-Encoding %q: the decoded body is not the stylesheet", c.accept)
		}
		if c.enc != "" && w.Header().Get("ETag") == etag {
			t.Errorf("Accept-Encoding %q: the same ETag as the identity body", c.accept)
		}
	}
	for _, target := range []string{"/static/page.css", "/static/page.000000000000.css", "/static/static.go", "/static/"} {
		if w := ts.do(t, "GET", target, ""); w.Code != http.StatusNotFound {
			t.Errorf("GET %s: got status %d, want 404", target, w.Code)
		}
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "lookout_test_pings_total", Help: "test"})
	reg.MustRegister(c)
	c.Add(3)
	ts := newTestServer(t, func(d *Deps) { d.Gatherer = reg })
	w := ts.do(t, "GET", "/metrics", "")
	if w.Code != http.StatusOK {
		t.Fatalf("got status %d, want 200", w.Code)
	}
	if !strings.Contains(w.Body.String(), "lookout_test_pings_total 3") {
		t.Errorf("got metrics\n%s\nwant lookout_test_pings_total 3", w.Body)
	}
	if strings.Contains(w.Body.String(), "go_goroutines") {
		t.Errorf("got the default registry's metrics, want only the given gatherer's")
	}

	t.Run("no gatherer", func(t *testing.T) {
		ts := newTestServer(t, nil)
		if w := ts.do(t, "GET", "/metrics", ""); w.Code != http.StatusNotFound {
			t.Errorf("got status %d, want 404", w.Code)
		}
	})
}

package main

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lookout-status/lookout/store"
)

// TestReadyzWhileMigrating: the listener is up before the database is
// opened and migrated; meanwhile /healthz answers 200, /readyz 503
// {"status":"migrating"} and the page 503 with a Retry-After. Once the
// migrations are done, /readyz answers 200 and the page is served.
func TestReadyzWhileMigrating(t *testing.T) {
	cfgPath := writeFile(t, "lookout.yaml", probeConfig("http://127.0.0.1:1", 1))
	opening, release := make(chan struct{}), make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	out, errb := &syncBuffer{}, &syncBuffer{}
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, serveOptions{
			load: func() (*configT, error) { return loadConfig(cfgPath) }, data: t.TempDir(),
			listen: "127.0.0.1:0", stdout: out, stderr: errb, ready: ready,
			// Opening the database (which runs the migrations) waits for
			// the test.
			openDB: func(ctx context.Context, path string, opts store.Options) (*store.DB, error) {
				close(opening)
				<-release
				return store.Open(ctx, path, opts)
			},
		})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v\n%s", err, errb)
		}
	}()
	select {
	case <-opening:
	case err := <-done:
		t.Fatalf("serve: %v\n%s", err, errb)
	}
	m := regexp.MustCompile(`"msg":"listening; opening the database","url":"http://([^"]+)"`).FindStringSubmatch(errb.String())
	if m == nil {
		t.Fatalf("the log does not name the listener before the database opens:\n%s", errb)
	}
	base := "http://" + m[1]
	get := func(path string) (int, string, http.Header) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	for _, tc := range []struct {
		path     string
		status   int
		body     string
		retryAft string
	}{
		{"/readyz", http.StatusServiceUnavailable, `{"status":"migrating"}` + "\n", ""},
		{"/healthz", http.StatusOK, "ok", ""},
		{"/", http.StatusServiceUnavailable, "lookout is starting; try again in a few seconds\n", "5"},
		{"/api/v2/summary.json", http.StatusServiceUnavailable, "lookout is starting; try again in a few seconds\n", "5"},
	} {
		code, body, h := get(tc.path)
		if code != tc.status || body != tc.body || h.Get("Retry-After") != tc.retryAft {
			t.Errorf("while migrating, GET %s: got %d %q (Retry-After %q), want %d %q (Retry-After %q)",
				tc.path, code, body, h.Get("Retry-After"), tc.status, tc.body, tc.retryAft)
		}
	}

	close(release)
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		t.Fatalf("not serving 30s after the migrations were released\n%s", errb)
	}
	if code, body, _ := get("/readyz"); code != http.StatusOK || strings.TrimSpace(body) != "ok" {
		t.Errorf("after migrations, /readyz: got %d %q, want 200 \"ok\"", code, body)
	}
	if code, _, _ := get("/"); code != http.StatusOK {
		t.Errorf("after migrations, /: got %d, want 200", code)
	}
}

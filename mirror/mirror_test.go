package mirror

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/lookout-status/lookout/clock"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC)

// site is a page whose copy the test changes: a Source.
type site struct {
	mu      sync.Mutex
	version int
	files   []File
	err     error
}

func (s *site) set(files ...File) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.version++
	s.files = files
}

func (s *site) source(_ context.Context, page string) (Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if page != "acme/status" {
		return Snapshot{}, fmt.Errorf("no page %q", page)
	}
	files, err := slices.Clone(s.files), s.err
	return Snapshot{Version: fmt.Sprint(s.version), Files: func(context.Context) ([]File, error) { return files, err }}, nil
}

func file(path, body string) File {
	ct := "text/html; charset=utf-8"
	cc := "public, max-age=10"
	switch {
	case strings.HasSuffix(path, ".css"):
		ct, cc = "text/css; charset=utf-8", "public, max-age=31536000, immutable"
	case strings.HasSuffix(path, ".json"):
		ct = "application/json"
	case strings.HasSuffix(path, ".svg"):
		ct = "image/svg+xml"
	case strings.HasSuffix(path, ".atom"):
		ct = "application/atom+xml; charset=utf-8"
	}
	return File{Path: path, ContentType: ct, CacheControl: cc, Body: []byte(body)}
}

// v1 is a small copy, in no particular order.
func v1() []File {
	return []File{
		file("index.html", "<h1>All Systems Operational</h1>"),
		file("api/v2/summary.json", `{"status":"none"}`),
		file("incidents/acme-1.html", "<h1>Slow API</h1>"),
		file("badge/api.svg", "<svg>api</svg>"),
		file("badge/api/uptime.svg", "<svg>99%</svg>"),
		file("static/page.0123456789ab.css", "body{}"),
		file("history.atom", "<feed/>"),
		file("api/v2/status.json", `{"status":"none"}`),
	}
}

// recorder is a real target that records what is done to it and fails
// the next failPuts writes.
type recorder struct {
	Target
	mu       sync.Mutex
	ops      []string
	failPuts int
}

func (r *recorder) Put(ctx context.Context, f File) error {
	r.mu.Lock()
	if r.failPuts > 0 {
		r.failPuts--
		r.mu.Unlock()
		return errors.New("disk on fire")
	}
	r.ops = append(r.ops, "put "+f.Path)
	r.mu.Unlock()
	return r.Target.Put(ctx, f)
}

func (r *recorder) Delete(ctx context.Context, path string) error {
	r.mu.Lock()
	r.ops = append(r.ops, "delete "+path)
	r.mu.Unlock()
	return r.Target.Delete(ctx, path)
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ops := r.ops
	r.ops = nil
	return ops
}

type fixture struct {
	site *site
	rec  *recorder
	pub  *Publisher
	clk  *clock.Fake
	reg  *prometheus.Registry
}

func newFixture(t *testing.T, target Target, interval time.Duration) *fixture {
	t.Helper()
	f := &fixture{site: &site{}, rec: &recorder{Target: target}, clk: clock.NewFake(t0), reg: prometheus.NewRegistry()}
	f.pub = New(Options{Source: f.site.source, Clock: f.clk, Metrics: f.reg})
	f.pub.Set([]Mirror{{Page: "acme/status", Target: f.rec, Interval: interval}})
	return f
}

// checkOrder: assets first, subpages before the documents linking them,
// the index and summary.json last but for the manifest.
func checkOrder(t *testing.T, ops []string) {
	t.Helper()
	pos := func(op string) int { return slices.Index(ops, op) }
	n := len(ops)
	if n < 3 || ops[n-1] != "put "+ManifestPath || ops[n-2] != "put index.html" || ops[n-3] != "put api/v2/summary.json" {
		t.Errorf("got %q, want ... summary.json, index.html, then the manifest", ops)
	}
	if a, b := pos("put static/page.0123456789ab.css"), pos("put incidents/acme-1.html"); a < 0 || b < 0 || a > b {
		t.Errorf("got %q, want the stylesheet before the incident page", ops)
	}
	if a, b := pos("put incidents/acme-1.html"), pos("put history.atom"); a < 0 || b < 0 || a > b {
		t.Errorf("got %q, want subpages before feeds and API documents", ops)
	}
}

func TestPublishDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "www", "status")
	f := newFixture(t, &Dir{Path: dir}, time.Second)
	ctx := t.Context()
	f.site.set(v1()...)
	f.pub.publishDue(ctx)
	checkOrder(t, f.rec.take())
	for _, want := range v1() {
		p := filepath.Join(dir, filepath.FromSlash(want.Path))
		b, err := os.ReadFile(p)
		if err != nil || string(b) != string(want.Body) {
			t.Errorf("%s: got %q (%v), want %q", want.Path, b, err, want.Body)
		}
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o644 {
			t.Errorf("%s: got mode %v (%v), want 0644 (a web server reads it)", want.Path, st.Mode(), err)
		}
	}
	if n := testutil.ToFloat64(f.pub.written.WithLabelValues("acme/status")); n != 8 {
		t.Errorf("files written: got %v, want 8", n)
	}

	t.Run("only changes are written, removed files deleted", func(t *testing.T) {
		files := v1()
		files[0] = file("index.html", "<h1>Partial System Outage</h1>")
		files = slices.DeleteFunc(files, func(f File) bool { return strings.HasPrefix(f.Path, "badge/") })
		f.site.set(files...)
		f.clk.Advance(time.Second)
		f.pub.publishDue(ctx)
		want := []string{"put index.html", "delete badge/api.svg", "delete badge/api/uptime.svg", "put " + ManifestPath}
		if got := f.rec.take(); !slices.Equal(got, want) {
			t.Errorf("got %q, want %q", got, want)
		}
		if _, err := os.Stat(filepath.Join(dir, "badge")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("badge/: got %v, want it removed once empty", err)
		}
		if b, _ := os.ReadFile(filepath.Join(dir, "index.html")); string(b) != "<h1>Partial System Outage</h1>" {
			t.Errorf("index.html: got %q", b)
		}
		// No temporary file is left behind.
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if strings.Contains(e.Name(), ".tmp-") {
				t.Errorf("left %s behind", e.Name())
			}
		}
	})

	t.Run("a reload keeps what is known of an unchanged mirror", func(t *testing.T) {
		rec := &recorder{Target: &Dir{Path: dir}}
		f.pub.Set([]Mirror{{Page: "acme/status", Target: rec, Interval: time.Second}})
		f.site.set(f.site.files...) // a new version, the same files
		f.clk.Advance(time.Second)
		f.pub.publishDue(ctx)
		if got, want := rec.take(), []string{"put " + ManifestPath}; !slices.Equal(got, want) {
			t.Errorf("got %q, want %q", got, want)
		}
		f.rec = rec
	})

	t.Run("after a restart, the manifest spares unchanged files", func(t *testing.T) {
		g := newFixture(t, &Dir{Path: dir}, time.Second)
		g.site.set(f.site.files...)
		g.pub.publishDue(ctx)
		if got, want := g.rec.take(), []string{"put " + ManifestPath}; !slices.Equal(got, want) {
			t.Errorf("got %q, want %q", got, want)
		}
	})

	t.Run("a file outside the directory is refused", func(t *testing.T) {
		for _, p := range []string{"../escape.html", "/etc/x", "a/../../b", `a\..\b`} {
			if err := (&Dir{Path: dir}).Put(ctx, file(p, "x")); err == nil {
				t.Errorf("Put(%q): got no error, want one", p)
			}
		}
		if _, err := os.Stat(filepath.Join(dir, "..", "escape.html")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("escape.html written outside the directory")
		}
	})
}

// At most one publish per interval, and the newest state in the end.
func TestDebounce(t *testing.T) {
	f := newFixture(t, &Dir{Path: t.TempDir()}, 30*time.Second)
	ctx := t.Context()
	var published []string
	f.pub.published = func(_, version string, err error) {
		if err != nil {
			t.Errorf("publish %s: %v", version, err)
		}
		published = append(published, version)
	}
	f.site.set(v1()...)
	if next := f.pub.publishDue(ctx); !next.IsZero() {
		t.Errorf("got next %v, want nothing waiting", next)
	}
	for i := range 5 { // five changes within the interval
		f.clk.Advance(time.Second)
		files := v1()
		files[0] = file("index.html", fmt.Sprint("change ", i))
		f.site.set(files...)
		if next := f.pub.publishDue(ctx); !next.Equal(t0.Add(30 * time.Second)) {
			t.Errorf("change %d: got next publish at %v, want %v", i, next, t0.Add(30*time.Second))
		}
	}
	f.clk.Set(t0.Add(30 * time.Second))
	f.pub.publishDue(ctx)
	if want := []string{"1", "6"}; !slices.Equal(published, want) {
		t.Errorf("got versions %q published, want %q", published, want)
	}
	// Nothing changed: nothing published, nothing waiting.
	f.clk.Advance(time.Minute)
	if next := f.pub.publishDue(ctx); !next.IsZero() || len(published) != 2 {
		t.Errorf("got next %v and %d publishes, want none", next, len(published))
	}
}

// A failed publish is counted, logged and retried with backoff; success
// sets the last-success time.
func TestFailureRetried(t *testing.T) {
	dir := t.TempDir()
	f := newFixture(t, &Dir{Path: dir}, 10*time.Second)
	ctx := t.Context()
	f.rec.failPuts = 2
	f.site.set(v1()...)
	if next := f.pub.publishDue(ctx); !next.Equal(t0.Add(10 * time.Second)) {
		t.Errorf("after a failure: got next %v, want %v", next, t0.Add(10*time.Second))
	}
	f.clk.Advance(10 * time.Second)
	if next := f.pub.publishDue(ctx); !next.Equal(t0.Add(30 * time.Second)) {
		t.Errorf("after a second failure: got next %v, want %v (backoff doubled)", next, t0.Add(30*time.Second))
	}
	if got := testutil.ToFloat64(f.pub.failures.WithLabelValues("acme/status")); got != 2 {
		t.Errorf("failures: got %v, want 2", got)
	}
	if got := testutil.ToFloat64(f.pub.lastSuccess.WithLabelValues("acme/status")); got != 0 {
		t.Errorf("last success: got %v, want 0", got)
	}
	f.clk.Advance(20 * time.Second)
	if next := f.pub.publishDue(ctx); !next.IsZero() {
		t.Errorf("after success: got next %v, want nothing waiting", next)
	}
	if got, want := testutil.ToFloat64(f.pub.lastSuccess.WithLabelValues("acme/status")), float64(t0.Add(30*time.Second).Unix()); got != want {
		t.Errorf("last success: got %v, want %v", got, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "index.html")); err != nil {
		t.Errorf("index.html: %v", err)
	}
	// A page that fails to render is retried the same way.
	f.site.mu.Lock()
	f.site.err = errors.New("template on fire")
	f.site.mu.Unlock()
	f.site.set(v1()...)
	f.clk.Advance(time.Minute)
	if next := f.pub.publishDue(ctx); next.IsZero() {
		t.Errorf("render failure: got nothing waiting, want a retry")
	}
}

// The publisher's own goroutine: woken by Notify, waits out the interval
// on the clock, exits with its context.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	f := newFixture(t, &Dir{Path: dir}, 30*time.Second)
	done := make(chan string, 10)
	f.pub.published = func(_, version string, err error) {
		if err != nil {
			t.Errorf("publish %s: %v", version, err)
		}
		done <- version
	}
	f.site.set(v1()...)
	ctx, cancel := context.WithCancel(t.Context())
	stopped := make(chan error)
	go func() { stopped <- f.pub.Run(ctx) }()
	if got := <-done; got != "1" {
		t.Fatalf("got version %s, want 1", got)
	}
	files := v1()
	files[0] = file("index.html", "<h1>Major Service Outage</h1>")
	created := f.clk.TimerCreated()
	f.site.set(files...)
	f.pub.Notify()
	<-created // waiting for the interval
	f.clk.Advance(30 * time.Second)
	if got := <-done; got != "2" {
		t.Fatalf("got version %s, want 2", got)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "index.html")); string(b) != "<h1>Major Service Outage</h1>" {
		t.Errorf("index.html: got %q", b)
	}
	cancel()
	if err := <-stopped; err != nil {
		t.Errorf("Run: %v", err)
	}
}

func TestPublishS3(t *testing.T) {
	backend := s3mem.New()
	if err := backend.CreateBucket("status-site"); err != nil {
		t.Fatal(err)
	}
	// gofakes3 keeps Content-Type but not Cache-Control: what the upload
	// sends is recorded on the wire.
	fake := gofakes3.New(backend).Server()
	var sentMu sync.Mutex
	sent := map[string]string{} // key → Cache-Control of its PUT
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			sentMu.Lock()
			sent[strings.TrimPrefix(r.URL.Path, "/status-site/")] = r.Header.Get("Cache-Control")
			sentMu.Unlock()
		}
		fake.ServeHTTP(w, r)
	}))
	defer srv.Close()
	o := S3Options{Endpoint: srv.URL, Region: "us-east-1", AccessKeyID: "key", SecretAccessKey: "secret"}
	target, err := Open("s3://status-site/acme/", o)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := target.String(), "s3://status-site/acme/"; got != want {
		t.Errorf("target: got %q, want %q", got, want)
	}
	f := newFixture(t, target, time.Second)
	ctx := t.Context()
	f.site.set(v1()...)
	f.pub.publishDue(ctx)
	checkOrder(t, f.rec.take())

	client, err := minio.New(strings.TrimPrefix(srv.URL, "http://"), &minio.Options{
		Creds: credentials.NewStaticV4("key", "secret", ""), Region: "us-east-1", BucketLookup: minio.BucketLookupPath})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range v1() {
		t.Run(want.Path, func(t *testing.T) {
			st, err := client.StatObject(ctx, "status-site", "acme/"+want.Path, minio.StatObjectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if st.ContentType != want.ContentType {
				t.Errorf("Content-Type: got %q, want %q", st.ContentType, want.ContentType)
			}
			sentMu.Lock()
			got := sent["acme/"+want.Path]
			sentMu.Unlock()
			if got != want.CacheControl {
				t.Errorf("Cache-Control: got %q, want %q", got, want.CacheControl)
			}
			b, err := target.Get(ctx, want.Path)
			if err != nil || string(b) != string(want.Body) {
				t.Errorf("body: got %q (%v), want %q", b, err, want.Body)
			}
		})
	}
	// Read through the bucket's own HTTP interface, as a website would.
	resp, err := http.Get(srv.URL + "/status-site/acme/index.html")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Errorf("GET index.html: got %d %q, want 200 text/html", resp.StatusCode, resp.Header.Get("Content-Type"))
	}

	files := slices.DeleteFunc(v1(), func(f File) bool { return f.Path == "incidents/acme-1.html" })
	f.site.set(files...)
	f.clk.Advance(time.Second)
	f.pub.publishDue(ctx)
	if got, want := f.rec.take(), []string{"delete incidents/acme-1.html", "put " + ManifestPath}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if _, err := target.Get(ctx, "incidents/acme-1.html"); !errors.Is(err, ErrNotExist) {
		t.Errorf("removed incident: got %v, want ErrNotExist", err)
	}
	if got := testutil.ToFloat64(f.pub.failures.WithLabelValues("acme/status")); got != 0 {
		t.Errorf("failures: got %v, want 0", got)
	}
}

func TestOpen(t *testing.T) {
	for _, tc := range []struct {
		to, endpoint, want string
	}{
		{"/srv/status", "", "/srv/status"},
		{"s3://bucket", "", "s3://bucket/"},
		{"s3://bucket/a/b/", "http://127.0.0.1:9000", "s3://bucket/a/b/"},
		{"", "", "error"},
		{"gs://bucket", "", "error"},
		{"s3:///x", "", "error"},
		{"s3://bucket", "ftp://x", "error"},
	} {
		t.Run(tc.to, func(t *testing.T) {
			target, err := Open(tc.to, S3Options{Endpoint: tc.endpoint})
			got := "error"
			if err == nil {
				got = target.String()
			}
			if got != tc.want {
				t.Errorf("got %q (%v), want %q", got, err, tc.want)
			}
		})
	}
}

package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lookout-status/lookout/config"
	"github.com/lookout-status/lookout/web"
)

// TestMain lets tests re-execute this test binary as the real lookout
// command (for kill -9 and signal tests) by setting LOOKOUT_AS_MAIN=1.
func TestMain(m *testing.M) {
	if os.Getenv("LOOKOUT_AS_MAIN") == "1" {
		os.Args = append([]string{"lookout"}, strings.Fields(os.Getenv("LOOKOUT_ARGS"))...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// syncBuffer is a goroutine-safe bytes.Buffer for a command's output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func runCmd(t *testing.T, getenv func(string) string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb syncBuffer
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	err = run(context.Background(), append([]string{"lookout"}, args...), getenv, &out, &errb)
	return out.String(), errb.String(), err
}

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestUsage(t *testing.T) {
	_, stderr, err := runCmd(t, nil)
	if exitCode(err) != 2 || !strings.Contains(stderr, "lookout serve") {
		t.Fatalf("no args: exit %d, stderr %q; want 2 and usage", exitCode(err), stderr)
	}
	_, stderr, err = runCmd(t, nil, "frobnicate")
	if exitCode(err) != 2 || !strings.Contains(stderr, `unknown command "frobnicate"`) {
		t.Fatalf("unknown command: exit %d, stderr %q", exitCode(err), stderr)
	}
}

func TestCheckReportsEveryProblemWithLine(t *testing.T) {
	path := writeFile(t, "bad.yaml", `organizations:
  - id: acme
    name: Acme
    components:
      - {id: api, name: API}
    probes:
      - id: api-status
        component: apii
        interval: 5x
        http: {url: "https://api.example.net/"}
`)
	_, _, err := runCmd(t, nil, "check", "--config", path)
	if err == nil {
		t.Fatal("check accepted a bad config")
	}
	for _, want := range []string{
		path + `:8: organizations[0].probes[0].component: unknown component "apii"`,
		path + `:9: organizations[0].probes[0].interval: invalid duration "5x"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q\nmissing %q", err, want)
		}
	}
}

func TestCheckPrintsConfigAndPlan(t *testing.T) {
	cfg := writeFile(t, "ok.yaml", `organizations:
  - id: acme
    name: Acme
    components:
      - {id: api, name: API, group: Cloud}
    probes:
      - id: api-status
        component: api
        interval: 30s
        http: {url: "https://api.example.net/status"}
`)
	out, _, err := runCmd(t, nil, "check", "--config", cfg)
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	for _, want := range []string{": OK", "organization acme", "api-status", "http", "every 30s", "GET https://api.example.net/status"} {
		if !strings.Contains(out, want) {
			t.Errorf("check output lacks %q:\n%s", want, out)
		}
	}
}

func TestProbeRunPrintsPhases(t *testing.T) {
	up := true
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-r.Context().Done()
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if !up {
			w.WriteHeader(503)
			io.WriteString(w, `{"database":"down"}`)
			return
		}
		io.WriteString(w, `{"database":"ok"}`)
	}))
	defer srv.Close()
	cfg := writeFile(t, "probe.yaml", fmt.Sprintf(`organizations:
  - id: acme
    name: Acme
    egress: {allow: ["127.0.0.0/8"]}
    components: [{id: api, name: API}]
    probes:
      - id: api-status
        component: api
        http: {url: "%s/api/v1/status/", expect: {json: [{path: "$.database", equals: ok}]}}
      - id: slow
        component: api
        timeout: 300ms
        http: {url: "%s/slow"}
`, srv.URL, srv.URL))
	out, _, err := runCmd(t, nil, "probe", "run", "api-status", "--config", cfg)
	if err != nil {
		t.Fatalf("probe run: %v\n%s", err, out)
	}
	for _, want := range []string{"probe acme/api-status (http) from local: up", "connect", "first_byte", "total"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	mu.Lock()
	up = false
	mu.Unlock()
	out, _, err = runCmd(t, nil, "probe", "run", "acme/api-status", "--config", cfg)
	if exitCode(err) != 1 || !strings.Contains(out, ": down") || !strings.Contains(out, "503") {
		t.Fatalf("down probe: exit %d, output %q; want exit 1 and the 503", exitCode(err), out)
	}
	// A timeout is told in the configured figure, not the time that was
	// left when the run began.
	out, _, err = runCmd(t, nil, "probe", "run", "slow", "--config", cfg)
	if want := "timeout after 300ms (while waiting for the response)"; exitCode(err) != 1 || !strings.Contains(out, want) {
		t.Fatalf("slow probe: exit %d, output %q; want exit 1 and %q", exitCode(err), out, want)
	}
}

// TestDemoEndToEnd runs the README's first command in-process: the demo
// service, every probe kind against it, the page, and a break/fix cycle.
func TestDemoEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real probes for several seconds")
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	var out, errb syncBuffer
	go func() {
		done <- runDemo(ctx, t.TempDir(), ready, &out, &errb)
	}()
	var base string
	select {
	case addr := <-ready:
		base = "http://" + addr
	case err := <-done:
		t.Fatalf("demo exited: %v\n%s", err, errb.String())
	case <-time.After(30 * time.Second):
		t.Fatal("demo did not start")
	}
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("demo: %v", err)
		}
	}()

	// Within one interval every component shows a real status.
	page := waitFor(t, base+"/", 30*time.Second, func(body string) bool {
		return strings.Count(body, "Operational") >= 3
	})
	for _, name := range []string{"API", "Sync", "Storage"} {
		if !strings.Contains(page, name) {
			t.Errorf("page lacks component %q", name)
		}
	}
	resp, err := http.Post(base+"/demo/break/storage", "", nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("break storage: %v %v", err, resp)
	}
	resp.Body.Close()
	waitFor(t, base+"/", 30*time.Second, func(body string) bool {
		return regexp.MustCompile(`">Storage</a></h3><span class="status st-(major|partial)_outage">`).MatchString(body)
	})
	resp, err = http.Post(base+"/demo/fix/storage", "", nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("fix storage: %v %v", err, resp)
	}
	resp.Body.Close()
	waitFor(t, base+"/", 30*time.Second, func(body string) bool {
		return strings.Count(body, "Operational") >= 3
	})

	// The demo prints a console sign-in; it works, and the console lists
	// the storage incident the break opened.
	m := regexp.MustCompile(`demo console at \S+ — user "demo", password (\S+)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("the demo printed no console sign-in:\n%s", out.String())
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = noRedirect.PostForm(base+"/login", url.Values{"username": {"demo"}, "password": {m[1]}})
	if err != nil {
		t.Fatalf("sign in: %v", err)
	}
	resp.Body.Close()
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == web.SessionCookie {
			session = c
		}
	}
	if resp.StatusCode != http.StatusSeeOther || session == nil {
		t.Fatalf("sign in as demo: got %d with cookies %v, want 303 and a session", resp.StatusCode, resp.Cookies())
	}
	req, _ := http.NewRequest("GET", base+"/console/incidents?status=all", nil)
	req.AddCookie(session) // Go's cookie jar keeps Secure cookies for https only
	resp, err = noRedirect.Do(req)
	if err != nil {
		t.Fatalf("console: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "Storage") {
		t.Errorf("console as demo: got %d, want 200 listing the Storage incident:\n%s", resp.StatusCode, body)
	}
}

func runDemo(ctx context.Context, data string, ready chan<- string, stdout, stderr io.Writer) error {
	return demoMain(ctx, []string{"--listen", "127.0.0.1:0", "--data", data}, func(string) string { return "" }, stdout, stderr, ready)
}

// waitFor polls url until cond holds on the body or the deadline passes.
// Polling a real server on the wall clock is what a visitor does.
func waitFor(t *testing.T, url string, within time.Duration, cond func(string) bool) string {
	t.Helper()
	deadline := time.Now().Add(within)
	var body string
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
			if cond(body) {
				return body
			}
		}
		<-time.After(250 * time.Millisecond)
	}
	t.Fatalf("condition not met on %s within %s; last body:\n%s", url, within, body)
	return ""
}

// readLine returns the first line of r that contains substr.
func readLine(t *testing.T, r io.Reader, substr string) string {
	t.Helper()
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if strings.Contains(sc.Text(), substr) {
			return sc.Text()
		}
	}
	t.Fatalf("no line containing %q", substr)
	return ""
}

type configT = config.Config

func loadConfig(path string) (*config.Config, error) {
	return config.Load(path, func(string) string { return "" })
}

func configLoad(path string, getenv func(string) string) (*config.Config, error) {
	return config.Load(path, getenv)
}

package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lookout-status/lookout/clock"
	"github.com/lookout-status/lookout/store"
)

// child is a `lookout serve` process: this test binary re-executed as the
// real command, so signals and kill -9 hit a real process.
type child struct {
	cmd    *exec.Cmd
	addr   string
	stderr *syncBuffer
}

func startServe(t *testing.T, cfgPath, data string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "LOOKOUT_AS_MAIN=1",
		"LOOKOUT_ARGS=serve --config "+cfgPath+" --data "+data+" --listen 127.0.0.1:0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, stderr: &syncBuffer{}}
	cmd.Stderr = c.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	lines := make(chan string, 1)
	ended := make(chan struct{}) // stdout closed: the process is gone
	go func() {
		defer close(ended)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "serving on") {
				lines <- sc.Text()
			}
		}
		io.Copy(io.Discard, out)
	}()
	select {
	case l := <-lines:
		c.addr = strings.TrimPrefix(strings.TrimSpace(l[strings.Index(l, "http://"):]), "http://")
	case <-ended:
		t.Fatalf("lookout serve exited before serving; stderr:\n%s", c.stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("lookout serve did not start; stderr:\n%s", c.stderr.String())
	}
	return c
}

// kill9 kills the process with SIGKILL and waits for it to be gone.
func (c *child) kill9(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	c.cmd.Wait()
}

func probeConfig(target string, n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "storage: {flush_interval: 100ms, flush_size: 50}\norganizations:\n  - id: acme\n    name: Acme\n    egress: {allow: [\"127.0.0.0/8\"]}\n    components: [{id: api, name: API}]\n    probes:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "      - {id: p%d, component: api, interval: 1s, timeout: 500ms, http: {url: \"%s/?p=%d\"}}\n", i, target, i)
	}
	return b.String()
}

func resultsOf(t *testing.T, data, probe string) int {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(data, "lookout.db"), store.Options{Now: clock.Real{}.Now})
	if err != nil {
		t.Fatalf("open db: %v", err)
	}
	defer db.Close()
	if err := db.IntegrityCheck(context.Background()); err != nil {
		t.Fatalf("integrity check: %v", err)
	}
	rs, err := db.Results(context.Background(), "acme", probe, time.Unix(0, 0), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatalf("results: %v", err)
	}
	return len(rs)
}

// TestKill9WhileWriting kills `lookout serve` with SIGKILL while 50 probes
// write results every second, three times over: each time the database
// opens, passes integrity_check, still holds every result that was
// committed before the kill, and the restarted process keeps writing.
func TestKill9WhileWriting(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer target.Close()
	cfg := writeFile(t, "lookout.yaml", probeConfig(target.URL, 50))
	data := t.TempDir()
	committed := 0
	for round := 0; round < 3; round++ {
		c := startServe(t, cfg, data)
		// Wait until this process has committed results of its own.
		deadline := time.Now().Add(30 * time.Second)
		for {
			n := resultsOf(t, data, "p0")
			if n >= committed+2 {
				committed = n
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: no new results (have %d); stderr:\n%s", round, n, c.stderr.String())
			}
			<-time.After(200 * time.Millisecond)
		}
		c.kill9(t)
		if n := resultsOf(t, data, "p0"); n < committed {
			t.Fatalf("round %d: %d results after kill -9, want at least the %d committed before", round, n, committed)
		}
	}
}

// TestSIGHUPReload: a broken config is refused and the running one stays
// whole; a good one is applied.
func TestSIGHUPReload(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer target.Close()
	good := probeConfig(target.URL, 1)
	cfg := writeFile(t, "lookout.yaml", good)
	c := startServe(t, cfg, t.TempDir())
	base := "http://" + c.addr
	waitFor(t, base+"/", 20*time.Second, func(b string) bool { return strings.Contains(b, ">API</a></h3>") })

	if err := os.WriteFile(cfg, []byte(good+"      - {id: p9, component: nope, interval: 5x, http: {url: \"x\"}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(c.stderr.String(), "reload refused") {
		if time.Now().After(deadline) {
			t.Fatalf("no refusal logged; stderr:\n%s", c.stderr.String())
		}
		<-time.After(100 * time.Millisecond)
	}
	if !strings.Contains(c.stderr.String(), `unknown component \"nope\"`) {
		t.Errorf("refusal does not name the problem; stderr:\n%s", c.stderr.String())
	}
	waitFor(t, base+"/", 5*time.Second, func(b string) bool { return strings.Contains(b, ">API</a></h3>") })

	next := strings.Replace(good, "components: [{id: api, name: API}]", "components: [{id: api, name: API}, {id: sync, name: Sync}]", 1) +
		fmt.Sprintf("      - {id: s1, component: sync, interval: 1s, timeout: 500ms, http: {url: \"%s/sync\"}}\n", target.URL)
	if err := os.WriteFile(cfg, []byte(next), 0o600); err != nil {
		t.Fatal(err)
	}
	c.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, base+"/", 20*time.Second, func(b string) bool {
		return strings.Contains(b, ">Sync</a></h3>") && strings.Contains(b, ">API</a></h3>")
	})

	// SIGTERM: a clean exit.
	c.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, c.stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no exit within 20s of SIGTERM")
	}
}

// TestMetricsPassPromtool serves real metrics after probes ran and checks
// them with promtool, as Prometheus operators would.
func TestMetricsPassPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool not installed (Debian package prometheus); .ci/setup installs it")
		}
		t.Skip("promtool not installed")
	}
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer target.Close()
	cfg := writeFile(t, "lookout.yaml", probeConfig(target.URL, 3))
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	var out, errb syncBuffer
	go func() {
		done <- serve(ctx, serveOptions{
			load:   func() (*configT, error) { return loadConfig(cfg) },
			data:   t.TempDir(),
			listen: "127.0.0.1:0",
			stdout: &out, stderr: &errb, ready: ready,
		})
	}()
	addr := <-ready
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	body := waitFor(t, "http://"+addr+"/metrics", 20*time.Second, func(b string) bool {
		return regexp.MustCompile(`lookout_probe_results_total\{[^}]*outcome="up",probe="p2"[^}]*\} [1-9]`).MatchString(b)
	})
	for _, want := range []string{"lookout_probe_duration_seconds_bucket", "lookout_scheduler_lag_seconds", "lookout_db_write_batch_size", "go_goroutines", "process_resident_memory_bytes"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, msg)
	}
}

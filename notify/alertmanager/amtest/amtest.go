// Package amtest runs a real Prometheus Alertmanager for tests, and a
// webhook Receiver it delivers to.
//
//	rcv := amtest.NewReceiver(t)
//	am := amtest.Start(t, rcv.URL())
//	... post alerts to am.URL() ...
//	got := rcv.WaitFor(t, 10*time.Second, "firing", map[string]string{"alertname": "X"})
//
// Start needs the Alertmanager binary (prometheus-alertmanager or
// alertmanager) on PATH. Without it the test is skipped, unless the
// environment has CI=true, where it fails: CI must run these tests.
package amtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"
	"github.com/prometheus/alertmanager/api/v2/client"
	"github.com/prometheus/alertmanager/api/v2/client/alert"
	"github.com/prometheus/alertmanager/api/v2/models"

	"github.com/lookout-status/lookout/notify/alertmanager"
)

// Timing of the generated configuration: fast enough for tests, with no
// repeat notification during one.
const (
	GroupWait      = 100 * time.Millisecond
	GroupInterval  = 200 * time.Millisecond
	RepeatInterval = time.Hour
)

// startTimeout bounds how long Start waits for /-/ready.
const startTimeout = 20 * time.Second

// Alertmanager is a running Alertmanager process.
type Alertmanager struct {
	url    string
	cmd    *exec.Cmd
	done   chan struct{} // closed when the process has exited
	output *syncBuffer
}

// Binary returns the path of the Alertmanager binary, or "" if none is on
// PATH.
func Binary() string {
	for _, name := range []string{"prometheus-alertmanager", "alertmanager"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// Require skips the test when no Alertmanager binary is installed, or fails
// it when CI=true. It returns the binary's path.
func Require(t testing.TB) string {
	t.Helper()
	bin := Binary()
	if bin != "" {
		return bin
	}
	const msg = "no Alertmanager binary on PATH (prometheus-alertmanager or alertmanager); run .ci/setup or apt-get install prometheus-alertmanager"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// Config returns the alertmanager.yml Start writes: every alert, grouped by
// all its labels (one notification per alert), to a webhook at receiverURL,
// resolutions included.
func Config(receiverURL string) string {
	return fmt.Sprintf(`route:
  receiver: lookout
  group_by: ['...']
  group_wait: %s
  group_interval: %s
  repeat_interval: %s
receivers:
  - name: lookout
    webhook_configs:
      - url: %q
        send_resolved: true
`, model(GroupWait), model(GroupInterval), model(RepeatInterval), receiverURL)
}

// model formats d as Alertmanager's duration syntax (no fractions).
func model(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
}

// Start runs Alertmanager on a free 127.0.0.1 port with Config(receiverURL),
// storage in t.TempDir() and clustering off, waits until it is ready, and
// stops it when the test ends. Its log is printed if the test fails.
func Start(t testing.TB, receiverURL string) *Alertmanager {
	t.Helper()
	bin := Require(t)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(cfgPath, []byte(Config(receiverURL)), 0o600); err != nil {
		t.Fatalf("write alertmanager config: %v", err)
	}
	var lastErr error
	// The port is free when picked but another process may take it before
	// Alertmanager binds it: try a few.
	for range 3 {
		am, err := start(t, bin, cfgPath, dir)
		if err == nil {
			return am
		}
		lastErr = err
	}
	t.Fatalf("start alertmanager: %v", lastErr)
	return nil
}

func start(t testing.TB, bin, cfgPath, dir string) (*Alertmanager, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	storage, err := os.MkdirTemp(dir, "data-")
	if err != nil {
		return nil, fmt.Errorf("storage dir: %w", err)
	}
	am := &Alertmanager{url: "http://" + addr, done: make(chan struct{}), output: &syncBuffer{}}
	am.cmd = exec.Command(bin,
		"--config.file="+cfgPath,
		"--storage.path="+storage,
		"--web.listen-address="+addr,
		"--cluster.listen-address=",
		"--log.level=debug",
	)
	am.cmd.Stdout = am.output
	am.cmd.Stderr = am.output
	if err := am.cmd.Start(); err != nil {
		return nil, fmt.Errorf("run %s: %w", bin, err)
	}
	go func() {
		_ = am.cmd.Wait() // the exit status is in the log on failure
		close(am.done)
	}()
	if err := am.waitReady(); err != nil {
		am.stop()
		return nil, fmt.Errorf("%w\nalertmanager log:\n%s", err, am.output.String())
	}
	t.Cleanup(func() {
		am.stop()
		if t.Failed() {
			t.Logf("alertmanager log:\n%s", am.output.String())
		}
	})
	return am, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitReady polls /-/ready until it answers 200, the process exits or
// startTimeout passes. Polling is the only way to see another process
// become ready.
func (am *Alertmanager) waitReady() error {
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.NewTimer(startTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		res, err := c.Get(am.url + "/-/ready")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-am.done:
			return errors.New("alertmanager exited before it was ready")
		case <-deadline.C:
			return fmt.Errorf("alertmanager not ready after %s", startTimeout)
		case <-tick.C:
		}
	}
}

// stop ends the process (SIGTERM, then SIGKILL after 5s) and waits for it.
func (am *Alertmanager) stop() {
	_ = am.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	select {
	case <-am.done:
	case <-t.C:
		_ = am.cmd.Process.Kill()
		<-am.done
	}
}

// URL is Alertmanager's base URL, http://127.0.0.1:PORT.
func (am *Alertmanager) URL() string { return am.url }

// Log returns what Alertmanager has logged so far.
func (am *Alertmanager) Log() string { return am.output.String() }

// Client returns an API v2 client for this Alertmanager. Close idle
// connections of the http.Client it returns when done (goleak).
func (am *Alertmanager) Client() (*client.AlertmanagerAPI, *http.Client) {
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
	host := strings.TrimPrefix(am.url, "http://")
	return client.New(httptransport.NewWithClient(host, client.DefaultBasePath, []string{"http"}, hc), strfmt.Default), hc
}

// Alerts returns the active alerts (GET /api/v2/alerts), optionally
// filtered by matchers such as `alertname="LookoutWatchdog"`.
func (am *Alertmanager) Alerts(ctx context.Context, matchers ...string) (models.GettableAlerts, error) {
	api, hc := am.Client()
	defer hc.CloseIdleConnections()
	active := true
	res, err := api.Alert.GetAlerts(alert.NewGetAlertsParamsWithContext(ctx).WithActive(&active).WithFilter(matchers))
	if err != nil {
		return nil, fmt.Errorf("get alerts: %w", err)
	}
	return res.Payload, nil
}

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

// Receiver is a webhook endpoint that records Alertmanager's deliveries.
type Receiver struct {
	srv     *httptest.Server
	mu      sync.Mutex
	msgs    []*alertmanager.WebhookMessage
	errs    []error
	changed chan struct{} // closed and replaced on every delivery
}

// NewReceiver starts a Receiver on 127.0.0.1, closed when the test ends.
// Deliveries are parsed with alertmanager.ParseWebhook; a bad one is
// answered 400 and reported by WaitFor.
func NewReceiver(t testing.TB) *Receiver {
	r := &Receiver{changed: make(chan struct{})}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serveHTTP))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *Receiver) serveHTTP(w http.ResponseWriter, req *http.Request) {
	m, err := alertmanager.ParseWebhook(req.Body, 0)
	r.mu.Lock()
	if err != nil {
		r.errs = append(r.errs, err)
	} else {
		r.msgs = append(r.msgs, m)
	}
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
	}
}

// URL is where Alertmanager should post.
func (r *Receiver) URL() string { return r.srv.URL + "/alertmanager" }

// Messages returns the deliveries so far.
func (r *Receiver) Messages() []*alertmanager.WebhookMessage {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.msgs)
}

// Find returns the first alert delivered so far with status status ("firing"
// or "resolved") whose labels include labels.
func (r *Receiver) Find(status string, labels map[string]string) (alertmanager.Alert, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.find(status, labels)
}

func (r *Receiver) find(status string, labels map[string]string) (alertmanager.Alert, bool) {
	for _, m := range r.msgs {
		for _, a := range m.Alerts {
			if a.Status == status && hasLabels(a.Labels, labels) {
				return a, true
			}
		}
	}
	return alertmanager.Alert{}, false
}

func hasLabels(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// WaitFor waits up to timeout for an alert with status status whose labels
// include labels, and returns it; it fails the test if none arrives.
func (r *Receiver) WaitFor(t testing.TB, timeout time.Duration, status string, labels map[string]string) alertmanager.Alert {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		a, ok := r.find(status, labels)
		changed := r.changed
		r.mu.Unlock()
		if ok {
			return a
		}
		select {
		case <-changed:
		case <-deadline.C:
			r.mu.Lock()
			defer r.mu.Unlock()
			var got []string
			for _, m := range r.msgs {
				for _, a := range m.Alerts {
					got = append(got, fmt.Sprintf("%s %v", a.Status, a.Labels))
				}
			}
			t.Fatalf("no %s alert with labels %v within %s; got %d deliveries: %v; rejected: %v",
				status, labels, timeout, len(r.msgs), got, r.errs)
			return alertmanager.Alert{}
		}
	}
}

package main

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lookout-status/lookout/clock"
	"github.com/lookout-status/lookout/store"
)

// TestHeartbeatPingThroughServe: a job's ping reaches the database through
// the real server; an unknown token is a 404 and records nothing.
func TestHeartbeatPingThroughServe(t *testing.T) {
	cfg := writeFile(t, "lookout.yaml", `organizations:
  - id: acme
    name: Acme
    components: [{id: backups, name: Backups}]
    probes:
      - {id: nightly, component: backups, interval: 1m, heartbeat: {token: "${HB_TOKEN}", period: 24h, grace: 1h}}
`)
	data := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	var out, errb syncBuffer
	env := func(k string) string {
		if k == "HB_TOKEN" {
			return "nightly-backup-token-0123456789"
		}
		return ""
	}
	go func() {
		done <- serve(ctx, serveOptions{
			load: func() (*configT, error) { return configLoad(cfg, env) },
			data: data, listen: "127.0.0.1:0", stdout: &out, stderr: &errb, ready: ready,
		})
	}()
	base := "http://" + <-ready
	for _, tc := range []struct {
		token string
		want  int
	}{{"nightly-backup-token-0123456789", 200}, {"someone-elses-token-0123456789", 404}} {
		resp, err := http.Post(base+"/heartbeats/"+tc.token+"?status=fail", "text/plain", strings.NewReader("disk full"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("ping %s: got %d, want %d", tc.token[:8], resp.StatusCode, tc.want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	db, err := store.Open(context.Background(), filepath.Join(data, "lookout.db"), store.Options{Now: clock.Real{}.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	p, ok, err := db.LastPing(context.Background(), "acme", "nightly")
	if err != nil || !ok || !p.Failed || p.Message != "disk full" {
		t.Fatalf("stored ping: %+v ok=%v err=%v; want the failed ping with its message", p, ok, err)
	}
}

package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lookout-status/lookout/clock"
	"github.com/lookout-status/lookout/notify/webhook"
	"github.com/lookout-status/lookout/store"
)

// apiPost POSTs a JSON body to the incident API; the answer's status and
// body.
func apiPost(base, path, token, idemKey, body string) (int, string, error) {
	req, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// snapshot is what the database holds, read with the process stopped.
type snapshot struct {
	incidents  []store.IncidentRecord
	timelines  map[string]string // incident -> every entry's kind and body
	deliveries map[string][]store.DeliveryRecord
}

func readSnapshot(t *testing.T, data string) snapshot {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(data, "lookout.db"), store.Options{Now: clock.Real{}.Now})
	if err != nil {
		t.Fatalf("open db: %v", err)
	}
	defer db.Close()
	if err := db.IntegrityCheck(ctx); err != nil {
		t.Fatalf("integrity check: %v", err)
	}
	s := snapshot{timelines: map[string]string{}, deliveries: map[string][]store.DeliveryRecord{}}
	if s.incidents, err = db.Incidents(ctx, "acme", store.IncidentFilter{Status: store.AllIncidents}); err != nil {
		t.Fatalf("incidents: %v", err)
	}
	for _, inc := range s.incidents {
		tl, err := db.Timeline(ctx, "acme", inc.ID)
		if err != nil {
			t.Fatalf("timeline: %v", err)
		}
		var b strings.Builder
		for _, e := range tl {
			fmt.Fprintf(&b, "%s by %s:%s\n", e.Kind, e.Actor, e.Body)
		}
		s.timelines[inc.ID] = b.String()
		if s.deliveries[inc.ID], err = db.Deliveries(ctx, "acme", inc.ID); err != nil {
			t.Fatalf("deliveries: %v", err)
		}
	}
	return s
}

func faultConfig(service, hook string) string {
	return fmt.Sprintf(`storage: {flush_interval: 100ms, flush_size: 50}
organizations:
  - id: acme
    name: Acme
    egress: {allow: ["127.0.0.0/8"]}
    incidents: {quiet_period: 1s, grouping_window: 0s}
    users: [{id: dana, name: Dana}]
    tokens:
      - {id: cli, user: dana, token: "${FAULT_API_TOKEN}", role: responder}
    notifiers:
      - id: hook
        webhook: {url: "%s/hook", secret: "${FAULT_WEBHOOK_SECRET}", timeout: 1s}
    components:
      - {id: api, name: API}
      - {id: sync, name: Sync}
    probes:
      - {id: api-status, component: api, interval: 1s, timeout: 800ms, failure_threshold: 1, http: {url: "%s/api"}}
      - {id: sync-status, component: sync, interval: 1s, timeout: 800ms, failure_threshold: 1, http: {url: "%s/sync"}}
`, hook, service, service)
}

// TestKill9FaultLoop kills `lookout serve` with SIGKILL four times while
// probes run, components break and recover, a responder acknowledges
// incidents and posts updates through /api/v1, and webhook deliveries are
// pending against a receiver that is down every other round. After each
// kill the database passes integrity_check and holds every update the API
// acknowledged. At the end, with the receiver up, every delivery in the
// outbox is made, each under one webhook-id with one body, and no
// notification went out twice under different keys.
func TestKill9FaultLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 0))
	t.Logf("seed %d", seed)
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	t.Setenv("FAULT_WEBHOOK_SECRET", secret)
	t.Setenv("FAULT_API_TOKEN", e2eAPIToken)
	svc := newBreakable(t)
	hook := newHookSink(t, hookSinkOptions{secret: secret, accept: http.StatusNoContent, refuse: http.StatusServiceUnavailable})
	cfg := writeFile(t, "lookout.yaml", faultConfig(svc.srv.URL, hook.srv.URL))
	data := t.TempDir()
	began := time.Now()

	type update struct{ incident, body string }
	var acked []update       // updates the API answered 200 for
	acks := map[string]int{} // incident -> acknowledgements the API answered 200 for
	pendingAtKill := 0       // deliveries refused before a kill and still pending after it
	// Which component is broken in each round: each was working the round
	// before, so every round opens (or retriggers) an incident, and the
	// other one recovers and resolves across the kills.
	plan := [][]string{{"/api"}, {"/sync"}, {"/api"}, {"/sync"}}
	for round, broken := range plan {
		hook.setAccept(round%2 == 1)
		for _, p := range []string{"/api", "/sync"} {
			svc.set(p, slices.Contains(broken, p))
		}
		c := startServe(t, cfg, data)
		base := "http://" + c.addr
		for _, p := range broken {
			comp := strings.TrimPrefix(p, "/")
			var inc e2eIncident
			body := fmt.Sprintf("round %d: looking at %s", round, comp)
			for attempt := 0; ; attempt++ {
				// A new incident, or the one of an earlier round that had
				// not resolved yet when lookout was killed.
				poll(t, 15*time.Second, fmt.Sprintf("round %d: an open incident for %s", round, comp), func() bool {
					var ok bool
					inc, ok = openIncidentOf(t, base, comp)
					return ok
				}, func() string { return fmt.Sprintf("%+v\n%s", inc, c.stderr) })
				code, answer, err := apiPost(base, "/api/v1/incidents/"+inc.ID+"/updates", e2eAPIToken, fmt.Sprintf("r%d-%s-%d", round, comp, attempt),
					fmt.Sprintf(`{"status": "identified", "body": %q}`, body))
				// The incident of an earlier round may resolve between the
				// look and the update (its component had recovered before
				// the kill): the API refuses with 409 and records nothing,
				// and the component's new failure opens another.
				if err == nil && code == http.StatusConflict && strings.Contains(answer, `"resolved"`) && attempt < 5 {
					continue
				}
				if err != nil || code != http.StatusOK {
					t.Fatalf("round %d: update %s: got %d %v %s, want 200", round, inc.ID, code, err, answer)
				}
				break
			}
			acked = append(acked, update{inc.ID, body})
			code, answer, err := apiPost(base, "/api/v1/incidents/"+inc.ID+"/acknowledge", e2eAPIToken, "", "")
			if err == nil && code == http.StatusConflict && strings.Contains(answer, `"resolved"`) {
				continue // resolved since the update: nothing to acknowledge
			}
			if err != nil || code != http.StatusOK {
				t.Fatalf("round %d: acknowledge %s: got %d %v %s, want 200", round, inc.ID, code, err, answer)
			}
			if strings.Contains(answer, `"changed":true`) { // not when acknowledged in an earlier round
				acks[inc.ID]++
			}
		}
		// Let work go on for a moment (probes, the outbox retrying,
		// incidents resolving), then kill at an arbitrary point of it.
		<-time.After(time.Duration(200+rng.IntN(800)) * time.Millisecond)
		c.kill9(t)

		snap := readSnapshot(t, data)
		for _, ds := range snap.deliveries {
			for _, d := range ds {
				if d.Status == store.DeliveryPending && d.Attempts > 0 {
					pendingAtKill++
				}
			}
		}
		for _, u := range acked {
			if !strings.Contains(snap.timelines[u.incident], "update by dana:"+u.body+"\n") {
				t.Errorf("after kill %d: the acknowledged update %q of %s is lost; timeline:\n%s\nlog of the killed process:\n%s", round, u.body, u.incident, snap.timelines[u.incident], c.stderr)
			}
		}
		// An acknowledgement stays in the timeline even when a later
		// failure retriggers the incident.
		for id, n := range acks {
			if got := strings.Count(snap.timelines[id], "acknowledged by dana:"); got < n {
				t.Errorf("after kill %d: incident %s has %d acknowledgements by dana in its timeline, want the %d the API answered; timeline:\n%s", round, id, got, n, snap.timelines[id])
			}
		}
	}

	// The receiver recovers and nothing is broken: one last start delivers
	// everything pending and resolves what is open.
	hook.setAccept(true)
	svc.set("/api", false)
	svc.set("/sync", false)
	c := startServe(t, cfg, data)
	var snap snapshot
	poll(t, 30*time.Second, "every incident resolved and every delivery made", func() bool {
		snap = readSnapshot(t, data)
		for _, inc := range snap.incidents {
			if inc.EndedAt.IsZero() {
				return false
			}
			for _, d := range snap.deliveries[inc.ID] {
				if d.Status != store.DeliveryDelivered {
					return false
				}
			}
		}
		return len(snap.incidents) > 0
	}, func() string {
		return fmt.Sprintf("incidents %+v\ndeliveries %+v\nlog:\n%s", snap.incidents, snap.deliveries, c.stderr)
	})
	c.cmd.Process.Signal(syscall.SIGTERM)
	c.cmd.Wait()

	reqs := hook.requests()
	bodies := map[string]map[string]bool{} // webhook-id -> body hashes
	delivered := map[string]bool{}
	for _, r := range reqs {
		if bodies[r.id] == nil {
			bodies[r.id] = map[string]bool{}
		}
		bodies[r.id][r.bodyHash()] = true
		if r.answered == http.StatusNoContent {
			delivered[r.id] = true
		}
	}
	for id, hs := range bodies {
		if len(hs) != 1 {
			t.Errorf("webhook-id %s was sent with %d different bodies", id, len(hs))
		}
	}
	rows := 0
	perEvent := map[string]int{}
	for inc, ds := range snap.deliveries {
		for _, d := range ds {
			rows++ // the webhook is the only notifier
			if !delivered[webhook.MessageID(d.Key)] {
				t.Errorf("outbox row %s (%s of %s) is delivered in the database but the receiver never accepted webhook-id %s", d.Key, d.Event, inc, webhook.MessageID(d.Key))
			}
			if d.Event != "updated" {
				perEvent[inc+" "+string(d.Event)]++
			}
		}
	}
	for k, n := range perEvent {
		if n != 1 {
			t.Errorf("%s: %d outbox rows, want 1 (the same notification under different keys)", k, n)
		}
	}
	if len(delivered) != rows {
		t.Errorf("the receiver accepted %d distinct webhook-ids, the outbox holds %d rows: a notification outside the outbox, or one sent under two keys", len(delivered), rows)
	}
	retried := 0
	for _, r := range reqs {
		if r.answered != http.StatusNoContent {
			retried++
		}
	}
	t.Logf("%d incidents, %d outbox rows, %d requests (%d refused while the receiver was down), %d deliveries pending at kills, %s in all",
		len(snap.incidents), rows, len(reqs), retried, pendingAtKill, time.Since(began).Round(time.Millisecond))
	if retried == 0 || pendingAtKill == 0 {
		t.Errorf("%d requests refused, %d deliveries pending at a kill: the test did not exercise pending deliveries across kills", retried, pendingAtKill)
	}
}

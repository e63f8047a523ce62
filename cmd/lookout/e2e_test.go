package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slacktest"

	"github.com/lookout-status/lookout/clock"
	"github.com/lookout-status/lookout/config"
	"github.com/lookout-status/lookout/notify"
	"github.com/lookout-status/lookout/notify/alertmanager/amtest"
	"github.com/lookout-status/lookout/store"
)

// Secrets the end-to-end configs reference as ${VARS}.
const (
	e2eSlackToken    = "xoxb-e2e-token-do-not-log"
	e2eSigningSecret = "e2e-signing-secret-8f742231b10e8888"
	e2eAPIToken      = "e2e-api-token-0123456789abcdef"
	e2eViewerToken   = "e2e-viewer-token-0123456789abcdef"
	e2eIngestToken   = "e2e-ingest-token-0123456789abcdef"
)

func e2eEnv(extra map[string]string) func(string) string {
	env := map[string]string{
		"SLACK_BOT_TOKEN":      e2eSlackToken,
		"SLACK_SIGNING_SECRET": e2eSigningSecret,
		"LOOKOUT_API_TOKEN":    e2eAPIToken,
		"LOOKOUT_VIEWER_TOKEN": e2eViewerToken,
		"AM_INGEST_TOKEN":      e2eIngestToken,
	}
	for k, v := range extra {
		env[k] = v
	}
	return func(k string) string { return env[k] }
}

// breakable is a loopback service whose paths can be broken (503) and
// fixed.
type breakable struct {
	srv    *httptest.Server
	mu     sync.Mutex
	broken map[string]bool
}

func newBreakable(t *testing.T) *breakable {
	t.Helper()
	b := &breakable{broken: map[string]bool{}}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		down := b.broken[r.URL.Path]
		b.mu.Unlock()
		if down {
			http.Error(w, `{"database":"down"}`, http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, `{"database":"ok"}`)
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *breakable) set(path string, down bool) {
	b.mu.Lock()
	b.broken[path] = down
	b.mu.Unlock()
}

// slackCall is one Web API request the fake Slack received.
type slackCall struct {
	method string
	form   url.Values
}

// fakeSlack is slacktest with recording chat.postMessage and chat.update
// handlers (slacktest's own postMessage leaves a goroutine per message).
type fakeSlack struct {
	srv   *slacktest.Server
	mu    sync.Mutex
	calls []slackCall
	n     int
}

func newFakeSlack(t *testing.T) *fakeSlack {
	t.Helper()
	f := &fakeSlack{}
	f.srv = slacktest.NewTestServer(func(c slacktest.Customize) {
		c.Handle("/chat.postMessage", f.handle("chat.postMessage"))
		c.Handle("/chat.update", f.handle("chat.update"))
	})
	f.srv.Start()
	t.Cleanup(f.srv.Stop)
	return f
}

func (f *fakeSlack) handle(method string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		form, err := url.ParseQuery(string(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if form.Get("token") != e2eSlackToken {
			io.WriteString(w, `{"ok":false,"error":"not_authed"}`)
			return
		}
		f.mu.Lock()
		f.calls = append(f.calls, slackCall{method, form})
		f.n++
		n := f.n
		f.mu.Unlock()
		ts := form.Get("ts")
		if method == "chat.postMessage" {
			ts = fmt.Sprintf("1700000000.%06d", n)
		}
		json.NewEncoder(w).Encode(map[string]any{"ok": true, "channel": "C0OPS", "ts": ts})
	}
}

func (f *fakeSlack) snapshot() []slackCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// message is a top-level incident message and its ts (postMessage answers
// are numbered in order, so the ts is recomputed from the call's index).
type slackMessage struct {
	ts     string
	blocks slack.Blocks
	raw    string
}

// incidentMessages returns the top-level messages (not thread replies)
// whose buttons or context carry incident id.
func (f *fakeSlack) incidentMessages(t *testing.T, id string) []slackMessage {
	t.Helper()
	var out []slackMessage
	for i, c := range f.snapshot() {
		if c.method != "chat.postMessage" || c.form.Get("thread_ts") != "" {
			continue
		}
		raw := c.form.Get("blocks")
		if !strings.Contains(raw, "`"+id+"`") {
			continue
		}
		out = append(out, slackMessage{ts: fmt.Sprintf("1700000000.%06d", i+1), blocks: decodeBlocks(t, raw), raw: raw})
	}
	return out
}

// updates returns the chat.update calls for the message at ts.
func (f *fakeSlack) updates(t *testing.T, ts string) []slackMessage {
	t.Helper()
	var out []slackMessage
	for _, c := range f.snapshot() {
		if c.method == "chat.update" && c.form.Get("ts") == ts {
			raw := c.form.Get("blocks")
			out = append(out, slackMessage{ts: ts, blocks: decodeBlocks(t, raw), raw: raw})
		}
	}
	return out
}

// replies returns the text of thread replies under ts.
func (f *fakeSlack) replies(ts string) []string {
	var out []string
	for _, c := range f.snapshot() {
		if c.method == "chat.postMessage" && c.form.Get("thread_ts") == ts {
			out = append(out, c.form.Get("text"))
		}
	}
	return out
}

func decodeBlocks(t *testing.T, raw string) slack.Blocks {
	t.Helper()
	var b slack.Blocks
	if err := json.Unmarshal([]byte(raw), &b); err != nil {
		t.Fatalf("slack blocks: %v in %s", err, raw)
	}
	return b
}

// slackButton is a button as a Slack user sees it.
type slackButton struct{ actionID, value, text string }

func buttonsOf(b slack.Blocks) []slackButton {
	var out []slackButton
	for _, blk := range b.BlockSet {
		if a, ok := blk.(*slack.ActionBlock); ok {
			for _, e := range a.Elements.ElementSet {
				if btn, ok := e.(*slack.ButtonBlockElement); ok {
					out = append(out, slackButton{btn.ActionID, btn.Value, btn.Text.Text})
				}
			}
		}
	}
	return out
}

// statusField is the message's "*Status*" field text.
func statusField(b slack.Blocks) string {
	for _, blk := range b.BlockSet {
		if s, ok := blk.(*slack.SectionBlock); ok {
			for _, f := range s.Fields {
				if rest, ok := strings.CutPrefix(f.Text, "*Status*\n"); ok {
					return rest
				}
			}
		}
	}
	return ""
}

// poll calls cond until it returns true or within passes; then it fails
// with what describe says about the last state. Polling a running system on
// the wall clock is what an operator does.
func poll(t *testing.T, within time.Duration, what string, cond func() bool, describe func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s; %s", what, within, describe())
		}
		<-time.After(100 * time.Millisecond)
	}
}

// inProcess is `lookout serve` running in this test process.
type inProcess struct {
	base   string
	data   string
	stderr *syncBuffer
}

// startInProcess runs serve with cfgPath and getenv until the test ends.
func startInProcess(t *testing.T, cfgPath string, getenv func(string) string) *inProcess {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &inProcess{data: t.TempDir(), stderr: &syncBuffer{}}
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, serveOptions{
			load:   func() (*config.Config, error) { return config.Load(cfgPath, getenv) },
			data:   p.data,
			listen: "127.0.0.1:0",
			stdout: io.Discard, stderr: p.stderr, ready: ready,
		})
	}()
	select {
	case addr := <-ready:
		p.base = "http://" + addr
	case err := <-done:
		cancel()
		t.Fatalf("serve exited before serving: %v\n%s", err, p.stderr)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatalf("serve did not start within 30s\n%s", p.stderr)
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("serve did not stop within 30s of cancel")
		}
		if t.Failed() {
			t.Logf("lookout log:\n%s", p.stderr)
		}
	})
	return p
}

// deliveries reads the outbox rows of an incident from the running
// process's database.
func deliveries(t *testing.T, data, org, incident string) []store.DeliveryRecord {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(data, "lookout.db"), store.Options{Now: clock.Real{}.Now})
	if err != nil {
		t.Fatalf("open db: %v", err)
	}
	defer db.Close()
	ds, err := db.Deliveries(context.Background(), org, incident)
	if err != nil {
		t.Fatalf("deliveries: %v", err)
	}
	return ds
}

func countEvents(ds []store.DeliveryRecord, ev notify.Event) int {
	n := 0
	for _, d := range ds {
		if d.Event == ev {
			n++
		}
	}
	return n
}

// apiGet GETs path with a bearer token and decodes the JSON answer.
func apiGet(t *testing.T, base, path, token string, out any) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK && out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatalf("GET %s: %v in %s", path, err, body)
		}
	}
	return resp.StatusCode
}

type e2eIncident struct {
	ID             string     `json:"id"`
	Title          string     `json:"title"`
	Status         string     `json:"status"`
	Impact         string     `json:"impact"`
	Components     []string   `json:"components"`
	StartedAt      time.Time  `json:"started_at"`
	AcknowledgedAt *time.Time `json:"acknowledged_at"`
	AcknowledgedBy string     `json:"acknowledged_by"`
	ResolvedAt     *time.Time `json:"resolved_at"`
	Timeline       []struct {
		Kind  string `json:"kind"`
		Actor string `json:"actor"`
	} `json:"timeline"`
}

// openIncidentOf returns the open incident of component, if any.
func openIncidentOf(t *testing.T, base, component string) (e2eIncident, bool) {
	t.Helper()
	var list struct {
		Incidents []e2eIncident `json:"incidents"`
	}
	if code := apiGet(t, base, "/api/v1/incidents?status=open", e2eAPIToken, &list); code != http.StatusOK {
		t.Fatalf("list incidents: got status %d, want 200", code)
	}
	for _, inc := range list.Incidents {
		if slices.Contains(inc.Components, component) {
			return inc, true
		}
	}
	return e2eIncident{}, false
}

func incidentDetail(t *testing.T, base, id string) e2eIncident {
	t.Helper()
	var d struct {
		Incident e2eIncident `json:"incident"`
	}
	if code := apiGet(t, base, "/api/v1/incidents/"+id, e2eAPIToken, &d); code != http.StatusOK {
		t.Fatalf("GET incident %s: got status %d, want 200", id, code)
	}
	return d.Incident
}

// slackSign signs body as Slack does: v0=HMAC-SHA256(secret, "v0:ts:body").
func slackSign(secret, ts string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "v0:%s:", ts)
	mac.Write(body)
	return "v0=" + hex.EncodeToString(mac.Sum(nil))
}

// pressButton posts a block_actions callback, signed with secret, as Slack
// does when userID presses the button actionID carrying value.
func pressButton(t *testing.T, base, secret, userID, actionID, value string) (int, string) {
	t.Helper()
	payload, _ := json.Marshal(map[string]any{
		"type":       "block_actions",
		"team":       map[string]any{"id": "T0ACME", "domain": "acme"},
		"user":       map[string]any{"id": userID, "username": "dana", "name": "dana", "team_id": "T0ACME"},
		"channel":    map[string]any{"id": "C0OPS", "name": "ops"},
		"trigger_id": "13345224609.738474920.8088930838d88f008e0",
		"container":  map[string]any{"type": "message", "message_ts": "1700000000.000001"},
		"actions": []any{map[string]any{
			"type": "button", "action_id": actionID, "block_id": "lookout_incident_actions", "value": value,
			"action_ts": fmt.Sprintf("%d.%06d", time.Now().Unix(), time.Now().Nanosecond()/1000),
			"text":      map[string]any{"type": "plain_text", "text": "Acknowledge"},
		}},
	})
	body := url.Values{"payload": {string(payload)}}.Encode()
	req, err := http.NewRequest(http.MethodPost, base+"/integrations/slack/actions", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", slackSign(secret, ts, []byte(body)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("slack callback: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// e2eConfig is the end-to-end configuration: two components probed every
// second on the loopback service, Dana on call, a two-level escalation
// policy whose first level waits escalationWait, Slack and Alertmanager
// notifiers, and an API token. Grouping is off, so breaking both
// components opens two incidents: one Dana acknowledges, one she ignores.
func e2eConfig(service, slackURL, amURL string, escalationWait time.Duration) string {
	return acmeConfig("", fmt.Sprintf(`    incidents: {quiet_period: 2s, grouping_window: 0s}
    users:
      - {id: dana, name: Dana, slack_id: U0DANA}
      - {id: ana, name: Ana, slack_id: U0ANA}
    teams:
      - id: ops
        members: [dana, ana]
        schedules:
          - id: ops-primary
            layers:
              - {name: weekly, members: [dana], start: "2020-01-06T09:00", rotation: 168h}
        escalation_policies:
          - id: default
            levels:
              - wait: %s
                targets: [{schedule: ops-primary}]
              - targets: [{user: ana}]
    notifiers:
      - id: slack-ops
        slack: {token: "${SLACK_BOT_TOKEN}", channel: "#ops", signing_secret: "${SLACK_SIGNING_SECRET}", api_url: %q}
      - id: pager
        alertmanager: {url: %q}
    tokens:
      - {id: cli, user: dana, token: "${LOOKOUT_API_TOKEN}", role: responder}
    components:
      - {id: api, name: API}
      - {id: sync, name: Sync}
    probes:
      - {id: api-status, component: api, interval: 1s, timeout: 800ms, failure_threshold: 2, http: {url: "%s/api"}}
      - {id: sync-status, component: sync, interval: 1s, timeout: 800ms, failure_threshold: 2, http: {url: "%s/sync"}}
`, escalationWait, slackURL, amURL, service, service))
}

// TestIncidentEndToEnd drives the whole incident path through the real
// `lookout serve`: a service breaks, Dana is paged in Slack and through a
// real Alertmanager, acknowledges with the Slack button (so her incident
// does not escalate while an unacknowledged one does), the service
// recovers, and the incident resolves everywhere.
func TestIncidentEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs serve, probes and Alertmanager for about 20s")
	}
	amtest.Require(t)
	svc := newBreakable(t)
	slk := newFakeSlack(t)
	rcv := amtest.NewReceiver(t)
	am := amtest.Start(t, rcv.URL())
	// The first level waits this long before escalating; Dana acknowledges
	// well within it, and the ignored incident escalates after it.
	const escalationWait = 10 * time.Second
	cfg := writeFile(t, "lookout.yaml", e2eConfig(svc.srv.URL, slk.srv.GetAPIURL(), am.URL(), escalationWait))
	lk := startInProcess(t, cfg, e2eEnv(nil))

	// Both components break: each gets an incident within a few seconds.
	svc.set("/api", true)
	svc.set("/sync", true)
	var apiInc, syncInc e2eIncident
	poll(t, 15*time.Second, "incidents for api and sync open", func() bool {
		var ok1, ok2 bool
		apiInc, ok1 = openIncidentOf(t, lk.base, "api")
		syncInc, ok2 = openIncidentOf(t, lk.base, "sync")
		return ok1 && ok2
	}, func() string { return fmt.Sprintf("api: %+v, sync: %+v", apiInc, syncInc) })
	if apiInc.ID == syncInc.ID {
		t.Fatalf("api and sync share incident %s; want one each (grouping is off)", apiInc.ID)
	}

	// One Slack message per incident, with Acknowledge and Resolve buttons
	// carrying the incident's id.
	var msg slackMessage
	poll(t, 10*time.Second, "slack message for "+apiInc.ID, func() bool {
		return len(slk.incidentMessages(t, apiInc.ID)) > 0 && len(slk.incidentMessages(t, syncInc.ID)) > 0
	}, func() string { return fmt.Sprintf("slack calls: %+v", slk.snapshot()) })
	msgs := slk.incidentMessages(t, apiInc.ID)
	if len(msgs) != 1 {
		t.Fatalf("got %d top-level Slack messages for %s, want 1", len(msgs), apiInc.ID)
	}
	msg = msgs[0]
	wantButtons := []slackButton{{"lookout_ack", apiInc.ID, "Acknowledge"}, {"lookout_resolve", apiInc.ID, "Resolve"}}
	if got := buttonsOf(msg.blocks); !slices.Equal(got, wantButtons) {
		t.Errorf("slack buttons: got %+v, want %+v", got, wantButtons)
	}
	if got := statusField(msg.blocks); !strings.Contains(got, "Triggered") {
		t.Errorf("slack status field: got %q, want Triggered", got)
	}
	for _, want := range []string{apiInc.Title, "API", "api-status: "} {
		if !strings.Contains(jsonUnescape(msg.raw), want) {
			t.Errorf("slack message lacks %q:\n%s", want, msg.raw)
		}
	}
	syncTS := slk.incidentMessages(t, syncInc.ID)[0].ts

	// The real Alertmanager delivers the page to its receiver.
	firing := rcv.WaitFor(t, 15*time.Second, "firing", map[string]string{
		"incident_id": apiInc.ID, "component": "api", "severity": severityOf(apiInc.Impact),
	})
	if firing.Labels["alertname"] != "LookoutIncident" {
		t.Errorf("alertmanager alert: got alertname %q, want LookoutIncident", firing.Labels["alertname"])
	}

	// A forged press (signed with another secret) is refused.
	if code, body := pressButton(t, lk.base, "not-the-signing-secret", "U0DANA", "lookout_ack", apiInc.ID); code != http.StatusUnauthorized {
		t.Fatalf("forged slack callback: got status %d (%s), want 401", code, body)
	}
	if got := incidentDetail(t, lk.base, apiInc.ID).Status; got != "triggered" {
		t.Fatalf("after a forged ack: got status %q, want triggered", got)
	}

	// Dana presses Acknowledge.
	code, body := pressButton(t, lk.base, e2eSigningSecret, "U0DANA", "lookout_ack", apiInc.ID)
	if code != http.StatusOK {
		t.Fatalf("slack ack callback: got status %d (%s), want 200", code, body)
	}
	poll(t, 10*time.Second, "slack message updated to acknowledged", func() bool {
		for _, u := range slk.updates(t, msg.ts) {
			if strings.Contains(statusField(u.blocks), "Acknowledged by Dana") {
				return true
			}
		}
		return false
	}, func() string { return fmt.Sprintf("updates of %s: %+v", msg.ts, slk.updates(t, msg.ts)) })
	ups := slk.updates(t, msg.ts)
	if got, want := buttonsOf(ups[len(ups)-1].blocks), []slackButton{{"lookout_resolve", apiInc.ID, "Resolve"}}; !slices.Equal(got, want) {
		t.Errorf("acknowledged message buttons: got %+v, want %+v", got, want)
	}
	acked := incidentDetail(t, lk.base, apiInc.ID)
	if acked.Status != "acknowledged" || acked.AcknowledgedBy != "dana" || acked.AcknowledgedAt == nil {
		t.Fatalf("after the Slack ack: got status %q by %q, want acknowledged by dana", acked.Status, acked.AcknowledgedBy)
	}
	if late := acked.AcknowledgedAt.Sub(acked.StartedAt); late >= escalationWait {
		t.Fatalf("acknowledged %s after the incident opened, not within the %s escalation wait: this run cannot tell whether the ack stops escalation", late, escalationWait)
	}

	// The ignored incident escalates to level 2 (Ana)...
	poll(t, escalationWait+15*time.Second, "the unacknowledged incident escalates to level 2", func() bool {
		return countEvents(deliveries(t, lk.data, "acme", syncInc.ID), notify.Escalated) > 0
	}, func() string { return fmt.Sprintf("deliveries: %+v", deliveries(t, lk.data, "acme", syncInc.ID)) })
	poll(t, 10*time.Second, "slack thread reply about the escalation", func() bool {
		return slices.ContainsFunc(slk.replies(syncTS), func(s string) bool { return strings.Contains(s, "Escalated to level 2") })
	}, func() string { return fmt.Sprintf("replies: %q", slk.replies(syncTS)) })
	// ...and the acknowledged one, opened at the same time, does not.
	if n := countEvents(deliveries(t, lk.data, "acme", apiInc.ID), notify.Escalated); n != 0 {
		t.Errorf("acknowledged incident: got %d escalated deliveries, want 0", n)
	}
	if rs := slk.replies(msg.ts); slices.ContainsFunc(rs, func(s string) bool { return strings.Contains(s, "Escalated") }) {
		t.Errorf("acknowledged incident escalated in Slack: replies %q", rs)
	}
	if got := incidentDetail(t, lk.base, apiInc.ID).Status; got != "acknowledged" {
		t.Errorf("acknowledged incident: got status %q after the escalation wait, want acknowledged", got)
	}

	// The service recovers: after the quiet period the incident resolves.
	svc.set("/api", false)
	svc.set("/sync", false)
	poll(t, 20*time.Second, "slack message updated to resolved", func() bool {
		for _, u := range slk.updates(t, msg.ts) {
			if strings.Contains(statusField(u.blocks), "Resolved") {
				return true
			}
		}
		return false
	}, func() string { return fmt.Sprintf("updates of %s: %+v", msg.ts, slk.updates(t, msg.ts)) })
	ups = slk.updates(t, msg.ts)
	if got := buttonsOf(ups[len(ups)-1].blocks); len(got) != 0 {
		t.Errorf("resolved message buttons: got %+v, want none", got)
	}
	rcv.WaitFor(t, 15*time.Second, "resolved", map[string]string{"incident_id": apiInc.ID, "component": "api"})

	// The public page's API shows it resolved.
	type v2Incident struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	var v2 struct {
		Incidents []v2Incident `json:"incidents"`
	}
	poll(t, 10*time.Second, "public /api/v2/incidents.json shows "+apiInc.ID+" resolved", func() bool {
		if code := apiGet(t, lk.base, "/api/v2/incidents.json", "", &v2); code != http.StatusOK {
			return false
		}
		return slices.Contains(v2.Incidents, v2Incident{apiInc.ID, "resolved"})
	}, func() string { return fmt.Sprintf("incidents: %+v", v2.Incidents) })

	// The incident API shows the whole timeline.
	final := incidentDetail(t, lk.base, apiInc.ID)
	var kinds []string
	for _, e := range final.Timeline {
		if e.Kind == "opened" || e.Kind == "acknowledged" || e.Kind == "resolved" {
			kinds = append(kinds, e.Kind+" by "+e.Actor)
		}
	}
	if want := []string{"opened by probe:api-status", "acknowledged by dana", "resolved by lookout"}; !slices.Equal(kinds, want) {
		t.Errorf("timeline: got %q, want %q (all: %+v)", kinds, want, final.Timeline)
	}
	if final.Status != "resolved" || final.ResolvedAt == nil {
		t.Errorf("incident: got status %q, resolved_at %v; want resolved", final.Status, final.ResolvedAt)
	}
	// Without a token the incident API refuses.
	if code := apiGet(t, lk.base, "/api/v1/incidents/"+apiInc.ID, "", nil); code != http.StatusUnauthorized {
		t.Errorf("incident API without a token: got %d, want 401", code)
	}
	// Exactly one page went out per channel for the acknowledged incident.
	ds := deliveries(t, lk.data, "acme", apiInc.ID)
	if n := countEvents(ds, notify.Triggered); n != 2 {
		t.Errorf("triggered deliveries: got %d, want 2 (slack and alertmanager): %+v", n, ds)
	}
	for _, d := range ds {
		if d.Status != store.DeliveryDelivered {
			t.Errorf("delivery %s (%s to %s): got status %s (%s), want delivered", d.Key, d.Event, d.Channel, d.Status, d.LastError)
		}
	}
}

func severityOf(impact string) string {
	switch impact {
	case "minor":
		return "warning"
	case "none":
		return "info"
	}
	return "critical"
}

// jsonUnescape undoes JSON's escaping of <, > and & in raw blocks.
func jsonUnescape(s string) string {
	return strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&").Replace(s)
}

// storedIncidents reads acme's incidents from the database of a stopped or
// running process.
func storedIncidents(t *testing.T, data string) []store.IncidentRecord {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(data, "lookout.db"), store.Options{Now: clock.Real{}.Now})
	if err != nil {
		t.Fatalf("open db: %v", err)
	}
	defer db.Close()
	recs, err := db.Incidents(context.Background(), "acme", store.IncidentFilter{Status: store.AllIncidents})
	if err != nil {
		t.Fatalf("incidents: %v", err)
	}
	return recs
}

// TestKill9BetweenStateChangeAndDelivery: the incident is committed with its
// page in the outbox, the receiver is failing, and lookout is killed with
// SIGKILL. After a restart the page still goes out, under the same
// webhook-id as the failed attempts: one logical notification.
func TestKill9BetweenStateChangeAndDelivery(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	svc := newBreakable(t)
	svc.set("/api", true)
	hook := newHookSink(t, hookSinkOptions{})
	// The child process inherits the environment: the secret reaches its
	// config as ${E2E_WEBHOOK_SECRET}.
	t.Setenv("E2E_WEBHOOK_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	cfg := writeFile(t, "lookout.yaml", fmt.Sprintf(`storage: {flush_interval: 100ms, flush_size: 50}
organizations:
  - id: acme
    name: Acme
    egress: {allow: ["127.0.0.0/8"]}
    notifiers:
      - id: hook
        webhook: {url: "%s/hook", secret: "${E2E_WEBHOOK_SECRET}", timeout: 2s}
    components: [{id: api, name: API}]
    probes:
      - {id: api-status, component: api, interval: 1s, timeout: 800ms, failure_threshold: 1, http: {url: "%s/api"}}
`, hook.srv.URL, svc.srv.URL))
	data := t.TempDir()

	c := startServe(t, cfg, data)
	// Wait until the incident is committed, its page is pending in the
	// outbox, and the receiver has refused it at least once.
	var inc string
	var pending store.DeliveryRecord
	poll(t, 30*time.Second, "a pending, already attempted incident.triggered delivery", func() bool {
		recs := storedIncidents(t, data)
		if len(recs) == 0 {
			return false
		}
		inc = recs[0].ID
		for _, d := range deliveries(t, data, "acme", inc) {
			if d.Event == notify.Triggered && d.Status == store.DeliveryPending && d.Attempts >= 1 {
				pending = d
				return true
			}
		}
		return false
	}, func() string {
		return fmt.Sprintf("incident %q; requests %+v\nlog:\n%s", inc, hook.requests(), c.stderr)
	})
	c.kill9(t)

	failed := hook.requests()
	var failedIDs []string
	for _, r := range failed {
		if r.incident == inc && r.typ == "incident.triggered" {
			failedIDs = append(failedIDs, r.id)
		}
	}
	if len(failedIDs) == 0 {
		t.Fatalf("no refused incident.triggered request before the kill; got %+v", failed)
	}

	// The receiver recovers; lookout restarts and delivers.
	hook.setAccept(true)
	c2 := startServe(t, cfg, data)
	poll(t, 30*time.Second, "the page delivered after the restart, and recorded as delivered", func() bool {
		answered := slices.ContainsFunc(hook.requests(), func(r hookRequest) bool {
			return r.incident == inc && r.typ == "incident.triggered" && r.answered == http.StatusOK
		})
		// The receiver's 200 reaches the outbox a moment after it is sent.
		return answered && slices.ContainsFunc(deliveries(t, data, "acme", inc), func(d store.DeliveryRecord) bool {
			return d.Key == pending.Key && d.Status == store.DeliveryDelivered
		})
	}, func() string { return fmt.Sprintf("requests %+v\nlog:\n%s", hook.requests(), c2.stderr) })

	ids := map[string]int{}
	for _, r := range hook.requests() {
		if r.incident == inc && r.typ == "incident.triggered" {
			ids[r.id]++
		}
	}
	if len(ids) != 1 {
		t.Errorf("incident.triggered for %s went out under %d webhook-ids %v, want 1", inc, len(ids), ids)
	}
	if _, ok := ids[failedIDs[0]]; !ok {
		t.Errorf("delivered webhook-id: got %v, want the refused attempts' %q", ids, failedIDs[0])
	}
	var triggered []store.DeliveryRecord
	for _, d := range deliveries(t, data, "acme", inc) {
		if d.Event == notify.Triggered {
			triggered = append(triggered, d)
		}
	}
	if len(triggered) != 1 || triggered[0].Key != pending.Key || triggered[0].Status != store.DeliveryDelivered {
		t.Errorf("outbox rows for the page: got %+v, want one delivered row with key %q", triggered, pending.Key)
	}
	if recs := storedIncidents(t, data); len(recs) != 1 {
		t.Errorf("got %d incidents after the restart, want the one from before the kill", len(recs))
	}
}

package alertmanager_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/lookout-status/lookout/clock"
	"github.com/lookout-status/lookout/notify"
	"github.com/lookout-status/lookout/notify/alertmanager"
	"github.com/lookout-status/lookout/notify/alertmanager/amtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// wait bounds how long a test waits for Alertmanager to notify the receiver
// (group_wait 100ms, group_interval 200ms: normally well under a second).
const wait = 15 * time.Second

func newNotifier(t *testing.T, cfg alertmanager.Config) *alertmanager.Notifier {
	t.Helper()
	n, err := alertmanager.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = n.Close() })
	return n
}

func testIncident(id string, started time.Time) notify.Incident {
	return notify.Incident{
		ID:           id,
		Org:          "acme",
		Title:        "Storage down",
		Status:       "triggered",
		PublicStatus: "investigating",
		Impact:       "major",
		Components: []notify.Component{
			{ID: "storage", Name: "Storage", Status: "major_outage"},
			{ID: "api", Name: "API", Status: "degraded_performance"},
		},
		StartedAt: started,
		Summary:   "storage-roundtrip: put: connection refused",
		URL:       "https://lookout.example.net/incidents/" + id,
		PageURL:   "https://status.example.net",
	}
}

// startAM starts a receiver and a real Alertmanager delivering to it.
func startAM(t *testing.T) (*amtest.Alertmanager, *amtest.Receiver) {
	t.Helper()
	amtest.Require(t)
	rcv := amtest.NewReceiver(t)
	return amtest.Start(t, rcv.URL()), rcv
}

func activeAlerts(t *testing.T, am *amtest.Alertmanager, matcher string) []map[string]string {
	t.Helper()
	alerts, err := am.Alerts(t.Context(), matcher)
	if err != nil {
		t.Fatalf("get alerts: %v", err)
	}
	var out []map[string]string
	for _, a := range alerts {
		out = append(out, map[string]string(a.Labels))
	}
	return out
}

func TestDeliverFiringThenResolved(t *testing.T) {
	am, rcv := startAM(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	clk := clock.NewFake(now)
	n := newNotifier(t, alertmanager.Config{
		URL:         am.URL(),
		Clock:       clk,
		ExtraLabels: map[string]string{"team": "storage", "env": ""},
	})
	inc := testIncident("inc-1", now.Add(-2*time.Minute))

	rec, err := n.Deliver(t.Context(), notify.Message{Key: "k1", Event: notify.Triggered, Incident: inc, At: now})
	if err != nil {
		t.Fatalf("deliver triggered: %v", err)
	}
	if rec.Ref == "" {
		t.Errorf("receipt ref empty, want the posted label set")
	}
	got := rcv.WaitFor(t, wait, "firing", map[string]string{"incident_id": "inc-1"})
	wantLabels := map[string]string{
		"alertname":    "LookoutIncident",
		"incident_id":  "inc-1",
		"organization": "acme",
		"component":    "api,storage",
		"severity":     "critical",
		"team":         "storage",
	}
	if !maps.Equal(got.Labels, wantLabels) {
		t.Errorf("labels: got %v, want %v", got.Labels, wantLabels)
	}
	wantAnn := map[string]string{
		"summary":         "Storage down: storage-roundtrip: put: connection refused",
		"incident_url":    "https://lookout.example.net/incidents/inc-1",
		"status_page_url": "https://status.example.net",
		"status":          "triggered",
		"public_status":   "investigating",
		"impact":          "major",
		"components":      "Storage (major_outage), API (degraded_performance)",
	}
	for k, v := range wantAnn {
		if got.Annotations[k] != v {
			t.Errorf("annotation %s: got %q, want %q", k, got.Annotations[k], v)
		}
	}
	if d := got.Annotations["description"]; !strings.Contains(d, "Affected: Storage (major_outage), API (degraded_performance).") {
		t.Errorf("description: got %q, want it to list the affected components", d)
	}
	if _, ok := got.Annotations["acknowledged_by"]; ok {
		t.Errorf("acknowledged_by set on an unacknowledged incident: %q", got.Annotations["acknowledged_by"])
	}
	if !got.StartsAt.Equal(inc.StartedAt) {
		t.Errorf("startsAt: got %s, want %s", got.StartsAt, inc.StartedAt)
	}
	if got.GeneratorURL != inc.URL {
		t.Errorf("generatorURL: got %q, want %q", got.GeneratorURL, inc.URL)
	}
	if fp := alertmanager.Fingerprint(got.Labels); got.Fingerprint != fp {
		t.Errorf("fingerprint: Alertmanager sent %q, Fingerprint computes %q", got.Fingerprint, fp)
	}

	resolvedAt := time.Now().UTC().Truncate(time.Millisecond)
	clk.Set(resolvedAt)
	inc.Status, inc.PublicStatus, inc.ResolvedAt = "resolved", "resolved", resolvedAt
	if _, err := n.Deliver(t.Context(), notify.Message{Key: "k2", Event: notify.Resolved, Incident: inc, Ref: rec.Ref}); err != nil {
		t.Fatalf("deliver resolved: %v", err)
	}
	res := rcv.WaitFor(t, wait, "resolved", map[string]string{"incident_id": "inc-1"})
	if !res.EndsAt.Equal(resolvedAt) {
		t.Errorf("resolved endsAt: got %s, want %s", res.EndsAt, resolvedAt)
	}
	if res.Fingerprint != got.Fingerprint {
		t.Errorf("resolved fingerprint: got %q, want the firing alert's %q", res.Fingerprint, got.Fingerprint)
	}
	if a := activeAlerts(t, am, `incident_id="inc-1"`); len(a) != 0 {
		t.Errorf("active alerts after resolution: got %v, want none", a)
	}
}

func TestAcknowledgedKeepsFiring(t *testing.T) {
	am, rcv := startAM(t)
	now := time.Now().UTC()
	n := newNotifier(t, alertmanager.Config{URL: am.URL(), Clock: clock.NewFake(now)})
	inc := testIncident("inc-ack", now.Add(-time.Minute))
	rec, err := n.Deliver(t.Context(), notify.Message{Event: notify.Triggered, Incident: inc})
	if err != nil {
		t.Fatalf("deliver triggered: %v", err)
	}
	rcv.WaitFor(t, wait, "firing", map[string]string{"incident_id": "inc-ack"})

	inc.Status, inc.AcknowledgedBy, inc.AcknowledgedAt = "acknowledged", "alice", now
	if _, err := n.Deliver(t.Context(), notify.Message{Event: notify.Acknowledged, Incident: inc, Ref: rec.Ref}); err != nil {
		t.Fatalf("deliver acknowledged: %v", err)
	}
	alerts, err := am.Alerts(t.Context(), `incident_id="inc-ack"`)
	if err != nil {
		t.Fatalf("get alerts: %v", err)
	}
	if len(alerts) != 1 {
		t.Fatalf("active alerts for the incident: got %d, want 1 (an ack must not resolve it nor make a second alert)", len(alerts))
	}
	a := alerts[0]
	if got := a.Annotations["acknowledged_by"]; got != "alice" {
		t.Errorf("acknowledged_by: got %q, want %q", got, "alice")
	}
	if got := a.Annotations["status"]; got != "acknowledged" {
		t.Errorf("status annotation: got %q, want %q", got, "acknowledged")
	}
	if got := *a.Status.State; got != "active" {
		t.Errorf("state: got %q, want active", got)
	}
	if _, ok := rcv.Find("resolved", map[string]string{"incident_id": "inc-ack"}); ok {
		t.Errorf("receiver got a resolution after an acknowledgement, want none")
	}
}

func TestLabelChangeResolvesPreviousAlert(t *testing.T) {
	am, rcv := startAM(t)
	now := time.Now().UTC()
	n := newNotifier(t, alertmanager.Config{URL: am.URL(), Clock: clock.NewFake(now)})
	inc := testIncident("inc-grow", now.Add(-time.Minute))
	inc.Components = inc.Components[:1]
	inc.Impact = "minor"
	rec, err := n.Deliver(t.Context(), notify.Message{Event: notify.Triggered, Incident: inc})
	if err != nil {
		t.Fatalf("deliver triggered: %v", err)
	}
	rcv.WaitFor(t, wait, "firing", map[string]string{"incident_id": "inc-grow", "component": "storage", "severity": "warning"})

	inc = testIncident("inc-grow", now.Add(-time.Minute)) // two components, major
	if _, err := n.Deliver(t.Context(), notify.Message{Event: notify.Updated, Incident: inc, Ref: rec.Ref}); err != nil {
		t.Fatalf("deliver updated: %v", err)
	}
	rcv.WaitFor(t, wait, "resolved", map[string]string{"incident_id": "inc-grow", "component": "storage", "severity": "warning"})
	rcv.WaitFor(t, wait, "firing", map[string]string{"incident_id": "inc-grow", "component": "api,storage", "severity": "critical"})
	active := activeAlerts(t, am, `incident_id="inc-grow"`)
	if len(active) != 1 || active[0]["component"] != "api,storage" {
		t.Errorf("active alerts: got %v, want only the one with component=api,storage", active)
	}
}

func TestResendKeepsAlertActive(t *testing.T) {
	am, _ := startAM(t)
	now := time.Now().UTC()
	// Deliver as if 10 minutes ago with a 5 minute TTL: the alert has
	// already expired, as it would if Lookout had stopped.
	clk := clock.NewFake(now.Add(-10 * time.Minute))
	n := newNotifier(t, alertmanager.Config{URL: am.URL(), Clock: clk, AlertTTL: 5 * time.Minute})
	inc := testIncident("inc-resend", now.Add(-15*time.Minute))
	if _, err := n.Deliver(t.Context(), notify.Message{Event: notify.Triggered, Incident: inc}); err != nil {
		t.Fatalf("deliver: %v", err)
	}
	if a := activeAlerts(t, am, `incident_id="inc-resend"`); len(a) != 0 {
		t.Fatalf("active alerts after the TTL passed: got %v, want none", a)
	}

	clk.Set(now)
	other := testIncident("inc-other", now.Add(-time.Minute))
	if err := n.Resend(t.Context(), []notify.Incident{inc, other}); err != nil {
		t.Fatalf("resend: %v", err)
	}
	alerts, err := am.Alerts(t.Context(), `alertname="LookoutIncident"`)
	if err != nil {
		t.Fatalf("get alerts: %v", err)
	}
	ends := map[string]time.Time{}
	for _, a := range alerts {
		ends[a.Labels["incident_id"]] = time.Time(*a.EndsAt)
	}
	for _, id := range []string{"inc-resend", "inc-other"} {
		end, ok := ends[id]
		if !ok {
			t.Errorf("incident %s: not active after Resend; active: %v", id, ends)
			continue
		}
		if want := now.Add(5 * time.Minute); end.Sub(want).Abs() > time.Second {
			t.Errorf("incident %s endsAt: got %s, want now+TTL %s", id, end, want)
		}
	}
}

func TestWatchdog(t *testing.T) {
	am, rcv := startAM(t)
	n := newNotifier(t, alertmanager.Config{URL: am.URL(), ExtraLabels: map[string]string{"team": "sre"}})
	if err := n.Watchdog(t.Context(), time.Now()); err != nil {
		t.Fatalf("watchdog: %v", err)
	}
	got := activeAlerts(t, am, `alertname="LookoutWatchdog"`)
	want := map[string]string{"alertname": "LookoutWatchdog", "severity": "none", "team": "sre"}
	if len(got) != 1 || !maps.Equal(got[0], want) {
		t.Errorf("active watchdog alerts: got %v, want [%v]", got, want)
	}
	rcv.WaitFor(t, wait, "firing", want)
}

// fakeAM records what it is sent and answers with code and body.
type fakeAM struct {
	mu          sync.Mutex
	path        string
	user, pass  string
	body        []byte
	code        int
	contentType string
	answer      string
}

func (f *fakeAM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.path, f.body = r.URL.Path, b
	f.user, f.pass, _ = r.BasicAuth()
	code, ct, answer := f.code, f.contentType, f.answer
	f.mu.Unlock()
	if ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	w.WriteHeader(max(code, 200))
	_, _ = io.WriteString(w, answer)
}

func (f *fakeAM) alerts(t *testing.T) []postedAlert {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	var got []postedAlert
	if err := json.Unmarshal(f.body, &got); err != nil {
		t.Fatalf("decode posted alerts %q: %v", f.body, err)
	}
	return got
}

type postedAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
}

func TestDeliverErrors(t *testing.T) {
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	unreachable := "http://" + closed.Addr().String()
	closed.Close()

	tests := []struct {
		name        string
		code        int
		contentType string
		answer      string
		url         string
		permanent   bool
		wantErr     string
	}{
		{name: "unreachable", url: unreachable, wantErr: "connection refused"},
		{name: "400 from alertmanager", code: 400, contentType: "application/json",
			answer: `"start time must be before end time"`, permanent: true,
			wantErr: "alertmanager answered 400 Bad Request: start time must be before end time"},
		{name: "400 html from a proxy", code: 400, contentType: "text/html", answer: "<h1>bad</h1>", permanent: true, wantErr: "400"},
		{name: "401", code: 401, contentType: "application/problem+json", answer: `{"title":"no"}`, permanent: true, wantErr: "401"},
		{name: "404 wrong path", code: 404, contentType: "text/plain", answer: "404 page not found", permanent: true, wantErr: "404 Not Found: 404 page not found"},
		{name: "408 is retried", code: 408, permanent: false, wantErr: "408"},
		{name: "429 is retried", code: 429, contentType: "text/plain", permanent: false, wantErr: "429"},
		{name: "500", code: 500, contentType: "application/json", answer: `"boom"`, permanent: false, wantErr: "500 Internal Server Error: boom"},
		{name: "503 odd content type", code: 503, contentType: "application/x-weird", answer: "down", permanent: false, wantErr: "503"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			url := tc.url
			if url == "" {
				srv := httptest.NewServer(&fakeAM{code: tc.code, contentType: tc.contentType, answer: tc.answer})
				t.Cleanup(srv.Close)
				url = srv.URL
			}
			// Credentials in the URL must never show in an error.
			url = strings.Replace(url, "http://", "http://lookout:hunter2@", 1)
			n := newNotifier(t, alertmanager.Config{URL: url})
			_, err := n.Deliver(t.Context(), notify.Message{Event: notify.Triggered, Incident: testIncident("inc-err", time.Now())})
			if err == nil {
				t.Fatalf("got no error, want one containing %q", tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error: got %q, want it to contain %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q leaks the password", err)
			}
			if got := notify.IsPermanent(err); got != tc.permanent {
				t.Errorf("IsPermanent(%q): got %v, want %v", err, got, tc.permanent)
			}
			// Resend and Watchdog classify the same way.
			if err := n.Resend(t.Context(), []notify.Incident{testIncident("inc-err", time.Now())}); notify.IsPermanent(err) != tc.permanent || err == nil {
				t.Errorf("resend: got %v (permanent %v), want an error, permanent %v", err, notify.IsPermanent(err), tc.permanent)
			}
			if err := n.Watchdog(t.Context(), time.Now()); notify.IsPermanent(err) != tc.permanent || err == nil {
				t.Errorf("watchdog: got %v (permanent %v), want an error, permanent %v", err, notify.IsPermanent(err), tc.permanent)
			}
		})
	}
}

func TestDeliverTimeoutIsRetried(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select { // never answers
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	n := newNotifier(t, alertmanager.Config{URL: srv.URL, Timeout: 50 * time.Millisecond})
	_, err := n.Deliver(t.Context(), notify.Message{Event: notify.Triggered, Incident: testIncident("inc-slow", time.Now())})
	if err == nil || notify.IsPermanent(err) {
		t.Errorf("got %v (permanent %v), want a retryable error", err, notify.IsPermanent(err))
	}
}

func TestDeliverIncidentWithoutIDIsPermanent(t *testing.T) {
	f := &fakeAM{}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	n := newNotifier(t, alertmanager.Config{URL: srv.URL})
	_, err := n.Deliver(t.Context(), notify.Message{Event: notify.Triggered, Incident: notify.Incident{Title: "x"}})
	if !notify.IsPermanent(err) {
		t.Errorf("got %v, want a permanent error", err)
	}
	if f.body != nil {
		t.Errorf("posted %q, want nothing posted", f.body)
	}
}

// TestPostedAlert checks the exact alert for each event and impact, through
// a fake Alertmanager behind a route prefix and basic auth.
func TestPostedAlert(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	started := now.Add(-10 * time.Minute)
	tests := []struct {
		name      string
		event     notify.Event
		mutate    func(*notify.Incident)
		wantLabel map[string]string // checked exactly
		wantAnn   map[string]string // checked for these keys; "" means absent
		wantStart time.Time
		wantEnd   time.Time
	}{
		{
			name:  "triggered major",
			event: notify.Triggered,
			wantLabel: map[string]string{"alertname": "LookoutIncident", "incident_id": "inc-9", "organization": "acme",
				"component": "api,storage", "severity": "critical", "region": "eu"},
			wantAnn:   map[string]string{"summary": "Storage down: storage-roundtrip: put: connection refused", "acknowledged_by": ""},
			wantStart: started, wantEnd: now.Add(2 * time.Minute),
		},
		{
			name: "minor, no org, duplicate and empty component ids", event: notify.Escalated,
			mutate: func(i *notify.Incident) {
				i.Impact, i.Org = "minor", ""
				i.Components = []notify.Component{{ID: "sync"}, {ID: ""}, {ID: "api"}, {ID: "sync"}}
			},
			wantLabel: map[string]string{"alertname": "LookoutIncident", "incident_id": "inc-9",
				"component": "api,sync", "severity": "warning", "region": "eu"},
			wantAnn:   map[string]string{"components": "sync (unknown), api (unknown), sync (unknown)"},
			wantStart: started, wantEnd: now.Add(2 * time.Minute),
		},
		{
			name: "impact none, no components, no title", event: notify.Renotify,
			mutate: func(i *notify.Incident) { i.Impact, i.Components, i.Title = "none", nil, "" },
			wantLabel: map[string]string{"alertname": "LookoutIncident", "incident_id": "inc-9", "organization": "acme",
				"severity": "info", "region": "eu"},
			wantAnn:   map[string]string{"summary": "storage-roundtrip: put: connection refused", "components": ""},
			wantStart: started, wantEnd: now.Add(2 * time.Minute),
		},
		{
			name: "unknown impact pages", event: notify.Updated,
			mutate: func(i *notify.Incident) { i.Impact = "" },
			wantLabel: map[string]string{"alertname": "LookoutIncident", "incident_id": "inc-9", "organization": "acme",
				"component": "api,storage", "severity": "critical", "region": "eu"},
			wantStart: started, wantEnd: now.Add(2 * time.Minute),
		},
		{
			name: "acknowledged keeps firing", event: notify.Acknowledged,
			mutate: func(i *notify.Incident) {
				i.Status, i.AcknowledgedBy, i.AcknowledgedAt = "acknowledged", "bob", now.Add(-time.Minute)
			},
			wantLabel: map[string]string{"alertname": "LookoutIncident", "incident_id": "inc-9", "organization": "acme",
				"component": "api,storage", "severity": "critical", "region": "eu"},
			wantAnn:   map[string]string{"acknowledged_by": "bob", "acknowledged_at": "2026-03-01T11:59:00Z", "status": "acknowledged"},
			wantStart: started, wantEnd: now.Add(2 * time.Minute),
		},
		{
			name: "resolved ends at resolution", event: notify.Resolved,
			mutate: func(i *notify.Incident) { i.Status, i.ResolvedAt = "resolved", now.Add(-time.Minute) },
			wantLabel: map[string]string{"alertname": "LookoutIncident", "incident_id": "inc-9", "organization": "acme",
				"component": "api,storage", "severity": "critical", "region": "eu"},
			wantStart: started, wantEnd: now.Add(-time.Minute),
		},
		{
			name: "resolved without a time ends now", event: notify.Resolved,
			mutate: func(i *notify.Incident) { i.Status = "resolved" },
			wantLabel: map[string]string{"alertname": "LookoutIncident", "incident_id": "inc-9", "organization": "acme",
				"component": "api,storage", "severity": "critical", "region": "eu"},
			wantStart: started, wantEnd: now,
		},
		{
			name: "resolved in the future ends now", event: notify.Resolved,
			mutate: func(i *notify.Incident) { i.Status, i.ResolvedAt = "resolved", now.Add(time.Minute) },
			wantLabel: map[string]string{"alertname": "LookoutIncident", "incident_id": "inc-9", "organization": "acme",
				"component": "api,storage", "severity": "critical", "region": "eu"},
			wantStart: started, wantEnd: now,
		},
		{
			name: "resolved before it started", event: notify.Resolved,
			mutate: func(i *notify.Incident) { i.Status, i.ResolvedAt = "resolved", started.Add(-time.Minute) },
			wantLabel: map[string]string{"alertname": "LookoutIncident", "incident_id": "inc-9", "organization": "acme",
				"component": "api,storage", "severity": "critical", "region": "eu"},
			wantStart: started.Add(-time.Minute), wantEnd: started.Add(-time.Minute),
		},
		{
			name: "no start time starts now; page URL from config", event: notify.Triggered,
			mutate: func(i *notify.Incident) { i.StartedAt, i.PageURL = time.Time{}, "" },
			wantLabel: map[string]string{"alertname": "LookoutIncident", "incident_id": "inc-9", "organization": "acme",
				"component": "api,storage", "severity": "critical", "region": "eu"},
			wantAnn:   map[string]string{"status_page_url": "https://status.example.org"},
			wantStart: now, wantEnd: now.Add(2 * time.Minute),
		},
		{
			name: "long summary is cut on a rune boundary", event: notify.Triggered,
			mutate: func(i *notify.Incident) { i.Title, i.Summary = "", strings.Repeat("é", 3000) },
			wantLabel: map[string]string{"alertname": "LookoutIncident", "incident_id": "inc-9", "organization": "acme",
				"component": "api,storage", "severity": "critical", "region": "eu"},
			wantAnn:   map[string]string{"summary": strings.Repeat("é", 2046) + "…"},
			wantStart: started, wantEnd: now.Add(2 * time.Minute),
		},
		{
			name: "invalid UTF-8 is replaced", event: notify.Triggered,
			mutate: func(i *notify.Incident) { i.Org, i.Title, i.Summary = "ac\xffme", "bad \xfe title", "" },
			wantLabel: map[string]string{"alertname": "LookoutIncident", "incident_id": "inc-9", "organization": "ac\uFFFDme",
				"component": "api,storage", "severity": "critical", "region": "eu"},
			wantAnn:   map[string]string{"summary": "bad \uFFFD title"},
			wantStart: started, wantEnd: now.Add(2 * time.Minute),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeAM{}
			srv := httptest.NewServer(f)
			t.Cleanup(srv.Close)
			u := strings.Replace(srv.URL, "http://", "http://lookout:s3cret@", 1) + "/am/"
			n := newNotifier(t, alertmanager.Config{
				URL: u, Clock: clock.NewFake(now), AlertTTL: 2 * time.Minute, ResendEvery: 30 * time.Second,
				ExtraLabels: map[string]string{"region": "eu", "empty": ""}, PageURL: "https://status.example.org",
			})
			inc := testIncident("inc-9", started)
			if tc.mutate != nil {
				tc.mutate(&inc)
			}
			rec, err := n.Deliver(t.Context(), notify.Message{Event: tc.event, Incident: inc})
			if err != nil {
				t.Fatalf("deliver: %v", err)
			}
			if f.path != "/am/api/v2/alerts" {
				t.Errorf("path: got %q, want /am/api/v2/alerts", f.path)
			}
			if f.user != "lookout" || f.pass != "s3cret" {
				t.Errorf("basic auth: got %q:%q, want lookout:s3cret", f.user, f.pass)
			}
			got := f.alerts(t)
			if len(got) != 1 {
				t.Fatalf("posted %d alerts, want 1", len(got))
			}
			a := got[0]
			if !maps.Equal(a.Labels, tc.wantLabel) {
				t.Errorf("labels: got %v, want %v", a.Labels, tc.wantLabel)
			}
			for k, v := range tc.wantAnn {
				if got, ok := a.Annotations[k]; got != v || (v == "" && ok) {
					t.Errorf("annotation %s: got %q (present %v), want %q", k, got, ok, v)
				}
			}
			if !a.StartsAt.Equal(tc.wantStart) || !a.EndsAt.Equal(tc.wantEnd) {
				t.Errorf("startsAt, endsAt: got %s, %s, want %s, %s", a.StartsAt, a.EndsAt, tc.wantStart, tc.wantEnd)
			}
			if rec.Ref == "" {
				t.Errorf("receipt ref: empty")
			}
		})
	}
}

func TestDeliverRef(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	f := &fakeAM{}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	n := newNotifier(t, alertmanager.Config{URL: srv.URL, Clock: clock.NewFake(now)})
	inc := testIncident("inc-r", now.Add(-time.Hour))
	first, err := n.Deliver(t.Context(), notify.Message{Event: notify.Triggered, Incident: inc})
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		ref        string
		mutate     func(*notify.Incident)
		wantAlerts int
	}{
		{name: "same labels: one alert", ref: first.Ref, wantAlerts: 1},
		{name: "no ref: one alert", ref: "", wantAlerts: 1},
		{name: "garbage ref ignored", ref: "%%%;;", wantAlerts: 1},
		{name: "ref of another incident ignored", ref: strings.Replace(first.Ref, "inc-r", "inc-other", 1), wantAlerts: 1,
			mutate: func(i *notify.Incident) { i.Impact = "minor" }},
		{name: "impact changed: old one resolved", ref: first.Ref, wantAlerts: 2,
			mutate: func(i *notify.Incident) { i.Impact = "minor" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inc := inc
			if tc.mutate != nil {
				tc.mutate(&inc)
			}
			rec, err := n.Deliver(t.Context(), notify.Message{Event: notify.Updated, Incident: inc, Ref: tc.ref})
			if err != nil {
				t.Fatal(err)
			}
			got := f.alerts(t)
			if len(got) != tc.wantAlerts {
				t.Fatalf("posted %d alerts, want %d", len(got), tc.wantAlerts)
			}
			if got[0].Labels["severity"] != alertmanager.Severity(inc.Impact) || !got[0].EndsAt.After(now) {
				t.Errorf("first alert: got severity %q ending %s, want the current one, firing", got[0].Labels["severity"], got[0].EndsAt)
			}
			if tc.wantAlerts == 2 {
				old := got[1]
				if old.Labels["severity"] != "critical" || !old.EndsAt.Equal(now) {
					t.Errorf("stale alert: got severity %q ending %s, want the previous (critical) ending now %s",
						old.Labels["severity"], old.EndsAt, now)
				}
			}
			if rec.Ref == tc.ref && tc.wantAlerts == 2 {
				t.Errorf("receipt ref unchanged after a label change")
			}
		})
	}
}

func TestNewInvalid(t *testing.T) {
	tests := []struct {
		name string
		cfg  alertmanager.Config
		want []string
	}{
		{name: "no url", cfg: alertmanager.Config{}, want: []string{"url: required"}},
		{name: "bad scheme", cfg: alertmanager.Config{URL: "ftp://am:9093"}, want: []string{"scheme must be http or https"}},
		{name: "no host", cfg: alertmanager.Config{URL: "http:///x"}, want: []string{"no host"}},
		{name: "query", cfg: alertmanager.Config{URL: "http://am:9093/?a=b"}, want: []string{"must not have a query"}},
		{name: "password not echoed", cfg: alertmanager.Config{URL: "ftp://u:hunter2@am"}, want: []string{"ftp://u:xxxxx@am"}},
		{name: "unparsable, password not echoed", cfg: alertmanager.Config{URL: "http://u:hunter2@[::1"}, want: []string{"url: not a valid URL"}},
		{name: "ttl not above resend", cfg: alertmanager.Config{URL: "http://am", ResendEvery: 5 * time.Minute, AlertTTL: time.Minute},
			want: []string{"resend_every 5m0s must be shorter than alert_ttl 1m0s"}},
		{name: "negative timeout", cfg: alertmanager.Config{URL: "http://am", Timeout: -time.Second}, want: []string{"timeout -1s: must be positive"}},
		{name: "extra labels", cfg: alertmanager.Config{URL: "http://am", ExtraLabels: map[string]string{
			"severity": "x", "bad-name": "y", "ok": "\xff"}},
			want: []string{`extra label "severity": reserved`, `extra label "bad-name": invalid name`, `extra label "ok": value is not valid UTF-8`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := alertmanager.New(tc.cfg, nil)
			if err == nil {
				t.Fatalf("got no error, want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error: got %q, want it to contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q leaks the password", err)
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	n, err := alertmanager.New(alertmanager.Config{URL: "http://127.0.0.1:9093"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if got := n.ResendEvery(); got != time.Minute {
		t.Errorf("ResendEvery: got %s, want 1m", got)
	}
}

package alertmanager_test

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lookout-status/lookout/notify/alertmanager"
)

// testdata/firing.json and resolved.json are what Alertmanager 0.25 posted
// for one alert, captured from a real run (externalURL renamed).
func readTestdata(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// realFingerprint is what Alertmanager computed for the labels of
// testdata/firing.json.
const realFingerprint = "2d3804f2509b8680"

func TestParseWebhook(t *testing.T) {
	firing := readTestdata(t, "firing.json")
	resolved := readTestdata(t, "resolved.json")
	startsAt := time.Date(2026, 3, 1, 12, 0, 0, 123e6, time.UTC)

	twoAlerts := strings.Replace(firing, `"alerts":[{`, `"alerts":[{"status":"firing","labels":{"alertname":"SyncSlow","service":"sync"},"annotations":{},"startsAt":"2026-03-01T11:00:00Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"","fingerprint":"0123456789abcdef"},{`, 1)

	type check func(t *testing.T, m *alertmanager.WebhookMessage)
	tests := []struct {
		name    string
		body    string
		max     int64
		wantErr string // substring; "" means success
		tooBig  bool
		check   check
	}{
		{
			name: "firing", body: firing,
			check: func(t *testing.T, m *alertmanager.WebhookMessage) {
				if m.Version != "4" || m.Status != "firing" || m.Receiver != "lookout" || m.ExternalURL != "http://alertmanager-a:9093" {
					t.Errorf("header: got version %q status %q receiver %q externalURL %q", m.Version, m.Status, m.Receiver, m.ExternalURL)
				}
				if m.CommonLabels["component"] != "storage" || m.GroupLabels["alertname"] != "StorageDown" || m.CommonAnnotations["summary"] != "S3 round trip failing" {
					t.Errorf("common: got labels %v, group labels %v, annotations %v", m.CommonLabels, m.GroupLabels, m.CommonAnnotations)
				}
				if len(m.Alerts) != 1 {
					t.Fatalf("alerts: got %d, want 1", len(m.Alerts))
				}
				a := m.Alerts[0]
				if !a.Firing() || a.Name() != "StorageDown" || a.Component("component") != "storage" || a.Component("service") != "" {
					t.Errorf("alert: got firing %v name %q component %q service %q, want true StorageDown storage \"\"",
						a.Firing(), a.Name(), a.Component("component"), a.Component("service"))
				}
				if !a.StartsAt.Equal(startsAt) || !a.EndsAt.IsZero() {
					t.Errorf("times: got %s..%s, want %s..zero", a.StartsAt, a.EndsAt, startsAt)
				}
				if a.Fingerprint != realFingerprint || a.Annotations["runbook_url"] != "https://runbooks.example.net/storage" {
					t.Errorf("alert: got fingerprint %q annotations %v", a.Fingerprint, a.Annotations)
				}
				if a.GeneratorURL != "http://prometheus:9090/graph?g0.expr=probe_success+%3D%3D+0" {
					t.Errorf("generatorURL: got %q", a.GeneratorURL)
				}
			},
		},
		{
			name: "resolved", body: resolved,
			check: func(t *testing.T, m *alertmanager.WebhookMessage) {
				a := m.Alerts[0]
				if m.Status != "resolved" || a.Firing() || a.Status != "resolved" {
					t.Errorf("status: got %q / alert %q firing %v, want resolved", m.Status, a.Status, a.Firing())
				}
				if want := time.Date(2026, 3, 1, 12, 5, 0, 456e6, time.UTC); !a.EndsAt.Equal(want) {
					t.Errorf("endsAt: got %s, want %s", a.EndsAt, want)
				}
				if a.Fingerprint != realFingerprint {
					t.Errorf("fingerprint: got %q, want the firing one %q", a.Fingerprint, realFingerprint)
				}
			},
		},
		{
			name: "two alerts", body: twoAlerts,
			check: func(t *testing.T, m *alertmanager.WebhookMessage) {
				if len(m.Alerts) != 2 {
					t.Fatalf("alerts: got %d, want 2", len(m.Alerts))
				}
				a, b := m.Alerts[0], m.Alerts[1]
				if a.Component("service") != "sync" || a.Fingerprint != "0123456789abcdef" || b.Fingerprint != realFingerprint {
					t.Errorf("alerts: got %v / %v", a, b)
				}
				if a.DedupKey() == b.DedupKey() {
					t.Errorf("two alerts share the dedup key %q", a.DedupKey())
				}
			},
		},
		{
			name: "missing fingerprint is computed as Alertmanager does",
			body: strings.Replace(firing, `,"fingerprint":"`+realFingerprint+`"`, "", 1),
			check: func(t *testing.T, m *alertmanager.WebhookMessage) {
				if got := m.Alerts[0].Fingerprint; got != realFingerprint {
					t.Errorf("fingerprint: got %q, want %q", got, realFingerprint)
				}
			},
		},
		{
			name: "unknown fields are ignored",
			body: strings.Replace(firing, `"version":"4"`, `"version":"4","futureField":{"x":[1,2]}`, 1),
		},
		{name: "exactly at the limit", body: firing, max: int64(len(firing))},
		{name: "over the limit", body: firing, max: int64(len(firing)) - 1, tooBig: true, wantErr: "webhook body too large"},
		{name: "huge body, default limit", body: `{"version":"4","x":"` + strings.Repeat("a", alertmanager.DefaultMaxBytes) + `"}`, tooBig: true, wantErr: "too large"},
		{name: "empty body", body: "", wantErr: "empty body"},
		{name: "malformed JSON", body: `{"version":"4",}`, wantErr: "invalid JSON at offset 16"},
		{name: "truncated JSON", body: firing[:100], wantErr: "unexpected end of body"},
		{name: "not an object", body: `[1,2]`, wantErr: "got a JSON array, want an object"},
		{name: "alerts not an array", body: strings.Replace(firing, `"alerts":[`, `"alerts":{"a":[`, 1), wantErr: "invalid JSON"},
		{name: "labels not an object", body: strings.Replace(firing, `"labels":{"alertname":"StorageDown",`, `"labels":["x"],"y":{`, 1),
			wantErr: "alerts[0]: labels: got a JSON array, want an object"},
		{name: "bad time", body: strings.Replace(firing, `"2026-03-01T12:00:00.123Z"`, `"yesterday"`, 1), wantErr: "alerts[0]: parsing time"},
		{name: "data after the object", body: firing + `{}`, wantErr: "data after the JSON object"},
		{name: "wrong version", body: strings.Replace(firing, `"version":"4"`, `"version":"3"`, 1), wantErr: `unsupported version "3" (want "4")`},
		{name: "no version", body: strings.Replace(firing, `"version":"4",`, ``, 1), wantErr: `unsupported version ""`},
		{name: "version as a number", body: strings.Replace(firing, `"version":"4"`, `"version":4`, 1), wantErr: "version: got a JSON number, want a string"},
		{name: "bad status", body: strings.Replace(firing, `"status":"firing","alerts"`, `"status":"burning","alerts"`, 1), wantErr: `status "burning": want firing or resolved`},
		{name: "bad alert status", body: strings.Replace(firing, `{"status":"firing","labels"`, `{"status":"","labels"`, 1), wantErr: `alerts[0].status "": want firing or resolved`},
		{name: "no alerts", body: strings.Replace(twoAlerts, `"alerts":[`, `"alerts":[],"x":[`, 1), wantErr: "no alerts"},
		{name: "null alert", body: strings.Replace(firing, `"alerts":[`, `"alerts":[null,`, 1), wantErr: "alerts[0].labels: empty"},
		{name: "alert without labels", body: strings.Replace(firing, `"labels":{"alertname":"StorageDown","component":"storage","instance":"s3.example.net:443","severity":"critical"},"annotations"`, `"labels":{},"annotations"`, 1),
			wantErr: "alerts[0].labels: empty"},
		{name: "alert without startsAt", body: strings.Replace(firing, `"startsAt":"2026-03-01T12:00:00.123Z",`, ``, 1), wantErr: "alerts[0].startsAt: missing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := alertmanager.ParseWebhook(strings.NewReader(tc.body), tc.max)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("got error %v, want none", err)
				}
				if tc.check != nil {
					tc.check(t, m)
				}
				return
			}
			if err == nil {
				t.Fatalf("got no error, want one containing %q", tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error: got %q, want it to contain %q", err, tc.wantErr)
			}
			if got := errors.Is(err, alertmanager.ErrTooLarge); got != tc.tooBig {
				t.Errorf("errors.Is(err, ErrTooLarge): got %v, want %v", got, tc.tooBig)
			}
		})
	}
}

// TestParseWebhookHAPair: the same alert notified by both members of an
// Alertmanager HA pair (different externalURL, possibly grouped with other
// alerts) has one dedup key; its resolution has another.
func TestParseWebhookHAPair(t *testing.T) {
	firing := readTestdata(t, "firing.json")
	fromB := strings.Replace(firing, "alertmanager-a", "alertmanager-b", 1)
	fromB = strings.Replace(fromB, `,"fingerprint":"`+realFingerprint+`"`, "", 1) // an older peer
	parse := func(body string) alertmanager.Alert {
		t.Helper()
		m, err := alertmanager.ParseWebhook(strings.NewReader(body), 0)
		if err != nil {
			t.Fatalf("parse: %v", err)
		}
		return m.Alerts[0]
	}
	a, b, r := parse(firing), parse(fromB), parse(readTestdata(t, "resolved.json"))
	if a.DedupKey() != b.DedupKey() {
		t.Errorf("dedup keys from the two peers: got %q and %q, want equal", a.DedupKey(), b.DedupKey())
	}
	if a.DedupKey() == r.DedupKey() {
		t.Errorf("dedup key of the resolution: got %q, the same as the firing one", r.DedupKey())
	}
}

func TestFingerprintMatchesAlertmanager(t *testing.T) {
	labels := map[string]string{"alertname": "StorageDown", "component": "storage", "instance": "s3.example.net:443", "severity": "critical"}
	if got := alertmanager.Fingerprint(labels); got != realFingerprint {
		t.Errorf("Fingerprint: got %q, want Alertmanager's %q", got, realFingerprint)
	}
}

func FuzzParseWebhook(f *testing.F) {
	for _, name := range []string{"firing.json", "resolved.json"} {
		f.Add([]byte(readTestdata(f, name)))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := alertmanager.ParseWebhook(bytes.NewReader(body), 64<<10)
		if err != nil {
			if m != nil {
				t.Errorf("got a message and error %v", err)
			}
			return
		}
		if m.Version != "4" || len(m.Alerts) == 0 {
			t.Errorf("accepted version %q with %d alerts", m.Version, len(m.Alerts))
		}
		for _, a := range m.Alerts {
			if a.Fingerprint == "" || len(a.Labels) == 0 || a.StartsAt.IsZero() {
				t.Errorf("accepted alert %+v without fingerprint, labels or start", a)
			}
			_ = a.DedupKey()
			_ = a.Component("component")
		}
	})
}

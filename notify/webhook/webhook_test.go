package webhook_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lookout-status/lookout/clock"
	"github.com/lookout-status/lookout/notify"
	"github.com/lookout-status/lookout/notify/webhook"
	"github.com/lookout-status/lookout/probes"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// loopback allows the test receivers, which listen on 127.0.0.1.
var loopback = probes.NewEgress([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")})

var t0 = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)

// request is what a receiver saw.
type request struct {
	method string
	path   string
	header http.Header
	body   []byte
}

// receiver is an httptest server that records requests and answers with
// respond (200 if nil).
type receiver struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []request
}

func newReceiver(t *testing.T, respond http.HandlerFunc) *receiver {
	t.Helper()
	rc := &receiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.reqs = append(rc.reqs, request{method: r.Method, path: r.URL.RequestURI(), header: r.Header.Clone(), body: body})
		rc.mu.Unlock()
		if respond != nil {
			respond(w, r)
		}
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) requests() []request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]request(nil), rc.reqs...)
}

func newNotifier(t *testing.T, cfg webhook.Config, eg *probes.Egress) *webhook.Notifier {
	t.Helper()
	n, err := webhook.New(cfg, nil, eg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.CloseIdleConnections)
	return n
}

func message() notify.Message {
	return notify.Message{
		Key:   "inc_42:triggered:0",
		Event: notify.Triggered,
		Incident: notify.Incident{
			ID: "inc_42", Org: "acme", Title: "Storage is down", Status: "triggered",
			PublicStatus: "investigating", Impact: "major",
			Components: []notify.Component{{ID: "storage", Name: "Storage", Status: "major_outage"}},
			StartedAt:  t0.Add(-2 * time.Minute),
			Summary:    "storage-roundtrip: put: connection refused",
			URL:        "https://lookout.example.com/incidents/inc_42",
		},
		Level:   1,
		Targets: []notify.Target{{User: "ada", Name: "Ada Lovelace", Email: "ada@example.com"}},
		At:      t0.Add(-time.Minute),
	}
}

func TestDeliverSigned(t *testing.T) {
	secret := webhook.GenerateSecret()
	clk := clock.NewFake(t0)
	rc := newReceiver(t, nil)
	n := newNotifier(t, webhook.Config{
		URL:     rc.URL + "/hooks/lookout?source=test",
		Secret:  secret,
		Headers: map[string]string{"Authorization": "Bearer receiver-token", "X-Team": "sre"},
		Clock:   clk,
	}, loopback)

	m := message()
	for i := range 2 {
		if _, err := n.Deliver(context.Background(), m); err != nil {
			t.Fatalf("delivery %d: %v", i+1, err)
		}
		clk.Advance(90 * time.Second) // a retry, later
	}

	reqs := rc.requests()
	if len(reqs) != 2 {
		t.Fatalf("receiver got %d requests, want 2", len(reqs))
	}
	for i, r := range reqs {
		sentAt := t0.Add(time.Duration(i) * 90 * time.Second)
		if err := specVerify(secret, r.header, r.body, sentAt); err != nil {
			t.Errorf("request %d: independent verifier: %v", i+1, err)
		}
		for h, want := range map[string]string{
			"webhook-id":        "inc_42:triggered:0",
			"webhook-timestamp": strconv.FormatInt(sentAt.Unix(), 10),
			"Content-Type":      "application/json",
			"Authorization":     "Bearer receiver-token",
			"X-Team":            "sre",
			"User-Agent":        "Lookout-Webhooks/1",
		} {
			if got := r.header.Get(h); got != want {
				t.Errorf("request %d: %s: got %q, want %q", i+1, h, got, want)
			}
		}
		if r.method != http.MethodPost || r.path != "/hooks/lookout?source=test" {
			t.Errorf("request %d: got %s %s, want POST /hooks/lookout?source=test", i+1, r.method, r.path)
		}
	}
	if string(reqs[0].body) != string(reqs[1].body) {
		t.Errorf("a retry sent a different body:\n%s\n%s", reqs[0].body, reqs[1].body)
	}

	var got map[string]any
	if err := json.Unmarshal(reqs[0].body, &got); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, reqs[0].body)
	}
	data, _ := got["data"].(map[string]any)
	checks := []struct {
		name string
		got  any
		want any
	}{
		{"type", got["type"], "incident.triggered"},
		{"timestamp", got["timestamp"], "2026-03-14T09:25:53Z"},
		{"data.id", data["id"], "inc_42"},
		{"data.org", data["org"], "acme"},
		{"data.title", data["title"], "Storage is down"},
		{"data.impact", data["impact"], "major"},
		{"data.level", data["level"], 1.0},
		{"data.repeat", data["repeat"], 0.0},
		{"data.summary", data["summary"], "storage-roundtrip: put: connection refused"},
		{"data.components[0].status", data["components"].([]any)[0].(map[string]any)["status"], "major_outage"},
		{"data.targets[0].user", data["targets"].([]any)[0].(map[string]any)["user"], "ada"},
		{"data.key absent", data["key"], nil},
		{"data.ref absent", data["ref"], nil},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestPayloadShape(t *testing.T) {
	m := notify.Message{Key: "k", Event: notify.Resolved, Incident: notify.Incident{ID: "inc_1"}, At: t0}
	b, err := webhook.Payload(m)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"type":"incident.resolved","timestamp":"2026-03-14T09:26:53Z","data":{"id":"inc_1","org":"","title":"","status":"","public_status":"","impact":"","components":[],"started_at":"0001-01-01T00:00:00Z","level":0,"repeat":0,"targets":[]}}`
	if string(b) != want {
		t.Errorf("payload:\ngot  %s\nwant %s", b, want)
	}

	m.Event = "Resolved."
	if _, err := webhook.Payload(m); err == nil {
		t.Errorf("event %q: got no error, want one", m.Event)
	}
}

func TestMessageID(t *testing.T) {
	for _, key := range []string{"inc_42:triggered:0", "a-b_C:9"} {
		if got := webhook.MessageID(key); got != key {
			t.Errorf("MessageID(%q): got %q, want the key itself", key, got)
		}
	}
	for _, key := range []string{"inc.42", "a b", "é", strings.Repeat("k", 201)} {
		got := webhook.MessageID(key)
		if !strings.HasPrefix(got, "msg_") || strings.Contains(got, ".") || got != webhook.MessageID(key) {
			t.Errorf("MessageID(%q): got %q, want a stable msg_ id without full stops", key, got)
		}
	}
	if webhook.MessageID("inc.1") == webhook.MessageID("inc.2") {
		t.Error("two keys map to one id")
	}
}

func TestDeliverOutcomes(t *testing.T) {
	type want struct {
		ok         bool
		permanent  bool
		retryAfter time.Duration // 0: none
		errHas     string
	}
	redirectTarget := newReceiver(t, nil)
	tests := []struct {
		name    string
		respond http.HandlerFunc
		want    want
	}{
		{"200", status(200, ""), want{ok: true}},
		{"204", status(204, ""), want{ok: true}},
		{"202 with a body", status(202, `{"queued":true}`), want{ok: true}},
		{"400", status(400, `{"error":"bad payload"}`), want{permanent: true, errHas: `HTTP 400 "{\"error\":\"bad payload\"}"`}},
		{"401", status(401, ""), want{permanent: true, errHas: "HTTP 401"}},
		{"404", status(404, "not found\nsecond line"), want{permanent: true, errHas: `HTTP 404 "not found"`}},
		{"410 gone", status(410, ""), want{permanent: true, errHas: "HTTP 410: the receiver wants no more deliveries"}},
		{"408 retried", status(408, ""), want{errHas: "HTTP 408"}},
		{"429 retried", status(429, ""), want{errHas: "HTTP 429"}},
		{"429 with Retry-After seconds", withHeader("Retry-After", "120", status(429, "")), want{retryAfter: 2 * time.Minute, errHas: "HTTP 429"}},
		{"503 with Retry-After date", withHeader("Retry-After", t0.Add(90*time.Second).Format(http.TimeFormat), status(503, "")), want{retryAfter: 90 * time.Second, errHas: "HTTP 503"}},
		{"503 with a garbage Retry-After", withHeader("Retry-After", "soon", status(503, "")), want{errHas: "HTTP 503"}},
		{"500 retried", status(500, "boom"), want{errHas: `HTTP 500 "boom"`}},
		{"502 retried", status(502, ""), want{errHas: "HTTP 502"}},
		{"301 not followed, permanent", redirect(redirectTarget.URL, 301), want{permanent: true, errHas: "HTTP 301: redirects are not followed; update the webhook URL"}},
		{"308 not followed, permanent", redirect(redirectTarget.URL, 308), want{permanent: true, errHas: "HTTP 308"}},
		{"302 not followed, retried", redirect(redirectTarget.URL, 302), want{errHas: "HTTP 302: redirects are not followed"}},
		{"307 not followed, retried", redirect(redirectTarget.URL, 307), want{errHas: "HTTP 307"}},
		{"endless response body", func(w http.ResponseWriter, r *http.Request) {
			chunk := []byte(strings.Repeat("x", 32<<10))
			for r.Context().Err() == nil {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		}, want{ok: true}},
		{"binary error body", status(500, "\x00\x01\xff\xfeoops"), want{errHas: `HTTP 500 "oops"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc := newReceiver(t, tc.respond)
			n := newNotifier(t, webhook.Config{
				URL:    rc.URL + "/hooks/SECRET-TOKEN?token=hush",
				Secret: webhook.GenerateSecret(),
				Clock:  clock.NewFake(t0),
			}, loopback)
			_, err := n.Deliver(context.Background(), message())
			if tc.want.ok {
				if err != nil {
					t.Fatalf("got %v, want delivered", err)
				}
				return
			}
			if err == nil {
				t.Fatal("got delivered, want an error")
			}
			if got := notify.IsPermanent(err); got != tc.want.permanent {
				t.Errorf("permanent: got %v, want %v (%v)", got, tc.want.permanent, err)
			}
			d, ok := notify.RetryAfterDelay(err)
			if d != tc.want.retryAfter || ok != (tc.want.retryAfter != 0) {
				t.Errorf("retry after: got %v (%v), want %v", d, ok, tc.want.retryAfter)
			}
			if !strings.Contains(err.Error(), tc.want.errHas) {
				t.Errorf("error: got %q, want it to contain %q", err, tc.want.errHas)
			}
			for _, secret := range []string{"SECRET-TOKEN", "hush"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q reveals the URL's %q", err, secret)
				}
			}
		})
	}
	if got := len(redirectTarget.requests()); got != 0 {
		t.Errorf("redirect target got %d requests, want 0 (redirects are never followed)", got)
	}
}

func status(code int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(code)
		io.WriteString(w, body)
	}
}

func withHeader(k, v string, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(k, v)
		next(w, r)
	}
}

func redirect(to string, code int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, to+"/elsewhere", code) }
}

func TestDeliverTimeout(t *testing.T) {
	stop := make(chan struct{})
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-stop:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(func() { close(stop) }) // before rc.Close: cleanups run last-in first-out
	n := newNotifier(t, webhook.Config{URL: rc.URL + "/slow?token=hush", Secret: webhook.GenerateSecret(), Timeout: 100 * time.Millisecond}, loopback)

	_, err := n.Deliver(context.Background(), message())
	if err == nil || notify.IsPermanent(err) {
		t.Fatalf("got %v, want a retryable error", err)
	}
	if want := "no answer in time (timeout 100ms)"; !strings.Contains(err.Error(), want) {
		t.Errorf("error: got %q, want it to contain %q", err, want)
	}
	if strings.Contains(err.Error(), "hush") {
		t.Errorf("error %q reveals the URL's query", err)
	}

	// The caller's deadline applies too.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	n2 := newNotifier(t, webhook.Config{URL: rc.URL, Secret: webhook.GenerateSecret(), Timeout: time.Hour}, loopback)
	if _, err := n2.Deliver(ctx, message()); err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("caller deadline: got %v, want a deadline error", err)
	}
}

func TestDeliverRefusesMessage(t *testing.T) {
	rc := newReceiver(t, nil)
	n := newNotifier(t, webhook.Config{URL: rc.URL, Secret: webhook.GenerateSecret()}, loopback)
	for _, tc := range []struct {
		name string
		edit func(*notify.Message)
		want string
	}{
		{"no key", func(m *notify.Message) { m.Key = "" }, "message has no idempotency key"},
		{"bad event", func(m *notify.Message) { m.Event = "" }, `event "" is not a lowercase identifier`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := message()
			tc.edit(&m)
			_, err := n.Deliver(context.Background(), m)
			if !notify.IsPermanent(err) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want a permanent error containing %q", err, tc.want)
			}
		})
	}
	if got := len(rc.requests()); got != 0 {
		t.Errorf("receiver got %d requests, want 0", got)
	}
}

func TestNewRefuses(t *testing.T) {
	secret := webhook.GenerateSecret()
	tests := []struct {
		name string
		cfg  webhook.Config
		eg   *probes.Egress
		want []string
	}{
		{name: "receiver on 127.0.0.1 with the default policy", cfg: webhook.Config{URL: "http://127.0.0.1:8080/hook", Secret: secret},
			want: []string{"url: egress denied: address 127.0.0.1 is loopback"}},
		{name: "localhost", cfg: webhook.Config{URL: "http://localhost:8080/hook", Secret: secret},
			want: []string{"url: egress denied: address 127.0.0.1 is loopback"}},
		{name: "cloud metadata", cfg: webhook.Config{URL: "http://169.254.169.254/latest/meta-data/", Secret: secret},
			want: []string{"url: egress denied: address 169.254.169.254 is link-local / cloud metadata"}},
		{name: "metadata even with loopback allowed", cfg: webhook.Config{URL: "http://169.254.169.254/", Secret: secret}, eg: loopback,
			want: []string{"address 169.254.169.254 is link-local / cloud metadata"}},
		{name: "IPv4-mapped loopback", cfg: webhook.Config{URL: "http://[::ffff:127.0.0.1]/", Secret: secret},
			want: []string{"address 127.0.0.1 is loopback"}},
		{name: "decimal loopback", cfg: webhook.Config{URL: "http://2130706433/", Secret: secret},
			want: []string{"address 127.0.0.1 is loopback"}},
		{name: "private", cfg: webhook.Config{URL: "https://10.1.2.3/", Secret: secret},
			want: []string{"address 10.1.2.3 is private"}},
		{name: "scheme", cfg: webhook.Config{URL: "gopher://hooks.example.com/", Secret: secret},
			want: []string{`url: scheme "gopher" is not allowed`}},
		{name: "credentials in the URL", cfg: webhook.Config{URL: "https://user:pw@hooks.example.com/", Secret: secret},
			want: []string{"credentials in the URL are not allowed"}},
		{name: "unparsable URL", cfg: webhook.Config{URL: "https://hooks.example.com/%zz?token=hush", Secret: secret},
			want: []string{"url: invalid"}},
		{name: "empty", cfg: webhook.Config{},
			want: []string{"url: required", "secret: required"}},
		{name: "bad secret", cfg: webhook.Config{URL: "https://hooks.example.com/", Secret: "whsec_hush hush"},
			want: []string{`secret: secret is not "whsec_" followed by standard base64`}},
		{name: "short secret", cfg: webhook.Config{URL: "https://hooks.example.com/", Secret: "whsec_aHVzaA=="},
			want: []string{"secret: secret is 4 bytes, want at least 24"}},
		{name: "reserved headers", cfg: webhook.Config{URL: "https://hooks.example.com/", Secret: secret, Headers: map[string]string{
			"webhook-signature": "v1,x", "Content-Type": "text/plain", "Host": "evil.example", "Webhook-Extra": "x"}},
			want: []string{"headers: webhook-signature is set by lookout", "headers: Content-Type is set by lookout", "headers: Host is set by lookout", "headers: Webhook-Extra is set by lookout"}},
		{name: "header injection", cfg: webhook.Config{URL: "https://hooks.example.com/", Secret: secret, Headers: map[string]string{
			"X-A": "ok\r\nX-Injected: 1", "Bad Name": "x"}},
			want: []string{"headers: value of X-A contains control characters", `headers: "Bad Name" is not a valid header name`}},
		{name: "negative timeout", cfg: webhook.Config{URL: "https://hooks.example.com/", Secret: secret, Timeout: -time.Second},
			want: []string{"timeout: must not be negative"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := webhook.New(tc.cfg, nil, tc.eg)
			if err == nil {
				n.CloseIdleConnections()
				t.Fatal("got no error, want one")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error: got %q, want it to contain %q", err, w)
				}
			}
			for _, s := range []string{"hush", secret} {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error %q reveals a secret", err)
				}
			}
		})
	}

	n, err := webhook.New(webhook.Config{URL: "https://Hooks.Example.com:8443/x", Secret: secret}, nil, nil)
	if err != nil {
		t.Fatalf("public URL: %v", err)
	}
	if got, want := n.Destination(), "hooks.example.com:8443"; got != want {
		t.Errorf("Destination: got %q, want %q", got, want)
	}
}

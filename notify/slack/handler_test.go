package slack

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lookout-status/lookout/clock"
)

const testSecret = "8f742231b10e8888abcd99yyyzzz85a5"

var handlerNow = time.Unix(1_772_373_600, 0)

func sign(secret, ts string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "v0:%s:", ts)
	mac.Write(body)
	return "v0=" + hex.EncodeToString(mac.Sum(nil))
}

// signedRequest builds a request as Slack sends it, signed at ts.
func signedRequest(body string, ts time.Time) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/integrations/slack/actions", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	tsStr := strconv.FormatInt(ts.Unix(), 10)
	r.Header.Set("X-Slack-Request-Timestamp", tsStr)
	r.Header.Set("X-Slack-Signature", sign(testSecret, tsStr, []byte(body)))
	return r
}

func actionBody(actionID, incident, actionTs, responseURL string) string {
	payload := map[string]any{
		"type":         "block_actions",
		"team":         map[string]any{"id": "T0TEAM", "domain": "acme"},
		"user":         map[string]any{"id": "U0DANA", "username": "dana", "name": "dana", "team_id": "T0TEAM"},
		"channel":      map[string]any{"id": "C0INCIDENTS", "name": "incidents"},
		"trigger_id":   "13345224609.738474920.8088930838d88f008e0",
		"response_url": responseURL,
		"container":    map[string]any{"type": "message", "message_ts": "1700000000.000001"},
		"actions": []any{map[string]any{
			"type": "button", "action_id": actionID, "block_id": "lookout_incident_actions",
			"value": incident, "action_ts": actionTs, "text": map[string]any{"type": "plain_text", "text": "Acknowledge"},
		}},
	}
	b, _ := json.Marshal(payload)
	return url.Values{"payload": {string(b)}}.Encode()
}

func commandBody(text string) string {
	return url.Values{
		"token": {"legacy"}, "team_id": {"T0TEAM"}, "channel_id": {"C0INCIDENTS"}, "user_id": {"U0DANA"},
		"user_name": {"dana"}, "command": {"/lookout"}, "text": {text},
		"response_url": {"https://hooks.slack.com/commands/T0TEAM/1/x"},
		"trigger_id":   {"trig-" + text},
	}.Encode()
}

// recorder collects what the handler hands to the incident engine.
type recorder struct {
	mu       sync.Mutex
	actions  []Action
	commands []Command
	err      error
	reply    string
}

func (r *recorder) action(_ context.Context, a Action) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.actions = append(r.actions, a)
	return r.reply, r.err
}

func (r *recorder) command(_ context.Context, c Command) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.commands = append(r.commands, c)
	return r.reply, r.err
}

func newTestHandler(rec *recorder, clk clock.Clock) http.Handler {
	return NewHandler(HandlerConfig{SigningSecret: testSecret, Clock: clk, Actions: rec.action, Commands: rec.command})
}

func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestHandlerActionRunsOnce(t *testing.T) {
	rec := &recorder{}
	clk := clock.NewFake(handlerNow)
	h := newTestHandler(rec, clk)
	body := actionBody(ActionIDAcknowledge, "INC-42", "1772373599.123456", "")

	for i := range 2 {
		w := serve(h, signedRequest(body, handlerNow))
		if w.Code != http.StatusOK {
			t.Fatalf("delivery %d: got status %d, want 200 (%s)", i+1, w.Code, w.Body)
		}
	}
	// A Slack retry re-signs the same action later: still the same action.
	clk.Advance(90 * time.Second)
	if w := serve(h, signedRequest(body, clk.Now())); w.Code != http.StatusOK {
		t.Fatalf("re-signed delivery: got status %d, want 200", w.Code)
	}

	want := Action{
		Kind: KindAcknowledge, IncidentID: "INC-42", SlackUserID: "U0DANA", SlackUserName: "dana",
		TeamID: "T0TEAM", ChannelID: "C0INCIDENTS", At: handlerNow,
	}
	if len(rec.actions) != 1 {
		t.Fatalf("ActionFunc calls: got %d, want 1: %+v", len(rec.actions), rec.actions)
	}
	if got := rec.actions[0]; got != want {
		t.Errorf("action: got %+v, want %+v", got, want)
	}

	// A second, distinct press (new action_ts) is a new action.
	if w := serve(h, signedRequest(actionBody(ActionIDResolve, "INC-42", "1772373690.000001", ""), clk.Now())); w.Code != http.StatusOK {
		t.Fatalf("resolve: got status %d, want 200", w.Code)
	}
	if len(rec.actions) != 2 || rec.actions[1].Kind != KindResolve {
		t.Errorf("after resolve press: got %+v, want a second action of kind resolve", rec.actions)
	}
}

func TestHandlerRefuses(t *testing.T) {
	body := actionBody(ActionIDAcknowledge, "INC-42", "1772373599.1", "")
	tsNow := strconv.FormatInt(handlerNow.Unix(), 10)
	tests := []struct {
		name string
		req  func() *http.Request
		want int
	}{
		{"bad signature", func() *http.Request {
			r := signedRequest(body, handlerNow)
			r.Header.Set("X-Slack-Signature", sign("wrong-secret", tsNow, []byte(body)))
			return r
		}, http.StatusUnauthorized},
		{"body changed after signing", func() *http.Request {
			r := signedRequest(body, handlerNow)
			tampered := strings.Replace(body, "INC-42", "INC-43", 1)
			r.Body = io.NopCloser(strings.NewReader(tampered))
			r.ContentLength = int64(len(tampered))
			return r
		}, http.StatusUnauthorized},
		{"timestamp 6 minutes old", func() *http.Request { return signedRequest(body, handlerNow.Add(-6*time.Minute)) }, http.StatusUnauthorized},
		{"timestamp 6 minutes ahead", func() *http.Request { return signedRequest(body, handlerNow.Add(6*time.Minute)) }, http.StatusUnauthorized},
		{"timestamp 4 minutes old is fine", func() *http.Request { return signedRequest(body, handlerNow.Add(-4*time.Minute)) }, http.StatusOK},
		{"timestamp swapped after signing", func() *http.Request {
			r := signedRequest(body, handlerNow)
			r.Header.Set("X-Slack-Request-Timestamp", strconv.FormatInt(handlerNow.Unix()-1, 10))
			return r
		}, http.StatusUnauthorized},
		{"missing signature", func() *http.Request {
			r := signedRequest(body, handlerNow)
			r.Header.Del("X-Slack-Signature")
			return r
		}, http.StatusUnauthorized},
		{"missing timestamp", func() *http.Request {
			r := signedRequest(body, handlerNow)
			r.Header.Del("X-Slack-Request-Timestamp")
			return r
		}, http.StatusUnauthorized},
		{"non-numeric timestamp", func() *http.Request {
			r := signedRequest(body, handlerNow)
			r.Header.Set("X-Slack-Request-Timestamp", "soon")
			return r
		}, http.StatusUnauthorized},
		{"signature version v1", func() *http.Request {
			r := signedRequest(body, handlerNow)
			r.Header.Set("X-Slack-Signature", strings.Replace(r.Header.Get("X-Slack-Signature"), "v0=", "v1=", 1))
			return r
		}, http.StatusUnauthorized},
		{"oversized body with length", func() *http.Request {
			return signedRequest("payload="+strings.Repeat("a", DefaultMaxBody), handlerNow)
		}, http.StatusRequestEntityTooLarge},
		{"oversized body chunked, unsigned", func() *http.Request {
			r := signedRequest("", handlerNow)
			r.Body = io.NopCloser(strings.NewReader(strings.Repeat("a", DefaultMaxBody+1)))
			r.ContentLength = -1
			r.Header.Del("X-Slack-Signature")
			return r
		}, http.StatusRequestEntityTooLarge},
		{"malformed payload JSON, signed", func() *http.Request {
			return signedRequest(url.Values{"payload": {`{"type":"block_actions","actions":[`}}.Encode(), handlerNow)
		}, http.StatusBadRequest},
		{"neither payload nor command, signed", func() *http.Request {
			return signedRequest("hello=world", handlerNow)
		}, http.StatusBadRequest},
		{"GET", func() *http.Request {
			return httptest.NewRequest(http.MethodGet, "/integrations/slack/actions", nil)
		}, http.StatusMethodNotAllowed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			h := newTestHandler(rec, clock.NewFake(handlerNow))
			w := serve(h, tc.req())
			if w.Code != tc.want {
				t.Errorf("status: got %d, want %d (%s)", w.Code, tc.want, strings.TrimSpace(w.Body.String()))
			}
			if tc.want != http.StatusOK && len(rec.actions) != 0 {
				t.Errorf("refused request reached ActionFunc: %+v", rec.actions)
			}
		})
	}
}

func TestHandlerWithoutSecretRefusesAll(t *testing.T) {
	rec := &recorder{}
	h := NewHandler(HandlerConfig{Actions: rec.action})
	body := actionBody(ActionIDAcknowledge, "INC-1", "1.1", "")
	r := signedRequest(body, time.Now())
	r.Header.Set("X-Slack-Signature", sign("", r.Header.Get("X-Slack-Request-Timestamp"), []byte(body)))
	if w := serve(h, r); w.Code != http.StatusServiceUnavailable || len(rec.actions) != 0 {
		t.Errorf("empty secret: got status %d and %d actions, want 503 and none", w.Code, len(rec.actions))
	}
}

func TestHandlerIgnoresUnknownButtons(t *testing.T) {
	rec := &recorder{}
	h := newTestHandler(rec, clock.NewFake(handlerNow))
	for _, body := range []string{
		actionBody("someone_elses_button", "INC-1", "1.1", ""),
		actionBody(ActionIDAcknowledge, "", "1.2", ""),
		actionBody(ActionIDAcknowledge, "INC 1\n<!channel>", "1.3", ""),
	} {
		if w := serve(h, signedRequest(body, handlerNow)); w.Code != http.StatusOK {
			t.Errorf("status: got %d, want 200", w.Code)
		}
	}
	if len(rec.actions) != 0 {
		t.Errorf("ActionFunc called for unknown buttons or bad values: %+v", rec.actions)
	}
}

// fakeHooks stands in for hooks.slack.com: a TLS server on loopback and a
// client that dials it whatever the host.
func fakeHooks(t *testing.T) (*http.Client, func() []map[string]any) {
	t.Helper()
	var mu sync.Mutex
	var got []map[string]any
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		_ = json.NewDecoder(r.Body).Decode(&m)
		m["host"] = r.Host
		mu.Lock()
		got = append(got, m)
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, srv.Listener.Addr().String())
		},
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // the test server's certificate is not for hooks.slack.com
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}, func() []map[string]any {
		mu.Lock()
		defer mu.Unlock()
		return got
	}
}

func TestHandlerActionReplies(t *testing.T) {
	tests := []struct {
		name        string
		err         error
		reply       string
		responseURL string
		want        string // "" means nothing posted
	}{
		{"unlinked user", fmt.Errorf("lookup: %w", ErrUnknownUser), "", "https://hooks.slack.com/actions/T0TEAM/1/abc", UnlinkedText},
		{"reply", nil, "Acknowledged INC-42.", "https://hooks.slack.com/actions/T0TEAM/1/abc", "Acknowledged INC-42."},
		{"other error", fmt.Errorf("db: locked"), "", "https://hooks.slack.com/actions/T0TEAM/1/abc", "Sorry, that did not work; the error was logged."},
		{"no reply", nil, "", "https://hooks.slack.com/actions/T0TEAM/1/abc", ""},
		{"response_url elsewhere", nil, "Acknowledged.", "https://evil.example/steal", ""},
		{"response_url over http", nil, "Acknowledged.", "http://hooks.slack.com/actions/x", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			client, posted := fakeHooks(t)
			rec := &recorder{err: tc.err, reply: tc.reply}
			h := NewHandler(HandlerConfig{SigningSecret: testSecret, Clock: clock.NewFake(handlerNow), Actions: rec.action, HTTPClient: client})
			w := serve(h, signedRequest(actionBody(ActionIDAcknowledge, "INC-42", "1.1", tc.responseURL), handlerNow))
			if w.Code != http.StatusOK {
				t.Fatalf("status: got %d, want 200", w.Code)
			}
			got := posted()
			if tc.want == "" {
				if len(got) != 0 {
					t.Errorf("posted %v, want nothing", got)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("posted %d replies, want 1", len(got))
			}
			if got[0]["text"] != tc.want || got[0]["response_type"] != "ephemeral" || got[0]["replace_original"] != false {
				t.Errorf("reply: got %v, want ephemeral %q not replacing the message", got[0], tc.want)
			}
			if got[0]["host"] != "hooks.slack.com" {
				t.Errorf("reply host: got %v, want hooks.slack.com", got[0]["host"])
			}
		})
	}
}

func TestHandlerCommands(t *testing.T) {
	tests := []struct {
		name      string
		text      string
		err       error
		wantCmd   *Command // nil: CommandFunc not called
		wantReply string   // substring of the ephemeral text
	}{
		{name: "ack", text: "ack INC-1", wantCmd: &Command{Name: "ack", Args: []string{"INC-1"}}, wantReply: "ok from engine"},
		{name: "acknowledge spelled out", text: "Acknowledge INC-1", wantCmd: &Command{Name: "ack", Args: []string{"INC-1"}}, wantReply: "ok from engine"},
		{name: "resolve", text: "resolve INC-7", wantCmd: &Command{Name: "resolve", Args: []string{"INC-7"}}, wantReply: "ok from engine"},
		{name: "oncall with team", text: "oncall platform", wantCmd: &Command{Name: "oncall", Args: []string{"platform"}}, wantReply: "ok from engine"},
		{name: "oncall alone", text: "oncall", wantCmd: &Command{Name: "oncall"}, wantReply: "ok from engine"},
		{name: "help", text: "help", wantReply: "/lookout ack INCIDENT-ID"},
		{name: "empty", text: "", wantReply: "/lookout oncall [organization] [team]"},
		{name: "unknown", text: "frobnicate everything", wantReply: "/lookout resolve INCIDENT-ID"},
		{name: "ack without id", text: "ack", wantReply: "Usage: `/lookout ack INCIDENT-ID`"},
		{name: "unlinked user", text: "ack INC-1", err: ErrUnknownUser, wantCmd: &Command{Name: "ack", Args: []string{"INC-1"}}, wantReply: UnlinkedText},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{reply: "ok from engine", err: tc.err}
			h := newTestHandler(rec, clock.NewFake(handlerNow))
			w := serve(h, signedRequest(commandBody(tc.text), handlerNow))
			if w.Code != http.StatusOK {
				t.Fatalf("status: got %d, want 200 (%s)", w.Code, w.Body)
			}
			var resp struct {
				ResponseType string `json:"response_type"`
				Text         string `json:"text"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
				t.Fatalf("response %q: %v", w.Body, err)
			}
			if resp.ResponseType != "ephemeral" || !strings.Contains(resp.Text, tc.wantReply) {
				t.Errorf("response: got %+v, want ephemeral containing %q", resp, tc.wantReply)
			}
			if tc.wantCmd == nil {
				if len(rec.commands) != 0 {
					t.Errorf("CommandFunc called: %+v", rec.commands)
				}
				return
			}
			if len(rec.commands) != 1 {
				t.Fatalf("CommandFunc calls: got %d, want 1", len(rec.commands))
			}
			got := rec.commands[0]
			want := *tc.wantCmd
			want.SlackUserID, want.SlackUserName, want.TeamID, want.ChannelID, want.At = "U0DANA", "dana", "T0TEAM", "C0INCIDENTS", handlerNow
			if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
				t.Errorf("command: got %+v, want %+v", got, want)
			}
		})
	}
}

func TestHandlerCommandReplayRunsOnce(t *testing.T) {
	rec := &recorder{reply: "Acknowledged."}
	h := newTestHandler(rec, clock.NewFake(handlerNow))
	body := commandBody("ack INC-1")
	for i := range 2 {
		if w := serve(h, signedRequest(body, handlerNow)); w.Code != http.StatusOK {
			t.Fatalf("delivery %d: got status %d, want 200", i+1, w.Code)
		}
	}
	if len(rec.commands) != 1 {
		t.Errorf("CommandFunc calls: got %d, want 1", len(rec.commands))
	}
}

func TestSeenSetBounded(t *testing.T) {
	s := newSeenSet(3)
	now := handlerNow
	for i := range 5 {
		if !s.add(strconv.Itoa(i), now, time.Minute) {
			t.Fatalf("add %d: got duplicate, want new", i)
		}
	}
	if len(s.m) > 3 {
		t.Errorf("set size: got %d, want at most 3", len(s.m))
	}
	if s.add("4", now, time.Minute) {
		t.Error("recent key 4: got new, want duplicate")
	}
	if !s.add("4", now.Add(2*time.Minute), time.Minute) {
		t.Error("expired key 4: got duplicate, want new")
	}
	if len(s.order) > 3 {
		t.Errorf("order queue: got %d entries, want at most 3", len(s.order))
	}
}

// FuzzHandler drives arbitrary bodies and headers through verification and
// parsing; with sign set the body is correctly signed, so the parsers see it.
func FuzzHandler(f *testing.F) {
	f.Add([]byte(actionBody(ActionIDAcknowledge, "INC-1", "1.1", "https://hooks.slack.com/a")), true, "")
	f.Add([]byte(commandBody("ack INC-1")), true, "")
	f.Add([]byte("payload=%7B%22type%22%3A%22block_actions%22%2C%22actions%22%3A%5Bnull%5D%7D"), true, "")
	f.Add([]byte("payload=null"), true, "")
	f.Add([]byte("command=%2Flookout&text="), true, "")
	f.Add([]byte("%zz"), true, "")
	f.Add([]byte("payload=x"), false, "v0=00")
	f.Add([]byte{}, false, "")
	f.Fuzz(func(t *testing.T, body []byte, doSign bool, sig string) {
		rec := &recorder{reply: "ok"}
		h := NewHandler(HandlerConfig{SigningSecret: testSecret, Clock: clock.NewFake(handlerNow), MaxBody: 4096,
			Actions: rec.action, Commands: rec.command, HTTPClient: &http.Client{Transport: refuseTransport{}}})
		r := httptest.NewRequest(http.MethodPost, "/integrations/slack/actions", strings.NewReader(string(body)))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		ts := strconv.FormatInt(handlerNow.Unix(), 10)
		r.Header.Set("X-Slack-Request-Timestamp", ts)
		if doSign {
			sig = sign(testSecret, ts, body)
		}
		r.Header.Set("X-Slack-Signature", sig)
		w := serve(h, r)
		switch w.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusUnauthorized, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("status %d for %q", w.Code, body)
		}
		if !doSign && w.Code != http.StatusUnauthorized && w.Code != http.StatusRequestEntityTooLarge {
			t.Fatalf("unsigned request got status %d, want 401 or 413", w.Code)
		}
	})
}

// refuseTransport keeps the fuzzer off the network.
type refuseTransport struct{}

func (refuseTransport) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, fmt.Errorf("no network in fuzzing")
}

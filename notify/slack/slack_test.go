package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slacktest"
	"go.uber.org/goleak"

	"github.com/lookout-status/lookout/notify"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testToken = "xoxb-test-token-do-not-log"

// call is one Web API request the fake Slack received.
type call struct {
	method string
	form   url.Values
}

// fakeSlack is slacktest with its chat.postMessage replaced (the stock one
// leaves a goroutine per message waiting for a websocket reader) and
// chat.update added, recording every request.
type fakeSlack struct {
	srv *slacktest.Server

	mu    sync.Mutex
	calls []call
	n     int
	// fail, if set, answers the next request for a method instead.
	fail map[string]func(w http.ResponseWriter)
}

func newFakeSlack(t *testing.T) *fakeSlack {
	t.Helper()
	f := &fakeSlack{fail: map[string]func(http.ResponseWriter){}}
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
		f.mu.Lock()
		f.calls = append(f.calls, call{method, form})
		fail := f.fail[method]
		delete(f.fail, method)
		f.n++
		n := f.n
		f.mu.Unlock()
		if fail != nil {
			fail(w)
			return
		}
		if form.Get("token") != testToken {
			fmt.Fprint(w, `{"ok":false,"error":"not_authed"}`)
			return
		}
		channel := form.Get("channel")
		if channel == "#incidents" {
			channel = "C0INCIDENTS" // Slack answers with the channel's ID
		}
		ts := form.Get("ts") // chat.update answers with the ts it updated
		if method == "chat.postMessage" {
			ts = fmt.Sprintf("1700000000.%06d", n)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "channel": channel, "ts": ts})
	}
}

func (f *fakeSlack) failNext(method string, fn func(w http.ResponseWriter)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail[method] = fn
}

func (f *fakeSlack) takeCalls() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}

func slackError(code string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) { fmt.Fprintf(w, `{"ok":false,"error":%q}`, code) }
}

func newTestNotifier(t *testing.T, f *fakeSlack) *Notifier {
	t.Helper()
	n, err := New(Config{Token: testToken, Channel: "#incidents", APIURL: f.srv.GetAPIURL(), ConsoleURL: "https://lookout.example.com"}, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return n
}

var started = time.Date(2026, 3, 1, 14, 0, 0, 0, time.UTC)

func testIncident() notify.Incident {
	return notify.Incident{
		ID:           "INC-42",
		Org:          "acme",
		Title:        "Storage uploads failing",
		Status:       "triggered",
		PublicStatus: "investigating",
		Impact:       "major",
		Components: []notify.Component{
			{ID: "storage", Name: "Storage", Status: "major_outage"},
			{ID: "api", Name: "API", Status: "degraded_performance"},
		},
		StartedAt: started,
		Summary:   "storage-roundtrip: put: connection refused",
		PageURL:   "https://status.example.com/incidents/INC-42",
	}
}

// blocksOf decodes the blocks a request carried.
func blocksOf(t *testing.T, c call) slack.Blocks {
	t.Helper()
	var b slack.Blocks
	if err := json.Unmarshal([]byte(c.form.Get("blocks")), &b); err != nil {
		t.Fatalf("%s blocks: %v in %s", c.method, err, c.form.Get("blocks"))
	}
	return b
}

// buttons lists the action_ids of every button in blocks.
func buttons(b slack.Blocks) []string {
	var ids []string
	for _, blk := range b.BlockSet {
		if a, ok := blk.(*slack.ActionBlock); ok {
			for _, e := range a.Elements.ElementSet {
				if btn, ok := e.(*slack.ButtonBlockElement); ok {
					ids = append(ids, btn.ActionID)
				}
			}
		}
	}
	return ids
}

func TestDeliverLifecycle(t *testing.T) {
	f := newFakeSlack(t)
	n := newTestNotifier(t, f)
	ctx := context.Background()

	inc := testIncident()
	r, err := n.Deliver(ctx, notify.Message{Key: "k-trig", Event: notify.Triggered, Incident: inc, At: started})
	if err != nil {
		t.Fatalf("first Deliver: %v", err)
	}
	const wantRef = "C0INCIDENTS:1700000000.000001"
	if r.Ref != wantRef {
		t.Fatalf("first Deliver ref: got %q, want %q", r.Ref, wantRef)
	}
	calls := f.takeCalls()
	if len(calls) != 1 || calls[0].method != "chat.postMessage" {
		t.Fatalf("first Deliver calls: got %+v, want one chat.postMessage", calls)
	}
	post := calls[0]
	if got := post.form.Get("channel"); got != "#incidents" {
		t.Errorf("posted to %q, want #incidents", got)
	}
	if got, want := buttons(blocksOf(t, post)), []string{ActionIDAcknowledge, ActionIDResolve}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("first message buttons: got %v, want %v", got, want)
	}
	raw := jsonUnescape(post.form.Get("blocks"))
	for _, want := range []string{
		"Storage uploads failing", `"value":"INC-42"`, `"style":"primary"`, `"style":"danger"`, `"confirm"`,
		"Triggered", "Storage", "major outage", "<!date^1772373600^{date_short_pretty} {time}|2026-03-01 14:00 UTC>",
		"storage-roundtrip: put: connection refused", "<https://lookout.example.com/console/incidents/INC-42?org=acme|Open in console>",
		"<https://status.example.com/incidents/INC-42|Status page>", "`INC-42`",
	} {
		if !strings.Contains(raw, want) {
			t.Errorf("first message blocks lack %q:\n%s", want, raw)
		}
	}
	if got, want := post.form.Get("text"), "Triggered: Storage uploads failing (major impact, INC-42)"; got != want {
		t.Errorf("fallback text: got %q, want %q", got, want)
	}
	var meta slack.SlackMetadata
	if err := json.Unmarshal([]byte(post.form.Get("metadata")), &meta); err != nil {
		t.Fatalf("metadata: %v", err)
	}
	if meta.EventType != "lookout_incident" || meta.EventPayload["key"] != "k-trig" || meta.EventPayload["incident_id"] != "INC-42" {
		t.Errorf("metadata: got %+v, want lookout_incident with key k-trig, incident_id INC-42", meta)
	}

	// Acknowledged: the message loses its Acknowledge button; a thread reply says who.
	inc.Status = "acknowledged"
	inc.AcknowledgedBy = "Dana"
	inc.AcknowledgedAt = started.Add(5 * time.Minute)
	r, err = n.Deliver(ctx, notify.Message{Key: "k-ack", Event: notify.Acknowledged, Incident: inc, Ref: wantRef})
	if err != nil {
		t.Fatalf("ack Deliver: %v", err)
	}
	if r.Ref != wantRef {
		t.Errorf("ack Deliver ref: got %q, want %q unchanged", r.Ref, wantRef)
	}
	calls = f.takeCalls()
	if len(calls) != 2 || calls[0].method != "chat.update" || calls[1].method != "chat.postMessage" {
		t.Fatalf("ack Deliver calls: got %v, want chat.update then chat.postMessage", methods(calls))
	}
	upd, reply := calls[0], calls[1]
	if upd.form.Get("channel") != "C0INCIDENTS" || upd.form.Get("ts") != "1700000000.000001" {
		t.Errorf("update target: got %s/%s, want C0INCIDENTS/1700000000.000001", upd.form.Get("channel"), upd.form.Get("ts"))
	}
	if got, want := buttons(blocksOf(t, upd)), []string{ActionIDResolve}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("acknowledged message buttons: got %v, want %v", got, want)
	}
	if !strings.Contains(upd.form.Get("blocks"), "Acknowledged by Dana") {
		t.Errorf("acknowledged message lacks %q: %s", "Acknowledged by Dana", upd.form.Get("blocks"))
	}
	if got := reply.form.Get("thread_ts"); got != "1700000000.000001" {
		t.Errorf("reply thread_ts: got %q, want 1700000000.000001", got)
	}
	if got := reply.form.Get("channel"); got != "C0INCIDENTS" {
		t.Errorf("reply channel: got %q, want C0INCIDENTS", got)
	}
	if got, want := reply.form.Get("text"), ":eyes: Acknowledged by Dana"; got != want {
		t.Errorf("reply text: got %q, want %q", got, want)
	}

	// Resolved: no buttons at all; the thread says how long it took.
	inc.Status = "resolved"
	inc.PublicStatus = "resolved"
	inc.ResolvedAt = started.Add(48 * time.Minute)
	if _, err := n.Deliver(ctx, notify.Message{Key: "k-res", Event: notify.Resolved, Incident: inc, Ref: wantRef}); err != nil {
		t.Fatalf("resolve Deliver: %v", err)
	}
	calls = f.takeCalls()
	if len(calls) != 2 {
		t.Fatalf("resolve Deliver calls: got %v, want chat.update then chat.postMessage", methods(calls))
	}
	if got := buttons(blocksOf(t, calls[0])); len(got) != 0 {
		t.Errorf("resolved message buttons: got %v, want none", got)
	}
	if strings.Contains(calls[0].form.Get("blocks"), `"type":"actions"`) {
		t.Errorf("resolved message still has an actions block: %s", calls[0].form.Get("blocks"))
	}
	if got, want := calls[1].form.Get("text"), ":white_check_mark: Resolved after 48m"; got != want {
		t.Errorf("resolve reply: got %q, want %q", got, want)
	}
	if got, want := calls[0].form.Get("text"), "Resolved: Storage uploads failing (major impact, INC-42)"; got != want {
		t.Errorf("resolved fallback text: got %q, want %q", got, want)
	}
}

// jsonUnescape undoes encoding/json's HTML-safe escapes, to compare blocks
// with what Slack renders.
func jsonUnescape(s string) string {
	return strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&").Replace(s)
}

func methods(cs []call) []string {
	var m []string
	for _, c := range cs {
		m = append(m, c.method)
	}
	return m
}

func TestDeliverThreadReplies(t *testing.T) {
	const ref = "C0INCIDENTS:1700000000.000007"
	tests := []struct {
		name      string
		msg       notify.Message
		wantReply string // "" means update only
	}{
		{
			name: "escalated mentions slack users and names the rest",
			msg: notify.Message{Event: notify.Escalated, Level: 1, Targets: []notify.Target{
				{User: "alice", Name: "alice"},
				{User: "bob", Name: "Bob", SlackID: "U024BE7LH"},
				{User: "mallory", Name: "Mallory", SlackID: "<!channel>"},
			}},
			wantReply: ":arrow_double_up: Escalated to level 2: @alice, <@U024BE7LH>, @Mallory",
		},
		{
			name:      "renotify",
			msg:       notify.Message{Event: notify.Renotify, Repeat: 2, Targets: []notify.Target{{User: "dana", SlackID: "W0DANA"}}},
			wantReply: ":rotating_light: Paging again (repeat 2): <@W0DANA>",
		},
		{
			name:      "updated",
			msg:       notify.Message{Event: notify.Updated},
			wantReply: ":memo: Updated: public status investigating; storage-roundtrip: put: connection refused",
		},
		{
			name: "triggered again only updates",
			msg:  notify.Message{Event: notify.Triggered},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeSlack(t)
			n := newTestNotifier(t, f)
			tc.msg.Incident = testIncident()
			tc.msg.Ref = ref
			r, err := n.Deliver(context.Background(), tc.msg)
			if err != nil {
				t.Fatalf("Deliver: %v", err)
			}
			if r.Ref != ref {
				t.Errorf("ref: got %q, want %q", r.Ref, ref)
			}
			calls := f.takeCalls()
			if tc.wantReply == "" {
				if len(calls) != 1 || calls[0].method != "chat.update" {
					t.Fatalf("calls: got %v, want only chat.update", methods(calls))
				}
				return
			}
			if len(calls) != 2 || calls[1].method != "chat.postMessage" {
				t.Fatalf("calls: got %v, want chat.update then chat.postMessage", methods(calls))
			}
			if got := calls[1].form.Get("text"); got != tc.wantReply {
				t.Errorf("reply: got %q, want %q", got, tc.wantReply)
			}
			if got := calls[1].form.Get("thread_ts"); got != "1700000000.000007" {
				t.Errorf("reply thread_ts: got %q, want 1700000000.000007", got)
			}
		})
	}
}

func TestDeliverErrors(t *testing.T) {
	tests := []struct {
		name          string
		method        string // which call fails
		ref           string
		fail          func(http.ResponseWriter)
		wantPermanent bool
		wantRetryIn   time.Duration
	}{
		{name: "invalid_auth", method: "chat.postMessage", fail: slackError("invalid_auth"), wantPermanent: true},
		{name: "channel_not_found", method: "chat.postMessage", fail: slackError("channel_not_found"), wantPermanent: true},
		{name: "not_in_channel", method: "chat.postMessage", fail: slackError("not_in_channel"), wantPermanent: true},
		{name: "account_inactive", method: "chat.postMessage", fail: slackError("account_inactive"), wantPermanent: true},
		{name: "invalid_auth on update", method: "chat.update", ref: "C1:1.2", fail: slackError("invalid_auth"), wantPermanent: true},
		{name: "thread reply not_in_channel", method: "chat.postMessage", ref: "C1:1.2", fail: slackError("not_in_channel"), wantPermanent: true},
		{name: "ratelimited in body", method: "chat.postMessage", fail: slackError("ratelimited")},
		{name: "internal_error", method: "chat.postMessage", fail: slackError("internal_error")},
		{
			name: "429 with Retry-After", method: "chat.postMessage", wantRetryIn: 7 * time.Second,
			fail: func(w http.ResponseWriter) {
				w.Header().Set("Retry-After", "7")
				w.WriteHeader(http.StatusTooManyRequests)
			},
		},
		{name: "429 without Retry-After", method: "chat.update", ref: "C1:1.2", fail: status(http.StatusTooManyRequests)},
		{name: "503", method: "chat.postMessage", fail: status(http.StatusServiceUnavailable)},
		{name: "404 from a wrong api url", method: "chat.postMessage", fail: status(http.StatusNotFound), wantPermanent: true},
		{name: "garbage answer", method: "chat.postMessage", fail: func(w http.ResponseWriter) { fmt.Fprint(w, "<html>") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeSlack(t)
			n := newTestNotifier(t, f)
			f.failNext(tc.method, tc.fail)
			ev := notify.Triggered
			if tc.ref != "" {
				ev = notify.Acknowledged
			}
			_, err := n.Deliver(context.Background(), notify.Message{Event: ev, Incident: testIncident(), Ref: tc.ref})
			if err == nil {
				t.Fatal("Deliver: got nil error, want one")
			}
			if got := notify.IsPermanent(err); got != tc.wantPermanent {
				t.Errorf("IsPermanent(%v): got %v, want %v", err, got, tc.wantPermanent)
			}
			after, ok := RetryAfter(err)
			if tc.wantRetryIn != 0 && (!ok || after != tc.wantRetryIn) {
				t.Errorf("RetryAfter(%v): got %v %v, want %v true", err, after, ok, tc.wantRetryIn)
			}
			if strings.Contains(err.Error(), testToken) {
				t.Errorf("error reveals the token: %v", err)
			}
		})
	}
}

func status(code int) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) { w.WriteHeader(code) }
}

func TestDeliverNetworkErrorIsRetryable(t *testing.T) {
	f := newFakeSlack(t)
	n := newTestNotifier(t, f)
	f.srv.Stop()
	_, err := n.Deliver(context.Background(), notify.Message{Event: notify.Triggered, Incident: testIncident()})
	if err == nil || notify.IsPermanent(err) {
		t.Fatalf("Deliver to a stopped server: got %v, want a retryable error", err)
	}
}

func TestDeliverMessageGonePostsAgain(t *testing.T) {
	f := newFakeSlack(t)
	n := newTestNotifier(t, f)
	f.failNext("chat.update", slackError("message_not_found"))
	inc := testIncident()
	inc.Status = "acknowledged"
	r, err := n.Deliver(context.Background(), notify.Message{Event: notify.Acknowledged, Incident: inc, Ref: "C0INCIDENTS:1600000000.000001"})
	if err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	calls := f.takeCalls()
	if got := methods(calls); fmt.Sprint(got) != "[chat.update chat.postMessage]" {
		t.Fatalf("calls: got %v, want [chat.update chat.postMessage]", got)
	}
	if calls[1].form.Get("thread_ts") != "" {
		t.Errorf("the replacement was posted as a thread reply to %q", calls[1].form.Get("thread_ts"))
	}
	if want := "C0INCIDENTS:1700000000.000002"; r.Ref != want {
		t.Errorf("ref: got %q, want the new message's %q", r.Ref, want)
	}
}

func TestDeliverRejectsBadInput(t *testing.T) {
	f := newFakeSlack(t)
	n := newTestNotifier(t, f)
	for _, tc := range []struct {
		name string
		msg  notify.Message
	}{
		{"malformed ref", notify.Message{Event: notify.Updated, Incident: testIncident(), Ref: "no-colon"}},
		{"no incident id", notify.Message{Event: notify.Triggered}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := n.Deliver(context.Background(), tc.msg)
			if !notify.IsPermanent(err) {
				t.Errorf("Deliver: got %v, want a permanent error", err)
			}
		})
	}
	if calls := f.takeCalls(); len(calls) != 0 {
		t.Errorf("bad input reached Slack: %v", methods(calls))
	}
}

// Incident fields come from config, probes and Alertmanager labels: none of
// them may ping the channel or smuggle a link.
func TestDeliverEscapesHostileFields(t *testing.T) {
	f := newFakeSlack(t)
	n := newTestNotifier(t, f)
	inc := testIncident()
	inc.Title = "<!channel> & <https://evil.example|click>"
	inc.Summary = "<!here> probe said <@U0BOSS>"
	inc.Components = []notify.Component{{Name: "<!everyone>", Status: "major_outage"}}
	inc.PageURL = "javascript:alert(1)"
	inc.URL = "https://lookout.example.com/x|<!channel>"
	if _, err := n.Deliver(context.Background(), notify.Message{Event: notify.Triggered, Incident: inc}); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	post := f.takeCalls()[0]
	for _, blk := range blocksOf(t, post).BlockSet {
		for _, txt := range mrkdwnTexts(blk) {
			for _, bad := range []string{"<!channel", "<!here", "<!everyone", "<@U0BOSS", "<https://evil", "javascript:", "|<!"} {
				if strings.Contains(txt, bad) {
					t.Errorf("mrkdwn text carries %q: %q", bad, txt)
				}
			}
		}
	}
	if got, want := post.form.Get("text"), "Triggered: &lt;!channel&gt; &amp; &lt;https://evil.example|click&gt; (major impact, INC-42)"; got != want {
		t.Errorf("fallback text: got %q, want %q", got, want)
	}
}

// mrkdwnTexts returns the mrkdwn strings of a block, where Slack parses <…>.
func mrkdwnTexts(b slack.Block) []string {
	var out []string
	add := func(o *slack.TextBlockObject) {
		if o != nil && o.Type == slack.MarkdownType {
			out = append(out, o.Text)
		}
	}
	switch b := b.(type) {
	case *slack.SectionBlock:
		add(b.Text)
		for _, f := range b.Fields {
			add(f)
		}
	case *slack.ContextBlock:
		for _, e := range b.ContextElements.Elements {
			if o, ok := e.(*slack.TextBlockObject); ok {
				add(o)
			}
		}
	case *slack.ActionBlock:
		for _, e := range b.Elements.ElementSet {
			if btn, ok := e.(*slack.ButtonBlockElement); ok && btn.Confirm != nil {
				add(btn.Confirm.Text)
			}
		}
	}
	return out
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"empty", Config{}, []string{"token is required", "channel is required"}},
		{"bad api url", Config{Token: "x", Channel: "C1", APIURL: "file:///etc"}, []string{`api_url "file:///etc"`}},
		{"bad console url", Config{Token: "x", Channel: "C1", ConsoleURL: "javascript:x"}, []string{`console_url "javascript:x"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg, nil)
			if err == nil {
				t.Fatalf("New: got nil error, want %v", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("New error: got %q, want it to mention %q", err, w)
				}
			}
		})
	}
}

func TestConfigNeverPrintsToken(t *testing.T) {
	cfg := Config{Token: testToken, Channel: "C1"}
	for _, s := range []string{fmt.Sprint(cfg), fmt.Sprintf("%v", cfg), cfg.LogValue().String()} {
		if strings.Contains(s, testToken) {
			t.Errorf("config rendering reveals the token: %s", s)
		}
	}
}

func TestClassifyKeepsCause(t *testing.T) {
	err := classify("op", slack.SlackErrorResponse{Err: "invalid_auth"})
	var se slack.SlackErrorResponse
	if !errors.As(err, &se) || se.Err != "invalid_auth" {
		t.Errorf("classify lost the slack error: %v", err)
	}
}

package web

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lookout-status/lookout/incidents"
	"github.com/lookout-status/lookout/notify/slack"
)

const slackSecret = "8f742231b10e8888abcd99yyyzzz85a5"

type fakeDirectory map[string][]Principal // "team/user" → one principal per organization

func (d fakeDirectory) SlackUsers(_ context.Context, team, user string) []Principal {
	return d[team+"/"+user]
}

type fakeOnCall struct{}

func (fakeOnCall) OnCall(_ context.Context, org, team string, at time.Time) ([]string, error) {
	switch {
	case org != "acme":
		return nil, fmt.Errorf("org %s: %w", org, fs.ErrNotExist)
	case team == "" || team == "platform":
		return []string{"ana", "<!channel>"}, nil
	case team == "night":
		return nil, nil
	}
	return nil, fmt.Errorf("team %s: %w", team, fs.ErrNotExist)
}

// slackHooks stands in for hooks.slack.com: it records the replies posted
// to a response_url without any network.
type slackHooks struct {
	mu      sync.Mutex
	replies []string
}

func (h *slackHooks) RoundTrip(r *http.Request) (*http.Response, error) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	var m struct {
		Text         string `json:"text"`
		ResponseType string `json:"response_type"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	h.mu.Lock()
	h.replies = append(h.replies, r.URL.Host+" "+m.ResponseType+": "+m.Text)
	h.mu.Unlock()
	return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("ok")), Request: r}, nil
}

func (h *slackHooks) take() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.replies
	h.replies = nil
	return r
}

func newSlackEnv(t *testing.T) (*apiEnv, *slackHooks) {
	t.Helper()
	hooks := &slackHooks{}
	e := newAPIEnv(t, func(d *Deps) {
		d.Slack = &SlackDeps{
			SigningSecret: slackSecret,
			Directory: fakeDirectory{
				"T1/UALICE":  {{Org: "acme", User: "alice", Role: "responder"}},
				"T1/UVICTOR": {{Org: "acme", User: "victor", Role: "viewer"}},
				// Dana is acme's; globex (listed first) claims her Slack id
				// for its user mallory.
				"T1/UDANA": {{Org: "globex", User: "mallory", Role: "owner"}, {Org: "acme", User: "dana", Role: "responder"}},
			},
			HTTPClient: &http.Client{Transport: hooks},
		}
		d.OnCall = fakeOnCall{}
	})
	return e, hooks
}

func slackSign(secret, ts string, body string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "v0:%s:", ts)
	mac.Write([]byte(body))
	return "v0=" + hex.EncodeToString(mac.Sum(nil))
}

// slackPost sends body to path as Slack does, signed with secret at ts.
func (e *apiEnv) slackPost(t *testing.T, path, body, secret string, ts time.Time) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest("POST", path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("User-Agent", "Slackbot 1.0 (+https://api.slack.com/robots)")
	tsStr := strconv.FormatInt(ts.Unix(), 10)
	r.Header.Set("X-Slack-Request-Timestamp", tsStr)
	r.Header.Set("X-Slack-Signature", slackSign(secret, tsStr, body))
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	return w
}

func buttonPress(user, actionID, incident, actionTS string) string {
	payload := map[string]any{
		"type":         "block_actions",
		"team":         map[string]any{"id": "T1", "domain": "acme"},
		"user":         map[string]any{"id": user, "username": strings.ToLower(user), "team_id": "T1"},
		"channel":      map[string]any{"id": "CINCIDENTS", "name": "incidents"},
		"trigger_id":   "13345224609.738474920." + actionTS,
		"response_url": "https://hooks.slack.com/actions/T1/1/abc",
		"actions": []any{map[string]any{
			"type": "button", "action_id": actionID, "block_id": "lookout_incident_actions",
			"value": incident, "action_ts": actionTS,
		}},
	}
	b, _ := json.Marshal(payload)
	return url.Values{"payload": {string(b)}}.Encode()
}

func slashCommand(user, text, trigger string) string {
	return url.Values{
		"team_id": {"T1"}, "channel_id": {"CINCIDENTS"}, "user_id": {user}, "user_name": {strings.ToLower(user)},
		"command": {"/lookout"}, "text": {text}, "response_url": {"https://hooks.slack.com/commands/T1/1/x"},
		"trigger_id": {trigger},
	}.Encode()
}

func ackEntries(inc incidents.Incident) []string {
	var out []string
	for _, e := range inc.Timeline {
		if e.Kind == "acknowledged" {
			out = append(out, e.Actor)
		}
	}
	return out
}

func TestSlackButtonAcknowledges(t *testing.T) {
	e, hooks := newSlackEnv(t)
	body := buttonPress("UALICE", slack.ActionIDAcknowledge, "acme-1", "1773112320.000100")
	for i := range 2 { // the same callback twice: one acknowledgement
		w := e.slackPost(t, "/integrations/slack/actions", body, slackSecret, apiNow)
		if w.Code != 200 {
			t.Fatalf("press %d: got status %d, want 200; body %s", i+1, w.Code, w.Body)
		}
	}
	inc := e.actions.state("acme").Incidents["acme-1"]
	if inc.Lifecycle != incidents.Acknowledged || inc.AckedBy != "alice" {
		t.Errorf("got %s by %q, want acknowledged by alice", inc.Lifecycle, inc.AckedBy)
	}
	if got := ackEntries(inc); len(got) != 1 {
		t.Errorf("got acknowledgements %v, want one", got)
	}
	if got, want := hooks.take(), []string{"hooks.slack.com ephemeral: Acknowledged by alice (acme-1)."}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("replies: got %q, want %q", got, want)
	}
	// The stored incident agrees (what the API and page read).
	rec, err := e.db.Incident(context.Background(), "acme", "acme-1")
	if err != nil || rec.AckedBy != "alice" {
		t.Errorf("stored incident: got acked by %q (err %v), want alice", rec.AckedBy, err)
	}

	// Another press (a new action_ts) on the acknowledged incident says so.
	w := e.slackPost(t, "/integrations/slack/actions", buttonPress("UALICE", slack.ActionIDAcknowledge, "acme-1", "1773112330.000200"), slackSecret, apiNow)
	if w.Code != 200 {
		t.Fatalf("second press: got %d, want 200", w.Code)
	}
	if got := hooks.take(); len(got) != 1 || !strings.Contains(got[0], "acme-1 was already acknowledged by alice.") {
		t.Errorf("second press reply: got %q, want already acknowledged by alice", got)
	}

	// Resolve button.
	e.slackPost(t, "/integrations/slack/actions", buttonPress("UALICE", slack.ActionIDResolve, "acme-1", "1773112340.000300"), slackSecret, apiNow)
	if got := hooks.take(); len(got) != 1 || !strings.HasSuffix(got[0], "Resolved by alice (acme-1).") {
		t.Errorf("resolve reply: got %q, want Resolved by alice (acme-1).", got)
	}
	if _, open := e.actions.state("acme").Incidents["acme-1"]; open {
		t.Errorf("acme-1 still open after the resolve button")
	}
}

// TestSlackUserActsInTheIncidentsOrganization: a Slack member linked in
// two organizations acts as the user of the organization the incident
// belongs to, whatever the order of the links — another organization
// claiming their Slack id neither acts for them nor blocks them.
func TestSlackUserActsInTheIncidentsOrganization(t *testing.T) {
	e, hooks := newSlackEnv(t)
	e.slackPost(t, "/integrations/slack/actions", buttonPress("UDANA", slack.ActionIDAcknowledge, "acme-1", "1.1"), slackSecret, apiNow)
	if got, want := hooks.take(), []string{"hooks.slack.com ephemeral: Acknowledged by dana (acme-1)."}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("replies: got %q, want %q", got, want)
	}
	if inc := e.actions.state("acme").Incidents["acme-1"]; inc.AckedBy != "dana" {
		t.Errorf("acme-1: got acknowledged by %q, want dana", inc.AckedBy)
	}
	e.slackPost(t, "/integrations/slack/actions", buttonPress("UDANA", slack.ActionIDResolve, "globex-1", "1.2"), slackSecret, apiNow)
	hooks.take()
	if _, open := e.actions.state("globex").Incidents["globex-1"]; open {
		t.Errorf("globex-1 still open: the press on globex's incident should act as globex's mallory")
	}
}

func TestSlackRefused(t *testing.T) {
	press := buttonPress("UALICE", slack.ActionIDAcknowledge, "acme-1", "1773112320.000100")
	cases := []struct {
		name   string
		body   string
		secret string
		at     time.Time
		status int
		reply  string // posted to response_url
	}{
		{"forged signature", press, "not-the-secret-at-all-0123456789", apiNow, 401, ""},
		{"stale timestamp", press, slackSecret, apiNow.Add(-6 * time.Minute), 401, ""},
		{"future timestamp", press, slackSecret, apiNow.Add(6 * time.Minute), 401, ""},
		{"oversized body", "payload=" + strings.Repeat("a", 70<<10), slackSecret, apiNow, 413, ""},
		{"unlinked user", buttonPress("UMALLORY", slack.ActionIDAcknowledge, "acme-1", "1.2"), slackSecret, apiNow, 200, slack.UnlinkedText},
		{"viewer", buttonPress("UVICTOR", slack.ActionIDAcknowledge, "acme-1", "1.3"), slackSecret, apiNow, 200, "Your Lookout role (viewer) may not acknowledge incidents."},
		{"other organization's incident", buttonPress("UALICE", slack.ActionIDAcknowledge, "globex-1", "1.4"), slackSecret, apiNow, 200, "Your Slack account is not linked to a Lookout user of globex."},
		{"an incident id naming no organization", buttonPress("UALICE", slack.ActionIDAcknowledge, "42", "1.5"), slackSecret, apiNow, 200, "No incident 42."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, hooks := newSlackEnv(t)
			w := e.slackPost(t, "/integrations/slack/actions", c.body, c.secret, c.at)
			if w.Code != c.status {
				t.Fatalf("got status %d, want %d; body %s", w.Code, c.status, w.Body)
			}
			replies := hooks.take()
			if c.reply == "" && len(replies) != 0 || c.reply != "" && (len(replies) != 1 || !strings.HasSuffix(replies[0], ": "+c.reply)) {
				t.Errorf("replies: got %q, want %q", replies, c.reply)
			}
			for _, org := range []string{"acme", "globex"} {
				if inc := e.actions.state(org).Incidents[org+"-1"]; inc.Lifecycle != incidents.Triggered {
					t.Errorf("%s-1: got %s, want still triggered", org, inc.Lifecycle)
				}
			}
		})
	}
}

func TestSlackCommands(t *testing.T) {
	e, _ := newSlackEnv(t)
	cases := []struct {
		user, text string
		want       string
	}{
		{"UMALLORY", "ack acme-1", slack.UnlinkedText},
		{"UVICTOR", "ack acme-1", "Your Lookout role (viewer) may not acknowledge incidents."},
		{"UALICE", "ack acme-1", "Acknowledged by alice (acme-1)."},
		{"UALICE", "ack acme-1", "acme-1 was already acknowledged by alice."},
		{"UALICE", "ack globex-1", "Your Slack account is not linked to a Lookout user of globex."},
		{"UALICE", "oncall acme", "No on-call schedule acme."}, // one link: acme is a team name
		{"UALICE", "oncall acme platform", "On call for platform now: ana, &lt;!channel&gt;"},
		{"UDANA", "oncall", "You are linked to Lookout users in several organizations (globex, acme): say which, as in `/lookout oncall ORGANIZATION [TEAM]`."},
		{"UDANA", "oncall platform", "You are linked to Lookout users in several organizations"},
		{"UDANA", "oncall acme", "On call now: ana, &lt;!channel&gt;"},
		{"UDANA", "oncall acme night", "Nobody is on call for night now."},
		{"UDANA", "oncall globex", "No on-call schedule in globex."},
		{"UALICE", "oncall", "On call now: ana, &lt;!channel&gt;"},
		{"UALICE", "oncall platform", "On call for platform now: ana, &lt;!channel&gt;"},
		{"UALICE", "oncall night", "Nobody is on call for night now."},
		{"UALICE", "oncall <nope>", "No on-call schedule &lt;nope&gt;."},
		{"UVICTOR", "oncall", "On call now: ana, &lt;!channel&gt;"},
		{"UALICE", "resolve acme-1", "Resolved by alice (acme-1)."},
		{"UALICE", "resolve acme-1", "acme-1 is already resolved."},
		{"UALICE", "help", "`/lookout ack INCIDENT-ID`"},
	}
	for i, c := range cases {
		w := e.slackPost(t, "/integrations/slack/commands", slashCommand(c.user, c.text, "trig-"+strconv.Itoa(i)), slackSecret, apiNow)
		if w.Code != 200 {
			t.Fatalf("%s %q: got status %d, want 200; body %s", c.user, c.text, w.Code, w.Body)
		}
		var m struct {
			ResponseType string `json:"response_type"`
			Text         string `json:"text"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
			t.Fatalf("%s %q: %v; body %s", c.user, c.text, err, w.Body)
		}
		if m.ResponseType != "ephemeral" || !strings.Contains(m.Text, c.want) {
			t.Errorf("%s %q: got %s %q, want ephemeral %q", c.user, c.text, m.ResponseType, m.Text, c.want)
		}
	}
	inc := e.actions.state("acme")
	if _, open := inc.Incidents["acme-1"]; open {
		t.Errorf("acme-1 still open after /lookout resolve")
	}
	rec, err := e.db.Incident(context.Background(), "acme", "acme-1")
	if err != nil || rec.AckedBy != "alice" || rec.Lifecycle != incidents.Resolved {
		t.Errorf("stored acme-1: got %s acked by %q (err %v), want resolved, acked by alice", rec.Lifecycle, rec.AckedBy, err)
	}
	if g := e.actions.state("globex").Incidents["globex-1"]; g.Lifecycle != incidents.Triggered {
		t.Errorf("globex-1: got %s, want triggered", g.Lifecycle)
	}
}

func TestSlackUnroutedWithoutSecret(t *testing.T) {
	e := newAPIEnv(t, func(d *Deps) { d.Slack = &SlackDeps{Directory: fakeDirectory{}} })
	w := e.slackPost(t, "/integrations/slack/actions", buttonPress("UALICE", slack.ActionIDAcknowledge, "acme-1", "1.1"), "", apiNow)
	if w.Code != 404 {
		t.Errorf("got status %d, want 404", w.Code)
	}
}

// TestSlackButtonMeetsAutoResolve: an Acknowledge pressed just as the
// incident's quiet period runs out meets an incident that resolves in the
// same commit; the reply says it is resolved, not "Acknowledged by".
func TestSlackButtonMeetsAutoResolve(t *testing.T) {
	e, hooks := newSlackEnv(t)
	cfg := orgConfig()
	cfg.Policy.AutoResolve, cfg.Policy.QuietPeriod = true, 5*time.Minute
	if _, err := e.actions.Do(context.Background(), "acme", incidents.Configure{Config: cfg}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute)
	e.probe(t, "acme", "api-http", incidents.Up)
	e.clock.Advance(10 * time.Minute)

	w := e.slackPost(t, "/integrations/slack/actions", buttonPress("UALICE", slack.ActionIDAcknowledge, "acme-1", "1773112960.000100"), slackSecret, e.clock.Now())
	if w.Code != 200 {
		t.Fatalf("press: got status %d, want 200; body %s", w.Code, w.Body)
	}
	if got, want := hooks.take(), []string{"hooks.slack.com ephemeral: acme-1 is already resolved."}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("replies: got %q, want %q", got, want)
	}
	rec, err := e.db.Incident(context.Background(), "acme", "acme-1")
	if err != nil || rec.Lifecycle != incidents.Resolved || rec.AckedBy != "" {
		t.Errorf("stored acme-1: got %s acked by %q (err %v), want resolved by the quiet period, never acknowledged", rec.Lifecycle, rec.AckedBy, err)
	}
}

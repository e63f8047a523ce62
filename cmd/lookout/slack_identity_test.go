package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alexedwards/argon2id"

	"github.com/lookout-status/lookout/accounts"
	"github.com/lookout-status/lookout/config"
	"github.com/lookout-status/lookout/store"
	"github.com/lookout-status/lookout/web"
)

// slackTwoOrgsConfig: one Slack workspace serves two organizations. aaa's
// (listed first) user eve claims Dana's Slack member id, as aaa's admin
// could once they may apply users; Dana is acme's.
func slackTwoOrgsConfig(slackURL string) string {
	return fmt.Sprintf(`organizations:
  - id: aaa
    name: AAA
    users:
      - {id: eve, name: Eve, slack_id: U0DANA}
    components:
      - {id: web, name: Web}
  - id: acme
    name: Acme
    users:
      - {id: dana, name: Dana, slack_id: U0DANA}
    teams:
      - id: ops
        members: [dana]
        schedules:
          - id: ops-primary
            layers:
              - {name: weekly, members: [dana], start: "2020-01-06T09:00", rotation: 168h}
    notifiers:
      - id: slack-ops
        slack: {token: "${SLACK_BOT_TOKEN}", channel: "#ops", signing_secret: "${SLACK_SIGNING_SECRET}", api_url: %q}
    integrations:
      alertmanager: {token: "${AM_INGEST_TOKEN}"}
    tokens:
      - {id: cli, user: dana, token: "${LOOKOUT_API_TOKEN}", role: responder}
    components:
      - {id: storage, name: Storage}
`, slackURL)
}

// slashCommand posts `/lookout text` as Slack does, signed, and returns the
// ephemeral reply.
func slashCommand(t *testing.T, base, userID, text string) string {
	t.Helper()
	body := url.Values{
		"team_id": {"T0ACME"}, "channel_id": {"C0OPS"}, "user_id": {userID}, "user_name": {"dana"},
		"command": {"/lookout"}, "text": {text}, "trigger_id": {strconv.FormatInt(time.Now().UnixNano(), 10)},
	}.Encode()
	req, err := http.NewRequest(http.MethodPost, base+"/integrations/slack/commands", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", slackSign(e2eSigningSecret, ts, []byte(body)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("slash command: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m struct {
		Text string `json:"text"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &m) != nil {
		t.Fatalf("slash command %q: got status %d, body %s", text, resp.StatusCode, b)
	}
	return m.Text
}

// TestSlackUserActsInTheIncidentsOrganization: a Slack member linked in
// two organizations acts, on an incident, as the user of the incident's
// organization — another organization claiming the same member id neither
// hijacks nor blocks their button presses and commands.
func TestSlackUserActsInTheIncidentsOrganization(t *testing.T) {
	slk := newFakeSlack(t)
	cfg := writeFile(t, "lookout.yaml", slackTwoOrgsConfig(slk.srv.GetAPIURL()))
	lk := startInProcess(t, cfg, e2eEnv(nil))
	openAlert(t, lk.base)
	var inc e2eIncident
	poll(t, 10*time.Second, "the alert's incident opens", func() bool {
		var ok bool
		inc, ok = openIncidentOf(t, lk.base, "storage")
		return ok
	}, func() string { return "no open incident on storage" })
	if !strings.HasPrefix(inc.ID, "acme-") {
		t.Fatalf("incident id %q: want acme-N", inc.ID)
	}

	if code, body := pressButton(t, lk.base, e2eSigningSecret, "U0DANA", "lookout_ack", inc.ID); code != http.StatusOK {
		t.Fatalf("ack press: got status %d (%s), want 200", code, body)
	}
	poll(t, 5*time.Second, "dana's acknowledgement", func() bool {
		return incidentDetail(t, lk.base, inc.ID).AcknowledgedBy != ""
	}, func() string { return fmt.Sprintf("%+v", incidentDetail(t, lk.base, inc.ID)) })
	if got := incidentDetail(t, lk.base, inc.ID).AcknowledgedBy; got != "dana" {
		t.Errorf("acknowledged by: got %q, want dana", got)
	}

	// Slash commands: an incident id names the organization; on-call needs
	// it said when the member is linked in several.
	cmds := []struct{ text, want string }{
		{"resolve " + inc.ID, "Resolved by dana (" + inc.ID + ")."},
		{"oncall", "You are linked to Lookout users in several organizations (aaa, acme): say which, as in `/lookout oncall ORGANIZATION [TEAM]`."},
		{"oncall acme", "On call now: dana"},
		{"oncall aaa", "No on-call schedule in aaa."},
	}
	for _, c := range cmds {
		if got := slashCommand(t, lk.base, "U0DANA", c.text); got != c.want {
			t.Errorf("/lookout %s: got %q, want %q", c.text, got, c.want)
		}
	}
}

// TestSlackUsersFollowAccounts: a config user acts from Slack as a
// responder; one with an account acts with the role their membership has
// there, and not at all once the account is disabled.
func TestSlackUsersFollowAccounts(t *testing.T) {
	ctx := context.Background()
	cfg, err := config.Parse("lookout.yaml", []byte(`organizations:
  - id: aaa
    users: [{id: eve, slack_id: U0DANA}, {id: dana, slack_id: U0OTHER}]
  - id: acme
    users: [{id: dana, slack_id: U0DANA}, {id: ana, slack_id: U0ANA}]
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "lookout.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	svc, err := accounts.New(accounts.Options{DB: db, Params: &argon2id.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}})
	if err != nil {
		t.Fatal(err)
	}
	a := &access{accounts: svc}
	a.set(cfg)
	links := func(id string) string {
		var out []string
		for _, p := range a.SlackUsers(ctx, "T0", id) {
			out = append(out, p.Org+"/"+p.User+":"+p.Role)
		}
		return strings.Join(out, " ")
	}
	if got, want := links("U0DANA"), "aaa/eve:responder acme/dana:responder"; got != want {
		t.Errorf("before accounts: got %q, want %q", got, want)
	}
	if _, err := svc.AddMember(ctx, "acme", "dana", accounts.RoleViewer); err != nil {
		t.Fatal(err)
	}
	if got, want := links("U0DANA"), "aaa/eve:responder acme/dana:viewer"; got != want {
		t.Errorf("dana a viewer of acme: got %q, want %q", got, want)
	}
	if err := svc.SetDisabled(ctx, "dana", true); err != nil {
		t.Fatal(err)
	}
	if got, want := links("U0DANA"), "aaa/eve:responder"; got != want {
		t.Errorf("dana disabled: got %q, want %q", got, want)
	}
	if got := links("U0NOBODY"); got != "" {
		t.Errorf("an unlinked member: got %q, want none", got)
	}
	var _ web.SlackDirectory = a
}

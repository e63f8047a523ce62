package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lookout-status/lookout/store"
)

// cliConfig has no probes: incidents come from the Alertmanager ingest
// endpoint, so they open at once.
const cliConfig = `organizations:
  - id: acme
    name: Acme
    users:
      - {id: dana, name: Dana Scully}
      - {id: ana, name: Ana}
      - {id: vic, name: Vic}
    teams:
      - id: ops
        members: [dana, ana]
        schedules:
          - id: ops-primary
            time_zone: Europe/Berlin
            layers:
              - {name: weekly, members: [dana, ana], start: "2026-01-05T09:00", rotation: 168h}
            overrides:
              - {user: vic, start: "2026-12-24T00:00", end: "2026-12-27T00:00"}
      - id: db
        members: [ana]
    integrations:
      alertmanager: {token: "${AM_INGEST_TOKEN}"}
    tokens:
      - {id: cli, user: dana, token: "${LOOKOUT_API_TOKEN}", role: responder}
      - {id: dash, user: vic, token: "${LOOKOUT_VIEWER_TOKEN}", role: viewer}
    components:
      - {id: storage, name: Storage}
`

// openAlert opens an incident on storage through the ingest endpoint.
func openAlert(t *testing.T, base string) {
	t.Helper()
	body := `{"receiver":"lookout","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"StorageDown","component":"storage","severity":"critical"},"annotations":{"summary":"S3 round trip failing"},"startsAt":"2026-03-01T12:00:00Z","endsAt":"0001-01-01T00:00:00Z","fingerprint":"2d3804f2509b8680"}],"version":"4","groupKey":"{}:{alertname=\"StorageDown\"}"}`
	req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/integrations/alertmanager", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e2eIngestToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("post alert: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("post alert: got status %d, want 200", resp.StatusCode)
	}
}

func withToken(token string) func(string) string {
	return func(k string) string {
		if k == tokenEnv {
			return token
		}
		return ""
	}
}

// TestIncidentCLI acts on an incident through a real serve, as an
// on-call engineer would from a terminal.
func TestIncidentCLI(t *testing.T) {
	cfg := writeFile(t, "lookout.yaml", cliConfig)
	lk := startInProcess(t, cfg, e2eEnv(nil))
	openAlert(t, lk.base)
	var id string
	poll(t, 10*time.Second, "the alert's incident opens", func() bool {
		inc, ok := openIncidentOf(t, lk.base, "storage")
		id = inc.ID
		return ok
	}, func() string { return "no open incident on storage" })

	steps := []struct {
		name string
		args []string
		want string // regexp the one line of output must match
	}{
		{"list open", []string{"incident", "list", "--server", lk.base}, `(?s)^ID +STATUS +IMPACT +STARTED +COMPONENTS +TITLE\n` + id + ` +triggered +\S+ +\d{4}-\d\d-\d\d \d\d:\d\d UTC +storage +.*Storage.*\n$`},
		{"ack", []string{"incident", "ack", id, "--server", lk.base}, `^` + id + ` acknowledged by dana: .*Storage.*\n$`},
		{"ack again", []string{"incident", "ack", "--server", lk.base, id}, `^` + id + ` acknowledged by dana: .* \(no change\)\n$`},
		{"note", []string{"incident", "note", id, "--server", lk.base + "/", "--body", "rolled back the S3 gateway"}, `^` + id + ` acknowledged by dana: .*\n$`},
		{"snooze", []string{"incident", "snooze", id, "--for", "45m", "--server", lk.base}, `^` + id + ` \w+( by dana)?, snoozed until \d{4}-\d\d-\d\d \d\d:\d\d UTC: .*\n$`},
		{"list snoozed", []string{"incident", "list", "--server", lk.base, "--status", "all"}, `(?s)\n` + id + ` +acknowledged by dana, snoozed +major +`},
		{"resolve", []string{"incident", "resolve", id, "--server", lk.base, "--body", "gateway fixed"}, `^` + id + ` resolved: .*\n$`},
		{"list open after resolve", []string{"incident", "list", "--server", lk.base}, `^No open incidents\.\n$`},
		{"list resolved", []string{"incident", "list", "--status", "resolved", "--server", lk.base}, `(?s)\n` + id + ` +resolved +`},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			out, errOut, err := runCmd(t, withToken(e2eAPIToken), s.args...)
			if err != nil {
				t.Fatalf("lookout %s: %v\n%s", strings.Join(s.args, " "), err, errOut)
			}
			if !regexp.MustCompile(s.want).MatchString(out) {
				t.Errorf("lookout %s: got output\n%s\nwant it to match %s", strings.Join(s.args, " "), out, s.want)
			}
			if strings.Contains(out+errOut, e2eAPIToken) {
				t.Errorf("the token appears in the output")
			}
		})
	}

	// The note and the resolution reached the timeline as dana's.
	d := incidentDetail(t, lk.base, id)
	var kinds []string
	for _, e := range d.Timeline {
		kinds = append(kinds, e.Kind+" by "+e.Actor)
	}
	for _, want := range []string{"acknowledged by dana", "note by dana", "snoozed by dana", "resolved by dana"} {
		if !strings.Contains(strings.Join(kinds, ", "), want) {
			t.Errorf("timeline %q lacks %q", kinds, want)
		}
	}
}

// TestIncidentCLIErrors: every refusal says what to do about it, exits
// non-zero, and never prints the token.
func TestIncidentCLIErrors(t *testing.T) {
	cfg := writeFile(t, "lookout.yaml", cliConfig)
	lk := startInProcess(t, cfg, e2eEnv(nil))
	openAlert(t, lk.base)
	var id string
	poll(t, 10*time.Second, "the alert's incident opens", func() bool {
		inc, ok := openIncidentOf(t, lk.base, "storage")
		id = inc.ID
		return ok
	}, func() string { return "no open incident on storage" })
	notLookout := httptest.NewServer(http.NotFoundHandler())
	defer notLookout.Close()

	tests := []struct {
		name     string
		token    string
		args     []string
		wantCode int
		want     string // in the error or stderr
	}{
		{"wrong token", "not-the-token-0123456789abcdef", []string{"incident", "ack", id, "--server", lk.base}, 1, "token refused by " + lk.base + ": check LOOKOUT_TOKEN"},
		{"no token", "", []string{"incident", "ack", id, "--server", lk.base}, 2, "no API token: set LOOKOUT_TOKEN"},
		{"unknown incident", e2eAPIToken, []string{"incident", "ack", "acme-999", "--server", lk.base}, 1, "acknowledge acme-999: no incident acme-999"},
		{"another organization's id", e2eAPIToken, []string{"incident", "resolve", "globex-1", "--server", lk.base}, 1, "no incident globex-1"},
		{"viewer may not act", e2eViewerToken, []string{"incident", "ack", id, "--server", lk.base}, 1, "acknowledge " + id + ": not allowed:"},
		{"viewer may list", e2eViewerToken, []string{"incident", "list", "--server", lk.base}, 0, ""},
		{"no server", e2eAPIToken, []string{"incident", "ack", id}, 2, "--server is required (or set LOOKOUT_SERVER)"},
		{"server not a URL", e2eAPIToken, []string{"incident", "ack", id, "--server", "lookout.example.net"}, 2, `--server "lookout.example.net": want an http or https URL`},
		{"not a lookout server", e2eAPIToken, []string{"incident", "list", "--server", notLookout.URL}, 1, "has no incident API (404): is --server a Lookout server?"},
		{"note without body", e2eAPIToken, []string{"incident", "note", id, "--server", lk.base}, 2, "--body is required"},
		{"snooze too short", e2eAPIToken, []string{"incident", "snooze", id, "--for", "10s", "--server", lk.base}, 1, "server answered 400: for: want a duration from 1m to 168h"},
		{"no id", e2eAPIToken, []string{"incident", "ack", "--server", lk.base}, 2, "want exactly one incident ID, got 0"},
		{"two ids", e2eAPIToken, []string{"incident", "ack", id, id, "--server", lk.base}, 2, "want exactly one incident ID, got 2"},
		{"unknown action", e2eAPIToken, []string{"incident", "escalate", id}, 2, `unknown action "escalate"`},
		{"bad status", e2eAPIToken, []string{"incident", "list", "--status", "closed", "--server", lk.base}, 1, `--status "closed": want open, resolved or all`},
		{"token is no flag", e2eAPIToken, []string{"incident", "ack", id, "--server", lk.base, "--token", e2eAPIToken}, 2, "flag provided but not defined: -token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, err := runCmd(t, withToken(tc.token), tc.args...)
			if got := exitCode(err); err == nil && tc.wantCode != 0 || err != nil && got != tc.wantCode {
				t.Fatalf("exit: got %d (%v), want %d\nstderr: %s", got, err, tc.wantCode, errOut)
			}
			msg := errOut
			if err != nil {
				msg += err.Error()
			}
			if !strings.Contains(msg, tc.want) {
				t.Errorf("got error %q, stderr %q; want %q", err, errOut, tc.want)
			}
			if tc.token != "" && strings.Contains(out+msg, tc.token) && tc.name != "token is no flag" {
				t.Errorf("the token appears in the output")
			}
		})
	}
	// Nothing above changed the incident.
	if got := incidentDetail(t, lk.base, id).Status; got != "triggered" {
		t.Errorf("incident after refused commands: got %s, want triggered", got)
	}
}

func TestOnCallCLI(t *testing.T) {
	cfg := writeFile(t, "lookout.yaml", cliConfig)
	env := e2eEnv(nil)
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     []string // lines (regexps) of the output, or the error
	}{
		{"dana this week", []string{"--team", "ops", "--at", "2026-03-04T12:00:00Z"}, 0, []string{
			`^Team ops \(acme\), at 2026-03-04 12:00 UTC:$`,
			`^SCHEDULE +ON CALL NOW +NEXT +FROM$`,
			`^ops-primary +dana \(Dana Scully\) +ana \(Ana\) +Mon 2026-03-09 09:00 CET$`,
		}},
		{"ana next week, across DST", []string{"--team", "ops", "--org", "acme", "--at", "2026-03-27T12:00:00Z"}, 0, []string{
			`^ops-primary +ana \(Ana\) +dana \(Dana Scully\) +Mon 2026-03-30 09:00 CEST$`,
		}},
		{"override", []string{"--team", "ops", "--at", "2026-12-25T10:00:00+01:00"}, 0, []string{
			`^ops-primary +vic \(Vic\) +\S+ \(.*\) +Sun 2026-12-27 00:00 CET$`,
		}},
		{"team without schedules", []string{"--team", "db"}, 0, []string{`^Team db has no schedules\.$`}},
		{"team required", []string{}, 1, []string{"--team is required: organization acme has teams ops, db"}},
		{"unknown team", []string{"--team", "opz"}, 1, []string{`no team "opz" in organization acme (teams: ops, db)`}},
		{"unknown org", []string{"--team", "ops", "--org", "globex"}, 1, []string{`no organization "globex" in ` + cfg}},
		{"bad time", []string{"--team", "ops", "--at", "tomorrow"}, 2, []string{`--at "tomorrow": want an RFC 3339 time`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"oncall", "--config", cfg}, tc.args...)
			out, errOut, err := runCmd(t, env, args...)
			if got := exitCode(err); err == nil && tc.wantCode != 0 || err != nil && got != tc.wantCode {
				t.Fatalf("exit: got %d (%v), want %d\nstderr: %s", got, err, tc.wantCode, errOut)
			}
			if err != nil {
				for _, w := range tc.want {
					if !strings.Contains(err.Error()+errOut, w) {
						t.Errorf("got error %q, stderr %q; want %q", err, errOut, w)
					}
				}
				return
			}
			for _, w := range tc.want {
				re := regexp.MustCompile("(?m)" + w)
				if !re.MatchString(out) {
					t.Errorf("output lacks a line matching %s:\n%s", w, out)
				}
			}
		})
	}
}

// TestOnCallCLIStoredOverrides: with --data, `lookout oncall` applies the
// overrides stored through the API and console after the configured ones,
// as the engine and the on-call page do; without it, the file alone.
func TestOnCallCLIStoredOverrides(t *testing.T) {
	cfg := writeFile(t, "lookout.yaml", cliConfig)
	data := t.TempDir()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(data, "lookout.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC) // dana's week
	for _, o := range []store.OnCallOverride{
		{Org: "acme", Schedule: "ops-primary", User: "vic", Start: at.Add(-time.Hour), End: at.Add(time.Hour), CreatedBy: "ana"},
		{Org: "acme", Schedule: "ops-primary", User: "ana", Start: at.Add(-48 * time.Hour), End: at.Add(-47 * time.Hour), CreatedBy: "ana"}, // over
	} {
		if _, err := db.CreateOnCallOverride(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	env := e2eEnv(nil)
	tests := []struct {
		name string
		args []string
		want []string // regexps of output lines, or of the error
		err  bool
	}{
		{"the file alone", []string{"--team", "ops", "--at", at.Format(time.RFC3339)}, []string{`^ops-primary +dana \(Dana Scully\) `}, false},
		{"with the database", []string{"--team", "ops", "--at", at.Format(time.RFC3339), "--data", data},
			[]string{`^ops-primary +vic \(Vic\) +dana \(Dana Scully\) +Wed 2026-03-04 14:00 CET$`, `^With 1 override\(s\) stored through the API or console\.$`}, false},
		{"after the override", []string{"--team", "ops", "--at", at.Add(2 * time.Hour).Format(time.RFC3339), "--data", data},
			[]string{`^ops-primary +dana \(Dana Scully\) `}, false},
		{"no database", []string{"--team", "ops", "--data", filepath.Join(data, "nope")}, []string{`--data .*nope: no database there`}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, err := runCmd(t, env, append([]string{"oncall", "--config", cfg}, tc.args...)...)
			if (err != nil) != tc.err {
				t.Fatalf("got error %v (stderr %q), want error %v", err, errOut, tc.err)
			}
			if err != nil {
				out = err.Error()
			}
			for _, w := range tc.want {
				if !regexp.MustCompile("(?m)" + w).MatchString(out) {
					t.Errorf("output lacks a line matching %s:\n%s", w, out)
				}
			}
			if tc.name == "after the override" && strings.Contains(out, "With ") {
				t.Errorf("an override that is over was counted:\n%s", out)
			}
		})
	}
}

package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lookout-status/lookout/notify/alertmanager/amtest"
)

// TestConsoleLinksInNotifications: with server.url set, every page sent
// about an incident links to it in the console of this deployment — the
// Slack message's "Open in console", the webhook payload's url and the
// Alertmanager alert's generatorURL and incident_url annotation — and the
// link carries the organization (?org=), as console links do.
func TestConsoleLinksInNotifications(t *testing.T) {
	if testing.Short() {
		t.Skip("runs serve, probes and Alertmanager")
	}
	amtest.Require(t)
	svc := newBreakable(t)
	slk := newFakeSlack(t)
	rcv := amtest.NewReceiver(t)
	am := amtest.Start(t, rcv.URL())
	hook := newHookSink(t, hookSinkOptions{accepting: true})
	cfg := writeFile(t, "lookout.yaml", acmeConfig(`server: {url: "https://lookout.example.com/"}
`, fmt.Sprintf(`    notifiers:
      - id: slack-ops
        slack: {token: "${SLACK_BOT_TOKEN}", channel: "#ops", signing_secret: "${SLACK_SIGNING_SECRET}", api_url: %q}
      - id: pager
        alertmanager: {url: %q}
      - id: hook
        webhook: {url: "%s/hook", secret: "${HOOK_SECRET}"}
    components: [{id: api, name: API}]
    probes:
      - {id: api-status, component: api, interval: 1s, timeout: 800ms, failure_threshold: 1, http: {url: "%s/api"}}
`, slk.srv.GetAPIURL(), am.URL(), hook.srv.URL, svc.srv.URL)))
	lk := startInProcess(t, cfg, e2eEnv(map[string]string{"HOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}))

	svc.set("/api", true)
	var id string
	poll(t, 20*time.Second, "an incident", func() bool {
		recs := storedIncidents(t, lk.data)
		if len(recs) > 0 {
			id = recs[0].ID
		}
		return id != ""
	}, func() string { return lk.stderr.String() })
	want := "https://lookout.example.com/console/incidents/" + id + "?org=acme"

	// Slack: the message's context links to the console.
	var msgs []slackMessage
	poll(t, 15*time.Second, "the Slack message", func() bool {
		msgs = slk.incidentMessages(t, id)
		return len(msgs) > 0
	}, func() string { return fmt.Sprintf("slack calls: %+v", slk.snapshot()) })
	if raw := jsonUnescape(msgs[0].raw); !strings.Contains(raw, "<"+want+"|Open in console>") {
		t.Errorf("Slack message lacks the console link %s:\n%s", want, raw)
	}

	// The webhook payload's incident url.
	var got string
	poll(t, 15*time.Second, "the webhook delivery", func() bool {
		for _, r := range hook.requests() {
			var env struct {
				Type string
				Data struct {
					ID, URL string
					PageURL string `json:"page_url"`
				}
			}
			if json.Unmarshal(r.body, &env) == nil && env.Data.ID == id {
				got = env.Data.URL
				if env.Data.PageURL != "https://status.example.net" {
					t.Errorf("webhook page_url: got %q, want the page's", env.Data.PageURL)
				}
				return true
			}
		}
		return false
	}, func() string {
		return fmt.Sprintf("%d webhook requests", hook.count())
	})
	if got != want {
		t.Errorf("webhook payload url: got %q, want %q", got, want)
	}

	// Alertmanager: generatorURL and the incident_url annotation.
	a := rcv.WaitFor(t, 20*time.Second, "firing", map[string]string{"incident_id": id})
	if a.GeneratorURL != want || a.Annotations["incident_url"] != want {
		t.Errorf("alert: got generatorURL %q, incident_url %q, want %q", a.GeneratorURL, a.Annotations["incident_url"], want)
	}
}

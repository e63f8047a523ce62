package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lookout-status/lookout/notify/webhook"
	"github.com/lookout-status/lookout/store"
	"github.com/lookout-status/lookout/web"
)

// pendingSubscriberRows reads the pending subscriber rows of acme's
// incidents and component changes.
func pendingSubscriberRows(t *testing.T, data string) []store.DeliveryRecord {
	t.Helper()
	var out []store.DeliveryRecord
	incs := []string{""} // component changes
	for _, r := range storedIncidents(t, data) {
		incs = append(incs, r.ID)
	}
	for _, inc := range incs {
		for _, d := range deliveries(t, data, "acme", inc) {
			if strings.HasPrefix(d.Channel, "subscriber:") && d.Status == store.DeliveryPending {
				out = append(out, d)
			}
		}
	}
	return out
}

// TestKill9SubscriberDeliveriesResume: three webhook subscribers refuse
// the incident's deliveries; lookout is killed with SIGKILL while they are
// pending. After a restart every pending delivery is made, each under the
// webhook-id of its refused attempts, none under two.
func TestKill9SubscriberDeliveriesResume(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	svc := newBreakable(t)
	hook := newHookSink(t, hookSinkOptions{verifications: true})
	t.Setenv("SUBS_OWNER_TOKEN", subsOwnerToken)
	cfg := writeFile(t, "lookout.yaml", acmeConfig("", olgaOwner+fmt.Sprintf(`    components: [{id: api, name: API}]
    probes:
      - {id: api-status, component: api, interval: 1s, timeout: 800ms, failure_threshold: 1, http: {url: "%s/api"}}
`, svc.srv.URL)))
	data := t.TempDir()
	c := startServe(t, cfg, data)
	base := "http://" + c.addr
	paths := []string{"/a", "/b", "/c"}
	for _, p := range paths {
		if code := apiDo(t, "POST", base+"/api/v1/subscribers", subsOwnerToken, fmt.Sprintf(`{"type":"webhook","url":%q}`, hook.srv.URL+p), nil); code != 201 {
			t.Fatalf("subscribe %s: got %d", p, code)
		}
	}
	poll(t, 20*time.Second, "three active subscribers", func() bool {
		var list struct{ Subscribers []web.Subscription }
		apiGet(t, base, "/api/v1/subscribers", subsOwnerToken, &list)
		n := 0
		for _, s := range list.Subscribers {
			if s.Status == "active" {
				n++
			}
		}
		return n == 3
	}, func() string { return fmt.Sprintf("requests %+v\nlog:\n%s", hook.requests(), c.stderr) })

	svc.set("/api", true)
	// Wait until every subscriber has refused an incident delivery that is
	// still pending.
	poll(t, 30*time.Second, "a refused, pending incident delivery per subscriber", func() bool {
		refused := map[string]bool{}
		for _, r := range hook.requests() {
			if r.kind == "incident" && r.answered != 200 {
				refused[r.path] = true
			}
		}
		return len(refused) == 3 && len(pendingSubscriberRows(t, data)) >= 3
	}, func() string { return fmt.Sprintf("requests %+v\nlog:\n%s", hook.requests(), c.stderr) })
	c.kill9(t)

	pending := pendingSubscriberRows(t, data)
	refusedIDs := map[string]bool{}
	for _, r := range hook.requests() {
		if r.kind != "verification" && r.answered != 200 {
			refusedIDs[r.id] = true
		}
	}
	hook.setAccept(true)
	c2 := startServe(t, cfg, data)
	poll(t, 60*time.Second, "every pending subscriber delivery made after the restart", func() bool {
		left := 0
		for _, p := range pending {
			for _, d := range deliveries(t, data, "acme", incidentOf(t, data, p)) {
				if d.Key == p.Key && d.Status != store.DeliveryDelivered {
					left++
				}
			}
		}
		return left == 0
	}, func() string {
		return fmt.Sprintf("pending %d\nrequests %+v\nlog:\n%s", len(pending), hook.requests(), c2.stderr)
	})

	delivered := map[string]int{} // webhook-id → 200 answers
	for _, r := range hook.requests() {
		if r.answered == 200 && r.kind != "verification" {
			delivered[r.id]++
		}
	}
	for _, p := range pending {
		id := webhook.MessageID(p.Key)
		if delivered[id] == 0 {
			t.Errorf("pending %s: no delivery under webhook-id %q after the restart", p.Key, id)
		}
	}
	for id := range refusedIDs {
		if delivered[id] == 0 {
			t.Errorf("refused webhook-id %q: never delivered under that id", id)
		}
	}
	for id := range delivered {
		if !refusedIDs[id] && !slices.ContainsFunc(pending, func(p store.DeliveryRecord) bool { return webhook.MessageID(p.Key) == id }) {
			// Rows queued after the restart (none expected: the incident
			// did not change) would be new messages, not resends.
			t.Logf("webhook-id %q delivered that was neither refused nor pending at the kill", id)
		}
	}
}

// incidentOf is the incident column of a pending row ("" for a component
// change).
func incidentOf(t *testing.T, data string, d store.DeliveryRecord) string {
	t.Helper()
	for _, r := range storedIncidents(t, data) {
		if strings.HasPrefix(d.Key, r.ID+"/") {
			return r.ID
		}
	}
	return ""
}

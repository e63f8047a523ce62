package amtest_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/lookout-status/lookout/notify/alertmanager/amtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestConfig(t *testing.T) {
	got := amtest.Config("http://127.0.0.1:1234/hook")
	for _, want := range []string{
		"group_wait: 100ms", "group_interval: 200ms", "repeat_interval: 3600s",
		`url: "http://127.0.0.1:1234/hook"`, "send_resolved: true", "group_by: ['...']",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("config: got\n%s\nwant it to contain %q", got, want)
		}
	}
}

// TestStartAndReceive posts an alert with plain HTTP and waits for the
// receiver to get it, then checks the process is gone after cleanup.
func TestStartAndReceive(t *testing.T) {
	rcv := amtest.NewReceiver(t)
	am := amtest.Start(t, rcv.URL())
	body := `[{"labels":{"alertname":"HarnessCheck","component":"sync"},"startsAt":"` +
		time.Now().UTC().Format(time.RFC3339) + `"}]`
	res, err := http.Post(am.URL()+"/api/v2/alerts", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("post alert: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("post alert: got %s, want 200", res.Status)
	}
	http.DefaultClient.CloseIdleConnections()
	a := rcv.WaitFor(t, 15*time.Second, "firing", map[string]string{"alertname": "HarnessCheck"})
	if a.Component("component") != "sync" {
		t.Errorf("component: got %q, want sync", a.Component("component"))
	}
	alerts, err := am.Alerts(t.Context(), `alertname="HarnessCheck"`)
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 1 {
		t.Errorf("active alerts: got %d, want 1", len(alerts))
	}
	if n := len(rcv.Messages()); n != 1 {
		t.Errorf("deliveries: got %d, want 1", n)
	}
}

package subscriber

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/lookout-status/lookout/clock"
	"github.com/lookout-status/lookout/incidents"
	"github.com/lookout-status/lookout/notify"
	"github.com/lookout-status/lookout/notify/email"
	"github.com/lookout-status/lookout/notify/webhook"
	"github.com/lookout-status/lookout/probes"
	"github.com/lookout-status/lookout/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// verifySpec checks a delivery as the Standard Webhooks spec describes it,
// independently of package webhook: the key is the base64 after "whsec_";
// the signature is base64(HMAC-SHA256(key, id + "." + timestamp + "." +
// body)), one of the space-separated "v1,<sig>" entries.
func verifySpec(secret string, h http.Header, body []byte) bool {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(h.Get("webhook-id") + "." + h.Get("webhook-timestamp") + "." + string(body)))
	want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, s := range strings.Fields(h.Get("webhook-signature")) {
		if v, sig, ok := strings.Cut(s, ","); ok && v == "v1" && hmac.Equal([]byte(sig), []byte(want)) {
			return true
		}
	}
	return false
}

// receiver is a loopback webhook endpoint answering with status.
type receiver struct {
	mu     sync.Mutex
	status int
	got    []received
	srv    *httptest.Server
}

type received struct {
	header http.Header
	body   []byte
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{status: http.StatusNoContent}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, received{req.Header.Clone(), b})
		status := r.status
		r.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) setStatus(s int) {
	r.mu.Lock()
	r.status = s
	r.mu.Unlock()
}

func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

// signalOutbox reports every recorded outcome on a channel.
type signalOutbox struct {
	notify.Outbox
	outcomes chan string
}

func (o signalOutbox) Record(ctx context.Context, a notify.Attempt) error {
	err := o.Outbox.Record(ctx, a)
	o.outcomes <- string(a.Outcome)
	return err
}

func waitOutcome(t *testing.T, ch <-chan string, want string) {
	t.Helper()
	select {
	case got := <-ch:
		if got != want {
			t.Fatalf("got outcome %q, want %q", got, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no outcome in 10s, want %q", want)
	}
}

func testPage() Page {
	return Page{ID: "acme", URL: "https://status.acme.example", Documentation: "https://status.acme.example/docs/webhooks",
		Components: map[string]Component{"api": {Name: "API"}, "storage": {Name: "Storage"}}}
}

// publishedIncident is an incident on api and a private component, with
// an opened entry and a public update.
func publishedIncident() incidents.Incident {
	return incidents.Incident{
		ID: "acme-7", Title: "API errors & <timeouts>", Components: []string{"api", "secret-db"},
		Lifecycle: incidents.Triggered, Public: incidents.Identified, Published: true, Impact: incidents.ImpactMajor,
		StartedAt: t0,
		Timeline: []incidents.Entry{
			{Seq: 1, At: t0, Kind: "opened", Body: "probe api-http: connection refused (internal)"},
			{Seq: 2, At: t0.Add(time.Minute), Kind: "note", Body: "internal note"},
			{Seq: 3, At: t0.Add(2 * time.Minute), Kind: "update", To: "identified", Body: "A bad deploy."},
		},
	}
}

func TestEndToEnd(t *testing.T) {
	ctx := context.Background()
	fc := clock.NewFake(t0)
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "lookout.db"), store.Options{Now: fc.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rcv := newReceiver(t)
	egress := probes.NewEgress([]netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")})
	secret := webhook.GenerateSecret()
	page := testPage()
	sub := Subscription{ID: "sub_1", Destination: Destination(rcv.srv.URL), Unsubscribe: "https://status.acme.example/unsubscribe/tok"}

	n, err := New(Config{ID: sub.ID, URL: rcv.srv.URL + "/hook?token=x", Secret: secret, Clock: fc}, nil, egress, db)
	if err != nil {
		t.Fatal(err)
	}
	defer n.CloseIdleConnections()
	if err := db.CreateSubscriber(ctx, store.Subscriber{ID: sub.ID, Org: "acme", URL: rcv.srv.URL, Secret: secret},
		[]notify.Delivery{VerificationDelivery("acme", page, sub, t0)}); err != nil {
		t.Fatal(err)
	}

	outcomes := make(chan string, 10)
	w, err := notify.NewWorker(notify.WorkerOptions{
		Outbox:      signalOutbox{db, outcomes},
		Notifiers:   map[string]notify.Notifier{Channel(sub.ID): n},
		Clock:       fc,
		MaxAttempts: 3,
		Backoff:     func(int) time.Duration { return time.Minute },
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- w.Run(runCtx) }()
	defer func() {
		stop()
		<-done
	}()

	// 1. The verification event, then the subscription is active.
	waitOutcome(t, outcomes, "delivered")
	reqs := rcv.requests()
	if len(reqs) != 1 {
		t.Fatalf("got %d requests, want the verification", len(reqs))
	}
	var p Payload
	if err := json.Unmarshal(reqs[0].body, &p); err != nil || p.Verification == nil || p.Verification.SubscriberID != "sub_1" {
		t.Fatalf("got verification body %s (%v), want one naming sub_1", reqs[0].body, err)
	}
	if !verifySpec(secret, reqs[0].header, reqs[0].body) {
		t.Errorf("verification: signature does not verify per the spec; headers %v", reqs[0].header)
	}
	if s, _ := db.Subscriber(ctx, sub.ID); s.Status != store.SubscriberActive {
		t.Fatalf("after verification: got status %s, want active", s.Status)
	}

	// 2. An incident update and a component change.
	inc := publishedIncident()
	st := incidents.State{Org: "acme", Incidents: map[string]incidents.Incident{inc.ID: inc},
		Components: map[string]incidents.Component{"api": {Status: incidents.PartialOutage}}}
	effs := []incidents.Effect{
		incidents.IncidentUpdated{Incident: inc},
		incidents.TimelineAppended{Incident: inc.ID, Entry: inc.Timeline[2]},
		incidents.ComponentStatusChanged{Component: "api", From: incidents.Operational, To: incidents.PartialOutage, At: t0, Rev: 4},
		incidents.ComponentStatusChanged{Component: "secret-db", From: incidents.Operational, To: incidents.MajorOutage, At: t0, Rev: 1},
	}
	ds := Deliveries("acme", page, []Subscription{sub}, st, effs, t0)
	if len(ds) != 2 {
		t.Fatalf("got %d deliveries, want 2 (the update, the public component)", len(ds))
	}
	if err := db.CommitIncidents(ctx, "acme", incidents.State{Org: "acme"}, nil, ds); err != nil {
		t.Fatal(err)
	}
	w.Wake()
	waitOutcome(t, outcomes, "delivered")
	waitOutcome(t, outcomes, "delivered")
	reqs = rcv.requests()[1:]
	if len(reqs) != 2 {
		t.Fatalf("got %d requests, want 2", len(reqs))
	}
	for _, r := range reqs {
		if !verifySpec(secret, r.header, r.body) {
			t.Errorf("signature does not verify per the spec: %s", r.body)
		}
		if err := webhook.Verify(secret, r.header, r.body, fc.Now(), 0); err != nil {
			t.Errorf("webhook.Verify: %v", err)
		}
	}
	// The two may arrive in either order (two at a time per destination).
	if strings.Contains(string(reqs[0].body), `"component_update"`) {
		reqs[0], reqs[1] = reqs[1], reqs[0]
	}
	var ip map[string]any
	if err := json.Unmarshal(reqs[0].body, &ip); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"meta", "page", "incident"} {
		if ip[k] == nil {
			t.Errorf("incident payload lacks %q: %s", k, reqs[0].body)
		}
	}
	if err := json.Unmarshal(reqs[0].body, &p); err != nil {
		t.Fatal(err)
	}
	if p.Meta.Unsubscribe != sub.Unsubscribe || p.Page.StatusIndicator != "major" || p.Incident.Name != "API errors & <timeouts>" {
		t.Errorf("got meta %+v page %+v name %q", p.Meta, p.Page, p.Incident.Name)
	}
	if got := len(p.Incident.IncidentUpdates); got != 2 || p.Incident.IncidentUpdates[0].Body != "A bad deploy." ||
		p.Incident.IncidentUpdates[1].Body != "We are investigating this issue." {
		t.Errorf("got updates %+v, want the update then the opening, no note", p.Incident.IncidentUpdates)
	}
	if len(p.Incident.Components) != 1 || p.Incident.Components[0].ID != "api" || p.Incident.Components[0].Status != "partial_outage" {
		t.Errorf("got components %+v, want only the public api, partial_outage", p.Incident.Components)
	}
	if strings.Contains(string(reqs[0].body), "secret-db") || strings.Contains(string(reqs[0].body), "internal") {
		t.Errorf("payload leaks private data: %s", reqs[0].body)
	}
	if err := json.Unmarshal(reqs[1].body, &p); err != nil {
		t.Fatal(err)
	}
	if p.ComponentUpdate == nil || p.ComponentUpdate.OldStatus != "operational" || p.ComponentUpdate.NewStatus != "partial_outage" ||
		p.Component == nil || p.Component.ID != "api" {
		t.Errorf("got component payload %s", reqs[1].body)
	}

	// 3. A failing endpoint: retried with the same webhook-id, then given
	// up and the subscription disabled.
	rcv.setStatus(http.StatusServiceUnavailable)
	inc.Timeline = append(inc.Timeline, incidents.Entry{Seq: 4, At: t0.Add(time.Hour), Kind: "resolved"})
	inc.Lifecycle, inc.EndedAt = incidents.Resolved, t0.Add(time.Hour)
	ds = Deliveries("acme", page, []Subscription{sub}, st, []incidents.Effect{
		incidents.IncidentResolved{Incident: inc}, incidents.TimelineAppended{Incident: inc.ID, Entry: inc.Timeline[3]}}, t0)
	if err := db.CommitIncidents(ctx, "acme", incidents.State{Org: "acme"}, nil, ds); err != nil {
		t.Fatal(err)
	}
	w.Wake()
	waitOutcome(t, outcomes, "failed")
	fc.Advance(time.Minute)
	w.Wake()
	waitOutcome(t, outcomes, "failed")
	fc.Advance(time.Minute)
	w.Wake()
	waitOutcome(t, outcomes, "gave_up")
	reqs = rcv.requests()[3:]
	if len(reqs) != 3 {
		t.Fatalf("got %d attempts, want 3", len(reqs))
	}
	id := reqs[0].header.Get("webhook-id")
	for i, r := range reqs {
		if got := r.header.Get("webhook-id"); got != id || got == "" {
			t.Errorf("attempt %d: got webhook-id %q, want %q", i+1, got, id)
		}
		if !verifySpec(secret, r.header, r.body) {
			t.Errorf("attempt %d: signature does not verify", i+1)
		}
	}
	s, err := db.Subscriber(ctx, sub.ID)
	if err != nil {
		t.Fatal(err)
	}
	if s.Status != store.SubscriberDisabled || !strings.Contains(s.DisabledReason, "HTTP 503") {
		t.Errorf("got status %s reason %q, want disabled naming HTTP 503", s.Status, s.DisabledReason)
	}
}

func TestDeliveriesFilter(t *testing.T) {
	page := testPage()
	inc := publishedIncident()
	st := incidents.State{Org: "acme", Incidents: map[string]incidents.Incident{inc.ID: inc}}
	upd := incidents.TimelineAppended{Incident: inc.ID, Entry: inc.Timeline[2]}
	subs := []Subscription{{ID: "all"}, {ID: "api", Components: []string{"api"}}, {ID: "storage", Components: []string{"storage"}}}
	keys := func(ds []notify.Delivery) []string {
		var out []string
		for _, d := range ds {
			out = append(out, d.Message.Key)
		}
		return out
	}
	draft := inc
	draft.Published = false
	private := inc
	private.Components = []string{"secret-db"}
	for _, tc := range []struct {
		name string
		st   incidents.State
		effs []incidents.Effect
		want []string
	}{
		{"update", st, []incidents.Effect{upd}, []string{"acme-7/timeline/3/all", "acme-7/timeline/3/api"}},
		{"note", st, []incidents.Effect{incidents.TimelineAppended{Incident: inc.ID, Entry: inc.Timeline[1]}}, nil},
		{"draft", st, []incidents.Effect{incidents.IncidentUpdated{Incident: draft}, upd}, nil},
		{"private only", st, []incidents.Effect{incidents.IncidentUpdated{Incident: private}, upd}, nil},
		{"storage change", st, []incidents.Effect{incidents.ComponentStatusChanged{Component: "storage", From: "operational", To: "major_outage", At: t0, Rev: 2}},
			[]string{"component/storage/status/2/" + itoaNano(t0) + "/all", "component/storage/status/2/" + itoaNano(t0) + "/storage"}},
		{"private change", st, []incidents.Effect{incidents.ComponentStatusChanged{Component: "secret-db", From: "operational", To: "major_outage", At: t0}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := keys(Deliveries("acme", page, subs, tc.st, tc.effs, t0))
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("got keys %q, want %q", got, tc.want)
			}
		})
	}
}

func itoaNano(t time.Time) string {
	b, _ := json.Marshal(t.UnixNano())
	return string(b)
}

func TestCheckURL(t *testing.T) {
	for _, tc := range []struct {
		url, want string
	}{
		{"https://hooks.example.com/x", ""},
		{"http://127.0.0.1:8080/hook", "denied"},
		{"http://169.254.169.254/latest/meta-data", "denied"},
		{"http://10.1.2.3/", "denied"},
		{"http://[::1]/", "denied"},
		{"http://localhost/", "denied"},
		{"file:///etc/passwd", "http or https"},
		{"javascript:alert(1)", "http or https"},
		{"https://user:pw@hooks.example.com/", "credentials"},
		{"", "required"},
	} {
		t.Run(tc.url, func(t *testing.T) {
			err := CheckURL(tc.url, nil)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("got %v, want accepted", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// PostmortemDeliveries: the published Markdown in an incident payload, to
// the subscribers of its public components only, keyed by the text.
func TestPostmortemDeliveries(t *testing.T) {
	page := testPage()
	inc := publishedIncident()
	inc.Lifecycle, inc.EndedAt = incidents.Resolved, t0.Add(time.Hour)
	st := incidents.State{Org: "acme"}
	subs := []Subscription{{ID: "all"}, {ID: "api", Components: []string{"api"}}, {ID: "storage", Components: []string{"storage"}}}
	at := t0.Add(24 * time.Hour)

	ds := PostmortemDeliveries("acme", page, subs, st, inc, "# What happened\n", at)
	if len(ds) != 2 || ds[0].Channel != Channel("all") || ds[1].Channel != Channel("api") {
		t.Fatalf("got %d deliveries %+v, want one each to all and api", len(ds), ds)
	}
	var p Payload
	if err := json.Unmarshal(ds[0].Message.Body, &p); err != nil {
		t.Fatal(err)
	}
	if ds[0].Message.Event != EventPostmortem || p.Incident == nil || p.Incident.PostmortemBody != "# What happened\n" ||
		!time.Time(p.Incident.PostmortemPublishedAt).Equal(at) || p.Incident.Status != "resolved" {
		t.Errorf("got event %s payload %+v, want a resolved incident carrying the postmortem", ds[0].Message.Event, p.Incident)
	}
	for _, c := range p.Incident.Components {
		if c.ID == "secret-db" {
			t.Errorf("got the private component in %+v", p.Incident.Components)
		}
	}
	again := PostmortemDeliveries("acme", page, subs, st, inc, "# What happened\n", at.Add(time.Hour))
	edited := PostmortemDeliveries("acme", page, subs, st, inc, "# What happened, revised\n", at)
	if again[0].Message.Key != ds[0].Message.Key {
		t.Errorf("the same text: got key %q, want %q", again[0].Message.Key, ds[0].Message.Key)
	}
	if edited[0].Message.Key == ds[0].Message.Key {
		t.Errorf("an edited text: got the same key %q", ds[0].Message.Key)
	}

	draft := inc
	draft.Published = false
	private := inc
	private.Components = []string{"secret-db"}
	for name, inc := range map[string]incidents.Incident{"draft": draft, "private only": private} {
		if ds := PostmortemDeliveries("acme", page, subs, st, inc, "x", at); len(ds) != 0 {
			t.Errorf("%s: got %d deliveries, want none", name, len(ds))
		}
	}
}

func TestMaintenanceDeliveries(t *testing.T) {
	page := testPage()
	st := incidents.State{Org: "acme"}
	m := incidents.Maintenance{ID: "m-1", Title: "Database upgrade", Components: []string{"storage", "secret-db"},
		Start: t0.Add(time.Hour), End: t0.Add(2 * time.Hour), Status: incidents.MaintenanceScheduled}
	subs := []Subscription{{ID: "all"}, {ID: "api", Components: []string{"api"}}, {ID: "mail", Email: "dana@example.net", Unsubscribe: "https://status.acme.example/unsubscribe/x"}}
	for _, tc := range []struct {
		status     incidents.MaintenanceStatus
		wantStatus string
		wantBody   string
		wantSubj   string
	}{
		{incidents.MaintenanceScheduled, "scheduled", "Scheduled maintenance from 2026-03-02 11:00 UTC to 2026-03-02 12:00 UTC.", "[acme] Scheduled maintenance: Database upgrade"},
		{incidents.MaintenanceInProgress, "in_progress", "Scheduled maintenance is currently in progress.", "[acme] Maintenance in progress: Database upgrade"},
		{incidents.MaintenanceCompleted, "completed", "The scheduled maintenance has been completed.", "[acme] Maintenance completed: Database upgrade"},
		{incidents.MaintenanceCancelled, "completed", "The scheduled maintenance has been cancelled.", "[acme] Maintenance cancelled: Database upgrade"},
	} {
		t.Run(string(tc.status), func(t *testing.T) {
			m.Status = tc.status
			ds := Deliveries("acme", page, subs, st, []incidents.Effect{incidents.MaintenanceChanged{Maintenance: m}}, t0)
			if len(ds) != 2 {
				t.Fatalf("got %d deliveries, want 2 (all, mail; not api)", len(ds))
			}
			var p struct {
				Incident map[string]any `json:"incident"`
			}
			if err := json.Unmarshal(ds[0].Message.Body, &p); err != nil {
				t.Fatal(err)
			}
			inc := p.Incident
			ups, _ := inc["incident_updates"].([]any)
			comps, _ := inc["components"].([]any)
			if inc["status"] != tc.wantStatus || inc["impact"] != "maintenance" || inc["scheduled_for"] != "2026-03-02T11:00:00.000Z" ||
				inc["scheduled_until"] != "2026-03-02T12:00:00.000Z" || len(ups) != 1 || len(comps) != 1 ||
				!strings.HasPrefix(ups[0].(map[string]any)["body"].(string), tc.wantBody) {
				t.Errorf("got incident %v, want status %s, impact maintenance, the window, storage only, body %q", inc, tc.wantStatus, tc.wantBody)
			}
			if ds[0].Message.Event != EventMaintenance || ds[0].Message.Incident.ID != "maintenance/m-1" {
				t.Errorf("got event %s thread %q, want maintenance, maintenance/m-1", ds[0].Message.Event, ds[0].Message.Incident.ID)
			}
			var em email.Message
			if err := json.Unmarshal(ds[1].Message.Body, &em); err != nil {
				t.Fatal(err)
			}
			if em.Subject != tc.wantSubj || em.Thread != "maintenance.m-1@status.acme.example" || !strings.Contains(em.Text, tc.wantBody) {
				t.Errorf("got e-mail %q thread %q, want %q in thread maintenance.m-1@…:\n%s", em.Subject, em.Thread, tc.wantSubj, em.Text)
			}
		})
	}
	private := m
	private.Components = []string{"secret-db"}
	if ds := Deliveries("acme", page, subs, st, []incidents.Effect{incidents.MaintenanceChanged{Maintenance: private}}, t0); len(ds) != 0 {
		t.Errorf("maintenance of a private component: got %d deliveries, want 0", len(ds))
	}
}

func TestEmailDeliveries(t *testing.T) {
	page := testPage()
	page.Name = "Acme Status"
	inc := publishedIncident()
	st := incidents.State{Org: "acme", Incidents: map[string]incidents.Incident{inc.ID: inc}}
	subs := []Subscription{
		{ID: "dana", Email: "dana@example.net", Destination: "smtp:127.0.0.1:25", Unsubscribe: "https://status.acme.example/unsubscribe/dana.tok"},
		{ID: "sam", Email: "sam@example.net", Components: []string{"storage"}},
	}
	effs := []incidents.Effect{
		incidents.TimelineAppended{Incident: inc.ID, Entry: inc.Timeline[2]},
		incidents.ComponentStatusChanged{Component: "api", From: "operational", To: "major_outage", At: t0, Rev: 2},
	}
	ds := Deliveries("acme", page, subs, st, effs, t0)
	if len(ds) != 1 || ds[0].Channel != "subscriber:dana" || ds[0].Destination != "smtp:127.0.0.1:25" {
		t.Fatalf("got %+v, want one e-mail to dana (no component change, nothing to sam)", ds)
	}
	var em email.Message
	if err := json.Unmarshal(ds[0].Message.Body, &em); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, got, want string }{
		{"to", em.To, "dana@example.net"},
		{"subject", em.Subject, "[Acme Status] Identified: API errors & <timeouts>"},
		{"thread", em.Thread, "incident.acme-7@status.acme.example"},
		{"message id", em.MessageID, email.MessageID("acme-7/timeline/3/dana", "status.acme.example")},
		{"unsubscribe", em.Unsubscribe, "https://status.acme.example/unsubscribe/dana.tok"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, tc.got, tc.want)
		}
	}
	if !strings.Contains(em.HTML, "API errors &amp; &lt;timeouts&gt;") || strings.Contains(em.HTML, "<timeouts>") {
		t.Errorf("HTML part does not escape the title:\n%s", em.HTML)
	}
	if !strings.Contains(em.Text, "A bad deploy.") || strings.Contains(em.Text, "internal note") || strings.Contains(em.Text, "secret-db") {
		t.Errorf("text part: want the public update only:\n%s", em.Text)
	}
}

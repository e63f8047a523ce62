package engine_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/lookout-status/lookout/clock"
	"github.com/lookout-status/lookout/config"
	"github.com/lookout-status/lookout/incidents"
	"github.com/lookout-status/lookout/incidents/engine"
	"github.com/lookout-status/lookout/notify"
	"github.com/lookout-status/lookout/store"
)

var t0 = time.Date(2026, 11, 26, 3, 12, 0, 0, time.UTC)

// checkLeaks verifies no goroutine outlives the test, after every cleanup
// (the store closes in a cleanup).
func checkLeaks(t *testing.T) {
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}

func openStore(t *testing.T, path string, fc *clock.Fake) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), path, store.Options{Now: fc.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cfg := &config.Config{Organizations: []config.Organization{{
		ID: "acme", Name: "Acme",
		Components: []config.Component{{ID: "storage", Name: "Storage", Group: "Cloud"}, {ID: "sync", Name: "Sync", Group: "Cloud"}},
	}}}
	if _, err := db.Apply(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	return db
}

func orgConfig() engine.OrgConfig {
	return engine.OrgConfig{
		Org: "acme",
		Config: incidents.Config{
			Policy: incidents.Policy{GroupingWindow: 5 * time.Minute, AutoResolve: true, QuietPeriod: 5 * time.Minute, PublishAutomatically: true, Escalation: "default"},
			Components: []incidents.ComponentConfig{
				{ID: "storage", Name: "Storage", Group: "Cloud"},
				{ID: "sync", Name: "Sync", Group: "Cloud", DependsOn: []string{"storage"}},
			},
			Probes: []incidents.ProbeConfig{
				{ID: "s3", Component: "storage", FailureThreshold: 2, SuccessThreshold: 1},
				{ID: "roundtrip", Component: "sync", FailureThreshold: 2, SuccessThreshold: 1},
			},
			Escalations: []incidents.EscalationPolicy{{ID: "default", Levels: []incidents.EscalationLevel{
				{Targets: []incidents.Target{{Kind: incidents.TargetUser, ID: "dana"}}, Wait: 5 * time.Minute},
				{Targets: []incidents.Target{{Kind: incidents.TargetUser, ID: "ana"}}, Wait: 5 * time.Minute},
			}}},
		},
		Channels: []engine.Channel{{ID: "slack-ops"}, {ID: "pager", Destination: "am.internal:9093"}},
		Users: map[string]notify.Target{
			"dana": {User: "dana", Name: "Dana", SlackID: "U1"},
			"ana":  {User: "ana", Name: "Ana"},
		},
		ConsoleURL: "https://status.example.net",
	}
}

type harness struct {
	t      *testing.T
	fc     *clock.Fake
	db     *store.DB
	eng    *engine.Engine
	cancel func()
	done   chan error
}

func start(t *testing.T, path string, fc *clock.Fake) *harness {
	t.Helper()
	db := openStore(t, path, fc)
	eng := engine.New(engine.Options{Clock: fc, Store: db, TickEvery: time.Second})
	if err := eng.Configure(context.Background(), []engine.OrgConfig{orgConfig()}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, fc: fc, db: db, eng: eng, cancel: cancel, done: make(chan error, 1)}
	go func() { h.done <- eng.Run(ctx) }()
	return h
}

func (h *harness) stop() {
	h.cancel()
	if err := <-h.done; err != nil {
		h.t.Errorf("engine: %v", err)
	}
}

// result applies a probe result synchronously (Do) so the test sees it.
func (h *harness) result(probe string, out incidents.Outcome, errMsg string) {
	h.t.Helper()
	_, err := h.eng.Do(context.Background(), "acme", incidents.ProbeResult{Org: "acme", Probe: probe, Region: "local", Outcome: out, At: h.fc.Now(), Error: errMsg})
	if err != nil {
		h.t.Fatalf("probe result: %v", err)
	}
}

// due returns what the outbox would deliver now, as "channel event key".
func (h *harness) due() []notify.Delivery {
	h.t.Helper()
	ds, err := h.db.Due(context.Background(), h.fc.Now().Add(time.Hour), 100, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	return ds
}

func (h *harness) deliverAll() []notify.Delivery {
	var all []notify.Delivery
	for {
		ds := h.due()
		if len(ds) == 0 {
			return all
		}
		for _, d := range ds {
			if err := h.db.Record(context.Background(), notify.Attempt{Delivery: d, At: h.fc.Now(), End: h.fc.Now(), Outcome: notify.OutcomeDelivered, Ref: "ref-" + d.Channel}); err != nil {
				h.t.Fatal(err)
			}
		}
		all = append(all, ds...)
	}
}

func summary(ds []notify.Delivery) string {
	var parts []string
	for _, d := range ds {
		parts = append(parts, d.Channel+":"+string(d.Message.Event))
	}
	return strings.Join(parts, " ")
}

// TestJourneyStorageBreaks follows the journey: storage fails twice at
// 03:12 → one incident, one page per channel; sync joins a minute later
// without a second page; Dana acknowledges → escalation stops; recovery →
// auto-resolve after the quiet period, everyone told. A restart in the
// middle loses nothing and pages nobody twice.
func TestJourneyStorageBreaks(t *testing.T) {
	checkLeaks(t)
	fc := clock.NewFake(t0)
	path := filepath.Join(t.TempDir(), "lookout.db")
	h := start(t, path, fc)

	h.result("s3", incidents.Down, "put: connection refused")
	if got := summary(h.deliverAll()); got != "" {
		t.Fatalf("after one failure (threshold 2): got deliveries %q, want none", got)
	}
	fc.Advance(40 * time.Second)
	h.result("s3", incidents.Down, "put: connection refused")
	ds := h.deliverAll()
	if got, want := summary(ds), "slack-ops:triggered pager:triggered"; got != want {
		t.Fatalf("got deliveries %q, want %q", got, want)
	}
	m := ds[0].Message
	if m.Incident.ID != "acme-1" || len(m.Targets) != 1 || m.Targets[0].SlackID != "U1" || !strings.Contains(m.Incident.Summary, "put: connection refused") {
		t.Fatalf("triggered message: got %+v", m)
	}
	if ds[0].Message.Key == ds[1].Message.Key {
		t.Fatal("two channels share an idempotency key")
	}

	// Sync fails a minute later: joins the same incident, no new page.
	fc.Advance(time.Minute)
	h.result("roundtrip", incidents.Down, "step \"poll\": timeout")
	fc.Advance(10 * time.Second)
	h.result("roundtrip", incidents.Down, "step \"poll\": timeout")
	ds = h.deliverAll()
	for _, d := range ds {
		if d.Message.Event == notify.Triggered || d.Message.Incident.ID != "acme-1" {
			t.Fatalf("sync failing paged again: %s %s", d.Message.Event, d.Message.Incident.ID)
		}
	}
	if len(ds) == 0 || ds[len(ds)-1].Message.Ref == "" {
		t.Fatalf("updates carry no Ref of the first message: %+v", ds)
	}
	inc, err := h.db.Incident(context.Background(), "acme", "acme-1")
	if err != nil || len(inc.Components) != 2 {
		t.Fatalf("incident row: %+v, %v; want two components", inc, err)
	}

	// Restart mid-incident: state comes back, nothing is paged twice.
	h.stop()
	h = start(t, path, fc)
	if got := summary(h.deliverAll()); got != "" {
		t.Fatalf("restart queued deliveries %q", got)
	}
	st, _ := h.eng.State("acme")
	if len(st.Incidents) != 1 {
		t.Fatalf("after restart: %d open incidents, want 1", len(st.Incidents))
	}

	// Dana acknowledges (twice: a double tap). Escalation to level 2 stops.
	for i := 0; i < 2; i++ {
		if _, err := h.eng.Do(context.Background(), "acme", incidents.Acknowledge{ID: "slack-cb-1", Incident: "acme-1", Actor: "dana"}); err != nil {
			t.Fatal(err)
		}
	}
	ds = h.deliverAll()
	if got, want := summary(ds), "slack-ops:acknowledged pager:acknowledged"; got != want {
		t.Fatalf("ack: got %q, want %q", got, want)
	}
	if ds[0].Message.Incident.AcknowledgedBy != "Dana" {
		t.Fatalf("acknowledged by %q, want Dana", ds[0].Message.Incident.AcknowledgedBy)
	}
	fc.Advance(10 * time.Minute) // past level 1's wait
	if _, err := h.eng.Do(context.Background(), "acme", incidents.Tick{}); err != nil {
		t.Fatal(err)
	}
	for _, d := range h.deliverAll() {
		if d.Message.Event == notify.Escalated {
			t.Fatalf("escalated after acknowledgement: %+v", d.Message)
		}
	}

	// Recovery, quiet period, auto-resolve.
	h.result("s3", incidents.Up, "")
	h.result("roundtrip", incidents.Up, "")
	fc.Advance(6 * time.Minute)
	if _, err := h.eng.Do(context.Background(), "acme", incidents.Tick{}); err != nil {
		t.Fatal(err)
	}
	ds = h.deliverAll()
	if !strings.Contains(summary(ds), "slack-ops:resolved") || !strings.Contains(summary(ds), "pager:resolved") {
		t.Fatalf("recovery: got %q, want resolved to both channels", summary(ds))
	}
	inc, err = h.db.Incident(context.Background(), "acme", "acme-1")
	if err != nil || inc.Lifecycle != incidents.Resolved || inc.EndedAt.Before(inc.StartedAt) {
		t.Fatalf("resolved row: %+v %v", inc, err)
	}
	tl, err := h.db.Timeline(context.Background(), "acme", "acme-1")
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range tl {
		kinds = append(kinds, e.Kind)
	}
	for _, want := range []string{"opened", "joined", "acknowledged", "resolved"} {
		if !strings.Contains(strings.Join(kinds, ","), want) {
			t.Errorf("timeline %v lacks %q", kinds, want)
		}
	}
	h.stop()
}

// TestEscalationWithoutAck: no acknowledgement → level 2 after the wait,
// delivered with its own key, through the periodic tick.
func TestEscalationWithoutAck(t *testing.T) {
	checkLeaks(t)
	fc := clock.NewFake(t0)
	h := start(t, filepath.Join(t.TempDir(), "lookout.db"), fc)
	defer h.stop()
	h.result("s3", incidents.Down, "x")
	h.result("s3", incidents.Down, "x") // same At: ignored as a duplicate
	fc.Advance(time.Second)
	h.result("s3", incidents.Down, "x")
	if got := summary(h.deliverAll()); got != "slack-ops:triggered pager:triggered" {
		t.Fatalf("got %q", got)
	}
	// Let the engine's own tick fire the escalation.
	fc.Advance(5*time.Minute + time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for {
		ds := h.due()
		if len(ds) > 0 {
			if got := summary(ds); got != "slack-ops:escalated pager:escalated" {
				t.Fatalf("got %q, want escalations", got)
			}
			if ds[0].Message.Level != 1 || ds[0].Message.Targets[0].User != "ana" {
				t.Fatalf("escalated to %+v, want level 1 → ana", ds[0].Message)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no escalation after the level's wait")
		}
		// The engine's tick timer was created before Advance; give Run a
		// turn, then tick the clock again.
		<-time.After(10 * time.Millisecond)
		fc.Advance(time.Second)
	}
}

// failingStore makes CommitIncidents fail while fail is set: a disk-full
// or locked database between the state change and its persistence.
type failingStore struct {
	*store.DB
	fail bool
}

func (f *failingStore) CommitIncidents(ctx context.Context, org string, st incidents.State, effs []incidents.Effect, ds []notify.Delivery) error {
	if f.fail {
		return errors.New("disk I/O error")
	}
	return f.DB.CommitIncidents(ctx, org, st, effs, ds)
}

// TestCommitFailureKeepsStateWhole: when the commit of the step that opens
// an incident fails, nothing is queued, the in-memory state returns to the
// saved one, and the next failures open exactly one incident.
func TestCommitFailureKeepsStateWhole(t *testing.T) {
	checkLeaks(t)
	fc := clock.NewFake(t0)
	db := openStore(t, filepath.Join(t.TempDir(), "lookout.db"), fc)
	fs := &failingStore{DB: db}
	eng := engine.New(engine.Options{Clock: fc, Store: fs})
	if err := eng.Configure(context.Background(), []engine.OrgConfig{orgConfig()}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	defer func() { cancel(); <-done }()
	h := &harness{t: t, fc: fc, db: db, eng: eng}

	h.result("s3", incidents.Down, "x")
	fc.Advance(time.Second)
	fs.fail = true
	_, err := eng.Do(context.Background(), "acme", incidents.ProbeResult{Org: "acme", Probe: "s3", Region: "local", Outcome: incidents.Down, At: fc.Now()})
	if err == nil || !strings.Contains(err.Error(), "disk I/O error") {
		t.Fatalf("got %v, want the commit error", err)
	}
	if got := summary(h.deliverAll()); got != "" {
		t.Fatalf("a failed commit queued %q", got)
	}
	if st, _ := eng.State("acme"); len(st.Incidents) != 0 {
		t.Fatalf("readers see %d incidents after a failed commit", len(st.Incidents))
	}
	fs.fail = false
	for i := 0; i < 2; i++ {
		fc.Advance(time.Second)
		h.result("s3", incidents.Down, "x")
	}
	if got := summary(h.deliverAll()); got != "slack-ops:triggered pager:triggered" {
		t.Fatalf("after recovery: got %q, want one page per channel", got)
	}
	if st, _ := eng.State("acme"); len(st.Incidents) != 1 {
		t.Fatalf("got %d incidents, want 1", len(st.Incidents))
	}
}

// TestConfiguredMaintenance: a window from the configuration shows
// under_maintenance, suppresses incidents and pages inside it, reaches the
// store for the status page, and is cancelled when removed from the config.
func TestConfiguredMaintenance(t *testing.T) {
	checkLeaks(t)
	fc := clock.NewFake(t0)
	db := openStore(t, filepath.Join(t.TempDir(), "lookout.db"), fc)
	eng := engine.New(engine.Options{Clock: fc, Store: db})
	oc := orgConfig()
	oc.Maintenances = []incidents.MaintenanceSchedule{{ID: "upgrade", Title: "Storage upgrade", Components: []string{"storage"},
		Start: t0.Add(time.Minute), End: t0.Add(11 * time.Minute), Actor: "config"}}
	if err := eng.Configure(context.Background(), []engine.OrgConfig{oc}); err != nil {
		t.Fatal(err)
	}
	// Configure is idempotent: the same window again changes nothing.
	if err := eng.Configure(context.Background(), []engine.OrgConfig{oc}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	defer func() { cancel(); <-done }()
	h := &harness{t: t, fc: fc, db: db, eng: eng}

	fc.Advance(2 * time.Minute)
	for i := 0; i < 3; i++ {
		fc.Advance(time.Second)
		h.result("s3", incidents.Down, "x")
	}
	st, _ := eng.State("acme")
	if got := st.Components["storage"].Status; got != incidents.UnderMaintenance {
		t.Fatalf("storage status %q inside the window, want under_maintenance", got)
	}
	if len(st.Incidents) != 0 {
		t.Fatalf("%d incidents opened inside maintenance", len(st.Incidents))
	}
	if got := summary(h.deliverAll()); got != "" {
		t.Fatalf("paged inside maintenance: %q", got)
	}
	ms, err := db.Maintenances(context.Background(), "acme", time.Time{})
	if err != nil || len(ms) != 1 || ms[0].Status != incidents.MaintenanceInProgress {
		t.Fatalf("stored maintenances %+v, %v; want one in progress", ms, err)
	}

	// The window ends with storage still failing: now it pages.
	fc.Advance(10 * time.Minute)
	for i := 0; i < 2; i++ {
		fc.Advance(time.Second)
		h.result("s3", incidents.Down, "x")
	}
	if got := summary(h.deliverAll()); !strings.Contains(got, "slack-ops:triggered") {
		t.Fatalf("after the window: got %q, want a page", got)
	}

	// A window removed from the configuration before it starts is cancelled.
	oc.Maintenances = []incidents.MaintenanceSchedule{{ID: "later", Title: "Later", Components: []string{"sync"},
		Start: fc.Now().Add(time.Hour), End: fc.Now().Add(2 * time.Hour), Actor: "config"}}
	if err := eng.Configure(context.Background(), []engine.OrgConfig{oc}); err != nil {
		t.Fatal(err)
	}
	oc.Maintenances = nil
	if err := eng.Configure(context.Background(), []engine.OrgConfig{oc}); err != nil {
		t.Fatal(err)
	}
	st, _ = eng.State("acme")
	if m := st.Maintenances["later"]; m.Status != incidents.MaintenanceCancelled {
		t.Fatalf("removed window has status %q, want cancelled", m.Status)
	}
}

package store

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lookout-status/lookout/incidents"
	"github.com/lookout-status/lookout/incidents/engine"
	"github.com/lookout-status/lookout/notify"
)

// The store is what the engine and the notify worker run on.
var (
	_ engine.Store       = (*DB)(nil)
	_ notify.Outbox      = (*DB)(nil)
	_ notify.OutboxStats = (*DB)(nil)
)

// cet is a schedule zone: it does not survive JSON, so the store drops
// schedules and the engine's Configure brings them back.
var cet = time.FixedZone("CET", 3600)

func incConfig() incidents.Config {
	return incidents.Config{
		Policy: incidents.Policy{
			PublishAutomatically: true,
			Escalation:           "default",
			GroupingWindow:       5 * time.Minute,
		},
		Components: []incidents.ComponentConfig{
			{ID: "api", Name: "API"},
			{ID: "web", Name: "Web", DependsOn: []string{"api"}},
		},
		Probes: []incidents.ProbeConfig{
			{ID: "api-http", Component: "api"},
			{ID: "web-http", Component: "web"},
		},
		Escalations: []incidents.EscalationPolicy{{
			ID: "default",
			Levels: []incidents.EscalationLevel{
				{Targets: []incidents.Target{{Kind: incidents.TargetSchedule, ID: "primary"}}, Wait: 5 * time.Minute},
				{Targets: []incidents.Target{{Kind: incidents.TargetUser, ID: "lead"}}, Wait: 10 * time.Minute},
			},
		}},
		Schedules: []incidents.Schedule{{
			ID:       "primary",
			TimeZone: cet,
			Layers: []incidents.Layer{{
				Members: []string{"ana", "ben"},
				Start:   time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC),
				Length:  24 * time.Hour,
			}},
		}},
	}
}

// incRun drives one organization's state through incidents and commits
// every step, as the engine does.
type incRun struct {
	db  *DB
	cfg engine.OrgConfig
	st  incidents.State
	// effects and deliveries of the last step, to commit again.
	effects    []incidents.Effect
	deliveries []notify.Delivery
}

func newIncRun(tb testing.TB, db *DB, org string) *incRun {
	tb.Helper()
	r := &incRun{db: db, cfg: engine.OrgConfig{
		Org:    org,
		Config: incConfig(),
		Channels: []engine.Channel{
			{ID: "slack", Destination: "slack:#ops"},
			{ID: "hook"},
		},
	}}
	r.st = incidents.New(org, r.cfg.Config)
	if err := db.CommitIncidents(context.Background(), org, r.st, nil, nil); err != nil {
		tb.Fatalf("commit initial state: %v", err)
	}
	return r
}

// step applies evs at now and commits the result.
func (r *incRun) step(tb testing.TB, now time.Time, evs ...incidents.Event) []incidents.Effect {
	tb.Helper()
	prev := r.st
	st := r.st.Clone()
	var effs []incidents.Effect
	for _, ev := range evs {
		effs = append(effs, st.Apply(ev, now)...)
	}
	ds := engine.Deliveries(r.cfg, &prev, st, effs, now)
	if err := r.db.CommitIncidents(context.Background(), r.cfg.Org, st, effs, ds); err != nil {
		tb.Fatalf("commit: %v", err)
	}
	r.st, r.effects, r.deliveries = st, effs, ds
	return effs
}

func (r *incRun) down(tb testing.TB, probe string, at time.Time) []incidents.Effect {
	tb.Helper()
	return r.step(tb, at, incidents.ProbeResult{Org: r.cfg.Org, Probe: probe, Region: "eu", Outcome: incidents.Down, At: at, Error: "connection refused"})
}

func (r *incRun) up(tb testing.TB, probe string, at time.Time) []incidents.Effect {
	tb.Helper()
	return r.step(tb, at, incidents.ProbeResult{Org: r.cfg.Org, Probe: probe, Region: "eu", Outcome: incidents.Up, At: at})
}

func count(tb testing.TB, db *DB, query string, args ...any) int {
	tb.Helper()
	var n int
	if err := db.r.QueryRow(query, args...).Scan(&n); err != nil {
		tb.Fatalf("%s: %v", query, err)
	}
	return n
}

// withoutSchedules is what LoadIncidentState returns for st.
func withoutSchedules(st incidents.State) incidents.State {
	st.Schedules = nil
	return st
}

func TestIncidentStateRoundTrip(t *testing.T) {
	ctx := context.Background()
	db, _ := mustOpen(t)

	if _, ok, err := db.LoadIncidentState(ctx, "acme"); ok || err != nil {
		t.Fatalf("load before any commit: got ok=%v err=%v, want ok=false err=nil", ok, err)
	}
	r := newIncRun(t, db, "acme")
	r.down(t, "api-http", t0)
	r.down(t, "web-http", t0.Add(30*time.Second))
	inc := "acme-1"
	if _, ok := r.st.Incidents[inc]; !ok {
		t.Fatalf("setup: no incident %s opened; incidents: %v", inc, r.st.Incidents)
	}
	r.step(t, t0.Add(time.Minute), incidents.Acknowledge{ID: "ack-1", Incident: inc, Actor: "ana"})
	r.step(t, t0.Add(2*time.Minute), incidents.AddNote{ID: "note-1", Incident: inc, Actor: "ana", Body: "looking at the load balancer"})

	got, ok, err := db.LoadIncidentState(ctx, "acme")
	if err != nil || !ok {
		t.Fatalf("load: got ok=%v err=%v, want the committed state", ok, err)
	}
	want := withoutSchedules(r.st)
	if !reflect.DeepEqual(got, want) {
		gj, _ := json.MarshalIndent(got, "", " ")
		wj, _ := json.MarshalIndent(want, "", " ")
		t.Fatalf("loaded state differs from the committed one:\ngot  %s\nwant %s", gj, wj)
	}

	// The engine re-applies the configuration after loading: the schedule
	// and its zone come back, and stepping on goes on as it would have.
	got.Apply(incidents.Configure{Config: r.cfg.Config}, t0.Add(3*time.Minute))
	if z := got.Schedules["primary"].TimeZone; z != cet {
		t.Errorf("schedule zone after Configure: got %v, want %v", z, cet)
	}
	if a := got.Incidents[inc]; a.Lifecycle != incidents.Acknowledged || a.AckedBy != "ana" {
		t.Errorf("loaded incident: got %s by %q, want acknowledged by ana", a.Lifecycle, a.AckedBy)
	}

	if _, ok, err := db.LoadIncidentState(ctx, "other"); ok || err != nil {
		t.Errorf("another org's state: got ok=%v err=%v, want none", ok, err)
	}
}

func TestCommitIncidentsRejectsAnotherOrgsState(t *testing.T) {
	db, _ := mustOpen(t)
	st := incidents.New("acme", incConfig())
	if err := db.CommitIncidents(context.Background(), "globex", st, nil, nil); err == nil {
		t.Fatal("committing acme's state as globex's: got nil error")
	}
	if n := count(t, db, "SELECT count(*) FROM incident_state"); n != 0 {
		t.Errorf("got %d saved states, want 0", n)
	}
}

func TestCommitIncidentsIsIdempotent(t *testing.T) {
	ctx := context.Background()
	db, _ := mustOpen(t)
	r := newIncRun(t, db, "acme")
	r.down(t, "api-http", t0)
	r.step(t, t0.Add(time.Minute), incidents.Acknowledge{ID: "ack-1", Incident: "acme-1", Actor: "ana"})
	if len(r.deliveries) == 0 {
		t.Fatal("setup: the acknowledgement queued no delivery")
	}

	tables := []string{"incidents", "incident_timeline", "component_status_log", "outbox"}
	before := map[string]int{}
	for _, tb := range tables {
		before[tb] = count(t, db, "SELECT count(*) FROM "+tb)
	}
	incBefore, err := db.Incident(ctx, "acme", "acme-1")
	if err != nil {
		t.Fatal(err)
	}
	// The same step again, as after a crash between commit and reply.
	for range 2 {
		if err := db.CommitIncidents(ctx, "acme", r.st, r.effects, r.deliveries); err != nil {
			t.Fatalf("re-commit: %v", err)
		}
	}
	for _, tb := range tables {
		if n := count(t, db, "SELECT count(*) FROM "+tb); n != before[tb] {
			t.Errorf("%s: got %d rows after re-committing, want %d", tb, n, before[tb])
		}
	}
	incAfter, err := db.Incident(ctx, "acme", "acme-1")
	if err != nil {
		t.Fatal(err)
	}
	incAfter.UpdatedAt = incBefore.UpdatedAt
	if !reflect.DeepEqual(incAfter, incBefore) {
		t.Errorf("incident after re-commit: got %+v, want %+v", incAfter, incBefore)
	}
}

func TestIncidentRowFollowsLifecycle(t *testing.T) {
	ctx := context.Background()
	db, _ := mustOpen(t)
	r := newIncRun(t, db, "acme")
	const id = "acme-1"

	r.down(t, "api-http", t0)
	rec, err := db.Incident(ctx, "acme", id)
	if err != nil {
		t.Fatalf("after open: %v", err)
	}
	if rec.Lifecycle != incidents.Triggered || rec.Number != 1 || !rec.AckedAt.IsZero() || !rec.EndedAt.IsZero() {
		t.Errorf("after open: got %s #%d acked %v ended %v, want triggered #1, not acked, not ended",
			rec.Lifecycle, rec.Number, rec.AckedAt, rec.EndedAt)
	}
	if !rec.StartedAt.Equal(t0) || !slices.Equal(rec.Components, []string{"api"}) || rec.Org != "acme" {
		t.Errorf("after open: got started %v components %v org %q, want %v [api] acme", rec.StartedAt, rec.Components, rec.Org, t0)
	}

	ackAt := t0.Add(2 * time.Minute)
	r.step(t, ackAt, incidents.Acknowledge{ID: "ack-1", Incident: id, Actor: "ana"})
	rec, err = db.Incident(ctx, "acme", id)
	if err != nil {
		t.Fatalf("after ack: %v", err)
	}
	if rec.Lifecycle != incidents.Acknowledged || rec.AckedBy != "ana" || !rec.AckedAt.Equal(ackAt) {
		t.Errorf("after ack: got %s by %q at %v, want acknowledged by ana at %v", rec.Lifecycle, rec.AckedBy, rec.AckedAt, ackAt)
	}

	r.up(t, "api-http", t0.Add(4*time.Minute))
	endAt := t0.Add(5 * time.Minute)
	r.step(t, endAt, incidents.Resolve{ID: "res-1", Incident: id, Actor: "ana", Body: "load balancer replaced"})
	rec, err = db.Incident(ctx, "acme", id)
	if err != nil {
		t.Fatalf("after resolve: %v", err)
	}
	if rec.Lifecycle != incidents.Resolved || rec.Public != incidents.PublicResolved || !rec.EndedAt.Equal(endAt) {
		t.Errorf("after resolve: got %s/%s ended %v, want resolved/resolved ended %v", rec.Lifecycle, rec.Public, rec.EndedAt, endAt)
	}
	if len(rec.Timeline) != 0 {
		t.Errorf("record timeline: got %d entries, want none (read with Timeline)", len(rec.Timeline))
	}

	tl, err := db.Timeline(ctx, "acme", id)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for i, e := range tl {
		kinds = append(kinds, e.Kind)
		if e.Seq != tl[0].Seq+i {
			t.Errorf("timeline entry %d: got seq %d, want %d", i, e.Seq, tl[0].Seq+i)
		}
	}
	for _, k := range []string{"opened", "acknowledged", "resolved"} {
		if !slices.Contains(kinds, k) {
			t.Errorf("timeline kinds %v: want %q among them", kinds, k)
		}
	}
	if last := tl[len(tl)-1]; last.Kind != "resolved" || last.Actor != "ana" || last.Body != "load balancer replaced" || !last.At.Equal(endAt) {
		t.Errorf("last timeline entry: got %+v, want resolved by ana at %v with the closing note", last, endAt)
	}

	hist, err := db.ComponentStatusHistory(ctx, "acme", "api", t0, endAt.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	for _, c := range hist {
		seen = append(seen, string(c.From)+">"+string(c.To))
	}
	if len(hist) < 2 || hist[0].From != incidents.Operational || hist[0].To == incidents.Operational ||
		hist[len(hist)-1].To != incidents.Operational || !hist[0].At.Equal(t0) {
		t.Errorf("api status history: got %v, want operational → an outage at t0 → … → operational", seen)
	}
	// A window starting after the outage began still tells the status at
	// its start: the last change before it comes first.
	mid, err := db.ComponentStatusHistory(ctx, "acme", "api", t0.Add(time.Minute), t0.Add(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(mid) != 1 || mid[0].To != hist[0].To || !mid[0].At.Equal(t0) {
		t.Errorf("status history of a window inside the outage: got %+v, want only the change at t0 to %s", mid, hist[0].To)
	}

	log, err := db.Deliveries(ctx, "acme", id)
	if err != nil {
		t.Fatal(err)
	}
	events := map[string][]notify.Event{}
	for _, d := range log {
		events[d.Channel] = append(events[d.Channel], d.Event)
		if d.Status != DeliveryPending || d.Attempts != 0 || !d.DeliveredAt.IsZero() {
			t.Errorf("delivery %s: got %s, %d attempts, delivered %v; want pending, 0, never", d.Key, d.Status, d.Attempts, d.DeliveredAt)
		}
	}
	for _, ch := range []string{"slack", "hook"} {
		ev := events[ch]
		if len(ev) < 3 || ev[0] != notify.Triggered || !slices.Contains(ev, notify.Acknowledged) || ev[len(ev)-1] != notify.Resolved {
			t.Errorf("deliveries to %s: got %v, want triggered … acknowledged … resolved", ch, ev)
		}
	}
}

func TestIncidentRowNeverGoesBack(t *testing.T) {
	ctx := context.Background()
	db, _ := mustOpen(t)
	st := incidents.State{Org: "acme"}
	inc := incidents.Incident{ID: "acme-1", Number: 1, Title: "API down", Lifecycle: incidents.Triggered,
		Public: incidents.Investigating, Impact: incidents.ImpactMajor, StartedAt: t0, Components: []string{"api"}}
	newer := inc
	newer.Lifecycle, newer.AckedBy, newer.AckedAt, newer.Rev = incidents.Acknowledged, "ana", t0.Add(time.Minute), 2
	resolved := newer
	resolved.Lifecycle, resolved.Public, resolved.EndedAt = incidents.Resolved, incidents.PublicResolved, t0.Add(time.Hour)
	older := inc
	older.Rev = 1

	steps := []struct {
		effect incidents.Effect
		want   incidents.Lifecycle
	}{
		{incidents.IncidentOpened{Incident: inc}, incidents.Triggered},
		{incidents.IncidentUpdated{Incident: newer}, incidents.Acknowledged},
		{incidents.IncidentUpdated{Incident: older}, incidents.Acknowledged},
		{incidents.IncidentResolved{Incident: resolved}, incidents.Resolved},
		{incidents.IncidentUpdated{Incident: newer}, incidents.Resolved},
	}
	for i, s := range steps {
		if err := db.CommitIncidents(ctx, "acme", st, []incidents.Effect{s.effect}, nil); err != nil {
			t.Fatal(err)
		}
		rec, err := db.Incident(ctx, "acme", "acme-1")
		if err != nil {
			t.Fatal(err)
		}
		if rec.Lifecycle != s.want {
			t.Errorf("step %d (%s): got %s, want %s", i, s.effect.Key(), rec.Lifecycle, s.want)
		}
	}
}

// commitIncidents stores incidents numbered 1..n of org directly as
// effects: odd ones resolved an hour after they started, every third one a
// draft. Incident k starts k days after t0.
func commitIncidents(tb testing.TB, db *DB, org string, n int) {
	tb.Helper()
	var effs []incidents.Effect
	for k := 1; k <= n; k++ {
		inc := incidents.Incident{ID: fmt.Sprintf("%s-%d", org, k), Number: k, Title: fmt.Sprintf("incident %d", k),
			Lifecycle: incidents.Triggered, Public: incidents.Investigating, Impact: incidents.ImpactMinor,
			Published: k%3 != 0, StartedAt: t0.Add(time.Duration(k) * 24 * time.Hour), Components: []string{"api"}}
		if k%4 == 0 {
			inc.Lifecycle = incidents.Acknowledged
		}
		effs = append(effs, incidents.IncidentOpened{Incident: inc})
		if k%2 == 1 {
			inc.Lifecycle, inc.Public, inc.EndedAt = incidents.Resolved, incidents.PublicResolved, inc.StartedAt.Add(time.Hour)
			effs = append(effs, incidents.IncidentResolved{Incident: inc})
		}
	}
	if err := db.CommitIncidents(context.Background(), org, incidents.State{Org: org, NextIncident: n}, effs, nil); err != nil {
		tb.Fatal(err)
	}
}

func numbers(recs []IncidentRecord) []int {
	out := []int{}
	for _, r := range recs {
		out = append(out, r.Number)
	}
	return out
}

func TestIncidentsFilterAndPagination(t *testing.T) {
	ctx := context.Background()
	db, _ := mustOpen(t)
	commitIncidents(t, db, "acme", 7)
	commitIncidents(t, db, "globex", 3)

	cases := []struct {
		name string
		f    IncidentFilter
		want []int
	}{
		{"all, newest first", IncidentFilter{}, []int{7, 6, 5, 4, 3, 2, 1}},
		{"open", IncidentFilter{Status: OpenIncidents}, []int{6, 4, 2}},
		{"resolved", IncidentFilter{Status: ResolvedIncidents}, []int{7, 5, 3, 1}},
		{"triggered", IncidentFilter{Status: TriggeredIncidents}, []int{6, 2}},
		{"acknowledged", IncidentFilter{Status: AcknowledgedIncidents}, []int{4}},
		{"published", IncidentFilter{PublishedOnly: true}, []int{7, 5, 4, 2, 1}},
		// Open at some time since day 4 + 2h: 4 onwards and the open 2.
		{"since", IncidentFilter{Since: t0.Add(4*24*time.Hour + 2*time.Hour)}, []int{7, 6, 5, 4, 2}},
		{"since, ended exactly then", IncidentFilter{Since: t0.Add(5*24*time.Hour + time.Hour)}, []int{7, 6, 5, 4, 2}},
		{"first page", IncidentFilter{Limit: 3}, []int{7, 6, 5}},
		{"second page", IncidentFilter{Limit: 3, Before: 5}, []int{4, 3, 2}},
		{"last page", IncidentFilter{Limit: 3, Before: 2}, []int{1}},
		{"past the end", IncidentFilter{Limit: 3, Before: 1}, []int{}},
		{"open, paged", IncidentFilter{Status: OpenIncidents, Limit: 1, Before: 6}, []int{4}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := db.Incidents(ctx, "acme", tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(numbers(got), tc.want) {
				t.Errorf("got %v, want %v", numbers(got), tc.want)
			}
			for _, r := range got {
				if r.Org != "acme" || r.ID != fmt.Sprintf("acme-%d", r.Number) {
					t.Errorf("got %s's %s, want only acme's", r.Org, r.ID)
				}
			}
		})
	}
	if _, err := db.Incidents(ctx, "acme", IncidentFilter{Status: "bogus"}); err == nil {
		t.Error("unknown status filter: got nil error")
	}
}

func TestIncidentReadsAreOrgScoped(t *testing.T) {
	ctx := context.Background()
	db, _ := mustOpen(t)
	r := newIncRun(t, db, "acme")
	r.down(t, "api-http", t0)
	const id = "acme-1"
	if _, err := db.Incident(ctx, "acme", id); err != nil {
		t.Fatalf("acme reading its own incident: %v", err)
	}

	if _, err := db.Incident(ctx, "globex", id); !errors.Is(err, ErrNotFound) {
		t.Errorf("globex reading acme's incident: got %v, want ErrNotFound", err)
	}
	if _, err := db.Timeline(ctx, "globex", id); !errors.Is(err, ErrNotFound) {
		t.Errorf("globex reading acme's timeline: got %v, want ErrNotFound", err)
	}
	if got, err := db.Incidents(ctx, "globex", IncidentFilter{}); err != nil || len(got) != 0 {
		t.Errorf("globex's incident list: got %d, %v; want none", len(got), err)
	}
	if got, err := db.Deliveries(ctx, "globex", id); err != nil || len(got) != 0 {
		t.Errorf("globex reading acme's deliveries: got %d, %v; want none", len(got), err)
	}
	if got, err := db.ComponentStatusHistory(ctx, "globex", "api", t0.Add(-time.Hour), t0.Add(time.Hour)); err != nil || len(got) != 0 {
		t.Errorf("globex reading acme's status history: got %v, %v; want none", got, err)
	}
	if _, ok, err := db.LoadIncidentState(ctx, "globex"); ok || err != nil {
		t.Errorf("globex loading state: got ok=%v err=%v, want none", ok, err)
	}
	if _, err := db.Incident(ctx, "acme", "acme-2"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a missing incident: got %v, want ErrNotFound", err)
	}
}

func TestMaintenancesAreRecorded(t *testing.T) {
	ctx := context.Background()
	db, _ := mustOpen(t)
	r := newIncRun(t, db, "acme")
	start, end := t0.Add(time.Hour), t0.Add(2*time.Hour)
	r.step(t, t0, incidents.MaintenanceSchedule{ID: "m1", Title: "database upgrade",
		Components: []string{"api"}, Start: start, End: end, Actor: "ana"})
	r.step(t, start, incidents.Tick{})

	got, err := db.Maintenances(ctx, "acme", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("got %d maintenances, want 1", len(got))
	}
	m := got[0]
	if m.ID != "m1" || m.Title != "database upgrade" || !slices.Equal(m.Components, []string{"api"}) ||
		!m.Start.Equal(start) || !m.End.Equal(end) || m.Status != incidents.MaintenanceInProgress {
		t.Errorf("got %+v, want m1 in progress over api from %v to %v", m, start, end)
	}
	if got, _ := db.Maintenances(ctx, "acme", end.Add(time.Minute)); len(got) != 0 {
		t.Errorf("maintenances ending after the window: got %d, want 0", len(got))
	}
	if got, _ := db.Maintenances(ctx, "globex", time.Time{}); len(got) != 0 {
		t.Errorf("globex's maintenances: got %d, want 0", len(got))
	}
}

const incCrashEnv = "LOOKOUT_STORE_INCIDENT_CRASH_DB"

// crashStep is step i of the committing child: even steps fail api-http,
// opening incident acme-(i/2+1); odd steps recover it and resolve that
// incident by hand. Each is one commit.
func crashStep(tb testing.TB, r *incRun, i int) {
	at := crashT0.Add(time.Duration(i) * time.Second)
	if i%2 == 0 {
		r.down(tb, "api-http", at)
		return
	}
	r.step(tb, at,
		incidents.ProbeResult{Org: "acme", Probe: "api-http", Region: "eu", Outcome: incidents.Up, At: at},
		incidents.Resolve{ID: fmt.Sprintf("resolve-%d", i), Incident: fmt.Sprintf("acme-%d", r.st.NextIncident), Actor: "ana"})
}

// TestHelperIncidentCommitter is the child process of
// TestCrashKeepsIncidentCommitsWhole: it commits steps in a loop, printing
// "committed N" after each, until it is killed.
func TestHelperIncidentCommitter(t *testing.T) {
	path := os.Getenv(incCrashEnv)
	if path == "" {
		t.Skip("helper process for TestCrashKeepsIncidentCommitsWhole")
	}
	db, err := Open(context.Background(), path, Options{})
	if err != nil {
		fmt.Printf("error %v\n", err)
		os.Exit(1)
	}
	r := newIncRun(t, db, "acme")
	for i := range 100_000 { // bounded; the parent kills it long before
		crashStep(t, r, i)
		if r.st.NextIncident != i/2+1 {
			fmt.Printf("error step %d: next incident %d\n", i, r.st.NextIncident)
			os.Exit(1)
		}
		fmt.Printf("committed %d\n", i+1)
	}
	os.Exit(0)
}

// TestCrashKeepsIncidentCommitsWhole kills a process committing incident
// steps with SIGKILL, then checks that every step is wholly there or wholly
// absent: the saved state, the incident rows and the outbox agree.
func TestCrashKeepsIncidentCommitsWhole(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "crash.db")
	db, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { db.Close() }()

	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperIncidentCommitter$", "-test.count=1")
	cmd.Env = append(os.Environ(), incCrashEnv+"="+path)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	committed := make(chan int, 1024)
	other := make(chan string, 16)
	go func() {
		defer close(committed)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if n, err := strconv.Atoi(strings.TrimPrefix(sc.Text(), "committed ")); err == nil {
				committed <- n
			} else {
				select {
				case other <- sc.Text():
				default:
				}
			}
		}
	}()
	kill := func() {
		cmd.Process.Kill()
		cmd.Wait()
	}

	last := 0
	deadline := time.After(2 * time.Minute)
	for last < 20 || count(t, db, "SELECT count(*) FROM incidents") == 0 {
		select {
		case n, ok := <-committed:
			if !ok {
				kill()
				var lines []string
				for len(other) > 0 {
					lines = append(lines, <-other)
				}
				t.Fatalf("child exited early after %d steps: %v %s", last, lines, stderr.String())
			}
			last = n
		case <-deadline:
			kill()
			t.Fatalf("child committed only %d steps in 2 minutes", last)
		}
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL, mid-loop
		t.Fatal(err)
	}
	cmd.Wait()
	for n := range committed {
		last = n
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db, err = Open(ctx, path, Options{})
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	if err := db.IntegrityCheck(ctx); err != nil {
		t.Fatalf("after kill -9: %v", err)
	}
	st, ok, err := db.LoadIncidentState(ctx, "acme")
	if err != nil || !ok {
		t.Fatalf("state after kill -9: got ok=%v err=%v", ok, err)
	}
	steps := 2 * st.NextIncident
	if len(st.Incidents) == 1 {
		steps-- // the last incident is still open: its resolving step is not there
	}
	// The step being committed at the kill may or may not be there.
	if steps < last || steps > last+1 {
		t.Errorf("state holds %d steps, want %d (reported committed) or one more", steps, last)
	}
	if n := count(t, db, "SELECT count(*) FROM incidents WHERE org = 'acme'"); n != st.NextIncident {
		t.Errorf("got %d incident rows, want %d (the state's incident count)", n, st.NextIncident)
	}
	if n := count(t, db, `SELECT count(*) FROM outbox o WHERE NOT EXISTS
		(SELECT 1 FROM incidents i WHERE i.org = o.org AND i.id = o.incident)`); n != 0 {
		t.Errorf("got %d outbox rows about incidents that are not there, want 0", n)
	}
	for k := 1; k <= st.NextIncident; k++ {
		id := fmt.Sprintf("acme-%d", k)
		_, open := st.Incidents[id]
		rec, err := db.Incident(ctx, "acme", id)
		if err != nil {
			t.Errorf("incident %s: %v", id, err)
			continue
		}
		wantLife, wantResolvedRows := incidents.Resolved, 2
		if open {
			wantLife, wantResolvedRows = incidents.Triggered, 0
		}
		if rec.Lifecycle != wantLife {
			t.Errorf("incident %s: got %s, want %s (open in the state: %v)", id, rec.Lifecycle, wantLife, open)
		}
		if n := count(t, db, "SELECT count(*) FROM outbox WHERE org = 'acme' AND incident = ? AND event = 'triggered'", id); n != 2 {
			t.Errorf("incident %s: got %d triggered deliveries, want 2 (one per channel)", id, n)
		}
		if n := count(t, db, "SELECT count(*) FROM outbox WHERE org = 'acme' AND incident = ? AND event = 'resolved'", id); n != wantResolvedRows {
			t.Errorf("incident %s: got %d resolved deliveries, want %d", id, n, wantResolvedRows)
		}
	}
	t.Logf("child reported %d committed steps; %d found after kill -9", last, steps)
}

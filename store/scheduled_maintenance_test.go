package store

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lookout-status/lookout/incidents"
)

func TestMaintenanceWindowStatusAt(t *testing.T) {
	w := MaintenanceWindow{Start: t0.Add(time.Hour), End: t0.Add(2 * time.Hour), Status: incidents.MaintenanceScheduled}
	verifying := w
	verifying.Status = incidents.MaintenanceVerifying
	startedEarly := w
	startedEarly.Status = incidents.MaintenanceInProgress
	cancelled := w
	cancelled.Status = incidents.MaintenanceCancelled
	tests := []struct {
		name string
		w    MaintenanceWindow
		at   time.Duration
		want incidents.MaintenanceStatus
	}{
		{"before the start", w, 0, incidents.MaintenanceScheduled},
		{"at the start", w, time.Hour, incidents.MaintenanceInProgress},
		{"at the end", w, 2 * time.Hour, incidents.MaintenanceCompleted},
		{"started by hand", startedEarly, 0, incidents.MaintenanceInProgress},
		{"verifying stays", verifying, 90 * time.Minute, incidents.MaintenanceVerifying},
		{"verifying ends at the end", verifying, 2 * time.Hour, incidents.MaintenanceCompleted},
		{"cancelled is final", cancelled, time.Hour, incidents.MaintenanceCancelled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.w.StatusAt(t0.Add(tc.at)); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestMaintenanceWindows(t *testing.T) {
	ctx := context.Background()
	db, fc := mustOpen(t)
	create := func(org, title string, start, end time.Duration) MaintenanceWindow {
		t.Helper()
		w, err := db.CreateMaintenanceWindow(ctx, MaintenanceWindow{Org: org, Title: title, Components: []string{"storage"},
			Start: t0.Add(start), End: t0.Add(end), CreatedBy: "ana"}, "body of "+title)
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	soon := create("acme", "soon", time.Hour, 2*time.Hour)
	later := create("acme", "later", 3*time.Hour, 4*time.Hour)
	create("acme", "running", 0, time.Hour)
	create("globex", "theirs", time.Hour, 2*time.Hour)
	if !strings.HasPrefix(soon.ID, "mnt_") || len(soon.ID) != 20 || soon.ID == later.ID {
		t.Fatalf("got ids %q, %q; want distinct mnt_ ids", soon.ID, later.ID)
	}
	// "later" is cancelled; the clock moves into "soon".
	if _, _, err := db.ChangeMaintenanceWindow(ctx, "acme", later.ID, func(w *MaintenanceWindow, now time.Time) (MaintenanceUpdate, error) {
		w.Status, w.EndedAt = incidents.MaintenanceCancelled, now
		return MaintenanceUpdate{Actor: "ben", Body: "not needed", Change: "cancelled"}, nil
	}); err != nil {
		t.Fatal(err)
	}
	fc.Advance(30 * time.Minute)

	titles := func(f MaintenanceFilter) []string {
		t.Helper()
		f.Now = fc.Now()
		ws, err := db.MaintenanceWindows(ctx, "acme", f)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, w := range ws {
			out = append(out, w.Title)
		}
		return out
	}
	tests := []struct {
		when MaintenanceWhen
		want []string
	}{
		{MaintenanceUpcoming, []string{"soon"}},
		{MaintenanceActive, []string{"running"}},
		{MaintenancePast, []string{"later"}},
		{MaintenanceLive, []string{"running", "soon"}},
		{MaintenanceAll, []string{"later", "soon", "running"}},
	}
	for _, tc := range tests {
		if got := titles(MaintenanceFilter{When: tc.when}); !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.when, got, tc.want)
		}
	}
	// Pages of one, continued after the last one's (start, id).
	var paged []string
	f := MaintenanceFilter{When: MaintenanceAll, Limit: 1}
	for range 5 {
		f.Now = fc.Now()
		ws, err := db.MaintenanceWindows(ctx, "acme", f)
		if err != nil {
			t.Fatal(err)
		}
		if len(ws) == 0 {
			break
		}
		paged = append(paged, ws[0].Title)
		f.AfterStart, f.AfterID = ws[0].Start, ws[0].ID
	}
	if want := []string{"later", "soon", "running"}; !slices.Equal(paged, want) {
		t.Errorf("paged: got %v, want %v", paged, want)
	}

	// Another organization's window is not found.
	if _, err := db.MaintenanceWindow(ctx, "globex", soon.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("globex reading acme's window: got %v, want ErrNotFound", err)
	}
	if _, _, err := db.ChangeMaintenanceWindow(ctx, "globex", soon.ID, func(*MaintenanceWindow, time.Time) (MaintenanceUpdate, error) {
		t.Error("change called for another organization's window")
		return MaintenanceUpdate{}, nil
	}); !errors.Is(err, ErrNotFound) {
		t.Errorf("globex changing acme's window: got %v, want ErrNotFound", err)
	}

	// A refused change leaves everything as it was, and its error comes back as is.
	refusal := errors.New("no")
	v0, _ := db.MaintenanceWindowsVersion(ctx, "acme")
	if _, _, err := db.ChangeMaintenanceWindow(ctx, "acme", soon.ID, func(w *MaintenanceWindow, _ time.Time) (MaintenanceUpdate, error) {
		w.Title = "changed"
		return MaintenanceUpdate{}, refusal
	}); err != refusal {
		t.Errorf("refused change: got %v, want the refusal itself", err)
	}
	if got, _ := db.MaintenanceWindow(ctx, "acme", soon.ID); got.Title != "soon" {
		t.Errorf("after a refused change: got title %q, want soon", got.Title)
	}

	// An extension is logged with the status in force.
	fc.Advance(time.Hour) // soon is running
	before, after, err := db.ChangeMaintenanceWindow(ctx, "acme", soon.ID, func(w *MaintenanceWindow, _ time.Time) (MaintenanceUpdate, error) {
		w.End = w.End.Add(time.Hour)
		return MaintenanceUpdate{Actor: "ben", Body: "taking longer", Change: "end later"}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !before.End.Equal(t0.Add(2*time.Hour)) || !after.End.Equal(t0.Add(3*time.Hour)) || !after.UpdatedAt.Equal(fc.Now()) {
		t.Errorf("got before %v after %v (updated %v), want the end moved by an hour", before.End, after.End, after.UpdatedAt)
	}
	us, err := db.MaintenanceUpdates(ctx, "acme", soon.ID)
	if err != nil {
		t.Fatal(err)
	}
	var log []string
	for _, u := range us {
		log = append(log, strings.Join([]string{u.Actor, string(u.Status), u.Body, u.Change}, "|"))
	}
	if want := []string{"ana|scheduled|body of soon|scheduled", "ben|in_progress|taking longer|end later"}; !slices.Equal(log, want) {
		t.Errorf("log: got %q, want %q", log, want)
	}
	if v1, _ := db.MaintenanceWindowsVersion(ctx, "acme"); v1 == v0 {
		t.Errorf("version unchanged after a change: %s", v1)
	}
}

func TestOnCallOverrides(t *testing.T) {
	ctx := context.Background()
	db, _ := mustOpen(t)
	add := func(org, sched, user string, start, end time.Duration) OnCallOverride {
		t.Helper()
		o, err := db.CreateOnCallOverride(ctx, OnCallOverride{Org: org, Schedule: sched, User: user,
			Start: t0.Add(start), End: t0.Add(end), CreatedBy: "ana"})
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	first := add("acme", "primary", "zoe", time.Hour, 3*time.Hour)
	add("acme", "primary", "vic", 2*time.Hour, 4*time.Hour)
	add("acme", "primary", "old", -2*time.Hour, -time.Hour)
	add("acme", "secondary", "sam", time.Hour, 2*time.Hour)
	theirs := add("globex", "primary", "gus", time.Hour, 2*time.Hour)

	ovs, err := db.OnCallOverrides(ctx, "acme", t0)
	if err != nil {
		t.Fatal(err)
	}
	var users []string
	for _, o := range ovs {
		users = append(users, o.User)
	}
	if want := []string{"zoe", "vic", "sam"}; !slices.Equal(users, want) {
		t.Fatalf("got %v, want %v (creation order, ended ones left out)", users, want)
	}

	scheds := WithOverrides([]incidents.Schedule{
		{ID: "primary", Overrides: []incidents.Override{{User: "cfg", Start: t0, End: t0.Add(5 * time.Hour)}}},
		{ID: "secondary"},
	}, ovs)
	if got := scheds[0].OnCall(t0.Add(150 * time.Minute)); !slices.Equal(got, []string{"cfg", "zoe", "vic"}) {
		t.Errorf("primary at 02:30: got %v, want [cfg zoe vic]", got)
	}
	if got := scheds[1].OnCall(t0.Add(90 * time.Minute)); !slices.Equal(got, []string{"sam"}) {
		t.Errorf("secondary at 01:30: got %v, want [sam]", got)
	}

	if _, err := db.DeleteOnCallOverride(ctx, "acme", theirs.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("acme deleting globex's override: got %v, want ErrNotFound", err)
	}
	got, err := db.DeleteOnCallOverride(ctx, "acme", first.ID)
	if err != nil || got.User != "zoe" {
		t.Fatalf("delete: got %+v, %v; want zoe's override", got, err)
	}
	if _, err := db.DeleteOnCallOverride(ctx, "acme", first.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: got %v, want ErrNotFound", err)
	}
	if ovs, _ := db.OnCallOverrides(ctx, "acme", t0); len(ovs) != 2 {
		t.Errorf("after delete: got %d overrides, want 2", len(ovs))
	}
}

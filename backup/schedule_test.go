package backup

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lookout-status/lookout/clock"
)

// flakyDir is a Dir whose uploads fail while fail is set.
type flakyDir struct {
	Dir
	fail atomic.Bool
}

func (f *flakyDir) Put(ctx context.Context, name, src string) error {
	if f.fail.Load() {
		return errors.New("put: bucket unreachable")
	}
	return f.Dir.Put(ctx, name, src)
}

type staleEvent struct {
	firing      bool
	since, last time.Time
}

func TestSchedulerRaisesAndResolvesStaleBackupIncident(t *testing.T) {
	dir, _ := mustDataDir(t, 3)
	dest := &flakyDir{Dir: Dir{Path: filepath.Join(t.TempDir(), "backups")}}
	dest.fail.Store(true)
	clk := clock.NewFake(t0)
	events := make(chan staleEvent, 4)
	reg := prometheus.NewRegistry()
	s := NewScheduler(ScheduleOptions{
		Backup:  Options{DataDir: dir, To: dest, Keep: DefaultKeep},
		Every:   6 * time.Hour,
		Clock:   clk,
		Metrics: reg,
		Stale: func(_ context.Context, firing bool, since, last time.Time) {
			events <- staleEvent{firing, since, last}
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	created := clk.TimerCreated()
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	<-created // the first attempt (at start: no backup exists) failed

	// Failures retry every 30 minutes; nothing is raised until the backups
	// are more than 12 hours stale (counted from start: there are none).
	for clk.Now().Sub(t0) < StaleAfter {
		select {
		case ev := <-events:
			t.Fatalf("at +%s: got %+v, want nothing before 12h", clk.Now().Sub(t0), ev)
		default:
		}
		created = clk.TimerCreated()
		clk.Advance(30 * time.Minute)
		<-created
	}
	created = clk.TimerCreated()
	clk.Advance(30 * time.Minute)
	<-created
	ev := <-events
	if want := (staleEvent{firing: true, since: t0.Add(StaleAfter)}); ev != want {
		t.Fatalf("got %+v, want %+v", ev, want)
	}
	if got := testutil.ToFloat64(s.failures); got < 25 {
		t.Errorf("lookout_backup_failures_total: got %v, want at least 25", got)
	}
	if got := testutil.ToFloat64(s.last); got != 0 {
		t.Errorf("lookout_backup_last_success_timestamp_seconds: got %v, want 0", got)
	}

	// The bucket is back: the next attempt succeeds and resolves it.
	dest.fail.Store(false)
	created = clk.TimerCreated()
	clk.Advance(30 * time.Minute)
	<-created
	ev = <-events
	okAt := clk.Now()
	if want := (staleEvent{firing: false, since: t0.Add(StaleAfter), last: okAt}); ev != want {
		t.Fatalf("got %+v, want %+v", ev, want)
	}
	if got := testutil.ToFloat64(s.last); got != float64(okAt.Unix()) {
		t.Errorf("lookout_backup_last_success_timestamp_seconds: got %v, want %v", got, okAt.Unix())
	}
	if got := testutil.ToFloat64(s.size); got <= 0 {
		t.Errorf("lookout_backup_size_bytes: got %v, want > 0", got)
	}
	n, err := testutil.GatherAndCount(reg, "lookout_backup_duration_seconds")
	if err != nil || n != 1 {
		t.Errorf("lookout_backup_duration_seconds: got %d series (%v), want 1", n, err)
	}
	ms, err := List(context.Background(), dest)
	if err != nil || len(ms) != 1 || !ms[0].CreatedAt.Equal(okAt) {
		t.Errorf("backups: got %v (%v), want one made at %s", ms, err, okAt)
	}

	// The next backup is due 6 hours later, not before.
	created = clk.TimerCreated()
	clk.Advance(6 * time.Hour)
	<-created
	if ms, _ := List(context.Background(), dest); len(ms) != 2 {
		t.Errorf("backups after 6h: got %d, want 2", len(ms))
	}
	select {
	case ev := <-events:
		t.Errorf("got %+v, want no further stale events", ev)
	default:
	}
}

func TestKeepRetained(t *testing.T) {
	midnight := time.Date(2026, 3, 3, 0, 0, 0, 0, time.UTC)
	at := func(d, h int) time.Time { return midnight.AddDate(0, 0, d).Add(time.Duration(h) * time.Hour) }
	// Every 6 hours for 60 days, newest first.
	var every6h []time.Time
	for d := 59; d >= 0; d-- {
		for h := 18; h >= 0; h -= 6 {
			every6h = append(every6h, at(d, h))
		}
	}
	for _, tc := range []struct {
		name  string
		keep  Keep
		times []time.Time
		want  int
	}{
		{"empty", DefaultKeep, nil, 0},
		{"newest always kept", Keep{}, []time.Time{at(0, 0), at(1, 0)}, 1},
		{"hourly only", Keep{Hourly: 3}, every6h, 3},
		// 24 six-hourly backups cover 6 days; 14 daily add 8 more days;
		// 6 monthly (Mar 3..May 1 2026: May and April already kept)
		// add the newest of March.
		{"default", DefaultKeep, every6h, 24 + 8 + 1},
		{"two in one hour keep the newer", Keep{Hourly: 1}, []time.Time{at(0, 0), at(0, 0).Add(10 * time.Minute)}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.keep.retained(tc.times)
			if len(got) != tc.want {
				t.Errorf("kept: got %d, want %d", len(got), tc.want)
			}
			if len(tc.times) > 0 {
				newest := tc.times[0]
				for _, tm := range tc.times {
					if tm.After(newest) {
						newest = tm
					}
				}
				if !got[newest] {
					t.Errorf("newest %s not kept", newest)
				}
			}
		})
	}
}

func TestPruneDeletesManifestAndArtifact(t *testing.T) {
	ctx := context.Background()
	dir, _ := mustDataDir(t, 2)
	dest := &Dir{Path: filepath.Join(t.TempDir(), "backups")}
	now := t0
	clk := func() time.Time { return now }
	var made []Manifest
	for range 3 {
		m, err := Create(ctx, Options{DataDir: dir, To: dest, Now: clk})
		if err != nil {
			t.Fatal(err)
		}
		made = append(made, m)
		now = now.Add(24 * time.Hour)
	}
	deleted, err := Prune(ctx, dest, Keep{Daily: 2})
	if err != nil {
		t.Fatal(err)
	}
	oldBase, _, _ := parseBase(made[0].File)
	if want := []string{oldBase + ".json", made[0].File}; len(deleted) != 2 || deleted[0] != want[0] || deleted[1] != want[1] {
		t.Errorf("deleted: got %v, want %v (manifest first)", deleted, want)
	}
	names, _ := dest.List(ctx)
	if len(names) != 4 {
		t.Errorf("left: got %v, want 2 backups (4 objects)", names)
	}
}

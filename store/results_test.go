package store

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lookout-status/lookout/probes"
)

func countResults(tb testing.TB, db *DB) int {
	tb.Helper()
	var n int
	if err := db.r.QueryRow("SELECT count(*) FROM results").Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

func TestInsertResultsRoundTrip(t *testing.T) {
	db, _ := mustOpen(t)
	ctx := context.Background()
	mustApply(t, db, testConfig())

	older := probes.Result{ProbeID: "api-http", Region: "eu", Started: t0, Duration: 10 * time.Millisecond, Outcome: probes.Up}
	newest := probes.Result{ProbeID: "api-http", Region: "us", Started: t0.Add(30 * time.Second),
		Duration: 1500*time.Millisecond + 999*time.Nanosecond, Outcome: probes.Down,
		Phases: []probes.Phase{
			{Name: "dns", Duration: 1200 * time.Microsecond},
			{Name: "connect", Duration: 3 * time.Millisecond},
			{Name: `step "login"`, Duration: 7 * time.Millisecond},
			{Name: "dns", Duration: time.Microsecond}, // a name may repeat
		},
		Error: "connect: connection refused"}
	sync1 := probes.Result{ProbeID: "sync-tcp", Region: "eu", Started: t0, Duration: time.Millisecond, Outcome: probes.Degraded,
		Error: strings.Repeat("é", MaxErrorLen)} // 2 bytes a rune: cut mid-rune at the cap
	if err := db.InsertResults(ctx, "acme", []probes.Result{newest, older, sync1}); err != nil {
		t.Fatal(err)
	}

	got, err := db.LatestResults(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	want := newest
	want.Duration = 1500 * time.Millisecond // stored in microseconds
	if !reflect.DeepEqual(got["api-http"], want) {
		t.Errorf("latest api-http:\ngot  %+v\nwant %+v", got["api-http"], want)
	}
	if e := got["sync-tcp"].Error; len(e) != MaxErrorLen || !strings.HasPrefix(sync1.Error, e) {
		t.Errorf("stored error: got %d bytes, want the first %d bytes of the original", len(e), MaxErrorLen)
	}
	if got["sync-tcp"].Outcome != probes.Degraded {
		t.Errorf("sync-tcp outcome: got %s, want degraded", got["sync-tcp"].Outcome)
	}

	hist, err := db.Results(ctx, "acme", "api-http", t0, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 2 || hist[0].Region != "eu" || hist[1].Region != "us" {
		t.Errorf("Results: got %+v, want eu then us", hist)
	}
	if other, err := db.LatestResults(ctx, "other"); err != nil || len(other) != 0 {
		t.Errorf("another organization's latest results: got %v, %v; want none", other, err)
	}
}

func TestInsertResultsIsAllOrNothing(t *testing.T) {
	db, _ := mustOpen(t)
	ctx := context.Background()
	mustApply(t, db, testConfig())
	ok := probes.Result{ProbeID: "api-http", Region: "local", Started: t0, Outcome: probes.Up}
	tests := []struct {
		name     string
		org      string
		bad      probes.Result
		notFound bool
	}{
		{"unknown probe", "acme", probes.Result{ProbeID: "nope", Started: t0, Outcome: probes.Up}, true},
		{"other organization", "beta", ok, true},
		{"unknown outcome", "acme", probes.Result{ProbeID: "api-http", Started: t0, Outcome: "maybe"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := db.InsertResults(ctx, tc.org, []probes.Result{ok, tc.bad})
			if err == nil {
				t.Fatal("got nil error, want one")
			}
			if errors.Is(err, ErrNotFound) != tc.notFound {
				t.Errorf("errors.Is(%v, ErrNotFound): got %v, want %v", err, !tc.notFound, tc.notFound)
			}
			if n := countResults(t, db); n != 0 {
				t.Errorf("got %d rows stored, want 0", n)
			}
		})
	}
}

func TestPhasesEncoding(t *testing.T) {
	tests := []struct {
		name   string
		phases []probes.Phase
		want   string
	}{
		{"http", []probes.Phase{{Name: "dns", Duration: 12 * time.Microsecond}, {Name: "total", Duration: 2 * time.Millisecond}}, `[["dns",12],["total",2000]]`},
		{"quotes and unicode", []probes.Phase{{Name: `a "b" é<`, Duration: time.Microsecond}}, `[["a \"b\" é\u003c",1]]`},
		{"negative clamps to zero", []probes.Phase{{Name: "x", Duration: -time.Second}}, `[["x",0]]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := string(appendPhases(nil, tc.phases))
			if got != tc.want {
				t.Errorf("encode: got %s, want %s", got, tc.want)
			}
			back, err := parsePhases(got)
			if err != nil {
				t.Fatal(err)
			}
			for i := range back {
				if back[i].Name != tc.phases[i].Name || back[i].Duration != max(tc.phases[i].Duration, 0) {
					t.Errorf("round trip %d: got %+v, want %+v", i, back[i], tc.phases[i])
				}
			}
		})
	}
}

// TestConcurrentWriters drives 100 goroutines writing at once, half through
// InsertResults and half through a Writer, while readers read: none may see
// "database is locked".
func TestConcurrentWriters(t *testing.T) {
	db, _ := mustOpen(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mustApply(t, db, testConfig())
	w := NewWriter(db, WriterOptions{FlushSize: 50, FlushInterval: time.Millisecond})
	runDone := make(chan error, 1)
	go func() { runDone <- w.Run(ctx) }()

	const goroutines, perG = 100, 5
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*perG+10)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perG {
				r := probes.Result{ProbeID: "api-http", Region: "local",
					Started: t0.Add(time.Duration(g*perG+i) * time.Millisecond), Outcome: probes.Up}
				var err error
				if g%2 == 0 {
					err = db.InsertResults(ctx, "acme", []probes.Result{r})
				} else {
					err = w.Add(ctx, "acme", r)
				}
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	readersDone := make(chan struct{})
	var rwg sync.WaitGroup
	for range 4 {
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			for {
				select {
				case <-readersDone:
					return
				default:
				}
				if _, err := db.LatestResults(ctx, "acme"); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(readersDone)
	rwg.Wait()
	cancel()
	if err := <-runDone; err != nil {
		t.Errorf("writer Run: %v", err)
	}
	close(errs)
	for err := range errs {
		t.Errorf("got %v, want no error", err)
	}
	if n := countResults(t, db); n != goroutines*perG {
		t.Errorf("got %d results stored, want %d", n, goroutines*perG)
	}
}

// TestReadWhileWriting holds a read transaction open across writes: the
// writer is not blocked, and the reader keeps its snapshot.
func TestReadWhileWriting(t *testing.T) {
	db, _ := mustOpen(t)
	ctx := context.Background()
	mustApply(t, db, testConfig())
	insert := func(i int) {
		t.Helper()
		r := probes.Result{ProbeID: "api-http", Region: "local", Started: t0.Add(time.Duration(i) * time.Second), Outcome: probes.Up}
		if err := db.InsertResults(ctx, "acme", []probes.Result{r}); err != nil {
			t.Fatalf("insert %d while a reader is open: %v", i, err)
		}
	}
	insert(0)

	tx, err := db.r.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	rows, err := tx.Query("SELECT id FROM results")
	if err != nil {
		t.Fatal(err)
	}
	rows.Next() // the read is under way, holding its snapshot
	for i := 1; i <= 10; i++ {
		insert(i)
	}
	rows.Close()
	var inTx int
	if err := tx.QueryRow("SELECT count(*) FROM results").Scan(&inTx); err != nil {
		t.Fatal(err)
	}
	if inTx != 1 {
		t.Errorf("count inside the read transaction: got %d, want 1 (its snapshot)", inTx)
	}
	tx.Rollback()
	if n := countResults(t, db); n != 11 {
		t.Errorf("count after: got %d, want 11", n)
	}
}

func ExamplePlan_String() {
	p := Plan{Changes: []Change{
		{Op: "create", Kind: "probe", Org: "acme", ID: "api-http"},
		{Op: "update", Kind: "component", Org: "acme", ID: "api", Fields: []string{"name", "grp"}},
		{Op: "create", Kind: "probe", Org: "acme", ID: "old", Restored: true},
		{Op: "delete", Kind: "organization", Org: "beta", ID: "beta"},
	}}
	fmt.Println(p)
	// Output:
	// + probe acme/api-http
	// ~ component acme/api (name, grp)
	// + probe acme/old (restored)
	// - organization beta
	// Plan: 2 to create, 1 to update, 1 to delete.
}

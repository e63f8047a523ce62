package store

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/lookout-status/lookout/probes"
)

// TestProbeResultsPages walks a probe's results newest first, page by page,
// with several results sharing a start time and one inserted late.
func TestProbeResultsPages(t *testing.T) {
	db, _ := mustOpen(t)
	ctx := context.Background()
	mustApply(t, db, testConfig())
	var rs []probes.Result
	for i := range 7 {
		rs = append(rs, probes.Result{ProbeID: "api-http", Region: "eu", Started: t0.Add(time.Duration(i) * time.Minute),
			Duration: time.Duration(i+1) * time.Millisecond, Outcome: probes.Up})
	}
	// Two regions at the same instant.
	rs = append(rs, probes.Result{ProbeID: "api-http", Region: "us", Started: t0.Add(3 * time.Minute), Outcome: probes.Down, Error: "timeout"})
	if err := db.InsertResults(ctx, "acme", rs); err != nil {
		t.Fatal(err)
	}
	// A late result, older than rows already stored.
	late := probes.Result{ProbeID: "api-http", Region: "ap", Started: t0.Add(90 * time.Second), Outcome: probes.Degraded}
	if err := db.InsertResults(ctx, "acme", []probes.Result{late}); err != nil {
		t.Fatal(err)
	}

	var got []string
	var cur ResultCursor
	for page := 0; page < 10; page++ {
		recs, err := db.ProbeResults(ctx, "acme", "api-http", cur, 3)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			got = append(got, r.Started.Sub(t0).String()+"/"+r.Region)
		}
		if len(recs) < 3 {
			break
		}
		// The cursor survives its string form.
		c, err := ParseResultCursor(recs[len(recs)-1].Cursor().String())
		if err != nil {
			t.Fatal(err)
		}
		cur = c
	}
	want := []string{"6m0s/eu", "5m0s/eu", "4m0s/eu", "3m0s/us", "3m0s/eu", "2m0s/eu", "1m30s/ap", "1m0s/eu", "0s/eu"}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}

	for _, c := range []struct{ org, probe string }{{"other", "api-http"}, {"acme", "nope"}} {
		if _, err := db.ProbeResults(ctx, c.org, c.probe, ResultCursor{}, 10); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s/%s: got %v, want ErrNotFound", c.org, c.probe, err)
		}
	}
	for _, s := range []string{"", "x", "1.", ".1", "1.0", "-1.2", "1.2.3"} {
		if _, err := ParseResultCursor(s); err == nil {
			t.Errorf("ParseResultCursor(%q): got nil error, want one", s)
		}
	}
}

func TestHourlyStats(t *testing.T) {
	db, _ := mustOpen(t)
	ctx := context.Background()
	cfg := testConfig()
	mustApply(t, db, cfg)
	var rs []probes.Result
	// Hour 0: 10..19 ms in eu, 100 ms in us; hour 2: one down, one 50 ms.
	for i := range 10 {
		rs = append(rs, probes.Result{ProbeID: "api-http", Region: "eu", Started: t0.Add(time.Duration(i) * time.Minute),
			Duration: time.Duration(10+i) * time.Millisecond, Outcome: probes.Up})
	}
	rs = append(rs,
		probes.Result{ProbeID: "api-http", Region: "us", Started: t0.Add(30 * time.Minute), Duration: 100 * time.Millisecond, Outcome: probes.Degraded},
		probes.Result{ProbeID: "api-http", Region: "eu", Started: t0.Add(2*time.Hour + time.Minute), Duration: 5 * time.Second, Outcome: probes.Down},
		probes.Result{ProbeID: "api-http", Region: "eu", Started: t0.Add(2*time.Hour + 2*time.Minute), Duration: 50 * time.Millisecond, Outcome: probes.Up},
	)
	if err := db.InsertResults(ctx, "acme", rs); err != nil {
		t.Fatal(err)
	}
	if err := db.Rollup(ctx); err != nil {
		t.Fatal(err)
	}
	hours, sum, err := db.HourlyStats(ctx, "acme", "api-http", t0.Add(-time.Hour), t0.Add(23*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(hours) != 2 || !hours[0].Hour.Equal(t0) || !hours[1].Hour.Equal(t0.Add(2*time.Hour)) {
		t.Fatalf("got hours %+v, want t0 and t0+2h", hours)
	}
	if h := hours[0]; h.Count != 11 || h.Degraded != 1 || h.Max != 100*time.Millisecond {
		t.Errorf("hour 0: got %+v, want 11 checks (both regions), 1 degraded, max 100ms", h)
	}
	if h := hours[1]; h.Count != 2 || h.Down != 1 || h.Max != 50*time.Millisecond {
		t.Errorf("hour 2: got %+v, want 2 checks, 1 down, max 50ms (down runs leave latency out)", h)
	}
	if sum.Count != 13 || sum.Down != 1 || sum.Min != 10*time.Millisecond || sum.Max != 100*time.Millisecond {
		t.Errorf("summary: got %+v, want 13 checks, 1 down, min 10ms, max 100ms", sum)
	}
	if sum.P95 < 50*time.Millisecond || sum.P95 > 104*time.Millisecond {
		t.Errorf("summary p95: got %s, want about 50-100ms", sum.P95)
	}
	if _, _, err := db.HourlyStats(ctx, "other", "api-http", t0, t0.Add(time.Hour)); !errors.Is(err, ErrNotFound) {
		t.Errorf("another organization: got %v, want ErrNotFound", err)
	}
}

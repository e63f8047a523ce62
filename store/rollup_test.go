package store

import (
	"context"
	"errors"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/lookout-status/lookout/probes"
)

type rollupRow struct {
	Table, Region     string
	Start             time.Time
	Count, Down, Degr int
	P50, P95, Max     time.Duration
}

func rollupRows(t *testing.T, db *DB) []rollupRow {
	t.Helper()
	var out []rollupRow
	for _, table := range []string{"rollups_hourly", "rollups_daily"} {
		rows, err := db.r.Query(`SELECT region, bucket_start, count, down, degraded, p50_us, p95_us, max_us FROM ` + table + ` ORDER BY bucket_start, region`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			r := rollupRow{Table: table}
			var start, p50, p95, m int64
			if err := rows.Scan(&r.Region, &start, &r.Count, &r.Down, &r.Degr, &p50, &p95, &m); err != nil {
				t.Fatal(err)
			}
			r.Start, r.P50, r.P95, r.Max = fromMS(start), usDur(p50), usDur(p95), usDur(m)
			out = append(out, r)
		}
		rows.Close()
	}
	return out
}

func res(at time.Time, region string, d time.Duration, o probes.Outcome) probes.Result {
	return probes.Result{ProbeID: "api-http", Region: region, Started: at, Duration: d, Outcome: o}
}

func mustInsert(t *testing.T, db *DB, rs ...probes.Result) {
	t.Helper()
	if err := db.InsertResults(context.Background(), "acme", rs); err != nil {
		t.Fatal(err)
	}
}

func mustRollup(t *testing.T, db *DB) {
	t.Helper()
	if err := db.Rollup(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// approx reports whether got is within a histogram bucket's width of want.
func approx(got, want time.Duration) bool {
	return math.Abs(float64(got-want)) <= float64(want)/16
}

func TestRollupAcrossHourAndDay(t *testing.T) {
	db, fc := mustOpen(t)
	ctx := context.Background()
	mustApply(t, db, testConfig())
	d1 := time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC)
	d2 := d1.Add(24 * time.Hour)
	fc.Set(d2.Add(2 * time.Hour))
	at := func(day time.Time, h, m int) time.Time {
		return day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute)
	}
	ms := time.Millisecond
	mustInsert(t, db,
		res(at(d1, 23, 10), "local", 100*ms, probes.Up),
		res(at(d1, 23, 40), "local", 300*ms, probes.Down), // down: counted, not in latency
		res(at(d2, 0, 5), "local", 10*ms, probes.Up),
		res(at(d2, 0, 20), "local", 20*ms, probes.Degraded),
		res(at(d2, 0, 50), "local", 30*ms, probes.Up),
		res(at(d2, 1, 30), "local", 40*ms, probes.Down),
		res(at(d2, 0, 30), "eu", 50*ms, probes.Up),
	)
	mustRollup(t, db)

	got := rollupRows(t, db)
	want := []rollupRow{
		{"rollups_hourly", "local", at(d1, 23, 0), 2, 1, 0, 100 * ms, 100 * ms, 100 * ms},
		{"rollups_hourly", "eu", d2, 1, 0, 0, 50 * ms, 50 * ms, 50 * ms},
		{"rollups_hourly", "local", d2, 3, 0, 1, 20 * ms, 30 * ms, 30 * ms},
		{"rollups_hourly", "local", at(d2, 1, 0), 1, 1, 0, 0, 0, 0},
		{"rollups_daily", "local", d1, 2, 1, 0, 100 * ms, 100 * ms, 100 * ms},
		{"rollups_daily", "eu", d2, 1, 0, 0, 50 * ms, 50 * ms, 50 * ms},
		{"rollups_daily", "local", d2, 4, 1, 1, 20 * ms, 30 * ms, 30 * ms},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d rollup rows %+v, want %d", len(got), got, len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		sameCounts := g.Table == w.Table && g.Region == w.Region && g.Start.Equal(w.Start) &&
			g.Count == w.Count && g.Down == w.Down && g.Degr == w.Degr && g.Max == w.Max
		samePct := approx(g.P50, w.P50) && approx(g.P95, w.P95) // from histograms
		if !sameCounts || !samePct {
			t.Errorf("row %d:\ngot  %+v\nwant %+v", i, g, w)
		}
	}

	days, err := db.DailyStats(ctx, "acme", "api-http", d1, d2.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(days) != 2 {
		t.Fatalf("DailyStats: got %d days %+v, want 2", len(days), days)
	}
	d := days[1] // both regions: latencies 10, 20, 30, 50 ms
	if !d.Day.Equal(d2) || d.Count != 5 || d.Down != 1 || d.Degraded != 1 || d.Max != 50*ms ||
		!approx(d.P50, 20*ms) || !approx(d.P95, 50*ms) {
		t.Errorf("DailyStats day 2: got %+v, want 5 results, 1 down, 1 degraded, p50≈20ms, p95≈50ms, max 50ms", d)
	}

	// Idempotent: a second run changes nothing.
	mustRollup(t, db)
	if again := rollupRows(t, db); !reflect.DeepEqual(again, got) {
		t.Errorf("second rollup changed rows:\ngot  %+v\nwant %+v", again, got)
	}

	// A late result is folded into its (old) hour and day; untouched
	// buckets are not rewritten: only new rows are read.
	if _, err := db.w.Exec("UPDATE rollups_hourly SET count = 999 WHERE bucket_start = ?", ms64(at(d2, 1, 0))); err != nil {
		t.Fatal(err)
	}
	mustInsert(t, db, res(at(d1, 23, 50), "local", 200*ms, probes.Up))
	mustRollup(t, db)
	rows := rollupRows(t, db)
	if r := rows[0]; r.Count != 3 || !approx(r.P50, 100*ms) || !approx(r.P95, 200*ms) || r.Max != 200*ms {
		t.Errorf("hour 23 after a late result: got %+v, want 3 results, p50 100ms, p95 200ms, max 200ms", r)
	}
	if r := rows[4]; r.Count != 3 || r.Max != 200*ms {
		t.Errorf("day 1 after a late result: got %+v, want 3 results, max 200ms", r)
	}
	if r := rows[3]; r.Count != 999 {
		t.Errorf("untouched hour: got count %d, want 999 (not recomputed)", r.Count)
	}

	// A result from long ago gets its own buckets.
	mustInsert(t, db, res(at(d1, -48, 0), "local", ms, probes.Up))
	mustRollup(t, db)
	if r := rollupRows(t, db)[0]; !r.Start.Equal(at(d1, -48, 0)) || r.Count != 1 {
		t.Errorf("first hourly row after a result two days late: got %+v, want 1 result at %v", r, at(d1, -48, 0))
	}
}

// TestRollupCountsOnce runs rollups from two handles on one file, as two
// processes would: each must see the other's watermark, and count every
// result once.
func TestRollupCountsOnce(t *testing.T) {
	db1, fc := mustOpen(t)
	mustApply(t, db1, testConfig())
	db2 := mustOpenPath(t, db1.Path(), Options{Now: fc.Now})
	hour := t0.Truncate(time.Hour)
	for i, db := range []*DB{db1, db2, db1, db1, db2} {
		mustInsert(t, db, res(hour.Add(time.Duration(i)*time.Minute), "local", time.Millisecond, probes.Up))
		mustRollup(t, db)
	}
	mustRollup(t, db1)
	mustRollup(t, db2)
	for _, r := range rollupRows(t, db1) {
		if r.Count != 5 {
			t.Errorf("%s %v: got count %d, want 5", r.Table, r.Start, r.Count)
		}
	}
}

func ms64(t time.Time) int64 { return t.UnixMilli() }

func TestUptime(t *testing.T) {
	db, fc := mustOpen(t)
	ctx := context.Background()
	mustApply(t, db, testConfig())
	day0 := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	day := func(n int) time.Time { return day0.Add(time.Duration(n) * 24 * time.Hour) }
	fc.Set(day(3))
	// One result an hour for three days; down: day 0 hours 0-1, day 2 hours 0-5.
	var rs []probes.Result
	for h := range 72 {
		o := probes.Up
		if h < 2 || (h >= 48 && h < 54) {
			o = probes.Down
		}
		rs = append(rs, res(day0.Add(time.Duration(h)*time.Hour+time.Minute), "local", time.Millisecond, o))
	}
	mustInsert(t, db, rs...)
	mustRollup(t, db)

	tests := []struct {
		name     string
		from, to time.Time
		want     float64
	}{
		{"three days", day(0), day(3), 64.0 / 72},
		{"one clean day", day(1), day(2), 1},
		{"partial days at both edges", day(0).Add(12 * time.Hour), day(2).Add(3 * time.Hour), 36.0 / 39},
		{"edges widen to whole hours", day(2).Add(30 * time.Minute), day(2).Add(70 * time.Minute), 0},
		{"a range wider than the data", day(-30), day(30), 64.0 / 72},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := db.Uptime(ctx, "acme", "api-http", tc.from, tc.to)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(got-tc.want) > 1e-12 {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	if _, err := db.Uptime(ctx, "acme", "api-http", day(10), day(11)); !errors.Is(err, ErrNoData) {
		t.Errorf("empty range: got %v, want ErrNoData", err)
	}
	if _, err := db.Uptime(ctx, "acme", "nope", day(0), day(1)); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown probe: got %v, want ErrNotFound", err)
	}
	if _, err := db.Uptime(ctx, "beta", "api-http", day(0), day(1)); !errors.Is(err, ErrNotFound) {
		t.Errorf("another organization: got %v, want ErrNotFound", err)
	}
}

func TestPrune(t *testing.T) {
	db, fc := mustOpen(t)
	ctx := context.Background()
	cfg := testConfig()
	cfg.Storage.RawRetention = 7 * 24 * time.Hour
	cfg.Storage.RollupRetention = 100 * 24 * time.Hour
	mustApply(t, db, cfg)
	now := fc.Now()
	days := func(n int) time.Time { return now.Add(-time.Duration(n) * 24 * time.Hour) }

	mustInsert(t, db,
		res(days(6), "local", time.Millisecond, probes.Up),
		res(now.Add(-time.Hour), "local", time.Millisecond, probes.Up),
	)
	mustRollup(t, db)
	// An old result not rolled up yet must survive a prune.
	mustInsert(t, db, res(days(9), "local", time.Millisecond, probes.Up))
	// Rollups past the rollup retention.
	for _, table := range []string{"rollups_hourly", "rollups_daily"} {
		if _, err := db.w.Exec(`INSERT INTO `+table+` (probe, bucket_start, region, count, down, degraded, p50_us, p95_us, max_us)
			SELECT pk, ?, 'local', 1, 0, 0, 1, 1, 1 FROM probes WHERE id = 'api-http'`, ms64(days(101))); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []struct {
		probe string
		at    time.Time
	}{{"api-http", days(8)}, {"api-http", days(6)}, {"sync-tcp", days(9)}} {
		if err := db.RecordPing(ctx, "acme", p.probe, probes.Ping{At: p.at}); err != nil {
			t.Fatal(err)
		}
	}

	// Two days on, the 6-day-old result is past the 7-day window.
	fc.Advance(2 * 24 * time.Hour)
	if err := db.Prune(ctx); err != nil {
		t.Fatal(err)
	}
	all, err := db.Results(ctx, "acme", "api-http", days(30), now)
	if err != nil {
		t.Fatal(err)
	}
	var kept []time.Time
	for _, r := range all {
		kept = append(kept, r.Started)
	}
	wantKept := []time.Time{days(9), now.Add(-time.Hour)}
	if !reflect.DeepEqual(kept, wantKept) {
		t.Errorf("results kept: got %v, want %v (the 6-day-old one pruned, the unrolled one kept)", kept, wantKept)
	}
	for _, tc := range []struct {
		table string
		want  int
	}{
		{"rollups_hourly", 2}, // the pruned result's hour stays: history outlives raw rows
		{"rollups_daily", 2},
		{"heartbeat_pings", 2}, // api-http's newest ping; sync-tcp's only one
	} {
		var n int
		if err := db.r.QueryRow("SELECT count(*) FROM " + tc.table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != tc.want {
			t.Errorf("%s rows after prune: got %d, want %d", tc.table, n, tc.want)
		}
	}
	if p, ok, _ := db.LastPing(ctx, "acme", "sync-tcp"); !ok || !p.At.Equal(days(9)) {
		t.Errorf("sync-tcp's only ping: got %v (ok=%v), want it kept", p.At, ok)
	}
	if p, ok, _ := db.LastPing(ctx, "acme", "api-http"); !ok || !p.At.Equal(days(6)) {
		t.Errorf("api-http's newest ping: got %v (ok=%v), want %v", p.At, ok, days(6))
	}

	// Once rolled up, the old row goes; the
	// newest row always stays so ids never restart.
	mustRollup(t, db)
	fc.Advance(30 * 24 * time.Hour)
	if err := db.Prune(ctx); err != nil {
		t.Fatal(err)
	}
	if n := countResults(t, db); n != 1 {
		t.Errorf("results after everything aged out: got %d, want 1 (the newest)", n)
	}
}

func TestHistogram(t *testing.T) {
	t.Run("buckets", func(t *testing.T) {
		prev := -1
		for _, v := range []int64{0, 1, 15, 16, 17, 31, 32, 33, 100, 1000, 65535, 1 << 20, 1<<40 + 12345} {
			b := bucketOf(v)
			if b < prev {
				t.Errorf("bucketOf(%d) = %d: not monotonic (previous %d)", v, b, prev)
			}
			prev = b
			if lo, hi := bucketLow(b), bucketLow(b+1); v < lo || v >= hi {
				t.Errorf("value %d in bucket %d: got range [%d, %d), want it inside", v, b, lo, hi)
			}
			if mid := bucketMid(b); math.Abs(float64(mid-v)) > float64(v)/16+1 {
				t.Errorf("bucketMid for %d: got %d, too far", v, mid)
			}
		}
	})
	t.Run("quantiles and encoding", func(t *testing.T) {
		h := hist{}
		for v := int64(1); v <= 1000; v++ {
			h.add(v * 1000) // 1ms .. 1s
		}
		back := hist{}
		if err := back.decode(h.encode()); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back, h) {
			t.Fatalf("decode(encode(h)): got %v, want %v", back, h)
		}
		for _, tc := range []struct {
			q    float64
			want int64
		}{{0.5, 500_000}, {0.95, 950_000}, {0.99, 990_000}} {
			if got := h.quantile(tc.q, 1_000_000); math.Abs(float64(got-tc.want)) > float64(tc.want)/16 {
				t.Errorf("quantile(%v): got %d, want about %d", tc.q, got, tc.want)
			}
		}
		if err := (hist{}).decode([]byte{0x80}); err == nil {
			t.Error("decode of a truncated histogram: got nil error, want one")
		}
	})
}

package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

const (
	hourMS = int64(time.Hour / time.Millisecond)
	dayMS  = 24 * hourMS
	// rollupChunk bounds how many new raw rows one rollup transaction
	// covers, so the writer is never held for long.
	rollupChunk = 50000
	// pruneChunk bounds the rows one delete transaction removes.
	pruneChunk = 5000

	watermarkKey = "rollup_watermark"
)

// Rollup folds the results stored since the last rollup into the hourly
// and daily rollups. Its watermark (the newest results row covered) is
// advanced in the same transaction as the rollups, so every result is
// counted exactly once: running it again changes nothing. It reads only the
// new rows, in storage order, and updates each touched bucket once per run;
// the current partial buckets are included, and late results land in their
// own (older) buckets.
func (db *DB) Rollup(ctx context.Context) error {
	db.rollupMu.Lock()
	defer db.rollupMu.Unlock()
	for {
		more, err := db.rollupChunk(ctx)
		if err != nil {
			db.rollupCache = nil
			return fmt.Errorf("rollup: %w", err)
		}
		if !more {
			return nil
		}
	}
}

type bucketKey struct {
	probe  int64
	region string
	start  int64 // ms
}

// agg is one rollup bucket's running figures. Latency figures cover the
// results that were not down.
type agg struct {
	count, down, degraded, maxUS int64
	h                            hist
}

func (a *agg) add(us, code int64) {
	a.count++
	switch code {
	case codeDown:
		a.down++
		return
	case codeDegraded:
		a.degraded++
	}
	a.maxUS = max(a.maxUS, us)
	a.h.add(us)
}

func addTo(m map[bucketKey]*agg, k bucketKey, us, code int64) {
	a := m[k]
	if a == nil {
		a = &agg{h: hist{}}
		m[k] = a
	}
	a.add(us, code)
}

// rollupCache holds the buckets the last run wrote, as they are in the
// database at watermark wm, sparing a read of each before its update.
type rollupCache struct {
	wm     int64
	hourly map[bucketKey]*agg
	daily  map[bucketKey]*agg
}

func (db *DB) rollupChunk(ctx context.Context) (more bool, err error) {
	var hi int64
	touchedH, touchedD := map[bucketKey]*agg{}, map[bucketKey]*agg{}
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		var wm int64
		if err := tx.QueryRowContext(ctx, "SELECT value FROM store_state WHERE name = ?", watermarkKey).Scan(&wm); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		var newest sql.NullInt64
		if err := tx.QueryRowContext(ctx, "SELECT max(id) FROM results").Scan(&newest); err != nil {
			return err
		}
		if !newest.Valid || newest.Int64 <= wm {
			return nil
		}
		hi = min(newest.Int64, wm+rollupChunk)
		more = hi < newest.Int64
		if db.rollupCache == nil || db.rollupCache.wm != wm {
			db.rollupCache = &rollupCache{wm: wm, hourly: map[bucketKey]*agg{}, daily: map[bucketKey]*agg{}}
		}

		// The new rows, grouped by bucket.
		hours, days := map[bucketKey]*agg{}, map[bucketKey]*agg{}
		rows, err := tx.QueryContext(ctx, `SELECT probe, region, started_at, duration_us, outcome
			FROM results WHERE id > ? AND id <= ?`, wm, hi)
		if err != nil {
			return err
		}
		for rows.Next() {
			var k bucketKey
			var started, us, code int64
			if err := rows.Scan(&k.probe, &k.region, &started, &us, &code); err != nil {
				rows.Close()
				return err
			}
			k.start = floorTo(started, hourMS)
			addTo(hours, k, us, code)
			k.start = floorTo(started, dayMS)
			addTo(days, k, us, code)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}

		for _, t := range []struct {
			table   string
			delta   map[bucketKey]*agg
			cache   map[bucketKey]*agg
			touched map[bucketKey]*agg
		}{
			{"rollups_hourly", hours, db.rollupCache.hourly, touchedH},
			{"rollups_daily", days, db.rollupCache.daily, touchedD},
		} {
			for k, d := range t.delta {
				a, err := loadBucket(ctx, tx, t.table, t.cache, k)
				if err != nil {
					return err
				}
				a.count, a.down, a.degraded = a.count+d.count, a.down+d.down, a.degraded+d.degraded
				a.maxUS = max(a.maxUS, d.maxUS)
				a.h.merge(d.h)
				if err := upsertRollup(ctx, tx, t.table, k, a); err != nil {
					return err
				}
				t.touched[k] = a
			}
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO store_state (name, value) VALUES (?, ?)
			ON CONFLICT (name) DO UPDATE SET value = excluded.value`, watermarkKey, hi)
		return err
	})
	if err != nil || hi == 0 {
		return false, err
	}
	// Committed: keep what this run wrote, valid at the new watermark.
	db.rollupCache = &rollupCache{wm: hi, hourly: touchedH, daily: touchedD}
	return more, nil
}

// loadBucket returns a copy of a bucket's current figures, from the cache
// or the table; zero for a new bucket.
func loadBucket(ctx context.Context, tx *sql.Tx, table string, cache map[bucketKey]*agg, k bucketKey) (*agg, error) {
	if c, ok := cache[k]; ok {
		cp := *c
		cp.h = hist{}
		cp.h.merge(c.h)
		return &cp, nil
	}
	a := &agg{h: hist{}}
	var hb []byte
	err := tx.QueryRowContext(ctx, `SELECT count, down, degraded, max_us, hist FROM `+table+`
		WHERE probe = ? AND bucket_start = ? AND region = ?`, k.probe, k.start, k.region).Scan(&a.count, &a.down, &a.degraded, &a.maxUS, &hb)
	if errors.Is(err, sql.ErrNoRows) {
		return a, nil
	}
	if err != nil {
		return nil, err
	}
	return a, a.h.decode(hb)
}

func upsertRollup(ctx context.Context, tx *sql.Tx, table string, k bucketKey, a *agg) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO `+table+`
		(probe, bucket_start, region, count, down, degraded, p50_us, p95_us, max_us, hist)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (probe, bucket_start, region) DO UPDATE SET
			count = excluded.count, down = excluded.down, degraded = excluded.degraded,
			p50_us = excluded.p50_us, p95_us = excluded.p95_us, max_us = excluded.max_us,
			hist = excluded.hist`,
		k.probe, k.start, k.region, a.count, a.down, a.degraded,
		a.h.quantile(0.50, a.maxUS), a.h.quantile(0.95, a.maxUS), a.maxUS, a.h.encode())
	if err != nil {
		return fmt.Errorf("upsert %s: %w", table, err)
	}
	return nil
}

// Prune deletes raw results older than the raw retention window (only rows
// already rolled up), rollups older than the rollup retention, and heartbeat
// pings older than the raw window except each probe's newest. It deletes in
// short transactions so writers are not held up.
func (db *DB) Prune(ctx context.Context) error {
	raw, rollup := db.retentions()
	now := ms(db.now())
	rawCutoff, rollupCutoff := now-raw.Milliseconds(), now-rollup.Milliseconds()

	// Raw rows arrive roughly in time order, so the old ones are the lowest
	// ids: find the first id that is recent enough and delete below it. The
	// newest row is always kept, so SQLite never reuses an id and the rollup
	// watermark stays meaningful.
	var wm, newest, firstKept sql.NullInt64
	if err := db.w.QueryRowContext(ctx, "SELECT value FROM store_state WHERE name = ?", watermarkKey).Scan(&wm); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("prune: %w", err)
	}
	if err := db.w.QueryRowContext(ctx, "SELECT max(id) FROM results").Scan(&newest); err != nil {
		return fmt.Errorf("prune: %w", err)
	}
	if err := db.w.QueryRowContext(ctx, "SELECT min(id) FROM results WHERE id IN (SELECT id FROM results WHERE started_at >= ? ORDER BY id LIMIT 1)", rawCutoff).Scan(&firstKept); err != nil {
		return fmt.Errorf("prune: %w", err)
	}
	bound := min(wm.Int64+1, newest.Int64) // below: rolled up, not the newest
	if firstKept.Valid {
		bound = min(bound, firstKept.Int64)
	}
	var deleted int64
	for {
		res, err := db.w.ExecContext(ctx, `DELETE FROM results WHERE id IN
			(SELECT id FROM results WHERE id < ? AND started_at < ? ORDER BY id LIMIT ?)`, bound, rawCutoff, pruneChunk)
		if err != nil {
			return fmt.Errorf("prune results: %w", err)
		}
		n, _ := res.RowsAffected()
		deleted += n
		if n < pruneChunk {
			break
		}
	}

	var hourly, daily, pings int64
	for _, t := range []struct {
		table string
		n     *int64
	}{{"rollups_hourly", &hourly}, {"rollups_daily", &daily}} {
		res, err := db.w.ExecContext(ctx, `DELETE FROM `+t.table+`
			WHERE probe IN (SELECT pk FROM probes) AND bucket_start < ?`, rollupCutoff)
		if err != nil {
			return fmt.Errorf("prune %s: %w", t.table, err)
		}
		*t.n, _ = res.RowsAffected()
	}
	res, err := db.w.ExecContext(ctx, `DELETE FROM heartbeat_pings WHERE at < ?
		AND at < (SELECT max(p.at) FROM heartbeat_pings p WHERE p.probe = heartbeat_pings.probe)`, rawCutoff)
	if err != nil {
		return fmt.Errorf("prune heartbeat pings: %w", err)
	}
	pings, _ = res.RowsAffected()
	if deleted+hourly+daily+pings > 0 {
		db.log.Info("pruned", "results", deleted, "rollups_hourly", hourly, "rollups_daily", daily, "heartbeat_pings", pings)
	}
	return nil
}

// DayStat is one UTC day of a probe's results, all regions together.
// Latency figures cover results that were not down; P50 and P95 come from
// latency histograms (within ~3%), Max is exact.
type DayStat struct {
	Day                   time.Time
	Count, Down, Degraded int
	P50, P95, Max         time.Duration
}

// DailyStats returns a probe's daily figures for the UTC days that start in
// [from, to) and hold results, oldest first. They are as fresh as the last
// Rollup, which keeps the current day's row up to date.
func (db *DB) DailyStats(ctx context.Context, org, probeID string, from, to time.Time) ([]DayStat, error) {
	pk, err := db.probePK(ctx, db.r, org, probeID)
	if err != nil {
		return nil, fmt.Errorf("daily stats of %s/%s: %w", org, probeID, err)
	}
	lo := floorTo(ms(from), dayMS)
	if lo < ms(from) {
		lo += dayMS
	}
	rows, err := db.r.QueryContext(ctx, `SELECT bucket_start, count, down, degraded, p50_us, p95_us, max_us, hist
		FROM rollups_daily WHERE probe = ? AND bucket_start >= ? AND bucket_start < ? ORDER BY bucket_start`, pk, lo, ms(to))
	if err != nil {
		return nil, fmt.Errorf("daily stats of %s/%s: %w", org, probeID, err)
	}
	defer rows.Close()
	var out []DayStat
	var merged hist // across regions of the current day
	for rows.Next() {
		var day, c, d, g, p50, p95, m int64
		var hb []byte
		if err := rows.Scan(&day, &c, &d, &g, &p50, &p95, &m, &hb); err != nil {
			return nil, fmt.Errorf("daily stats of %s/%s: %w", org, probeID, err)
		}
		h := hist{}
		if err := h.decode(hb); err != nil {
			return nil, fmt.Errorf("daily stats of %s/%s: %w", org, probeID, err)
		}
		if n := len(out); n > 0 && out[n-1].Day.Equal(fromMS(day)) {
			// Another region of the same day.
			s := &out[n-1]
			merged.merge(h)
			s.Count, s.Down, s.Degraded = s.Count+int(c), s.Down+int(d), s.Degraded+int(g)
			s.Max = max(s.Max, usDur(m))
			s.P50, s.P95 = usDur(merged.quantile(0.50, durUS(s.Max))), usDur(merged.quantile(0.95, durUS(s.Max)))
			continue
		}
		merged = h
		out = append(out, DayStat{Day: fromMS(day), Count: int(c), Down: int(d), Degraded: int(g),
			P50: usDur(p50), P95: usDur(p95), Max: usDur(m)})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("daily stats of %s/%s: %w", org, probeID, err)
	}
	return out, nil
}

// Uptime returns the share of a probe's results in [from, to) that were not
// down (degraded counts as up), from the rollups: whole days from daily
// rows, the hours at either edge from hourly ones. Edges are widened to
// whole hours. It returns ErrNoData when the range holds no result.
func (db *DB) Uptime(ctx context.Context, org, probeID string, from, to time.Time) (float64, error) {
	pk, err := db.probePK(ctx, db.r, org, probeID)
	if err != nil {
		return 0, fmt.Errorf("uptime of %s/%s: %w", org, probeID, err)
	}
	lo := floorTo(ms(from), hourMS)
	hi := floorTo(ms(to)+hourMS-1, hourMS)
	dayLo := floorTo(lo+dayMS-1, dayMS)
	dayHi := floorTo(hi, dayMS)
	type span struct {
		table  string
		lo, hi int64
	}
	var spans []span
	if dayLo < dayHi {
		spans = []span{{"rollups_hourly", lo, dayLo}, {"rollups_daily", dayLo, dayHi}, {"rollups_hourly", dayHi, hi}}
	} else {
		spans = []span{{"rollups_hourly", lo, hi}}
	}
	var count, down int64
	for _, s := range spans {
		if s.lo >= s.hi {
			continue
		}
		var c, d sql.NullInt64
		if err := db.r.QueryRowContext(ctx, `SELECT sum(count), sum(down) FROM `+s.table+`
			WHERE probe = ? AND bucket_start >= ? AND bucket_start < ?`, pk, s.lo, s.hi).Scan(&c, &d); err != nil {
			return 0, fmt.Errorf("uptime of %s/%s: %w", org, probeID, err)
		}
		count, down = count+c.Int64, down+d.Int64
	}
	if count == 0 {
		return 0, fmt.Errorf("uptime of %s/%s: %w", org, probeID, ErrNoData)
	}
	return float64(count-down) / float64(count), nil
}

func floorTo(v, unit int64) int64 {
	r := v % unit
	if r < 0 {
		r += unit
	}
	return v - r
}

func usDur(us int64) time.Duration { return time.Duration(us) * time.Microsecond }
func durUS(d time.Duration) int64  { return d.Microseconds() }

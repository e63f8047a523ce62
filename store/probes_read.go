package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/lookout-status/lookout/probes"
)

// Reads of one probe's history for the API and the console. Every query is
// scoped by organization: a probe id of another organization is not found.

// ResultRecord is one stored raw result with its row id, which with
// Started orders results for cursor pagination.
type ResultRecord struct {
	ID int64
	probes.Result
}

// ResultCursor marks where a page of results newest first ends: the next
// page holds results strictly older than (Started, ID). The zero cursor
// starts at the newest.
type ResultCursor struct {
	Started time.Time
	ID      int64
}

// IsZero reports whether c starts at the newest result.
func (c ResultCursor) IsZero() bool { return c.ID == 0 && c.Started.IsZero() }

// String encodes c for a URL ("<started ms>.<id>").
func (c ResultCursor) String() string {
	return strconv.FormatInt(ms(c.Started), 10) + "." + strconv.FormatInt(c.ID, 10)
}

// ParseResultCursor decodes ResultCursor.String.
func ParseResultCursor(s string) (ResultCursor, error) {
	a, b, ok := strings.Cut(s, ".")
	started, err1 := strconv.ParseInt(a, 10, 64)
	id, err2 := strconv.ParseInt(b, 10, 64)
	if !ok || err1 != nil || err2 != nil || started < 0 || id < 1 {
		return ResultCursor{}, fmt.Errorf("invalid result cursor %q", s)
	}
	return ResultCursor{Started: fromMS(started), ID: id}, nil
}

// Cursor is where the page ending with r ends.
func (r ResultRecord) Cursor() ResultCursor { return ResultCursor{Started: r.Started, ID: r.ID} }

// ProbeResults returns up to limit raw results of one of org's probes
// (deleted or not), newest first, older than after (the zero cursor: from
// the newest). A probe the organization does not have is ErrNotFound.
func (db *DB) ProbeResults(ctx context.Context, org, probeID string, after ResultCursor, limit int) ([]ResultRecord, error) {
	pk, err := db.probePK(ctx, db.r, org, probeID)
	if err != nil {
		return nil, fmt.Errorf("results of %s/%s: %w", org, probeID, err)
	}
	if limit < 1 {
		limit = 1
	}
	q := `SELECT r.id, ` + resultCols + ` FROM results r WHERE r.probe = ?`
	args := []any{pk}
	if !after.IsZero() {
		// Written so the (probe, started_at) index bounds the scan.
		q += ` AND r.started_at <= ? AND (r.started_at < ? OR r.id < ?)`
		s := ms(after.Started)
		args = append(args, s, s, after.ID)
	}
	q += ` ORDER BY r.started_at DESC, r.id DESC LIMIT ?`
	args = append(args, limit)
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("results of %s/%s: %w", org, probeID, err)
	}
	defer rows.Close()
	var out []ResultRecord
	for rows.Next() {
		rec := ResultRecord{Result: probes.Result{ProbeID: probeID}}
		if err := scanResult(rows, &rec.Result, &rec.ID); err != nil {
			return nil, fmt.Errorf("results of %s/%s: %w", org, probeID, err)
		}
		out = append(out, rec)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("results of %s/%s: %w", org, probeID, err)
	}
	return out, nil
}

// HourStat is one UTC hour of a probe's results, all regions together.
// Latency figures cover results that were not down; P50 and P95 come from
// latency histograms (within ~3%), Max is exact.
type HourStat struct {
	Hour                  time.Time
	Count, Down, Degraded int
	P50, P95, Max         time.Duration
}

// LatencySummary is a probe's figures over a range: Min is exact (from raw
// results), P50 and P95 from the merged hourly histograms, Max exact.
// Latency figures cover results that were not down.
type LatencySummary struct {
	Count, Down, Degraded int
	Min, P50, P95, Max    time.Duration
}

// HourlyStats returns a probe's hourly figures for the UTC hours that start
// in [from, to) and hold results, oldest first, and a summary of the whole
// range. They are as fresh as the last Rollup, which keeps the current
// hour's row up to date; Min is read from the raw results. A probe the
// organization does not have is ErrNotFound.
func (db *DB) HourlyStats(ctx context.Context, org, probeID string, from, to time.Time) ([]HourStat, LatencySummary, error) {
	fail := func(err error) ([]HourStat, LatencySummary, error) {
		return nil, LatencySummary{}, fmt.Errorf("hourly stats of %s/%s: %w", org, probeID, err)
	}
	pk, err := db.probePK(ctx, db.r, org, probeID)
	if err != nil {
		return fail(err)
	}
	lo := floorTo(ms(from), hourMS)
	if lo < ms(from) {
		lo += hourMS
	}
	rows, err := db.r.QueryContext(ctx, `SELECT bucket_start, count, down, degraded, p50_us, p95_us, max_us, hist
		FROM rollups_hourly WHERE probe = ? AND bucket_start >= ? AND bucket_start < ? ORDER BY bucket_start`, pk, lo, ms(to))
	if err != nil {
		return fail(err)
	}
	defer rows.Close()
	var (
		out    []HourStat
		sum    LatencySummary
		hour   hist // across regions of the current hour
		all    = hist{}
		maxAll int64
	)
	for rows.Next() {
		var start, c, d, g, p50, p95, m int64
		var hb []byte
		if err := rows.Scan(&start, &c, &d, &g, &p50, &p95, &m, &hb); err != nil {
			return fail(err)
		}
		h := hist{}
		if err := h.decode(hb); err != nil {
			return fail(err)
		}
		all.merge(h)
		maxAll = max(maxAll, m)
		sum.Count, sum.Down, sum.Degraded = sum.Count+int(c), sum.Down+int(d), sum.Degraded+int(g)
		if n := len(out); n > 0 && out[n-1].Hour.Equal(fromMS(start)) {
			s := &out[n-1] // another region of the same hour
			hour.merge(h)
			s.Count, s.Down, s.Degraded = s.Count+int(c), s.Down+int(d), s.Degraded+int(g)
			s.Max = max(s.Max, usDur(m))
			s.P50, s.P95 = usDur(hour.quantile(0.50, durUS(s.Max))), usDur(hour.quantile(0.95, durUS(s.Max)))
			continue
		}
		hour = h
		out = append(out, HourStat{Hour: fromMS(start), Count: int(c), Down: int(d), Degraded: int(g),
			P50: usDur(p50), P95: usDur(p95), Max: usDur(m)})
	}
	if err := rows.Err(); err != nil {
		return fail(err)
	}
	if all.total() > 0 {
		sum.P50, sum.P95, sum.Max = usDur(all.quantile(0.50, maxAll)), usDur(all.quantile(0.95, maxAll)), usDur(maxAll)
		var minUS sql.NullInt64
		err := db.r.QueryRowContext(ctx, `SELECT min(duration_us) FROM results
			WHERE probe = ? AND started_at >= ? AND started_at < ? AND outcome != ?`, pk, lo, ms(to), codeDown).Scan(&minUS)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fail(err)
		}
		// Raw results outlive their hour's rollup only until pruned; without
		// them the smallest hourly median is the best lower figure known.
		if minUS.Valid {
			sum.Min = usDur(minUS.Int64)
		} else {
			sum.Min = sum.P50
			for _, s := range out {
				if s.Count > s.Down {
					sum.Min = min(sum.Min, s.P50)
				}
			}
		}
	}
	return out, sum, nil
}

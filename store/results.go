package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lookout-status/lookout/probes"
)

// MaxErrorLen caps the stored error text of a result, in bytes.
const MaxErrorLen = 1024

// outcome codes as stored.
const (
	codeUp       = 0
	codeDegraded = 1
	codeDown     = 2
)

func outcomeCode(o probes.Outcome) (int64, bool) {
	switch o {
	case probes.Up:
		return codeUp, true
	case probes.Degraded:
		return codeDegraded, true
	case probes.Down:
		return codeDown, true
	}
	return 0, false
}

func outcomeOf(code int64) probes.Outcome {
	switch code {
	case codeUp:
		return probes.Up
	case codeDegraded:
		return probes.Degraded
	}
	return probes.Down
}

// orgResult is one result with its organization, as batched by the Writer.
type orgResult struct {
	org string
	r   probes.Result
}

// errUnknownProbe marks results naming a probe that was never applied.
var errUnknownProbe = fmt.Errorf("unknown probe: %w", ErrNotFound)

// InsertResults stores rs, all of org's probes, in one transaction: all of
// them or, on error, none. A result naming a probe that was never applied
// fails the batch with an error wrapping ErrNotFound; results of a
// soft-deleted probe are kept.
func (db *DB) InsertResults(ctx context.Context, org string, rs []probes.Result) error {
	batch := make([]orgResult, len(rs))
	for i, r := range rs {
		batch[i] = orgResult{org, r}
	}
	_, err := db.insertResults(ctx, batch, false)
	return err
}

// insertResults writes batch in one transaction. With skipBad, results of
// unknown probes or with an unknown outcome are left out and returned;
// otherwise the first such result fails the batch.
func (db *DB) insertResults(ctx context.Context, batch []orgResult, skipBad bool) (bad []badResult, err error) {
	if len(batch) == 0 {
		return nil, nil
	}
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		bad = bad[:0]
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO results
			(probe, started_at, region, duration_us, outcome, phases, error) VALUES (?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		// Resolve and check everything first, then insert in index order:
		// the (probe, started_at) index is then walked front to back.
		type row struct {
			pk   int64
			code int64
			it   *orgResult
		}
		rows := make([]row, 0, len(batch))
		for i := range batch {
			it := &batch[i]
			pk, err := db.probePK(ctx, tx, it.org, it.r.ProbeID)
			if errors.Is(err, ErrNotFound) {
				err = fmt.Errorf("result of %s/%s: %w", it.org, it.r.ProbeID, errUnknownProbe)
				if skipBad {
					bad = append(bad, badResult{*it, "unknown_probe"})
					continue
				}
			}
			if err != nil {
				return err
			}
			code, ok := outcomeCode(it.r.Outcome)
			if !ok {
				if skipBad {
					bad = append(bad, badResult{*it, "invalid"})
					continue
				}
				return fmt.Errorf("result of %s/%s: unknown outcome %q", it.org, it.r.ProbeID, it.r.Outcome)
			}
			rows = append(rows, row{pk, code, it})
		}
		slices.SortFunc(rows, func(a, b row) int {
			if c := cmp.Compare(a.pk, b.pk); c != 0 {
				return c
			}
			return a.it.r.Started.Compare(b.it.r.Started)
		})
		var buf []byte
		for _, rw := range rows {
			it := rw.it
			var phases any
			if len(it.r.Phases) > 0 {
				buf = appendPhases(buf[:0], it.r.Phases)
				phases = string(buf)
			}
			var errText any
			if it.r.Error != "" {
				errText = truncate(it.r.Error, MaxErrorLen)
			}
			if _, err := stmt.ExecContext(ctx, rw.pk, ms(it.r.Started), it.r.Region,
				max(it.r.Duration.Microseconds(), 0), rw.code, phases, errText); err != nil {
				return fmt.Errorf("result of %s/%s: %w", it.org, it.r.ProbeID, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("insert results: %w", err)
	}
	return bad, nil
}

type badResult struct {
	orgResult
	reason string
}

type rowQueryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// probePK returns the pk of a probe, deleted or not, caching it: a probe
// keeps its pk for life (deletes are soft).
func (db *DB) probePK(ctx context.Context, q rowQueryer, org, id string) (int64, error) {
	k := probeKey{org, id}
	db.pkMu.RLock()
	pk, ok := db.pks[k]
	db.pkMu.RUnlock()
	if ok {
		return pk, nil
	}
	err := q.QueryRowContext(ctx, "SELECT pk FROM probes WHERE org = ? AND id = ?", org, id).Scan(&pk)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ErrNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("look up probe %s/%s: %w", org, id, err)
	}
	db.pkMu.Lock()
	db.pks[k] = pk
	db.pkMu.Unlock()
	return pk, nil
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

// appendPhases encodes phases compactly as a JSON array of [name,
// microseconds] pairs: [["dns",120],["connect",340]]. Order is kept and names
// may repeat.
func appendPhases(b []byte, ps []probes.Phase) []byte {
	b = append(b, '[')
	for i, p := range ps {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		b = appendJSONString(b, p.Name)
		b = append(b, ',')
		b = strconv.AppendInt(b, max(p.Duration.Microseconds(), 0), 10)
		b = append(b, ']')
	}
	return append(b, ']')
}

func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' || c >= 0x7f || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // strings always marshal
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// parsePhases decodes appendPhases' format.
func parsePhases(s string) ([]probes.Phase, error) {
	var raw [][2]json.RawMessage
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return nil, fmt.Errorf("decode phases: %w", err)
	}
	out := make([]probes.Phase, len(raw))
	for i, p := range raw {
		var us int64
		if err := json.Unmarshal(p[0], &out[i].Name); err != nil {
			return nil, fmt.Errorf("decode phases: %w", err)
		}
		if err := json.Unmarshal(p[1], &us); err != nil {
			return nil, fmt.Errorf("decode phases: %w", err)
		}
		out[i].Duration = time.Duration(us) * time.Microsecond
	}
	return out, nil
}

const resultCols = "r.region, r.started_at, r.duration_us, r.outcome, r.phases, r.error"

// scanResult reads resultCols (after any leading columns in dest).
func scanResult(rows *sql.Rows, r *probes.Result, lead ...any) error {
	var started, dur, code int64
	var phases, errText sql.NullString
	dest := append(lead, &r.Region, &started, &dur, &code, &phases, &errText)
	if err := rows.Scan(dest...); err != nil {
		return err
	}
	r.Started = fromMS(started)
	r.Duration = time.Duration(dur) * time.Microsecond
	r.Outcome = outcomeOf(code)
	r.Error = errText.String
	if phases.Valid {
		ps, err := parsePhases(phases.String)
		if err != nil {
			return err
		}
		r.Phases = ps
	}
	return nil
}

// LatestResults returns the newest result of each of org's probes (that is
// not deleted and has any), keyed by probe id; with several regions, the
// newest of any region, whose name the result carries.
func (db *DB) LatestResults(ctx context.Context, org string) (map[string]probes.Result, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT p.id, `+resultCols+`
		FROM probes p JOIN results r ON r.id = (
			SELECT r2.id FROM results r2 WHERE r2.probe = p.pk
			ORDER BY r2.started_at DESC, r2.id DESC LIMIT 1)
		WHERE p.org = ? AND p.deleted_at IS NULL`, org)
	if err != nil {
		return nil, fmt.Errorf("latest results of %s: %w", org, err)
	}
	defer rows.Close()
	out := map[string]probes.Result{}
	for rows.Next() {
		var r probes.Result
		if err := scanResult(rows, &r, &r.ProbeID); err != nil {
			return nil, fmt.Errorf("latest results of %s: %w", org, err)
		}
		out[r.ProbeID] = r
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("latest results of %s: %w", org, err)
	}
	return out, nil
}

// Results returns a probe's raw results that started in [from, to), oldest
// first. Raw results are kept for the raw retention window only.
func (db *DB) Results(ctx context.Context, org, probeID string, from, to time.Time) ([]probes.Result, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+resultCols+`
		FROM probes p JOIN results r ON r.probe = p.pk
		WHERE p.org = ? AND p.id = ? AND r.started_at >= ? AND r.started_at < ?
		ORDER BY r.started_at, r.id`, org, probeID, ms(from), ms(to))
	if err != nil {
		return nil, fmt.Errorf("results of %s/%s: %w", org, probeID, err)
	}
	defer rows.Close()
	var out []probes.Result
	for rows.Next() {
		r := probes.Result{ProbeID: probeID}
		if err := scanResult(rows, &r); err != nil {
			return nil, fmt.Errorf("results of %s/%s: %w", org, probeID, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("results of %s/%s: %w", org, probeID, err)
	}
	return out, nil
}

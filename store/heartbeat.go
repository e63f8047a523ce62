package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/lookout-status/lookout/probes"
)

// MaxPingMessageLen caps a stored ping message, in bytes.
const MaxPingMessageLen = 1024

// livePK returns the pk of a probe that is not deleted.
func livePK(ctx context.Context, q rowQueryer, org, probeID string) (int64, error) {
	var pk int64
	err := q.QueryRowContext(ctx, "SELECT pk FROM probes WHERE org = ? AND id = ? AND deleted_at IS NULL", org, probeID).Scan(&pk)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ErrNotFound
	}
	return pk, err
}

// RecordPing stores a heartbeat ping for one of org's probes. A probe that
// does not exist or is deleted gives ErrNotFound (its URL should answer 404).
func (db *DB) RecordPing(ctx context.Context, org, probeID string, p probes.Ping) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		pk, err := livePK(ctx, tx, org, probeID)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO heartbeat_pings (probe, at, failed, message) VALUES (?, ?, ?, ?)",
			pk, ms(p.At), boolInt(p.Failed), truncate(p.Message, MaxPingMessageLen))
		return err
	})
	if err != nil {
		return fmt.Errorf("record ping of %s/%s: %w", org, probeID, err)
	}
	return nil
}

// LastPing returns a probe's newest ping; ok is false when it never had one.
func (db *DB) LastPing(ctx context.Context, org, probeID string) (p probes.Ping, ok bool, err error) {
	var at int64
	var failed bool
	err = db.r.QueryRowContext(ctx, `SELECT h.at, h.failed, h.message FROM heartbeat_pings h
		JOIN probes p ON p.pk = h.probe
		WHERE p.org = ? AND p.id = ? ORDER BY h.at DESC LIMIT 1`, org, probeID).Scan(&at, &failed, &p.Message)
	if errors.Is(err, sql.ErrNoRows) {
		return probes.Ping{}, false, nil
	}
	if err != nil {
		return probes.Ping{}, false, fmt.Errorf("last ping of %s/%s: %w", org, probeID, err)
	}
	p.At, p.Failed = fromMS(at), failed
	return p, true, nil
}

// DB implements probes.HeartbeatSource.
var _ probes.HeartbeatSource = (*DB)(nil)

package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/lookout-status/lookout/notify"
)

// nullableMS is a time for a nullable milliseconds column: NULL when zero.
func nullableMS(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: ms(t), Valid: true}
}

// logAttempt writes the attempt's row in the delivery log.
func logAttempt(ctx context.Context, tx *sql.Tx, a notify.Attempt) error {
	d := a.Delivery
	_, err := tx.ExecContext(ctx, `INSERT INTO delivery_attempts
		(outbox_id, channel, key, event, attempt, at, latency_ms, outcome, reply_code, reply_text, error)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		d.ID, d.Channel, d.Message.Key, string(d.Message.Event), d.Attempt+1, ms(a.At), a.Latency.Milliseconds(),
		string(a.Outcome), a.Reply.Code, truncate(a.Reply.Text, MaxErrorLen), truncate(a.Err, MaxErrorLen))
	if err != nil {
		return fmt.Errorf("log the attempt: %w", err)
	}
	return nil
}

// AttemptRecord is one logged delivery attempt.
type AttemptRecord struct {
	ID       int64
	OutboxID int64
	Channel  string
	Key      string
	Event    notify.Event
	Attempt  int
	At       time.Time
	Latency  time.Duration
	Outcome  string // delivered | failed | gave_up
	Reply    notify.Reply
	Error    string
}

// Attempts returns up to limit logged attempts of channel, newest first,
// older than the attempt id before (0: from the newest). next is the id to
// pass as before for the following page, 0 when there is none.
func (db *DB) Attempts(ctx context.Context, channel string, before int64, limit int) (out []AttemptRecord, next int64, err error) {
	if limit <= 0 {
		return nil, 0, nil
	}
	if before <= 0 {
		before = 1<<63 - 1
	}
	rows, err := db.r.QueryContext(ctx, `SELECT id, outbox_id, channel, key, event, attempt, at, latency_ms, outcome, reply_code, reply_text, error
		FROM delivery_attempts WHERE channel = ? AND id < ? ORDER BY id DESC LIMIT ?`, channel, before, limit+1)
	if err != nil {
		return nil, 0, fmt.Errorf("attempts of %s: %w", channel, err)
	}
	defer rows.Close()
	for rows.Next() {
		var a AttemptRecord
		var event string
		var at, latency int64
		if err := rows.Scan(&a.ID, &a.OutboxID, &a.Channel, &a.Key, &event, &a.Attempt, &at, &latency, &a.Outcome,
			&a.Reply.Code, &a.Reply.Text, &a.Error); err != nil {
			return nil, 0, fmt.Errorf("attempts of %s: %w", channel, err)
		}
		a.Event, a.At, a.Latency = notify.Event(event), fromMS(at), time.Duration(latency)*time.Millisecond
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("attempts of %s: %w", channel, err)
	}
	if len(out) > limit {
		out = out[:limit]
		next = out[limit-1].ID
	}
	return out, next, nil
}

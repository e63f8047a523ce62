package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/lookout-status/lookout/notify"
)

// DeliveryStatus is an outbox row's state.
type DeliveryStatus string

// The delivery states.
const (
	DeliveryPending   DeliveryStatus = "pending"
	DeliveryDelivered DeliveryStatus = "delivered"
	DeliveryGaveUp    DeliveryStatus = "gave_up"
)

// outboxRow is a delivery encoded for the outbox table.
type outboxRow struct {
	key, incident, channel, destination, event, message string
	nextAt                                              int64
}

// outboxRows encodes deliveries. The destination defaults to the channel,
// as the worker's busy list has it; the message is stored without its Ref,
// which Due fills from notify_refs.
func outboxRows(org string, ds []notify.Delivery) ([]outboxRow, error) {
	out := make([]outboxRow, 0, len(ds))
	for _, d := range ds {
		m := d.Message
		if m.Key == "" || d.Channel == "" {
			return nil, fmt.Errorf("queue delivery of %q to %q: needs a key and a channel", m.Key, d.Channel)
		}
		if m.Incident.Org != "" && m.Incident.Org != org {
			return nil, fmt.Errorf("queue %s: message about %q's incident", m.Key, m.Incident.Org)
		}
		m.Ref = ""
		b, err := json.Marshal(m)
		if err != nil {
			return nil, fmt.Errorf("queue %s: encode message: %w", m.Key, err)
		}
		dest := d.Destination
		if dest == "" {
			dest = d.Channel
		}
		out = append(out, outboxRow{
			key: m.Key, incident: m.Incident.ID, channel: d.Channel, destination: dest,
			event: string(m.Event), message: string(b), nextAt: ms(d.NextAt),
		})
	}
	return out, nil
}

// Due implements notify.Outbox: up to limit pending rows due at now, oldest
// first, leaving out destinations in busy.
//
// A row also waits while an older row of the same channel and incident is
// pending (taken by the worker, or waiting for a retry): messages about one
// incident reach a channel in order, and each carries in Message.Ref what
// the channel returned for the one before (a Slack thread is updated, not
// duplicated). Other incidents and other channels are not held up.
func (db *DB) Due(ctx context.Context, now time.Time, limit int, busy []string) ([]notify.Delivery, error) {
	if limit <= 0 {
		return nil, nil
	}
	q := `SELECT o.id, o.channel, o.destination, o.message, o.attempts, o.next_at, r.ref
		FROM outbox o
		LEFT JOIN notify_refs r ON r.channel = o.channel AND r.org = o.org AND r.incident = o.incident
		WHERE o.status = 'pending' AND o.next_at <= ?
		  AND NOT EXISTS (SELECT 1 FROM outbox p
			WHERE p.status = 'pending' AND p.channel = o.channel AND p.org = o.org
			  AND p.incident = o.incident AND p.id < o.id)`
	args := []any{ms(now)}
	if len(busy) > 0 {
		busy = slices.Compact(slices.Sorted(slices.Values(busy)))
		q += " AND o.destination NOT IN (" + placeholders(len(busy)) + ")"
		for _, b := range busy {
			args = append(args, b)
		}
	}
	q += " ORDER BY o.id LIMIT ?"
	args = append(args, limit)
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	defer rows.Close()
	var out []notify.Delivery
	for rows.Next() {
		var d notify.Delivery
		var msg string
		var next int64
		var ref sql.NullString
		if err := rows.Scan(&d.ID, &d.Channel, &d.Destination, &msg, &d.Attempt, &next, &ref); err != nil {
			return nil, fmt.Errorf("read outbox: %w", err)
		}
		if err := json.Unmarshal([]byte(msg), &d.Message); err != nil {
			return nil, fmt.Errorf("read outbox row %d: decode message: %w", d.ID, err)
		}
		d.NextAt = fromMS(next)
		d.Message.Ref = ref.String
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	return out, nil
}

// Record implements notify.Outbox: the attempt's outcome on its outbox
// row, its row in the delivery log and, when it gave up a subscriber's
// delivery, the disabling of the subscription, in one transaction. Every
// given-up subscriber delivery disables its subscription with the
// attempt's Reason; RecordWith takes a rule instead.
func (db *DB) Record(ctx context.Context, a notify.Attempt) error {
	_, err := db.RecordWith(ctx, a, nil)
	return err
}

// A GiveUpRule decides whether a subscriber's given-up delivery disables
// the subscription, and with what reason (shown to admins and kept in the
// audit log: it must hold no secret). sub is the subscription, inARow its
// deliveries given up since its last delivered one, this one included,
// and reason the attempt's Reason. It runs inside the transaction that
// records the attempt: it must not block or write anywhere.
type GiveUpRule func(sub Subscriber, inARow int, reason string) (disabledReason string, disable bool)

// GivenUp is what recording a subscriber's given-up delivery did to the
// subscription.
type GivenUp struct {
	// Subscriber is the subscription, "" when the attempt was not a given-up
	// delivery to a subscriber, or its subscription is gone or was already
	// disabled.
	Subscriber string
	Kind       string // KindWebhook or KindEmail
	// InARow counts its deliveries given up since its last delivered one,
	// this one included.
	InARow int
	// Disabled reports that the attempt disabled the subscription, with
	// Reason (as stored).
	Disabled bool
	Reason   string
}

// RecordWith is Record with rule deciding whether a subscriber's given-up
// delivery disables the subscription (nil: it does, with the attempt's
// Reason); it reports what the attempt did to the subscription. Disabling
// gives up the subscription's other pending deliveries and writes an audit
// entry, as DisableSubscriber does, in the attempt's transaction.
func (db *DB) RecordWith(ctx context.Context, a notify.Attempt, rule GiveUpRule) (GivenUp, error) {
	d := a.Delivery
	var g GivenUp
	err := db.inGroup(ctx, func(ctx context.Context, tx *sql.Tx) error {
		channel, err := recordOutcome(ctx, tx, a)
		if err != nil {
			return err
		}
		if err := logAttempt(ctx, tx, a); err != nil {
			return err
		}
		if a.Outcome != notify.OutcomeGaveUp {
			return nil
		}
		sub, ok := notify.SubscriberOf(channel)
		if !ok {
			return nil
		}
		g, err = giveUpSubscriber(ctx, tx, sub, a.End, a.Reason, rule)
		return err
	})
	if err != nil {
		return GivenUp{}, fmt.Errorf("record %s attempt %d of delivery %d: %w", a.Outcome, d.Attempt+1, d.ID, err)
	}
	return g, nil
}

// recordOutcome writes the attempt's outcome on its pending outbox row
// and returns the row's channel.
func recordOutcome(ctx context.Context, tx *sql.Tx, a notify.Attempt) (channel string, err error) {
	id := a.Delivery.ID
	var org, incident string
	var row *sql.Row
	switch a.Outcome {
	case notify.OutcomeDelivered:
		row = tx.QueryRowContext(ctx, `UPDATE outbox
			SET status = 'delivered', attempts = attempts + 1, last_attempt_at = ?, delivered_at = ?, last_error = ''
			WHERE id = ? AND status = 'pending'
			RETURNING channel, org, incident`, ms(a.End), ms(a.End), id)
	case notify.OutcomeFailed:
		row = tx.QueryRowContext(ctx, `UPDATE outbox
			SET attempts = attempts + 1, last_attempt_at = ?, next_at = ?, last_error = ?
			WHERE id = ? AND status = 'pending'
			RETURNING channel, org, incident`, ms(a.End), ms(a.RetryAt), truncate(a.Reason, MaxErrorLen), id)
	case notify.OutcomeGaveUp:
		row = tx.QueryRowContext(ctx, `UPDATE outbox
			SET status = 'gave_up', attempts = attempts + 1, last_attempt_at = ?, last_error = ?
			WHERE id = ? AND status = 'pending'
			RETURNING channel, org, incident`, ms(a.End), truncate(a.Reason, MaxErrorLen), id)
	default:
		return "", fmt.Errorf("unknown outcome %q", a.Outcome)
	}
	err = row.Scan(&channel, &org, &incident)
	if errors.Is(err, sql.ErrNoRows) {
		return "", notPending(ctx, tx, id)
	}
	if err != nil {
		return "", err
	}
	if a.Outcome != notify.OutcomeDelivered || a.Ref == "" {
		return channel, nil
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO notify_refs (channel, org, incident, ref, updated_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (channel, org, incident) DO UPDATE SET ref = excluded.ref, updated_at = excluded.updated_at`,
		channel, org, incident, a.Ref, ms(a.End))
	return channel, err
}

// notPending explains why row id could not be updated: it does not exist
// (ErrNotFound) or is no longer pending.
func notPending(ctx context.Context, tx *sql.Tx, id int64) error {
	var status string
	err := tx.QueryRowContext(ctx, "SELECT status FROM outbox WHERE id = ?", id).Scan(&status)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	return fmt.Errorf("delivery is %s, not pending", status)
}

// Stats implements notify.OutboxStats: pending rows across organizations
// and the creation time of the oldest.
func (db *DB) Stats(ctx context.Context) (depth int, oldest time.Time, err error) {
	var first sql.NullInt64
	if err := db.r.QueryRowContext(ctx,
		"SELECT count(*), min(created_at) FROM outbox WHERE status = 'pending'").Scan(&depth, &first); err != nil {
		return 0, time.Time{}, fmt.Errorf("outbox stats: %w", err)
	}
	return depth, nullMS(first), nil
}

// DeliveryRecord is one outbox row, for the delivery log.
type DeliveryRecord struct {
	ID          int64
	Key         string
	Channel     string
	Destination string
	Event       notify.Event
	Status      DeliveryStatus
	Attempts    int
	// NextAt is when a pending row is due.
	NextAt        time.Time
	CreatedAt     time.Time
	LastAttemptAt time.Time // zero before the first attempt
	DeliveredAt   time.Time // zero unless delivered
	LastError     string
}

// Deliveries returns the delivery log of org's incident, oldest first.
func (db *DB) Deliveries(ctx context.Context, org, incident string) ([]DeliveryRecord, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT id, key, channel, destination, event, status, attempts,
			next_at, created_at, last_attempt_at, delivered_at, last_error
		FROM outbox WHERE org = ? AND incident = ? ORDER BY id`, org, incident)
	if err != nil {
		return nil, fmt.Errorf("deliveries of %s/%s: %w", org, incident, err)
	}
	defer rows.Close()
	var out []DeliveryRecord
	for rows.Next() {
		var d DeliveryRecord
		var event, status string
		var next, created int64
		var attempted, delivered sql.NullInt64
		if err := rows.Scan(&d.ID, &d.Key, &d.Channel, &d.Destination, &event, &status, &d.Attempts,
			&next, &created, &attempted, &delivered, &d.LastError); err != nil {
			return nil, fmt.Errorf("deliveries of %s/%s: %w", org, incident, err)
		}
		d.Event, d.Status = notify.Event(event), DeliveryStatus(status)
		d.NextAt, d.CreatedAt = fromMS(next), fromMS(created)
		d.LastAttemptAt, d.DeliveredAt = nullMS(attempted), nullMS(delivered)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("deliveries of %s/%s: %w", org, incident, err)
	}
	return out, nil
}

// PruneOutbox deletes delivered and given-up rows created before before,
// the delivery log's attempts made before it, and the remembered refs of resolved incidents with nothing left pending.
// It returns how many outbox rows it deleted.
func (db *DB) PruneOutbox(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			"DELETE FROM outbox WHERE status <> 'pending' AND created_at < ?", ms(before))
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM delivery_attempts WHERE at < ?", ms(before)); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM notify_refs
			WHERE EXISTS (SELECT 1 FROM incidents i
				WHERE i.org = notify_refs.org AND i.id = notify_refs.incident AND i.lifecycle = 'resolved')
			AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.status = 'pending'
				AND o.channel = notify_refs.channel AND o.org = notify_refs.org AND o.incident = notify_refs.incident)`)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("prune outbox: %w", err)
	}
	return n, nil
}

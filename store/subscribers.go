package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/lookout-status/lookout/notify"
)

// SubscriberStatus is a subscription's state.
type SubscriberStatus string

// The subscription states.
const (
	SubscriberPending  SubscriberStatus = "pending"  // waiting for the verification event's 2xx
	SubscriberActive   SubscriberStatus = "active"   // receives deliveries
	SubscriberDisabled SubscriberStatus = "disabled" // a delivery was given up
)

// Subscriber is one webhook subscription of an organization.
type Subscriber struct {
	ID, Org string
	// Kind is "webhook" (the only kind stored).
	Kind string
	URL  string
	// Secret signs deliveries ("whsec_…").
	Secret string
	// Components limits deliveries to these component ids; empty: all.
	Components                         []string
	Status                             SubscriberStatus
	CreatedAt, ConfirmedAt, DisabledAt time.Time
	DisabledReason                     string
}

// CreateSubscriber stores a new pending subscription and queues its
// deliveries (the verification event) in the same transaction.
func (db *DB) CreateSubscriber(ctx context.Context, s Subscriber, deliveries []notify.Delivery) error {
	if s.ID == "" || s.Org == "" || s.URL == "" || s.Secret == "" {
		return fmt.Errorf("create subscriber: needs an id, an organization, a url and a secret")
	}
	comps := s.Components
	if comps == nil {
		comps = []string{}
	}
	cj, err := json.Marshal(comps)
	if err != nil {
		return fmt.Errorf("create subscriber %s: %w", s.ID, err)
	}
	rows, err := outboxRows(s.Org, deliveries)
	if err != nil {
		return fmt.Errorf("create subscriber %s: %w", s.ID, err)
	}
	now := ms(db.now())
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO subscribers (id, org, kind, url, secret, components, status, created_at)
			VALUES (?, ?, ?, ?, ?, ?, 'pending', ?)`, s.ID, s.Org, "webhook", s.URL, s.Secret, string(cj), now); err != nil {
			return err
		}
		for _, r := range rows {
			if _, err := tx.ExecContext(ctx, `INSERT INTO outbox
				(key, org, incident, channel, destination, event, message, status, attempts, next_at, created_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)
				ON CONFLICT (key) DO NOTHING`,
				r.key, s.Org, r.incident, r.channel, r.destination, r.event, r.message, r.nextAt, now); err != nil {
				return fmt.Errorf("queue %s: %w", r.key, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("create subscriber %s: %w", s.ID, err)
	}
	return nil
}

const subscriberColumns = `id, org, kind, url, secret, components, status, created_at, confirmed_at, disabled_at, disabled_reason`

func scanSubscriber(row interface{ Scan(...any) error }) (Subscriber, error) {
	var s Subscriber
	var comps, status string
	var created int64
	var confirmed, disabled sql.NullInt64
	if err := row.Scan(&s.ID, &s.Org, &s.Kind, &s.URL, &s.Secret, &comps, &status, &created, &confirmed, &disabled, &s.DisabledReason); err != nil {
		return Subscriber{}, err
	}
	if err := json.Unmarshal([]byte(comps), &s.Components); err != nil {
		return Subscriber{}, fmt.Errorf("decode components: %w", err)
	}
	s.Status = SubscriberStatus(status)
	s.CreatedAt, s.ConfirmedAt, s.DisabledAt = fromMS(created), nullMS(confirmed), nullMS(disabled)
	return s, nil
}

// Subscriber returns the subscription with that id (ids are unique across
// organizations), or ErrNotFound.
func (db *DB) Subscriber(ctx context.Context, id string) (Subscriber, error) {
	s, err := scanSubscriber(db.r.QueryRowContext(ctx, "SELECT "+subscriberColumns+" FROM subscribers WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return Subscriber{}, fmt.Errorf("subscriber %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Subscriber{}, fmt.Errorf("subscriber %s: %w", id, err)
	}
	return s, nil
}

// Subscribers returns every subscription (org "" : of every organization),
// oldest first.
func (db *DB) Subscribers(ctx context.Context, org string) ([]Subscriber, error) {
	rows, err := db.r.QueryContext(ctx, "SELECT "+subscriberColumns+" FROM subscribers WHERE ? = '' OR org = ? ORDER BY created_at, id", org, org)
	if err != nil {
		return nil, fmt.Errorf("subscribers of %q: %w", org, err)
	}
	defer rows.Close()
	var out []Subscriber
	for rows.Next() {
		s, err := scanSubscriber(rows)
		if err != nil {
			return nil, fmt.Errorf("subscribers of %q: %w", org, err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("subscribers of %q: %w", org, err)
	}
	return out, nil
}

// ConfirmSubscriber makes a pending subscription active. Confirming an
// active one again changes nothing; a disabled or missing one is an error
// (ErrNotFound when missing).
func (db *DB) ConfirmSubscriber(ctx context.Context, id string, at time.Time) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var status string
		err := tx.QueryRowContext(ctx, "SELECT status FROM subscribers WHERE id = ?", id).Scan(&status)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		switch SubscriberStatus(status) {
		case SubscriberActive:
			return nil
		case SubscriberDisabled:
			return errors.New("subscriber is disabled")
		}
		_, err = tx.ExecContext(ctx, "UPDATE subscribers SET status = 'active', confirmed_at = ? WHERE id = ?", ms(at), id)
		return err
	})
	if err != nil {
		return fmt.Errorf("confirm subscriber %s: %w", id, err)
	}
	return nil
}

// DisableSubscriber records that deliveries to the subscription failed for
// good; it receives nothing more. Its pending deliveries are given up.
func (db *DB) DisableSubscriber(ctx context.Context, id string, at time.Time, reason string) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE subscribers SET status = 'disabled', disabled_at = ?, disabled_reason = ?
			WHERE id = ? AND status <> 'disabled'`, ms(at), truncate(reason, MaxErrorLen), id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE outbox SET status = 'gave_up', last_error = 'subscriber disabled'
			WHERE status = 'pending' AND channel = ?`, SubscriberChannel(id))
		return err
	})
	if err != nil {
		return fmt.Errorf("disable subscriber %s: %w", id, err)
	}
	return nil
}

// DeleteSubscriber removes a subscription and gives up its pending
// deliveries. It reports whether there was one: deleting twice is not an
// error.
func (db *DB) DeleteSubscriber(ctx context.Context, id string) (bool, error) {
	var found bool
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM subscribers WHERE id = ?", id)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		found = n > 0
		_, err = tx.ExecContext(ctx, `UPDATE outbox SET status = 'gave_up', last_error = 'unsubscribed'
			WHERE status = 'pending' AND channel = ?`, SubscriberChannel(id))
		return err
	})
	if err != nil {
		return false, fmt.Errorf("delete subscriber %s: %w", id, err)
	}
	return found, nil
}

// SubscriberChannel is the outbox channel of a subscription's deliveries
// (notify.SubscriberChannel: one per subscriber).
func SubscriberChannel(id string) string { return notify.SubscriberChannel(id) }

// DeliveryChannel returns the channel of outbox row id.
func (db *DB) DeliveryChannel(ctx context.Context, id int64) (string, error) {
	var ch string
	err := db.r.QueryRowContext(ctx, "SELECT channel FROM outbox WHERE id = ?", id).Scan(&ch)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("delivery %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("delivery %d: %w", id, err)
	}
	return ch, nil
}

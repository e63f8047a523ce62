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

// The subscriber kinds.
const (
	KindWebhook = "webhook"
	KindEmail   = "email"
)

// Subscriber is one webhook or e-mail subscription of an organization.
type Subscriber struct {
	ID, Org string
	// Kind is KindWebhook (URL set) or KindEmail (Email set).
	Kind  string
	URL   string
	Email string
	// Secret signs a webhook's deliveries ("whsec_…"); for an e-mail
	// subscription it keys the HMAC of its links and is never shown.
	Secret string
	// ExpiresAt, when set, is when a pending subscription lapses unless
	// confirmed (e-mail: the confirmation link's validity).
	ExpiresAt time.Time
	// Components limits deliveries to these component ids; empty: all.
	Components                         []string
	Status                             SubscriberStatus
	CreatedAt, ConfirmedAt, DisabledAt time.Time
	DisabledReason                     string
}

// CreateSubscriber stores a new pending subscription and queues its
// deliveries (the verification event) in the same transaction.
func (db *DB) CreateSubscriber(ctx context.Context, s Subscriber, deliveries []notify.Delivery) error {
	kind := s.Kind
	if kind == "" {
		kind = KindWebhook
	}
	if s.ID == "" || s.Org == "" || s.Secret == "" || (kind == KindWebhook) == (s.URL == "") || (kind == KindEmail) == (s.Email == "") {
		return fmt.Errorf("create subscriber: needs an id, an organization, a secret and a url (webhook) or an e-mail address (email)")
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
		if _, err := tx.ExecContext(ctx, `INSERT INTO subscribers (id, org, kind, url, email, secret, components, status, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)`, s.ID, s.Org, kind, s.URL, s.Email, s.Secret, string(cj), now, nullableMS(s.ExpiresAt)); err != nil {
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

const subscriberColumns = `id, org, kind, url, email, secret, components, status, created_at, expires_at, confirmed_at, disabled_at, disabled_reason`

func scanSubscriber(row interface{ Scan(...any) error }) (Subscriber, error) {
	var s Subscriber
	var comps, status string
	var created int64
	var expires, confirmed, disabled sql.NullInt64
	if err := row.Scan(&s.ID, &s.Org, &s.Kind, &s.URL, &s.Email, &s.Secret, &comps, &status, &created, &expires, &confirmed, &disabled, &s.DisabledReason); err != nil {
		return Subscriber{}, err
	}
	s.ExpiresAt = nullMS(expires)
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

// ErrExpired is returned when confirming a subscription whose confirmation
// period has passed.
var ErrExpired = errors.New("subscription expired")

// ConfirmSubscriber makes a pending subscription active. Confirming an
// active one again changes nothing; a disabled or missing one is an error
// (ErrNotFound when missing), as is one past its ExpiresAt (ErrExpired).
// Confirming an e-mail subscription replaces the organization's confirmed
// (or disabled) subscriptions of the same address (a new choice of
// components), which are deleted with their pending deliveries; other
// pending requests stay.
func (db *DB) ConfirmSubscriber(ctx context.Context, id string, at time.Time) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var status, kind, org, email string
		var expires sql.NullInt64
		err := tx.QueryRowContext(ctx, "SELECT status, kind, org, email, expires_at FROM subscribers WHERE id = ?", id).
			Scan(&status, &kind, &org, &email, &expires)
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
		if expires.Valid && ms(at) >= expires.Int64 {
			return ErrExpired
		}
		if _, err = tx.ExecContext(ctx, "UPDATE subscribers SET status = 'active', confirmed_at = ? WHERE id = ?", ms(at), id); err != nil {
			return err
		}
		if kind != KindEmail {
			return nil
		}
		rows, err := tx.QueryContext(ctx, `SELECT id FROM subscribers
			WHERE org = ? AND kind = 'email' AND email = ? AND id <> ? AND status <> 'pending'`, org, email, id)
		if err != nil {
			return err
		}
		var old []string
		for rows.Next() {
			var o string
			if err := rows.Scan(&o); err != nil {
				rows.Close()
				return err
			}
			old = append(old, o)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, o := range old {
			if _, err := deleteSubscriber(ctx, tx, o, "replaced by "+id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("confirm subscriber %s: %w", id, err)
	}
	return nil
}

// Audit entries of a subscription the delivery worker disabled: no person
// acted, so the actor (and how it acted) is the system.
const (
	AuditActorSystem        = "system"
	AuditSubscriberDisabled = "subscriber.disabled"
)

// DisableSubscriber records that deliveries to the subscription failed for
// good; it receives nothing more. Its pending deliveries are given up, and
// the organization's audit log says so (actor AuditActorSystem, action
// AuditSubscriberDisabled, the reason as summary), in the same
// transaction. Disabling a disabled subscription changes nothing. The
// reason must hold no secret: it is shown to admins.
func (db *DB) DisableSubscriber(ctx context.Context, id string, at time.Time, reason string) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		_, err := disableSubscriber(ctx, tx, id, at, reason)
		return err
	})
	if err != nil {
		return fmt.Errorf("disable subscriber %s: %w", id, err)
	}
	return nil
}

// disableSubscriber is DisableSubscriber in tx; it reports whether the
// subscription was there and not disabled already.
func disableSubscriber(ctx context.Context, tx *sql.Tx, id string, at time.Time, reason string) (bool, error) {
	reason = truncate(reason, MaxErrorLen)
	var org string
	err := tx.QueryRowContext(ctx, `UPDATE subscribers SET status = 'disabled', disabled_at = ?, disabled_reason = ?
		WHERE id = ? AND status <> 'disabled' RETURNING org`, ms(at), reason, id).Scan(&org)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE outbox SET status = 'gave_up', last_error = 'subscriber disabled'
		WHERE status = 'pending' AND channel = ?`, SubscriberChannel(id)); err != nil {
		return false, err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO audit_log (at, org, actor, role, via, action, target, status, summary, client_ip)
		VALUES (?, ?, ?, '', ?, ?, ?, 0, ?, '')`,
		ms(at), org, AuditActorSystem, AuditActorSystem, AuditSubscriberDisabled, id, "disabled: "+reason)
	return err == nil, err
}

// givenUpInARowQuery counts a channel's deliveries given up since its last
// delivered one (two arguments: the channel, twice). It runs in the write
// transaction of every given-up subscriber delivery: the index
// outbox_by_channel keeps it to the channel's rows (a test checks the plan).
const givenUpInARowQuery = `SELECT count(*) FROM outbox WHERE channel = ? AND status = 'gave_up'
	AND id > coalesce((SELECT max(id) FROM outbox WHERE channel = ? AND status = 'delivered'), 0)`

// giveUpSubscriber applies rule (nil: always disable, with reason) to a
// delivery of subscription id given up at at, in tx.
func giveUpSubscriber(ctx context.Context, tx *sql.Tx, id string, at time.Time, reason string, rule GiveUpRule) (GivenUp, error) {
	sub, err := scanSubscriber(tx.QueryRowContext(ctx, "SELECT "+subscriberColumns+" FROM subscribers WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return GivenUp{}, nil // deleted meanwhile: nothing to disable
	}
	if err != nil {
		return GivenUp{}, fmt.Errorf("subscriber %s: %w", id, err)
	}
	if sub.Status == SubscriberDisabled {
		return GivenUp{}, nil
	}
	g := GivenUp{Subscriber: id, Kind: sub.Kind}
	ch := SubscriberChannel(id)
	if err := tx.QueryRowContext(ctx, givenUpInARowQuery, ch, ch).Scan(&g.InARow); err != nil {
		return GivenUp{}, fmt.Errorf("given-up deliveries of subscriber %s: %w", id, err)
	}
	disable := true
	if rule != nil {
		reason, disable = rule(sub, g.InARow, reason)
	}
	if !disable {
		return g, nil
	}
	if g.Disabled, err = disableSubscriber(ctx, tx, id, at, reason); err != nil {
		return GivenUp{}, fmt.Errorf("disable subscriber %s: %w", id, err)
	}
	g.Reason = truncate(reason, MaxErrorLen)
	return g, nil
}

// DeleteSubscriber removes a subscription and gives up its pending
// deliveries. It reports whether there was one: deleting twice is not an
// error.
func (db *DB) DeleteSubscriber(ctx context.Context, id string) (bool, error) {
	var found bool
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		found, err = deleteSubscriber(ctx, tx, id, "unsubscribed")
		return err
	})
	if err != nil {
		return false, fmt.Errorf("delete subscriber %s: %w", id, err)
	}
	return found, nil
}

// deleteSubscriber deletes a subscription in tx and gives up its pending
// deliveries with reason; it reports whether there was one.
func deleteSubscriber(ctx context.Context, tx *sql.Tx, id, reason string) (bool, error) {
	res, err := tx.ExecContext(ctx, "DELETE FROM subscribers WHERE id = ?", id)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, err
	}
	_, err = tx.ExecContext(ctx, `UPDATE outbox SET status = 'gave_up', last_error = ?
		WHERE status = 'pending' AND channel = ?`, reason, SubscriberChannel(id))
	return n > 0, err
}

// DeleteExpiredSubscribers deletes the pending subscriptions whose
// confirmation period ended before now, and reports how many.
func (db *DB) DeleteExpiredSubscribers(ctx context.Context, now time.Time) (int, error) {
	var n int
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, "SELECT id FROM subscribers WHERE status = 'pending' AND expires_at IS NOT NULL AND expires_at <= ?", ms(now))
		if err != nil {
			return err
		}
		var ids []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, id := range ids {
			if _, err := deleteSubscriber(ctx, tx, id, "confirmation expired"); err != nil {
				return err
			}
		}
		n = len(ids)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("delete expired subscribers: %w", err)
	}
	return n, nil
}

// RecentEmailSubscriptions counts the subscriptions of address (any
// organization, any state) created at or after since: what bounds the
// confirmation e-mails one address can be sent.
func (db *DB) RecentEmailSubscriptions(ctx context.Context, address string, since time.Time) (int, error) {
	var n int
	if err := db.r.QueryRowContext(ctx, "SELECT count(*) FROM subscribers WHERE kind = 'email' AND email = ? AND created_at >= ?",
		address, ms(since)).Scan(&n); err != nil {
		return 0, fmt.Errorf("recent subscriptions of an address: %w", err)
	}
	return n, nil
}

// SubscriberChannel is the outbox channel of a subscription's deliveries
// (notify.SubscriberChannel: one per subscriber).
func SubscriberChannel(id string) string { return notify.SubscriberChannel(id) }

package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/lookout-status/lookout/incidents"
)

// OnCallOverride puts User on call for Schedule from Start until End, over
// every layer: an override added through the API or the console.
type OnCallOverride struct {
	Org, ID    string
	Schedule   string
	User       string
	Start, End time.Time
	CreatedBy  string
	CreatedAt  time.Time
}

// CreateOnCallOverride stores a new override and returns it with its id
// ("ovr_…") and creation time.
func (db *DB) CreateOnCallOverride(ctx context.Context, o OnCallOverride) (OnCallOverride, error) {
	if o.Org == "" || o.Schedule == "" || o.User == "" || !o.End.After(o.Start) {
		return OnCallOverride{}, fmt.Errorf("create override: needs an organization, a schedule, a user and an end after the start")
	}
	o.ID, o.CreatedAt = newID("ovr_"), db.now()
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO oncall_overrides (org, id, schedule, user_id, starts_at, ends_at, created_by, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, o.Org, o.ID, o.Schedule, o.User, ms(o.Start), ms(o.End), o.CreatedBy, ms(o.CreatedAt))
		return err
	})
	if err != nil {
		return OnCallOverride{}, fmt.Errorf("create override %s/%s: %w", o.Org, o.ID, err)
	}
	return o, nil
}

const overrideColumns = `org, id, schedule, user_id, starts_at, ends_at, created_by, created_at`

func scanOverride(row interface{ Scan(...any) error }) (OnCallOverride, error) {
	var o OnCallOverride
	var start, end, created int64
	if err := row.Scan(&o.Org, &o.ID, &o.Schedule, &o.User, &start, &end, &o.CreatedBy, &created); err != nil {
		return OnCallOverride{}, err
	}
	o.Start, o.End, o.CreatedAt = fromMS(start), fromMS(end), fromMS(created)
	return o, nil
}

// OnCallOverrides returns org's overrides that end after endsAfter, in the
// order they were created.
func (db *DB) OnCallOverrides(ctx context.Context, org string, endsAfter time.Time) ([]OnCallOverride, error) {
	rows, err := db.r.QueryContext(ctx, "SELECT "+overrideColumns+" FROM oncall_overrides WHERE org = ? AND ends_at > ? ORDER BY seq",
		org, ms(endsAfter))
	if err != nil {
		return nil, fmt.Errorf("overrides of %s: %w", org, err)
	}
	defer rows.Close()
	var out []OnCallOverride
	for rows.Next() {
		o, err := scanOverride(rows)
		if err != nil {
			return nil, fmt.Errorf("overrides of %s: %w", org, err)
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("overrides of %s: %w", org, err)
	}
	return out, nil
}

// DeleteOnCallOverride deletes org's override id and returns it, or an
// error wrapping ErrNotFound.
func (db *DB) DeleteOnCallOverride(ctx context.Context, org, id string) (OnCallOverride, error) {
	var o OnCallOverride
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		o, err = scanOverride(tx.QueryRowContext(ctx, "SELECT "+overrideColumns+" FROM oncall_overrides WHERE org = ? AND id = ?", org, id))
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM oncall_overrides WHERE org = ? AND id = ?", org, id)
		return err
	})
	if err != nil {
		return OnCallOverride{}, fmt.Errorf("delete override %s/%s: %w", org, id, err)
	}
	return o, nil
}

// WithOverrides returns schedules with the overrides added to those they
// name, after each schedule's own (configured) overrides and in the order
// given (creation order). Where overrides overlap, everyone they cover is
// on call (incidents.Schedule.OnCall), listed in that order. The result
// shares no slice with schedules.
func WithOverrides(schedules []incidents.Schedule, ovs []OnCallOverride) []incidents.Schedule {
	out := make([]incidents.Schedule, len(schedules))
	for i, s := range schedules {
		s.Overrides = slices.Clone(s.Overrides)
		for _, o := range ovs {
			if o.Schedule == s.ID {
				s.Overrides = append(s.Overrides, incidents.Override{User: o.User, Start: o.Start, End: o.End})
			}
		}
		out[i] = s
	}
	return out
}

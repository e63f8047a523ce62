package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lookout-status/lookout/incidents"
)

// MaintenanceWindow is a maintenance window scheduled through the API or
// the console (the configuration's windows live in the file).
type MaintenanceWindow struct {
	Org, ID    string
	Title      string
	Components []string
	Start, End time.Time
	// Status is the last status a person gave the window; StatusAt is the
	// one in force.
	Status               incidents.MaintenanceStatus
	CreatedBy            string
	CreatedAt, UpdatedAt time.Time
	// EndedAt is when a person completed or cancelled it (zero otherwise).
	EndedAt time.Time
}

// StatusAt is the window's status at now, by the incident core's rules: a
// completion or cancellation is final; otherwise the clock moves the
// window forward (in progress from Start, completed at End), never back.
func (w MaintenanceWindow) StatusAt(now time.Time) incidents.MaintenanceStatus {
	switch {
	case w.Status == incidents.MaintenanceCompleted || w.Status == incidents.MaintenanceCancelled:
		return w.Status
	case !now.Before(w.End):
		return incidents.MaintenanceCompleted
	case w.Status == incidents.MaintenanceVerifying:
		return w.Status
	case w.Status == incidents.MaintenanceInProgress || !now.Before(w.Start):
		return incidents.MaintenanceInProgress
	}
	return incidents.MaintenanceScheduled
}

// Ended reports whether a person completed or cancelled the window.
func (w MaintenanceWindow) Ended() bool {
	return w.Status == incidents.MaintenanceCompleted || w.Status == incidents.MaintenanceCancelled
}

// Schedule is the window as the incident engine takes it.
func (w MaintenanceWindow) Schedule(actor string) incidents.MaintenanceSchedule {
	return incidents.MaintenanceSchedule{ID: w.ID, Title: w.Title, Components: append([]string(nil), w.Components...),
		Start: w.Start, End: w.End, Actor: actor}
}

// MaintenanceUpdate is one change to a window, as its log keeps it.
type MaintenanceUpdate struct {
	Seq   int
	At    time.Time
	Actor string
	// Status is the window's status after the change.
	Status incidents.MaintenanceStatus
	// Body is the message visitors read ("" for none); Change says in
	// words what changed.
	Body   string
	Change string
}

// MaintenanceWhen selects windows by where they stand at a moment.
type MaintenanceWhen string

// The selections. Upcoming and active (and live, both) come soonest first;
// past and all latest start first.
const (
	MaintenanceAll      MaintenanceWhen = "all"
	MaintenanceUpcoming MaintenanceWhen = "upcoming" // scheduled, not started
	MaintenanceActive   MaintenanceWhen = "active"   // in progress or verifying
	MaintenancePast     MaintenanceWhen = "past"     // completed or cancelled
	MaintenanceLive     MaintenanceWhen = "live"     // upcoming or active
)

// Ascending reports whether the selection lists soonest first.
func (w MaintenanceWhen) Ascending() bool {
	return w == MaintenanceUpcoming || w == MaintenanceActive || w == MaintenanceLive
}

// Matches reports whether a window with status s (in force) belongs to the
// selection.
func (w MaintenanceWhen) Matches(s incidents.MaintenanceStatus) bool {
	switch w {
	case MaintenanceUpcoming:
		return s == incidents.MaintenanceScheduled
	case MaintenanceActive:
		return s == incidents.MaintenanceInProgress || s == incidents.MaintenanceVerifying
	case MaintenancePast:
		return s == incidents.MaintenanceCompleted || s == incidents.MaintenanceCancelled
	case MaintenanceLive:
		return s != incidents.MaintenanceCompleted && s != incidents.MaintenanceCancelled
	}
	return true
}

// MaintenanceFilter selects an organization's windows.
type MaintenanceFilter struct {
	When MaintenanceWhen // "" is all
	Now  time.Time
	// AfterStart and AfterID, when AfterID is set, continue a list after
	// the window starting at AfterStart with id AfterID (in the list's
	// order).
	AfterStart time.Time
	AfterID    string
	// Limit bounds the list (0: no bound).
	Limit int
}

// Bounds on what a window holds.
const (
	MaxMaintenanceComponents = 100
	MaxMaintenanceBody       = 16 << 10
)

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newID returns prefix followed by 16 random characters ([a-z2-7]).
func newID(prefix string) string {
	var b [10]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return prefix + idEncoding.EncodeToString(b[:])
}

// CreateMaintenanceWindow stores a new window of w.Org with the first entry
// of its log (status scheduled, body), and returns it with its id
// ("mnt_…"), status and times filled in.
func (db *DB) CreateMaintenanceWindow(ctx context.Context, w MaintenanceWindow, body string) (MaintenanceWindow, error) {
	if w.Org == "" || w.Title == "" || len(w.Components) == 0 || !w.End.After(w.Start) {
		return MaintenanceWindow{}, fmt.Errorf("create maintenance: needs an organization, a title, components and an end after the start")
	}
	if len(w.Components) > MaxMaintenanceComponents || len(body) > MaxMaintenanceBody {
		return MaintenanceWindow{}, fmt.Errorf("create maintenance: more than %d components or a body over %d bytes", MaxMaintenanceComponents, MaxMaintenanceBody)
	}
	now := db.now()
	w.ID = newID("mnt_")
	w.Status = incidents.MaintenanceScheduled
	w.CreatedAt, w.UpdatedAt, w.EndedAt = now, now, time.Time{}
	comps, err := json.Marshal(w.Components)
	if err != nil {
		return MaintenanceWindow{}, fmt.Errorf("create maintenance: %w", err)
	}
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO maintenance_windows
			(org, id, title, components, starts_at, ends_at, status, created_by, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			w.Org, w.ID, w.Title, string(comps), ms(w.Start), ms(w.End), string(w.Status), w.CreatedBy, ms(now), ms(now)); err != nil {
			return err
		}
		return insertMaintenanceUpdate(ctx, tx, w.Org, w.ID, MaintenanceUpdate{
			Seq: 1, At: now, Actor: w.CreatedBy, Status: w.StatusAt(now), Body: body, Change: "scheduled",
		})
	})
	if err != nil {
		return MaintenanceWindow{}, fmt.Errorf("create maintenance %s/%s: %w", w.Org, w.ID, err)
	}
	return w, nil
}

func insertMaintenanceUpdate(ctx context.Context, tx *sql.Tx, org, id string, u MaintenanceUpdate) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO maintenance_updates (org, maintenance, seq, at, actor, status, body, change)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, org, id, u.Seq, ms(u.At), u.Actor, string(u.Status), u.Body, u.Change)
	return err
}

// ChangeMaintenanceWindow changes org's window id in one transaction:
// change receives the window as stored and the time, edits it in place and
// returns the entry to log (Actor, Body, Change; its Seq, At and Status are
// filled in). An error from change aborts the transaction and is returned
// unwrapped. It returns the window before and after; ErrNotFound for a
// window org does not have.
func (db *DB) ChangeMaintenanceWindow(ctx context.Context, org, id string,
	change func(w *MaintenanceWindow, now time.Time) (MaintenanceUpdate, error)) (before, after MaintenanceWindow, err error) {
	var refused error
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		now := db.now()
		b, err := scanMaintenanceWindow(tx.QueryRowContext(ctx, "SELECT "+windowColumns+" FROM maintenance_windows WHERE org = ? AND id = ?", org, id))
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		a := b
		a.Components = append([]string(nil), b.Components...)
		u, err := change(&a, now)
		if err != nil {
			refused = err
			return err
		}
		if len(a.Components) > MaxMaintenanceComponents || len(u.Body) > MaxMaintenanceBody || !a.End.After(a.Start) {
			return fmt.Errorf("more than %d components, a body over %d bytes or an end not after the start", MaxMaintenanceComponents, MaxMaintenanceBody)
		}
		a.Org, a.ID, a.UpdatedAt = org, id, now
		comps, err := json.Marshal(a.Components)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE maintenance_windows SET title = ?, components = ?, starts_at = ?, ends_at = ?,
			status = ?, updated_at = ?, ended_at = ? WHERE org = ? AND id = ?`,
			a.Title, string(comps), ms(a.Start), ms(a.End), string(a.Status), ms(now), nullableMS(a.EndedAt), org, id); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, "SELECT coalesce(max(seq), 0) + 1 FROM maintenance_updates WHERE org = ? AND maintenance = ?", org, id).Scan(&u.Seq); err != nil {
			return err
		}
		u.At, u.Status = now, a.StatusAt(now)
		if err := insertMaintenanceUpdate(ctx, tx, org, id, u); err != nil {
			return err
		}
		before, after = b, a
		return nil
	})
	if refused != nil {
		return MaintenanceWindow{}, MaintenanceWindow{}, refused
	}
	if err != nil {
		return MaintenanceWindow{}, MaintenanceWindow{}, fmt.Errorf("change maintenance %s/%s: %w", org, id, err)
	}
	return before, after, nil
}

const windowColumns = `org, id, title, components, starts_at, ends_at, status, created_by, created_at, updated_at, ended_at`

func scanMaintenanceWindow(row interface{ Scan(...any) error }) (MaintenanceWindow, error) {
	var w MaintenanceWindow
	var comps, status string
	var start, end, created, updated int64
	var ended sql.NullInt64
	if err := row.Scan(&w.Org, &w.ID, &w.Title, &comps, &start, &end, &status, &w.CreatedBy, &created, &updated, &ended); err != nil {
		return MaintenanceWindow{}, err
	}
	if err := json.Unmarshal([]byte(comps), &w.Components); err != nil {
		return MaintenanceWindow{}, fmt.Errorf("decode components: %w", err)
	}
	w.Start, w.End, w.Status = fromMS(start), fromMS(end), incidents.MaintenanceStatus(status)
	w.CreatedAt, w.UpdatedAt, w.EndedAt = fromMS(created), fromMS(updated), nullMS(ended)
	return w, nil
}

// MaintenanceWindow returns org's window id, or an error wrapping
// ErrNotFound.
func (db *DB) MaintenanceWindow(ctx context.Context, org, id string) (MaintenanceWindow, error) {
	w, err := scanMaintenanceWindow(db.r.QueryRowContext(ctx, "SELECT "+windowColumns+" FROM maintenance_windows WHERE org = ? AND id = ?", org, id))
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return MaintenanceWindow{}, fmt.Errorf("maintenance %s/%s: %w", org, id, err)
	}
	return w, nil
}

// The SQL forms of a window's status in force at :now (StatusAt).
const (
	sqlWindowPast   = `(status IN ('completed', 'cancelled') OR ends_at <= ?)`
	sqlWindowActive = `(NOT ` + sqlWindowPast + ` AND (status IN ('in_progress', 'verifying') OR starts_at <= ?))`
)

// MaintenanceWindows returns org's windows that f selects, in the
// selection's order (MaintenanceWhen.Ascending), ties broken by id.
func (db *DB) MaintenanceWindows(ctx context.Context, org string, f MaintenanceFilter) ([]MaintenanceWindow, error) {
	now := ms(f.Now)
	q := strings.Builder{}
	q.WriteString("SELECT " + windowColumns + " FROM maintenance_windows WHERE org = ?")
	args := []any{org}
	switch f.When {
	case MaintenanceUpcoming:
		q.WriteString(" AND NOT " + sqlWindowPast + " AND status = 'scheduled' AND starts_at > ?")
		args = append(args, now, now)
	case MaintenanceActive:
		q.WriteString(" AND " + sqlWindowActive)
		args = append(args, now, now)
	case MaintenancePast:
		q.WriteString(" AND " + sqlWindowPast)
		args = append(args, now)
	case MaintenanceLive:
		q.WriteString(" AND NOT " + sqlWindowPast)
		args = append(args, now)
	case MaintenanceAll, "":
	default:
		return nil, fmt.Errorf("maintenances of %s: unknown selection %q", org, f.When)
	}
	dir, cmp := " DESC", "<"
	if f.When.Ascending() {
		dir, cmp = "", ">"
	}
	if f.AfterID != "" {
		q.WriteString(" AND (starts_at, id) " + cmp + " (?, ?)")
		args = append(args, ms(f.AfterStart), f.AfterID)
	}
	q.WriteString(" ORDER BY starts_at" + dir + ", id" + dir)
	if f.Limit > 0 {
		q.WriteString(" LIMIT ?")
		args = append(args, f.Limit)
	}
	rows, err := db.r.QueryContext(ctx, q.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("maintenances of %s: %w", org, err)
	}
	defer rows.Close()
	var out []MaintenanceWindow
	for rows.Next() {
		w, err := scanMaintenanceWindow(rows)
		if err != nil {
			return nil, fmt.Errorf("maintenances of %s: %w", org, err)
		}
		out = append(out, w)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("maintenances of %s: %w", org, err)
	}
	return out, nil
}

// MaintenanceUpdates returns the log of org's window id, oldest first.
func (db *DB) MaintenanceUpdates(ctx context.Context, org, id string) ([]MaintenanceUpdate, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT seq, at, actor, status, body, change FROM maintenance_updates
		WHERE org = ? AND maintenance = ? ORDER BY seq`, org, id)
	if err != nil {
		return nil, fmt.Errorf("maintenance updates of %s/%s: %w", org, id, err)
	}
	defer rows.Close()
	var out []MaintenanceUpdate
	for rows.Next() {
		var u MaintenanceUpdate
		var at int64
		var status string
		if err := rows.Scan(&u.Seq, &at, &u.Actor, &status, &u.Body, &u.Change); err != nil {
			return nil, fmt.Errorf("maintenance updates of %s/%s: %w", org, id, err)
		}
		u.At, u.Status = fromMS(at), incidents.MaintenanceStatus(status)
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("maintenance updates of %s/%s: %w", org, id, err)
	}
	return out, nil
}

// MaintenanceWindowsVersion changes whenever one of org's windows changes:
// the status page rebuilds when it does.
func (db *DB) MaintenanceWindowsVersion(ctx context.Context, org string) (string, error) {
	var n, last int64
	err := db.r.QueryRowContext(ctx, `SELECT count(*), coalesce(max(at), 0) FROM maintenance_updates WHERE org = ?`, org).Scan(&n, &last)
	if err != nil {
		return "", fmt.Errorf("maintenance version of %s: %w", org, err)
	}
	return fmt.Sprintf("%d.%d", n, last), nil
}

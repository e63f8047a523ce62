package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/lookout-status/lookout/incidents"
	"github.com/lookout-status/lookout/notify"
)

// LoadIncidentState returns org's saved incident state; ok is false when
// none was ever committed.
//
// The state comes back without schedules: they are configuration only
// (incidents.Configure replaces them wholesale), and a schedule's
// *time.Location does not survive JSON. The caller must apply the current
// configuration before the first Step, as the engine does after every load.
func (db *DB) LoadIncidentState(ctx context.Context, org string) (incidents.State, bool, error) {
	var raw string
	err := db.r.QueryRowContext(ctx, "SELECT state FROM incident_state WHERE org = ?", org).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return incidents.State{}, false, nil
	}
	if err != nil {
		return incidents.State{}, false, fmt.Errorf("load incident state of %s: %w", org, err)
	}
	var st incidents.State
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		return incidents.State{}, false, fmt.Errorf("load incident state of %s: decode: %w", org, err)
	}
	if st.Org != org {
		return incidents.State{}, false, fmt.Errorf("load incident state of %s: the saved state is %q's", org, st.Org)
	}
	return st, true, nil
}

// encodeState marshals st for storage, leaving out its schedules (see
// LoadIncidentState).
func encodeState(st incidents.State) ([]byte, error) {
	st.Schedules = nil // st is a copy: the caller's map is untouched
	return json.Marshal(st)
}

// CommitIncidents saves org's new incident state, records what the effects
// say happened (incident rows, timeline entries, component status history,
// maintenance windows) and queues the deliveries in the outbox, all in one
// transaction: after a crash either all of it is there or none.
//
// It is idempotent: committing the same effects and deliveries again adds
// no timeline entry, status change or outbox row twice (a delivery whose
// Message.Key is already queued is ignored, whatever its state), and an
// incident row never goes back to an older revision.
func (db *DB) CommitIncidents(ctx context.Context, org string, st incidents.State, effects []incidents.Effect, deliveries []notify.Delivery) error {
	if err := db.commitIncidents(ctx, org, st, effects, deliveries); err != nil {
		return fmt.Errorf("commit incidents of %s: %w", org, err)
	}
	return nil
}

func (db *DB) commitIncidents(ctx context.Context, org string, st incidents.State, effects []incidents.Effect, deliveries []notify.Delivery) error {
	if org == "" {
		return errors.New("no organization")
	}
	if st.Org != org {
		return fmt.Errorf("the state is %q's", st.Org)
	}
	state, err := encodeState(st)
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	rows, err := outboxRows(org, deliveries)
	if err != nil {
		return err
	}
	now := ms(db.now())
	return db.inTx(ctx, func(tx *sql.Tx) error {
		s := newStmts(tx)
		defer s.close()
		if err := s.exec(ctx, `INSERT INTO incident_state (org, state, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (org) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at`,
			org, string(state), now); err != nil {
			return fmt.Errorf("save state: %w", err)
		}
		for _, ef := range effects {
			if err := recordEffect(ctx, s, org, ef, now); err != nil {
				return fmt.Errorf("record %s: %w", ef.Key(), err)
			}
		}
		for _, r := range rows {
			if err := s.exec(ctx, `INSERT INTO outbox
				(key, org, incident, channel, destination, event, message, status, attempts, next_at, created_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)
				ON CONFLICT (key) DO NOTHING`,
				r.key, org, r.incident, r.channel, r.destination, r.event, r.message, r.nextAt, now); err != nil {
				return fmt.Errorf("queue %s: %w", r.key, err)
			}
		}
		return nil
	})
}

// recordEffect writes what one effect says happened. Effects with nothing
// to record (Notify, ComponentJoined) are covered by the outbox and the
// incident rows.
func recordEffect(ctx context.Context, s *stmts, org string, ef incidents.Effect, now int64) error {
	switch ef := ef.(type) {
	case incidents.IncidentOpened:
		return upsertIncident(ctx, s, org, ef.Incident, now)
	case incidents.IncidentUpdated:
		return upsertIncident(ctx, s, org, ef.Incident, now)
	case incidents.IncidentResolved:
		if err := upsertIncident(ctx, s, org, ef.Incident, now); err != nil {
			return err
		}
		// The final snapshot carries the whole timeline: fill any gap.
		for _, e := range ef.Incident.Timeline {
			if err := insertEntry(ctx, s, org, ef.Incident.ID, e); err != nil {
				return err
			}
		}
	case incidents.TimelineAppended:
		return insertEntry(ctx, s, org, ef.Incident, ef.Entry)
	case incidents.ComponentStatusChanged:
		return s.exec(ctx, `INSERT INTO component_status_log
			(org, component, at, rev, from_status, to_status, cause) VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (org, component, at, rev) DO NOTHING`,
			org, ef.Component, ms(ef.At), ef.Rev, string(ef.From), string(ef.To), ef.Cause)
	case incidents.MaintenanceChanged:
		m := ef.Maintenance
		return s.exec(ctx, `INSERT INTO maintenances
			(org, id, title, components, starts_at, ends_at, status, updated_by, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (org, id) DO UPDATE SET title = excluded.title, components = excluded.components,
				starts_at = excluded.starts_at, ends_at = excluded.ends_at, status = excluded.status,
				updated_by = excluded.updated_by, updated_at = excluded.updated_at`,
			org, m.ID, m.Title, jsonList(m.Components), ms(m.Start), ms(m.End), string(m.Status), ef.Actor, now)
	}
	return nil
}

// upsertIncident writes an incident snapshot unless the row holds a newer
// revision or the incident is already resolved (resolution is final).
func upsertIncident(ctx context.Context, s *stmts, org string, inc incidents.Incident, now int64) error {
	snap := inc
	snap.Timeline = nil
	b, err := json.Marshal(snap)
	if err != nil {
		return fmt.Errorf("encode incident: %w", err)
	}
	return s.exec(ctx, `INSERT INTO incidents
		(org, id, number, title, lifecycle, public_status, published, impact, flapping, components,
		 started_at, acked_at, acked_by, ended_at, rev, snapshot, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (org, id) DO UPDATE SET
			title = excluded.title, lifecycle = excluded.lifecycle, public_status = excluded.public_status,
			published = excluded.published, impact = excluded.impact, flapping = excluded.flapping,
			components = excluded.components, started_at = excluded.started_at, acked_at = excluded.acked_at,
			acked_by = excluded.acked_by, ended_at = excluded.ended_at, rev = excluded.rev,
			snapshot = excluded.snapshot, updated_at = excluded.updated_at
		WHERE excluded.rev >= incidents.rev
		  AND (incidents.lifecycle <> 'resolved' OR excluded.lifecycle = 'resolved')`,
		org, inc.ID, inc.Number, inc.Title, string(inc.Lifecycle), string(inc.Public), boolInt(inc.Published),
		string(inc.Impact), boolInt(inc.Flapping), jsonList(inc.Components),
		ms(inc.StartedAt), msOrNull(inc.AckedAt), inc.AckedBy, msOrNull(inc.EndedAt), inc.Rev, string(b), now)
}

func insertEntry(ctx context.Context, s *stmts, org, incident string, e incidents.Entry) error {
	return s.exec(ctx, `INSERT INTO incident_timeline
		(org, incident, seq, at, actor, kind, from_value, to_value, body, event_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (org, incident, seq) DO NOTHING`,
		org, incident, e.Seq, ms(e.At), e.Actor, e.Kind, e.From, e.To, e.Body, e.EventID)
}

// msOrNull stores a zero time as NULL.
func msOrNull(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return ms(t)
}

// stmts prepares each distinct statement once per transaction.
type stmts struct {
	tx *sql.Tx
	m  map[string]*sql.Stmt
}

func newStmts(tx *sql.Tx) *stmts { return &stmts{tx: tx, m: map[string]*sql.Stmt{}} }

func (s *stmts) exec(ctx context.Context, query string, args ...any) error {
	st, ok := s.m[query]
	if !ok {
		var err error
		if st, err = s.tx.PrepareContext(ctx, query); err != nil {
			return err
		}
		s.m[query] = st
	}
	_, err := st.ExecContext(ctx, args...)
	return err
}

func (s *stmts) close() {
	for _, st := range s.m {
		st.Close()
	}
}

// IncidentStatus selects incidents by lifecycle.
type IncidentStatus string

// The incident selections.
const (
	AllIncidents      IncidentStatus = "" // open and resolved
	OpenIncidents     IncidentStatus = "open"
	ResolvedIncidents IncidentStatus = "resolved"
	// TriggeredIncidents and AcknowledgedIncidents split the open ones:
	// waiting for someone, and someone is on it.
	TriggeredIncidents    IncidentStatus = "triggered"
	AcknowledgedIncidents IncidentStatus = "acknowledged"
)

// Incident list limits.
const (
	DefaultIncidentLimit = 50
	MaxIncidentLimit     = 500
)

// IncidentFilter selects incidents for Incidents.
type IncidentFilter struct {
	Status IncidentStatus
	// Since keeps incidents that were open at some time at or after Since:
	// still open, or ended at or after it (zero: no bound).
	Since time.Time
	// PublishedOnly leaves out drafts, for the public status page.
	PublishedOnly bool
	// Before is the pagination cursor: only incidents numbered below it
	// (0: from the newest). Pass the Number of the last incident of a page
	// to get the next page.
	Before int
	// Limit bounds the page (default 50, at most 500).
	Limit int
}

// IncidentRecord is a stored incident as of its last change. Its Timeline
// is empty: read it with Timeline.
type IncidentRecord struct {
	Org string
	incidents.Incident
	// UpdatedAt is when the row last changed.
	UpdatedAt time.Time
}

const incidentColumns = "org, snapshot, updated_at"

func scanIncident(sc interface{ Scan(...any) error }) (IncidentRecord, error) {
	var rec IncidentRecord
	var snap string
	var updated int64
	if err := sc.Scan(&rec.Org, &snap, &updated); err != nil {
		return IncidentRecord{}, err
	}
	if err := json.Unmarshal([]byte(snap), &rec.Incident); err != nil {
		return IncidentRecord{}, fmt.Errorf("decode incident: %w", err)
	}
	rec.UpdatedAt = fromMS(updated)
	return rec, nil
}

// Incident returns org's incident id, or an error wrapping ErrNotFound.
func (db *DB) Incident(ctx context.Context, org, id string) (IncidentRecord, error) {
	rec, err := scanIncident(db.r.QueryRowContext(ctx,
		"SELECT "+incidentColumns+" FROM incidents WHERE org = ? AND id = ?", org, id))
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return IncidentRecord{}, fmt.Errorf("incident %s/%s: %w", org, id, err)
	}
	return rec, nil
}

// Incidents returns org's incidents selected by f, newest (highest number)
// first.
func (db *DB) Incidents(ctx context.Context, org string, f IncidentFilter) ([]IncidentRecord, error) {
	q := "SELECT " + incidentColumns + " FROM incidents WHERE org = ?"
	args := []any{org}
	switch f.Status {
	case AllIncidents:
	case OpenIncidents:
		q += " AND lifecycle <> 'resolved'"
	case ResolvedIncidents:
		q += " AND lifecycle = 'resolved'"
	case TriggeredIncidents:
		q += " AND lifecycle = 'triggered'"
	case AcknowledgedIncidents:
		q += " AND lifecycle = 'acknowledged'"
	default:
		return nil, fmt.Errorf("incidents of %s: unknown status filter %q", org, f.Status)
	}
	if !f.Since.IsZero() {
		q += " AND (ended_at IS NULL OR ended_at >= ?)"
		args = append(args, ms(f.Since))
	}
	if f.PublishedOnly {
		q += " AND published = 1"
	}
	if f.Before > 0 {
		q += " AND number < ?"
		args = append(args, f.Before)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultIncidentLimit
	}
	q += " ORDER BY number DESC LIMIT ?"
	args = append(args, min(limit, MaxIncidentLimit))
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("incidents of %s: %w", org, err)
	}
	defer rows.Close()
	var out []IncidentRecord
	for rows.Next() {
		rec, err := scanIncident(rows)
		if err != nil {
			return nil, fmt.Errorf("incidents of %s: %w", org, err)
		}
		out = append(out, rec)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("incidents of %s: %w", org, err)
	}
	return out, nil
}

// Timeline returns the timeline of org's incident id, oldest entry first,
// or an error wrapping ErrNotFound when org has no such incident.
func (db *DB) Timeline(ctx context.Context, org, id string) ([]incidents.Entry, error) {
	out, err := db.timeline(ctx, org, id)
	if err != nil {
		return nil, fmt.Errorf("timeline of %s/%s: %w", org, id, err)
	}
	return out, nil
}

func (db *DB) timeline(ctx context.Context, org, id string) ([]incidents.Entry, error) {
	tx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM incidents WHERE org = ? AND id = ?", org, id).Scan(&n); err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, ErrNotFound
	}
	rows, err := tx.QueryContext(ctx, `SELECT seq, at, actor, kind, from_value, to_value, body, event_id
		FROM incident_timeline WHERE org = ? AND incident = ? ORDER BY seq`, org, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []incidents.Entry
	for rows.Next() {
		var e incidents.Entry
		var at int64
		if err := rows.Scan(&e.Seq, &at, &e.Actor, &e.Kind, &e.From, &e.To, &e.Body, &e.EventID); err != nil {
			return nil, err
		}
		e.At = fromMS(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// StatusChange is one change of what the status page showed for a
// component.
type StatusChange struct {
	Component string
	At        time.Time
	From, To  incidents.ComponentStatus
	Cause     string
}

// ComponentStatusHistory returns org's component's status changes in
// [from, to), oldest first, preceded by the last change before from when
// there is one: its To is the status at from.
func (db *DB) ComponentStatusHistory(ctx context.Context, org, component string, from, to time.Time) ([]StatusChange, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT at, from_status, to_status, cause FROM (
			SELECT at, rev, from_status, to_status, cause FROM (
				SELECT at, rev, from_status, to_status, cause FROM component_status_log
				WHERE org = ? AND component = ? AND at < ? ORDER BY at DESC, rev DESC LIMIT 1
			) AS before_from
			UNION ALL
			SELECT at, rev, from_status, to_status, cause FROM component_status_log
			WHERE org = ? AND component = ? AND at >= ? AND at < ?
		) AS changes ORDER BY at, rev`,
		org, component, ms(from), org, component, ms(from), ms(to))
	if err != nil {
		return nil, fmt.Errorf("status history of %s/%s: %w", org, component, err)
	}
	defer rows.Close()
	var out []StatusChange
	for rows.Next() {
		c := StatusChange{Component: component}
		var at int64
		var fromS, toS string
		if err := rows.Scan(&at, &fromS, &toS, &c.Cause); err != nil {
			return nil, fmt.Errorf("status history of %s/%s: %w", org, component, err)
		}
		c.At, c.From, c.To = fromMS(at), incidents.ComponentStatus(fromS), incidents.ComponentStatus(toS)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("status history of %s/%s: %w", org, component, err)
	}
	return out, nil
}

// MaintenanceRecord is a stored maintenance window as last changed.
type MaintenanceRecord struct {
	Org string
	incidents.Maintenance
	UpdatedBy string
	UpdatedAt time.Time
}

// Maintenances returns org's maintenance windows that end at or after
// since (zero: all), by start time.
func (db *DB) Maintenances(ctx context.Context, org string, since time.Time) ([]MaintenanceRecord, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT id, title, components, starts_at, ends_at, status, updated_by, updated_at
		FROM maintenances WHERE org = ? AND ends_at >= ? ORDER BY starts_at, id`, org, ms(since))
	if err != nil {
		return nil, fmt.Errorf("maintenances of %s: %w", org, err)
	}
	defer rows.Close()
	var out []MaintenanceRecord
	for rows.Next() {
		m := MaintenanceRecord{Org: org}
		var comps, status string
		var start, end, updated int64
		if err := rows.Scan(&m.ID, &m.Title, &comps, &start, &end, &status, &m.UpdatedBy, &updated); err != nil {
			return nil, fmt.Errorf("maintenances of %s: %w", org, err)
		}
		if err := json.Unmarshal([]byte(comps), &m.Components); err != nil {
			return nil, fmt.Errorf("maintenances of %s: decode components: %w", org, err)
		}
		m.Start, m.End, m.Status, m.UpdatedAt = fromMS(start), fromMS(end), incidents.MaintenanceStatus(status), fromMS(updated)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("maintenances of %s: %w", org, err)
	}
	return out, nil
}

package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// AuditEntry is one write, allowed or refused, as the audit log keeps it.
// The log is append-only: this file has no UPDATE or DELETE of it, and the
// table's triggers refuse any.
type AuditEntry struct {
	ID       int64 // assigned on append; increasing
	Time     time.Time
	Org      string
	Actor    string
	Role     string
	Via      string
	Action   string
	Target   string
	Status   int
	Summary  string
	ClientIP string
}

// AppendAudit appends an entry through the writer connection.
func (db *DB) AppendAudit(ctx context.Context, e AuditEntry) error {
	if e.Org == "" || e.Action == "" {
		return fmt.Errorf("append audit entry: needs an organization and an action")
	}
	if e.Time.IsZero() {
		e.Time = db.now()
	}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO audit_log (at, org, actor, role, via, action, target, status, summary, client_ip)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			ms(e.Time), e.Org, e.Actor, e.Role, e.Via, e.Action, e.Target, e.Status, e.Summary, e.ClientIP)
		return err
	})
	if err != nil {
		return fmt.Errorf("append audit entry: %w", err)
	}
	return nil
}

// AuditQuery filters an organization's audit log. Zero fields do not
// filter. Entries come newest first; Before (an entry id, the cursor) starts
// after that entry.
type AuditQuery struct {
	Actor  string
	Action string // a substring of the action (route pattern)
	Target string
	Since  time.Time
	Until  time.Time
	Before int64
	// Limit bounds the entries returned (default and at most 1000).
	Limit int
}

// MaxAuditPage is the most entries one AuditEntries call returns.
const MaxAuditPage = 1000

// AuditEntries returns org's entries matching q, newest first.
func (db *DB) AuditEntries(ctx context.Context, org string, q AuditQuery) ([]AuditEntry, error) {
	where := []string{"org = ?"}
	args := []any{org}
	if q.Actor != "" {
		where, args = append(where, "actor = ?"), append(args, q.Actor)
	}
	if q.Action != "" {
		where, args = append(where, "instr(action, ?) > 0"), append(args, q.Action)
	}
	if q.Target != "" {
		where, args = append(where, "target = ?"), append(args, q.Target)
	}
	if !q.Since.IsZero() {
		where, args = append(where, "at >= ?"), append(args, ms(q.Since))
	}
	if !q.Until.IsZero() {
		where, args = append(where, "at < ?"), append(args, ms(q.Until))
	}
	if q.Before > 0 {
		where, args = append(where, "id < ?"), append(args, q.Before)
	}
	limit := q.Limit
	if limit <= 0 || limit > MaxAuditPage {
		limit = MaxAuditPage
	}
	args = append(args, limit)
	rows, err := db.r.QueryContext(ctx, `SELECT id, at, org, actor, role, via, action, target, status, summary, client_ip
		FROM audit_log WHERE `+strings.Join(where, " AND ")+` ORDER BY id DESC LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("audit log of %s: %w", org, err)
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.Org, &e.Actor, &e.Role, &e.Via, &e.Action, &e.Target, &e.Status, &e.Summary, &e.ClientIP); err != nil {
			return nil, fmt.Errorf("audit log of %s: %w", org, err)
		}
		e.Time = fromMS(at)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit log of %s: %w", org, err)
	}
	return out, nil
}

package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// Organization is an applied organization.
type Organization struct {
	ID        string
	Name      string
	Egress    []string // prefixes, as configured
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Page is an applied status page.
type Page struct {
	Org, ID    string
	Name       string
	Host       string
	URL        string
	Logo       string
	Accent     string
	Private    bool
	Components []string
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Component is an applied component.
type Component struct {
	Org, ID     string
	Name        string
	Description string
	Group       string
	Private     bool
	Position    int
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// ProbeRow is an applied probe: its identity, schedule and stored
// definition (canonical JSON without secrets).
type ProbeRow struct {
	Org, ID          string
	Component        string
	Name             string
	Kind             string
	Interval         time.Duration
	Timeout          time.Duration
	FailureThreshold int
	SuccessThreshold int
	Definition       string
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// Organizations lists the organizations that are not deleted, by id.
func (db *DB) Organizations(ctx context.Context) ([]Organization, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT id, name, egress, created_at, updated_at
		FROM organizations WHERE deleted_at IS NULL ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list organizations: %w", err)
	}
	defer rows.Close()
	var out []Organization
	for rows.Next() {
		var o Organization
		var egress string
		var created, updated int64
		if err := rows.Scan(&o.ID, &o.Name, &egress, &created, &updated); err != nil {
			return nil, fmt.Errorf("list organizations: %w", err)
		}
		if err := json.Unmarshal([]byte(egress), &o.Egress); err != nil {
			return nil, fmt.Errorf("list organizations: egress of %s: %w", o.ID, err)
		}
		o.CreatedAt, o.UpdatedAt = fromMS(created), fromMS(updated)
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list organizations: %w", err)
	}
	return out, nil
}

// Pages lists an organization's pages that are not deleted, by id.
func (db *DB) Pages(ctx context.Context, org string) ([]Page, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT org, id, name, host, url, logo, accent, private, components, created_at, updated_at
		FROM pages WHERE org = ? AND deleted_at IS NULL ORDER BY id`, org)
	if err != nil {
		return nil, fmt.Errorf("list pages of %s: %w", org, err)
	}
	defer rows.Close()
	var out []Page
	for rows.Next() {
		var p Page
		var comps string
		var created, updated int64
		if err := rows.Scan(&p.Org, &p.ID, &p.Name, &p.Host, &p.URL, &p.Logo, &p.Accent, &p.Private, &comps, &created, &updated); err != nil {
			return nil, fmt.Errorf("list pages of %s: %w", org, err)
		}
		if err := json.Unmarshal([]byte(comps), &p.Components); err != nil {
			return nil, fmt.Errorf("list pages of %s: components of %s: %w", org, p.ID, err)
		}
		p.CreatedAt, p.UpdatedAt = fromMS(created), fromMS(updated)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list pages of %s: %w", org, err)
	}
	return out, nil
}

// Components lists an organization's components that are not deleted, in
// configuration order.
func (db *DB) Components(ctx context.Context, org string) ([]Component, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT org, id, name, description, grp, private, position, created_at, updated_at
		FROM components WHERE org = ? AND deleted_at IS NULL ORDER BY position, id`, org)
	if err != nil {
		return nil, fmt.Errorf("list components of %s: %w", org, err)
	}
	defer rows.Close()
	var out []Component
	for rows.Next() {
		var c Component
		var created, updated int64
		if err := rows.Scan(&c.Org, &c.ID, &c.Name, &c.Description, &c.Group, &c.Private, &c.Position, &created, &updated); err != nil {
			return nil, fmt.Errorf("list components of %s: %w", org, err)
		}
		c.CreatedAt, c.UpdatedAt = fromMS(created), fromMS(updated)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list components of %s: %w", org, err)
	}
	return out, nil
}

// Probes lists an organization's probes that are not deleted, by id.
func (db *DB) Probes(ctx context.Context, org string) ([]ProbeRow, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT org, id, component, name, kind, interval_ms, timeout_ms,
		failure_threshold, success_threshold, definition, created_at, updated_at
		FROM probes WHERE org = ? AND deleted_at IS NULL ORDER BY id`, org)
	if err != nil {
		return nil, fmt.Errorf("list probes of %s: %w", org, err)
	}
	defer rows.Close()
	var out []ProbeRow
	for rows.Next() {
		var p ProbeRow
		var comp sql.NullString
		var interval, timeout, created, updated int64
		if err := rows.Scan(&p.Org, &p.ID, &comp, &p.Name, &p.Kind, &interval, &timeout,
			&p.FailureThreshold, &p.SuccessThreshold, &p.Definition, &created, &updated); err != nil {
			return nil, fmt.Errorf("list probes of %s: %w", org, err)
		}
		p.Component = comp.String
		p.Interval, p.Timeout = time.Duration(interval)*time.Millisecond, time.Duration(timeout)*time.Millisecond
		p.CreatedAt, p.UpdatedAt = fromMS(created), fromMS(updated)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list probes of %s: %w", org, err)
	}
	return out, nil
}

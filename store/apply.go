package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/lookout-status/lookout/config"
)

// Change is one row Apply creates, updates or (soft-)deletes.
type Change struct {
	Op   string // "create", "update" or "delete"
	Kind string // "organization", "page", "component" or "probe"
	Org  string
	ID   string // for an organization, its own id
	// Fields lists the columns an update changes (and a restore rewrites).
	Fields []string
	// Restored is set on a create that undeletes a soft-deleted row, whose
	// history is kept.
	Restored bool
}

func (c Change) String() string {
	name := c.Org + "/" + c.ID
	if c.Kind == "organization" {
		name = c.ID
	}
	sign := map[string]string{"create": "+", "update": "~", "delete": "-"}[c.Op]
	s := sign + " " + c.Kind + " " + name
	switch {
	case c.Restored:
		s += " (restored)"
	case c.Op == "update":
		s += " (" + strings.Join(c.Fields, ", ") + ")"
	}
	return s
}

// Plan is what applying a configuration does to the database.
type Plan struct {
	Changes []Change
}

// Empty reports whether the plan changes nothing.
func (p Plan) Empty() bool { return len(p.Changes) == 0 }

// String renders the plan one change a line, terraform-like ("+ probe
// acme/api-http", "~ component acme/api (name)", "- probe acme/old"), then
// a summary: "Plan: 1 to create, 1 to update, 1 to delete."
func (p Plan) String() string {
	if p.Empty() {
		return "No changes."
	}
	var b strings.Builder
	n := map[string]int{}
	for _, c := range p.Changes {
		b.WriteString(c.String())
		b.WriteByte('\n')
		n[c.Op]++
	}
	fmt.Fprintf(&b, "Plan: %d to create, %d to update, %d to delete.", n["create"], n["update"], n["delete"])
	return b.String()
}

// table describes one configured table for diffing. Every column compared
// holds a string or an int64.
type table struct {
	kind string
	name string
	org  bool     // keyed by (org, id) rather than id
	cols []string // compared and written columns, after the key
	// nullEmpty columns store NULL for "".
	nullEmpty map[string]bool
}

var (
	orgTable       = table{kind: "organization", name: "organizations", cols: []string{"name", "egress"}}
	pageTable      = table{kind: "page", name: "pages", org: true, cols: []string{"name", "host", "url", "logo", "accent", "private", "components"}}
	componentTable = table{kind: "component", name: "components", org: true, cols: []string{"name", "description", "grp", "private", "position"}}
	probeTable     = table{kind: "probe", name: "probes", org: true,
		cols:      []string{"component", "name", "kind", "interval_ms", "timeout_ms", "failure_threshold", "success_threshold", "definition"},
		nullEmpty: map[string]bool{"component": true}}
	// tables in the order rows are created: parents first.
	tables = []table{orgTable, componentTable, pageTable, probeTable}
)

// record is one row's key and column values.
type record struct {
	org, id string
	vals    []any
	deleted bool
}

type recKey struct{ org, id string }

// desired turns a configuration into the records each table should hold.
func desired(cfg *config.Config) (map[string][]record, error) {
	out := map[string][]record{}
	seen := map[string]map[recKey]bool{}
	add := func(t table, r record) error {
		if seen[t.name] == nil {
			seen[t.name] = map[recKey]bool{}
		}
		k := recKey{r.org, r.id}
		if seen[t.name][k] {
			return fmt.Errorf("duplicate %s %s/%s", t.kind, r.org, r.id)
		}
		seen[t.name][k] = true
		out[t.name] = append(out[t.name], r)
		return nil
	}
	for _, o := range cfg.Organizations {
		egress := make([]string, len(o.Egress))
		for i, p := range o.Egress {
			egress[i] = p.String()
		}
		if err := add(orgTable, record{org: o.ID, id: o.ID, vals: []any{o.Name, jsonList(egress)}}); err != nil {
			return nil, err
		}
		for _, p := range o.Pages {
			if err := add(pageTable, record{org: o.ID, id: p.ID, vals: []any{
				p.Name, p.Host, p.URL, p.Logo, p.Accent, boolInt(p.Private), jsonList(p.Components)}}); err != nil {
				return nil, err
			}
		}
		for i, c := range o.Components {
			if err := add(componentTable, record{org: o.ID, id: c.ID, vals: []any{
				c.Name, c.Description, c.Group, boolInt(c.Private), int64(i)}}); err != nil {
				return nil, err
			}
		}
		for _, p := range o.Probes {
			if err := add(probeTable, record{org: o.ID, id: p.ID, vals: []any{
				p.Component, p.Name, p.Kind, p.Interval.Milliseconds(), p.Timeout.Milliseconds(),
				int64(p.FailureThreshold), int64(p.SuccessThreshold), p.Definition}}); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

func jsonList(s []string) string {
	if len(s) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(s) // strings always marshal
	return string(b)
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// current reads every row of t, soft-deleted ones included.
func current(ctx context.Context, q queryer, t table) (map[recKey]record, error) {
	key := "id, id"
	if t.org {
		key = "org, id"
	}
	rows, err := q.QueryContext(ctx, "SELECT "+key+", "+strings.Join(t.cols, ", ")+", deleted_at FROM "+t.name)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", t.name, err)
	}
	defer rows.Close()
	out := map[recKey]record{}
	for rows.Next() {
		var r record
		vals := make([]any, len(t.cols))
		var deleted sql.NullInt64
		dest := []any{&r.org, &r.id}
		for i := range vals {
			dest = append(dest, &vals[i])
		}
		dest = append(dest, &deleted)
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("read %s: %w", t.name, err)
		}
		for i, v := range vals {
			switch v := v.(type) {
			case []byte:
				vals[i] = string(v)
			case nil:
				vals[i] = ""
			}
		}
		r.vals, r.deleted = vals, deleted.Valid
		out[recKey{r.org, r.id}] = r
	}
	return out, rows.Err()
}

// op is one statement Apply runs.
type op struct {
	what  string // "create probe acme/api", for errors
	query string
	args  []any
}

// diff compares cfg with what q sees and returns the plan and the
// statements that carry it out.
func (db *DB) diff(ctx context.Context, q queryer, cfg *config.Config) (Plan, []op, error) {
	want, err := desired(cfg)
	if err != nil {
		return Plan{}, nil, err
	}
	now := ms(db.now())
	var plan Plan
	var ops, deletes []op
	var deleteChanges []Change
	for _, t := range tables {
		have, err := current(ctx, q, t)
		if err != nil {
			return Plan{}, nil, err
		}
		where := " WHERE id = ?"
		if t.org {
			where = " WHERE org = ? AND id = ?"
		}
		keyArgs := func(r record) []any {
			if t.org {
				return []any{r.org, r.id}
			}
			return []any{r.id}
		}
		wanted := map[recKey]bool{}
		for _, w := range want[t.name] {
			k := recKey{w.org, w.id}
			wanted[k] = true
			h, exists := have[k]
			var fields []string
			for i, c := range t.cols {
				if !exists || h.vals[i] != w.vals[i] {
					fields = append(fields, c)
				}
			}
			args := make([]any, len(w.vals))
			for i, v := range w.vals {
				args[i] = v
				if t.nullEmpty[t.cols[i]] && v == "" {
					args[i] = nil
				}
			}
			switch {
			case !exists:
				cols := append([]string{"id"}, t.cols...)
				if t.org {
					cols = append([]string{"org"}, cols...)
				}
				cols = append(cols, "created_at", "updated_at")
				all := append(keyArgs(w), args...)
				all = append(all, now, now)
				ops = append(ops, op{
					what:  "create " + t.kind + " " + w.org + "/" + w.id,
					query: "INSERT INTO " + t.name + " (" + strings.Join(cols, ", ") + ") VALUES (" + placeholders(len(cols)) + ")",
					args:  all,
				})
				plan.Changes = append(plan.Changes, Change{Op: "create", Kind: t.kind, Org: w.org, ID: w.id})
			case h.deleted || len(fields) > 0:
				set := make([]string, len(t.cols))
				for i, c := range t.cols {
					set[i] = c + " = ?"
				}
				all := append(args, now)
				all = append(all, keyArgs(w)...)
				ops = append(ops, op{
					what:  "update " + t.kind + " " + w.org + "/" + w.id,
					query: "UPDATE " + t.name + " SET " + strings.Join(set, ", ") + ", updated_at = ?, deleted_at = NULL" + where,
					args:  all,
				})
				c := Change{Op: "update", Kind: t.kind, Org: w.org, ID: w.id, Fields: fields}
				if h.deleted {
					c.Op, c.Restored = "create", true
				}
				plan.Changes = append(plan.Changes, c)
			}
		}
		for _, h := range sortedRecords(have) {
			if h.deleted || wanted[recKey{h.org, h.id}] {
				continue
			}
			deletes = append(deletes, op{
				what:  "delete " + t.kind + " " + h.org + "/" + h.id,
				query: "UPDATE " + t.name + " SET deleted_at = ?" + where,
				args:  append([]any{now}, keyArgs(h)...),
			})
			deleteChanges = append(deleteChanges, Change{Op: "delete", Kind: t.kind, Org: h.org, ID: h.id})
		}
	}
	plan.Changes = append(plan.Changes, deleteChanges...)
	return plan, append(ops, deletes...), nil
}

func sortedRecords(m map[recKey]record) []record {
	out := make([]record, 0, len(m))
	for _, r := range m {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].org != out[j].org {
			return out[i].org < out[j].org
		}
		return out[i].id < out[j].id
	})
	return out
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// Plan returns what Apply(cfg) would change, changing nothing.
func (db *DB) Plan(ctx context.Context, cfg *config.Config) (Plan, error) {
	tx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return Plan{}, fmt.Errorf("plan config: %w", err)
	}
	defer tx.Rollback()
	p, _, err := db.diff(ctx, tx, cfg)
	if err != nil {
		return Plan{}, fmt.Errorf("plan config: %w", err)
	}
	return p, nil
}

// Apply makes the database match cfg in one transaction and returns what it
// changed. Applying the same configuration again changes nothing. Rows the
// configuration no longer lists are soft-deleted, keeping their history;
// listing them again restores them. Non-zero Storage retentions in cfg
// replace those given to Open.
func (db *DB) Apply(ctx context.Context, cfg *config.Config) (Plan, error) {
	var plan Plan
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		p, ops, err := db.diff(ctx, tx, cfg)
		if err != nil {
			return err
		}
		for _, o := range ops {
			if _, err := tx.ExecContext(ctx, o.query, o.args...); err != nil {
				return fmt.Errorf("%s: %w", o.what, err)
			}
		}
		plan = p
		return nil
	})
	if err != nil {
		return Plan{}, fmt.Errorf("apply config: %w", err)
	}
	db.mu.Lock()
	if d := cfg.Storage.RawRetention; d > 0 {
		db.rawRetention = d
	}
	if d := cfg.Storage.RollupRetention; d > 0 {
		db.rollupRetention = max(d, MinRollupRetention)
	}
	db.mu.Unlock()
	if !plan.Empty() {
		db.log.Info("config applied", "changes", len(plan.Changes))
	}
	return plan, nil
}

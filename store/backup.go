package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
)

// BackupTo writes a consistent copy of the database file at dbPath to dest
// with VACUUM INTO, on a fresh read-only connection: it runs while Lookout
// writes (WAL lets the copy read one snapshot) and never blocks the writer
// for longer than SQLite's own read lock. dest must not exist.
func BackupTo(ctx context.Context, dbPath, dest string) error {
	if _, err := os.Stat(dbPath); err != nil {
		return fmt.Errorf("backup %s: %w", dbPath, err)
	}
	if _, err := os.Stat(dest); err == nil {
		return fmt.Errorf("backup %s: %s already exists", dbPath, dest)
	}
	c, err := sql.Open("sqlite3", dsn(dbPath, "mode=ro", "_busy_timeout=10000"))
	if err != nil {
		return fmt.Errorf("backup %s: %w", dbPath, err)
	}
	defer c.Close()
	c.SetMaxOpenConns(1)
	if _, err := c.ExecContext(ctx, "VACUUM INTO ?", dest); err != nil {
		return fmt.Errorf("backup %s: vacuum into %s: %w", dbPath, dest, err)
	}
	return nil
}

// CheckFile opens the database file at path read-only, runs SQLite's
// integrity check and returns the file's schema version: the verification of
// a backup or a restored file before anything relies on it.
func CheckFile(ctx context.Context, path string) (schemaVersion int, err error) {
	if _, err := os.Stat(path); err != nil {
		return 0, fmt.Errorf("check %s: %w", path, err)
	}
	c, err := sql.Open("sqlite3", dsn(path, "mode=ro", "_query_only=1"))
	if err != nil {
		return 0, fmt.Errorf("check %s: %w", path, err)
	}
	defer c.Close()
	c.SetMaxOpenConns(1)
	rows, err := c.QueryContext(ctx, "PRAGMA integrity_check(20)")
	if err != nil {
		return 0, fmt.Errorf("check %s: integrity check: %w", path, err)
	}
	var problems []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return 0, fmt.Errorf("check %s: integrity check: %w", path, err)
		}
		if s != "ok" {
			problems = append(problems, s)
		}
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return 0, fmt.Errorf("check %s: integrity check: %w", path, err)
	}
	if len(problems) > 0 {
		if len(problems) > 5 {
			problems = append(problems[:5], fmt.Sprintf("and %d more", len(problems)-5))
		}
		msg := strings.ReplaceAll(strings.Join(problems, "; "), "\n", "; ")
		if len(msg) > 400 {
			msg = msg[:400] + "…"
		}
		return 0, fmt.Errorf("check %s: integrity check failed: %s", path, msg)
	}
	var v sql.NullInt64
	if err := c.QueryRowContext(ctx, "SELECT max(version) FROM schema_migrations").Scan(&v); err != nil {
		return 0, fmt.Errorf("check %s: schema version: %w", path, err)
	}
	if !v.Valid {
		return 0, fmt.Errorf("check %s: %w", path, errors.New("no schema migrations recorded: not a lookout database"))
	}
	return int(v.Int64), nil
}

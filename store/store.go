// Package store keeps Lookout's state in SQLite: the applied configuration,
// raw probe results, their hourly and daily rollups, and heartbeat pings.
//
// One connection writes (every write goes through it, so writers queue in
// the process instead of failing with "database is locked"); a separate pool
// of read-only connections serves reads, which WAL lets run while the writer
// works. Times are stored as INTEGER unix milliseconds UTC, durations as
// INTEGER microseconds. The SQL stays close to what PostgreSQL accepts.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3" // the SQLite driver: imported here and nowhere else
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lookout-status/lookout/clock"
)

// ErrNotFound is returned when a looked-up row does not exist.
var ErrNotFound = errors.New("not found")

// ErrNoData is returned by range statistics when the range holds no result.
var ErrNoData = errors.New("no data")

// Defaults for Options.
const (
	DefaultRawRetention    = 7 * 24 * time.Hour
	DefaultRollupRetention = 400 * 24 * time.Hour
	// MinRollupRetention is the shortest rollup retention honoured: uptime
	// over the last 90 days must always be answerable.
	MinRollupRetention = 90 * 24 * time.Hour
	DefaultReadConns   = 4
)

// Options configure Open. The zero value is usable.
type Options struct {
	// Now is the time source (default: the wall clock).
	Now    func() time.Time
	Logger *slog.Logger
	// Metrics is where the store's metrics are registered; nil: none.
	Metrics prometheus.Registerer
	// ReadConns bounds the read-only pool (default 4).
	ReadConns int
	// RawRetention and RollupRetention are used until a config with its own
	// Storage retentions is applied (defaults 7 and 400 days).
	RawRetention    time.Duration
	RollupRetention time.Duration
}

// DB is Lookout's SQLite database.
type DB struct {
	path string
	w    *sql.DB // exactly one connection: all writes
	r    *sql.DB // read-only pool
	now  func() time.Time
	log  *slog.Logger
	reg  prometheus.Registerer

	migrated atomic.Bool
	// storageErr is the last write's storage failure (disk full, I/O
	// error, read-only file), cleared by the next successful write: an
	// unwritable database makes /readyz false even when the readiness
	// probe's own tiny write would still fit.
	storageErr atomic.Pointer[error]

	mu              sync.Mutex
	rawRetention    time.Duration
	rollupRetention time.Duration

	rollupMu    sync.Mutex // serializes Rollup runs
	rollupCache *rollupCache

	pkMu sync.RWMutex
	pks  map[probeKey]int64 // (org, probe id) -> probes.pk; pks never change

	group groupCommit // recorded delivery attempts (groupcommit.go)
}

type probeKey struct{ org, id string }

// Open opens (creating if needed) the database file at path and runs any
// pending migrations. It refuses a database written by a newer Lookout.
func Open(ctx context.Context, path string, opts Options) (*DB, error) {
	if path == "" || strings.HasPrefix(path, ":memory:") || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("open db %q: need a plain file path", path)
	}
	if opts.Now == nil {
		opts.Now = clock.Real{}.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.ReadConns <= 0 {
		opts.ReadConns = DefaultReadConns
	}
	db := &DB{
		path:            path,
		now:             opts.Now,
		log:             opts.Logger,
		reg:             opts.Metrics,
		rawRetention:    orDefault(opts.RawRetention, DefaultRawRetention),
		rollupRetention: max(orDefault(opts.RollupRetention, DefaultRollupRetention), MinRollupRetention),
		pks:             map[probeKey]int64{},
	}

	// _txlock=immediate: every transaction takes the write lock at BEGIN, so
	// a transaction never fails half-way when upgrading a read lock.
	w, err := sql.Open("sqlite3", dsn(path,
		"_synchronous=FULL", "_foreign_keys=1",
		"_busy_timeout=10000", "_txlock=immediate", "_stmt_cache_size=32"))
	if err != nil {
		return nil, fmt.Errorf("open db %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	db.w = w

	// A larger page cache (16 MiB; 32 MiB put the process over its RSS
	// goal at 5,000 probes) keeps the hot leaves of the results index (one per
	// probe) in memory; a larger WAL checkpoints each hot page once per many
	// commits. WAL mode is recorded in the file and holds for later
	// connections.
	//
	// Litestream, run beside Lookout for continuous replication
	// (docs/operations.md), relies on these settings: WAL mode, a busy
	// timeout on every connection (it takes the write lock briefly for its
	// checkpoints), and only PASSIVE checkpoints here (autocheckpoint):
	// never wal_checkpoint(RESTART/TRUNCATE), never deleting the WAL.
	if _, err := w.ExecContext(ctx, "PRAGMA cache_size = -16384; PRAGMA wal_autocheckpoint = 8000"); err != nil {
		w.Close()
		return nil, fmt.Errorf("open db %s: %w", path, err)
	}
	var mode string
	if err := w.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode); err != nil {
		w.Close()
		return nil, fmt.Errorf("open db %s: %w", path, err)
	}
	if !strings.EqualFold(mode, "wal") {
		w.Close()
		return nil, fmt.Errorf("open db %s: journal mode is %q, want wal", path, mode)
	}
	if err := migrate(ctx, w, db.now); err != nil {
		w.Close()
		return nil, fmt.Errorf("open db %s: %w", path, err)
	}
	db.migrated.Store(true)

	// Readers open the file read-only once the writer has created it and its
	// WAL files; query_only guards against a write slipping through.
	r, err := sql.Open("sqlite3", dsn(path,
		"mode=ro", "_query_only=1", "_busy_timeout=10000", "_stmt_cache_size=32"))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open db %s for reading: %w", path, err)
	}
	r.SetMaxOpenConns(opts.ReadConns)
	r.SetMaxIdleConns(opts.ReadConns)
	r.SetConnMaxLifetime(0)
	r.SetConnMaxIdleTime(0)
	if err := r.PingContext(ctx); err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("open db %s for reading: %w", path, err)
	}
	db.r = r
	return db, nil
}

// dsn builds a SQLite URI for a file path: characters the URI syntax gives
// meaning to are escaped, the parameters appended.
func dsn(path string, params ...string) string {
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	return "file:" + esc + "?" + strings.Join(params, "&")
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Close closes both pools. The WAL is checkpointed by SQLite when the last
// connection closes.
func (db *DB) Close() error {
	return errors.Join(db.r.Close(), db.w.Close())
}

// Path is the database file.
func (db *DB) Path() string { return db.path }

// Ready returns nil when migrations are done and a trivial write transaction
// commits: what /readyz reports. A full disk or a read-only volume fails it.
func (db *DB) Ready(ctx context.Context) error {
	if !db.migrated.Load() {
		return errors.New("db not ready: migrations pending")
	}
	if p := db.storageErr.Load(); p != nil {
		return fmt.Errorf("db not ready: last write failed: %w", *p)
	}
	_, err := db.w.ExecContext(ctx,
		`INSERT INTO store_state (name, value) VALUES ('ready_check', ?)
		 ON CONFLICT (name) DO UPDATE SET value = excluded.value`, ms(db.now()))
	if err != nil {
		return fmt.Errorf("db not ready: %w", err)
	}
	return nil
}

// IntegrityCheck runs SQLite's integrity check and returns its findings as an
// error, nil when the database is sound.
func (db *DB) IntegrityCheck(ctx context.Context) error {
	rows, err := db.r.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		return fmt.Errorf("integrity check: %w", err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return fmt.Errorf("integrity check: %w", err)
		}
		if s != "ok" {
			problems = append(problems, s)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("integrity check: %w", err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("integrity check: %s", strings.Join(problems, "; "))
	}
	return nil
}

// retentions returns the raw and rollup retention in force.
func (db *DB) retentions() (raw, rollup time.Duration) {
	db.mu.Lock()
	defer db.mu.Unlock()
	return db.rawRetention, db.rollupRetention
}

// inTx runs fn in a write transaction, committing when it returns nil.
func (db *DB) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		db.noteWrite(err)
		return err
	}
	err = tx.Commit()
	db.noteWrite(err)
	return err
}

// noteWrite records whether the storage could take a write: a storage
// failure (full, I/O, read-only) is remembered until a write succeeds;
// other errors (a constraint, a cancelled context) say nothing about it.
func (db *DB) noteWrite(err error) {
	var se sqlite3.Error
	switch {
	case err == nil:
		db.storageErr.Store(nil)
	case errors.As(err, &se) && (se.Code == sqlite3.ErrFull || se.Code == sqlite3.ErrIoErr || se.Code == sqlite3.ErrReadonly || se.Code == sqlite3.ErrCantOpen):
		db.storageErr.Store(&err)
	}
}

// ms converts a time to unix milliseconds.
func ms(t time.Time) int64 { return t.UnixMilli() }

// fromMS converts unix milliseconds to a UTC time.
func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

// nullMS converts a nullable milliseconds column.
func nullMS(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromMS(v.Int64)
}

package store

import (
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"go.uber.org/goleak"

	"github.com/lookout-status/lookout/clock"
	"github.com/lookout-status/lookout/config"
	"github.com/lookout-status/lookout/probes"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// t0 is the fake clock's start: a Monday, 10:00 UTC.
var t0 = time.Date(2025, 3, 3, 10, 0, 0, 0, time.UTC)

// mustOpen opens a fresh database file in tb's temp dir, on a fake clock.
func mustOpen(tb testing.TB) (*DB, *clock.Fake) {
	tb.Helper()
	fc := clock.NewFake(t0)
	return mustOpenPath(tb, filepath.Join(tb.TempDir(), "lookout.db"), Options{Now: fc.Now}), fc
}

func mustOpenPath(tb testing.TB, path string, opts Options) *DB {
	tb.Helper()
	db, err := Open(context.Background(), path, opts)
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Errorf("close: %v", err)
		}
	})
	return db
}

func mustApply(tb testing.TB, db *DB, cfg *config.Config) Plan {
	tb.Helper()
	p, err := db.Apply(context.Background(), cfg)
	if err != nil {
		tb.Fatalf("apply: %v", err)
	}
	return p
}

// testConfig is one organization with a page, two components and two probes.
func testConfig() *config.Config {
	return &config.Config{Organizations: []config.Organization{{
		ID:     "acme",
		Name:   "Acme",
		Egress: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Pages: []config.Page{{
			ID: "status", Name: "Acme status", Host: "status.acme.test",
			URL: "https://status.acme.test", Accent: "#0055ff", Components: []string{"api", "sync"},
		}},
		Components: []config.Component{
			{ID: "api", Name: "API", Description: "The public API"},
			{ID: "sync", Name: "Sync", Group: "Core"},
		},
		Probes: []config.Probe{
			{ID: "api-http", Name: "API health", Component: "api", Kind: "http",
				Interval: 30 * time.Second, Timeout: 10 * time.Second, FailureThreshold: 2, SuccessThreshold: 1,
				Definition: `{"url":"https://api.acme.test/health"}`},
			{ID: "sync-tcp", Name: "Sync port", Component: "sync", Kind: "tcp",
				Interval: time.Minute, Timeout: 5 * time.Second, FailureThreshold: 1, SuccessThreshold: 1,
				Definition: `{"address":"sync.acme.test:443"}`},
		},
	}}}
}

func TestMigrationsRunOnceAndAreRecorded(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "lookout.db")
	fc := clock.NewFake(t0)
	db, err := Open(ctx, path, Options{Now: fc.Now})
	if err != nil {
		t.Fatalf("first open: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	fc.Advance(time.Hour)
	db = mustOpenPath(t, path, Options{Now: fc.Now})

	want, err := loadMigrations(migrationFS)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := db.r.Query("SELECT version, name, applied_at FROM schema_migrations ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var n int
	for rows.Next() {
		var v int
		var name string
		var at int64
		if err := rows.Scan(&v, &name, &at); err != nil {
			t.Fatal(err)
		}
		if n >= len(want) {
			t.Fatalf("unexpected migration row %d %s", v, name)
		}
		if v != want[n].version || name != want[n].name {
			t.Errorf("migration row %d: got %d_%s, want %d_%s", n, v, name, want[n].version, want[n].name)
		}
		if at != ms(t0) {
			t.Errorf("migration %d applied_at: got %v, want %v (the first open; a reopen must not re-run it)", v, fromMS(at), t0)
		}
		n++
	}
	if n != len(want) {
		t.Errorf("got %d migration rows, want %d", n, len(want))
	}
	if v, err := db.SchemaVersion(ctx); err != nil || v != len(want) {
		t.Errorf("SchemaVersion: got %d, %v; want %d", v, err, len(want))
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "lookout.db")
	db, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.w.Exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'from_the_future', 0)"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = Open(ctx, path, Options{})
	if err == nil || !strings.Contains(err.Error(), "schema version 999 is newer than this binary's") {
		t.Fatalf("got %v, want an error saying schema version 999 is newer than this binary's", err)
	}
}

func TestLoadMigrationsChecksNumbering(t *testing.T) {
	tests := []struct {
		name  string
		files []string
		want  string // error substring; "" for none
	}{
		{"ok", []string{"0001_a.sql", "0002_b.sql"}, ""},
		{"gap", []string{"0001_a.sql", "0003_c.sql"}, "want version 2"},
		{"repeat", []string{"0001_a.sql", "0001_b.sql"}, "want version 2"},
		{"no name", []string{"0001.sql"}, "NNNN_name.sql"},
		{"not a number", []string{"first_a.sql"}, "NNNN_name.sql"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for _, f := range tc.files {
				fsys["migrations/"+f] = &fstest.MapFile{Data: []byte("SELECT 1;")}
			}
			_, err := loadMigrations(fsys)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("got %v, want no error", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestOpenRejectsNonFilePaths(t *testing.T) {
	for _, p := range []string{"", ":memory:", "file:x.db?mode=memory"} {
		if db, err := Open(context.Background(), p, Options{}); err == nil {
			db.Close()
			t.Errorf("Open(%q): got nil error, want one", p)
		}
	}
}

func TestOpenPathWithURICharacters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "odd ?name#100%.db")
	db := mustOpenPath(t, path, Options{})
	if err := db.Ready(context.Background()); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	if db.Path() != path {
		t.Errorf("Path: got %q, want %q", db.Path(), path)
	}
}

func TestPragmas(t *testing.T) {
	db, _ := mustOpen(t)
	tests := []struct {
		pragma string
		conn   string
		want   string
	}{
		{"journal_mode", "writer", "wal"},
		{"synchronous", "writer", "2"}, // FULL
		{"foreign_keys", "writer", "1"},
		{"busy_timeout", "writer", "10000"},
		{"query_only", "reader", "1"},
		{"journal_mode", "reader", "wal"},
	}
	for _, tc := range tests {
		t.Run(tc.conn+"/"+tc.pragma, func(t *testing.T) {
			c := db.w
			if tc.conn == "reader" {
				c = db.r
			}
			var got string
			if err := c.QueryRow("PRAGMA " + tc.pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
	if _, err := db.r.Exec("INSERT INTO store_state (name, value) VALUES ('x', 1)"); err == nil {
		t.Error("write through the read pool: got nil error, want one")
	}
}

func TestReadyAndIntegrity(t *testing.T) {
	db, _ := mustOpen(t)
	ctx := context.Background()
	if err := db.Ready(ctx); err != nil {
		t.Errorf("Ready: %v", err)
	}
	if err := db.IntegrityCheck(ctx); err != nil {
		t.Errorf("IntegrityCheck: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := db.Ready(cctx); err == nil {
		t.Error("Ready with a cancelled context: got nil, want an error")
	}
}

func TestHeartbeats(t *testing.T) {
	db, fc := mustOpen(t)
	ctx := context.Background()
	mustApply(t, db, testConfig())
	var hb probes.HeartbeatSource = db

	if _, ok, err := hb.LastPing(ctx, "acme", "api-http"); err != nil || ok {
		t.Fatalf("LastPing before any: got ok=%v err=%v, want ok=false err=nil", ok, err)
	}
	for i, p := range []probes.Ping{
		{At: fc.Now(), Message: "first"},
		{At: fc.Now().Add(time.Minute), Failed: true, Message: strings.Repeat("x", 5000)},
	} {
		if err := db.RecordPing(ctx, "acme", "api-http", p); err != nil {
			t.Fatalf("RecordPing %d: %v", i, err)
		}
	}
	got, ok, err := hb.LastPing(ctx, "acme", "api-http")
	if err != nil || !ok {
		t.Fatalf("LastPing: ok=%v err=%v", ok, err)
	}
	if !got.At.Equal(t0.Add(time.Minute)) || !got.Failed || len(got.Message) != MaxPingMessageLen {
		t.Errorf("LastPing: got at=%v failed=%v len(message)=%d, want at=%v failed=true len=%d",
			got.At, got.Failed, len(got.Message), t0.Add(time.Minute), MaxPingMessageLen)
	}

	tests := []struct{ org, probe string }{
		{"acme", "nope"},
		{"other", "api-http"}, // another organization's probe id
	}
	for _, tc := range tests {
		err := db.RecordPing(ctx, tc.org, tc.probe, probes.Ping{At: fc.Now()})
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("RecordPing(%s, %s): got %v, want ErrNotFound", tc.org, tc.probe, err)
		}
	}

	cfg := testConfig()
	cfg.Organizations[0].Probes = cfg.Organizations[0].Probes[1:]
	mustApply(t, db, cfg)
	if err := db.RecordPing(ctx, "acme", "api-http", probes.Ping{At: fc.Now()}); !errors.Is(err, ErrNotFound) {
		t.Errorf("RecordPing of a deleted probe: got %v, want ErrNotFound", err)
	}
}

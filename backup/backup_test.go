package backup

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"go.uber.org/goleak"

	"github.com/lookout-status/lookout/config"
	"github.com/lookout-status/lookout/probes"
	"github.com/lookout-status/lookout/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC)

func testConfig() *config.Config {
	return &config.Config{Organizations: []config.Organization{{
		ID: "acme", Name: "Acme",
		Egress:     []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Components: []config.Component{{ID: "api", Name: "API"}},
		Probes: []config.Probe{{ID: "api-http", Name: "API health", Component: "api", Kind: "http",
			Interval: 30 * time.Second, Timeout: 10 * time.Second, FailureThreshold: 2, SuccessThreshold: 1,
			Definition: `{"url":"https://api.acme.test/health"}`}},
	}}}
}

// mustDataDir returns a data dir holding a lookout.db with n results, and
// the open database (closed at cleanup).
func mustDataDir(tb testing.TB, n int) (string, *store.DB) {
	tb.Helper()
	dir := tb.TempDir()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(dir, DBFile), store.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	if _, err := db.Apply(ctx, testConfig()); err != nil {
		tb.Fatal(err)
	}
	for i := range n {
		if err := db.InsertResults(ctx, "acme", []probes.Result{result(i)}); err != nil {
			tb.Fatal(err)
		}
	}
	return dir, db
}

func result(i int) probes.Result {
	return probes.Result{ProbeID: "api-http", Region: "local", Started: t0.Add(time.Duration(i) * time.Second),
		Duration: time.Millisecond, Outcome: probes.Up}
}

// resultsIn opens the database in dir and returns its result start times.
func resultsIn(tb testing.TB, dir string) map[time.Time]bool {
	tb.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(dir, DBFile), store.Options{})
	if err != nil {
		tb.Fatalf("open restored db: %v", err)
	}
	defer db.Close()
	if err := db.IntegrityCheck(ctx); err != nil {
		tb.Fatalf("restored db: %v", err)
	}
	rs, err := db.Results(ctx, "acme", "api-http", t0.Add(-time.Hour), t0.Add(1000*time.Hour))
	if err != nil {
		tb.Fatal(err)
	}
	got := map[time.Time]bool{}
	for _, r := range rs {
		got[r.Started] = true
	}
	return got
}

func TestBackupDuringHeavyWritesRestores(t *testing.T) {
	ctx := context.Background()
	dir, db := mustDataDir(t, 50)
	var committed atomic.Int64
	committed.Store(50)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	writeErr := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 50; ; i += 10 {
			select {
			case <-stop:
				return
			default:
			}
			batch := make([]probes.Result, 10)
			for j := range batch {
				batch[j] = result(i + j)
			}
			if err := db.InsertResults(ctx, "acme", batch); err != nil {
				writeErr <- err
				return
			}
			committed.Store(int64(i + 10))
		}
	}()
	// Let the writer get going, then back up while it writes.
	for committed.Load() < 500 {
		select {
		case err := <-writeErr:
			t.Fatal(err)
		default:
		}
	}
	before := int(committed.Load())
	dest := &Dir{Path: filepath.Join(t.TempDir(), "backups")}
	m, err := Create(ctx, Options{DataDir: dir, To: dest})
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	after := int(committed.Load())
	if m.SchemaVersion < 1 || m.SHA256 == "" || m.Size == 0 {
		t.Errorf("manifest: got %+v, want a schema version, sha256 and size", m)
	}

	target := t.TempDir()
	res, err := Restore(ctx, RestoreOptions{From: dest, DataDir: target})
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	if res.Manifest.File != m.File || res.MovedAside != "" {
		t.Errorf("restored: got %+v, want %s and nothing moved aside", res, m.File)
	}
	got := resultsIn(t, target)
	for i := range before {
		if !got[result(i).Started] {
			t.Fatalf("result %d (committed before the backup started) missing; restored %d results", i, len(got))
		}
	}
	if len(got) > after {
		t.Errorf("restored results: got %d, want at most %d", len(got), after)
	}
	t.Logf("committed before backup %d, restored %d, committed by its end %d", before, len(got), after)
}

func TestRestoreRefusesCorruptBackup(t *testing.T) {
	ctx := context.Background()
	dir, _ := mustDataDir(t, 20)
	dest := &Dir{Path: filepath.Join(t.TempDir(), "backups")}
	now := t0
	clock := func() time.Time { return now }
	old, err := Create(ctx, Options{DataDir: dir, To: dest, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Hour)
	newest, err := Create(ctx, Options{DataDir: dir, To: dest, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dest.Path, newest.File)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x01
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("named", func(t *testing.T) {
		target := t.TempDir()
		_, err := Restore(ctx, RestoreOptions{From: dest, DataDir: target, Name: newest.File})
		if !errors.Is(err, ErrChecksum) {
			t.Fatalf("got %v, want %v", err, ErrChecksum)
		}
		if want := "backup " + newest.File + " refused: checksum mismatch"; !strings.Contains(err.Error(), want) {
			t.Errorf("message: got %q, want it to contain %q", err, want)
		}
		if _, err := os.Stat(filepath.Join(target, DBFile)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a refused restore left a database behind: %v", err)
		}
	})
	t.Run("newest skipped", func(t *testing.T) {
		target, _ := mustDataDir(t, 0)
		var log bytes.Buffer
		res, err := Restore(ctx, RestoreOptions{From: dest, DataDir: target, Log: &log, Now: func() time.Time { return t0 }})
		if err != nil {
			t.Fatal(err)
		}
		if res.Manifest.File != old.File {
			t.Errorf("restored: got %s, want the older good %s", res.Manifest.File, old.File)
		}
		if !strings.Contains(log.String(), "skipping "+newest.File) {
			t.Errorf("log: got %q, want it to report skipping %s", log.String(), newest.File)
		}
		want := filepath.Join(target, "lookout.db.before-restore-20260303T100000Z")
		if res.MovedAside != want {
			t.Errorf("moved aside: got %q, want %q", res.MovedAside, want)
		}
		if _, err := os.Stat(want); err != nil {
			t.Errorf("old database: %v", err)
		}
		if got := len(resultsIn(t, target)); got != 20 {
			t.Errorf("restored results: got %d, want 20", got)
		}
	})
}

func TestRestoreRefusesLiveDatabase(t *testing.T) {
	ctx := context.Background()
	dir, _ := mustDataDir(t, 5)
	dest := &Dir{Path: filepath.Join(t.TempDir(), "backups")}
	if _, err := Create(ctx, Options{DataDir: dir, To: dest}); err != nil {
		t.Fatal(err)
	}
	lock, err := LockDataDir(dir) // what `lookout serve` holds
	if err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, DBFile))
	_, err = Restore(ctx, RestoreOptions{From: dest, DataDir: dir})
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "in use by a running lookout; stop it first") {
		t.Fatalf("got %v, want a refusal naming the running lookout", err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, DBFile))
	if !bytes.Equal(before, after) {
		t.Error("the live database changed")
	}
	if err := lock.Release(); err != nil {
		t.Fatal(err)
	}
	if _, err := Restore(ctx, RestoreOptions{From: dest, DataDir: dir}); err != nil {
		t.Errorf("restore once released: %v", err)
	}
}

func TestEncryptedBackup(t *testing.T) {
	ctx := context.Background()
	dir, _ := mustDataDir(t, 7)
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	dest := &Dir{Path: filepath.Join(t.TempDir(), "backups")}
	m, err := Create(ctx, Options{DataDir: dir, To: dest, Recipients: []age.Recipient{id.Recipient()}})
	if err != nil {
		t.Fatal(err)
	}
	if !m.Encrypted || !strings.HasSuffix(m.File, ".db.gz.age") {
		t.Errorf("manifest: got %+v, want an encrypted .db.gz.age", m)
	}
	raw, _ := os.ReadFile(filepath.Join(dest.Path, m.File))
	if !bytes.HasPrefix(raw, []byte("age-encryption.org/v1")) {
		t.Errorf("artifact starts %q, want an age header", raw[:min(len(raw), 24)])
	}
	if _, err := Restore(ctx, RestoreOptions{From: dest, DataDir: t.TempDir()}); !errors.Is(err, ErrNoIdentity) {
		t.Errorf("without identity: got %v, want %v", err, ErrNoIdentity)
	}
	other, _ := age.GenerateX25519Identity()
	if _, err := Restore(ctx, RestoreOptions{From: dest, DataDir: t.TempDir(), Identities: []age.Identity{other}}); err == nil || !strings.Contains(err.Error(), "decrypt") {
		t.Errorf("wrong identity: got %v, want a decrypt error", err)
	}
	target := t.TempDir()
	if _, err := Restore(ctx, RestoreOptions{From: dest, DataDir: target, Identities: []age.Identity{id}}); err != nil {
		t.Fatal(err)
	}
	if got := len(resultsIn(t, target)); got != 7 {
		t.Errorf("restored results: got %d, want 7", got)
	}
}

func TestS3Destination(t *testing.T) {
	ctx := context.Background()
	backend := s3mem.New()
	if err := backend.CreateBucket("backups"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	defer srv.Close()
	env := map[string]string{"LOOKOUT_BACKUP_S3_ENDPOINT": srv.URL, "AWS_ACCESS_KEY_ID": "key", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_REGION": "us-east-1"}
	dest, err := OpenDestination("s3://backups/lookout/prod", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if got, want := dest.String(), "s3://backups/lookout/prod/"; got != want {
		t.Errorf("destination: got %q, want %q", got, want)
	}
	dir, _ := mustDataDir(t, 11)
	m, err := Create(ctx, Options{DataDir: dir, To: dest})
	if err != nil {
		t.Fatal(err)
	}
	names, err := dest.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	base, _, _ := parseBase(m.File)
	if want := []string{m.File, base + ".json"}; strings.Join(names, ",") != strings.Join(want, ",") {
		t.Errorf("objects: got %v, want %v", names, want)
	}
	target := t.TempDir()
	if _, err := Restore(ctx, RestoreOptions{From: dest, DataDir: target}); err != nil {
		t.Fatal(err)
	}
	if got := len(resultsIn(t, target)); got != 11 {
		t.Errorf("restored results: got %d, want 11", got)
	}
}

func TestOpenDestination(t *testing.T) {
	for _, tc := range []struct{ dest, wantErr string }{
		{"/var/backups/lookout", ""},
		{"s3://", "no bucket"},
		{"gs://bucket/x", "want a directory or s3://bucket/prefix"},
		{"", "empty"},
	} {
		t.Run(tc.dest, func(t *testing.T) {
			_, err := OpenDestination(tc.dest, nil)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("got %v, want %q", err, tc.wantErr)
			}
		})
	}
}

// A backup whose checksum matches but whose database is damaged (corrupted
// before it was packed) is refused by the integrity check.
func TestRestoreRefusesDamagedDatabase(t *testing.T) {
	ctx := context.Background()
	dir, _ := mustDataDir(t, 300)
	snap := filepath.Join(t.TempDir(), "snap.db")
	if err := store.BackupTo(ctx, filepath.Join(dir, DBFile), snap); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(snap)
	if err != nil {
		t.Fatal(err)
	}
	for i := 4096 + 100; i < len(b); i += 4096 { // garble every page after the first
		copy(b[i:i+64], bytes.Repeat([]byte{0xA5}, 64))
	}
	if err := os.WriteFile(snap, b, 0o600); err != nil {
		t.Fatal(err)
	}
	dest := &Dir{Path: t.TempDir()}
	m := Manifest{File: baseName(t0) + ".db.gz", CreatedAt: t0}
	art := filepath.Join(t.TempDir(), m.File)
	if m.Size, m.SHA256, err = pack(snap, art, nil); err != nil {
		t.Fatal(err)
	}
	mj, _ := json.Marshal(m)
	mf := filepath.Join(t.TempDir(), "m.json")
	os.WriteFile(mf, mj, 0o600)
	if err := dest.Put(ctx, m.File, art); err != nil {
		t.Fatal(err)
	}
	if err := dest.Put(ctx, baseName(t0)+".json", mf); err != nil {
		t.Fatal(err)
	}
	target := t.TempDir()
	_, err = Restore(ctx, RestoreOptions{From: dest, DataDir: target, Name: m.File})
	if err == nil || !strings.Contains(err.Error(), "refused") || !strings.Contains(err.Error(), "malformed") && !strings.Contains(err.Error(), "integrity check failed") {
		t.Fatalf("got %v, want an integrity refusal", err)
	}
	t.Log(err)
	if _, err := os.Stat(filepath.Join(target, DBFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused restore left a database behind: %v", err)
	}
}

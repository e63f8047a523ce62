// Package backup makes consistent, verified, optionally encrypted copies of
// Lookout's SQLite database to a directory or an S3 bucket, prunes them by a
// retention policy, schedules them inside `lookout serve`, and restores them.
//
// A backup is two objects: the database (VACUUM INTO, gzip, then age if a
// recipient is given) named lookout-YYYYMMDDTHHMMSS.mmmZ.db.gz[.age], and its
// manifest (lookout-….json) written last. An artifact without a manifest is
// an incomplete backup: it is never restored and is pruned with the rest.
package backup

import (
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/lookout-status/lookout/store"
)

// DBFile is the database's file name in the data directory.
const DBFile = "lookout.db"

// Manifest describes one backup; it is stored next to the artifact as JSON.
type Manifest struct {
	// File is the artifact's object name.
	File string `json:"file"`
	// Size and SHA256 are the artifact's as stored (compressed, encrypted).
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	// DBSize is the uncompressed database's size.
	DBSize         int64     `json:"db_size"`
	CreatedAt      time.Time `json:"created_at"`
	SchemaVersion  int       `json:"schema_version"`
	LookoutVersion string    `json:"lookout_version"`
	Encrypted      bool      `json:"encrypted"`
}

// Options configure Create.
type Options struct {
	// DataDir holds lookout.db.
	DataDir string
	To      Destination
	// Recipients, if any, encrypt the artifact with age.
	Recipients []age.Recipient
	// Identities, if given, let Create verify an encrypted artifact whole
	// (without them an encrypted backup is verified before encryption and
	// by checksum after upload).
	Identities []age.Identity
	// Keep is the retention policy applied after a successful backup; the
	// zero value keeps everything.
	Keep Keep
	// Now is the time source (default time.Now).
	Now func() time.Time
	// Version is the Lookout version recorded (default: the build's).
	Version string
}

const namePrefix, timeLayout = "lookout-", "20060102T150405.000Z"

func baseName(t time.Time) string { return namePrefix + t.UTC().Format(timeLayout) }

// parseBase returns the creation time a backup object's name carries and
// its base (the name without extensions).
func parseBase(name string) (base string, t time.Time, ok bool) {
	base, _, _ = strings.Cut(name, ".db.gz")
	base = strings.TrimSuffix(base, ".json")
	t, err := time.Parse(timeLayout, strings.TrimPrefix(base, namePrefix))
	if err != nil || !strings.HasPrefix(base, namePrefix) {
		return "", time.Time{}, false
	}
	return base, t, true
}

// Create takes a backup of the running database, verifies it, stores it with
// its manifest and prunes old backups.
func Create(ctx context.Context, o Options) (Manifest, error) {
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	created := now().UTC()
	base := baseName(created)
	m := Manifest{File: base + ".db.gz", CreatedAt: created, LookoutVersion: o.Version, Encrypted: len(o.Recipients) > 0}
	if m.Encrypted {
		m.File += ".age"
	}
	if m.LookoutVersion == "" {
		m.LookoutVersion = buildVersion()
	}
	// Scratch space on the data volume: it has room for a copy of the
	// database, which a small /tmp may not.
	tmp, err := os.MkdirTemp(o.DataDir, ".backup-")
	if err != nil {
		return Manifest{}, fmt.Errorf("backup: %w", err)
	}
	defer os.RemoveAll(tmp)

	snap := filepath.Join(tmp, "snapshot.db")
	if err := store.BackupTo(ctx, filepath.Join(o.DataDir, DBFile), snap); err != nil {
		return Manifest{}, err
	}
	if m.SchemaVersion, err = store.CheckFile(ctx, snap); err != nil {
		return Manifest{}, fmt.Errorf("backup: snapshot: %w", err)
	}
	if fi, err := os.Stat(snap); err == nil {
		m.DBSize = fi.Size()
	}
	artifact := filepath.Join(tmp, m.File)
	if m.Size, m.SHA256, err = pack(snap, artifact, o.Recipients); err != nil {
		return Manifest{}, fmt.Errorf("backup: %w", err)
	}
	if err := o.To.Put(ctx, m.File, artifact); err != nil {
		return Manifest{}, fmt.Errorf("backup to %s: %w", o.To, err)
	}
	// Verify what was stored: read it back, compare the checksum and, when
	// it can be decrypted, unpack and check the database.
	if !m.Encrypted || len(o.Identities) > 0 {
		if _, err := fetch(ctx, o.To, m, o.Identities, tmp); err != nil {
			return Manifest{}, fmt.Errorf("backup: verify %s: %w", m.File, err)
		}
	} else if err := verifySum(ctx, o.To, m, tmp); err != nil {
		return Manifest{}, fmt.Errorf("backup: verify %s: %w", m.File, err)
	}
	mj, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return Manifest{}, fmt.Errorf("backup: manifest: %w", err)
	}
	mf := filepath.Join(tmp, base+".json")
	if err := os.WriteFile(mf, append(mj, '\n'), 0o600); err != nil {
		return Manifest{}, fmt.Errorf("backup: manifest: %w", err)
	}
	if err := o.To.Put(ctx, base+".json", mf); err != nil {
		return Manifest{}, fmt.Errorf("backup to %s: %w", o.To, err)
	}
	if !o.Keep.zero() {
		if _, err := Prune(ctx, o.To, o.Keep); err != nil {
			return m, err
		}
	}
	return m, nil
}

// pack writes src gzip-compressed (then age-encrypted for recipients) to
// dst and returns the size and SHA-256 of what it wrote.
func pack(src, dst string, recipients []age.Recipient) (int64, string, error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, "", fmt.Errorf("pack: %w", err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return 0, "", fmt.Errorf("pack: %w", err)
	}
	defer out.Close()
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(out, h)}
	var w io.Writer = cw
	var enc io.WriteCloser
	if len(recipients) > 0 {
		if enc, err = age.Encrypt(cw, recipients...); err != nil {
			return 0, "", fmt.Errorf("pack: encrypt: %w", err)
		}
		w = enc
	}
	zw, err := gzip.NewWriterLevel(w, gzip.BestSpeed)
	if err != nil {
		return 0, "", fmt.Errorf("pack: %w", err)
	}
	if _, err := io.Copy(zw, in); err != nil {
		return 0, "", fmt.Errorf("pack: %w", err)
	}
	if err := zw.Close(); err != nil {
		return 0, "", fmt.Errorf("pack: %w", err)
	}
	if enc != nil {
		if err := enc.Close(); err != nil {
			return 0, "", fmt.Errorf("pack: encrypt: %w", err)
		}
	}
	if err := out.Sync(); err != nil {
		return 0, "", fmt.Errorf("pack: %w", err)
	}
	return cw.n, hex.EncodeToString(h.Sum(nil)), out.Close()
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// ErrChecksum is returned when a stored artifact does not match its manifest.
var ErrChecksum = errors.New("checksum mismatch: the backup is corrupt or was modified")

// download copies the artifact into dir and checks its size and checksum.
func download(ctx context.Context, from Destination, m Manifest, dir string) (string, error) {
	f, err := os.CreateTemp(dir, "download-*")
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(f, h)}
	if err := from.Get(ctx, m.File, cw); err != nil {
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	if sum := hex.EncodeToString(h.Sum(nil)); cw.n != m.Size || sum != m.SHA256 {
		return "", fmt.Errorf("%w (got %d bytes sha256 %.12s…, manifest says %d bytes sha256 %.12s…)", ErrChecksum, cw.n, sum, m.Size, m.SHA256)
	}
	return f.Name(), nil
}

func verifySum(ctx context.Context, from Destination, m Manifest, dir string) error {
	p, err := download(ctx, from, m, dir)
	if err != nil {
		return err
	}
	return os.Remove(p)
}

// ErrNoIdentity is returned when an encrypted backup is restored without an
// age identity.
var ErrNoIdentity = errors.New("backup is encrypted: give an age identity (LOOKOUT_BACKUP_AGE_IDENTITY or --age-identity)")

// fetch downloads, checks, decrypts and unpacks a backup into dir and
// verifies the database (integrity check, then a trial open by Lookout).
// It returns the database file's path.
func fetch(ctx context.Context, from Destination, m Manifest, ids []age.Identity, dir string) (string, error) {
	if m.Encrypted && len(ids) == 0 {
		return "", ErrNoIdentity
	}
	p, err := download(ctx, from, m, dir)
	if err != nil {
		return "", err
	}
	defer os.Remove(p)
	in, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer in.Close()
	var r io.Reader = in
	if m.Encrypted {
		if r, err = age.Decrypt(in, ids...); err != nil {
			return "", fmt.Errorf("decrypt: %w", err)
		}
	}
	zr, err := gzip.NewReader(r)
	if err != nil {
		return "", fmt.Errorf("decompress: %w", err)
	}
	db, err := os.CreateTemp(dir, "restore-*.db")
	if err != nil {
		return "", err
	}
	defer db.Close()
	if _, err := io.Copy(db, zr); err != nil {
		return "", fmt.Errorf("decompress: %w", err)
	}
	if err := zr.Close(); err != nil {
		return "", fmt.Errorf("decompress: %w", err)
	}
	if err := db.Sync(); err != nil {
		return "", err
	}
	if err := db.Close(); err != nil {
		return "", err
	}
	if _, err := store.CheckFile(ctx, db.Name()); err != nil {
		return "", err
	}
	// A trial open: migrations run (on this copy) and a database written by
	// a newer Lookout is refused here rather than after the restore.
	sdb, err := store.Open(ctx, db.Name(), store.Options{})
	if err != nil {
		return "", fmt.Errorf("trial open: %w", err)
	}
	if err := sdb.Close(); err != nil {
		return "", fmt.Errorf("trial open: %w", err)
	}
	return db.Name(), nil
}

// List returns the complete backups (those with a manifest) in from, newest
// first, reading each manifest.
func List(ctx context.Context, from Destination) ([]Manifest, error) {
	names, err := from.List(ctx)
	if err != nil {
		return nil, err
	}
	var out []Manifest
	for _, n := range names {
		if !strings.HasSuffix(n, ".json") {
			continue
		}
		if _, _, ok := parseBase(n); !ok {
			continue
		}
		m, err := readManifest(ctx, from, n)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.After(out[j].CreatedAt) })
	return out, nil
}

func readManifest(ctx context.Context, from Destination, name string) (Manifest, error) {
	var b strings.Builder
	if err := from.Get(ctx, name, &limitWriter{w: &b, n: 64 << 10}); err != nil {
		return Manifest{}, fmt.Errorf("read manifest: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal([]byte(b.String()), &m); err != nil {
		return Manifest{}, fmt.Errorf("read manifest %s: %w", name, err)
	}
	if m.File == "" || strings.ContainsAny(m.File, "/\\") || m.SHA256 == "" {
		return Manifest{}, fmt.Errorf("read manifest %s: missing or invalid file or sha256", name)
	}
	return m, nil
}

type limitWriter struct {
	w io.Writer
	n int64
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > l.n {
		return 0, errors.New("manifest larger than 64 KiB")
	}
	l.n -= int64(len(p))
	return l.w.Write(p)
}

func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

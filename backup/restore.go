package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"filippo.io/age"
)

// RestoreOptions configure Restore.
type RestoreOptions struct {
	From    Destination
	DataDir string
	// Name picks a backup (its artifact or manifest name, or its base
	// lookout-…Z); empty: the newest good one.
	Name       string
	Identities []age.Identity
	Now        func() time.Time
	// Log receives one line per notable step (skipped backups, the file
	// moved aside); nil discards.
	Log io.Writer
}

// Restored reports what Restore did.
type Restored struct {
	Manifest Manifest
	// MovedAside is where the previous database went ("" if there was none).
	MovedAside string
}

// ErrNoBackup is returned when the source holds no usable backup.
var ErrNoBackup = errors.New("no usable backup found")

// Restore replaces DataDir's database with a backup from From. It refuses
// while a Lookout holds the data directory, verifies the backup's checksum
// and database before touching anything, and moves the old database aside
// to lookout.db.before-restore-TIMESTAMP. Without a Name it takes the newest
// backup that verifies, reporting the ones it skips.
func Restore(ctx context.Context, o RestoreOptions) (Restored, error) {
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	logf := func(format string, args ...any) {
		if o.Log != nil {
			fmt.Fprintf(o.Log, format+"\n", args...)
		}
	}
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return Restored{}, fmt.Errorf("restore: %w", err)
	}
	lock, err := LockDataDir(o.DataDir)
	if err != nil {
		if errors.Is(err, ErrLocked) {
			return Restored{}, fmt.Errorf("restore: refusing to replace the database in %s: it is in use by a running lookout; stop it first: %w", o.DataDir, ErrLocked)
		}
		return Restored{}, fmt.Errorf("restore: %w", err)
	}
	defer lock.Release()

	all, err := List(ctx, o.From)
	if err != nil {
		return Restored{}, fmt.Errorf("restore from %s: %w", o.From, err)
	}
	cands := all
	if o.Name != "" {
		cands = nil
		for _, m := range all {
			base, _, _ := parseBase(m.File)
			if o.Name == m.File || o.Name == base || o.Name == base+".json" {
				cands = append(cands, m)
			}
		}
		if len(cands) == 0 {
			return Restored{}, fmt.Errorf("restore from %s: backup %q: %w (it has no manifest, or does not exist)", o.From, o.Name, ErrNoBackup)
		}
	}
	if len(cands) == 0 {
		return Restored{}, fmt.Errorf("restore from %s: %w", o.From, ErrNoBackup)
	}
	tmp, err := os.MkdirTemp(o.DataDir, ".restore-")
	if err != nil {
		return Restored{}, fmt.Errorf("restore: %w", err)
	}
	defer os.RemoveAll(tmp)

	var (
		dbFile string
		picked Manifest
		errs   []error
	)
	for _, m := range cands {
		p, err := fetch(ctx, o.From, m, o.Identities, tmp)
		if err == nil {
			dbFile, picked = p, m
			break
		}
		err = fmt.Errorf("backup %s refused: %w", m.File, err)
		errs = append(errs, err)
		if o.Name != "" || errors.Is(err, ErrNoIdentity) || ctx.Err() != nil {
			return Restored{}, fmt.Errorf("restore: %w", err)
		}
		logf("skipping %s: %v", m.File, err)
	}
	if dbFile == "" {
		return Restored{}, fmt.Errorf("restore from %s: %w: %w", o.From, ErrNoBackup, errors.Join(errs...))
	}

	res := Restored{Manifest: picked}
	live := filepath.Join(o.DataDir, DBFile)
	if _, err := os.Stat(live); err == nil {
		aside := live + ".before-restore-" + now().UTC().Format("20060102T150405Z")
		// The WAL and shared-memory files travel with the database so the
		// old copy stays openable as it was.
		for _, suffix := range []string{"", "-wal", "-shm"} {
			if _, err := os.Stat(live + suffix); err != nil {
				continue
			}
			if err := os.Rename(live+suffix, aside+suffix); err != nil {
				return Restored{}, fmt.Errorf("restore: move old database aside: %w", err)
			}
		}
		res.MovedAside = aside
		logf("moved the previous database to %s", aside)
	} else if !errors.Is(err, os.ErrNotExist) {
		return Restored{}, fmt.Errorf("restore: %w", err)
	}
	if err := os.Rename(dbFile, live); err != nil {
		return Restored{}, fmt.Errorf("restore: put database in place: %w", err)
	}
	if err := syncDir(o.DataDir); err != nil {
		return Restored{}, fmt.Errorf("restore: %w", err)
	}
	return res, nil
}

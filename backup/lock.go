package backup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// LockFile is the file in the data directory that a running Lookout holds
// an exclusive lock on.
const LockFile = "lookout.lock"

// ErrLocked is returned by LockDataDir when another process holds the lock.
var ErrLocked = errors.New("data directory is in use by a running lookout")

// Lock is a held data-directory lock.
type Lock struct{ f *os.File }

// LockDataDir takes the exclusive lock on dir's lookout.lock (creating
// it), without waiting. `lookout serve` holds it for its lifetime; restore
// takes it so it never replaces a database in use. The lock is released
// by the kernel if the process dies.
func LockDataDir(dir string) (*Lock, error) {
	p := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", p, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("lock %s: %w", p, ErrLocked)
		}
		return nil, fmt.Errorf("lock %s: %w", p, err)
	}
	return &Lock{f: f}, nil
}

// Release drops the lock.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	return errors.Join(err, l.f.Close())
}

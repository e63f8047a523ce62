package store

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
)

// Group commit: the notify worker records every delivery attempt (its
// outcome, its delivery-log row, a subscription it disables: one write)
// from many goroutines at once. With synchronous=FULL each transaction
// costs an fsync, which bounded a fan-out to a few hundred deliveries a
// second. Writes made through inGroup are instead gathered while a
// transaction is committing and written together in the next one: one
// fsync for all of them. Each write still returns only once it is durable,
// and each runs in its own savepoint, so one write's failure (a row no
// longer pending) undoes all of that write and leaves the others of its
// group whole.

// groupCommit is the queue of writes waiting for the next group.
type groupCommit struct {
	mu      sync.Mutex
	pending []*groupWrite
	leading bool // a caller is committing groups
}

type groupWrite struct {
	fn   func(ctx context.Context, tx *sql.Tx) error
	done chan groupResult
}

// groupResult is a write's outcome, or the hand-over of leadership: the
// caller then commits the next group itself.
type groupResult struct {
	err  error
	lead bool
}

// maxGroup bounds the writes of one transaction.
const maxGroup = 500

// inGroup runs fn in a transaction shared with other concurrent inGroup
// calls and returns once that transaction has committed (or failed: then
// every write of the group gets the error). fn must use only tx and the
// ctx it is given: a caller's cancellation must not interrupt the others'
// transaction.
func (db *DB) inGroup(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	g := &db.group
	w := &groupWrite{fn: fn, done: make(chan groupResult, 1)}
	g.mu.Lock()
	g.pending = append(g.pending, w)
	if g.leading {
		g.mu.Unlock()
		r := <-w.done
		if !r.lead {
			return r.err
		}
		g.mu.Lock() // leadership handed over: commit the next group
	} else {
		g.leading = true
	}
	// The leader commits one group, then hands leadership to the first
	// writer of the next group (or gives it up), so no caller serves
	// others for long.
	n := min(len(g.pending), maxGroup)
	batch := g.pending[:n:n]
	g.pending = g.pending[n:]
	g.mu.Unlock()

	errs := make([]error, len(batch))
	gctx := context.WithoutCancel(ctx)
	err := db.inTx(gctx, func(tx *sql.Tx) error {
		for i, b := range batch {
			if _, err := tx.Exec("SAVEPOINT grouped"); err != nil {
				return err
			}
			if errs[i] = b.fn(gctx, tx); errs[i] != nil {
				if _, err := tx.Exec("ROLLBACK TO grouped"); err != nil {
					return fmt.Errorf("roll back a grouped write: %w", err)
				}
			}
			if _, err := tx.Exec("RELEASE grouped"); err != nil {
				return err
			}
		}
		return nil
	})
	var mine error
	for i, b := range batch {
		e := errs[i]
		if err != nil {
			e = err
		}
		if b == w {
			mine = e
			continue
		}
		b.done <- groupResult{err: e}
	}
	g.mu.Lock()
	if len(g.pending) > 0 {
		g.pending[0].done <- groupResult{lead: true}
	} else {
		g.leading = false
	}
	g.mu.Unlock()
	return mine
}

package store

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lookout-status/lookout/probes"
)

// TestDiskFull fills the database to a page limit (SQLite's max_page_count
// stands in for a full disk): the failing write surfaces an error, /readyz's
// check turns false, what was committed stays, nothing is corrupted, and
// everything recovers once space returns (HOSTILE #28).
func TestDiskFull(t *testing.T) {
	db, _ := mustOpen(t)
	ctx := context.Background()
	mustApply(t, db, testConfig())
	if err := db.Ready(ctx); err != nil {
		t.Fatalf("ready before: %v", err)
	}
	var pages int
	if err := db.w.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	// The limit applies to the writer connection, the only one that writes.
	if _, err := db.w.ExecContext(ctx, "PRAGMA max_page_count = "+strconv.Itoa(pages+2)); err != nil {
		t.Fatal(err)
	}
	committed := 0
	var full error
	for i := 0; i < 10000 && full == nil; i++ {
		batch := make([]probes.Result, 50)
		for j := range batch {
			batch[j] = result(i*50 + j)
			batch[j].Error = strings.Repeat("x", 900) // fill pages fast
		}
		if err := db.InsertResults(ctx, "acme", batch); err != nil {
			full = err
			break
		}
		committed += len(batch)
	}
	if full == nil || !strings.Contains(full.Error(), "full") {
		t.Fatalf("got %v, want a database-or-disk-full error", full)
	}
	err := db.Ready(ctx)
	if err == nil || !strings.Contains(err.Error(), "full") {
		t.Fatalf("Ready while full: got %v, want not ready naming the full disk", err)
	}
	if err := db.IntegrityCheck(ctx); err != nil {
		t.Fatalf("integrity while full: %v", err)
	}
	got, err := db.Results(ctx, "acme", "api-http", t0.Add(-time.Hour), t0.Add(100*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != committed {
		t.Fatalf("while full: %d results stored, want the %d committed before the disk filled", len(got), committed)
	}

	// Space returns.
	if _, err := db.w.ExecContext(ctx, "PRAGMA max_page_count = 1073741823"); err != nil {
		t.Fatal(err)
	}
	if err := db.InsertResults(ctx, "acme", []probes.Result{result(999999)}); err != nil {
		t.Fatalf("insert after space returned: %v", err)
	}
	if err := db.Ready(ctx); err != nil {
		t.Fatalf("Ready after space returned: %v", err)
	}
	if err := db.IntegrityCheck(ctx); err != nil {
		t.Fatalf("integrity after: %v", err)
	}
}

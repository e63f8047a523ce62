package store

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lookout-status/lookout/probes"
)

const (
	crashEnv   = "LOOKOUT_STORE_CRASH_DB"
	crashBatch = 50
)

var crashT0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// crashResults is batch i of the helper: crashBatch results whose start
// times (crashT0 + n ms) say which batch they belong to.
func crashResults(i int) []probes.Result {
	rs := make([]probes.Result, crashBatch)
	for j := range rs {
		rs[j] = probes.Result{ProbeID: "api-http", Region: "local",
			Started:  crashT0.Add(time.Duration(i*crashBatch+j) * time.Millisecond),
			Duration: 42 * time.Millisecond, Outcome: probes.Up,
			Phases: []probes.Phase{{Name: "connect", Duration: time.Millisecond}, {Name: "total", Duration: 42 * time.Millisecond}}}
	}
	return rs
}

// TestHelperWriter is the child process of TestCrashKeepsCommittedBatches:
// it writes batches in a loop, printing "committed N" after each commit,
// until it is killed.
func TestHelperWriter(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("helper process for TestCrashKeepsCommittedBatches")
	}
	ctx := context.Background()
	db, err := Open(ctx, path, Options{})
	if err != nil {
		fmt.Printf("error %v\n", err)
		os.Exit(1)
	}
	for i := range 100_000 { // bounded; the parent kills it long before
		if err := db.InsertResults(ctx, "acme", crashResults(i)); err != nil {
			fmt.Printf("error %v\n", err)
			os.Exit(1)
		}
		fmt.Printf("committed %d\n", i+1)
	}
	os.Exit(0)
}

// TestCrashKeepsCommittedBatches kills a writing process with SIGKILL and
// checks the database afterwards: intact, every batch the child saw commit
// is there whole, and no batch is there in part.
func TestCrashKeepsCommittedBatches(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "crash.db")
	db, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { db.Close() }()
	mustApply(t, db, testConfig())

	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWriter$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	committed := make(chan int, 1024)
	other := make(chan string, 16)
	go func() {
		defer close(committed)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if n, err := strconv.Atoi(strings.TrimPrefix(sc.Text(), "committed ")); err == nil {
				committed <- n
			} else {
				select {
				case other <- sc.Text():
				default:
				}
			}
		}
	}()
	kill := func() {
		cmd.Process.Kill()
		cmd.Wait()
	}

	// Wait for the child to be well into its loop, and for its rows to be
	// visible to another process.
	last := 0
	deadline := time.After(2 * time.Minute)
	for last < 20 || countResults(t, db) == 0 {
		select {
		case n, ok := <-committed:
			if !ok {
				kill()
				t.Fatalf("child exited early after %d batches: %v %s", last, <-other, stderr.String())
			}
			last = n
		case <-deadline:
			kill()
			t.Fatalf("child committed only %d batches in 2 minutes", last)
		}
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL, mid-loop
		t.Fatal(err)
	}
	cmd.Wait()
	for n := range committed { // lines printed before the kill
		last = n
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db, err = Open(ctx, path, Options{})
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	if err := db.IntegrityCheck(ctx); err != nil {
		t.Fatalf("after kill -9: %v", err)
	}
	rows, err := db.r.Query(`SELECT (started_at - ?) / ?, count(*) FROM results GROUP BY (started_at - ?) / ? ORDER BY 1`,
		ms(crashT0), crashBatch, ms(crashT0), crashBatch)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	next := 0
	for rows.Next() {
		var batch, n int
		if err := rows.Scan(&batch, &n); err != nil {
			t.Fatal(err)
		}
		if batch != next {
			t.Errorf("batch %d missing (found %d next)", next, batch)
		}
		if n != crashBatch {
			t.Errorf("batch %d: got %d rows, want %d (a batch is all or nothing)", batch, n, crashBatch)
		}
		next = batch + 1
	}
	// The batch being written at the kill may or may not have committed.
	if next < last || next > last+1 {
		t.Errorf("got %d whole batches, want %d (reported committed) or one more", next, last)
	}
	t.Logf("child reported %d committed batches; %d found after kill -9", last, next)
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/lookout-status/lookout/web"
)

// maxApplyFile bounds the file `lookout apply` sends (the server's cap).
const maxApplyFile = 1 << 20

// cmdApply runs `lookout apply -f FILE --server URL [--dry-run]`: it sends
// the file to POST /api/v1/config, prints the plan, then "applied" or the
// problems as FILE:LINE: PATH: MESSAGE. Exit 0 applied (or planned), 1
// refused or failed, 2 usage.
func cmdApply(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("apply", stderr)
	file := fs.String("f", "", "the organization's configuration file (YAML)")
	server := fs.String("server", getenv(serverEnv), "Lookout's base URL (default $"+serverEnv+")")
	dryRun := fs.Bool("dry-run", false, "print the plan, change nothing")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *file == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: lookout apply -f FILE --server URL [--dry-run]  (token from $"+tokenEnv+")")
		return errUsage
	}
	c, err := newAPIClient(*server, getenv(tokenEnv))
	if err != nil {
		fmt.Fprintf(stderr, "lookout apply: %v\n", err)
		return errUsage
	}
	f, err := os.Open(*file)
	if err != nil {
		return fmt.Errorf("read %s: %w", *file, err)
	}
	body, err := io.ReadAll(io.LimitReader(f, maxApplyFile+1))
	f.Close()
	if err != nil {
		return fmt.Errorf("read %s: %w", *file, err)
	}
	if len(body) > maxApplyFile {
		return fmt.Errorf("%s is larger than %d KiB", *file, maxApplyFile>>10)
	}
	q := "?dry_run=false"
	if *dryRun {
		q = "?dry_run=true"
	}
	status, raw, err := c.send(ctx, http.MethodPost, "/api/v1/config"+q, "application/yaml", bytes.NewReader(body))
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		var refused struct {
			Problems []web.ConfigProblem `json:"problems"`
		}
		if json.Unmarshal(raw, &refused) == nil && len(refused.Problems) > 0 {
			for _, p := range refused.Problems {
				if p.Path != "" {
					fmt.Fprintf(stderr, "%s:%d: %s: %s\n", *file, p.Line, p.Path, p.Message)
				} else {
					fmt.Fprintf(stderr, "%s:%d: %s\n", *file, p.Line, p.Message)
				}
			}
			return &exitError{code: 1, err: fmt.Errorf("%s refused: %d problem(s); nothing applied", *file, len(refused.Problems))}
		}
		return &exitError{code: 1, err: fmt.Errorf("apply %s: %w", *file, apiFailure(status, raw, c.base, ""))}
	}
	var plan struct {
		DryRun  bool               `json:"dry_run"`
		Applied bool               `json:"applied"`
		Changes []web.ConfigChange `json:"changes"`
	}
	if err := json.Unmarshal(raw, &plan); err != nil {
		return fmt.Errorf("decode answer from %s: %w", c.base, err)
	}
	renderPlan(stdout, plan.Changes)
	switch {
	case plan.Applied:
		fmt.Fprintln(stdout, "applied")
	case plan.DryRun:
		fmt.Fprintln(stdout, "dry run: nothing applied")
	default:
		return &exitError{code: 1, err: fmt.Errorf("the server did not apply %s", *file)}
	}
	return nil
}

// Command lookout monitors a service from the outside, runs incidents and
// on-call, and serves its public status page. main only calls run.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, errUsage) {
			fmt.Fprintln(os.Stderr, "lookout:", err)
		}
		os.Exit(exitCode(err))
	}
}

var errUsage = errors.New("usage")

// exitError carries a specific exit status (e.g. a probe that is down).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func exitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if errors.Is(err, errUsage) {
		return 2
	}
	return 1
}

const usage = `lookout — incident monitoring and public status pages

Usage:
  lookout demo   [--listen ADDR] [--data DIR]          run against a built-in demo service
  lookout serve  --config FILE [--data DIR] [--listen ADDR] [--tls-cert FILE --tls-key FILE [--redirect-http ADDR]]
                 [--acme-host HOST[,HOST] [--acme-email ADDR] [--acme-dir URL]]
  lookout check  --config FILE [--data DIR]            validate a config and print what it would do
  lookout probe run ID --config FILE                   run one probe once and print the result
  lookout incident ack|resolve|snooze|note ID --server URL [--for 30m] [--body TEXT]
                                                       act on an incident (token from $LOOKOUT_TOKEN)
  lookout incident list --server URL [--status open]   list incidents
  lookout apply -f FILE --server URL [--dry-run]       apply an organization's config through the API
                                                       (prints the plan; token from $LOOKOUT_TOKEN)
  lookout backup --data DIR --to DIR|s3://BUCKET/PREFIX [--age-recipient KEY] [--keep 24,14,6]
                                                       a verified online backup of the database
  lookout restore --from DIR|s3://BUCKET/PREFIX --data DIR [--backup NAME]
                                                       restore the newest good (or the named) backup
  lookout oncall --config FILE [--data DIR] [--team T] [--org O] [--at RFC3339]
                                                       who is on call now, and who is next
  lookout user create --data DIR [--config FILE] [--admin | --role R] [--org ID]... USERNAME
                                                       an account (password from $LOOKOUT_PASSWORD or stdin, else generated and printed once)
  lookout user passwd --data DIR USERNAME              set a password; every session is signed out
  lookout user list --data DIR                         accounts, two-factor, memberships
  lookout token create --data DIR --org ID --role R --name N [--expires 30d]
                                                       an API token (lko_…), printed once

Run 'lookout COMMAND -h' for a command's flags.
`

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) < 2 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	cmd, rest := args[1], args[2:]
	switch cmd {
	case "serve":
		return cmdServe(ctx, rest, getenv, stdout, stderr)
	case "demo":
		return cmdDemo(ctx, rest, getenv, stdout, stderr)
	case "check":
		return cmdCheck(ctx, rest, getenv, stdout, stderr)
	case "probe":
		return cmdProbe(ctx, rest, getenv, stdout, stderr)
	case "incident":
		return cmdIncident(ctx, rest, getenv, stdout, stderr)
	case "apply":
		return cmdApply(ctx, rest, getenv, stdout, stderr)
	case "backup":
		return cmdBackup(ctx, rest, getenv, stdout, stderr)
	case "restore":
		return cmdRestore(ctx, rest, getenv, stdout, stderr)
	case "oncall":
		return cmdOnCall(ctx, rest, getenv, stdout, stderr)
	case "user":
		return cmdUser(ctx, rest, getenv, stdout, stderr)
	case "token":
		return cmdToken(ctx, rest, getenv, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprintf(stderr, "lookout: unknown command %q\n\n%s", cmd, usage)
		return errUsage
	}
}

// newFlags returns a flag set that reports errors to stderr and never exits.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("lookout "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseFlags parses, mapping -h and bad flags to errUsage.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errUsage
		}
		return errUsage
	}
	return nil
}

package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/lookout-status/lookout/accounts"
	"github.com/lookout-status/lookout/config"
	"github.com/lookout-status/lookout/store"
)

// The operator's commands for accounts and tokens. They write the data
// directory's database directly (a running server sees the change at
// once); there is no web endpoint to create the first owner.

// repeated is a flag that may be given several times.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

func cmdUser(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, "usage: lookout user create|passwd|list --data DIR ...\n")
		return errUsage
	}
	switch args[0] {
	case "create":
		return userCreate(ctx, args[1:], getenv, stdout, stderr)
	case "passwd":
		return userPasswd(ctx, args[1:], getenv, stdout, stderr)
	case "list":
		return userList(ctx, args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "lookout user: unknown subcommand %q (create, passwd, list)\n", args[0])
	return errUsage
}

// openAccounts opens the data directory's database and the accounts core
// over the organizations of cfgPath ("" : the named ones, unchecked).
func openAccounts(ctx context.Context, data, cfgPath string, getenv func(string) string, orgs []string) (*store.DB, *accounts.Service, []string, error) {
	var known []accounts.Org
	if cfgPath != "" {
		cfg, err := config.Load(cfgPath, getenv)
		if err != nil {
			return nil, nil, nil, err
		}
		known = accountOrgs(cfg)
		if len(orgs) == 0 {
			for _, o := range known {
				orgs = append(orgs, o.ID)
			}
		}
		for _, id := range orgs {
			if !hasOrg(known, id) {
				return nil, nil, nil, fmt.Errorf("organization %q is not in %s", id, cfgPath)
			}
		}
	} else {
		for _, id := range orgs {
			known = append(known, accounts.Org{ID: id})
		}
	}
	if err := os.MkdirAll(data, 0o700); err != nil {
		return nil, nil, nil, fmt.Errorf("create data dir: %w", err)
	}
	db, err := store.Open(ctx, filepath.Join(data, "lookout.db"), store.Options{})
	if err != nil {
		return nil, nil, nil, err
	}
	svc, err := accounts.New(accounts.Options{DB: db})
	if err != nil {
		db.Close()
		return nil, nil, nil, err
	}
	svc.SetOrgs(known)
	return db, svc, orgs, nil
}

func hasOrg(orgs []accounts.Org, id string) bool {
	for _, o := range orgs {
		if o.ID == id {
			return true
		}
	}
	return false
}

// newPassword is $LOOKOUT_PASSWORD, else the first line of stdin when it
// is not a terminal, else a generated one (printed once; generated is
// true).
func newPassword(getenv func(string) string) (pw string, generated bool, err error) {
	if v := getenv("LOOKOUT_PASSWORD"); v != "" {
		return v, false, nil
	}
	if fi, err := os.Stdin.Stat(); err == nil && fi.Mode()&os.ModeCharDevice == 0 {
		line, err := bufio.NewReader(io.LimitReader(os.Stdin, 4096)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", false, fmt.Errorf("read password from stdin: %w", err)
		}
		if line = strings.TrimRight(line, "\r\n"); line != "" {
			return line, false, nil
		}
	}
	return accounts.GeneratePassword(), true, nil
}

func cliAudit(ctx context.Context, db *store.DB, org, action, target, summary string) error {
	return db.AppendAudit(ctx, store.AuditEntry{Org: org, Actor: "cli", Via: "cli", Action: action,
		Target: target, Status: 0, Summary: summary})
}

func userCreate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("user create", stderr)
	data := fs.String("data", "./data", "data directory (SQLite database)")
	cfgPath := fs.String("config", "", "configuration file: checks --org and defaults to all its organizations")
	admin := fs.Bool("admin", false, "make the user an owner (same as --role owner)")
	role := fs.String("role", "viewer", "role in each organization: owner, admin, responder or viewer")
	var orgs repeated
	fs.Var(&orgs, "org", "organization to join (repeatable; default: every organization of --config)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: lookout user create --data DIR [--config FILE] [--admin | --role R] [--org ID]... USERNAME")
		return errUsage
	}
	if *admin {
		*role = accounts.RoleOwner
	}
	if !accounts.ValidRole(*role) {
		return fmt.Errorf("user create: %w", accounts.ErrRole)
	}
	username := fs.Arg(0)
	if len(orgs) == 0 && *cfgPath == "" {
		fmt.Fprintln(stderr, "lookout user create: name organizations with --org, or give --config to join them all")
		return errUsage
	}
	db, svc, orgIDs, err := openAccounts(ctx, *data, *cfgPath, getenv, orgs)
	if err != nil {
		return err
	}
	defer db.Close()
	pw, generated, err := newPassword(getenv)
	if err != nil {
		return err
	}
	if _, err := svc.CreateAccount(ctx, username, pw); err != nil {
		return fmt.Errorf("user create %s: %w", username, err)
	}
	for _, org := range orgIDs {
		a, err := svc.Account(ctx, username)
		if err != nil {
			return err
		}
		if err := db.PutMember(ctx, org, a.ID, *role); err != nil {
			return fmt.Errorf("user create %s: %w", username, err)
		}
		if err := cliAudit(ctx, db, org, "lookout user create", username, "added as "+*role+" (new account)"); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "created %s, %s of %s\n", username, *role, strings.Join(orgIDs, ", "))
	if generated {
		fmt.Fprintf(stdout, "password (shown once): %s\n", pw)
	}
	return nil
}

func userPasswd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("user passwd", stderr)
	data := fs.String("data", "./data", "data directory (SQLite database)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: lookout user passwd --data DIR USERNAME (password from $LOOKOUT_PASSWORD or stdin, else generated)")
		return errUsage
	}
	db, svc, _, err := openAccounts(ctx, *data, "", getenv, nil)
	if err != nil {
		return err
	}
	defer db.Close()
	pw, generated, err := newPassword(getenv)
	if err != nil {
		return err
	}
	username := fs.Arg(0)
	if err := svc.SetPassword(ctx, username, pw); err != nil {
		return fmt.Errorf("user passwd %s: %w", username, err)
	}
	ms, err := svc.Memberships(ctx, username)
	if err == nil {
		for _, m := range ms {
			if err := cliAudit(ctx, db, m.Org, "lookout user passwd", username, "password set; sessions signed out"); err != nil {
				return err
			}
		}
	}
	fmt.Fprintf(stdout, "password of %s changed; every session signed out\n", username)
	if generated {
		fmt.Fprintf(stdout, "password (shown once): %s\n", pw)
	}
	return nil
}

func userList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("user list", stderr)
	data := fs.String("data", "./data", "data directory (SQLite database)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	db, err := store.Open(ctx, filepath.Join(*data, "lookout.db"), store.Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	as, err := db.Accounts(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USERNAME\tTWO-FACTOR\tSTATUS\tMEMBERSHIPS")
	for _, a := range as {
		ms, err := db.MembershipsOf(ctx, a.ID)
		if err != nil {
			return err
		}
		var roles []string
		for _, m := range ms {
			roles = append(roles, m.Org+":"+m.Role)
		}
		tfa, status := "off", "active"
		if a.TOTPSecret != nil {
			tfa = "on"
		}
		if !a.DisabledAt.IsZero() {
			status = "disabled"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", a.Username, tfa, status, strings.Join(roles, " "))
	}
	return tw.Flush()
}

func cmdToken(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		fmt.Fprint(stderr, "usage: lookout token create --data DIR --org ID --role R --name N [--expires 30d] [--config FILE]\n")
		return errUsage
	}
	fs := newFlags("token create", stderr)
	data := fs.String("data", "./data", "data directory (SQLite database)")
	cfgPath := fs.String("config", "", "configuration file (checks --org)")
	org := fs.String("org", "", "organization the token acts in")
	role := fs.String("role", "", "owner, admin, responder or viewer")
	name := fs.String("name", "", "what the token is for (e.g. ci-deploy)")
	expires := fs.String("expires", "", "lifetime, e.g. 30d or 12h (default: never)")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if *org == "" || *role == "" || *name == "" {
		fmt.Fprintln(stderr, "lookout token create: --org, --role and --name are required")
		return errUsage
	}
	var exp time.Duration
	if *expires != "" {
		d, err := parseDays(*expires)
		if err != nil || d <= 0 {
			return fmt.Errorf("token create: --expires %q: want a duration such as 30d or 12h", *expires)
		}
		exp = d
	}
	db, svc, _, err := openAccounts(ctx, *data, *cfgPath, getenv, []string{*org})
	if err != nil {
		return err
	}
	defer db.Close()
	req := accounts.TokenRequest{Org: *org, Name: *name, Role: *role}
	if exp > 0 {
		req.Expires = time.Now().Add(exp)
	}
	tok, rec, err := svc.CreateToken(ctx, req)
	if err != nil {
		return fmt.Errorf("token create: %w", err)
	}
	if err := cliAudit(ctx, db, *org, "lookout token create", rec.ID,
		fmt.Sprintf("token %q created, role %s", *name, *role)); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "token %s (%s, %s of %s); shown once:\n", rec.ID, *name, *role, *org)
	fmt.Fprintln(stdout, tok)
	return nil
}

// parseDays is time.ParseDuration plus a "d" (days) unit.
func parseDays(v string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(v, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil {
			return 0, err
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	return time.ParseDuration(v)
}

// demoUser is the owner the demo makes so its console can be tried.
const demoUser = "demo"

// demoOwner makes demoUser an owner of every organization of cfg, with a
// fresh random password it returns, the first time a demo runs on a data
// directory; later runs on the same directory keep the account and return
// "" (the password was shown then).
func demoOwner(ctx context.Context, db *store.DB, svc *accounts.Service, cfg *config.Config) (string, error) {
	if _, err := svc.Account(ctx, demoUser); err == nil {
		return "", nil
	}
	pw := accounts.GeneratePassword()
	a, err := svc.CreateAccount(ctx, demoUser, pw)
	if err != nil {
		return "", err
	}
	for _, org := range cfg.Organizations {
		if err := db.PutMember(ctx, org.ID, a.ID, accounts.RoleOwner); err != nil {
			return "", err
		}
		if err := cliAudit(ctx, db, org.ID, "lookout demo", demoUser, "added as owner (demo account)"); err != nil {
			return "", err
		}
	}
	return pw, nil
}

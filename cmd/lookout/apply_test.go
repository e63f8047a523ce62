package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lookout-status/lookout/config"
	"github.com/lookout-status/lookout/web"
)

// Tokens of the apply test; the serve child inherits them.
const (
	applyAdminToken  = "acme-admin-apply-0123456789abcdef"
	applyViewerToken = "acme-viewer-apply-0123456789abcdef"
	applyProbeKey    = "probe-key-of-acme-0123456789"
)

// applyBase is the operator's --config: acme with an admin and a viewer
// token, globex beside it.
const applyBase = `organizations:
  - id: acme
    name: Acme
    egress: {allow: ["127.0.0.0/8"]}
    users: [{id: olga}, {id: vic}]
    tokens:
      - {id: admin, user: olga, token: "${APPLY_ADMIN_TOKEN}", role: admin}
      - {id: viewer, user: vic, token: "${APPLY_VIEWER_TOKEN}", role: viewer}
    components:
      - {id: api, name: API}
  - id: globex
    users: [{id: gwen, slack_id: U0GWEN}]
    components:
      - {id: web, name: Web}
`

// applyFile is acme's configuration as its admin applies it: a new
// component with a probe whose header is a secret of acme's namespace.
const applyFile = `organizations:
  - id: acme
    name: Acme
    egress: {allow: ["127.0.0.1/32"]}
    users: [{id: olga}, {id: vic}]
    components:
      - {id: api, name: API}
      - {id: db, name: Database, group: Backend}
    probes:
      - id: db-tcp
        component: db
        interval: 1h
        tcp: {address: "%s"}
      - id: api-http
        component: api
        interval: 1h
        http:
          url: http://%[1]s/
          headers: {X-Key: "${LOOKOUT_ORG_ACME_PROBE_KEY}"}
`

// lookoutBinary runs this test binary as `lookout ARGS...` with extra
// environment, and returns its output and exit status.
func lookoutBinary(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), "LOOKOUT_AS_MAIN=1", "LOOKOUT_ARGS="+strings.Join(args, " ")), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("run lookout %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

func componentsJSON(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/api/v2/components.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestApplyThroughTheBinary drives `lookout apply` against `lookout serve`,
// both real processes: a dry run changes nothing; an apply adds a component
// that the public API then shows, survives SIGHUP and a restart; broken or
// overreaching files are refused with their lines and change nothing.
func TestApplyThroughTheBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	t.Setenv("APPLY_ADMIN_TOKEN", applyAdminToken)
	t.Setenv("APPLY_VIEWER_TOKEN", applyViewerToken)
	t.Setenv("LOOKOUT_ORG_ACME_PROBE_KEY", applyProbeKey)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	cfgPath := writeFile(t, "lookout.yaml", applyBase)
	data := t.TempDir()
	srv := startServe(t, cfgPath, data)
	base := "http://" + srv.addr
	dir := t.TempDir()
	file := filepath.Join(dir, "acme.yaml")
	if err := os.WriteFile(file, []byte(fmt.Sprintf(applyFile, ln.Addr().String())), 0o600); err != nil {
		t.Fatal(err)
	}
	admin := []string{"LOOKOUT_TOKEN=" + applyAdminToken}
	applied := filepath.Join(data, "applied", "acme.yaml")

	// A dry run prints the plan and changes nothing.
	out, errOut, code := lookoutBinary(t, admin, "apply", "-f", file, "--server", base, "--dry-run")
	wantPlan := []string{"~ organization acme (egress)\n", "+ component acme/db\n", "+ probe acme/api-http\n", "+ probe acme/db-tcp\n",
		"Plan: 3 to create, 1 to update, 0 to delete.\n", "dry run: nothing applied\n"}
	for _, w := range wantPlan {
		if code != 0 || !strings.Contains(out, w) {
			t.Fatalf("dry run: exit %d, stdout:\n%s\nstderr:\n%s\nwant %q", code, out, errOut, w)
		}
	}
	if _, err := os.Stat(applied); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a dry run wrote %s (%v)", applied, err)
	}
	if body := componentsJSON(t, base); strings.Contains(body, "Database") {
		t.Errorf("after a dry run the page shows the new component: %s", body)
	}

	// Applying it: the plan, "applied", and the component on the public API.
	out, errOut, code = lookoutBinary(t, admin, "apply", "-f", file, "--server", base)
	if code != 0 || !strings.Contains(out, "+ component acme/db\n") || !strings.HasSuffix(out, "applied\n") {
		t.Fatalf("apply: exit %d, stdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	waitFor(t, base+"/api/v2/components.json", 15*time.Second, func(b string) bool { return strings.Contains(b, `"name": "Database"`) })
	if fi, err := os.Stat(applied); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("kept file: %v, mode %v; want 0600", err, fi)
	}
	// Applying the same file again changes nothing.
	out, _, code = lookoutBinary(t, admin, "apply", "-f", file, "--server", base)
	if code != 0 || !strings.HasPrefix(out, "No changes.\n") {
		t.Errorf("second apply: exit %d, stdout %q; want No changes", code, out)
	}

	refusals := []struct {
		name, body string
		env        []string
		want       []string // on stderr
	}{
		{"broken file", strings.Replace(fmt.Sprintf(applyFile, ln.Addr().String()), "interval: 1h\n        tcp", "interval: soon\n        tcp", 1), admin,
			[]string{file + `:12: organizations[0].probes[0].interval: invalid duration "soon"`}},
		{"another organization", applyBase, admin,
			[]string{file + `:3: organizations[0].egress.allow[0]`, // acme's egress is fine: only globex is refused
				file + `:11: organizations[1].id: this token acts for organization "acme"`, file + `:6: organizations[0].tokens: API tokens are the operator's`}},
		{"server settings and wider egress", "storage: {flush_size: 1}\n" + strings.Replace(fmt.Sprintf(applyFile, ln.Addr().String()), "127.0.0.1/32", "10.0.0.0/8", 1), admin,
			[]string{file + `:1: storage: server-wide settings are the operator's`, file + `:5: organizations[0].egress.allow[0]: egress to 10.0.0.0/8 is not allowed`}},
		{"an operator's secret", strings.Replace(fmt.Sprintf(applyFile, ln.Addr().String()), "LOOKOUT_ORG_ACME_PROBE_KEY", "APPLY_ADMIN_TOKEN", 1), admin,
			[]string{`environment variable APPLY_ADMIN_TOKEN is not available to an applied configuration: reference variables named LOOKOUT_ORG_ACME_...`}},
		{"another organization's Slack member", strings.Replace(fmt.Sprintf(applyFile, ln.Addr().String()), "{id: vic}", "{id: vic, slack_id: U0GWEN}", 1), admin,
			[]string{file + `:5: organizations[0].users[1].slack_id: Slack member U0GWEN is linked to a user of another organization`}},
		{"viewer", fmt.Sprintf(applyFile, ln.Addr().String()), []string{"LOOKOUT_TOKEN=" + applyViewerToken},
			[]string{"not allowed: role viewer may not do this; admin or above may"}},
	}
	for _, r := range refusals {
		t.Run(r.name, func(t *testing.T) {
			before, _ := os.ReadFile(applied)
			f := filepath.Join(t.TempDir(), "acme.yaml")
			if err := os.WriteFile(f, []byte(r.body), 0o600); err != nil {
				t.Fatal(err)
			}
			out, errOut, code := lookoutBinary(t, r.env, "apply", "-f", f, "--server", base)
			if code != 1 {
				t.Errorf("exit %d, want 1; stdout %q", code, out)
			}
			errOut = strings.ReplaceAll(errOut, f, file)
			for _, w := range r.want {
				if strings.HasSuffix(w, "egress.allow[0]") {
					if strings.Contains(errOut, w) {
						t.Errorf("stderr names %q, which is allowed:\n%s", w, errOut)
					}
					continue
				}
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
			if after, _ := os.ReadFile(applied); !bytes.Equal(before, after) {
				t.Errorf("the kept file changed")
			}
			if body := componentsJSON(t, base); !strings.Contains(body, `"name": "Database"`) {
				t.Errorf("the running config lost the applied component: %s", body)
			}
		})
	}

	// SIGHUP reloads --config with the applied file over it.
	if err := srv.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	poll(t, 15*time.Second, "a second reload", func() bool { return strings.Count(srv.stderr.String(), `"msg":"config reloaded"`) >= 2 }, srv.stderr.String)
	if body := componentsJSON(t, base); !strings.Contains(body, `"name": "Database"`) {
		t.Errorf("after SIGHUP the applied component is gone: %s", body)
	}
	if strings.Contains(srv.stderr.String(), applyProbeKey) || strings.Contains(srv.stderr.String(), applyAdminToken) {
		t.Errorf("the server logged a secret")
	}

	// A restart keeps it.
	srv.cmd.Process.Signal(syscall.SIGTERM)
	srv.cmd.Wait()
	srv = startServe(t, cfgPath, data)
	if body := componentsJSON(t, "http://"+srv.addr); !strings.Contains(body, `"name": "Database"`) {
		t.Errorf("after a restart the applied component is gone: %s", body)
	}
	if m := regexp.MustCompile(`"msg":"config applied"[^\n]*"changes":(\d+)`).FindStringSubmatch(srv.stderr.String()); m == nil || m[1] != "0" {
		t.Errorf("the restart applied changes to the database: %v", m)
	}
}

// TestAppliedEnvNamespaces: an applied file reads only its organization's
// variables, and "a" cannot read "a-b"'s although its prefix is shorter.
func TestAppliedEnvNamespaces(t *testing.T) {
	base, err := config.Parse("base.yaml", []byte("organizations:\n  - {id: a}\n  - {id: a-b}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	getenv := func(name string) string { return "value of " + name }
	cases := []struct {
		org, name string
		visible   bool
	}{
		{"a", "LOOKOUT_ORG_A_SLACK", true},
		{"a", "LOOKOUT_ORG_A_B_SLACK", false},
		{"a-b", "LOOKOUT_ORG_A_B_SLACK", true},
		{"a-b", "LOOKOUT_ORG_A_SLACK", false},
		{"a", "AWS_SECRET_ACCESS_KEY", false},
		{"a", "LOOKOUT_ORG_A", false},
	}
	for _, c := range cases {
		env, _ := appliedEnv(base, c.org, getenv)
		if got := env(c.name) != ""; got != c.visible {
			t.Errorf("org %s reading %s: got visible %v, want %v", c.org, c.name, got, c.visible)
		}
	}
}

// TestBrokenAppliedFileAtStart: an applied file that no longer loads (the
// operator narrowed egress) stops the load with an error naming it.
func TestBrokenAppliedFileAtStart(t *testing.T) {
	dir := t.TempDir()
	cfgPath := writeFile(t, "lookout.yaml", "organizations:\n  - {id: acme}\n")
	applied := filepath.Join(dir, "applied", "acme.yaml")
	if err := writeAtomic(applied, []byte("organizations:\n  - id: acme\n    egress: {allow: [10.0.0.0/8]}\n")); err != nil {
		t.Fatal(err)
	}
	l := &layered{base: func() (*config.Config, error) { return config.Load(cfgPath, nil) }, dir: filepath.Join(dir, "applied")}
	_, err := l.load()
	if err == nil || !strings.Contains(err.Error(), "fix or remove "+applied) || !strings.Contains(err.Error(), "egress to 10.0.0.0/8 is not allowed") {
		t.Fatalf("got %v, want the file named and the egress refused", err)
	}
	if err := os.Remove(applied); err != nil {
		t.Fatal(err)
	}
	if cfg, err := l.load(); err != nil || len(cfg.Organizations) != 1 {
		t.Fatalf("without the applied file: got %v, want --config alone", err)
	}
}

// TestApplyRefusesAnotherOrganizationsSlackMember: an applied file may not
// link a Slack member another organization's user is linked to — by the
// operator's file or by that organization's own applied file — unless the
// operator linked them in this organization too. The refusal is a 403
// naming the line.
func TestApplyRefusesAnotherOrganizationsSlackMember(t *testing.T) {
	dir := t.TempDir()
	cfgPath := writeFile(t, "lookout.yaml", `organizations:
  - id: acme
    users: [{id: olga}, {id: pat, slack_id: U0PAT}]
  - id: globex
    users: [{id: gina, slack_id: U0GINA}, {id: pat, slack_id: U0PAT}]
  - id: initech
    users: [{id: ian}]
`)
	if err := writeAtomic(filepath.Join(dir, "applied", "initech.yaml"), []byte("organizations:\n  - id: initech\n    users: [{id: ian, slack_id: U0IAN}]\n")); err != nil {
		t.Fatal(err)
	}
	l := &layered{base: func() (*config.Config, error) { return config.Load(cfgPath, nil) }, dir: filepath.Join(dir, "applied")}
	tests := []struct {
		name, users string
		want        string // "" for accepted
	}{
		{"own members", "[{id: olga, slack_id: U0OLGA}, {id: pat, slack_id: U0PAT}]", ""},
		{"the operator's link", "[{id: olga}, {id: patrick, slack_id: U0PAT}]", ""},
		{"another organization's member", "\n      - {id: olga}\n      - {id: mallory, slack_id: U0GINA}",
			"line 5: organizations[0].users[1].slack_id: Slack member U0GINA is linked to a user of another organization"},
		{"a member another applied file linked", "[{id: olga, slack_id: U0IAN}]",
			"line 3: organizations[0].users[0].slack_id: Slack member U0IAN is linked"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := "organizations:\n  - id: acme\n    users: " + tc.users + "\n"
			_, _, err := l.loadWith("acme", []byte(body))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("got %v, want accepted", err)
				}
				return
			}
			var ce *web.ConfigError
			if !errors.As(err, &ce) || !ce.Forbidden || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want a forbidden ConfigError with %q", err, tc.want)
			}
		})
	}
}

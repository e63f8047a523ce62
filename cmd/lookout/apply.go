package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"

	"github.com/lookout-status/lookout/config"
	"github.com/lookout-status/lookout/store"
	"github.com/lookout-status/lookout/web"
)

// Applied configurations: `lookout apply` sends one organization's
// configuration to POST /api/v1/config; the server keeps it in
// <data>/applied/<org>.yaml, where it replaces that organization's section
// of --config whenever the configuration is loaded (start, SIGHUP, apply).
// The operator keeps what is the server's: server-wide settings, API
// tokens, how far egress may reach, the Slack app's signing secret. See
// docs/configuration.md.

// appliedDir is where applied configurations live, under the data dir.
const appliedDir = "applied"

// orgIDRE is what an organization id can be (config's id rule): safe as a
// file name.
var orgIDRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// layered loads the operator's configuration and, over it, every applied
// one.
type layered struct {
	base   func() (*config.Config, error)
	dir    string // <data>/applied
	getenv func(string) string
}

// load is the running configuration: --config with each organization's
// applied file (if any) in place of its section. A broken applied file is
// an error naming it (it was valid when applied: the operator's file, or
// the environment, has changed since).
func (l *layered) load() (*config.Config, error) {
	cfg, _, err := l.loadWith("", nil)
	return cfg, err
}

// loadWith is load with body as org's applied file instead of the one on
// disk. Problems of body are a *web.ConfigError; it also returns org's
// organization as body makes it.
func (l *layered) loadWith(org string, body []byte) (*config.Config, *config.Organization, error) {
	base, err := l.base()
	if err != nil {
		return nil, nil, err
	}
	out := *base
	out.Organizations = slices.Clone(base.Organizations)
	var mine *config.Organization
	for i, o := range base.Organizations {
		var data []byte
		name := filepath.Join(l.dir, o.ID+".yaml")
		if o.ID == org && body != nil {
			data, name = body, o.ID+".yaml"
		} else {
			data, err = os.ReadFile(name)
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				return nil, nil, fmt.Errorf("read applied configuration: %w", err)
			}
		}
		applied, err := overlay(base, o.ID, name, data, l.getenv)
		if err != nil {
			if o.ID == org && body != nil {
				return nil, nil, err
			}
			return nil, nil, fmt.Errorf("applied configuration of %s no longer loads (fix or remove %s): %w", o.ID, name, err)
		}
		out.Organizations[i] = applied
		if o.ID == org {
			mine = &out.Organizations[i]
		}
	}
	if org != "" && mine == nil {
		return nil, nil, &web.ConfigError{Forbidden: true, Problems: []web.ConfigProblem{{Line: 1,
			Message: fmt.Sprintf("organization %q is not in the server's configuration", org)}}}
	}
	if body != nil {
		if err := slackIDsTaken(&out, base, org, body); err != nil {
			return nil, nil, err
		}
	}
	return &out, mine, nil
}

// slackIDsTaken refuses an applied file of org that links a Slack member
// already linked to another organization's user: one Slack workspace
// serves the server, so that would let org's users claim another
// organization's person. Only the operator links one person in several
// organizations: a slack_id the operator's own section of org holds stays
// allowed.
func slackIDsTaken(cfg, base *config.Config, org string, body []byte) error {
	vouched := map[string]bool{}
	for _, o := range base.Organizations {
		if o.ID == org {
			for _, u := range o.Users {
				vouched[u.SlackID] = true
			}
		}
	}
	taken := map[string]bool{}
	var mine *config.Organization
	for i, o := range cfg.Organizations {
		if o.ID == org {
			mine = &cfg.Organizations[i]
			continue
		}
		for _, u := range o.Users {
			if u.SlackID != "" {
				taken[u.SlackID] = true
			}
		}
	}
	if mine == nil {
		return nil
	}
	var root yaml.Node
	_ = yaml.Unmarshal(body, &root) // it parsed already
	var probs []web.ConfigProblem
	for i, u := range mine.Users {
		if u.SlackID == "" || !taken[u.SlackID] || vouched[u.SlackID] {
			continue
		}
		path := fmt.Sprintf("organizations[0].users[%d].slack_id", i)
		probs = append(probs, web.ConfigProblem{Line: line(&root, path), Path: path,
			Message: fmt.Sprintf("Slack member %s is linked to a user of another organization; one Slack workspace serves this server, so only its operator may link a person in several organizations", u.SlackID)})
	}
	if len(probs) > 0 {
		return &web.ConfigError{Forbidden: true, Problems: probs}
	}
	return nil
}

// appliedEnvPrefix is the prefix of the environment variables an applied
// configuration of org may reference: LOOKOUT_ORG_<ID>_ with the id in
// upper case and "-" as "_".
func appliedEnvPrefix(org string) string {
	return "LOOKOUT_ORG_" + strings.ToUpper(strings.ReplaceAll(org, "-", "_")) + "_"
}

// appliedEnv resolves ${VAR} in org's applied file: only variables in org's
// namespace, and of those only the ones no other organization's longer
// prefix claims (org "a" may not read LOOKOUT_ORG_A_B_X, "a-b"'s). The
// rest of the server's environment — the operator's secrets — reads as
// unset.
func appliedEnv(base *config.Config, org string, getenv func(string) string) (func(string) string, func(string) bool) {
	mine := appliedEnvPrefix(org)
	allowed := func(name string) bool {
		if !strings.HasPrefix(name, mine) {
			return false
		}
		for _, o := range base.Organizations {
			if p := appliedEnvPrefix(o.ID); o.ID != org && len(p) > len(mine) && strings.HasPrefix(name, p) {
				return false
			}
		}
		return true
	}
	return func(name string) string {
		if !allowed(name) || getenv == nil {
			return ""
		}
		return getenv(name)
	}, allowed
}

var unsetVarRE = regexp.MustCompile(`^environment variable ([A-Za-z_][A-Za-z0-9_]*) is not set or is empty$`)

// overlay validates data as org's applied configuration over base and
// returns the organization it makes: its own sections, with the operator's
// API tokens.
func overlay(base *config.Config, org, name string, data []byte, getenv func(string) string) (config.Organization, error) {
	var baseOrg config.Organization
	for _, o := range base.Organizations {
		if o.ID == org {
			baseOrg = o
		}
	}
	var root yaml.Node
	if yaml.Unmarshal(data, &root) == nil && len(root.Content) == 1 {
		if probs := operatorOwned(root.Content[0], org, baseOrg); len(probs) > 0 {
			return config.Organization{}, &web.ConfigError{Forbidden: true, Problems: probs}
		}
	}
	env, allowed := appliedEnv(base, org, getenv)
	cfg, err := config.Parse(name, data, env)
	if err != nil {
		ces := config.Errors(err)
		if len(ces) == 0 {
			return config.Organization{}, err
		}
		ce := &web.ConfigError{}
		for _, e := range ces {
			msg := e.Msg
			if m := unsetVarRE.FindStringSubmatch(msg); m != nil && !allowed(m[1]) {
				msg = fmt.Sprintf("environment variable %s is not available to an applied configuration: reference variables named %s... (set on the server by its operator)", m[1], appliedEnvPrefix(org))
			}
			ce.Problems = append(ce.Problems, web.ConfigProblem{Line: e.Line, Path: e.Path, Message: msg})
		}
		return config.Organization{}, ce
	}
	if len(cfg.Organizations) != 1 || cfg.Organizations[0].ID != org {
		// operatorOwned refused other ids; a file with none cannot parse.
		return config.Organization{}, &web.ConfigError{Forbidden: true, Problems: []web.ConfigProblem{{Line: 1,
			Path: "organizations", Message: fmt.Sprintf("the file must hold exactly one organization, %q", org)}}}
	}
	o := cfg.Organizations[0]
	o.Tokens = baseOrg.Tokens
	var probs []web.ConfigProblem
	for _, t := range baseOrg.Tokens {
		if _, ok := o.User(t.User); !ok {
			probs = append(probs, web.ConfigProblem{Line: line(&root, "organizations[0].users"), Path: "organizations[0].users",
				Message: fmt.Sprintf("user %q is missing: an API token of the server's configuration acts as them", t.User)})
		}
	}
	// What must stay unique across organizations.
	hosts := map[string]bool{}
	ingest := map[string]bool{}
	for _, other := range base.Organizations {
		if other.ID == org {
			continue
		}
		for _, p := range other.Pages {
			hosts[strings.ToLower(p.Host)] = true
		}
		if am := other.Integrations.Alertmanager; am != nil {
			ingest[am.Token.Reveal()] = true
		}
		for _, t := range other.Tokens {
			ingest[t.Token.Reveal()] = true
		}
	}
	for i, p := range o.Pages {
		if p.Host != "" && hosts[strings.ToLower(p.Host)] {
			path := fmt.Sprintf("organizations[0].pages[%d].host", i)
			probs = append(probs, web.ConfigProblem{Line: line(&root, path), Path: path,
				Message: fmt.Sprintf("host %q is already another organization's", p.Host)})
		}
	}
	if am := o.Integrations.Alertmanager; am != nil && ingest[am.Token.Reveal()] {
		path := "organizations[0].integrations.alertmanager.token"
		probs = append(probs, web.ConfigProblem{Line: line(&root, path), Path: path, Message: "this token is already in use; every token must be unique"})
	}
	if len(probs) > 0 {
		return config.Organization{}, &web.ConfigError{Problems: probs}
	}
	return o, nil
}

// operatorOwned refuses, in the YAML tree of an applied file, what only
// the server's operator may set: server-wide settings, another
// organization, API tokens, egress beyond the operator's, the Slack app's
// signing secret.
func operatorOwned(top *yaml.Node, org string, baseOrg config.Organization) []web.ConfigProblem {
	var probs []web.ConfigProblem
	add := func(n *yaml.Node, path, format string, args ...any) {
		probs = append(probs, web.ConfigProblem{Line: n.Line, Path: path, Message: fmt.Sprintf(format, args...)})
	}
	if top.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], top.Content[i+1]
		if k.Value != "organizations" {
			add(k, k.Value, "server-wide settings are the operator's (--config); an applied file holds only organizations")
			continue
		}
		if v.Kind != yaml.SequenceNode {
			continue
		}
		for j, item := range v.Content {
			path := "organizations[" + strconv.Itoa(j) + "]"
			if item.Kind != yaml.MappingNode {
				continue
			}
			id := mapValue(item, "id")
			if id != nil && id.Value != org {
				add(id, path+".id", "this token acts for organization %q: the file may hold only that one", org)
				continue
			}
			if t := mapKey(item, "tokens"); t != nil {
				add(t, path+".tokens", "API tokens are the operator's (--config) or made in the console, never applied")
			}
			if allow := mapValue(mapValue(item, "egress"), "allow"); allow != nil && allow.Kind == yaml.SequenceNode {
				for n, p := range allow.Content {
					pfx, err := netip.ParsePrefix(p.Value)
					if err != nil {
						continue // the loader names it
					}
					if !within(pfx, baseOrg.Egress) {
						add(p, fmt.Sprintf("%s.egress.allow[%d]", path, n),
							"egress to %s is not allowed by the server's operator (allowed: %s)", p.Value, prefixes(baseOrg.Egress))
					}
				}
			}
			if ns := mapValue(item, "notifiers"); ns != nil && ns.Kind == yaml.SequenceNode {
				for n, nn := range ns.Content {
					if s := mapKey(mapValue(nn, "slack"), "signing_secret"); s != nil {
						add(s, fmt.Sprintf("%s.notifiers[%d].slack.signing_secret", path, n),
							"the Slack app's signing secret is the operator's (one Slack app per server)")
					}
				}
			}
		}
	}
	return probs
}

func mapKey(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i]
		}
	}
	return nil
}

func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// line is the line of a simple path (a.b[0].c) in the tree, or of its
// deepest existing ancestor.
func line(root *yaml.Node, path string) int {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	best := 1
	if n != nil && n.Line > 0 {
		best = n.Line
	}
	for _, part := range strings.Split(strings.ReplaceAll(path, "[", ".["), ".") {
		if n == nil || part == "" {
			continue
		}
		if idx, ok := strings.CutPrefix(part, "["); ok {
			i, _ := strconv.Atoi(strings.TrimSuffix(idx, "]"))
			if n.Kind != yaml.SequenceNode || i >= len(n.Content) {
				return best
			}
			n = n.Content[i]
		} else {
			if k := mapKey(n, part); k != nil {
				best = k.Line
			}
			n = mapValue(n, part)
		}
		if n != nil && n.Line > 0 && n.Kind != yaml.ScalarNode {
			best = max(best, n.Line)
		}
	}
	return best
}

// within reports whether p lies inside one of the allowed prefixes.
func within(p netip.Prefix, allowed []netip.Prefix) bool {
	for _, a := range allowed {
		if a.Bits() <= p.Bits() && a.Contains(p.Addr()) {
			return true
		}
	}
	return false
}

func prefixes(ps []netip.Prefix) string {
	if len(ps) == 0 {
		return "none"
	}
	var s []string
	for _, p := range ps {
		s = append(s, p.String())
	}
	return strings.Join(s, ", ")
}

// applier implements web.ConfigApplier: plan, keep and apply live.
type applier struct {
	mu     sync.Mutex // one apply at a time
	layers *layered
	db     *store.DB
	// running is the configuration now running; reload applies a new one
	// live (serve's SIGHUP path).
	running func() *config.Config
	reload  func(ctx context.Context, cfg *config.Config) error
}

// ApplyConfig implements web.ConfigApplier.
func (a *applier) ApplyConfig(ctx context.Context, org string, body []byte, dryRun bool) (web.ConfigPlan, error) {
	if !orgIDRE.MatchString(org) {
		return web.ConfigPlan{}, fmt.Errorf("apply configuration: invalid organization id %q", org)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	next, mine, err := a.layers.loadWith(org, body)
	if err != nil {
		return web.ConfigPlan{}, err
	}
	dbPlan, err := a.db.Plan(ctx, next)
	if err != nil {
		return web.ConfigPlan{}, err
	}
	var plan web.ConfigPlan
	for _, c := range dbPlan.Changes {
		switch {
		case c.Kind == "organization" && c.ID == org:
			plan.Changes = append(plan.Changes, web.ConfigChange{Op: c.Op, Kind: c.Kind, ID: org, Fields: c.Fields})
		case c.Kind != "organization" && c.Org == org:
			plan.Changes = append(plan.Changes, web.ConfigChange{Op: c.Op, Kind: c.Kind, ID: c.Org + "/" + c.ID, Fields: c.Fields})
		}
	}
	var before config.Organization
	for _, o := range a.running().Organizations {
		if o.ID == org {
			before = o
		}
	}
	plan.Changes = append(plan.Changes, configChanges(org, before, *mine)...)
	if dryRun {
		return plan, nil
	}
	path := filepath.Join(a.layers.dir, org+".yaml")
	old, err := os.ReadFile(path)
	hadOld := err == nil
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return web.ConfigPlan{}, fmt.Errorf("read applied configuration: %w", err)
	}
	if err := writeAtomic(path, body); err != nil {
		return web.ConfigPlan{}, err
	}
	if err := a.reload(ctx, next); err != nil {
		// Keep the disk as it was: the running configuration is unchanged.
		if hadOld {
			err = errors.Join(err, writeAtomic(path, old))
		} else {
			err = errors.Join(err, os.Remove(path))
		}
		return web.ConfigPlan{}, fmt.Errorf("apply configuration of %s: %w", org, err)
	}
	plan.Applied = true
	return plan, nil
}

// configChanges lists what changes in the sections the database does not
// hold (notifiers, users, teams, maintenances, incident policy,
// integrations), by id.
func configChanges(org string, before, after config.Organization) []web.ConfigChange {
	var out []web.ConfigChange
	out = append(out, diffByID(org, "notifier", before.Notifiers, after.Notifiers, func(n config.Notifier) string { return n.ID })...)
	out = append(out, diffByID(org, "user", before.Users, after.Users, func(u config.User) string { return u.ID })...)
	out = append(out, diffByID(org, "team", before.Teams, after.Teams, func(t config.Team) string { return t.ID })...)
	out = append(out, diffByID(org, "maintenance", before.Maintenances, after.Maintenances, func(m config.Maintenance) string { return m.ID })...)
	if f := fieldDiff(before.Policy, after.Policy); len(f) > 0 {
		out = append(out, web.ConfigChange{Op: "update", Kind: "incidents", ID: org + "/policy", Fields: f})
	}
	if f := fieldDiff(before.Integrations, after.Integrations); len(f) > 0 {
		out = append(out, web.ConfigChange{Op: "update", Kind: "integrations", ID: org + "/integrations", Fields: f})
	}
	return out
}

func diffByID[T any](org, kind string, before, after []T, id func(T) string) []web.ConfigChange {
	var out, deletes []web.ConfigChange
	old := map[string]T{}
	for _, b := range before {
		old[id(b)] = b
	}
	seen := map[string]bool{}
	for _, a := range after {
		k := id(a)
		seen[k] = true
		b, ok := old[k]
		switch {
		case !ok:
			out = append(out, web.ConfigChange{Op: "create", Kind: kind, ID: org + "/" + k})
		case !reflect.DeepEqual(a, b):
			out = append(out, web.ConfigChange{Op: "update", Kind: kind, ID: org + "/" + k, Fields: fieldDiff(b, a)})
		}
	}
	for _, b := range before {
		if k := id(b); !seen[k] {
			deletes = append(deletes, web.ConfigChange{Op: "delete", Kind: kind, ID: org + "/" + k})
		}
	}
	return append(out, deletes...)
}

// fieldDiff names the top-level fields of two structs that differ, in
// snake case.
func fieldDiff(a, b any) []string {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	if va.Kind() != reflect.Struct {
		if !reflect.DeepEqual(a, b) {
			return []string{"value"}
		}
		return nil
	}
	var out []string
	for i := 0; i < va.NumField(); i++ {
		if !va.Type().Field(i).IsExported() {
			continue
		}
		if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			out = append(out, snake(va.Type().Field(i).Name))
		}
	}
	return out
}

func snake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if r >= 'A' && r <= 'Z' {
			if i > 0 {
				b.WriteByte('_')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// writeAtomic replaces path with data: a temporary file in the same
// directory, synced, renamed over path, and the directory synced, so a
// crash leaves the old file or the new one, never a torn one.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a successful rename there is nothing to remove
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("replace %s: %w", path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// renderPlan prints changes like `lookout check --data`: one change a line
// ("+ component acme/db", "~ probe acme/api-http (interval_ms)", "- notifier
// acme/old"), then a summary.
func renderPlan(w io.Writer, changes []web.ConfigChange) {
	if len(changes) == 0 {
		fmt.Fprintln(w, "No changes.")
		return
	}
	n := map[string]int{}
	for _, c := range changes {
		sign := map[string]string{"create": "+", "update": "~", "delete": "-"}[c.Op]
		line := sign + " " + c.Kind + " " + c.ID
		if c.Op == "update" && len(c.Fields) > 0 {
			line += " (" + strings.Join(c.Fields, ", ") + ")"
		}
		fmt.Fprintln(w, line)
		n[c.Op]++
	}
	fmt.Fprintf(w, "Plan: %d to create, %d to update, %d to delete.\n", n["create"], n["update"], n["delete"])
}

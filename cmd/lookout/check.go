package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/lookout-status/lookout/clock"
	"github.com/lookout-status/lookout/config"
	"github.com/lookout-status/lookout/probes"
	"github.com/lookout-status/lookout/store"
)

func cmdCheck(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("check", stderr)
	cfgPath := fs.String("config", "", "configuration file (YAML)")
	data := fs.String("data", "", "data directory: also print what applying would change in its database")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *cfgPath == "" {
		fmt.Fprintln(stderr, "lookout check: --config is required")
		return errUsage
	}
	cfg, err := config.Load(*cfgPath, getenv)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: OK\n", cfg.Path)
	describeConfig(stdout, cfg)
	if *data == "" {
		return nil
	}
	path := filepath.Join(*data, "lookout.db")
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(stdout, "\n%s does not exist yet: everything above would be created.\n", path)
		return nil
	}
	db, err := store.Open(ctx, path, store.Options{Now: clock.Real{}.Now})
	if err != nil {
		return err
	}
	defer db.Close()
	plan, err := db.Plan(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout)
	if plan.Empty() {
		fmt.Fprintln(stdout, "No changes: the database already matches this config.")
		return nil
	}
	fmt.Fprintf(stdout, "Applying would change %s:\n%s", path, plan.String())
	return nil
}

// describeConfig prints organizations, components and probes, the way an
// operator reads them before applying.
func describeConfig(w io.Writer, cfg *config.Config) {
	for _, org := range cfg.Organizations {
		fmt.Fprintf(w, "\norganization %s (%q): %d page(s), %d component(s), %d probe(s)\n",
			org.ID, org.Name, len(org.Pages), len(org.Components), len(org.Probes))
		if len(org.Egress) > 0 {
			var ps []string
			for _, p := range org.Egress {
				ps = append(ps, p.String())
			}
			fmt.Fprintf(w, "  egress also allowed to: %s\n", strings.Join(ps, ", "))
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, c := range org.Components {
			group := c.Group
			if group == "" {
				group = "-"
			}
			vis := "public"
			if c.Private {
				vis = "private"
			}
			fmt.Fprintf(tw, "  component\t%s\t%q\tgroup %s\t%s\n", c.ID, c.Name, group, vis)
		}
		for _, p := range org.Probes {
			fmt.Fprintf(tw, "  probe\t%s\t%s\tevery %s, timeout %s\t→ %s\t%s\n",
				p.ID, p.Kind, p.Interval, p.Timeout, p.Component, target(p.Spec))
		}
		tw.Flush()
	}
}

// target describes what a probe checks, when its kind can say.
func target(s probes.Spec) string {
	if t, ok := s.(interface{ Target() string }); ok {
		return t.Target()
	}
	return ""
}

func cmdProbe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) < 1 || args[0] != "run" {
		fmt.Fprintln(stderr, "usage: lookout probe run ID --config FILE")
		return errUsage
	}
	args = args[1:]
	var id string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		id, args = args[0], args[1:]
	}
	fs := newFlags("probe run", stderr)
	cfgPath := fs.String("config", "", "configuration file (YAML)")
	region := fs.String("region", "local", "region name to report")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if id == "" && fs.NArg() > 0 {
		id = fs.Arg(0)
	}
	if id == "" || *cfgPath == "" {
		fmt.Fprintln(stderr, "usage: lookout probe run ID --config FILE")
		return errUsage
	}
	cfg, err := config.Load(*cfgPath, getenv)
	if err != nil {
		return err
	}
	org, p, err := findProbe(cfg, id)
	if err != nil {
		return err
	}
	if p.Kind == "heartbeat" {
		return fmt.Errorf("probe %s is a heartbeat: it is pushed to by the monitored job (POST /heartbeats/TOKEN), not run", p.ID)
	}
	clk := clock.Real{}
	env := &probes.Env{Clock: clk, Region: *region, Egress: probes.NewEgress(org.Egress), MaxBody: probes.DefaultMaxBody}
	runCtx, cancel := context.WithTimeout(ctx, p.Timeout)
	defer cancel()
	start := clk.Now()
	res := p.Spec.Probe(runCtx, probes.Run{Env: env, Organization: org.ID, ProbeID: p.ID, Since: start, Timeout: p.Timeout})
	res.ProbeID, res.Region, res.Started = p.ID, *region, start
	if res.Duration == 0 {
		res.Duration = clk.Now().Sub(start)
	}
	printResult(stdout, org.ID, p, res)
	if res.Outcome == probes.Down {
		return &exitError{code: 1, err: fmt.Errorf("probe %s is down: %s", p.ID, res.Error)}
	}
	return nil
}

func findProbe(cfg *config.Config, id string) (config.Organization, config.Probe, error) {
	orgID, probeID, scoped := strings.Cut(id, "/")
	if !scoped {
		probeID, orgID = orgID, ""
	}
	var found []struct {
		org config.Organization
		p   config.Probe
	}
	for _, org := range cfg.Organizations {
		if orgID != "" && org.ID != orgID {
			continue
		}
		for _, p := range org.Probes {
			if p.ID == probeID {
				found = append(found, struct {
					org config.Organization
					p   config.Probe
				}{org, p})
			}
		}
	}
	switch len(found) {
	case 0:
		return config.Organization{}, config.Probe{}, fmt.Errorf("no probe %q in %s", id, cfg.Path)
	case 1:
		return found[0].org, found[0].p, nil
	default:
		return config.Organization{}, config.Probe{}, fmt.Errorf("probe id %q is in several organizations; name it as ORG/%s", probeID, probeID)
	}
}

func printResult(w io.Writer, org string, p config.Probe, r probes.Result) {
	fmt.Fprintf(w, "probe %s/%s (%s) from %s: %s in %s\n", org, p.ID, p.Kind, r.Region, r.Outcome, round(r.Duration))
	if r.Error != "" {
		fmt.Fprintf(w, "  error: %s\n", r.Error)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, ph := range r.Phases {
		fmt.Fprintf(tw, "  %s\t%s\n", ph.Name, round(ph.Duration))
	}
	tw.Flush()
}

func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	default:
		return d.Round(time.Microsecond)
	}
}

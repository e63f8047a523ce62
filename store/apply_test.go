package store

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lookout-status/lookout/config"
	"github.com/lookout-status/lookout/probes"
)

func TestApplyCreatesThenIsIdempotent(t *testing.T) {
	db, fc := mustOpen(t)
	ctx := context.Background()

	p := mustApply(t, db, testConfig())
	want := strings.Join([]string{
		"+ organization acme",
		"+ component acme/api",
		"+ component acme/sync",
		"+ page acme/status",
		"+ probe acme/api-http",
		"+ probe acme/sync-tcp",
		"Plan: 6 to create, 0 to update, 0 to delete.",
	}, "\n")
	if got := p.String(); got != want {
		t.Errorf("first apply plan:\ngot\n%s\nwant\n%s", got, want)
	}

	fc.Advance(time.Hour)
	p = mustApply(t, db, testConfig())
	if !p.Empty() || p.String() != "No changes." {
		t.Errorf("second apply: got plan %q, want no changes", p.String())
	}

	orgs, err := db.Organizations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantOrgs := []Organization{{ID: "acme", Name: "Acme", Egress: []string{"127.0.0.0/8"}, CreatedAt: t0, UpdatedAt: t0}}
	if !reflect.DeepEqual(orgs, wantOrgs) {
		t.Errorf("Organizations: got %+v, want %+v", orgs, wantOrgs)
	}
	comps, err := db.Components(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	wantComps := []Component{
		{Org: "acme", ID: "api", Name: "API", Description: "The public API", Position: 0, CreatedAt: t0, UpdatedAt: t0},
		{Org: "acme", ID: "sync", Name: "Sync", Group: "Core", Position: 1, CreatedAt: t0, UpdatedAt: t0},
	}
	if !reflect.DeepEqual(comps, wantComps) {
		t.Errorf("Components: got %+v, want %+v", comps, wantComps)
	}
	prs, err := db.Probes(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	wantProbe := ProbeRow{Org: "acme", ID: "api-http", Component: "api", Name: "API health", Kind: "http",
		Interval: 30 * time.Second, Timeout: 10 * time.Second, FailureThreshold: 2, SuccessThreshold: 1,
		Definition: `{"url":"https://api.acme.test/health"}`, CreatedAt: t0, UpdatedAt: t0}
	if len(prs) != 2 || !reflect.DeepEqual(prs[0], wantProbe) {
		t.Errorf("Probes: got %+v, want 2 with the first %+v", prs, wantProbe)
	}
	pages, err := db.Pages(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if len(pages) != 1 || pages[0].Host != "status.acme.test" || !reflect.DeepEqual(pages[0].Components, []string{"api", "sync"}) {
		t.Errorf("Pages: got %+v, want the status page with components [api sync]", pages)
	}
}

func TestApplyUpdateDeleteRestore(t *testing.T) {
	db, fc := mustOpen(t)
	ctx := context.Background()
	mustApply(t, db, testConfig())
	r := probes.Result{ProbeID: "api-http", Region: "local", Started: t0, Duration: 20 * time.Millisecond, Outcome: probes.Up}
	if err := db.InsertResults(ctx, "acme", []probes.Result{r}); err != nil {
		t.Fatal(err)
	}

	// Update: a changed interval and component name.
	fc.Advance(time.Minute)
	cfg := testConfig()
	cfg.Organizations[0].Probes[0].Interval = time.Minute
	cfg.Organizations[0].Components[0].Name = "Public API"
	p := mustApply(t, db, cfg)
	want := "~ component acme/api (name)\n~ probe acme/api-http (interval_ms)\nPlan: 0 to create, 2 to update, 0 to delete."
	if p.String() != want {
		t.Errorf("update plan:\ngot\n%s\nwant\n%s", p.String(), want)
	}
	prs, _ := db.Probes(ctx, "acme")
	if prs[0].Interval != time.Minute || !prs[0].UpdatedAt.Equal(t0.Add(time.Minute)) || !prs[0].CreatedAt.Equal(t0) {
		t.Errorf("updated probe: got interval %v updated %v created %v, want 1m, %v, %v",
			prs[0].Interval, prs[0].UpdatedAt, prs[0].CreatedAt, t0.Add(time.Minute), t0)
	}
	if !prs[1].UpdatedAt.Equal(t0) {
		t.Errorf("untouched probe updated_at: got %v, want %v", prs[1].UpdatedAt, t0)
	}

	// Delete: the probe leaves the config; its history stays.
	fc.Advance(time.Minute)
	removed := testConfig()
	removed.Organizations[0].Probes = removed.Organizations[0].Probes[1:]
	p = mustApply(t, db, removed)
	// The component's name goes back to testConfig's too.
	if want := "~ component acme/api (name)\n- probe acme/api-http\nPlan: 0 to create, 1 to update, 1 to delete."; p.String() != want {
		t.Errorf("delete plan:\ngot\n%s\nwant\n%s", p.String(), want)
	}
	prs, _ = db.Probes(ctx, "acme")
	if len(prs) != 1 || prs[0].ID != "sync-tcp" {
		t.Errorf("Probes after delete: got %+v, want only sync-tcp", prs)
	}
	hist, err := db.Results(ctx, "acme", "api-http", t0, t0.Add(time.Hour))
	if err != nil || len(hist) != 1 {
		t.Errorf("history of the deleted probe: got %d results (%v), want 1", len(hist), err)
	}
	if latest, _ := db.LatestResults(ctx, "acme"); len(latest) != 0 {
		t.Errorf("LatestResults after delete: got %v, want none (sync-tcp has no results, api-http is deleted)", latest)
	}
	if p := mustApply(t, db, removed); !p.Empty() {
		t.Errorf("re-applying after delete: got %q, want no changes", p.String())
	}

	// Restore: the same probe comes back with its history.
	fc.Advance(time.Minute)
	p = mustApply(t, db, testConfig())
	if want := "+ probe acme/api-http (restored)\nPlan: 1 to create, 0 to update, 0 to delete."; p.String() != want {
		t.Errorf("restore plan:\ngot\n%s\nwant\n%s", p.String(), want)
	}
	latest, err := db.LatestResults(ctx, "acme")
	if err != nil || !latest["api-http"].Started.Equal(t0) {
		t.Errorf("LatestResults after restore: got %v (%v), want the result from before the delete", latest, err)
	}
}

func TestApplyRemovesWholeOrganization(t *testing.T) {
	db, _ := mustOpen(t)
	ctx := context.Background()
	mustApply(t, db, testConfig())
	p := mustApply(t, db, &config.Config{})
	want := strings.Join([]string{
		"- organization acme",
		"- component acme/api",
		"- component acme/sync",
		"- page acme/status",
		"- probe acme/api-http",
		"- probe acme/sync-tcp",
		"Plan: 0 to create, 0 to update, 6 to delete.",
	}, "\n")
	if p.String() != want {
		t.Errorf("plan:\ngot\n%s\nwant\n%s", p.String(), want)
	}
	if orgs, _ := db.Organizations(ctx); len(orgs) != 0 {
		t.Errorf("Organizations: got %v, want none", orgs)
	}
}

func TestApplyRejectsDuplicates(t *testing.T) {
	db, _ := mustOpen(t)
	cfg := testConfig()
	o := &cfg.Organizations[0]
	o.Probes = append(o.Probes, o.Probes[0])
	_, err := db.Apply(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "duplicate probe acme/api-http") {
		t.Fatalf("got %v, want a duplicate probe error", err)
	}
	if orgs, _ := db.Organizations(context.Background()); len(orgs) != 0 {
		t.Errorf("after a failed apply: got organizations %v, want none (one transaction)", orgs)
	}
}

func TestPlanMatchesApply(t *testing.T) {
	db, fc := mustOpen(t)
	ctx := context.Background()
	steps := []struct {
		name string
		cfg  func() *config.Config
	}{
		{"create", testConfig},
		{"same", testConfig},
		{"edit", func() *config.Config {
			c := testConfig()
			c.Organizations[0].Probes[1].Definition = `{"address":"sync.acme.test:8443"}`
			c.Organizations[0].Components = append(c.Organizations[0].Components, config.Component{ID: "web", Name: "Web"})
			c.Organizations[0].Pages[0].Private = true
			return c
		}},
		{"remove", func() *config.Config {
			c := testConfig()
			c.Organizations[0].Probes = nil
			c.Organizations[0].Pages = nil
			return c
		}},
		{"restore", testConfig},
		{"second org", func() *config.Config {
			c := testConfig()
			c.Organizations = append(c.Organizations, config.Organization{ID: "beta", Name: "Beta",
				Components: []config.Component{{ID: "api", Name: "API"}},
				Probes: []config.Probe{{ID: "api-http", Name: "API", Component: "api", Kind: "http",
					Interval: time.Minute, Timeout: time.Second, Definition: `{}`}}})
			return c
		}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			fc.Advance(time.Minute)
			planned, err := db.Plan(ctx, s.cfg())
			if err != nil {
				t.Fatal(err)
			}
			again, err := db.Plan(ctx, s.cfg())
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(planned, again) {
				t.Fatalf("Plan changed the database: first %q, then %q", planned, again)
			}
			applied := mustApply(t, db, s.cfg())
			if !reflect.DeepEqual(planned, applied) {
				t.Errorf("got Apply\n%s\nwant (as planned)\n%s", applied, planned)
			}
			if p, _ := db.Plan(ctx, s.cfg()); !p.Empty() {
				t.Errorf("Plan after Apply: got %q, want no changes", p)
			}
		})
	}
}

package config

import (
	"os"
	"reflect"
	"slices"
	"testing"
	"time"
	_ "time/tzdata" // Europe/Berlin and America/New_York without the host's zone files

	"github.com/lookout-status/lookout/incidents"
)

// oncallEnv holds the secrets testdata/valid-oncall.yaml references.
var oncallEnv = map[string]string{
	"SLACK_BOT_TOKEN":      "xoxb-1111-2222-slack-bot-token",
	"SLACK_SIGNING_SECRET": "slack-signing-secret-0123456789",
	"WEBHOOK_SECRET":       "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
	"HOOK_TOKEN":           "hook-bearer-token-value",
	"AM_INGEST_TOKEN":      "am-ingest-token-0123456789abcdef",
	"BETA_INGEST_TOKEN":    "beta-ingest-token-0123456789abcdef",
	"LOOKOUT_API_TOKEN":    "lookout-api-token-0123456789abcdef",
}

func loadOncall(t *testing.T) *Config {
	t.Helper()
	data, err := os.ReadFile("testdata/valid-oncall.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := parseTest("testdata/valid-oncall.yaml", data, envMap(oncallEnv))
	if err != nil {
		t.Fatalf("got error:\n%v", err)
	}
	if len(cfg.Organizations) != 2 {
		t.Fatalf("got %d organizations, want 2", len(cfg.Organizations))
	}
	return cfg
}

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func utc(y int, mo time.Month, d, h, mi int) time.Time {
	return time.Date(y, mo, d, h, mi, 0, 0, time.UTC)
}

// sameSchedule compares schedules by zone name and instants (time.Time and
// *time.Location values are not comparable with ==).
func sameSchedule(t *testing.T, got, want Schedule) {
	t.Helper()
	if got.ID != want.ID || got.TimeZone != want.TimeZone || got.Location.String() != want.Location.String() {
		t.Errorf("schedule: got %s %q %s, want %s %q %s", got.ID, got.TimeZone, got.Location, want.ID, want.TimeZone, want.Location)
	}
	if len(got.Layers) != len(want.Layers) {
		t.Fatalf("schedule %s: got %d layers, want %d", want.ID, len(got.Layers), len(want.Layers))
	}
	for i, g := range got.Layers {
		w := want.Layers[i]
		if g.Name != w.Name || !slices.Equal(g.Members, w.Members) || !g.Start.Equal(w.Start) || !g.End.Equal(w.End) ||
			g.Length != w.Length || !slices.Equal(g.Restrictions, w.Restrictions) {
			t.Errorf("schedule %s layer %d:\n got %+v\nwant %+v", want.ID, i, g, w)
		}
	}
	if len(got.Overrides) != len(want.Overrides) {
		t.Fatalf("schedule %s: got %d overrides, want %d", want.ID, len(got.Overrides), len(want.Overrides))
	}
	for i, g := range got.Overrides {
		w := want.Overrides[i]
		if g.User != w.User || !g.Start.Equal(w.Start) || !g.End.Equal(w.End) {
			t.Errorf("schedule %s override %d: got %+v, want %+v", want.ID, i, g, w)
		}
	}
}

func TestValidOncall(t *testing.T) {
	cfg := loadOncall(t)
	acme, beta := cfg.Organizations[0], cfg.Organizations[1]

	wantPolicy := IncidentPolicy{
		GroupingWindow: 10 * time.Minute, AutoResolve: false, QuietPeriod: 15 * time.Minute, Publish: PublishDraft,
		AckTimeout: 0, Flapping: Flapping{Changes: 4, Window: 20 * time.Minute}, Escalation: "default",
	}
	if acme.Policy != wantPolicy {
		t.Errorf("Policy:\n got %+v\nwant %+v", acme.Policy, wantPolicy)
	}
	wantUsers := []User{
		{ID: "dana", Name: "Dana Scully", Email: "dana@example.net", SlackID: "U0123ABCD"},
		{ID: "ana", Name: "ana", Email: "ana@example.net"},
		{ID: "fox", Name: "Fox Mulder"},
	}
	if !reflect.DeepEqual(acme.Users, wantUsers) {
		t.Errorf("Users:\n got %+v\nwant %+v", acme.Users, wantUsers)
	}
	if u, ok := acme.User("fox"); !ok || u.Name != "Fox Mulder" {
		t.Errorf("User(fox): got %+v %v, want Fox Mulder", u, ok)
	}
	if u, ok := acme.User("nobody"); ok {
		t.Errorf("User(nobody): got %+v, want none", u)
	}

	if len(acme.Teams) != 2 {
		t.Fatalf("got %d teams, want 2", len(acme.Teams))
	}
	ops, storage := acme.Teams[0], acme.Teams[1]
	if ops.ID != "ops" || ops.Name != "Operations" || !slices.Equal(ops.Members, []string{"dana", "ana"}) ||
		storage.Name != "storage-team" || !slices.Equal(storage.Members, []string{"fox"}) {
		t.Errorf("teams: got %+v / %+v", ops, storage)
	}
	berlin, newYork := mustZone(t, "Europe/Berlin"), mustZone(t, "America/New_York")
	if len(ops.Schedules) != 1 || len(storage.Schedules) != 1 {
		t.Fatalf("got %d and %d schedules, want 1 and 1", len(ops.Schedules), len(storage.Schedules))
	}
	sameSchedule(t, ops.Schedules[0], Schedule{
		ID: "ops-primary", TimeZone: "Europe/Berlin", Location: berlin,
		Layers: []incidents.Layer{{
			Name: "weekly", Members: []string{"dana", "ana"},
			Start: utc(2026, 1, 5, 8, 0), Length: 168 * time.Hour, // 09:00 CET
		}},
		Overrides: []incidents.Override{{User: "ana", Start: utc(2026, 12, 23, 23, 0), End: utc(2026, 12, 26, 23, 0)}},
	})
	sameSchedule(t, storage.Schedules[0], Schedule{
		ID: "office", TimeZone: "America/New_York", Location: newYork,
		Layers: []incidents.Layer{{
			Name: "business hours", Members: []string{"fox"},
			Start: utc(2026, 1, 5, 5, 0), End: utc(2026, 12, 31, 0, 0), Length: 24 * time.Hour,
			Restrictions: []incidents.Restriction{
				{Kind: incidents.Daily, Start: 9 * time.Hour, Length: 8 * time.Hour},
				{Kind: incidents.Weekly, Start: 4*24*time.Hour + 18*time.Hour, Length: 63 * time.Hour},
				{Kind: incidents.Daily, Start: 7*time.Hour + 30*time.Minute, Length: 30 * time.Minute},
			},
		}},
	})
	wantOpsPolicies := []EscalationPolicy{{
		ID: "default", Repeats: 2,
		Levels: []EscalationLevel{
			{Wait: 5 * time.Minute, Targets: []Target{{Schedule: "ops-primary"}, {User: "dana"}, {Notifier: "slack-ops"}}},
			{Wait: 10 * time.Minute, Targets: []Target{{Notifier: "pager"}, {Notifier: "oncall-hook"}}},
		},
	}}
	if !reflect.DeepEqual(ops.EscalationPolicies, wantOpsPolicies) {
		t.Errorf("ops policies:\n got %+v\nwant %+v", ops.EscalationPolicies, wantOpsPolicies)
	}
	wantStoragePolicies := []EscalationPolicy{{ID: "storage", Levels: []EscalationLevel{{Targets: []Target{{Schedule: "office"}}}}}}
	if !reflect.DeepEqual(storage.EscalationPolicies, wantStoragePolicies) {
		t.Errorf("storage policies:\n got %+v\nwant %+v", storage.EscalationPolicies, wantStoragePolicies)
	}

	wantNotifiers := []Notifier{
		{ID: "slack-ops", Slack: &SlackNotifier{
			Token: Secret(oncallEnv["SLACK_BOT_TOKEN"]), Channel: "#ops", SigningSecret: Secret(oncallEnv["SLACK_SIGNING_SECRET"]),
		}},
		{ID: "pager", Alertmanager: &AlertmanagerNotifier{
			URL: "http://alertmanager.internal:9093", Timeout: 10 * time.Second, ResendEvery: time.Minute, AlertTTL: 5 * time.Minute,
			Labels: map[string]string{"team": "ops"},
		}},
		{ID: "oncall-hook", Webhook: &WebhookNotifier{
			URL: "https://hooks.example.net/lookout", Secret: Secret(oncallEnv["WEBHOOK_SECRET"]),
			Headers: map[string]Secret{"Authorization": Secret("Bearer " + oncallEnv["HOOK_TOKEN"])}, Timeout: 3 * time.Second,
		}},
	}
	if !reflect.DeepEqual(acme.Notifiers, wantNotifiers) {
		t.Errorf("Notifiers:\n got %+v\nwant %+v", acme.Notifiers, wantNotifiers)
	}
	for i, want := range []string{"slack", "alertmanager", "webhook"} {
		if got := acme.Notifiers[i].Kind(); got != want {
			t.Errorf("Notifiers[%d].Kind(): got %q, want %q", i, got, want)
		}
	}
	if n, ok := acme.Notifier("pager"); !ok || n.Kind() != "alertmanager" {
		t.Errorf("Notifier(pager): got %+v %v", n, ok)
	}
	wantIntegrations := Integrations{Alertmanager: &AlertmanagerIngest{Token: Secret(oncallEnv["AM_INGEST_TOKEN"]), ComponentLabel: "service"}}
	if !reflect.DeepEqual(acme.Integrations, wantIntegrations) {
		t.Errorf("Integrations: got %+v, want %+v", acme.Integrations, wantIntegrations)
	}
	wantTokens := []Token{{ID: "ci-bot", User: "dana", Token: Secret(oncallEnv["LOOKOUT_API_TOKEN"]), Role: RoleResponder}}
	if !reflect.DeepEqual(acme.Tokens, wantTokens) {
		t.Errorf("Tokens: got %+v, want %+v", acme.Tokens, wantTokens)
	}
	wantComps := []Component{
		{ID: "api", Name: "api", Group: "Cloud", DependsOn: []string{"storage"}},
		{ID: "storage", Name: "storage", Escalation: "storage"},
	}
	if !reflect.DeepEqual(acme.Components, wantComps) {
		t.Errorf("Components:\n got %+v\nwant %+v", acme.Components, wantComps)
	}
	p0, p1 := acme.Probes[0], acme.Probes[1]
	if p0.Quorum != 2 || !slices.Equal(p0.Regions, []string{"eu", "us", "ap"}) || !p0.DegradedPages ||
		p0.Flapping != (Flapping{Changes: 3, Window: 10 * time.Minute}) {
		t.Errorf("probe 0: got quorum %d regions %v degraded_pages %v flapping %+v", p0.Quorum, p0.Regions, p0.DegradedPages, p0.Flapping)
	}
	if p1.Quorum != 1 || p1.Regions != nil || p1.DegradedPages || p1.Flapping != (Flapping{}) {
		t.Errorf("probe 1 defaults: got quorum %d regions %v degraded_pages %v flapping %+v", p1.Quorum, p1.Regions, p1.DegradedPages, p1.Flapping)
	}

	// Defaults.
	wantBeta := IncidentPolicy{
		GroupingWindow: 5 * time.Minute, AutoResolve: true, QuietPeriod: 5 * time.Minute, Publish: PublishImmediately,
		AckTimeout: 30 * time.Minute, Flapping: Flapping{Changes: 6, Window: 30 * time.Minute},
		Escalation: "sole", // the only policy is the default
	}
	if beta.Policy != wantBeta {
		t.Errorf("beta Policy:\n got %+v\nwant %+v", beta.Policy, wantBeta)
	}
	if beta.Teams[0].Name != "only" || beta.Users[0].Name != "sam" {
		t.Errorf("beta names: got team %q user %q, want only, sam", beta.Teams[0].Name, beta.Users[0].Name)
	}
	wantBetaNotifiers := []Notifier{
		{ID: "am", Alertmanager: &AlertmanagerNotifier{URL: "https://am.example.net/prefix", Timeout: 10 * time.Second, ResendEvery: time.Minute, AlertTTL: 5 * time.Minute}},
		{ID: "hook", Webhook: &WebhookNotifier{URL: "https://hooks.example.net/beta", Secret: Secret(oncallEnv["WEBHOOK_SECRET"]), Timeout: 10 * time.Second}},
	}
	if !reflect.DeepEqual(beta.Notifiers, wantBetaNotifiers) {
		t.Errorf("beta Notifiers:\n got %+v\nwant %+v", beta.Notifiers, wantBetaNotifiers)
	}
	if am := beta.Integrations.Alertmanager; am == nil || am.ComponentLabel != "component" {
		t.Errorf("beta ingest: got %+v, want component_label component", am)
	}
}

func TestIncidentConfig(t *testing.T) {
	cfg := loadOncall(t)
	acme := &cfg.Organizations[0]
	ic := acme.IncidentConfig()

	wantPolicy := incidents.Policy{
		GroupingWindow: 10 * time.Minute, AutoResolve: false, QuietPeriod: 15 * time.Minute, PublishAutomatically: false,
		Escalation: "default", AckTimeout: 0, FlapChanges: 4, FlapWindow: 20 * time.Minute,
	}
	if ic.Policy != wantPolicy {
		t.Errorf("Policy:\n got %+v\nwant %+v", ic.Policy, wantPolicy)
	}
	if beta := cfg.Organizations[1].IncidentConfig(); !beta.Policy.PublishAutomatically || !beta.Policy.AutoResolve || beta.Policy.Escalation != "sole" {
		t.Errorf("beta Policy: got %+v, want published automatically, auto-resolved, escalating to sole", beta.Policy)
	}
	wantComps := []incidents.ComponentConfig{
		{ID: "api", Name: "api", Group: "Cloud", DependsOn: []string{"storage"}},
		{ID: "storage", Name: "storage", Escalation: "storage"},
	}
	if !reflect.DeepEqual(ic.Components, wantComps) {
		t.Errorf("Components:\n got %+v\nwant %+v", ic.Components, wantComps)
	}
	wantProbes := []incidents.ProbeConfig{
		{ID: "api-ping", Component: "api", FailureThreshold: 2, SuccessThreshold: 1, Quorum: 2, DegradedPages: true, FlapChanges: 3, FlapWindow: 10 * time.Minute},
		{ID: "storage-ping", Component: "storage", FailureThreshold: 1, SuccessThreshold: 1, Quorum: 1},
	}
	if !reflect.DeepEqual(ic.Probes, wantProbes) {
		t.Errorf("Probes:\n got %+v\nwant %+v", ic.Probes, wantProbes)
	}
	wantEsc := []incidents.EscalationPolicy{
		{ID: "default", Repeats: 2, Levels: []incidents.EscalationLevel{
			{Wait: 5 * time.Minute, Targets: []incidents.Target{
				{Kind: incidents.TargetSchedule, ID: "ops-primary"}, {Kind: incidents.TargetUser, ID: "dana"}, {Kind: incidents.TargetChannel, ID: "slack-ops"},
			}},
			{Wait: 10 * time.Minute, Targets: []incidents.Target{{Kind: incidents.TargetChannel, ID: "pager"}, {Kind: incidents.TargetChannel, ID: "oncall-hook"}}},
		}},
		{ID: "storage", Levels: []incidents.EscalationLevel{{Targets: []incidents.Target{{Kind: incidents.TargetSchedule, ID: "office"}}}}},
	}
	if !reflect.DeepEqual(ic.Escalations, wantEsc) {
		t.Errorf("Escalations:\n got %+v\nwant %+v", ic.Escalations, wantEsc)
	}
	if len(ic.Schedules) != 2 {
		t.Fatalf("got %d schedules, want 2", len(ic.Schedules))
	}
	if ic.Schedules[0].TimeZone.String() != "Europe/Berlin" || ic.Schedules[1].TimeZone.String() != "America/New_York" {
		t.Errorf("zones: got %s, %s", ic.Schedules[0].TimeZone, ic.Schedules[1].TimeZone)
	}

	// Who is on call: the weekly rotation hands off at 09:00 Berlin time,
	// which is 08:00 UTC in winter and 07:00 UTC from 29 March 2026 (the
	// spring DST change). Twelve weeks after 5 January it is dana's turn.
	primary, office := ic.Schedules[0], ic.Schedules[1]
	cases := []struct {
		name  string
		sched incidents.Schedule
		at    time.Time
		want  []string
	}{
		{"before the first handoff", primary, utc(2026, 1, 5, 7, 59), nil},
		{"first handoff at 09:00 CET", primary, utc(2026, 1, 5, 8, 0), []string{"dana"}},
		{"second week", primary, utc(2026, 1, 12, 8, 0), []string{"ana"}},
		{"after DST, 08:59 CEST is still ana's week", primary, utc(2026, 3, 30, 6, 59), []string{"ana"}},
		{"after DST, 09:00 CEST is 07:00 UTC: dana", primary, utc(2026, 3, 30, 7, 0), []string{"dana"}},
		{"07:30 UTC is dana (a fixed 168h rotation would say ana)", primary, utc(2026, 3, 30, 7, 30), []string{"dana"}},
		{"override starts at midnight Berlin on 24 December", primary, utc(2026, 12, 23, 23, 0), []string{"ana"}},
		{"before the override, dana's week", primary, utc(2026, 12, 23, 22, 59), []string{"dana"}},
		{"override ends at midnight Berlin on 27 December", primary, utc(2026, 12, 26, 23, 0), []string{"dana"}},
		{"office: Tuesday 08:00 New York is outside the windows", office, utc(2026, 3, 31, 12, 0), nil},
		{"office: Tuesday 07:45 New York (EDT) is the short window", office, utc(2026, 3, 31, 11, 45), []string{"fox"}},
		{"office: Tuesday 10:00 New York", office, utc(2026, 3, 31, 14, 0), []string{"fox"}},
		{"office: Saturday noon is the weekend window", office, utc(2026, 4, 4, 16, 0), []string{"fox"}},
		{"office: the layer has ended", office, utc(2027, 1, 5, 16, 0), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.sched.OnCall(tc.at); !slices.Equal(got, tc.want) {
				t.Errorf("OnCall(%s): got %v, want %v", tc.at.Format(time.RFC3339), got, tc.want)
			}
		})
	}

	// The result shares nothing with the organization.
	ic.Components[0].DependsOn[0] = "changed"
	ic.Schedules[0].Layers[0].Members[0] = "changed"
	if acme.Components[0].DependsOn[0] != "storage" || acme.Teams[0].Schedules[0].Layers[0].Members[0] != "dana" {
		t.Errorf("IncidentConfig aliases the organization's slices")
	}
}

// A probe failing in enough regions pages whoever the configuration puts on
// call: the whole path from YAML to the pure core's Notify effect.
func TestIncidentConfigPages(t *testing.T) {
	cfg := loadOncall(t)
	acme := &cfg.Organizations[0]
	s := incidents.New(acme.ID, acme.IncidentConfig())
	at := utc(2026, 3, 30, 6, 30) // 08:30 CEST: ana's week still
	var effects []incidents.Effect
	for _, region := range []string{"eu", "us"} {
		for i := range 2 { // failure_threshold 2
			var eff []incidents.Effect
			s, eff = incidents.Step(s, incidents.ProbeResult{
				Org: "acme", Probe: "api-ping", Region: region, Outcome: incidents.Down, At: at.Add(time.Duration(i) * time.Second),
			}, at.Add(time.Duration(i)*time.Second))
			effects = append(effects, eff...)
		}
	}
	var notifies []incidents.Notify
	for _, e := range effects {
		if n, ok := e.(incidents.Notify); ok {
			notifies = append(notifies, n)
		}
	}
	if len(notifies) != 1 {
		t.Fatalf("got %d Notify effects, want 1 (quorum 2 of eu, us, ap): %+v", len(notifies), effects)
	}
	want := []incidents.Recipient{
		{Kind: incidents.TargetUser, ID: "ana", Via: "ops-primary"},
		{Kind: incidents.TargetUser, ID: "dana"},
		{Kind: incidents.TargetChannel, ID: "slack-ops"},
	}
	if !reflect.DeepEqual(notifies[0].Recipients, want) {
		t.Errorf("Recipients:\n got %+v\nwant %+v", notifies[0].Recipients, want)
	}
}

func TestWallTime(t *testing.T) {
	berlin := mustZone(t, "Europe/Berlin")
	cases := []struct {
		in   string
		loc  *time.Location
		want time.Time // zero: an error
	}{
		{"2026-01-05T09:00", berlin, utc(2026, 1, 5, 8, 0)},
		{"2026-01-05T09:00:30", berlin, utc(2026, 1, 5, 8, 0).Add(30 * time.Second)},
		{"2026-07-05 09:00", berlin, utc(2026, 7, 5, 7, 0)},
		{"2026-07-05", berlin, utc(2026, 7, 4, 22, 0)},
		{"2026-07-05T09:00:00Z", berlin, utc(2026, 7, 5, 9, 0)},
		{"2026-07-05T09:00-04:00", berlin, utc(2026, 7, 5, 13, 0)},
		// Fall back: 02:30 happens twice; the first (summer time) is meant.
		{"2026-10-25T02:30", berlin, utc(2026, 10, 25, 0, 30)},
		{"2026-10-25T01:30", berlin, utc(2026, 10, 24, 23, 30)},
		{"2026-10-25T03:00", berlin, utc(2026, 10, 25, 2, 0)},
		// Spring forward: 02:00-02:59 do not exist.
		{"2026-03-29T02:30", berlin, time.Time{}},
		{"2026-03-29T03:00", berlin, utc(2026, 3, 29, 1, 0)},
		{"2026-03-29T02:30", time.UTC, utc(2026, 3, 29, 2, 30)},
		{"09:00", berlin, time.Time{}},
		{"2026-02-30T09:00", berlin, time.Time{}},
	}
	for _, tc := range cases {
		l := &loader{probs: &problems{file: "t.yaml"}}
		got, ok := l.wallTime("x", tc.in, tc.loc)
		if ok != !tc.want.IsZero() || !got.Equal(tc.want) {
			t.Errorf("wallTime(%q, %s): got %s %v (problems %v), want %s", tc.in, tc.loc, got.UTC().Format(time.RFC3339), ok, l.probs.list, tc.want.Format(time.RFC3339))
		}
	}
}

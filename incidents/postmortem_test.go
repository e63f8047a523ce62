package incidents

import (
	"strings"
	"testing"
	"time"
)

var componentNames = map[string]string{"storage": "Storage", "sync": "Sync", "api": "API"}

// storageOutage is the journey's outage (JOURNEYS.md 2-5): storage fails
// at 03:12:40 (second failure), sync joins, ana acknowledges at 03:15:02,
// posts an identified update, a note, and both recover; it resolves by
// itself at 04:01:10.
func storageOutage(t *testing.T) Incident {
	t.Helper()
	s := newState(t, func(c *Config) { c.Policy.QuietPeriod = 10 * time.Minute })
	down := func(probe string, d time.Duration, err string) step {
		return step{ProbeResult{Org: "acme", Probe: probe, Region: "eu", Outcome: Down, At: at(d), Error: err}, at(d)}
	}
	s, _, _ = run(t, s, []step{
		down("storage-s3", 10*time.Second, "dial tcp 10.0.0.7:9000: connection refused"),
		down("storage-s3", 40*time.Second, "dial tcp 10.0.0.7:9000: connection refused"),
		down("sync-tx", 100*time.Second, "upload: 503"),
		ev(Acknowledge{ID: "a1", Incident: "acme-1", Actor: "dana"}, 3*time.Minute+2*time.Second),
		ev(PublicUpdate{ID: "u1", Incident: "acme-1", Actor: "dana", Status: Identified,
			Body: "Object store node down, failing over.", ComponentStatuses: map[string]ComponentStatus{
				"storage": MajorOutage, "sync": DegradedPerformance}}, 5*time.Minute),
		ev(AddNote{ID: "n1", Incident: "acme-1", Actor: "dana", Body: "internal: the password is in the vault"}, 6*time.Minute),
		result("storage-s3", "eu", Up, 39*time.Minute),
		result("sync-tx", "eu", Up, 39*time.Minute),
	})
	_, _, all := run(t, s, []step{tick(49*time.Minute + 10*time.Second)})
	for _, ef := range all {
		if r, ok := ef.(IncidentResolved); ok {
			return r.Incident
		}
	}
	t.Fatalf("the outage did not resolve: %s", summarize(s))
	return Incident{}
}

func TestPostmortemDraftJourney(t *testing.T) {
	got := PostmortemDraft(storageOutage(t), componentNames)
	want := "# Postmortem: Storage: major outage\n" +
		"\n" +
		"## Summary\n" +
		"\n" +
		"From 2026-03-10 03:12:40 UTC to 2026-03-10 04:01:10 UTC (48 m 30 s), Storage, Sync were affected. _Say in a sentence or two what users saw._\n" +
		"\n" +
		"## Impact\n" +
		"\n" +
		"- Impact: major\n" +
		"- Affected components: Storage (major outage), Sync (degraded performance)\n" +
		"- Duration: 48 m 30 s\n" +
		"\n" +
		"## Timeline (UTC)\n" +
		"\n" +
		"- **2026-03-10 03:12:40** Detected by probe `storage-s3`: Storage: major outage (dial tcp 10.0.0.7:9000: connection refused)\n" +
		"- **2026-03-10 03:13:40** Also affected: Sync\n" +
		"- **2026-03-10 03:15:02** Acknowledged\n" +
		"- **2026-03-10 03:17:00** Public update, identified: Object store node down, failing over.\n" +
		"- **2026-03-10 04:01:10** Resolved: auto-resolved: healthy for 10m0s\n" +
		"\n" +
		"- Time to acknowledge: 2 m 22 s\n" +
		"- Time to resolve: 48 m 30 s\n" +
		"\n" +
		"## Evidence\n" +
		"\n" +
		"- Opened by probe `storage-s3`; first failure: dial tcp 10.0.0.7:9000: connection refused\n" +
		"\n" +
		"## Root cause\n" +
		"\n" +
		"_What failed, and why?_\n" +
		"\n" +
		"## Resolution\n" +
		"\n" +
		"_What brought the service back?_\n" +
		"\n" +
		"## Action items\n" +
		"\n" +
		"1. _What will keep this from happening again?_\n"
	if got != want {
		t.Errorf("got draft:\n%s\nwant:\n%s", got, want)
	}
}

func TestPostmortemDraft(t *testing.T) {
	opened := at(0)
	cases := []struct {
		name      string
		inc       Incident
		want, not []string
	}{
		{
			name: "still open, never acknowledged",
			inc: Incident{ID: "acme-2", Title: "API: partial outage", Components: []string{"api"}, Lifecycle: Triggered,
				Impact: ImpactMinor, StartedAt: opened, Timeline: []Entry{
					{Seq: 1, At: opened, Actor: "probe:api-http", Kind: "opened", Body: "API: partial outage"},
				}},
			want: []string{"Since 2026-03-10 03:12:00 UTC, API has been affected; the incident was still open",
				"- Time to acknowledge: not acknowledged\n", "- Time to resolve: not resolved yet\n",
				"- Opened by probe `api-http`\n", "- Impact: minor\n"},
			not: []string{"Duration"},
		},
		{
			name: "opened by an alert",
			inc: Incident{ID: "acme-3", Title: "DiskFull", Alerts: []string{"fp1"}, Lifecycle: Resolved,
				StartedAt: opened, EndedAt: opened.Add(time.Hour + 5*time.Second), Timeline: []Entry{
					{Seq: 1, At: opened, Actor: "alert:fp1", Kind: "opened", Body: "DiskFull"},
					{Seq: 2, At: opened.Add(time.Hour + 5*time.Second), Actor: "ana", Kind: "resolved", To: "resolved"},
				}},
			want: []string{"Detected by alert `fp1`: DiskFull", "- Alert `fp1`\n", "(1 h 5 s). _Say",
				"- Affected components: none recorded\n", "** Resolved\n", "- Time to resolve: 1 h 5 s\n"},
		},
		{
			name: "snoozed, then re-triggered and acknowledged: the first acknowledgement counts",
			inc: Incident{ID: "acme-4", Title: "Sync down", Components: []string{"sync"}, Lifecycle: Acknowledged,
				StartedAt: opened, AckedAt: opened.Add(time.Hour), Timeline: []Entry{
					{Seq: 1, At: opened, Actor: "probe:sync-tx", Kind: "opened", Body: "Sync down"},
					{Seq: 2, At: opened.Add(45 * time.Second), Actor: "ben", Kind: "snoozed", From: "triggered", To: "acknowledged"},
					{Seq: 3, At: opened.Add(30 * time.Minute), Actor: "lookout", Kind: "retriggered", Body: "failing again after recovering"},
					{Seq: 4, At: opened.Add(time.Hour), Actor: "ben", Kind: "acknowledged"},
				}},
			want: []string{"- Time to acknowledge: 45 s\n", "Acknowledged (and snoozed)", "Failing again: failing again after recovering"},
		},
		{
			name: "notes and responders stay out",
			inc: Incident{ID: "acme-5", Title: "Web", Lifecycle: Acknowledged, StartedAt: opened, AckedBy: "dana", Timeline: []Entry{
				{Seq: 1, At: opened, Actor: "dana", Kind: "note", Body: "secret internal detail"},
				{Seq: 2, At: opened.Add(time.Minute), Actor: "dana", Kind: "acknowledged"},
			}},
			want: []string{"** Acknowledged\n", "- Time to acknowledge: 1 m\n"},
			not:  []string{"secret internal detail", "dana"},
		},
		{
			name: "hostile text is escaped to one literal line",
			inc: Incident{ID: "acme-6", Title: "<script>alert(1)</script> [x](javascript:alert(1)) *bold* `code` &#106; #",
				Lifecycle: Triggered, StartedAt: opened, Timeline: []Entry{
					{Seq: 1, At: opened, Actor: "probe:x`y", Kind: "opened", Body: "line one\n# heading\n- item | cell"},
				}},
			want: []string{
				"# Postmortem: \\<script\\>alert(1)\\</script\\> \\[x\\](javascript:alert(1)) \\*bold\\* \\`code\\` \\&\\#106; \\#\n",
				"Detected by probe x\\`y: line one \\# heading - item \\| cell\n",
			},
			not: []string{"<script>", "\n# heading"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := PostmortemDraft(tc.inc, componentNames)
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("got draft:\n%s\nwant it to contain %q", got, w)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(got, n) {
					t.Errorf("got draft:\n%s\nwant no %q", got, n)
				}
			}
			for _, section := range []string{"## Summary", "## Impact", "## Timeline (UTC)", "## Evidence",
				"## Root cause", "## Resolution", "## Action items"} {
				if !strings.Contains(got, "\n"+section+"\n") {
					t.Errorf("got draft without section %q", section)
				}
			}
		})
	}
}

func TestHumanDuration(t *testing.T) {
	cases := []struct {
		d    time.Duration
		want string
	}{
		{0, "0 s"},
		{142 * time.Second, "2 m 22 s"},
		{48*time.Minute + 30*time.Second, "48 m 30 s"},
		{time.Hour + 5*time.Second, "1 h 5 s"},
		{26 * time.Hour, "26 h"},
		{1499 * time.Millisecond, "1 s"},
		{-3 * time.Second, "3 s"},
	}
	for _, tc := range cases {
		if got := HumanDuration(tc.d); got != tc.want {
			t.Errorf("HumanDuration(%s): got %q, want %q", tc.d, got, tc.want)
		}
	}
}

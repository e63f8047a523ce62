package web

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lookout-status/lookout/clock"
	"github.com/lookout-status/lookout/incidents"
	"github.com/lookout-status/lookout/static"
)

// pageNow is when the fixtures' snapshots are taken.
var pageNow = time.Date(2025, 11, 12, 9, 30, 0, 0, time.UTC)

type fakePages struct {
	mu    sync.Mutex
	data  PageData
	err   error
	calls atomic.Int64
}

func (f *fakePages) Page(_ context.Context, host string) (PageData, error) {
	f.calls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if host == "unknown.example" {
		return PageData{}, fmt.Errorf("no page for host: %w", fs.ErrNotExist)
	}
	return f.data, f.err
}

// PageByID finds the one page by organization and id (page_path.go).
func (f *fakePages) PageByID(_ context.Context, org, page string) (PageData, error) {
	f.calls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if org != f.data.Org || page != f.data.ID {
		return PageData{}, fmt.Errorf("no page %s/%s: %w", org, page, fs.ErrNotExist)
	}
	return f.data, f.err
}

func (f *fakePages) set(d PageData) {
	f.mu.Lock()
	f.data = d
	f.mu.Unlock()
}

// days builds 90 days of stats ending today: all checks up but for the
// down counts given by days-ago.
func days(down map[int]int) []DayStat {
	var out []DayStat
	today := pageNow.Truncate(24 * time.Hour)
	for ago := 0; ago < 90; ago++ {
		if ago >= 60 && ago%7 != 0 {
			continue // no data before the component existed, mostly
		}
		d := DayStat{Day: today.AddDate(0, 0, -ago), Checks: 1440, Worst: incidents.Operational,
			P50: time.Duration(80+5*(ago%7)) * time.Millisecond, P95: time.Duration(190+20*(ago%5)) * time.Millisecond}
		if n := down[ago]; n > 0 {
			d.Down, d.Worst, d.Incidents = n, incidents.PartialOutage, 1
		}
		out = append(out, d)
	}
	return out
}

// basePage is an all-operational page with a group, an ungrouped
// component and a private component that is down.
func basePage() PageData {
	created := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	return PageData{
		Version:   "1",
		AsOf:      pageNow,
		ID:        "acme",
		Name:      "Acme Cloud",
		URL:       "https://status.acme.example",
		Accent:    "#0969DA",
		Logo:      "/static/logo.svg",
		UpdatedAt: pageNow.Add(-time.Hour),
		Components: []PageComponent{
			{ID: "api", Name: "API", Description: "Public REST API", Group: "Cloud", Status: incidents.Operational,
				CreatedAt: created, UpdatedAt: created, Days: days(map[int]int{3: 72})},
			{ID: "sync", Name: "Sync", Group: "Cloud", Status: incidents.Operational,
				CreatedAt: created, UpdatedAt: created, Days: days(nil)},
			{ID: "secret-db", Name: "Secret DB", Group: "Cloud", Status: incidents.MajorOutage, Private: true,
				CreatedAt: created, UpdatedAt: created, Days: days(map[int]int{0: 1440})},
			{ID: "storage", Name: "Storage", Status: incidents.Operational,
				CreatedAt: created, UpdatedAt: created, Days: days(nil)},
		},
		Incidents: []PageIncident{
			{ID: "acme-1", Name: "Slow API responses", Status: incidents.PublicResolved, Impact: incidents.ImpactMinor,
				Components: []string{"api"}, StartedAt: pageNow.AddDate(0, 0, -3), CreatedAt: pageNow.AddDate(0, 0, -3),
				UpdatedAt:  pageNow.AddDate(0, 0, -3).Add(2 * time.Hour),
				ResolvedAt: pageNow.AddDate(0, 0, -3).Add(2 * time.Hour),
				Updates: []IncidentUpdate{
					{ID: "acme-1-1", Status: "investigating", Body: "We are looking into slow responses.", At: pageNow.AddDate(0, 0, -3)},
					{ID: "acme-1-2", Status: "resolved", Body: "Fixed.", At: pageNow.AddDate(0, 0, -3).Add(2 * time.Hour)},
				}},
			// Only private components: never shown.
			{ID: "acme-0", Name: "Secret DB down", Status: incidents.Investigating, Impact: incidents.ImpactCritical,
				Components: []string{"secret-db"}, StartedAt: pageNow.Add(-time.Hour), CreatedAt: pageNow.Add(-time.Hour)},
		},
	}
}

func setStatus(d *PageData, id string, st incidents.ComponentStatus) {
	for i := range d.Components {
		if d.Components[i].ID == id {
			d.Components[i].Status = st
		}
	}
}

// pageStates are the fixed states with golden pages.
func pageStates() map[string]PageData {
	out := map[string]PageData{"operational": basePage()}

	d := basePage()
	setStatus(&d, "sync", incidents.DegradedPerformance)
	out["degraded"] = d

	d = basePage()
	setStatus(&d, "storage", incidents.PartialOutage)
	out["partial"] = d

	// One component down while others work: a partial outage of the page.
	d = basePage()
	setStatus(&d, "api", incidents.MajorOutage)
	setStatus(&d, "sync", incidents.PartialOutage)
	out["one-major"] = d

	// Every public component down: a major outage of the page.
	d = basePage()
	setStatus(&d, "api", incidents.MajorOutage)
	setStatus(&d, "sync", incidents.MajorOutage)
	setStatus(&d, "storage", incidents.MajorOutage)
	out["major"] = d

	d = basePage()
	setStatus(&d, "storage", incidents.UnderMaintenance)
	d.Maintenances = []PageMaintenance{
		{ID: "m-1", Name: "Storage upgrade", Status: incidents.MaintenanceInProgress, Components: []string{"storage"},
			ScheduledFor: pageNow.Add(-30 * time.Minute), ScheduledUntil: pageNow.Add(90 * time.Minute),
			CreatedAt: pageNow.AddDate(0, 0, -7), UpdatedAt: pageNow.Add(-30 * time.Minute),
			Updates: []IncidentUpdate{{ID: "m-1-1", Status: "in_progress", Body: "Upgrading.", At: pageNow.Add(-30 * time.Minute)}}},
		{ID: "m-2", Name: "Network work", Status: incidents.MaintenanceScheduled, Components: []string{"api", "secret-db"},
			ScheduledFor: pageNow.AddDate(0, 0, 2), ScheduledUntil: pageNow.AddDate(0, 0, 2).Add(time.Hour),
			CreatedAt: pageNow.AddDate(0, 0, -1), UpdatedAt: pageNow.AddDate(0, 0, -1)},
		{ID: "m-3", Name: "Secret only", Status: incidents.MaintenanceScheduled, Components: []string{"secret-db"},
			ScheduledFor: pageNow.AddDate(0, 0, 1), ScheduledUntil: pageNow.AddDate(0, 0, 1).Add(time.Hour)},
	}
	out["maintenance"] = d

	d = basePage()
	setStatus(&d, "api", incidents.PartialOutage)
	started := pageNow.Add(-45 * time.Minute)
	d.Incidents = append(d.Incidents, PageIncident{
		ID: "acme-2", Name: "API errors", Status: incidents.Monitoring, Impact: incidents.ImpactMajor,
		Components: []string{"api", "secret-db"}, StartedAt: started, CreatedAt: started,
		UpdatedAt: pageNow.Add(-5 * time.Minute), MonitoringAt: pageNow.Add(-5 * time.Minute),
		Updates: []IncidentUpdate{
			{ID: "acme-2-1", Status: "investigating", Body: "Errors on the API.\nWe are on it.", At: started},
			{ID: "acme-2-3", Status: "monitoring", Body: "A fix is out; watching.", At: pageNow.Add(-5 * time.Minute)},
			{ID: "acme-2-2", Status: "identified", Body: "A bad deploy.", At: pageNow.Add(-20 * time.Minute)},
		},
		Postmortem: "# Summary\n\nA bad deploy made the API fail for 40 minutes; see the " +
			"[deploy log](https://deploys.acme.example/1234).\n\n| Time | Event |\n|---|---|\n" +
			"| 08:45 | Errors start |\n| 09:25 | Fix out |\n",
	})
	out["incident"] = d
	return out
}

func newPageServer(t testing.TB, d PageData) (*fakePages, http.Handler) {
	t.Helper()
	src := &fakePages{data: d}
	return src, NewServer(Deps{Pages: src, Clock: clock.NewFake(pageNow)})
}

func get(t testing.TB, h http.Handler, target string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest("GET", target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestPageGolden(t *testing.T) {
	for name, d := range pageStates() {
		t.Run(name, func(t *testing.T) {
			_, h := newPageServer(t, d)
			w := get(t, h, "/")
			if w.Code != http.StatusOK {
				t.Fatalf("got status %d, want 200; body %s", w.Code, w.Body)
			}
			golden(t, "page-"+name+".golden.html", w.Body.Bytes())
		})
	}
}

func TestPageBanner(t *testing.T) {
	states := pageStates()
	for _, tc := range []struct {
		state, banner, indicator string
	}{
		{"operational", "All Systems Operational", "none"},
		{"degraded", "Minor Service Outage", "minor"},
		{"partial", "Partial System Outage", "major"},
		{"one-major", "Partial System Outage", "major"},
		{"major", "Major Service Outage", "critical"},
		{"maintenance", "Service Under Maintenance", "maintenance"},
		{"incident", "Partial System Outage", "major"},
	} {
		t.Run(tc.state, func(t *testing.T) {
			_, h := newPageServer(t, states[tc.state])
			body := get(t, h, "/").Body.String()
			if want := `<h1 id="banner-label">` + tc.banner + `</h1>`; !strings.Contains(body, want) {
				t.Errorf("page does not contain %s", want)
			}
			var doc struct{ Status v2Status }
			if err := json.Unmarshal(get(t, h, "/api/v2/status.json").Body.Bytes(), &doc); err != nil {
				t.Fatal(err)
			}
			if doc.Status.Indicator != tc.indicator || doc.Status.Description != tc.banner {
				t.Errorf("got status %+v, want %s %q", doc.Status, tc.indicator, tc.banner)
			}
		})
	}
}

// What a visitor sees on the incident page state: the active incident
// first, updates newest first, the group open, day labels, no private
// component anywhere.
func TestPageContent(t *testing.T) {
	_, h := newPageServer(t, pageStates()["incident"])
	w := get(t, h, "/")
	body := w.Body.String()
	for _, want := range []string{
		`<title>Acme Cloud</title>`,
		`<link rel="stylesheet" href="/theme/0969da.css">`,
		`<img src="/static/logo.svg" alt="" height="32">`,
		`<h2 id="active-h">Active incidents</h2>`,
		`<a href="/incidents/acme-2">API errors</a>`,
		`Affects API</span>`,
		`<details class="group" open>`,
		`<span class="icon" aria-hidden="true">◆</span> Partial outage</span>`,
		`aria-label="9 Nov: 95% uptime, 1 incident"`,
		`href="/history?month=2025-11#day-2025-11-09"`,
		`aria-label="16 Aug: no data"`,
		`<a href="/incidents/acme-1">Slow API responses</a>`,
		`<time datetime="2025-11-12T09:25:00Z">12 Nov 2025 09:25 UTC</time>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page does not contain %s", want)
		}
	}
	// Active before past; updates newest first.
	order := []string{"A fix is out", "A bad deploy", "Errors on the API", "Slow API responses"}
	last := -1
	for _, s := range order {
		i := strings.Index(body, s)
		if i < last {
			t.Errorf("got %q at %d, before the previous at %d; want order %q", s, i, last, order)
		}
		last = i
	}
	for _, bad := range []string{"Secret", "secret", "style="} {
		if strings.Contains(body, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
	if err := onlyOurScript(body); err != nil {
		t.Error(err)
	}
	if got := strings.Count(body, `class="day `); got != 3*90 {
		t.Errorf("got %d day cells, want %d (3 public components × 90 days)", got, 3*90)
	}
	// One Tab stop per bar: every day but the newest is out of the tab
	// order (the script moves through them with the arrow keys).
	if got := strings.Count(body, `tabindex="-1"`); got != 3*89 {
		t.Errorf("got %d days out of the tab order, want %d (89 of each bar's 90)", got, 3*89)
	}
	if !strings.Contains(body, `aria-label="Daily uptime of API, last 90 days: 99.92% uptime"`) {
		t.Errorf("the API bar has no summary label")
	}
}

func TestIncidentPage(t *testing.T) {
	_, h := newPageServer(t, pageStates()["incident"])
	w := get(t, h, "/incidents/acme-2")
	if w.Code != http.StatusOK {
		t.Fatalf("got status %d, want 200", w.Code)
	}
	golden(t, "incident.golden.html", w.Body.Bytes())
	body := w.Body.String()
	for _, want := range []string{"<h1>API errors</h1>", "<dd>Monitoring</dd>", "<dd>Major impact</dd>",
		"<dd>API</dd>", `<h2 id="postmortem-h">Postmortem</h2>`} {
		if !strings.Contains(body, want) {
			t.Errorf("page does not contain %s", want)
		}
	}
	for _, target := range []string{"/incidents/acme-0", "/incidents/nope", "/incidents/acme-1%00"} {
		if w := get(t, h, target); w.Code != http.StatusNotFound {
			t.Errorf("GET %s: got status %d, want 404", target, w.Code)
		}
	}
}

func TestHistory(t *testing.T) {
	_, h := newPageServer(t, pageStates()["incident"])
	w := get(t, h, "/history?month=2025-11")
	if w.Code != http.StatusOK {
		t.Fatalf("got status %d, want 200", w.Code)
	}
	golden(t, "history.golden.html", w.Body.Bytes())
	body := w.Body.String()
	for _, want := range []string{
		"<h1>November 2025</h1>",
		`<li id="day-2025-11-09">`, // the bars link here
		`<a href="/history?month=2025-10" rel="prev">Earlier</a>`,
		`<a href="/incidents/acme-1">Slow API responses</a>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page does not contain %s", want)
		}
	}
	if strings.Contains(body, "day-2025-11-13") || strings.Contains(body, "Secret") {
		t.Errorf("got a future day or a private incident")
	}
	if w := get(t, h, "/history"); !bytes.Equal(w.Body.Bytes(), body2(t, h, "/history?month=2025-11")) {
		t.Errorf("/history is not the current month")
	}
	for _, target := range []string{"/history?month=2025-07", "/history?month=2025-12", "/history?month=x"} {
		if w := get(t, h, target); w.Code != http.StatusNotFound {
			t.Errorf("GET %s: got %d, want 404", target, w.Code)
		}
	}
	if w := get(t, h, "/history?month=2025-08"); w.Code != http.StatusOK || strings.Contains(w.Body.String(), "day-2025-08-14") {
		t.Errorf("got %d for the window's first month, or a day before the window", w.Code)
	}
}

func body2(t *testing.T, h http.Handler, target string) []byte {
	t.Helper()
	return get(t, h, target).Body.Bytes()
}

func TestV2Golden(t *testing.T) {
	for _, state := range []string{"incident", "maintenance"} {
		_, h := newPageServer(t, pageStates()[state])
		for _, name := range v2Names {
			t.Run(state+"/"+name, func(t *testing.T) {
				w := get(t, h, "/api/v2/"+name)
				if w.Code != http.StatusOK {
					t.Fatalf("got status %d, want 200", w.Code)
				}
				if got := w.Header().Get("Content-Type"); got != "application/json" {
					t.Errorf("Content-Type: got %q, want application/json", got)
				}
				if !json.Valid(w.Body.Bytes()) {
					t.Errorf("invalid JSON: %s", w.Body)
				}
				golden(t, "v2-"+state+"-"+strings.ReplaceAll(name, "/", "-"), w.Body.Bytes())
			})
		}
	}
}

// Statuspage clients read these fields; a rename breaks them.
func TestV2Fields(t *testing.T) {
	_, h := newPageServer(t, pageStates()["incident"])
	var doc map[string]any
	if err := json.Unmarshal(get(t, h, "/api/v2/summary.json").Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	keys := func(v any) []string {
		var out []string
		for k := range v.(map[string]any) {
			out = append(out, k)
		}
		return out
	}
	want := map[string][]string{
		"page":      {"id", "name", "url", "time_zone", "updated_at"},
		"component": {"id", "name", "status", "created_at", "updated_at", "position", "description", "showcase", "start_date", "group_id", "page_id", "group", "only_show_if_degraded"},
		"incident":  {"id", "name", "status", "impact", "shortlink", "created_at", "updated_at", "monitoring_at", "resolved_at", "started_at", "page_id", "incident_updates", "components"},
		"update":    {"id", "status", "body", "incident_id", "created_at", "updated_at", "display_at", "affected_components"},
	}
	inc := doc["incidents"].([]any)[0].(map[string]any)
	got := map[string][]string{
		"page":      keys(doc["page"]),
		"component": keys(doc["components"].([]any)[1]),
		"incident":  keys(inc),
		"update":    keys(inc["incident_updates"].([]any)[0]),
	}
	for obj, fields := range want {
		for _, f := range fields {
			found := false
			for _, k := range got[obj] {
				found = found || k == f
			}
			if !found {
				t.Errorf("%s: got fields %q, want %q among them", obj, got[obj], f)
			}
		}
	}
}

func TestHostileNames(t *testing.T) {
	const hostile = "\"><script>alert(1)</script>{{.}}\xff\x00<img src=x onerror=alert(1)>"
	d := pageStates()["incident"]
	d.Name = hostile
	d.Logo = "javascript:alert(1)"
	d.Accent = "red;}</style><script>"
	d.Components[0].Name = hostile
	d.Components[0].Description = hostile
	d.Components[0].Group = hostile
	d.Incidents[2].Name = hostile
	d.Incidents[2].Updates[0].Body = hostile
	d.Incidents[2].Postmortem = "[x](javascript:alert(1)) " + hostile
	_, h := newPageServer(t, d)
	for _, target := range []string{"/", "/incidents/acme-2", "/api/v2/summary.json", "/badge/api.svg", "/badge/api/uptime.svg?days=7"} {
		t.Run(target, func(t *testing.T) {
			w := get(t, h, target)
			if w.Code != http.StatusOK {
				t.Fatalf("got status %d, want 200", w.Code)
			}
			body := w.Body.String()
			if err := onlyOurScript(body); err != nil {
				t.Error(err)
			}
			body = strings.Replace(body, `<script src="`+static.Path("page.js")+`" defer></script>`, "", 1)
			for _, bad := range []string{"<script", "<img", "javascript:", "\xff", "\x00", "{{.}}"} {
				if bad == "{{.}}" {
					continue // plain text to every format here; checked below
				}
				if strings.Contains(body, bad) {
					t.Errorf("got %q in the body", bad)
				}
			}
			if strings.Contains(body, `href="javascript`) || strings.Contains(body, `src="javascript`) {
				t.Errorf("got a javascript: link")
			}
			switch {
			case strings.HasPrefix(target, "/api"):
				if !json.Valid(w.Body.Bytes()) {
					t.Errorf("invalid JSON")
				}
			case strings.HasPrefix(target, "/badge"):
				if err := xmlValid(w.Body.Bytes()); err != nil {
					t.Errorf("invalid SVG: %v", err)
				}
			default:
				if !strings.Contains(body, "&lt;script&gt;") {
					t.Errorf("got no escaped name on the page")
				}
			}
		})
	}
}

// onlyOurScript checks that the one script of an HTML page is the hashed
// page.js, and that no other script or inline handler is there.
func onlyOurScript(body string) error {
	if !strings.Contains(body, "<html") {
		return nil
	}
	ours := `<script src="` + static.Path("page.js") + `" defer></script>`
	if n := strings.Count(body, "<script"); n != 1 || !strings.Contains(body, ours) {
		return fmt.Errorf("got %d <script elements, want only %s", n, ours)
	}
	return nil
}

func xmlValid(b []byte) error {
	dec := xml.NewDecoder(bytes.NewReader(b))
	for {
		_, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func TestPrivateComponentAbsent(t *testing.T) {
	d := basePage() // the private component is in a major outage
	_, h := newPageServer(t, d)
	for _, target := range []string{"/", "/api/v2/summary.json", "/api/v2/components.json", "/api/v2/incidents.json",
		"/api/v2/incidents/unresolved.json", "/api/v2/status.json"} {
		body := get(t, h, target).Body.String()
		for _, bad := range []string{"secret", "Secret", "acme-0", "critical", "Major Service Outage"} {
			if strings.Contains(body, bad) {
				t.Errorf("GET %s: got %q in the body", target, bad)
			}
		}
	}
	for _, target := range []string{"/badge/secret-db.svg", "/badge/secret-db/uptime.svg", "/badge/nope.svg",
		"/badge/nope/uptime.svg?days=7", "/badge/api", "/incidents/acme-0"} {
		if w := get(t, h, target); w.Code != http.StatusNotFound {
			t.Errorf("GET %s: got status %d, want 404", target, w.Code)
		}
	}
}

func TestBadges(t *testing.T) {
	d := pageStates()["degraded"]
	_, h := newPageServer(t, d)
	for _, tc := range []struct {
		target string
		code   int
		want   string
	}{
		{"/badge/api.svg", 200, `aria-label="API: operational"`},
		{"/badge/sync.svg", 200, `aria-label="Sync: degraded performance"`},
		{"/badge/api/uptime.svg?days=90", 200, `aria-label="API uptime 90d: 99.92%"`},
		{"/badge/api/uptime.svg?days=1", 200, `aria-label="API uptime 1d: 100%"`},
		{"/badge/api/uptime.svg", 200, `aria-label="API uptime 30d: 99.83%"`},
		{"/badge/api/uptime.svg?days=5", 400, ""},
	} {
		t.Run(tc.target, func(t *testing.T) {
			w := get(t, h, tc.target)
			if w.Code != tc.code {
				t.Fatalf("got status %d, want %d", w.Code, tc.code)
			}
			if tc.code != 200 {
				return
			}
			if got := w.Header().Get("Content-Type"); got != "image/svg+xml" {
				t.Errorf("Content-Type: got %q, want image/svg+xml", got)
			}
			if got := w.Header().Get("Cache-Control"); got != defaultPageCacheControl {
				t.Errorf("Cache-Control: got %q, want %q", got, defaultPageCacheControl)
			}
			if !strings.Contains(w.Body.String(), tc.want) {
				t.Errorf("got %s, want it to contain %s", w.Body, tc.want)
			}
			if err := xmlValid(w.Body.Bytes()); err != nil {
				t.Errorf("invalid SVG: %v", err)
			}
		})
	}
}

func TestPageCaching(t *testing.T) {
	src, h := newPageServer(t, basePage())
	w := get(t, h, "/")
	etag := w.Header().Get("ETag")
	if etag == "" || !strings.HasPrefix(etag, `"`) {
		t.Fatalf("got ETag %q, want a strong one", etag)
	}
	if got := w.Header().Get("Cache-Control"); got != defaultPageCacheControl {
		t.Errorf("Cache-Control: got %q, want %q", got, defaultPageCacheControl)
	}
	t.Run("304", func(t *testing.T) {
		w := get(t, h, "/", "If-None-Match", `"other", `+etag)
		if w.Code != http.StatusNotModified || w.Body.Len() != 0 {
			t.Errorf("got %d with %d bytes, want 304 and no body", w.Code, w.Body.Len())
		}
		if got := w.Header().Get("ETag"); got != etag {
			t.Errorf("ETag: got %q, want %q", got, etag)
		}
	})
	t.Run("gzip", func(t *testing.T) {
		w := get(t, h, "/", "Accept-Encoding", "gzip, deflate")
		if w.Header().Get("Content-Encoding") != "gzip" || w.Header().Get("ETag") == etag {
			t.Fatalf("got encoding %q and ETag %q, want gzip and an ETag other than %q",
				w.Header().Get("Content-Encoding"), w.Header().Get("ETag"), etag)
		}
		zr, err := gzip.NewReader(w.Body)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, get(t, h, "/").Body.Bytes()) {
			t.Errorf("gzip body differs from the plain one")
		}
		if w := get(t, h, "/", "Accept-Encoding", "gzip;q=0"); w.Header().Get("Content-Encoding") != "" {
			t.Errorf("got gzip for gzip;q=0")
		}
	})
	t.Run("new version", func(t *testing.T) {
		d := basePage()
		d.Version = "2"
		setStatus(&d, "api", incidents.MajorOutage)
		src.set(d)
		w := get(t, h, "/", "If-None-Match", etag)
		if w.Code != http.StatusOK || w.Header().Get("ETag") == etag {
			t.Errorf("got %d with ETag %q, want 200 with a new ETag", w.Code, w.Header().Get("ETag"))
		}
		if !strings.Contains(w.Body.String(), "Partial System Outage") {
			t.Errorf("got the old page after a change")
		}
	})
	t.Run("no version from the source", func(t *testing.T) {
		d := basePage()
		d.Version = ""
		src.set(d)
		a := get(t, h, "/").Header().Get("ETag")
		setStatus(&d, "storage", incidents.PartialOutage)
		src.set(d)
		b := get(t, h, "/")
		if b.Header().Get("ETag") == a || !strings.Contains(b.Body.String(), "Partial System Outage") {
			t.Errorf("got ETag %q after a change (was %q), want a new page", b.Header().Get("ETag"), a)
		}
	})
	t.Run("custom cache control", func(t *testing.T) {
		h := NewServer(Deps{Pages: src, PageCacheControl: "no-cache"})
		if got := get(t, h, "/api/v2/status.json").Header().Get("Cache-Control"); got != "no-cache" {
			t.Errorf("got %q, want no-cache", got)
		}
	})
}

func TestPageErrors(t *testing.T) {
	src, h := newPageServer(t, basePage())
	r := httptest.NewRequest("GET", "http://unknown.example/", nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusNotFound {
		t.Errorf("unknown host: got %d, want 404", w.Code)
	}
	src.mu.Lock()
	src.err = errors.New("snapshot on fire")
	src.mu.Unlock()
	if w := get(t, h, "/api/v2/summary.json"); w.Code != http.StatusInternalServerError {
		t.Errorf("failing source: got %d, want 500", w.Code)
	}
}

func TestTheme(t *testing.T) {
	_, h := newPageServer(t, basePage())
	w := get(t, h, "/theme/0969da.css")
	if w.Code != 200 || w.Body.String() != ":root{--accent:#0969da}\n" {
		t.Errorf("got %d %q, want the accent rule", w.Code, w.Body)
	}
	for _, bad := range []string{"/theme/red.css", "/theme/0969DA.css", "/theme/0969da;x.css"} {
		if w := get(t, h, bad); w.Code != http.StatusNotFound {
			t.Errorf("GET %s: got %d, want 404", bad, w.Code)
		}
	}
}

// 200 visitors at once see one render per representation and version.
func TestRenderOncePerVersion(t *testing.T) {
	src := &fakePages{data: basePage()}
	s := &server{pages: src, pageCacheControl: defaultPageCacheControl, renders: newRenderCache()}
	var renders atomic.Int64
	s.renders.onRender = func(string) { renders.Add(1) }
	h := http.HandlerFunc(s.handleIndex)
	prev := ""
	for _, tc := range []struct {
		version string
		want    int64
	}{{"1", 1}, {"2", 2}, {"2", 2}} {
		version, want := tc.version, tc.want
		d := basePage()
		d.Version = version
		src.set(d)
		var wg sync.WaitGroup
		etags := make([]string, 200)
		for i := range 200 {
			wg.Go(func() {
				etags[i] = get(t, h, "/").Header().Get("ETag")
			})
		}
		wg.Wait()
		if got := renders.Load(); got != want {
			t.Errorf("version %s: got %d renders in all, want %d", version, got, want)
		}
		// While the new version renders, others may still get the previous
		// rendering; once it is done, everyone gets the new one.
		now := get(t, h, "/").Header().Get("ETag")
		for _, e := range etags {
			if e != now && e != prev {
				t.Fatalf("version %s: got ETag %q, neither the new %q nor the previous %q", version, e, now, prev)
			}
		}
		prev = now
	}
}

// TestRenderServesPreviousWhileRendering: a visitor arriving while a new
// version renders gets the previous rendering at once instead of waiting.
func TestRenderServesPreviousWhileRendering(t *testing.T) {
	src := &fakePages{data: basePage()}
	s := &server{pages: src, pageCacheControl: defaultPageCacheControl, renders: newRenderCache()}
	h := http.HandlerFunc(s.handleIndex)
	d := basePage()
	d.Version = "1"
	src.set(d)
	old := get(t, h, "/").Header().Get("ETag")

	rendering, release := make(chan struct{}), make(chan struct{})
	s.renders.onRender = func(string) { close(rendering); <-release }
	d = basePage()
	d.Version = "2"
	setStatus(&d, "api", incidents.MajorOutage)
	src.set(d)
	done := make(chan string)
	go func() { done <- get(t, h, "/").Header().Get("ETag") }()
	<-rendering
	if got := get(t, h, "/").Header().Get("ETag"); got != old {
		t.Fatalf("during the render: got ETag %q, want the previous %q", got, old)
	}
	close(release)
	if got := <-done; got == old {
		t.Fatal("the rendering request got the old page")
	}
	s.renders.onRender = nil
	if got := get(t, h, "/"); !strings.Contains(got.Body.String(), "Partial System Outage") {
		t.Fatal("after the render: still the old page")
	}
}

func BenchmarkPage(b *testing.B) {
	_, h := newPageServer(b, pageStates()["incident"])
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Set("Accept-Encoding", "gzip")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != http.StatusOK {
				b.Fatalf("got %d", w.Code)
			}
		}
	})
}

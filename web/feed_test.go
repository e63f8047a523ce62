package web

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mmcdole/gofeed"

	"github.com/lookout-status/lookout/incidents"
)

// parseFeed parses b with gofeed (an independent parser) and checks it is
// well-formed XML too.
func parseFeed(t *testing.T, b []byte) *gofeed.Feed {
	t.Helper()
	if err := xmlValid(b); err != nil {
		t.Fatalf("feed is not well-formed XML: %v\n%s", err, b)
	}
	f, err := gofeed.NewParser().ParseString(string(b))
	if err != nil {
		t.Fatalf("gofeed: %v\n%s", err, b)
	}
	return f
}

func guids(f *gofeed.Feed) []string {
	var out []string
	for _, it := range f.Items {
		out = append(out, it.GUID)
	}
	return out
}

func TestFeedGolden(t *testing.T) {
	for _, state := range []string{"incident", "maintenance"} {
		for _, ext := range []string{"atom", "rss"} {
			t.Run(state+"/"+ext, func(t *testing.T) {
				_, h := newPageServer(t, pageStates()[state])
				w := get(t, h, "/history."+ext)
				if w.Code != http.StatusOK {
					t.Fatalf("got status %d, want 200; body %s", w.Code, w.Body)
				}
				parseFeed(t, w.Body.Bytes())
				golden(t, "feed-"+state+"."+ext, w.Body.Bytes())
			})
		}
	}
}

func TestFeedEntries(t *testing.T) {
	_, h := newPageServer(t, pageStates()["incident"])
	for _, tc := range []struct {
		target    string
		wantType  string
		wantGUIDs []string
	}{
		{"/history.atom", "atom", []string{"tag:status.acme.example,2026:incident/acme-2", "tag:status.acme.example,2026:incident/acme-1"}},
		{"/history.rss", "rss", []string{"tag:status.acme.example,2026:incident/acme-2", "tag:status.acme.example,2026:incident/acme-1"}},
		{"/components/api/history.atom", "atom", []string{"tag:status.acme.example,2026:incident/acme-2", "tag:status.acme.example,2026:incident/acme-1"}},
		{"/components/sync/history.rss", "rss", nil},
	} {
		t.Run(tc.target, func(t *testing.T) {
			w := get(t, h, tc.target)
			if w.Code != http.StatusOK {
				t.Fatalf("got status %d, want 200", w.Code)
			}
			f := parseFeed(t, w.Body.Bytes())
			if f.FeedType != tc.wantType {
				t.Errorf("got feed type %q, want %q", f.FeedType, tc.wantType)
			}
			if got := guids(f); !slices.Equal(got, tc.wantGUIDs) {
				t.Errorf("got entries %q, want %q", got, tc.wantGUIDs)
			}
		})
	}

	f := parseFeed(t, get(t, h, "/history.atom").Body.Bytes())
	it := f.Items[0]
	if it.Link != "https://status.acme.example/incidents/acme-2" {
		t.Errorf("got link %q, want the incident page", it.Link)
	}
	// The whole timeline, newest first, with times and statuses.
	want := []string{"Monitoring", "A fix is out; watching.", "Identified", "A bad deploy.", "Investigating", "Errors on the API.<br>We are on it.", "12 Nov 2025 09:25 UTC"}
	last := -1
	for _, s := range want[:6] {
		i := strings.Index(it.Content, s)
		if i < 0 || i < last {
			t.Errorf("content: %q missing or out of order in %q", s, it.Content)
		}
		last = i
	}
	if !strings.Contains(it.Content, want[6]) {
		t.Errorf("content: got %q, want the update time %q", it.Content, want[6])
	}
	if it.UpdatedParsed == nil || !it.UpdatedParsed.Equal(pageNow.Add(-5*time.Minute)) {
		t.Errorf("got updated %v, want the last update's time %v", it.UpdatedParsed, pageNow.Add(-5*time.Minute))
	}
}

func TestFeedUpdatedMoves(t *testing.T) {
	src, h := newPageServer(t, pageStates()["incident"])
	before := get(t, h, "/history.atom")
	d := pageStates()["incident"]
	d.Version = "2"
	late := pageNow.Add(time.Minute)
	inc := &d.Incidents[len(d.Incidents)-1]
	inc.Updates = append(inc.Updates, IncidentUpdate{ID: "acme-2-4", Status: "resolved", Body: "All good.", At: late})
	inc.Status = incidents.PublicResolved
	src.set(d)
	after := get(t, h, "/history.atom", "If-None-Match", before.Header().Get("ETag"))
	if after.Code != http.StatusOK {
		t.Fatalf("after an update: got status %d, want 200", after.Code)
	}
	f := parseFeed(t, after.Body.Bytes())
	if got := f.Items[0].UpdatedParsed; got == nil || !got.Equal(late) {
		t.Errorf("got updated %v, want %v", got, late)
	}
	if !strings.Contains(f.Items[0].Content, "All good.") {
		t.Errorf("content lacks the new update: %q", f.Items[0].Content)
	}
	if got, want := after.Header().Get("Last-Modified"), late.Format(http.TimeFormat); got != want {
		t.Errorf("got Last-Modified %q, want %q", got, want)
	}
}

func TestFeedConditional(t *testing.T) {
	for _, target := range []string{"/history.atom", "/history.rss", "/components/api/history.atom"} {
		t.Run(target, func(t *testing.T) {
			_, h := newPageServer(t, pageStates()["incident"])
			first := get(t, h, target)
			etag, lm := first.Header().Get("ETag"), first.Header().Get("Last-Modified")
			if etag == "" || lm == "" {
				t.Fatalf("got ETag %q and Last-Modified %q, want both", etag, lm)
			}
			for _, hdr := range [][]string{
				{"If-None-Match", etag},
				{"If-Modified-Since", lm},
			} {
				if w := get(t, h, target, hdr...); w.Code != http.StatusNotModified || w.Body.Len() != 0 {
					t.Errorf("%s: got status %d with %d bytes, want 304 and no body", hdr[0], w.Code, w.Body.Len())
				}
			}
			old := pageNow.Add(-24 * time.Hour).Format(http.TimeFormat)
			if w := get(t, h, target, "If-Modified-Since", old); w.Code != http.StatusOK {
				t.Errorf("If-Modified-Since a day ago: got status %d, want 200", w.Code)
			}
			// A stale ETag wins over a matching date.
			if w := get(t, h, target, "If-None-Match", `"stale"`, "If-Modified-Since", lm); w.Code != http.StatusOK {
				t.Errorf("stale ETag: got status %d, want 200", w.Code)
			}
		})
	}
}

func TestFeedRenderedOncePerVersion(t *testing.T) {
	src := &fakePages{data: basePage()}
	s := &server{pages: src, pageCacheControl: defaultPageCacheControl, renders: newRenderCache()}
	var renders atomic.Int64
	s.renders.onRender = func(string) { renders.Add(1) }
	h := s.handleFeed("atom", false)
	for _, tc := range []struct {
		version string
		want    int64
	}{{"1", 1}, {"1", 1}, {"2", 2}, {"2", 2}} {
		d := basePage()
		d.Version = tc.version
		src.set(d)
		var wg sync.WaitGroup
		for range 50 {
			wg.Go(func() { get(t, h, "/history.atom") })
		}
		wg.Wait()
		if got := renders.Load(); got != tc.want {
			t.Errorf("version %s: got %d renders in all, want %d", tc.version, got, tc.want)
		}
	}
}

func TestFeedHostileText(t *testing.T) {
	d := basePage()
	nasty := "]]> & <script>alert(1)</script> \x00\x01\x08\x1b bad:\xff\xfe end"
	d.Incidents = append(d.Incidents, PageIncident{
		ID: "acme-9", Name: "Title " + nasty, Status: incidents.Investigating, Impact: incidents.ImpactMinor,
		Components: []string{"api"}, StartedAt: pageNow, CreatedAt: pageNow, UpdatedAt: pageNow,
		Updates: []IncidentUpdate{{ID: "acme-9-1", Status: "investigating", Body: "Body " + nasty, At: pageNow}},
	})
	d.Maintenances = []PageMaintenance{{ID: "m-9", Name: "Maint " + nasty, Status: incidents.MaintenanceScheduled,
		Components: []string{"api"}, ScheduledFor: pageNow.Add(time.Hour), ScheduledUntil: pageNow.Add(2 * time.Hour),
		CreatedAt: pageNow, UpdatedAt: pageNow}}
	_, h := newPageServer(t, d)
	for _, target := range []string{"/history.atom", "/history.rss", "/components/api/history.atom", "/components/api/history.rss"} {
		t.Run(target, func(t *testing.T) {
			w := get(t, h, target)
			body := w.Body.String()
			if strings.Contains(body, "CDATA") {
				t.Errorf("feed uses CDATA")
			}
			if strings.Contains(body, "<script>") {
				t.Errorf("feed carries a raw <script> tag")
			}
			f := parseFeed(t, w.Body.Bytes())
			var titles, contents []string
			for _, it := range f.Items {
				titles = append(titles, it.Title)
				contents = append(contents, it.Content+it.Description)
			}
			wantTitle := "Title ]]> & <script>alert(1)</script>  bad:\uFFFD end"
			if !slices.Contains(titles, wantTitle) {
				t.Errorf("got titles %q, want one %q", titles, wantTitle)
			}
			wantBody := "Body ]]&gt; &amp; &lt;script&gt;alert(1)&lt;/script&gt;  bad:\uFFFD end"
			if !slices.ContainsFunc(contents, func(c string) bool { return strings.Contains(c, wantBody) }) {
				t.Errorf("got contents %q, want one with %q", contents, wantBody)
			}
		})
	}
}

func TestFeedPrivate(t *testing.T) {
	d := pageStates()["maintenance"] // m-3 touches only the private component
	_, h := newPageServer(t, d)
	for _, target := range []string{"/history.atom", "/history.rss", "/components/api/history.atom", "/components/storage/history.rss"} {
		body := get(t, h, target).Body.String()
		for _, bad := range []string{"secret", "Secret", "acme-0", "m-3"} {
			if strings.Contains(body, bad) {
				t.Errorf("GET %s: got %q in the feed", target, bad)
			}
		}
	}
	for _, target := range []string{"/components/secret-db/history.atom", "/components/secret-db/history.rss", "/components/nope/history.atom"} {
		if w := get(t, h, target); w.Code != http.StatusNotFound {
			t.Errorf("GET %s: got status %d, want 404", target, w.Code)
		}
	}
}

package web

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/lookout-status/lookout/static"
)

// writeSite writes files under dir as a publisher would.
func writeSite(t *testing.T, dir string, files []SiteFile) {
	t.Helper()
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.Body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// htmlRefs returns the href and src attributes of doc, and its element ids.
func htmlRefs(t *testing.T, doc []byte) (refs []string, ids map[string]bool) {
	t.Helper()
	ids = map[string]bool{}
	z := html.NewTokenizer(bytes.NewReader(doc))
	for {
		switch z.Next() {
		case html.ErrorToken:
			return refs, ids
		case html.StartTagToken, html.SelfClosingTagToken:
			for {
				k, v, more := z.TagAttr()
				switch string(k) {
				case "href", "src":
					refs = append(refs, string(v))
				case "id":
					ids[string(v)] = true
				}
				if !more {
					break
				}
			}
		}
	}
}

// crawlSite resolves every href and src of every HTML file under dir, as a
// browser would from a file:// URL: each must name a file of the copy (and
// an element of it, for a fragment). Links to other sites are left alone;
// a root path ("/x") is an error, since it leaves the copy wherever it is
// served from a sub-path or a directory. It returns the problems found and
// the files reached from index.html.
func crawlSite(t *testing.T, dir string) (problems []string, reached map[string]bool) {
	t.Helper()
	docs := map[string][]string{}       // file → refs
	ids := map[string]map[string]bool{} // file → element ids
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".html") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		docs[filepath.ToSlash(rel)], ids[filepath.ToSlash(rel)] = htmlRefs(t, b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	resolve := func(from, ref string) (file, frag string, external bool, problem string) {
		u, err := url.Parse(ref)
		switch {
		case err != nil:
			return "", "", false, "unparsable"
		case u.Scheme != "" || u.Host != "":
			return "", "", true, ""
		case strings.HasPrefix(u.Path, "/"):
			return "", "", false, "a root path leaves the copy"
		case u.RawQuery != "":
			return "", "", false, "a query string names no file"
		}
		file = from
		if u.Path != "" {
			file = path.Join(path.Dir(from), u.Path)
		}
		if strings.HasPrefix(file, "../") {
			return "", "", false, "outside the copy"
		}
		return file, u.Fragment, false, ""
	}
	reached = map[string]bool{"index.html": true}
	queue := []string{"index.html"}
	for len(queue) > 0 {
		from := queue[0]
		queue = queue[1:]
		for _, ref := range docs[from] {
			file, frag, external, problem := resolve(from, ref)
			if external {
				continue
			}
			if problem != "" {
				problems = append(problems, from+": "+ref+": "+problem)
				continue
			}
			if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(file))); err != nil {
				problems = append(problems, from+": "+ref+": no such file "+file)
				continue
			}
			if frag != "" && strings.HasSuffix(file, ".html") && !ids[file][frag] {
				problems = append(problems, from+": "+ref+": no element with id "+frag)
			}
			if !reached[file] {
				reached[file] = true
				if _, isDoc := docs[file]; isDoc {
					queue = append(queue, file)
				}
			}
		}
	}
	return problems, reached
}

func TestStaticSiteComplete(t *testing.T) {
	for _, state := range []string{"incident", "maintenance"} {
		t.Run(state, func(t *testing.T) {
			d := pageStates()[state]
			files, err := StaticSite(t.Context(), d, SiteOptions{})
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			writeSite(t, dir, files)
			problems, reached := crawlSite(t, dir)
			for _, p := range problems {
				t.Error(p)
			}
			// Every page a visitor reaches from the index is in the copy,
			// the index links the assets, and every HTML file is reachable.
			for _, want := range []string{"index.html", "history/2025-11.html", "history/2025-08.html", "incidents/acme-1.html",
				"components/api.html", "components/storage.html", "api/v2/summary.json",
				strings.TrimPrefix(static.Path("page.css"), "/"), strings.TrimPrefix(static.Path("favicon.svg"), "/"), "theme/0969da.css"} {
				if !reached[want] {
					t.Errorf("%s is not reached from index.html", want)
				}
			}
			for _, f := range files {
				if strings.HasSuffix(f.Path, ".html") && !reached[f.Path] {
					t.Errorf("%s is in the copy but no page links to it", f.Path)
				}
			}
			// The crawl can fail: a missing file and a root link are seen.
			if err := os.Remove(filepath.Join(dir, "components", "api.html")); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "history", "2025-09.html"), []byte(`<a href="/history">x</a><a href="../index.html#nope">y</a>`), 0o644); err != nil {
				t.Fatal(err)
			}
			problems, _ = crawlSite(t, dir)
			if got := strings.Join(problems, "\n"); !strings.Contains(got, "no such file components/api.html") ||
				!strings.Contains(got, "/history: a root path") || !strings.Contains(got, "no element with id nope") {
				t.Errorf("crawl of a broken copy: got problems\n%s\nwant a missing file, a root path and a missing fragment", got)
			}
		})
	}
}

// The copy's documents are the live server's, byte for byte, wherever
// links do not differ: the API and feeds (without a base URL) and badges.
func TestStaticSiteMatchesServer(t *testing.T) {
	d := pageStates()["incident"]
	_, h := newPageServer(t, d)
	files, err := StaticSite(t.Context(), d, SiteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	byPath := map[string]SiteFile{}
	for _, f := range files {
		if _, dup := byPath[f.Path]; dup {
			t.Errorf("%s: twice in the copy", f.Path)
		}
		byPath[f.Path] = f
	}
	var targets []string
	for _, name := range v2Names {
		targets = append(targets, "/api/v2/"+name)
	}
	targets = append(targets, "/history.atom", "/history.rss", "/components/api/history.atom", "/components/sync/history.rss",
		"/badge/api.svg", "/badge/storage/uptime.svg", static.Path("page.css"), "/theme/0969da.css")
	for _, target := range targets {
		t.Run(target, func(t *testing.T) {
			w := get(t, h, target)
			f, ok := byPath[strings.TrimPrefix(target, "/")]
			if !ok {
				t.Fatalf("not in the copy")
			}
			if w.Code != http.StatusOK || !bytes.Equal(f.Body, w.Body.Bytes()) {
				t.Errorf("copy differs from the server's %d answer:\n%s\nwant:\n%s", w.Code, f.Body, w.Body)
			}
			if got, want := f.ContentType, w.Header().Get("Content-Type"); got != want {
				t.Errorf("Content-Type: got %q, want %q", got, want)
			}
			if got, want := f.CacheControl, w.Header().Get("Cache-Control"); got != want {
				t.Errorf("Cache-Control: got %q, want %q", got, want)
			}
		})
	}
}

// With a base URL, the copy's feeds and API documents link into the copy.
func TestStaticSiteBaseURL(t *testing.T) {
	d := pageStates()["incident"]
	files, err := StaticSite(t.Context(), d, SiteOptions{BaseURL: "https://mirror.acme.example/status/"})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		switch f.Path {
		case "history.atom":
			for _, want := range []string{`href="https://mirror.acme.example/status/incidents/acme-2.html"`,
				`href="https://mirror.acme.example/status/history.atom"`, `href="https://mirror.acme.example/status/history/2025-11.html"`} {
				if !strings.Contains(string(f.Body), want) {
					t.Errorf("history.atom lacks %s:\n%s", want, f.Body)
				}
			}
		case "api/v2/incidents.json":
			var doc struct {
				Incidents []struct{ Shortlink string }
			}
			if err := json.Unmarshal(f.Body, &doc); err != nil {
				t.Fatal(err)
			}
			if got := doc.Incidents[0].Shortlink; got != "https://mirror.acme.example/status/incidents/acme-2.html" {
				t.Errorf("shortlink: got %q, want the copy's incident page", got)
			}
		}
	}
}

// Nothing private reaches the copy: not in a file's name, nor in its
// content, nor in the overall status.
func TestStaticSitePrivate(t *testing.T) {
	d := pageStates()["maintenance"] // a private component in a major outage, a maintenance of it only
	d.Org = "acme"                   // members of acme may see it live: never in the copy
	files, err := StaticSite(t.Context(), d, SiteOptions{BaseURL: "https://mirror.acme.example"})
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, f := range files {
		paths = append(paths, f.Path)
		if strings.HasPrefix(f.Path, "static/") {
			continue // the stylesheet names every impact
		}
		// Nor a link to sign in or to the console: the copy is no
		// Lookout server.
		for _, bad := range []string{"secret", "Secret", "acme-0", "m-3", "Major Service Outage", "critical", "/login", "Sign in", "/console"} {
			if strings.Contains(f.Path, bad) || strings.Contains(string(f.Body), bad) {
				t.Errorf("%s: got %q", f.Path, bad)
			}
		}
	}
	if !slices.Contains(paths, "badge/api.svg") {
		t.Errorf("got files %q, want the public badges", paths)
	}
	// A private page has no copy at all.
	d.Private = true
	if files, err := StaticSite(t.Context(), d, SiteOptions{}); err == nil || len(files) != 0 {
		t.Errorf("private page: got %d files and error %v, want no copy and an error", len(files), err)
	}
	d.Private = false
	d.Org = ""
	// A signed-in member would see it: the one decision is pageFor's.
	member := pageFor(d, Viewer{Org: "acme"})
	if member.byID["secret-db"] != nil {
		t.Errorf("a member of another organization's page sees its private component")
	}
	d.Org = "acme"
	if pageFor(d, Viewer{Org: "acme"}).byID["secret-db"] == nil || pageFor(d, Viewer{Org: "beta"}).byID["secret-db"] != nil ||
		pageFor(d, Anonymous).byID["secret-db"] != nil {
		t.Errorf("private component: want it shown to members of acme only")
	}
}

func TestFileName(t *testing.T) {
	for _, tc := range []struct{ id, want string }{
		{"acme-2", "acme-2"}, {"API_v1.2", "API_v1.2"}, {"..", "~2e."}, {".hidden", "~2ehidden"},
		{"a/b", "a~2fb"}, {"a~b", "a~7eb"}, {"a b%", "a~20b~25"}, {"", "~"}, {"é", "~c3~a9"},
	} {
		if got := fileName(tc.id); got != tc.want {
			t.Errorf("fileName(%q): got %q, want %q", tc.id, got, tc.want)
		}
	}
}

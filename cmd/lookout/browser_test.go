package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/lookout-status/lookout/config"
)

// The public status page in a real headless Chromium: what a visitor's
// browser does with it, not what the HTML looks like. Screenshots land in
// artifacts/screenshots/ at the repository root (gitignored).

const browserToken = "browser-test-token-0123456789abcdef"

// chromiumPath finds Chromium; without it the test fails in CI (which
// installs it) and is skipped elsewhere.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium not installed (Debian package chromium); .ci/setup installs it")
	}
	t.Skip("chromium not installed")
	return ""
}

// newBrowser starts a headless Chromium with a fresh profile and returns a
// tab's context; it is closed when the test ends.
func newBrowser(t *testing.T, exe string) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	tctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() {
		cancelTimeout()
		cancelTab()
		cancelAlloc()
	})
	// Start the browser and open the tab now, so a failure to start is
	// reported as such.
	if err := chromedp.Do(tctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return tctx
}

// consoleLog collects what the page reports to the console: console API
// calls, uncaught exceptions and browser log entries (failed loads, CSP
// refusals).
type consoleLog struct {
	mu   sync.Mutex
	msgs []string
}

func (c *consoleLog) listen(t *testing.T, ctx context.Context) {
	t.Helper()
	err := chromedp.Listen(ctx, func(ev any) {
		var msg string
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			var args []string
			for _, a := range ev.Args {
				args = append(args, strings.Trim(string(a.Value), `"`)+a.Description)
			}
			msg = fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(args, " "))
		case *runtime.EventExceptionThrown:
			msg = "exception: " + ev.ExceptionDetails.Text
			if ev.ExceptionDetails.Exception != nil {
				msg += " " + ev.ExceptionDetails.Exception.Description
			}
		case *log.EventEntryAdded:
			msg = fmt.Sprintf("log %s (%s): %s %s", ev.Entry.Level, ev.Entry.Source, ev.Entry.Text, ev.Entry.URL)
		default:
			return
		}
		c.mu.Lock()
		c.msgs = append(c.msgs, msg)
		c.mu.Unlock()
	})
	if err != nil {
		t.Fatalf("listen to the console: %v", err)
	}
}

// take returns the messages so far and forgets them.
func (c *consoleLog) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.msgs
	c.msgs = nil
	return m
}

// cspWatch records securitypolicyviolation events in every document the
// tab loads (DevTools-injected scripts are not subject to the page's CSP).
const cspWatch = `window.__csp = [];
document.addEventListener('securitypolicyviolation', e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));`

// pageProblems returns the console messages and CSP violations of the
// document just loaded. The Evaluate round trip comes after every event
// the browser sent before it, so Listen has seen them.
func pageProblems(t *testing.T, ctx context.Context, cl *consoleLog) []string {
	t.Helper()
	csp, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.__csp || ["cspWatch not installed"]`))
	if err != nil {
		t.Fatalf("read CSP violations: %v", err)
	}
	var out []string
	for _, v := range csp {
		out = append(out, "securitypolicyviolation: "+v)
	}
	return append(out, cl.take()...)
}

// browserConfig is a page of three components, two in a group, probed
// every second against target.
func browserConfig(target string) string {
	return fmt.Sprintf(`storage: {flush_interval: 100ms, flush_size: 50}
organizations:
  - id: acme
    name: Acme
    egress: {allow: ["127.0.0.0/8"]}
    pages:
      - {id: status, name: Acme Status, accent: "#0b5fff"}
    users: [{id: dana, name: Dana Scully}]
    tokens:
      - {id: ci-bot, user: dana, token: "${LOOKOUT_API_TOKEN}", role: responder}
    components:
      - {id: api, name: API, description: Public REST API, group: Cloud}
      - {id: storage, name: Storage, description: Object storage for uploads, group: Cloud}
      - {id: website, name: Website}
    probes:
      - {id: api-status, component: api, interval: 1s, timeout: 500ms, http: {url: "%[1]s/api"}}
      - {id: storage-status, component: storage, interval: 1s, timeout: 500ms, http: {url: "%[1]s/storage"}}
      - {id: website-home, component: website, interval: 1s, timeout: 500ms, http: {url: "%[1]s/"}}
`, target)
}

// startLookout serves cfg in-process and returns its base URL.
func startLookout(t *testing.T, cfg string, getenv func(string) string) string {
	t.Helper()
	path := writeFile(t, "lookout.yaml", cfg)
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	var out, errb syncBuffer
	go func() {
		done <- serve(ctx, serveOptions{
			load:   func() (*configT, error) { return config.Load(path, getenv) },
			data:   t.TempDir(),
			listen: "127.0.0.1:0",
			stdout: &out, stderr: &errb, ready: ready,
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	select {
	case addr := <-ready:
		return "http://" + addr
	case err := <-done:
		t.Fatalf("serve exited: %v\n%s", err, errb.String())
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not start")
	}
	return ""
}

// apiCall calls the incident actions API with the test's token; anything
// but 200 ends the test.
func apiCall(t *testing.T, method, url string, body any, into any) {
	t.Helper()
	var b []byte
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			t.Fatal(err)
		}
	}
	if code := apiDo(t, method, url, browserToken, string(b), into); code != http.StatusOK {
		t.Fatalf("%s %s: got %d, want 200", method, url, code)
	}
}

// bodyText is what the visitor reads: the body's rendered text.
func bodyText(t *testing.T, ctx context.Context) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
	if err != nil {
		t.Fatalf("read page text: %v", err)
	}
	return s
}

// reloadUntil reloads the page (as a visitor pressing F5 does: the page is
// revalidated, not taken from cache) until cond holds on its text.
func reloadUntil(t *testing.T, ctx context.Context, within time.Duration, cond func(string) bool) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if err := chromedp.Do(ctx, chromedp.Reload()); err != nil {
			t.Fatalf("reload: %v", err)
		}
		text := bodyText(t, ctx)
		if cond(text) {
			return text
		}
		if time.Now().After(deadline) {
			t.Fatalf("page did not show what was expected within %s; it reads:\n%s", within, text)
		}
		<-time.After(300 * time.Millisecond)
	}
}

func TestStatusPageInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium and runs real probes")
	}
	exe := chromiumPath(t)

	var storageDown atomic.Bool
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/storage" && storageDown.Load() {
			http.Error(w, "disk failure", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok")
	}))
	defer target.Close()
	getenv := func(k string) string {
		if k == "LOOKOUT_API_TOKEN" {
			return browserToken
		}
		return ""
	}
	base := startLookout(t, browserConfig(target.URL), getenv)

	ctx := newBrowser(t, exe)
	var cl consoleLog
	cl.listen(t, ctx)
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspWatch}); err != nil {
		t.Fatalf("install CSP watch: %v", err)
	}
	shots := filepath.Join("..", "..", "artifacts", "screenshots")
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}

	t.Run("renders without console errors or CSP violations", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/")); err != nil {
			t.Fatalf("navigate: %v", err)
		}
		// Within a few intervals every probe has run; with everything up
		// the group is closed and says so.
		text := reloadUntil(t, ctx, 30*time.Second, func(s string) bool {
			return strings.Contains(s, "All Systems Operational") && strings.Count(s, "Operational") >= 3
		})
		for _, want := range []string{"Acme Status", "Cloud", "Website", "No incidents in the last 14 days"} {
			if !strings.Contains(text, want) {
				t.Errorf("page text lacks %q:\n%s", want, text)
			}
		}
		if strings.Contains(text, "Public REST API") {
			t.Errorf("the all-operational group is open; want it closed:\n%s", text)
		}
		checkLayout(t, ctx, shots, "operational")
		// Opening the group shows its members.
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("details.group > summary"))); err != nil {
			t.Fatalf("open the group: %v", err)
		}
		text = bodyText(t, ctx)
		for _, want := range []string{"API", "Public REST API", "Storage", "Object storage for uploads"} {
			if !strings.Contains(text, want) {
				t.Errorf("opened group lacks %q:\n%s", want, text)
			}
		}
		if p := pageProblems(t, ctx, &cl); len(p) > 0 {
			t.Errorf("got console messages or CSP violations, want none:\n%s", strings.Join(p, "\n"))
		}
		// The accent colour arrives through the theme stylesheet.
		accent, err := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.documentElement).getPropertyValue('--accent').trim()`))
		if err != nil || accent != "#0b5fff" {
			t.Errorf("--accent: got %q (%v), want #0b5fff", accent, err)
		}
	})

	// The console check above can only pass if it can fail: the same
	// policy on a page with an inline style and script is reported.
	t.Run("the CSP check sees a violation", func(t *testing.T) {
		resp, err := http.Get(base + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		csp := resp.Header.Get("Content-Security-Policy")
		if csp == "" {
			t.Fatal("the page sends no Content-Security-Policy")
		}
		bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Security-Policy", csp)
			io.WriteString(w, `<!DOCTYPE html><html><head><style>body{color:red}</style></head><body><script>document.title="ran"</script>hi</body></html>`)
		}))
		defer bad.Close()
		if err := chromedp.Do(ctx, chromedp.Navigate(bad.URL)); err != nil {
			t.Fatalf("navigate: %v", err)
		}
		var p []string
		deadline := time.Now().Add(5 * time.Second)
		for len(p) < 2 && time.Now().Before(deadline) {
			p = append(p, pageProblems(t, ctx, &cl)...)
			<-time.After(50 * time.Millisecond)
		}
		if got := strings.Join(p, "\n"); !strings.Contains(got, "Content Security Policy") || !strings.Contains(got, "securitypolicyviolation: style-src") {
			t.Errorf("an inline style under the page's CSP: got %q, want a console CSP error and a securitypolicyviolation", got)
		}
		cl.take()
	})

	t.Run("times are shown in the visitor's time zone", func(t *testing.T) {
		if _, err := chromedp.Call(ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "Asia/Tokyo"}); err != nil {
			t.Fatalf("set the time zone: %v", err)
		}
		defer chromedp.Call(ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{})
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/")); err != nil {
			t.Fatalf("navigate: %v", err)
		}
		type shown struct{ DateTime, Text, Title string }
		times, err := chromedp.Run(ctx, chromedp.Evaluate[[]shown](`[...document.querySelectorAll('time[datetime*="T"]')]
			.map(e => ({DateTime: e.getAttribute('datetime'), Text: e.textContent, Title: e.title}))`))
		if err != nil || len(times) == 0 {
			t.Fatalf("got times %v (%v), want at least the page's update time", times, err)
		}
		tokyo := time.FixedZone("JST", 9*3600) // no daylight saving time
		for _, tm := range times {
			at, err := time.Parse(time.RFC3339, tm.DateTime)
			if err != nil {
				t.Fatalf("datetime %q: %v", tm.DateTime, err)
			}
			if want := at.In(tokyo).Format("15:04"); !strings.Contains(tm.Text, want) || strings.Contains(tm.Text, "UTC") {
				t.Errorf("time %s: got %q, want Tokyo's %s and no UTC", tm.DateTime, tm.Text, want)
			}
			if want := at.UTC().Format("2 Jan 2006 15:04 UTC"); tm.Title != want {
				t.Errorf("time %s: got title %q, want the UTC time %q", tm.DateTime, tm.Title, want)
			}
		}
		if p := pageProblems(t, ctx, &cl); len(p) > 0 {
			t.Errorf("got console messages or CSP violations, want none:\n%s", strings.Join(p, "\n"))
		}
	})

	t.Run("the page refreshes itself in place", func(t *testing.T) {
		// The script fetches the page every 60 s; a shim run before the
		// page's own scripts shortens that wait to 200 ms, for this subtest
		// only.
		shim, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
			Source: `(() => { const st = window.setTimeout; window.setTimeout = (f, d, ...a) => st(f, d >= 60000 ? 200 : d, ...a); })();`})
		if err != nil {
			t.Fatalf("install the timer shim: %v", err)
		}
		defer chromedp.Call(ctx, page.RemoveScriptToEvaluateOnNewDocument, page.RemoveScriptToEvaluateOnNewDocumentParams{Identifier: shim.Identifier})
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/")); err != nil {
			t.Fatalf("navigate: %v", err)
		}
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__sameDocument = true`)); err != nil {
			t.Fatal(err)
		}
		storageDown.Store(true)
		deadline := time.Now().Add(30 * time.Second)
		for text := bodyText(t, ctx); !strings.Contains(text, "Active incidents"); text = bodyText(t, ctx) {
			if time.Now().After(deadline) {
				t.Fatalf("the page did not show the incident by itself within 30s; it reads:\n%s", text)
			}
			<-time.After(200 * time.Millisecond)
		}
		same, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__sameDocument === true && document.querySelectorAll('time[data-local]').length > 0`))
		if err != nil || !same {
			t.Errorf("got a reloaded document or unlocalised times (%v), want the content swapped in place", err)
		}
		if p := pageProblems(t, ctx, &cl); len(p) > 0 {
			t.Errorf("got console messages or CSP violations, want none:\n%s", strings.Join(p, "\n"))
		}
	})

	t.Run("an incident and its update appear after a reload", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/")); err != nil {
			t.Fatalf("navigate: %v", err)
		}
		storageDown.Store(true)
		var id string
		deadline := time.Now().Add(30 * time.Second)
		for id == "" {
			var list struct {
				Incidents []struct {
					ID         string   `json:"id"`
					Components []string `json:"components"`
				} `json:"incidents"`
			}
			apiCall(t, http.MethodGet, base+"/api/v1/incidents?status=open", nil, &list)
			for _, inc := range list.Incidents {
				if slices.Contains(inc.Components, "storage") {
					id = inc.ID
				}
			}
			if id == "" {
				if time.Now().After(deadline) {
					t.Fatal("no incident opened for storage within 30s")
				}
				<-time.After(250 * time.Millisecond)
			}
		}
		const update = "A disk failed in the storage cluster; uploads are paused while it rebuilds."
		apiCall(t, http.MethodPost, base+"/api/v1/incidents/"+id+"/updates",
			map[string]string{"status": "identified", "body": update}, nil)
		text := reloadUntil(t, ctx, 30*time.Second, func(s string) bool { return strings.Contains(s, update) })
		for _, want := range []string{"Active incidents", "Identified", "Affects Storage"} {
			if !strings.Contains(text, want) {
				t.Errorf("page text lacks %q:\n%s", want, text)
			}
		}
		if strings.Contains(text, "All Systems Operational") {
			t.Errorf("banner still says all systems operational during an incident:\n%s", text)
		}
		if p := pageProblems(t, ctx, &cl); len(p) > 0 {
			t.Errorf("got console messages or CSP violations, want none:\n%s", strings.Join(p, "\n"))
		}
	})

	t.Run("the keyboard reaches every link", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.Reload()); err != nil {
			t.Fatalf("reload: %v", err)
		}
		// Every link the visitor can see (a closed group's members are not
		// rendered until the group is opened; its summary is reachable).
		type stops struct {
			Links, Summaries []int
		}
		all, err := chromedp.Run(ctx, chromedp.Evaluate[stops](`(() => {
			const links = [...document.querySelectorAll('a[href]:not([tabindex="-1"])')];
			const sums = [...document.querySelectorAll('summary')];
			window.__focus = [];
			document.addEventListener('focusin', e => {
				const i = links.indexOf(e.target);
				if (i >= 0) window.__focus.push(i);
				const j = sums.indexOf(e.target);
				if (j >= 0) window.__focus.push(-1 - j);
			});
			if (document.activeElement) document.activeElement.blur();
			return {
				Links: links.map((a, i) => a.getClientRects().length > 0 ? i : -1).filter(i => i >= 0),
				Summaries: sums.map((s, j) => -1 - j),
			};
		})()`))
		if err != nil {
			t.Fatalf("list links: %v", err)
		}
		// The three 90-day bars are one Tab stop each, not 270.
		if len(all.Links) < 3 || len(all.Links) > 40 {
			t.Fatalf("got %d Tab stops among the links, want a few (one per uptime bar)", len(all.Links))
		}
		perBar, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](`[...document.querySelectorAll('.bar')]
			.map(b => b.querySelectorAll('a.day:not([tabindex="-1"])').length)`))
		if err != nil || len(perBar) != 3 || slices.ContainsFunc(perBar, func(n int) bool { return n != 1 }) {
			t.Fatalf("got Tab stops per bar %v (%v), want 1 in each of 3 bars", perBar, err)
		}
		want := append(append([]int(nil), all.Links...), all.Summaries...)
		// Bounded: one Tab per stop, plus a few.
		for i := 0; i < len(want)+5; i++ {
			if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.Tab)); err != nil {
				t.Fatalf("press Tab: %v", err)
			}
		}
		got, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](`window.__focus`))
		if err != nil {
			t.Fatalf("read focus order: %v", err)
		}
		reached := map[int]bool{}
		for _, i := range got {
			reached[i] = true
		}
		var missed []int
		for _, i := range want {
			if !reached[i] {
				missed = append(missed, i)
			}
		}
		if len(missed) > 0 {
			hrefs, _ := chromedp.Run(ctx, chromedp.Evaluate[[]string](fmt.Sprintf(
				`(() => { const l = [...document.querySelectorAll('a[href]:not([tabindex="-1"])')]; return %s.map(i => i >= 0 ? l[i].getAttribute('href') : 'summary ' + (-1 - i)); })()`,
				mustJSON(t, missed))))
			t.Errorf("Tab did not reach %d of %d stops: %q", len(missed), len(want), hrefs)
		}
		// The first stop is the skip link, and it leads to the content.
		if len(got) == 0 || got[0] != 0 {
			t.Errorf("first Tab stop: got %v, want link 0 (skip to content)", got[:min(len(got), 1)])
		}
		skip, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('a[href]').getAttribute('href')`))
		if err != nil || skip != "#main" {
			t.Errorf("first link: got %q (%v), want #main", skip, err)
		}

		// Inside a bar the arrow keys move between days (the newest is
		// the bar's Tab stop), Home and End to its ends; the Tab stop
		// moves along.
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(document.querySelector('.bar a.day:not([tabindex="-1"])').focus(), true)`)); err != nil {
			t.Fatal(err)
		}
		for _, step := range []struct {
			key  string
			want int
		}{{kb.ArrowLeft, 88}, {kb.ArrowLeft, 87}, {kb.ArrowRight, 88}, {kb.Home, 0}, {kb.ArrowLeft, 0}, {kb.End, 89}} {
			if err := chromedp.Do(ctx, chromedp.KeyEvent(step.key)); err != nil {
				t.Fatalf("press %q: %v", step.key, err)
			}
			type focus struct{ Index, Stops int }
			f, err := chromedp.Run(ctx, chromedp.Evaluate[focus](`(() => {
				const days = [...document.activeElement.closest('.bar').querySelectorAll('a.day')];
				return {Index: days.indexOf(document.activeElement), Stops: days.filter(d => d.tabIndex === 0).length};
			})()`))
			if err != nil || f.Index != step.want || f.Stops != 1 {
				t.Errorf("after %q: got day %d with %d Tab stops (%v), want day %d and one Tab stop", step.key, f.Index, f.Stops, err, step.want)
			}
		}
	})

	t.Run("the layout holds", func(t *testing.T) {
		checkLayout(t, ctx, shots, "incident")
		if p := pageProblems(t, ctx, &cl); len(p) > 0 {
			t.Errorf("got console messages or CSP violations, want none:\n%s", strings.Join(p, "\n"))
		}
	})

	t.Run("without JavaScript everything is there", func(t *testing.T) {
		scripted := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `<!DOCTYPE html><title>static</title><script>document.title = "scripted"</script>`)
		}))
		defer scripted.Close()
		if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
			t.Fatalf("disable JavaScript: %v", err)
		}
		defer chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: false})
		// Scripts really are off: a page's own script does not run.
		if err := chromedp.Do(ctx, chromedp.Navigate(scripted.URL)); err != nil {
			t.Fatalf("navigate: %v", err)
		}
		if title, err := chromedp.Run(ctx, chromedp.Title()); err != nil || title != "static" {
			t.Fatalf("title of a scripted page with JavaScript off: got %q (%v), want static", title, err)
		}
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/")); err != nil {
			t.Fatalf("navigate: %v", err)
		}
		text := bodyText(t, ctx)
		for _, want := range []string{"Cloud", "API", "Storage", "Website", "Operational", "Active incidents", "Identified",
			"A disk failed in the storage cluster"} {
			if !strings.Contains(text, want) {
				t.Errorf("without JavaScript the page lacks %q:\n%s", want, text)
			}
		}
		if !strings.Contains(text, "outage") {
			t.Errorf("without JavaScript storage's outage is not shown:\n%s", text)
		}
		times, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('time[datetime*="T"]')].map(e => e.textContent)`))
		if err != nil || len(times) == 0 {
			t.Fatalf("got times %q (%v), want some", times, err)
		}
		for _, tm := range times {
			if !strings.HasSuffix(tm, " UTC") {
				t.Errorf("without JavaScript: got time %q, want it in UTC", tm)
			}
		}
		cl.take()
	})
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// checkLayout loads the page at a phone's and a laptop's width: nothing
// scrolls or sticks out sideways. It saves a full-page screenshot of each
// as artifacts/screenshots/status-<state>-<width>.png.
func checkLayout(t *testing.T, ctx context.Context, dir, state string) {
	t.Helper()
	for _, width := range []int64{360, 1280} {
		t.Run(fmt.Sprintf("layout at %d px", width), func(t *testing.T) {
			if err := chromedp.Do(ctx, chromedp.EmulateViewport(width, 800), chromedp.Reload()); err != nil {
				t.Fatalf("viewport %d: %v", width, err)
			}
			type extent struct{ ScrollWidth, InnerWidth int }
			e, err := chromedp.Run(ctx, chromedp.Evaluate[extent](`({ScrollWidth: document.documentElement.scrollWidth, InnerWidth: window.innerWidth})`))
			if err != nil {
				t.Fatalf("measure: %v", err)
			}
			if e.InnerWidth != int(width) {
				t.Errorf("innerWidth: got %d, want %d", e.InnerWidth, width)
			}
			if e.ScrollWidth > e.InnerWidth {
				t.Errorf("horizontal scroll at %d px: scrollWidth %d > innerWidth %d", width, e.ScrollWidth, e.InnerWidth)
			}
			// No element sticks out to the right (an overflow clipped by a
			// parent does not widen the document but is still cut off).
			wide, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('body *')]
				.filter(el => el.getClientRects().length && el.getBoundingClientRect().right > window.innerWidth + 0.5)
				.map(el => el.tagName.toLowerCase() + '.' + el.className)`))
			if err != nil {
				t.Fatalf("measure elements: %v", err)
			}
			if len(wide) > 0 {
				t.Errorf("elements wider than the %d px viewport: %q", width, wide)
			}
			png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
			if err != nil {
				t.Fatalf("screenshot: %v", err)
			}
			name := filepath.Join(dir, fmt.Sprintf("status-%s-%d.png", state, width))
			if err := os.WriteFile(name, png, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("screenshot: %s", name)
		})
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		t.Fatal(err)
	}
}

package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/lookout-status/lookout/incidents"
)

// The responder's journey, as a person does it, in a real headless Chromium
// against a real `lookout serve` process: the operator creates the first
// owner with the CLI, a service breaks, the owner signs in, opens and
// acknowledges the incident with two keystrokes, posts a public update,
// resolves it, writes and publishes the postmortem from the generated
// draft; a visitor (another browser context, signed out) reads the update
// and the postmortem on the public page; the owner signs out and the
// console is closed to that browser. Screenshots of each step land in
// artifacts/screenshots/journey-*.png.

const (
	journeyUser     = "olga"
	journeyPassword = "a long passphrase for olga"
)

func journeyConfig(target string) string {
	return fmt.Sprintf(`storage: {flush_interval: 100ms, flush_size: 50}
organizations:
  - id: acme
    name: Acme
    egress: {allow: ["127.0.0.0/8"]}
    pages:
      - {id: status, name: Acme Status}
    incidents: {auto_resolve: false, publish: draft, grouping_window: 0s}
    users: [{id: olga, name: Olga Owner}]
    components:
      - {id: api, name: API, description: Public REST API}
      - {id: website, name: Website}
    probes:
      - {id: api-status, component: api, interval: 1s, timeout: 500ms, failure_threshold: 2, http: {url: "%[1]s/api"}}
      - {id: website-home, component: website, interval: 1s, timeout: 500ms, http: {url: "%[1]s/"}}
`, target)
}

// journeyTab is a browser tab with what the journey checks after each
// page: console messages and CSP violations.
type journeyTab struct {
	t     *testing.T
	ctx   context.Context
	log   consoleLog
	shots string
	n     *int // screenshots taken, shared by the journey's tabs
}

func newJourneyTab(t *testing.T, ctx context.Context, shots string, n *int) *journeyTab {
	t.Helper()
	tab := &journeyTab{t: t, ctx: ctx, shots: shots, n: n}
	tab.log.listen(t, ctx)
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspWatch}); err != nil {
		t.Fatalf("install CSP watch: %v", err)
	}
	return tab
}

// do runs browser steps; a failure ends the test.
func (b *journeyTab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// load runs trigger (a click, a key, a navigation) and waits for the page
// it leads to to load.
func (b *journeyTab) load(what string, trigger chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.WaitEvent(page.LoadEventFired, nil, trigger)); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

func (b *journeyTab) eval(js string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](js))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", js, err)
	}
	return s
}

// path is the page's path and query.
func (b *journeyTab) path() string { return b.eval(`location.pathname + location.search`) }

func (b *journeyTab) text() string { return bodyText(b.t, b.ctx) }

// wantText fails unless the page's text holds each of want.
func (b *journeyTab) wantText(where string, want ...string) string {
	b.t.Helper()
	text := b.text()
	for _, w := range want {
		if !strings.Contains(text, w) {
			b.t.Errorf("%s: page lacks %q; it reads:\n%s", where, w, text)
		}
	}
	return text
}

// clean fails on console messages or CSP violations of the page, and saves
// a screenshot of it as journey-NN-name.png.
func (b *journeyTab) clean(name string) {
	b.t.Helper()
	if p := pageProblems(b.t, b.ctx, &b.log); len(p) > 0 {
		b.t.Errorf("%s: got console messages or CSP violations, want none:\n%s", name, strings.Join(p, "\n"))
	}
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	*b.n++
	file := filepath.Join(b.shots, fmt.Sprintf("journey-%02d-%s.png", *b.n, name))
	if err := os.WriteFile(file, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot: %s", file)
}

func TestResponderJourneyInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts lookout serve and Chromium")
	}
	exe := chromiumPath(t)
	svc := newBreakable(t)
	cfg := writeFile(t, "lookout.yaml", journeyConfig(svc.srv.URL))
	data := t.TempDir()

	// The operator makes the first owner before the server starts.
	out, errOut, err := runMain(t, []string{"LOOKOUT_PASSWORD=" + journeyPassword},
		"user create --data "+data+" --config "+cfg+" --admin "+journeyUser)
	if err != nil || !strings.Contains(out, "created olga, owner of acme") {
		t.Fatalf("user create: %v\n%s%s", err, out, errOut)
	}
	srv := startServe(t, cfg, data)
	base := "http://" + srv.addr
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("lookout log:\n%s", srv.stderr.String())
		}
	})

	// The API breaks: within a few probe intervals an incident opens.
	svc.set("/api", true)
	var inc incidents.Incident
	poll(t, 30*time.Second, "an incident opens", func() bool {
		for _, rec := range storedIncidents(t, data) {
			if rec.Lifecycle == incidents.Triggered {
				inc = rec.Incident
				return true
			}
		}
		return false
	}, func() string { return srv.stderr.String() })
	number := fmt.Sprintf("#%d", inc.Number)

	shots := filepath.Join("..", "..", "artifacts", "screenshots")
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	// Screenshots of an earlier run, whose steps may have been numbered
	// otherwise, would be mistaken for this run's.
	if old, err := filepath.Glob(filepath.Join(shots, "journey-*.png")); err == nil {
		for _, f := range old {
			os.Remove(f)
		}
	}
	root := newBrowser(t, exe)
	var shotCount int
	b := newJourneyTab(t, root, shots, &shotCount)

	// Signed out, the console sends the browser to the sign-in form.
	b.do("open the console", chromedp.Navigate(base+"/console/incidents"))
	if got, want := b.path(), "/login?next="+url.QueryEscape("/console/incidents"); got != want {
		t.Fatalf("signed out, /console/incidents: got %s, want %s", got, want)
	}
	b.wantText("sign-in form", "Sign in to Lookout")
	b.clean("login")

	// A wrong password is refused on the form; the right one lands on the
	// incident list.
	b.do("type a wrong password", chromedp.SendKeys(chromedp.CSS("#username"), journeyUser),
		chromedp.SendKeys(chromedp.CSS("#password"), "not the passphrase"))
	b.load("submit the sign-in form", chromedp.Click(chromedp.CSS(`form[action="/login"] button[type=submit]`)))
	b.wantText("wrong password", "Invalid username, password or code.")
	b.log.take() // the 401 is reported by the browser; it is the point
	b.do("type the password", chromedp.SendKeys(chromedp.CSS("#password"), journeyPassword))
	b.load("submit the sign-in form", chromedp.Click(chromedp.CSS(`form[action="/login"] button[type=submit]`)))
	if got := b.path(); got != "/console/incidents" {
		t.Fatalf("after sign-in: got %s, want /console/incidents", got)
	}
	b.wantText("incident list", "Incidents", inc.Title, "Triggered", "draft", "API")
	b.clean("incidents")

	// Open → acknowledge: two keystrokes.
	b.load("press o", chromedp.KeyEvent("o"))
	if got, want := b.path(), "/console/incidents/"+inc.ID+"?org=acme"; got != want {
		t.Fatalf("o opened %s, want %s", got, want)
	}
	b.load("press a", chromedp.KeyEvent("a"))
	if got := b.eval(`document.querySelector("p.flash").textContent`); got != "Acknowledged "+number+"." {
		t.Errorf("after a: got flash %q, want %q", got, "Acknowledged "+number+".")
	}
	if got := b.eval(`document.querySelector("dl.facts .lifecycle").textContent`); !strings.Contains(got, "Acknowledged") {
		t.Errorf("after a: got status %q, want Acknowledged", got)
	}
	b.wantText("acknowledged incident", "by olga at")
	b.clean("acknowledged")

	// A public update: Identified, words for visitors, the API down.
	const update = "We found a failed disk behind the API and are moving traffic away from it"
	b.do("fill the update form",
		chromedp.SetValue(chromedp.CSS("#update-status"), string(incidents.Identified)),
		chromedp.SendKeys(chromedp.CSS("#update-body"), update),
		chromedp.SetValue(chromedp.CSS("#update-component-0"), string(incidents.MajorOutage)))
	b.load("post the update", chromedp.Click(chromedp.CSS("form.update-form button[type=submit]")))
	b.wantText("after the update", "Identified", update, "Major outage")
	if got := b.eval(`document.querySelector("p.error") ? document.querySelector("p.error").textContent : ""`); got != "" {
		t.Errorf("update refused: %s", got)
	}
	b.clean("updated")

	// The service recovers (auto_resolve is off); she resolves it with a
	// closing note, by the button (the r key asks with a dialog).
	svc.set("/api", false)
	const closing = "Traffic moved to healthy disks and the API answers normally again"
	b.do("write the closing note", chromedp.SendKeys(chromedp.CSS("#resolve-body"), closing))
	b.load("resolve", chromedp.Click(chromedp.CSS("form.resolve-form button[type=submit]")))
	if got := b.eval(`document.querySelector("dl.facts .lifecycle").textContent`); !strings.Contains(got, "Resolved") {
		t.Errorf("after resolve: got status %q, want Resolved", got)
	}
	b.wantText("resolved incident", closing)
	b.clean("resolved")

	// The postmortem starts from a draft generated from the timeline.
	b.load("open the postmortem", chromedp.Click(chromedp.CSS(`dl.facts a[href*="/postmortem"]`)))
	b.wantText("postmortem editor", "Not saved yet: this draft was generated from the timeline")
	draft := b.eval(`document.getElementById("postmortem-body").value`)
	for _, want := range []string{"# Postmortem: ", "## Timeline (UTC)", "Detected by probe `api-status`",
		"Acknowledged", "Public update, identified: " + update, "Resolved: " + closing, "- Time to acknowledge: ",
		"## Root cause"} {
		if !strings.Contains(draft, want) {
			t.Errorf("generated draft lacks %q:\n%s", want, draft)
		}
	}
	b.clean("postmortem-draft")

	// She writes the root cause where the draft asks for it, previews,
	// and publishes.
	const cause = "A disk of the API database failed; its replica was not promoted automatically."
	b.eval(`(() => { const ta = document.getElementById("postmortem-body");
		const at = ta.value.indexOf("_What failed, and why?_");
		ta.value = ta.value.replace("_What failed, and why?_", "");
		ta.focus(); ta.setSelectionRange(at, at); return ""; })()`)
	b.do("type the root cause", chromedp.KeyEvent(cause))
	if got := b.eval(`document.getElementById("postmortem-body").value`); !strings.Contains(got, "## Root cause\n\n"+cause) {
		t.Fatalf("typed root cause not in the editor:\n%s", got)
	}
	b.load("preview", chromedp.Click(chromedp.CSS(`button[formaction*="/postmortem/preview"]`)))
	preview := b.eval(`document.querySelector("section.preview .rendered").innerText`)
	for _, want := range []string{"Timeline (UTC)", "Root cause", cause, update} {
		if !strings.Contains(preview, want) {
			t.Errorf("preview lacks %q:\n%s", want, preview)
		}
	}
	// Headings move down two levels under the page's own (## → h4).
	if got := b.eval(`[...document.querySelectorAll("section.preview .rendered h4")].map(h => h.textContent).join("|")`); !strings.Contains(got, "|Timeline (UTC)|") || !strings.Contains(got, "|Root cause|") {
		t.Errorf("preview headings: got %q, want the draft's sections (Timeline (UTC), Root cause…) as headings", got)
	}
	if got := b.eval(`document.getElementById("postmortem-body").value`); !strings.Contains(got, cause) {
		t.Errorf("after preview the editor lost the edit:\n%s", got)
	}
	b.clean("postmortem-preview")
	b.load("publish", chromedp.Click(chromedp.CSS(`button[formaction*="/postmortem/publish"]`)))
	b.wantText("published postmortem", "Published on the status page", "As published", cause)
	b.clean("postmortem-published")

	// A visitor, signed out in a fresh browser context, reads the incident
	// on the public page: the update and the postmortem.
	vctx, cancelVisitor := chromedp.NewContext(root, chromedp.WithNewBrowserContext())
	defer cancelVisitor()
	v := newJourneyTab(t, vctx, shots, &shotCount)
	v.do("open the public incident page", chromedp.Navigate(base+"/incidents/"+url.PathEscape(inc.ID)))
	text := reloadUntil(t, vctx, 15*time.Second, func(s string) bool { return strings.Contains(s, cause) })
	for _, want := range []string{inc.Title, "Identified", update, "Resolved", closing, "Postmortem", "Root cause", cause} {
		if !strings.Contains(text, want) {
			t.Errorf("public incident page lacks %q:\n%s", want, text)
		}
	}
	for _, never := range []string{"olga", "Sign out"} {
		if strings.Contains(text, never) {
			t.Errorf("public incident page shows %q to a visitor:\n%s", never, text)
		}
	}
	// The rendered Markdown reads as text, not as its source's line breaks:
	// a one-line list item is one line high.
	type box struct{ Height, FontSize float64 }
	li, err := chromedp.Run(vctx, chromedp.Evaluate[box](`(() => {
		const li = [...document.querySelectorAll(".postmortem li")].find(l => l.textContent.includes("Time to acknowledge"));
		return li ? {Height: li.getBoundingClientRect().height, FontSize: parseFloat(getComputedStyle(li).fontSize)} : {};
	})()`))
	if err != nil || li.FontSize == 0 || li.Height > 2*li.FontSize {
		t.Errorf("postmortem list item \"Time to acknowledge\": got %.0f px high at %.0f px text (%v), want one line", li.Height, li.FontSize, err)
	}
	v.clean("public-incident")
	v.do("open the console as the visitor", chromedp.Navigate(base+"/console/incidents"))
	if got := v.path(); !strings.HasPrefix(got, "/login?") {
		t.Errorf("the visitor's /console/incidents: got %s, want the sign-in form", got)
	}
	v.log.take()

	// As an owner she also sees the subscribers page (none yet).
	b.load("open the subscribers page", chromedp.Click(chromedp.CSS(`.console-nav a[href^="/console/subscribers"]`)))
	b.wantText("subscribers page", "Subscribers", "0 subscriptions", "No subscriptions yet.")
	b.clean("subscribers")

	// She signs out: the console is closed to this browser again.
	b.do("back to the list", chromedp.Navigate(base+"/console/incidents?org=acme&status=all"))
	b.wantText("list with every incident", inc.Title, "Resolved")
	b.load("sign out", chromedp.Click(chromedp.CSS("form.logout button[type=submit]")))
	if got := b.path(); got != "/login" {
		t.Errorf("after sign-out: got %s, want /login", got)
	}
	b.do("open the console again", chromedp.Navigate(base+"/console/incidents"))
	if got, want := b.path(), "/login?next="+url.QueryEscape("/console/incidents"); got != want {
		t.Errorf("signed out again, /console/incidents: got %s, want %s", got, want)
	}
	b.clean("signed-out")
}

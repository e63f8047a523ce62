package web

import (
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/lookout-status/lookout/incidents"
)

// TestConsoleShortcutsInChromium drives console.js in a real headless
// Chromium, signed in through the fake session: on the list j/j/o opens
// the third incident, a acknowledges it, ? opens the help and Esc closes
// it, n focuses the note and keys typed there stay text (r does not
// resolve). Without Chromium it is skipped, but fails in CI.
func TestConsoleShortcutsInChromium(t *testing.T) {
	var exe string
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			exe = p
			break
		}
	}
	if exe == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium not installed (Debian package chromium); .ci/setup installs it")
		}
		t.Skip("chromium not installed")
	}
	e := newConsoleEnv(t)
	e.threeIncidents(t)
	srv := httptest.NewServer(e.h)
	defer srv.Close()

	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), chromedp.ExecPath(exe), chromedp.Headless,
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()))
	defer cancelAlloc()
	tab, cancelTab := chromedp.NewContext(actx)
	defer cancelTab()
	ctx, cancel := context.WithTimeout(tab, time.Minute)
	defer cancel()

	secure := true // 127.0.0.1 is a secure context: __Host- cookies work
	if _, err := chromedp.Call(ctx, network.SetCookie, network.SetCookieParams{Name: SessionCookie, Value: sessAlice,
		URL: srv.URL, Path: "/", Secure: &secure}); err != nil {
		t.Fatalf("set session cookie: %v", err)
	}
	eval := func(js string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("evaluate %s: %v", js, err)
		}
		return s
	}
	keys := func(steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatal(err)
		}
	}

	keys(chromedp.Navigate(srv.URL+"/console/incidents?org=acme&status=all"), chromedp.WaitVisible(chromedp.CSS("table.incidents")))
	if got := eval(`document.querySelector("tr.selected").id`); got != "incident-acme-3" {
		t.Errorf("first selection: got %s, want incident-acme-3", got)
	}
	keys(chromedp.KeyEvent("j"), chromedp.KeyEvent("j"), chromedp.KeyEvent("k"), chromedp.KeyEvent("j"))
	if got := eval(`document.querySelector("tr.selected").id`); got != "incident-acme-1" {
		t.Fatalf("after j j k j: got %s selected, want incident-acme-1", got)
	}
	keys(chromedp.KeyEvent("o"), chromedp.WaitVisible(chromedp.CSS("section.timeline")))
	if got := eval(`location.pathname + location.search`); got != "/console/incidents/acme-1?org=acme" {
		t.Fatalf("o opened %s, want acme-1", got)
	}
	keys(chromedp.KeyEvent("a"), chromedp.WaitVisible(chromedp.CSS("p.flash")))
	if got := eval(`document.querySelector("p.flash").textContent`); got != "Acknowledged #1." {
		t.Errorf("flash: got %q, want Acknowledged #1.", got)
	}
	if rec := e.incident(t, "acme", "acme-1"); rec.Lifecycle != incidents.Acknowledged || rec.AckedBy != "alice" {
		t.Errorf("acme-1: got %s by %q, want acknowledged by alice", rec.Lifecycle, rec.AckedBy)
	}
	keys(chromedp.KeyEvent("?"))
	if got := eval(`String(document.getElementById("shortcut-help").open)`); got != "true" {
		t.Errorf("? did not open the help")
	}
	keys(chromedp.KeyEvent(kb.Escape))
	if got := eval(`String(document.getElementById("shortcut-help").open)`); got != "false" {
		t.Errorf("Esc did not close the help")
	}
	keys(chromedp.KeyEvent("n"))
	if got := eval(`document.activeElement.id`); got != "note-body" {
		t.Errorf("n focused %q, want note-body", got)
	}
	keys(chromedp.KeyEvent("r"))
	if got := eval(`document.getElementById("note-body").value`); got == "" {
		t.Error("r typed in the note went nowhere")
	}
	if rec := e.incident(t, "acme", "acme-1"); rec.Lifecycle != incidents.Acknowledged {
		t.Errorf("r typed in a field: got %s, want still acknowledged", rec.Lifecycle)
	}
}

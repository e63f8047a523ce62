package web

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestComponentPage(t *testing.T) {
	_, h := newPageServer(t, pageStates()["incident"])
	w := get(t, h, "/components/api")
	if w.Code != http.StatusOK {
		t.Fatalf("got status %d, want 200; body %s", w.Code, w.Body)
	}
	golden(t, "component.golden.html", w.Body.Bytes())
	body := w.Body.String()
	for _, want := range []string{
		"<h1>API</h1>", "Public REST API",
		`<title id="chart-title">Response time of API</title>`,
		`<desc id="chart-desc">Daily median (p50) and 95th percentile (p95) response times from 15 Aug to 12 Nov.`,
		`role="img" aria-labelledby="chart-title chart-desc"`,
		// Three days ago: 72 of 1440 checks down, and incident acme-1.
		`<time datetime="2025-11-09">9 Nov 2025</time></th><td><span class="swatch day-partial_outage" aria-hidden="true"></span> Partial outage</td><td>95%</td>`,
		`<a href="/incidents/acme-1">Slow API responses</a>`,
		// Today: acme-2 is still open.
		`<a href="/incidents/acme-2">API errors</a>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page does not contain %s", want)
		}
	}
	if got := strings.Count(body, `<th scope="row">`); got != 90 {
		t.Errorf("got %d day rows, want 90", got)
	}
	_, svg, _ := strings.Cut(body, "<svg")
	svg, _, _ = strings.Cut(svg, "</svg>")
	if err := xmlValid([]byte("<svg" + svg + "</svg>")); err != nil {
		t.Errorf("invalid SVG: %v", err)
	}
	// Days without data (most before 60 days ago) break the lines: one run
	// for the last 60 days, then a lone weekly day per gap.
	if got := strings.Count(svg, `class="p50"`); got < 2 {
		t.Errorf("got %d p50 polylines, want the gaps to split the line", got)
	}

	// The main page links each component's name to its page.
	if body := get(t, h, "/").Body.String(); !strings.Contains(body, `<h3><a href="/components/api">API</a></h3>`) {
		t.Errorf("the status page does not link API to its page")
	}
}

func TestComponentPageNotFound(t *testing.T) {
	_, h := newPageServer(t, pageStates()["incident"])
	for _, target := range []string{"/components/secret-db", "/components/nope", "/components/api%00", "/components/"} {
		if w := get(t, h, target); w.Code != http.StatusNotFound {
			t.Errorf("GET %s: got status %d, want 404", target, w.Code)
		}
	}
}

func TestComponentPageNoLatency(t *testing.T) {
	d := pageStates()["operational"]
	for i := range d.Components[0].Days {
		d.Components[0].Days[i].P50, d.Components[0].Days[i].P95 = 0, 0
	}
	_, h := newPageServer(t, d)
	body := get(t, h, "/components/api").Body.String()
	if strings.Contains(body, "<svg") {
		t.Errorf("got a chart with no data")
	}
	if !strings.Contains(body, "No response times recorded in the last 90 days.") {
		t.Errorf("got no text saying there is no data")
	}
}

func TestComponentPageHostileName(t *testing.T) {
	d := pageStates()["incident"]
	d.Components[0].Name = `"><script>alert(1)</script></title><svg onload=alert(1)>`
	_, h := newPageServer(t, d)
	body := get(t, h, "/components/api").Body.String()
	if err := onlyOurScript(body); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{"<svg onload"} {
		if strings.Contains(body, bad) {
			t.Errorf("got %q in the page", bad)
		}
	}
}

func TestNiceCeil(t *testing.T) {
	for _, tc := range []struct{ in, want time.Duration }{
		{0, time.Millisecond}, {time.Millisecond, time.Millisecond}, {3 * time.Millisecond, 5 * time.Millisecond},
		{190 * time.Millisecond, 200 * time.Millisecond}, {270 * time.Millisecond, 500 * time.Millisecond},
		{501 * time.Millisecond, time.Second}, {12 * time.Second, 20 * time.Second},
	} {
		if got := niceCeil(tc.in); got != tc.want {
			t.Errorf("niceCeil(%v): got %v, want %v", tc.in, got, tc.want)
		}
	}
}

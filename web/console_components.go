package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/lookout-status/lookout/incidents"
	"github.com/lookout-status/lookout/probes"
	"github.com/lookout-status/lookout/store"
	"github.com/lookout-status/lookout/templates"
)

// The components console: /console/components lists components in their
// groups with their status, each probe with its last result, a 24 h latency
// sparkline and "Run now"; /console/probes/{id} shows a probe's recent
// results. Both read through ProbeReader (api_probes.go).

// consoleResultsPage is how many results /console/probes/{id} shows at once.
const consoleResultsPage = 50

func (s *server) componentConsoleRoutes(mux *http.ServeMux) {
	s.console(mux, "GET /console/components", roleViewer, s.handleConsoleComponents)
	s.console(mux, "GET /console/probes/{id}", roleViewer, s.handleConsoleProbe)
	if s.runner != nil {
		s.console(mux, "POST /console/probes/{id}/run", roleResponder, s.handleConsoleRunProbe)
	}
}

// statusWords says a component status in words and a glyph (never colour
// alone).
var statusWords = map[incidents.ComponentStatus][2]string{
	incidents.Operational:         {"Operational", "✓"},
	incidents.DegradedPerformance: {"Degraded performance", "◐"},
	incidents.PartialOutage:       {"Partial outage", "▲"},
	incidents.MajorOutage:         {"Major outage", "✕"},
	incidents.UnderMaintenance:    {"Under maintenance", "⚙"},
}

// orgQuery is the ?org= every console link and form action carries.
func orgQuery(org string) string { return "?org=" + url.QueryEscape(org) }

func (s *server) consoleProbeRow(ctx context.Context, p Principal, pr store.ProbeRow, last map[string]probes.Result, now time.Time) (templates.ConsoleProbeRow, error) {
	name := pr.Name
	if name == "" {
		name = pr.ID
	}
	row := templates.ConsoleProbeRow{
		ID: pr.ID, Name: name, Kind: pr.Kind, Target: s.probes.ProbeTarget(p.Org, pr.ID),
		Href:  "/console/probes/" + url.PathEscape(pr.ID) + orgQuery(p.Org),
		Every: fmt.Sprintf("every %s, timeout %s", pr.Interval, pr.Timeout),
	}
	if p.may(roleResponder) && s.runner != nil {
		row.RunAction = "/console/probes/" + url.PathEscape(pr.ID) + "/run" + orgQuery(p.Org)
	}
	if r, ok := last[pr.ID]; ok {
		row.Last = consoleResult(r, now)
	}
	hours, sum, err := s.probes.HourlyStats(ctx, p.Org, pr.ID, now.Add(-24*time.Hour), now)
	if err != nil {
		return row, fmt.Errorf("hourly stats of %s: %w", pr.ID, err)
	}
	row.Spark = sparkline(hours, sum, now)
	return row, nil
}

func consoleResult(r probes.Result, now time.Time) templates.ConsoleResult {
	return templates.ConsoleResult{
		Has: true, Outcome: string(r.Outcome), Latency: fmtLatency(r.Duration),
		At: r.Started.UTC().Format("2006-01-02 15:04:05 UTC"), AtISO: r.Started.UTC().Format(time.RFC3339),
		Ago: ago(now.Sub(r.Started)), Region: r.Region, Error: r.Error,
	}
}

// fmtLatency says a latency the way people read it: "840 µs", "123 ms", "1.24 s".
func fmtLatency(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return strconv.FormatInt(d.Microseconds(), 10) + " µs"
	case d < time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + " ms"
	}
	return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + " s"
}

func ago(d time.Duration) string {
	switch {
	case d < 5*time.Second:
		return "just now"
	case d < time.Minute:
		return strconv.Itoa(int(d.Seconds())) + " s ago"
	case d < time.Hour:
		return strconv.Itoa(int(d.Minutes())) + " min ago"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d.Hours())) + " h ago"
	}
	return strconv.Itoa(int(d.Hours()/24)) + " days ago"
}

// Sparkline geometry: one column per hour of the last 24.
const (
	sparkW, sparkH = 120, 28
	sparkHours     = 24
)

// sparkline draws the hourly 95th percentiles of the last 24 hours ending
// at now: one polyline per run of hours with latency figures, and a mark
// under each hour with failed checks. Its label says the figures in words.
func sparkline(hours []store.HourStat, sum store.LatencySummary, now time.Time) templates.Sparkline {
	sp := templates.Sparkline{Width: strconv.Itoa(sparkW), Height: strconv.Itoa(sparkH),
		ViewBox: fmt.Sprintf("0 0 %d %d", sparkW, sparkH)}
	if sum.Count == 0 {
		sp.Empty = true
		sp.Label = "No results in the last 24 hours"
		return sp
	}
	if sum.Count == sum.Down {
		sp.Label = fmt.Sprintf("Latency over the last 24 hours: every one of %d checks failed", sum.Count)
	} else {
		sp.Label = fmt.Sprintf("Latency over the last 24 hours: min %s, p95 %s, max %s; %d checks, %d failed",
			fmtLatency(sum.Min), fmtLatency(sum.P95), fmtLatency(sum.Max), sum.Count, sum.Down)
	}
	first := now.Truncate(time.Hour).Add(-(sparkHours - 1) * time.Hour)
	col := float64(sparkW) / sparkHours
	var top time.Duration
	for _, h := range hours {
		top = max(top, h.P95)
	}
	const pad = 2.0
	plotH := float64(sparkH) - 2*pad - 3 // room for the failure marks
	var run []string
	flush := func() {
		if len(run) == 1 { // a lone point: draw a short flat segment
			x, y, _ := strings.Cut(run[0], ",")
			xf, _ := strconv.ParseFloat(x, 64)
			run = []string{fmt.Sprintf("%.1f,%s", xf-col/3, y), fmt.Sprintf("%.1f,%s", xf+col/3, y)}
		}
		if len(run) > 0 {
			sp.Lines = append(sp.Lines, strings.Join(run, " "))
		}
		run = nil
	}
	prev := -2
	for _, h := range hours {
		i := int(h.Hour.Sub(first) / time.Hour)
		if i < 0 || i >= sparkHours {
			continue
		}
		x := col*float64(i) + col/2
		if h.Down > 0 {
			sp.Down = append(sp.Down, templates.SparkMark{X: fmt.Sprintf("%.1f", col*float64(i)+0.5),
				Y: strconv.Itoa(sparkH - 3), W: fmt.Sprintf("%.1f", col-1), H: "3"})
		}
		if h.Count == h.Down { // no latency figure for this hour
			flush()
			prev = -2
			continue
		}
		if i != prev+1 {
			flush()
		}
		y := pad
		if top > 0 {
			y = pad + plotH*(1-float64(h.P95)/float64(top))
		}
		run = append(run, fmt.Sprintf("%.1f,%.1f", x, y))
		prev = i
	}
	flush()
	return sp
}

func (s *server) handleConsoleComponents(w http.ResponseWriter, r *http.Request, p Principal) {
	ctx := r.Context()
	c, err := s.readCatalog(ctx, p.Org)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	now := s.clock.Now()
	page := templates.ConsoleComponentsPage{Console: s.chrome(r, p, "components", "Components"), Empty: len(c.components) == 0}
	if msg, bad := takeConsoleFlash(w, r); bad {
		page.Console.Error = msg
	} else {
		page.Console.Flash = msg
	}
	groups := map[string]int{}
	for _, comp := range c.components {
		st := c.status(comp.ID)
		words, ok := statusWords[st]
		if !ok {
			words = [2]string{string(st), "?"}
		}
		name := comp.Name
		if name == "" {
			name = comp.ID
		}
		row := templates.ConsoleComponentRow{ID: comp.ID, Name: name, Description: comp.Description,
			Status: string(st), StatusLabel: words[0], StatusIcon: words[1], Private: comp.Private}
		for _, pr := range c.probes {
			if pr.Component != comp.ID {
				continue
			}
			pv, err := s.consoleProbeRow(ctx, p, pr, c.last, now)
			if err != nil {
				s.fail(w, r, err)
				return
			}
			row.Probes = append(row.Probes, pv)
		}
		i, ok := groups[comp.Group]
		if !ok {
			i = len(page.Groups)
			groups[comp.Group] = i
			page.Groups = append(page.Groups, templates.ConsoleComponentGroup{Name: comp.Group})
		}
		page.Groups[i].Components = append(page.Groups[i].Components, row)
	}
	s.consoleHTML(w, r, http.StatusOK, templates.ConsoleComponents(page))
}

func (s *server) handleConsoleProbe(w http.ResponseWriter, r *http.Request, p Principal) {
	ctx := r.Context()
	cur, _, err := pageParams(r)
	if err != nil {
		s.fail(w, r, errNotFound) // a forged cursor: nothing to show
		return
	}
	c, pr, err := s.readProbe(ctx, p.Org, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	now := s.clock.Now()
	row, err := s.consoleProbeRow(ctx, p, pr, c.last, now)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	page := templates.ConsoleProbePage{Console: s.chrome(r, p, "components", row.Name), Probe: row,
		Component: pr.Component, BackHref: "/console/components" + orgQuery(p.Org)}
	for _, comp := range c.components {
		if comp.ID == pr.Component && comp.Name != "" {
			page.Component = comp.Name
		}
	}
	if msg, bad := takeConsoleFlash(w, r); bad {
		page.Console.Error = msg
	} else {
		page.Console.Flash = msg
	}
	recs, err := s.probes.ProbeResults(ctx, p.Org, pr.ID, cur, consoleResultsPage+1)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if len(recs) > consoleResultsPage {
		recs = recs[:consoleResultsPage]
		page.OlderHref = row.Href + "&cursor=" + url.QueryEscape(recs[len(recs)-1].Cursor().String())
	}
	for _, rec := range recs {
		page.Results = append(page.Results, consoleResult(rec.Result, now))
	}
	s.consoleHTML(w, r, http.StatusOK, templates.ConsoleProbe(page))
}

// handleConsoleRunProbe runs a probe from the "Run now" button and goes
// back (303) to the page the button was on, the result as a flash.
func (s *server) handleConsoleRunProbe(w http.ResponseWriter, r *http.Request, p Principal) {
	id := r.PathValue("id")
	back := "/console/components" + orgQuery(p.Org) + "#component-"
	if r.PostFormValue("back") == "probe" {
		back = "/console/probes/" + url.PathEscape(id) + orgQuery(p.Org)
	}
	res, err := s.runProbe(r.Context(), w, p.Org, id)
	var ae *apiError
	switch {
	case err == nil:
		msg := fmt.Sprintf("Ran %s: %s in %s", id, res.Outcome, fmtLatency(res.Duration))
		if res.Error != "" {
			msg += " — " + res.Error
		}
		noteAudit(r, id, "ran probe now: "+string(res.Outcome))
		setConsoleFlash(w, msg, false)
	case errors.As(err, &ae) && ae.status != http.StatusNotFound:
		w.Header().Del("Retry-After")
		noteAudit(r, id, "run refused: "+ae.code)
		setConsoleFlash(w, "Could not run "+id+": "+ae.message, true)
	default:
		s.fail(w, r, err)
		return
	}
	if strings.HasSuffix(back, "#component-") {
		back = strings.TrimSuffix(back, "#component-")
		if c, err := s.probeExists(r.Context(), p.Org, id); err == nil && c.Component != "" {
			back += "#component-" + url.PathEscape(c.Component)
		}
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

package web

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/lookout-status/lookout/incidents"
	"github.com/lookout-status/lookout/templates"
)

// A component's page: its 90 days day by day, with the incidents that
// touched each, and a response-time chart drawn on the server as SVG (the
// CSP allows no script) with a table of the same numbers beside it.

func (s *server) handleComponentPage(w http.ResponseWriter, r *http.Request) {
	p, err := s.pageView(r)
	if err != nil {
		s.failView(w, r, err, true)
		return
	}
	id := r.PathValue("id")
	c := p.byID[id] // what the viewer may see: private ones are 404 to others
	if c == nil {
		s.failView(w, r, errNotFound, true)
		return
	}
	s.serveCached(w, r, p, "component/"+id, htmlType, func(buf *bytes.Buffer) error {
		return templates.ComponentPage(p.componentPage(c)).Render(r.Context(), buf)
	})
}

func (p *publicPage) componentPage(c *PageComponent) templates.ComponentPageView {
	v := templates.ComponentPageView{
		Shell:       p.shell(c.Name),
		Name:        c.Name,
		Description: c.Description,
		Status:      string(c.Status),
		StatusLabel: label(componentLabels, c.Status),
		Icon:        componentIcons[c.Status],
		Uptime:      "No data",
	}
	days := window(c, p.AsOf, statusWindow)
	if u, ok := uptime(days); ok {
		v.Uptime = formatPercent(u) + " uptime over the last 90 days"
	}
	v.Chart = latencyChart(c.Name, days, chartSize{Width: 720, Height: 200, Pad: 36})
	for i := len(days) - 1; i >= 0; i-- { // newest first
		d := days[i]
		dv := templates.ComponentDay{
			Date:    d.Day.Format("2 Jan 2006"),
			DateISO: d.Day.Format(time.DateOnly),
			Uptime:  "No data",
			Class:   "day-none",
			P50:     dayLatency(d.P50),
			P95:     dayLatency(d.P95),
		}
		if u, ok := uptime([]DayStat{d}); ok {
			dv.Uptime = formatPercent(u)
			d.Worst = cmpOr(d.Worst, incidents.Operational)
		}
		if d.Worst != "" {
			dv.Class = "day-" + string(d.Worst)
			dv.StatusLabel = label(componentLabels, d.Worst)
		}
		for _, inc := range p.incidentsTouching(c.ID, d.Day, d.Day.AddDate(0, 0, 1)) {
			dv.Incidents = append(dv.Incidents, templates.IncidentLink{Name: inc.Name, Href: p.link.incident(inc.ID)})
		}
		v.Days = append(v.Days, dv)
	}
	return v
}

// incidentsTouching returns the incidents affecting component id that were
// open at some time in [from, to), newest first.
func (p *publicPage) incidentsTouching(id string, from, to time.Time) []PageIncident {
	var out []PageIncident
	for _, inc := range p.Incidents {
		affects := len(inc.Components) == 0 // page-wide
		for _, c := range inc.Components {
			affects = affects || c == id
		}
		end := inc.ResolvedAt
		if end.IsZero() {
			end = p.AsOf
		}
		if affects && inc.StartedAt.Before(to) && !end.Before(from) {
			out = append(out, inc)
		}
	}
	return out
}

// formatLatency writes a response time for people: "87 ms", "<1 ms",
// "12.4 s".
func formatLatency(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return "<1 ms"
	case d < 10*time.Second:
		return fmt.Sprintf("%d ms", d.Round(time.Millisecond).Milliseconds())
	default:
		return fmt.Sprintf("%.1f s", d.Seconds())
	}
}

// dayLatency writes a day's response time, or "–" when unknown.
func dayLatency(d time.Duration) string {
	if d <= 0 {
		return "–"
	}
	return formatLatency(d)
}

// chartSize is an SVG chart's size in user units; Pad is the room left
// for the axis labels.
type chartSize struct{ Width, Height, Pad int }

// latencyChart draws days' p50 and p95 as two polylines, a gap where a
// day has no data. The y axis starts at zero and ends at a round value
// above the highest p95.
func latencyChart(name string, days []DayStat, size chartSize) templates.Chart {
	ch := templates.Chart{
		Width:  size.Width,
		Height: size.Height,
		Title:  "Response time of " + name,
	}
	var top time.Duration
	known := 0
	var lo, hi time.Duration = -1, 0
	for _, d := range days {
		top = max(top, d.P95, d.P50)
		if d.P50 > 0 {
			known++
			if lo < 0 || d.P50 < lo {
				lo = d.P50
			}
			hi = max(hi, d.P50)
		}
	}
	if known == 0 {
		ch.Desc = "No response times recorded in the last 90 days."
		ch.Empty = true
		return ch
	}
	first, last := days[0].Day.Format(humanDay), days[len(days)-1].Day.Format(humanDay)
	ch.Desc = fmt.Sprintf("Daily median (p50) and 95th percentile (p95) response times from %s to %s. "+
		"The median ranged from %s to %s; the highest p95 was %s.", first, last, formatLatency(lo), formatLatency(hi), formatLatency(top))
	scale := niceCeil(top)
	left, right := float64(size.Pad), float64(size.Width-8)
	topY, bottom := 8.0, float64(size.Height-24)
	x := func(i int) float64 {
		if len(days) == 1 {
			return left
		}
		return left + (right-left)*float64(i)/float64(len(days)-1)
	}
	y := func(d time.Duration) float64 { return bottom - (bottom-topY)*float64(d)/float64(scale) }
	ch.P50 = polylines(days, func(d DayStat) time.Duration { return d.P50 }, x, y)
	ch.P95 = polylines(days, func(d DayStat) time.Duration { return d.P95 }, x, y)
	for i := 0; i <= 4; i++ {
		v := scale * time.Duration(i) / 4
		ch.YTicks = append(ch.YTicks, templates.ChartTick{Pos: num(y(v)), Label: dayLatency(v)})
	}
	ch.YTicks[0].Label = "0"
	ch.XTicks = []templates.ChartTick{{Pos: num(x(0)), Label: first}, {Pos: num(x(len(days) - 1)), Label: last}}
	ch.Left, ch.Right, ch.Bottom, ch.LabelY = num(left), num(right), num(bottom), num(float64(size.Height-6))
	ch.AxisX = num(left - 4)
	return ch
}

// polylines returns the "x,y x,y" point lists of runs of days with data.
func polylines(days []DayStat, val func(DayStat) time.Duration, x func(int) float64, y func(time.Duration) float64) []string {
	var out []string
	var run []string
	flush := func() {
		if len(run) == 1 { // a lone day: a short flat stroke so it shows
			xy := strings.Split(run[0], ",")
			xf, _ := strconv.ParseFloat(xy[0], 64)
			run = []string{num(xf-2) + "," + xy[1], num(xf+2) + "," + xy[1]}
		}
		if len(run) > 0 {
			out = append(out, strings.Join(run, " "))
		}
		run = nil
	}
	for i, d := range days {
		v := val(d)
		if v <= 0 {
			flush()
			continue
		}
		run = append(run, num(x(i))+","+num(y(v)))
	}
	flush()
	return out
}

// num writes a coordinate with at most one decimal.
func num(f float64) string { return strconv.FormatFloat(float64(int64(f*10+0.5))/10, 'f', -1, 64) }

// niceCeil rounds d up to 1, 2 or 5 times a power of ten milliseconds.
func niceCeil(d time.Duration) time.Duration {
	if d <= time.Millisecond {
		return time.Millisecond
	}
	for step := time.Millisecond; ; step *= 10 {
		for _, m := range []time.Duration{1, 2, 5} {
			if d <= m*step {
				return m * step
			}
		}
	}
}

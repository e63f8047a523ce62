package web

import (
	"bytes"
	"net/http"
	"time"

	"github.com/lookout-status/lookout/incidents"
	"github.com/lookout-status/lookout/templates"
)

// The history page covers the months the snapshot has data for: the
// uptime bars' 90 days. Older months need a store-backed source (not built
// yet) and answer 404, as does any other month.

func (s *server) handleHistory(w http.ResponseWriter, r *http.Request) {
	p, err := s.pageView(r)
	if err != nil {
		s.failView(w, r, err, true)
		return
	}
	first, last := p.historyMonths()
	month := last
	if q := r.URL.Query().Get("month"); q != "" {
		m, err := time.Parse("2006-01", q)
		if err != nil || m.Before(first) || m.After(last) {
			s.failView(w, r, errNotFound, true)
			return
		}
		month = m
	}
	s.serveCached(w, r, p, "history/"+month.Format("2006-01"), htmlType, func(buf *bytes.Buffer) error {
		return templates.History(p.historyView(month, first, last)).Render(r.Context(), buf)
	})
}

// historyMonths returns the first and last months (their first day, UTC)
// the history covers.
func (p *publicPage) historyMonths() (first, last time.Time) {
	end := p.AsOf.UTC()
	start := end.AddDate(0, 0, -(statusWindow - 1))
	return time.Date(start.Year(), start.Month(), 1, 0, 0, 0, 0, time.UTC),
		time.Date(end.Year(), end.Month(), 1, 0, 0, 0, 0, time.UTC)
}

func (p *publicPage) historyView(month, first, last time.Time) templates.HistoryPage {
	v := templates.HistoryPage{Shell: p.shell("History"), Month: month.Format("January 2006")}
	if month.After(first) {
		v.PrevHref = p.link.history(month.AddDate(0, -1, 0).Format("2006-01"))
	}
	if month.Before(last) {
		v.NextHref = p.link.history(month.AddDate(0, 1, 0).Format("2006-01"))
	}
	// Every public component's window, to sum per day.
	windows := make([][]DayStat, len(p.Components))
	for i := range p.Components {
		windows[i] = window(&p.Components[i], p.AsOf, statusWindow)
	}
	today := p.AsOf.UTC().Truncate(24 * time.Hour)
	windowStart := today.AddDate(0, 0, -(statusWindow - 1))
	for day := month.AddDate(0, 1, -1); !day.Before(month); day = day.AddDate(0, 0, -1) {
		if day.After(today) || day.Before(windowStart) {
			continue
		}
		i := int(day.Sub(windowStart) / (24 * time.Hour))
		var sum DayStat
		for _, w := range windows {
			sum.Checks += w[i].Checks
			sum.Down += w[i].Down
			sum.Worst = worstStatus(sum.Worst, w[i].Worst)
		}
		d := templates.HistoryDay{
			ID:      "day-" + day.Format(time.DateOnly),
			Date:    day.Format("2 Jan 2006"),
			DateISO: day.Format(time.DateOnly),
			Uptime:  "No data",
		}
		if u, ok := uptime([]DayStat{sum}); ok {
			d.Uptime = formatPercent(u) + " uptime over all components"
			sum.Worst = cmpOr(sum.Worst, incidents.Operational)
		}
		if sum.Worst != "" {
			d.Status, d.StatusLabel, d.Icon = string(sum.Worst), label(componentLabels, sum.Worst), componentIcons[sum.Worst]
		}
		next := day.AddDate(0, 0, 1)
		for _, inc := range p.Incidents {
			if !inc.StartedAt.Before(day) && inc.StartedAt.Before(next) {
				d.Incidents = append(d.Incidents, p.incidentView(inc))
			}
		}
		v.Days = append(v.Days, d)
	}
	return v
}

package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/lookout-status/lookout/probes"
	"github.com/lookout-status/lookout/templates"
)

// Component statuses, as DESIGN.md names them, plus unknown for a component
// none of whose probes has reported yet.
const (
	statusOperational = "operational"
	statusDegraded    = "degraded_performance"
	statusPartial     = "partial_outage"
	statusMajor       = "major_outage"
	statusUnknown     = "unknown"
)

var statusLabels = map[string]string{
	statusOperational: "Operational",
	statusDegraded:    "Degraded performance",
	statusPartial:     "Partial outage",
	statusMajor:       "Major outage",
	statusUnknown:     "Pending: no checks yet",
}

var overallLabels = map[string]string{
	statusOperational: "All systems operational",
	statusDegraded:    "Degraded performance",
	statusPartial:     "Partial outage",
	statusMajor:       "Major outage",
	statusUnknown:     "Status not known yet",
}

var outcomeLabels = map[probes.Outcome]string{
	probes.Up:       "Up",
	probes.Degraded: "Degraded",
	probes.Down:     "Down",
}

// severity orders statuses for the overall indicator; unknown ranks lowest
// so that one pending component does not hide the others.
var severity = map[string]int{
	statusUnknown:     0,
	statusOperational: 1,
	statusDegraded:    2,
	statusPartial:     3,
	statusMajor:       4,
}

// componentStatus derives a component's status from its probes' latest
// outcomes, until the incident engine decides it: all up is operational,
// every probe down is a major outage, some down a partial outage, any
// degraded is degraded performance. Probes without a result are left out;
// with no result at all the status is unknown.
func componentStatus(ps []Probe) string {
	var known, up, degraded, down int
	for _, p := range ps {
		if p.Last == nil {
			continue
		}
		known++
		switch p.Last.Outcome {
		case probes.Up:
			up++
		case probes.Degraded:
			degraded++
		default: // down, or an outcome this code does not know: not healthy
			down++
		}
	}
	switch {
	case known == 0:
		return statusUnknown
	case down == known:
		return statusMajor
	case down > 0:
		return statusPartial
	case degraded > 0:
		return statusDegraded
	default:
		return statusOperational
	}
}

// overallStatus is the worst component status, unknown only when every
// component is unknown (or there are none).
func overallStatus(statuses []string) string {
	worst := statusUnknown
	for _, st := range statuses {
		if severity[st] > severity[worst] {
			worst = st
		}
	}
	return worst
}

// formatLatency writes a probe's duration for people: "87 ms", "<1 ms",
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

const humanTime = "2006-01-02 15:04:05 UTC"

// statusPage builds the view model of the status page at now.
func statusPage(st Status, now time.Time) templates.StatusPage {
	title := st.Title
	if title == "" {
		title = "Status"
	}
	page := templates.StatusPage{
		Title:     title,
		Updated:   now.UTC().Format(humanTime),
		UpdatedAt: now.UTC().Format(time.RFC3339),
	}
	groupIndex := map[string]int{}
	statuses := make([]string, 0, len(st.Components))
	for _, c := range st.Components {
		cv := templates.ComponentView{
			ID:          c.ID,
			Name:        c.Name,
			Description: c.Description,
			Group:       c.Group,
			Status:      componentStatus(c.Probes),
		}
		cv.StatusLabel = statusLabels[cv.Status]
		statuses = append(statuses, cv.Status)
		for _, p := range c.Probes {
			cv.Probes = append(cv.Probes, probeView(p))
		}
		// Components of one group are shown together, where the group
		// first appears.
		i, ok := groupIndex[c.Group]
		if !ok {
			i = len(page.Groups)
			groupIndex[c.Group] = i
			page.Groups = append(page.Groups, templates.GroupView{Name: c.Group})
		}
		page.Groups[i].Components = append(page.Groups[i].Components, cv)
	}
	page.Overall = overallStatus(statuses)
	page.OverallLabel = overallLabels[page.Overall]
	return page
}

func probeView(p Probe) templates.ProbeView {
	v := templates.ProbeView{ID: p.ID, Name: p.Name, Kind: p.Kind}
	if p.Last == nil {
		v.OutcomeLabel = "Pending"
		return v
	}
	r := p.Last
	v.Outcome = string(r.Outcome)
	v.OutcomeLabel = outcomeLabels[r.Outcome]
	if v.OutcomeLabel == "" {
		v.OutcomeLabel = string(r.Outcome)
	}
	v.Latency = formatLatency(r.Duration)
	v.Error = r.Error
	v.CheckedAt = r.Started.UTC().Format(time.RFC3339)
	v.CheckedText = r.Started.UTC().Format(humanTime)
	return v
}

func (s *server) handleStatusPage(w http.ResponseWriter, r *http.Request) {
	if s.pages != nil {
		s.handleIndex(w, r)
		return
	}
	var st Status
	if s.status != nil {
		var err error
		if st, err = s.status.Status(r.Context()); err != nil {
			s.fail(w, r, fmt.Errorf("load status: %w", err))
			return
		}
	}
	// Render into a buffer so a failed render is a clean 500, not half a page.
	var buf bytes.Buffer
	if err := templates.Status(statusPage(st, s.clock.Now())).Render(r.Context(), &buf); err != nil {
		s.fail(w, r, fmt.Errorf("render status page: %w", err))
		return
	}
	sum := sha256.Sum256(buf.Bytes())
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "public, max-age=10")
	h.Set("ETag", `"`+hex.EncodeToString(sum[:16])+`"`)
	http.ServeContent(w, r, "", time.Time{}, strings.NewReader(buf.String()))
}

package web

import (
	"bytes"
	"fmt"
	"html"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/lookout-status/lookout/incidents"
)

// Badges: shields.io-style SVGs of a component's status and uptime, for
// READMEs and dashboards. A private or unknown component is 404, like a
// component that does not exist.

const svgType = "image/svg+xml"

// badgeDays are the uptime windows a badge may show.
var badgeDays = map[string]int{"1": 1, "7": 7, "30": 30, "90": 90}

// badgeColours follow shields.io's palette; the text says the status, the
// colour only repeats it.
var badgeColours = map[incidents.ComponentStatus]string{
	incidents.Operational:         "#2e7d32",
	incidents.DegradedPerformance: "#8a6100",
	incidents.PartialOutage:       "#b54708",
	incidents.MajorOutage:         "#c62828",
	incidents.UnderMaintenance:    "#1565c0",
}

func (s *server) badgeComponent(w http.ResponseWriter, r *http.Request, id string) (*publicPage, *PageComponent, bool) {
	p, err := s.pageView(r)
	if err != nil {
		s.failView(w, r, err, false)
		return nil, nil, false
	}
	c := p.byID[id] // what the viewer may see: private ones are 404 to others
	if c == nil {
		s.failView(w, r, errNotFound, false)
		return nil, nil, false
	}
	return p, c, true
}

func (s *server) handleBadge(w http.ResponseWriter, r *http.Request) {
	id, ok := strings.CutSuffix(r.PathValue("name"), ".svg")
	if !ok {
		s.failView(w, r, errNotFound, false)
		return
	}
	p, c, ok := s.badgeComponent(w, r, id)
	if !ok {
		return
	}
	s.serveCached(w, r, p, "badge/"+id, svgType, func(buf *bytes.Buffer) error {
		return writeStatusBadge(buf, c)
	})
}

// writeStatusBadge writes c's status badge.
func writeStatusBadge(buf *bytes.Buffer, c *PageComponent) error {
	colour := badgeColours[c.Status]
	if colour == "" {
		colour = "#555"
	}
	return writeBadge(buf, c.Name, strings.ToLower(label(componentLabels, c.Status)), colour)
}

func (s *server) handleUptimeBadge(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query().Get("days")
	if q == "" {
		q = strconv.Itoa(defaultBadgeDays)
	}
	days, ok := badgeDays[q]
	if !ok {
		http.Error(w, "days must be 1, 7, 30 or 90", http.StatusBadRequest)
		return
	}
	id := r.PathValue("component")
	p, c, ok := s.badgeComponent(w, r, id)
	if !ok {
		return
	}
	s.serveCached(w, r, p, "badge/"+id+"/uptime/"+q, svgType, func(buf *bytes.Buffer) error {
		return p.writeUptimeBadge(buf, c, days)
	})
}

// defaultBadgeDays is the uptime badge's window without ?days=.
const defaultBadgeDays = 30

// writeUptimeBadge writes c's uptime badge over the last days.
func (p *publicPage) writeUptimeBadge(buf *bytes.Buffer, c *PageComponent, days int) error {
	u, ok := uptime(window(c, p.AsOf, days))
	value, colour := "no data", "#555"
	if ok {
		value = formatPercent(u)
		switch {
		case u >= 0.999:
			colour = "#2e7d32"
		case u >= 0.99:
			colour = "#8a6100"
		default:
			colour = "#c62828"
		}
	}
	return writeBadge(buf, c.Name+" uptime "+strconv.Itoa(days)+"d", value, colour)
}

// maxBadgeText caps each half of a badge, in characters.
const maxBadgeText = 64

// badgeText makes s safe and short for SVG: valid UTF-8, no control
// characters (XML forbids most), at most maxBadgeText characters.
func badgeText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0xfffe || r == 0xffff {
			return -1
		}
		return r
	}, s)
	if utf8.RuneCountInString(s) > maxBadgeText {
		s = string([]rune(s)[:maxBadgeText-1]) + "…"
	}
	return s
}

// textWidth estimates the width in pixels of s in 11 px Verdana, as
// shields.io lays badges out.
func textWidth(s string) int {
	w := 0.0
	for _, r := range s {
		switch {
		case strings.ContainsRune("il.,:;|!'", r):
			w += 3.5
		case r == ' ':
			w += 3.9
		case r >= 'A' && r <= 'Z', r == 'm', r == 'w', r == '%':
			w += 8.5
		default:
			w += 7
		}
	}
	return int(w + 0.5)
}

// writeBadge writes a two-part badge: label on grey, value on colour.
func writeBadge(buf *bytes.Buffer, labelText, value, colour string) error {
	labelText, value = badgeText(labelText), badgeText(value)
	lw, vw := textWidth(labelText)+10, textWidth(value)+10
	total := lw + vw
	esc := html.EscapeString
	_, err := fmt.Fprintf(buf, `<svg xmlns="http://www.w3.org/2000/svg" width="%[1]d" height="20" role="img" aria-label="%[2]s: %[3]s">`+
		`<title>%[2]s: %[3]s</title>`+
		`<linearGradient id="s" x2="0" y2="100%%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient>`+
		`<clipPath id="r"><rect width="%[1]d" height="20" rx="3" fill="#fff"/></clipPath>`+
		`<g clip-path="url(#r)"><rect width="%[4]d" height="20" fill="#555"/><rect x="%[4]d" width="%[5]d" height="20" fill="%[6]s"/><rect width="%[1]d" height="20" fill="url(#s)"/></g>`+
		`<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11">`+
		`<text x="%[7]d" y="14">%[2]s</text><text x="%[8]d" y="14">%[3]s</text></g></svg>`+"\n",
		total, esc(labelText), esc(value), lw, vw, colour, lw/2, lw+vw/2)
	return err
}

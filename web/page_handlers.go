package web

import (
	"bytes"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/lookout-status/lookout/templates"
)

// pageRoutes adds the public page's routes, when a PageSource is set.
func (s *server) pageRoutes(mux *http.ServeMux) {
	s.pageRoute(mux, "GET /theme/{name}", http.HandlerFunc(s.handleTheme))
	if s.pages == nil {
		return
	}
	s.pageRoute(mux, "GET /{$}", http.HandlerFunc(s.handleIndex))
	s.pageRoute(mux, "GET /incidents/{id}", http.HandlerFunc(s.handleIncidentPage))
	s.pageRoute(mux, "GET /history", http.HandlerFunc(s.handleHistory))
	s.pageRoute(mux, "GET /components/{id}", http.HandlerFunc(s.handleComponentPage))
	for _, name := range v2Names {
		s.pageRoute(mux, "GET /api/v2/"+name, s.handleV2(name))
	}
	s.pageRoute(mux, "GET /badge/{name}", http.HandlerFunc(s.handleBadge))
	s.pageRoute(mux, "GET /badge/{component}/uptime.svg", http.HandlerFunc(s.handleUptimeBadge))
}

// serveCached serves representation repr of p, rendering it when this
// version of p's view has not been rendered yet.
func (s *server) serveCached(w http.ResponseWriter, r *http.Request, p *publicPage, repr, contentType string, render func(*bytes.Buffer) error) {
	out, err := s.renders.get(p.cacheKey(repr), p.Version, contentType, p.member, render)
	if err != nil {
		s.fail(w, r, fmt.Errorf("render %s: %w", repr, err))
		return
	}
	out.serve(w, r, s.pageCacheControl)
}

const htmlType = "text/html; charset=utf-8"

func (s *server) handleIndex(w http.ResponseWriter, r *http.Request) {
	p, err := s.pageView(r)
	if err != nil {
		s.failView(w, r, err, true)
		return
	}
	s.serveCached(w, r, p, "index", htmlType, func(buf *bytes.Buffer) error {
		return templates.StatusIndex(p.indexView()).Render(r.Context(), buf)
	})
}

func (s *server) handleIncidentPage(w http.ResponseWriter, r *http.Request) {
	p, err := s.pageView(r)
	if err != nil {
		s.failView(w, r, err, true)
		return
	}
	id := r.PathValue("id")
	inc, ok := p.incident(id)
	if !ok {
		// The snapshot holds the published incidents of the page's 90-day
		// window (at most 500, cmd/lookout/pages.go), which is all the
		// history and component pages link to; older ones are not found.
		s.failView(w, r, errNotFound, true)
		return
	}
	// The postmortem's Markdown is rendered here, inside the cached
	// render: once per page version, not once per request.
	s.serveCached(w, r, p, "incident/"+id, htmlType, func(buf *bytes.Buffer) error {
		view, err := p.incidentPage(inc)
		if err != nil {
			return err
		}
		return templates.Incident(view).Render(r.Context(), buf)
	})
}

// themeRe matches the accent stylesheets' names: a lower-case colour.
var themeRe = regexp.MustCompile(`^[0-9a-f]{6}\.css$`)

// handleTheme serves a page's accent colour as a stylesheet named after the
// colour itself ("/theme/0969da.css"): the strict CSP allows no inline
// style, and the name is its content, so it is immutable.
func (s *server) handleTheme(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if !themeRe.MatchString(name) {
		s.fail(w, r, errNotFound)
		return
	}
	h := w.Header()
	h.Set("Content-Type", cssType)
	h.Set("Cache-Control", immutableCacheControl)
	_, _ = w.Write(themeCSS(strings.TrimSuffix(name, ".css")))
}

const (
	cssType = "text/css; charset=utf-8"
	// immutableCacheControl is for what is named after its content.
	immutableCacheControl = "public, max-age=31536000, immutable"
)

// themeCSS is the accent stylesheet of colour ("0969da").
func themeCSS(colour string) []byte {
	return []byte(":root{--accent:#" + colour + "}\n")
}

package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/lookout-status/lookout/config"
)

// Every page is served on its host name (pages[].host, and the first page
// of the first organization on any other host) and, when the PageSource is
// a PageFinder, also under a path of its own:
//
//	/pages/{org}/{page}/                   the page
//	/pages/{org}/{page}/incidents/{id}     ... and every page route below it
//
// so that one Lookout on one host name (a fly.io app, an internal server)
// serves every organization's pages. Only the page's own routes answer
// under the prefix (the page, incidents, history, components, feeds, the
// Statuspage API, badges, the subscribe form, its assets); anything else,
// such as /pages/acme/status/api/v1/incidents, is not found. Links in what
// is served there stay under the prefix.

// PageFinder is a PageSource that also finds a page by organization and
// page id; a page that does not exist is an error wrapping fs.ErrNotExist.
type PageFinder interface {
	PageByID(ctx context.Context, org, page string) (PageData, error)
}

// pagePathRoot starts every page path.
const pagePathRoot = "/pages/"

// pageSel is the page a request under /pages/{org}/{page}/ addresses.
type pageSel struct {
	org, page string
	prefix    string // "/pages/{org}/{page}", links go below it
}

type pageSelKey struct{}

func selectedPage(ctx context.Context) (pageSel, bool) {
	sel, ok := ctx.Value(pageSelKey{}).(pageSel)
	return sel, ok
}

// pageRoute registers a public route that shows a page: it is served on
// the page's host name and under its path.
func (s *server) pageRoute(mux *http.ServeMux, pattern string, h http.Handler) {
	s.public(mux, pattern, h)
	if s.pageScoped == nil {
		s.pageScoped = map[string]bool{}
	}
	s.pageScoped[pattern] = true
}

// pagePathRoutes adds /pages/{org}/{page}/..., after every page route.
func (s *server) pagePathRoutes(mux *http.ServeMux) {
	if _, ok := s.pages.(PageFinder); !ok {
		return
	}
	h := s.handlePagePath(mux)
	s.public(mux, "GET /pages/{org}/{page}/{rest...}", h)
	s.public(mux, "POST /pages/{org}/{page}/{rest...}", h) // the subscribe form
}

// handlePagePath serves a page route of the page the path names: the rest
// of the path goes through mux again, with the page selected in the
// request's context (load reads it).
func (s *server) handlePagePath(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		org, page := r.PathValue("org"), r.PathValue("page")
		if !config.ValidID(org) || !config.ValidID(page) {
			s.failView(w, r, errNotFound, true)
			return
		}
		sel := pageSel{org: org, page: page, prefix: pagePathRoot + org + "/" + page}
		// Valid ids need no escaping, so the prefix is the same escaped:
		// the rest keeps its own escaping (an incident id with a '/').
		rest, ok := strings.CutPrefix(r.URL.EscapedPath(), sel.prefix)
		if !ok || !strings.HasPrefix(rest, "/") {
			s.failView(w, r, errNotFound, true)
			return
		}
		u := *r.URL
		var err error
		if u.Path, err = url.PathUnescape(rest); err != nil {
			s.failView(w, r, errNotFound, true)
			return
		}
		u.RawPath = ""
		if u.EscapedPath() != rest {
			u.RawPath = rest
		}
		inner := r.WithContext(context.WithValue(r.Context(), pageSelKey{}, sel))
		inner.URL = &u
		if _, pattern := mux.Handler(inner); !s.pageScoped[pattern] {
			s.failView(w, r, errNotFound, true)
			return
		}
		mux.ServeHTTP(w, inner)
	})
}

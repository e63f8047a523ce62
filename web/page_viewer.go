package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/lookout-status/lookout/templates"
)

// Who sees what of a page. The page routes (/, /incidents/{id}, /history,
// /components/{id}, /api/v2/*, badges, feeds) are public: anyone may call
// them, and the handler decides what the caller sees. A request carrying
// the session cookie or a bearer token of a member (any role) of the
// page's organization gets the member's view, private components and
// private pages included; everyone else, members of other organizations
// and credentials that do not check out included, gets the anonymous view,
// and a private page answers them 404 exactly as a host without a page
// does. A request with neither a Cookie nor an Authorization header never
// reaches the accounts store: the anonymous path costs what it did before
// sign-in existed.
//
// Both views are built once per page version and kept in memory, and so
// are their renderings (render.go). The anonymous renderings carry the
// page's Cache-Control (public); a member's carry "private, no-store" and
// Vary: Cookie, Authorization, with ETags of their own.

// signInHref is the header's "Sign in" link. It returns to the page's home
// after signing in, and is the same on every page and every 404, so it
// tells nothing about what exists.
const signInHref = "/login?next=%2F"

// viewKey names one view of one page. A page belongs to one organization,
// so there is one member's view per page, never shared with another
// organization's page even when their ids are the same.
type viewKey struct {
	org, page string
	member    bool
	prefix    string // "" on the page's host name, or /pages/{org}/{page}
}

// pageViews keeps, per page and view (anonymous or member), the view of
// the latest version, so that it is built once per change, not once per
// request.
type pageViews struct {
	mu    sync.RWMutex
	pages map[viewKey]*publicPage
}

// load returns the data of r's host's page, its Version set.
func (s *server) load(ctx context.Context, r *http.Request) (PageData, error) {
	var (
		data PageData
		err  error
	)
	if sel, ok := selectedPage(r.Context()); ok {
		// /pages/{org}/{page}/... (page_path.go): only a PageFinder
		// registers those routes.
		data, err = s.pages.(PageFinder).PageByID(ctx, sel.org, sel.page)
	} else {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		data, err = s.pages.Page(ctx, strings.ToLower(host))
	}
	if err != nil {
		return PageData{}, fmt.Errorf("load page: %w", err)
	}
	if data.Version == "" {
		// Hashing takes the data's address: a copy here keeps data itself
		// on the stack of every request whose source sets a version.
		cp := data
		if data.Version, err = cp.version(); err != nil {
			return PageData{}, err
		}
	}
	return data, nil
}

// view returns the anonymous view of r's host's page, with its version,
// whoever asks: the subscription endpoints use it, so that nobody
// subscribes to what visitors cannot see. A private page is not found.
func (s *server) view(ctx context.Context, r *http.Request) (*publicPage, string, error) {
	d, err := s.load(ctx, r)
	if err != nil {
		return nil, "", err
	}
	p, err := s.viewAs(d, Anonymous, pathPrefix(r))
	if err != nil {
		return nil, "", err
	}
	return p, d.Version, nil
}

// pageView returns r's host's page as r's sender may see it.
func (s *server) pageView(r *http.Request) (*publicPage, error) {
	d, err := s.load(r.Context(), r)
	if err != nil {
		return nil, err
	}
	return s.viewAs(d, s.viewer(r, d.Org), pathPrefix(r))
}

// pathPrefix is where r's page lives: "" on its host name, or
// /pages/{org}/{page} (page_path.go).
func pathPrefix(r *http.Request) string {
	sel, _ := selectedPage(r.Context())
	return sel.prefix
}

// viewAs returns d as v sees it, its links under prefix ("" on the page's
// host name), built at most once per version and view.
func (s *server) viewAs(d PageData, v Viewer, prefix string) (*publicPage, error) {
	member := v.seesPrivate(&d)
	if d.Private && !member {
		return nil, errNotFound
	}
	key := viewKey{org: d.Org, page: d.ID, member: member, prefix: prefix}
	vs := &s.views
	vs.mu.RLock()
	p := vs.pages[key]
	vs.mu.RUnlock()
	if p != nil && p.Version == d.Version {
		return p, nil
	}
	vs.mu.Lock()
	defer vs.mu.Unlock()
	if p = vs.pages[key]; p != nil && p.Version == d.Version {
		return p, nil
	}
	p = pageFor(d, v)
	p.member = member
	view := "anonymous"
	if member {
		view = "member"
	}
	p.keyPrefix = d.Org + "\x00" + d.ID + "\x00" + view + "\x00" + prefix + "\x00"
	if prefix != "" {
		p.link = links{prefix: prefix}
		if d.URL == "" {
			p.abs = p.link
		}
	}
	switch {
	case member:
		p.console = consoleHome + "?org=" + url.QueryEscape(d.Org)
	case s.accounts != nil:
		p.signIn = signInHref
		if prefix != "" {
			p.signIn = "/login?next=" + url.QueryEscape(prefix+"/") // back to this page
		}
	}
	if vs.pages == nil {
		vs.pages = map[viewKey]*publicPage{}
	}
	vs.pages[key] = p
	return p, nil
}

// viewer returns who r's sender is to a page of org: a member of org when
// r carries a bearer token or else a session cookie of a member of org
// (any role), else Anonymous. Credentials that do not check out (unknown,
// expired, revoked, malformed, another organization's, a member who must
// first enroll a second factor) are Anonymous too, never an error: a page
// answers whatever junk a browser or proxy sends along.
func (s *server) viewer(r *http.Request, org string) Viewer {
	if s.auth == nil || org == "" {
		return Anonymous
	}
	var (
		p  Principal
		ok bool
	)
	if token, bearer := bearerToken(r); bearer {
		p, ok = s.auth.Token(r.Context(), token)
	} else {
		if len(r.Header["Cookie"]) == 0 {
			return Anonymous
		}
		c, err := r.Cookie(SessionCookie)
		if err != nil || !wellFormedSessionID(c.Value) {
			return Anonymous
		}
		// The page's organization, not ?org=: a member of several sees
		// each organization's page as its member.
		p, ok = s.auth.Session(r.Context(), c.Value, org)
	}
	if !ok || p.Org != org || p.EnrollTOTP || !p.may(roleViewer) {
		return Anonymous
	}
	return Viewer{Org: org}
}

// cacheKey names representation repr of p's view in the render cache.
func (p *publicPage) cacheKey(repr string) renderKey {
	return renderKey{view: p.keyPrefix, repr: repr}
}

// failView answers a page route's error. Not found (no page on this host,
// no such object, or a private page or component the viewer may not see)
// is one answer whatever the cause, so that it tells nothing about what
// exists: 404, stored by no cache (a member's next request must not get a
// copy of it), and on the HTML routes a page whose header offers to sign
// in.
func (s *server) failView(w http.ResponseWriter, r *http.Request, err error, html bool) {
	if !errors.Is(err, errNotFound) && !errors.Is(err, fs.ErrNotExist) {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	if !html {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	var buf bytes.Buffer
	if err := templates.Notice(s.notFoundPage()).Render(r.Context(), &buf); err != nil {
		s.fail(w, r, fmt.Errorf("render not found: %w", err))
		return
	}
	w.Header().Set("Content-Type", htmlType)
	w.WriteHeader(http.StatusNotFound)
	_, _ = w.Write(buf.Bytes())
}

// notFoundPage is the page routes' 404: the same bytes for every host and
// path.
func (s *server) notFoundPage() templates.NoticePage {
	l := links{}
	n := templates.NoticePage{
		Shell: templates.Shell{
			Title: "Not found", Name: "Status",
			HomeHref: l.home(), HistoryHref: l.history(""), APIHref: l.api("summary.json"),
			CSS: l.asset("page.css"), Favicon: l.asset("favicon.svg"), Script: l.asset("page.js"),
		},
		Heading:    "Not found",
		Paragraphs: []string{"There is no such page here."},
	}
	if s.accounts != nil {
		n.Shell.SignInHref = signInHref
		n.Paragraphs = append(n.Paragraphs, "Some status pages are only for the members of their organization: sign in to see them.")
	}
	return n
}

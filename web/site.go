package web

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/a-h/templ"

	"github.com/lookout-status/lookout/static"
	"github.com/lookout-status/lookout/templates"
)

// A page's static copy: everything an anonymous visitor can reach, as
// files that any static host serves as they are (a bucket website, a CDN,
// a directory behind nginx, even file://), so the last true status stays
// up while Lookout is down. Package mirror publishes it.
//
//	index.html                       the page
//	history/2025-11.html             each month of history
//	incidents/ID.html                each incident
//	components/ID.html               each public component
//	history.atom, history.rss        the feeds
//	components/ID/history.atom|rss   each component's feeds
//	api/v2/*.json                    the Statuspage-compatible API
//	badge/ID.svg, badge/ID/uptime.svg  badges (uptime over 30 days)
//	static/NAME.HASH.EXT, theme/RRGGBB.css  assets
//
// HTML documents link to each other with relative file paths, so the copy
// works wherever it is put. Feeds and API documents hold absolute URLs: the
// page's own (as on the live server) or, with SiteOptions.BaseURL, the
// copy's.

// SiteFile is one file of a page's static copy.
type SiteFile struct {
	// Path is slash-separated and relative to the copy's root.
	Path         string
	ContentType  string
	CacheControl string
	Body         []byte
}

// SiteOptions shape a static copy.
type SiteOptions struct {
	// BaseURL is where the copy is served ("https://mirror.example.net/status");
	// its feeds and API documents then link into the copy. Empty: they link
	// to the page's URL, byte for byte what the live server answers.
	BaseURL string
	// CacheControl is set on every file but the content-named assets
	// (default: the live page's).
	CacheControl string
}

// StaticSite renders d's static copy, for Anonymous: no private component,
// nor anything only about one, is in any file, and a private page has no
// copy at all (an error). It is a pure function of d and o.
func StaticSite(ctx context.Context, d PageData, o SiteOptions) ([]SiteFile, error) {
	if d.Private {
		// Config refuses a mirror of a private page; this holds whatever
		// the caller.
		return nil, fmt.Errorf("static copy of page %s: a private page has none", d.ID)
	}
	cc := o.CacheControl
	if cc == "" {
		cc = defaultPageCacheControl
	}
	p := pageFor(d, Anonymous)
	first, last := p.historyMonths()
	lastMonth := last.Format("2006-01")
	// The same page seen from the copy's root and from one directory
	// down; its feeds and API documents link under the base URL, if any.
	root, sub := *p, *p
	root.link = links{files: true, lastMonth: lastMonth}
	sub.link = links{files: true, prefix: "../", lastMonth: lastMonth}
	if o.BaseURL != "" {
		root.abs = links{files: true, prefix: strings.TrimSuffix(o.BaseURL, "/") + "/", lastMonth: lastMonth}
		sub.abs = root.abs
	}

	var out []SiteFile
	add := func(path, contentType string, render func(*bytes.Buffer) error) error {
		var buf bytes.Buffer
		if err := render(&buf); err != nil {
			return fmt.Errorf("static copy: render %s: %w", path, err)
		}
		out = append(out, SiteFile{Path: path, ContentType: contentType, CacheControl: cc, Body: buf.Bytes()})
		return nil
	}
	html := func(c templ.Component) func(*bytes.Buffer) error {
		return func(buf *bytes.Buffer) error { return c.Render(ctx, buf) }
	}

	for _, f := range static.All() {
		out = append(out, SiteFile{Path: strings.TrimPrefix(static.Prefix, "/") + f.Hashed, ContentType: f.ContentType,
			CacheControl: immutableCacheControl, Body: f.Body})
	}
	if accentRe.MatchString(p.Accent) {
		colour := strings.ToLower(p.Accent[1:])
		out = append(out, SiteFile{Path: "theme/" + colour + ".css", ContentType: cssType,
			CacheControl: immutableCacheControl, Body: themeCSS(colour)})
	}

	for m := first; !m.After(last); m = m.AddDate(0, 1, 0) {
		if err := add("history/"+m.Format("2006-01")+".html", htmlType,
			html(templates.History(sub.historyView(m, first, last)))); err != nil {
			return nil, err
		}
	}
	for _, inc := range sub.Incidents {
		view, err := sub.incidentPage(inc)
		if err != nil {
			return nil, fmt.Errorf("static copy: %w", err)
		}
		if err := add("incidents/"+fileName(inc.ID)+".html", htmlType, html(templates.Incident(view))); err != nil {
			return nil, err
		}
	}
	for i := range sub.Components {
		c := &sub.Components[i]
		name := fileName(c.ID)
		if err := add("components/"+name+".html", htmlType, html(templates.ComponentPage(sub.componentPage(c)))); err != nil {
			return nil, err
		}
		if err := add("badge/"+name+".svg", svgType, func(buf *bytes.Buffer) error { return writeStatusBadge(buf, c) }); err != nil {
			return nil, err
		}
		if err := add("badge/"+name+"/uptime.svg", svgType, func(buf *bytes.Buffer) error {
			return sub.writeUptimeBadge(buf, c, defaultBadgeDays)
		}); err != nil {
			return nil, err
		}
	}

	// Feeds hold absolute URLs only (root.abs), wherever they are.
	feeds := []string{""}
	for _, c := range root.Components {
		feeds = append(feeds, c.ID)
	}
	for _, component := range feeds {
		v, ok := root.feed(component)
		if !ok {
			continue
		}
		dir := ""
		if component != "" {
			dir = "components/" + fileName(component) + "/"
		}
		if err := add(dir+"history.atom", atomType, v.writeAtom); err != nil {
			return nil, err
		}
		if err := add(dir+"history.rss", rssType, v.writeRSS); err != nil {
			return nil, err
		}
	}

	for _, name := range v2Names {
		if err := add("api/v2/"+name, "application/json", func(buf *bytes.Buffer) error { return root.writeV2(buf, name) }); err != nil {
			return nil, err
		}
	}
	if err := add("index.html", htmlType, html(templates.StatusIndex(root.indexView()))); err != nil {
		return nil, err
	}
	return out, nil
}

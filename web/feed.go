package web

import (
	"bytes"
	"cmp"
	"encoding/xml"
	"html"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Feeds: the page's incident and maintenance history as Atom 1.0 and RSS
// 2.0, for the page as a whole (/history.atom, /history.rss) and for one
// public component (/components/{id}/history.atom|.rss). One entry per
// incident and per maintenance, its content the whole public timeline,
// newest update first. Feeds are rendered once per page version through
// the render cache (ETag), and also answer If-Modified-Since.
//
// Text reaching the XML has been through cleanText (valid UTF-8, no
// control characters); encoding/xml escapes the rest. CDATA is never used.

// feedTagDate is the date part of the entries' tag: URIs (RFC 4151). It
// must never change: readers identify entries by these ids.
const feedTagDate = "2026"

// feedLimit bounds a feed's entries, newest first.
const feedLimit = 100

const (
	atomType = "application/atom+xml; charset=utf-8"
	rssType  = "application/rss+xml; charset=utf-8"
	atomNS   = "http://www.w3.org/2005/Atom"
)

// feedEntry is one incident or maintenance, format-neutral.
type feedEntry struct {
	id, title, link, content string
	published, updated       time.Time
}

// feedView is one feed, format-neutral.
type feedView struct {
	id, title, subtitle, self, alternate, author string
	updated                                      time.Time
	entries                                      []feedEntry
}

// tagHost is the authority of the page's tag: ids: its public address's
// host, or its id when it has none.
func (p *publicPage) tagHost() string {
	if u, err := url.Parse(p.URL); err == nil && u.Hostname() != "" {
		return strings.ToLower(u.Hostname())
	}
	return p.ID
}

func (p *publicPage) tag(kind, id string) string {
	return "tag:" + p.tagHost() + "," + feedTagDate + ":" + kind + "/" + id
}

// timelineHTML is an entry's content: every update, newest first, with its
// time and status, as an HTML fragment (escaped again by the XML encoder).
func timelineHTML(us []IncidentUpdate, extra string) string {
	var b strings.Builder
	if extra != "" {
		b.WriteString("<p>" + html.EscapeString(extra) + "</p>\n")
	}
	for _, u := range us {
		body := strings.ReplaceAll(html.EscapeString(u.Body), "\n", "<br>")
		b.WriteString("<p><small>" + html.EscapeString(humanTimeOf(u.At)) + "</small><br>\n<strong>" +
			html.EscapeString(label(publicLabels, u.Status)) + "</strong> - " + body + "</p>\n")
	}
	return b.String()
}

func latest(t time.Time, us []IncidentUpdate) time.Time {
	for _, u := range us {
		if u.At.After(t) {
			t = u.At
		}
	}
	return t
}

// feed builds the feed of the whole page (component "") or of one public
// component; ok is false when that component is not shown.
func (p *publicPage) feed(component string) (feedView, bool) {
	v := feedView{
		id:        p.tag("history", ""),
		title:     p.Name + " status",
		subtitle:  "Incidents and maintenances of " + p.Name,
		self:      p.abs.feed("", "atom"),
		alternate: p.abs.history(""),
		author:    p.Name,
		updated:   p.UpdatedAt,
	}
	v.id = strings.TrimSuffix(v.id, "/")
	touches := func(ids []string) bool { return component == "" || slices.Contains(ids, component) }
	if component != "" {
		c := p.byID[component]
		if c == nil {
			return feedView{}, false
		}
		v.id = p.tag("component", url.PathEscape(component))
		v.title = p.Name + " status: " + c.Name
		v.subtitle = "Incidents and maintenances of " + c.Name
		v.self = p.abs.feed(component, "atom")
	}
	for _, inc := range p.Incidents {
		if !touches(inc.Components) {
			continue
		}
		extra := ""
		if names := p.componentNames(inc.Components); names != "" {
			extra = "Affected: " + names
		}
		v.entries = append(v.entries, feedEntry{
			id:        p.tag("incident", url.PathEscape(inc.ID)),
			title:     inc.Name,
			link:      p.abs.incident(inc.ID),
			content:   timelineHTML(inc.Updates, extra),
			published: cmp.Or(inc.StartedAt, inc.CreatedAt),
			updated:   latest(cmp.Or(inc.UpdatedAt, inc.StartedAt, inc.CreatedAt), inc.Updates),
		})
	}
	for _, m := range p.Maintenances {
		if !touches(m.Components) {
			continue
		}
		extra := "Scheduled from " + humanTimeOf(m.ScheduledFor) + " to " + humanTimeOf(m.ScheduledUntil)
		if names := p.componentNames(m.Components); names != "" {
			extra += "; affected: " + names
		}
		v.entries = append(v.entries, feedEntry{
			id:        p.tag("maintenance", url.PathEscape(m.ID)),
			title:     m.Name,
			link:      p.abs.home() + "#maintenance-" + url.PathEscape(m.ID),
			content:   timelineHTML(m.Updates, extra),
			published: cmp.Or(m.CreatedAt, m.ScheduledFor),
			updated:   latest(cmp.Or(m.UpdatedAt, m.CreatedAt, m.ScheduledFor), m.Updates),
		})
	}
	slices.SortStableFunc(v.entries, func(a, b feedEntry) int {
		return cmp.Or(b.updated.Compare(a.updated), cmp.Compare(a.id, b.id))
	})
	if len(v.entries) > feedLimit {
		v.entries = v.entries[:feedLimit]
	}
	for _, e := range v.entries {
		if e.updated.After(v.updated) {
			v.updated = e.updated
		}
	}
	return v, true
}

// Atom 1.0 (RFC 4287).
type atomFeed struct {
	XMLName  xml.Name    `xml:"http://www.w3.org/2005/Atom feed"`
	ID       string      `xml:"id"`
	Title    string      `xml:"title"`
	Subtitle string      `xml:"subtitle,omitempty"`
	Updated  string      `xml:"updated"`
	Links    []atomLink  `xml:"link"`
	Author   atomPerson  `xml:"author"`
	Entries  []atomEntry `xml:"entry"`
}

type atomLink struct {
	Rel  string `xml:"rel,attr"`
	Type string `xml:"type,attr,omitempty"`
	Href string `xml:"href,attr"`
}

type atomPerson struct {
	Name string `xml:"name"`
}

type atomEntry struct {
	ID        string      `xml:"id"`
	Title     string      `xml:"title"`
	Published string      `xml:"published"`
	Updated   string      `xml:"updated"`
	Link      atomLink    `xml:"link"`
	Content   atomContent `xml:"content"`
}

type atomContent struct {
	Type string `xml:"type,attr"`
	Body string `xml:",chardata"`
}

func atomTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func (v feedView) writeAtom(buf *bytes.Buffer) error {
	f := atomFeed{
		ID: v.id, Title: v.title, Subtitle: v.subtitle, Updated: atomTime(v.updated),
		Links: []atomLink{
			{Rel: "self", Type: "application/atom+xml", Href: v.self},
			{Rel: "alternate", Type: "text/html", Href: v.alternate},
		},
		Author: atomPerson{Name: cmp.Or(v.author, "Lookout")},
	}
	for _, e := range v.entries {
		f.Entries = append(f.Entries, atomEntry{
			ID: e.id, Title: e.title, Published: atomTime(e.published), Updated: atomTime(e.updated),
			Link:    atomLink{Rel: "alternate", Type: "text/html", Href: e.link},
			Content: atomContent{Type: "html", Body: e.content},
		})
	}
	return writeXML(buf, f)
}

// RSS 2.0.
type rssDoc struct {
	XMLName xml.Name   `xml:"rss"`
	Version string     `xml:"version,attr"`
	Channel rssChannel `xml:"channel"`
}

type rssChannel struct {
	Title         string    `xml:"title"`
	Link          string    `xml:"link"`
	Description   string    `xml:"description"`
	LastBuildDate string    `xml:"lastBuildDate"`
	Self          rssSelf   `xml:"http://www.w3.org/2005/Atom link"`
	Items         []rssItem `xml:"item"`
}

type rssSelf struct {
	Rel  string `xml:"rel,attr"`
	Type string `xml:"type,attr"`
	Href string `xml:"href,attr"`
}

type rssItem struct {
	Title       string  `xml:"title"`
	Link        string  `xml:"link"`
	GUID        rssGUID `xml:"guid"`
	PubDate     string  `xml:"pubDate"`
	Description string  `xml:"description"`
}

type rssGUID struct {
	IsPermaLink string `xml:"isPermaLink,attr"`
	Value       string `xml:",chardata"`
}

func rssTime(t time.Time) string { return t.UTC().Format(time.RFC1123Z) }

func (v feedView) writeRSS(buf *bytes.Buffer) error {
	self := strings.TrimSuffix(v.self, ".atom") + ".rss"
	d := rssDoc{Version: "2.0", Channel: rssChannel{
		Title: v.title, Link: v.alternate, Description: v.subtitle, LastBuildDate: rssTime(v.updated),
		Self: rssSelf{Rel: "self", Type: "application/rss+xml", Href: self},
	}}
	for _, e := range v.entries {
		// An item's date is its last change, so readers see updates.
		d.Channel.Items = append(d.Channel.Items, rssItem{
			Title: e.title, Link: e.link, GUID: rssGUID{IsPermaLink: "false", Value: e.id},
			PubDate: rssTime(e.updated), Description: e.content,
		})
	}
	return writeXML(buf, d)
}

func writeXML(buf *bytes.Buffer, v any) error {
	buf.WriteString(xml.Header)
	enc := xml.NewEncoder(buf)
	enc.Indent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	buf.WriteByte('\n')
	return enc.Close()
}

// handleFeed serves a feed: format is "atom" or "rss"; perComponent takes
// the component from the path.
func (s *server) handleFeed(format string, perComponent bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := s.pageView(r)
		if err != nil {
			s.failView(w, r, err, false)
			return
		}
		component := ""
		if perComponent {
			component = r.PathValue("id")
		}
		v, ok := p.feed(component)
		if !ok {
			// Unknown or private: the same answer.
			s.failView(w, r, errNotFound, false)
			return
		}
		contentType, render := atomType, v.writeAtom
		if format == "rss" {
			contentType, render = rssType, v.writeRSS
		}
		// The key is bounded: component is one of the ids of the view.
		out, err := s.renders.get(p.cacheKey("feed/"+component+"/"+format), p.Version, contentType, p.member, render)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		modified := v.updated.UTC().Truncate(time.Second)
		if !modified.IsZero() {
			w.Header().Set("Last-Modified", modified.Format(http.TimeFormat))
		}
		// If-None-Match, when sent, decides alone (RFC 9110 13.2.2).
		if r.Header.Get("If-None-Match") == "" && !modified.IsZero() {
			if since, err := http.ParseTime(r.Header.Get("If-Modified-Since")); err == nil && !modified.After(since) {
				h := w.Header()
				h["Etag"] = out.variant(r).etagHdr
				out.cacheHeaders(h, s.pageCacheControl)
				w.WriteHeader(http.StatusNotModified)
				return
			}
		}
		out.serve(w, r, s.pageCacheControl)
	}
}

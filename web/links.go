package web

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/lookout-status/lookout/static"
)

// links makes every link of a page's documents, for the live server or
// for a static copy (site.go), so that both render from the same views.
//
// The live server links to its routes: "/incidents/acme-2",
// "/history?month=2025-11". A static copy is a tree of files that any
// static host (or a file:// URL) serves as they are, so it links to file
// names: "incidents/acme-2.html", "history/2025-11.html", relative to the
// document linking (prefix "../" from a subdirectory) or under a base URL.
type links struct {
	// files: a static copy's file paths instead of the server's routes.
	files bool
	// prefix goes before every link: for routes "" (root-relative) or the
	// page's URL without its trailing slash; for files "", "../" or a
	// base URL with its trailing slash.
	prefix string
	// lastMonth is the newest history month ("2025-11"), the file the
	// History link leads to in a static copy.
	lastMonth string
}

// liveLinks are the server's links, under url ("" for root-relative ones).
func liveLinks(pageURL string) links {
	return links{prefix: strings.TrimSuffix(pageURL, "/")}
}

// fileName makes an id a file name that is also its own URL path segment:
// letters, digits, '-', '_' and '.' stay, every other byte becomes "~hh",
// and a leading '.' too (no "..", no hidden files). Configured and
// generated ids are all plain, so in practice it changes nothing.
func fileName(id string) string {
	var b strings.Builder
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.' && i > 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "~%02x", c)
		}
	}
	if b.Len() == 0 {
		return "~"
	}
	return b.String()
}

func (l links) home() string {
	if l.files {
		return l.prefix + "index.html"
	}
	return l.prefix + "/"
}

// history links a month of the history ("2025-11"; "" for the newest).
func (l links) history(month string) string {
	if l.files {
		if month == "" {
			month = l.lastMonth
		}
		return l.prefix + "history/" + month + ".html"
	}
	if month == "" {
		return l.prefix + "/history"
	}
	return l.prefix + "/history?month=" + month
}

func (l links) incident(id string) string {
	if l.files {
		return l.prefix + "incidents/" + fileName(id) + ".html"
	}
	return l.prefix + "/incidents/" + url.PathEscape(id)
}

func (l links) component(id string) string {
	if l.files {
		return l.prefix + "components/" + fileName(id) + ".html"
	}
	return l.prefix + "/components/" + url.PathEscape(id)
}

// feed links the page's feed (component "") or a component's; format is
// "atom" or "rss".
func (l links) feed(component, format string) string {
	if component == "" {
		if l.files {
			return l.prefix + "history." + format
		}
		return l.prefix + "/history." + format
	}
	if l.files {
		return l.prefix + "components/" + fileName(component) + "/history." + format
	}
	return l.prefix + "/components/" + url.PathEscape(component) + "/history." + format
}

// api links an /api/v2 document ("summary.json").
func (l links) api(name string) string {
	if l.files {
		return l.prefix + "api/v2/" + name
	}
	return l.prefix + "/api/v2/" + name
}

// subscribe is where the e-mail subscription form posts. A static copy
// has no server of its own: its form keeps posting to /subscribe.
func (l links) subscribe() string {
	if l.files {
		return "/subscribe"
	}
	return l.prefix + "/subscribe"
}

// asset links an embedded asset by its original name ("page.css").
func (l links) asset(name string) string {
	p := static.Path(name)
	if l.files {
		return l.prefix + strings.TrimPrefix(p, "/")
	}
	return l.prefix + p
}

// theme links the accent stylesheet of colour ("0969da").
func (l links) theme(colour string) string {
	if l.files {
		return l.prefix + "theme/" + colour + ".css"
	}
	return l.prefix + "/theme/" + colour + ".css"
}

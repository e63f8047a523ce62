package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// inert returns the first active thing in an HTML fragment: an element
// that runs or loads something, an event handler, a style, or a link or
// source that is not http, https or mailto.
func inert(fragment string) error {
	nodes, err := html.ParseFragment(strings.NewReader(fragment), &html.Node{Type: html.ElementNode, Data: "div", DataAtom: atom.Div})
	if err != nil {
		return fmt.Errorf("parse: %w", err)
	}
	var check func(n *html.Node) error
	check = func(n *html.Node) error {
		switch n.Type {
		case html.CommentNode:
			return fmt.Errorf("comment %q", n.Data)
		case html.ElementNode:
			switch n.Data {
			case "script", "iframe", "object", "embed", "img", "style", "link", "meta", "base", "form",
				"input", "button", "svg", "math", "video", "audio", "source", "frame", "frameset", "template":
				return fmt.Errorf("element <%s>", n.Data)
			}
			for _, a := range n.Attr {
				key := strings.ToLower(a.Key)
				switch {
				case strings.HasPrefix(key, "on"), key == "style", key == "src", key == "srcset",
					key == "action", key == "formaction", key == "id", key == "class":
					return fmt.Errorf("attribute %s=%q on <%s>", a.Key, a.Val, n.Data)
				case key == "href":
					u, err := url.Parse(a.Val)
					if err != nil {
						return fmt.Errorf("unparseable href %q", a.Val)
					}
					if s := strings.ToLower(u.Scheme); s != "http" && s != "https" && s != "mailto" {
						return fmt.Errorf("href %q (scheme %q)", a.Val, u.Scheme)
					}
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if err := check(c); err != nil {
				return err
			}
		}
		return nil
	}
	for _, n := range nodes {
		if err := check(n); err != nil {
			return err
		}
	}
	return nil
}

// hostileMarkdown are postmortems written to run something in a visitor's
// browser (HOSTILE.md 17).
var hostileMarkdown = []string{
	"<script>alert(1)</script>",
	"before <script>alert(1)</script> after",
	"<img src=x onerror=alert(1)>",
	"![x](https://evil.example/x.png)",
	"![x](x onerror=alert(1))",
	"[x](javascript:alert(1))",
	"[x](&#106;avascript:alert(1))",
	"[x](&#x6A;avascript&#58;alert(1))",
	"[x](JaVaScRiPt:alert(1))",
	"[x]( javascript:alert(1))",
	"[x](java\tscript:alert(1))",
	"[x](<javascript:alert(1)>)",
	"[x](vbscript:msgbox(1))",
	"[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
	"<data:text/html,<script>alert(1)</script>>",
	"<javascript:alert(1)>",
	"[x][r]\n\n[r]: javascript:alert(1)",
	"<iframe src=\"https://evil.example\"></iframe>",
	"<!-- comment --><b>x</b>",
	"<!--",
	`[x](https://a.example/" onclick="alert(1))`,
	`[x](https://a.example/ "title\" onmouseover=\"alert(1)")`,
	`[x"><script>alert(1)</script>](https://a.example)`,
	"<a href=\"javascript:alert(1)\">x</a>",
	"<svg onload=alert(1)>",
	"<style>body{display:none}</style>",
	"<div style=\"position:fixed\">x</div>",
	"| a | b |\n|---|---|\n| <script>alert(1)</script> | [x](javascript:alert(1)) |",
	"```html\n<script>alert(1)</script>\n```",
	"# Heading {#x onclick=alert(1)}",
	"<form action=https://evil.example><input name=x></form>",
	"\x00<scr\x00ipt>alert(1)</script>",
}

func TestMarkdownHostile(t *testing.T) {
	md := newMarkdown()
	for _, src := range hostileMarkdown {
		t.Run(src, func(t *testing.T) {
			out, err := md.HTML(src)
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			if err := inert(out); err != nil {
				t.Errorf("got active content %v in %q", err, out)
			}
			low := strings.ToLower(out)
			for _, bad := range []string{"<script", "<iframe", "<img", "href=\"javascript", "href=\"data", "<!--"} {
				if strings.Contains(low, bad) {
					t.Errorf("got %q in %q", bad, out)
				}
			}
		})
	}
}

func TestMarkdown(t *testing.T) {
	md := newMarkdown()
	for _, tc := range []struct {
		name, src, want string
	}{
		{"paragraph", "Hello *there*.", "<p>Hello <em>there</em>.</p>\n"},
		{"headings shift down", "# Summary\n## Timeline", "<h3>Summary</h3>\n<h4>Timeline</h4>\n"},
		{"deep heading caps at h6", "###### x", "<h6>x</h6>\n"},
		{"https link", "[docs](https://docs.example/a?b=1&c=2)",
			`<p><a href="https://docs.example/a?b=1&amp;c=2" rel="nofollow noopener">docs</a></p>` + "\n"},
		{"mailto autolink", "<ops@acme.example>",
			`<p><a href="mailto:ops@acme.example" rel="nofollow noopener">ops@acme.example</a></p>` + "\n"},
		{"relative link loses its href", "[x](/incidents/1)", "<p>x</p>\n"},
		{"javascript link is text", "[x](javascript:alert(1))", "<p>x</p>\n"},
		{"image dropped", "a ![chart](https://cdn.example/c.png) b", "<p>a  b</p>\n"},
		{"raw html dropped", "a <b>bold</b> b", "<p>a bold b</p>\n"},
		{"code kept as text", "`<script>`", "<p><code>&lt;script&gt;</code></p>\n"},
		{"strikethrough", "~~old~~", "<p><del>old</del></p>\n"},
		{"table with alignment", "| a | b |\n|:--|--:|\n| 1 | 2 |",
			"<table>\n<thead>\n<tr>\n<th align=\"left\">a</th>\n<th align=\"right\">b</th>\n</tr>\n</thead>\n" +
				"<tbody>\n<tr>\n<td align=\"left\">1</td>\n<td align=\"right\">2</td>\n</tr>\n</tbody>\n</table>\n"},
		{"ordered list start", "3. three\n4. four", "<ol start=\"3\">\n<li>three</li>\n<li>four</li>\n</ol>\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := md.HTML(tc.src)
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func FuzzMarkdown(f *testing.F) {
	for _, src := range hostileMarkdown {
		f.Add(src)
	}
	md := newMarkdown()
	f.Fuzz(func(t *testing.T, src string) {
		out, err := md.HTML(src)
		if err != nil {
			t.Fatalf("render: %v", err)
		}
		if err := inert(out); err != nil {
			t.Errorf("got active content %v in %q from %q", err, out, src)
		}
	})
}

// The checker itself must catch what it is there to catch.
func TestInertCatches(t *testing.T) {
	for _, active := range []string{
		`<script>x</script>`, `<p onclick="x">a</p>`, `<a href="javascript:alert(1)">x</a>`,
		`<a href=" JaVaScript:alert(1)">x</a>`, `<a href="data:text/html,x">x</a>`, `<img src="x">`,
		`<iframe></iframe>`, `<!-- x -->`, `<a href="/relative">x</a>`, `<p style="color:red">x</p>`,
	} {
		if inert(active) == nil {
			t.Errorf("inert(%q): got nil, want an error", active)
		}
	}
	if err := inert(`<p><a href="https://a.example" rel="nofollow noopener">x</a></p>`); err != nil {
		t.Errorf("inert(plain link): got %v, want nil", err)
	}
}

// A hostile postmortem on the incident page is inert, the page carries a
// CSP, and the Markdown is rendered once per page version however many
// visitors come.
func TestPostmortemOnPage(t *testing.T) {
	for _, src := range hostileMarkdown {
		t.Run(src, func(t *testing.T) {
			d := pageStates()["incident"]
			d.Incidents[2].Postmortem = src
			_, h := newPageServer(t, d)
			w := get(t, h, "/incidents/acme-2")
			if w.Code != http.StatusOK {
				t.Fatalf("got status %d, want 200", w.Code)
			}
			if w.Header().Get("Content-Security-Policy") == "" {
				t.Errorf("got no Content-Security-Policy header")
			}
			_, pm, ok := strings.Cut(w.Body.String(), `<section class="postmortem" aria-labelledby="postmortem-h"><h2 id="postmortem-h">Postmortem</h2><div class="body">`)
			pm, _, ok2 := strings.Cut(pm, "</div></section>")
			if !ok || !ok2 {
				return // nothing left to show: no section
			}
			if err := inert(pm); err != nil {
				t.Errorf("got active content %v in the postmortem %q", err, pm)
			}
		})
	}
}

func TestPostmortemRenderedOncePerVersion(t *testing.T) {
	src := &fakePages{data: pageStates()["incident"]}
	s := &server{pages: src, pageCacheControl: defaultPageCacheControl, renders: newRenderCache()}
	var renders atomic.Int64
	s.renders.onRender = func(key string) {
		if strings.HasSuffix(key, "incident/acme-2") {
			renders.Add(1)
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /incidents/{id}", s.handleIncidentPage)
	for range 20 {
		if w := get(t, mux, "/incidents/acme-2"); !strings.Contains(w.Body.String(), "<h3>Summary</h3>") {
			t.Fatalf("got no rendered postmortem in %s", w.Body)
		}
	}
	if got := renders.Load(); got != 1 {
		t.Errorf("got %d renders for 20 requests, want 1", got)
	}
}

func TestNoPostmortemNoSection(t *testing.T) {
	d := pageStates()["incident"]
	d.Incidents[2].Postmortem = " \n"
	_, h := newPageServer(t, d)
	if body := get(t, h, "/incidents/acme-2").Body.String(); strings.Contains(body, "postmortem") {
		t.Errorf("got a postmortem section for a blank postmortem")
	}
}

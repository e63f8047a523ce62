package web

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"

	"github.com/microcosm-cc/bluemonday"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/text"
	"github.com/yuin/goldmark/util"
)

// Postmortems are written in Markdown by the team and shown to visitors as
// HTML. Two layers keep that HTML inert:
//
//   - goldmark without html.WithUnsafe: raw HTML in the Markdown is
//     omitted, and links to "dangerous" URLs (javascript:, data:...) are
//     emptied;
//   - bluemonday with an allow-list of plain document elements: links
//     only to http, https and mailto, no images (the CSP, default-src
//     'self', would block other origins' images anyway), no style, no ids,
//     no classes, no comments.
//
// Headings move down two levels (# → h3) so that a postmortem sits under
// the page's own h1 and h2.

// markdown turns Markdown into HTML; safe for concurrent use.
type markdown struct {
	md     goldmark.Markdown
	policy *bluemonday.Policy
}

// linkRel is the rel of every link in a postmortem: search engines give it
// no weight and the target gets no window.opener.
const linkRel = "nofollow noopener"

func newMarkdown() *markdown {
	md := goldmark.New(
		goldmark.WithExtensions(
			extension.NewTable(extension.WithTableCellAlignMethod(extension.TableCellAlignAttribute)),
			extension.Strikethrough,
		),
		goldmark.WithParserOptions(
			parser.WithASTTransformers(util.Prioritized(postmortemTransformer{}, 1000)),
		),
	)
	return &markdown{md: md, policy: postmortemPolicy()}
}

// postmortemPolicy allows plain document structure and nothing active.
func postmortemPolicy() *bluemonday.Policy {
	p := bluemonday.NewPolicy()
	p.AllowElements("p", "br", "hr", "h3", "h4", "h5", "h6",
		"em", "strong", "del", "code", "pre", "blockquote", "ul", "ol", "li",
		"table", "thead", "tbody", "tr", "th", "td")
	p.AllowAttrs("start").Matching(regexp.MustCompile(`^[0-9]{1,9}$`)).OnElements("ol")
	p.AllowAttrs("align").Matching(regexp.MustCompile(`^(left|center|right)$`)).OnElements("th", "td")
	p.AllowAttrs("href").OnElements("a")
	p.AllowAttrs("rel").Matching(regexp.MustCompile(`^` + linkRel + `$`)).OnElements("a")
	p.AllowAttrs("title").OnElements("a")
	p.AllowURLSchemes("http", "https", "mailto")
	p.RequireParseableURLs(true)
	p.AllowRelativeURLs(false)
	return p
}

// HTML renders src as sanitised HTML.
func (m *markdown) HTML(src string) (string, error) {
	var buf bytes.Buffer
	if err := m.md.Convert([]byte(src), &buf); err != nil {
		return "", fmt.Errorf("render markdown: %w", err)
	}
	return m.policy.SanitizeReader(&buf).String(), nil
}

// linkable reports whether a link's destination has a scheme the policy
// keeps, so that links losing their href also get no rel (and so vanish,
// leaving their text). The policy decides; this only tidies.
func linkable(dest []byte) bool {
	d := strings.ToLower(string(dest))
	return strings.HasPrefix(d, "https://") || strings.HasPrefix(d, "http://") || strings.HasPrefix(d, "mailto:")
}

// postmortemTransformer shifts headings down two levels and marks links
// nofollow noopener.
type postmortemTransformer struct{}

func (postmortemTransformer) Transform(doc *ast.Document, src text.Reader, _ parser.Context) {
	_ = ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch n := n.(type) {
		case *ast.Heading:
			n.Level = min(n.Level+2, 6)
		case *ast.Link:
			if linkable(n.Destination) {
				n.SetAttributeString("rel", []byte(linkRel))
			}
		case *ast.AutoLink:
			if n.AutoLinkType == ast.AutoLinkEmail || linkable(n.URL(src.Source())) {
				n.SetAttributeString("rel", []byte(linkRel))
			}
		}
		return ast.WalkContinue, nil
	})
}

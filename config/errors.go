package config

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Error is one problem in a configuration file. Load and Parse return every
// problem they find joined with errors.Join (sorted by line); use errors.As or
// Errors to get at them one by one.
type Error struct {
	File string
	Line int
	// Path is the field path from the top of the file, as written in YAML:
	// "organizations[0].probes[2].http.url". Empty for whole-file problems.
	Path string
	Msg  string
}

// Error formats the problem as FILE:LINE: PATH: MESSAGE.
func (e *Error) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s: %s", e.File, e.Line, e.Path, e.Msg)
}

// Errors unpacks an error returned by Load or Parse into its problems, in
// line order. It returns nil for errors that are not configuration problems
// (a file that cannot be opened).
func Errors(err error) []*Error {
	var out []*Error
	var walk func(error)
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		var ce *Error
		if errors.As(err, &ce) {
			out = append(out, ce)
		}
	}
	if err != nil {
		walk(err)
	}
	return out
}

// maxProblems caps the problems reported for one file.
const maxProblems = 1000

// problems collects errors while a file is loaded.
type problems struct {
	file string
	list []*Error
	// paths holds the path of every problem so far, so checks can skip
	// follow-on complaints about a field that already has one.
	paths map[string]bool
	// under holds every path that is or contains the path of a problem.
	under map[string]bool
	// redact maps text that must never appear in a message (values taken
	// from the environment) to what to print instead.
	redact map[string]string
}

func (p *problems) add(line int, path, format string, args ...any) {
	if line < 1 {
		line = 1
	}
	p.list = append(p.list, &Error{File: p.file, Line: line, Path: path, Msg: fmt.Sprintf(format, args...)})
	if p.paths == nil {
		p.paths, p.under = map[string]bool{}, map[string]bool{}
	}
	p.paths[path] = true
	for i := len(path); i > 0; i-- {
		if i == len(path) || path[i] == '.' || path[i] == '[' {
			if p.under[path[:i]] {
				break // and so are all its ancestors
			}
			p.under[path[:i]] = true
		}
	}
}

// has reports whether path already has a problem.
func (p *problems) has(path string) bool { return p.paths[path] }

// hasUnder reports whether path or anything below it has a problem.
func (p *problems) hasUnder(path string) bool { return p.under[path] }

// at records a problem located at node n.
func (p *problems) at(n *yaml.Node, path, format string, args ...any) {
	line := 1
	if n != nil {
		line = n.Line
	}
	p.add(line, path, format, args...)
}

// err returns the problems as one error, sorted by line, with environment
// values redacted and duplicates dropped; nil if there are none.
func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	// Longest first so a whole expanded value wins over the variable
	// values inside it.
	var secrets []string
	for s := range p.redact {
		secrets = append(secrets, s)
	}
	slices.SortFunc(secrets, func(a, b string) int {
		return cmp.Or(cmp.Compare(len(b), len(a)), strings.Compare(a, b))
	})
	slices.SortStableFunc(p.list, func(a, b *Error) int { return cmp.Compare(a.Line, b.Line) })
	seen := map[string]bool{}
	var out []error
	for _, e := range p.list {
		for _, s := range secrets {
			e.Msg = strings.ReplaceAll(e.Msg, s, p.redact[s])
		}
		// One problem, one line, whatever a message or key holds.
		e.Msg = lineBreaks.Replace(e.Msg)
		k := e.Error()
		if seen[k] {
			continue
		}
		seen[k] = true
		if len(out) == maxProblems {
			out = append(out, &Error{File: p.file, Line: e.Line, Msg: "too many problems; the rest are not shown"})
			break
		}
		out = append(out, e)
	}
	return errors.Join(out...)
}

// Field paths. Keys made of letters, digits, '_' and '-' are joined with a
// dot; anything else is quoted in brackets so a path stays one line and
// stays parseable: organizations[0].probes[1].http.headers["X Api.Key"].

func joinKey(path, key string) string {
	if !simpleKey(key) {
		return path + "[" + strconv.Quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func joinIndex(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

func simpleKey(k string) bool {
	if k == "" {
		return false
	}
	for _, r := range k {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// locate follows path from root as far as the tree allows. It returns the
// node the path names (nil if the path leaves the tree) and the best line for
// a message: the key's line for a mapping entry, the item's line for a
// sequence item, or the line of the deepest ancestor that exists.
func locate(root *yaml.Node, path string) (*yaml.Node, int) {
	n := root
	if n == nil {
		return nil, 1
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := n.Line
	for path != "" {
		var key string
		idx := -1
		switch {
		case strings.HasPrefix(path, `["`):
			q, err := strconv.QuotedPrefix(path[1:])
			if err != nil || !strings.HasPrefix(path[1+len(q):], "]") {
				return nil, line
			}
			key, _ = strconv.Unquote(q)
			path = path[1+len(q)+1:]
		case path[0] == '[':
			j := strings.IndexByte(path, ']')
			if j < 0 {
				return nil, line
			}
			i, err := strconv.Atoi(path[1:j])
			if err != nil {
				return nil, line
			}
			idx = i
			path = path[j+1:]
		default:
			path = strings.TrimPrefix(path, ".")
			j := strings.IndexAny(path, ".[")
			if j < 0 {
				j = len(path)
			}
			key, path = path[:j], path[j:]
		}
		if idx >= 0 {
			if n.Kind != yaml.SequenceNode || idx >= len(n.Content) {
				return nil, line
			}
			n = n.Content[idx]
			line = n.Line
			continue
		}
		if n.Kind != yaml.MappingNode {
			return nil, line
		}
		found := false
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				line = n.Content[i].Line
				n = n.Content[i+1]
				found = true
				break
			}
		}
		if !found {
			return nil, line
		}
	}
	return n, line
}

var (
	keyNormalizer = strings.NewReplacer("_", "", "-", "")
	lineBreaks    = strings.NewReplacer("\n", `\n`, "\r", `\r`)
)

// suggest returns the candidate a mistyped key obviously meant, or "".
func suggest(key string, candidates []string) string {
	norm := func(s string) string { return keyNormalizer.Replace(strings.ToLower(s)) }
	best, bestD := "", 1<<30
	for _, c := range candidates {
		d := editDistance(key, c)
		if norm(key) == norm(c) {
			d = 0
		}
		if d < bestD {
			best, bestD = c, d
		}
	}
	limit := 2
	if len(key) <= 4 {
		limit = 1
	}
	if bestD <= limit {
		return best
	}
	return ""
}

func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > 64 || len(rb) > 64 {
		return 1 << 20 // no typo suggestion for long keys: keep it cheap
	}
	// Optimal string alignment: a swap of two neighbours costs one.
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			c := 1
			if ra[i-1] == rb[j-1] {
				c = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+c)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

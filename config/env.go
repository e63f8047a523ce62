package config

import (
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// ${VAR} references.
//
// Scalar values (never keys) may hold ${NAME} references, NAME being
// [A-Za-z_][A-Za-z0-9_]*; each is replaced by the variable's value, and a
// variable that is unset or empty is an error. "$${" writes a literal "${".
// A "$" not followed by "{" is kept as is.

// scanRefs walks s, calling ref for each ${NAME} and lit for literal text.
// It returns a message for the first malformed reference.
func scanRefs(s string, lit func(string), ref func(name string)) string {
	for {
		i := strings.IndexByte(s, '$')
		if i < 0 {
			lit(s)
			return ""
		}
		switch {
		case strings.HasPrefix(s[i:], "$${"):
			lit(s[:i] + "${")
			s = s[i+3:]
		case strings.HasPrefix(s[i:], "${"):
			lit(s[:i])
			j := strings.IndexByte(s[i:], '}')
			if j < 0 {
				return `unterminated "${" (write "$${" for a literal "${")`
			}
			name := s[i+2 : i+j]
			if !validVarName(name) {
				return fmt.Sprintf("invalid variable name %s in ${...} (use letters, digits and _; write \"$${\" for a literal \"${\")", truncate(strconv.Quote(name)))
			}
			ref(name)
			s = s[i+j+1:]
		default:
			lit(s[:i+1])
			s = s[i+1:]
		}
	}
}

func validVarName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// expander replaces references in a copy of the tree.
type expander struct {
	probs  *problems
	getenv func(string) string
	orig   map[*yaml.Node]string // expanded node -> text in the file
}

// expandTree expands every scalar value under n in place, and refuses
// aliases (no alias expansion, so no YAML bombs).
func (x *expander) expandTree(n *yaml.Node, path string) {
	switch n.Kind {
	case yaml.AliasNode:
		x.probs.at(n, path, "YAML aliases (*%s) are not supported; write the value out", n.Value)
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind == yaml.AliasNode {
				x.probs.at(k, path, "YAML aliases (*%s) are not supported; write the value out", k.Value)
				continue
			}
			x.expandTree(n.Content[i+1], joinKey(path, k.Value))
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			x.expandTree(c, joinIndex(path, i))
		}
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "$") {
			return
		}
		var b strings.Builder
		changed := false
		bad := scanRefs(n.Value,
			func(s string) { b.WriteString(s) },
			func(name string) {
				changed = true
				v := x.getenv(name)
				if v == "" {
					x.probs.at(n, path, "environment variable %s is not set or is empty", name)
					return
				}
				if len(v) >= minRedact {
					x.probs.redact[v] = "${" + name + "}"
				}
				b.WriteString(v)
			})
		if bad != "" {
			x.probs.at(n, path, "%s", bad)
			return
		}
		if b.String() != n.Value || changed {
			x.orig[n] = n.Value
			if changed && len(b.String()) >= minRedact {
				x.probs.redact[b.String()] = n.Value
			}
			n.Value = b.String()
			if n.Tag == "" || n.Tag == "!!null" {
				n.Tag = "!!str"
			}
		}
	}
}

// minRedact is the shortest environment value scrubbed from messages:
// shorter ones ("1", "on") would garble messages and guard little.
const minRedact = 4

// refs lists the ${NAME}s used in scalar values under n, sorted, unique.
func refs(n *yaml.Node) []string {
	seen := map[string]bool{}
	var out []string
	var walk func(n *yaml.Node, isKey bool)
	walk = func(n *yaml.Node, isKey bool) {
		if n.Kind == yaml.ScalarNode && !isKey {
			scanRefs(n.Value, func(string) {}, func(name string) {
				if !seen[name] {
					seen[name] = true
					out = append(out, name)
				}
			})
		}
		for i, c := range n.Content {
			walk(c, n.Kind == yaml.MappingNode && i%2 == 0)
		}
	}
	walk(n, false)
	sortStrings(out)
	return out
}

func copyNode(n *yaml.Node) *yaml.Node {
	c := *n
	if n.Content != nil {
		c.Content = make([]*yaml.Node, len(n.Content))
		for i, ch := range n.Content {
			c.Content[i] = copyNode(ch)
		}
	}
	return &c
}

package web

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const accessDoc = "../docs/access.md"

// The permissions matrix lives between these markers in docs/access.md.
const (
	matrixBegin = "<!-- permissions matrix: begin (go test ./web -run TestAccessDocMatchesRules -update) -->"
	matrixEnd   = "<!-- permissions matrix: end -->"
)

func ruleKind(r routeRule) string {
	switch {
	case r.Role == "":
		return "public"
	case r.HTML:
		return "console"
	}
	return "api"
}

func ruleRole(r routeRule) string {
	if r.Role == "" {
		return "—"
	}
	return r.Role
}

var matrixRow = regexp.MustCompile("^\\| `([^`]+)` \\| ([^|]+?) \\| ([^|]+?) \\|$")

// TestAccessDocMatchesRules: the permissions matrix of docs/access.md is
// exactly the rules the server registers (with every Deps field set), so a
// route without a row, or a row whose role differs, fails. -update
// rewrites the table.
func TestAccessDocMatchesRules(t *testing.T) {
	_, rules := authzServer(t)
	var want []string
	for _, r := range rules {
		want = append(want, fmt.Sprintf("| `%s` | %s | %s |", r.Pattern, ruleRole(r), ruleKind(r)))
	}
	slices.SortFunc(want, func(a, b string) int {
		pa, pb := matrixRow.FindStringSubmatch(a)[1], matrixRow.FindStringSubmatch(b)[1]
		_, xa, _ := strings.Cut(pa, " ")
		_, xb, _ := strings.Cut(pb, " ")
		if c := strings.Compare(xa, xb); c != 0 {
			return c
		}
		return strings.Compare(pa, pb)
	})
	doc, err := os.ReadFile(accessDoc)
	if err != nil {
		t.Fatal(err)
	}
	before, rest, ok1 := strings.Cut(string(doc), matrixBegin)
	table, after, ok2 := strings.Cut(rest, matrixEnd)
	if !ok1 || !ok2 {
		t.Fatalf("%s lacks the matrix markers", accessDoc)
	}
	if *update {
		table = "\n| Route | Least role | Kind |\n|---|---|---|\n" + strings.Join(want, "\n") + "\n"
		if err := os.WriteFile(accessDoc, []byte(before+matrixBegin+table+matrixEnd+after), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	var got []string
	for _, line := range strings.Split(table, "\n") {
		if matrixRow.MatchString(line) && !strings.HasPrefix(line, "| Route") {
			got = append(got, line)
		}
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("%s lacks the row %s", accessDoc, w)
		}
	}
	for _, g := range got {
		if !slices.Contains(want, g) {
			t.Errorf("%s has a row no rule registers: %s", accessDoc, g)
		}
	}
}

package probes

import (
	"bytes"
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// FuzzExpect parses assertion expressions (a JSONPath, a regular
// expression, a jq program) and evaluates the ones that compile against an
// arbitrary body. Invariants: no panic; a check ends within its deadline
// (plus slack) even for a jq program that loops; the same inputs give the
// same verdict twice; a body always contains its own prefix, and the path $
// always exists in a JSON body.
//
// Memory: a jq program is bounded by the probe's deadline while it
// iterates ([range(1e9)] stops at it), but a single jq operation can
// allocate without bound before the deadline is looked at ("x" * 1e10,
// .[1e9] = 1). jq programs come from the config author, not from the
// probed service, so this is documented rather than prevented; such
// programs are parsed here but not evaluated (allocatesAtOnce).
func FuzzExpect(f *testing.F) {
	for _, s := range []struct{ path, re, jq, body string }{
		{"$.database", `"ok"`, `.database == "ok"`, `{"database":"ok"}`},
		{"$.a[0].b", `^\{`, `.a | length > 0`, `{"a":[{"b":1},2]}`},
		{"$['key with space'][-1]", `[0-9]+`, `[.[]?] | length`, `{"key with space":[1,2,3]}`},
		{`$["x\"y"]`, `(a+)+$`, `def f: f; f`, `{"x\"y": null}`},
		{"$[99999999999999999999]", `\pL`, `repeat(1)`, `[1,2]`},
		{"$.", "[", "{", "\xff\xfe not json"},
		{"$", "", "..", `"just a string"`},
	} {
		f.Add(s.path, s.re, s.jq, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, path, re, jq string, body []byte) {
		yes := true
		var exps []*expectation
		for _, e := range []Expect{
			{JSON: []JSONAssert{{Path: path, Exists: &yes}}},
			{JSON: []JSONAssert{{Path: path, Matches: re}}},
			{BodyRegex: re},
			{JQ: []string{jq}}, // evaluated only when !allocatesAtOnce
			{BodyContains: string(body[:len(body)/2])},
		} {
			// Compiled even when not evaluated: parsing never panics.
			if x, err := compileExpect(&e); err == nil && (len(e.JQ) == 0 || !allocatesAtOnce.MatchString(jq)) {
				exps = append(exps, x)
			}
		}
		for i, x := range exps {
			const deadline = 50 * time.Millisecond
			run := func() (string, string, time.Duration) {
				ctx, cancel := context.WithTimeout(context.Background(), deadline)
				defer cancel()
				start := time.Now()
				fail, deg := x.check(ctx, &response{status: 200, header: http.Header{}, body: body}, time.Now())
				return fail, deg, time.Since(start)
			}
			f1, d1, took := run()
			if took > deadline+2*time.Second {
				t.Fatalf("expectation %d (path %q, re %q, jq %q): check took %s, deadline %s", i, path, re, jq, took, deadline)
			}
			if strings.Contains(f1, "context deadline exceeded") || took >= deadline {
				continue // a looping jq program: stopped by the deadline, verdict timing-dependent
			}
			if f2, d2, _ := run(); f1 != f2 || d1 != d2 {
				t.Fatalf("expectation %d: verdicts differ: %q/%q then %q/%q", i, f1, d1, f2, d2)
			}
		}
		// A body contains its own first half.
		x, err := compileExpect(&Expect{BodyContains: string(body[:len(body)/2])})
		if err != nil {
			t.Fatalf("body_contains: %v", err)
		}
		if fail, _ := x.check(context.Background(), &response{status: 200, header: http.Header{}, body: body}, time.Now()); fail != "" {
			t.Fatalf("body %q does not contain its prefix: %s", body, fail)
		}
		// $ exists in every JSON document.
		root, _ := compileExpect(&Expect{JSON: []JSONAssert{{Path: "$", Exists: &yes}}})
		fail, _ := root.check(context.Background(), &response{status: 200, header: http.Header{}, body: body}, time.Now())
		isJSON := fail == ""
		if !isJSON && !strings.Contains(fail, "body is not JSON") {
			t.Fatalf("$ on %q: %s", body, fail)
		}
		if isJSON && len(bytes.TrimSpace(body)) == 0 {
			t.Fatalf("$ exists in an empty body")
		}
	})
}

// allocatesAtOnce matches jq programs that may allocate a huge value in one
// operation: repetition and multiplication (*), and assignment or setpath
// (which pad arrays up to any index).
var allocatesAtOnce = regexp.MustCompile(`\*|setpath|[^=!<>]=[^=]|^=`)

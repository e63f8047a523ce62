package probes

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseJSONPath(t *testing.T) {
	doc := map[string]any{
		"database": "ok",
		"a":        map[string]any{"b": []any{map[string]any{"c": 1.0}, "second"}},
		"key with space": map[string]any{
			"it's": true,
		},
		"list": []any{1.0, 2.0, 3.0},
	}
	cases := []struct {
		path    string
		want    any
		found   bool
		wantErr string
	}{
		{path: "$", want: doc, found: true},
		{path: "$.database", want: "ok", found: true},
		{path: "$.a.b[0].c", want: 1.0, found: true},
		{path: "$.a.b[1]", want: "second", found: true},
		{path: "$.list[-1]", want: 3.0, found: true},
		{path: "$['key with space']", want: map[string]any{"it's": true}, found: true},
		{path: `$["key with space"]['it\'s']`, want: true, found: true},
		{path: "$.missing"},
		{path: "$.list[3]"},
		{path: "$.list.x"},
		{path: "$.database[0]"},
		{path: "", wantErr: "path is required"},
		{path: "database", wantErr: "must start with $"},
		{path: "$.", wantErr: "empty name"},
		{path: "$.a[x]", wantErr: "is not an index"},
		{path: "$.a[0", wantErr: "missing ]"},
		{path: "$['a", wantErr: "unterminated"},
		{path: "$a", wantErr: "unexpected"},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			p, err := parseJSONPath(tc.path)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			got, found := p.eval(doc)
			if found != tc.found || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %#v (found %v), want %#v (found %v)", got, found, tc.want, tc.found)
			}
		})
	}
}

func TestExpectCheck(t *testing.T) {
	body := `{"database":"degraded","version":"2.4.1","count":3,"items":[{"id":"x"}],"ok":true}`
	hdr := http.Header{"Content-Type": {"application/json; charset=utf-8"}, "Set-Cookie": {"session=s3cr3t"}}
	yes, no := true, false
	cases := []struct {
		name   string
		expect Expect
		status int
		body   string
		want   string // "" means pass
	}{
		{name: "status default 2xx pass", status: 204},
		{name: "status default 2xx fail", status: 404, want: "status: got 404, want 2xx"},
		{name: "status list pass", expect: Expect{Status: []int{200, 503}}, status: 503},
		{name: "status one fail", expect: Expect{Status: []int{200}}, status: 503, want: "status: got 503, want 200"},
		{name: "status two fail", expect: Expect{Status: []int{200, 204}}, status: 500, want: "status: got 500, want 200 or 204"},
		{name: "status many fail", expect: Expect{Status: []int{200, 201, 202}}, status: 500, want: "status: got 500, want one of 200, 201, 202"},
		{name: "header contains pass", expect: Expect{Headers: []HeaderAssert{{Name: "content-type", Contains: "json"}}}},
		{name: "header contains fail", expect: Expect{Headers: []HeaderAssert{{Name: "Content-Type", Contains: "html"}}},
			want: `header Content-Type: got "application/json; charset=utf-8", want it to contain "html"`},
		{name: "header matches pass", expect: Expect{Headers: []HeaderAssert{{Name: "Content-Type", Matches: `^application/json`}}}},
		{name: "header matches fail", expect: Expect{Headers: []HeaderAssert{{Name: "Content-Type", Matches: `^text/`}}},
			want: `header Content-Type: got "application/json; charset=utf-8", want a match of ^text/`},
		{name: "header missing", expect: Expect{Headers: []HeaderAssert{{Name: "X-Version", Contains: "2"}}}, want: "header X-Version: missing"},
		{name: "sensitive header redacted", expect: Expect{Headers: []HeaderAssert{{Name: "Set-Cookie", Contains: "other"}}},
			want: `header Set-Cookie: got (redacted), want it to contain "other"`},
		{name: "body_contains pass", expect: Expect{BodyContains: `"ok":true`}},
		{name: "body_contains fail", expect: Expect{BodyContains: "healthy"}, want: `body: does not contain "healthy"`},
		{name: "body_regex pass", expect: Expect{BodyRegex: `"version":"2\.\d+`}},
		{name: "body_regex fail", expect: Expect{BodyRegex: `^ok`}, want: "body: does not match ^ok"},
		{name: "json equals pass", expect: Expect{JSON: []JSONAssert{{Path: "$.items[0].id", Equals: "x"}}}},
		{name: "json equals fail", expect: Expect{JSON: []JSONAssert{{Path: "$.database", Equals: "ok"}}},
			want: `assert $.database: got "degraded", want "ok"`},
		{name: "json equals number pass", expect: Expect{JSON: []JSONAssert{{Path: "$.count", Equals: 3}}}},
		{name: "json equals number fail", expect: Expect{JSON: []JSONAssert{{Path: "$.count", Equals: 4}}}, want: "assert $.count: got 3, want 4"},
		{name: "json equals string vs number", expect: Expect{JSON: []JSONAssert{{Path: "$.count", Equals: "3"}}}, want: `assert $.count: got 3, want "3"`},
		{name: "json equals bool pass", expect: Expect{JSON: []JSONAssert{{Path: "$.ok", Equals: true}}}},
		{name: "json equals list pass", expect: Expect{JSON: []JSONAssert{{Path: "$.items", Equals: []any{map[string]any{"id": "x"}}}}}},
		{name: "json matches pass", expect: Expect{JSON: []JSONAssert{{Path: "$.version", Matches: `^2\.`}}}},
		{name: "json matches number", expect: Expect{JSON: []JSONAssert{{Path: "$.count", Matches: `^3$`}}}},
		{name: "json matches fail", expect: Expect{JSON: []JSONAssert{{Path: "$.version", Matches: `^3\.`}}},
			want: `assert $.version: got "2.4.1", want a match of ^3\.`},
		{name: "json exists pass", expect: Expect{JSON: []JSONAssert{{Path: "$.items[0]", Exists: &yes}}}},
		{name: "json exists fail", expect: Expect{JSON: []JSONAssert{{Path: "$.items[1]", Exists: &yes}}}, want: "assert $.items[1]: not found, want it to exist"},
		{name: "json absent pass", expect: Expect{JSON: []JSONAssert{{Path: "$.error", Exists: &no}}}},
		{name: "json absent fail", expect: Expect{JSON: []JSONAssert{{Path: "$.database", Exists: &no}}}, want: "assert $.database: present, want absent"},
		{name: "json not found", expect: Expect{JSON: []JSONAssert{{Path: "$.nope", Equals: "x"}}}, want: "assert $.nope: not found"},
		{name: "json on non-JSON body", expect: Expect{JSON: []JSONAssert{{Path: "$.a", Equals: "x"}}}, body: "<html>",
			want: "assert $.a: body is not JSON (invalid character '<' looking for beginning of value)"},
		{name: "jq pass", expect: Expect{JQ: []string{`.count > 2`, `.items | length == 1`}}},
		{name: "jq false", expect: Expect{JQ: []string{`.database == "ok"`}}, want: `jq .database == "ok": false`},
		{name: "jq not bool", expect: Expect{JQ: []string{`.count`}}, want: "jq .count: got 3, want true"},
		{name: "jq no output", expect: Expect{JQ: []string{`empty`}}, want: "jq empty: no output"},
		{name: "jq runtime error", expect: Expect{JQ: []string{`.database + 1`}}, want: `jq .database + 1: error: cannot add: string ("degraded") and number (1)`},
		{name: "jq env is empty", expect: Expect{JQ: []string{`$ENV | length == 0`}}},
		{name: "order: status before json", expect: Expect{Status: []int{200}, JSON: []JSONAssert{{Path: "$.database", Equals: "ok"}}}, status: 500,
			want: "status: got 500, want 200"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("LOOKOUT_TEST_SECRET", "hunter2")
			x, err := compileExpect(&tc.expect)
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			status, b := tc.status, tc.body
			if status == 0 {
				status = 200
			}
			if b == "" {
				b = body
			}
			r := &response{status: status, header: hdr, body: []byte(b)}
			got, degraded := x.check(context.Background(), r, time.Now())
			if got != tc.want || degraded != "" {
				t.Fatalf("got %q (degraded %q), want %q", got, degraded, tc.want)
			}
		})
	}
}

func TestCompileExpectErrors(t *testing.T) {
	cases := []struct {
		name   string
		expect Expect
		want   []string
	}{
		{name: "bad status", expect: Expect{Status: []int{200, 42}}, want: []string{"status[1]: 42 is not an HTTP status code (100-599)"}},
		{name: "bad regex", expect: Expect{BodyRegex: "("}, want: []string{"body_regex: invalid regular expression: error parsing regexp: missing closing ): `(`"}},
		{name: "bad path", expect: Expect{JSON: []JSONAssert{{Path: "database", Equals: "ok"}}}, want: []string{`json[0].path: path "database" must start with $`}},
		{name: "no operator", expect: Expect{JSON: []JSONAssert{{Path: "$.a"}}}, want: []string{"json[0]: set exactly one of equals, matches or exists"}},
		{name: "two operators", expect: Expect{JSON: []JSONAssert{{Path: "$.a", Equals: "x", Matches: "y"}}}, want: []string{"json[0]: set exactly one of equals, matches or exists"}},
		{name: "bad jq", expect: Expect{JQ: []string{".a ==", `.b | input`}}, want: []string{"jq[0]: invalid jq expression: unexpected EOF", "jq[1]: invalid jq expression: input(s)/0 is not allowed"}},
		{name: "header both", expect: Expect{Headers: []HeaderAssert{{Name: "X", Contains: "a", Matches: "b"}}}, want: []string{"headers[0]: set either contains or matches, not both"}},
		{name: "header neither", expect: Expect{Headers: []HeaderAssert{{Name: "X"}}}, want: []string{"headers[0]: set contains or matches"}},
		{name: "header bad name", expect: Expect{Headers: []HeaderAssert{{Name: "X Y", Contains: "a"}}}, want: []string{`headers[0].name: "X Y" is not a valid header name`}},
		{name: "cert days negative", expect: Expect{CertDaysLeft: -1}, want: []string{"cert_days_left: must not be negative"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := compileExpect(&tc.expect)
			got := fieldErrors(err)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// fieldErrors lists the messages in a joined validation error, checking
// each is a *FieldError.
func fieldErrors(err error) []string {
	var out []string
	for _, e := range Flatten(err) {
		var fe *FieldError
		if !errors.As(e, &fe) {
			out = append(out, "NOT A FIELD ERROR: "+e.Error())
			continue
		}
		out = append(out, fe.Error())
	}
	return out
}

func TestCertCheck(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	leaf := func(notAfter time.Time) *tls.ConnectionState {
		return &tls.ConnectionState{PeerCertificates: []*x509.Certificate{{NotAfter: notAfter}, {NotAfter: notAfter.Add(365 * 24 * time.Hour)}}}
	}
	cases := []struct {
		name                  string
		cs                    *tls.ConnectionState
		wantFail, wantDegrade string
	}{
		{name: "plenty left", cs: leaf(now.Add(60 * 24 * time.Hour))},
		{name: "3 days left", cs: leaf(now.Add(3*24*time.Hour + time.Hour)), wantDegrade: "certificate expires in 3 days"},
		{name: "1 day left", cs: leaf(now.Add(36 * time.Hour)), wantDegrade: "certificate expires in 1 day"},
		{name: "expired", cs: leaf(now.Add(-49 * time.Hour)), wantFail: "certificate expired 2 days ago"},
		{name: "intermediate expires first", cs: &tls.ConnectionState{PeerCertificates: []*x509.Certificate{
			{NotAfter: now.Add(300 * 24 * time.Hour)}, {NotAfter: now.Add(5*24*time.Hour + time.Minute)}}}, wantDegrade: "certificate expires in 5 days"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			x, err := compileExpect(&Expect{CertDaysLeft: 14})
			if err != nil {
				t.Fatal(err)
			}
			fail, deg := x.check(context.Background(), &response{status: 200, tls: tc.cs}, now)
			if fail != tc.wantFail || deg != tc.wantDegrade {
				t.Fatalf("got (%q, %q), want (%q, %q)", fail, deg, tc.wantFail, tc.wantDegrade)
			}
		})
	}
}

package probes

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/itchyny/gojq"
	"golang.org/x/net/http/httpguts"
)

// Expect is what an HTTP response must look like, shared by the http probe
// and every step of a steps probe. Assertions are evaluated in a fixed order
// (status, headers, body_contains, body_regex, json, jq, cert_days_left) and
// the first failure is reported.
type Expect struct {
	// Status lists the accepted status codes; empty accepts any 2xx.
	Status       []int          `yaml:"status"`
	BodyContains string         `yaml:"body_contains"`
	BodyRegex    string         `yaml:"body_regex"`
	JSON         []JSONAssert   `yaml:"json"`
	JQ           []string       `yaml:"jq"`
	Headers      []HeaderAssert `yaml:"headers"`
	// CertDaysLeft (https only): fewer days left on the certificate chain
	// makes the run degraded, an expired one makes it down.
	CertDaysLeft int `yaml:"cert_days_left"`
}

// JSONAssert checks one value of a JSON response body, addressed by a path in
// a JSONPath subset: $, $.a.b, $.a[0].b, $.a[-1], $['key'], $["key"].
// Exactly one of Equals, Matches or Exists applies.
type JSONAssert struct {
	Path string `yaml:"path"`
	// Equals compares with the JSON value (strings, numbers, booleans, lists
	// and maps as YAML writes them).
	Equals any `yaml:"equals"`
	// Matches is a regular expression the value, as text, must match.
	Matches string `yaml:"matches"`
	// Exists asserts the path is (true) or is not (false) present.
	Exists *bool `yaml:"exists"`
}

// HeaderAssert checks one response header: Contains a substring or Matches a
// regular expression (exactly one).
type HeaderAssert struct {
	Name     string `yaml:"name"`
	Contains string `yaml:"contains"`
	Matches  string `yaml:"matches"`
}

// expectation is an Expect compiled by Validate: regexes, JSON paths and jq
// programs are parsed once and shared by every run.
type expectation struct {
	status       []int
	statusWant   string // "2xx", "200", "200 or 204"
	contains     string
	bodyRe       *regexp.Regexp
	json         []jsonCheck
	jq           []jqCheck
	headers      []headerCheck
	certDaysLeft int
	needBody     bool // the body must be kept for an assertion
	needJSON     bool
	// containsTmpl and jsonCheck.eqTmpl hold {{var}} templates (steps only),
	// filled in per attempt by render.
	containsTmpl *tmpl
	templated    bool
}

// render returns x with its {{var}} templates filled in from lookup, or x
// itself when it has none (the http kind never has any).
func (x *expectation) render(lookup func(string) (string, bool)) *expectation {
	if x == nil || !x.templated {
		return x
	}
	c := *x
	c.json = append([]jsonCheck(nil), x.json...)
	for i := range c.json {
		if t := c.json[i].eqTmpl; t != nil {
			c.json[i].equals = t.render(lookup)
		}
	}
	if x.containsTmpl != nil {
		c.contains = x.containsTmpl.render(lookup)
	}
	return &c
}

type jsonCheck struct {
	src     string
	path    jsonPath
	equals  any // normalized to what encoding/json decodes
	isEq    bool
	matches *regexp.Regexp
	exists  *bool
	eqTmpl  *tmpl
}

type jqCheck struct {
	src  string
	code *gojq.Code
}

type headerCheck struct {
	name     string // canonical
	contains string
	matches  *regexp.Regexp
}

// compileExpect checks e and compiles it; field names in errors are
// relative to the expect block.
func compileExpect(e *Expect) (*expectation, error) {
	x := &expectation{status: e.Status, contains: e.BodyContains, certDaysLeft: e.CertDaysLeft}
	var errs []error
	for i, s := range e.Status {
		if s < 100 || s > 599 {
			errs = append(errs, Errf(fmt.Sprintf("status[%d]", i), "%d is not an HTTP status code (100-599)", s))
		}
	}
	x.statusWant = statusWant(e.Status)
	if e.BodyRegex != "" {
		re, err := regexp.Compile(e.BodyRegex)
		if err != nil {
			errs = append(errs, Errf("body_regex", "invalid regular expression: %v", err))
		}
		x.bodyRe = re
	}
	for i, h := range e.Headers {
		f := fmt.Sprintf("headers[%d]", i)
		hc := headerCheck{name: http.CanonicalHeaderKey(h.Name), contains: h.Contains}
		if !httpguts.ValidHeaderFieldName(h.Name) {
			errs = append(errs, Errf(f+".name", "%q is not a valid header name", h.Name))
		}
		switch {
		case h.Contains != "" && h.Matches != "":
			errs = append(errs, Errf(f, "set either contains or matches, not both"))
		case h.Contains == "" && h.Matches == "":
			errs = append(errs, Errf(f, "set contains or matches"))
		case h.Matches != "":
			re, err := regexp.Compile(h.Matches)
			if err != nil {
				errs = append(errs, Errf(f+".matches", "invalid regular expression: %v", err))
			}
			hc.matches = re
		}
		x.headers = append(x.headers, hc)
	}
	for i, j := range e.JSON {
		f := fmt.Sprintf("json[%d]", i)
		jc := jsonCheck{src: j.Path, exists: j.Exists}
		p, err := parseJSONPath(j.Path)
		if err != nil {
			errs = append(errs, Errf(f+".path", "%v", err))
		}
		jc.path = p
		n := 0
		if j.Equals != nil {
			n++
			v, err := normalizeJSON(j.Equals)
			if err != nil {
				errs = append(errs, Errf(f+".equals", "%v", err))
			}
			jc.equals, jc.isEq = v, true
		}
		if j.Matches != "" {
			n++
			re, err := regexp.Compile(j.Matches)
			if err != nil {
				errs = append(errs, Errf(f+".matches", "invalid regular expression: %v", err))
			}
			jc.matches = re
		}
		if j.Exists != nil {
			n++
		}
		if n != 1 {
			errs = append(errs, Errf(f, "set exactly one of equals, matches or exists"))
		}
		x.json = append(x.json, jc)
	}
	for i, src := range e.JQ {
		f := fmt.Sprintf("jq[%d]", i)
		q, err := gojq.Parse(src)
		if err != nil {
			errs = append(errs, Errf(f, "invalid jq expression: %v", err))
			continue
		}
		// No environment, modules or inputs: $ENV is empty, so a config
		// author cannot read the server's environment through an error.
		code, err := gojq.Compile(q)
		if err != nil {
			errs = append(errs, Errf(f, "invalid jq expression: %v", err))
			continue
		}
		x.jq = append(x.jq, jqCheck{src: src, code: code})
	}
	if e.CertDaysLeft < 0 {
		errs = append(errs, Errf("cert_days_left", "must not be negative"))
	}
	x.needJSON = len(x.json) > 0 || len(x.jq) > 0
	x.needBody = x.needJSON || x.contains != "" || x.bodyRe != nil
	return x, errors.Join(errs...)
}

// normalizeJSON turns a YAML-decoded value into what encoding/json would
// decode from the same JSON, so it compares with reflect.DeepEqual.
func normalizeJSON(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("cannot be compared with JSON: %v", err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("cannot be compared with JSON: %v", err)
	}
	return out, nil
}

func statusWant(s []int) string {
	switch len(s) {
	case 0:
		return "2xx"
	case 1:
		return strconv.Itoa(s[0])
	case 2:
		return strconv.Itoa(s[0]) + " or " + strconv.Itoa(s[1])
	}
	parts := make([]string, len(s))
	for i, c := range s {
		parts[i] = strconv.Itoa(c)
	}
	return "one of " + strings.Join(parts, ", ")
}

// response is what one exchange returned, as assertions and captures see it.
type response struct {
	status int
	header http.Header
	body   []byte // nil unless kept
	tls    *tls.ConnectionState

	jsonDone bool
	jsonVal  any
	jsonErr  error
}

// decodedJSON decodes the body once.
func (r *response) decodedJSON() (any, error) {
	if !r.jsonDone {
		r.jsonDone = true
		if err := json.Unmarshal(r.body, &r.jsonVal); err != nil {
			r.jsonErr = fmt.Errorf("body is not JSON (%v)", err)
		}
	}
	return r.jsonVal, r.jsonErr
}

// check evaluates the assertions in order. failure is the first failed
// assertion (the run is down); degraded is a reason to degrade the run.
func (x *expectation) check(ctx context.Context, r *response, now time.Time) (failure, degraded string) {
	if !x.statusOK(r.status) {
		return fmt.Sprintf("status: got %d, want %s", r.status, x.statusWant), ""
	}
	for _, h := range x.headers {
		if msg := h.check(r.header); msg != "" {
			return msg, ""
		}
	}
	if x.contains != "" && !bytes.Contains(r.body, []byte(x.contains)) {
		return fmt.Sprintf("body: does not contain %s", quoteShort(x.contains)), ""
	}
	if x.bodyRe != nil && !x.bodyRe.Match(r.body) {
		return fmt.Sprintf("body: does not match %s", x.bodyRe), ""
	}
	for i := range x.json {
		if msg := x.json[i].check(r); msg != "" {
			return msg, ""
		}
	}
	for _, j := range x.jq {
		if msg := j.check(ctx, r); msg != "" {
			return msg, ""
		}
	}
	if x.certDaysLeft > 0 && r.tls != nil {
		return certCheck(r.tls, now, x.certDaysLeft)
	}
	return "", ""
}

func (x *expectation) statusOK(code int) bool {
	if len(x.status) == 0 {
		return code >= 200 && code <= 299
	}
	for _, s := range x.status {
		if s == code {
			return true
		}
	}
	return false
}

func (h headerCheck) check(hdr http.Header) string {
	vals := hdr.Values(h.name)
	if len(vals) == 0 {
		return fmt.Sprintf("header %s: missing", h.name)
	}
	v := vals[0]
	if len(vals) > 1 {
		v = strings.Join(vals, ", ")
	}
	shown := quoteShort(v)
	if sensitiveHeader(h.name) {
		shown = "(redacted)"
	}
	if h.matches != nil {
		if !h.matches.MatchString(v) {
			return fmt.Sprintf("header %s: got %s, want a match of %s", h.name, shown, h.matches)
		}
		return ""
	}
	if !strings.Contains(v, h.contains) {
		return fmt.Sprintf("header %s: got %s, want it to contain %s", h.name, shown, quoteShort(h.contains))
	}
	return ""
}

func (j *jsonCheck) check(r *response) string {
	doc, err := r.decodedJSON()
	if err != nil {
		return fmt.Sprintf("assert %s: %v", j.src, err)
	}
	v, ok := j.path.eval(doc)
	switch {
	case j.exists != nil:
		if ok != *j.exists {
			if ok {
				return fmt.Sprintf("assert %s: present, want absent", j.src)
			}
			return fmt.Sprintf("assert %s: not found, want it to exist", j.src)
		}
		return ""
	case !ok:
		return fmt.Sprintf("assert %s: not found", j.src)
	case j.isEq:
		if !reflect.DeepEqual(v, j.equals) {
			return fmt.Sprintf("assert %s: got %s, want %s", j.src, showJSON(v), showJSON(j.equals))
		}
	case j.matches != nil:
		if !j.matches.MatchString(jsonText(v)) {
			return fmt.Sprintf("assert %s: got %s, want a match of %s", j.src, showJSON(v), j.matches)
		}
	}
	return ""
}

func (j jqCheck) check(ctx context.Context, r *response) string {
	doc, err := r.decodedJSON()
	if err != nil {
		return fmt.Sprintf("jq %s: %v", j.src, err)
	}
	v, ok := j.code.RunWithContext(ctx, doc).Next()
	if !ok {
		return fmt.Sprintf("jq %s: no output", j.src)
	}
	switch v := v.(type) {
	case error:
		return fmt.Sprintf("jq %s: error: %s", j.src, truncate(v.Error(), 120))
	case bool:
		if !v {
			return fmt.Sprintf("jq %s: false", j.src)
		}
		return ""
	default:
		return fmt.Sprintf("jq %s: got %s, want true", j.src, showJSON(v))
	}
}

// certCheck looks at the earliest expiry in the presented (or verified)
// chain.
func certCheck(cs *tls.ConnectionState, now time.Time, minDays int) (failure, degraded string) {
	chain := cs.PeerCertificates
	if len(cs.VerifiedChains) > 0 {
		chain = cs.VerifiedChains[0]
	}
	var first *x509.Certificate
	for _, c := range chain {
		if first == nil || c.NotAfter.Before(first.NotAfter) {
			first = c
		}
	}
	if first == nil {
		return "", ""
	}
	left := first.NotAfter.Sub(now)
	days := int(left / (24 * time.Hour))
	switch {
	case left <= 0:
		return fmt.Sprintf("certificate expired %s", ago(-left)), ""
	case days < minDays:
		return "", fmt.Sprintf("certificate expires in %s", plural(days, "day"))
	}
	return "", ""
}

func ago(d time.Duration) string {
	days := int(d / (24 * time.Hour))
	if days == 0 {
		return "less than a day ago"
	}
	return plural(days, "day") + " ago"
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.Itoa(n) + " " + unit + "s"
}

// sensitiveHeader reports whether a header's value must not appear in
// messages.
func sensitiveHeader(canonical string) bool {
	n := strings.ToLower(canonical)
	switch n {
	case "set-cookie", "cookie", "authorization", "proxy-authorization":
		return true
	}
	return strings.Contains(n, "token") || strings.Contains(n, "secret") ||
		strings.Contains(n, "key") || strings.Contains(n, "auth") || strings.Contains(n, "session")
}

// showJSON renders a value for a message, shortened.
func showJSON(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprintf("%v", v)
	}
	return truncate(strings.TrimSuffix(b.String(), "\n"), 80)
}

// jsonText is a value as text for regexes and captures: strings bare,
// numbers without exponent noise, everything else as JSON.
func jsonText(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	case nil:
		return "null"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%v", v)
	}
	return string(b)
}

func quoteShort(s string) string { return strconv.Quote(truncate(s, 80)) }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary.
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}

// jsonPath is a parsed path of the supported JSONPath subset.
type jsonPath []pathSeg

type pathSeg struct {
	key     string
	index   int
	isIndex bool
}

// parseJSONPath parses $, .name, [N], ['key'] and ["key"] segments.
func parseJSONPath(s string) (jsonPath, error) {
	if s == "" {
		return nil, fmt.Errorf("path is required (e.g. $.status)")
	}
	if s[0] != '$' {
		return nil, fmt.Errorf("path %q must start with $", s)
	}
	var p jsonPath
	i := 1
	for i < len(s) {
		switch s[i] {
		case '.':
			i++
			j := i
			for j < len(s) && s[j] != '.' && s[j] != '[' {
				j++
			}
			if j == i {
				return nil, fmt.Errorf("path %q: empty name at offset %d", s, i)
			}
			p = append(p, pathSeg{key: s[i:j]})
			i = j
		case '[':
			i++
			if i < len(s) && (s[i] == '\'' || s[i] == '"') {
				q := s[i]
				i++
				var key strings.Builder
				for i < len(s) && s[i] != q {
					if s[i] == '\\' && i+1 < len(s) {
						i++
					}
					key.WriteByte(s[i])
					i++
				}
				if i+1 >= len(s) || s[i+1] != ']' {
					return nil, fmt.Errorf("path %q: unterminated [%c...%c]", s, q, q)
				}
				p = append(p, pathSeg{key: key.String()})
				i += 2
				continue
			}
			j := strings.IndexByte(s[i:], ']')
			if j < 0 {
				return nil, fmt.Errorf("path %q: missing ]", s)
			}
			n, err := strconv.Atoi(s[i : i+j])
			if err != nil {
				return nil, fmt.Errorf("path %q: [%s] is not an index (use ['key'] for names)", s, s[i:i+j])
			}
			p = append(p, pathSeg{index: n, isIndex: true})
			i += j + 1
		default:
			return nil, fmt.Errorf("path %q: unexpected %q at offset %d (supported: $.a.b, $.a[0], $['key'])", s, s[i], i)
		}
	}
	return p, nil
}

// eval walks v; ok is false when the path is absent.
func (p jsonPath) eval(v any) (any, bool) {
	for _, seg := range p {
		switch cur := v.(type) {
		case map[string]any:
			if seg.isIndex {
				return nil, false
			}
			next, ok := cur[seg.key]
			if !ok {
				return nil, false
			}
			v = next
		case []any:
			if !seg.isIndex {
				return nil, false
			}
			i := seg.index
			if i < 0 {
				i += len(cur)
			}
			if i < 0 || i >= len(cur) {
				return nil, false
			}
			v = cur[i]
		default:
			return nil, false
		}
	}
	return v, true
}

package probes

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptrace"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"
)

// StepsSpec is a multi-step "sync" probe: write something, see it come back,
// clean up. Steps run in order with one cookie jar and connections kept alive
// within the run only; values captured from responses are substituted into
// later steps as {{name}}, with the built-ins {{random}} (random hex, one
// value per run) and {{now}} (unix seconds when the run started).
//
//	steps:
//	  sequence:
//	    - name: login
//	      method: POST
//	      url: https://api.example.net/api/v1/auth/login
//	      body: '{"user":"probe","password":"${PROBE_PASSWORD}"}'
//	      capture: {token: {json: "$.token"}}
//	    - name: poll
//	      url: https://api.example.net/api/v1/changes/{{change_id}}
//	      headers: {Authorization: "Bearer {{token}}"}
//	      expect: {json: [{path: "$.state", equals: applied}]}
//	      retry_until: {every: 1s, within: 20s}
//	  finally:
//	    - {name: delete, method: DELETE, url: "https://api.example.net/api/v1/changes/{{change_id}}"}
//
// The finally steps always run, after a failure too, with the variables
// captured so far; a finally step needing a variable that was never captured
// is skipped (it would address the wrong thing). If the sequence succeeded
// and a finally step fails, the run is degraded, not down: what users do
// worked, only the probe's own cleanup did not, and the reason is reported.
// If the run's deadline has already passed, finally steps get a grace period
// of FinallyGrace.
//
// Phases: one per step that ran (its name, retries included) and total.
type StepsSpec struct {
	Sequence []Step `yaml:"sequence"`
	Finally  []Step `yaml:"finally"`
	// Transport settings for every step, as for the http kind.
	MaxRedirects       *int     `yaml:"max_redirects"`
	MaxBody            int64    `yaml:"max_body"`
	InsecureSkipVerify bool     `yaml:"insecure_skip_verify"`
	Proxy              string   `yaml:"proxy"`
	DegradedOver       Duration `yaml:"degraded_over"`
	DownOver           Duration `yaml:"down_over"`

	plan     *stepsPlan // set by Validate, before any run
	planOnce sync.Once  // compiles lazy for a spec run without Validate
	lazy     *stepsPlan
	planErr  error
}

// Step is one request of a steps probe. URL, header values (but not Host)
// and body may use {{name}} templates.
type Step struct {
	Name       string             `yaml:"name"`
	Method     string             `yaml:"method"` // default GET
	URL        string             `yaml:"url"`
	Headers    map[string]string  `yaml:"headers"`
	Body       string             `yaml:"body"`
	Expect     Expect             `yaml:"expect"`
	Capture    map[string]Capture `yaml:"capture"`
	RetryUntil *RetryUntil        `yaml:"retry_until"`
}

// Capture takes a value from a response for later steps: exactly one of a
// JSON path, a response header, or a regex over the body (its first group,
// or the whole match if it has none).
type Capture struct {
	JSON   string `yaml:"json"`
	Header string `yaml:"header"`
	Regex  string `yaml:"regex"`
}

// RetryUntil repeats a step every Every until its expectations hold, giving
// up once Within has elapsed (and always at the run's deadline).
type RetryUntil struct {
	Every  Duration `yaml:"every"`
	Within Duration `yaml:"within"`
}

// FinallyGrace is how long finally steps may take when the run's own
// deadline has already passed.
const FinallyGrace = 5 * time.Second

func stepsKind() Kind { return Kind{Name: "steps", New: func() Spec { return &StepsSpec{} }} }

var builtinVars = map[string]bool{"random": true, "now": true}

type stepsPlan struct {
	sequence     []*stepPlan
	finally      []*stepPlan
	opts         clientOptions
	maxBody      int64
	degradedOver time.Duration
	downOver     time.Duration
}

type stepPlan struct {
	name     string
	req      requestPlan
	url      tmpl
	headers  map[string]tmpl // canonical key → value template
	body     tmpl
	captures []capturePlan
	needBody bool
	retry    bool
	every    time.Duration
	within   time.Duration
}

type capturePlan struct {
	name   string
	json   jsonPath
	src    string // the path or regex, for messages
	header string
	re     *regexp.Regexp
}

// Validate checks every step, that each {{name}} is a built-in or captured
// by an earlier step, and that the targets pass eg at save time.
func (s *StepsSpec) Validate(eg *Egress) error {
	p, err := s.compile(eg, true)
	if err != nil {
		return err
	}
	s.plan = p
	return nil
}

func (s *StepsSpec) compile(eg *Egress, checkEgress bool) (*stepsPlan, error) {
	var errs []error
	p := &stepsPlan{maxBody: s.MaxBody, degradedOver: s.DegradedOver.D(), downOver: s.DownOver.D()}
	if len(s.Sequence) == 0 {
		errs = append(errs, Errf("sequence", "at least one step is required"))
	}
	opts, err := compileClientOptions(s.MaxRedirects, s.Proxy, s.InsecureSkipVerify)
	if err != nil {
		errs = append(errs, err)
	}
	p.opts = opts
	if checkEgress && opts.proxy != nil {
		if err := eg.CheckHost(opts.proxy.Hostname()); err != nil {
			errs = append(errs, Errf("proxy", "%v", err))
		}
	}
	if err := checkMaxBody(s.MaxBody); err != nil {
		errs = append(errs, err)
	}
	if err := checkThresholds(p.degradedOver, p.downOver); err != nil {
		errs = append(errs, err)
	}
	known := map[string]bool{}
	for k := range builtinVars {
		known[k] = true
	}
	names := map[string]bool{}
	compileList := func(list string, steps []Step) []*stepPlan {
		var out []*stepPlan
		for i := range steps {
			field := fmt.Sprintf("%s[%d]", list, i)
			sp, err := compileStep(&steps[i], known, eg, checkEgress)
			if err != nil {
				errs = append(errs, PrefixErrors(field, err))
			}
			if sp.name != "" {
				if names[sp.name] {
					errs = append(errs, Errf(field+".name", "%q is used by another step", sp.name))
				}
				names[sp.name] = true
			}
			for _, c := range sp.captures {
				known[c.name] = true
			}
			out = append(out, sp)
		}
		return out
	}
	p.sequence = compileList("sequence", s.Sequence)
	p.finally = compileList("finally", s.Finally)
	return p, errors.Join(errs...)
}

func compileStep(st *Step, known map[string]bool, eg *Egress, checkEgress bool) (*stepPlan, error) {
	var errs []error
	sp := &stepPlan{name: st.Name}
	switch {
	case st.Name == "":
		errs = append(errs, Errf("name", "required"))
	case st.Name == "total":
		errs = append(errs, Errf("name", `"total" is reserved for the run's total time`))
	}
	if st.URL == "" {
		errs = append(errs, Errf("url", "required"))
	}
	rp, err := compileRequest(st.Method, st.URL, st.Headers, st.Body, &st.Expect)
	if err != nil {
		errs = append(errs, err)
	}
	sp.req = rp
	useVars := func(field string, t tmpl) {
		for _, name := range t.vars() {
			if !known[name] {
				errs = append(errs, Errf(field, "{{%s}} is not captured by an earlier step (built-ins: random, now)", name))
			}
		}
	}
	var terr error
	if sp.url, terr = parseTemplate(st.URL); terr != nil {
		errs = append(errs, Errf("url", "%v", terr))
	}
	useVars("url", sp.url)
	if st.URL != "" && terr == nil {
		// Variables become a placeholder; the real values pass the
		// dial-time check.
		probe := sp.url.render(func(string) (string, bool) { return "x", true })
		if checkEgress {
			if err := eg.CheckURL(probe); err != nil {
				errs = append(errs, Errf("url", "%v", err))
			}
		} else if err := NewEgress(nil).CheckURL(probe); err != nil && !errors.Is(err, ErrEgressDenied) {
			errs = append(errs, Errf("url", "%v", err))
		}
		if st.Expect.CertDaysLeft > 0 && !strings.HasPrefix(strings.ToLower(probe), "https:") {
			errs = append(errs, Errf("expect.cert_days_left", "needs an https url"))
		}
	}
	sp.headers = make(map[string]tmpl, len(rp.header))
	for k, vs := range rp.header {
		t, err := parseTemplate(vs[0])
		if err != nil {
			errs = append(errs, Errf("headers."+k, "%v", err))
		}
		useVars("headers."+k, t)
		sp.headers[k] = t
	}
	if sp.body, terr = parseTemplate(st.Body); terr != nil {
		errs = append(errs, Errf("body", "%v", terr))
	}
	useVars("body", sp.body)

	capNames := make([]string, 0, len(st.Capture))
	for name := range st.Capture {
		capNames = append(capNames, name)
	}
	sort.Strings(capNames)
	for _, name := range capNames {
		c := st.Capture[name]
		f := "capture." + name
		cp := capturePlan{name: name}
		if !validVarName(name) {
			errs = append(errs, Errf(f, "%q is not a valid variable name (letters, digits, _)", name))
		}
		if builtinVars[name] {
			errs = append(errs, Errf(f, "%q is a built-in variable", name))
		}
		n := 0
		if c.JSON != "" {
			n++
			p, err := parseJSONPath(c.JSON)
			if err != nil {
				errs = append(errs, Errf(f+".json", "%v", err))
			}
			cp.json, cp.src = p, c.JSON
			sp.needBody = true
		}
		if c.Header != "" {
			n++
			if !httpguts.ValidHeaderFieldName(c.Header) {
				errs = append(errs, Errf(f+".header", "%q is not a valid header name", c.Header))
			}
			cp.header = http.CanonicalHeaderKey(c.Header)
		}
		if c.Regex != "" {
			n++
			re, err := regexp.Compile(c.Regex)
			if err != nil {
				errs = append(errs, Errf(f+".regex", "invalid regular expression: %v", err))
			}
			cp.re, cp.src = re, c.Regex
			sp.needBody = true
		}
		if n != 1 {
			errs = append(errs, Errf(f, "set exactly one of json, header or regex"))
		}
		sp.captures = append(sp.captures, cp)
	}
	if x := rp.expect; x != nil {
		// String comparisons may name captured variables: compare what
		// was downloaded with what was uploaded.
		for i := range x.json {
			s, ok := x.json[i].equals.(string)
			if !ok || !strings.Contains(s, "{{") {
				continue
			}
			f := fmt.Sprintf("expect.json[%d].equals", i)
			t, err := parseTemplate(s)
			if err != nil {
				errs = append(errs, Errf(f, "%v", err))
				continue
			}
			useVars(f, t)
			x.json[i].eqTmpl, x.templated = &t, true
		}
		if strings.Contains(x.contains, "{{") {
			t, err := parseTemplate(x.contains)
			if err != nil {
				errs = append(errs, Errf("expect.body_contains", "%v", err))
			} else {
				useVars("expect.body_contains", t)
				x.containsTmpl, x.templated = &t, true
			}
		}
	}
	if rp.expect != nil && rp.expect.needBody {
		sp.needBody = true
	}
	if ru := st.RetryUntil; ru != nil {
		sp.retry, sp.every, sp.within = true, ru.Every.D(), ru.Within.D()
		if sp.every <= 0 {
			errs = append(errs, Errf("retry_until.every", "must be positive"))
		}
		if sp.within <= 0 {
			errs = append(errs, Errf("retry_until.within", "must be positive"))
		} else if sp.every > sp.within {
			errs = append(errs, Errf("retry_until.every", "must not exceed within (%s)", sp.within))
		}
	}
	return sp, errors.Join(errs...)
}

func (s *StepsSpec) compiled() (*stepsPlan, error) {
	if s.plan != nil {
		return s.plan, nil
	}
	s.planOnce.Do(func() { s.lazy, s.planErr = s.compile(nil, false) })
	return s.lazy, s.planErr
}

// stepRun is the state of one run of a steps probe.
type stepRun struct {
	env     runEnv
	client  *http.Client
	vars    map[string]string
	maxBody int64
	budget  time.Duration
	// degraded is the first reason to degrade (a certificate near expiry).
	degraded string
}

// Probe runs the sequence, then the finally steps.
func (s *StepsSpec) Probe(ctx context.Context, r Run) Result {
	env := envOf(r)
	res := Result{ProbeID: r.ProbeID, Region: env.Region, Started: env.Clock.Now()}
	p, err := s.compiled()
	if err != nil {
		return res.Fail("invalid steps probe: %v", err)
	}
	res.Phases = make([]Phase, 0, len(p.sequence)+len(p.finally)+1)
	start := time.Now()
	ctx, cancel, budget := runDeadline(ctx, r, start)
	defer cancel()

	jar, err := cookiejar.New(nil)
	if err != nil {
		return res.Fail("cookie jar: %v", err)
	}
	sr := &stepRun{
		env:     env,
		client:  newClient(env.Egress, p.opts, true, jar),
		vars:    map[string]string{"random": randomHex(), "now": strconv.FormatInt(res.Started.Unix(), 10)},
		maxBody: p.maxBody,
		budget:  budget,
	}
	defer sr.client.CloseIdleConnections()
	if sr.maxBody == 0 {
		sr.maxBody = env.MaxBody
	}

	count := len(p.sequence) + len(p.finally)
	var failure string
	for i, st := range p.sequence {
		t0 := time.Now()
		msg := sr.runStep(ctx, st)
		res.AddPhase(st.name, time.Since(t0))
		if msg != "" {
			failure = fmt.Sprintf("step %q (%d/%d): %s", st.name, i+1, count, msg)
			break
		}
	}

	fctx := ctx
	if ctx.Err() != nil && len(p.finally) > 0 {
		var fcancel context.CancelFunc
		fctx, fcancel = context.WithTimeout(context.WithoutCancel(ctx), FinallyGrace)
		defer fcancel()
		sr.budget = FinallyGrace
	}
	var cleanup string
	for j, st := range p.finally {
		if !st.varsReady(sr.vars) {
			continue
		}
		t0 := time.Now()
		msg := sr.runStep(fctx, st)
		res.AddPhase(st.name, time.Since(t0))
		if msg != "" && cleanup == "" {
			cleanup = fmt.Sprintf("finally step %q (%d/%d): %s", st.name, len(p.sequence)+j+1, count, msg)
		}
	}

	total := time.Since(start)
	res.Duration = total
	res.AddPhase("total", total)
	if failure != "" {
		if cleanup != "" {
			failure += "; also " + cleanup
		}
		return res.Fail("%s", failure)
	}
	degraded := cleanup
	if degraded == "" {
		degraded = sr.degraded
	}
	return judge(res, "", degraded, total, p.degradedOver, p.downOver)
}

// runStep runs one step, repeating it under retry_until. It returns the
// failure, or "" once the step held.
func (sr *stepRun) runStep(ctx context.Context, st *stepPlan) string {
	began := sr.env.Clock.Now()
	for {
		msg := sr.attempt(ctx, st)
		if msg == "" || !st.retry || ctx.Err() != nil {
			return msg
		}
		if sr.env.Clock.Now().Sub(began)+st.every > st.within {
			return fmt.Sprintf("%s (gave up after %s)", msg, st.within)
		}
		t := sr.env.Clock.NewTimer(st.every)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Sprintf("%s (gave up: the run's %s timeout came first)", msg, roundDur(sr.budget))
		case <-t.C():
		}
	}
}

// attempt sends the step's request once, checks it and captures values.
func (sr *stepRun) attempt(ctx context.Context, st *stepPlan) string {
	lookup := func(name string) (string, bool) {
		v, ok := sr.vars[name]
		return v, ok
	}
	header := make(http.Header, len(st.headers))
	for k, t := range st.headers {
		header[k] = []string{t.render(lookup)}
	}
	tr := &tracer{start: time.Now(), budget: sr.budget}
	req, err := st.req.newRequest(httptrace.WithClientTrace(ctx, tr.clientTrace()), st.url.render(lookup), header, st.body.render(lookup))
	if err != nil {
		return "request: " + err.Error()
	}
	resp, buf, err := exchange(ctx, sr.client, req, sr.maxBody, st.needBody, tr)
	defer putBuf(buf)
	if err != nil {
		return err.Error()
	}
	failure, degraded := st.req.expect.render(lookup).check(ctx, &resp, sr.env.Clock.Now())
	if failure != "" {
		return failure
	}
	if degraded != "" && sr.degraded == "" {
		sr.degraded = fmt.Sprintf("step %q: %s", st.name, degraded)
	}
	for _, c := range st.captures {
		v, msg := c.take(&resp)
		if msg != "" {
			return fmt.Sprintf("capture %s: %s", c.name, msg)
		}
		sr.vars[c.name] = v
	}
	return ""
}

// take extracts the captured value; captured values never appear in
// messages (they are often tokens).
func (c capturePlan) take(r *response) (string, string) {
	switch {
	case c.header != "":
		v := r.header.Get(c.header)
		if v == "" {
			return "", fmt.Sprintf("header %s missing", c.header)
		}
		return v, ""
	case c.re != nil:
		m := c.re.FindSubmatch(r.body)
		if m == nil {
			return "", fmt.Sprintf("body does not match %s", c.src)
		}
		if len(m) > 1 {
			return string(m[1]), ""
		}
		return string(m[0]), ""
	default:
		doc, err := r.decodedJSON()
		if err != nil {
			return "", err.Error()
		}
		v, ok := c.json.eval(doc)
		if !ok {
			return "", fmt.Sprintf("%s not found", c.src)
		}
		return jsonText(v), ""
	}
}

// varsReady reports whether every variable the step uses is set.
func (st *stepPlan) varsReady(vars map[string]string) bool {
	check := func(t tmpl) bool {
		for _, name := range t.vars() {
			if _, ok := vars[name]; !ok {
				return false
			}
		}
		return true
	}
	if !check(st.url) || !check(st.body) {
		return false
	}
	for _, t := range st.headers {
		if !check(t) {
			return false
		}
	}
	return true
}

func randomHex() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}

// tmpl is a parsed "{{name}}" template: literal text and variable names,
// alternating.
type tmpl []tmplPart

type tmplPart struct {
	lit  string
	name string // set for a variable
}

func parseTemplate(s string) (tmpl, error) {
	var t tmpl
	for {
		i := strings.Index(s, "{{")
		if i < 0 {
			if s != "" {
				t = append(t, tmplPart{lit: s})
			}
			return t, nil
		}
		j := strings.Index(s[i+2:], "}}")
		if j < 0 {
			return nil, fmt.Errorf("unterminated {{ in %q", truncate(s[i:], 40))
		}
		name := strings.TrimSpace(s[i+2 : i+2+j])
		if !validVarName(name) {
			return nil, fmt.Errorf("{{%s}} is not a valid variable (letters, digits, _)", truncate(name, 40))
		}
		if i > 0 {
			t = append(t, tmplPart{lit: s[:i]})
		}
		t = append(t, tmplPart{name: name})
		s = s[i+2+j+2:]
	}
}

func (t tmpl) vars() []string {
	var out []string
	for _, p := range t {
		if p.name != "" {
			out = append(out, p.name)
		}
	}
	return out
}

// render substitutes variables; an unset one renders empty (Validate and
// varsReady keep that from happening).
func (t tmpl) render(lookup func(string) (string, bool)) string {
	if len(t) == 1 && t[0].name == "" {
		return t[0].lit
	}
	var b strings.Builder
	for _, p := range t {
		if p.name == "" {
			b.WriteString(p.lit)
			continue
		}
		v, _ := lookup(p.name)
		b.WriteString(v)
	}
	return b.String()
}

func validVarName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

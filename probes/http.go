package probes

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/lookout-status/lookout/clock"
)

// HTTPSpec is an http probe: one request, checked against Expect.
//
//	http:
//	  method: GET
//	  url: https://api.example.net/api/v1/status/
//	  headers: {Authorization: "Bearer ${TOKEN}"}
//	  max_redirects: 5
//	  degraded_over: 800ms
//	  down_over: 5s
//	  expect: {status: [200], json: [{path: "$.database", equals: ok}]}
//
// Every connection (redirect hops included) goes through the organization's
// egress policy at dial time; proxies from the environment are never used.
// Requests use HTTP/1.1 and TLS 1.2 or later, on a fresh connection per run
// so timings are honest (see oneShot; a spec with a proxy goes through
// net/http's Transport with keep-alives off).
// Phases: dns, connect, tls (each summed over redirect hops), first_byte
// (from the start of the run to the final response's first byte) and total
// (including reading the body).
type HTTPSpec struct {
	Method  string            `yaml:"method"` // default GET
	URL     string            `yaml:"url"`
	Headers map[string]string `yaml:"headers"` // values may hold secrets: never shown
	Body    string            `yaml:"body"`
	// MaxRedirects is the number of redirects followed (default 5; 0 returns
	// the redirect response itself).
	MaxRedirects *int `yaml:"max_redirects"`
	// MaxBody overrides the organization's body cap, in bytes.
	MaxBody            int64  `yaml:"max_body"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
	Proxy              string `yaml:"proxy"` // explicit proxy URL (http, https or socks5)
	// DegradedOver and DownOver judge the total latency.
	DegradedOver Duration `yaml:"degraded_over"`
	DownOver     Duration `yaml:"down_over"`
	Expect       Expect   `yaml:"expect"`

	plan     *httpPlan // set by Validate, before any run
	planOnce sync.Once // compiles lazy for a spec run without Validate
	lazy     *httpPlan
	planErr  error
	// client is built once per egress policy: with keep-alives off it holds
	// no connections, so concurrent runs share it safely.
	client atomic.Pointer[cachedClient]
}

func httpKind() Kind { return Kind{Name: "http", New: func() Spec { return &HTTPSpec{} }} }

// DefaultMaxRedirects is how many redirects a request follows by default.
const DefaultMaxRedirects = 5

// defaultRunTimeout bounds a run whose context carries no deadline.
const defaultRunTimeout = 30 * time.Second

// userAgent is sent unless the spec sets its own.
const userAgent = "Lookout-Probe/1"

// httpPlan is an HTTPSpec compiled for running.
type httpPlan struct {
	req          requestPlan
	opts         clientOptions
	maxBody      int64
	degradedOver time.Duration
	downOver     time.Duration
	// gzip: the plan asks for gzip itself (Accept-Encoding in req.header)
	// and the transport decodes it, as net/http's Transport does when the
	// request sets neither Accept-Encoding nor Range.
	gzip bool
}

// requestPlan is the fixed part of one request.
type requestPlan struct {
	method string
	url    string
	header http.Header // read-only once built; shared by concurrent runs
	host   string      // a Host header, which Go sends from req.Host
	body   string
	expect *expectation
}

// clientOptions are the transport settings shared by http and steps.
type clientOptions struct {
	insecure     bool
	proxy        *url.URL
	maxRedirects int
}

type cachedClient struct {
	eg *Egress
	c  *http.Client
}

// Validate checks the spec and compiles its regexes, JSON paths and jq
// programs; eg refuses literal internal targets at save time.
func (s *HTTPSpec) Validate(eg *Egress) error {
	p, err := s.compile()
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	if s.URL != "" {
		if err := eg.CheckURL(s.URL); err != nil {
			errs = append(errs, Errf("url", "%v", err))
		} else if s.Expect.CertDaysLeft > 0 && !strings.HasPrefix(strings.ToLower(s.URL), "https:") {
			errs = append(errs, Errf("expect.cert_days_left", "needs an https url"))
		}
	}
	if s.Proxy != "" {
		if u, err := url.Parse(s.Proxy); err == nil && u.Hostname() != "" {
			if err := eg.CheckHost(u.Hostname()); err != nil {
				errs = append(errs, Errf("proxy", "%v", err))
			}
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	s.plan = p
	return nil
}

// compile checks everything but the egress policy.
func (s *HTTPSpec) compile() (*httpPlan, error) {
	var errs []error
	p := &httpPlan{maxBody: s.MaxBody, degradedOver: s.DegradedOver.D(), downOver: s.DownOver.D()}
	if s.URL == "" {
		errs = append(errs, Errf("url", "required"))
	}
	rp, err := compileRequest(s.Method, s.URL, s.Headers, s.Body, &s.Expect)
	if err != nil {
		errs = append(errs, err)
	}
	p.req = rp
	opts, err := compileClientOptions(s.MaxRedirects, s.Proxy, s.InsecureSkipVerify)
	if err != nil {
		errs = append(errs, err)
	}
	p.opts = opts
	if opts.proxy == nil && rp.method != http.MethodHead && rp.header != nil &&
		rp.header.Get("Accept-Encoding") == "" && rp.header.Get("Range") == "" {
		rp.header.Set("Accept-Encoding", "gzip")
		p.req.header, p.gzip = rp.header, true
	}
	if err := checkMaxBody(s.MaxBody); err != nil {
		errs = append(errs, err)
	}
	if err := checkThresholds(p.degradedOver, p.downOver); err != nil {
		errs = append(errs, err)
	}
	return p, errors.Join(errs...)
}

// MaxBodyLimit bounds a spec's max_body override.
const MaxBodyLimit = 64 << 20

func checkMaxBody(n int64) error {
	switch {
	case n < 0:
		return Errf("max_body", "must not be negative")
	case n > MaxBodyLimit:
		return Errf("max_body", "must not exceed %s", byteSize(MaxBodyLimit))
	}
	return nil
}

func checkThresholds(degradedOver, downOver time.Duration) error {
	var errs []error
	if degradedOver < 0 {
		errs = append(errs, Errf("degraded_over", "must not be negative"))
	}
	if downOver < 0 {
		errs = append(errs, Errf("down_over", "must not be negative"))
	}
	if degradedOver > 0 && downOver > 0 && degradedOver >= downOver {
		errs = append(errs, Errf("degraded_over", "must be less than down_over (%s)", downOver))
	}
	return errors.Join(errs...)
}

// compileRequest checks and prepares the parts of a request that http and
// steps share. The URL is checked for shape here; the egress policy by the
// caller.
func compileRequest(method, rawURL string, headers map[string]string, body string, e *Expect) (requestPlan, error) {
	var errs []error
	rp := requestPlan{method: strings.ToUpper(method), url: rawURL, body: body}
	if rp.method == "" {
		rp.method = http.MethodGet
	}
	if !httpguts.ValidHeaderFieldName(rp.method) { // a method is an HTTP token, like a header name
		errs = append(errs, Errf("method", "%q is not a valid HTTP method", method))
	}
	rp.header = make(http.Header, len(headers)+1)
	for k, v := range headers {
		if !httpguts.ValidHeaderFieldName(k) {
			errs = append(errs, Errf("headers", "%q is not a valid header name", k))
			continue
		}
		if strings.ContainsAny(v, "\r\n\x00") {
			// Never echo the value: it may be a secret.
			errs = append(errs, Errf("headers."+k, "value contains a line break or NUL"))
			continue
		}
		if strings.EqualFold(k, "Host") {
			rp.host = v
			continue
		}
		rp.header.Set(k, v)
	}
	if rp.header.Get("User-Agent") == "" {
		rp.header.Set("User-Agent", userAgent)
	}
	x, err := compileExpect(e)
	if err != nil {
		errs = append(errs, PrefixErrors("expect", err))
	}
	rp.expect = x
	return rp, errors.Join(errs...)
}

func compileClientOptions(maxRedirects *int, proxy string, insecure bool) (clientOptions, error) {
	var errs []error
	o := clientOptions{insecure: insecure, maxRedirects: DefaultMaxRedirects}
	if maxRedirects != nil {
		o.maxRedirects = *maxRedirects
		if o.maxRedirects < 0 {
			errs = append(errs, Errf("max_redirects", "must not be negative"))
		}
	}
	if proxy != "" {
		u, err := url.Parse(proxy)
		switch {
		case err != nil:
			errs = append(errs, Errf("proxy", "invalid URL: %v", err))
		case u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "socks5":
			errs = append(errs, Errf("proxy", "scheme %q is not allowed (use http, https or socks5)", u.Scheme))
		case u.Host == "":
			errs = append(errs, Errf("proxy", "URL has no host"))
		default:
			o.proxy = u
		}
	}
	return o, errors.Join(errs...)
}

// compiled returns the plan from Validate, or compiles one for a spec that
// was never validated.
func (s *HTTPSpec) compiled() (*httpPlan, error) {
	if s.plan != nil {
		return s.plan, nil
	}
	s.planOnce.Do(func() { s.lazy, s.planErr = s.compile() })
	return s.lazy, s.planErr
}

// clientFor returns the spec's client under eg: a oneShot transport, or
// net/http's Transport with keep-alives off for a spec with a proxy.
func (s *HTTPSpec) clientFor(eg *Egress, p *httpPlan) *http.Client {
	if cc := s.client.Load(); cc != nil && cc.eg == eg {
		return cc.c
	}
	var c *http.Client
	if p.opts.proxy != nil {
		c = newClient(eg, p.opts, false, nil)
	} else {
		c = &http.Client{Transport: newOneShot(eg, p.opts, p.gzip), CheckRedirect: p.opts.checkRedirect(eg)}
	}
	s.client.Store(&cachedClient{eg: eg, c: c})
	return c
}

// Probe runs the request once.
func (s *HTTPSpec) Probe(ctx context.Context, r Run) Result {
	env := envOf(r)
	res := Result{ProbeID: r.ProbeID, Region: env.Region, Started: env.Clock.Now(), Phases: make([]Phase, 0, 5)}
	p, err := s.compiled()
	if err != nil {
		return res.Fail("invalid http probe: %v", err)
	}
	start := time.Now()
	ctx, cancel, budget := runDeadline(ctx, r, start)
	defer cancel()
	maxBody := p.maxBody
	if maxBody == 0 {
		maxBody = env.MaxBody
	}

	tr := &tracer{start: start, budget: budget}
	req, err := p.req.newRequest(httptrace.WithClientTrace(ctx, tr.clientTrace()), p.req.url, p.req.header, p.req.body)
	if err != nil {
		return res.Fail("request: %v", err)
	}
	req.Close = true // one request per connection, and the server knows it
	resp, buf, err := exchange(ctx, s.clientFor(env.Egress, p), req, maxBody, p.req.expect.needBody, tr)
	total := time.Since(start)
	res.Duration = total
	tr.phases(&res)
	res.AddPhase("total", total)
	if err != nil {
		putBuf(buf)
		return res.Fail("%v", err)
	}
	failure, degraded := p.req.expect.check(ctx, &resp, env.Clock.Now())
	putBuf(buf)
	return judge(res, failure, degraded, total, p.degradedOver, p.downOver)
}

// judge turns assertion results and latency into the outcome.
func judge(res Result, failure, degraded string, total, degradedOver, downOver time.Duration) Result {
	switch {
	case failure != "":
		return res.Fail("%s", failure)
	case downOver > 0 && total > downOver:
		return res.Fail("too slow: took %s, down_over is %s", roundDur(total), downOver)
	case degraded != "":
		res.Outcome, res.Error = Degraded, degraded
	case degradedOver > 0 && total > degradedOver:
		res.Outcome = Degraded
		res.Error = fmt.Sprintf("slow: took %s, degraded_over is %s", roundDur(total), degradedOver)
	default:
		res.Outcome = Up
	}
	return res
}

// runEnv is a Run's environment with defaults filled in.
type runEnv struct {
	Clock   clock.Clock
	Egress  *Egress
	MaxBody int64
	Region  string
}

func envOf(r Run) runEnv {
	e := runEnv{Clock: clock.Real{}, MaxBody: DefaultMaxBody}
	if r.Env == nil {
		return e
	}
	if r.Clock != nil {
		e.Clock = r.Clock
	}
	if r.MaxBody > 0 {
		e.MaxBody = r.MaxBody
	}
	e.Egress, e.Region = r.Egress, r.Region
	return e
}

// runDeadline makes sure ctx has a deadline and reports the run's budget
// for timeout messages: the configured timeout when the run names it (the
// time left at start is a little less, and varies with load), or else the
// time left.
func runDeadline(ctx context.Context, r Run, start time.Time) (context.Context, context.CancelFunc, time.Duration) {
	if dl, ok := ctx.Deadline(); ok {
		if r.Timeout > 0 {
			return ctx, func() {}, r.Timeout
		}
		return ctx, func() {}, dl.Sub(start)
	}
	ctx, cancel := context.WithTimeout(ctx, defaultRunTimeout)
	return ctx, cancel, defaultRunTimeout
}

// newRequest builds the request for one run; url, header and body may be
// the rendered forms of a step's templates.
func (rp *requestPlan) newRequest(ctx context.Context, rawURL string, header http.Header, body string) (*http.Request, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, rp.method, rawURL, rd)
	if err != nil {
		return nil, errors.New(redactURLError(err))
	}
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		return nil, fmt.Errorf("scheme %q is not allowed (use http or https)", req.URL.Scheme)
	}
	req.Header = header
	if rp.host != "" {
		req.Host = rp.host
	}
	return req, nil
}

// redactURLError keeps the reason of a URL parse error without the URL,
// which may carry a token in its query.
func redactURLError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return "invalid URL: " + ue.Err.Error()
	}
	return err.Error()
}

// newClient builds a client whose every connection passes eg at dial time.
// Proxies come only from o.proxy, never from the environment. keepAlive is
// for steps, which reuse connections within one run; jar carries a run's
// cookies.
func newClient(eg *Egress, o clientOptions, keepAlive bool, jar http.CookieJar) *http.Client {
	t := &http.Transport{
		Proxy:                  nil, // HTTP_PROXY is never used implicitly
		DialContext:            eg.Dialer(0).DialContext,
		TLSClientConfig:        &tls.Config{InsecureSkipVerify: o.insecure, MinVersion: tls.VersionTLS12},
		DisableKeepAlives:      !keepAlive,
		MaxResponseHeaderBytes: 64 << 10,
		// Handshake and header waits are bounded by the run's context.
		MaxIdleConnsPerHost: 4,
	}
	if o.proxy != nil {
		t.Proxy = http.ProxyURL(o.proxy)
	}
	return &http.Client{Transport: t, Jar: jar, CheckRedirect: o.checkRedirect(eg)}
}

// redirectError is a refused redirect; its text is the message.
type redirectError struct{ msg string }

func (e *redirectError) Error() string { return e.msg }

func (o clientOptions) checkRedirect(eg *Egress) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if o.maxRedirects == 0 {
			return http.ErrUseLastResponse
		}
		if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
			return &redirectError{fmt.Sprintf("redirect to a %q URL refused (http and https only)", req.URL.Scheme)}
		}
		if o.proxy != nil {
			// The dial-time check sees only the proxy: check literal
			// addresses of every hop here.
			if err := eg.CheckHost(req.URL.Hostname()); err != nil {
				return &redirectError{fmt.Sprintf("redirect refused: %v", err)}
			}
		}
		if len(via) > o.maxRedirects {
			next := req.URL.String()
			for _, v := range via {
				if v.URL.String() == next {
					return &redirectError{fmt.Sprintf("redirect loop: stopped after %d redirects", o.maxRedirects)}
				}
			}
			return &redirectError{fmt.Sprintf("too many redirects: stopped after %d redirects", o.maxRedirects)}
		}
		return nil
	}
}

// exchange sends req and reads the body through the cap (applied to
// decompressed bytes). With keepBody the body is returned in buf, which the
// caller hands back with putBuf once done with resp.
func exchange(ctx context.Context, c *http.Client, req *http.Request, maxBody int64, keepBody bool, tr *tracer) (resp response, buf *bytes.Buffer, err error) {
	hr, err := c.Do(req)
	if err != nil {
		return resp, nil, tr.explain(ctx, err)
	}
	defer hr.Body.Close()
	tr.setStage(stageBody)
	resp.status, resp.header, resp.tls = hr.StatusCode, hr.Header, hr.TLS
	if hr.ContentLength > maxBody {
		return resp, nil, fmt.Errorf("response body exceeds the %s limit (Content-Length %d)", byteSize(maxBody), hr.ContentLength)
	}
	lr := io.LimitedReader{R: hr.Body, N: maxBody + 1}
	var n int64
	if keepBody {
		buf = getBuf()
		n, err = buf.ReadFrom(&lr)
	} else {
		n, err = io.Copy(io.Discard, &lr)
	}
	if err != nil {
		return resp, buf, tr.explain(ctx, err)
	}
	if n > maxBody {
		return resp, buf, fmt.Errorf("response body exceeds the %s limit", byteSize(maxBody))
	}
	if buf != nil {
		resp.body = buf.Bytes()
	}
	return resp, buf, nil
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func getBuf() *bytes.Buffer { return bufPool.Get().(*bytes.Buffer) }

func putBuf(b *bytes.Buffer) {
	if b == nil || b.Cap() > 4<<20 {
		return
	}
	b.Reset()
	bufPool.Put(b)
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// roundDur shortens a duration for messages: 9.9996s → 10s.
func roundDur(d time.Duration) time.Duration {
	if d >= time.Second {
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Millisecond)
}

// stage is where a request is, for timeout messages.
type stage uint8

const (
	stageConnect stage = iota
	stageDNS
	stageTLS
	stageSend
	stageWait
	stageHeaders
	stageBody
)

var stageText = [...]string{
	stageConnect: "while connecting",
	stageDNS:     "while resolving DNS",
	stageTLS:     "during the TLS handshake",
	stageSend:    "while sending the request",
	stageWait:    "while waiting for the response",
	stageHeaders: "while reading response headers",
	stageBody:    "while reading body",
}

// tracer times the phases of a request through httptrace. Its callbacks run
// on the transport's goroutines, hence the mutex.
type tracer struct {
	start  time.Time
	budget time.Duration // the run's deadline minus its start

	mu                            sync.Mutex
	stage                         stage
	dnsStart, connStart, tlsStart time.Time
	dns, connect, tls, firstByte  time.Duration
	sawDNS, sawConnect, sawTLS    bool
	sawFirstByte                  bool
}

func (t *tracer) setStage(s stage) {
	t.mu.Lock()
	t.stage = s
	t.mu.Unlock()
}

func (t *tracer) clientTrace() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		GetConn: func(string) { t.setStage(stageConnect) },
		DNSStart: func(httptrace.DNSStartInfo) {
			t.mu.Lock()
			t.stage, t.dnsStart = stageDNS, time.Now()
			t.mu.Unlock()
		},
		DNSDone: func(httptrace.DNSDoneInfo) {
			t.mu.Lock()
			t.stage, t.sawDNS = stageConnect, true
			t.dns += time.Since(t.dnsStart)
			t.mu.Unlock()
		},
		ConnectStart: func(string, string) {
			t.mu.Lock()
			t.stage, t.connStart = stageConnect, time.Now()
			t.mu.Unlock()
		},
		ConnectDone: func(_, _ string, err error) {
			if err != nil {
				return
			}
			t.mu.Lock()
			t.sawConnect = true
			t.connect += time.Since(t.connStart)
			t.mu.Unlock()
		},
		TLSHandshakeStart: func() {
			t.mu.Lock()
			t.stage, t.tlsStart = stageTLS, time.Now()
			t.mu.Unlock()
		},
		TLSHandshakeDone: func(tls.ConnectionState, error) {
			t.mu.Lock()
			t.sawTLS = true
			t.tls += time.Since(t.tlsStart)
			t.mu.Unlock()
		},
		GotConn:      func(httptrace.GotConnInfo) { t.setStage(stageSend) },
		WroteRequest: func(httptrace.WroteRequestInfo) { t.setStage(stageWait) },
		GotFirstResponseByte: func() {
			t.mu.Lock()
			t.stage, t.sawFirstByte = stageHeaders, true
			t.firstByte = time.Since(t.start)
			t.mu.Unlock()
		},
	}
}

// phases appends the observed phases (not total) to res.
func (t *tracer) phases(res *Result) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.sawDNS {
		res.AddPhase("dns", t.dns)
	}
	if t.sawConnect {
		res.AddPhase("connect", t.connect)
	}
	if t.sawTLS {
		res.AddPhase("tls", t.tls)
	}
	if t.sawFirstByte {
		res.AddPhase("first_byte", t.firstByte)
	}
}

// explain turns a transport error into a message a human understands,
// without the URL (it may carry a token) or any header.
func (t *tracer) explain(ctx context.Context, err error) error {
	t.mu.Lock()
	where := stageText[t.stage]
	t.mu.Unlock()
	if cerr := ctx.Err(); cerr != nil {
		if errors.Is(cerr, context.DeadlineExceeded) {
			return fmt.Errorf("timeout after %s (%s)", roundDur(t.budget), where)
		}
		return fmt.Errorf("canceled (%s)", where)
	}
	var re *redirectError
	if errors.As(err, &re) {
		return re
	}
	if errors.Is(err, ErrEgressDenied) {
		msg := err.Error()
		if i := strings.Index(msg, ErrEgressDenied.Error()); i >= 0 {
			msg = msg[i:]
		}
		return errors.New(msg)
	}
	var cve *tls.CertificateVerificationError
	if errors.As(err, &cve) {
		return fmt.Errorf("tls: %v", cve.Err)
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return fmt.Errorf("dns: %v", dnsErr)
	}
	var op *net.OpError
	if errors.As(err, &op) {
		inner := op.Err.Error()
		switch op.Op {
		case "dial":
			if strings.HasPrefix(inner, "connect: ") {
				return errors.New(inner)
			}
			return fmt.Errorf("connect: %s", inner)
		case "proxyconnect":
			return fmt.Errorf("proxy: %s", inner)
		default:
			return fmt.Errorf("%s: %s (%s)", op.Op, inner, where)
		}
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("connection closed by the server (%s)", where)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return errors.New(ue.Err.Error())
	}
	return err
}

package probes

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/lookout-status/lookout/clock"
)

// loopback is the egress policy of the tests: the default one plus the
// loopback ranges the test servers listen on.
var loopback = NewEgress([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")})

func testRun(eg *Egress) Run {
	return Run{Env: &Env{Clock: clock.Real{}, Egress: eg, Region: "test"}, ProbeID: "probe-1"}
}

// checkLeaks verifies, after every other cleanup (servers closed), that the
// test left no goroutine behind.
func checkLeaks(t *testing.T) {
	t.Helper()
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}

func newServer(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

func validHTTP(t *testing.T, s *HTTPSpec, eg *Egress) *HTTPSpec {
	t.Helper()
	if err := s.Validate(eg); err != nil {
		t.Fatalf("validate: %v", err)
	}
	return s
}

func probeHTTP(t *testing.T, s *HTTPSpec, r Run, timeout time.Duration) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	r.Timeout = timeout
	return s.Probe(ctx, r)
}

func wantResult(t *testing.T, res Result, outcome Outcome, errPrefix string) {
	t.Helper()
	if res.Outcome != outcome || !strings.HasPrefix(res.Error, errPrefix) || (errPrefix == "" && res.Error != "") {
		t.Fatalf("got %s %q, want %s %q", res.Outcome, res.Error, outcome, errPrefix)
	}
}

func TestHTTPUpWithPhases(t *testing.T) {
	checkLeaks(t)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if got := r.Header.Get("User-Agent"); got != userAgent {
			t.Errorf("got User-Agent %q, want %q", got, userAgent)
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"database":"ok"}`)
	})
	cases := []struct {
		name       string
		url        string
		wantPhases []string
	}{
		{"address", srv.URL + "/status", []string{"connect", "first_byte", "total"}},
		{"name", strings.Replace(srv.URL, "127.0.0.1", "localhost", 1) + "/status", []string{"dns", "connect", "first_byte", "total"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := validHTTP(t, &HTTPSpec{URL: tc.url, Expect: Expect{
				Status: []int{200},
				JSON:   []JSONAssert{{Path: "$.database", Equals: "ok"}},
				JQ:     []string{`.database == "ok"`},
			}}, loopback)
			res := probeHTTP(t, s, testRun(loopback), 5*time.Second)
			wantResult(t, res, Up, "")
			var names []string
			for _, p := range res.Phases {
				names = append(names, p.Name)
				if p.Duration <= 0 {
					t.Errorf("phase %s: got %v, want > 0", p.Name, p.Duration)
				}
			}
			if strings.Join(names, ",") != strings.Join(tc.wantPhases, ",") {
				t.Fatalf("got phases %v, want %v", names, tc.wantPhases)
			}
			if res.Phase("total") < res.Phase("first_byte") || res.Duration != res.Phase("total") {
				t.Fatalf("got total %v, first_byte %v, duration %v: want total >= first_byte and duration == total",
					res.Phase("total"), res.Phase("first_byte"), res.Duration)
			}
			if res.ProbeID != "probe-1" || res.Region != "test" || res.Started.IsZero() {
				t.Fatalf("got id %q region %q started %v, want probe-1, test, set", res.ProbeID, res.Region, res.Started)
			}
		})
	}
}

func TestHTTPRequestAndAssertions(t *testing.T) {
	checkLeaks(t)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/echo":
			b, _ := io.ReadAll(r.Body)
			w.Header().Set("X-Method", r.Method)
			w.Header().Set("X-Auth", r.Header.Get("Authorization"))
			w.Header().Set("X-Host", r.Host)
			w.Write(b)
		case "/degraded":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"database":"degraded"}`)
		case "/503":
			w.WriteHeader(503)
		}
	})
	cases := []struct {
		name        string
		spec        *HTTPSpec
		wantOutcome Outcome
		wantErr     string
	}{
		{name: "method, headers, body, host sent", spec: &HTTPSpec{Method: "put", URL: srv.URL + "/echo", Body: "payload",
			Headers: map[string]string{"Authorization": "Bearer xyz", "Host": "api.example.net"},
			Expect: Expect{BodyContains: "payload", Headers: []HeaderAssert{
				{Name: "X-Method", Contains: "PUT"}, {Name: "X-Host", Contains: "api.example.net"}}}},
			wantOutcome: Up},
		{name: "status fails", spec: &HTTPSpec{URL: srv.URL + "/503", Expect: Expect{Status: []int{200}}},
			wantOutcome: Down, wantErr: "status: got 503, want 200"},
		{name: "json fails", spec: &HTTPSpec{URL: srv.URL + "/degraded", Expect: Expect{JSON: []JSONAssert{{Path: "$.database", Equals: "ok"}}}},
			wantOutcome: Down, wantErr: `assert $.database: got "degraded", want "ok"`},
		{name: "jq fails", spec: &HTTPSpec{URL: srv.URL + "/degraded", Expect: Expect{JQ: []string{`.database == "ok"`}}},
			wantOutcome: Down, wantErr: `jq .database == "ok": false`},
		{name: "degraded_over", spec: &HTTPSpec{URL: srv.URL + "/echo", DegradedOver: Duration(time.Nanosecond)},
			wantOutcome: Degraded, wantErr: "slow: took "},
		{name: "down_over", spec: &HTTPSpec{URL: srv.URL + "/echo", DownOver: Duration(time.Nanosecond)},
			wantOutcome: Down, wantErr: "too slow: took "},
		{name: "assertion beats latency", spec: &HTTPSpec{URL: srv.URL + "/503", DownOver: Duration(time.Nanosecond)},
			wantOutcome: Down, wantErr: "status: got 503, want 2xx"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := validHTTP(t, tc.spec, loopback)
			res := probeHTTP(t, s, testRun(loopback), 5*time.Second)
			wantResult(t, res, tc.wantOutcome, tc.wantErr)
		})
	}
}

func TestHTTPValidate(t *testing.T) {
	neg := -1
	cases := []struct {
		name string
		spec *HTTPSpec
		want []string
	}{
		{name: "file", spec: &HTTPSpec{URL: "file:///etc/passwd"}, want: []string{`url: scheme "file" is not allowed (use http or https)`}},
		{name: "gopher", spec: &HTTPSpec{URL: "gopher://example.com/"}, want: []string{`url: scheme "gopher" is not allowed (use http or https)`}},
		{name: "javascript", spec: &HTTPSpec{URL: "javascript:alert(1)"}, want: []string{`url: scheme "javascript" is not allowed (use http or https)`}},
		{name: "metadata", spec: &HTTPSpec{URL: "http://169.254.169.254/latest/meta-data"},
			want: []string{"url: egress denied: address 169.254.169.254 is link-local / cloud metadata; allow-list it in the organization's egress.allow to probe it"}},
		{name: "missing url", spec: &HTTPSpec{}, want: []string{"url: required"}},
		{name: "max_body too big", spec: &HTTPSpec{URL: "https://example.com/", MaxBody: 1 << 30}, want: []string{"max_body: must not exceed 64 MiB"}},
		{name: "everything wrong", spec: &HTTPSpec{
			Method: "GE T", URL: "http://example.com/", MaxRedirects: &neg, MaxBody: -1, Proxy: "ftp://proxy:21",
			DegradedOver: Duration(5 * time.Second), DownOver: Duration(time.Second),
			Headers: map[string]string{"X-Api-Key": "s3cr3t\r\nInjected: yes", "Bad Name": "v"},
			Expect:  Expect{BodyRegex: "(", JQ: []string{".a =="}, CertDaysLeft: 14},
		}, want: []string{
			`method: "GE T" is not a valid HTTP method`,
			`headers: "Bad Name" is not a valid header name`,
			"headers.X-Api-Key: value contains a line break or NUL",
			"expect.body_regex: invalid regular expression: error parsing regexp: missing closing ): `(`",
			"expect.jq[0]: invalid jq expression: unexpected EOF",
			"max_redirects: must not be negative",
			`proxy: scheme "ftp" is not allowed (use http, https or socks5)`,
			"max_body: must not be negative",
			"degraded_over: must be less than down_over (1s)",
			"expect.cert_days_left: needs an https url",
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.spec.Validate(nil)
			got := fieldErrors(err)
			// Header map iteration order is random: compare as sets.
			if !sameSet(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "s3cr3t") {
				t.Fatalf("got %q, want no header value in the message", err)
			}
		})
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]int{}
	for _, s := range a {
		m[s]++
	}
	for _, s := range b {
		m[s]--
	}
	for _, n := range m {
		if n != 0 {
			return false
		}
	}
	return true
}

func TestHTTPConnectionRefused(t *testing.T) {
	checkLeaks(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := validHTTP(t, &HTTPSpec{URL: "http://" + addr + "/"}, loopback)
	res := probeHTTP(t, s, testRun(loopback), 5*time.Second)
	wantResult(t, res, Down, "connect: connection refused")
}

func TestHTTPNeverAnswers(t *testing.T) {
	checkLeaks(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // hold it open, never answer
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	s := validHTTP(t, &HTTPSpec{URL: "http://" + ln.Addr().String() + "/"}, loopback)
	start := time.Now()
	res := probeHTTP(t, s, testRun(loopback), 300*time.Millisecond)
	wantResult(t, res, Down, "timeout after 300ms (while waiting for the response)")
	if el := time.Since(start); el > 3*time.Second {
		t.Fatalf("got a run of %v, want it ended near the 300ms deadline", el)
	}
}

func TestHTTPTrickle(t *testing.T) {
	checkLeaks(t)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		w.WriteHeader(200)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-r.Context().Done():
				return
			case <-tick.C:
				if _, err := w.Write([]byte("x")); err != nil {
					return
				}
				w.(http.Flusher).Flush()
			}
		}
	})
	s := validHTTP(t, &HTTPSpec{URL: srv.URL}, loopback)
	res := probeHTTP(t, s, testRun(loopback), 500*time.Millisecond)
	wantResult(t, res, Down, "timeout after 500ms (while reading body)")
	if res.Phase("first_byte") == 0 {
		t.Fatalf("got no first_byte phase, want one: headers arrived")
	}
}

func TestHTTPBodyCap(t *testing.T) {
	checkLeaks(t)
	zeros := make([]byte, 32<<10)
	// 50 MiB of zeros: 50 concatenated gzip members of 1 MiB each, which
	// a gzip reader inflates as one stream.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	for i := 0; i < (1<<20)/len(zeros); i++ {
		zw.Write(zeros)
	}
	zw.Close()
	bomb := bytes.Repeat(gz.Bytes(), 50)

	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/endless":
			for {
				if _, err := w.Write(zeros); err != nil {
					return
				}
			}
		case "/huge":
			w.Header().Set("Content-Length", "10737418240")
			w.Write(zeros)
		case "/gzip":
			if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
				t.Errorf("got Accept-Encoding %q, want gzip", r.Header.Get("Accept-Encoding"))
			}
			w.Header().Set("Content-Encoding", "gzip")
			w.Write(bomb)
		case "/small":
			w.Write(zeros[:1000])
		}
	})
	cases := []struct {
		name     string
		path     string
		keepBody bool
		maxBody  int64 // Env.MaxBody
		specMax  int64
		want     string
	}{
		{name: "endless chunked", path: "/endless", want: "response body exceeds the 1 MiB limit"},
		{name: "endless chunked kept", path: "/endless", keepBody: true, want: "response body exceeds the 1 MiB limit"},
		{name: "huge content-length", path: "/huge", want: "response body exceeds the 1 MiB limit (Content-Length 10737418240)"},
		{name: "gzip bomb", path: "/gzip", keepBody: true, want: "response body exceeds the 1 MiB limit"},
		{name: "org cap", path: "/endless", maxBody: 64 << 10, want: "response body exceeds the 64 KiB limit"},
		{name: "spec cap", path: "/small", specMax: 999, want: "response body exceeds the 999 bytes limit"},
		{name: "under the cap", path: "/small", specMax: 1000},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spec := &HTTPSpec{URL: srv.URL + tc.path, MaxBody: tc.specMax}
			if tc.keepBody {
				spec.Expect.BodyContains = "never there"
			}
			s := validHTTP(t, spec, loopback)
			r := testRun(loopback)
			r.MaxBody = tc.maxBody
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			res := probeHTTP(t, s, r, 10*time.Second)
			runtime.ReadMemStats(&after)
			if tc.want == "" {
				wantResult(t, res, Up, "")
			} else {
				wantResult(t, res, Down, tc.want)
			}
			// The cap holds memory flat: nothing near the 50 MiB the bomb
			// inflates to, or the gigabytes the others promise.
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
				t.Fatalf("got %d MiB allocated during the run, want < 16 MiB", alloc>>20)
			}
		})
	}
}

func TestHTTPRedirects(t *testing.T) {
	checkLeaks(t)
	var hops atomic.Int32
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		hops.Add(1)
		switch {
		case r.URL.Path == "/loop-a":
			http.Redirect(w, r, "/loop-b", http.StatusFound)
		case r.URL.Path == "/loop-b":
			http.Redirect(w, r, "/loop-a", http.StatusFound)
		case strings.HasPrefix(r.URL.Path, "/chain/"):
			var n int
			fmt.Sscanf(r.URL.Path, "/chain/%d", &n)
			http.Redirect(w, r, fmt.Sprintf("/chain/%d", n+1), http.StatusMovedPermanently)
		case r.URL.Path == "/to":
			http.Redirect(w, r, r.URL.Query().Get("u"), http.StatusFound)
		case r.URL.Path == "/ok":
			fmt.Fprint(w, "ok")
		}
	})
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	onlySelf := NewEgress([]netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")})
	zero, two := 0, 2
	cases := []struct {
		name     string
		path     string
		max      *int
		eg       *Egress
		want     Outcome
		wantErr  string
		wantHops int32
	}{
		{name: "followed", path: "/to?u=/ok", want: Up, wantHops: 2},
		{name: "loop", path: "/loop-a", want: Down, wantErr: "redirect loop: stopped after 5 redirects", wantHops: 6},
		{name: "too many", path: "/chain/0", max: &two, want: Down, wantErr: "too many redirects: stopped after 2 redirects", wantHops: 3},
		{name: "not followed", path: "/to?u=/ok", max: &zero, want: Down, wantErr: "status: got 302, want 2xx", wantHops: 1},
		{name: "to metadata", path: "/to?u=http://169.254.169.254/latest/meta-data/", want: Down,
			wantErr: "egress denied: address 169.254.169.254 is link-local / cloud metadata", wantHops: 1},
		{name: "to another loopback address", path: fmt.Sprintf("/to?u=http://127.0.0.2:%d/ok", port), eg: onlySelf, want: Down,
			wantErr: "egress denied: address 127.0.0.2 is loopback", wantHops: 1},
		{name: "to ipv6 loopback", path: fmt.Sprintf("/to?u=http://[::1]:%d/ok", port), eg: onlySelf, want: Down,
			wantErr: "egress denied: address ::1 is loopback", wantHops: 1},
		{name: "to ipv4-mapped loopback", path: fmt.Sprintf("/to?u=http://[::ffff:127.0.0.2]:%d/ok", port), eg: onlySelf, want: Down,
			wantErr: "egress denied: address 127.0.0.2 is loopback", wantHops: 1},
		{name: "to ftp", path: "/to?u=ftp://example.com/", want: Down, wantErr: `redirect to a "ftp" URL refused (http and https only)`, wantHops: 1},
		{name: "to file", path: "/to?u=file:///etc/passwd", want: Down, wantErr: `redirect to a "file" URL refused (http and https only)`, wantHops: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			eg := tc.eg
			if eg == nil {
				eg = loopback
			}
			hops.Store(0)
			s := validHTTP(t, &HTTPSpec{URL: srv.URL + tc.path, MaxRedirects: tc.max}, eg)
			res := probeHTTP(t, s, testRun(eg), 5*time.Second)
			wantResult(t, res, tc.want, tc.wantErr)
			if got := hops.Load(); got != tc.wantHops {
				t.Fatalf("got %d requests at the server, want %d", got, tc.wantHops)
			}
		})
	}
}

func TestHTTPDialTimeEgress(t *testing.T) {
	checkLeaks(t)
	var hits atomic.Int32
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) { hits.Add(1) })
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	// Saved under a policy that allowed it; run under the default policy:
	// the name resolves to loopback and the dial is refused.
	s := validHTTP(t, &HTTPSpec{URL: fmt.Sprintf("http://localhost:%d/", port)}, loopback)
	res := probeHTTP(t, s, testRun(nil), 5*time.Second)
	wantResult(t, res, Down, "egress denied: address ")
	if !strings.Contains(res.Error, "is loopback") {
		t.Fatalf("got %q, want it to say loopback", res.Error)
	}
	if hits.Load() != 0 {
		t.Fatalf("got %d requests at the server, want 0", hits.Load())
	}
	// The same spec under the allowing policy works: the client is rebuilt
	// per policy, never reused across them.
	wantResult(t, probeHTTP(t, s, testRun(loopback), 5*time.Second), Up, "")
}

func TestHTTPIgnoresEnvironmentProxy(t *testing.T) {
	checkLeaks(t)
	var proxied atomic.Int32
	proxy := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		proxied.Add(1)
		w.WriteHeader(http.StatusBadGateway)
	})
	t.Setenv("HTTP_PROXY", proxy.URL)
	t.Setenv("http_proxy", proxy.URL)
	t.Setenv("HTTPS_PROXY", proxy.URL)
	t.Setenv("NO_PROXY", "")
	// Loopback targets are exempt from environment proxies anyway, so the
	// target is a name only a proxy could reach: going direct, the run
	// fails on DNS (or at the deadline) and the proxy sees nothing.
	url := "http://lookout-proxy-test.invalid/"

	s := validHTTP(t, &HTTPSpec{URL: url, Expect: Expect{Status: []int{502}}}, loopback)
	res := probeHTTP(t, s, testRun(loopback), 2*time.Second)
	if res.Outcome != Down || !(strings.HasPrefix(res.Error, "dns: ") || strings.HasPrefix(res.Error, "timeout")) {
		t.Fatalf("got %s %q, want down on dns or timeout", res.Outcome, res.Error)
	}
	if n := proxied.Load(); n != 0 {
		t.Fatalf("got %d requests through the environment proxy, want 0", n)
	}
	if _, ok := s.clientFor(loopback, s.plan).Transport.(*oneShot); !ok {
		t.Fatalf("got transport %T, want *oneShot (which dials the target itself)", s.clientFor(loopback, s.plan).Transport)
	}

	// Control: an explicit proxy is used, so the listener does record.
	s = validHTTP(t, &HTTPSpec{URL: url, Proxy: proxy.URL, Expect: Expect{Status: []int{502}}}, loopback)
	wantResult(t, probeHTTP(t, s, testRun(loopback), 5*time.Second), Up, "")
	if n := proxied.Load(); n != 1 {
		t.Fatalf("got %d requests through the explicit proxy, want 1", n)
	}
}

// makeCert returns a self-signed certificate.
func makeCert(t *testing.T, dnsNames []string, ips []net.IP, notBefore, notAfter time.Time) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "lookout test"},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     dnsNames,
		IPAddresses:  ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func newTLSServer(t *testing.T, cert tls.Certificate) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") }))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func TestHTTPCertificates(t *testing.T) {
	checkLeaks(t)
	now := time.Now()
	day := 24 * time.Hour
	lo := []net.IP{net.ParseIP("127.0.0.1")}
	cases := []struct {
		name     string
		cert     tls.Certificate
		host     string
		insecure bool
		days     int
		want     Outcome
		wantErr  string
	}{
		{name: "expired", cert: makeCert(t, nil, lo, now.Add(-30*day), now.Add(-2*day)), want: Down,
			wantErr: "tls: x509: certificate has expired or is not yet valid"},
		{name: "self-signed", cert: makeCert(t, nil, lo, now.Add(-day), now.Add(90*day)), want: Down,
			wantErr: "tls: x509: certificate signed by unknown authority"},
		{name: "wrong host", cert: makeCert(t, []string{"example.com"}, nil, now.Add(-day), now.Add(90*day)), host: "localhost", want: Down,
			wantErr: "tls: x509: certificate is valid for example.com, not localhost"},
		{name: "insecure accepts self-signed", cert: makeCert(t, nil, lo, now.Add(-day), now.Add(90*day)), insecure: true, days: 14, want: Up},
		{name: "expiring soon degrades", cert: makeCert(t, nil, lo, now.Add(-day), now.Add(3*day+time.Hour)), insecure: true, days: 14,
			want: Degraded, wantErr: "certificate expires in 3 days"},
		{name: "expired with cert_days_left is down", cert: makeCert(t, nil, lo, now.Add(-30*day), now.Add(-2*day-time.Hour)), insecure: true, days: 14,
			want: Down, wantErr: "certificate expired 2 days ago"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newTLSServer(t, tc.cert)
			u := srv.URL
			if tc.host != "" {
				u = strings.Replace(u, "127.0.0.1", tc.host, 1)
			}
			s := validHTTP(t, &HTTPSpec{URL: u, InsecureSkipVerify: tc.insecure, Expect: Expect{CertDaysLeft: tc.days}}, loopback)
			res := probeHTTP(t, s, testRun(loopback), 5*time.Second)
			wantResult(t, res, tc.want, tc.wantErr)
			if tc.want == Up && res.Phase("tls") <= 0 {
				t.Fatalf("got tls phase %v, want > 0", res.Phase("tls"))
			}
		})
	}
}

func TestHTTPSecretsStayOut(t *testing.T) {
	checkLeaks(t)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://169.254.169.254/?token=abc", http.StatusFound)
	})
	s := validHTTP(t, &HTTPSpec{URL: srv.URL + "/?api_key=querysecret", Headers: map[string]string{"Authorization": "Bearer headersecret"}}, loopback)
	res := probeHTTP(t, s, testRun(loopback), 5*time.Second)
	for _, secret := range []string{"headersecret", "querysecret"} {
		if strings.Contains(res.Error, secret) {
			t.Fatalf("got %q, want no %q in it", res.Error, secret)
		}
	}
	wantResult(t, res, Down, "egress denied")
}

func TestHTTPConcurrentRuns(t *testing.T) {
	checkLeaks(t)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Seen", r.Header.Get("X-Probe"))
		fmt.Fprint(w, `{"ok":true}`)
	})
	spec := func() *HTTPSpec {
		return &HTTPSpec{URL: srv.URL, Headers: map[string]string{"X-Probe": "1"},
			Expect: Expect{JSON: []JSONAssert{{Path: "$.ok", Equals: true}}, Headers: []HeaderAssert{{Name: "X-Seen", Contains: "1"}}}}
	}
	// A validated spec, and one never validated (compiled on first run).
	for _, s := range []*HTTPSpec{validHTTP(t, spec(), loopback), spec()} {
		var wg sync.WaitGroup
		results := make([]Result, 8)
		for i := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				results[i] = s.Probe(ctx, testRun(loopback))
			}()
		}
		wg.Wait()
		for i, res := range results {
			if res.Outcome != Up {
				t.Fatalf("run %d: got %s %q, want up", i, res.Outcome, res.Error)
			}
		}
	}
}

func TestHTTPWithoutValidate(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {})
	s := &HTTPSpec{URL: srv.URL}
	wantResult(t, probeHTTP(t, s, testRun(loopback), 5*time.Second), Up, "")
	bad := &HTTPSpec{URL: srv.URL, Expect: Expect{BodyRegex: "("}}
	wantResult(t, probeHTTP(t, bad, testRun(loopback), 5*time.Second), Down, "invalid http probe: expect.body_regex")
}

// BenchmarkHTTPProbe measures a whole probe run on a fresh connection,
// with a status and a JSON assertion; compare with BenchmarkBareGET.
func BenchmarkHTTPProbe(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"database":"ok","version":"1.2.3"}`)
	}))
	defer srv.Close()
	s := &HTTPSpec{URL: srv.URL + "/status", Expect: Expect{Status: []int{200}, JSON: []JSONAssert{{Path: "$.database", Equals: "ok"}}}}
	if err := s.Validate(loopback); err != nil {
		b.Fatal(err)
	}
	r := testRun(loopback)
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	b.ReportAllocs()
	for b.Loop() {
		if res := s.Probe(ctx, r); res.Outcome != Up {
			b.Fatalf("got %s %q, want up", res.Outcome, res.Error)
		}
	}
}

// BenchmarkBareGET is the floor: a plain net/http GET on a fresh connection.
func BenchmarkBareGET(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"database":"ok","version":"1.2.3"}`)
	}))
	defer srv.Close()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	b.ReportAllocs()
	for b.Loop() {
		resp, err := c.Get(srv.URL + "/status")
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("got %d, want 200", resp.StatusCode)
		}
	}
}

// TestHTTPWire checks what the probe's own transport (oneShot) does on the
// wire, where net/http's Transport did it before.
func TestHTTPWire(t *testing.T) {
	checkLeaks(t)
	var gzBody bytes.Buffer
	zw := gzip.NewWriter(&gzBody)
	fmt.Fprint(zw, `{"database":"ok"}`)
	zw.Close()
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Close", fmt.Sprint(r.Close))
		w.Header().Set("X-Accept-Encoding", r.Header.Get("Accept-Encoding"))
		switch r.URL.Path {
		case "/gzip":
			w.Header().Set("Content-Encoding", "gzip")
			w.Write(gzBody.Bytes())
		case "/early-hints":
			w.Header().Set("Link", "</app.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			w.WriteHeader(http.StatusOK)
			fmt.Fprint(w, "final")
		case "/big-header":
			w.Header().Set("X-Big", strings.Repeat("x", 70<<10))
		case "/307":
			http.Redirect(w, r, "/echo", http.StatusTemporaryRedirect)
		case "/echo":
			io.Copy(w, r.Body)
		}
	})
	cases := []struct {
		name    string
		spec    *HTTPSpec
		want    Outcome
		wantErr string
	}{
		{name: "gzip decoded for assertions", spec: &HTTPSpec{URL: srv.URL + "/gzip", Expect: Expect{
			JSON:    []JSONAssert{{Path: "$.database", Equals: "ok"}},
			Headers: []HeaderAssert{{Name: "X-Accept-Encoding", Contains: "gzip"}, {Name: "X-Close", Contains: "true"}}}},
			want: Up},
		{name: "gzip asked by the spec is left alone", spec: &HTTPSpec{URL: srv.URL + "/gzip",
			Headers: map[string]string{"Accept-Encoding": "gzip"}, Expect: Expect{BodyContains: "database"}},
			want: Down, wantErr: "body: does not contain"},
		{name: "1xx skipped", spec: &HTTPSpec{URL: srv.URL + "/early-hints", Expect: Expect{Status: []int{200}, BodyContains: "final"}}, want: Up},
		{name: "header cap", spec: &HTTPSpec{URL: srv.URL + "/big-header"}, want: Down,
			wantErr: "server response headers exceeded 64 KiB; aborted"},
		{name: "307 sends the body again", spec: &HTTPSpec{Method: "POST", URL: srv.URL + "/307", Body: "payload",
			Expect: Expect{BodyContains: "payload", Headers: []HeaderAssert{{Name: "X-Close", Contains: "true"}}}}, want: Up},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := validHTTP(t, tc.spec, loopback)
			wantResult(t, probeHTTP(t, s, testRun(loopback), 5*time.Second), tc.want, tc.wantErr)
		})
	}

	t.Run("closed without a response", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Read(make([]byte, 4096))
			c.Close()
		}()
		t.Cleanup(func() { ln.Close(); <-done })
		s := validHTTP(t, &HTTPSpec{URL: "http://" + ln.Addr().String() + "/"}, loopback)
		wantResult(t, probeHTTP(t, s, testRun(loopback), 5*time.Second), Down,
			"connection closed by the server (while waiting for the response)")
	})

	t.Run("cancelled", func(t *testing.T) {
		arrived, release := make(chan struct{}), make(chan struct{})
		slow := newServer(t, func(w http.ResponseWriter, r *http.Request) {
			close(arrived)
			select {
			case <-release:
			case <-r.Context().Done():
			}
		})
		defer close(release)
		s := validHTTP(t, &HTTPSpec{URL: slow.URL}, loopback)
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			<-arrived // the request is in: the handler is waiting
			cancel()
		}()
		wantResult(t, s.Probe(ctx, testRun(loopback)), Down, "canceled (while waiting for the response)")
	})
}

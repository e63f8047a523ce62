package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/letsencrypt/pebble/v2/ca"
	pebbledb "github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
	"github.com/miekg/dns"
)

// loopbackDNS answers every A question with 127.0.0.1 (and AAAA with
// nothing) over TCP, as Pebble's validation authority asks: the names a
// test obtains certificates for all lead to this machine.
func loopbackDNS(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{Listener: ln, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		for _, qq := range q.Question {
			if qq.Qtype == dns.TypeA {
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: qq.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(127, 0, 0, 1)})
			}
		}
		w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
	return ln.Addr().String()
}

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

// pebbleCA is Let's Encrypt's test CA, Pebble, run in this process: its
// ACME API on an httptest TLS server, its validation authority dialling the
// given loopback ports.
type pebbleCA struct {
	srv     *httptest.Server
	handler atomic.Pointer[http.Handler]
	ca      *ca.CAImpl
	log     *syncBuffer
}

func newPebble(t *testing.T) *pebbleCA {
	t.Helper()
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	p := &pebbleCA{log: &syncBuffer{}}
	p.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := p.handler.Load()
		if h == nil {
			http.Error(w, "CA down", http.StatusServiceUnavailable)
			return
		}
		(*h).ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// start brings the CA up, validating http-01 on httpPort and tls-alpn-01
// on tlsPort, resolving names through resolver.
func (p *pebbleCA) start(httpPort, tlsPort int, resolver string) {
	logger := log.New(p.log, "pebble ", 0)
	mdb := pebbledb.NewMemoryStore()
	p.ca = ca.New(logger, mdb, "", "rsa", 0, 1, map[string]ca.Profile{"default": {Description: "default"}})
	v := va.New(logger, httpPort, tlsPort, false, resolver, mdb)
	w := wfe.New(logger, mdb, v, p.ca, []string{"pebble.letsencrypt.org"}, false, false, 3, 5)
	h := w.Handler()
	p.handler.Store(&h)
}

func (p *pebbleCA) stop() { p.handler.Store(nil) }

func (p *pebbleCA) roots() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.ca.GetRootCert(0).Cert)
	return pool
}

// TestACMEWithPebble obtains a certificate from a real ACME CA (Pebble, in
// process) over the http-01 challenge on lookout's plain-HTTP listener,
// serves the page with it, refuses handshakes for hosts not listed, redirects
// plain HTTP, and serves the cached certificate after a restart while the CA
// is down.
func TestACMEWithPebble(t *testing.T) {
	const host = "status.example.com"
	resolver := loopbackDNS(t)
	pb := newPebble(t)
	data := t.TempDir()
	cfgPath := writeFile(t, "lookout.yaml", probeConfig("http://127.0.0.1:1", 1))

	// Pebble validates http-01 on the port lookout's plain-HTTP listener
	// will take; tls-alpn-01 (which autocert tries first) on a closed port,
	// so the certificate can only come through http-01.
	httpPort := closedPort(t)
	hp := strconv.Itoa(httpPort)
	pb.start(httpPort, closedPort(t), resolver)

	var errb *syncBuffer // the running lookout's log
	startLookout := func() (httpsAddr, httpAddr string, stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		ready := make(chan string, 1)
		done := make(chan error, 1)
		out := &syncBuffer{}
		errb = &syncBuffer{}
		go func() {
			done <- serve(ctx, serveOptions{
				load: func() (*configT, error) { return loadConfig(cfgPath) }, data: data,
				listen: "127.0.0.1:0", redirectHTTP: "127.0.0.1:" + hp, stdout: out, stderr: errb, ready: ready,
				acme: &acmeOptions{hosts: []string{host}, email: "ops@example.com", directory: pb.srv.URL + wfe.DirectoryPath, httpClient: pb.srv.Client()},
			})
		}()
		select {
		case httpsAddr = <-ready:
		case err := <-done:
			t.Fatalf("serve: %v\n%s", err, errb)
		}
		m := regexp.MustCompile(`"msg":"plain http listening","url":"http://([^"]+)","serves":"answering ACME http-01`).FindStringSubmatch(errb.String())
		if m == nil {
			t.Fatalf("the log does not name the http-01 listener:\n%s", errb)
		}
		return httpsAddr, m[1], func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
			if t.Failed() {
				t.Logf("lookout log:\n%s", errb)
			}
		}
	}
	// Lookout asks for the certificate at start.
	httpsAddr, httpAddr, stop := startLookout()

	get := func(sni, path string) (*http.Response, error) {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pb.roots(), ServerName: sni}}
		defer tr.CloseIdleConnections()
		c := &http.Client{Transport: tr, Timeout: 90 * time.Second}
		resp, err := c.Get("https://" + httpsAddr + path)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return resp, err
	}
	var resp *http.Response
	var err error
	poll(t, 90*time.Second, "https with a certificate from the CA", func() bool {
		resp, err = get(host, "/healthz")
		return err == nil
	}, func() string { return fmt.Sprintf("last error %v; pebble:\n%s", err, pb.log) })
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /healthz: got %d, want 200", resp.StatusCode)
	}
	poll(t, 10*time.Second, "the certificate obtained at start is logged", func() bool {
		return strings.Contains(errb.String(), `"msg":"acme: certificate ready","host":"status.example.com"`)
	}, func() string { return errb.String() })
	if got, want := resp.Header.Get("Strict-Transport-Security"), "max-age=31536000"; got != want {
		t.Errorf("HSTS: got %q, want %q", got, want)
	}
	leaf := resp.TLS.PeerCertificates[0]
	if len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != host {
		t.Errorf("certificate names: got %v, want [%s]", leaf.DNSNames, host)
	}
	if resp.TLS.Version < tls.VersionTLS12 {
		t.Errorf("TLS version: got %x, want 1.2 or later", resp.TLS.Version)
	}
	plog := pb.log.String()
	if !strings.Contains(plog, "Attempting to validate w/ HTTP: http://"+host+":"+hp+"/.well-known/acme-challenge/") {
		t.Errorf("pebble did not validate http-01 on lookout's listener; log:\n%s", plog)
	}

	// A host not listed: refused at the handshake, never asked of the CA.
	if _, err := get("evil.example.com", "/healthz"); err == nil {
		t.Errorf("handshake for evil.example.com: got a response, want it refused")
	}
	if strings.Contains(pb.log.String(), "evil.example.com") {
		t.Errorf("the CA was asked about evil.example.com:\n%s", pb.log)
	}

	// Plain HTTP: unknown challenge tokens are 404, everything else is
	// redirected to https.
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tc := range []struct {
		path, wantLoc string
		wantStatus    int
	}{
		{"/p/status?x=1", "https://" + host + ":" + portOf(httpsAddr) + "/p/status?x=1", http.StatusMovedPermanently},
		{"/.well-known/acme-challenge/not-a-token", "", http.StatusNotFound},
	} {
		req, _ := http.NewRequest(http.MethodGet, "http://"+httpAddr+tc.path, nil)
		req.Host = host
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.wantStatus || resp.Header.Get("Location") != tc.wantLoc {
			t.Errorf("http %s: got %d %q, want %d %q", tc.path, resp.StatusCode, resp.Header.Get("Location"), tc.wantStatus, tc.wantLoc)
		}
	}

	// The account and certificate are cached in DATA/acme, owner only.
	fi, err := os.Stat(filepath.Join(data, "acme"))
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("DATA/acme: got %v (%v), want a 0700 directory", fi, err)
	}
	if _, err := os.Stat(filepath.Join(data, "acme", host)); err != nil {
		t.Errorf("cached certificate: %v", err)
	}
	stop()

	// After a restart the cached certificate is served with the CA down.
	pb.stop()
	httpsAddr, _, stop = startLookout()
	defer stop()
	resp, err = get(host, "/healthz")
	if err != nil {
		t.Fatalf("after restart with the CA down: %v", err)
	}
	if got := resp.TLS.PeerCertificates[0].SerialNumber; got.Cmp(leaf.SerialNumber) != 0 {
		t.Errorf("after restart: got certificate serial %v, want the cached %v", got, leaf.SerialNumber)
	}
}

func portOf(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

func TestACMEFlags(t *testing.T) {
	cfgPath := writeFile(t, "lookout.yaml", probeConfig("http://127.0.0.1:1", 1))
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"ip", []string{"--acme-host", "192.0.2.1"}, "an IP address"},
		{"port", []string{"--acme-host", "status.example.com:443"}, "no port, path or wildcard"},
		{"wildcard", []string{"--acme-host", "*.example.com"}, "no port, path or wildcard"},
		{"single label", []string{"--acme-host", "localhost"}, "fully qualified"},
		{"with cert", []string{"--acme-host", "status.example.com", "--tls-cert", "c.pem", "--tls-key", "k.pem"}, "exclude each other"},
		{"email alone", []string{"--acme-email", "ops@example.com"}, "need --acme-host"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, err := runCmd(t, nil, append([]string{"serve", "--config", cfgPath, "--data", t.TempDir()}, tc.args...)...)
			if !errors.Is(err, errUsage) || !strings.Contains(stderr, tc.want) {
				t.Errorf("got %v, stderr %q; want a usage error containing %q", err, stderr, tc.want)
			}
		})
	}
}

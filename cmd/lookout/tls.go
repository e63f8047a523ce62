package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// tlsConfig loads the certificate and key for `serve --tls-cert/--tls-key`:
// TLS 1.2 and later only, Go's default (modern) cipher suites.
func tlsConfig(certFile, keyFile string) (*tls.Config, error) {
	if certFile == "" || keyFile == "" {
		return nil, fmt.Errorf("tls: --tls-cert and --tls-key go together")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("tls: load certificate: %w", err)
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{"h2", "http/1.1"},
	}, nil
}

// acmeOptions configure certificates obtained from an ACME CA for
// `serve --acme-host`.
type acmeOptions struct {
	// hosts are the only names a certificate is requested for (the
	// HostPolicy): a TLS handshake naming any other host is refused before
	// the CA is asked, so a stranger cannot spend the rate limit.
	hosts []string
	email string
	// directory is the CA's directory URL; "" is Let's Encrypt's production.
	directory string
	// cacheDir keeps the account key and certificates (DATA/acme, 0700),
	// so a restart does not ask the CA again.
	cacheDir string
	// httpClient talks to the CA (nil: the default); tests trust their CA
	// through it.
	httpClient *http.Client
}

// parseACMEHosts splits a comma-separated --acme-host and checks each is a
// DNS name a public CA can issue for (no IP, port, path or wildcard).
func parseACMEHosts(s string) ([]string, error) {
	var hosts []string
	for _, h := range strings.Split(s, ",") {
		h = strings.ToLower(strings.TrimSpace(h))
		if h == "" {
			continue
		}
		switch {
		case net.ParseIP(h) != nil:
			return nil, fmt.Errorf("--acme-host %q: an IP address; ACME needs a DNS name", h)
		case strings.ContainsAny(h, ":/*@ "):
			return nil, fmt.Errorf("--acme-host %q: want a bare DNS name like status.example.com (no port, path or wildcard)", h)
		case !strings.Contains(strings.Trim(h, "."), "."):
			return nil, fmt.Errorf("--acme-host %q: want a fully qualified name like status.example.com", h)
		}
		hosts = append(hosts, strings.TrimSuffix(h, "."))
	}
	if len(hosts) == 0 {
		return nil, fmt.Errorf("--acme-host: no host given")
	}
	return hosts, nil
}

// acmeManager returns the autocert manager obtaining and renewing
// certificates for o.hosts, caching them in o.cacheDir.
func acmeManager(o acmeOptions) (*autocert.Manager, error) {
	if err := os.MkdirAll(o.cacheDir, 0o700); err != nil {
		return nil, fmt.Errorf("acme: create cache dir: %w", err)
	}
	// The cache holds the account and certificate keys: owner only, even
	// when the directory existed with looser permissions.
	if err := os.Chmod(o.cacheDir, 0o700); err != nil {
		return nil, fmt.Errorf("acme: cache dir permissions: %w", err)
	}
	dir := o.directory
	if dir == "" {
		dir = autocert.DefaultACMEDirectory
	}
	return &autocert.Manager{
		Prompt:     autocert.AcceptTOS,
		Cache:      autocert.DirCache(o.cacheDir),
		HostPolicy: autocert.HostWhitelist(o.hosts...),
		Email:      o.email,
		Client:     &acme.Client{DirectoryURL: dir, HTTPClient: o.httpClient, UserAgent: "lookout"},
	}, nil
}

// obtainACME asks for each host's certificate at start (from the cache, or
// from the CA), so that the first visitor does not wait for an issuance and
// a misconfiguration (DNS not pointing here, port 80 unreachable) is logged
// at once rather than as failed handshakes. It returns when done or when ctx
// ends; an issuance still running then is bounded by autocert (5 minutes).
func obtainACME(ctx context.Context, m *autocert.Manager, hosts []string, logger *slog.Logger) error {
	for _, host := range hosts {
		done := make(chan error, 1)
		go func() {
			// A hello from a modern client: the ECDSA certificate that
			// browsers get.
			_, err := m.GetCertificate(&tls.ClientHelloInfo{
				ServerName:       host,
				SignatureSchemes: []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256},
				SupportedCurves:  []tls.CurveID{tls.CurveP256},
				CipherSuites:     []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
			})
			done <- err
		}()
		select {
		case <-ctx.Done():
			return nil
		case err := <-done:
			if err != nil {
				logger.Error("acme: obtain certificate; retried on the next handshake", "host", host, "err", err)
				continue
			}
			logger.Info("acme: certificate ready", "host", host)
		}
	}
	return nil
}

// acmeTLSConfig is the manager's TLS configuration (certificates on
// demand, the tls-alpn-01 challenge) limited to TLS 1.2 and later.
func acmeTLSConfig(m *autocert.Manager) *tls.Config {
	c := m.TLSConfig()
	c.MinVersion = tls.VersionTLS12
	return c
}

// acmeHTTPHandler answers ACME http-01 challenges for m's hosts and hands
// every other request to fallback. The Host header's port is dropped before
// the host policy sees it: a CA validating on a port other than 80 (a test
// CA, a port mapping) still names a listed host.
func acmeHTTPHandler(m *autocert.Manager, fallback http.Handler) http.Handler {
	h := m.HTTPHandler(fallback)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if host, _, err := net.SplitHostPort(r.Host); err == nil {
			r.Host = host
		}
		h.ServeHTTP(w, r)
	})
}

// hsts tells browsers to come back over HTTPS only (a year; no
// includeSubDomains: the status page's host may share a parent domain with
// services not on HTTPS).
func hsts(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Strict-Transport-Security", "max-age=31536000")
		h.ServeHTTP(w, r)
	})
}

// redirectToHTTPS answers every plain-HTTP request with a permanent
// redirect to the same host and path over HTTPS on httpsPort ("443":
// left out of the URL).
func redirectToHTTPS(httpsPort string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if host == "" {
			http.Error(w, "use https", http.StatusBadRequest)
			return
		}
		if httpsPort != "443" {
			host = net.JoinHostPort(host, httpsPort)
		} else if net.ParseIP(host) != nil && net.ParseIP(host).To4() == nil {
			host = "[" + host + "]"
		}
		status := http.StatusMovedPermanently
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			status = http.StatusPermanentRedirect // keeps the method and body
		}
		http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), status)
	})
}

// frontHandler is what the listener serves: the starting handler while the
// database opens and migrates, then the real one.
type frontHandler struct {
	h     atomic.Pointer[http.Handler]
	phase atomic.Pointer[string]
}

func newFrontHandler() *frontHandler {
	f := &frontHandler{}
	f.setPhase("migrating")
	var starting http.Handler = http.HandlerFunc(f.serveStarting)
	f.h.Store(&starting)
	return f
}

func (f *frontHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	(*f.h.Load()).ServeHTTP(w, r)
}

// setPhase names what start is doing, as /readyz reports it.
func (f *frontHandler) setPhase(p string) { f.phase.Store(&p) }

// serve switches to the real handler.
func (f *frontHandler) serve(h http.Handler) { f.h.Store(&h) }

// serveStarting answers while Lookout starts: /healthz 200 (the process is
// alive), /readyz 503 {"status":"migrating"} (or "starting" once the
// migrations are done and the config is being applied), anything else 503
// with a Retry-After.
func (f *frontHandler) serveStarting(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	switch r.URL.Path {
	case "/healthz":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprint(w, "ok")
	case "/readyz":
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		json.NewEncoder(w).Encode(map[string]string{"status": *f.phase.Load()})
	default:
		w.Header().Set("Retry-After", "5")
		http.Error(w, "lookout is starting; try again in a few seconds", http.StatusServiceUnavailable)
	}
}

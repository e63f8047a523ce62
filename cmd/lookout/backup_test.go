package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lookout-status/lookout/backup"
	"github.com/lookout-status/lookout/clock"
	"github.com/lookout-status/lookout/config"
	"github.com/lookout-status/lookout/incidents"
	"github.com/lookout-status/lookout/incidents/engine"
	"github.com/lookout-status/lookout/store"
)

// startServeWith runs serve in-process on loopback and returns its address;
// it is stopped at cleanup.
func startServeWith(t *testing.T, o serveOptions) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	var out, errb syncBuffer
	o.listen, o.stdout, o.stderr, o.ready = "127.0.0.1:0", &out, &errb, ready
	go func() { done <- serve(ctx, o) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	select {
	case addr := <-ready:
		return addr
	case err := <-done:
		t.Fatalf("serve: %v\n%s", err, errb.String())
	}
	return ""
}

func TestBackupRestoreCommandsAgainstRunningServe(t *testing.T) {
	data, backups := t.TempDir(), filepath.Join(t.TempDir(), "backups")
	cfgPath := writeFile(t, "lookout.yaml", "backup: {to: "+backups+", every: 6h}\n"+probeConfig("http://127.0.0.1:1", 1))
	addr := startServeWith(t, serveOptions{load: func() (*configT, error) { return loadConfig(cfgPath) }, data: data, clock: clock.NewFake(time.Now())})

	// The scheduled backup runs at start (there is none yet).
	waitFor(t, "http://"+addr+"/metrics", 20*time.Second, func(b string) bool {
		return regexp.MustCompile(`(?m)^lookout_backup_last_success_timestamp_seconds [1-9]`).MatchString(b)
	})
	ms, err := backup.List(context.Background(), &backup.Dir{Path: backups})
	if err != nil || len(ms) != 1 {
		t.Fatalf("scheduled backups: got %v (%v), want 1", ms, err)
	}

	// An on-demand backup while serve runs.
	out, stderr, err := runCmd(t, nil, "backup", "--data", data, "--to", backups)
	if err != nil {
		t.Fatalf("backup: %v\n%s", err, stderr)
	}
	if !strings.Contains(out, "verified") || !strings.Contains(out, "to "+backups) {
		t.Errorf("backup output: got %q, want it to say verified, to %s", out, backups)
	}

	// Restore refuses the live data directory…
	_, _, err = runCmd(t, nil, "restore", "--from", backups, "--data", data)
	if !errors.Is(err, backup.ErrLocked) || !strings.Contains(err.Error(), "in use by a running lookout; stop it first") {
		t.Errorf("restore into the live data dir: got %v, want a refusal", err)
	}
	// …and restores elsewhere.
	target := t.TempDir()
	out, stderr, err = runCmd(t, nil, "restore", "--from", backups, "--data", target)
	if err != nil {
		t.Fatalf("restore: %v\n%s", err, stderr)
	}
	if !strings.Contains(out, "restored lookout-") || !strings.Contains(out, "integrity check ok") {
		t.Errorf("restore output: got %q", out)
	}
	if _, err := store.CheckFile(context.Background(), filepath.Join(target, "lookout.db")); err != nil {
		t.Errorf("restored database: %v", err)
	}
}

func TestServeRefusesADataDirInUse(t *testing.T) {
	data := t.TempDir()
	lock, err := backup.LockDataDir(data)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	cfgPath := writeFile(t, "lookout.yaml", probeConfig("http://127.0.0.1:1", 1))
	var out, errb syncBuffer
	err = serve(context.Background(), serveOptions{load: func() (*configT, error) { return loadConfig(cfgPath) },
		data: data, listen: "127.0.0.1:0", stdout: &out, stderr: &errb})
	if !errors.Is(err, backup.ErrLocked) {
		t.Errorf("got %v, want %v", err, backup.ErrLocked)
	}
}

func TestBackupCommandFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no destination", []string{"backup", "--data", "x"}, "--to is required"},
		{"bad keep", []string{"backup", "--data", "x", "--to", "y", "--keep", "24,14"}, "want HOURLY,DAILY,MONTHLY"},
		{"bad recipient", []string{"backup", "--data", "x", "--to", "y", "--age-recipient", "age1nope"}, "not an age X25519 public key"},
		{"no source", []string{"restore", "--data", "x"}, "--from is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, err := runCmd(t, nil, tc.args...)
			if err == nil || !strings.Contains(err.Error()+stderr, tc.want) {
				t.Errorf("got %v / %q, want %q", err, stderr, tc.want)
			}
		})
	}
}

func TestStaleBackupRaisesAndResolvesIncident(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC))
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "lookout.db"), store.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cfg, err := config.Parse("lookout.yaml", []byte(probeConfig("http://127.0.0.1:1", 1)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Apply(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	eng := engine.New(engine.Options{Clock: clk, Store: db})
	if err := eng.Configure(ctx, engineConfigs(cfg, nil)); err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- eng.Run(runCtx) }()
	defer func() { cancel(); <-done }()

	since := clk.Now()
	last := since.Add(-backup.StaleAfter)
	if _, err := eng.Do(ctx, "acme", staleBackupEvent(true, since, last, "s3://b/p/")); err != nil {
		t.Fatal(err)
	}
	open := eng.OpenIncidents("acme")
	if len(open) != 1 || !strings.Contains(open[0].Title, "Lookout backups are stale") {
		t.Fatalf("open incidents: got %+v, want one about stale backups", open)
	}
	clk.Advance(time.Minute)
	if _, err := eng.Do(ctx, "acme", staleBackupEvent(false, since, clk.Now(), "s3://b/p/")); err != nil {
		t.Fatal(err)
	}
	// The incident resolves once nothing in it is failing (the engine's
	// timers run on the next event).
	for i := 0; i < 12 && len(eng.OpenIncidents("acme")) > 0; i++ {
		clk.Advance(5 * time.Minute)
		if _, err := eng.Do(ctx, "acme", incidents.Tick{}); err != nil {
			t.Fatal(err)
		}
	}
	if open := eng.OpenIncidents("acme"); len(open) != 0 {
		t.Errorf("open incidents an hour after a good backup: got %+v, want none", open)
	}
}

// selfSigned writes a certificate and key for 127.0.0.1 and returns their
// paths and a pool trusting the certificate.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "lookout test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestServeTLS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	cfgPath := writeFile(t, "lookout.yaml", probeConfig("http://127.0.0.1:1", 1))
	addr := startServeWith(t, serveOptions{load: func() (*configT, error) { return loadConfig(cfgPath) }, data: t.TempDir(),
		tlsCert: certFile, tlsKey: keyFile})

	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get("https://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got, want := resp.Header.Get("Strict-Transport-Security"), "max-age=31536000"; got != want {
		t.Errorf("HSTS: got %q, want %q", got, want)
	}
	if resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
		t.Errorf("TLS: got %+v, want TLS 1.2+", resp.TLS)
	}

	old := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS11}}
	defer old.CloseIdleConnections()
	if _, err := (&http.Client{Transport: old}).Get("https://" + addr + "/healthz"); err == nil {
		t.Error("TLS 1.1: got a response, want the handshake refused")
	}
	plain := &http.Transport{}
	defer plain.CloseIdleConnections()
	if resp, err := (&http.Client{Transport: plain}).Get("http://" + addr + "/healthz"); err == nil && resp.StatusCode == http.StatusOK {
		resp.Body.Close()
		t.Error("plain HTTP on the TLS port: got 200, want an error")
	} else if err == nil {
		resp.Body.Close()
	}
}

func TestRedirectToHTTPS(t *testing.T) {
	for _, tc := range []struct {
		name, port, method, host, target string
		wantStatus                       int
		wantLoc                          string
	}{
		{"default port", "443", "GET", "status.acme.test", "/p/status?x=1", http.StatusMovedPermanently, "https://status.acme.test/p/status?x=1"},
		{"other port", "8443", "GET", "status.acme.test:8080", "/", http.StatusMovedPermanently, "https://status.acme.test:8443/"},
		{"post keeps method", "443", "POST", "status.acme.test", "/heartbeats/abc", http.StatusPermanentRedirect, "https://status.acme.test/heartbeats/abc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, "http://"+tc.host+tc.target, nil)
			rec := httptest.NewRecorder()
			redirectToHTTPS(tc.port).ServeHTTP(rec, req)
			if rec.Code != tc.wantStatus || rec.Header().Get("Location") != tc.wantLoc {
				t.Errorf("got %d %q, want %d %q", rec.Code, rec.Header().Get("Location"), tc.wantStatus, tc.wantLoc)
			}
		})
	}
}

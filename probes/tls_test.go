package probes

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lookout-status/lookout/clock"
	"go.uber.org/goleak"
)

// certAuthority is a certificate authority made up for one test.
type certAuthority struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

var certSerial = big.NewInt(1)

func newCertAuthority(t *testing.T, name string) *certAuthority {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-365 * 24 * time.Hour),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &certAuthority{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// writeFile writes the CA's PEM into dir and returns its path.
func (ca *certAuthority) writeFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, ca.pem, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// leaf issues a server certificate for api.example.test and 127.0.0.1.
func (ca *certAuthority) leaf(t *testing.T, notBefore, notAfter time.Time) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	certSerial.Add(certSerial, big.NewInt(1))
	tmpl := &x509.Certificate{
		SerialNumber: new(big.Int).Set(certSerial),
		Subject:      pkix.Name{CommonName: "api.example.test"},
		DNSNames:     []string{"api.example.test"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// newTLSLoopbackPeer serves cert on loopback until closed.
func newTLSLoopbackPeer(t *testing.T, cert tls.Certificate) *tcpPeer {
	t.Helper()
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	return newTCPPeer(t, func(c net.Conn) {
		tc := tls.Server(c, cfg)
		if err := tc.Handshake(); err != nil {
			return
		}
		tc.Read(make([]byte, 1)) // until the client hangs up
	})
}

func TestTLSProbe(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())

	ca := newCertAuthority(t, "Lookout Test CA")
	caFile := ca.writeFile(t)
	stranger := newCertAuthority(t, "Stranger CA")
	now := time.Now()
	day := 24 * time.Hour

	validCert := ca.leaf(t, now.Add(-day), now.Add(30*day))
	valid := newTLSLoopbackPeer(t, validCert)
	defer valid.Close()
	expiring := newTLSLoopbackPeer(t, ca.leaf(t, now.Add(-day), now.Add(3*day+time.Hour)))
	defer expiring.Close()
	expired := newTLSLoopbackPeer(t, ca.leaf(t, now.Add(-10*day), now.Add(-2*day-time.Hour)))
	defer expired.Close()
	unknown := newTLSLoopbackPeer(t, stranger.leaf(t, now.Add(-day), now.Add(30*day)))
	defer unknown.Close()
	plain := newTCPPeer(t, func(c net.Conn) { c.Write([]byte("SSH-2.0-OpenSSH_9.6\r\n")) })
	defer plain.Close()

	notAfter := func(c tls.Certificate) string {
		leaf, err := x509.ParseCertificate(c.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		return "not after " + leaf.NotAfter.UTC().Format(time.RFC3339)
	}
	zero := 0

	cases := []struct {
		name       string
		spec       tlsSpec
		clock      clock.Clock
		wantOut    Outcome
		wantErr    string // prefix
		wantPhases string
	}{
		{name: "valid", spec: tlsSpec{Address: valid.Addr(), CAFile: caFile}, wantOut: Up, wantPhases: "connect,tls,total"},
		{name: "valid by name", spec: tlsSpec{Address: valid.Addr(), ServerName: "api.example.test", CAFile: caFile}, wantOut: Up},
		{
			name: "expiring in 3 days", spec: tlsSpec{Address: expiring.Addr(), CAFile: caFile},
			wantOut: Degraded, wantErr: "certificate expires in 3 days (not after ",
		},
		{name: "expiring but threshold 0", spec: tlsSpec{Address: expiring.Addr(), CAFile: caFile, MinDaysLeft: &zero}, wantOut: Up},
		{
			name: "expiring as the clock moves", spec: tlsSpec{Address: valid.Addr(), CAFile: caFile},
			clock: clock.NewFake(now.Add(25 * day)), wantOut: Degraded,
			wantErr: "certificate expires in 4 days (" + notAfter(validCert) + ")",
		},
		{
			name: "expired", spec: tlsSpec{Address: expired.Addr(), CAFile: caFile},
			wantOut: Down, wantErr: "certificate expired 2 days ago (not after ",
		},
		{
			name: "unknown authority", spec: tlsSpec{Address: unknown.Addr(), CAFile: caFile},
			wantOut: Down, wantErr: `certificate signed by unknown authority (issuer "CN=Stranger CA") (not after `,
		},
		{
			name: "unknown without ca_file", spec: tlsSpec{Address: valid.Addr()},
			wantOut: Down, wantErr: `certificate signed by unknown authority (issuer "CN=Lookout Test CA")`,
		},
		{
			name: "wrong host", spec: tlsSpec{Address: valid.Addr(), ServerName: "wrong.example.test", CAFile: caFile},
			wantOut: Down, wantErr: "certificate is valid for api.example.test, not wrong.example.test (not after ",
		},
		{
			name: "not a TLS server", spec: tlsSpec{Address: plain.Addr(), CAFile: caFile},
			wantOut: Down, wantErr: "tls: handshake: ",
		},
		{
			name: "refused by default policy", spec: tlsSpec{Address: valid.Addr(), CAFile: caFile},
			wantOut: Down, wantErr: "egress denied: address 127.0.0.1 is loopback",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			r := kindsRun()
			if tc.name == "refused by default policy" {
				r.Egress = NewEgress(nil)
			} else if err := tc.spec.Validate(r.Egress); err != nil {
				t.Fatalf("validate: %v", err)
			}
			if tc.clock != nil {
				r.Env.Clock = tc.clock
			}
			res := tc.spec.Probe(ctx, r)
			if res.Outcome != tc.wantOut {
				t.Fatalf("got outcome %s (%q), want %s", res.Outcome, res.Error, tc.wantOut)
			}
			if tc.wantErr == "" && res.Error != "" {
				t.Errorf("got error %q, want none", res.Error)
			}
			if !strings.HasPrefix(res.Error, tc.wantErr) {
				t.Errorf("got error %q, want prefix %q", res.Error, tc.wantErr)
			}
			if tc.wantPhases != "" && phaseList(res) != tc.wantPhases {
				t.Errorf("got phases %s, want %s", phaseList(res), tc.wantPhases)
			}
		})
	}
}

// TestTCPWithTLS drives the tcp kind's tls option against the same peers.
func TestTCPWithTLS(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())

	ca := newCertAuthority(t, "Lookout Test CA")
	caFile := ca.writeFile(t)
	now := time.Now()
	peer := newTLSLoopbackPeer(t, ca.leaf(t, now.Add(-time.Hour), now.Add(24*time.Hour)))
	defer peer.Close()

	cases := []struct {
		name       string
		spec       tcpSpec
		wantOut    Outcome
		wantErr    string
		wantPhases string
	}{
		{name: "trusted", spec: tcpSpec{Address: peer.Addr(), TLS: true, CAFile: caFile}, wantOut: Up, wantPhases: "connect,tls,total"},
		{name: "untrusted", spec: tcpSpec{Address: peer.Addr(), TLS: true}, wantOut: Down, wantErr: `tls: certificate signed by unknown authority (issuer "CN=Lookout Test CA")`},
		{
			name: "wrong name", spec: tcpSpec{Address: peer.Addr(), TLS: true, CAFile: caFile, ServerName: "db.example.test"},
			wantOut: Down, wantErr: "tls: certificate is valid for api.example.test, not db.example.test",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			r := kindsRun()
			if err := tc.spec.Validate(r.Egress); err != nil {
				t.Fatalf("validate: %v", err)
			}
			res := tc.spec.Probe(ctx, r)
			if res.Outcome != tc.wantOut || res.Error != tc.wantErr {
				t.Fatalf("got %s %q, want %s %q", res.Outcome, res.Error, tc.wantOut, tc.wantErr)
			}
			if tc.wantPhases != "" && phaseList(res) != tc.wantPhases {
				t.Errorf("got phases %s, want %s", phaseList(res), tc.wantPhases)
			}
		})
	}
}

func TestTLSValidate(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.pem")
	if err := os.WriteFile(bad, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	neg := -1
	cases := []struct {
		name string
		spec tlsSpec
		want []string
	}{
		{name: "ok", spec: tlsSpec{Address: "api.example.net:443"}},
		{name: "missing address", want: []string{"address: is required"}},
		{name: "internal", spec: tlsSpec{Address: "10.0.0.1:443"}, want: []string{"address: egress denied: address 10.0.0.1 is private"}},
		{
			name: "bad fields", spec: tlsSpec{Address: "api.example.net:443", MinDaysLeft: &neg, ServerName: "a b", CAFile: bad},
			want: []string{"min_days_left: must be from 0 to 3650, got -1", `server_name: "a b" is not a host name`, "ca_file: no PEM certificates in "},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantFieldErrors(t, tc.spec.Validate(NewEgress(nil)), tc.want)
		})
	}
}

func TestValiditySpan(t *testing.T) {
	cases := map[time.Duration]string{
		3*24*time.Hour + time.Hour: "3 days",
		24 * time.Hour:             "1 day",
		5*time.Hour + time.Minute:  "5 hours",
		time.Hour:                  "1 hour",
		10 * time.Minute:           "less than an hour",
	}
	for d, want := range cases {
		if got := validitySpan(d); got != want {
			t.Errorf("validitySpan(%v): got %q, want %q", d, got, want)
		}
	}
}

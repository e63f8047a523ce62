package probes

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"
)

// tlsSpec checks a server's certificate: the chain verifies against the
// system roots (plus ca_file), it is valid for the server name, and it does
// not expire within min_days_left days.
//
//	tls:
//	  address: api.example.net:443
//	  server_name: api.example.net   # default: the host part of address
//	  min_days_left: 14              # default 14; fewer days left → degraded
//	  ca_file: /etc/lookout/ca.pem   # optional extra roots
type tlsSpec struct {
	Address     string `yaml:"address"`
	ServerName  string `yaml:"server_name"`
	MinDaysLeft *int   `yaml:"min_days_left"`
	CAFile      string `yaml:"ca_file"`

	roots *x509.CertPool // loaded from CAFile by Validate
}

// defaultMinDaysLeft is min_days_left when unset.
const defaultMinDaysLeft = 14

func tlsKind() Kind { return Kind{Name: "tls", New: func() Spec { return &tlsSpec{} }} }

func (s *tlsSpec) Validate(eg *Egress) error {
	errs := validateHostPort("address", s.Address, eg)
	if s.MinDaysLeft != nil && (*s.MinDaysLeft < 0 || *s.MinDaysLeft > 3650) {
		errs = append(errs, Errf("min_days_left", "must be from 0 to 3650, got %d", *s.MinDaysLeft))
	}
	if strings.ContainsAny(s.ServerName, " /:@[]") {
		errs = append(errs, Errf("server_name", "%q is not a host name", s.ServerName))
	}
	if s.CAFile != "" {
		roots, err := loadExtraRoots(s.CAFile)
		if err != nil {
			errs = append(errs, Errf("ca_file", "%v", err))
		}
		s.roots = roots
	}
	return errors.Join(errs...)
}

func (s *tlsSpec) minDaysLeft() int {
	if s.MinDaysLeft == nil {
		return defaultMinDaysLeft
	}
	return *s.MinDaysLeft
}

func (s *tlsSpec) Probe(ctx context.Context, r Run) (res Result) {
	start := time.Now()
	defer func() { res.AddPhase("total", time.Since(start)) }()

	cfg, err := verifyingTLSConfig(s.Address, s.ServerName, s.roots, s.CAFile)
	if err != nil {
		return res.Fail("tls: %v", err)
	}
	t := time.Now()
	conn, err := r.Egress.DialContext(ctx, "tcp", s.Address)
	if err != nil {
		return failDialPhase(&res, "connect", err)
	}
	defer conn.Close()
	res.AddPhase("connect", time.Since(t))
	stop := bindConnToCtx(ctx, conn)
	defer stop()

	// The handshake itself does not verify: verifyPeer does, below, so that
	// an expired or unknown certificate is reported with its dates instead
	// of a bare handshake error. The handshake still proves the server holds
	// the leaf's key.
	t = time.Now()
	hs := cfg.Clone()
	hs.InsecureSkipVerify = true
	tc := tls.Client(conn, hs)
	if err := tc.HandshakeContext(ctx); err != nil {
		return res.Fail("tls: handshake: %s", netReason(ctx, err))
	}
	res.AddPhase("tls", time.Since(t))
	defer tc.Close()

	now := time.Now()
	if r.Clock != nil {
		now = r.Clock.Now()
	}
	out, msg := verifyPeer(tc.ConnectionState().PeerCertificates, cfg.ServerName, cfg.RootCAs, now, s.minDaysLeft())
	res.Outcome, res.Error = out, msg
	return res
}

// verifyPeer judges a server's certificate chain at now: down with the
// reason if it does not verify, degraded if the leaf expires within
// minDays, else up. Messages name the leaf's NotAfter.
func verifyPeer(certs []*x509.Certificate, serverName string, roots *x509.CertPool, now time.Time, minDays int) (Outcome, string) {
	if len(certs) == 0 {
		return Down, "tls: server sent no certificate"
	}
	leaf := certs[0]
	notAfter := "not after " + leaf.NotAfter.UTC().Format(time.RFC3339)
	if now.After(leaf.NotAfter) {
		return Down, fmt.Sprintf("certificate expired %s ago (%s)", validitySpan(now.Sub(leaf.NotAfter)), notAfter)
	}
	if now.Before(leaf.NotBefore) {
		return Down, fmt.Sprintf("certificate is not valid before %s (%s)", leaf.NotBefore.UTC().Format(time.RFC3339), notAfter)
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, err := leaf.Verify(x509.VerifyOptions{
		DNSName:       serverName,
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return Down, fmt.Sprintf("%s (%s)", certErrText(err), notAfter)
	}
	left := leaf.NotAfter.Sub(now)
	if left < time.Duration(minDays)*24*time.Hour {
		return Degraded, fmt.Sprintf("certificate expires in %s (%s)", validitySpan(left), notAfter)
	}
	return Up, ""
}

// certErrText words a verification error without Go's "x509: " prefix.
func certErrText(err error) string {
	var ua x509.UnknownAuthorityError
	if errors.As(err, &ua) {
		msg := "certificate signed by unknown authority"
		if ua.Cert != nil {
			msg += fmt.Sprintf(" (issuer %q)", ua.Cert.Issuer.String())
		}
		return msg
	}
	var he x509.HostnameError
	if errors.As(err, &he) {
		return strings.TrimPrefix(he.Error(), "x509: ")
	}
	var ci x509.CertificateInvalidError
	if errors.As(err, &ci) && ci.Reason == x509.Expired {
		return "a certificate in the chain has expired"
	}
	return strings.TrimPrefix(err.Error(), "x509: ")
}

// validitySpan words a span of validity: "3 days", "1 day", "5 hours".
func validitySpan(d time.Duration) string {
	days := int(d / (24 * time.Hour))
	switch {
	case days > 1:
		return fmt.Sprintf("%d days", days)
	case days == 1:
		return "1 day"
	}
	switch h := int(d / time.Hour); h {
	case 0:
		return "less than an hour"
	case 1:
		return "1 hour"
	default:
		return fmt.Sprintf("%d hours", h)
	}
}

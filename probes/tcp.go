package probes

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// tcpSpec connects to a TCP port, optionally through TLS, optionally sends a
// line and waits for a substring of the server's answer.
//
//	tcp:
//	  address: db.example.net:5432
//	  send: "PING\r\n"
//	  expect: "PONG"
//	  tls: false
//	  server_name: db.example.net   # with tls; default: the host part
//	  ca_file: /etc/lookout/ca.pem  # with tls; extra roots
type tcpSpec struct {
	Address    string `yaml:"address"`
	Send       string `yaml:"send"`
	Expect     string `yaml:"expect"`
	TLS        bool   `yaml:"tls"`
	ServerName string `yaml:"server_name"`
	CAFile     string `yaml:"ca_file"`

	roots *x509.CertPool // loaded from CAFile by Validate
}

// tcpReadCap bounds what a tcp probe reads while looking for Expect.
const tcpReadCap = 64 << 10

func tcpKind() Kind { return Kind{Name: "tcp", New: func() Spec { return &tcpSpec{} }} }

func (s *tcpSpec) Validate(eg *Egress) error {
	var errs []error
	errs = append(errs, validateHostPort("address", s.Address, eg)...)
	if len(s.Send) > tcpReadCap {
		errs = append(errs, Errf("send", "is %d bytes, at most %d", len(s.Send), tcpReadCap))
	}
	if len(s.Expect) > tcpReadCap {
		errs = append(errs, Errf("expect", "is %d bytes, at most %d", len(s.Expect), tcpReadCap))
	}
	if !s.TLS {
		if s.ServerName != "" {
			errs = append(errs, Errf("server_name", "only applies with tls: true"))
		}
		if s.CAFile != "" {
			errs = append(errs, Errf("ca_file", "only applies with tls: true"))
		}
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

func (s *tcpSpec) Probe(ctx context.Context, r Run) (res Result) {
	start := time.Now()
	defer func() { res.AddPhase("total", time.Since(start)) }()

	t := time.Now()
	conn, err := r.Egress.DialContext(ctx, "tcp", s.Address)
	if err != nil {
		return failDialPhase(&res, "connect", err)
	}
	defer conn.Close()
	res.AddPhase("connect", time.Since(t))
	stop := bindConnToCtx(ctx, conn)
	defer stop()

	if s.TLS {
		t = time.Now()
		cfg, err := verifyingTLSConfig(s.Address, s.ServerName, s.roots, s.CAFile)
		if err != nil {
			return res.Fail("tls: %v", err)
		}
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			var cve *tls.CertificateVerificationError
			if errors.As(err, &cve) {
				return res.Fail("tls: %s", certErrText(cve.Err))
			}
			return res.Fail("tls: handshake: %s", netReason(ctx, err))
		}
		conn = tc
		res.AddPhase("tls", time.Since(t))
	}

	if s.Send == "" && s.Expect == "" {
		res.Outcome = Up
		return res
	}
	t = time.Now()
	if s.Send != "" {
		if _, err := io.WriteString(conn, s.Send); err != nil {
			return res.Fail("send: %s", netReason(ctx, err))
		}
	}
	if s.Expect != "" {
		got, err := readUntilMatch(conn, []byte(s.Expect), tcpReadCap)
		if err != nil {
			return res.Fail("expect %q: %s; got %s", s.Expect, netReason(ctx, err), quoteHead(got, 64))
		}
	}
	res.AddPhase("exchange", time.Since(t))
	res.Outcome = Up
	return res
}

// errReadLimit reports that a bounded read hit its cap.
var errReadLimit = errors.New("read limit reached")

// readUntilMatch reads from rd until want appears in what was read, the cap is
// reached, or the reader fails. A reader that ends without want yields
// io.EOF. It returns what it read.
func readUntilMatch(rd io.Reader, want []byte, limit int) ([]byte, error) {
	buf := make([]byte, 0, min(limit, 4096))
	chunk := make([]byte, 4096)
	for {
		n, err := rd.Read(chunk[:min(len(chunk), limit-len(buf))])
		buf = append(buf, chunk[:n]...)
		if bytes.Contains(buf, want) {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
		if len(buf) >= limit {
			return buf, fmt.Errorf("%w (%d bytes)", errReadLimit, limit)
		}
	}
}

// quoteHead quotes at most n bytes of b, marking a cut with an ellipsis.
func quoteHead(b []byte, n int) string {
	if len(b) <= n {
		return strconv.Quote(string(b))
	}
	return strconv.Quote(string(b[:n])) + "…"
}

// bindConnToCtx makes conn obey ctx: its deadline becomes the connection's (so a
// trickling peer is cut at the overall deadline, not per read) and
// cancellation closes it. Call the returned stop when done.
func bindConnToCtx(ctx context.Context, conn net.Conn) (stop func() bool) {
	if d, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(d) // a conn that refuses deadlines is still bound by AfterFunc
	}
	return context.AfterFunc(ctx, func() { conn.Close() })
}

// failDialPhase marks res down for a failed dial in the named phase. Egress
// refusals read "egress denied: address 127.0.0.1 is loopback; ...".
func failDialPhase(res *Result, phase string, err error) Result {
	if errors.Is(err, ErrEgressDenied) {
		return res.Fail("%s", egressReason(err))
	}
	return res.Fail("%s: %s", phase, netReason(nil, err))
}

// egressReason returns the policy's own message from inside a dial error.
func egressReason(err error) string {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if strings.HasPrefix(e.Error(), ErrEgressDenied.Error()) {
			return e.Error()
		}
	}
	return err.Error()
}

// netReason turns a network error into a short reason without the
// addresses Go repeats: "connection refused", "deadline exceeded",
// "lookup db.example.net: no such host". ctx, if not nil, is the run's
// context: a conn closed by its cancellation reads as the context's error.
func netReason(ctx context.Context, err error) string {
	if errors.Is(err, ErrEgressDenied) {
		return egressReason(err)
	}
	if ctx != nil && ctx.Err() != nil && !errors.Is(err, io.EOF) {
		return ctxReason(ctx.Err())
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return "deadline exceeded"
	}
	if errors.Is(err, context.Canceled) {
		return "canceled"
	}
	if errors.Is(err, io.EOF) {
		return "connection closed by peer"
	}
	if errors.Is(err, errReadLimit) {
		return err.Error()
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		if dnsErr.IsTimeout {
			return "lookup " + dnsErr.Name + ": deadline exceeded"
		}
		return "lookup " + dnsErr.Name + ": " + dnsErr.Err
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "deadline exceeded"
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err.Error()
	}
	return err.Error()
}

func ctxReason(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return "deadline exceeded"
	}
	return "canceled"
}

// validateHostPort checks a "host:port" target: both parts present, a
// numeric port, and the host not an internal literal refused by eg.
func validateHostPort(field, addr string, eg *Egress) []error {
	if addr == "" {
		return []error{Errf(field, "is required (host:port)")}
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return []error{Errf(field, "%q is not host:port", addr)}
	}
	var errs []error
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
		errs = append(errs, Errf(field, "port %q is not a number from 1 to 65535", port))
	}
	if host == "" {
		errs = append(errs, Errf(field, "%q has no host", addr))
	} else if err := eg.CheckHost(host); err != nil {
		errs = append(errs, Errf(field, "%v", err))
	}
	return errs
}

// loadExtraRoots returns the system roots plus the PEM certificates in path.
func loadExtraRoots(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read CA file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("no PEM certificates in %s", path)
	}
	return pool, nil
}

// verifyingTLSConfig returns a verifying client config for addr. roots, when
// set, are used instead of the system roots; else caFile is loaded if set (for specs
// that were not validated).
func verifyingTLSConfig(addr, serverName string, roots *x509.CertPool, caFile string) (*tls.Config, error) {
	if serverName == "" {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		serverName = host
	}
	if roots == nil && caFile != "" {
		var err error
		if roots, err = loadExtraRoots(caFile); err != nil {
			return nil, err
		}
	}
	return &tls.Config{ServerName: serverName, RootCAs: roots, MinVersion: tls.VersionTLS12}, nil
}

package probes

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Egress is the policy for every outgoing connection a probe (or, later, a
// webhook delivery) makes. By default it refuses loopback, private, link-local,
// CGNAT, cloud metadata, multicast, documentation and other special-purpose
// ranges; an organization may allow-list prefixes for internal targets.
//
// The check runs at dial time (net.Dialer.Control) on the address actually
// being connected to, so DNS rebinding and redirects to internal addresses are
// caught on every hop. CheckURL repeats the literal-address part at save time,
// so an obviously internal target is refused with a clear message early.
//
// A nil *Egress is the default policy with an empty allow-list.
type Egress struct {
	allow []netip.Prefix
}

// NewEgress returns a policy that additionally allows the given prefixes.
func NewEgress(allow []netip.Prefix) *Egress {
	return &Egress{allow: append([]netip.Prefix(nil), allow...)}
}

// Allowed returns the allow-listed prefixes.
func (e *Egress) Allowed() []netip.Prefix {
	if e == nil {
		return nil
	}
	return append([]netip.Prefix(nil), e.allow...)
}

type blockedRange struct {
	prefix netip.Prefix
	why    string
}

// blocked lists special-purpose ranges (IANA IPv4/IPv6 special registries)
// that a probe of the public internet has no business reaching.
var blocked = func() []blockedRange {
	rs := []struct{ p, why string }{
		{"0.0.0.0/8", "this-network"},
		{"10.0.0.0/8", "private"},
		{"100.64.0.0/10", "carrier-grade NAT"},
		{"127.0.0.0/8", "loopback"},
		{"169.254.0.0/16", "link-local / cloud metadata"},
		{"172.16.0.0/12", "private"},
		{"192.0.0.0/24", "IETF protocol assignments"},
		{"192.0.2.0/24", "documentation"},
		{"192.88.99.0/24", "6to4 relay"},
		{"192.168.0.0/16", "private"},
		{"198.18.0.0/15", "benchmarking"},
		{"198.51.100.0/24", "documentation"},
		{"203.0.113.0/24", "documentation"},
		{"224.0.0.0/4", "multicast"},
		{"240.0.0.0/4", "reserved"},
		{"::/128", "unspecified"},
		{"::1/128", "loopback"},
		{"::ffff:0:0/96", "IPv4-mapped"},
		{"64:ff9b::/96", "NAT64"},
		{"64:ff9b:1::/48", "NAT64"},
		{"100::/64", "discard"},
		{"2001::/23", "IETF protocol assignments"},
		{"2001:db8::/32", "documentation"},
		{"2002::/16", "6to4"},
		{"fc00::/7", "unique local (private)"},
		{"fe80::/10", "link-local"},
		{"fec0::/10", "site-local"},
		{"ff00::/8", "multicast"},
	}
	out := make([]blockedRange, len(rs))
	for i, r := range rs {
		out[i] = blockedRange{netip.MustParsePrefix(r.p), r.why}
	}
	return out
}()

// ErrEgressDenied marks every refusal by the egress policy.
var ErrEgressDenied = fmt.Errorf("egress denied")

// CheckIP reports whether a connection to ip is allowed.
func (e *Egress) CheckIP(ip netip.Addr) error {
	ip = ip.WithZone("")
	if ip.Is4In6() {
		ip = ip.Unmap() // ::ffff:127.0.0.1 is 127.0.0.1
	}
	if e != nil {
		for _, p := range e.allow {
			if p.Contains(ip) {
				return nil
			}
		}
	}
	for _, b := range blocked {
		if b.prefix.Contains(ip) {
			return fmt.Errorf("%w: address %s is %s; allow-list it in the organization's egress.allow to probe it", ErrEgressDenied, ip, b.why)
		}
	}
	return nil
}

// CheckHost checks a host name or address literal at save time. Address
// literals in any form a resolver accepts ("2130706433", "0x7f.1", "127.1",
// "[::ffff:127.0.0.1]") are decoded and checked; "localhost" and
// "*.localhost" count as loopback. Other names are checked at dial time.
func (e *Egress) CheckHost(host string) error {
	h := strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if h == "" {
		return fmt.Errorf("empty host")
	}
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return e.CheckIP(netip.MustParseAddr("127.0.0.1"))
	}
	if ip, err := netip.ParseAddr(h); err == nil {
		return e.CheckIP(ip)
	}
	if ip, ok := parseInetAton(h); ok {
		return e.CheckIP(ip)
	}
	return nil
}

// CheckURL checks a probe or webhook target: http or https only, a host, and
// the host's literal address (if it is one) allowed.
func (e *Egress) CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("invalid URL: %v", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("scheme %q is not allowed (use http or https)", u.Scheme)
	}
	if u.Host == "" {
		return fmt.Errorf("URL %q has no host", raw)
	}
	if u.User != nil {
		return fmt.Errorf("credentials in the URL are not allowed; use headers with a ${SECRET}")
	}
	return e.CheckHost(u.Hostname())
}

// parseInetAton decodes the legacy IPv4 forms inet_aton(3) accepts: one to
// four parts, each decimal, octal (leading 0) or hex (0x), the last part
// filling the remaining bytes.
func parseInetAton(s string) (netip.Addr, bool) {
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	vals := make([]uint64, len(parts))
	for i, p := range parts {
		if p == "" {
			return netip.Addr{}, false
		}
		base := 10
		switch {
		case strings.HasPrefix(p, "0x") || strings.HasPrefix(p, "0X"):
			base, p = 16, p[2:]
			if p == "" {
				p = "0"
			}
		case len(p) > 1 && p[0] == '0':
			base, p = 8, p[1:]
		}
		v, err := strconv.ParseUint(p, base, 32)
		if err != nil {
			return netip.Addr{}, false
		}
		vals[i] = v
	}
	var n uint64
	last := len(vals) - 1
	for i := 0; i < last; i++ {
		if vals[i] > 0xff {
			return netip.Addr{}, false
		}
		n |= vals[i] << (24 - 8*uint(i))
	}
	if vals[last] >= 1<<(8*uint(4-last)) {
		return netip.Addr{}, false
	}
	n |= vals[last]
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), true
}

// control is the net.Dialer.Control hook: it sees the resolved address.
func (e *Egress) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot parse dial address %q", ErrEgressDenied, address)
	}
	return e.CheckIP(ap.Addr())
}

// Dialer returns a net.Dialer that enforces the policy on every connection.
func (e *Egress) Dialer(timeout time.Duration) *net.Dialer {
	return &net.Dialer{Timeout: timeout, Control: e.control}
}

// DialContext dials through the policy.
func (e *Egress) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return e.Dialer(0).DialContext(ctx, network, address)
}

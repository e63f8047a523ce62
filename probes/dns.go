package probes

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/miekg/dns"
)

// dnsSpec asks one resolver one question and checks the answer's rcode and
// values.
//
//	dns:
//	  name: api.example.net
//	  type: A                    # A AAAA CNAME MX TXT NS SOA CAA PTR SRV
//	  resolver: 1.1.1.1:53       # default: first nameserver of /etc/resolv.conf
//	  transport: udp             # udp | tcp
//	  expect: ["93.184.216.34"]  # each must be among the answer values
//	  rcode: NOERROR
//
// Answer values are compared in presentation form without the trailing dot
// of names, case-insensitively except TXT: "93.184.216.34",
// "mail.example.net" or "10 mail.example.net" for MX, the joined strings of
// a TXT record, "0 issue letsencrypt.org" or "letsencrypt.org" for CAA.
// For PTR, name may be an address; it is turned into its reverse name.
type dnsSpec struct {
	Name      string   `yaml:"name"`
	Type      string   `yaml:"type"`
	Resolver  string   `yaml:"resolver"`
	Transport string   `yaml:"transport"`
	Expect    []string `yaml:"expect"`
	Rcode     string   `yaml:"rcode"`

	// hostResolver, if set, replaces reading resolv.conf (tests).
	hostResolver func() (string, error)
}

// dnsTypes are the record types a dns probe may ask for.
var dnsTypes = []string{"A", "AAAA", "CNAME", "MX", "TXT", "NS", "SOA", "CAA", "PTR", "SRV"}

// resolvConf is where the default resolver comes from.
const resolvConf = "/etc/resolv.conf"

func dnsKind() Kind { return Kind{Name: "dns", New: func() Spec { return &dnsSpec{} }} }

func (s *dnsSpec) Validate(eg *Egress) error {
	var errs []error
	if s.Name == "" {
		errs = append(errs, Errf("name", "is required"))
	} else if _, ok := dns.IsDomainName(s.question()); !ok {
		errs = append(errs, Errf("name", "%q is not a domain name", s.Name))
	}
	if s.Type != "" && s.qtype() == 0 {
		errs = append(errs, Errf("type", "%q is not one of %s", s.Type, strings.Join(dnsTypes, " ")))
	}
	if s.Resolver != "" {
		host, port := hostPortOr(s.Resolver, "53")
		if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
			errs = append(errs, Errf("resolver", "port %q is not a number from 1 to 65535", port))
		}
		if host == "" {
			errs = append(errs, Errf("resolver", "%q has no host", s.Resolver))
		} else if err := eg.CheckHost(host); err != nil {
			errs = append(errs, Errf("resolver", "%v", err))
		}
	}
	switch strings.ToLower(s.Transport) {
	case "", "udp", "tcp":
	default:
		errs = append(errs, Errf("transport", "%q is not udp or tcp", s.Transport))
	}
	if _, ok := s.rcode(); !ok {
		errs = append(errs, Errf("rcode", "%q is not a DNS rcode (NOERROR, NXDOMAIN, SERVFAIL, REFUSED, ...)", s.Rcode))
	}
	for i, e := range s.Expect {
		if strings.TrimSpace(e) == "" {
			errs = append(errs, Errf(fmt.Sprintf("expect[%d]", i), "is empty"))
		}
	}
	return errors.Join(errs...)
}

// qtype returns the record type asked for (A by default), 0 if not allowed.
func (s *dnsSpec) qtype() uint16 {
	name := strings.ToUpper(s.Type)
	if name == "" {
		name = "A"
	}
	for _, t := range dnsTypes {
		if t == name {
			return dns.StringToType[name]
		}
	}
	return 0
}

func (s *dnsSpec) rcode() (int, bool) {
	if s.Rcode == "" {
		return dns.RcodeSuccess, true
	}
	rc, ok := dns.StringToRcode[strings.ToUpper(s.Rcode)]
	return rc, ok
}

// question is the fully qualified name asked, reversed for a PTR of an IP.
func (s *dnsSpec) question() string {
	if s.qtype() == dns.TypePTR {
		if rev, err := dns.ReverseAddr(s.Name); err == nil {
			return rev
		}
	}
	return dns.Fqdn(s.Name)
}

func (s *dnsSpec) Probe(ctx context.Context, r Run) (res Result) {
	start := time.Now()
	defer func() { res.AddPhase("total", time.Since(start)) }()

	server, trusted, err := s.server()
	if err != nil {
		return res.Fail("resolver: %v", err)
	}
	qtype := s.qtype()
	msg := new(dns.Msg)
	msg.SetQuestion(s.question(), qtype)
	msg.SetEdns0(1232, false)

	network := "udp"
	if strings.EqualFold(s.Transport, "tcp") {
		network = "tcp"
	}
	t := time.Now()
	reply, err := dnsExchange(ctx, r.Egress, network, server, trusted, msg)
	if err == nil && reply.Truncated && network == "udp" {
		reply, err = dnsExchange(ctx, r.Egress, "tcp", server, trusted, msg)
	}
	if err != nil {
		if errors.Is(err, ErrEgressDenied) {
			return res.Fail("%s", egressReason(err))
		}
		return res.Fail("query %s: %s", server, netReason(ctx, err))
	}
	res.AddPhase("query", time.Since(t))

	want, _ := s.rcode()
	if reply.Rcode != want {
		return res.Fail("rcode: got %s, want %s", dns.RcodeToString[reply.Rcode], dns.RcodeToString[want])
	}
	if want != dns.RcodeSuccess {
		res.Outcome = Up
		return res
	}
	var answers []dns.RR
	for _, rr := range reply.Answer {
		if rr.Header().Rrtype == qtype {
			answers = append(answers, rr)
		}
	}
	if len(answers) == 0 {
		return res.Fail("no %s records in the answer for %s", dns.TypeToString[qtype], s.Name)
	}
	for _, e := range s.Expect {
		if !dnsAnswered(answers, e) {
			return res.Fail("expect %q: not among the answers [%s]", e, dnsValues(answers, 10))
		}
	}
	res.Outcome = Up
	return res
}

// server returns the resolver's address; trusted is true for the host's own
// resolver from resolv.conf.
//
// The host's resolver is exempt from the egress policy (for that exact
// address and port only) because it is the operator's, not the probe
// author's choice, and is usually a loopback stub (127.0.0.53, 127.0.0.11)
// the default policy would refuse. Allow-listing it instead would open every
// port on that loopback address to every probe.
func (s *dnsSpec) server() (addr string, trusted bool, err error) {
	if s.Resolver != "" {
		host, port := hostPortOr(s.Resolver, "53")
		return net.JoinHostPort(host, port), false, nil
	}
	read := s.hostResolver
	if read == nil {
		read = func() (string, error) { return firstNameserver(resolvConf) }
	}
	addr, err = read()
	return addr, err == nil, err
}

// firstNameserver returns "ip:53" for the first nameserver in a resolv.conf.
func firstNameserver(path string) (string, error) {
	cfg, err := dns.ClientConfigFromFile(path)
	if err != nil {
		return "", fmt.Errorf("no resolver configured and %s is unreadable", path)
	}
	if len(cfg.Servers) == 0 {
		return "", fmt.Errorf("no resolver configured and none in %s", path)
	}
	return net.JoinHostPort(cfg.Servers[0], cfg.Port), nil
}

// dnsExchange sends msg to server over network through the egress policy
// (skipped only for a trusted server's own address) and waits for the reply
// until ctx's deadline.
func dnsExchange(ctx context.Context, eg *Egress, network, server string, trusted bool, msg *dns.Msg) (*dns.Msg, error) {
	d := eg.Dialer(0)
	if exempt, err := netip.ParseAddrPort(server); trusted && err == nil {
		check := d.Control
		d.Control = func(network, address string, c syscall.RawConn) error {
			if ap, err := netip.ParseAddrPort(address); err == nil && ap == exempt {
				return nil
			}
			return check(network, address, c)
		}
	}
	conn, err := d.DialContext(ctx, network, server)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	stop := bindConnToCtx(ctx, conn)
	defer stop()

	// The client's own timeouts would cut the query at 2s; the run's
	// deadline is the only one that applies.
	c := &dns.Client{Net: network, Timeout: time.Hour}
	if dl, ok := ctx.Deadline(); ok {
		c.Timeout = max(time.Until(dl), time.Millisecond)
	}
	reply, _, err := c.ExchangeWithConnContext(ctx, msg, &dns.Conn{Conn: conn})
	return reply, err
}

// dnsRdata returns the presentation form of rr's data: "10 mail.example.net.".
func dnsRdata(rr dns.RR) string {
	return strings.TrimPrefix(rr.String(), rr.Header().String())
}

// dnsForms lists the strings an expect entry may match for rr.
func dnsForms(rr dns.RR) []string {
	forms := []string{dnsRdata(rr)}
	switch v := rr.(type) {
	case *dns.CNAME:
		forms = append(forms, v.Target)
	case *dns.MX:
		forms = append(forms, v.Mx)
	case *dns.NS:
		forms = append(forms, v.Ns)
	case *dns.PTR:
		forms = append(forms, v.Ptr)
	case *dns.SRV:
		forms = append(forms, v.Target)
	case *dns.SOA:
		forms = append(forms, v.Ns)
	case *dns.CAA:
		forms = append(forms, v.Value)
	case *dns.TXT:
		forms = []string{strings.Join(v.Txt, "")}
	}
	return forms
}

// dnsAnswered reports whether want is among the answers' values.
func dnsAnswered(answers []dns.RR, want string) bool {
	want = strings.TrimSuffix(strings.TrimSpace(want), ".")
	for _, rr := range answers {
		_, txt := rr.(*dns.TXT)
		for _, f := range dnsForms(rr) {
			f = strings.TrimSuffix(f, ".")
			if f == want || (!txt && strings.EqualFold(f, want)) {
				return true
			}
		}
	}
	return false
}

// dnsValues lists at most n answers' main values for a message.
func dnsValues(answers []dns.RR, n int) string {
	var vals []string
	for i, rr := range answers {
		if i == n {
			vals = append(vals, fmt.Sprintf("… %d more", len(answers)-n))
			break
		}
		forms := dnsForms(rr)
		v := forms[len(forms)-1]
		if _, ok := rr.(*dns.TXT); ok {
			v = strconv.Quote(v)
		}
		vals = append(vals, strings.TrimSuffix(v, "."))
	}
	return strings.Join(vals, ", ")
}

// hostPortOr splits "host:port" or a bare host (port def).
func hostPortOr(addr, def string) (host, port string) {
	if h, p, err := net.SplitHostPort(addr); err == nil {
		return h, p
	}
	return strings.Trim(addr, "[]"), def
}

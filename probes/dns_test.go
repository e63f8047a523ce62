package probes

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/goleak"
)

// dnsPeer is an in-process authoritative server for example.test on
// loopback, over UDP and TCP on the same port.
type dnsPeer struct {
	udp, tcp *dns.Server
	addr     string
}

func newDNSPeer(t *testing.T) *dnsPeer {
	t.Helper()
	zone := map[string][]string{}
	add := func(rr string) {
		r, err := dns.NewRR(rr)
		if err != nil {
			t.Fatal(err)
		}
		k := r.Header().Name + "/" + dns.TypeToString[r.Header().Rrtype]
		zone[k] = append(zone[k], rr)
	}
	add("api.example.test. 60 IN A 93.184.216.34")
	add("api.example.test. 60 IN A 93.184.216.35")
	add("api.example.test. 60 IN AAAA 2606:2800:220:1::1")
	add("www.example.test. 60 IN CNAME api.example.test.")
	add("example.test. 60 IN MX 10 mail.example.test.")
	add("example.test. 60 IN MX 20 Backup.Example.Test.")
	add(`example.test. 60 IN TXT "v=spf1 -all"`)
	add(`example.test. 60 IN TXT "google-site-verification=" "AbC123"`)
	for i := range 40 {
		add(fmt.Sprintf(`big.example.test. 60 IN TXT "record %02d %s"`, i, strings.Repeat("x", 60)))
	}

	handler := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		m.Authoritative = true
		q := req.Question[0]
		name := strings.ToLower(q.Name)
		known := false
		for k := range zone {
			if strings.HasPrefix(k, name+"/") {
				known = true
			}
		}
		if !known {
			m.Rcode = dns.RcodeNameError
		}
		key := name + "/" + dns.TypeToString[q.Qtype]
		if q.Qtype == dns.TypeA && zone[name+"/CNAME"] != nil {
			key = name + "/CNAME"
		}
		for _, s := range zone[key] {
			rr, _ := dns.NewRR(s)
			m.Answer = append(m.Answer, rr)
		}
		if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
			size := dns.MinMsgSize
			if opt := req.IsEdns0(); opt != nil {
				size = int(opt.UDPSize())
			}
			m.Truncate(size)
		}
		w.WriteMsg(m)
	})

	// UDP and TCP on one port: the port the kernel picked for UDP may be
	// taken for TCP by another test running in parallel, so try a few.
	var (
		pc  net.PacketConn
		ln  net.Listener
		err error
	)
	for range 20 {
		pc, err = net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	p := &dnsPeer{addr: pc.LocalAddr().String()}
	for _, srv := range []**dns.Server{&p.udp, &p.tcp} {
		started := make(chan struct{})
		s := &dns.Server{Handler: handler, NotifyStartedFunc: func() { close(started) }}
		if srv == &p.udp {
			s.PacketConn = pc
		} else {
			s.Listener = ln
		}
		*srv = s
		go s.ActivateAndServe()
		<-started
	}
	return p
}

func (p *dnsPeer) Close() {
	p.udp.Shutdown()
	p.tcp.Shutdown()
}

func TestDNSProbe(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())

	peer := newDNSPeer(t)
	defer peer.Close()
	// A resolver that never answers: a bound UDP socket nobody reads.
	mute, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Close()

	cases := []struct {
		name       string
		spec       dnsSpec
		timeout    time.Duration
		egress     *Egress
		wantOut    Outcome
		wantErr    string
		wantPhases string
	}{
		{name: "A", spec: dnsSpec{Name: "api.example.test", Expect: []string{"93.184.216.34"}}, wantOut: Up, wantPhases: "query,total"},
		{name: "A both values over tcp", spec: dnsSpec{Name: "api.example.test", Transport: "tcp", Expect: []string{"93.184.216.35", "93.184.216.34"}}, wantOut: Up},
		{name: "AAAA", spec: dnsSpec{Name: "api.example.test", Type: "aaaa", Expect: []string{"2606:2800:220:1::1"}}, wantOut: Up},
		{name: "CNAME", spec: dnsSpec{Name: "www.example.test", Type: "CNAME", Expect: []string{"api.example.test."}}, wantOut: Up},
		{name: "MX by host", spec: dnsSpec{Name: "example.test", Type: "MX", Expect: []string{"mail.example.test", "backup.example.test"}}, wantOut: Up},
		{name: "MX with preference", spec: dnsSpec{Name: "example.test", Type: "MX", Expect: []string{"10 mail.example.test."}}, wantOut: Up},
		{name: "TXT joined strings", spec: dnsSpec{Name: "example.test", Type: "TXT", Expect: []string{"v=spf1 -all", "google-site-verification=AbC123"}}, wantOut: Up},
		{
			name: "TXT is case-sensitive", spec: dnsSpec{Name: "example.test", Type: "TXT", Expect: []string{"google-site-verification=abc123"}},
			wantOut: Down, wantErr: `expect "google-site-verification=abc123": not among the answers ["v=spf1 -all", "google-site-verification=AbC123"]`,
		},
		{name: "truncated over udp retries over tcp", spec: dnsSpec{Name: "big.example.test", Type: "TXT", Expect: []string{"record 39 " + strings.Repeat("x", 60)}}, wantOut: Up},
		{
			name: "expect mismatch", spec: dnsSpec{Name: "api.example.test", Expect: []string{"203.0.113.7"}},
			wantOut: Down, wantErr: `expect "203.0.113.7": not among the answers [93.184.216.34, 93.184.216.35]`,
		},
		{
			name: "NXDOMAIN when NOERROR wanted", spec: dnsSpec{Name: "gone.example.test"},
			wantOut: Down, wantErr: "rcode: got NXDOMAIN, want NOERROR",
		},
		{name: "NXDOMAIN wanted", spec: dnsSpec{Name: "gone.example.test", Rcode: "nxdomain"}, wantOut: Up},
		{
			name: "NXDOMAIN wanted but name exists", spec: dnsSpec{Name: "api.example.test", Rcode: "NXDOMAIN", Transport: "tcp"},
			wantOut: Down, wantErr: "rcode: got NOERROR, want NXDOMAIN",
		},
		{
			name: "no records of the type", spec: dnsSpec{Name: "www.example.test", Type: "AAAA"},
			wantOut: Down, wantErr: "no AAAA records in the answer for www.example.test",
		},
		{
			name: "resolver never answers", spec: dnsSpec{Name: "api.example.test", Resolver: mute.LocalAddr().String()}, timeout: 200 * time.Millisecond,
			wantOut: Down, wantErr: "query " + mute.LocalAddr().String() + ": deadline exceeded",
		},
		{
			name: "resolver refused by policy", spec: dnsSpec{Name: "api.example.test"}, egress: NewEgress(nil),
			wantOut: Down, wantErr: "egress denied: address 127.0.0.1 is loopback; allow-list it in the organization's egress.allow to probe it",
		},
		{
			name: "resolver refused by policy over tcp", spec: dnsSpec{Name: "api.example.test", Transport: "tcp"}, egress: NewEgress(nil),
			wantOut: Down, wantErr: "egress denied: address 127.0.0.1 is loopback; allow-list it in the organization's egress.allow to probe it",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			timeout := tc.timeout
			if timeout == 0 {
				timeout = 5 * time.Second
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			r := kindsRun()
			if tc.egress != nil {
				r.Egress = tc.egress
			}
			spec := tc.spec
			if spec.Resolver == "" {
				spec.Resolver = peer.addr
			}
			if err := spec.Validate(kindsEgress()); err != nil {
				t.Fatalf("validate: %v", err)
			}
			res := spec.Probe(ctx, r)
			if res.Outcome != tc.wantOut {
				t.Fatalf("got outcome %s (%q), want %s", res.Outcome, res.Error, tc.wantOut)
			}
			if res.Error != tc.wantErr {
				t.Errorf("got error %q, want %q", res.Error, tc.wantErr)
			}
			if tc.wantPhases != "" && phaseList(res) != tc.wantPhases {
				t.Errorf("got phases %s, want %s", phaseList(res), tc.wantPhases)
			}
		})
	}
}

// TestDNSHostResolver checks that the host's own resolver is reached even
// under the default policy (it is the operator's, usually a loopback stub),
// and only at its exact address.
func TestDNSHostResolver(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())

	peer := newDNSPeer(t)
	defer peer.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r := kindsRun()
	r.Egress = NewEgress(nil)

	spec := dnsSpec{Name: "api.example.test", Expect: []string{"93.184.216.34"}, hostResolver: func() (string, error) { return peer.addr, nil }}
	if err := spec.Validate(r.Egress); err != nil {
		t.Fatalf("validate: %v", err)
	}
	if res := spec.Probe(ctx, r); res.Outcome != Up {
		t.Fatalf("got %s %q, want up", res.Outcome, res.Error)
	}

	spec.Resolver = peer.addr // the same address, chosen by the probe's author
	if err := spec.Validate(r.Egress); err == nil || !strings.Contains(err.Error(), "resolver: egress denied: address 127.0.0.1 is loopback") {
		t.Fatalf("validate: got %v, want the resolver refused", err)
	}
	if res := spec.Probe(ctx, r); res.Outcome != Down || !strings.HasPrefix(res.Error, "egress denied: address 127.0.0.1 is loopback") {
		t.Fatalf("got %s %q, want down by egress", res.Outcome, res.Error)
	}
}

func TestFirstNameserver(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name, path, want, wantErr string
	}{
		{name: "first of two", path: write("two", "# comment\nsearch example.test\nnameserver 127.0.0.53\nnameserver 9.9.9.9\n"), want: "127.0.0.53:53"},
		{name: "ipv6", path: write("v6", "nameserver 2606:4700:4700::1111\n"), want: "[2606:4700:4700::1111]:53"},
		{name: "missing file", path: filepath.Join(dir, "absent"), wantErr: "no resolver configured and " + filepath.Join(dir, "absent") + " is unreadable"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := firstNameserver(tc.path)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("got %q, %v, want error %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v, want %q", got, err, tc.want)
			}
		})
	}
}

func TestDNSValidate(t *testing.T) {
	cases := []struct {
		name string
		spec dnsSpec
		want []string
	}{
		{name: "ok", spec: dnsSpec{Name: "api.example.net", Type: "MX", Resolver: "1.1.1.1", Transport: "TCP", Rcode: "nxdomain", Expect: []string{"mail.example.net"}}},
		{name: "ptr of an address", spec: dnsSpec{Name: "93.184.216.34", Type: "PTR", Resolver: "[2606:4700:4700::1111]:53"}},
		{name: "missing name", want: []string{"name: is required"}},
		{
			name: "everything wrong",
			spec: dnsSpec{Name: "bad..name", Type: "AXFR", Resolver: "10.0.0.2:5353", Transport: "doh", Rcode: "FINE", Expect: []string{"ok", " "}},
			want: []string{
				`name: "bad..name" is not a domain name`,
				`type: "AXFR" is not one of A AAAA CNAME MX TXT NS SOA CAA PTR SRV`,
				"resolver: egress denied: address 10.0.0.2 is private",
				`transport: "doh" is not udp or tcp`,
				`rcode: "FINE" is not a DNS rcode`,
				"expect[1]: is empty",
			},
		},
		{name: "bad resolver port", spec: dnsSpec{Name: "a.example", Resolver: "1.1.1.1:dns"}, want: []string{`resolver: port "dns" is not a number from 1 to 65535`}},
		{name: "resolver as localhost", spec: dnsSpec{Name: "a.example", Resolver: "localhost"}, want: []string{"resolver: egress denied: address 127.0.0.1 is loopback"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantFieldErrors(t, tc.spec.Validate(NewEgress(nil)), tc.want)
		})
	}
}

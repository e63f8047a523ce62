package probes

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lookout-status/lookout/clock"
	"go.uber.org/goleak"
)

// kindsEgress allow-lists loopback, where the tests' peers listen.
func kindsEgress() *Egress {
	return NewEgress([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")})
}

// kindsRun is a Run whose egress policy allows loopback.
func kindsRun() Run {
	return Run{Env: &Env{Clock: clock.Real{}, Egress: kindsEgress(), MaxBody: DefaultMaxBody}, ProbeID: "p1"}
}

// tcpPeer is a loopback TCP server whose handler runs per connection;
// Close stops it and waits for every handler.
type tcpPeer struct {
	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns []net.Conn
}

func newTCPPeer(t *testing.T, handle func(net.Conn)) *tcpPeer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpPeer{ln: ln}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			p.conns = append(p.conns, c)
			p.mu.Unlock()
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				defer c.Close()
				handle(c)
			}()
		}
	}()
	return p
}

func (p *tcpPeer) Addr() string { return p.ln.Addr().String() }

func (p *tcpPeer) Close() {
	p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// phaseNames lists a result's phases in order.
func phaseNames(res Result) string {
	var names []string
	for _, p := range res.Phases {
		names = append(names, p.Name)
	}
	return strings.Join(names, ",")
}

func TestTCPProbe(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())

	banner := newTCPPeer(t, func(c net.Conn) {
		if _, err := c.Write([]byte("220 ready\r\n")); err != nil {
			return
		}
		sc := bufio.NewScanner(c)
		for sc.Scan() {
			if sc.Text() == "PING" {
				c.Write([]byte("PONG\r\n"))
				continue
			}
			c.Write([]byte("ERR unknown command\r\n"))
			return
		}
	})
	defer banner.Close()
	silent := newTCPPeer(t, func(c net.Conn) { c.Read(make([]byte, 1)) })
	defer silent.Close()
	trickle := newTCPPeer(t, func(c net.Conn) {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for range tick.C {
			if _, err := c.Write([]byte("x")); err != nil {
				return
			}
		}
	})
	defer trickle.Close()
	flood := newTCPPeer(t, func(c net.Conn) {
		junk := []byte(strings.Repeat("junk ", 1000))
		for {
			if _, err := c.Write(junk); err != nil {
				return
			}
		}
	})
	defer flood.Close()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusedAddr := closed.Addr().String()
	closed.Close()

	cases := []struct {
		name       string
		spec       tcpSpec
		timeout    time.Duration
		egress     *Egress
		wantOut    Outcome
		wantErr    string // prefix of Error; "" means none
		wantPhases string
	}{
		{name: "connect only", spec: tcpSpec{Address: banner.Addr()}, wantOut: Up, wantPhases: "connect,total"},
		{name: "banner", spec: tcpSpec{Address: banner.Addr(), Expect: "220 ready"}, wantOut: Up, wantPhases: "connect,exchange,total"},
		{name: "send and expect", spec: tcpSpec{Address: banner.Addr(), Send: "PING\r\n", Expect: "PONG"}, wantOut: Up, wantPhases: "connect,exchange,total"},
		{name: "send only", spec: tcpSpec{Address: banner.Addr(), Send: "PING\r\n"}, wantOut: Up, wantPhases: "connect,exchange,total"},
		{
			name: "expect mismatch", spec: tcpSpec{Address: banner.Addr(), Send: "HELO\r\n", Expect: "PONG"},
			wantOut: Down, wantErr: `expect "PONG": connection closed by peer; got "220 ready\r\nERR unknown command\r\n"`,
			wantPhases: "connect,total",
		},
		{
			name: "connection refused", spec: tcpSpec{Address: refusedAddr},
			wantOut: Down, wantErr: "connect: connection refused", wantPhases: "total",
		},
		{
			name: "server never sends", spec: tcpSpec{Address: silent.Addr(), Expect: "PONG"}, timeout: 200 * time.Millisecond,
			wantOut: Down, wantErr: `expect "PONG": deadline exceeded; got ""`,
		},
		{
			name: "trickle is cut at the overall deadline", spec: tcpSpec{Address: trickle.Addr(), Expect: "PONG"}, timeout: 300 * time.Millisecond,
			wantOut: Down, wantErr: `expect "PONG": deadline exceeded; got "x`,
		},
		{
			name: "endless answer is capped", spec: tcpSpec{Address: flood.Addr(), Expect: "PONG"},
			wantOut: Down, wantErr: `expect "PONG": read limit reached (65536 bytes); got "junk junk`,
		},
		{
			name: "default policy refuses loopback at dial", spec: tcpSpec{Address: banner.Addr()}, egress: NewEgress(nil),
			wantOut: Down, wantErr: "egress denied: address 127.0.0.1 is loopback",
		},
		{
			name: "default policy refuses localhost at dial", spec: tcpSpec{Address: strings.Replace(banner.Addr(), "127.0.0.1", "localhost", 1)}, egress: NewEgress(nil),
			wantOut: Down, wantErr: "egress denied: address ",
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
			if tc.wantPhases != "" && phaseNames(res) != tc.wantPhases {
				t.Errorf("got phases %s, want %s", phaseNames(res), tc.wantPhases)
			}
		})
	}
}

func TestTCPValidate(t *testing.T) {
	cases := []struct {
		name   string
		spec   tcpSpec
		egress *Egress
		want   []string // every message expected, in order
	}{
		{name: "ok", spec: tcpSpec{Address: "db.example.net:5432", Send: "PING\r\n", Expect: "PONG"}},
		{name: "allow-listed loopback", spec: tcpSpec{Address: "127.0.0.1:6379"}, egress: kindsEgress()},
		{name: "missing address", want: []string{"address: is required (host:port)"}},
		{name: "no port", spec: tcpSpec{Address: "db.example.net"}, want: []string{`address: "db.example.net" is not host:port`}},
		{name: "bad port", spec: tcpSpec{Address: "db.example.net:http"}, want: []string{`address: port "http" is not a number from 1 to 65535`}},
		{name: "port zero", spec: tcpSpec{Address: "db.example.net:0"}, want: []string{`address: port "0" is not a number from 1 to 65535`}},
		{name: "internal port", spec: tcpSpec{Address: "127.0.0.1:6379"}, want: []string{"address: egress denied: address 127.0.0.1 is loopback"}},
		{name: "internal as integer", spec: tcpSpec{Address: "2130706433:22"}, want: []string{"address: egress denied: address 127.0.0.1 is loopback"}},
		{name: "localhost", spec: tcpSpec{Address: "localhost:22"}, want: []string{"address: egress denied: address 127.0.0.1 is loopback"}},
		{name: "ipv6 loopback", spec: tcpSpec{Address: "[::1]:22"}, want: []string{"address: egress denied: address ::1 is loopback"}},
		{name: "metadata", spec: tcpSpec{Address: "169.254.169.254:80"}, want: []string{"address: egress denied: address 169.254.169.254 is link-local / cloud metadata"}},
		{
			name: "tls options without tls", spec: tcpSpec{Address: "db.example.net:1", ServerName: "x", CAFile: "/nonexistent/ca.pem"},
			want: []string{"server_name: only applies with tls: true", "ca_file: only applies with tls: true", "ca_file: read CA file: open /nonexistent/ca.pem: no such file or directory"},
		},
		{
			name: "oversized expect", spec: tcpSpec{Address: "db.example.net:1", Expect: strings.Repeat("x", tcpReadCap+1)},
			want: []string{"expect: is 65537 bytes, at most 65536"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			eg := tc.egress
			if eg == nil {
				eg = NewEgress(nil)
			}
			assertFieldErrors(t, tc.spec.Validate(eg), tc.want)
		})
	}
}

// assertFieldErrors checks that err holds exactly the wanted messages (each
// a prefix of the corresponding error) and that each is a *FieldError.
func assertFieldErrors(t *testing.T, err error, want []string) {
	t.Helper()
	got := Flatten(err)
	if len(got) != len(want) {
		t.Fatalf("got %d errors %v, want %d %q", len(got), got, len(want), want)
	}
	for i, e := range got {
		var fe *FieldError
		if !errors.As(e, &fe) {
			t.Errorf("error %d %q is not a *FieldError", i, e)
		}
		if !strings.HasPrefix(e.Error(), want[i]) {
			t.Errorf("error %d: got %q, want prefix %q", i, e, want[i])
		}
	}
}

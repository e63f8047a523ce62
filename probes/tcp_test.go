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
	"gopkg.in/yaml.v3"
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

// phaseList lists a result's phases in order.
func phaseList(res Result) string {
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
			if tc.wantPhases != "" && phaseList(res) != tc.wantPhases {
				t.Errorf("got phases %s, want %s", phaseList(res), tc.wantPhases)
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
			wantFieldErrors(t, tc.spec.Validate(eg), tc.want)
		})
	}
}

// wantFieldErrors checks that err holds exactly the wanted messages (each
// a prefix of the corresponding error) and that each is a *FieldError.
func wantFieldErrors(t *testing.T, err error, want []string) {
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

// decodeKindYAML decodes a kind's YAML block the way the config loader does
// (unknown keys refused) into a fresh Spec from the registry.
func decodeKindYAML(t *testing.T, kind, src string) Spec {
	t.Helper()
	k, ok := NewRegistry().Lookup(kind)
	if !ok {
		t.Fatalf("kind %q not registered", kind)
	}
	spec := k.New()
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(spec); err != nil {
		t.Fatalf("decode %s: %v", kind, err)
	}
	return spec
}

// TestKindsDecode pins the YAML shape of each kind in this file's family.
func TestKindsDecode(t *testing.T) {
	tcp := decodeKindYAML(t, "tcp", "address: db.example.net:5432\nsend: \"PING\\r\\n\"\nexpect: PONG\ntls: true\nserver_name: db.example.net\n").(*tcpSpec)
	if tcp.Address != "db.example.net:5432" || tcp.Send != "PING\r\n" || tcp.Expect != "PONG" || !tcp.TLS || tcp.ServerName != "db.example.net" {
		t.Errorf("tcp: got %+v", tcp)
	}
	dq := decodeKindYAML(t, "dns", "name: api.example.net\ntype: MX\nresolver: 1.1.1.1:53\ntransport: tcp\nexpect: [\"mail.example.net\"]\nrcode: NOERROR\n").(*dnsSpec)
	if dq.Name != "api.example.net" || dq.Type != "MX" || dq.Resolver != "1.1.1.1:53" || dq.Transport != "tcp" || len(dq.Expect) != 1 || dq.Rcode != "NOERROR" {
		t.Errorf("dns: got %+v", dq)
	}
	tl := decodeKindYAML(t, "tls", "address: api.example.net:443\nserver_name: api.example.net\nmin_days_left: 21\nca_file: /etc/ca.pem\n").(*tlsSpec)
	if tl.Address != "api.example.net:443" || tl.minDaysLeft() != 21 || tl.CAFile != "/etc/ca.pem" {
		t.Errorf("tls: got %+v", tl)
	}
	s3 := decodeKindYAML(t, "s3", "endpoint: https://s3.example.net\nregion: eu-west-1\nbucket: lookout-probe\nprefix: p/\naccess_key: AK\nsecret_key: SK\nsize: 2048\nlist: true\npath_style: false\n").(*s3Spec)
	if s3.Endpoint != "https://s3.example.net" || s3.Region != "eu-west-1" || s3.Bucket != "lookout-probe" || s3.Prefix != "p/" ||
		s3.AccessKey != "AK" || s3.SecretKey != "SK" || s3.Size != 2048 || !s3.List || s3.PathStyle == nil || *s3.PathStyle {
		t.Errorf("s3: got %v", s3)
	}
	hb := decodeKindYAML(t, "heartbeat", "token: a-long-random-url-secret\nperiod: 24h\ngrace: 1h\n").(*HeartbeatSpec)
	if hb.Token() != "a-long-random-url-secret" || hb.Deadline() != 25*time.Hour {
		t.Errorf("heartbeat: got %+v", hb)
	}

	k, _ := NewRegistry().Lookup("tcp")
	dec := yaml.NewDecoder(strings.NewReader("address: a:1\nroots: x\n"))
	dec.KnownFields(true)
	if err := dec.Decode(k.New()); err == nil || !strings.Contains(err.Error(), "field roots not found") {
		t.Errorf("unexported field as a key: got %v, want refused", err)
	}
}

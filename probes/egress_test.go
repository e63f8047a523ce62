package probes

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
)

func TestEgressCheckURL(t *testing.T) {
	def := NewEgress(nil)
	cases := []struct {
		url     string
		wantErr string
	}{
		{"http://127.0.0.1/", "loopback"},
		{"http://[::1]/", "loopback"},
		{"http://[::ffff:127.0.0.1]/", "loopback"},
		{"http://0.0.0.0/", "this-network"},
		{"http://169.254.169.254/latest/meta-data", "metadata"},
		{"http://100.64.0.1/", "carrier-grade NAT"},
		{"http://[fd00::1]/", "unique local"},
		{"http://2130706433/", "loopback"},
		{"http://0x7f.1/", "loopback"},
		{"http://0177.0.0.1/", "loopback"},
		{"http://127.1/", "loopback"},
		{"http://10.1.2.3/", "private"},
		{"http://192.168.1.1/", "private"},
		{"http://localhost:8080/", "loopback"},
		{"http://foo.localhost/", "loopback"},
		{"http://[fe80::1%25eth0]/", "link-local"},
		{"file:///etc/passwd", `scheme "file"`},
		{"gopher://example.com/", `scheme "gopher"`},
		{"javascript:alert(1)", `scheme "javascript"`},
		{"http://user:pw@example.com/", "credentials"},
		{"https://example.com/health", ""},
		{"https://93.184.216.34/", ""},
		{"https://[2606:4700::1111]/", ""},
	}
	for _, tc := range cases {
		t.Run(tc.url, func(t *testing.T) {
			err := def.CheckURL(tc.url)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("got %v, want allowed", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got %v, want error containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestEgressAllowList(t *testing.T) {
	eg := NewEgress([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")})
	if err := eg.CheckURL("http://127.0.0.1:9000/"); err != nil {
		t.Fatalf("allow-listed loopback refused: %v", err)
	}
	if err := eg.CheckURL("http://[::ffff:127.0.0.1]/"); err != nil {
		t.Fatalf("allow-listed mapped loopback refused: %v", err)
	}
	if err := eg.CheckURL("http://169.254.169.254/"); err == nil {
		t.Fatal("metadata allowed by a loopback allow-list")
	}
}

func TestEgressRefusedAtDial(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	// "localhost" passes no literal check at dial: the resolved address is checked.
	for _, host := range []string{"127.0.0.1", "localhost"} {
		_, err := NewEgress(nil).DialContext(context.Background(), "tcp", net.JoinHostPort(host, port))
		if !errors.Is(err, ErrEgressDenied) {
			t.Errorf("dial %s: got %v, want ErrEgressDenied", host, err)
		}
	}
	c, err := NewEgress([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}).DialContext(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("allow-listed dial: %v", err)
	}
	c.Close()
}

func TestParseInetAton(t *testing.T) {
	cases := map[string]string{
		"2130706433": "127.0.0.1", "0x7f.1": "127.0.0.1", "0x7f000001": "127.0.0.1",
		"127.0.1": "127.0.0.1", "017700000001": "127.0.0.1", "1.2.3.4": "1.2.3.4",
	}
	for in, want := range cases {
		got, ok := parseInetAton(in)
		if !ok || got.String() != want {
			t.Errorf("parseInetAton(%q) = %v, %v; want %s", in, got, ok, want)
		}
	}
	for _, bad := range []string{"example", "1.2.3.4.5", "256.1.1.1", "1..2", "0xg", "4294967296"} {
		if _, ok := parseInetAton(bad); ok {
			t.Errorf("parseInetAton(%q) accepted", bad)
		}
	}
}

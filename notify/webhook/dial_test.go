package webhook

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lookout-status/lookout/notify"
	"github.com/lookout-status/lookout/probes"
	"github.com/miekg/dns"
)

// fakeDNS answers every A query with 127.0.0.1 and nothing else, on
// 127.0.0.1 over UDP: a public-looking name that resolves to loopback.
func fakeDNS(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, NotifyStartedFunc: func() { close(started) }, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		if q := req.Question[0]; q.Qtype == dns.TypeA {
			rr, _ := dns.NewRR(q.Name + " 60 IN A 127.0.0.1")
			m.Answer = append(m.Answer, rr)
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

// TestDeliverRefusedAtDial: a host name passes the check at New (it is not
// an address), resolves to 127.0.0.1 when delivering, and the egress policy
// refuses the connection at dial time.
func TestDeliverRefusedAtDial(t *testing.T) {
	var hits atomic.Int32
	rc := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	defer rc.Close()
	dnsAddr := fakeDNS(t)
	_, port, _ := net.SplitHostPort(rc.Listener.Addr().String())

	for _, tc := range []struct {
		name string
		eg   *probes.Egress
	}{
		{"default policy", nil},
		{"empty allow-list", probes.NewEgress(nil)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := New(Config{URL: "http://hooks.example.test:" + port + "/hook", Secret: GenerateSecret()}, nil, tc.eg)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			defer n.CloseIdleConnections()
			n.dialer.Resolver = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "udp", dnsAddr)
			}}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err = n.Deliver(ctx, notify.Message{Key: "k1", Event: notify.Triggered})
			if !errors.Is(err, probes.ErrEgressDenied) || !notify.IsPermanent(err) {
				t.Fatalf("got %v, want a permanent egress denial", err)
			}
			if want := "address 127.0.0.1 is loopback"; !strings.Contains(err.Error(), want) {
				t.Errorf("error: got %q, want it to contain %q", err, want)
			}
		})
	}
	if got := hits.Load(); got != 0 {
		t.Errorf("receiver got %d requests, want 0", got)
	}
}

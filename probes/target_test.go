package probes

import (
	"strings"
	"testing"
	"time"
)

// Target says what a probe checks without leaking secrets.
func TestTargetDescriptions(t *testing.T) {
	cases := []struct {
		spec interface{ Target() string }
		want string
	}{
		{&HTTPSpec{URL: "https://user:pw@api.example.net/status?token=s3cret#x"}, "GET https://api.example.net/status"},
		{&HTTPSpec{Method: "POST", URL: "https://api.example.net/x"}, "POST https://api.example.net/x"},
		{&StepsSpec{Sequence: []Step{{URL: "https://api.example.net/login?k=v"}, {URL: "x"}}, Finally: []Step{{}}}, "2 steps + 1 finally, from https://api.example.net/login"},
		{&s3Spec{Endpoint: "https://s3.example.net", Bucket: "b", SecretKey: "s3cret"}, "bucket b at https://s3.example.net"},
		{&tcpSpec{Address: "db:5432"}, "tcp db:5432"},
		{&tlsSpec{Address: "api:443"}, "tls api:443"},
		{&dnsSpec{Name: "api.example.net", Type: "aaaa"}, "AAAA api.example.net"},
		{&HeartbeatSpec{PingToken: "s3cret-token-0123456", Period: Duration(24 * time.Hour), Grace: Duration(time.Hour)}, "push, every 24h0m0s + 1h0m0s grace"},
	}
	for _, tc := range cases {
		got := tc.spec.Target()
		if got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
		if strings.Contains(got, "s3cret") || strings.Contains(got, "pw") {
			t.Errorf("%q leaks a secret", got)
		}
	}
}

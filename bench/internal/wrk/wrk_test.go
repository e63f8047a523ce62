package wrk

import (
	"testing"
	"time"
)

const report = `Running 10s test @ http://127.0.0.1:8080/
  2 threads and 64 connections
  Latency Distribution
     50%    1.20ms
     99%   12.34ms
  123456 requests in 10.00s, 1.00GB read
  Non-2xx or 3xx responses: 7
Requests/sec:  12345.67
Transfer/sec:    100.00MB
`

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, out string
		want      string
		wantP99   time.Duration
		wantErr   bool
	}{
		{"full", report, "123456 requests, 12345.67 req/s, p99 12.34ms, Non-2xx or 3xx responses: 7", 12340 * time.Microsecond, false},
		{"microseconds", "     99%  850.00us\nRequests/sec: 10.00\n", "10.00 req/s, p99 850µs, no errors", 850 * time.Microsecond, false},
		{"empty", "", "no errors", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Parse([]byte(tc.out))
			if (err != nil) != tc.wantErr {
				t.Errorf("got error %v, want error %v", err, tc.wantErr)
			}
			if got := r.String(); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			if r.P99 != tc.wantP99 {
				t.Errorf("p99: got %s, want %s", r.P99, tc.wantP99)
			}
		})
	}
}

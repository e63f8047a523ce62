package objstore

import "testing"

func TestOpen(t *testing.T) {
	for _, tc := range []struct {
		name, url string
		o         Options
		want      string // bucket+"|"+prefix, or the error
	}{
		{"bucket only", "s3://b", Options{}, "b|"},
		{"prefix trimmed", "s3://b//a/b/", Options{Endpoint: "http://127.0.0.1:9000"}, "b|a/b/"},
		{"no bucket", "s3:///x", Options{}, "no bucket"},
		{"bad endpoint", "s3://b", Options{Endpoint: "ftp://x"}, `endpoint "ftp://x": want http(s)://host[:port]`},
		{"setting named", "s3://b", Options{Endpoint: "x", EndpointSetting: "LOOKOUT_X"}, `LOOKOUT_X "x": want http(s)://host[:port]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Open(tc.url, tc.o)
			got := b.Name + "|" + b.Prefix
			if err != nil {
				got = err.Error()
			} else if b.Client == nil {
				t.Error("got no client")
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

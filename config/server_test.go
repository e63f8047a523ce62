package config

import (
	"strings"
	"testing"
)

// server.url is the origin of the deployment: console links in messages
// are built on it, so anything but an http(s) origin is refused.
func TestServerURL(t *testing.T) {
	for _, tc := range []struct {
		name, url, page string
		wantErr         string // "" : valid
		want            string // ConsoleURL of the organization
	}{
		{name: "origin", url: "https://lookout.example.com", want: "https://lookout.example.com"},
		{name: "trailing slash", url: "http://127.0.0.1:8080/", want: "http://127.0.0.1:8080"},
		{name: "unset: the page's origin", page: "https://status.example.net/acme", want: "https://status.example.net"},
		{name: "unset, no page url", want: ""},
		{name: "server wins over page", url: "https://ops.example.com", page: "https://status.example.net", want: "https://ops.example.com"},
		{name: "no scheme", url: "lookout.example.com", wantErr: `server.url: invalid URL "lookout.example.com" (use an absolute http or https URL)`},
		{name: "ftp", url: "ftp://lookout.example.com", wantErr: `server.url: invalid URL "ftp://lookout.example.com"`},
		{name: "javascript", url: "javascript:alert(1)", wantErr: `server.url: invalid URL "javascript:alert(1)"`},
		{name: "path", url: "https://example.com/lookout", wantErr: "server.url: want the origin Lookout is served at"},
		{name: "query", url: "https://example.com?x=1", wantErr: "without path, query or fragment"},
		{name: "fragment", url: "https://example.com/#top", wantErr: "without path, query or fragment"},
		{name: "user", url: "https://ops:pw@example.com", wantErr: "server.url: no user or password in the URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			if tc.url != "" {
				b.WriteString("server: {url: \"" + tc.url + "\"}\n")
			}
			b.WriteString("organizations:\n  - id: acme\n    components: [{id: api}]\n")
			if tc.page != "" {
				b.WriteString("    pages: [{id: status, url: \"" + tc.page + "\"}]\n")
			}
			cfg, err := Parse("lookout.yaml", []byte(b.String()), nil)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "pw@") {
					t.Errorf("the error repeats the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("got %v, want it valid", err)
			}
			if got := cfg.ConsoleURL(cfg.Organizations[0]); got != tc.want {
				t.Errorf("ConsoleURL: got %q, want %q", got, tc.want)
			}
		})
	}
}

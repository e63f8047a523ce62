package probes

import (
	"fmt"
	"net/url"
	"strings"
)

// Target methods say in a few words what each kind checks, for `lookout
// check` and the console. They never include secrets: no headers, bodies,
// credentials, or URL query strings (which often carry tokens).

// Target implements the describing interface for http probes.
func (s *HTTPSpec) Target() string {
	m := s.Method
	if m == "" {
		m = "GET"
	}
	return m + " " + safeURL(s.URL)
}

// Target implements the describing interface for steps probes.
func (s *StepsSpec) Target() string {
	if len(s.Sequence) == 0 {
		return "no steps"
	}
	return fmt.Sprintf("%d steps + %d finally, from %s", len(s.Sequence), len(s.Finally), safeURL(s.Sequence[0].URL))
}

// Target implements the describing interface for s3 probes.
func (s *s3Spec) Target() string {
	return fmt.Sprintf("bucket %s at %s", s.Bucket, safeURL(s.Endpoint))
}

// Target implements the describing interface for tcp probes.
func (s *tcpSpec) Target() string { return "tcp " + s.Address }

// Target implements the describing interface for tls probes.
func (s *tlsSpec) Target() string { return "tls " + s.Address }

// Target implements the describing interface for dns probes.
func (s *dnsSpec) Target() string {
	t := s.Type
	if t == "" {
		t = "A"
	}
	return strings.ToUpper(t) + " " + s.Name
}

// Target implements the describing interface for heartbeat probes.
func (s *HeartbeatSpec) Target() string {
	return fmt.Sprintf("push, every %s + %s grace", s.Period.D(), s.Grace.D())
}

// safeURL drops credentials, the query and the fragment of a URL.
func safeURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid URL)"
	}
	u.User, u.RawQuery, u.ForceQuery, u.Fragment = nil, "", false, ""
	return u.String()
}

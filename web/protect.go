package web

import (
	"net/http"
)

// maxRequestBody caps every request body; reading past it answers 413.
const maxRequestBody = 64 << 10

// contentSecurityPolicy allows only same-origin scripts, styles and images:
// no inline script or style, no plugins, no framing.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; " +
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// securityHeaders go on every response. Their value slices are shared by
// all responses and never written to (Header.Set and Add replace them):
// building them per request was a visible share of serving a cached page.
var securityHeaders = [...]struct {
	key   string // canonical
	value []string
}{
	{"Content-Security-Policy", []string{contentSecurityPolicy}},
	{"X-Content-Type-Options", []string{"nosniff"}},
	{"Referrer-Policy", []string{"strict-origin-when-cross-origin"}},
	{"X-Frame-Options", []string{"DENY"}},
}

// protect sets the security headers on every response, caps request
// bodies, and refuses cross-origin browser requests that change state.
func (s *server) protect(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		for _, sh := range securityHeaders {
			h[sh.key] = sh.value
		}
		if err := s.csrf.Check(r); err != nil {
			s.fail(w, r, errForbidden)
			return
		}
		limit := int64(maxRequestBody)
		switch r.URL.Path {
		case alertmanagerPath:
			limit = maxIngestBody // a group of many alerts; see ingest.go
		case configPath:
			limit = maxConfigBody // one organization's configuration
		default:
			if n := postmortemRequestLimit(r.URL.Path); n > 0 {
				limit = n // a postmortem's Markdown; see console_postmortem.go
			}
		}
		if r.Body != http.NoBody { // a request without a body has nothing to cap
			r.Body = http.MaxBytesReader(w, r.Body, limit)
		}
		next.ServeHTTP(w, r)
	})
}

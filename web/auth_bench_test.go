package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/lookout-status/lookout/accounts"
)

// BenchmarkIncidentsRead compares GET /api/v1/incidents through the whole
// server with an lko_ token (authentication, role check, cached token
// lookup) against the same read without authentication: the same handler
// behind the same protect layer, handed the principal directly.
// docs/PERFORMANCE.md, "API authentication", has the figures.
func BenchmarkIncidentsRead(b *testing.B) {
	var deps Deps
	a := newAccountsEnv(b, func(d *Deps) { deps = *d })
	tok, _, err := a.svc.CreateToken(context.Background(), accounts.TokenRequest{Org: "acme", Name: "bench", Role: "viewer"})
	if err != nil {
		b.Fatal(err)
	}
	s, _ := newServer(deps)
	p := Principal{Org: "acme", User: "token:bench", Role: "viewer", Via: "token"}
	noAuth := s.protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.handleListIncidents(w, r, p) }))
	sess := a.session(b, "victor")

	run := func(b *testing.B, h http.Handler, hdr ...string) {
		req := httptest.NewRequest("GET", "/api/v1/incidents", nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		b.ReportAllocs()
		for b.Loop() {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != 200 {
				b.Fatalf("got %d", w.Code)
			}
		}
	}
	b.Run("no_auth", func(b *testing.B) { run(b, noAuth) })
	b.Run("lko_token", func(b *testing.B) { run(b, a.h, "Authorization", "Bearer "+tok) })
	b.Run("config_token", func(b *testing.B) { run(b, a.h, "Authorization", "Bearer "+tokViewer) })
	b.Run("session", func(b *testing.B) { run(b, a.h, "Cookie", SessionCookie+"="+sess) })
}

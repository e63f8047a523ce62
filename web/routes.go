package web

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// routes is the one list of everything the server answers.
func (s *server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.handleStatusPage)
	mux.HandleFunc("GET /static/{name}", s.handleStatic)

	mux.HandleFunc("GET /healthz", s.handleHealthz)
	mux.HandleFunc("GET /readyz", s.handleReadyz)
	if s.gatherer != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(s.gatherer, promhttp.HandlerOpts{
			ErrorHandling: promhttp.ContinueOnError,
		}))
	}

	// Heartbeats: like healthchecks.io, GET (and so HEAD) counts as a ping
	// too, so `curl URL` and `wget URL` both work from a cron job.
	mux.HandleFunc("GET /heartbeats/{token}", s.handleHeartbeat)
	mux.HandleFunc("POST /heartbeats/{token}", s.handleHeartbeat)

	if s.demo != nil {
		mux.HandleFunc("POST /demo/break/{name}", s.handleDemo(s.demo.Break, "broken"))
		mux.HandleFunc("POST /demo/fix/{name}", s.handleDemo(s.demo.Fix, "fixed"))
	}

	// The public page's API, badges and incident pages (page_handlers.go).
	s.pageRoutes(mux)

	return mux
}

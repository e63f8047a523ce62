package web

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// routes is the one list of everything the server answers. Every route is
// registered through s.public, s.member or s.console (access.go), which
// record who may call it.
func (s *server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	s.pageRoute(mux, "GET /static/{name}", http.HandlerFunc(s.handleStatic))

	s.public(mux, "GET /healthz", http.HandlerFunc(s.handleHealthz))
	s.public(mux, "GET /readyz", http.HandlerFunc(s.handleReadyz))
	if s.gatherer != nil {
		s.public(mux, "GET /metrics", promhttp.HandlerFor(s.gatherer, promhttp.HandlerOpts{
			ErrorHandling: promhttp.ContinueOnError,
		}))
	}

	// Heartbeats: like healthchecks.io, GET (and so HEAD) counts as a ping
	// too, so `curl URL` and `wget URL` both work from a cron job. The
	// token in the path is the credential.
	s.public(mux, "GET /heartbeats/{token}", http.HandlerFunc(s.handleHeartbeat))
	s.public(mux, "POST /heartbeats/{token}", http.HandlerFunc(s.handleHeartbeat))

	if s.demo != nil {
		s.public(mux, "POST /demo/break/{name}", s.handleDemo(s.demo.Break, "broken"))
		s.public(mux, "POST /demo/fix/{name}", s.handleDemo(s.demo.Fix, "fixed"))
	}

	// The public page's API, badges and incident pages (page_handlers.go).
	s.pageRoutes(mux)

	// Subscribers (feed.go, subscribe.go): Atom and RSS feeds of the page
	// and of each public component.
	if s.pages != nil {
		s.pageRoute(mux, "GET /history.atom", s.handleFeed("atom", false))
		s.pageRoute(mux, "GET /history.rss", s.handleFeed("rss", false))
		s.pageRoute(mux, "GET /components/{id}/history.atom", s.handleFeed("atom", true))
		s.pageRoute(mux, "GET /components/{id}/history.rss", s.handleFeed("rss", true))
	}

	// The Slack request URLs, the Alertmanager ingest endpoint and the
	// one-click unsubscribe are called by programs on other origins, never
	// by a browser carrying Lookout's cookies: they authenticate with a
	// request signature or a token, which a cross-site form cannot forge,
	// so the cross-origin protection (meant for cookie-authenticated forms)
	// is bypassed for exactly these routes. None of them accepts a cookie.
	machine := func(pattern string, h http.Handler) {
		s.public(mux, pattern, h)
		s.csrf.AddInsecureBypassPattern(pattern)
	}
	// The API (api.go) takes a bearer token or a session cookie (s.api).
	if s.auth != nil && s.incidentStore != nil {
		s.api(mux, "GET /api/v1/incidents", roleViewer, s.handleListIncidents)
		s.api(mux, "GET /api/v1/incidents/{id}", roleViewer, s.handleGetIncident)
		if s.actions != nil {
			for _, a := range incidentActions() {
				s.api(mux, "POST /api/v1/incidents/{id}/"+a.path, roleResponder, s.handleAction(a))
			}
		}
	}
	// The console's incident pages and postmortems (console_incidents.go).
	s.consoleIncidentRoutes(mux)
	if s.slack != nil && s.slack.SigningSecret != "" {
		h := s.slackHandler()
		machine("POST /integrations/slack/actions", h)
		machine("POST /integrations/slack/commands", h)
	}
	// Subscribers (subscribe.go): the admin API, and the one-click
	// unsubscribe link whose token is the credential. The public subscribe
	// form keeps the cross-origin protection.
	if s.subscribers != nil {
		if s.auth != nil {
			s.api(mux, "POST /api/v1/subscribers", roleAdmin, s.handleCreateSubscriber)
			s.api(mux, "DELETE /api/v1/subscribers/{id}", roleAdmin, s.handleDeleteSubscriber)
			s.api(mux, "GET /api/v1/subscribers", roleAdmin, s.handleListSubscribers)
			s.api(mux, "GET /api/v1/subscribers/{id}/deliveries", roleAdmin, s.handleSubscriberDeliveries)
		}
		if s.pages != nil {
			s.pageRoute(mux, "POST /subscribe", http.HandlerFunc(s.handleSubscribe))
		}
		// Confirming is a same-origin form post (the button of the GET
		// page); unsubscribing is also posted by mail providers (RFC 8058
		// one-click), from no origin at all, hence the bypass.
		s.public(mux, "GET /subscriptions/confirm/{token}", http.HandlerFunc(s.handleConfirm))
		s.public(mux, "POST /subscriptions/confirm/{token}", http.HandlerFunc(s.handleConfirm))
		s.public(mux, "GET /unsubscribe/{token}", http.HandlerFunc(s.handleUnsubscribe))
		machine("POST /unsubscribe/{token}", http.HandlerFunc(s.handleUnsubscribe))
	}
	// The console's subscribers pages (console_subscribers.go).
	s.consoleSubscriberRoutes(mux)
	s.probeRoutes(mux)      // components, probes, config apply (api_probes.go)
	s.schedulingRoutes(mux) // maintenance and on call (scheduling.go)
	s.accountRoutes(mux)    // login.go, accounts_api.go
	if s.ingest != nil && s.actions != nil {
		machine("POST "+alertmanagerPath, http.HandlerFunc(s.handleAlertmanager))
	}
	// Every page under /pages/{org}/{page}/ too (page_path.go): last, so
	// that every page route is known.
	s.pagePathRoutes(mux)
	return mux
}

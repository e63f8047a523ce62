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

	// Subscribers (feed.go, subscribe.go): Atom and RSS feeds of the page
	// and of each public component.
	if s.pages != nil {
		mux.HandleFunc("GET /history.atom", s.handleFeed("atom", false))
		mux.HandleFunc("GET /history.rss", s.handleFeed("rss", false))
		mux.HandleFunc("GET /components/{id}/history.atom", s.handleFeed("atom", true))
		mux.HandleFunc("GET /components/{id}/history.rss", s.handleFeed("rss", true))
	}

	// The incident actions API, the Slack request URLs and the Alertmanager
	// ingest endpoint are called by programs on other origins, never by a
	// browser carrying Lookout's cookies: they authenticate with a bearer
	// token or a request signature, which a cross-site form cannot forge.
	// So cross-origin protection, meant for cookie-authenticated forms,
	// is bypassed for exactly these routes (a browser app on another
	// origin may call the API with its token). None of them may ever
	// accept cookie authentication.
	api := func(pattern string, h http.Handler) {
		mux.Handle(pattern, h)
		s.csrf.AddInsecureBypassPattern(pattern)
	}
	if s.auth != nil && s.incidentStore != nil {
		api("GET /api/v1/incidents", s.authorized(roleViewer, s.handleListIncidents))
		api("GET /api/v1/incidents/{id}", s.authorized(roleViewer, s.handleGetIncident))
		if s.actions != nil {
			act := func(name string, build actionBuilder) http.Handler {
				return s.authorized(roleResponder, s.handleAction(name, build))
			}
			api("POST /api/v1/incidents/{id}/acknowledge", act("acknowledge", buildAcknowledge))
			api("POST /api/v1/incidents/{id}/resolve", act("resolve", buildResolve))
			api("POST /api/v1/incidents/{id}/snooze", act("snooze", buildSnooze))
			api("POST /api/v1/incidents/{id}/notes", act("note", buildNote))
			api("POST /api/v1/incidents/{id}/updates", act("update", buildUpdate))
			api("POST /api/v1/incidents/{id}/impact", act("impact", buildImpact))
		}
	}
	if s.slack != nil && s.slack.SigningSecret != "" {
		h := s.slackHandler()
		api("POST /integrations/slack/actions", h)
		api("POST /integrations/slack/commands", h)
	}
	// Subscribers (subscribe.go): the admin API and the one-click
	// unsubscribe link authenticate with a token, never a cookie. The
	// public subscribe form keeps the cross-origin protection.
	if s.subscribers != nil {
		if s.auth != nil {
			api("POST /api/v1/subscribers", s.authorized(roleAdmin, s.handleCreateSubscriber))
			api("GET /api/v1/subscribers", s.authorized(roleAdmin, s.handleListSubscribers))
			api("DELETE /api/v1/subscribers/{id}", s.authorized(roleAdmin, s.handleDeleteSubscriber))
			api("GET /api/v1/subscribers/{id}/deliveries", s.authorized(roleAdmin, s.handleSubscriberDeliveries))
		}
		if s.pages != nil {
			mux.HandleFunc("POST /subscribe", s.handleSubscribe)
		}
		// Confirming is a same-origin form post (the button of the GET
		// page); unsubscribing is also posted by mail providers (RFC 8058
		// one-click), from no origin at all, hence the bypass.
		mux.HandleFunc("GET /subscriptions/confirm/{token}", s.handleConfirm)
		mux.HandleFunc("POST /subscriptions/confirm/{token}", s.handleConfirm)
		mux.HandleFunc("GET /unsubscribe/{token}", s.handleUnsubscribe)
		api("POST /unsubscribe/{token}", http.HandlerFunc(s.handleUnsubscribe))
	}
	if s.ingest != nil && s.actions != nil {
		api("POST "+alertmanagerPath, http.HandlerFunc(s.handleAlertmanager))
	}
	return mux
}

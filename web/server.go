// Package web serves Lookout over HTTP: the public status page, heartbeat
// pings, health and metrics endpoints, hashed static assets and, in demo
// mode, the switches that break and fix the demo service.
package web

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lookout-status/lookout/accounts"
	"github.com/lookout-status/lookout/clock"
	"github.com/lookout-status/lookout/probes"
)

// Deps is what the server needs from the rest of Lookout. Logger and Clock
// default to a discarding logger and the wall clock; a nil Gatherer leaves
// /metrics unrouted, a nil Status serves an empty page, a nil Ready is
// always ready, a nil Heartbeats answers every ping 404, and a nil Demo
// leaves the /demo routes unrouted.
type Deps struct {
	Logger     *slog.Logger
	Gatherer   prometheus.Gatherer
	Status     StatusSource
	Ready      func(ctx context.Context) error
	Heartbeats HeartbeatReceiver
	Demo       DemoControl
	Clock      clock.Clock

	// Pages serves the public status page, its Statuspage-compatible API
	// and badges (page_handlers.go); nil keeps the probe-level page of
	// Status. PageCacheControl is their Cache-Control (default
	// "public, max-age=10, stale-while-revalidate=30").
	Pages            PageSource
	PageCacheControl string
	// The incident actions API is routed when Auth and IncidentStore are
	// set (reads) and Actions too (writes); the Slack request URLs when
	// Slack has a signing secret; the Alertmanager ingest endpoint when
	// Ingest and Actions are set. OnCall answers `/lookout oncall`.
	Actions       IncidentActions
	IncidentStore IncidentReader
	Auth          Authenticator
	Slack         *SlackDeps
	Ingest        AlertIngest
	OnCall        OnCall
	// Subscribers, when set, routes the subscribe endpoints (subscribe.go):
	// the admin API needs Auth too, the public form Pages.
	Subscribers SubscriberService
	// Audit records every write made through a member or console route
	// (access.go); nil records nothing.
	Audit AuditLog

	// Accounts, when set, routes sign-in (/login, /logout), the account,
	// users and tokens pages and their API (login.go, accounts_api.go).
	// Teams serves the teams page and API; AuditReader the audit log's.
	Accounts    *accounts.Service
	Teams       TeamDirectory
	AuditReader AuditReader
}

// StatusSource returns what the status page shows.
type StatusSource interface {
	Status(ctx context.Context) (Status, error)
}

// Status is the state of one page: its components, in display order, each
// with its probes and their latest results.
type Status struct {
	Title      string
	Components []Component
}

// Component is one component on the page.
type Component struct {
	ID          string
	Name        string
	Description string
	Group       string
	Probes      []Probe
}

// Probe is one probe of a component and its latest result, nil if it has
// not run yet.
type Probe struct {
	ID   string
	Name string
	Kind string
	Last *probes.Result
}

// HeartbeatReceiver records a ping from a monitored job. found is false when
// no heartbeat probe has that token.
type HeartbeatReceiver interface {
	Ping(ctx context.Context, token string, failed bool, message string) (found bool, err error)
}

// DemoControl breaks and fixes parts of the demo service. An unknown name
// must yield an error matching fs.ErrNotExist (errors.Is), which answers 404.
type DemoControl interface {
	Break(name string) error
	Fix(name string) error
}

type server struct {
	logger     *slog.Logger
	clock      clock.Clock
	gatherer   prometheus.Gatherer
	status     StatusSource
	ready      func(ctx context.Context) error
	heartbeats HeartbeatReceiver
	demo       DemoControl
	csrf       *http.CrossOriginProtection
	// csrfStrict has no bypass patterns: session-authenticated writes
	// must pass it whatever their route (access.go).
	csrfStrict *http.CrossOriginProtection
	// rules is every route's access rule, in registration order.
	rules    []routeRule
	auditLog AuditLog

	// The public page (page_handlers.go).
	pages            PageSource
	pageCacheControl string
	views            pageViews
	renders          *renderCache
	actions          IncidentActions
	incidentStore    IncidentReader
	auth             Authenticator
	slack            *SlackDeps
	ingest           AlertIngest
	oncall           OnCall
	subscribers      SubscriberService
	subscribeLimit   *rateLimiter

	accounts    *accounts.Service
	teams       TeamDirectory
	auditReader AuditReader
}

// NewServer returns the HTTP handler serving every route of routes.go.
func NewServer(deps Deps) http.Handler {
	_, h := newServer(deps)
	return h
}

// newServer builds the server and its handler (tests read s.rules).
func newServer(deps Deps) (*server, http.Handler) {
	s := &server{
		logger:     deps.Logger,
		clock:      deps.Clock,
		gatherer:   deps.Gatherer,
		status:     deps.Status,
		ready:      deps.Ready,
		heartbeats: deps.Heartbeats,
		demo:       deps.Demo,
		csrf:       http.NewCrossOriginProtection(),
		csrfStrict: http.NewCrossOriginProtection(),
		auditLog:   deps.Audit,

		actions:          deps.Actions,
		incidentStore:    deps.IncidentStore,
		auth:             deps.Auth,
		slack:            deps.Slack,
		ingest:           deps.Ingest,
		oncall:           deps.OnCall,
		pages:            deps.Pages,
		pageCacheControl: deps.PageCacheControl,
		renders:          newRenderCache(),
		subscribers:      deps.Subscribers,
		subscribeLimit:   newRateLimiter(subscribeBurst, subscribeEvery),

		accounts:    deps.Accounts,
		teams:       deps.Teams,
		auditReader: deps.AuditReader,
	}
	if s.pageCacheControl == "" {
		s.pageCacheControl = defaultPageCacheControl
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.clock == nil {
		s.clock = clock.Real{}
	}
	return s, s.protect(s.routes())
}

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
)

// Deps is what the server needs from the rest of Lookout. Logger and Clock
// default to a discarding logger and the wall clock; a nil Gatherer leaves
// /metrics unrouted, a nil Ready is always ready, a nil Heartbeats answers
// every ping 404, and a nil Demo leaves the /demo routes unrouted.
type Deps struct {
	Logger     *slog.Logger
	Gatherer   prometheus.Gatherer
	Ready      func(ctx context.Context) error
	Heartbeats HeartbeatReceiver
	Demo       DemoControl
	Clock      clock.Clock

	// Pages serves the public status page, its Statuspage-compatible API,
	// feeds and badges (page_handlers.go); nil leaves them unrouted.
	// PageCacheControl is their Cache-Control (default
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
	// Probes, with Auth, routes the components and probes API and console
	// pages (api_probes.go, console_components.go); Runner adds "run now".
	Probes ProbeReader
	Runner ProbeRunner
	// Config, with Auth, routes POST /api/v1/config (config_apply.go).
	Config ConfigApplier
	// Scheduling and Directory, with Auth, route the maintenance and
	// on-call API and console pages (scheduling.go). SchedulingChanged,
	// when set, is called after each change they store, so the incident
	// engine and Slack take it.
	Scheduling        SchedulingStore
	Directory         Directory
	SchedulingChanged func(ctx context.Context, org string) error
	// Postmortems, with Auth and IncidentStore, routes the postmortem
	// editor and API (console_postmortem.go); PostmortemNotices, when set,
	// builds the subscribers' notices of a publication. ComponentNames
	// names an organization's components in the console (nil: their ids).
	Postmortems       PostmortemStore
	PostmortemNotices PostmortemNotices
	ComponentNames    func(org string) map[string]string

	// Accounts, when set, routes sign-in (/login, /logout), the account,
	// users and tokens pages and their API (login.go, accounts_api.go).
	// AuditReader serves the audit log's; Directory, with Auth, the teams
	// page and API (teams.go).
	Accounts    *accounts.Service
	AuditReader AuditReader
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
	pages PageSource
	// pageScoped are the patterns of the routes that show a page, served
	// under /pages/{org}/{page}/ too (page_path.go).
	pageScoped       map[string]bool
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
	probes           ProbeReader
	runner           ProbeRunner
	runLimit         *rateLimiter
	config           ConfigApplier

	scheduling        SchedulingStore
	directory         Directory
	schedulingChanged func(ctx context.Context, org string) error

	// The console's incidents and postmortems (console_incidents.go).
	postmortems       PostmortemStore
	postmortemNotices PostmortemNotices
	componentNames    func(org string) map[string]string

	accounts    *accounts.Service
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
		probes:           deps.Probes,
		runner:           deps.Runner,
		runLimit:         newRateLimiter(1, runEvery),
		config:           deps.Config,

		scheduling:        deps.Scheduling,
		directory:         deps.Directory,
		schedulingChanged: deps.SchedulingChanged,

		postmortems:       deps.Postmortems,
		postmortemNotices: deps.PostmortemNotices,
		componentNames:    deps.ComponentNames,

		accounts:    deps.Accounts,
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

package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/crypto/acme/autocert"

	"github.com/lookout-status/lookout/accounts"
	"github.com/lookout-status/lookout/backup"
	"github.com/lookout-status/lookout/clock"
	"github.com/lookout-status/lookout/config"
	"github.com/lookout-status/lookout/demo"
	"github.com/lookout-status/lookout/incidents/engine"
	"github.com/lookout-status/lookout/mirror"
	"github.com/lookout-status/lookout/notify"
	"github.com/lookout-status/lookout/notify/alertmanager"
	"github.com/lookout-status/lookout/probes"
	"github.com/lookout-status/lookout/store"
	"github.com/lookout-status/lookout/web"
)

func cmdServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("serve", stderr)
	cfgPath := fs.String("config", "", "configuration file (YAML)")
	data := fs.String("data", "./data", "data directory (SQLite database)")
	listen := fs.String("listen", "127.0.0.1:8080", "address to serve HTTP on")
	pprofAddr := fs.String("pprof", "", "serve Go's /debug/pprof on this separate address (e.g. 127.0.0.1:6060); off by default")
	tlsCert := fs.String("tls-cert", "", "serve HTTPS with this certificate (PEM; with --tls-key)")
	tlsKey := fs.String("tls-key", "", "the certificate's private key (PEM)")
	redirectHTTP := fs.String("redirect-http", "", "with TLS, also listen on this address (e.g. :80) and redirect to https (with --acme-host: default :80, also answering http-01 challenges)")
	acmeHost := fs.String("acme-host", "", "obtain and renew certificates from an ACME CA (Let's Encrypt) for these comma-separated host names; --listen defaults to :443")
	acmeEmail := fs.String("acme-email", "", "with --acme-host, the contact address given to the CA (expiry and problem notices)")
	acmeDir := fs.String("acme-dir", "", "with --acme-host, the CA's directory URL (default: Let's Encrypt production)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *cfgPath == "" {
		fmt.Fprintln(stderr, "lookout serve: --config is required")
		return errUsage
	}
	load := func() (*config.Config, error) { return config.Load(*cfgPath, getenv) }
	if *acmeHost == "" && (*acmeEmail != "" || *acmeDir != "") {
		fmt.Fprintln(stderr, "lookout serve: --acme-email and --acme-dir need --acme-host")
		return errUsage
	}
	if *acmeHost != "" && (*tlsCert != "" || *tlsKey != "") {
		fmt.Fprintln(stderr, "lookout serve: --acme-host and --tls-cert/--tls-key exclude each other")
		return errUsage
	}
	if *acmeHost == "" && ((*tlsCert == "") != (*tlsKey == "") || (*redirectHTTP != "" && *tlsCert == "")) {
		fmt.Fprintln(stderr, "lookout serve: --tls-cert and --tls-key go together; --redirect-http needs them (or --acme-host)")
		return errUsage
	}
	o := serveOptions{load: load, data: *data, listen: *listen, stdout: stdout, stderr: stderr, pprof: *pprofAddr,
		getenv: getenv, tlsCert: *tlsCert, tlsKey: *tlsKey, redirectHTTP: *redirectHTTP}
	if *acmeHost != "" {
		hosts, err := parseACMEHosts(*acmeHost)
		if err != nil {
			fmt.Fprintln(stderr, "lookout serve:", err)
			return errUsage
		}
		o.acme = &acmeOptions{hosts: hosts, email: *acmeEmail, directory: *acmeDir}
		explicit := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
		if !explicit["listen"] {
			o.listen = ":443"
		}
		if o.redirectHTTP == "" {
			o.redirectHTTP = ":80"
		}
	}
	return serve(ctx, o)
}

func cmdDemo(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return demoMain(ctx, args, getenv, stdout, stderr, nil)
}

func demoMain(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, ready chan<- string) error {
	fs := newFlags("demo", stderr)
	data := fs.String("data", "", "data directory (default: a fresh temporary directory)")
	listen := fs.String("listen", "127.0.0.1:8080", "address to serve HTTP on")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	svc, err := demo.Start(ctx)
	if err != nil {
		return fmt.Errorf("start demo service: %w", err)
	}
	defer svc.Close()
	env := svc.Env()
	demoEnv := func(k string) string {
		if v, ok := env[k]; ok {
			return v
		}
		return getenv(k)
	}
	dir := *data
	if dir == "" {
		tmp, err := os.MkdirTemp("", "lookout-demo-")
		if err != nil {
			return fmt.Errorf("create demo data dir: %w", err)
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	load := func() (*config.Config, error) { return config.Parse("demo/lookout-demo.yaml", demo.Config, demoEnv) }
	return serve(ctx, serveOptions{load: load, data: dir, listen: *listen, stdout: stdout, stderr: stderr, demo: svc, ready: ready, getenv: demoEnv})
}

type serveOptions struct {
	load   func() (*config.Config, error)
	data   string
	listen string
	stdout io.Writer
	stderr io.Writer
	demo   *demo.Service
	clock  clock.Clock
	// ready, if set, receives the bound address once serving.
	ready chan<- string
	// pprof, if set, is where /debug/pprof is served (never on the main
	// listener: profiles are not for visitors).
	pprof string
	// getenv resolves the backup destination's credentials (nil: none).
	getenv func(string) string
	// tlsCert and tlsKey, if set, serve HTTPS; redirectHTTP, if set, is a
	// plain-HTTP address redirecting to it.
	tlsCert, tlsKey, redirectHTTP string
	// acme, if set, serves HTTPS with certificates from an ACME CA; its
	// cacheDir is set by serve (DATA/acme). redirectHTTP then also answers
	// the http-01 challenges.
	acme *acmeOptions
	// openDB opens and migrates the database (default store.Open): a seam
	// for the test of /readyz during migrations.
	openDB func(ctx context.Context, path string, opts store.Options) (*store.DB, error)
}

// serve runs Lookout until ctx is cancelled: it applies the config to the
// database, schedules probes, writes their results in batches, keeps rollups
// current and serves HTTP. SIGHUP reloads the config (a broken one is refused
// and the running one stays whole). The listeners open first: while the
// database opens and migrates, /readyz answers 503 {"status":"migrating"}.
func serve(ctx context.Context, o serveOptions) error {
	logger := slog.New(slog.NewJSONHandler(o.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	clk := o.clock
	if clk == nil {
		clk = clock.Real{}
	}
	// --config, with each organization's configuration applied through
	// the API (lookout apply) in place of its section (apply.go).
	layers := &layered{base: o.load, dir: filepath.Join(o.data, appliedDir), getenv: o.getenv}
	load := layers.load
	cfg, err := load()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.data, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	// One lookout per data directory; restore refuses while this is held.
	lock, err := backup.LockDataDir(o.data)
	if err != nil {
		return fmt.Errorf("data dir %s: %w", o.data, err)
	}
	defer lock.Release()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	// Every goroutine started below is owned here: stopped and waited for
	// on any return, including a failed start.
	runCtx, stopRun := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	defer func() { stopRun(); wg.Wait() }()
	errc := make(chan error, 8)
	goRun := func(name string, f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(runCtx); err != nil && !errors.Is(err, context.Canceled) {
				logger.Error("component stopped", "component", name, "err", err)
				errc <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}

	var (
		tlsCfg  *tls.Config
		acmeMgr *autocert.Manager
	)
	switch {
	case o.tlsCert != "":
		if tlsCfg, err = tlsConfig(o.tlsCert, o.tlsKey); err != nil {
			return err
		}
	case o.acme != nil:
		ao := *o.acme
		ao.cacheDir = filepath.Join(o.data, "acme")
		if acmeMgr, err = acmeManager(ao); err != nil {
			return err
		}
		tlsCfg = acmeTLSConfig(acmeMgr)
	}
	front := newFrontHandler()
	var handler http.Handler = front
	if tlsCfg != nil {
		handler = hsts(handler)
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", o.listen, err)
	}
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	srv := &http.Server{
		Handler:           handler,
		TLSConfig:         tlsCfg,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	goRun("http", func(ctx context.Context) error {
		// Shutdown (below) drains; this only ends a failed start.
		go func() { <-ctx.Done(); srv.Close() }()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	addr := ln.Addr().String()
	scheme := "http"
	if tlsCfg != nil {
		scheme = "https"
	}
	// stdout's first line stays "lookout: serving on URL", once serving.
	logger.Info("listening; opening the database", "url", scheme+"://"+addr)
	if o.redirectHTTP != "" {
		rln, err := net.Listen("tcp", o.redirectHTTP)
		if err != nil {
			return fmt.Errorf("listen %s: %w", o.redirectHTTP, err)
		}
		_, port, _ := net.SplitHostPort(addr)
		var plain http.Handler = redirectToHTTPS(port)
		what := "redirecting to https"
		if acmeMgr != nil {
			// ACME http-01 challenges are answered; everything else
			// redirects.
			plain = acmeHTTPHandler(acmeMgr, plain)
			what = "answering ACME http-01 challenges, redirecting the rest to https"
		}
		rsrv := &http.Server{Handler: plain, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
			WriteTimeout: 30 * time.Second, MaxHeaderBytes: 64 << 10, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
		logger.Info("plain http listening", "url", "http://"+rln.Addr().String(), "serves", what)
		goRun("http redirect", func(ctx context.Context) error {
			go func() { <-ctx.Done(); rsrv.Close() }()
			if err := rsrv.Serve(rln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
	}
	if o.pprof != "" {
		pln, err := net.Listen("tcp", o.pprof)
		if err != nil {
			return fmt.Errorf("listen pprof %s: %w", o.pprof, err)
		}
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		psrv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		goRun("pprof", func(ctx context.Context) error {
			go func() { <-ctx.Done(); psrv.Close() }()
			if err := psrv.Serve(pln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
	}

	if acmeMgr != nil {
		goRun("acme", func(ctx context.Context) error { return obtainACME(ctx, acmeMgr, o.acme.hosts, logger) })
	}

	openDB := o.openDB
	if openDB == nil {
		openDB = store.Open
	}
	db, err := openDB(ctx, filepath.Join(o.data, "lookout.db"), store.Options{Now: clk.Now, Logger: logger, Metrics: reg})
	if err != nil {
		return err
	}
	defer db.Close()
	front.setPhase("starting")
	plan, err := db.Apply(ctx, cfg)
	if err != nil {
		return fmt.Errorf("apply config: %w", err)
	}
	logger.Info("config applied", "file", cfg.Path, "changes", len(plan.Changes))

	writer := store.NewWriter(db, store.WriterOptions{
		Clock:         clk,
		FlushInterval: cfg.Storage.FlushInterval,
		FlushSize:     cfg.Storage.FlushSize,
		Metrics:       reg,
		Logger:        logger,
	})
	notifiers, ams, dests, err := buildNotifiers(cfg, clk, logger)
	if err != nil {
		return err
	}
	subs := &subscribers{db: db, clock: clk, logger: logger} // subscribers.go
	worker, err := notify.NewWorker(notify.WorkerOptions{Outbox: outbox{DB: db, subs: subs},
		Notifiers: notifiers, Clock: clk, Logger: logger, Metrics: reg})
	if err != nil {
		return err
	}
	subs.worker = worker
	if err := subs.setConfig(ctx, cfg, notifiers); err != nil {
		return fmt.Errorf("load subscribers: %w", err)
	}
	eng := engine.New(engine.Options{Clock: clk, Store: db, Logger: logger, Metrics: reg, Delivered: worker.Wake})
	// The engine takes the config merged with the stored maintenance
	// windows and on-call overrides (scheduling.go).
	plans := &scheduling{db: db, eng: eng, subs: subs, clock: clk, logger: logger}
	if err := plans.configure(ctx, cfg, dests); err != nil {
		return fmt.Errorf("configure incidents: %w", err)
	}
	if o.getenv == nil {
		o.getenv = func(string) string { return "" }
	}
	backups, err := newBackupScheduler(cfg, o.data, o.getenv, clk, eng, reg, logger)
	if err != nil {
		return err
	}
	var (
		probesMu sync.RWMutex
		byID     = probeIndex(cfg)
	)
	sched := probes.NewScheduler(probes.SchedulerOptions{
		Clock: clk,
		Env: probes.Env{
			Clock:      clk,
			Region:     cfg.Scheduler.Region,
			MaxBody:    probes.DefaultMaxBody,
			Heartbeats: db,
			Logger:     logger,
		},
		MaxConcurrency: cfg.Scheduler.MaxConcurrency,
		Sink: func(org string, r probes.Result) {
			bg := context.WithoutCancel(ctx)
			if err := writer.Add(bg, org, r); err != nil {
				logger.Error("queue result", "org", org, "probe", r.ProbeID, "err", err)
			}
			probesMu.RLock()
			p := byID[org+"/"+r.ProbeID]
			probesMu.RUnlock()
			if err := eng.Submit(bg, org, probeEvent(org, p, r)); err != nil {
				logger.Error("submit result to incidents", "org", org, "probe", r.ProbeID, "err", err)
			}
		},
		Metrics: reg,
		Logger:  logger,
	})
	sched.Set(schedulable(cfg))

	heartbeats := &heartbeatReceiver{db: db, clock: clk}
	heartbeats.set(cfg)
	pages := &pageSource{db: db, eng: eng, clock: clk, logger: logger}
	pages.setConfig(cfg)
	// Static copies of the pages that have a mirror (mirrors.go): the
	// publisher is told of every rebuild and publishes what changed.
	mirrors := mirror.New(mirror.Options{Source: pages.mirrorSnapshot, Clock: clk, Logger: logger, Metrics: reg})
	ms, err := mirrorsOf(cfg)
	if err != nil {
		return err
	}
	mirrors.Set(ms)
	pages.onChange = mirrors.Notify
	if err := pages.refresh(ctx); err != nil {
		return fmt.Errorf("build status pages: %w", err)
	}
	accts, err := accounts.New(accounts.Options{DB: db, Clock: clk, Logger: logger})
	if err != nil {
		return err
	}
	acc := &access{stored: plans.storedOverrides, accounts: accts}
	acc.set(cfg)
	cat := &catalog{DB: db, eng: eng}
	cat.set(cfg)
	var alertmanagers atomic.Pointer[map[string]*alertmanager.Notifier]
	alertmanagers.Store(&ams)
	var running atomic.Pointer[config.Config]
	running.Store(cfg)
	// reload makes next the running configuration (SIGHUP, lookout apply);
	// a configuration refused on the way leaves the running one whole.
	var reloadMu sync.Mutex
	reload := func(ctx context.Context, next *config.Config) error {
		reloadMu.Lock()
		defer reloadMu.Unlock()
		nextNotifiers, nextAMs, nextDests, err := buildNotifiers(next, clk, logger)
		if err != nil {
			return fmt.Errorf("notifiers refused: %w", err)
		}
		plan, err := db.Apply(ctx, next)
		if err != nil {
			return fmt.Errorf("apply failed: %w", err)
		}
		if err := plans.configure(ctx, next, nextDests); err != nil {
			return fmt.Errorf("incidents configuration failed: %w", err)
		}
		if err := subs.setConfig(ctx, next, nextNotifiers); err != nil { // also sets the worker's notifiers
			logger.Error("reload: subscribers", "err", err)
		}
		alertmanagers.Store(&nextAMs)
		probesMu.Lock()
		byID = probeIndex(next)
		probesMu.Unlock()
		sched.Set(schedulable(next))
		heartbeats.set(next)
		pages.setConfig(next)
		if ms, err := mirrorsOf(next); err != nil {
			logger.Error("reload: mirrors refused; keeping the running ones", "err", err)
		} else {
			mirrors.Set(ms)
		}
		acc.set(next)
		cat.set(next)
		running.Store(next)
		logger.Info("config reloaded", "file", next.Path, "changes", len(plan.Changes))
		return nil
	}
	deps := web.Deps{
		Logger:        logger,
		Gatherer:      reg,
		Clock:         clk,
		Pages:         pages,
		Ready:         db.Ready,
		Heartbeats:    heartbeats,
		Actions:       eng,
		IncidentStore: db,
		Auth:          acc,
		Ingest:        acc,
		OnCall:        acc,
		Subscribers:   subs,
		Probes:        cat,
		Runner:        sched,
		Config: &applier{layers: layers, db: db, running: running.Load,
			reload: func(ctx context.Context, next *config.Config) error {
				return reload(context.WithoutCancel(ctx), next)
			}},
		Scheduling:        db,
		Directory:         acc,
		SchedulingChanged: plans.changed,
		// The console's postmortems (postmortems.go).
		Postmortems: db, PostmortemNotices: subs.postmortemNotices(eng), ComponentNames: componentNames(eng),
		Accounts:    accts,
		Audit:       web.StoreAuditLog(db),
		AuditReader: db,
	}
	if secret := slackSigningSecret(cfg); secret != "" {
		deps.Slack = &web.SlackDeps{SigningSecret: secret, Directory: acc}
	}
	if o.demo != nil {
		deps.Demo = o.demo
	}

	// The writer outlives the scheduler: it is stopped after the scheduler
	// has drained, so the last results are flushed.
	writerCtx, stopWriter := context.WithCancel(context.WithoutCancel(ctx))
	writerDone := make(chan error, 1)
	go func() { writerDone <- writer.Run(writerCtx) }()
	schedCtx, stopSched := context.WithCancel(runCtx)
	schedDone := make(chan error, 1)
	go func() { schedDone <- sched.Run(schedCtx) }()
	goRun("incidents", eng.Run)
	goRun("status pages", pages.run)
	goRun("mirrors", mirrors.Run)
	goRun("notifications", worker.Run)
	goRun("subscriber expiry", subs.expire)
	goRun("alertmanager resend", func(ctx context.Context) error { return resendAlerts(ctx, clk, eng, &alertmanagers, logger) })
	goRun("maintenance", func(ctx context.Context) error { return maintain(ctx, db, accts, clk, logger) })
	if backups != nil {
		goRun("backups", backups.Run)
	}
	if o.demo != nil {
		// The demo's "nightly job" pings its heartbeat like a cron job would.
		url := "http://" + addr + "/heartbeats/" + o.demo.Env()["DEMO_HEARTBEAT_TOKEN"]
		goRun("demo job", func(ctx context.Context) error { return demoJob(ctx, clk, url, logger) })
	}

	front.serve(web.NewServer(deps))
	fmt.Fprintf(o.stdout, "lookout: serving on %s://%s\n", scheme, addr)
	if o.demo != nil {
		fmt.Fprintf(o.stdout, "lookout: demo mode; break a component with: curl -X POST http://%s/demo/break/storage  (fix: /demo/fix/storage; also api, sync)\n", addr)
		pw, err := demoOwner(ctx, db, accts, cfg)
		if err != nil {
			logger.Error("demo owner not made; the console has no demo sign-in", "err", err)
		}
		if pw != "" {
			fmt.Fprintf(o.stdout, "lookout: demo console at http://%s/login — user %q, password %s (made for this demo data dir)\n", addr, demoUser, pw)
		}
	}
	if o.ready != nil {
		o.ready <- addr
	}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err := <-errc:
			runErr = err
			break loop
		case <-hup:
			next, err := load()
			if err != nil {
				logger.Error("reload refused; keeping the running config", "err", err)
				continue
			}
			if err := reload(ctx, next); err != nil {
				logger.Error("reload: keeping the running config", "err", err)
			}
		}
	}

	logger.Info("shutting down")
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		logger.Warn("http shutdown", "err", err)
	}
	stopSched()
	if err := <-schedDone; err != nil && !errors.Is(err, context.Canceled) {
		logger.Error("scheduler", "err", err)
	}
	stopWriter()
	if err := <-writerDone; err != nil && !errors.Is(err, context.Canceled) {
		logger.Error("result writer", "err", err)
	}
	stopRun()
	wg.Wait()
	return runErr
}

// probeIndex maps "org/probe" to the scheduler's probe.
func probeIndex(cfg *config.Config) map[string]probes.Probe {
	m := map[string]probes.Probe{}
	for _, p := range schedulable(cfg) {
		m[p.Organization+"/"+p.ID] = p
	}
	return m
}

// schedulable turns the config's probes into the scheduler's.
func schedulable(cfg *config.Config) []probes.Probe {
	var out []probes.Probe
	for _, org := range cfg.Organizations {
		eg := probes.NewEgress(org.Egress)
		for _, p := range org.Probes {
			out = append(out, probes.Probe{
				ID:           p.ID,
				Organization: org.ID,
				Component:    p.Component,
				Name:         p.Name,
				Kind:         p.Kind,
				Interval:     p.Interval,
				Timeout:      p.Timeout,
				Spec:         p.Spec,
				Push:         p.Kind == "heartbeat",
				Egress:       eg,
			})
		}
	}
	return out
}

// demoJob pings url every 20 seconds, like a job reporting success.
func demoJob(ctx context.Context, clk clock.Clock, url string, logger *slog.Logger) error {
	client := &http.Client{Timeout: 5 * time.Second}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			logger.Warn("demo job: heartbeat ping failed", "err", err)
		} else {
			resp.Body.Close()
		}
		t := clk.NewTimer(20 * time.Second)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C():
		}
	}
}

// maintain keeps rollups current and prunes old rows.
func maintain(ctx context.Context, db *store.DB, accts *accounts.Service, clk clock.Clock, logger *slog.Logger) error {
	const every = 5 * time.Minute
	pruneEvery := 12 // hourly
	// Roll up at once on start (catching up after a restart), then every 5 minutes.
	for i := 0; ; i++ {
		if err := db.Rollup(ctx); err != nil && ctx.Err() == nil {
			logger.Error("rollup", "err", err)
		}
		if i%pruneEvery == 0 {
			if err := db.Prune(ctx); err != nil && ctx.Err() == nil {
				logger.Error("prune", "err", err)
			}
			if _, err := accts.PruneSessions(ctx); err != nil && ctx.Err() == nil {
				logger.Error("prune sessions", "err", err)
			}
		}
		t := clk.NewTimer(every)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C():
		}
	}
}

// Command fanout benchmarks the delivery of one incident update to many
// webhook subscribers: it starts loopback receivers in a child process (so
// their memory is not counted), creates N active subscribers directly in a
// fresh database (the verification handshake is skipped: the bench
// measures the fan-out, not the sign-up), opens an incident, then posts one
// public update through the real engine, outbox and notify worker, and
// reports the time until every healthy subscriber's delivery is recorded as
// delivered, with the process's peak RSS, Go heap and goroutines.
//
// With -blackhole 0.1, 10% of the subscribers point at listeners that
// accept connections and never answer: the time for the others shows
// whether they are slowed.
//
//	go run ./bench/fanout -subscribers 10000 -hosts 100
//	go run ./bench/fanout -subscribers 10000 -hosts 100 -blackhole 0.1
//
// Receivers listen on 127.1.x.y (healthy) and 127.2.x.y (blackholed):
// every address of 127.0.0.0/8 is loopback on Linux, so -hosts distinct
// destinations need no other interface. Not run in CI.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/lookout-status/lookout/clock"
	"github.com/lookout-status/lookout/config"
	"github.com/lookout-status/lookout/incidents"
	"github.com/lookout-status/lookout/incidents/engine"
	"github.com/lookout-status/lookout/notify"
	"github.com/lookout-status/lookout/notify/subscriber"
	"github.com/lookout-status/lookout/notify/webhook"
	"github.com/lookout-status/lookout/probes"
	"github.com/lookout-status/lookout/store"
)

var (
	ownTransports *bool
	batch         *int
)

const orgYAML = `organizations:
  - id: acme
    name: Acme
    egress: {allow: ["127.0.0.0/8"]}
    pages:
      - {id: status, name: Acme Status, url: "https://status.example.net"}
    components: [{id: api, name: API}]
    probes:
      - {id: api-status, component: api, interval: 1s, http: {url: "http://127.0.0.1:1/"}}
`

func main() {
	recv := flag.String("serve-receivers", "", "internal: serve receivers: HEALTHY_HOSTS,BLACKHOLE_HOSTS")
	n := flag.Int("subscribers", 10000, "webhook subscribers")
	hosts := flag.Int("hosts", 100, "distinct healthy receiver addresses (destinations)")
	blackhole := flag.Float64("blackhole", 0, "fraction of subscribers whose endpoint accepts and never answers")
	bhHosts := flag.Int("blackhole-hosts", 100, "distinct blackholed addresses")
	timeout := flag.Duration("timeout", 10*time.Second, "per-delivery timeout")
	within := flag.Duration("within", 10*time.Minute, "give up waiting after this long")
	ownTransports = flag.Bool("own-transports", false, "one HTTP transport per subscriber (as before the shared transport)")
	batch = flag.Int("batch", 0, "worker batch (0: the default)")
	flag.Parse()
	if *recv != "" {
		serveReceivers(*recv)
		return
	}
	if err := run(*n, *hosts, *blackhole, *bhHosts, *timeout, *within); err != nil {
		log.Fatal(err)
	}
}

// serveReceivers listens on h healthy and b blackholed loopback addresses,
// prints them ("healthy ADDR", "blackhole ADDR", then "ready") and serves
// until stdin closes.
func serveReceivers(spec string) {
	h, b, _ := strings.Cut(spec, ",")
	nh, _ := strconv.Atoi(h)
	nb, _ := strconv.Atoi(b)
	var got atomic.Int64
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		got.Add(1)
		w.WriteHeader(http.StatusNoContent)
	})
	for i := range nh {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.1.%d.%d:0", i/250, 1+i%250))
		if err != nil {
			log.Fatal(err)
		}
		go func() { _ = (&http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}).Serve(ln) }()
		fmt.Println("healthy", ln.Addr())
	}
	for i := range nb {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.2.%d.%d:0", i/250, 1+i%250))
		if err != nil {
			log.Fatal(err)
		}
		go func() {
			var held []net.Conn
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				held = append(held, c) // accepted, never read, never answered
			}
		}()
		fmt.Println("blackhole", ln.Addr())
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	fmt.Fprintln(os.Stderr, "receivers got", got.Load(), "requests")
}

// peak samples the process's RSS, heap and goroutines.
type peak struct {
	rss, heap uint64
	gor       int
}

func (p *peak) sample() {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	p.heap = max(p.heap, ms.HeapInuse)
	p.gor = max(p.gor, runtime.NumGoroutine())
	p.rss = max(p.rss, rss())
}

// rss is the process's resident set size, from /proc.
func rss() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func mib(b uint64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

func run(n, hosts int, blackhole float64, bhHosts int, timeout, within time.Duration) error {
	ctx := context.Background()
	nBlack := int(float64(n) * blackhole)
	if nBlack == 0 {
		bhHosts = 0
	}
	// Receivers in a child process.
	child := exec.Command(os.Args[0], "-serve-receivers", fmt.Sprintf("%d,%d", hosts, bhHosts))
	child.Stderr = os.Stderr
	stdin, _ := child.StdinPipe()
	out, _ := child.StdoutPipe()
	if err := child.Start(); err != nil {
		return err
	}
	defer func() { stdin.Close(); _ = child.Wait() }()
	var healthy, black []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		kind, addr, _ := strings.Cut(sc.Text(), " ")
		switch kind {
		case "healthy":
			healthy = append(healthy, addr)
		case "blackhole":
			black = append(black, addr)
		}
		if kind == "ready" {
			break
		}
	}

	dir, err := os.MkdirTemp("", "lookout-fanout-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	clk := clock.Real{}
	db, err := store.Open(ctx, filepath.Join(dir, "lookout.db"), store.Options{Now: clk.Now, Logger: logger})
	if err != nil {
		return err
	}
	defer db.Close()
	cfg, err := config.Parse("fanout.yaml", []byte(orgYAML), nil)
	if err != nil {
		return err
	}
	if _, err := db.Apply(ctx, cfg); err != nil {
		return err
	}
	org := cfg.Organizations[0]
	egress := probes.NewEgress([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")})

	// Subscribers, active, straight into the database.
	setup := time.Now()
	page := subscriber.Page{ID: "status", Name: "Acme Status", URL: "https://status.example.net",
		Components: map[string]subscriber.Component{"api": {ID: "api", Name: "API"}}}
	var subs []subscriber.Subscription
	notifiers := map[string]notify.Notifier{}
	var shared *http.Transport // as lookout serve does: one per organization
	if !*ownTransports {
		shared = subscriber.NewTransport(egress)
	}
	for i := range n {
		// Blackholed subscribers are spread evenly among the others, as
		// they would be in the table (and in the outbox's order).
		addr := healthy[i%len(healthy)]
		if nBlack > 0 && i%(n/nBlack) == 0 && i/(n/nBlack) < nBlack {
			addr = black[(i/(n/nBlack))%len(black)]
		}
		id := fmt.Sprintf("sub_%05d", i)
		url := fmt.Sprintf("http://%s/hook/%d", addr, i)
		secret := webhook.GenerateSecret()
		if err := db.CreateSubscriber(ctx, store.Subscriber{ID: id, Org: "acme", Kind: store.KindWebhook, URL: url, Secret: secret}, nil); err != nil {
			return err
		}
		if err := db.ConfirmSubscriber(ctx, id, clk.Now()); err != nil {
			return err
		}
		nt, err := subscriber.New(subscriber.Config{ID: id, URL: url, Secret: secret, Timeout: timeout, Transport: shared}, logger, egress, nil)
		if err != nil {
			return err
		}
		notifiers[subscriber.Channel(id)] = nt
		subs = append(subs, subscriber.Subscription{ID: id, Destination: subscriber.Destination(url), Unsubscribe: "https://status.example.net/unsubscribe/x"})
	}
	fmt.Printf("setup: %d subscribers (%d blackholed) over %d healthy and %d blackholed addresses in %s\n",
		n, nBlack, len(healthy), len(black), time.Since(setup).Round(time.Millisecond))

	worker, err := notify.NewWorker(notify.WorkerOptions{
		Outbox:    db,
		Notifiers: notifiers, Logger: logger, Timeout: timeout, Batch: *batch,
	})
	if err != nil {
		return err
	}
	eng := engine.New(engine.Options{Store: db, Logger: logger, Delivered: worker.Wake})
	var hooked atomic.Bool
	oc := engine.OrgConfig{Org: "acme", Config: org.IncidentConfig(), PageURL: page.URL,
		Subscribers: func(st incidents.State, effs []incidents.Effect, now time.Time) []notify.Delivery {
			if !hooked.Load() {
				return nil
			}
			return subscriber.Deliveries("acme", page, subs, st, effs, now)
		}}
	if err := eng.Configure(ctx, []engine.OrgConfig{oc}); err != nil {
		return err
	}
	runCtx, stop := context.WithCancel(ctx)
	engDone, workDone := make(chan error, 1), make(chan error, 1)
	go func() { engDone <- eng.Run(runCtx) }()
	go func() { workDone <- worker.Run(runCtx) }()
	defer func() { stop(); <-engDone; <-workDone }()

	// An incident, opened before the subscribers listen.
	if _, err := eng.Do(ctx, "acme", incidents.ProbeResult{Org: "acme", Probe: "api-status", Region: "local",
		Outcome: incidents.Down, At: clk.Now(), Error: "connection refused"}); err != nil {
		return err
	}
	st, _ := eng.State("acme")
	var incID string
	for id := range st.Incidents {
		incID = id
	}
	if incID == "" {
		return fmt.Errorf("no incident opened")
	}
	runtime.GC()
	var pk peak
	pk.sample()
	base := pk
	fmt.Printf("before: RSS %s, heap %s, %d goroutines\n", mib(base.rss), mib(base.heap), base.gor)

	// The update.
	hooked.Store(true)
	start := time.Now()
	if _, err := eng.Do(ctx, "acme", incidents.PublicUpdate{ID: "bench-1", Incident: incID, Actor: "bench",
		Status: incidents.Identified, Body: "A node is down; failing over."}); err != nil {
		return err
	}
	queued := time.Since(start)
	depth, _, err := db.Stats(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("update committed with %d deliveries queued in %s\n", depth, queued.Round(time.Millisecond))
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var half, p99 time.Duration
	healthyRows := depth - nBlack
	for {
		<-tick.C
		pk.sample()
		left, _, err := db.Stats(ctx)
		if err != nil {
			return err
		}
		done := depth - left
		if half == 0 && done >= healthyRows/2 {
			half = time.Since(start)
		}
		if p99 == 0 && done >= healthyRows*99/100 {
			p99 = time.Since(start)
		}
		if left <= nBlack {
			break
		}
		if time.Since(start) > within {
			return fmt.Errorf("not delivered within %s: %d left", within, left)
		}
	}
	all := time.Since(start)
	fmt.Printf("healthy subscribers: 50%% in %s, 99%% in %s, 100%% (%d) in %s: %.0f deliveries/s\n",
		half.Round(time.Millisecond), p99.Round(time.Millisecond), healthyRows, all.Round(time.Millisecond), float64(healthyRows)/all.Seconds())
	fmt.Printf("peak during: RSS %s (+%s), heap %s (+%s), %d goroutines\n",
		mib(pk.rss), mib(pk.rss-min(pk.rss, base.rss)), mib(pk.heap), mib(pk.heap-min(pk.heap, base.heap)), pk.gor)
	return nil
}

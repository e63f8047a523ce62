// Command soak runs the real `lookout serve` binary under a steady, mixed
// load for a long time and watches it for leaks: 2,000 http probes against
// a loopback target (1,800 every 30 s, the 200 of the breaking component
// every 5 s), an incident every minute (one component's target
// breaks for 30 seconds, then recovers), 1,000 webhook subscribers on a
// loopback receiver getting every public change, and wrk with 64
// connections on the status page the whole time. Every 10 seconds it samples
// lookout's RSS and goroutines from /metrics; at the end it prints the
// samples, their slopes (least squares, the first minute left out as
// warm-up) and every error seen.
//
//	go build -o /tmp/lookout ./cmd/lookout && go run ./bench/soak -lookout /tmp/lookout -duration 15m
//
// Not run in CI: it takes as long as -duration and needs wrk (Debian
// package wrk).
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lookout-status/lookout/bench/internal/lookoutapi"
	"github.com/lookout-status/lookout/bench/internal/wrk"
)

const soakToken = "soak-admin-token-0123456789abcdef"

func main() {
	loopback := flag.Bool("serve-loopback", false, "internal: serve the probe target and the webhook receiver")
	bin := flag.String("lookout", "", "path to a built lookout binary (required)")
	dur := flag.Duration("duration", 15*time.Minute, "how long to run")
	nProbes := flag.Int("probes", 2000, "http probes")
	interval := flag.Duration("interval", 30*time.Second, "probe interval")
	nSubs := flag.Int("subscribers", 1000, "webhook subscribers")
	incidentEvery := flag.Duration("incident-every", time.Minute, "how often a component breaks (for half the period)")
	conns := flag.Int("connections", 64, "wrk connections on the page")
	sampleEvery := flag.Duration("sample-every", 10*time.Second, "how often RSS and goroutines are sampled")
	flag.Parse()
	if *loopback {
		serveLoopback()
		return
	}
	if *bin == "" {
		log.Fatal("-lookout is required")
	}
	if _, err := exec.LookPath("wrk"); err != nil {
		log.Fatal("wrk not installed (Debian package wrk)")
	}
	tdir, err := os.MkdirTemp("", "lookout-soak-")
	check(err)
	defer os.RemoveAll(tdir)
	self, err := os.Executable()
	check(err)

	// The target and the receiver run in their own process, so their CPU
	// and memory are not the driver's or lookout's.
	lb := exec.Command(self, "-serve-loopback")
	lbOut, err := lb.StdoutPipe()
	check(err)
	lb.Stderr = os.Stderr
	check(lb.Start())
	defer lb.Process.Kill()
	lbAddr, err := bufio.NewReader(lbOut).ReadString('\n')
	check(err)
	lbAddr = strings.TrimSpace(lbAddr)

	cfgPath := filepath.Join(tdir, "soak.yaml")
	check(os.WriteFile(cfgPath, []byte(soakConfig(lbAddr, *nProbes, *interval)), 0o600))
	logPath := filepath.Join(tdir, "lookout.log")
	logFile, err := os.Create(logPath)
	check(err)
	lk := exec.Command(*bin, "serve", "--config", cfgPath, "--data", filepath.Join(tdir, "data"), "--listen", "127.0.0.1:0")
	lk.Env = append(os.Environ(), "LOOKOUT_SOAK_TOKEN="+soakToken)
	lkOut, err := lk.StdoutPipe()
	check(err)
	lk.Stderr = logFile
	check(lk.Start())
	defer lk.Process.Kill()
	line, err := bufio.NewReader(lkOut).ReadString('\n')
	check(err)
	base := strings.TrimSpace(strings.TrimPrefix(line, "lookout: serving on "))
	fmt.Printf("lookout %s (pid %d): %d http probes every %s, target and receiver at %s\n", base, lk.Process.Pid, *nProbes, *interval, lbAddr)

	start := time.Now()
	var subErrs int
	for i := 0; i < *nSubs; i++ {
		body := fmt.Sprintf(`{"type":"webhook","url":"http://%s/hook/%d"}`, lbAddr, i)
		if err := call(http.MethodPost, base+"/api/v1/subscribers", body, http.StatusCreated, nil); err != nil {
			subErrs++
			if subErrs <= 3 {
				log.Printf("subscribe %d: %v", i, err)
			}
		}
	}
	fmt.Printf("%d subscribers created in %s (%d errors)\n", *nSubs-subErrs, time.Since(start).Round(time.Millisecond), subErrs)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	// An incident every incidentEvery: c0's target breaks for half of it.
	var breaks atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			check(control(lbAddr, "break"))
			breaks.Add(1)
			select {
			case <-stop:
				check(control(lbAddr, "fix"))
				return
			case <-time.After(*incidentEvery / 2):
			}
			check(control(lbAddr, "fix"))
			select {
			case <-stop:
				return
			case <-time.After(*incidentEvery / 2):
			}
		}
	}()
	// Visitors: wrk on the page for the whole run.
	wrkOut := make(chan []byte, 1)
	go func() {
		out, err := wrk.Run(base+"/", wrk.Options{Connections: *conns, Threads: 2, Duration: *dur})
		if err != nil {
			log.Printf("wrk: %v", err)
		}
		wrkOut <- out
	}()

	fmt.Printf("running for %s; a sample every %s\n\n%8s %10s %10s %12s %10s %10s\n", *dur, *sampleEvery, "t", "rss_MiB", "goroutines", "outbox_depth", "oldest_s", "load1")
	var samples []sample
	tick := time.NewTicker(*sampleEvery)
	end := time.After(*dur)
	var sampleErrs int
loop:
	for {
		select {
		case <-end:
			break loop
		case <-tick.C:
			s, err := scrape(base, time.Since(start))
			if err != nil {
				sampleErrs++
				log.Printf("sample: %v", err)
				continue
			}
			samples = append(samples, s)
			fmt.Printf("%8s %10.1f %10.0f %12.0f %10.0f %10s\n", s.t.Round(time.Second), s.rss/(1<<20), s.goroutines, s.outbox, s.oldest, loadavg())
		}
	}
	tick.Stop()
	close(stop)
	wg.Wait()
	wrkText := <-wrkOut

	// Results.
	fmt.Println()
	warm := time.Minute
	if *dur <= 3*time.Minute {
		warm = 30 * time.Second
	}
	var after []sample
	for _, s := range samples {
		if s.t >= warm {
			after = append(after, s)
		}
	}
	rssSlope := slope(after, func(s sample) float64 { return s.rss / (1 << 20) })
	gSlope := slope(after, func(s sample) float64 { return s.goroutines })
	fmt.Printf("slopes after %s of warm-up (%d samples): RSS %+.2f MiB/min, goroutines %+.2f /min\n", warm, len(after), rssSlope, gSlope)
	if len(after) > 0 {
		fmt.Printf("RSS from %.1f to %.1f MiB (max %.1f); goroutines from %.0f to %.0f (max %.0f)\n",
			after[0].rss/(1<<20), after[len(after)-1].rss/(1<<20), maxOf(after, func(s sample) float64 { return s.rss })/(1<<20),
			after[0].goroutines, after[len(after)-1].goroutines, maxOf(after, func(s sample) float64 { return s.goroutines }))
	}
	fmt.Printf("wrk on /: %s\n", wrkSummary(wrkText))

	var incidents struct {
		Incidents []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"incidents"`
	}
	check(call(http.MethodGet, base+"/api/v1/incidents?status=all&limit=200", "", http.StatusOK, &incidents))
	resolved := 0
	for _, i := range incidents.Incidents {
		if i.Status == "resolved" {
			resolved++
		}
	}
	fmt.Printf("incidents: %d opened (%d breaks), %d resolved\n", len(incidents.Incidents), breaks.Load(), resolved)
	var st receiverStats
	resp, err := http.Get("http://" + lbAddr + "/stats")
	check(err)
	check(json.NewDecoder(resp.Body).Decode(&st))
	resp.Body.Close()
	fmt.Printf("webhooks: %d requests, %d distinct webhook-ids, %d unsigned or malformed\n", st.Requests, st.DistinctIDs, st.Bad)
	final, err := scrape(base, time.Since(start))
	if err == nil {
		fmt.Printf("outbox at the end: %.0f pending\n", final.outbox)
	}
	lk.Process.Signal(os.Interrupt)
	lk.Wait()
	logFile.Close()
	errLines := grepLog(logPath)
	fmt.Printf("lookout log: %d lines at level ERROR, %d sampling errors, %d subscribe errors\n", len(errLines), sampleErrs, subErrs)
	for i, l := range errLines {
		if i == 10 {
			fmt.Printf("  … %d more\n", len(errLines)-10)
			break
		}
		fmt.Println("  " + l)
	}
}

func soakConfig(addr string, n int, interval time.Duration) string {
	var b strings.Builder
	b.WriteString("scheduler: {max_concurrency: 256}\norganizations:\n  - id: soak\n    name: Soak\n    egress: {allow: [\"127.0.0.0/8\"]}\n")
	b.WriteString("    incidents: {quiet_period: 10s}\n")
	b.WriteString("    pages:\n      - {id: status, name: Soak Status}\n")
	b.WriteString("    users: [{id: ops, name: Ops}]\n")
	b.WriteString("    tokens:\n      - {id: soak, user: ops, token: \"${LOOKOUT_SOAK_TOKEN}\", role: admin}\n")
	b.WriteString("    components:\n")
	for c := 0; c < 10; c++ {
		fmt.Fprintf(&b, "      - {id: c%d, name: Component %d}\n", c, c)
	}
	b.WriteString("    probes:\n")
	for i := 0; i < n; i++ {
		if i%10 == 0 {
			// c0 breaks and recovers: its probes run every 5s, so each
			// break opens an incident within seconds and each recovery
			// resolves it after the quiet period.
			fmt.Fprintf(&b, "      - {id: p%d, component: c0, interval: 5s, timeout: 2s, failure_threshold: 1, http: {url: \"http://%s/flaky?p=%d\"}}\n", i, addr, i)
			continue
		}
		fmt.Fprintf(&b, "      - {id: p%d, component: c%d, interval: %s, timeout: 2s, http: {url: \"http://%s/status?p=%d\"}}\n", i, i%10, interval, addr, i)
	}
	return b.String()
}

type receiverStats struct {
	Requests    int64 `json:"requests"`
	DistinctIDs int   `json:"distinct_ids"`
	Bad         int64 `json:"bad"`
}

// serveLoopback is the probe target (/status, /flaky broken by
// /ctl/break, fixed by /ctl/fix) and the webhook receiver (/hook/N,
// answering 204, /stats).
func serveLoopback() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	fmt.Println(ln.Addr().String())
	var broken atomic.Bool
	var requests, bad atomic.Int64
	var mu sync.Mutex
	ids := map[string]bool{}
	body := []byte(`{"status":"ok"}`)
	check(http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/status" || r.URL.Path == "/flaky":
			w.Header().Set("Content-Type", "application/json")
			if r.URL.Path == "/flaky" && broken.Load() {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
			w.Write(body)
		case r.URL.Path == "/ctl/break":
			broken.Store(true)
		case r.URL.Path == "/ctl/fix":
			broken.Store(false)
		case strings.HasPrefix(r.URL.Path, "/hook/"):
			requests.Add(1)
			b, _ := io.ReadAll(r.Body)
			id := r.Header.Get("webhook-id")
			if id == "" || r.Header.Get("webhook-signature") == "" || !json.Valid(b) {
				bad.Add(1)
			}
			mu.Lock()
			ids[r.URL.Path+" "+id] = true
			mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
		case r.URL.Path == "/stats":
			mu.Lock()
			st := receiverStats{Requests: requests.Load(), DistinctIDs: len(ids), Bad: bad.Load()}
			mu.Unlock()
			json.NewEncoder(w).Encode(st)
		default:
			http.NotFound(w, r)
		}
	})))
}

func control(addr, what string) error {
	resp, err := http.Post("http://"+addr+"/ctl/"+what, "", nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

type sample struct {
	t                               time.Duration
	rss, goroutines, outbox, oldest float64
}

var metricRe = regexp.MustCompile(`(?m)^(process_resident_memory_bytes|go_goroutines|lookout_outbox_depth|lookout_outbox_oldest_pending_seconds) ([0-9.e+]+)$`)

func scrape(base string, t time.Duration) (sample, error) {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return sample{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return sample{}, err
	}
	s := sample{t: t}
	for _, m := range metricRe.FindAllSubmatch(b, -1) {
		v, _ := strconv.ParseFloat(string(m[2]), 64)
		switch {
		case bytes.Equal(m[1], []byte("process_resident_memory_bytes")):
			s.rss = v
		case bytes.Equal(m[1], []byte("go_goroutines")):
			s.goroutines = v
		case bytes.Equal(m[1], []byte("lookout_outbox_depth")):
			s.outbox = v
		default:
			s.oldest = v
		}
	}
	if s.rss == 0 {
		return s, fmt.Errorf("no process_resident_memory_bytes in /metrics")
	}
	return s, nil
}

// slope is the least-squares slope of f over the samples, per minute.
func slope(ss []sample, f func(sample) float64) float64 {
	if len(ss) < 2 {
		return 0
	}
	var sx, sy, sxx, sxy float64
	for _, s := range ss {
		x := s.t.Minutes()
		y := f(s)
		sx, sy, sxx, sxy = sx+x, sy+y, sxx+x*x, sxy+x*y
	}
	n := float64(len(ss))
	return (n*sxy - sx*sy) / (n*sxx - sx*sx)
}

func maxOf(ss []sample, f func(sample) float64) float64 {
	m := 0.0
	for _, s := range ss {
		m = max(m, f(s))
	}
	return m
}

// wrkSummary is what wrk's report says, in one line (as far as it goes
// when it lacks Requests/sec).
func wrkSummary(out []byte) string {
	r, _ := wrk.Parse(out)
	return r.String()
}

func grepLog(path string) []string {
	b, err := os.ReadFile(path)
	check(err)
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, `"level":"ERROR"`) {
			out = append(out, l)
		}
	}
	return out
}

// call makes an API request with the soak's token, expecting want.
func call(method, url, body string, want int, into any) error {
	return lookoutapi.Call(method, url, soakToken, body, want, into)
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

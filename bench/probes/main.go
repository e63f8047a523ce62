// Command probes benchmarks Lookout's probe pipeline end to end: it starts a
// loopback HTTP target in a child process, writes a config of N http probes,
// runs the real `lookout serve` binary against it for a while, and reports
// scheduler lag p99, CPU per probe (all-in: scheduling, request, assertions,
// storing the result, rollups), RSS, DB growth per day and the time until
// every probe has run once. In the same run it measures the floor: the CPU
// of a bare net/http GET on a fresh connection to the same target.
//
//	go build -o /tmp/lookout ./cmd/lookout && go run ./bench/probes -lookout /tmp/lookout
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/lookout-status/lookout/probes"
)

func main() {
	target := flag.Bool("serve-target", false, "internal: serve the loopback target")
	bin := flag.String("lookout", "", "path to a built lookout binary (required)")
	n := flag.Int("probes", 5000, "number of http probes")
	interval := flag.Duration("interval", 30*time.Second, "probe interval")
	dur := flag.Duration("duration", 3*time.Minute, "how long to run lookout serve")
	floorN := flag.Int("floor", 3000, "bare GETs for the floor measurement")
	extra := flag.String("serve-args", "", "extra arguments for lookout serve (e.g. --pprof 127.0.0.1:6060)")
	flag.Parse()
	if *target {
		serveTarget()
		return
	}
	if *bin == "" {
		log.Fatal("-lookout is required")
	}
	tdir, err := os.MkdirTemp("", "lookout-bench-")
	check(err)
	defer os.RemoveAll(tdir)

	// The target runs in its own process so its CPU is not counted.
	self, err := os.Executable()
	check(err)
	tcmd := exec.Command(self, "-serve-target")
	tout, err := tcmd.StdoutPipe()
	check(err)
	check(tcmd.Start())
	defer tcmd.Process.Kill()
	addr, err := bufio.NewReader(tout).ReadString('\n')
	check(err)
	addr = strings.TrimSpace(addr)
	fmt.Printf("target: http://%s\n", addr)

	floor := measureFloor(addr, *floorN)
	fmt.Printf("floor: bare net/http GET on a fresh connection: %.0f µs CPU per request (%d requests back to back)\n", floor.Seconds()*1e6, *floorN)
	rate := float64(*n) / interval.Seconds()
	gap := time.Duration(float64(time.Second) / rate)
	paced := measureArrivals(addr, rate, gap, 15*time.Second)
	fmt.Printf("paced floor: the same GET, one goroutine each, %.0f/s spread evenly (one every %s): %.0f µs CPU per request\n", rate, gap.Round(10*time.Microsecond), paced.Seconds()*1e6)
	burst := measureArrivals(addr, rate, probes.SlotGrain, 15*time.Second)
	fmt.Printf("burst floor: the same GET, one goroutine each, in bursts every %s at %.0f/s (the probes' arrival pattern): %.0f µs CPU per request\n", probes.SlotGrain, rate, burst.Seconds()*1e6)

	cfgPath := filepath.Join(tdir, "bench.yaml")
	check(os.WriteFile(cfgPath, []byte(benchConfig(addr, *n, *interval)), 0o600))
	data := filepath.Join(tdir, "data")
	lcmd := exec.Command(*bin, append([]string{"serve", "--config", cfgPath, "--data", data, "--listen", "127.0.0.1:0"}, strings.Fields(*extra)...)...)
	lout, err := lcmd.StdoutPipe()
	check(err)
	lcmd.Stderr = io.Discard
	start := time.Now()
	check(lcmd.Start())
	defer lcmd.Process.Kill()
	line, err := bufio.NewReader(lout).ReadString('\n')
	check(err)
	web := strings.TrimSpace(strings.TrimPrefix(line, "lookout: serving on "))
	fmt.Printf("lookout serve: %s (pid %d), %d probes every %s, running %s\n", web, lcmd.Process.Pid, *n, *interval, *dur)

	// Time until every probe has run once: poll the results counter until
	// then. After that nothing scrapes /metrics until the end, so the
	// steady-state CPU is Lookout's own (a 5,000-probe /metrics page costs
	// real CPU to render; Prometheus scrapes it every 15-60 s, not every
	// second).
	var allRan time.Duration
	deadline := start.Add(*dur)
	for time.Now().Before(deadline) && allRan == 0 {
		time.Sleep(2 * time.Second)
		if m := scrape(web); m.probesRun >= *n {
			allRan = time.Since(start)
			fmt.Printf("every probe ran once after %s (≤ 2 s polling)\n", allRan.Round(time.Second))
		}
	}
	// Steady state: from one interval after start (every probe in its rhythm).
	if w := time.Until(start.Add(*interval + 5*time.Second)); w > 0 {
		time.Sleep(w)
	}
	m0 := scrape(web)
	cpu0 := procCPU(lcmd.Process.Pid)
	time.Sleep(time.Until(deadline))
	cpu1 := procCPU(lcmd.Process.Pid)
	m := scrape(web)
	rss, hwm := procRSS(lcmd.Process.Pid)
	results0 := m0.results
	lcmd.Process.Signal(syscall.SIGTERM)
	lcmd.Wait()
	size := dirSize(data)

	runs := m.results - results0
	perProbe := time.Duration(float64(cpu1-cpu0) / runs)
	perDay := float64(*n) * (24 * time.Hour).Seconds() / interval.Seconds()
	fmt.Printf("steady state: %.0f runs, CPU per probe (all-in) %.0f µs = %.2f× floor, %.2f× burst floor, %.2f× paced floor\n", runs, perProbe.Seconds()*1e6, perProbe.Seconds()/floor.Seconds(), perProbe.Seconds()/burst.Seconds(), perProbe.Seconds()/paced.Seconds())
	fmt.Printf("scheduler lag p99: %s (p50 %s)\n", m.lagP99, m.lagP50)
	fmt.Printf("RSS now %d MB, peak %d MB\n", rss>>20, hwm>>20)
	fmt.Printf("results total %.0f, probes run at least once %d/%d\n", m.results, m.probesRun, *n)
	bytesPer := float64(size) / m.results
	fmt.Printf("DB %d MB after %.0f results = %.0f B/result → %.0f MB/day of raw results at %d probes/%s\n",
		size>>20, m.results, bytesPer, bytesPer*perDay/1e6, *n, *interval)
}

func benchConfig(addr string, n int, interval time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "scheduler: {max_concurrency: 256}\norganizations:\n  - id: bench\n    name: Bench\n    egress: {allow: [\"127.0.0.0/8\"]}\n    components:\n")
	for c := 0; c < 10; c++ {
		fmt.Fprintf(&b, "      - {id: c%d, name: Component %d}\n", c, c)
	}
	b.WriteString("    probes:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "      - id: p%d\n        component: c%d\n        interval: %s\n        timeout: 10s\n        http: {url: \"http://%s/status?p=%d\", expect: {status: [200], json: [{path: \"$.database\", equals: ok}]}, degraded_over: 800ms}\n",
			i, i%10, interval, addr, i)
	}
	return b.String()
}

func serveTarget() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	fmt.Println(ln.Addr().String())
	body := []byte(`{"status":"ok","database":"ok"}`)
	http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
}

// bareGET is the floor's request: a bare net/http GET on a fresh
// connection, body read and closed.
func bareGET(client *http.Client, addr string) {
	resp, err := client.Get("http://" + addr + "/status")
	check(err)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

func newFloorClient() *http.Client {
	return &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
}

func measureFloor(addr string, n int) time.Duration {
	client := newFloorClient()
	for i := 0; i < 200; i++ {
		bareGET(client, addr)
	}
	c0 := selfCPU()
	for i := 0; i < n; i++ {
		bareGET(client, addr)
	}
	return (selfCPU() - c0) / time.Duration(n)
}

// measureArrivals issues bare GETs at rate per second for d, a goroutine
// each, started every `every` in groups of what came due meanwhile: every
// 1/rate is one at a time spread evenly (cold caches and a wake-up per
// request, unlike a back-to-back loop); every probes.SlotGrain is the
// scheduler's bursts.
func measureArrivals(addr string, rate float64, every, d time.Duration) time.Duration {
	client := newFloorClient()
	var wg sync.WaitGroup
	c0 := selfCPU()
	n, owed := 0, 0.0
	for start := time.Now(); time.Since(start) < d; {
		for owed += rate * every.Seconds(); owed >= 1; owed-- {
			n++
			wg.Add(1)
			go func() {
				defer wg.Done()
				bareGET(client, addr)
			}()
		}
		time.Sleep(every)
	}
	wg.Wait()
	return (selfCPU() - c0) / time.Duration(n)
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	check(syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU reads utime+stime of pid from /proc (clock ticks of 10 ms).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	check(err)
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

func procRSS(pid int) (rss, hwm int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	check(err)
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			rss = v << 10
		case "VmHWM:":
			hwm = v << 10
		}
	}
	return
}

type metrics struct {
	results        float64
	probesRun      int
	lagP50, lagP99 time.Duration
}

// scrape reads the counters it needs from /metrics (text format).
func scrape(base string) metrics {
	resp, err := http.Get(base + "/metrics")
	check(err)
	defer resp.Body.Close()
	var m metrics
	probesSeen := map[string]bool{}
	type bucket struct{ le, n float64 }
	var lag []bucket
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "#") {
			continue
		}
		name, rest, _ := strings.Cut(l, " ")
		v, _ := strconv.ParseFloat(strings.TrimSpace(rest), 64)
		switch {
		case strings.HasPrefix(name, "lookout_probe_results_total{"):
			m.results += v
			if v > 0 {
				probesSeen[label(name, "probe")] = true
			}
		case strings.HasPrefix(name, "lookout_scheduler_lag_seconds_bucket{"):
			le := label(name, "le")
			f, err := strconv.ParseFloat(le, 64)
			if le == "+Inf" || err != nil {
				f = math.Inf(1)
			}
			lag = append(lag, bucket{f, v})
		}
	}
	m.probesRun = len(probesSeen)
	sort.Slice(lag, func(i, j int) bool { return lag[i].le < lag[j].le })
	if len(lag) > 0 {
		total := lag[len(lag)-1].n
		q := func(p float64) time.Duration {
			for _, b := range lag {
				if b.n >= p*total {
					if math.IsInf(b.le, 1) {
						return -1
					}
					return time.Duration(b.le * float64(time.Second))
				}
			}
			return -1
		}
		m.lagP50, m.lagP99 = q(0.5), q(0.99)
	}
	return m
}

func label(series, name string) string {
	i := strings.Index(series, name+`="`)
	if i < 0 {
		return ""
	}
	s := series[i+len(name)+2:]
	return s[:strings.IndexByte(s, '"')]
}

func dirSize(dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

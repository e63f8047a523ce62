// Command page benchmarks Lookout's public status page under a visitor
// flood: it starts a loopback probe target in a child process, runs the real
// `lookout serve` binary with N http probes at a short interval against it
// (one component's probes fail, so an incident is open), updates that
// incident through the API every second, and points wrk at the page, the
// Statuspage summary and a badge. In the same run it measures the ceiling:
// a plain Go server in its own process that returns the same bytes from
// memory with the same headers. It prints req/s and p99 latency of each side
// by side, and their ratio.
//
//	go build -o /tmp/lookout ./cmd/lookout && go run ./bench/page -lookout /tmp/lookout
//
// Not run in CI: it takes two minutes and needs wrk (Debian package wrk).
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
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/lookout-status/lookout/bench/internal/lookoutapi"
	"github.com/lookout-status/lookout/bench/internal/wrk"
)

const benchToken = "bench-page-token-0123456789abcdef"

func main() {
	target := flag.Bool("serve-target", false, "internal: serve the probes' loopback target")
	ceiling := flag.String("serve-ceiling", "", "internal: serve the recorded responses in this file")
	bin := flag.String("lookout", "", "path to a built lookout binary (required)")
	n := flag.Int("probes", 1000, "number of http probes")
	interval := flag.Duration("interval", 5*time.Second, "probe interval")
	dur := flag.Duration("duration", 20*time.Second, "wrk duration of each run")
	conns := flag.Int("connections", 64, "wrk connections")
	// One wrk thread by default: wrk, lookout and the ceiling share the
	// machine's two cores, and with two wrk threads the load generator
	// takes a core's worth of time slices from whichever server it
	// measures, which shows in the p99 of both (docs/PERFORMANCE.md).
	threads := flag.Int("threads", 1, "wrk threads")
	acceptEnc := flag.String("accept-encoding", "", `Accept-Encoding to send, e.g. "gzip, deflate, br, zstd" as browsers do; "" asks for the uncompressed bytes`)
	every := flag.Duration("update-every", time.Second, "how often the incident gets a public update; 0: never")
	rounds := flag.Int("rounds", 3, "rounds of runs; medians are reported")
	profile := flag.String("profile", "", "directory: save a CPU profile of lookout during each of its runs")
	lenv := flag.String("lookout-env", "", "space-separated VAR=value pairs for lookout's environment only (e.g. GOGC=200)")
	pathList := flag.String("paths", "/,/api/v2/summary.json,/badge/c0.svg", "comma-separated paths to load")
	flag.Parse()
	switch {
	case *target:
		serveTarget()
		return
	case *ceiling != "":
		serveCeiling(*ceiling)
		return
	}
	if *bin == "" {
		log.Fatal("-lookout is required")
	}
	if _, err := exec.LookPath("wrk"); err != nil {
		log.Fatal("wrk not installed (Debian package wrk)")
	}
	tdir, err := os.MkdirTemp("", "lookout-bench-page-")
	check(err)
	defer os.RemoveAll(tdir)
	self, err := os.Executable()
	check(err)

	taddr, tcmd := startChild(exec.Command(self, "-serve-target"))
	defer tcmd.Process.Kill()
	fmt.Printf("probe target: http://%s\n", taddr)

	cfgPath := filepath.Join(tdir, "bench.yaml")
	check(os.WriteFile(cfgPath, []byte(benchConfig(taddr, *n, *interval)), 0o600))
	args := []string{"serve", "--config", cfgPath, "--data", filepath.Join(tdir, "data"), "--listen", "127.0.0.1:0"}
	var pprofAddr string
	if *profile != "" {
		pprofAddr = freeAddr()
		args = append(args, "--pprof", pprofAddr)
		check(os.MkdirAll(*profile, 0o755))
	}
	lcmd := exec.Command(*bin, args...)
	lcmd.Env = append(append(os.Environ(), "LOOKOUT_BENCH_TOKEN="+benchToken), strings.Fields(*lenv)...)
	lout, err := lcmd.StdoutPipe()
	check(err)
	lcmd.Stderr = io.Discard
	check(lcmd.Start())
	defer lcmd.Process.Kill()
	line, err := bufio.NewReader(lout).ReadString('\n')
	check(err)
	web := strings.TrimSpace(strings.TrimPrefix(line, "lookout: serving on "))
	fmt.Printf("lookout serve: %s (pid %d), %d http probes every %s\n", web, lcmd.Process.Pid, *n, *interval)

	// An incident opens for the failing component; a responder posts an
	// update every second for the rest of the run, so the page changes
	// every second while the visitors read it.
	id := waitIncident(web, time.Minute)
	fmt.Printf("incident %s open; a public update every %s\n", id, *every)
	var updates, updateErrs atomic.Int64
	stop := make(chan struct{})
	updaterDone := make(chan struct{})
	go func() {
		defer close(updaterDone)
		if *every <= 0 {
			<-stop
			return
		}
		tick := time.NewTicker(*every)
		defer tick.Stop()
		statuses := []string{"identified", "monitoring"}
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			body := fmt.Sprintf(`{"status":%q,"body":"Update %d: the edge nodes are being replaced one by one."}`, statuses[i%2], i)
			if err := api(http.MethodPost, web+"/api/v1/incidents/"+id+"/updates", body, nil); err != nil {
				updateErrs.Add(1)
				continue
			}
			updates.Add(1)
		}
	}()
	// Let the first updates reach the page before recording it.
	time.Sleep(3 * time.Second)

	paths := strings.Split(*pathList, ",")
	var headers []string
	if *acceptEnc != "" {
		headers = []string{"Accept-Encoding: " + *acceptEnc}
	}
	// The ceiling serves what lookout serves at the moment of each run: the
	// incident gains an update every second, so the page and the summary
	// grow during the benchmark, and a recording from its start would make
	// the ceiling's bodies smaller than lookout's.
	recPath := filepath.Join(tdir, "responses.json")
	sizes := map[string][]int{}
	startCeiling := func(p string) (string, *exec.Cmd) {
		rec := record(web, []string{p}, headers)
		sizes[p] = append(sizes[p], len(rec[p].Body))
		b, err := json.Marshal(rec)
		check(err)
		check(os.WriteFile(recPath, b, 0o600))
		return startChild(exec.Command(self, "-serve-ceiling", recPath))
	}
	fmt.Println("ceiling: a plain Go server in its own process, serving lookout's bytes and headers of the moment from memory")
	fmt.Printf("wrk -c %d -t %d -d %s --latency%s; %d rounds, each path against lookout and the ceiling in turn (order alternates)\n\n",
		*conns, *threads, *dur, headerFlags(headers), *rounds)
	type side struct {
		runs []wrk.Result
		cpu  []time.Duration // lookout's CPU during its runs
	}
	look, ceil := map[string]*side{}, map[string]*side{}
	for _, p := range paths {
		look[p], ceil[p] = &side{}, &side{}
	}
	runLookout := func(round int, p string) {
		var prof chan []byte
		if pprofAddr != "" && round == 0 {
			prof = make(chan []byte, 1)
			go func() { prof <- cpuProfile(pprofAddr, *dur-2*time.Second) }()
		}
		c0 := procCPU(lcmd.Process.Pid)
		r := runWrk(web+p, *conns, *threads, *dur, headers)
		look[p].cpu = append(look[p].cpu, procCPU(lcmd.Process.Pid)-c0)
		look[p].runs = append(look[p].runs, r)
		if prof != nil {
			name := filepath.Join(*profile, "lookout"+strings.NewReplacer("/", "_", ".", "_").Replace(p)+".pprof")
			check(os.WriteFile(name, <-prof, 0o644))
			fmt.Printf("profile: %s\n", name)
		}
	}
	runCeiling := func(p string) {
		caddr, ccmd := startCeiling(p)
		c0 := procCPU(ccmd.Process.Pid)
		ceil[p].runs = append(ceil[p].runs, runWrk("http://"+caddr+p, *conns, *threads, *dur, headers))
		ceil[p].cpu = append(ceil[p].cpu, procCPU(ccmd.Process.Pid)-c0)
		ccmd.Process.Kill()
		ccmd.Wait()
	}
	for round := 0; round < *rounds; round++ {
		for _, p := range paths {
			if round%2 == 0 {
				runLookout(round, p)
				runCeiling(p)
			} else {
				runCeiling(p)
				runLookout(round, p)
			}
			l, c := look[p].runs[round], ceil[p].runs[round]
			fmt.Printf("round %d %-22s %6d B | lookout %7.0f req/s p99 %-9s (%.2f cores) | ceiling %7.0f req/s p99 %-9s (%.2f cores) | ratio %.2f | load %s\n",
				round+1, p, sizes[p][round], l.RPS, l.P99, look[p].cpu[round].Seconds()/dur.Seconds(), c.RPS, c.P99, ceil[p].cpu[round].Seconds()/dur.Seconds(), l.RPS/c.RPS, loadavg())
		}
	}
	close(stop)
	<-updaterDone
	fmt.Printf("\nincident updates posted during the run: %d (%d failed)\n\n", updates.Load(), updateErrs.Load())

	fmt.Printf("Medians of %d rounds:\n\n", *rounds)
	fmt.Println("| path | body (first–last run) | lookout req/s | lookout p99 | ceiling req/s | ceiling p99 | ratio (range over rounds) |")
	fmt.Println("| --- | --- | --- | --- | --- | --- | --- |")
	for _, p := range paths {
		l, c := look[p].runs, ceil[p].runs
		var ratios []float64
		for i := range l {
			ratios = append(ratios, l[i].RPS/c[i].RPS)
		}
		slices.Sort(ratios)
		fmt.Printf("| `%s` | %d–%d B | %.0f | %s | %.0f | %s | **%.2f** (%.2f–%.2f) |\n",
			p, sizes[p][0], sizes[p][len(sizes[p])-1], median(l, func(r wrk.Result) float64 { return r.RPS }), time.Duration(median(l, func(r wrk.Result) float64 { return float64(r.P99) })),
			median(c, func(r wrk.Result) float64 { return r.RPS }), time.Duration(median(c, func(r wrk.Result) float64 { return float64(r.P99) })),
			ratios[len(ratios)/2], ratios[0], ratios[len(ratios)-1])
	}
	for _, p := range paths {
		for _, r := range append(append([]wrk.Result(nil), look[p].runs...), ceil[p].runs...) {
			if len(r.Errors) > 0 {
				fmt.Printf("%s: %s\n", p, strings.Join(r.Errors, "; "))
			}
		}
	}
	lcmd.Process.Signal(syscall.SIGTERM)
	lcmd.Wait()
}

// median of f over rs (the upper one of an even count).
func median(rs []wrk.Result, f func(wrk.Result) float64) float64 {
	vs := make([]float64, len(rs))
	for i, r := range rs {
		vs[i] = f(r)
	}
	slices.Sort(vs)
	return vs[len(vs)/2]
}

func headerFlags(headers []string) string {
	var b strings.Builder
	for _, h := range headers {
		fmt.Fprintf(&b, " -H '%s'", h)
	}
	return b.String()
}

// benchConfig is one page of ten components in two groups; the probes of
// c9 hit a path that fails, so an incident is open throughout.
func benchConfig(addr string, n int, interval time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "scheduler: {max_concurrency: 256}\norganizations:\n  - id: bench\n    name: Bench\n    egress: {allow: [\"127.0.0.0/8\"]}\n")
	b.WriteString("    pages:\n      - {id: status, name: Bench Status, accent: \"#0b5fff\"}\n")
	b.WriteString("    users: [{id: ops, name: Ops}]\n")
	b.WriteString("    tokens:\n      - {id: bench, user: ops, token: \"${LOOKOUT_BENCH_TOKEN}\", role: responder}\n")
	b.WriteString("    components:\n")
	for c := 0; c < 10; c++ {
		group := "Cloud"
		if c >= 5 {
			group = "Edge"
		}
		fmt.Fprintf(&b, "      - {id: c%d, name: Component %d, description: Serves part %d of the product, group: %s}\n", c, c, c, group)
	}
	b.WriteString("    probes:\n")
	for i := 0; i < n; i++ {
		path := "/status"
		if i%10 == 9 {
			path = "/down"
		}
		fmt.Fprintf(&b, "      - {id: p%d, component: c%d, interval: %s, timeout: 2s, http: {url: \"http://%s%s?p=%d\"}}\n",
			i, i%10, interval, addr, path, i)
	}
	return b.String()
}

func serveTarget() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	fmt.Println(ln.Addr().String())
	body := []byte(`{"status":"ok","database":"ok"}`)
	check(http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/down" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		w.Write(body)
	})))
}

// response is one recorded answer of lookout.
type response struct {
	Header http.Header
	Body   []byte
}

// record fetches each path once from lookout, as wrk will ask for it.
func record(base string, paths, headers []string) map[string]response {
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	out := map[string]response{}
	for _, p := range paths {
		req, err := http.NewRequest(http.MethodGet, base+p, nil)
		check(err)
		for _, h := range headers {
			k, v, _ := strings.Cut(h, ": ")
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		check(err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		check(err)
		if resp.StatusCode != http.StatusOK {
			log.Fatalf("GET %s: %d %s", p, resp.StatusCode, body)
		}
		h := resp.Header.Clone()
		h.Del("Date")
		h.Del("Content-Length")
		out[p] = response{Header: h, Body: body}
	}
	return out
}

// serveCeiling serves the recorded responses from memory: the fastest a Go
// server can answer these requests on this machine.
func serveCeiling(path string) {
	b, err := os.ReadFile(path)
	check(err)
	var rec map[string]response
	check(json.Unmarshal(b, &rec))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	fmt.Println(ln.Addr().String())
	check(http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp, ok := rec[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		for k, v := range resp.Header {
			h[k] = v
		}
		h.Set("Content-Length", strconv.Itoa(len(resp.Body)))
		w.WriteHeader(http.StatusOK)
		w.Write(resp.Body)
	})))
}

// startChild starts cmd and reads the address it prints first.
func startChild(cmd *exec.Cmd) (string, *exec.Cmd) {
	out, err := cmd.StdoutPipe()
	check(err)
	cmd.Stderr = os.Stderr
	check(cmd.Start())
	addr, err := bufio.NewReader(out).ReadString('\n')
	check(err)
	return strings.TrimSpace(addr), cmd
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	defer ln.Close()
	return ln.Addr().String()
}

// api calls the incident actions API with the bench's token.
func api(method, url, body string, into any) error {
	return lookoutapi.Call(method, url, benchToken, body, http.StatusOK, into)
}

func waitIncident(base string, within time.Duration) string {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		var list struct {
			Incidents []struct {
				ID string `json:"id"`
			} `json:"incidents"`
		}
		if err := api(http.MethodGet, base+"/api/v1/incidents?status=open", "", &list); err == nil && len(list.Incidents) > 0 {
			return list.Incidents[0].ID
		}
		time.Sleep(500 * time.Millisecond)
	}
	log.Fatalf("no incident opened within %s", within)
	return ""
}

func runWrk(url string, conns, threads int, dur time.Duration, headers []string) wrk.Result {
	out, err := wrk.Run(url, wrk.Options{Connections: conns, Threads: threads, Duration: dur, Headers: headers})
	if err != nil {
		log.Fatalf("wrk %s: %v\n%s", url, err, out)
	}
	r, err := wrk.Parse(out)
	if err != nil {
		log.Fatalf("wrk %s: %v:\n%s", url, err, out)
	}
	return r
}

// cpuProfile fetches a CPU profile of lookout over d.
func cpuProfile(addr string, d time.Duration) []byte {
	resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, int(d.Seconds())))
	check(err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	check(err)
	return b
}

// procCPU reads utime+stime of pid from /proc (clock ticks of 10 ms).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	check(err)
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// loadavg is the machine's 1-minute load average: other work on a shared
// machine shows here, and makes a round's figures worth less.
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

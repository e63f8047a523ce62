// Command detect measures detection latency end to end: the time from a
// service breaking to the first page leaving Lookout. It runs the real
// `lookout serve` binary with N independent components, each probed every
// 10 s with failure_threshold 2 against its own loopback endpoint, breaks
// each endpoint at a random moment, and timestamps the signed webhook that
// announces its incident at a loopback receiver. Goal: p99 under
// interval × threshold + 1 s = 21 s.
//
//	go build -o /tmp/lookout ./cmd/lookout && go run ./bench/detect -lookout /tmp/lookout
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

func main() {
	bin := flag.String("lookout", "", "path to a built lookout binary (required)")
	n := flag.Int("components", 20, "independent components, one probe each")
	interval := flag.Duration("interval", 10*time.Second, "probe interval")
	flag.Parse()
	if *bin == "" {
		log.Fatal("-lookout is required")
	}
	dir, err := os.MkdirTemp("", "lookout-detect-")
	check(err)
	defer os.RemoveAll(dir)

	var mu sync.Mutex
	broken := map[int]time.Time{}
	paged := map[string]time.Time{}
	target := listen(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var i int
		fmt.Sscanf(r.URL.Path, "/t%d", &i)
		mu.Lock()
		_, down := broken[i]
		mu.Unlock()
		if down {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok")
	}))
	receiver := listen(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		at := time.Now()
		var env struct {
			Type string `json:"type"`
			Data struct {
				Components []struct{ ID string } `json:"components"`
			} `json:"data"`
		}
		json.NewDecoder(r.Body).Decode(&env)
		if env.Type == "incident.triggered" {
			mu.Lock()
			for _, c := range env.Data.Components {
				if _, ok := paged[c.ID]; !ok {
					paged[c.ID] = at
				}
			}
			mu.Unlock()
		}
		w.WriteHeader(http.StatusNoContent)
	}))

	var b strings.Builder
	fmt.Fprintf(&b, "organizations:\n  - id: bench\n    name: Bench\n    egress: {allow: [\"127.0.0.0/8\"]}\n    incidents: {grouping_window: 0s}\n")
	fmt.Fprintf(&b, "    notifiers:\n      - {id: hook, webhook: {url: \"http://%s/hook\", secret: \"${WH_SECRET}\"}}\n    components:\n", receiver)
	for i := 0; i < *n; i++ {
		fmt.Fprintf(&b, "      - {id: c%d, name: C%d}\n", i, i)
	}
	b.WriteString("    probes:\n")
	for i := 0; i < *n; i++ {
		fmt.Fprintf(&b, "      - {id: p%d, component: c%d, interval: %s, timeout: 2s, failure_threshold: 2, http: {url: \"http://%s/t%d\"}}\n", i, i, interval, target, i)
	}
	cfg := filepath.Join(dir, "detect.yaml")
	check(os.WriteFile(cfg, []byte(b.String()), 0o600))
	cmd := exec.Command(*bin, "serve", "--config", cfg, "--data", filepath.Join(dir, "data"), "--listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "WH_SECRET=whsec_"+"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	out, err := cmd.StdoutPipe()
	check(err)
	cmd.Stderr = io.Discard
	check(cmd.Start())
	defer cmd.Process.Kill()
	_, err = bufio.NewReader(out).ReadString('\n')
	check(err)

	// Let every probe settle (two intervals), then break each endpoint at a
	// random moment within the next interval.
	time.Sleep(2 * *interval)
	for _, i := range rand.Perm(*n) {
		time.Sleep(time.Duration(rand.Int64N(int64(*interval) / int64(*n))))
		mu.Lock()
		broken[i] = time.Now()
		mu.Unlock()
	}
	deadline := time.Now().Add(3 * *interval)
	for time.Now().Before(deadline) {
		mu.Lock()
		done := len(paged) == *n
		mu.Unlock()
		if done {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	var lat []time.Duration
	for i, at := range broken {
		if p, ok := paged[fmt.Sprintf("c%d", i)]; ok {
			lat = append(lat, p.Sub(at))
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) == 0 {
		log.Fatal("no page arrived")
	}
	q := func(p float64) time.Duration { return lat[int(p*float64(len(lat)-1))] }
	fmt.Printf("detection latency over %d/%d outages (interval %s, threshold 2): min %s p50 %s p99 %s max %s; goal p99 < %s\n",
		len(lat), *n, interval, q(0).Round(time.Millisecond), q(0.5).Round(time.Millisecond), q(0.99).Round(time.Millisecond),
		lat[len(lat)-1].Round(time.Millisecond), 2**interval+time.Second)
}

func listen(h http.Handler) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	go http.Serve(ln, h)
	return ln.Addr().String()
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

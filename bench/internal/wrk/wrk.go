// Package wrk runs wrk (Debian package wrk) and reads its report, for the
// bench commands.
package wrk

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Options say how hard wrk pushes.
type Options struct {
	Connections, Threads int
	Duration             time.Duration // whole seconds
	Headers              []string      // "Name: value"
}

// Run runs wrk with --latency on url and returns its report (stdout and
// stderr).
func Run(url string, o Options) ([]byte, error) {
	args := []string{"-c", strconv.Itoa(o.Connections), "-t", strconv.Itoa(o.Threads),
		"-d", fmt.Sprintf("%ds", int(o.Duration.Seconds())), "--latency"}
	for _, h := range o.Headers {
		args = append(args, "-H", h)
	}
	return exec.Command("wrk", append(args, url)...).CombinedOutput()
}

// Result is what a report says.
type Result struct {
	Requests string // total, as wrk prints it; "" when missing
	RPS      float64
	P99      time.Duration
	Errors   []string // non-2xx responses and socket errors, as wrk reports them
}

var (
	reqsRe = regexp.MustCompile(`(\d+) requests in`)
	rpsRe  = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	p99Re  = regexp.MustCompile(`\s99%\s+([0-9.]+)(us|ms|s)`)
	errsRe = regexp.MustCompile(`(?m)^\s*(Non-2xx or 3xx responses: \d+|Socket errors: .*)$`)
)

// Parse reads a report: what it finds, and an error when it has no
// Requests/sec.
func Parse(out []byte) (Result, error) {
	var r Result
	if m := reqsRe.FindSubmatch(out); m != nil {
		r.Requests = string(m[1])
	}
	if m := p99Re.FindSubmatch(out); m != nil {
		v, _ := strconv.ParseFloat(string(m[1]), 64)
		unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[string(m[2])]
		r.P99 = time.Duration(v * float64(unit)).Round(time.Microsecond)
	}
	for _, m := range errsRe.FindAllSubmatch(out, -1) {
		r.Errors = append(r.Errors, string(bytes.TrimSpace(m[1])))
	}
	m := rpsRe.FindSubmatch(out)
	if m == nil {
		return r, errors.New("no Requests/sec in the wrk report")
	}
	r.RPS, _ = strconv.ParseFloat(string(m[1]), 64)
	return r, nil
}

// String is a one-line summary: "N requests, R req/s, p99 D, no errors",
// leaving out what the report lacked.
func (r Result) String() string {
	var parts []string
	if r.Requests != "" {
		parts = append(parts, r.Requests+" requests")
	}
	if r.RPS > 0 {
		parts = append(parts, strconv.FormatFloat(r.RPS, 'f', 2, 64)+" req/s")
	}
	if r.P99 > 0 {
		parts = append(parts, "p99 "+r.P99.String())
	}
	errs := "no errors"
	if len(r.Errors) > 0 {
		errs = strings.Join(r.Errors, "; ")
	}
	return strings.Join(append(parts, errs), ", ")
}

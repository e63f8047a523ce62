package web

import (
	"testing"
	"time"

	"github.com/lookout-status/lookout/probes"
)

func TestComponentStatus(t *testing.T) {
	r := func(o probes.Outcome) Probe { return Probe{Last: &probes.Result{Outcome: o}} }
	pending := Probe{}
	for _, tc := range []struct {
		name   string
		probes []Probe
		want   string
	}{
		{"no probes", nil, "unknown"},
		{"no results yet", []Probe{pending, pending}, "unknown"},
		{"one up", []Probe{r(probes.Up)}, "operational"},
		{"all up", []Probe{r(probes.Up), r(probes.Up)}, "operational"},
		{"up and pending", []Probe{r(probes.Up), pending}, "operational"},
		{"one degraded", []Probe{r(probes.Up), r(probes.Degraded)}, "degraded_performance"},
		{"all degraded", []Probe{r(probes.Degraded), r(probes.Degraded)}, "degraded_performance"},
		{"some down", []Probe{r(probes.Up), r(probes.Down)}, "partial_outage"},
		{"down beats degraded", []Probe{r(probes.Degraded), r(probes.Down)}, "partial_outage"},
		{"all down", []Probe{r(probes.Down), r(probes.Down)}, "major_outage"},
		{"only down", []Probe{r(probes.Down)}, "major_outage"},
		{"down and pending", []Probe{r(probes.Down), pending}, "major_outage"},
		{"unknown outcome counts as down", []Probe{r("exploded"), r(probes.Up)}, "partial_outage"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := componentStatus(tc.probes); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestOverallStatus(t *testing.T) {
	for _, tc := range []struct {
		name     string
		statuses []string
		want     string
	}{
		{"nothing", nil, "unknown"},
		{"all unknown", []string{"unknown", "unknown"}, "unknown"},
		{"unknown and up", []string{"unknown", "operational"}, "operational"},
		{"worst wins", []string{"operational", "major_outage", "degraded_performance"}, "major_outage"},
		{"partial over degraded", []string{"degraded_performance", "partial_outage"}, "partial_outage"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := overallStatus(tc.statuses); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestFormatLatency(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "<1 ms"},
		{400 * time.Microsecond, "<1 ms"},
		{time.Millisecond, "1 ms"},
		{87*time.Millisecond + 600*time.Microsecond, "88 ms"},
		{9999 * time.Millisecond, "9999 ms"},
		{10 * time.Second, "10.0 s"},
		{12345 * time.Millisecond, "12.3 s"},
	} {
		t.Run(tc.d.String(), func(t *testing.T) {
			if got := formatLatency(tc.d); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

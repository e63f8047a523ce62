package main

import (
	"context"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

// flyConfig is the part of fly.toml Lookout must agree with.
type flyConfig struct {
	KillSignal   string `toml:"kill_signal"`
	KillTimeout  string `toml:"kill_timeout"`
	Experimental struct {
		Cmd []string `toml:"cmd"`
	} `toml:"experimental"`
	Mounts struct {
		Destination string `toml:"destination"`
	} `toml:"mounts"`
	HTTPService struct {
		InternalPort int  `toml:"internal_port"`
		ForceHTTPS   bool `toml:"force_https"`
		Checks       []struct {
			Path   string `toml:"path"`
			Method string `toml:"method"`
		} `toml:"checks"`
	} `toml:"http_service"`
	Metrics struct {
		Port int    `toml:"port"`
		Path string `toml:"path"`
	} `toml:"metrics"`
}

// TestFlyTOML parses fly.toml and runs the command it names, with the same
// flags, to check that the port, the health check and the metrics path it
// promises are what the binary really serves.
func TestFlyTOML(t *testing.T) {
	var fc flyConfig
	if _, err := toml.DecodeFile("../../fly.toml", &fc); err != nil {
		t.Fatalf("fly.toml does not parse: %v", err)
	}
	cmd := fc.Experimental.Cmd
	if len(cmd) == 0 || cmd[0] != "serve" {
		t.Fatalf("fly.toml runs %q, want lookout serve", cmd)
	}
	flags := map[string]string{}
	for i := 1; i+1 < len(cmd); i += 2 {
		flags[cmd[i]] = cmd[i+1]
	}
	_, port, err := net.SplitHostPort(flags["--listen"])
	if err != nil || port != "8080" || fc.HTTPService.InternalPort != 8080 || fc.Metrics.Port != 8080 {
		t.Fatalf("ports: --listen %q, internal_port %d, metrics port %d; want all 8080", flags["--listen"], fc.HTTPService.InternalPort, fc.Metrics.Port)
	}
	if flags["--data"] != fc.Mounts.Destination {
		t.Errorf("--data %q is not the volume's mount point %q", flags["--data"], fc.Mounts.Destination)
	}
	if !fc.HTTPService.ForceHTTPS {
		t.Error("force_https is off")
	}
	if fc.KillSignal != "SIGTERM" {
		t.Errorf("kill_signal %q, want SIGTERM (graceful shutdown)", fc.KillSignal)
	}
	// Shutdown takes up to 10 s for HTTP plus the scheduler's 10 s drain.
	if d, err := time.ParseDuration(fc.KillTimeout); err != nil || d < 20*time.Second {
		t.Errorf("kill_timeout %q, want ≥ 20s to cover graceful shutdown", fc.KillTimeout)
	}
	if len(fc.HTTPService.Checks) == 0 {
		t.Fatal("no health check")
	}

	// Run the same command, on loopback, with a test config.
	target := writeFile(t, "lookout.yaml", "organizations:\n  - id: acme\n    name: Acme\n    components: [{id: api, name: API}]\n")
	args := []string{"lookout"}
	for i := 0; i < len(cmd); i++ {
		a := cmd[i]
		switch a {
		case "--config":
			args, i = append(args, a, target), i+1
		case "--data":
			args, i = append(args, a, t.TempDir()), i+1
		case "--listen":
			args, i = append(args, a, "127.0.0.1:0"), i+1
		default:
			args = append(args, a)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, os.Getenv, &out, &errb) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	var base string
	for deadline := time.Now().Add(30 * time.Second); base == ""; {
		if i := strings.Index(out.String(), "http://"); i >= 0 {
			base = strings.Fields(out.String()[i:])[0]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start: %s", errb.String())
		}
		<-time.After(50 * time.Millisecond)
	}
	paths := []string{fc.Metrics.Path}
	for _, c := range fc.HTTPService.Checks {
		paths = append(paths, c.Path)
	}
	for _, p := range paths {
		resp, err := http.Get(base + p)
		if err != nil {
			t.Fatalf("GET %s: %v", p, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s (named in fly.toml): %d, want 200", p, resp.StatusCode)
		}
	}
}

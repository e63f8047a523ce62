package config

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// FuzzParse: Parse never panics, never returns both a config and an error,
// every error line carries FILE:LINE, and the value of a variable never shows
// in an error or a probe definition.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	const secret = "SeCrEtVaLuE"
	getenv := func(name string) string {
		if strings.HasPrefix(name, "EMPTY") {
			return ""
		}
		return secret
	}
	lineRE := regexp.MustCompile(`^fuzz\.yaml:[1-9][0-9]*: `)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, parseFn := range []func(string, []byte, func(string) string) (*Config, error){Parse, parseTest} {
			cfg, err := parseFn("fuzz.yaml", data, getenv)
			leakable := !strings.Contains(strings.ToLower(string(data)), strings.ToLower(secret))
			if err != nil {
				if cfg != nil {
					t.Fatalf("got a config and an error %v", err)
				}
				for _, line := range strings.Split(err.Error(), "\n") {
					if !lineRE.MatchString(line) {
						t.Fatalf("error line without file:line: %q", line)
					}
				}
				if leakable && strings.Contains(err.Error(), secret) {
					t.Fatalf("error leaks a variable's value: %v", err)
				}
				continue
			}
			if cfg == nil || len(cfg.Organizations) == 0 {
				t.Fatalf("got no error and config %+v", cfg)
			}
			for _, o := range cfg.Organizations {
				for _, p := range o.Probes {
					if p.Spec == nil || p.Kind == "" {
						t.Fatalf("probe %s without a spec", p.ID)
					}
					if leakable && strings.Contains(p.Definition, secret) {
						t.Fatalf("definition leaks a variable's value: %s", p.Definition)
					}
				}
			}
		}
	})
}

package config

import (
	"context"
	"errors"
	"time"

	"github.com/lookout-status/lookout/probes"
)

// The loader's tests use their own probe kinds so they do not depend on the
// fields of the real ones: "check" has a spec with every shape the decoder
// must handle, "ping" an empty one (as the placeholders have).

type checkSpec struct {
	URL         string            `yaml:"url"`
	Method      string            // no tag: the key is "method", as yaml.v3 does
	Headers     map[string]string `yaml:"headers"`
	Every       probes.Duration   `yaml:"every"`
	Wait        time.Duration     `yaml:"wait"`
	Expect      *checkExpect      `yaml:"expect"`
	Retries     uint8             `yaml:"retries"`
	Ratio       float64           `yaml:"ratio"`
	Skip        string            `yaml:"-"`
	checkCommon `yaml:",inline"`
}

type checkCommon struct {
	Insecure bool `yaml:"insecure"`
}

type checkExpect struct {
	Status []int       `yaml:"status"`
	JSON   []checkJSON `yaml:"json"`
}

type checkJSON struct {
	Path   string `yaml:"path"`
	Equals any    `yaml:"equals"`
}

func (s *checkSpec) Validate(eg *probes.Egress) error {
	var errs []error
	if s.URL == "" {
		errs = append(errs, probes.Errf("url", "is required"))
	} else if err := eg.CheckURL(s.URL); err != nil {
		errs = append(errs, probes.Errf("url", "%v", err))
	}
	if s.Expect != nil {
		for i, j := range s.Expect.JSON {
			if j.Path == "" {
				errs = append(errs, probes.PrefixErrors("expect.json", probes.Errf("["+itoa(i)+"].path", "is required")))
			}
		}
	}
	if s.Method == "ECHO" {
		errs = append(errs, probes.Errf("url", "cannot reach %q", s.URL))
	}
	if s.Method == "BAD" {
		errs = append(errs, errors.New("plain error without a field"))
	}
	return errors.Join(errs...)
}

func itoa(i int) string { return string(rune('0' + i)) }

func (s *checkSpec) Probe(ctx context.Context, r probes.Run) probes.Result {
	return probes.Result{Outcome: probes.Up}
}

type pingSpec struct{}

func (s *pingSpec) Validate(eg *probes.Egress) error { return nil }

func (s *pingSpec) Probe(ctx context.Context, r probes.Run) probes.Result {
	return probes.Result{Outcome: probes.Up}
}

var testKinds = map[string]probes.Kind{
	"check": {Name: "check", New: func() probes.Spec { return &checkSpec{} }},
	"ping":  {Name: "ping", New: func() probes.Spec { return &pingSpec{} }, Push: true},
}

func testLookup(name string) (probes.Kind, bool) {
	k, ok := testKinds[name]
	return k, ok
}

// parseTest parses with the test kinds.
func parseTest(name string, data []byte, getenv func(string) string) (*Config, error) {
	return parse(name, data, getenv, testLookup, []string{"check", "ping"})
}

func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

package config

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/lookout-status/lookout/probes"
)

// Shapes the real probe kinds may use; the decoder must handle them all.
type shapes struct {
	Name      string                `yaml:"name"`
	Every     probes.Duration       `yaml:"every"`
	Wait      *time.Duration        `yaml:"wait"`
	Prefix    netip.Prefix          `yaml:"prefix"`
	Addr      netip.Addr            `yaml:"addr"` // a TextUnmarshaler
	Pair      [2]int                `yaml:"pair"`
	Raw       []byte                `yaml:"raw"`
	Any       any                   `yaml:"any"`
	Steps     []shapeStep           `yaml:"steps"`
	ByName    map[string]*shapeStep `yaml:"by_name"`
	Hidden    string                `yaml:"-"`
	*Embedded `yaml:",inline"`
	Rest      map[string]string `yaml:",inline"`
}

type Embedded struct {
	Deep bool `yaml:"deep"`
}

type shapeStep struct {
	URL   string `yaml:"url"`
	Retry struct {
		Within probes.Duration `yaml:"within"`
	} `yaml:"retry"`
}

func decodeShapes(t *testing.T, src string) (shapes, []string) {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	probs := &problems{file: "s.yaml"}
	d := &decoder{probs: probs}
	var s shapes
	d.decode(doc.Content[0], reflect.ValueOf(&s).Elem(), "x")
	var got []string
	for _, e := range probs.list {
		got = append(got, e.Error())
	}
	return s, got
}

func TestDecodeShapes(t *testing.T) {
	s, errs := decodeShapes(t, `
name: n
every: 1m
wait: 2s
prefix: 192.0.2.7
addr: "::1"
pair: [1, 2]
raw: bytes
any: {a: [1, 2.5, true, null, x]}
steps:
  - url: https://a.example/
    retry: {within: 30s}
by_name:
  one: {url: https://b.example/}
deep: true
extra: kept
`)
	if len(errs) != 0 {
		t.Fatalf("got errors %v", errs)
	}
	wait := 2 * time.Second
	want := shapes{
		Name:     "n",
		Every:    probes.Duration(time.Minute),
		Wait:     &wait,
		Prefix:   netip.MustParsePrefix("192.0.2.7/32"),
		Addr:     netip.MustParseAddr("::1"),
		Pair:     [2]int{1, 2},
		Raw:      []byte("bytes"),
		Any:      map[string]any{"a": []any{1, 2.5, true, nil, "x"}},
		Steps:    []shapeStep{{URL: "https://a.example/"}},
		ByName:   map[string]*shapeStep{"one": {URL: "https://b.example/"}},
		Embedded: &Embedded{Deep: true},
		Rest:     map[string]string{"extra": "kept"},
	}
	want.Steps[0].Retry.Within = probes.Duration(30 * time.Second)
	if !reflect.DeepEqual(s, want) {
		t.Errorf("got  %+v\nwant %+v", s, want)
	}
}

func TestDecodeShapeErrors(t *testing.T) {
	type noRest struct {
		URL   string      `yaml:"url"`
		Skip  string      `yaml:"-"`
		Steps []shapeStep `yaml:"steps"`
	}
	cases := []struct {
		name string
		src  string
		want []string
	}{
		{"nested unknown", "steps:\n  - url: a\n    retry: {witin: 1s}\n",
			[]string{`s.yaml:3: x.steps[0].retry: unknown field "witin" (did you mean "within"?)`}},
		{"bad nested duration", "steps:\n  - retry: {within: 1d}\n",
			[]string{`s.yaml:2: x.steps[0].retry.within: invalid duration "1d" (use e.g. 30s, 5m, 1h30m)`}},
		{"yaml:- is not a key", "skip: x\n", []string{`s.yaml:1: x: unknown field "skip"`}},
		{"odd key quoted in path", "steps:\n  - {\"a.b\": 1}\n", []string{`s.yaml:2: x.steps[0]: unknown field "a.b"`}},
		{"non-string key", "? [a]\n: 1\n", []string{`s.yaml:1: x: keys must be strings, got a list`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var doc yaml.Node
			if err := yaml.Unmarshal([]byte(tc.src), &doc); err != nil {
				t.Fatal(err)
			}
			probs := &problems{file: "s.yaml"}
			var v noRest
			(&decoder{probs: probs}).decode(doc.Content[0], reflect.ValueOf(&v).Elem(), "x")
			var got []string
			for _, e := range probs.list {
				got = append(got, e.Error())
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
	_, errs := decodeShapes(t, "pair: [1]\naddr: nope\nwait: [1]\nany: {x: 1}\n")
	want := []string{
		`s.yaml:1: x.pair: expected a list of 2 items, got a list`,
		`s.yaml:2: x.addr: ParseAddr("nope"): unable to parse IP`,
		`s.yaml:3: x.wait: expected a duration, got a list`,
	}
	if strings.Join(errs, "\n") != strings.Join(want, "\n") {
		t.Errorf("got  %q\nwant %q", errs, want)
	}
}

func TestLocate(t *testing.T) {
	var doc yaml.Node
	src := "a:\n  b:\n    - x\n    - {\"k.y\": 1, c: [5]}\n"
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		path  string
		line  int
		found bool
	}{
		{"a", 1, true},
		{"a.b", 2, true},
		{"a.b[1]", 4, true},
		{`a.b[1]["k.y"]`, 4, true},
		{"a.b[1].c[0]", 4, true},
		{"a.b[7].c", 2, false},
		{"a.nope.deeper", 1, false},
		{`a.b[1]["unterminated`, 4, false},
	}
	for _, tc := range cases {
		n, line := locate(&doc, tc.path)
		if line != tc.line || (n != nil) != tc.found {
			t.Errorf("locate(%q): got line %d found %v, want %d %v", tc.path, line, n != nil, tc.line, tc.found)
		}
	}
}

func TestSuggest(t *testing.T) {
	names := []string{"url", "interval", "timeout", "failure_threshold", "headers"}
	cases := map[string]string{
		"urll": "url", "ulr": "url", "intervall": "interval", "timout": "timeout",
		"failureThreshold": "failure_threshold", "failure-threshold": "failure_threshold",
		"header": "headers", "zzz": "", "method": "", "u": "",
	}
	for in, want := range cases {
		if got := suggest(in, names); got != want {
			t.Errorf("suggest(%q): got %q, want %q", in, got, want)
		}
	}
}

func TestDecodeNullKeepsDefaults(t *testing.T) {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte("name:\nsteps: ~\nwait:\n"), &doc); err != nil {
		t.Fatal(err)
	}
	wait := time.Second
	s := shapes{Name: "preset", Steps: []shapeStep{{}}, Wait: &wait}
	probs := &problems{file: "s.yaml"}
	(&decoder{probs: probs}).decode(doc.Content[0], reflect.ValueOf(&s).Elem(), "x")
	if len(probs.list) != 0 || s.Name != "preset" || s.Steps != nil || s.Wait != nil {
		t.Errorf("got %+v (problems %v), want name kept, steps and wait cleared", s, probs.list)
	}
}

package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLimits(t *testing.T) {
	bomb := `organizations:
  - id: a
    name: &a lol
    x: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
    y: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
    z: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
`
	cases := []struct {
		name string
		data string
		want string // first line of the error
	}{
		{"too large", "#" + strings.Repeat("x", MaxFileSize), "big.yaml:1: file is larger than 4 MiB"},
		{"alias bomb", bomb, `big.yaml:4: organizations[0].x[0]: YAML aliases (*a) are not supported; write the value out`},
		{"deep nesting", strings.Repeat("[", 20000) + strings.Repeat("]", 20000), "big.yaml:1: invalid YAML: exceeded max depth of 10000"},
		{"empty", "", "big.yaml:1: file is empty: it needs at least one organization"},
		{"null document", "~\n", "big.yaml:1: file is empty: it needs at least one organization"},
		{"no organizations", "organizations: []\n", "big.yaml:1: organizations: at least one organization is required"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			cfg, err := parseTest("big.yaml", []byte(tc.data), nil)
			if err == nil || cfg != nil {
				t.Fatalf("got %v, %v; want an error and no config", cfg, err)
			}
			if first, _, _ := strings.Cut(err.Error(), "\n"); first != tc.want {
				t.Errorf("got  %s\nwant %s", first, tc.want)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %s", d)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "lookout.yaml")
	if err := os.WriteFile(good, []byte("organizations:\n  - id: acme\n    components: [{id: api}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(good, nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if cfg.Path != good || cfg.Organizations[0].Components[0].ID != "api" {
		t.Errorf("got %+v", cfg)
	}

	_, err = Load(filepath.Join(dir, "missing.yaml"), nil)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: got %v, want fs.ErrNotExist", err)
	}
	if Errors(err) != nil {
		t.Errorf("missing file: Errors gave %v, want none", Errors(err))
	}

	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, []byte("#"+strings.Repeat("x", MaxFileSize+10)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load(big, nil)
	if want := big + ":1: file is larger than 4 MiB"; err == nil || err.Error() != want {
		t.Errorf("big file: got %v, want %s", err, want)
	}
}

// The real probe kinds: only behaviour that cannot change when their fields
// land (no kind, an unknown key) is checked here.
func TestRealKinds(t *testing.T) {
	src := `organizations:
  - id: acme
    components: [{id: api}]
    probes:
      - id: none
        component: api
      - id: typo
        component: api
        heartbeat: {zz_not_a_field: 1}
`
	_, err := Parse("lookout.yaml", []byte(src), nil)
	want := `lookout.yaml:5: organizations[0].probes[0]: exactly one probe kind is required (one of http, tcp, dns, tls, steps, s3, heartbeat)
lookout.yaml:9: organizations[0].probes[1].heartbeat: unknown field "zz_not_a_field"`
	if err == nil || err.Error() != want {
		t.Errorf("got:\n%v\nwant:\n%s", err, want)
	}
}

func TestErrorsUnpack(t *testing.T) {
	_, err := parseTest("e.yaml", []byte("storage: {flush_size: x}\norganizations: [{id: A}]\n"), nil)
	got := Errors(err)
	want := []Error{
		{File: "e.yaml", Line: 1, Path: "storage.flush_size", Msg: `expected an integer, got "x"`},
		{File: "e.yaml", Line: 2, Path: "organizations[0].id", Msg: `invalid organization id "A" (use lowercase letters, digits and dashes, starting with a letter or digit, at most 63 characters)`},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d errors (%v), want %d", len(got), err, len(want))
	}
	for i := range want {
		if *got[i] != want[i] {
			t.Errorf("error %d: got %+v, want %+v", i, *got[i], want[i])
		}
	}
}

func TestTooManyProblems(t *testing.T) {
	var b strings.Builder
	b.WriteString("organizations:\n")
	for range maxProblems + 50 {
		b.WriteString("  - id: Bad\n")
	}
	_, err := parseTest("many.yaml", []byte(b.String()), nil)
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != maxProblems+1 {
		t.Fatalf("got %d lines, want %d", len(lines), maxProblems+1)
	}
	if want := "many.yaml:1002: too many problems; the rest are not shown"; lines[maxProblems] != want {
		t.Errorf("last line: got %q, want %q", lines[maxProblems], want)
	}
}

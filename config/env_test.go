package config

import (
	"reflect"
	"strings"
	"testing"
)

// probeWith wraps a check block in a minimal valid file.
func probeWith(check string) []byte {
	return []byte(`organizations:
  - id: acme
    components: [{id: api}]
    probes:
      - id: p
        component: api
        check:
` + check)
}

func TestEnvExpansion(t *testing.T) {
	env := envMap(map[string]string{"TOKEN": "tok-123456", "HOST": "example.com", "SHORT": "x"})
	cases := []struct {
		name        string
		check       string
		wantURL     string
		wantHeaders map[string]string
		wantDef     string
		wantSecrets []string
	}{
		{
			name:        "present",
			check:       "          url: https://${HOST}/?t=${TOKEN}\n",
			wantURL:     "https://example.com/?t=tok-123456",
			wantDef:     `{"url":"https://${HOST}/?t=${TOKEN}"}`,
			wantSecrets: []string{"HOST", "TOKEN"},
		},
		{
			name:        "escaped and lone dollars",
			check:       "          url: https://example.com/$${NOT}/$5/$$/${SHORT}$\n",
			wantURL:     "https://example.com/${NOT}/$5/$$/x$",
			wantDef:     `{"url":"https://example.com/$${NOT}/$5/$$/${SHORT}$"}`,
			wantSecrets: []string{"SHORT"},
		},
		{
			name:        "keys are not expanded",
			check:       "          url: https://example.com/\n          headers: {\"${TOKEN}\": \"Bearer ${TOKEN}\"}\n",
			wantURL:     "https://example.com/",
			wantHeaders: map[string]string{"${TOKEN}": "Bearer tok-123456"},
			wantDef:     `{"headers":{"${TOKEN}":"Bearer ${TOKEN}"},"url":"https://example.com/"}`,
			wantSecrets: []string{"TOKEN"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parseTest("env.yaml", probeWith(tc.check), env)
			if err != nil {
				t.Fatalf("got error %v", err)
			}
			p := cfg.Organizations[0].Probes[0]
			spec := p.Spec.(*checkSpec)
			if spec.URL != tc.wantURL {
				t.Errorf("url: got %q, want %q", spec.URL, tc.wantURL)
			}
			if tc.wantHeaders != nil && !reflect.DeepEqual(spec.Headers, tc.wantHeaders) {
				t.Errorf("headers: got %v, want %v", spec.Headers, tc.wantHeaders)
			}
			if p.Definition != tc.wantDef {
				t.Errorf("Definition: got %s, want %s", p.Definition, tc.wantDef)
			}
			if strings.Contains(p.Definition, "tok-123456") {
				t.Errorf("Definition holds a secret value: %s", p.Definition)
			}
			if !reflect.DeepEqual(p.Secrets, tc.wantSecrets) {
				t.Errorf("Secrets: got %v, want %v", p.Secrets, tc.wantSecrets)
			}
		})
	}
}

func TestEnvErrors(t *testing.T) {
	cases := []struct {
		name  string
		env   map[string]string
		check string
		want  string
	}{
		{"missing", nil, "          url: https://example.com/?k=${API_KEY}\n",
			`env.yaml:8: organizations[0].probes[0].check.url: environment variable API_KEY is not set or is empty`},
		{"empty", map[string]string{"API_KEY": ""}, "          url: https://example.com/?k=${API_KEY}\n",
			`env.yaml:8: organizations[0].probes[0].check.url: environment variable API_KEY is not set or is empty`},
		{"unterminated", nil, "          url: https://example.com/?k=${API_KEY\n",
			`env.yaml:8: organizations[0].probes[0].check.url: unterminated "${" (write "$${" for a literal "${")`},
		{"bad name", nil, "          url: https://example.com/?k=${1X}\n",
			`env.yaml:8: organizations[0].probes[0].check.url: invalid variable name "1X" in ${...} (use letters, digits and _; write "$${" for a literal "${")`},
		{"secret in a bad value", map[string]string{"WAIT": "very-secret-value"}, "          url: https://example.com/\n          wait: ${WAIT}\n",
			`env.yaml:9: organizations[0].probes[0].check.wait: invalid duration "${WAIT}" (use e.g. 30s, 5m, 1h30m)`},
		{"secret echoed by Validate", map[string]string{"TOKEN": "very-secret-value"}, "          method: ECHO\n          url: https://example.com/?t=${TOKEN}\n",
			`env.yaml:9: organizations[0].probes[0].check.url: cannot reach "https://example.com/?t=${TOKEN}"`},
		{"secret echoed within a larger value", map[string]string{"TOKEN": "very-secret-value"}, "          method: ECHO\n          url: https://example.com/?t=${TOKEN}\n          headers: {a: \"x-${TOKEN}-y\"}\n",
			`env.yaml:9: organizations[0].probes[0].check.url: cannot reach "https://example.com/?t=${TOKEN}"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parseTest("env.yaml", probeWith(tc.check), envMap(tc.env))
			if err == nil {
				t.Fatal("got no error")
			}
			if cfg != nil {
				t.Error("got a partial config alongside the error")
			}
			if err.Error() != tc.want {
				t.Errorf("got  %s\nwant %s", err, tc.want)
			}
			for _, v := range tc.env {
				if v != "" && strings.Contains(err.Error(), v) {
					t.Errorf("error leaks the value %q", v)
				}
			}
		})
	}
}

func TestEnvNilGetenv(t *testing.T) {
	_, err := Parse("nil.yaml", []byte("scheduler:\n  region: ${REGION}\norganizations: [{id: a}]\n"), nil)
	want := "nil.yaml:2: scheduler.region: environment variable REGION is not set or is empty"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
}

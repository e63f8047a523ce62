package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lookout-status/lookout/probes"
)

func TestValid(t *testing.T) {
	data, err := os.ReadFile("testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := parseTest("testdata/valid.yaml", data, envMap(map[string]string{"API_TOKEN": "s3cr3t-t0ken"}))
	if err != nil {
		t.Fatalf("got error:\n%v", err)
	}
	if cfg.Path != "testdata/valid.yaml" {
		t.Errorf("Path: got %q, want testdata/valid.yaml", cfg.Path)
	}
	wantStorage := Storage{RawRetention: 72 * time.Hour, RollupRetention: 9600 * time.Hour, FlushInterval: time.Second, FlushSize: 100}
	if cfg.Storage != wantStorage {
		t.Errorf("Storage: got %+v, want %+v", cfg.Storage, wantStorage)
	}
	if want := (Scheduler{MaxConcurrency: 16, Region: "eu-west"}); cfg.Scheduler != want {
		t.Errorf("Scheduler: got %+v, want %+v", cfg.Scheduler, want)
	}
	if len(cfg.Organizations) != 2 {
		t.Fatalf("got %d organizations, want 2", len(cfg.Organizations))
	}
	acme, beta := cfg.Organizations[0], cfg.Organizations[1]
	if acme.ID != "acme" || acme.Name != "Acme Field Data" {
		t.Errorf("org: got %q %q, want acme, Acme Field Data", acme.ID, acme.Name)
	}
	wantEgress := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128"), netip.MustParsePrefix("10.1.0.0/16")}
	if !reflect.DeepEqual(acme.Egress, wantEgress) {
		t.Errorf("Egress: got %v, want %v", acme.Egress, wantEgress)
	}
	wantPages := []Page{
		{ID: "status", Name: "Acme Status", Host: "status.example.net", URL: "https://status.example.net", Logo: "/logo.svg", Accent: "#0b5fff", Components: []string{"api", "sync"},
			Mirror: &Mirror{To: "s3://status-site/acme", Endpoint: "http://127.0.0.1:9000", Region: "us-east-1",
				AccessKeyID: "s3cr3t-t0ken", SecretAccessKey: "s3cr3t-t0ken", Interval: 30 * time.Second, BaseURL: "https://mirror.example.net/acme"}},
		{ID: "internal", Name: "Acme Field Data", Logo: "https://cdn.example.net/l.png", Private: true},
	}
	if !reflect.DeepEqual(acme.Pages, wantPages) {
		t.Errorf("Pages:\n got %+v\nwant %+v", acme.Pages, wantPages)
	}
	wantComps := []Component{
		{ID: "api", Name: "API", Description: "Public REST API", Group: "Cloud"},
		{ID: "sync", Name: "Sync", Group: "Cloud"},
		{ID: "storage", Name: "storage", Private: true},
	}
	if !reflect.DeepEqual(acme.Components, wantComps) {
		t.Errorf("Components:\n got %+v\nwant %+v", acme.Components, wantComps)
	}
	if len(acme.Probes) != 3 {
		t.Fatalf("got %d probes, want 3", len(acme.Probes))
	}

	p := acme.Probes[0]
	if p.ID != "api-status" || p.Name != "API status endpoint" || p.Component != "api" || p.Kind != "check" ||
		p.Interval != 30*time.Second || p.Timeout != 5*time.Second || p.FailureThreshold != 2 || p.SuccessThreshold != 1 {
		t.Errorf("probe 0: got %+v", p)
	}
	spec, ok := p.Spec.(*checkSpec)
	if !ok {
		t.Fatalf("Spec: got %T, want *checkSpec", p.Spec)
	}
	wantSpec := &checkSpec{
		URL:     "http://127.0.0.1:8080/health?token=s3cr3t-t0ken",
		Method:  "GET",
		Headers: map[string]string{"Authorization": "Bearer s3cr3t-t0ken", "X-Cost": "${literal}"},
		Every:   probes.Duration(90 * time.Second),
		Wait:    250 * time.Millisecond,
		Retries: 3,
		Ratio:   0.5,
		Expect: &checkExpect{
			Status: []int{200, 204},
			JSON:   []checkJSON{{Path: ".status", Equals: "UP"}, {Path: ".count", Equals: 3}},
		},
		checkCommon: checkCommon{Insecure: true},
	}
	if !reflect.DeepEqual(spec, wantSpec) {
		t.Errorf("Spec:\n got %+v\nwant %+v", spec, wantSpec)
	}
	wantDef := `{"every":"1m30s","expect":{"json":[{"equals":"UP","path":".status"},{"equals":3,"path":".count"}],"status":[200,204]},` +
		`"headers":{"Authorization":"Bearer ${API_TOKEN}","X-Cost":"$${literal}"},"insecure":true,"method":"GET","ratio":0.5,"retries":3,` +
		`"url":"http://127.0.0.1:8080/health?token=${API_TOKEN}","wait":"250ms"}`
	if p.Definition != wantDef {
		t.Errorf("Definition:\n got %s\nwant %s", p.Definition, wantDef)
	}
	if want := []string{"API_TOKEN"}; !reflect.DeepEqual(p.Secrets, want) {
		t.Errorf("Secrets: got %v, want %v", p.Secrets, want)
	}

	// Defaults.
	p = acme.Probes[1]
	if p.Name != "sync-tcp" || p.Interval != 60*time.Second || p.Timeout != 10*time.Second ||
		p.FailureThreshold != 1 || p.SuccessThreshold != 1 || p.Secrets != nil {
		t.Errorf("probe 1 defaults: got %+v", p)
	}
	p = acme.Probes[2]
	if p.Kind != "ping" || p.Interval != 24*time.Hour || p.Timeout != 10*time.Second || p.SuccessThreshold != 3 || p.Definition != "{}" {
		t.Errorf("probe 2: got %+v", p)
	}
	if _, ok := p.Spec.(*pingSpec); !ok {
		t.Errorf("probe 2 Spec: got %T, want *pingSpec", p.Spec)
	}
	// Timeout defaults to half a short interval.
	p = beta.Probes[0]
	if p.Interval != time.Second || p.Timeout != 500*time.Millisecond || p.Definition != "{}" {
		t.Errorf("beta probe: got interval %s timeout %s definition %s, want 1s, 500ms, {}", p.Interval, p.Timeout, p.Definition)
	}
	if beta.Name != "beta" || beta.Components[0].Name != "api" || beta.Egress != nil {
		t.Errorf("beta defaults: got %+v", beta)
	}
}

func TestDefaults(t *testing.T) {
	cfg, err := parseTest("min.yaml", []byte("organizations: [{id: a}]\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Storage{RawRetention: 7 * 24 * time.Hour, RollupRetention: 400 * 24 * time.Hour, FlushInterval: time.Second, FlushSize: 500}
	if cfg.Storage != want {
		t.Errorf("Storage: got %+v, want %+v", cfg.Storage, want)
	}
	if want := (Scheduler{MaxConcurrency: 256, Region: "local"}); cfg.Scheduler != want {
		t.Errorf("Scheduler: got %+v, want %+v", cfg.Scheduler, want)
	}
}

// wantRE reads the expected messages of an invalid-*.yaml file: lines
// "# want: LINE: PATH: MESSAGE", in order; the file name is prefixed here.
var wantRE = regexp.MustCompile(`(?m)^# want: (.*)$`)

func TestInvalid(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid-*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no testdata/invalid-*.yaml")
	}
	env := envMap(map[string]string{
		"TOKEN": "hunter2-very-secret", "BAD_INTERVAL": "5x-secret",
		"LONG_TOKEN":  "tok-0123456789abcdef0123456789",
		"WHSEC":       "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
		"SHORT_WHSEC": "whsec_c2hvcnQ=",
		"AM_PASSWORD": "am-password-value",
	})
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, m := range wantRE.FindAllStringSubmatch(string(data), -1) {
				want = append(want, f+":"+m[1])
			}
			if len(want) == 0 {
				t.Fatal("no '# want:' lines")
			}
			cfg, err := parseTest(f, data, env)
			if err == nil {
				t.Fatal("got no error")
			}
			if cfg != nil {
				t.Errorf("got a partial config alongside the error")
			}
			got := strings.Split(err.Error(), "\n")
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			for _, secret := range []string{"hunter2", "5x-secret", "tok-0123456789", "MDEyMzQ1", "c2hvcnQ", "am-password-value"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error leaks the value of a variable: %q", secret)
				}
			}
			if n := len(Errors(err)); n != len(got) {
				t.Errorf("Errors: got %d, want %d", n, len(got))
			}
		})
	}
}

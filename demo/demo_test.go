package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"
	"go.uber.org/goleak"
	"go.yaml.in/yaml/v3"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// start runs a demo service for the test and a client that does not keep
// connections (so nothing outlives the test).
func start(t *testing.T) (*Service, *http.Client) {
	t.Helper()
	s, err := Start(t.Context())
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s, &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
}

type call struct {
	method, path, token, body string
}

func (s *Service) do(t *testing.T, c *http.Client, in call) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(in.method, s.Env()["DEMO_API_URL"]+in.path, strings.NewReader(in.body))
	if err != nil {
		t.Fatal(err)
	}
	if in.token != "" {
		req.Header.Set("Authorization", "Bearer "+in.token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", in.method, in.path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	var out map[string]any
	if len(body) > 0 {
		if err := json.Unmarshal(body, &out); err != nil {
			t.Fatalf("%s %s: body %q is not JSON: %v", in.method, in.path, body, err)
		}
	}
	return resp.StatusCode, out
}

func TestStatusEndpoint(t *testing.T) {
	s, c := start(t)
	for _, tc := range []struct {
		name         string
		broken       bool
		wantCode     int
		wantDatabase string
	}{
		{"ok", false, 200, "ok"},
		{"broken", true, 503, "down"},
		{"fixed again", false, 200, "ok"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			act := s.Fix
			if tc.broken {
				act = s.Break
			}
			if err := act("api"); err != nil {
				t.Fatal(err)
			}
			code, body := s.do(t, c, call{method: "GET", path: "/api/v1/status/"})
			if code != tc.wantCode || body["database"] != tc.wantDatabase {
				t.Errorf("got %d %v, want %d with database %q", code, body, tc.wantCode, tc.wantDatabase)
			}
		})
	}
}

func login(t *testing.T, s *Service, c *http.Client) string {
	t.Helper()
	env := s.Env()
	body, _ := json.Marshal(map[string]string{"user": env["DEMO_SYNC_USER"], "password": env["DEMO_SYNC_PASSWORD"]})
	code, out := s.do(t, c, call{method: "POST", path: "/api/v1/auth/login", body: string(body)})
	token, _ := out["token"].(string)
	if code != 200 || token == "" {
		t.Fatalf("login: got %d %v, want 200 with a token", code, out)
	}
	return token
}

func TestSyncFlow(t *testing.T) {
	for _, tc := range []struct {
		name      string
		broken    bool
		wantState []string // states seen by successive polls
	}{
		{"working", false, []string{"pending", "applied", "applied"}},
		{"broken", true, []string{"pending", "pending", "pending"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, c := start(t)
			if tc.broken {
				if err := s.Break("sync"); err != nil {
					t.Fatal(err)
				}
			}
			token := login(t, s, c)
			code, out := s.do(t, c, call{method: "POST", path: "/api/v1/changes", token: token, body: `{"note":"lookout-42"}`})
			id, _ := out["id"].(string)
			if code != 201 || id == "" || out["state"] != "pending" {
				t.Fatalf("upload: got %d %v, want 201 with an id, state pending", code, out)
			}
			for i, want := range tc.wantState {
				code, out := s.do(t, c, call{method: "GET", path: "/api/v1/changes/" + id, token: token})
				if code != 200 || out["state"] != want {
					t.Errorf("poll %d: got %d state %v, want 200 state %q", i+1, code, out["state"], want)
				}
				data, _ := out["data"].(map[string]any)
				if data["note"] != "lookout-42" {
					t.Errorf("poll %d: got data %v, want the uploaded note", i+1, out["data"])
				}
			}
			if code, _ := s.do(t, c, call{method: "DELETE", path: "/api/v1/changes/" + id, token: token}); code != 204 {
				t.Errorf("delete: got %d, want 204", code)
			}
			if code, _ := s.do(t, c, call{method: "GET", path: "/api/v1/changes/" + id, token: token}); code != 404 {
				t.Errorf("get after delete: got %d, want 404", code)
			}
			if code, _ := s.do(t, c, call{method: "DELETE", path: "/api/v1/changes/" + id, token: token}); code != 404 {
				t.Errorf("delete again: got %d, want 404", code)
			}
		})
	}
}

func TestSyncRefusals(t *testing.T) {
	s, c := start(t)
	token := login(t, s, c)
	for _, tc := range []struct {
		name     string
		in       call
		wantCode int
	}{
		{"wrong password", call{method: "POST", path: "/api/v1/auth/login", body: `{"user":"demo","password":"guess"}`}, 401},
		{"login not JSON", call{method: "POST", path: "/api/v1/auth/login", body: `user=demo`}, 400},
		{"upload without token", call{method: "POST", path: "/api/v1/changes", body: `{}`}, 401},
		{"upload with unknown token", call{method: "POST", path: "/api/v1/changes", token: "forged", body: `{}`}, 401},
		{"upload not JSON", call{method: "POST", path: "/api/v1/changes", token: token, body: `nope`}, 400},
		{"upload too large", call{method: "POST", path: "/api/v1/changes", token: token, body: `"` + strings.Repeat("a", maxBody) + `"`}, 413},
		{"unknown change", call{method: "GET", path: "/api/v1/changes/chg_nope", token: token}, 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code, out := s.do(t, c, tc.in); code != tc.wantCode {
				t.Errorf("got %d %v, want %d", code, out, tc.wantCode)
			}
		})
	}
}

func TestBounded(t *testing.T) {
	b := newBounded[int](2)
	b.put("a", 1)
	b.put("b", 2)
	b.put("c", 3)
	if _, ok := b.get("a"); ok {
		t.Errorf("got a still kept, want the oldest dropped")
	}
	if !b.delete("b") || b.delete("b") {
		t.Errorf("delete b: want true once, then false")
	}
	b.put("d", 4)
	b.put("e", 5)
	if _, ok := b.get("c"); ok {
		t.Errorf("got c still kept, want it dropped")
	}
	if v, ok := b.get("e"); !ok || v != 5 {
		t.Errorf("got e=%d,%v, want 5,true", v, ok)
	}
}

func TestStorage(t *testing.T) {
	s, _ := start(t)
	env := s.Env()
	u, err := url.Parse(env["DEMO_S3_ENDPOINT"])
	if err != nil {
		t.Fatal(err)
	}
	client := func(t *testing.T, accessKey string) *minio.Client {
		tr := &http.Transport{DisableKeepAlives: true}
		mc, err := minio.New(u.Host, &minio.Options{
			Creds:        miniocreds.NewStaticV4(accessKey, env["DEMO_S3_SECRET_KEY"], ""),
			Secure:       u.Scheme == "https",
			Region:       "us-east-1",
			BucketLookup: minio.BucketLookupPath,
			Transport:    tr,
			MaxRetries:   1,
		})
		if err != nil {
			t.Fatal(err)
		}
		return mc
	}
	ctx := t.Context()
	payload := bytes.Repeat([]byte("lookout "), 128)

	roundTrip := func(mc *minio.Client) error {
		if _, err := mc.PutObject(ctx, env["DEMO_S3_BUCKET"], "probe/object", bytes.NewReader(payload), int64(len(payload)), minio.PutObjectOptions{}); err != nil {
			return err
		}
		obj, err := mc.GetObject(ctx, env["DEMO_S3_BUCKET"], "probe/object", minio.GetObjectOptions{})
		if err != nil {
			return err
		}
		defer obj.Close()
		got, err := io.ReadAll(obj)
		if err != nil {
			return err
		}
		if !bytes.Equal(got, payload) {
			return errors.New("downloaded object differs from the upload")
		}
		return mc.RemoveObject(ctx, env["DEMO_S3_BUCKET"], "probe/object", minio.RemoveObjectOptions{})
	}

	for _, tc := range []struct {
		name      string
		broken    bool
		accessKey string
		wantCode  string // S3 error code; empty: success
	}{
		{"working", false, env["DEMO_S3_ACCESS_KEY"], ""},
		{"broken", true, env["DEMO_S3_ACCESS_KEY"], "ServiceUnavailable"},
		{"fixed again", false, env["DEMO_S3_ACCESS_KEY"], ""},
		{"wrong access key", false, "AKIAWRONG", "InvalidAccessKeyId"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			act := s.Fix
			if tc.broken {
				act = s.Break
			}
			if err := act("storage"); err != nil {
				t.Fatal(err)
			}
			err := roundTrip(client(t, tc.accessKey))
			if got := minio.ToErrorResponse(err).Code; got != tc.wantCode {
				t.Errorf("got error code %q (%v), want %q", got, err, tc.wantCode)
			}
		})
	}
}

func TestBreakUnknown(t *testing.T) {
	s, _ := start(t)
	for _, name := range []string{"", "database", "API", "../api"} {
		if err := s.Break(name); !errors.Is(err, ErrUnknownPart) || !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Break(%q): got %v, want ErrUnknownPart matching fs.ErrNotExist", name, err)
		}
		if err := s.Fix(name); !errors.Is(err, ErrUnknownPart) {
			t.Errorf("Fix(%q): got %v, want ErrUnknownPart", name, err)
		}
	}
	for _, name := range []string{"api", "sync", "storage"} {
		if err := s.Break(name); err != nil || !s.Broken(name) {
			t.Errorf("Break(%q): got %v broken=%v, want nil and broken", name, err, s.Broken(name))
		}
		if err := s.Fix(name); err != nil || s.Broken(name) {
			t.Errorf("Fix(%q): got %v broken=%v, want nil and fixed", name, err, s.Broken(name))
		}
	}
}

func TestCloseOnContextDone(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	s, err := Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	if _, err := c.Get(s.Env()["DEMO_API_URL"] + "/api/v1/status/"); err == nil {
		t.Errorf("got an answer after Close, want the listener gone")
	}
}

// TestConfig checks the embedded config's shape and that every ${VAR} it
// uses is one Env provides.
func TestConfig(t *testing.T) {
	s, _ := start(t)
	env := s.Env()
	for _, m := range regexp.MustCompile(`\$\{([A-Z0-9_]+)\}`).FindAllSubmatch(Config, -1) {
		if _, ok := env[string(m[1])]; !ok {
			t.Errorf("config uses ${%s}, which Env does not provide", m[1])
		}
	}
	for k, v := range env {
		if v == "" {
			t.Errorf("Env()[%s] is empty", k)
		}
		if strings.HasSuffix(k, "_URL") || strings.HasSuffix(k, "_ENDPOINT") {
			if u, err := url.Parse(v); err != nil || u.Hostname() != "127.0.0.1" {
				t.Errorf("Env()[%s] = %q, want a URL on 127.0.0.1", k, v)
			}
		}
	}

	var cfg struct {
		Organizations []struct {
			ID     string
			Egress struct{ Allow []string }
			Pages  []struct {
				ID         string
				Components []string
			}
			Components []struct{ ID, Name, Group string }
			Probes     []map[string]any
		}
	}
	if err := yaml.Unmarshal(Config, &cfg); err != nil {
		t.Fatalf("parse config: %v", err)
	}
	if len(cfg.Organizations) != 1 || cfg.Organizations[0].ID != "demo" {
		t.Fatalf("got organizations %+v, want one, demo", cfg.Organizations)
	}
	org := cfg.Organizations[0]
	if got := strings.Join(org.Egress.Allow, ","); got != "127.0.0.0/8,::1/128" {
		t.Errorf("got egress allow %s, want 127.0.0.0/8,::1/128", got)
	}
	components := map[string]bool{}
	for _, c := range org.Components {
		components[c.ID] = true
		if c.Group != "Cloud" {
			t.Errorf("component %s: got group %q, want Cloud", c.ID, c.Group)
		}
	}
	for _, id := range []string{"api", "sync", "storage"} {
		if !components[id] {
			t.Errorf("missing component %s", id)
		}
	}
	kinds := map[string]bool{}
	for _, p := range org.Probes {
		if c, _ := p["component"].(string); !components[c] {
			t.Errorf("probe %v: component %q is not defined", p["id"], c)
		}
		for _, k := range []string{"http", "steps", "s3", "heartbeat"} {
			if _, ok := p[k]; ok {
				kinds[k] = true
			}
		}
	}
	if len(kinds) != 4 {
		t.Errorf("got probe kinds %v, want http, steps, s3 and heartbeat", kinds)
	}
}

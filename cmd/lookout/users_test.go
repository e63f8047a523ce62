package main

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// runMain runs this test binary as the real lookout command with args.
func runMain(t *testing.T, env []string, args string) (string, string, error) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), "LOOKOUT_AS_MAIN=1", "LOOKOUT_ARGS="+args), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

const accountsConfig = `organizations:
  - id: acme
    name: Acme
    components: [{id: api, name: API}]
    users: [{id: olga, name: Olga}]
    tokens:
      - {id: ci, user: olga, role: viewer, token: "${ACME_TOKEN}"}
  - id: globex
    name: Globex
    components: [{id: api, name: API}]
`

// TestFirstOwnerSignsIn: the operator creates the first owner with the
// real binary, starts the server, and the owner signs in over HTTP; a
// token made by the CLI reads the API, and the config's token still works.
func TestFirstOwnerSignsIn(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	t.Setenv("ACME_TOKEN", "acme-config-token-0123456789abcdef")
	cfg := writeFile(t, "lookout.yaml", accountsConfig)
	data := t.TempDir()
	out, errOut, err := runMain(t, []string{"LOOKOUT_PASSWORD=the first owner's passphrase"},
		"user create --data "+data+" --config "+cfg+" --admin olga")
	if err != nil || !strings.Contains(out, "created olga, owner of acme, globex") || strings.Contains(out, "passphrase") {
		t.Fatalf("user create: %v\n%s%s", err, out, errOut)
	}
	// No password given: one is generated and printed once.
	out, _, err = runMain(t, nil, "user create --data "+data+" --org acme --role responder dana")
	gen := regexp.MustCompile(`password \(shown once\): ([0-9A-Za-z]{24})`).FindStringSubmatch(out)
	if err != nil || gen == nil {
		t.Fatalf("user create without a password: %v\n%s", err, out)
	}
	if _, _, err := runMain(t, []string{"LOOKOUT_PASSWORD=short"}, "user create --data "+data+" --org acme bob"); err == nil {
		t.Error("a 5-byte password was accepted")
	}
	tok, errOut, err := runMain(t, nil, "token create --data "+data+" --config "+cfg+" --org acme --role viewer --name ci-read --expires 30d")
	tok = strings.TrimSpace(tok)
	if err != nil || !strings.HasPrefix(tok, "lko_") || len(tok) != 40 {
		t.Fatalf("token create: %v %q %s", err, tok, errOut)
	}
	list, _, err := runMain(t, nil, "user list --data "+data)
	if err != nil || !regexp.MustCompile(`olga\s+off\s+active\s+acme:owner globex:owner`).MatchString(list) {
		t.Errorf("user list: %v\n%s", err, list)
	}

	c := startServe(t, cfg, data)
	base := "http://" + c.addr
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	signIn := func(user, pass string) *http.Response {
		t.Helper()
		resp, err := client.PostForm(base+"/login", url.Values{"username": {user}, "password": {pass}, "next": {"/console/account"}})
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	resp := signIn("olga", "the first owner's passphrase")
	var session string
	for _, ck := range resp.Cookies() {
		if ck.Name == "__Host-lookout_session" {
			session = ck.Value
		}
	}
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/account" || session == "" {
		t.Fatalf("sign in: got %d to %q, session %q", resp.StatusCode, resp.Header.Get("Location"), session)
	}
	req, _ := http.NewRequest("GET", base+"/console/account?org=globex", nil)
	req.Header.Set("Cookie", "__Host-lookout_session="+session)
	page, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(page.Body)
	page.Body.Close()
	if page.StatusCode != 200 || !strings.Contains(string(body), "Your account: olga") || !strings.Contains(string(body), "Globex (owner)") {
		t.Fatalf("account page: got %d:\n%s", page.StatusCode, body)
	}
	if r := signIn("dana", gen[1]); r.StatusCode != http.StatusSeeOther {
		t.Errorf("dana with the generated password: got %d", r.StatusCode)
	}
	if r := signIn("olga", "not the passphrase"); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong password: got %d, want 401", r.StatusCode)
	}
	for _, bearer := range []string{tok, "acme-config-token-0123456789abcdef"} {
		req, _ := http.NewRequest("GET", base+"/api/v1/incidents", nil)
		req.Header.Set("Authorization", "Bearer "+bearer)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("GET /api/v1/incidents with %.8s…: got %d", bearer, resp.StatusCode)
		}
	}
}

package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestSecretNeverPrinted(t *testing.T) {
	s := Secret("xoxb-very-secret")
	type holder struct {
		Token Secret
		Map   map[string]Secret
	}
	h := holder{Token: s, Map: map[string]Secret{"Authorization": "Bearer xoxb-very-secret"}}
	var outs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%10.3s", "%T"} {
		outs = append(outs, fmt.Sprintf(verb, s), fmt.Sprintf(verb, h), fmt.Sprintf(verb, &h))
	}
	outs = append(outs, fmt.Sprint(s), fmt.Sprintln(h), s.String())
	j, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	y, err := yaml.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	outs = append(outs, string(j), string(y))
	var buf bytes.Buffer
	for _, hd := range []slog.Handler{slog.NewTextHandler(&buf, nil), slog.NewJSONHandler(&buf, nil)} {
		slog.New(hd).Info("secret", "token", s, "holder", h)
	}
	outs = append(outs, buf.String())
	for _, o := range outs {
		if strings.Contains(o, "very-secret") {
			t.Errorf("secret printed: %s", o)
		}
	}
	if got := fmt.Sprintf("%v|%s|%q", s, Secret(""), s); got != "[redacted]||[redacted]" {
		t.Errorf("got %q, want [redacted]||[redacted]", got)
	}
	if !strings.Contains(string(j), `"Token":"[redacted]"`) {
		t.Errorf("JSON: got %s, want the token redacted", j)
	}
	if s.Reveal() != "xoxb-very-secret" {
		t.Errorf("Reveal: got %q", s.Reveal())
	}
}

// A whole loaded configuration, printed or logged every way a careless
// caller might, shows none of the secrets it holds.
func TestLoadedSecretsNotLogged(t *testing.T) {
	cfg := loadOncall(t)
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "%v %+v %#v\n", cfg, *cfg, cfg.Organizations)
	j, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	buf.Write(j)
	for _, hd := range []slog.Handler{slog.NewTextHandler(&buf, nil), slog.NewJSONHandler(&buf, nil)} {
		lg := slog.New(hd)
		lg.Info("config", "config", cfg, "org", cfg.Organizations[0])
		for _, n := range cfg.Organizations[0].Notifiers {
			lg.Info("notifier", "notifier", n)
		}
	}
	out := buf.String()
	for name, v := range oncallEnv {
		if strings.Contains(out, v) {
			t.Errorf("the value of %s shows in printed or logged configuration", name)
		}
	}
	if !strings.Contains(out, `"notifier":{"id":"oncall-hook","kind":"webhook","host":"hooks.example.net"}`) {
		t.Errorf("notifier LogValue: want id, kind and host in:\n%s", out)
	}
}

// Secrets that fail validation, or land in a field whose message quotes the
// value, never show in the error.
func TestSecretsNotInErrors(t *testing.T) {
	env := map[string]string{
		"SHORT":   "short-secret-value",
		"NOT_WH":  "not-a-webhook-secret-value",
		"BOT":     "xoxb-bot-token-in-the-wrong-place",
		"HOOKURL": "https://user:pa55word-value@hooks.example.net/",
	}
	src := `organizations:
  - id: acme
    users: [{id: dana, email: "${BOT}"}]
    notifiers:
      - id: s
        slack: {token: "${BOT}", channel: "#ops", api_url: "${BOT}"}
      - id: w
        webhook: {url: "${HOOKURL}", secret: "${NOT_WH}"}
      - id: a
        alertmanager: {url: "${BOT}"}
    integrations:
      alertmanager: {token: "${SHORT}", component_label: "${BOT}"}
    tokens:
      - {id: t, user: "${BOT}", token: "${SHORT}", role: "${BOT}"}
`
	_, err := parseTest("s.yaml", []byte(src), envMap(env))
	if err == nil {
		t.Fatal("got no error")
	}
	want := `s.yaml:3: organizations[0].users[0].email: invalid email "${BOT}" (use a bare address such as dana@example.net)
s.yaml:6: organizations[0].notifiers[0].slack.api_url: invalid URL "${BOT}" (use an absolute http or https URL)
s.yaml:8: organizations[0].notifiers[1].webhook.url: credentials in the URL are not allowed; use headers with a ${SECRET}
s.yaml:8: organizations[0].notifiers[1].webhook.secret: must be "whsec_" followed by at least 24 random bytes in standard base64
s.yaml:10: organizations[0].notifiers[2].alertmanager.url: invalid URL "${BOT}" (use an absolute http or https URL)
s.yaml:12: organizations[0].integrations.alertmanager.token: must be at least 24 characters
s.yaml:12: organizations[0].integrations.alertmanager.component_label: invalid label name "${BOT}" (use letters, digits and _, not starting with a digit)
s.yaml:14: organizations[0].tokens[0].user: unknown user "${BOT}"
s.yaml:14: organizations[0].tokens[0].token: must be at least 24 characters
s.yaml:14: organizations[0].tokens[0].role: invalid role "${BOT}" (use owner, admin, responder or viewer)`
	if err.Error() != want {
		t.Errorf("got:\n%v\nwant:\n%s", err, want)
	}
	for name, v := range env {
		if strings.Contains(err.Error(), v) {
			t.Errorf("the value of %s shows in the error", name)
		}
	}
}

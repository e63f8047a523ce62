package main

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lookout-status/lookout/notify/email/smtptest"
	"github.com/lookout-status/lookout/web"
)

// readMail parses an accepted message: headers and its text and HTML parts.
func readMail(t *testing.T, m smtptest.Mail) (*mail.Message, string, string) {
	t.Helper()
	msg, err := m.Parse()
	if err != nil {
		t.Fatalf("parse mail: %v\n%s", err, m.Data)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("got Content-Type %q, want multipart/alternative", msg.Header.Get("Content-Type"))
	}
	var text, html string
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		switch strings.Split(p.Header.Get("Content-Type"), ";")[0] {
		case "text/plain":
			text = string(b)
		case "text/html":
			html = string(b)
		}
	}
	return msg, text, html
}

func subject(m *mail.Message) string {
	s, _ := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	return s
}

// postForm posts a form as the page's own form does.
func postForm(t *testing.T, target string, form url.Values) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", target, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func get(t *testing.T, target string) (int, string) {
	t.Helper()
	resp, err := http.Get(target)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var confirmLinkRE = regexp.MustCompile(`https://status\.example\.net(/subscriptions/confirm/[A-Za-z0-9_.-]+)`)

// TestEmailSubscriberEndToEnd: through the real server and a real SMTP
// server, a visitor subscribes on the page's form, gets the confirmation
// e-mail, confirms (the link's GET changes nothing), receives the incident
// as a threaded text+HTML e-mail with RFC 8058 headers, unsubscribes in one
// click and receives nothing more. An unconfirmed address gets nothing but
// its confirmation; an address with an injected header is refused.
func TestEmailSubscriberEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs serve and probes for a few seconds")
	}
	svc := newBreakable(t)
	smtpd := smtptest.Start(t, smtptest.Options{Username: "lookout", Password: "smtp-pass-e2e"})
	cfg := writeFile(t, "lookout.yaml", acmeConfig(fmt.Sprintf(`smtp:
  host: 127.0.0.1
  port: %d
  username: lookout
  password: ${SMTP_PASSWORD}
  from: "Acme Status <status@example.net>"
  tls: none
`, smtpd.Port), "    incidents: {quiet_period: 2s, grouping_window: 0s}\n"+olgaOwner+fmt.Sprintf(`    components:
      - {id: api, name: API}
      - {id: sync, name: Sync}
    probes:
      - {id: api-status, component: api, interval: 1s, timeout: 800ms, failure_threshold: 2, http: {url: "%s/api"}}
`, svc.srv.URL)))
	lk := startInProcess(t, cfg, e2eEnv(map[string]string{"SUBS_OWNER_TOKEN": subsOwnerToken, "SMTP_PASSWORD": "smtp-pass-e2e"}))

	if code, body := get(t, lk.base+"/"); code != 200 || !strings.Contains(body, `<input id="subscribe-email" type="email" name="email"`) {
		t.Fatalf("page: got %d, want the e-mail subscription form", code)
	}
	// An injected header is refused, before any e-mail.
	code, body := postForm(t, lk.base+"/subscribe", url.Values{"type": {"email"}, "email": {"a@b.c\r\nBcc: x@evil.example"}})
	if code != 400 || !strings.Contains(body, "line breaks") {
		t.Errorf("header injection: got %d, want 400 naming line breaks:\n%s", code, body)
	}
	for _, sub := range []url.Values{
		{"type": {"email"}, "email": {"dana@example.net"}, "components": {"api"}},
		{"type": {"email"}, "email": {"eve@example.net"}},                         // never confirms
		{"type": {"email"}, "email": {"bob@example.net"}},                         // the witness: confirms, stays
		{"type": {"email"}, "email": {"sam@example.net"}, "components": {"sync"}}, // confirms, only sync
	} {
		if code, body := postForm(t, lk.base+"/subscribe", sub); code != 201 || !strings.Contains(body, "We sent a confirmation link to "+sub.Get("email")) {
			t.Fatalf("subscribe %s: got %d\n%s", sub.Get("email"), code, body)
		}
	}
	confirmations := func(addr string) []smtptest.Mail { return smtpd.To(addr) }
	poll(t, 15*time.Second, "four confirmation e-mails", func() bool {
		return len(confirmations("dana@example.net")) == 1 && len(confirmations("eve@example.net")) == 1 &&
			len(confirmations("bob@example.net")) == 1 && len(confirmations("sam@example.net")) == 1
	}, func() string { return fmt.Sprintf("%d mails", len(smtpd.Mails())) })

	confirm := func(addr string) {
		t.Helper()
		m, text, html := readMail(t, confirmations(addr)[0])
		if got := subject(m); got != "[Acme Status] Confirm your subscription" {
			t.Errorf("confirmation subject: got %q", got)
		}
		link := confirmLinkRE.FindStringSubmatch(text)
		if link == nil || !strings.Contains(html, "/subscriptions/confirm/") {
			t.Fatalf("no confirm link in the confirmation e-mail:\n%s", text)
		}
		// The GET (a mail scanner) shows a button and confirms nothing.
		if code, body := get(t, lk.base+link[1]); code != 200 || !strings.Contains(body, `action="`+link[1]+`"`) {
			t.Fatalf("confirm GET: got %d\n%s", code, body)
		}
		if st := subscriptionOf(t, lk.base, addr).Status; st != "pending" {
			t.Fatalf("after the GET: got status %q, want pending", st)
		}
		if code, body := postForm(t, lk.base+link[1], nil); code != 200 || !strings.Contains(body, "Subscribed") {
			t.Fatalf("confirm POST: got %d\n%s", code, body)
		}
		if st := subscriptionOf(t, lk.base, addr).Status; st != "active" {
			t.Fatalf("after the POST: got status %q, want active", st)
		}
	}
	for _, addr := range []string{"dana@example.net", "bob@example.net", "sam@example.net"} {
		confirm(addr)
	}

	svc.set("/api", true)
	var incidentMail smtptest.Mail
	poll(t, 20*time.Second, "the incident e-mail to dana", func() bool {
		ms := smtpd.To("dana@example.net")
		if len(ms) < 2 {
			return false
		}
		incidentMail = ms[1]
		return true
	}, func() string { return fmt.Sprintf("%d mails", len(smtpd.Mails())) })
	m, text, html := readMail(t, incidentMail)
	unsub := m.Header.Get("List-Unsubscribe")
	for _, tc := range []struct{ name, got, want string }{
		{"subject", subject(m), "[Acme Status] Investigating: "},
		{"List-Unsubscribe", unsub, "<https://status.example.net/unsubscribe/sub_"},
		{"List-Unsubscribe-Post", m.Header.Get("List-Unsubscribe-Post"), "List-Unsubscribe=One-Click"},
		{"Message-ID", m.Header.Get("Message-ID"), "@status.example.net>"},
		{"References", m.Header.Get("References"), "<incident.acme-"},
		{"In-Reply-To", m.Header.Get("In-Reply-To"), "<incident.acme-"},
		{"text part", text, "We are investigating this issue."},
		{"text part", text, "Affected: API"},
		{"text part", text, "Unsubscribe: https://status.example.net/unsubscribe/"},
		{"html part", html, "<p>Investigating ("},
		{"html part", html, `<a href="https://status.example.net/unsubscribe/`},
	} {
		if !strings.Contains(tc.got, tc.want) {
			t.Errorf("%s: got %q, want it to contain %q", tc.name, tc.got, tc.want)
		}
	}
	if m.Header.Get("Date") == "" || strings.Contains(html, "<img") || strings.Contains(html, "src=") {
		t.Errorf("want a Date header and no remote content; html:\n%s", html)
	}
	if n := len(smtpd.To("eve@example.net")); n != 1 {
		t.Errorf("unconfirmed eve got %d e-mails, want only the confirmation", n)
	}
	if n := len(smtpd.To("sam@example.net")); n != 1 {
		t.Errorf("sam (sync only) got %d e-mails, want only the confirmation", n)
	}
	if len(smtpd.To("x@evil.example")) != 0 {
		t.Errorf("the injected Bcc got mail")
	}

	// The delivery log shows the attempts with the server's reply. The
	// outcome is recorded after the SMTP server has answered, so the mail
	// can be in the inbox a moment before its attempt is in the log.
	dana := subscriptionOf(t, lk.base, "dana@example.net")
	var log web.DeliveryLog
	var logCode int
	poll(t, 10*time.Second, "the incident e-mail in dana's delivery log", func() bool {
		log = web.DeliveryLog{}
		logCode = apiGet(t, lk.base, "/api/v1/subscribers/"+dana.ID+"/deliveries", subsOwnerToken, &log)
		return logCode == 200 && len(log.Deliveries) >= 2
	}, func() string { return fmt.Sprintf("got %d %+v, want the confirmation and the incident", logCode, log) })
	last := log.Deliveries[len(log.Deliveries)-1]
	if last.Event != "confirmation" || last.Outcome != "delivered" || !strings.HasPrefix(last.SMTPReply, "250") || last.Attempt != 1 || last.MessageID == "" {
		t.Errorf("oldest attempt: got %+v, want the delivered confirmation with a 250 reply", last)
	}
	if first := log.Deliveries[0]; first.MessageID != m.Header.Get("Message-ID") && log.Deliveries[1].MessageID != m.Header.Get("Message-ID") {
		t.Errorf("log Message-IDs %q, %q; want the incident e-mail's %q", first.MessageID, log.Deliveries[1].MessageID, m.Header.Get("Message-ID"))
	}

	// One-click unsubscribe, as a mail provider posts it.
	u, err := url.Parse(strings.Trim(unsub, "<>"))
	if err != nil {
		t.Fatal(err)
	}
	if code, body := postForm(t, lk.base+u.Path, url.Values{"List-Unsubscribe": {"One-Click"}}); code != 200 || !strings.Contains(body, "Unsubscribed") {
		t.Fatalf("one-click unsubscribe: got %d\n%s", code, body)
	}
	danaBefore := len(smtpd.To("dana@example.net"))

	// The incident resolves: bob, the witness, hears of it; dana does not.
	bobBefore := len(smtpd.To("bob@example.net"))
	svc.set("/api", false)
	poll(t, 30*time.Second, "the resolution e-mail to bob", func() bool {
		for _, m := range smtpd.To("bob@example.net")[bobBefore:] {
			if msg, _, _ := readMail(t, m); strings.Contains(subject(msg), "Resolved") {
				return true
			}
		}
		return false
	}, func() string { return fmt.Sprintf("%d mails", len(smtpd.Mails())) })
	if n := len(smtpd.To("dana@example.net")); n != danaBefore {
		t.Errorf("dana got %d e-mails after unsubscribing, want none", n-danaBefore)
	}
	// Bob's updates are one thread.
	var refs []string
	for _, m := range smtpd.To("bob@example.net")[1:] {
		msg, _, _ := readMail(t, m)
		refs = append(refs, msg.Header.Get("References"))
	}
	for _, r := range refs {
		if r != refs[0] {
			t.Errorf("bob's updates: References %q, want one thread", refs)
			break
		}
	}
}

// subscriptionOf finds the subscription of addr in the admin list.
func subscriptionOf(t *testing.T, base, addr string) web.Subscription {
	t.Helper()
	var list struct{ Subscribers []web.Subscription }
	if code := apiGet(t, base, "/api/v1/subscribers", subsOwnerToken, &list); code != 200 {
		t.Fatalf("list subscribers: got %d", code)
	}
	for _, s := range list.Subscribers {
		if s.Email == addr {
			return s
		}
	}
	b, _ := json.Marshal(list)
	t.Fatalf("no subscription of %s in %s", addr, b)
	return web.Subscription{}
}

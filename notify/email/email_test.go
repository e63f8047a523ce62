package email

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/lookout-status/lookout/notify"
	"github.com/lookout-status/lookout/notify/email/smtptest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func TestNormalizeAddress(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{in: "dana@Example.NET", want: "dana@example.net"},
		{in: "d.a+status@mail.example.co.uk", want: "d.a+status@mail.example.co.uk"},
		{in: "", err: "required"},
		{in: "a@b.c\r\nBcc: x@evil.example", err: "line breaks"},
		{in: "a@b.c\nBcc: x", err: "line breaks"},
		{in: "Dana <dana@example.net>", err: "spaces"},
		{in: "<dana@example.net>", err: "not a valid"},
		{in: "a@b.c,x@evil.example", err: "not a valid"},
		{in: `"a b"@example.net`, err: "spaces"},
		{in: `"ab"@example.net`, err: "not a valid"},
		{in: "dana@localhost", err: "not a valid"},
		{in: "dana@exämple.net", err: "not a valid"},
		{in: "dana..x@example.net", err: "not a valid"},
		{in: "dana@-example.net", err: "not a valid"},
		{in: strings.Repeat("a", 65) + "@example.net", err: "64"},
		{in: "a@" + strings.Repeat("b", 250) + ".net", err: "longer than"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := NormalizeAddress(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %q, %v; want an error containing %q", got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func sample() Message {
	return Message{
		To: "dana@example.net", Subject: "[Acme] Investigating: API <down>\r\nBcc: evil@example.com",
		Text: "We are investigating.\nLine two.", HTML: "<p>We are investigating &lt;x&gt;</p>",
		MessageID: MessageID("inc-1/timeline/1/sub_1", "example.net"), Thread: "acme.inc-1@example.net",
		Unsubscribe: "https://status.example.net/unsubscribe/sub_1.tok", ListID: "status.example.net", Date: t0,
	}
}

// parts reads a composed message: its headers and its two parts.
func parts(t *testing.T, raw []byte) (*mail.Message, map[string]string) {
	t.Helper()
	m, err := mail.ReadMessage(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatalf("read message: %v\n%s", err, raw)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("got Content-Type %q (%v), want multipart/alternative", m.Header.Get("Content-Type"), err)
	}
	out := map[string]string{}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p) // multipart decodes quoted-printable
		out[strings.Split(p.Header.Get("Content-Type"), ";")[0]] = string(b)
	}
	return m, out
}

func TestCompose(t *testing.T) {
	from := &mail.Address{Name: "Acme Status", Address: "status@example.net"}
	raw, err := sample().Compose(from)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := sample().Compose(from)
	if string(raw) != string(again) {
		t.Errorf("composing twice gave different bytes")
	}
	if strings.Contains(string(raw), "\nBcc:") || strings.Contains(string(raw), "\r\nBcc:") {
		t.Errorf("the subject's line break made a header:\n%s", raw)
	}
	m, ps := parts(t, raw)
	dec := new(mime.WordDecoder)
	subj, _ := dec.DecodeHeader(m.Header.Get("Subject"))
	for _, tc := range []struct{ name, got, want string }{
		{"From", m.Header.Get("From"), `"Acme Status" <status@example.net>`},
		{"To", m.Header.Get("To"), "<dana@example.net>"},
		{"Subject", subj, "[Acme] Investigating: API <down> Bcc: evil@example.com"},
		{"Date", m.Header.Get("Date"), "Wed, 04 Mar 2026 05:06:07 +0000"},
		{"Message-ID", m.Header.Get("Message-ID"), "<" + MessageID("inc-1/timeline/1/sub_1", "example.net") + ">"},
		{"In-Reply-To", m.Header.Get("In-Reply-To"), "<acme.inc-1@example.net>"},
		{"References", m.Header.Get("References"), "<acme.inc-1@example.net>"},
		{"List-Id", m.Header.Get("List-Id"), "<status.example.net>"},
		{"List-Unsubscribe", m.Header.Get("List-Unsubscribe"), "<https://status.example.net/unsubscribe/sub_1.tok>"},
		{"List-Unsubscribe-Post", m.Header.Get("List-Unsubscribe-Post"), "List-Unsubscribe=One-Click"},
		{"text part", ps["text/plain"], "We are investigating.\r\nLine two."},
		{"html part", ps["text/html"], "<p>We are investigating &lt;x&gt;</p>"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, tc.got, tc.want)
		}
	}
	bad := sample()
	bad.To = "a@b.c\r\nBcc: x@evil.example"
	if _, err := bad.Compose(from); err == nil {
		t.Errorf("recipient with a line break: got no error")
	}
}

// selfSigned returns a server config for 127.0.0.1 and a client config
// trusting it.
func selfSigned(t *testing.T) (*tls.Config, *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "smtptest"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}},
		&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

func deliver(t *testing.T, n *Notifier, m Message) (notify.Receipt, error) {
	t.Helper()
	body, _ := json.Marshal(m)
	return n.Deliver(context.Background(), notify.Message{Key: "k", Event: "incident", Body: body})
}

func TestDeliver(t *testing.T) {
	srvTLS, clientTLS := selfSigned(t)
	for _, tc := range []struct {
		name, mode string
		implicit   bool
	}{
		{"starttls", TLSStartTLS, false},
		{"implicit tls", TLSImplicit, true},
		{"none on loopback", TLSNone, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := smtptest.Start(t, smtptest.Options{Username: "lookout", Password: "pw", TLS: srvTLS, Implicit: tc.implicit})
			n, err := New(Config{Host: srv.Host, Port: srv.Port, Username: "lookout", Password: "pw",
				From: "Acme Status <status@example.net>", TLS: tc.mode, TLSConfig: clientTLS, Timeout: 5 * time.Second}, nil)
			if err != nil {
				t.Fatal(err)
			}
			r, err := deliver(t, n, sample())
			if err != nil {
				t.Fatalf("deliver: %v", err)
			}
			if r.Reply.Code != 250 {
				t.Errorf("reply: got %+v, want 250", r.Reply)
			}
			got := srv.To("dana@example.net")
			if len(got) != 1 || got[0].From != "status@example.net" {
				t.Fatalf("got %+v, want one message from status@example.net", srv.Mails())
			}
			_, ps := parts(t, got[0].Data)
			if ps["text/plain"] == "" || ps["text/html"] == "" {
				t.Errorf("got parts %v, want text and html", ps)
			}
		})
	}
}

func TestDeliverFailures(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{Username: "lookout", Password: "pw"})
	srv.Refuse("gone@example.net", 550, "mailbox unavailable")
	srv.Refuse("full@example.net", 451, "try again later")
	mk := func(pw string) *Notifier {
		n, err := New(Config{Host: srv.Host, Port: srv.Port, Username: "lookout", Password: pw, From: "status@example.net", TLS: TLSNone, Timeout: 5 * time.Second}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, tc := range []struct {
		name      string
		to, pw    string
		permanent bool
		code      int
	}{
		{"550 is permanent", "gone@example.net", "pw", true, 550},
		{"451 is temporary", "full@example.net", "pw", false, 451},
		{"a failed login is the sender's problem: temporary", "dana@example.net", "wrong", false, 535},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := sample()
			m.To = tc.to
			_, err := deliver(t, mk(tc.pw), m)
			if err == nil {
				t.Fatal("got no error")
			}
			if notify.IsPermanent(err) != tc.permanent {
				t.Errorf("permanent: got %v, want %v (%v)", notify.IsPermanent(err), tc.permanent, err)
			}
			if r, _ := notify.ReplyOf(err); r.Code != tc.code {
				t.Errorf("reply: got %+v, want code %d", r, tc.code)
			}
		})
	}
	t.Run("nobody listening is temporary", func(t *testing.T) {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		n, _ := New(Config{Host: "127.0.0.1", Port: port, From: "status@example.net", TLS: TLSNone}, nil)
		_, err := deliver(t, n, sample())
		if err == nil || notify.IsPermanent(err) {
			t.Errorf("got %v, want a temporary error", err)
		}
	})
	if len(srv.Mails()) != 0 {
		t.Errorf("got %d messages accepted, want none", len(srv.Mails()))
	}
}

func TestNewRefusesPlainToRemote(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Host: "smtp.example.net", From: "s@example.net", TLS: TLSNone}, "loopback"},
		{Config{Host: "127.0.0.1", From: "not an address", TLS: TLSNone}, "from"},
		{Config{Host: "127.0.0.1", From: "s@example.net", TLS: "ssl"}, "unknown mode"},
	} {
		if _, err := New(tc.cfg, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want an error containing %q", tc.cfg, err, tc.want)
		}
	}
}

package email

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"regexp"
	"strings"
	"time"
	"unicode"
)

// Message is one e-mail as decided: its content and the headers that make
// it a well-behaved list message. It is stored (as JSON, in the outbox
// row's body) when the change is decided; Compose turns it into the same
// RFC 5322 bytes on every attempt.
type Message struct {
	To      string `json:"to"`
	Subject string `json:"subject"`
	Text    string `json:"text"`
	HTML    string `json:"html"`
	// MessageID is the Message-ID without angle brackets, derived from the
	// delivery's key: a retry carries the same one.
	MessageID string `json:"message_id"`
	// Thread, when set, is the id (without angle brackets) every message
	// about one incident or maintenance refers to in In-Reply-To and
	// References, so mail clients thread its updates.
	Thread string `json:"thread,omitempty"`
	// Unsubscribe, when set, is the one-click unsubscribe URL (RFC 8058):
	// List-Unsubscribe and List-Unsubscribe-Post are added.
	Unsubscribe string `json:"unsubscribe,omitempty"`
	// ListID, when set, is the List-Id (RFC 2919), e.g. "status.example.net".
	ListID string    `json:"list_id,omitempty"`
	Date   time.Time `json:"date"`
}

// MessageID derives a Message-ID (without angle brackets) from a delivery
// key and the sending domain.
func MessageID(key, domain string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:16]) + "@" + domain
}

// maxAddress bounds an address (RFC 5321's path limit).
const maxAddress = 254

// addrRE is the address form Lookout accepts: an unquoted dot-atom local
// part and a domain of letters, digits and dashes with at least one dot.
// Quoted local parts, comments, display names and non-ASCII addresses are
// refused: none is worth the parsing risk in a header.
var addrRE = regexp.MustCompile(`^[A-Za-z0-9!#$%&'*+/=?^_` + "`" + `{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_` + "`" + `{|}~-]+)*@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)

// NormalizeAddress checks an e-mail address as a visitor typed it and
// returns it with its domain in lower case. Display names, several
// addresses, line breaks and anything else a header could be injected with
// are refused.
func NormalizeAddress(s string) (string, error) {
	switch {
	case s == "":
		return "", errors.New("required")
	case len(s) > maxAddress:
		return "", fmt.Errorf("longer than %d characters", maxAddress)
	case strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }):
		return "", errors.New("must not contain spaces or line breaks")
	case !addrRE.MatchString(s):
		return "", errors.New("not a valid e-mail address (name@example.com)")
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return "", errors.New("not a valid e-mail address (name@example.com)")
	}
	local, domain, _ := strings.Cut(s, "@")
	if len(local) > 64 {
		return "", errors.New("the part before @ is longer than 64 characters")
	}
	return local + "@" + strings.ToLower(domain), nil
}

// headerText makes s safe as an unstructured header value: control
// characters become spaces, runs of space collapse, and non-ASCII is
// encoded (RFC 2047).
func headerText(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	return mime.QEncoding.Encode("utf-8", s)
}

// Compose renders the message as RFC 5322 bytes (CRLF line ends) from the
// given sender: a multipart/alternative of a plain-text and an HTML part,
// both quoted-printable. The same Message composes to the same bytes.
func (m Message) Compose(from *mail.Address) ([]byte, error) {
	to, err := NormalizeAddress(m.To)
	if err != nil {
		return nil, fmt.Errorf("compose: recipient: %w", err)
	}
	if m.MessageID == "" || strings.ContainsAny(m.MessageID, "<>\r\n \t") {
		return nil, errors.New("compose: invalid message id")
	}
	for _, id := range []string{m.Thread, m.ListID} {
		if strings.ContainsAny(id, "<>\r\n \t") {
			return nil, errors.New("compose: invalid thread or list id")
		}
	}
	if strings.ContainsAny(m.Unsubscribe, "<>\r\n \t") {
		return nil, errors.New("compose: invalid unsubscribe URL")
	}
	sum := sha256.Sum256([]byte(m.MessageID))
	boundary := "lookout-" + hex.EncodeToString(sum[:12])

	var b bytes.Buffer
	h := func(name, value string) { fmt.Fprintf(&b, "%s: %s\r\n", name, value) }
	h("From", from.String())
	h("To", "<"+to+">")
	h("Subject", headerText(m.Subject))
	h("Date", m.Date.UTC().Format(time.RFC1123Z))
	h("Message-ID", "<"+m.MessageID+">")
	if m.Thread != "" {
		h("In-Reply-To", "<"+m.Thread+">")
		h("References", "<"+m.Thread+">")
	}
	if m.ListID != "" {
		h("List-Id", "<"+m.ListID+">")
	}
	if m.Unsubscribe != "" {
		h("List-Unsubscribe", "<"+m.Unsubscribe+">")
		h("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")
	}
	h("Auto-Submitted", "auto-generated")
	h("MIME-Version", "1.0")
	h("Content-Type", `multipart/alternative; boundary="`+boundary+`"`)
	b.WriteString("\r\n")
	for _, part := range []struct{ typ, body string }{{"text/plain", m.Text}, {"text/html", m.HTML}} {
		fmt.Fprintf(&b, "--%s\r\n", boundary)
		fmt.Fprintf(&b, "Content-Type: %s; charset=utf-8\r\n", part.typ)
		b.WriteString("Content-Transfer-Encoding: quoted-printable\r\n\r\n")
		qp := quotedprintable.NewWriter(&b)
		if _, err := qp.Write([]byte(crlf(part.body))); err != nil {
			return nil, fmt.Errorf("compose: %w", err)
		}
		if err := qp.Close(); err != nil {
			return nil, fmt.Errorf("compose: %w", err)
		}
		b.WriteString("\r\n")
	}
	fmt.Fprintf(&b, "--%s--\r\n", boundary)
	return b.Bytes(), nil
}

// crlf normalises line ends to CRLF.
func crlf(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	return strings.ReplaceAll(s, "\n", "\r\n")
}

package web

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"strings"

	"github.com/a-h/templ"
)

// Console flash messages: after a successful POST the console redirects
// (303) back to the page, and the page shows one line about what happened.
// The line travels in a short-lived __Host- cookie that only this origin
// can set — never in a query parameter, which would let anyone put words
// on the page — and is cleared as soon as it is shown.

const (
	flashCookie = "__Host-lookout_flash"
	maxFlash    = 500 // bytes of message kept
)

// setConsoleFlash queues a message (or, with errMsg, a refusal) for the
// next console page.
func setConsoleFlash(w http.ResponseWriter, msg, errMsg string) {
	v := "ok:" + msg
	if errMsg != "" {
		v = "err:" + errMsg
	}
	if len(v) > maxFlash {
		v = strings.ToValidUTF8(v[:maxFlash], "") + "…"
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: base64.RawURLEncoding.EncodeToString([]byte(v)),
		Path: "/", MaxAge: 60, Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

// takeConsoleFlash returns the queued message or refusal, and clears it.
func takeConsoleFlash(w http.ResponseWriter, r *http.Request) (msg, errMsg string) {
	c, err := r.Cookie(flashCookie)
	if err != nil {
		return "", ""
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: "", Path: "/", MaxAge: -1, Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	b, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil || len(b) > maxFlash+8 {
		return "", ""
	}
	v := strings.ToValidUTF8(string(b), "")
	if m, ok := strings.CutPrefix(v, "err:"); ok {
		return "", m
	}
	m, _ := strings.CutPrefix(v, "ok:")
	return m, ""
}

// renderConsoleHTML answers a console page: never cached, never framed.
func (s *server) renderConsoleHTML(w http.ResponseWriter, r *http.Request, c templ.Component) {
	var buf bytes.Buffer
	if err := c.Render(r.Context(), &buf); err != nil {
		s.fail(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes()) // a failed write means the client left
}

package web

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"unicode/utf8"

	"github.com/a-h/templ"
)

// A flash message survives one redirect in a short-lived __Host- cookie:
// only this origin can set it (a query parameter would let anyone put
// words on the page), and reading it clears it.
const (
	flashCookie = "__Host-lookout_flash"
	maxFlash    = 300
)

// setFlash carries msg to the next page; isError shows it as a refusal.
func setFlash(w http.ResponseWriter, msg string, isError bool) {
	if len(msg) > maxFlash {
		msg = msg[:maxFlash]
	}
	kind := "i"
	if isError {
		kind = "e"
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: kind + base64.RawURLEncoding.EncodeToString([]byte(msg)),
		Path: "/", MaxAge: 60, Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

// takeFlash returns the flash message r carries (and clears it).
func takeFlash(w http.ResponseWriter, r *http.Request) (msg string, isError bool) {
	c, err := r.Cookie(flashCookie)
	if err != nil || len(c.Value) < 2 {
		return "", false
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Path: "/", MaxAge: -1, Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	b, err := base64.RawURLEncoding.DecodeString(c.Value[1:])
	if err != nil || len(b) > maxFlash || !utf8.Valid(b) {
		return "", false
	}
	return string(b), c.Value[0] == 'e'
}

// respondHTML renders c with status; console pages are never cached.
func (s *server) respondHTML(w http.ResponseWriter, r *http.Request, status int, c templ.Component) {
	var buf bytes.Buffer
	if err := c.Render(r.Context(), &buf); err != nil {
		s.fail(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes()) // a failed write means the client left
}

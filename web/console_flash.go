package web

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/a-h/templ"

	"github.com/lookout-status/lookout/templates"
)

// After a console form is accepted, the handler redirects (303) back to a
// page, and that page shows one line saying what happened. The line goes
// in a short-lived cookie, never in the URL: a query parameter would let
// anyone who sends a link put words on the console. The __Host- prefix
// keeps subdomains from setting it; the page reading it deletes it.

// flashCookie names the cookie carrying the next page's flash message.
const flashCookie = "__Host-lookout_flash"

// maxFlash bounds a flash message (bytes).
const maxFlash = 400

// setConsoleFlash sets the message the next console page shows; isError
// shows it as a refusal.
func setConsoleFlash(w http.ResponseWriter, msg string, isError bool) {
	kind := "ok"
	if isError {
		kind = "error"
	}
	msg = cleanText(strings.ReplaceAll(msg, "\n", " "))
	if len(msg) > maxFlash {
		msg = msg[:maxFlash]
		for !utf8.ValidString(msg) {
			msg = msg[:len(msg)-1]
		}
	}
	http.SetCookie(w, &http.Cookie{
		Name:     flashCookie,
		Value:    base64.RawURLEncoding.EncodeToString([]byte(kind + "\n" + msg)),
		Path:     "/",
		MaxAge:   60,
		Secure:   true,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	})
}

// takeConsoleFlash returns the flash message r carries and deletes it; an
// unreadable cookie is dropped.
func takeConsoleFlash(w http.ResponseWriter, r *http.Request) (msg string, isError bool) {
	c, err := r.Cookie(flashCookie)
	if err != nil {
		return "", false
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: "", Path: "/", MaxAge: -1,
		Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	b, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil || len(b) > maxFlash+8 {
		return "", false
	}
	kind, text, ok := bytes.Cut(b, []byte("\n"))
	if !ok {
		return "", false
	}
	return cleanText(string(text)), string(kind) == "error"
}

// consoleFrame is the console frame for p with the flash message r carries.
func (s *server) consoleFrame(w http.ResponseWriter, r *http.Request, p Principal, section, title string) templates.Console {
	c := s.chrome(r, p, section, title)
	if msg, isErr := takeConsoleFlash(w, r); isErr {
		c.Error = msg
	} else {
		c.Flash = msg
	}
	return c
}

// consoleHTML renders a console page: never cached (it shows one person's
// view of live state), written whole or not at all.
func (s *server) consoleHTML(w http.ResponseWriter, r *http.Request, status int, page templ.Component) {
	var buf bytes.Buffer
	if err := page.Render(r.Context(), &buf); err != nil {
		s.fail(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes()) // a failed write means the client left
}

package web

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/lookout-status/lookout/static"
)

func (s *server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	writeText(w, "ok")
}

func (s *server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	if s.ready != nil {
		if err := s.ready(r.Context()); err != nil {
			s.fail(w, r, &unavailableError{reason: "not ready: " + err.Error()})
			return
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	writeText(w, "ok")
}

func (s *server) handleStatic(w http.ResponseWriter, r *http.Request) {
	f, ok := static.Lookup(r.PathValue("name"))
	if !ok {
		s.fail(w, r, errNotFound)
		return
	}
	rd, err := staticRendering(f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rd.serve(w, r, immutableCacheControl)
}

// staticRenderings keeps each embedded asset as the page's renderings are
// kept: as it is and gzip- and brotli-compressed, compressed once (on its
// first request), served by Accept-Encoding with an ETag per encoding.
var staticRenderings sync.Map // hashed name -> *rendered

func staticRendering(f *static.File) (*rendered, error) {
	if v, ok := staticRenderings.Load(f.Hashed); ok {
		return v.(*rendered), nil
	}
	rd, err := newRendered(f.Hash, f.ContentType, f.Body, false)
	if err != nil {
		return nil, fmt.Errorf("compress %s: %w", f.Name, err)
	}
	v, _ := staticRenderings.LoadOrStore(f.Hashed, rd)
	return v.(*rendered), nil
}

// maxHeartbeatMessage caps the message a job may send with its ping; the rest
// of the body is dropped.
const maxHeartbeatMessage = 1 << 10

// maxTokenLen bounds heartbeat tokens; longer ones are refused before any
// lookup.
const maxTokenLen = 128

func (s *server) handleHeartbeat(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	if !validToken(token) {
		s.fail(w, r, errNotFound)
		return
	}
	var message string
	if r.Method == http.MethodPost {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			s.fail(w, r, fmt.Errorf("read heartbeat body: %w", err))
			return
		}
		message = heartbeatMessage(body)
	}
	failed := r.URL.Query().Get("status") == "fail"
	if s.heartbeats == nil {
		s.fail(w, r, errNotFound)
		return
	}
	found, err := s.heartbeats.Ping(r.Context(), token, failed, message)
	if err != nil {
		s.fail(w, r, fmt.Errorf("record heartbeat: %w", err))
		return
	}
	if !found {
		s.fail(w, r, errNotFound)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeText(w, "OK")
}

// validToken accepts the characters of UUIDs and URL-safe random tokens.
func validToken(t string) bool {
	if t == "" || len(t) > maxTokenLen {
		return false
	}
	for _, c := range []byte(t) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

// heartbeatMessage keeps the first maxHeartbeatMessage bytes of body, cut at
// a character boundary, as valid UTF-8 without control characters other
// than newline and tab.
func heartbeatMessage(body []byte) string {
	if len(body) > maxHeartbeatMessage {
		body = body[:maxHeartbeatMessage]
		for len(body) > 0 && !utf8.Valid(body) && len(body) > maxHeartbeatMessage-utf8.UTFMax {
			body = body[:len(body)-1]
		}
	}
	msg := strings.ToValidUTF8(string(body), "\uFFFD")
	msg = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' || (r >= 0x20 && r != 0x7f && !(r >= 0x80 && r < 0xa0)) {
			return r
		}
		return -1
	}, msg)
	return strings.TrimSpace(msg)
}

func (s *server) handleDemo(act func(name string) error, done string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if err := act(name); err != nil {
			s.fail(w, r, fmt.Errorf("demo %s %s: %w", done, name, err))
			return
		}
		s.logger.InfoContext(r.Context(), "demo service changed", "part", name, "state", done)
		w.Header().Set("Cache-Control", "no-store")
		writeText(w, name+" "+done)
	}
}

func writeText(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, body+"\n") // a failed write means the client left
}

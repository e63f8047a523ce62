package demo

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
)

// maxBody caps request bodies of the API and Sync.
const maxBody = 64 << 10

// maxKept bounds the sessions and changes held in memory: the oldest are
// dropped first, so a probe that never deletes cannot grow the process.
const maxKept = 1000

// cloud serves the API's status endpoint and the Sync service.
type cloud struct {
	apiBroken, syncBroken *atomic.Bool
	creds                 credentials

	mu       sync.Mutex
	sessions *bounded[struct{}]
	changes  *bounded[*change]
}

type change struct {
	ID    string          `json:"id"`
	State string          `json:"state"`
	Data  json.RawMessage `json:"data"`
	polls int
}

func newCloud(apiBroken, syncBroken *atomic.Bool, creds credentials) http.Handler {
	c := &cloud{
		apiBroken:  apiBroken,
		syncBroken: syncBroken,
		creds:      creds,
		sessions:   newBounded[struct{}](maxKept),
		changes:    newBounded[*change](maxKept),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/status/", c.status)
	mux.HandleFunc("POST /api/v1/auth/login", c.login)
	mux.HandleFunc("POST /api/v1/changes", c.authed(c.createChange))
	mux.HandleFunc("GET /api/v1/changes/{id}", c.authed(c.getChange))
	mux.HandleFunc("DELETE /api/v1/changes/{id}", c.authed(c.deleteChange))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		mux.ServeHTTP(w, r)
	})
}

func (c *cloud) status(w http.ResponseWriter, r *http.Request) {
	if c.apiBroken.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "error", "database": "down"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "database": "ok"})
}

func (c *cloud) login(w http.ResponseWriter, r *http.Request) {
	var in struct {
		User     string `json:"user"`
		Password string `json:"password"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		writeError(w, r, http.StatusBadRequest, "body must be JSON with user and password")
		return
	}
	userOK := subtle.ConstantTimeCompare([]byte(in.User), []byte(c.creds.user)) == 1
	passOK := subtle.ConstantTimeCompare([]byte(in.Password), []byte(c.creds.password)) == 1
	if !userOK || !passOK {
		writeError(w, r, http.StatusUnauthorized, "invalid credentials")
		return
	}
	token := rand.Text()
	c.mu.Lock()
	c.sessions.put(token, struct{}{})
	c.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]string{"token": token})
}

// authed requires a token from login as "Authorization: Bearer <token>".
func (c *cloud) authed(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		c.mu.Lock()
		_, known := c.sessions.get(token)
		c.mu.Unlock()
		if !ok || !known {
			writeError(w, r, http.StatusUnauthorized, "missing or unknown bearer token")
			return
		}
		next(w, r)
	}
}

func (c *cloud) createChange(w http.ResponseWriter, r *http.Request) {
	var data json.RawMessage
	if err := json.NewDecoder(r.Body).Decode(&data); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeError(w, r, http.StatusRequestEntityTooLarge, "change too large")
			return
		}
		writeError(w, r, http.StatusBadRequest, "body must be JSON")
		return
	}
	ch := &change{ID: "chg_" + strings.ToLower(rand.Text()), State: "pending", Data: data}
	c.mu.Lock()
	c.changes.put(ch.ID, ch)
	out := *ch
	c.mu.Unlock()
	writeJSON(w, http.StatusCreated, out)
}

// getChange answers the change; a pending change becomes applied once it has
// been polled, unless sync is broken.
func (c *cloud) getChange(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	ch, ok := c.changes.get(r.PathValue("id"))
	var out change
	if ok {
		out = *ch
		ch.polls++
		if ch.State == "pending" && ch.polls > 1 && !c.syncBroken.Load() {
			ch.State = "applied"
			out.State = "applied"
		}
	}
	c.mu.Unlock()
	if !ok {
		writeError(w, r, http.StatusNotFound, "no such change")
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (c *cloud) deleteChange(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	ok := c.changes.delete(r.PathValue("id"))
	c.mu.Unlock()
	if !ok {
		writeError(w, r, http.StatusNotFound, "no such change")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("demo: marshal %T: %v", v, err)) // only fixed types are written
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n')) // a failed write means the client left
}

// writeError answers a JSON error, after reading what remains of the request
// body so the client sees the answer instead of a reset connection.
func writeError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	_, _ = io.Copy(io.Discard, r.Body) // capped by MaxBytesReader; best effort
	writeJSON(w, status, map[string]string{"error": msg})
}

// bounded is a map that forgets its oldest keys beyond a size. Not safe for
// concurrent use.
type bounded[V any] struct {
	max   int
	m     map[string]V
	order []string
}

func newBounded[V any](max int) *bounded[V] {
	return &bounded[V]{max: max, m: map[string]V{}}
}

func (b *bounded[V]) put(k string, v V) {
	if _, ok := b.m[k]; !ok {
		b.order = append(b.order, k)
	}
	b.m[k] = v
	for len(b.m) > b.max && len(b.order) > 0 {
		delete(b.m, b.order[0])
		b.order = b.order[1:]
	}
}

func (b *bounded[V]) get(k string) (V, bool) {
	v, ok := b.m[k]
	return v, ok
}

func (b *bounded[V]) delete(k string) bool {
	if _, ok := b.m[k]; !ok {
		return false
	}
	delete(b.m, k)
	for i, o := range b.order {
		if o == k {
			b.order = append(b.order[:i], b.order[i+1:]...)
			break
		}
	}
	return true
}

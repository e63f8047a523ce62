package web

import (
	"errors"
	"io/fs"
	"net/http"
)

// Errors handlers return; fail turns them into statuses.
var (
	errNotFound  = errors.New("not found")
	errForbidden = errors.New("forbidden")
)

// unavailableError answers 503 with its reason.
type unavailableError struct{ reason string }

func (e *unavailableError) Error() string { return e.reason }

// fail writes the response for err: the one place errors become statuses.
// Anything unrecognised is a 500 that says "internal error" to the client and
// logs the detail once, naming the route pattern (never the path, which may
// hold a heartbeat token).
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var (
		tooLarge    *http.MaxBytesError
		unavailable *unavailableError
	)
	switch {
	case errors.Is(err, errNotFound), errors.Is(err, fs.ErrNotExist):
		http.Error(w, "not found", http.StatusNotFound)
	case errors.Is(err, errForbidden):
		http.Error(w, "forbidden: cross-origin request", http.StatusForbidden)
	case errors.As(err, &tooLarge):
		http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
	case errors.As(err, &unavailable):
		w.Header().Set("Cache-Control", "no-store")
		http.Error(w, unavailable.reason, http.StatusServiceUnavailable)
	default:
		s.logger.ErrorContext(r.Context(), "request failed",
			"method", r.Method, "route", r.Pattern, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
	}
}

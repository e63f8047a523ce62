package web

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"

	"github.com/lookout-status/lookout/notify/alertmanager"
	"github.com/lookout-status/lookout/store"
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

// errUnauthorized: no credentials, or credentials that do not check out.
var errUnauthorized = errors.New("unauthorized")

// apiError is a refusal of the JSON API with its status, a machine-readable
// code, a message for people and, for invalid input, the field at fault.
type apiError struct {
	status  int
	code    string
	message string
	field   string
}

func (e *apiError) Error() string { return e.message }

// badField is a 400 naming the field at fault.
func badField(field, format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "invalid_field", field: field,
		message: field + ": " + fmt.Sprintf(format, args...)}
}

// failAPI is fail for the JSON API and integration endpoints: the same
// mapping, answered as {"error":{"code","message","field"}}.
func (s *server) failAPI(w http.ResponseWriter, r *http.Request, err error) {
	var (
		ae       *apiError
		tooLarge *http.MaxBytesError
	)
	switch {
	case errors.As(err, &ae):
	case errors.Is(err, errUnauthorized):
		w.Header().Set("WWW-Authenticate", `Bearer realm="lookout"`)
		ae = &apiError{status: http.StatusUnauthorized, code: "unauthorized",
			message: "a valid token is required: Authorization: Bearer <token>"}
	case errors.Is(err, errNotFound), errors.Is(err, store.ErrNotFound), errors.Is(err, fs.ErrNotExist):
		ae = &apiError{status: http.StatusNotFound, code: "not_found", message: "not found"}
	case errors.As(err, &tooLarge), errors.Is(err, alertmanager.ErrTooLarge):
		ae = &apiError{status: http.StatusRequestEntityTooLarge, code: "too_large", message: "request body too large"}
	default:
		s.logger.ErrorContext(r.Context(), "request failed",
			"method", r.Method, "route", r.Pattern, "err", err)
		ae = &apiError{status: http.StatusInternalServerError, code: "internal", message: "internal error"}
	}
	type body struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field,omitempty"`
	}
	respondJSON(w, ae.status, struct {
		Error body `json:"error"`
	}{body{ae.code, ae.message, ae.field}})
}

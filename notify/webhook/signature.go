package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Standard Webhooks header names (https://www.standardwebhooks.com).
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// SecretPrefix marks a Standard Webhooks symmetric secret.
const SecretPrefix = "whsec_"

// MinSecretBytes is the shortest secret accepted, as the spec requires.
const MinSecretBytes = 24

// DefaultTolerance is how far a webhook-timestamp may be from now when
// Verify is given no tolerance.
const DefaultTolerance = 5 * time.Minute

// Verification failures, checked with errors.Is.
var (
	ErrMissingHeader    = errors.New("missing webhook header")
	ErrTimestamp        = errors.New("webhook timestamp outside the tolerance")
	ErrInvalidSignature = errors.New("no valid webhook signature")
)

// GenerateSecret returns a fresh secret: "whsec_" and 32 random bytes in
// standard base64.
func GenerateSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand crashes the program instead)
	return SecretPrefix + base64.StdEncoding.EncodeToString(b)
}

// decodeSecret returns the key bytes of a "whsec_…" secret. The prefix is
// optional, as in the official libraries. The error never quotes the secret.
func decodeSecret(secret string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
	if err != nil {
		return nil, errors.New(`secret is not "whsec_" followed by standard base64`)
	}
	if len(key) < MinSecretBytes {
		return nil, fmt.Errorf("secret is %d bytes, want at least %d (generate one with lookout's webhook secret generator)", len(key), MinSecretBytes)
	}
	return key, nil
}

// signature returns the raw HMAC-SHA256 of "id.timestamp.body".
func signature(key []byte, id string, unix int64, body []byte) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write(strconv.AppendInt(nil, unix, 10))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return mac.Sum(nil)
}

// Sign returns the webhook-signature header value for a message: "v1,"
// and the base64 HMAC-SHA256, keyed with the decoded secret, of the id, the
// timestamp in Unix seconds and the body joined by full stops.
func Sign(secret, id string, ts time.Time, body []byte) (string, error) {
	key, err := decodeSecret(secret)
	if err != nil {
		return "", fmt.Errorf("sign webhook: %w", err)
	}
	return "v1," + base64.StdEncoding.EncodeToString(signature(key, id, ts.Unix(), body)), nil
}

// Verify checks a received webhook: the webhook-id, webhook-timestamp and
// webhook-signature headers are present, the timestamp is within tolerance
// of now (either side; 0 means DefaultTolerance), and one of the
// space-separated signatures is a valid "v1" signature of the body. Other
// signature versions are skipped. Comparisons are constant-time.
func Verify(secret string, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	key, err := decodeSecret(secret)
	if err != nil {
		return fmt.Errorf("verify webhook: %w", err)
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	id, tsText, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	for _, f := range []struct{ name, v string }{{HeaderID, id}, {HeaderTimestamp, tsText}, {HeaderSignature, sigs}} {
		if f.v == "" {
			return fmt.Errorf("verify webhook: %w: %s", ErrMissingHeader, f.name)
		}
	}
	unix, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return fmt.Errorf("verify webhook: %w: %q is not Unix seconds", ErrTimestamp, tsText)
	}
	if skew := now.Sub(time.Unix(unix, 0)); skew > tolerance || skew < -tolerance {
		return fmt.Errorf("verify webhook: %w: %s from now, tolerance %s", ErrTimestamp, skew.Round(time.Second), tolerance)
	}
	want := signature(key, id, unix, body)
	for _, s := range strings.Fields(sigs) {
		version, value, ok := strings.Cut(s, ",")
		if !ok || version != "v1" {
			continue
		}
		// Strict: the unused bits of the last character must be zero, so
		// no two signature strings are both valid for one message.
		got, err := base64.StdEncoding.Strict().DecodeString(value)
		if err != nil {
			continue
		}
		if hmac.Equal(got, want) {
			return nil
		}
	}
	return fmt.Errorf("verify webhook: %w", ErrInvalidSignature)
}

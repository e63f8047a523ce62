package webhook_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lookout-status/lookout/notify/webhook"
)

// specVerify is an independent verifier written from the Standard Webhooks
// specification (symmetric scheme), sharing no code with the package: the
// key is the base64 after "whsec_"; the signed content is
// "{webhook-id}.{webhook-timestamp}.{body}"; webhook-signature is a
// space-delimited list of "v1,<base64 HMAC-SHA256>"; the timestamp must be
// within 5 minutes of now.
func specVerify(secret string, h http.Header, body []byte, now time.Time) error {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return fmt.Errorf("secret: %v", err)
	}
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return errors.New("missing header")
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errors.New("bad timestamp")
	}
	if d := now.Unix() - unix; d > 300 || d < -300 {
		return fmt.Errorf("timestamp %d s away from now", d)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "." + string(body)))
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, s := range strings.Split(sigs, " ") {
		if hmac.Equal([]byte(s), []byte(want)) {
			return nil
		}
	}
	return errors.New("no matching signature")
}

// The vector published with the official Standard Webhooks libraries.
const (
	vectorSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTS     = 1614265330
	vectorBody   = `{"test": 2432232314}`
	vectorSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func vectorHeader(sig string, ts int64) http.Header {
	h := http.Header{}
	h.Set("webhook-id", vectorID)
	h.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	h.Set("webhook-signature", sig)
	return h
}

func TestSignMatchesPublishedVector(t *testing.T) {
	got, err := webhook.Sign(vectorSecret, vectorID, time.Unix(vectorTS, 0), []byte(vectorBody))
	if err != nil {
		t.Fatal(err)
	}
	if got != vectorSig {
		t.Errorf("Sign: got %s, want %s", got, vectorSig)
	}
	// The independent verifier agrees with the vector too, so it is a fair
	// judge of what the notifier sends.
	if err := specVerify(vectorSecret, vectorHeader(vectorSig, vectorTS), []byte(vectorBody), time.Unix(vectorTS, 0)); err != nil {
		t.Errorf("specVerify on the published vector: %v", err)
	}
}

// TestVerify runs each case through both the package's Verify and the
// independent verifier: they must agree, and both must reject forgeries.
func TestVerify(t *testing.T) {
	now := time.Unix(vectorTS, 0)
	other := webhook.GenerateSecret()
	otherSig, err := webhook.Sign(other, vectorID, now, []byte(vectorBody))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		secret  string
		header  http.Header
		body    string
		now     time.Time
		wantErr error // for Verify; nil means valid
	}{
		{name: "valid", header: vectorHeader(vectorSig, vectorTS)},
		{name: "valid without the whsec_ prefix", secret: strings.TrimPrefix(vectorSecret, "whsec_"), header: vectorHeader(vectorSig, vectorTS)},
		{name: "valid 4 min 59 s later", header: vectorHeader(vectorSig, vectorTS), now: now.Add(5*time.Minute - time.Second)},
		{name: "forged body", header: vectorHeader(vectorSig, vectorTS), body: `{"test": 2432232315}`, wantErr: webhook.ErrInvalidSignature},
		{name: "body with a stray space", header: vectorHeader(vectorSig, vectorTS), body: vectorBody + " ", wantErr: webhook.ErrInvalidSignature},
		{name: "wrong secret", secret: other, header: vectorHeader(vectorSig, vectorTS), wantErr: webhook.ErrInvalidSignature},
		{name: "signed with another secret", header: vectorHeader(otherSig, vectorTS), wantErr: webhook.ErrInvalidSignature},
		{name: "replayed 5 min 1 s later", header: vectorHeader(vectorSig, vectorTS), now: now.Add(5*time.Minute + time.Second), wantErr: webhook.ErrTimestamp},
		{name: "timestamp from the future", header: vectorHeader(vectorSig, vectorTS), now: now.Add(-6 * time.Minute), wantErr: webhook.ErrTimestamp},
		{name: "timestamp changed to pass the window", header: vectorHeader(vectorSig, vectorTS+600), now: now.Add(10 * time.Minute), wantErr: webhook.ErrInvalidSignature},
		{name: "timestamp not a number", header: func() http.Header {
			h := vectorHeader(vectorSig, vectorTS)
			h.Set("webhook-timestamp", "1614265330.0")
			return h
		}(), wantErr: webhook.ErrTimestamp},
		{name: "id changed", header: func() http.Header {
			h := vectorHeader(vectorSig, vectorTS)
			h.Set("webhook-id", vectorID+"x")
			return h
		}(), wantErr: webhook.ErrInvalidSignature},
		{name: "missing id", header: func() http.Header { h := vectorHeader(vectorSig, vectorTS); h.Del("webhook-id"); return h }(), wantErr: webhook.ErrMissingHeader},
		{name: "missing timestamp", header: func() http.Header { h := vectorHeader(vectorSig, vectorTS); h.Del("webhook-timestamp"); return h }(), wantErr: webhook.ErrMissingHeader},
		{name: "missing signature", header: vectorHeader("", vectorTS), wantErr: webhook.ErrMissingHeader},
		{name: "empty v1", header: vectorHeader("v1,", vectorTS), wantErr: webhook.ErrInvalidSignature},
		{name: "signature not base64", header: vectorHeader("v1,!!!", vectorTS), wantErr: webhook.ErrInvalidSignature},
		{name: "right bytes under another version", header: vectorHeader("v2"+strings.TrimPrefix(vectorSig, "v1"), vectorTS), wantErr: webhook.ErrInvalidSignature},
		{
			name:   "several signatures, one valid (secret rotation)",
			header: vectorHeader("v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg== "+vectorSig+" v2,abc", vectorTS),
		},
		{
			name:    "several signatures, none valid",
			header:  vectorHeader("v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= "+otherSig, vectorTS),
			wantErr: webhook.ErrInvalidSignature,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			secret, body, at := vectorSecret, vectorBody, now
			if tc.secret != "" {
				secret = tc.secret
			}
			if tc.body != "" {
				body = tc.body
			}
			if !tc.now.IsZero() {
				at = tc.now
			}
			err := webhook.Verify(secret, tc.header, []byte(body), at, 5*time.Minute)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Errorf("Verify: got %v, want %v", err, tc.wantErr)
			}
			if serr := specVerify(secret, tc.header, []byte(body), at); (serr == nil) != (tc.wantErr == nil) {
				t.Errorf("specVerify: got %v, want valid=%v", serr, tc.wantErr == nil)
			}
		})
	}
}

func TestVerifyDefaultTolerance(t *testing.T) {
	h := vectorHeader(vectorSig, vectorTS)
	if err := webhook.Verify(vectorSecret, h, []byte(vectorBody), time.Unix(vectorTS, 0).Add(4*time.Minute), 0); err != nil {
		t.Errorf("4 min late with tolerance 0: got %v, want valid (default 5 min)", err)
	}
	if err := webhook.Verify(vectorSecret, h, []byte(vectorBody), time.Unix(vectorTS, 0).Add(6*time.Minute), 0); !errors.Is(err, webhook.ErrTimestamp) {
		t.Errorf("6 min late with tolerance 0: got %v, want %v", err, webhook.ErrTimestamp)
	}
}

func TestSecrets(t *testing.T) {
	a, b := webhook.GenerateSecret(), webhook.GenerateSecret()
	if a == b {
		t.Fatalf("two secrets are equal: %s", a)
	}
	for _, s := range []string{a, b} {
		if !strings.HasPrefix(s, "whsec_") {
			t.Errorf("secret %q: want the whsec_ prefix", s)
		}
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "whsec_"))
		if err != nil || len(key) != 32 {
			t.Errorf("secret decodes to %d bytes (err %v), want 32", len(key), err)
		}
		sig, err := webhook.Sign(s, "msg_1", time.Unix(1700000000, 0), []byte("{}"))
		if err != nil {
			t.Fatal(err)
		}
		h := http.Header{"Webhook-Id": {"msg_1"}, "Webhook-Timestamp": {"1700000000"}, "Webhook-Signature": {sig}}
		if err := specVerify(s, h, []byte("{}"), time.Unix(1700000000, 0)); err != nil {
			t.Errorf("generated secret: %v", err)
		}
	}

	for _, tc := range []struct{ name, secret, want string }{
		{"not base64", "whsec_not base64!", `secret is not "whsec_" followed by standard base64`},
		{"too short", "whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 16)), "secret is 16 bytes, want at least 24"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := webhook.Sign(tc.secret, "msg_1", time.Now(), nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Sign: got %v, want an error containing %q", err, tc.want)
			}
			if err := webhook.Verify(tc.secret, http.Header{}, nil, time.Now(), 0); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Verify: got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

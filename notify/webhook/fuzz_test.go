package webhook_test

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/lookout-status/lookout/notify/webhook"
)

// FuzzVerify: for any key, message id, timestamp and body, Verify accepts
// what Sign produced; changing any single byte of the body, the id, the
// timestamp or the signature makes Verify refuse; and Verify never panics
// on garbage headers or a garbage secret.
func FuzzVerify(f *testing.F) {
	f.Add([]byte("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), "msg_p5jXN8AQM9LWM0D4loKWxJek", int64(1614265330), []byte(`{"test": 2432232314}`), uint16(3), byte(1), "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", "1614265330")
	f.Add([]byte{}, "x", int64(0), []byte{}, uint16(0), byte(0x80), "v1,", "")
	// The last base64 character before "=" carries two unused bits.
	f.Add([]byte("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), "msg_1", int64(1614265330), []byte("{}"), uint16(45*4+3), byte(3), "", "")
	f.Fuzz(func(t *testing.T, key []byte, id string, unix int64, body []byte, pos uint16, flip byte, garbageSig, garbageTS string) {
		// Garbage: never a panic, and never accepted.
		garbage := http.Header{}
		garbage.Set(webhook.HeaderID, id)
		garbage.Set(webhook.HeaderTimestamp, garbageTS)
		garbage.Set(webhook.HeaderSignature, garbageSig)
		for _, secret := range []string{string(key), webhook.SecretPrefix + string(key), "whsec_" + base64.StdEncoding.EncodeToString(pad(key))} {
			if webhook.Verify(secret, garbage, body, time.Unix(unix, 0), 0) == nil {
				// Only a real signature of this message may pass.
				t0, perr := strconv.ParseInt(garbageTS, 10, 64)
				sig, err := webhook.Sign(secret, id, time.Unix(t0, 0), body)
				if perr != nil || err != nil || !containsField(garbageSig, sig) {
					t.Fatalf("Verify accepted garbage signature %q (ts %q) for id %q", garbageSig, garbageTS, id)
				}
			}
		}

		if id == "" {
			return // a missing header: refused, checked above
		}
		// Timestamps a real sender uses (Sign works in Unix seconds).
		unix = unix % (1 << 40)
		secret := webhook.SecretPrefix + base64.StdEncoding.EncodeToString(pad(key))
		ts := time.Unix(unix, 0)
		sig, err := webhook.Sign(secret, id, ts, body)
		if err != nil {
			t.Fatalf("sign: %v", err)
		}
		h := http.Header{}
		h[webhook.HeaderID] = []string{id}
		h[webhook.HeaderTimestamp] = []string{strconv.FormatInt(unix, 10)}
		h[webhook.HeaderSignature] = []string{sig}
		// Header keys as the receiver's net/http canonicalizes them.
		h = canonical(h)
		if err := webhook.Verify(secret, h, body, ts, 0); err != nil {
			t.Fatalf("Verify(Sign(x)) = %v, want nil", err)
		}
		if flip == 0 {
			flip = 1
		}
		// One byte of one part, changed.
		parts := []struct {
			name string
			get  func() []byte
			set  func([]byte)
		}{
			{"body", func() []byte { return body }, func(b []byte) { body = b }},
			{webhook.HeaderID, func() []byte { return []byte(h.Get(webhook.HeaderID)) }, func(b []byte) { h.Set(webhook.HeaderID, string(b)) }},
			{webhook.HeaderTimestamp, func() []byte { return []byte(h.Get(webhook.HeaderTimestamp)) }, func(b []byte) { h.Set(webhook.HeaderTimestamp, string(b)) }},
			{webhook.HeaderSignature, func() []byte { return []byte(h.Get(webhook.HeaderSignature)) }, func(b []byte) { h.Set(webhook.HeaderSignature, string(b)) }},
		}
		p := parts[int(pos)%len(parts)]
		orig := p.get()
		if len(orig) == 0 {
			return
		}
		tampered := append([]byte(nil), orig...)
		i := int(pos/4) % len(tampered)
		tampered[i] ^= flip
		p.set(tampered)
		if err := webhook.Verify(secret, h, body, ts, 0); err == nil {
			t.Fatalf("%s byte %d changed from %q to %q: Verify accepted it", p.name, i, orig, tampered)
		}
	})
}

// pad makes a key long enough for a secret (24 bytes).
func pad(key []byte) []byte {
	out := append([]byte(nil), key...)
	for len(out) < webhook.MinSecretBytes {
		out = append(out, byte(len(out)))
	}
	return out
}

func canonical(h http.Header) http.Header {
	out := http.Header{}
	for k, v := range h {
		out[http.CanonicalHeaderKey(k)] = v
	}
	return out
}

func containsField(list, s string) bool {
	for i := 0; i+len(s) <= len(list); i++ {
		if list[i:i+len(s)] == s && (i == 0 || list[i-1] == ' ') && (i+len(s) == len(list) || list[i+len(s)] == ' ') {
			return true
		}
	}
	return false
}

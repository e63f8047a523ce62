package accounts

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"math"
	"sync"
	"time"
)

// The sign-in throttle: token buckets per client address (every attempt
// takes a token) and per username (failed attempts take a token). Neither
// is a lockout: buckets refill, so a guesser is slowed to a trickle while a
// person waits seconds. And a browser that signed in as a user before
// carries a device cookie that exempts it from that user's bucket, so
// someone hammering the username cannot keep its owner out (OWASP's
// "device cookies").
const (
	ipBurst    = 20
	ipEvery    = 3 * time.Second // 20 per minute sustained
	userBurst  = 10
	userEvery  = time.Minute
	maxBuckets = 10000
)

type throttle struct {
	ip, user *buckets
	// key signs device cookies. It is made at start: a restart forgets
	// which devices were trusted (they sign in again, subject to the
	// username's bucket).
	key [32]byte
}

func newThrottle() *throttle {
	t := &throttle{ip: newBuckets(ipBurst, ipEvery), user: newBuckets(userBurst, userEvery)}
	rand.Read(t.key[:])
	return t
}

// device returns a device cookie value for username: a random nonce and
// its MAC.
func (t *throttle) device(username string) string {
	var b [32]byte
	rand.Read(b[:16])
	copy(b[16:], t.mac(username, b[:16]))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// trusted reports whether v is a device cookie this process made for
// username.
func (t *throttle) trusted(username, v string) bool {
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil || len(b) != 32 {
		return false
	}
	return hmac.Equal(b[16:], t.mac(username, b[:16]))
}

func (t *throttle) mac(username string, nonce []byte) []byte {
	m := hmac.New(sha256.New, t.key[:])
	m.Write(nonce)
	m.Write([]byte(username))
	return m.Sum(nil)[:16]
}

// buckets is a token bucket per key: burst at once, then one per every.
type buckets struct {
	burst float64
	every time.Duration

	mu sync.Mutex
	m  map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newBuckets(burst int, every time.Duration) *buckets {
	return &buckets{burst: float64(burst), every: every, m: map[string]*bucket{}}
}

// level refills key's bucket to now and returns it (nil when the key is
// unknown, which is a full bucket).
func (b *buckets) level(key string, now time.Time) *bucket {
	k := b.m[key]
	if k == nil {
		return nil
	}
	k.tokens = math.Min(b.burst, k.tokens+float64(now.Sub(k.at))/float64(b.every))
	k.at = now
	return k
}

// wait returns how long until key's bucket holds a token (0: now).
func (b *buckets) wait(key string, now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	k := b.level(key, now)
	if k == nil || k.tokens >= 1 {
		return 0
	}
	return time.Duration((1 - k.tokens) * float64(b.every))
}

// take takes a token from key's bucket; when there is none it returns how
// long until there is, taking nothing.
func (b *buckets) take(key string, now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	k := b.level(key, now)
	if k == nil {
		if len(b.m) >= maxBuckets {
			b.prune(now)
		}
		k = &bucket{tokens: b.burst, at: now}
		b.m[key] = k
	}
	if k.tokens < 1 {
		return time.Duration((1 - k.tokens) * float64(b.every))
	}
	k.tokens--
	return 0
}

// prune drops the buckets that have refilled, and all of them if that is
// not enough (a flood of keys resets everyone's limit, never memory).
func (b *buckets) prune(now time.Time) {
	for key, k := range b.m {
		if k.tokens+float64(now.Sub(k.at))/float64(b.every) >= b.burst {
			delete(b.m, key)
		}
	}
	if len(b.m) >= maxBuckets {
		clear(b.m)
	}
}

// retryAfter rounds a wait up to whole seconds (Retry-After's unit).
func retryAfter(d time.Duration) time.Duration {
	return time.Duration(math.Ceil(d.Seconds())) * time.Second
}

package accounts

import (
	"sync"
	"time"
)

// ttlCache maps a secret's SHA-256 (a session id's, a token's) to what it
// resolved to, until a deadline. A lookup that started before a clear or a
// drop does not store what it read: gen counts them, and put refuses a
// generation that has passed. It holds at most maxCached entries; a full
// cache is emptied rather than scanned.
type ttlCache[V any] struct {
	mu  sync.Mutex
	gen uint64
	m   map[[32]byte]ttlEntry[V]
}

type ttlEntry[V any] struct {
	v     V
	until time.Time
}

func newTTLCache[V any]() *ttlCache[V] {
	return &ttlCache[V]{m: map[[32]byte]ttlEntry[V]{}}
}

// get returns h's value unless it is missing or its deadline has passed.
func (c *ttlCache[V]) get(h [32]byte, now time.Time) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[h]
	if !ok || !now.Before(e.until) {
		delete(c.m, h)
		var zero V
		return zero, false
	}
	return e.v, true
}

// generation is read before a lookup whose result put will store.
func (c *ttlCache[V]) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// put stores v until then, unless the cache was cleared (or an entry
// dropped) since gen was read.
func (c *ttlCache[V]) put(h [32]byte, v V, until time.Time, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if len(c.m) >= maxCached {
		clear(c.m)
	}
	c.m[h] = ttlEntry[V]{v: v, until: until}
}

// update changes h's value in place, if it is cached.
func (c *ttlCache[V]) update(h [32]byte, change func(*V)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[h]; ok {
		change(&e.v)
		c.m[h] = e
	}
}

func (c *ttlCache[V]) drop(h [32]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.m, h)
}

func (c *ttlCache[V]) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.m)
}

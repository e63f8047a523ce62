package store

import (
	"encoding/binary"
	"errors"
	"math"
	"math/bits"
	"sort"
)

// hist is a mergeable latency histogram over microseconds with log-linear
// buckets: exact below 16 µs, then 16 buckets per power of two, so a
// bucket's midpoint is within 1/32 (~3%) of any value in it. Hourly rollups
// store one; daily figures and ranges merge them.
type hist map[int]int64

const histSub = 16

func bucketOf(us int64) int {
	if us < histSub {
		return int(max(us, 0))
	}
	e := bits.Len64(uint64(us)) - 1 // >= 4
	m := int(us>>(e-4)) & (histSub - 1)
	return histSub + (e-4)*histSub + m
}

// bucketLow is the smallest value in bucket i.
func bucketLow(i int) int64 {
	if i < histSub {
		return int64(i)
	}
	e := (i-histSub)/histSub + 4
	m := (i - histSub) % histSub
	return int64(histSub+m) << (e - 4)
}

// bucketMid is the value a bucket stands for.
func bucketMid(i int) int64 {
	lo, hi := bucketLow(i), bucketLow(i+1)-1
	return lo + (hi-lo)/2
}

func (h hist) add(us int64) { h[bucketOf(us)]++ }

func (h hist) merge(o hist) {
	for k, v := range o {
		h[k] += v
	}
}

func (h hist) total() int64 {
	var n int64
	for _, v := range h {
		n += v
	}
	return n
}

// quantile returns the nearest-rank q-quantile (0 < q <= 1), as the midpoint
// of its bucket, never above maxUS (the exact maximum, when known).
func (h hist) quantile(q float64, maxUS int64) int64 {
	n := h.total()
	if n == 0 {
		return 0
	}
	rank := nearestRank(q, int(n))
	keys := make([]int, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	var cum int64
	for _, k := range keys {
		cum += h[k]
		if cum >= int64(rank) {
			v := bucketMid(k)
			if maxUS > 0 && v > maxUS {
				v = maxUS
			}
			return v
		}
	}
	return maxUS
}

// nearestRank is the 1-based rank of the q-quantile among n sorted values.
func nearestRank(q float64, n int) int {
	r := int(math.Ceil(q * float64(n)))
	return min(max(r, 1), n)
}

// encode writes the histogram as (bucket delta, count) uvarint pairs in
// bucket order; nil for an empty one.
func (h hist) encode() []byte {
	if len(h) == 0 {
		return nil
	}
	keys := make([]int, 0, len(h))
	for k, v := range h {
		if v > 0 {
			keys = append(keys, k)
		}
	}
	sort.Ints(keys)
	b := make([]byte, 0, 3*len(keys))
	prev := 0
	for _, k := range keys {
		b = binary.AppendUvarint(b, uint64(k-prev))
		b = binary.AppendUvarint(b, uint64(h[k]))
		prev = k
	}
	return b
}

var errBadHist = errors.New("corrupt latency histogram")

// decodeHist merges an encoded histogram into h.
func (h hist) decode(b []byte) error {
	k := 0
	for len(b) > 0 {
		d, n := binary.Uvarint(b)
		if n <= 0 {
			return errBadHist
		}
		b = b[n:]
		c, n := binary.Uvarint(b)
		if n <= 0 {
			return errBadHist
		}
		b = b[n:]
		k += int(d)
		h[k] += int64(c)
	}
	return nil
}

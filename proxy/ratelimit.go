package proxy

import (
	"crypto/rand"
	"encoding/binary"
	"math"
	"net/netip"
	"sync"
)

// limiter is a token bucket per client, in a table of fixed size: 4-way
// set-associative, so an address is looked for in one set of four slots (by
// a keyed hash), and a new one takes the slot of the four whose bucket is
// fullest (the client that has spent least lately, whose forgetting loses
// least; a full bucket is what a new client gets anyway). Its memory is fixed when it is
// made, whatever the number of addresses that come: random source addresses
// can only push out buckets that were already full again. It allocates
// nothing per request.
type limiter struct {
	rate  float64 // tokens per nanosecond
	burst float64
	sets  []limiterSet
	mask  uint64
	seed  uint64
	now   func() int64
}

const limiterWays = 4

type limiterSet struct {
	mu    sync.Mutex
	slots [limiterWays]bucket
}

// bucket is one client's tokens as of last (unix nanoseconds).
type bucket struct {
	key    [16]byte // the address (an IPv6 one cut to its /64); all zero: empty
	used   bool
	tokens float64
	last   int64
}

func newLimiter(rl RateLimit) *limiter {
	clients := rl.Clients
	if clients == 0 {
		clients = 65536
	}
	burst := float64(rl.Burst)
	if rl.Burst == 0 {
		burst = math.Max(1, rl.Rate)
	}
	sets := 1
	for sets*limiterWays < clients {
		sets *= 2
	}
	var seed [8]byte
	_, _ = rand.Read(seed[:]) // so nobody can aim addresses at one set
	l := &limiter{rate: rl.Rate / 1e9, burst: burst, sets: make([]limiterSet, sets), mask: uint64(sets - 1),
		now: monoNow, seed: binary.LittleEndian.Uint64(seed[:])}
	return l
}

// take spends a token of a's bucket, or tells in whole seconds when the next
// one comes.
func (l *limiter) take(a netip.Addr) (retryAfter int, ok bool) {
	key := a.As16()
	if !a.Is4() && !a.Is4In6() {
		clear(key[8:]) // one host usually holds a whole /64
	}
	h := l.seed
	for _, b := range key {
		h = (h ^ uint64(b)) * 1099511628211
	}
	set := &l.sets[mix64(h)&l.mask]
	now := l.now()
	set.mu.Lock()
	defer set.mu.Unlock()
	var b *bucket
	fullest, most := 0, -1.0
	for i := range set.slots {
		s := &set.slots[i]
		if s.used && s.key == key {
			b = s
			break
		}
		level := l.burst + 1 // an empty slot is the first choice
		if s.used {
			level = math.Min(l.burst, s.tokens+float64(now-s.last)*l.rate)
		}
		if level > most {
			fullest, most = i, level
		}
	}
	if b == nil {
		b = &set.slots[fullest]
		*b = bucket{key: key, used: true, tokens: l.burst, last: now}
	}
	b.tokens = math.Min(l.burst, b.tokens+float64(now-b.last)*l.rate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return 0, true
	}
	wait := (1 - b.tokens) / l.rate / 1e9
	return max(1, int(math.Ceil(wait))), false
}

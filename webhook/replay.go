package webhook

import (
	"crypto/sha256"
	"strconv"
	"sync"
	"time"
)

// DefaultReplays is the size of a Replays made for a Verifier without one:
// about 4 MiB.
const DefaultReplays = 1 << 16

// Replays remembers deliveries that were let through, each until its
// timestamp leaves the tolerance (after which Verify refuses it anyway). It
// holds at most its size: past that the oldest is forgotten, so size it
// above the deliveries an endpoint may get in twice its tolerance. Each
// replica has its own: an app must still treat a delivery id it has seen
// as done (Stripe and Standard Webhooks both say so). Safe for concurrent
// use.
type Replays struct {
	mu   sync.Mutex
	seen map[[16]byte]seenAt
	ring [][16]byte // in the order remembered; next is the oldest once full
	next int
}

type seenAt struct {
	until int64 // Unix seconds
	slot  int   // its place in ring
}

// NewReplays makes a memory of size deliveries (at least 1): about 64 bytes
// each.
func NewReplays(size int) *Replays {
	size = max(size, 1)
	return &Replays{seen: make(map[[16]byte]seenAt, size), ring: make([][16]byte, 0, size)}
}

// first records a delivery, remembered until until, and tells whether it is
// new at now: false if the same endpoint (and scheme), id and timestamp were
// let through and are still remembered.
func (r *Replays) first(endpoint, id string, timestamp int64, now, until time.Time) bool {
	h := sha256.New()
	h.Write([]byte(endpoint))
	h.Write([]byte{0})
	h.Write([]byte(id))
	h.Write([]byte{0})
	h.Write(strconv.AppendInt(nil, timestamp, 10))
	var key [16]byte
	copy(key[:], h.Sum(nil))

	r.mu.Lock()
	defer r.mu.Unlock()
	if s, ok := r.seen[key]; ok && s.until >= now.Unix() {
		return false
	}
	slot := len(r.ring)
	if slot < cap(r.ring) {
		r.ring = append(r.ring, key)
	} else {
		slot = r.next
		old := r.ring[slot]
		if s, ok := r.seen[old]; ok && s.slot == slot {
			delete(r.seen, old)
		}
		r.ring[slot] = key
		r.next = (slot + 1) % len(r.ring)
	}
	r.seen[key] = seenAt{until: until.Unix(), slot: slot}
	return true
}

// Len is how many deliveries are remembered.
func (r *Replays) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seen)
}

package kube

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"sync"
)

// PairCache remembers the spec.tls pairs already checked (parsed, key
// matched), by their bytes, so that a rebuild parses only the new and
// changed ones: a cluster of a thousand TLS Secrets rebuilds at each
// EndpointSlice change. Pairs no rebuild used are forgotten. The zero value
// is ready; a nil *PairCache checks every pair each time.
type PairCache struct {
	mu   sync.Mutex
	gen  uint64
	seen map[[sha256.Size]byte]pairEntry
}

type pairEntry struct {
	leaf *x509.Certificate
	err  error
	gen  uint64 // the last rebuild that used it
}

// parse checks a pair and returns its leaf.
func (c *PairCache) parse(certPEM, keyPEM []byte) (*x509.Certificate, error) {
	if c == nil {
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, err
		}
		return pair.Leaf, nil
	}
	h := sha256.New()
	h.Write(certPEM)
	h.Write([]byte{0})
	h.Write(keyPEM)
	var key [sha256.Size]byte
	h.Sum(key[:0])
	c.mu.Lock()
	e, ok := c.seen[key]
	c.mu.Unlock()
	if !ok {
		var pair tls.Certificate
		pair, e.err = tls.X509KeyPair(certPEM, keyPEM)
		e.leaf = pair.Leaf
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seen = map[[sha256.Size]byte]pairEntry{}
	}
	e.gen = c.gen
	c.seen[key] = e
	return e.leaf, e.err
}

// begin starts a rebuild; sweep ends it, forgetting what it did not use.
func (c *PairCache) begin() {
	if c != nil {
		c.mu.Lock()
		c.gen++
		c.mu.Unlock()
	}
}

func (c *PairCache) sweep() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.seen {
		if e.gen != c.gen {
			delete(c.seen, k)
		}
	}
}

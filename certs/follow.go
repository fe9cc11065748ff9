package certs

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/rampart-proxy/rampart/hostname"
)

// How often a follower re-reads a name from the shared cache: a name it
// holds a certificate for (to pick up the leader's renewal), and one it
// does not (so a flood of handshakes for it costs the cache one read
// each few seconds, not one each).
const (
	followRefresh = time.Minute
	followMiss    = 5 * time.Second
)

// followed is a follower's view of one name's certificate in the cache.
type followed struct {
	cert    *tls.Certificate // nil: the cache held none that serves
	read    time.Time
	reading bool // a read is under way; others serve what is here
}

func (a *ACME) mayOrder() bool { return a.cfg.MayOrder == nil || a.cfg.MayOrder() }

// follow serves a handshake, on a replica that may not order, from what
// the shared cache holds: the leader's certificate, never a new order.
func (a *ACME) follow(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := hostname.Canonical(hello.ServerName)
	if !a.served.has(name) {
		return nil, fmt.Errorf("%w: %q", ErrNotServed, name)
	}
	now := time.Now()
	a.mu.Lock()
	if a.follows == nil {
		a.follows = map[string]*followed{}
	}
	f := a.follows[name]
	if f == nil {
		f = &followed{}
		a.follows[name] = f
	}
	fresh := f.cert != nil && now.Sub(f.read) < followRefresh && now.Before(f.cert.Leaf.NotAfter)
	fresh = fresh || (f.cert == nil && now.Sub(f.read) < followMiss)
	if fresh || f.reading {
		c := f.cert
		a.mu.Unlock()
		if c == nil {
			return nil, fmt.Errorf("%w: %q: the replica that orders has not stored it yet", ErrNotYetIssued, name)
		}
		return c, nil
	}
	f.reading = true
	a.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := a.readCached(ctx, name, name, now)
	a.mu.Lock()
	f.reading, f.read = false, now
	if err == nil {
		f.cert = c
	} else if f.cert != nil && now.Before(f.cert.Leaf.NotAfter) {
		c, err = f.cert, nil // the cache is unreachable: what is held still serves
	}
	a.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %w", ErrNotYetIssued, name, err)
	}
	if a.inv.record(name, c) {
		a.track(name, c) // known, should this replica come to order
	}
	return c, nil
}

// readCached reads and checks the certificate for name under a cache key
// (name, or name+"+rsa") as autocert stores it: the private key's PEM
// block, then the chain's.
func (a *ACME) readCached(ctx context.Context, key, name string, now time.Time) (*tls.Certificate, error) {
	data, err := a.cache.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	c, err := parseAutocertPEM(data)
	if err != nil {
		a.log.Error("a certificate in the shared cache does not parse", zap.String("domain", name), zap.Error(err))
		return nil, err
	}
	if now.After(c.Leaf.NotAfter) || c.Leaf.VerifyHostname(name) != nil {
		return nil, errors.New("the cached certificate has expired or does not cover the name")
	}
	return c, nil
}

func parseAutocertPEM(data []byte) (*tls.Certificate, error) {
	c := &tls.Certificate{}
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		switch {
		case strings.HasSuffix(b.Type, "PRIVATE KEY"):
			key, err := parseKey(b.Bytes)
			if err != nil {
				return nil, err
			}
			c.PrivateKey = key
		case b.Type == "CERTIFICATE":
			c.Certificate = append(c.Certificate, b.Bytes)
		}
	}
	if c.PrivateKey == nil || len(c.Certificate) == 0 {
		return nil, errors.New("certs: want a private key and a certificate chain")
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		return nil, err
	}
	pub, ok := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	signer, isSigner := c.PrivateKey.(crypto.Signer)
	if !ok || !isSigner || !pub.Equal(signer.Public()) {
		return nil, errors.New("certs: the key does not match the certificate")
	}
	c.Leaf = leaf
	return c, nil
}

func parseKey(der []byte) (crypto.PrivateKey, error) {
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		switch k := k.(type) {
		case *ecdsa.PrivateKey, *rsa.PrivateKey:
			return k, nil
		}
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	return nil, errors.New("certs: an unknown private key")
}

package certs

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/acme/autocert"
)

// memCache is an autocert.Cache in memory that counts its reads: the
// shared cache (Secrets) as a follower sees it.
type memCache struct {
	mu    sync.Mutex
	data  map[string][]byte
	reads atomic.Int64
}

func (c *memCache) Get(_ context.Context, key string) ([]byte, error) {
	c.reads.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if d, ok := c.data[key]; ok {
		return d, nil
	}
	return nil, autocert.ErrCacheMiss
}

func (c *memCache) Put(_ context.Context, key string, data []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.data[key] = data
	return nil
}

func (c *memCache) Delete(_ context.Context, key string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.data, key)
	return nil
}

// autocertPEM is a certificate for name as autocert stores it: the EC key's
// PEM block, then the chain's.
func autocertPEM(t *testing.T, name string) ([]byte, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return append(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...), leaf
}

// TestFollowerServesOnlyTheCache: a replica that may not order serves what
// the shared cache holds, orders nothing for a name it lacks (the CA here
// is unreachable: an order would be another error), reads the cache once
// for a flood of handshakes, and picks up the leader's certificate when it
// appears there.
func TestFollowerServesOnlyTheCache(t *testing.T) {
	cache := &memCache{data: map[string][]byte{}}
	a, err := NewACME(ACMEConfig{Domains: []string{"held.test", "later.test"}, Cache: cache, DirectoryURL: "https://127.0.0.1:1/dir",
		MayOrder: func() bool { return false }})
	if err != nil {
		t.Fatal(err)
	}
	blob, leaf := autocertPEM(t, "held.test")
	cache.data["held.test"] = blob
	c, err := a.GetCertificate(&tls.ClientHelloInfo{ServerName: "held.test"})
	if err != nil || !c.Leaf.Equal(leaf) {
		t.Fatalf("held.test: %v; want the cached certificate", err)
	}
	before := cache.reads.Load()
	for range 100 {
		if _, err := a.GetCertificate(&tls.ClientHelloInfo{ServerName: "later.test"}); !errors.Is(err, ErrNotYetIssued) {
			t.Fatalf("later.test, not in the cache: %v; want ErrNotYetIssued", err)
		}
	}
	if n := cache.reads.Load() - before; n != 1 {
		t.Errorf("100 handshakes for a missing name read the cache %d times; want 1", n)
	}
	if _, err := a.GetCertificate(&tls.ClientHelloInfo{ServerName: "other.test"}); !errors.Is(err, ErrNotServed) {
		t.Errorf("a name not served: %v; want ErrNotServed", err)
	}
	// The leader stores later.test; once the miss is old enough, it is served.
	blob2, leaf2 := autocertPEM(t, "later.test")
	cache.data["later.test"] = blob2
	a.mu.Lock()
	a.follows["later.test"].read = time.Now().Add(-followMiss)
	a.mu.Unlock()
	if c, err := a.GetCertificate(&tls.ClientHelloInfo{ServerName: "later.test"}); err != nil || !c.Leaf.Equal(leaf2) {
		t.Errorf("later.test after the leader stored it: %v", err)
	}
	// A blob whose key is not the certificate's is refused.
	other, _ := autocertPEM(t, "held.test")
	otherKey, _ := pem.Decode(other)
	mixed := append(pem.EncodeToMemory(otherKey), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw})...)
	if _, err := parseAutocertPEM(mixed); err == nil {
		t.Error("a key that is not the certificate's was accepted")
	}
}

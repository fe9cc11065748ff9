package certs

import (
	"context"
	"crypto/tls"
	"fmt"
	"time"
)

// Pair serves one certificate held in memory, such as a Kubernetes TLS
// Secret's: a new version of it is a new Pair. The zero value serves
// nothing; use NewPair.
type Pair struct {
	served servedNames
	cert   *tls.Certificate
}

// NewPair checks the pair as ParsePair does (from names where it came
// from) and serves it for domains.
func NewPair(certPEM, keyPEM []byte, from string, domains []string, now time.Time) (*Pair, error) {
	c, err := ParsePair(certPEM, keyPEM, from+" tls.crt", from+" tls.key", domains, now)
	if err != nil {
		return nil, err
	}
	p := &Pair{cert: c}
	p.served.store(domains)
	return p, nil
}

// GetCertificate serves the pair for a served name or an empty server name.
func (p *Pair) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if p.cert == nil || (hello.ServerName != "" && !p.served.has(hello.ServerName)) {
		return nil, fmt.Errorf("%w: %q", ErrNotServed, hello.ServerName)
	}
	return p.cert, nil
}

// Serves tells whether name is one of the pair's served names.
func (p *Pair) Serves(name string) bool { return p.served.has(name) }

// Inventory lists the pair.
func (p *Pair) Inventory() []Info {
	if p.cert == nil {
		return nil
	}
	return []Info{infoOf(p.cert.Leaf)}
}

// Reload does nothing: a pair in memory changes by being replaced.
func (p *Pair) Reload() {}

// Run waits for ctx: a pair in memory has nothing to watch.
func (p *Pair) Run(ctx context.Context) { <-ctx.Done() }

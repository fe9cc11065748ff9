// Package certs owns where rampart's certificates come from: ACME through
// autocert (ACME), a local development CA (Internal) and static PEM files
// reloaded on change (Files). Each gives a GetCertificate for the TLS listener
// and an Inventory of what is in service; ACME also gives the HTTP-01
// challenge handler.
//
// No source ever issues or serves a certificate for a name outside its
// configured domains.
package certs

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rampart-proxy/rampart/hostname"
)

// Info describes one certificate in service.
type Info struct {
	Names    []string  // the DNS names (and IPs) the certificate covers
	KeyType  string    // "ecdsa", "rsa", "ed25519" or "unknown"
	Issuer   string    // the issuer's common name, or its full DN if it has none
	NotAfter time.Time // expiry
}

// Errors a configuration check can return, for callers that name the setting at fault.
var (
	ErrCertFile    = errors.New("certs: unusable certificate file")
	ErrKeyFile     = errors.New("certs: unusable key file")
	ErrKeyMismatch = errors.New("certs: private key does not match the certificate")
	ErrExpired     = errors.New("certs: certificate is not valid now")
	ErrNotCovered  = errors.New("certs: certificate does not cover a served name")
	ErrNotServed   = errors.New("certs: name is not served")
)

// servedNames is the set of served names, replaced whole when a reload
// changes it; its zero value serves nothing.
type servedNames struct{ p atomic.Pointer[servedList] }

type servedList struct {
	set   domainSet
	names []string // as given, in order
}

func (s *servedNames) store(domains []string) {
	s.p.Store(&servedList{set: newDomainSet(domains), names: slices.Clone(domains)})
}

func (s *servedNames) has(name string) bool { return s.match(name) != "" }

// match returns the served name covering name (a wildcard's for a name it
// stands for), or "".
func (s *servedNames) match(name string) string {
	if l := s.p.Load(); l != nil {
		return l.set.match(name)
	}
	return ""
}

func (s *servedNames) list() []string {
	if l := s.p.Load(); l != nil {
		return l.names
	}
	return nil
}

// added returns the names of domains not served now.
func (s *servedNames) added(domains []string) []string {
	l := s.p.Load()
	var out []string
	for _, d := range domains {
		if l == nil || !slices.Contains(l.names, d) {
			out = append(out, d)
		}
	}
	return out
}

// domainSet is a fixed set of served names, compared case-insensitively and
// without port or trailing dot.
type domainSet map[string]struct{}

func newDomainSet(domains []string) domainSet {
	s := make(domainSet, len(domains))
	for _, d := range domains {
		s[hostname.Canonical(d)] = struct{}{}
	}
	return s
}

func (s domainSet) has(name string) bool { return s.match(name) != "" }

// match returns the served name that covers name: itself, or a wildcard
// ("*.example.com") standing for its first label; "" if none does.
func (s domainSet) match(name string) string {
	n := hostname.Canonical(name)
	if _, ok := s[n]; ok {
		return n
	}
	if i := strings.IndexByte(n, '.'); i > 0 && !strings.ContainsAny(n[:i], "*") {
		if _, ok := s["*"+n[i:]]; ok {
			return "*" + n[i:]
		}
	}
	return ""
}

// coverName is the name a certificate is checked against for a served
// name: a wildcard by a name it stands for.
func coverName(d string) string {
	d = hostname.Canonical(d)
	if rest, ok := strings.CutPrefix(d, "*."); ok {
		return "wildcard-check." + rest
	}
	return d
}

// inventory records the leaf last served per name.
type inventory struct {
	mu     sync.RWMutex
	leaves map[string]*x509.Certificate
}

// record remembers the leaf served for a name, one per key type (autocert
// keeps an ECDSA and, on demand, an RSA certificate per name), and tells
// whether it is another than the one remembered.
func (inv *inventory) record(name string, c *tls.Certificate) bool {
	if c == nil || c.Leaf == nil {
		return false
	}
	name += "/" + keyType(c.Leaf)
	inv.mu.RLock()
	same := inv.leaves[name] == c.Leaf
	inv.mu.RUnlock()
	if same {
		return false
	}
	inv.mu.Lock()
	if inv.leaves == nil {
		inv.leaves = map[string]*x509.Certificate{}
	}
	inv.leaves[name] = c.Leaf
	inv.mu.Unlock()
	return true
}

func (inv *inventory) list() []Info {
	inv.mu.RLock()
	defer inv.mu.RUnlock()
	out := make([]Info, 0, len(inv.leaves))
	seen := map[*x509.Certificate]bool{}
	for _, leaf := range inv.leaves {
		if !seen[leaf] {
			seen[leaf] = true
			out = append(out, infoOf(leaf))
		}
	}
	slices.SortFunc(out, func(a, b Info) int { return strings.Compare(strings.Join(a.Names, ","), strings.Join(b.Names, ",")) })
	return out
}

func infoOf(leaf *x509.Certificate) Info {
	names := append([]string(nil), leaf.DNSNames...)
	for _, ip := range leaf.IPAddresses {
		names = append(names, ip.String())
	}
	issuer := leaf.Issuer.CommonName
	if issuer == "" {
		issuer = leaf.Issuer.String()
	}
	return Info{Names: names, KeyType: keyType(leaf), Issuer: issuer, NotAfter: leaf.NotAfter}
}

func keyType(leaf *x509.Certificate) string {
	switch leaf.PublicKeyAlgorithm {
	case x509.ECDSA:
		return "ecdsa"
	case x509.RSA:
		return "rsa"
	case x509.Ed25519:
		return "ed25519"
	}
	return "unknown"
}

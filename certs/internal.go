package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/rampart-proxy/rampart/hostname"
)

// InternalConfig configures the local development CA.
type InternalConfig struct {
	// Domains are the names leaves are issued for. None issues nothing
	// until SetDomains gives some.
	Domains []string

	// Dir keeps the CA's root certificate and key, reused across restarts. Required.
	Dir string

	// LeafLifetime is how long a leaf is valid. Zero means 7 days.
	LeafLifetime time.Duration

	// Now is the clock. Nil means time.Now.
	Now func() time.Time

	// Logger receives where the root is. Nil means no logging.
	Logger *zap.Logger
}

// Internal is a local CA: an ECDSA P-256 root that issues short-lived leaves
// for the configured domains. It is for development; browsers trust it only
// once a developer adds RootPath to their trust store.
type Internal struct {
	cfg      InternalConfig
	served   servedNames
	root     *x509.Certificate
	rootKey  *ecdsa.PrivateKey
	rootPath string

	mu     sync.Mutex
	leaves map[string]*tls.Certificate
	inv    inventory
}

// Files in Dir.
const (
	internalRootFile = "root.pem"
	internalKeyFile  = "root-key.pem"
)

// NewInternal loads the root from cfg.Dir, or creates it there.
func NewInternal(cfg InternalConfig) (*Internal, error) {
	if cfg.Dir == "" {
		return nil, errors.New("certs: internal CA needs a directory")
	}
	if cfg.LeafLifetime == 0 {
		cfg.LeafLifetime = 7 * 24 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	ca := &Internal{
		cfg:      cfg,
		rootPath: filepath.Join(cfg.Dir, internalRootFile),
		leaves:   map[string]*tls.Certificate{},
	}
	ca.served.store(cfg.Domains)
	if err := ca.loadOrCreateRoot(); err != nil {
		return nil, err
	}
	// Issue every leaf now, so the inventory (and readiness) is complete
	// before the first handshake.
	for _, d := range cfg.Domains {
		if _, err := ca.GetCertificate(&tls.ClientHelloInfo{ServerName: d}); err != nil {
			return nil, err
		}
	}
	if cfg.Logger != nil {
		cfg.Logger.Info("internal CA ready; trust its root to verify rampart",
			zap.String("root", ca.rootPath), zap.Time("root_not_after", ca.root.NotAfter))
	}
	return ca, nil
}

// RootPath is the PEM file of the CA's root certificate.
func (ca *Internal) RootPath() string { return ca.rootPath }

func (ca *Internal) loadOrCreateRoot() error {
	certPEM, err1 := os.ReadFile(ca.rootPath)
	keyPEM, err2 := os.ReadFile(filepath.Join(ca.cfg.Dir, internalKeyFile))
	if err1 == nil && err2 == nil {
		return ca.parseRoot(certPEM, keyPEM)
	}
	if !errors.Is(err1, os.ErrNotExist) || !errors.Is(err2, os.ErrNotExist) {
		return fmt.Errorf("certs: internal CA in %q is incomplete (%v; %v): remove the directory to start a new CA", ca.cfg.Dir, err1, err2)
	}
	return ca.createRoot()
}

func (ca *Internal) parseRoot(certPEM, keyPEM []byte) error {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("certs: internal CA root in %q: %w", ca.cfg.Dir, err)
	}
	key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		return fmt.Errorf("certs: internal CA root key in %q is not ECDSA", ca.cfg.Dir)
	}
	if ca.cfg.Now().After(pair.Leaf.NotAfter) {
		return fmt.Errorf("certs: internal CA root %q expired on %s: remove %q to start a new CA", ca.rootPath, pair.Leaf.NotAfter.Format(time.DateOnly), ca.cfg.Dir)
	}
	ca.root, ca.rootKey = pair.Leaf, key
	return nil
}

func (ca *Internal) createRoot() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("certs: internal CA key: %w", err)
	}
	now := ca.cfg.Now()
	host, _ := os.Hostname()
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: "rampart internal CA", Organization: []string{"rampart development CA on " + host}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("certs: internal CA root: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("certs: internal CA key: %w", err)
	}
	if err := os.MkdirAll(ca.cfg.Dir, 0o700); err != nil {
		return fmt.Errorf("certs: internal CA directory: %w", err)
	}
	// The key first: a root without its key would be unusable, the reverse is simply recreated.
	keyPath := filepath.Join(ca.cfg.Dir, internalKeyFile)
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return fmt.Errorf("certs: writing internal CA key: %w", err)
	}
	if err := os.WriteFile(ca.rootPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return fmt.Errorf("certs: writing internal CA root: %w", err)
	}
	ca.root, _ = x509.ParseCertificate(der)
	ca.rootKey = key
	return nil
}

// GetCertificate issues (or reuses) a leaf for the handshake's server name.
// An empty server name (a client connecting by IP) gets the first domain's leaf.
func (ca *Internal) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := hostname.Canonical(hello.ServerName)
	if name == "" {
		name = hostname.Canonical(ca.served.list()[0])
	}
	// One leaf per served name: a wildcard's covers every name it stands
	// for, so random labels cost no leaf each.
	if name = ca.served.match(name); name == "" {
		return nil, fmt.Errorf("%w: %q", ErrNotServed, hostname.Canonical(hello.ServerName))
	}
	ca.mu.Lock()
	defer ca.mu.Unlock()
	now := ca.cfg.Now()
	if c := ca.leaves[name]; c != nil && ca.fresh(c, now) {
		return c, nil
	}
	// A leaf kept in Dir from an earlier run is served again while fresh, so
	// a restart (or a recreated container) keeps its certificate.
	if c := ca.loadLeaf(name); c != nil && ca.fresh(c, now) {
		ca.leaves[name] = c
		ca.inv.record(name, c)
		return c, nil
	}
	c, err := ca.issue(name, now)
	if err != nil {
		return nil, err
	}
	ca.saveLeaf(name, c)
	ca.leaves[name] = c
	ca.inv.record(name, c)
	return c, nil
}

// SetDomains replaces the served names (a reload): a leaf is issued at once
// for each name added; a name removed is refused from now on.
func (ca *Internal) SetDomains(domains []string) error {
	prev := ca.served.list()
	added := ca.served.added(domains)
	ca.served.store(domains)
	for _, d := range added {
		if _, err := ca.GetCertificate(&tls.ClientHelloInfo{ServerName: d}); err != nil {
			ca.served.store(prev) // as it was: the reload is refused whole
			return err
		}
	}
	return nil
}

// fresh reports whether a leaf is valid for more than a third of its lifetime yet.
func (ca *Internal) fresh(c *tls.Certificate, now time.Time) bool {
	return now.Before(c.Leaf.NotAfter.Add(-ca.cfg.LeafLifetime/3)) && !now.Before(c.Leaf.NotBefore)
}

func (ca *Internal) leafPath(name string) string {
	return filepath.Join(ca.cfg.Dir, "leaves", strings.ReplaceAll(name, string(filepath.Separator), "_")+".pem")
}

// loadLeaf reads a leaf (certificate chain and key in one 0600 file) issued
// by this CA's root; anything else is ignored.
func (ca *Internal) loadLeaf(name string) *tls.Certificate {
	data, err := os.ReadFile(ca.leafPath(name))
	if err != nil {
		return nil
	}
	pair, err := tls.X509KeyPair(data, data)
	if err != nil || pair.Leaf.CheckSignatureFrom(ca.root) != nil || pair.Leaf.VerifyHostname(coverName(name)) != nil {
		return nil
	}
	return &pair
}

// saveLeaf keeps a leaf for the next run; failing to is logged, not fatal.
func (ca *Internal) saveLeaf(name string, c *tls.Certificate) {
	keyDER, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err == nil {
		err = os.MkdirAll(filepath.Dir(ca.leafPath(name)), 0o700)
	}
	if err == nil {
		var buf []byte
		for _, der := range c.Certificate {
			buf = append(buf, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
		}
		buf = append(buf, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})...)
		err = os.WriteFile(ca.leafPath(name), buf, 0o600)
	}
	if err != nil && ca.cfg.Logger != nil {
		ca.cfg.Logger.Error("internal CA: could not keep the leaf for the next run", zap.String("name", name), zap.Error(err))
	}
}

// Inventory lists the leaves issued so far.
func (ca *Internal) Inventory() []Info { return ca.inv.list() }

func (ca *Internal) issue(name string, now time.Time) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("certs: leaf key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     now.Add(ca.cfg.LeafLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if ip := net.ParseIP(name); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else {
		tmpl.DNSNames = []string{name}
	}
	if name == "localhost" {
		// So that https://127.0.0.1 and https://[::1] verify in development too.
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.root, &key.PublicKey, ca.rootKey)
	if err != nil {
		return nil, fmt.Errorf("certs: issuing leaf for %q: %w", name, err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return &tls.Certificate{Certificate: [][]byte{der, ca.root.Raw}, PrivateKey: key, Leaf: leaf}, nil
}

func randomSerial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n.Add(n, big.NewInt(1))
}

package certs

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// FilesConfig configures a certificate read from PEM files.
type FilesConfig struct {
	// CertFile holds the leaf first, then its chain. Required.
	CertFile string
	// KeyFile holds the leaf's private key. Required.
	KeyFile string
	// Domains must all be covered by the certificate. Required.
	Domains []string
	// PollInterval is how often the files are checked for change. Zero means 5 seconds.
	PollInterval time.Duration
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
	// Logger receives reloads and rejected pairs. Nil means no logging.
	Logger *zap.Logger
}

// Files serves one certificate from PEM files and swaps in a new pair when
// the files change; a broken new pair leaves the old one in service.
type Files struct {
	cfg    FilesConfig
	served servedNames
	log    *zap.Logger
	cur    atomic.Pointer[tls.Certificate]

	reloadMu sync.Mutex
	stamp    atomicStamp // of the pair last tried
}

// atomicStamp is a fileStamp read by Run and written by Reload.
type atomicStamp struct{ p atomic.Pointer[fileStamp] }

func (a *atomicStamp) Load() fileStamp {
	if s := a.p.Load(); s != nil {
		return *s
	}
	return fileStamp{}
}

func (a *atomicStamp) Store(s fileStamp) { a.p.Store(&s) }

// NewFiles loads and checks the pair: it must parse, the key must match, it
// must be valid now and cover every domain.
func NewFiles(cfg FilesConfig) (*Files, error) {
	if cfg.CertFile == "" || cfg.KeyFile == "" {
		return nil, errors.New("certs: files mode needs a certificate file and a key file")
	}
	if len(cfg.Domains) == 0 {
		return nil, errors.New("certs: files mode needs at least one domain")
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 5 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	f := &Files{cfg: cfg, log: cfg.Logger}
	f.served.store(cfg.Domains)
	if f.log == nil {
		f.log = zap.NewNop()
	}
	f.stamp.Store(stampOf(cfg.CertFile, cfg.KeyFile))
	c, err := LoadPair(cfg.CertFile, cfg.KeyFile, cfg.Domains, cfg.Now())
	if err != nil {
		return nil, err
	}
	f.cur.Store(c)
	return f, nil
}

// SetDomains replaces the served names (a reload). The certificate in
// service must cover every one, or nothing changes.
func (f *Files) SetDomains(domains []string) error {
	f.reloadMu.Lock()
	defer f.reloadMu.Unlock()
	leaf := f.cur.Load().Leaf
	for _, d := range domains {
		if err := leaf.VerifyHostname(coverName(d)); err != nil {
			return fmt.Errorf("%w: %s", ErrNotCovered, d)
		}
	}
	f.served.store(domains)
	return nil
}

// LoadPair reads a PEM certificate and key and checks them for use with
// domains at time now. Its errors wrap ErrCertFile, ErrKeyFile,
// ErrKeyMismatch, ErrExpired or ErrNotCovered.
func LoadPair(certFile, keyFile string, domains []string, now time.Time) (*tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCertFile, err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeyFile, err)
	}
	return ParsePair(certPEM, keyPEM, fmt.Sprintf("%q", certFile), fmt.Sprintf("%q", keyFile), domains, now)
}

// ParsePair checks a PEM certificate and key, held in memory, for use with
// domains at time now; certName and keyName say where they came from, for
// errors. Its errors wrap those of LoadPair.
func ParsePair(certPEM, keyPEM []byte, certName, keyName string, domains []string, now time.Time) (*tls.Certificate, error) {
	if b, _ := pem.Decode(certPEM); b == nil || b.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%w: %s has no PEM CERTIFICATE block", ErrCertFile, certName)
	}
	if !bytes.Contains(keyPEM, []byte("PRIVATE KEY-----")) {
		return nil, fmt.Errorf("%w: %s has no PEM PRIVATE KEY block", ErrKeyFile, keyName)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%w: %s and %s: %w", ErrKeyMismatch, keyName, certName, err)
	}
	leaf := pair.Leaf
	if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return nil, fmt.Errorf("%w: %s is valid from %s to %s", ErrExpired, certName,
			leaf.NotBefore.Format(time.RFC3339), leaf.NotAfter.Format(time.RFC3339))
	}
	for _, d := range domains {
		if err := leaf.VerifyHostname(coverName(d)); err != nil {
			return nil, fmt.Errorf("%w: %s does not cover %q (it covers %v)", ErrNotCovered, certName, d, infoOf(leaf).Names)
		}
	}
	return &pair, nil
}

// GetCertificate serves the pair for a served name or an empty server name.
func (f *Files) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if hello.ServerName != "" && !f.served.has(hello.ServerName) {
		return nil, fmt.Errorf("%w: %q", ErrNotServed, hello.ServerName)
	}
	return f.cur.Load(), nil
}

// Inventory lists the pair in service.
func (f *Files) Inventory() []Info { return []Info{infoOf(f.cur.Load().Leaf)} }

// Run re-reads the files when they change, until ctx ends.
func (f *Files) Run(ctx context.Context) {
	t := time.NewTicker(f.cfg.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if s := stampOf(f.cfg.CertFile, f.cfg.KeyFile); s != f.stamp.Load() {
				f.Reload()
			}
		}
	}
}

// Reload re-reads the pair now (Run does when the files change; a SIGHUP
// handler may at any time). A pair that fails the checks is logged and the
// current one stays in service.
func (f *Files) Reload() {
	f.reloadMu.Lock()
	defer f.reloadMu.Unlock()
	f.stamp.Store(stampOf(f.cfg.CertFile, f.cfg.KeyFile))
	c, err := LoadPair(f.cfg.CertFile, f.cfg.KeyFile, f.served.list(), f.cfg.Now())
	if err != nil {
		f.log.Error("new certificate files rejected; the previous certificate stays in service",
			zap.String("cert_file", f.cfg.CertFile), zap.Error(err))
		return
	}
	f.cur.Store(c)
	f.log.Info("certificate reloaded", zap.String("cert_file", f.cfg.CertFile),
		zap.Time("not_after", c.Leaf.NotAfter))
}

// fileStamp tells whether either file changed: size and modification time.
type fileStamp struct {
	certSize, keySize int64
	certMod, keyMod   time.Time
}

func stampOf(certFile, keyFile string) fileStamp {
	var s fileStamp
	if fi, err := os.Stat(certFile); err == nil {
		s.certSize, s.certMod = fi.Size(), fi.ModTime()
	}
	if fi, err := os.Stat(keyFile); err == nil {
		s.keySize, s.keyMod = fi.Size(), fi.ModTime()
	}
	return s
}

// Serves tells whether name is one of the pair's served names (a wildcard's
// included).
func (f *Files) Serves(name string) bool { return f.served.has(name) }

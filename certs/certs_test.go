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
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/crypto/acme/autocert"

	"github.com/rampart-proxy/rampart/hostname"
)

func TestDomainSet(t *testing.T) {
	s := newDomainSet([]string{"shop.test", "API.Shop.Test"})
	tests := []struct {
		name string
		want bool
	}{
		{"shop.test", true},
		{"shop.test:5002", true}, // autocert's HTTP-01 handler passes Host with its port
		{"SHOP.TEST.", true},
		{"api.shop.test", true},
		{"evil.test", false},
		{"shop.test.evil.test", false},
		{"", false},
		{"[::1]:80", false},
	}
	for _, tt := range tests {
		if got := s.has(tt.name); got != tt.want {
			t.Errorf("has(%q) = %v; want %v", tt.name, got, tt.want)
		}
	}
}

func TestACMEHostPolicy(t *testing.T) {
	a, err := NewACME(ACMEConfig{Domains: []string{"shop.test"}, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"shop.test": true, "shop.test:5002": true, "other.test": false, "other.test:80": false} {
		err := a.m.HostPolicy(t.Context(), name)
		if (err == nil) != want {
			t.Errorf("HostPolicy(%q) = %v; want allowed=%v", name, err, want)
		}
	}
	// A name outside the set fails before any order is attempted (no CA is reachable here).
	if _, err := a.GetCertificate(&tls.ClientHelloInfo{ServerName: "other.test"}); !errors.Is(err, ErrNotServed) {
		t.Errorf("GetCertificate(other.test) = %v; want ErrNotServed", err)
	}
}

func TestInternalCA(t *testing.T) {
	dir := t.TempDir()
	ca, err := NewInternal(InternalConfig{Domains: []string{"localhost", "shop.test"}, Dir: dir, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	c, err := ca.GetCertificate(&tls.ClientHelloInfo{ServerName: "shop.test"})
	if err != nil {
		t.Fatal(err)
	}
	rootPEM, err := os.ReadFile(ca.RootPath())
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(rootPEM)
	if _, err := c.Leaf.Verify(x509.VerifyOptions{DNSName: "shop.test", Roots: roots}); err != nil {
		t.Errorf("leaf does not verify against the root file: %v", err)
	}
	if c.Leaf.PublicKeyAlgorithm != x509.ECDSA {
		t.Errorf("leaf key %v; want ECDSA", c.Leaf.PublicKeyAlgorithm)
	}
	if _, err := ca.GetCertificate(&tls.ClientHelloInfo{ServerName: "evil.test"}); !errors.Is(err, ErrNotServed) {
		t.Errorf("evil.test: %v; want ErrNotServed", err)
	}
	fi, _ := os.Stat(filepath.Join(dir, internalKeyFile))
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("root key mode %v; want 0600", fi.Mode().Perm())
	}

	again, err := NewInternal(InternalConfig{Domains: []string{"shop.test"}, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if !again.root.Equal(ca.root) {
		t.Error("restart made a new root; want the one in the directory reused")
	}
	if c2, _ := again.GetCertificate(&tls.ClientHelloInfo{ServerName: "shop.test"}); !c2.Leaf.Equal(c.Leaf) {
		t.Error("restart issued a new leaf; want the fresh one kept in the directory")
	}
}

func TestInternalCARenewsLeaf(t *testing.T) {
	now := time.Now()
	ca, err := NewInternal(InternalConfig{Domains: []string{"shop.test"}, Dir: t.TempDir(), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	hello := &tls.ClientHelloInfo{ServerName: "shop.test"}
	first, _ := ca.GetCertificate(hello)
	if same, _ := ca.GetCertificate(hello); same != first {
		t.Error("a fresh leaf was replaced; want it reused")
	}
	now = now.Add(6 * 24 * time.Hour) // past two thirds of the 7-day lifetime
	if renewed, _ := ca.GetCertificate(hello); renewed == first {
		t.Error("a leaf near expiry was reused; want a new one")
	}
}

// writePair writes a self-signed pair for names, valid in [from, to].
func writePair(t *testing.T, dir string, names []string, from, to time.Time) (certFile, keyFile string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: names[0]},
		DNSNames: names, NotBefore: from, NotAfter: to}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
	return certFile, keyFile
}

func TestLoadPairErrors(t *testing.T) {
	now := time.Now()
	good, bad := t.TempDir(), t.TempDir()
	certFile, keyFile := writePair(t, good, []string{"shop.test"}, now.Add(-time.Hour), now.Add(time.Hour))
	_, otherKey := writePair(t, bad, []string{"shop.test"}, now.Add(-time.Hour), now.Add(time.Hour))
	expDir := t.TempDir()
	expCert, expKey := writePair(t, expDir, []string{"shop.test"}, now.Add(-48*time.Hour), now.Add(-time.Hour))

	tests := []struct {
		name      string
		cert, key string
		domains   []string
		want      error
	}{
		{"good", certFile, keyFile, []string{"shop.test"}, nil},
		{"missing cert", filepath.Join(good, "nope.pem"), keyFile, []string{"shop.test"}, ErrCertFile},
		{"key is not a key", certFile, certFile, []string{"shop.test"}, ErrKeyFile},
		{"cert is not a cert", keyFile, keyFile, []string{"shop.test"}, ErrCertFile},
		{"mismatched key", certFile, otherKey, []string{"shop.test"}, ErrKeyMismatch},
		{"expired", expCert, expKey, []string{"shop.test"}, ErrExpired},
		{"not covered", certFile, keyFile, []string{"shop.test", "api.shop.test"}, ErrNotCovered},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadPair(tt.cert, tt.key, tt.domains, now)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Errorf("got %v; want %v", err, tt.want)
			}
		})
	}
}

func TestFilesReload(t *testing.T) {
	now := time.Now()
	dir := t.TempDir()
	certFile, keyFile := writePair(t, dir, []string{"shop.test"}, now.Add(-time.Hour), now.Add(time.Hour))
	f, err := NewFiles(FilesConfig{CertFile: certFile, KeyFile: keyFile, Domains: []string{"shop.test"}, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	hello := &tls.ClientHelloInfo{ServerName: "shop.test"}
	first, _ := f.GetCertificate(hello)

	// A broken pair (certificate for another name) is refused; the old one stays.
	writePair(t, dir, []string{"other.test"}, now.Add(-time.Hour), now.Add(2*time.Hour))
	f.Reload()
	if c, _ := f.GetCertificate(hello); c != first {
		t.Error("a pair that does not cover shop.test replaced the one in service")
	}

	// A good pair is swapped in.
	writePair(t, dir, []string{"shop.test"}, now.Add(-time.Hour), now.Add(3*time.Hour))
	f.Reload()
	c, _ := f.GetCertificate(hello)
	if c == first || !c.Leaf.NotAfter.After(first.Leaf.NotAfter) {
		t.Error("a good new pair was not swapped in")
	}
	if _, err := f.GetCertificate(&tls.ClientHelloInfo{ServerName: "evil.test"}); !errors.Is(err, ErrNotServed) {
		t.Errorf("evil.test: %v; want ErrNotServed", err)
	}
}

func TestCacheWriteFailureIsLogged(t *testing.T) {
	// A file where the cache directory should be: every write fails.
	blocker := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.ErrorLevel)
	c := loggingCache{autocert.DirCache(blocker), zap.New(core)}
	if err := c.Put(t.Context(), "shop.test", []byte("x")); err == nil {
		t.Fatal("Put into a file succeeded; want an error")
	}
	if got := logs.FilterMessage("certificate cache write failed").Len(); got != 1 {
		t.Errorf("got %d error lines for the failed write; want 1", got)
	}
}

// FuzzHostMatch: the host policy's answer does not depend on case, a port or
// a trailing dot, and never admits a name that is not configured.
func FuzzHostMatch(f *testing.F) {
	for _, s := range []string{"shop.test", "SHOP.TEST.", "shop.test:5002", "[::1]:80", "shop.test.evil", "xn--shp-sna.test"} {
		f.Add(s)
	}
	set := newDomainSet([]string{"shop.test", "api.shop.test"})
	f.Fuzz(func(t *testing.T, name string) {
		got := set.has(name)
		if got != set.has(strings.ToUpper(name)) {
			t.Errorf("%q: case changes the answer", name)
		}
		if !strings.Contains(name, ":") && got != set.has(name+":443") {
			t.Errorf("%q: a port changes the answer", name)
		}
		if got {
			n := hostname.Canonical(name)
			if n != "shop.test" && n != "api.shop.test" {
				t.Errorf("%q admitted as %q", name, n)
			}
		}
	})
}

// TestECDSACapable: with --acme-rsa, which hellos still get the ECDSA
// certificate (and order no RSA one): those that accept ECDSA P-256
// signatures and speak TLS 1.3 or offer a TLS 1.2 ECDSA suite.
func TestECDSACapable(t *testing.T) {
	ecdsaSig := []tls.SignatureScheme{tls.PSSWithSHA256, tls.ECDSAWithP256AndSHA256}
	rsaSig := []tls.SignatureScheme{tls.PSSWithSHA256, tls.PKCS1WithSHA256}
	tests := []struct {
		name  string
		hello tls.ClientHelloInfo
		want  bool
	}{
		{"TLS 1.3 only, one suite (rampart audit's probe)", tls.ClientHelloInfo{SupportedVersions: []uint16{tls.VersionTLS13},
			CipherSuites: []uint16{tls.TLS_CHACHA20_POLY1305_SHA256}, SignatureSchemes: ecdsaSig, SupportedCurves: []tls.CurveID{tls.X25519}}, true},
		{"TLS 1.2 with an ECDSA suite", tls.ClientHelloInfo{SupportedVersions: []uint16{tls.VersionTLS12},
			CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}, SignatureSchemes: ecdsaSig, SupportedCurves: []tls.CurveID{tls.CurveP256}}, true},
		{"TLS 1.2, RSA suites only (rampart audit's RSA probe)", tls.ClientHelloInfo{SupportedVersions: []uint16{tls.VersionTLS12},
			CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}, SignatureSchemes: ecdsaSig}, false},
		{"TLS 1.3 without ECDSA signatures", tls.ClientHelloInfo{SupportedVersions: []uint16{tls.VersionTLS13},
			CipherSuites: []uint16{tls.TLS_AES_128_GCM_SHA256}, SignatureSchemes: rsaSig}, false},
		{"TLS 1.2 ECDSA suite without P-256", tls.ClientHelloInfo{SupportedVersions: []uint16{tls.VersionTLS12},
			CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}, SupportedCurves: []tls.CurveID{tls.CurveP384}}, false},
	}
	for _, tt := range tests {
		if got := ecdsaCapable(&tt.hello); got != tt.want {
			t.Errorf("%s: %v; want %v", tt.name, got, tt.want)
		}
	}
}

// TestWildcardNames: a served "*.example.com" covers one label in front of
// example.com, not two, not the bare name; the internal CA holds one leaf for
// all of them, and a pair of files must cover it.
func TestWildcardNames(t *testing.T) {
	ca, err := NewInternal(InternalConfig{Domains: []string{"*.tenants.test", "shop.test"}, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	var first *x509.Certificate
	for _, tt := range []struct {
		name string
		ok   bool
	}{{"acme.tenants.test", true}, {"other.tenants.test", true}, {"ACME.Tenants.Test.", true}, {"a.b.tenants.test", false}, {"tenants.test", false}, {"shop.test", true}} {
		c, err := ca.GetCertificate(&tls.ClientHelloInfo{ServerName: tt.name})
		if (err == nil) != tt.ok {
			t.Errorf("%s: %v; want served=%v", tt.name, err, tt.ok)
			continue
		}
		if err != nil || tt.name == "shop.test" {
			continue
		}
		if err := c.Leaf.VerifyHostname(strings.TrimSuffix(strings.ToLower(tt.name), ".")); err != nil {
			t.Errorf("%s: the leaf does not cover it: %v", tt.name, err)
		}
		if first == nil {
			first = c.Leaf
		} else if !first.Equal(c.Leaf) {
			t.Errorf("%s got a leaf of its own; want the wildcard's one", tt.name)
		}
	}
	if n := len(ca.Inventory()); n != 2 {
		t.Errorf("%d leaves in the inventory; want 2 (the wildcard's, shop.test's)", n)
	}
	now := time.Now()
	wildCert, wildKey := writePair(t, t.TempDir(), []string{"*.tenants.test"}, now.Add(-time.Hour), now.Add(time.Hour))
	if _, err := LoadPair(wildCert, wildKey, []string{"*.tenants.test", "x.tenants.test"}, time.Now()); err != nil {
		t.Errorf("a wildcard pair refused for its names: %v", err)
	}
	exact, exactKey := writePair(t, t.TempDir(), []string{"acme.tenants.test"}, now.Add(-time.Hour), now.Add(time.Hour))
	if _, err := LoadPair(exact, exactKey, []string{"*.tenants.test"}, time.Now()); !errors.Is(err, ErrNotCovered) {
		t.Errorf("a pair for one name taken for the wildcard: %v", err)
	}
}

package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testCA issues leaves for the weak test servers.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string // PEM of the root, for --ca
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "audit test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	file := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	return &testCA{cert, key, file}
}

// leaf issues a certificate for name with the given key (nil: ECDSA P-256);
// selfSigned signs it with its own key instead of the CA's.
func (ca *testCA) leaf(t *testing.T, name string, key any, selfSigned bool) tls.Certificate {
	t.Helper()
	if key == nil {
		key, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	pub := key.(crypto.Signer).Public()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		DNSNames: []string{name}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	parent, signer := ca.cert, any(ca.key)
	if selfSigned {
		parent, signer = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// weakServer serves HTTPS with cfg on addr; hsts adds a two-year HSTS header.
func weakServer(t *testing.T, addr string, cfg *tls.Config, hsts bool) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{TLSConfig: cfg, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hsts {
			w.Header().Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		io.WriteString(w, "weak")
	}),
		// HTTP/1.1 only: net/http refuses to serve HTTP/2 with CBC-only suites.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
	}
	go func() {
		if err := srv.ServeTLS(ln, "", ""); err != http.ErrServerClosed {
			t.Errorf("weak server %s: %v", addr, err)
		}
	}()
	t.Cleanup(func() { srv.Close() })
}

type auditJSON struct {
	Protocols []string `json:"protocols"`
	Result    struct {
		Grade string `json:"grade"`
		Score int    `json:"score"`
		Caps  []struct {
			Cap, Reason, Fix string
		} `json:"caps"`
		Warnings []struct{ Reason, Fix string } `json:"warnings"`
	} `json:"result"`
}

func runAuditJSON(t *testing.T, url, ca string, extra ...string) (auditJSON, int) {
	t.Helper()
	args := append([]string{"audit", url, "--ip", "127.0.0.1", "--ca", ca, "--json"}, extra...)
	cmd := exec.Command(rampartBin, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	var rep auditJSON
	if jerr := json.Unmarshal(out, &rep); jerr != nil {
		t.Fatalf("rampart audit %s: %v (exit %d)\n%s%s", url, jerr, code, out, stderr.String())
	}
	return rep, code
}

// TestAuditRampartAndWeakServers: rampart's defaults earn A+ 96; each
// deliberately weak server gets the grade the rating guide gives it.
func TestAuditRampartAndWeakServers(t *testing.T) {
	const app, httpsAddr, httpAddr = "127.0.0.1:18613", "127.0.0.1:18574", "127.0.0.1:18614"
	startApp(t, app, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	dataDir := t.TempDir()
	start(t, "rampart", nil, rampartBin, "--tls", "internal", "--domain", "shop.test", "--upstream", "http://"+app,
		"--https-addr", httpsAddr, "--http-addr", httpAddr, "--admin-addr", "", "--data-dir", dataDir)
	waitListening(t, httpsAddr)
	rep, code := runAuditJSON(t, "https://shop.test:18574/", filepath.Join(dataDir, "internal-ca", "root.pem"), "--http-port", "18614")
	t.Logf("rampart: %s %d %v", rep.Result.Grade, rep.Result.Score, rep.Protocols)
	if rep.Result.Grade != "A+" || rep.Result.Score != 96 || code != 0 {
		t.Errorf("rampart: grade %s score %d exit %d; want A+ 96, exit 0 (%+v)", rep.Result.Grade, rep.Result.Score, code, rep.Result)
	}

	ca := newTestCA(t)
	rsa1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	good := func() tls.Certificate { return ca.leaf(t, "shop.test", nil, false) }
	tests := []struct {
		name  string
		addr  string
		cfg   *tls.Config
		hsts  bool
		grade string
	}{
		{"TLS 1.0 enabled", "127.0.0.1:18615", &tls.Config{MinVersion: tls.VersionTLS10, Certificates: []tls.Certificate{good()}}, true, "B"},
		{"CBC-only TLS 1.2", "127.0.0.1:18616", &tls.Config{MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}, Certificates: []tls.Certificate{good()}}, true, "B"},
		{"self-signed chain", "127.0.0.1:18617", &tls.Config{Certificates: []tls.Certificate{ca.leaf(t, "shop.test", nil, true)}}, true, "T"},
		{"name mismatch", "127.0.0.1:18618", &tls.Config{Certificates: []tls.Certificate{ca.leaf(t, "other.test", nil, false)}}, true, "M"},
		{"no HSTS", "127.0.0.1:18619", &tls.Config{Certificates: []tls.Certificate{good()}}, false, "A-"},
		{"RSA 1024", "127.0.0.1:18620", &tls.Config{Certificates: []tls.Certificate{ca.leaf(t, "shop.test", rsa1024, false)}}, true, "B"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			weakServer(t, tt.addr, tt.cfg, tt.hsts)
			waitListening(t, tt.addr)
			_, port, _ := net.SplitHostPort(tt.addr)
			rep, code := runAuditJSON(t, "https://shop.test:"+port+"/", ca.file, "--http-port", "1")
			t.Logf("%s: %s %d %v caps %v warnings %v", tt.name, rep.Result.Grade, rep.Result.Score, rep.Protocols, rep.Result.Caps, rep.Result.Warnings)
			if rep.Result.Grade != tt.grade {
				t.Errorf("grade %s; want %s", rep.Result.Grade, tt.grade)
			}
			if code != 1 {
				t.Errorf("exit %d; want 1 (below the default minimum A)", code)
			}
		})
	}
}

// TestAuditDHE1024: a server Go cannot express (finite-field DHE with a
// 1024-bit group), built with openssl s_server: capped at B for the group.
func TestAuditDHE1024(t *testing.T) {
	openssl := requireTool(t, "openssl")
	ca := newTestCA(t)
	dir := t.TempDir()
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	leaf := ca.leaf(t, "shop.test", rsaKey, false)
	keyDER, _ := x509.MarshalPKCS8PrivateKey(rsaKey)
	certFile, keyFile, dhFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), filepath.Join(dir, "dh.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Certificate[0]}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
	if out, err := exec.Command(openssl, "dhparam", "-out", dhFile, "1024").CombinedOutput(); err != nil {
		t.Fatalf("openssl dhparam: %v\n%s", err, out)
	}
	const addr = "127.0.0.1:18634"
	start(t, "openssl s_server", nil, openssl, "s_server", "-accept", addr, "-cert", certFile, "-key", keyFile,
		"-dhparam", dhFile, "-cipher", "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:@SECLEVEL=0",
		"-no_tls1_3", "-www", "-quiet")
	waitListening(t, addr)
	rep, code := runAuditJSON(t, "https://shop.test:18634/", ca.file, "--http-port", "1")
	t.Logf("DHE-1024 (openssl s_server): %s %d caps %v", rep.Result.Grade, rep.Result.Score, rep.Result.Caps)
	if rep.Result.Grade != "B" || code != 1 {
		t.Errorf("grade %s exit %d; want B, 1", rep.Result.Grade, code)
	}
	found := false
	for _, c := range rep.Result.Caps {
		found = found || strings.Contains(c.Reason, "DH group of 1024 bits")
	}
	if !found {
		t.Error("the cap does not name the 1024-bit DH group")
	}
}

func TestAuditUnreachable(t *testing.T) {
	out, err := exec.Command(rampartBin, "audit", "https://shop.test:18621/", "--ip", "127.0.0.1").CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Errorf("exit %v; want 2 for an endpoint that cannot be reached\n%s", err, out)
	}
}

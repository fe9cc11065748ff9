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
	"slices"
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
	code := exitCode(t, err)
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
	waitFile(t, filepath.Join(dataDir, "internal-ca", "root.pem"))
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

// tls13Suites are the suites Go's TLS 1.3 server accepts, so rampart's.
var tls13Suites = []string{"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"}

// TestAuditListsEveryTLS13Suite: each TLS 1.3 suite rampart accepts is in
// the text report's TLS 1.3 section and in the JSON, and the grade stays A+ 96.
func TestAuditListsEveryTLS13Suite(t *testing.T) {
	const app, httpsAddr, httpAddr = "127.0.0.1:18637", "127.0.0.1:18638", "127.0.0.1:18639"
	startApp(t, app, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	dataDir := t.TempDir()
	start(t, "rampart", nil, rampartBin, "--tls", "internal", "--domain", "shop.test", "--upstream", "http://"+app,
		"--https-addr", httpsAddr, "--http-addr", httpAddr, "--admin-addr", "", "--data-dir", dataDir)
	waitListening(t, httpsAddr)
	const url = "https://shop.test:18638/"
	root := filepath.Join(dataDir, "internal-ca", "root.pem")
	waitFile(t, root)

	out, err := exec.Command(rampartBin, "audit", url, "--ip", "127.0.0.1", "--ca", root, "--http-port", "18639").Output()
	if err != nil {
		t.Fatalf("rampart audit: %v\n%s", err, out)
	}
	if got := textSuites(string(out), "TLS 1.3 suites"); !slices.Equal(got, tls13Suites) {
		t.Errorf("text report's TLS 1.3 suites %q; want %q\n%s", got, tls13Suites, out)
	}

	var rep struct {
		Suites           []string `json:"suites"`
		SuitesByProtocol []struct {
			Protocol string   `json:"protocol"`
			Suites   []string `json:"suites"`
		} `json:"suites_by_protocol"`
		Result struct {
			Grade string `json:"grade"`
			Score int    `json:"score"`
		} `json:"result"`
	}
	out, err = exec.Command(rampartBin, "audit", url, "--ip", "127.0.0.1", "--ca", root, "--http-port", "18639", "--json").Output()
	if err != nil {
		t.Fatalf("rampart audit --json: %v\n%s", err, out)
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("rampart audit --json: %v\n%s", err, out)
	}
	var byProtocol []string
	for _, ps := range rep.SuitesByProtocol {
		if ps.Protocol == "TLS 1.3" {
			byProtocol = ps.Suites
		}
	}
	if !slices.Equal(byProtocol, tls13Suites) {
		t.Errorf("JSON suites_by_protocol TLS 1.3 %q; want %q\n%s", byProtocol, tls13Suites, out)
	}
	for _, s := range tls13Suites {
		if !slices.Contains(rep.Suites, s) {
			t.Errorf("JSON suites %q lack %s", rep.Suites, s)
		}
	}
	if rep.Result.Grade != "A+" || rep.Result.Score != 96 {
		t.Errorf("grade %s score %d; want A+ 96: the extra suites must not move the cipher score", rep.Result.Grade, rep.Result.Score)
	}
}

// textSuites reads one suites row of the text report and its continuation lines.
func textSuites(report, label string) []string {
	var out []string
	in := false
	for _, line := range strings.Split(report, "\n") {
		switch {
		case strings.HasPrefix(line, "  "+label+" "):
			in = true
			out = append(out, strings.TrimSpace(strings.TrimPrefix(line, "  "+label)))
		case in && strings.HasPrefix(line, "                 ") && strings.TrimSpace(line) != "":
			out = append(out, strings.TrimSpace(line))
		default:
			in = false
		}
	}
	return out
}

// TestAuditErrorLines: every failure is one line on stderr that names the
// command once, says what went wrong and the fix, and exits 2.
func TestAuditErrorLines(t *testing.T) {
	// Not TLS: a plain HTTP server where HTTPS is expected.
	const plainAddr = "127.0.0.1:18640"
	ln, err := net.Listen("tcp", plainAddr)
	if err != nil {
		t.Fatal(err)
	}
	plain := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "plain") })}
	go plain.Serve(ln)
	t.Cleanup(func() { plain.Close() })

	tests := []struct {
		name string
		args []string
		what string // in the line, before the fix
	}{
		{"unreachable", []string{"https://127.0.0.1:18621/"}, "unreachable"},
		{"unreachable, by name", []string{"https://shop.test:18621/", "--ip", "127.0.0.1"}, "unreachable"},
		{"not TLS", []string{"https://127.0.0.1:18640/", "--http-port", "1"}, "no TLS handshake"},
		{"not an https URL", []string{"http://127.0.0.1:18640/"}, "not an https URL"},
		{"two URLs", []string{"https://a.test/", "https://b.test/"}, "two URLs"},
		{"no URL", nil, "no URL"},
		{"unknown flag", []string{"https://a.test/", "--bogus"}, "-bogus"},
		{"bad --min-grade", []string{"https://a.test/", "--min-grade", "Z"}, "--min-grade"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(rampartBin, append([]string{"audit"}, tt.args...)...)
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 2 {
				t.Errorf("exit %v; want 2", err)
			}
			line := stderr.String()
			if strings.Count(line, "\n") != 1 || !strings.HasSuffix(line, "\n") {
				t.Errorf("stderr %q; want one line", line)
			}
			what, fix, ok := strings.Cut(strings.TrimSuffix(line, "\n"), "; fix: ")
			switch {
			case !strings.HasPrefix(line, "rampart audit: "):
				t.Errorf("%q does not start with \"rampart audit: \"", line)
			case strings.Count(line, "rampart audit:") != 1:
				t.Errorf("%q names the command %d times; want once", line, strings.Count(line, "rampart audit:"))
			case strings.Contains(line, "audit: audit"):
				t.Errorf("%q stutters", line)
			case !ok || strings.TrimSpace(fix) == "":
				t.Errorf("%q has no \"; fix: \" and a fix", line)
			case !strings.Contains(what, tt.what):
				t.Errorf("%q does not say %q before the fix", line, tt.what)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout %q; want nothing", stdout.String())
			}
		})
	}
}

package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// pebbleCA is a real ACME CA: Pebble with pebble-challtestsrv as its DNS,
// answering 127.0.0.1 for every name, both pinned in go.mod and built by go tool.
type pebbleCA struct {
	dirURL  string // the ACME directory
	apiRoot string // PEM file trusted for Pebble's HTTPS API (--acme-ca-root)
	mgmt    string // management address, for /roots/0
	proc    *proc
}

// startPebble starts Pebble on ports base (ACME), base+1 (management) and
// base+2 (DNS), validating HTTP-01 on httpPort and TLS-ALPN-01 on tlsPort.
func startPebble(t *testing.T, base, httpPort, tlsPort int) *pebbleCA {
	t.Helper()
	return startPebbleEnv(t, nil, base, httpPort, tlsPort)
}

// startPebbleEnv is startPebble with more of Pebble's environment
// (PEBBLE_AUTHZREUSE=0: every order is validated again).
func startPebbleEnv(t *testing.T, env []string, base, httpPort, tlsPort int) *pebbleCA {
	t.Helper()
	dir := t.TempDir()
	apiCert, apiKey := selfSignedFiles(t, dir, "127.0.0.1", "localhost")
	dns := "127.0.0.1:" + strconv.Itoa(base+2)
	start(t, "pebble-challtestsrv", nil, goTool(t, "pebble-challtestsrv"),
		"-dnsserver", dns, "-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", "",
		"-management", "127.0.0.1:"+strconv.Itoa(base+3), "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "")
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress":           "127.0.0.1:" + strconv.Itoa(base),
		"managementListenAddress": "127.0.0.1:" + strconv.Itoa(base+1),
		"certificate":             apiCert,
		"privateKey":              apiKey,
		"httpPort":                httpPort,
		"tlsPort":                 tlsPort,
		"retryAfter":              map[string]int{"authz": 1, "order": 1},
		"profiles":                map[string]any{"default": map[string]any{"description": "test", "validityPeriod": 7776000}},
	}}
	data, _ := json.Marshal(cfg)
	cfgFile := filepath.Join(dir, "pebble.json")
	if err := os.WriteFile(cfgFile, data, 0o600); err != nil {
		t.Fatal(err)
	}
	waitListening(t, dns)
	p := start(t, "pebble", append([]string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0"}, env...),
		goTool(t, "pebble"), "-config", cfgFile, "-dnsserver", dns)
	ca := &pebbleCA{
		dirURL:  fmt.Sprintf("https://127.0.0.1:%d/dir", base),
		apiRoot: apiCert,
		mgmt:    "127.0.0.1:" + strconv.Itoa(base+1),
		proc:    p,
	}
	waitListening(t, ca.mgmt)
	return ca
}

// issuingRootFile writes the root Pebble signs with to a PEM file.
func (ca *pebbleCA) issuingRootFile(t *testing.T) string {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: poolFromFile(t, ca.apiRoot)}}}
	res, err := client.Get("https://" + ca.mgmt + "/roots/0")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	pemData, _ := io.ReadAll(res.Body)
	file := filepath.Join(t.TempDir(), "pebble-root.pem")
	if err := os.WriteFile(file, pemData, 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// issuingRoots is the root Pebble signs with (new at every start), as a pool.
func (ca *pebbleCA) issuingRoots(t *testing.T) *x509.CertPool {
	t.Helper()
	return poolFromFile(t, ca.issuingRootFile(t))
}

// orders counts the orders Pebble has accepted, from its log.
func (ca *pebbleCA) orders() int { return strings.Count(ca.proc.out.String(), "Added order") }

// TestACMETLSALPN obtains a certificate from Pebble through TLS-ALPN-01 (no
// plain-HTTP listener at all), then checks the cache, the host policy, a
// restart without a new order, and serving on with the CA gone.
func TestACMETLSALPN(t *testing.T) {
	const httpsAddr = "127.0.0.1:18443"
	ca := startPebble(t, 18400, 18499 /* nothing listens: HTTP-01 cannot pass */, 18443)
	roots := ca.issuingRoots(t)
	dataDir := t.TempDir()
	args := []string{"--domain", "shop.test", "--upstream", "http://127.0.0.1:18470",
		"--https-addr", httpsAddr, "--http-addr", "", "--admin-addr", "127.0.0.1:18491", "--ready-grace", "0s",
		"--acme-directory", ca.dirURL, "--acme-ca-root", ca.apiRoot, "--data-dir", dataDir}
	r := start(t, "rampart", nil, rampartBin, args...)

	var first *x509.Certificate
	waitFor(t, 60*time.Second, "certificate for shop.test from Pebble", func() (err error) {
		first, err = handshake(httpsAddr, "shop.test", roots)
		return err
	})
	waitFor(t, 5*time.Second, "the order's outcome in the log", func() error {
		if !strings.Contains(r.out.String(), `"certificate ready"`) {
			return fmt.Errorf("no \"certificate ready\" line")
		}
		return nil
	})
	// Ready once the certificate is in service, and the order is counted.
	waitFor(t, 5*time.Second, "/readyz 200 with the certificate", func() error {
		return statusOK(http.Get("http://127.0.0.1:18491/readyz"))
	})
	if m := scrape(t, "127.0.0.1:18491"); !strings.Contains(m, `rampart_acme_orders_total{domain="shop.test",result="success"} 1`) ||
		!strings.Contains(m, `rampart_certificate_not_after_timestamp_seconds{domain="shop.test",issuer="Pebble Intermediate CA`) {
		t.Errorf("metrics lack the order or the certificate:\n%s", stripRuntime(m))
	}
	cached, _ := filepath.Glob(filepath.Join(dataDir, "acme", "shop.test*"))
	if len(cached) == 0 {
		t.Fatalf("no certificate for shop.test in %s", dataDir)
	}
	if fi, _ := os.Stat(filepath.Join(dataDir, "acme")); fi.Mode().Perm() != 0o700 {
		t.Errorf("cache directory mode %v; want 0700", fi.Mode().Perm())
	}

	// A name outside --domain: the handshake fails and nothing is ordered.
	before := ca.orders()
	if _, err := handshake(httpsAddr, "other.test", nil); err == nil {
		t.Error("handshake for other.test succeeded; want failure")
	}
	time.Sleep(500 * time.Millisecond)
	if after := ca.orders(); after != before {
		t.Errorf("Pebble orders went from %d to %d after a handshake for other.test", before, after)
	}

	// A restart serves the cached certificate without a new order.
	if code := r.stop(10 * time.Second); code != 0 {
		t.Fatalf("rampart exited %d on SIGTERM; want 0", code)
	}
	before = ca.orders()
	start(t, "rampart (restart)", nil, rampartBin, args...)
	waitListening(t, httpsAddr)
	again, err := handshake(httpsAddr, "shop.test", roots)
	if err != nil {
		t.Fatal(err)
	}
	if again.SerialNumber.Cmp(first.SerialNumber) != 0 {
		t.Error("restart served a different certificate; want the cached one")
	}
	if after := ca.orders(); after != before {
		t.Errorf("restart placed %d new orders; want none", after-before)
	}

	// With the CA gone, the cached certificate is still served, after a restart too.
	ca.proc.stop(10 * time.Second)
	if c, err := handshake(httpsAddr, "shop.test", roots); err != nil || c.SerialNumber.Cmp(first.SerialNumber) != 0 {
		t.Errorf("with Pebble stopped: %v; want the cached certificate", err)
	}
}

// TestACMEHTTP01 forces HTTP-01: Pebble's TLS-ALPN validation goes to a port
// where nothing listens, so autocert falls back to HTTP-01 on the plain listener,
// whose Host header carries a port; then a renewal does the same.
func TestACMEHTTP01(t *testing.T) {
	const httpsAddr, httpAddr = "127.0.0.1:18444", "127.0.0.1:18481"
	ca := startPebbleEnv(t, []string{"PEBBLE_AUTHZREUSE=0"}, 18410, 18481, 18498 /* nothing listens */)
	roots := ca.issuingRoots(t)
	start(t, "rampart", nil, rampartBin, "--domain", "shop.test", "--upstream", "http://127.0.0.1:18470",
		"--https-addr", httpsAddr, "--http-addr", httpAddr, "--admin-addr", "127.0.0.1:18482",
		"--acme-directory", ca.dirURL, "--acme-ca-root", ca.apiRoot, "--data-dir", t.TempDir())
	var first *x509.Certificate
	waitFor(t, 90*time.Second, "certificate for shop.test through HTTP-01", func() (err error) {
		first, err = handshake(httpsAddr, "shop.test", roots)
		return err
	})
	// A renewal, made by a Manager of its own, answers HTTP-01 too.
	if out, err := execOutput(rampartBin, "certs", "renew", "shop.test", "--admin-addr", "127.0.0.1:18482"); err != nil {
		t.Fatalf("rampart certs renew through HTTP-01: %v\n%s", err, out)
	}
	if c, err := handshake(httpsAddr, "shop.test", roots); err != nil || c.SerialNumber.Cmp(first.SerialNumber) == 0 {
		t.Errorf("after rampart certs renew: %v; want a new certificate served", err)
	}
}

// TestACMEFailuresSayWhatToDo: an order that fails is logged with a fix that
// names what to change. Pebble's API certificate is not trusted without
// --acme-ca-root; with it, but with Pebble validating on ports where nothing
// listens, both challenges fail. (A rate limit cannot be had from Pebble; its
// advice is tested in TestACMEAdviceTable.)
func TestACMEFailuresSayWhatToDo(t *testing.T) {
	ca := startPebble(t, 18800, 18806, 18807) // nothing listens on 18806 or 18807
	common := []string{"--domain", "shop.test", "--upstream", "http://127.0.0.1:18470", "--admin-addr", "",
		"--acme-directory", ca.dirURL, "--data-dir", t.TempDir()}

	untrusted := start(t, "rampart (Pebble not trusted)", nil, rampartBin,
		append(common, "--https-addr", "127.0.0.1:18808", "--http-addr", "127.0.0.1:18809")...)
	line := orderFailure(t, untrusted)
	if !strings.Contains(line, "--acme-ca-root") {
		t.Errorf("an untrusted ACME server's failure does not name --acme-ca-root:\n%s", line)
	}

	unreachable := start(t, "rampart (challenges unreachable)", nil, rampartBin,
		append(common, "--https-addr", "127.0.0.1:18810", "--http-addr", "127.0.0.1:18811", "--acme-ca-root", ca.apiRoot)...)
	line = orderFailure(t, unreachable)
	failed := time.Now()
	for _, want := range []string{"no viable challenge type found", "TLS-ALPN-01", "port 443", "--https-addr :18810", "HTTP-01", "port 80", "--http-addr :18811", "rampart retries at "} {
		if !strings.Contains(line, want) {
			t.Errorf("a failed validation's line lacks %q:\n%s", want, line)
		}
	}

	// Until the retry it names, a visitor's handshake fails at once and
	// orders nothing: autocert alone would order again for the first visitor
	// a minute after a failure, whatever the backoff (two minutes after a
	// second failure) or the CA's Retry-After. Waiting past that minute here
	// would find rampart's own first retry, also a minute on; so this checks
	// that the handshake is refused by rampart's backoff, not by autocert's.
	before := ca.orders()
	time.Sleep(time.Until(failed.Add(2 * time.Second)))
	if _, err := handshake("127.0.0.1:18810", "shop.test", nil); err == nil {
		t.Error("a visitor's handshake during the backoff succeeded; want it refused")
	}
	waitFor(t, 5*time.Second, "the refused handshake in the log", func() error {
		if !strings.Contains(unreachable.out.String(), "no certificate yet") {
			return fmt.Errorf("no \"no certificate yet\" line")
		}
		return nil
	})
	time.Sleep(500 * time.Millisecond)
	if after := ca.orders(); after != before {
		t.Errorf("a visitor during the backoff made Pebble take %d orders; want none", after-before)
	}
}

// orderFailure waits for rampart's first "certificate order failed" line.
func orderFailure(t *testing.T, r *proc) string {
	t.Helper()
	var line string
	waitFor(t, 60*time.Second, "a failed order in the log", func() error {
		for _, l := range strings.Split(r.out.String(), "\n") {
			if strings.Contains(l, "certificate order failed") {
				line = l
				return nil
			}
		}
		return fmt.Errorf("none yet")
	})
	var entry map[string]any
	if err := json.Unmarshal([]byte(line), &entry); err != nil || entry["fix"] == nil || entry["retry_at"] == nil {
		t.Errorf("the failure is not a JSON line with fix and retry_at (%v):\n%s", err, line)
	}
	t.Logf("%s", line)
	return line
}

// TestAuditSpendsNoOrder: a fresh rampart on Pebble holds one ECDSA
// certificate; `rampart audit` (whose RSA-suite probes ask for an RSA
// certificate) makes Pebble issue nothing more. With --acme-rsa, the audit's
// RSA-suite probes get an RSA certificate, ordered once, and TLS 1.3 clients
// still the ECDSA one.
func TestAuditSpendsNoOrder(t *testing.T) {
	for _, tt := range []struct {
		name      string
		base, tls int
		rsa       bool
	}{{"ECDSA only (the default)", 18812, 18817, false}, {"--acme-rsa", 18820, 18825, true}} {
		t.Run(tt.name, func(t *testing.T) {
			ca := startPebble(t, tt.base, tt.base+6 /* nothing: TLS-ALPN-01 only */, tt.tls)
			httpsAddr := "127.0.0.1:" + strconv.Itoa(tt.tls)
			args := []string{"--domain", "shop.test", "--upstream", "http://127.0.0.1:18470",
				"--https-addr", httpsAddr, "--http-addr", "", "--admin-addr", "",
				"--acme-directory", ca.dirURL, "--acme-ca-root", ca.apiRoot, "--data-dir", t.TempDir()}
			if tt.rsa {
				args = append(args, "--acme-rsa")
			}
			start(t, "rampart", nil, rampartBin, args...)
			rootFile := ca.issuingRootFile(t)
			roots := poolFromFile(t, rootFile)
			waitFor(t, 60*time.Second, "the ECDSA certificate", func() error {
				_, err := handshake(httpsAddr, "shop.test", roots)
				return err
			})
			before := ca.orders()

			// The audit probes every TLS 1.2 suite, the RSA ones too, and each
			// TLS 1.3 suite alone (a hello autocert would judge RSA-only).
			out, err := execOutput(rampartBin, "audit", "https://shop.test:"+strconv.Itoa(tt.tls)+"/", "--ip", "127.0.0.1",
				"--ca", rootFile, "--http-port", strconv.Itoa(tt.base+6))
			if !strings.Contains(out, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256") || !strings.Contains(out, "TLS_CHACHA20_POLY1305_SHA256") {
				t.Fatalf("the audit did not run its suite probes (%v):\n%s", err, out)
			}
			time.Sleep(time.Second) // an order would have been placed by now
			want := before
			if tt.rsa {
				want++ // one RSA certificate, for the RSA-suite probes; none for TLS 1.3
			}
			if after := ca.orders(); after != want {
				t.Errorf("the audit made Pebble take %d new orders; want %d:\n%s", after-before, want-before, out)
			}
			if !tt.rsa {
				return
			}
			before = ca.orders()
			// An RSA-only client: TLS 1.2 with RSA suites only.
			cfg := &tls.Config{ServerName: "shop.test", RootCAs: roots, MaxVersion: tls.VersionTLS12,
				CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}}
			var leaf *x509.Certificate
			waitFor(t, 60*time.Second, "an RSA certificate for an RSA-only client", func() error {
				c, err := tls.Dial("tcp", httpsAddr, cfg)
				if err != nil {
					return err
				}
				defer c.Close()
				leaf = c.ConnectionState().PeerCertificates[0]
				return nil
			})
			if leaf.PublicKeyAlgorithm != x509.RSA || ca.orders() != before {
				t.Errorf("with --acme-rsa: key %v after %d more orders; want the RSA certificate the audit's probe got", leaf.PublicKeyAlgorithm, ca.orders()-before)
			}
			// A TLS 1.3 client that offers no TLS 1.2 suite still gets ECDSA.
			c, err := tls.Dial("tcp", httpsAddr, &tls.Config{ServerName: "shop.test", RootCAs: roots, MinVersion: tls.VersionTLS13})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if k := c.ConnectionState().PeerCertificates[0].PublicKeyAlgorithm; k != x509.ECDSA {
				t.Errorf("with --acme-rsa, a TLS 1.3 client got a %v certificate; want ECDSA", k)
			}
		})
	}
}

// TestACMENameAddedByReload: a name added to the file by a reload has its
// certificate ordered from Pebble at once, without a restart; a name removed
// is refused from then on (and so never renewed), and loses its series.
func TestACMENameAddedByReload(t *testing.T) {
	const httpsAddr, adminAddr = "127.0.0.1:18875", "127.0.0.1:18876"
	ca := startPebble(t, 18870, 18877 /* nothing listens */, 18875)
	roots := ca.issuingRoots(t)
	conf := filepath.Join(t.TempDir(), "rampart.yaml")
	write := func(domains string) {
		if err := os.WriteFile(conf, []byte("domain: ["+domains+"]\nupstream: http://127.0.0.1:18470\nhttps-addr: "+httpsAddr+
			"\nhttp-addr: \"\"\nadmin-addr: "+adminAddr+"\nacme-directory: "+ca.dirURL+"\nacme-ca-root: "+ca.apiRoot+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("shop.test")
	r := start(t, "rampart", nil, rampartBin, "--config", conf, "--data-dir", t.TempDir())
	waitFor(t, 60*time.Second, "certificate for shop.test", func() error { _, err := handshake(httpsAddr, "shop.test", roots); return err })
	if _, err := handshake(httpsAddr, "news.test", roots); err == nil {
		t.Fatal("news.test served before it was configured")
	}

	write("shop.test, news.test")
	_ = r.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, 60*time.Second, "certificate for news.test after the reload", func() error {
		_, err := handshake(httpsAddr, "news.test", roots)
		return err
	})
	if m := scrape(t, adminAddr); !strings.Contains(m, `rampart_acme_orders_total{domain="news.test",result="success"} 1`) {
		t.Errorf("the order for news.test is not counted:\n%s", stripRuntime(m))
	}

	write("shop.test")
	_ = r.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, 10*time.Second, "news.test refused after its removal", func() error {
		if _, err := handshake(httpsAddr, "news.test", roots); err == nil {
			return errors.New("still served")
		}
		return nil
	})
	if m := scrape(t, adminAddr); strings.Contains(m, `domain="news.test"`) {
		t.Errorf("news.test keeps series after its removal:\n%s", stripRuntime(m))
	}
	if _, err := handshake(httpsAddr, "shop.test", roots); err != nil {
		t.Errorf("shop.test after the reloads: %v", err)
	}
}

package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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
	p := start(t, "pebble", []string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0"},
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
// whose Host header carries a port.
func TestACMEHTTP01(t *testing.T) {
	const httpsAddr, httpAddr = "127.0.0.1:18444", "127.0.0.1:18481"
	ca := startPebble(t, 18410, 18481, 18498 /* nothing listens */)
	roots := ca.issuingRoots(t)
	start(t, "rampart", nil, rampartBin, "--domain", "shop.test", "--upstream", "http://127.0.0.1:18470",
		"--https-addr", httpsAddr, "--http-addr", httpAddr, "--admin-addr", "",
		"--acme-directory", ca.dirURL, "--acme-ca-root", ca.apiRoot, "--data-dir", t.TempDir())
	waitFor(t, 90*time.Second, "certificate for shop.test through HTTP-01", func() error {
		_, err := handshake(httpsAddr, "shop.test", roots)
		return err
	})
}

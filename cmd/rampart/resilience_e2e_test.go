package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCAUnreachable: with no CA to talk to, rampart stays up, says so in the
// log, keeps retrying, and still stops cleanly.
func TestCAUnreachable(t *testing.T) {
	const httpsAddr, adminAddr = "127.0.0.1:18551", "127.0.0.1:18591"
	dir := t.TempDir()
	apiRoot, _ := selfSignedFiles(t, dir, "127.0.0.1")
	r := start(t, "rampart", nil, rampartBin, "--domain", "shop.test", "--upstream", "http://127.0.0.1:18577",
		"--https-addr", httpsAddr, "--http-addr", "", "--admin-addr", adminAddr, "--data-dir", t.TempDir(),
		"--acme-directory", "https://127.0.0.1:18398/dir" /* nothing listens */, "--acme-ca-root", apiRoot, "--ready-grace", "0s")
	waitFor(t, 30*time.Second, "the failed order in the log", func() error {
		if !strings.Contains(r.out.String(), "certificate order failed") {
			return fmt.Errorf("not logged yet")
		}
		return nil
	})
	res, err := http.Get("http://" + adminAddr + "/healthz")
	if err != nil {
		t.Fatalf("admin listener down while the CA is unreachable: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Errorf("/healthz = %d; want 200", res.StatusCode)
	}
	// Alive, but not ready: there is no certificate to serve.
	res, err = http.Get("http://" + adminAddr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 503 || !strings.Contains(string(body), "no valid certificate for shop.test") {
		t.Errorf("/readyz = %d %q; want 503 naming shop.test", res.StatusCode, body)
	}
	select {
	case <-r.done:
		t.Fatalf("rampart exited because the CA is unreachable:\n%s", r.out.String())
	case <-time.After(time.Second):
	}
	if code := r.stop(10 * time.Second); code != 0 {
		t.Errorf("exit status %d on SIGTERM; want 0", code)
	}
}

// TestFilesReloadedWithoutRestart: a new pair replaces the old in service; a
// broken one is refused and the previous one stays.
func TestFilesReloadedWithoutRestart(t *testing.T) {
	const httpsAddr = "127.0.0.1:18552"
	dir := t.TempDir()
	certFile, keyFile := selfSignedFiles(t, dir, "shop.test")
	r := start(t, "rampart", nil, rampartBin, "--tls", "files", "--cert-file", certFile, "--key-file", keyFile,
		"--domain", "shop.test", "--upstream", "http://127.0.0.1:18578",
		"--https-addr", httpsAddr, "--http-addr", "", "--admin-addr", "", "--data-dir", t.TempDir())
	waitListening(t, httpsAddr)
	first, err := handshake(httpsAddr, "shop.test", poolFromFile(t, certFile))
	if err != nil {
		t.Fatal(err)
	}

	// A pair for another name is rejected; the first stays in service.
	stage := t.TempDir()
	badCert, badKey := selfSignedFiles(t, stage, "other.test")
	replace(t, badCert, certFile)
	replace(t, badKey, keyFile)
	waitFor(t, 20*time.Second, "the rejection in the log", func() error {
		if !strings.Contains(r.out.String(), "new certificate files rejected") {
			return fmt.Errorf("not logged yet")
		}
		return nil
	})
	if c, err := handshake(httpsAddr, "shop.test", x509PoolOf(first)); err != nil || !c.Equal(first) {
		t.Errorf("after a broken pair: %v; want the first certificate still served", err)
	}

	// A good pair is picked up.
	stage = t.TempDir()
	newCert, newKey := selfSignedFiles(t, stage, "shop.test")
	replace(t, newKey, keyFile)
	replace(t, newCert, certFile)
	newRoots := poolFromFile(t, certFile)
	waitFor(t, 20*time.Second, "the new certificate in service", func() error {
		_, err := handshake(httpsAddr, "shop.test", newRoots)
		return err
	})
}

func x509PoolOf(c *x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c)
	return p
}

// replace moves src over dst atomically, as deployment tools do.
func replace(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(filepath.Dir(dst), ".tmp-"+filepath.Base(dst))
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
}

// TestHTTPSUpstreamVerified: an https app is verified against --upstream-ca,
// and refused (502) without it.
func TestHTTPSUpstreamVerified(t *testing.T) {
	const appAddr = "127.0.0.1:18579"
	dir := t.TempDir()
	appCert, appKey := selfSignedFiles(t, dir, "127.0.0.1")
	ln, err := net.Listen("tcp", appAddr)
	if err != nil {
		t.Fatal(err)
	}
	app := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "secure app")
	})}
	go func() { _ = app.ServeTLS(ln, appCert, appKey) }()
	t.Cleanup(func() { app.Close() })

	tests := []struct {
		name       string
		httpsAddr  string
		extra      []string
		wantStatus int
	}{
		{"private CA trusted", "127.0.0.1:18553", []string{"--upstream-ca", appCert}, 200},
		{"unknown CA refused", "127.0.0.1:18554", nil, 502},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dataDir := t.TempDir()
			args := append([]string{"--tls", "internal", "--domain", "shop.test", "--upstream", "https://" + appAddr,
				"--https-addr", tt.httpsAddr, "--http-addr", "", "--admin-addr", "", "--data-dir", dataDir}, tt.extra...)
			start(t, "rampart", nil, rampartBin, args...)
			waitListening(t, tt.httpsAddr)
			client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
				TLSClientConfig: &tls.Config{RootCAs: poolFromFile(t, filepath.Join(dataDir, "internal-ca", "root.pem"))}}}
			req, _ := http.NewRequest("GET", "https://"+tt.httpsAddr+"/", nil)
			req.Host = "shop.test"
			client.Transport.(*http.Transport).TLSClientConfig.ServerName = "shop.test"
			res, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != tt.wantStatus {
				t.Errorf("status %d; want %d", res.StatusCode, tt.wantStatus)
			}
		})
	}
}

// TestConnectionCaps: over --max-conns-per-ip, a new connection displaces
// the address's oldest that has completed no request, and it is counted.
func TestConnectionCaps(t *testing.T) {
	const httpsAddr = "127.0.0.1:18566"
	r := start(t, "rampart", nil, rampartBin, "--tls", "internal", "--domain", "shop.test", "--upstream", "http://127.0.0.1:18598",
		"--https-addr", httpsAddr, "--http-addr", "", "--admin-addr", "", "--data-dir", t.TempDir(), "--max-conns-per-ip", "3")
	waitListening(t, httpsAddr)
	time.Sleep(200 * time.Millisecond) // waitListening's own probe connection has gone
	var conns []net.Conn
	for range 6 {
		c, err := net.Dial("tcp", httpsAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	// None of them sends a request: at the cap, each new one displaces the
	// oldest that has not completed one.
	var closed []int
	for i, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		_, err := c.Read(make([]byte, 1))
		var ne net.Error
		if err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
			closed = append(closed, i)
		}
	}
	if fmt.Sprint(closed) != "[0 1 2]" {
		t.Errorf("connections %v of 6 closed; want the oldest three, [0 1 2], displaced by the three over the per-IP cap of 3", closed)
	}
	for _, c := range conns {
		c.Close()
	}
	if code := r.stop(10 * time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(r.out.String(), `"connections_displaced":3`) {
		t.Errorf("the stop summary does not count 3 displaced connections:\n%s", r.out.String())
	}
}

// TestStopWithAnOrderInProgress: a CA that takes an order's request and
// never answers leaves the order in progress (autocert gives it five
// minutes, its HTTP client two). A stop must not wait for it: rampart exits
// within --shutdown-timeout, and the next start orders again.
//
// Pebble always answers, so the CA here is a TLS listener that reads
// requests and never replies: exactly the condition, and nothing more.
func TestStopWithAnOrderInProgress(t *testing.T) {
	const httpsAddr, caAddr = "127.0.0.1:18710", "127.0.0.1:18711"
	dir := t.TempDir()
	certFile, keyFile := selfSignedFiles(t, dir, "127.0.0.1")
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", caAddr, &tls.Config{Certificates: []tls.Certificate{pair}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	asked := make(chan struct{}, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if _, err := http.ReadRequest(bufio.NewReader(c)); err == nil {
					asked <- struct{}{}
				}
				_, _ = io.Copy(io.Discard, c) // and never answer
			}()
		}
	}()
	dataDir := t.TempDir()
	args := []string{"--domain", "shop.test", "--upstream", "http://127.0.0.1:18712", "--https-addr", httpsAddr,
		"--http-addr", "", "--admin-addr", "", "--data-dir", dataDir, "--shutdown-timeout", "2s",
		"--acme-directory", "https://" + caAddr + "/dir", "--acme-ca-root", certFile}
	for round := 1; round <= 2; round++ {
		r := start(t, "rampart", nil, rampartBin, args...)
		select {
		case <-asked:
		case <-time.After(30 * time.Second):
			t.Fatalf("round %d: rampart never asked the CA", round)
		}
		time.Sleep(200 * time.Millisecond)
		begin := time.Now()
		code := r.stop(20 * time.Second)
		took := time.Since(begin)
		t.Logf("round %d: stopped with an order in progress after %v (--shutdown-timeout 2s), exit %d", round, took.Round(time.Millisecond), code)
		if code != 0 {
			t.Errorf("exit status %d; want 0", code)
		}
		if took > 5*time.Second {
			t.Errorf("the stop took %v; want it within --shutdown-timeout (2s) and a little", took)
		}
	}
}

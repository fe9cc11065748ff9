package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// trustingHome makes a HOME whose NSS database trusts root, so Chromium
// verifies rampart's certificate for real (browsers ignore HSTS on
// certificate errors, so no error may be waved through).
func trustingHome(t *testing.T, root string) string {
	t.Helper()
	certutil := requireTool(t, "certutil")
	home := t.TempDir()
	db := "sql:" + filepath.Join(home, ".pki", "nssdb")
	os.MkdirAll(filepath.Join(home, ".pki", "nssdb"), 0o700)
	for _, args := range [][]string{{"-d", db, "-N", "--empty-password"}, {"-d", db, "-A", "-t", "C,,", "-n", "rampart-test", "-i", root}} {
		if out, err := exec.Command(certutil, args...).CombinedOutput(); err != nil {
			t.Fatalf("certutil %v: %v\n%s", args, err, out)
		}
	}
	return home
}

// TestBrowserHSTSAndNoMixedContent: headless Chromium, trusting rampart's CA
// through its own NSS database, loads a page whose image, script and
// stylesheet point at a plain-HTTP port that counts its hits: it gets none.
// The page then navigates to http:// on rampart's HTTPS port: with HSTS the
// browser upgrades that to https and rampart serves it; with neither HSTS nor
// the CSP the plain request never reaches the app.
func TestBrowserHSTSAndNoMixedContent(t *testing.T) {
	chromium := requireTool(t, "chromium")
	const counterAddr = "127.0.0.1:18623"
	var hits atomic.Int32
	startApp(t, counterAddr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))

	for _, tc := range []struct {
		name     string
		port     int
		app      string
		extra    []string
		upgraded bool
	}{
		// rampart's defaults: no mixed content; the navigation is upgraded
		// (by the CSP's upgrade-insecure-requests as well as by HSTS).
		{"defaults", 18575, "127.0.0.1:18624", nil, true},
		// HSTS alone upgrades it.
		{"HSTS without the CSP", 18576, "127.0.0.1:18625", []string{"--csp", "off"}, true},
		// The control: neither, and the plain request never reaches the app.
		{"neither HSTS nor the CSP", 18577, "127.0.0.1:18626", []string{"--csp", "off", "--hsts-max-age", "0"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hits.Store(0)
			page := fmt.Sprintf(`<!doctype html><html><head><link rel="stylesheet" href="http://shop.test:18623/c.css"></head>
<body><p>first</p><img src="http://shop.test:18623/i.png"><script src="http://shop.test:18623/s.js"></script>
<script>setTimeout(function () { location.href = "http://shop.test:%d/second"; }, 300);</script></body></html>`, tc.port)
			startApp(t, tc.app, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html; charset=utf-8")
				if r.URL.Path == "/second" {
					io.WriteString(w, "<p>second</p>")
					return
				}
				io.WriteString(w, page)
			}))
			dataDir := t.TempDir()
			httpsAddr := fmt.Sprintf("127.0.0.1:%d", tc.port)
			r := start(t, "rampart", nil, rampartBin, append([]string{"--tls", "internal", "--domain", "shop.test",
				"--upstream", "http://" + tc.app, "--https-addr", httpsAddr, "--http-addr", "", "--admin-addr", "",
				"--data-dir", dataDir}, tc.extra...)...)
			waitListening(t, httpsAddr)
			waitFile(t, filepath.Join(dataDir, "internal-ca", "root.pem"))
			home := trustingHome(t, filepath.Join(dataDir, "internal-ca", "root.pem"))

			// Chromium does not exit by itself after a script navigation, so
			// the evidence is rampart's log, and the browser (its whole
			// process group) is stopped once the log has it.
			cmd := exec.Command(chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
				"--disable-background-networking", "--disable-component-update", "--disable-sync",
				"--user-data-dir="+t.TempDir(), "--host-resolver-rules=MAP shop.test 127.0.0.1",
				"--remote-debugging-port=0", fmt.Sprintf("https://shop.test:%d/", tc.port))
			cmd.Env = append(os.Environ(), "HOME="+home)
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() {
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				_ = cmd.Wait()
			}()
			// The navigation shows either as /second over HTTPS, or as a
			// plain-HTTP request refused at the TLS port.
			waitFor(t, 30*time.Second, "the browser's http:// navigation", func() error {
				if l := r.out.String(); strings.Contains(l, `"path":"/second"`) || strings.Contains(l, `"reason":"not_tls"`) {
					return nil
				}
				return fmt.Errorf("not yet")
			})
			time.Sleep(300 * time.Millisecond)

			log := r.out.String()
			if !strings.Contains(log, `"path":"/"`) {
				t.Fatalf("the page never loaded over HTTPS (certificate not trusted?):\n%s", log)
			}
			if n := hits.Load(); n != 0 {
				t.Errorf("the plain-HTTP port got %d requests; want none", n)
			}
			secondOverHTTPS := strings.Contains(log, `"path":"/second"`)
			t.Logf("%s: page loaded over HTTPS; plain-HTTP port hits %d; http:// navigation served over HTTPS: %v", tc.name, hits.Load(), secondOverHTTPS)
			if secondOverHTTPS != tc.upgraded {
				t.Errorf("http:// navigation reached rampart over HTTPS = %v; want %v", secondOverHTTPS, tc.upgraded)
			}
		})
	}
}

package main

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBrowserUpgradesMixedContent: a real headless Chromium loads a page
// through rampart whose script is referenced over plain http. With rampart's
// default CSP the browser upgrades it to https and runs it; with --csp off the
// same page has its script blocked as mixed content. The script's URL points
// at rampart's HTTPS port, so only the upgraded request can succeed.
func TestBrowserUpgradesMixedContent(t *testing.T) {
	chromium := requireTool(t, "chromium")
	tests := []struct {
		name      string
		httpsPort int
		appAddr   string
		extra     []string
		wantRan   bool
	}{
		{"default CSP upgrades", 18557, "127.0.0.1:18584", nil, true},
		{"without CSP the script is blocked", 18558, "127.0.0.1:18585", []string{"--csp", "off"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			httpsAddr := fmt.Sprintf("127.0.0.1:%d", tt.httpsPort)
			page := fmt.Sprintf(`<!doctype html><html><head><title>shop</title></head><body>
<p id="result">script-did-not-run</p>
<script src="http://shop.test:%d/app.js"></script></body></html>`, tt.httpsPort)
			scriptFetched := make(chan struct{}, 10)
			startApp(t, tt.appAddr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/app.js" {
					scriptFetched <- struct{}{}
					w.Header().Set("Content-Type", "text/javascript")
					io.WriteString(w, `document.getElementById("result").textContent = "script-" + "ran-over-" + location.protocol;`)
					return
				}
				w.Header().Set("Content-Type", "text/html; charset=utf-8")
				io.WriteString(w, page)
			}))
			dataDir := t.TempDir()
			args := append([]string{"--tls", "internal", "--domain", "shop.test", "--upstream", "http://" + tt.appAddr,
				"--https-addr", httpsAddr, "--http-addr", "", "--admin-addr", "", "--data-dir", dataDir}, tt.extra...)
			start(t, "rampart", nil, rampartBin, args...)
			waitListening(t, httpsAddr)

			waitFile(t, filepath.Join(dataDir, "internal-ca", "root.pem"))
			dom := dumpDOM(t, chromium, filepath.Join(dataDir, "internal-ca", "root.pem"),
				fmt.Sprintf("https://shop.test:%d/", tt.httpsPort))
			ran := strings.Contains(dom, "script-ran-over-https:")
			if !strings.Contains(dom, `id="result"`) {
				t.Fatalf("Chromium did not load the page:\n%s", dom)
			}
			if ran != tt.wantRan {
				t.Errorf("script ran = %v; want %v\n%s", ran, tt.wantRan, dom)
			}
			if fetched := len(scriptFetched) > 0; fetched != tt.wantRan {
				t.Errorf("app saw a request for the script = %v; want %v", fetched, tt.wantRan)
			}
		})
	}
}

// dumpDOM loads url in headless Chromium, trusting the CA at rootFile by its
// key hash (Chromium's way to trust one CA without touching the system's
// store), and returns the DOM after scripts ran. shop.test resolves to
// 127.0.0.1 inside Chromium only. (Not localhost: Chromium counts
// http://localhost as potentially trustworthy, so it is never mixed content.)
func dumpDOM(t *testing.T, chromium, rootFile, url string) string {
	t.Helper()
	return chromiumDOM(t, chromium, rootFile, url, "shop.test")
}

// chromiumDOM is dumpDOM with these hosts resolving to 127.0.0.1.
func chromiumDOM(t *testing.T, chromium, rootFile, url string, hosts ...string) string {
	t.Helper()
	var rules []string
	for _, h := range hosts {
		rules = append(rules, "MAP "+h+" 127.0.0.1")
	}
	data, err := os.ReadFile(rootFile)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	root, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	spki := sha256.Sum256(root.RawSubjectPublicKeyInfo)
	cmd := exec.Command(chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+t.TempDir(), "--host-resolver-rules="+strings.Join(rules, ", "),
		"--ignore-certificate-errors-spki-list="+base64.StdEncoding.EncodeToString(spki[:]),
		"--virtual-time-budget=5000", "--dump-dom", url)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("chromium: %v\n%s", err, errOut.String())
		}
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("chromium did not finish within 60s\n%s", errOut.String())
	}
	return out.String()
}

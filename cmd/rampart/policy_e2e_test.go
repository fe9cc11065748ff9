package main

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// TestConfigFilePolicy: the binary serving a file whose site and routes carry
// policies: an allow list judged on the client behind a trusted proxy, basic
// auth from an htpasswd file, a rate limit on checkout with 429 and
// Retry-After, and an extra response header; the refusals are counted.
func TestConfigFilePolicy(t *testing.T) {
	const httpsAddr, adminAddr, appAddr = "127.0.0.1:18865", "127.0.0.1:18866", "127.0.0.1:18867"
	var mu sync.Mutex
	var seen []string
	startApp(t, appAddr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, r.URL.Path+" auth="+r.Header.Get("Authorization"))
		io.WriteString(w, "app")
	}))
	dir, dataDir := t.TempDir(), t.TempDir()
	hash, _ := bcrypt.GenerateFromPassword([]byte("correct horse"), bcrypt.MinCost)
	if err := os.WriteFile(filepath.Join(dir, "htpasswd"), []byte("ops:"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "rampart.yaml")
	if err := os.WriteFile(conf, []byte(`tls: internal
https-addr: `+httpsAddr+`
http-addr: ""
admin-addr: `+adminAddr+`
trusted-proxies: [127.0.0.1]
sites:
  - hosts: [shop.test]
    deny: [198.51.100.0/24]
    response_headers: {X-Robots-Tag: noindex}
    routes:
      - path: /checkout
        rate_limit: {rate: 6/m, burst: 2}
        upstream: http://`+appAddr+`
      - path: /admin
        allow: [10.0.0.0/8]
        basic_auth: {realm: Shop admin, users_file: htpasswd}
        upstream: http://`+appAddr+`
      - upstream: http://`+appAddr+`
`), 0o600); err != nil {
		t.Fatal(err)
	}
	start(t, "rampart", nil, rampartBin, "--config", conf, "--data-dir", dataDir)
	waitListening(t, httpsAddr)
	client := internalClient(t, dataDir, httpsAddr)
	get := func(path, from string, auth ...string) *http.Response {
		req, _ := http.NewRequest("GET", "https://shop.test"+path, nil)
		req.Header.Set("X-Forwarded-For", from)
		if len(auth) == 2 {
			req.SetBasicAuth(auth[0], auth[1])
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res
	}
	for _, tt := range []struct {
		name, path, from string
		auth             []string
		want             int
	}{
		{"the shop", "/", "203.0.113.5", nil, 200},
		{"a denied network", "/", "198.51.100.7", nil, 403},
		{"admin from outside", "/admin", "203.0.113.5", []string{"ops", "correct horse"}, 403},
		{"admin without a password", "/admin", "10.1.1.1", nil, 401},
		{"admin with a wrong one", "/admin", "10.1.1.1", []string{"ops", "battery staple"}, 401},
		{"admin with the right one", "/admin", "10.1.1.1", []string{"ops", "correct horse"}, 200},
		{"checkout 1", "/checkout", "203.0.113.9", nil, 200},
		{"checkout 2", "/checkout", "203.0.113.9", nil, 200},
		{"checkout 3, past the burst", "/checkout", "203.0.113.9", nil, 429},
		{"checkout from another card tester", "/checkout", "203.0.113.10", nil, 200},
	} {
		res := get(tt.path, tt.from, tt.auth...)
		if res.StatusCode != tt.want {
			t.Errorf("%s: %d; want %d", tt.name, res.StatusCode, tt.want)
		}
		switch {
		case tt.want == 429 && res.Header.Get("Retry-After") != "10":
			t.Errorf("%s: Retry-After %q; want 10 (6 a minute)", tt.name, res.Header.Get("Retry-After"))
		case tt.want == 401 && !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), `Basic realm="Shop admin"`):
			t.Errorf("%s: WWW-Authenticate %q", tt.name, res.Header.Get("WWW-Authenticate"))
		case tt.want == 200 && res.Header.Get("X-Robots-Tag") != "noindex":
			t.Errorf("%s: X-Robots-Tag %q; want the site's noindex", tt.name, res.Header.Get("X-Robots-Tag"))
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if got := strings.Join(seen, ","); got != "/ auth=,/admin auth=,/checkout auth=,/checkout auth=,/checkout auth=" {
		t.Errorf("the app saw %q; want only what passed, and no password", got)
	}
	m := scrape(t, adminAddr)
	for _, want := range []string{`rampart_rejected_requests_total{reason="denied"} 2`, `rampart_rejected_requests_total{reason="unauthorized"} 2`, `rampart_rejected_requests_total{reason="rate_limited"} 1`} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestProxyProtocolEndToEnd: behind a TCP load balancer (127.0.0.1 here)
// that sends the PROXY protocol, the app is told the real client, policies
// judge it, and the access log names it; a client elsewhere (127.0.0.2)
// that sends a header of its own is refused, and one without is served.
func TestProxyProtocolEndToEnd(t *testing.T) {
	const httpsAddr, appAddr = "127.0.0.1:18868", "127.0.0.1:18869"
	startApp(t, appAddr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Header.Get("X-Real-Ip")+" "+r.Header.Get("X-Forwarded-For"))
	}))
	dataDir := t.TempDir()
	r := start(t, "rampart", nil, rampartBin, "--tls", "internal", "--domain", "shop.test", "--upstream", "http://"+appAddr,
		"--https-addr", httpsAddr, "--http-addr", "", "--admin-addr", "", "--data-dir", dataDir, "--proxy-protocol-from", "127.0.0.1",
		"--log-level", "debug") // refusals for a header are logged at debug: anyone can send one
	waitListening(t, httpsAddr)
	roots := poolFromFile(t, filepath.Join(dataDir, "internal-ca", "root.pem"))
	get := func(local string, header string) (string, error) {
		d := &net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
		client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "shop.test"},
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				c, err := d.DialContext(ctx, network, httpsAddr)
				if err == nil && header != "" {
					_, err = io.WriteString(c, header)
				}
				return c, err
			}}}
		res, err := client.Get("https://shop.test/")
		if err != nil {
			return "", err
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		return string(b), err
	}
	if got, err := get("127.0.0.1", "PROXY TCP4 203.0.113.50 127.0.0.1 40000 443\r\n"); err != nil || got != "203.0.113.50 203.0.113.50" {
		t.Errorf("through the balancer: %q, %v; want the app told 203.0.113.50", got, err)
	}
	if _, err := get("127.0.0.1", ""); err == nil {
		t.Error("the balancer's connection without a header was served")
	}
	if _, err := get("127.0.0.2", "PROXY TCP4 10.0.0.1 127.0.0.1 1 443\r\n"); err == nil {
		t.Error("a client's own PROXY header was taken")
	}
	if got, err := get("127.0.0.2", ""); err != nil || got != "127.0.0.2 127.0.0.2" {
		t.Errorf("a client without a header: %q, %v", got, err)
	}
	if out := r.out.String(); !strings.Contains(out, `"remote":"203.0.113.50:40000"`) || !strings.Contains(out, "connection refused for its PROXY header") {
		t.Errorf("the access log does not name the client, or the refusals are not logged:\n%s", out)
	}
}

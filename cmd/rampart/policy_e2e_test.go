package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

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

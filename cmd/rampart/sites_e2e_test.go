package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestConfigFileSites: a YAML file with two sites, routes by path, a fixed
// response and a redirect, served by the binary with the internal CA; a
// SIGHUP with a changed route applies it, one with a broken file changes
// nothing.
func TestConfigFileSites(t *testing.T) {
	const httpsAddr = "127.0.0.1:18740"
	for addr, name := range map[string]string{"127.0.0.1:18741": "shop", "127.0.0.1:18742": "api", "127.0.0.1:18743": "api2"} {
		startApp(t, addr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name+" "+r.URL.Path) }))
	}
	dir, dataDir := t.TempDir(), t.TempDir()
	conf := filepath.Join(dir, "rampart.yaml")
	write := func(api string) {
		body := `tls: internal
https-addr: ` + httpsAddr + `
http-addr: ""
admin-addr: ""
data-dir: ` + dataDir + `
sites:
  - hosts: [shop.test, www.shop.test]
    routes:
      - path: /api
        upstream: http://` + api + `
      - exact_path: /robots.txt
        respond: {body: "User-agent: *\n"}
      - upstream: http://127.0.0.1:18741
  - hosts: [blog.test]
    routes:
      - redirect: {to: "https://shop.test/blog", status: 301}
`
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("127.0.0.1:18742")
	r := start(t, "rampart", nil, rampartBin, "--config", conf)
	waitListening(t, httpsAddr)
	roots := poolFromFile(t, filepath.Join(dataDir, "internal-ca", "root.pem"))
	client := func(host string) *http.Client {
		return &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: host},
				DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
					return (&net.Dialer{}).DialContext(ctx, network, httpsAddr)
				}}}
	}
	check := func(host, path string, status int, want string) {
		t.Helper()
		res, err := client(host).Get("https://" + host + path)
		if err != nil {
			t.Errorf("%s%s: %v", host, path, err)
			return
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		got := string(body)
		if res.StatusCode/100 == 3 {
			got = res.Header.Get("Location")
		}
		if res.StatusCode != status || got != want {
			t.Errorf("%s%s: %d %q; want %d %q", host, path, res.StatusCode, got, status, want)
		}
	}
	check("shop.test", "/", 200, "shop /")
	check("www.shop.test", "/api/orders", 200, "api /api/orders")
	check("shop.test", "/robots.txt", 200, "User-agent: *\n")
	check("blog.test", "/post/1", 301, "https://shop.test/blog")

	// A route changed by a reload.
	write("127.0.0.1:18743")
	_ = r.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, 10*time.Second, "the new route", func() error {
		res, err := client("shop.test").Get("https://shop.test/api/x")
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if string(body) != "api2 /api/x" {
			return errors.New(string(body))
		}
		return nil
	})
	// A broken file is refused; the running table stays.
	if err := os.WriteFile(conf, []byte("sites:\n  - hosts: [shop.test]\n    routes: [{upstream: ftp://x}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = r.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, 10*time.Second, "the refusal in the log", func() error {
		if !strings.Contains(r.out.String(), "reload refused") {
			return errors.New("not yet")
		}
		return nil
	})
	check("shop.test", "/api/x", 200, "api2 /api/x")
	if !strings.Contains(r.out.String(), "sites[0].routes[0].upstream") {
		t.Errorf("the refused reload does not name the key:\n%s", r.out.String())
	}

	// A reload that adds a name serves it at once, with its certificate; one
	// that removes it refuses it again.
	write("127.0.0.1:18742")
	body, _ := os.ReadFile(conf)
	if err := os.WriteFile(conf, []byte(strings.Replace(string(body), "[blog.test]", "[blog.test, news.test]", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = r.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, 10*time.Second, "the new name served", func() error {
		res, err := client("news.test").Get("https://news.test/post/1")
		if err == nil {
			res.Body.Close()
		}
		return err
	})
	check("news.test", "/post/1", 301, "https://shop.test/blog")
	check("shop.test", "/api/x", 200, "api /api/x") // the route change in that file is applied with it
	if !strings.Contains(r.out.String(), `"added":["news.test"]`) {
		t.Errorf("the added name is not logged:\n%s", r.out.String())
	}
	write("127.0.0.1:18742")
	_ = r.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, 10*time.Second, "the removed name refused", func() error {
		if _, err := client("news.test").Get("https://news.test/"); err == nil {
			return errors.New("news.test still answered")
		}
		return nil
	})
	check("blog.test", "/post/1", 301, "https://shop.test/blog")
}

// TestConfigFileErrors: a file's mistakes stop the start with exit 2, naming
// file:line and the key; the form the YAML replaced is named as such.
func TestConfigFileErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct{ name, body, want string }{
		{"the old form", "# old\ndomain = shop.test\n", `:2: written as name = value, the form the YAML file replaced; fix: write name: value`},
		{"a misspelt key", "domain: shop.test\nupstrem: http://127.0.0.1:1\n", `:2 (upstrem): unknown key; fix: did you mean upstream?`},
		{"a key twice", "domain: shop.test\ndomain: www.shop.test\n", `:2 (domain): given twice (first at line 1)`},
		{"a route without an action", "sites:\n  - hosts: [shop.test]\n    routes:\n      - path: /a\n", `:4 (sites[0].routes[0]): 0 actions; fix: give exactly one of upstream, pool, redirect and respond`},
		{"a name in two sites", "sites:\n  - hosts: [shop.test]\n    routes: [{upstream: http://127.0.0.1:1}]\n  - hosts: [SHOP.test]\n    routes: [{upstream: http://127.0.0.1:1}]\n", `:4 (sites[1].hosts): "SHOP.test" is served twice`},
		{"a redirect off-site", "sites:\n  - hosts: [shop.test]\n    routes: [{redirect: {to: //evil.test/}}]\n", `:3 (sites[0].routes[0]): redirect target "//evil.test/": want an https URL or a path starting with one /`},
		{"two default sites", "sites:\n  - hosts: [shop.test]\n    default: true\n    routes: [{upstream: http://127.0.0.1:1}]\n  - hosts: [blog.test]\n    default: true\n    routes: [{upstream: http://127.0.0.1:1}]\n", `:5 (sites[1].default): a second default site (sites[0] is one)`},
		{"a route timeout over the global one", "sites:\n  - hosts: [shop.test]\n    routes: [{upstream: http://127.0.0.1:1, timeout: 2m}]\n", `:2 (sites[0]): a timeout of 2m0s, over --upstream-timeout (1m0s); fix: raise --upstream-timeout`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			conf := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-")+".yaml")
			if err := os.WriteFile(conf, []byte(tt.body), 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(rampartBin, "--config", conf, "--tls", "internal", "--https-addr", "127.0.0.1:18744",
				"--http-addr", "", "--admin-addr", "", "--data-dir", dir).CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.HasPrefix(string(out), "rampart: "+conf) || !strings.Contains(string(out), tt.want) {
				t.Errorf("exit %v:\n%s\nwant exit 2, %s and %q", err, out, conf, tt.want)
			}
		})
	}
}

// TestExamplesValidate: every example file in deploy/ passes rampart validate.
func TestExamplesValidate(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "deploy", "examples", "*.yaml"))
	if len(files) == 0 {
		t.Fatal("no example in deploy/examples")
	}
	for _, f := range files {
		out, err := exec.Command(rampartBin, "validate", f).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "the settings are valid") {
			t.Errorf("rampart validate %s: %v\n%s", f, err, out)
		}
	}
}

// TestConfigCommand: rampart config prints every setting with its value and
// its source (flag, variable, file line, default), hides secrets and
// credentials, and lists the sites' routes as the table takes them.
func TestConfigCommand(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "rampart.yaml")
	if err := os.WriteFile(conf, []byte(`acme-directory: https://acme.example.net/directory
acme-eab-kid: kid
hsts-max-age: 300
upstream-timeout: 10s
sites:
  - hosts: [shop.test]
    routes:
      - path: /api
        pool: api
      - exact_path: /robots.txt
        respond: {body: "User-agent: *\n"}
pools:
  api: {members: [http://127.0.0.1:9000, http://127.0.0.1:9001], balance: client_hash}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(rampartBin, "config", "--config", conf, "--upstream-timeout", "20s", "--acme-eab-hmac", "c2VjcmV0LWhtYWMta2V5")
	cmd.Env = append(os.Environ(), "RAMPART_LOG_LEVEL=debug", "RAMPART_DATA_DIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	text := string(out)
	for _, want := range []string{
		`upstream-timeout: "20s"`, "# --upstream-timeout",
		`log-level: "debug"`, "# RAMPART_LOG_LEVEL",
		`hsts-max-age: "300"`, "rampart.yaml:3 (hsts-max-age)",
		`https-addr: ":443"`, "# default",
		`acme-eab-hmac: "(set; not shown)"`,
		"note: " + conf + ":4 (upstream-timeout) is overridden by --upstream-timeout",
		"/api and below -> pool api [http://127.0.0.1:9000, http://127.0.0.1:9001] client_hash",
		"/robots.txt exactly -> respond 200 (14 bytes)",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("rampart config does not say %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "c2VjcmV0") {
		t.Errorf("rampart config prints the EAB key:\n%s", text)
	}
}

// TestWildcardSite: a site for *.tenants.test, served with the internal CA:
// any one label in front is served (one leaf for all), two labels are not,
// and the requests are counted under the wildcard's name. With ACME the
// same file is refused, naming DNS-01 and the way out.
func TestWildcardSite(t *testing.T) {
	const httpsAddr, adminAddr, appAddr = "127.0.0.1:18880", "127.0.0.1:18881", "127.0.0.1:18882"
	startApp(t, appAddr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "tenant "+r.Host) }))
	dir, dataDir := t.TempDir(), t.TempDir()
	conf := filepath.Join(dir, "rampart.yaml")
	site := "sites:\n  - hosts: [\"*.tenants.test\"]\n    routes: [{upstream: \"http://" + appAddr + "\"}]\n"
	if err := os.WriteFile(conf, []byte("tls: internal\nhttps-addr: "+httpsAddr+"\nhttp-addr: \"\"\nadmin-addr: "+adminAddr+"\n"+site), 0o600); err != nil {
		t.Fatal(err)
	}
	start(t, "rampart", nil, rampartBin, "--config", conf, "--data-dir", dataDir)
	waitListening(t, httpsAddr)
	roots := poolFromFile(t, filepath.Join(dataDir, "internal-ca", "root.pem"))
	var leaves []*x509.Certificate
	for _, host := range []string{"acme.tenants.test", "globex.tenants.test"} {
		client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: host},
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, httpsAddr)
			}}}
		res, err := client.Get("https://" + host + "/")
		if err != nil {
			t.Fatalf("%s: %v", host, err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || string(body) != "tenant "+host {
			t.Errorf("%s: %d %q", host, res.StatusCode, body)
		}
		leaves = append(leaves, res.TLS.PeerCertificates[0])
	}
	if !leaves[0].Equal(leaves[1]) {
		t.Error("each tenant got a leaf of its own; want the wildcard's one")
	}
	if _, err := handshake(httpsAddr, "a.b.tenants.test", roots); err == nil {
		t.Error("two labels in front of the wildcard were served")
	}
	if m := scrape(t, adminAddr); !strings.Contains(m, `rampart_http_requests_total{code="200",host="*.tenants.test",method="GET"} 2`) {
		t.Errorf("the tenants' requests are not counted under the wildcard:\n%s", stripRuntime(m))
	}

	acmeConf := filepath.Join(dir, "acme.yaml")
	if err := os.WriteFile(acmeConf, []byte(site), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(rampartBin, "validate", acmeConf).CombinedOutput()
	if exitCode(t, err) != 2 || !strings.Contains(string(out), "DNS-01") || !strings.Contains(string(out), "a wildcard certificate of its own") {
		t.Errorf("a wildcard with ACME: %v\n%s", err, out)
	}
}

// TestSiteCertificates: a site that brings its own certificate files is
// served them by SNI beside the --tls source's names, and a new pair in
// those files is served without a reload. With every site bringing its
// own, the default ACME source is not even made: nothing is ordered.
func TestSiteCertificates(t *testing.T) {
	const httpsAddr, appAddr = "127.0.0.1:18883", "127.0.0.1:18884"
	startApp(t, appAddr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "app "+r.Host) }))
	dir, dataDir := t.TempDir(), t.TempDir()
	payCert, payKey := selfSignedFiles(t, dir, "pay.test")
	conf := filepath.Join(dir, "rampart.yaml")
	body := "tls: internal\nhttps-addr: " + httpsAddr + "\nhttp-addr: \"\"\nadmin-addr: \"\"\nsites:\n" +
		"  - hosts: [shop.test]\n    routes: [{upstream: \"http://" + appAddr + "\"}]\n" +
		"  - hosts: [pay.test]\n    tls: {cert_file: cert.pem, key_file: key.pem}\n    routes: [{upstream: \"http://" + appAddr + "\"}]\n"
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	start(t, "rampart", nil, rampartBin, "--config", conf, "--data-dir", dataDir)
	waitListening(t, httpsAddr)
	internalRoots := poolFromFile(t, filepath.Join(dataDir, "internal-ca", "root.pem"))
	if _, err := handshake(httpsAddr, "shop.test", internalRoots); err != nil {
		t.Errorf("shop.test from the internal CA: %v", err)
	}
	first, err := handshake(httpsAddr, "pay.test", poolFromFile(t, payCert))
	if err != nil {
		t.Fatalf("pay.test from its own files (%s): %v", payKey, err)
	}
	// A new pair in the same files is served within the files' poll.
	time.Sleep(10 * time.Millisecond)
	selfSignedFiles(t, dir, "pay.test")
	waitFor(t, 15*time.Second, "the new pair for pay.test", func() error {
		c, err := handshake(httpsAddr, "pay.test", poolFromFile(t, payCert))
		if err != nil {
			return err
		}
		if c.Equal(first) {
			return errors.New("still the old certificate")
		}
		return nil
	})

	// Every site with its own pair: no ACME source, no order, no CA needed.
	acmeConf := filepath.Join(dir, "acme.yaml")
	if err := os.WriteFile(acmeConf, []byte("https-addr: 127.0.0.1:18885\nhttp-addr: \"\"\nadmin-addr: \"\"\nsites:\n  - hosts: [pay.test]\n    tls: {cert_file: cert.pem, key_file: key.pem}\n    routes: [{upstream: \"http://"+appAddr+"\"}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := start(t, "rampart-acme", nil, rampartBin, "--config", acmeConf, "--data-dir", t.TempDir())
	waitListening(t, "127.0.0.1:18885")
	if _, err := handshake("127.0.0.1:18885", "pay.test", poolFromFile(t, payCert)); err != nil {
		t.Errorf("pay.test with no ACME name at all: %v", err)
	}
	time.Sleep(200 * time.Millisecond)
	if out := r.out.String(); strings.Contains(out, "certificate order") || strings.Contains(out, `"certificate ready"`) || strings.Contains(out, "acme-v02") {
		t.Errorf("an ACME source was made with no name for it:\n%s", out)
	}

	// A site's pair that does not cover its hosts is refused with its line.
	badConf := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(badConf, []byte("tls: internal\nsites:\n  - hosts: [shop.test]\n    tls: {cert_file: cert.pem, key_file: key.pem}\n    routes: [{upstream: \"http://"+appAddr+"\"}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(rampartBin, "validate", badConf).CombinedOutput()
	if exitCode(t, err) != 2 || !strings.Contains(string(out), "bad.yaml:3 (sites[0].tls)") || !strings.Contains(string(out), "does not cover") {
		t.Errorf("a pair not covering its site: %v\n%s", err, out)
	}
}

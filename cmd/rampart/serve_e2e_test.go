package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
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

// startApp serves h on a fixed loopback address, as the upstream app.
func startApp(t testing.TB, addr string, h http.Handler) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
}

// startInternal runs rampart with its internal CA in front of appAddr and
// returns the process and a client that trusts the CA's root.
func startInternal(t *testing.T, httpsAddr, httpAddr, appAddr string, extra ...string) (*proc, *http.Client, *x509.CertPool) {
	t.Helper()
	dataDir := t.TempDir()
	args := append([]string{"--tls", "internal", "--domain", "shop.test", "--upstream", "http://" + appAddr,
		"--https-addr", httpsAddr, "--http-addr", httpAddr, "--admin-addr", "", "--data-dir", dataDir}, extra...)
	p := start(t, "rampart", nil, rampartBin, args...)
	waitListening(t, httpsAddr)
	roots := poolFromFile(t, filepath.Join(dataDir, "internal-ca", "root.pem"))
	client := &http.Client{
		Timeout: 20 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: roots, ServerName: "shop.test"},
			ForceAttemptHTTP2: true,
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, httpsAddr)
			},
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return p, client, roots
}

// TestShutdownFinishesInFlight: on SIGTERM /readyz fails at once, new
// requests are still served for --shutdown-delay, and a request in flight
// completes with 200 before rampart exits 0.
func TestShutdownFinishesInFlight(t *testing.T) {
	const app, httpsAddr, adminAddr = "127.0.0.1:18571", "127.0.0.1:18545", "127.0.0.1:18592"
	entered := make(chan struct{}, 10)
	startApp(t, app, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			entered <- struct{}{}
			time.Sleep(3 * time.Second)
		}
		io.WriteString(w, "done")
	}))
	p, client, _ := startInternal(t, httpsAddr, "", app, "--admin-addr", adminAddr, "--shutdown-delay", "1500ms")
	readyz := func() int {
		res, err := http.Get("http://" + adminAddr + "/readyz")
		if err != nil {
			return 0
		}
		res.Body.Close()
		return res.StatusCode
	}
	waitFor(t, 10*time.Second, "/readyz 200", func() error {
		if s := readyz(); s != 200 {
			return fmt.Errorf("status %d", s)
		}
		return nil
	})

	type result struct {
		status int
		body   string
		err    error
	}
	get := func(path string) result {
		res, err := client.Get("https://shop.test" + path)
		if err != nil {
			return result{err: err}
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		return result{res.StatusCode, string(b), err}
	}
	slow := make(chan result, 1)
	go func() { slow <- get("/slow") }()
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the request never reached the app")
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Second, "/readyz 503 after SIGTERM", func() error {
		if s := readyz(); s != 503 {
			return fmt.Errorf("status %d", s)
		}
		return nil
	})
	if r := get("/during-delay"); r.err != nil || r.status != 200 {
		t.Errorf("new request during the shutdown delay: %d, %v; want 200", r.status, r.err)
	}
	r := <-slow
	if r.err != nil || r.status != 200 || r.body != "done" {
		t.Errorf("in-flight request across SIGTERM: status %d, body %q, err %v; want 200 done", r.status, r.body, r.err)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatal("rampart did not exit after the request finished")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit status %d; want 0", code)
	}
	if _, err := net.DialTimeout("tcp", httpsAddr, time.Second); err == nil {
		t.Error("still accepting connections after stop")
	}
}

func TestRedirectAndHeadersEndToEnd(t *testing.T) {
	const app, httpsAddr, httpAddr = "127.0.0.1:18573", "127.0.0.1:18547", "127.0.0.1:18581"
	startApp(t, app, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "leaky/1.0")
		io.WriteString(w, "app:"+r.Host+":"+r.Header.Get("X-Forwarded-Proto"))
	}))
	_, client, _ := startInternal(t, httpsAddr, httpAddr, app)

	res, err := client.Get("https://shop.test/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(body) != "app:shop.test:https" {
		t.Errorf("app saw %q; want app:shop.test:https", body)
	}
	if res.TLS.Version != tls.VersionTLS13 || res.ProtoMajor != 2 {
		t.Errorf("negotiated %s over HTTP/%d; want TLS 1.3 and HTTP/2", tls.VersionName(res.TLS.Version), res.ProtoMajor)
	}
	if got := res.Header.Get("Strict-Transport-Security"); got != "max-age=63072000; includeSubDomains" || res.Header.Get("Server") != "" {
		t.Errorf("HSTS %q, Server %q; want HSTS set and Server removed", got, res.Header.Get("Server"))
	}

	plain := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("GET", "http://"+httpAddr+"/a/b?c=d", nil)
	req.Host = "shop.test"
	res, err = plain.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if want := "https://shop.test:18547/a/b?c=d"; res.StatusCode != 308 || res.Header.Get("Location") != want {
		t.Errorf("plain HTTP: %d %q; want 308 %q", res.StatusCode, res.Header.Get("Location"), want)
	}
	req.Host = "evil.test"
	res, err = plain.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 404 || res.Header.Get("Location") != "" {
		t.Errorf("plain HTTP for evil.test: %d %q; want 404 with no Location", res.StatusCode, res.Header.Get("Location"))
	}
}

// TestTLSFromOutside checks the TLS policy with openssl, a client that is not Go.
func TestTLSFromOutside(t *testing.T) {
	openssl := requireTool(t, "openssl")
	const app, httpsAddr, adminAddr = "127.0.0.1:18574", "127.0.0.1:18548", "127.0.0.1:18605"
	startApp(t, app, http.NotFoundHandler())
	startInternal(t, httpsAddr, "", app, "--admin-addr", adminAddr)
	defer func() {
		// The refusals are counted by reason, the successes by version and suite.
		m := scrape(t, adminAddr)
		for _, want := range []string{
			`rampart_tls_handshake_errors_total{reason="protocol_version"} 2`,
			`rampart_tls_handshake_errors_total{reason="no_shared_cipher"} 2`,
			`rampart_tls_handshakes_total{cipher_suite="TLS_AES_128_GCM_SHA256",version="TLS 1.3"}`,
			`rampart_tls_handshakes_total{cipher_suite="TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",version="TLS 1.2"} 1`,
		} {
			if !strings.Contains(m, want) {
				t.Errorf("metrics lack %s", want)
			}
		}
		if t.Failed() {
			t.Logf("%s", stripRuntime(m))
		}
	}()

	tests := []struct {
		name   string
		args   []string
		accept bool
		want   string // in the output when accepted
	}{
		{"TLS 1.3 by default", nil, true, "TLSv1.3"},
		{"TLS 1.2 ECDHE AEAD", []string{"-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"}, true, "ECDHE-ECDSA-AES128-GCM-SHA256"},
		{"TLS 1.0 refused", []string{"-tls1", "-cipher", "DEFAULT@SECLEVEL=0"}, false, ""},
		{"TLS 1.1 refused", []string{"-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"}, false, ""},
		{"TLS 1.2 CBC refused", []string{"-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:ECDHE-ECDSA-AES128-SHA256"}, false, ""},
		{"TLS 1.2 without forward secrecy refused", []string{"-tls1_2", "-cipher", "AES128-GCM-SHA256:AES256-GCM-SHA384:AES128-SHA"}, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"s_client", "-connect", httpsAddr, "-servername", "shop.test", "-brief"}, tt.args...)
			cmd := exec.Command(openssl, args...)
			cmd.Stdin = strings.NewReader("")
			out, err := cmd.CombinedOutput()
			if tt.accept {
				if err != nil || !strings.Contains(string(out), tt.want) {
					t.Errorf("openssl %v: %v; want a handshake with %s\n%s", tt.args, err, tt.want, out)
				}
				return
			}
			// The refusal must be the server's alert (protocol version or
			// handshake failure), not openssl declining to offer the suite itself.
			if err == nil || !strings.Contains(string(out), "alert") {
				t.Errorf("openssl %v: %v; want the server to refuse with an alert\n%s", tt.args, err, out)
			}
		})
	}
}

func TestMisdirectedEndToEnd(t *testing.T) {
	const app, httpsAddr = "127.0.0.1:18575", "127.0.0.1:18549"
	reached := make(chan struct{}, 1)
	startApp(t, app, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached <- struct{}{} }))
	_, client, _ := startInternal(t, httpsAddr, "", app)
	req, _ := http.NewRequest("GET", "https://shop.test/", nil)
	req.Host = "other.test"
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("Host other.test over a shop.test connection: %d; want 421", res.StatusCode)
	}
	select {
	case <-reached:
		t.Error("the app was reached")
	default:
	}
}

// TestConfigErrors: each mistake is one line naming the setting and a fix,
// exit status 2, before anything listens.
func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := selfSignedFiles(t, dir, "shop.test")
	otherDir := t.TempDir()
	_, otherKey := selfSignedFiles(t, otherDir, "shop.test")
	busy, err := net.Listen("tcp", "127.0.0.1:18590")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()

	base := []string{"--upstream", "http://127.0.0.1:18576", "--https-addr", "127.0.0.1:18550",
		"--http-addr", "127.0.0.1:18582", "--admin-addr", "", "--data-dir", t.TempDir()}
	tests := []struct {
		name    string
		args    []string
		env     []string
		setting string // what the line names first
		fix     string // what its fix says (a part of it)
		not     string // what it must not say, if not ""
	}{
		{"no domain in acme mode", nil, nil, "--domain", "name the site", ""},
		{"IP address as ACME domain", []string{"--domain", "192.0.2.1"}, nil, "--domain", "--tls internal", ""},
		{"wildcard as ACME domain", []string{"--domain", "*.shop.test"}, nil, "--domain", "public DNS name", ""},
		{"bare localhost as ACME domain", []string{"--domain", "localhost"}, nil, "--domain", "--tls internal", ""},
		{"one name twice, in two cases", []string{"--domain", "Shop.test", "--domain", "shop.test."}, nil, "--domain", "list each name once", ""},
		{"upstream not http(s)", []string{"--domain", "shop.test", "--upstream", "ftp://127.0.0.1/"}, nil, "--upstream", "http://host:port", ""},
		{"upstream not a URL", []string{"--domain", "shop.test", "--upstream", "127.0.0.1:8080"}, nil, "--upstream", "http://host:port", ""},
		{"missing cert file", []string{"--domain", "shop.test", "--tls", "files", "--cert-file", filepath.Join(dir, "nope.pem"), "--key-file", keyFile}, nil, "--cert-file", "readable PEM", ""},
		{"unreadable cert file", []string{"--domain", "shop.test", "--tls", "files", "--cert-file", dir, "--key-file", keyFile}, nil, "--cert-file", "readable PEM", ""},
		{"key does not match", []string{"--domain", "shop.test", "--tls", "files", "--cert-file", certFile, "--key-file", otherKey}, nil, "--key-file", "the key the certificate was issued for", ""},
		{"TLS 1.1 floor", []string{"--domain", "shop.test", "--tls-min-version", "1.1"}, nil, "--tls-min-version", "TLS 1.0 and 1.1 are broken", ""},
		{"TLS 1.1 floor from the environment", []string{"--domain", "shop.test"}, []string{"RAMPART_TLS_MIN_VERSION=1.1"}, "RAMPART_TLS_MIN_VERSION", "use 1.2", ""},
		{"a TLS version that does not exist", []string{"--domain", "shop.test", "--tls-min-version", "TLS1.4"}, nil, "--tls-min-version", "use 1.2 (the default) or 1.3", "broken"},
		{"address in use", []string{"--domain", "shop.test", "--tls", "internal", "--http-addr", "127.0.0.1:18590"}, nil, "--http-addr", "stop the other server", ""},
		{"HTTPS and HTTP on one port", []string{"--domain", "shop.test", "--http-addr", "127.0.0.1:18550"}, nil, "--http-addr", "give --https-addr and --http-addr different ports", "stop the other server"},
		{"admin on the HTTPS port, every address", []string{"--domain", "shop.test", "--admin-addr", ":18550"}, nil, "--admin-addr", "give --https-addr and --admin-addr different ports", ""},
		{"a certificate file with the internal CA", []string{"--domain", "shop.test", "--tls", "internal", "--cert-file", certFile}, nil, "--cert-file", "drop --cert-file, or use --tls files", ""},
		{"an ACME setting with files", []string{"--domain", "shop.test", "--tls", "files", "--cert-file", certFile, "--key-file", keyFile, "--acme-email", "ops@shop.test"}, nil, "--acme-email", "drop --acme-email, or use --tls acme", ""},
		{"an ACME setting from the environment with the internal CA", []string{"--domain", "shop.test", "--tls", "internal"}, []string{"RAMPART_ACME_DIRECTORY=staging"}, "RAMPART_ACME_DIRECTORY", "or use --tls acme", ""},
		{"misspelt flag", []string{"--upstrem", "http://127.0.0.1:1"}, nil, "--upstrem", "did you mean --upstream?", ""},
		{"misspelt variable", []string{"--domain", "shop.test"}, []string{"RAMPART_UPSTRAEM=http://127.0.0.1:1"}, "RAMPART_UPSTRAEM", "did you mean RAMPART_UPSTREAM?", ""},
		{"unknown variable", []string{"--domain", "shop.test"}, []string{"RAMPART_COLOUR=blue"}, "RAMPART_COLOUR", "unset it", ""},
		{"production flag given to the demo", []string{"demo", "--domain", "shop.test"}, nil, "--domain", "the demo serves localhost", ""},
		{"misspelt demo flag", []string{"demo", "--app-adr", "127.0.0.1:1"}, nil, "--app-adr", "did you mean --app-addr?", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append(append([]string{}, base...), tt.args...)
			if len(tt.args) > 0 && tt.args[0] == "demo" {
				args = tt.args
			}
			cmd := exec.Command(rampartBin, args...)
			cmd.Env = append(os.Environ(), tt.env...)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 2 {
				t.Fatalf("exit: %v; want status 2\n%s", err, out)
			}
			text := strings.TrimSpace(string(out))
			if strings.Count(text, "\n") != 0 {
				t.Errorf("got %d lines; want one:\n%s", strings.Count(text, "\n")+1, text)
			}
			_, fix, _ := strings.Cut(text, "; fix: ")
			if !strings.HasPrefix(text, "rampart: "+tt.setting+":") || !strings.Contains(fix, tt.fix) {
				t.Errorf("got %q; want it to name %s and a fix saying %q", text, tt.setting, tt.fix)
			}
			if tt.not != "" && strings.Contains(text, tt.not) {
				t.Errorf("got %q; it must not say %q", text, tt.not)
			}
			if strings.Contains(text, "panic") || strings.Contains(text, "goroutine ") {
				t.Errorf("a stack trace for a user's mistake:\n%s", text)
			}
			// Nothing was left listening.
			if c, err := net.DialTimeout("tcp", "127.0.0.1:18550", 200*time.Millisecond); err == nil {
				c.Close()
				t.Error("the HTTPS address is listening after a configuration error")
			}
		})
	}
}

func TestFlagBeatsEnvironment(t *testing.T) {
	// The environment's 1.1 would be refused; the flag's 1.3 must win, so the
	// first mistake reported is the later, deliberately bad --log-level.
	cmd := exec.Command(rampartBin, "--domain", "shop.test", "--upstream", "http://127.0.0.1:1",
		"--tls-min-version", "1.3", "--log-level", "loud")
	cmd.Env = append(os.Environ(), "RAMPART_TLS_MIN_VERSION=1.1")
	out, _ := cmd.CombinedOutput()
	if !strings.HasPrefix(string(out), "rampart: --log-level") {
		t.Errorf("got %q; want the flag to win over RAMPART_TLS_MIN_VERSION", out)
	}
	// And the environment is read where no flag is given.
	cmd = exec.Command(rampartBin, "--upstream", "http://127.0.0.1:1")
	cmd.Env = append(os.Environ(), "RAMPART_DOMAIN=localhost")
	out, _ = cmd.CombinedOutput()
	if !strings.HasPrefix(string(out), "rampart: RAMPART_DOMAIN: \"localhost\"") {
		t.Errorf("got %q; want RAMPART_DOMAIN read and named", out)
	}
}

// TestCheck: rampart check judges the settings as a start would, listens on
// nothing, and says which --config lines a flag or variable overrides.
func TestCheck(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "rampart.yaml")
	if err := os.WriteFile(conf, []byte("domain: shop.test\nupstream: http://127.0.0.1:8080\nhttps-addr: 127.0.0.1:18733\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(rampartBin, "check", "--config", conf, "--https-addr", "127.0.0.1:18734")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "the settings are valid") ||
		!strings.Contains(string(out), conf+":3 (https-addr) is overridden by --https-addr") {
		t.Errorf("rampart check: %v\n%s", err, out)
	}
	for _, addr := range []string{"127.0.0.1:18733", "127.0.0.1:18734"} {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			t.Errorf("rampart check left %s listening", addr)
		}
	}
	out, err = exec.Command(rampartBin, "check", "--config", conf, "--tls-min-version", "1.0").CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.HasPrefix(string(out), "rampart: --tls-min-version") {
		t.Errorf("rampart check with a bad setting: %v\n%s; want exit 2 naming it", err, out)
	}
}

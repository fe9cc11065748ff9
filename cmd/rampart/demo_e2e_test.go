package main

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDemo runs `rampart demo` as a newcomer would (on test ports, with its
// default data directory in a scratch cache), follows what it prints, and
// stops it with Ctrl-C (SIGINT).
func TestDemo(t *testing.T) {
	const httpsAddr, httpAddr, appAddr = "127.0.0.1:18556", "127.0.0.1:18583", "127.0.0.1:18580"
	cache := t.TempDir()
	d := start(t, "rampart demo", []string{"XDG_CACHE_HOME=" + cache, "HOME=" + cache}, rampartBin, "demo",
		"--https-addr", httpsAddr, "--http-addr", httpAddr, "--admin-addr", "", "--app-addr", appAddr)
	var rootPath string
	waitFor(t, 30*time.Second, "the demo's instructions", func() error {
		m := regexp.MustCompile(`curl --cacert (\S+) (https://localhost:18556/)`).FindStringSubmatch(d.out.String())
		if m == nil {
			return io.ErrUnexpectedEOF
		}
		rootPath = m[1]
		return nil
	})
	// Its own directory, in the user's cache (root's too), never the
	// production data directory.
	if want := filepath.Join(cache, "rampart-demo") + "/"; !strings.HasPrefix(rootPath, want) {
		t.Errorf("the demo's CA root is %s; want it under %s", rootPath, want)
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: poolFromFile(t, rootPath)}}}
	res, err := client.Get("https://localhost:18556/")
	if err != nil {
		t.Fatalf("the printed curl command's equivalent failed: %v", err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), "Served through rampart") {
		t.Errorf("demo page: %d %q", res.StatusCode, body)
	}
	// HSTS pins a name on every port: the demo must not pin localhost, and it
	// says why it differs from production.
	if got := res.Header.Values("Strict-Transport-Security"); len(got) != 1 || got[0] != "max-age=0" {
		t.Errorf("demo HSTS %q; want exactly max-age=0 (no pin on localhost)", got)
	}
	if out := d.out.String(); !strings.Contains(out, "Strict-Transport-Security: max-age=0") || !strings.Contains(out, "other") {
		t.Errorf("the demo's output does not say why its HSTS differs from production:\n%s", out)
	}

	_ = d.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-d.done:
	case <-time.After(15 * time.Second):
		t.Fatal("demo did not stop on Ctrl-C")
	}
	if code := d.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("demo exit status %d; want 0", code)
	}
	for _, addr := range []string{httpsAddr, httpAddr, appAddr} {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still listening after Ctrl-C", addr)
		}
	}
}

func TestVersion(t *testing.T) {
	out, err := execOutput(rampartBin, "version")
	if err != nil || !regexp.MustCompile(`^rampart \S+.* go1\.\d+`).MatchString(out) {
		t.Errorf("rampart version: %q, %v", out, err)
	}
}

// TestHelp: every way a newcomer asks for help or the version works, and
// says what there is.
func TestHelp(t *testing.T) {
	run := func(args ...string) (string, int) {
		cmd := exec.Command(rampartBin, args...)
		out, err := cmd.CombinedOutput()
		code := exitCode(t, err)
		return string(out), code
	}
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		out, code := run(args...)
		if code != 0 {
			t.Errorf("rampart %s: exit %d; want 0", strings.Join(args, " "), code)
		}
		for _, want := range []string{"demo ", "audit ", "healthcheck ", "version ", "--domain", "--upstream", "/metrics"} {
			if !strings.Contains(strings.ReplaceAll(out, "  -", "  --"), want) {
				t.Errorf("rampart %s does not mention %q:\n%s", strings.Join(args, " "), want, out)
			}
		}
	}
	if out, code := run("help", "audit"); code != 0 || !strings.Contains(out, "rampart audit https://") || !strings.Contains(out, "-min-grade") {
		t.Errorf("rampart help audit: exit %d\n%s", code, out)
	}
	for _, args := range [][]string{{"--version"}, {"-v"}, {"version"}} {
		if out, code := run(args...); code != 0 || !regexp.MustCompile(`^rampart \S+.* go1\.\d+`).MatchString(out) {
			t.Errorf("rampart %s: exit %d, %q", args[0], code, out)
		}
	}
	// The demo lists only what it takes.
	out, code := run("demo", "--help")
	if code != 0 || !strings.Contains(out, "-app-addr") || !strings.Contains(out, "-https-addr") {
		t.Errorf("rampart demo --help: exit %d\n%s", code, out)
	}
	for _, prod := range []string{"-domain", "-upstream", "-tls ", "-acme"} {
		if strings.Contains(out, prod) {
			t.Errorf("rampart demo --help lists %s, which the demo refuses:\n%s", prod, out)
		}
	}
	// Help for each subcommand prints and exits; none of them starts a server,
	// not even with settings in the environment (as in the image).
	for _, sub := range []string{"demo", "audit", "healthcheck", "check", "version", "help"} {
		cmd := exec.Command(rampartBin, "help", sub)
		cmd.Env = append(os.Environ(), "RAMPART_DOMAIN=shop.test", "RAMPART_UPSTREAM=http://127.0.0.1:1", "RAMPART_TLS=internal",
			"RAMPART_HTTPS_ADDR=127.0.0.1:18735", "RAMPART_HTTP_ADDR=", "RAMPART_ADMIN_ADDR=", "RAMPART_DATA_DIR="+t.TempDir())
		done := make(chan struct{})
		var out []byte
		var err error
		go func() { out, err = cmd.CombinedOutput(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Errorf("rampart help %s did not return:\n%s", sub, out)
			continue
		}
		if err != nil || strings.Contains(string(out), "rampart serving") || len(out) == 0 {
			t.Errorf("rampart help %s: %v\n%s", sub, err, out)
		}
	}
	if out, code := run("help", "nonsense"); code != 2 || !strings.Contains(out, "fix: ") {
		t.Errorf("rampart help nonsense: exit %d, %q; want 2 and a fix", code, out)
	}
}

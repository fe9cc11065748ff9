package main

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDemo runs `rampart demo` as a newcomer would (on test ports), follows
// what it prints, and stops it with Ctrl-C (SIGINT).
func TestDemo(t *testing.T) {
	const httpsAddr, httpAddr, appAddr = "127.0.0.1:18556", "127.0.0.1:18583", "127.0.0.1:18580"
	d := start(t, "rampart demo", nil, rampartBin, "demo", "--https-addr", httpsAddr, "--http-addr", httpAddr,
		"--admin-addr", "", "--app-addr", appAddr, "--data-dir", t.TempDir())
	var rootPath string
	waitFor(t, 30*time.Second, "the demo's instructions", func() error {
		m := regexp.MustCompile(`curl --cacert (\S+) (https://localhost:18556/)`).FindStringSubmatch(d.out.String())
		if m == nil {
			return io.ErrUnexpectedEOF
		}
		rootPath = m[1]
		return nil
	})
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
	if res.Header.Get("Strict-Transport-Security") == "" {
		t.Error("demo page lacks HSTS")
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

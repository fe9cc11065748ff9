package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestAccessLogRedacts: a request full of card data and credentials leaves
// one access-log line with the card numbers masked, secret query values
// replaced, no credentials and no body; the app gets the request id.
func TestAccessLogRedacts(t *testing.T) {
	const app, httpsAddr = "127.0.0.1:18599", "127.0.0.1:18567"
	appIDs := make(chan string, 1)
	startApp(t, app, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		appIDs <- r.Header.Get("X-Request-Id")
		_, _ = io.Copy(io.Discard, r.Body)
		io.WriteString(w, "paid")
	}))
	p, client, _ := startInternal(t, httpsAddr, "", app)

	target := "https://shop.test/pay/4111111111111111/confirm?card=4111-1111-1111-1111&cvv=123&order=987654321&q=5555%205555%205555%204444"
	body := `{"pan":"378282246310005","cvc":"999"}`
	req, _ := http.NewRequest("POST", target, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer s3cr3t-t0ken")
	req.Header.Set("Cookie", "session=abc123")
	req.Header.Set("User-Agent", "shop-client/1.0")
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	appID := <-appIDs
	if res.Header.Get("X-Request-Id") != appID || appID == "" {
		t.Errorf("client got X-Request-Id %q, app %q; want the same, non-empty", res.Header.Get("X-Request-Id"), appID)
	}
	if code := p.stop(10 * time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}

	out := p.out.String()
	var line string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, `"msg":"request"`) {
			line = l
		}
	}
	t.Logf("request:  POST %s (Authorization, Cookie, a JSON body with a PAN and CVC)", target)
	t.Logf("log line: %s", line)
	if line == "" {
		t.Fatalf("no access-log line:\n%s", out)
	}
	for _, leak := range []string{"4111111111111111", "4111-1111-1111-1111", "5555%205555%205555%204444", "cvv=123", "378282246310005", "s3cr3t", "abc123", `"999"`} {
		if strings.Contains(out, leak) {
			t.Errorf("the log holds %q", leak)
		}
	}
	var fields map[string]any
	if err := json.Unmarshal([]byte(line), &fields); err != nil {
		t.Fatalf("access-log line is not JSON: %v", err)
	}
	want := map[string]any{
		"path":       "/pay/411111******1111/confirm",
		"query":      "?card=[REDACTED]&cvv=[REDACTED]&order=987654321&q=5555%2055**%20****%204444",
		"method":     "POST",
		"host":       "shop.test",
		"status":     float64(200),
		"request_id": appID,
		"user_agent": "shop-client/1.0",
		"tls":        "TLS 1.3",
		"bytes_in":   float64(len(body)),
		"bytes_out":  float64(4),
	}
	for k, v := range want {
		if fields[k] != v {
			t.Errorf("%s = %v; want %v", k, fields[k], v)
		}
	}
	for _, k := range []string{"duration", "upstream_duration", "remote", "proto", "ts"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("access-log line lacks %s", k)
		}
	}
}

// TestHandshakeFloodLogsBounded: 500 connections that are not TLS write a
// bounded few log lines, and all 500 are counted.
func TestHandshakeFloodLogsBounded(t *testing.T) {
	const httpsAddr, adminAddr = "127.0.0.1:18571", "127.0.0.1:18608"
	r := start(t, "rampart", nil, rampartBin, "--tls", "internal", "--domain", "shop.test", "--upstream", "http://127.0.0.1:18609",
		"--https-addr", httpsAddr, "--http-addr", "", "--admin-addr", adminAddr, "--data-dir", t.TempDir())
	waitListening(t, httpsAddr)
	waitListening(t, adminAddr)
	for range 500 {
		c, err := net.Dial("tcp", httpsAddr)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: shop.test\r\n\r\n") // plain HTTP to the TLS port
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		_, _ = io.Copy(io.Discard, c)
		c.Close()
	}
	waitFor(t, 5*time.Second, "all 500 counted", func() error {
		if m := scrape(t, adminAddr); !strings.Contains(m, `rampart_tls_handshake_errors_total{reason="not_tls"} 500`) {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	lines := strings.Count(r.out.String(), "TLS handshake failed")
	t.Logf("500 bad handshakes: %d log lines", lines)
	if lines == 0 || lines > 20 {
		t.Errorf("%d log lines for 500 bad handshakes; want a few (sampled), not none and not hundreds", lines)
	}
}

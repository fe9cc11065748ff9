package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestCollectorHostile: the binary's report collector under hostile input:
// oversized, malformed and flooding reports, and reports carrying a card
// number in every URL. None reaches the app; the card number is in neither
// the log nor the inventory; a flood is refused past its burst and cannot
// grow the inventory past its bound.
func TestCollectorHostile(t *testing.T) {
	const httpsAddr, adminAddr, appAddr = "127.0.0.1:18940", "127.0.0.1:18941", "127.0.0.1:18942"
	var appHits atomic.Int32
	startApp(t, appAddr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { appHits.Add(1) }))
	dir, dataDir := t.TempDir(), t.TempDir()
	conf := filepath.Join(dir, "rampart.yaml")
	if err := os.WriteFile(conf, []byte(`tls: internal
https-addr: `+httpsAddr+`
http-addr: ""
admin-addr: `+adminAddr+`
trusted-proxies: [127.0.0.1]
log-level: debug
sites:
  - hosts: [shop.test]
    routes:
      - path: /checkout
        payment_page: {mode: learn}
        upstream: http://`+appAddr+`
`), 0o600); err != nil {
		t.Fatal(err)
	}
	r := start(t, "rampart", nil, rampartBin, "--config", conf, "--data-dir", dataDir)
	waitListening(t, httpsAddr)
	client := internalClient(t, dataDir, httpsAddr)
	post := func(from, ct string, body []byte) int {
		t.Helper()
		req, _ := http.NewRequest("POST", "https://shop.test/.well-known/rampart/csp-report?pan=4111111111111111", bytes.NewReader(body))
		req.Header.Set("Content-Type", ct)
		req.Header.Set("X-Forwarded-For", from)
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	const pan = "4111111111111111"
	card := fmt.Sprintf(`{"csp-report":{"document-uri":"https://shop.test/checkout?card=%s&cvv=123","blocked-uri":"https://skim.test/%s/x.js?pan=%s","effective-directive":"script-src-elem"}}`, pan, pan, pan)
	batch := fmt.Sprintf(`[{"type":"csp-violation","body":{"documentURL":"https://shop.test/checkout/%s","blockedURL":"https://api.skim.test/collect?c=%s","effectiveDirective":"connect-src"}}]`, pan, pan)
	for _, tt := range []struct {
		name, from, ct string
		body           []byte
		want           int
	}{
		{"a card number in every URL", "203.0.113.1", "application/csp-report", []byte(card), 204},
		{"a batch with card numbers", "203.0.113.1", "application/reports+json", []byte(batch), 204},
		{"oversized", "203.0.113.2", "application/csp-report", bytes.Repeat([]byte(" "), 1<<20), 413},
		{"malformed", "203.0.113.2", "application/csp-report", []byte(`{"csp-report":{"document-uri":` + pan), 400},
		{"another site's page", "203.0.113.2", "application/csp-report", []byte(strings.Replace(card, "https://shop.test", "https://evil.test", 1)), 400},
	} {
		if got := post(tt.from, tt.ct, tt.body); got != tt.want {
			t.Errorf("%s: %d; want %d", tt.name, got, tt.want)
		}
	}
	// A flood from one address: refused past the burst.
	refused := 0
	for i := range 200 {
		if post("198.51.100.9", "application/csp-report", []byte(fmt.Sprintf(`{"csp-report":{"document-uri":"https://shop.test/checkout","blocked-uri":"https://x%d.test/a.js","effective-directive":"script-src"}}`, i))) == 429 {
			refused++
		}
	}
	if refused < 170 {
		t.Errorf("a flood of 200 reports from one address: %d refused; want all past the burst of 20 (and the 2/s)", refused)
	}
	if n := appHits.Load(); n != 0 {
		t.Errorf("the app saw %d requests; want none", n)
	}
	inventory := filepath.Join(pagesDir(dataDir), "inventory.json")
	waitFor(t, 10*time.Second, "the inventory written", func() error {
		data, err := os.ReadFile(inventory)
		if err == nil && !bytes.Contains(data, []byte("https://skim.test/[digits]/x.js")) {
			err = fmt.Errorf("inventory lacks the reported script, masked:\n%s", data)
		}
		return err
	})
	data, _ := os.ReadFile(inventory)
	for _, where := range []struct{ name, text string }{{"the log", r.out.String()}, {"the inventory", string(data)}} {
		for _, leak := range []string{pan, "4111-1111", "cvv=123"} {
			if strings.Contains(where.text, leak) {
				t.Errorf("%s holds %q", where.name, leak)
			}
		}
	}
	if m := scrape(t, adminAddr); !strings.Contains(m, `rampart_rejected_requests_total{reason="csp_report"}`) {
		t.Error("refused reports are not counted")
	}
}

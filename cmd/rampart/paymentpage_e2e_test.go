package main

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rampart-proxy/rampart/paymentpage"
)

// TestPaymentPageBrowser: a real headless Chromium loads a payment page that
// pulls its card form's script from a second origin. In learn mode the
// script runs, the browser's report reaches rampart's collector and the
// script is in the inventory (seen in the HTML and reported). Approved with
// rampart scripts and switched to enforce, the script runs; a script the app
// then adds is blocked by the browser, reported, and raises the change
// alert (log, metric, webhook). The app then weakens its CSP, drops its
// Permissions-Policy and its X-Frame-Options (the browser then gets
// rampart's SAMEORIGIN instead of DENY): each alert fires once, naming the
// header. No report reaches the app.
func TestPaymentPageBrowser(t *testing.T) {
	chromium := requireTool(t, "chromium")
	const httpsPort, adminAddr, shopAddr, cdnAddr, alertAddr = 18935, "127.0.0.1:18936", "127.0.0.1:18937", "127.0.0.1:18938", "127.0.0.1:18939"
	httpsAddr := fmt.Sprintf("127.0.0.1:%d", httpsPort)
	pay := fmt.Sprintf("https://cdn.test:%d/pay.js", httpsPort)
	skim := fmt.Sprintf("https://cdn.test:%d/skim.js", httpsPort)

	var skimmed, weakened atomic.Bool // what the app does wrong, later
	var appPaths sync.Map
	startApp(t, shopAddr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		appPaths.Store(r.URL.Path, true)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if weakened.Load() {
			w.Header().Set("Content-Security-Policy", "frame-ancestors *")
		} else {
			w.Header().Set("Content-Security-Policy", "frame-ancestors 'none'")
			w.Header().Set("X-Frame-Options", "DENY")
			w.Header().Set("Permissions-Policy", "payment=(self)")
		}
		page := `<!doctype html><html><head><title>pay</title></head><body><p id="pay">pay-did-not-run</p><p id="skim">skim-did-not-run</p>
<script src="` + pay + `"></script>`
		if skimmed.Load() {
			page += `<script src="` + skim + `"></script>`
		}
		io.WriteString(w, page+"</body></html>")
	}))
	startApp(t, cdnAddr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		name := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/"), ".js")
		fmt.Fprintf(w, `document.getElementById(%q).textContent = %q;`, name, name+"-ran")
	}))
	var alertMu sync.Mutex
	var alerts []paymentpage.Event
	startApp(t, alertAddr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var a struct{ Change paymentpage.Event }
		if json.NewDecoder(r.Body).Decode(&a) == nil {
			alertMu.Lock()
			alerts = append(alerts, a.Change)
			alertMu.Unlock()
		}
	}))

	dir, dataDir := t.TempDir(), t.TempDir()
	conf := filepath.Join(dir, "rampart.yaml")
	writeConf := func(mode string) {
		t.Helper()
		if err := os.WriteFile(conf, []byte(fmt.Sprintf(`tls: internal
https-addr: %s
http-addr: ""
admin-addr: %s
payment-page-alert-url: http://%s/alerts
sites:
  - hosts: [shop.test]
    routes:
      - path: /checkout
        payment_page: {mode: %s}
        upstream: http://%s
      - upstream: http://%s
  - hosts: [cdn.test]
    routes: [{upstream: "http://%s"}]
`, httpsAddr, adminAddr, alertAddr, mode, shopAddr, shopAddr, cdnAddr)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeConf("learn")
	rampart := start(t, "rampart", nil, rampartBin, "--config", conf, "--data-dir", dataDir)
	waitListening(t, httpsAddr)
	root := filepath.Join(dataDir, "internal-ca", "root.pem")
	waitFile(t, root)
	load := func() string {
		t.Helper()
		dom := chromiumDOM(t, chromium, root, fmt.Sprintf("https://shop.test:%d/checkout", httpsPort), "shop.test", "cdn.test")
		if !strings.Contains(dom, `id="pay"`) {
			t.Fatalf("Chromium did not load the page:\n%s", dom)
		}
		return dom
	}
	rowsOf := func() map[string]paymentpage.Row {
		rows, _ := paymentpage.List(pagesDir(dataDir))
		m := map[string]paymentpage.Row{}
		for _, r := range rows {
			m[r.URL] = r
		}
		return m
	}

	// Learn: the script runs; the browser reports it.
	if dom := load(); !strings.Contains(dom, "pay-ran") {
		t.Errorf("learn mode blocked the script:\n%s", dom)
	}
	// Its content as the app served it, hashed here: what rampart must have
	// recorded as it passed.
	sum := sha256.Sum256([]byte(fmt.Sprintf(`document.getElementById(%q).textContent = %q;`, "pay", "pay-ran")))
	payHash := "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
	waitFor(t, 20*time.Second, "the script in the inventory, seen in the HTML and reported, with its content's hash", func() error {
		r, ok := rowsOf()[pay]
		if ok && r.Hash == "" {
			// The browser may ask for the script before rampart has read
			// the page that names it: the next load's request is hashed.
			load()
		}
		if !ok || strings.Join(r.SeenBy, "+") != "html+report" || r.Status != "pending" || r.Hash != payHash {
			return fmt.Errorf("inventory has %+v; want %s with hash %s", rowsOf(), pay, payHash)
		}
		return nil
	})

	// Approve it with the command, and enforce.
	var out strings.Builder
	if code := run(t.Context(), []string{"scripts", "approve", "shop.test/checkout", pay, "--justification", "Card form of our payment provider", "--by", "ops@shop.test", "--data-dir", dataDir},
		environment{}, &out, &out); code != 0 {
		t.Fatalf("rampart scripts approve: exit %d: %s", code, out.String())
	}
	writeConf("enforce")
	client := internalClient(t, dataDir, httpsAddr)
	waitFor(t, 20*time.Second, "the enforced policy allowing the approved script", func() error {
		res, err := client.Get(fmt.Sprintf("https://shop.test:%d/checkout", httpsPort))
		if err != nil {
			return err
		}
		res.Body.Close()
		for _, v := range res.Header.Values("Content-Security-Policy") {
			if strings.HasPrefix(v, "script-src "+pay+";") {
				return nil
			}
		}
		return fmt.Errorf("CSP %q", res.Header.Values("Content-Security-Policy"))
	})
	if dom := load(); !strings.Contains(dom, "pay-ran") {
		t.Errorf("enforce mode blocked the approved script:\n%s", dom)
	}

	// The app adds a script nobody approved: blocked, reported, alerted.
	skimmed.Store(true)
	if dom := load(); strings.Contains(dom, "skim-ran") || !strings.Contains(dom, "pay-ran") {
		t.Errorf("with an unapproved script added, want it blocked and the approved one run:\n%s", dom)
	}
	waitFor(t, 20*time.Second, "the added script reported and alerted", func() error {
		r := rowsOf()[skim]
		alertMu.Lock()
		defer alertMu.Unlock()
		var kinds []string
		for _, a := range alerts {
			if a.Subject == skim {
				kinds = append(kinds, a.Kind)
			}
		}
		if strings.Join(r.SeenBy, "+") != "html+report" || strings.Join(kinds, ",") != "script_new,script_unapproved" {
			return fmt.Errorf("inventory %+v; alerts for it %v", r, kinds)
		}
		return nil
	})

	// The app weakens its CSP, drops Permissions-Policy and X-Frame-Options:
	// one alert each, however many loads follow.
	weakened.Store(true)
	for range 3 {
		res, err := client.Get(fmt.Sprintf("https://shop.test:%d/checkout", httpsPort))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	waitFor(t, 10*time.Second, "the header alerts", func() error {
		m := scrape(t, adminAddr)
		for _, want := range []string{
			`rampart_payment_page_changes_total{kind="header_dropped",site="shop.test"} 1`,
			`rampart_payment_page_changes_total{kind="header_changed",site="shop.test"} 2`,
			`rampart_payment_page_changes_total{kind="script_unapproved",site="shop.test"} 1`,
			`rampart_payment_page_changes_total{kind="script_new",site="shop.test"} 1`,
		} {
			if !strings.Contains(m, want) {
				return errors.New("metrics lack " + want)
			}
		}
		return nil
	})
	alertMu.Lock()
	var headerAlerts []string
	for _, a := range alerts {
		if strings.HasPrefix(a.Kind, "header_") {
			headerAlerts = append(headerAlerts, a.Kind+" "+a.Subject)
		}
	}
	alertMu.Unlock()
	if got := strings.Join(headerAlerts, ", "); got != "header_changed Content-Security-Policy, header_changed X-Frame-Options, header_dropped Permissions-Policy" {
		t.Errorf("header alerts %q; want the CSP's and X-Frame-Options' changes and Permissions-Policy's drop, once each", got)
	}
	if out := rampart.out.String(); !strings.Contains(out, `"kind":"header_dropped","subject":"Permissions-Policy"`) ||
		!strings.Contains(out, `"kind":"header_changed","subject":"X-Frame-Options","detail":"DENY → SAMEORIGIN"`) {
		t.Errorf("no log line names the dropped or weakened header")
	}
	appPaths.Range(func(k, _ any) bool {
		if strings.HasPrefix(k.(string), "/.well-known") {
			t.Errorf("a report reached the app: %s", k)
		}
		return true
	})

	// The assessor's report: the inventory, the justification, the week's
	// changes (rampart writes what it saw every 2 s).
	waitFor(t, 10*time.Second, "the report", func() error {
		out.Reset()
		if code := run(t.Context(), []string{"scripts", "report", "--data-dir", dataDir}, environment{}, &out, &out); code != 0 {
			t.Fatalf("rampart scripts report: exit %d: %s", code, out.String())
		}
		for _, want := range []string{"approved  script  " + pay, "Card form of our payment provider", "pending   script  " + skim,
			"script_unapproved  " + skim, "header_dropped  Permissions-Policy", "X-Frame-Options: SAMEORIGIN"} {
			if !strings.Contains(out.String(), want) {
				return fmt.Errorf("the report lacks %q:\n%s", want, out.String())
			}
		}
		return nil
	})
}

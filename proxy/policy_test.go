package proxy

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"go.uber.org/zap/zaptest"
	"golang.org/x/crypto/bcrypt"
)

func policyProxy(t *testing.T, site Site) (*httptest.Server, *[]string) {
	t.Helper()
	app := serveFixed(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "app auth=%q", r.Header.Get("Authorization"))
	}))
	t.Cleanup(app.Close)
	for i := range site.Routes {
		if site.Routes[i].Respond == nil {
			site.Routes[i].Upstream = mustURL(app.URL)
		}
	}
	site.Hosts = []string{"shop.test"}
	var rejected []string
	p, err := New(Config{Sites: []Site{site}, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Logger: zaptest.NewLogger(t), OnReject: func(r string) { rejected = append(rejected, r) }})
	if err != nil {
		t.Fatal(err)
	}
	front := serveFixed(t, p)
	t.Cleanup(front.Close)
	return front, &rejected
}

func policyGet(t *testing.T, front *httptest.Server, path, client string, hdr ...string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("GET", front.URL+path, nil)
	req.Host = "shop.test"
	req.Header.Set("X-Forwarded-For", client)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := front.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	res.Body = io.NopCloser(strings.NewReader(string(b)))
	res.Header.Set("X-Test-Body", string(b))
	return res
}

// TestPolicyAllowDeny: a site's lists judge the client behind the trusted
// proxy; a route's own replace them.
func TestPolicyAllowDeny(t *testing.T) {
	front, rejected := policyProxy(t, Site{
		Policy: Policy{Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, Deny: []netip.Prefix{netip.MustParsePrefix("10.9.0.0/16")}},
		Routes: []SiteRoute{
			{Match: RouteMatch{Path: "/public"}, Policy: Policy{Allow: []netip.Prefix{}}, Respond: &Respond{Body: "public"}},
			{},
		},
	})
	for _, tt := range []struct {
		path, client string
		want         int
	}{
		{"/", "10.1.2.3", 200},
		{"/", "10.9.1.1", 403},        // denied: deny wins
		{"/", "192.0.2.7", 403},       // not allowed
		{"/", "not-an-ip", 403},       // unreadable: refused where there is an allow list
		{"/public", "192.0.2.7", 200}, // the route's empty allow list lets all in
		{"/public", "10.9.1.1", 403},  // and keeps the site's deny list
	} {
		if res := policyGet(t, front, tt.path, tt.client); res.StatusCode != tt.want {
			t.Errorf("%s from %s: %d; want %d", tt.path, tt.client, res.StatusCode, tt.want)
		}
	}
	if got := strings.Join(*rejected, ","); got != "denied,denied,denied,denied" {
		t.Errorf("reasons %q", got)
	}
}

// TestPolicyBasicAuth: no credentials or wrong ones get 401 with the
// challenge; the right ones pass, and the app never sees the password.
func TestPolicyBasicAuth(t *testing.T) {
	hash, _ := bcrypt.GenerateFromPassword([]byte("s3cret pass"), bcrypt.MinCost)
	users, err := ParseHtpasswd([]byte("# ops\nops:" + string(hash) + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	front, _ := policyProxy(t, Site{Policy: Policy{BasicAuth: &BasicAuth{Realm: "shop admin", Users: users}}, Routes: []SiteRoute{{}}})
	for _, tt := range []struct {
		name       string
		user, pass string
		want       int
	}{{"none", "", "", 401}, {"wrong password", "ops", "guess", 401}, {"unknown user", "root", "s3cret pass", 401},
		{"right", "ops", "s3cret pass", 200}, {"right again (remembered)", "ops", "s3cret pass", 200}} {
		var hdr []string
		if tt.user != "" {
			r, _ := http.NewRequest("GET", "/", nil)
			r.SetBasicAuth(tt.user, tt.pass)
			hdr = []string{"Authorization", r.Header.Get("Authorization")}
		}
		res := policyGet(t, front, "/", "10.0.0.1", hdr...)
		if res.StatusCode != tt.want {
			t.Errorf("%s: %d; want %d", tt.name, res.StatusCode, tt.want)
		}
		if tt.want == 401 && res.Header.Get("WWW-Authenticate") != `Basic realm="shop admin", charset="UTF-8"` {
			t.Errorf("%s: WWW-Authenticate %q", tt.name, res.Header.Get("WWW-Authenticate"))
		}
		if tt.want == 200 && res.Header.Get("X-Test-Body") != `app auth=""` {
			t.Errorf("%s: the app saw %q; want no Authorization", tt.name, res.Header.Get("X-Test-Body"))
		}
	}
	for _, bad := range []string{"ops:plain\n", "ops:{SHA}abc=\n", "\n", "ops:" + string(hash) + "\nops:" + string(hash) + "\n"} {
		if _, err := ParseHtpasswd([]byte(bad)); err == nil {
			t.Errorf("htpasswd %q accepted", bad)
		}
	}
}

// TestPolicyRateLimit: past its burst a client gets 429 with Retry-After;
// another client is not held back by it.
func TestPolicyRateLimit(t *testing.T) {
	front, rejected := policyProxy(t, Site{Routes: []SiteRoute{
		{Match: RouteMatch{Path: "/checkout"}, Policy: Policy{RateLimit: &RateLimit{Rate: 0.5, Burst: 3}}},
		{},
	}})
	for i := 0; i < 3; i++ {
		if res := policyGet(t, front, "/checkout/pay", "203.0.113.9"); res.StatusCode != 200 {
			t.Fatalf("request %d within the burst: %d", i, res.StatusCode)
		}
	}
	res := policyGet(t, front, "/checkout/pay", "203.0.113.9")
	if res.StatusCode != 429 || res.Header.Get("Retry-After") != "2" {
		t.Errorf("past the burst: %d, Retry-After %q; want 429 and 2 (one request per 2 s)", res.StatusCode, res.Header.Get("Retry-After"))
	}
	if res := policyGet(t, front, "/checkout/pay", "203.0.113.10"); res.StatusCode != 200 {
		t.Errorf("another client: %d; want 200", res.StatusCode)
	}
	if res := policyGet(t, front, "/", "203.0.113.9"); res.StatusCode != 200 {
		t.Errorf("another route: %d; want 200 (no limit there)", res.StatusCode)
	}
	if got := strings.Join(*rejected, ","); got != "rate_limited" {
		t.Errorf("reasons %q", got)
	}
}

// TestLimiterMemoryBounded: 100,000 distinct client addresses, sent through
// a trusted proxy's X-Forwarded-For, leave the heap where it was: the table
// is made whole when the route is built (Clients × about 48 bytes).
func TestLimiterMemoryBounded(t *testing.T) {
	rl := &RateLimit{Rate: 10, Burst: 20} // Clients: the default 65536
	p, err := New(Config{
		Sites:          []Site{{Hosts: []string{"shop.test"}, Routes: []SiteRoute{{Policy: Policy{RateLimit: rl}, Respond: &Respond{Body: "ok"}}}}},
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
	})
	if err != nil {
		t.Fatal(err)
	}
	l := p.table.Load().limiters[rl]
	if size := len(l.sets) * int(unsafeSizeofSet()); size > 65536*48 {
		t.Errorf("the table takes %d bytes; the documented bound is %d", size, 65536*48)
	}
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	req := httptest.NewRequest("GET", "https://shop.test/", nil)
	req.RemoteAddr = "127.0.0.1:5000"
	w := &discardWriter{h: http.Header{}}
	for i := 0; i < 100000; i++ {
		req.Header["X-Forwarded-For"] = []string{fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&255, i&255)}
		clear(w.h)
		w.code = 0
		p.ServeHTTP(w, req)
		if w.code != 200 {
			t.Fatalf("client %d: status %d", i, w.code)
		}
	}
	after := heap()
	if grew := int64(after) - int64(before); grew > 1<<20 {
		t.Errorf("the heap grew by %d bytes over 100,000 clients; want the table's fixed size, made before", grew)
	}
	t.Logf("heap before %d, after %d bytes; table %d clients", before, after, len(l.sets)*limiterWays)
	// The newest clients are remembered: one at its burst is refused.
	req.Header["X-Forwarded-For"] = []string{"10.1.134.159"} // client 99999
	for i := 0; i < 20; i++ {
		w.code = 0
		p.ServeHTTP(w, req)
	}
	if w.code != 429 {
		t.Errorf("a recent client past its burst: %d; want 429", w.code)
	}
}

// unsafeSizeofSet is a limiter set's size in bytes.
func unsafeSizeofSet() uintptr { return unsafe.Sizeof(limiterSet{}) }

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

type discardWriter struct {
	h    http.Header
	code int
}

func (d *discardWriter) Header() http.Header { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) {
	if d.code == 0 {
		d.code = 200
	}
	return len(b), nil
}
func (d *discardWriter) WriteHeader(c int) {
	if d.code == 0 {
		d.code = c
	}
}

// TestPolicyRefused: a policy that cannot work is refused with the table.
func TestPolicyRefused(t *testing.T) {
	for _, tt := range []struct {
		name string
		p    Policy
		want string
	}{
		{"a rate of 0", Policy{RateLimit: &RateLimit{}}, "rate above 0"},
		{"basic auth without users", Policy{BasicAuth: &BasicAuth{}}, "no users"},
		{"a realm with a quote", Policy{BasicAuth: &BasicAuth{Realm: `a"b`, Users: map[string][]byte{"u": nil}}}, "no quotes"},
		{"a security header", Policy{ResponseHeaders: map[string]string{"content-security-policy": "default-src *"}}, "--csp"},
		{"a header with a line break", Policy{ResponseHeaders: map[string]string{"X-A": "b\r\nSet-Cookie: x"}}, "not a valid header"},
	} {
		for _, where := range []string{"site", "route"} {
			s := Site{Hosts: []string{"a.test"}, Routes: []SiteRoute{{Respond: &Respond{}}}}
			if where == "site" {
				s.Policy = tt.p
			} else {
				s.Routes[0].Policy = tt.p
			}
			if _, err := New(Config{Sites: []Site{s}}); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%s on a %s: %v; want an error saying %q", tt.name, where, err, tt.want)
			}
		}
	}
}

// TestRouteProxyOptions: a route's prefix is taken off however the client
// spelt it, another put on, and the Host the app is sent set.
func TestRouteProxyOptions(t *testing.T) {
	app := serveFixed(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s", r.Host, r.URL.RequestURI())
	}))
	t.Cleanup(app.Close)
	u := mustURL(app.URL)
	p, err := New(Config{Sites: []Site{{Hosts: []string{"shop.test"}, Routes: []SiteRoute{
		{Match: RouteMatch{Path: "/api/v1"}, Upstream: u, StripPrefix: true, AddPrefix: "/internal/", UpstreamHost: "api.internal:8080"},
		{Match: RouteMatch{Path: "/static"}, Upstream: u, StripPrefix: true},
		{Upstream: u},
	}}}, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	front := serveFixed(t, p)
	t.Cleanup(front.Close)
	for _, tt := range []struct{ path, want string }{
		{"/api/v1/orders?x=1", "api.internal:8080 /internal/orders?x=1"},
		{"/api/v1", "api.internal:8080 /internal/"},
		{"/API/V1/orders", "api.internal:8080 /internal/orders"},
		{"/api%2Fv1/orders", "api.internal:8080 /internal/orders"},
		{"/api;x/v1/orders", "api.internal:8080 /internal/orders"},
		{"//api/v1/a%20b", "api.internal:8080 /internal/a%20b"},
		{"/static/app.js", "shop.test /app.js"},
		{"/static", "shop.test /"},
		{"/staticx", "shop.test /staticx"}, // not below /static: the catch-all, as it came
		{"/other", "shop.test /other"},
	} {
		req, _ := http.NewRequest("GET", front.URL+tt.path, nil)
		req.Host = "shop.test"
		res, err := front.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if string(b) != tt.want {
			t.Errorf("%s: the app got %q; want %q", tt.path, b, tt.want)
		}
	}
}

// TestRouteRewrite: a route's rewrite sends the app the path its
// expression and template make (ingress-nginx's rewrite-target), the query
// kept; a path under the route that the expression does not match gets 404
// and never reaches the app; a bad template is refused.
func TestRouteRewrite(t *testing.T) {
	var reached atomic.Int64
	app := serveFixed(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		fmt.Fprintf(w, "%s", r.URL.RequestURI())
	}))
	t.Cleanup(app.Close)
	u := mustURL(app.URL)
	p, err := New(Config{Sites: []Site{{Hosts: []string{"shop.test"}, Routes: []SiteRoute{
		{Match: RouteMatch{Path: "/something"}, Upstream: u, Rewrite: &PathRewrite{Regexp: regexp.MustCompile(`(?i)^/something(/|$)(.*)`), To: "/$2"}},
		{Match: RouteMatch{Path: "/api"}, Upstream: u, Rewrite: &PathRewrite{Regexp: regexp.MustCompile(`(?i)^/api/v([0-9]+)/(.*)`), To: "/${2}x/v$1$"}},
		{Match: RouteMatch{Path: "/only"}, Upstream: u, Rewrite: &PathRewrite{Regexp: regexp.MustCompile(`^/only/[a-z]+$`)}},
		{Match: RouteMatch{Path: "/pub"}, Upstream: u, Rewrite: &PathRewrite{Regexp: regexp.MustCompile(`^/pub/[^_].*`)}},
		{Upstream: u},
	}}, {Hosts: []string{"dots.test"}, Routes: []SiteRoute{
		// An expression that goes on inside a segment routes from "/".
		{Upstream: u, Rewrite: &PathRewrite{Regexp: regexp.MustCompile(`^/foo(.*)`), To: "/bar/$1"}},
	}}}, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	front := serveFixed(t, p)
	t.Cleanup(front.Close)
	for _, tt := range []struct {
		path, want string
		status     int
	}{
		{"/only/abc?q", "/only/abc?q", 200}, // an expression without a template chooses, and changes nothing
		{"/only/a1", "", 404},
		{"dots.test/foo../x", "", 404},                 // would be /bar/../x: out of /bar
		{"dots.test/foo/x", "/bar/x", 200},             // /bar/ and /x, slashes merged
		{"/something//evil.com/x", "/evil.com/x", 200}, // slashes merged, as nginx does: never //evil.com
		{"/pub/%5finternal", "", 404},                  // matched decoded, as the app reads it
		{"/pub/ok", "/pub/ok", 200},
		{"/something/new?x=1", "/new?x=1", 200},
		{"/something", "/", 200},
		{"/Something/a%20b", "/a%20b", 200},
		{"/api/v2/orders", "/ordersx/v2$", 200},
		{"/api/orders", "", 404}, // under /api, not matched by its expression
		{"/other", "/other", 200},
	} {
		before := reached.Load()
		host, path := "shop.test", tt.path
		if h, rest, ok := strings.Cut(tt.path, "/"); ok && h != "" {
			host, path = h, "/"+rest
		}
		req, _ := http.NewRequest("GET", front.URL+path, nil)
		req.Host = host
		res, err := front.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != tt.status || (tt.status == 200 && string(b) != tt.want) {
			t.Errorf("%s: %d, the app got %q; want %d and %q", tt.path, res.StatusCode, b, tt.status, tt.want)
		}
		if tt.status == 404 && reached.Load() != before {
			t.Errorf("%s reached the app", tt.path)
		}
	}
	for _, to := range []string{"new", "/$3", "//x", "/a?b=$1"} {
		r := SiteRoute{Match: RouteMatch{Path: "/a"}, Upstream: u, Rewrite: &PathRewrite{Regexp: regexp.MustCompile(`^/a/(.*)`), To: to}}
		if err := CheckRoute(r); err == nil {
			t.Errorf("rewrite to %q accepted", to)
		}
	}
}

// TestRoutePolicyResponses: a route's CSP goes beside rampart's (and the
// app's), its HSTS replaces rampart's, its headers replace the app's, its
// body limit and timeout replace the global ones.
func TestRoutePolicyResponses(t *testing.T) {
	app := serveFixed(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=60")
		w.Header().Set("Content-Security-Policy", "default-src 'self'")
		if r.URL.Path == "/slow" {
			time.Sleep(300 * time.Millisecond)
		}
		_, _ = io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	}))
	t.Cleanup(app.Close)
	u := mustURL(app.URL)
	p, err := New(Config{Sites: []Site{{Hosts: []string{"shop.test"},
		Policy: Policy{HSTS: "max-age=300"},
		Routes: []SiteRoute{
			{Match: RouteMatch{Path: "/checkout"}, Upstream: u, Policy: Policy{CSP: "frame-ancestors 'none'", ResponseHeaders: map[string]string{"Cache-Control": "no-store"}, MaxBodyBytes: 1024}},
			{Match: RouteMatch{Path: "/slow"}, Upstream: u, Policy: Policy{Timeout: 100 * time.Millisecond}},
			{Match: RouteMatch{Path: "/maintenance"}, Respond: &Respond{Status: 503}, Policy: Policy{CSP: "default-src 'none'"}},
			{Upstream: u},
		}}}, Logger: zaptest.NewLogger(t), Transport: NewTransport(TransportConfig{ResponseHeaderTimeout: 2 * time.Second})})
	if err != nil {
		t.Fatal(err)
	}
	front := serveFixed(t, p)
	t.Cleanup(front.Close)
	do := func(method, path string, body string) *http.Response {
		req, _ := http.NewRequest(method, front.URL+path, strings.NewReader(body))
		req.Host = "shop.test"
		res, err := front.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res
	}
	res := do("GET", "/checkout/pay", "")
	if got := res.Header.Values("Content-Security-Policy"); strings.Join(got, " | ") != "default-src 'self' | frame-ancestors 'none' | "+DefaultCSP {
		t.Errorf("checkout CSP %q; want the route's, the app's and rampart's, each enforced", got)
	}
	if got := res.Header.Values("Cache-Control"); len(got) != 1 || got[0] != "no-store" {
		t.Errorf("checkout Cache-Control %q; want the route's alone", got)
	}
	if got := res.Header.Get("Strict-Transport-Security"); got != "max-age=300" {
		t.Errorf("HSTS %q; want the site's", got)
	}
	if res := do("POST", "/checkout/pay", strings.Repeat("x", 2048)); res.StatusCode != 413 {
		t.Errorf("2 KiB to checkout (limit 1 KiB): %d; want 413", res.StatusCode)
	}
	if res := do("POST", "/other", strings.Repeat("x", 2048)); res.StatusCode != 200 {
		t.Errorf("2 KiB elsewhere: %d; want 200", res.StatusCode)
	}
	if res := do("GET", "/slow", ""); res.StatusCode != 504 {
		t.Errorf("an app slower than the route's timeout: %d; want 504", res.StatusCode)
	}
	res = do("GET", "/maintenance", "")
	if got := res.Header.Values("Content-Security-Policy"); strings.Join(got, " | ") != "default-src 'none' | "+DefaultCSP || res.Header.Get("Strict-Transport-Security") != "max-age=300" {
		t.Errorf("maintenance page: CSP %q, HSTS %q", got, res.Header.Get("Strict-Transport-Security"))
	}
	if res := do("GET", "/", ""); res.Header.Get("Cache-Control") != "public, max-age=60" || len(res.Header.Values("Content-Security-Policy")) != 2 {
		t.Errorf("elsewhere: Cache-Control %q, CSP %q; want the app's and rampart's", res.Header.Get("Cache-Control"), res.Header.Values("Content-Security-Policy"))
	}
}

// TestAuthCheckerBounds: an unknown name costs a bcrypt at the users' own
// cost (timing tells no names), and with every bcrypt slot taken a check
// says busy rather than wait or judge.
func TestAuthCheckerBounds(t *testing.T) {
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), 6)
	a := newAuthChecker(map[string][]byte{"ops": hash})
	if c, _ := bcrypt.Cost(a.dummy); c != 6 {
		t.Errorf("the stand-in hash costs %d; want the users' 6", c)
	}
	if ok, busy := a.check("ops", "pw"); !ok || busy {
		t.Fatalf("the right password: ok %v, busy %v", ok, busy)
	}
	for range cap(a.slots) {
		a.slots <- struct{}{}
	}
	if ok, busy := a.check("ops", "wrong"); ok || !busy {
		t.Errorf("with every slot taken: ok %v, busy %v; want busy", ok, busy)
	}
	if ok, busy := a.check("ops", "pw"); !ok || busy {
		t.Errorf("a remembered success with every slot taken: ok %v, busy %v; want ok without bcrypt", ok, busy)
	}
}

package proxy

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

// TestSites: names (exact and one-label wildcards) pick a site, paths,
// methods and headers pick its route, and each route reaches its own app;
// a request no route takes gets 404 and reaches no app.
func TestSites(t *testing.T) {
	app := func(name string) *url.URL {
		s := serveFixed(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, name+" "+r.URL.RequestURI())
		}))
		t.Cleanup(s.Close)
		u, _ := url.Parse(s.URL)
		return u
	}
	shop, api, admin, tenants, docs := app("shop"), app("api"), app("admin"), app("tenants"), app("docs")
	var rejected []string
	p, err := New(Config{
		Sites: []Site{
			{Hosts: []string{"shop.test", "www.shop.test"}, Routes: []SiteRoute{
				{Match: RouteMatch{Path: "/api"}, Upstream: api},
				{Match: RouteMatch{Path: "/admin", Headers: []HeaderMatch{{"X-Team", "ops"}}}, Upstream: admin},
				{Match: RouteMatch{Path: "/old"}, Redirect: &Redirect{Status: 301, To: "https://new.test/", KeepPath: true}},
				{Match: RouteMatch{Path: "/help", Kind: PathExact}, Redirect: &Redirect{To: "/docs"}},
				{Match: RouteMatch{Path: "/robots.txt", Kind: PathExact}, Respond: &Respond{Body: "User-agent: *\nDisallow: /\n"}},
				{Match: RouteMatch{Path: "/checkout"}, Respond: &Respond{Status: 503, Body: "<p>back soon</p>", ContentType: "text/html; charset=utf-8"}},
				{Upstream: shop},
			}},
			{Hosts: []string{"*.tenants.test"}, Routes: []SiteRoute{{Upstream: tenants}}},
			{Hosts: []string{"go.test"}, Routes: []SiteRoute{
				{Match: RouteMatch{Path: "/admin"}, Respond: &Respond{Status: 403, Body: "no"}},
				{Redirect: &Redirect{To: "/", KeepPath: true}},
			}},
			{Hosts: []string{"docs.tenants.test"}, Routes: []SiteRoute{{Match: RouteMatch{Path: "/v1", Methods: []string{"GET"}}, Upstream: docs}}},
		},
		Transport: NewTransport(TransportConfig{ResponseHeaderTimeout: time.Second}),
		Logger:    zaptest.NewLogger(t),
		OnReject:  func(r string) { rejected = append(rejected, r) },
	})
	if err != nil {
		t.Fatal(err)
	}
	front := serveFixed(t, p)
	t.Cleanup(front.Close)
	for _, tt := range []struct {
		method, host, path string
		header             map[string]string
		status             int
		body               string
	}{
		{"GET", "shop.test", "/", nil, 200, "shop /"},
		{"GET", "www.shop.test", "/cart?x=1", nil, 200, "shop /cart?x=1"},
		{"GET", "shop.test", "/api/orders", nil, 200, "api /api/orders"},
		{"GET", "shop.test", "/apis", nil, 200, "shop /apis"},
		{"GET", "shop.test", "/admin/users", map[string]string{"X-Team": "ops"}, 200, "admin /admin/users"},
		{"GET", "shop.test", "/admin/users", nil, 200, "shop /admin/users"},
		{"GET", "shop.test", "/robots.txt", nil, 200, "User-agent: *\nDisallow: /\n"},
		{"POST", "shop.test", "/checkout/pay", nil, 503, "<p>back soon</p>"},
		{"GET", "shop.test", "/old/a?b=c", nil, 301, ""},
		{"GET", "shop.test", "/help", nil, 308, ""},
		{"GET", "acme.tenants.test", "/x", nil, 200, "tenants /x"},
		{"GET", "docs.tenants.test", "/v1/a", nil, 200, "docs /v1/a"}, // the exact name beats the wildcard
		{"POST", "docs.tenants.test", "/v1/a", nil, 404, ""},          // no route takes a POST there
		{"GET", "docs.tenants.test", "/v2", nil, 404, ""},
		{"GET", "a.b.tenants.test", "/", nil, 421, ""}, // a wildcard stands for one label
		{"GET", "tenants.test", "/", nil, 421, ""},
		{"GET", "other.test", "/", nil, 421, ""},
	} {
		req, _ := http.NewRequest(tt.method, front.URL+tt.path, strings.NewReader("a=1"))
		req.Host = tt.host
		for k, v := range tt.header {
			req.Header.Set(k, v)
		}
		client := front.Client()
		client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		// What rampart answers itself carries its security headers too.
		if res.Header.Get("Strict-Transport-Security") == "" || res.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s %s%s: %d without rampart's headers: %v", tt.method, tt.host, tt.path, res.StatusCode, res.Header)
		}
		if loc := map[string]string{"/old/a?b=c": "https://new.test/old/a?b=c", "/help": "/docs"}[tt.path]; loc != res.Header.Get("Location") {
			t.Errorf("%s%s: Location %q; want %q", tt.host, tt.path, res.Header.Get("Location"), loc)
		}
		res.Body.Close()
		if res.StatusCode != tt.status || (tt.body != "" && string(body) != tt.body) {
			t.Errorf("%s %s%s: %d %q; want %d %q", tt.method, tt.host, tt.path, res.StatusCode, body, tt.status, tt.body)
		}
		if tt.status == 404 && strings.Contains(string(body), "docs") {
			t.Errorf("%s %s%s reached an app: %q", tt.method, tt.host, tt.path, body)
		}
	}
	// Raw request lines: spellings of /admin, an opaque target, a path that
	// would make "//host" of a kept path.
	for _, tt := range []struct{ target, want string }{
		{"/%61dmin", "HTTP/1.1 403"},
		{"/ADMIN/x", "HTTP/1.1 403"},
		{"/admin;x", "HTTP/1.1 403"},
		{"//admin", "HTTP/1.1 403"},
		{"https:@evil.test/x", "HTTP/1.1 400"},
		{"//evil.test/x", "Location: /evil.test/x\r\n"},
		{"/a?b=c", "Location: /a?b=c\r\n"},
	} {
		c, err := net.Dial("tcp", strings.TrimPrefix(front.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: go.test\r\nConnection: close\r\n\r\n", tt.target)
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		out, _ := io.ReadAll(c)
		c.Close()
		if !strings.Contains(string(out), tt.want) {
			t.Errorf("GET %s: %q; want %q in it", tt.target, out, tt.want)
		}
	}

	if n := strings.Count(strings.Join(rejected, " "), "no_route"); n != 2 {
		t.Errorf("%d requests counted as no_route (%v); want 2", n, rejected)
	}

	// The plain-HTTP listener redirects the names of every site, wildcards too.
	for host, want := range map[string]string{"www.shop.test": "https://www.shop.test/p", "acme.tenants.test": "https://acme.tenants.test/p", "x.y.tenants.test": ""} {
		req := httptest.NewRequest("GET", "/p", nil)
		req.Host = host
		rec := httptest.NewRecorder()
		p.Redirect().ServeHTTP(rec, req)
		if got := rec.Header().Get("Location"); got != want {
			t.Errorf("plain HTTP to %s: Location %q; want %q", host, got, want)
		}
	}
}

// TestSitesRefused: a table that cannot be built is refused whole.
func TestSitesRefused(t *testing.T) {
	u := &url.URL{Scheme: "http", Host: "127.0.0.1:1"}
	for _, tt := range []struct {
		name  string
		sites []Site
		want  string
	}{
		{"a name twice", []Site{{Hosts: []string{"a.test"}, Routes: []SiteRoute{{Upstream: u}}}, {Hosts: []string{"A.test."}, Routes: []SiteRoute{{Upstream: u}}}}, "routed twice"},
		{"a wildcard twice", []Site{{Hosts: []string{"*.a.test", "*.A.test"}, Routes: []SiteRoute{{Upstream: u}}}}, "routed twice"},
		{"a wildcard not first", []Site{{Hosts: []string{"a.*.test"}, Routes: []SiteRoute{{Upstream: u}}}}, "want a name"},
		{"no routes", []Site{{Hosts: []string{"a.test"}}}, "needs hosts and routes"},
		{"an upstream not http", []Site{{Hosts: []string{"a.test"}, Routes: []SiteRoute{{Upstream: &url.URL{Scheme: "ftp", Host: "x"}}}}}, "want an http, https, h2c or unix URL"},
		{"an upstream with credentials", []Site{{Hosts: []string{"a.test"}, Routes: []SiteRoute{{Upstream: &url.URL{Scheme: "http", Host: "x", User: url.UserPassword("u", "secret")}}}}}, "without credentials"},
		{"an upstream port 0", []Site{{Hosts: []string{"a.test"}, Routes: []SiteRoute{{Upstream: &url.URL{Scheme: "http", Host: "x:0"}}}}}, "want 1 to 65535"},
		{"a unix socket not absolute", []Site{{Hosts: []string{"a.test"}, Routes: []SiteRoute{{Upstream: &url.URL{Scheme: "unix", Opaque: "app.sock"}}}}}, "unix:/path"},
		{"an empty pool", []Site{{Hosts: []string{"a.test"}, Routes: []SiteRoute{{Pool: &Pool{}}}}}, "needs members"},
		{"a member twice", []Site{{Hosts: []string{"a.test"}, Routes: []SiteRoute{{Pool: &Pool{Members: []*url.URL{u, u}}}}}}, "listed twice"},
		{"members with other paths", []Site{{Hosts: []string{"a.test"}, Routes: []SiteRoute{{Pool: &Pool{Members: []*url.URL{u, {Scheme: "http", Host: "b:1", Path: "/v2"}}}}}}}, "base paths differ"},
		{"a pool and an upstream", []Site{{Hosts: []string{"a.test"}, Routes: []SiteRoute{{Upstream: u, Pool: &Pool{Members: []*url.URL{u}}}}}}, "exactly one"},
		{"a health path without /", []Site{{Hosts: []string{"a.test"}, Routes: []SiteRoute{{Pool: &Pool{Members: []*url.URL{u}, Health: &HealthCheck{Path: "healthz"}}}}}}, "want a path"},
		{"a health timeout over the interval", []Site{{Hosts: []string{"a.test"}, Routes: []SiteRoute{{Pool: &Pool{Members: []*url.URL{u}, Health: &HealthCheck{Path: "/h", Interval: time.Second, Timeout: 2 * time.Second}}}}}}, "at most the interval"},
		{"no action", []Site{{Hosts: []string{"a.test"}, Routes: []SiteRoute{{Match: RouteMatch{Path: "/x"}}}}}, "exactly one"},
		{"two actions", []Site{{Hosts: []string{"a.test"}, Routes: []SiteRoute{{Upstream: u, Respond: &Respond{}}}}}, "exactly one"},
		{"a redirect off-site", []Site{{Hosts: []string{"a.test"}, Routes: []SiteRoute{{Redirect: &Redirect{To: "//evil.test/"}}}}}, "one /"},
		{"a redirect by backslash", []Site{{Hosts: []string{"a.test"}, Routes: []SiteRoute{{Redirect: &Redirect{To: "/\\evil.test/"}}}}}, "not a URL"},
		{"a redirect to http", []Site{{Hosts: []string{"a.test"}, Routes: []SiteRoute{{Redirect: &Redirect{To: "http://a.test/"}}}}}, "https URL"},
		{"a redirect with a CR", []Site{{Hosts: []string{"a.test"}, Routes: []SiteRoute{{Redirect: &Redirect{To: "/a\rSet-Cookie: x"}}}}}, "not a URL"},
		{"a redirect status 200", []Site{{Hosts: []string{"a.test"}, Routes: []SiteRoute{{Redirect: &Redirect{Status: 200, To: "/a"}}}}}, "want 301"},
		{"a kept path after a query", []Site{{Hosts: []string{"a.test"}, Routes: []SiteRoute{{Redirect: &Redirect{To: "/a?b=c", KeepPath: true}}}}}, "query or fragment"},
		{"a body over 64 KiB", []Site{{Hosts: []string{"a.test"}, Routes: []SiteRoute{{Respond: &Respond{Body: strings.Repeat("x", 64<<10+1)}}}}}, "at most"},
		{"a body with 204", []Site{{Hosts: []string{"a.test"}, Routes: []SiteRoute{{Respond: &Respond{Status: 204, Body: "x"}}}}}, "no body"},
	} {
		_, err := New(Config{Sites: tt.sites})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v; want an error saying %q", tt.name, err, tt.want)
		}
	}
}

// TestDefaultSite: names no site serves go to the default site on a
// connection without SNI (a check by address), and are still misdirected
// where the client named a server.
func TestDefaultSite(t *testing.T) {
	p, err := New(Config{Sites: []Site{
		{Hosts: []string{"shop.test"}, Routes: []SiteRoute{{Respond: &Respond{Body: "shop"}}}},
		{Hosts: []string{"fallback.test"}, Default: true, Routes: []SiteRoute{{Respond: &Respond{Body: "default"}}}},
	}, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		host, sni string
		status    int
		body      string
	}{
		{"shop.test", "shop.test", 200, "shop"},
		{"10.0.0.5", "", 200, "default"},       // a load balancer's check by address
		{"unknown.test", "", 200, "default"},   // no SNI: the default
		{"unknown.test", "shop.test", 421, ""}, // a connection for another name
		{"10.0.0.5:8443", "", 421, ""},         // a port not served
	} {
		req := httptest.NewRequest("GET", "https://"+tt.host+"/", nil)
		req.Host = tt.host
		req.TLS = &tls.ConnectionState{ServerName: tt.sni}
		rec := httptest.NewRecorder()
		p.ServeHTTP(rec, req)
		if rec.Code != tt.status || (tt.body != "" && rec.Body.String() != tt.body) {
			t.Errorf("Host %s, SNI %q: %d %q; want %d %q", tt.host, tt.sni, rec.Code, rec.Body.String(), tt.status, tt.body)
		}
	}
	if _, err := New(Config{Sites: []Site{
		{Hosts: []string{"a.test"}, Default: true, Routes: []SiteRoute{{Respond: &Respond{}}}},
		{Hosts: []string{"b.test"}, Default: true, Routes: []SiteRoute{{Respond: &Respond{}}}},
	}}); err == nil || !strings.Contains(err.Error(), "second default") {
		t.Errorf("two default sites: %v", err)
	}
}

package proxy

import (
	"io"
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
				{Upstream: shop},
			}},
			{Hosts: []string{"*.tenants.test"}, Routes: []SiteRoute{{Upstream: tenants}}},
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
		{"GET", "acme.tenants.test", "/x", nil, 200, "tenants /x"},
		{"GET", "docs.tenants.test", "/v1/a", nil, 200, "docs /v1/a"}, // the exact name beats the wildcard
		{"POST", "docs.tenants.test", "/v1/a", nil, 404, ""},          // no route takes a POST there
		{"GET", "docs.tenants.test", "/v2", nil, 404, ""},
		{"GET", "a.b.tenants.test", "/", nil, 421, ""}, // a wildcard stands for one label
		{"GET", "tenants.test", "/", nil, 421, ""},
		{"GET", "other.test", "/", nil, 421, ""},
	} {
		req, _ := http.NewRequest(tt.method, front.URL+tt.path, nil)
		req.Host = tt.host
		for k, v := range tt.header {
			req.Header.Set(k, v)
		}
		res, err := front.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != tt.status || (tt.body != "" && string(body) != tt.body) {
			t.Errorf("%s %s%s: %d %q; want %d %q", tt.method, tt.host, tt.path, res.StatusCode, body, tt.status, tt.body)
		}
		if tt.status == 404 && strings.Contains(string(body), "docs") {
			t.Errorf("%s %s%s reached an app: %q", tt.method, tt.host, tt.path, body)
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
	for name, sites := range map[string][]Site{
		"a name twice":          {{Hosts: []string{"a.test"}, Routes: []SiteRoute{{Upstream: u}}}, {Hosts: []string{"A.test."}, Routes: []SiteRoute{{Upstream: u}}}},
		"a wildcard twice":      {{Hosts: []string{"*.a.test", "*.A.test"}, Routes: []SiteRoute{{Upstream: u}}}},
		"a wildcard not first":  {{Hosts: []string{"a.*.test"}, Routes: []SiteRoute{{Upstream: u}}}},
		"no routes":             {{Hosts: []string{"a.test"}}},
		"an upstream not http":  {{Hosts: []string{"a.test"}, Routes: []SiteRoute{{Upstream: &url.URL{Scheme: "ftp", Host: "x"}}}}},
		"no upstream for route": {{Hosts: []string{"a.test"}, Routes: []SiteRoute{{Match: RouteMatch{Path: "/x"}}}}},
	} {
		if _, err := New(Config{Sites: sites}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

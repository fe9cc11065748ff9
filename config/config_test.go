package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/rampart-proxy/rampart/proxy"
	"github.com/rampart-proxy/rampart/webhook"
)

// flags: name → whether it may hold a list.
var flags = map[string]bool{"domain": true, "trusted-proxies": true, "upstream": false, "https-addr": false, "hsts-max-age": false, "acme-email": false}

func isSetting(name string) (known, list bool) { list, known = flags[name]; return known, list }

const example = `# one edge, two apps and a maintenance page
acme-email: ops@example.com
hsts-max-age: 63072000
sites:
  - hosts: [shop.example.com, www.shop.example.com]
    routes:
      - path: /api
        upstream: http://127.0.0.1:9000
      - path: /admin
        methods: [GET, POST]
        headers: {X-Team: ops}
        upstream: http://127.0.0.1:9001
      - exact_path: /robots.txt
        respond: {body: "User-agent: *\nDisallow: /admin\n"}
      - path: /old-shop
        redirect: {to: "https://shop.example.com/", status: 301, keep_path: false}
      - upstream: http://127.0.0.1:8080
  - hosts: ["*.tenants.example.com"]
    routes:
      - respond: {status: 503, body: "<p>back soon</p>", content_type: text/html; charset=utf-8}
`

// TestParseExample: a whole file becomes settings and sites, and the sites
// make a proxy table.
func TestParseExample(t *testing.T) {
	f, err := Parse("rampart.yaml", []byte(example), isSetting, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Settings) != 2 || f.Settings[0].Name != "acme-email" || f.Settings[0].Values[0] != "ops@example.com" || f.Settings[0].Line != 2 ||
		f.Settings[1].Values[0] != "63072000" {
		t.Errorf("settings %+v", f.Settings)
	}
	if len(f.Sites) != 2 || len(f.Sites[0].Routes) != 5 || f.Sites[1].Hosts[0] != "*.tenants.example.com" {
		t.Fatalf("sites %+v", f.Sites)
	}
	r := f.Sites[0].Routes
	if r[0].Match.Path != "/api" || r[0].Upstream.Host != "127.0.0.1:9000" ||
		r[1].Match.Headers[0] != (proxy.HeaderMatch{Name: "X-Team", Value: "ops"}) || len(r[1].Match.Methods) != 2 ||
		r[2].Match.Kind != proxy.PathExact || r[2].Respond.Body != "User-agent: *\nDisallow: /admin\n" ||
		r[3].Redirect.Status != 301 || r[3].Redirect.To != "https://shop.example.com/" ||
		r[4].Match.Path != "" || r[4].Upstream == nil {
		t.Errorf("routes %+v", r)
	}
	if _, err := proxy.New(proxy.Config{Sites: f.Sites}); err != nil {
		t.Errorf("the example's sites do not make a table: %v", err)
	}
}

// TestParseErrors: each mistake names the file, its line, the key and a fix;
// several mistakes are all reported.
func TestParseErrors(t *testing.T) {
	for _, tt := range []struct {
		name, file string
		line       int
		key, fix   string
	}{
		{"unknown global key", "domian: shop.example.com\n", 1, "domian", "flag's name"},
		{"a key twice", "domain: a.example.com\nupstream: http://a:1\ndomain: b.example.com\n", 3, "domain", "keep one"},
		{"another config", "config: other.yaml\n", 1, "config", "drop it"},
		{"not YAML", "sites: [\n", 1, "(file)", "syntax"},
		{"sites not a list", "sites: {hosts: [a]}\n", 1, "sites", "list"},
		{"unknown site key", "sites:\n  - hosts: [a.example.com]\n    rootes: []\n", 3, "sites[0].rootes", "hosts, routes"},
		{"a network that is not", "sites:\n  - hosts: [a.example.com]\n    allow: [10.0.0.0/33]\n    routes: [{upstream: http://a:1}]\n", 3, "sites[0].allow", "CIDRs"},
		{"a rate without unit", "sites:\n  - hosts: [a.example.com]\n    routes:\n      - upstream: http://a:1\n        rate_limit: {rate: 10}\n", 5, "sites[0].routes[0].rate_limit.rate", "10/s"},
		{"a rate limit without rate", "sites:\n  - hosts: [a.example.com]\n    routes:\n      - upstream: http://a:1\n        rate_limit: {burst: 10}\n", 5, "sites[0].routes[0].rate_limit", "rate: 10/s"},
		{"a users file missing", "sites:\n  - hosts: [a.example.com]\n    basic_auth: {users_file: /nonexistent/htpasswd}\n    routes: [{upstream: http://a:1}]\n", 3, "sites[0].basic_auth.users_file", "htpasswd -B"},
		{"strip_prefix on a redirect", "sites:\n  - hosts: [a.example.com]\n    routes:\n      - path: /a\n        strip_prefix: true\n        redirect: {to: /b}\n", 4, "sites[0].routes[0]", "as that says"},
		{"strip_prefix on /", poolSite("p") + "        strip_prefix: true\npools:\n  p: {members: [http://a:1]}\n", 4, "sites[0].routes[0]", "as that says"},
		{"add_prefix without /", "sites:\n  - hosts: [a.example.com]\n    routes:\n      - upstream: http://a:1\n        add_prefix: v2\n", 4, "sites[0].routes[0]", "as that says"},
		{"a body size that is not", "sites:\n  - hosts: [a.example.com]\n    max_body_size: 10MB\n    routes: [{upstream: http://a:1}]\n", 3, "sites[0].max_body_size", "MiB"},
		{"a timeout without unit", "sites:\n  - hosts: [a.example.com]\n    routes:\n      - upstream: http://a:1\n        timeout: 5\n", 5, "sites[0].routes[0].timeout", "5s"},
		{"an hsts that is not", "sites:\n  - hosts: [a.example.com]\n    hsts: two years\n    routes: [{upstream: http://a:1}]\n", 3, "sites[0].hsts", "as that says"},
		{"a site certificate without its key", "sites:\n  - hosts: [a.example.com]\n    tls: {cert_file: a.pem}\n    routes: [{upstream: http://a:1}]\n", 3, "sites[0].tls", "key_file"},
		{"an unknown tls key", "sites:\n  - hosts: [a.example.com]\n    tls: {cert: a.pem, key_file: a.key}\n    routes: [{upstream: http://a:1}]\n", 3, "sites[0].tls.cert", "cert_file and key_file"},
		{"a security header", "sites:\n  - hosts: [a.example.com]\n    response_headers: {Strict-Transport-Security: max-age=0}\n    routes: [{upstream: http://a:1}]\n", 3, "sites[0].response_headers", "as that says"},
		{"no routes", "sites:\n  - hosts: [a.example.com]\n", 2, "sites[0]", "routes"},
		{"a bad host", "sites:\n  - hosts: [a.*.example.com]\n    routes: [{upstream: http://a:1}]\n", 2, "sites[0].hosts", "*.example.com"},
		{"a path without /", "sites:\n  - hosts: [a.example.com]\n    routes:\n      - path: api\n        upstream: http://a:1\n", 4, "sites[0].routes[0].path", "/api"},
		{"path and exact_path", "sites:\n  - hosts: [a.example.com]\n    routes:\n      - path: /a\n        exact_path: /a\n        upstream: http://a:1\n", 5, "sites[0].routes[0].exact_path", "keep one"},
		{"two actions", "sites:\n  - hosts: [a.example.com]\n    routes:\n      - upstream: http://a:1\n        respond: {body: x}\n", 4, "sites[0].routes[0]", "exactly one"},
		{"no action", "sites:\n  - hosts: [a.example.com]\n    routes:\n      - path: /a\n", 4, "sites[0].routes[0]", "exactly one"},
		{"an upstream not a URL", "sites:\n  - hosts: [a.example.com]\n    routes:\n      - upstream: 127.0.0.1:8080\n", 4, "sites[0].routes[0].upstream", "http://host:port"},
		{"a redirect status out of range", "sites:\n  - hosts: [a.example.com]\n    routes:\n      - redirect: {to: /b, status: 200}\n", 4, "sites[0].routes[0].redirect.status", "range"},
		{"a redirect without a target", "sites:\n  - hosts: [a.example.com]\n    routes:\n      - redirect: {status: 301}\n", 4, "sites[0].routes[0].redirect", "to:"},
		{"a boolean that is not", "sites:\n  - hosts: [a.example.com]\n    routes:\n      - redirect: {to: /b, keep_path: yes}\n", 4, "sites[0].routes[0].redirect.keep_path", "true or false"},
		{"a method in lower case", "sites:\n  - hosts: [a.example.com]\n    routes:\n      - methods: [get]\n        upstream: http://a:1\n", 4, "sites[0].routes[0].methods", "upper case"},
		{"a setting that is a mapping", "domain: {a: b}\n", 1, "domain", "key: value"},
		{"an upstream port out of range", "sites:\n  - hosts: [a.example.com]\n    routes:\n      - upstream: http://127.0.0.1:99999\n", 4, "sites[0].routes[0].upstream", "1 to 65535"},
		{"an upstream with a password", "sites:\n  - hosts: [a.example.com]\n    routes:\n      - upstream: http://u:hunter2@a:1\n", 4, "sites[0].routes[0].upstream", "without credentials"},
		{"a list for one value", "upstream: [http://a:1, http://b:1]\n", 1, "upstream", "one value"},
		{"a second document", "domain: a.example.com\n---\nupstream: http://a:1\n", 2, "(file)", "one document"},
		{"an empty value", "acme-email:\n", 1, "(file)", "give a value"},
		{"a null", "acme-email: ~\n", 1, "(file)", "give a value"},
		{"a tag", "sites:\n  - hosts: [a.example.com]\n    routes:\n      - respond: {body: !!binary aGVsbG8=}\n", 4, "(file)", "plainly"},
		{"an alias", "base: &b http://a:1\n", 1, "(file)", "write each value out"},
		{"a merge key", "sites:\n  - hosts: [a.example.com]\n    routes:\n      - <<: {upstream: http://a:1}\n", 4, "(file)", "write the keys out"},
		{"a method rampart refuses", "sites:\n  - hosts: [a.example.com]\n    routes:\n      - methods: [FOO]\n        upstream: http://a:1\n", 4, "sites[0].routes[0].methods", "HEAD"},
		{"a redirect off-site", "sites:\n  - hosts: [a.example.com]\n    routes:\n      - redirect: {to: //evil.test/}\n", 4, "sites[0].routes[0]", "as that says"},
		{"a body with 204", "sites:\n  - hosts: [a.example.com]\n    routes:\n      - respond: {status: 204, body: x}\n", 4, "sites[0].routes[0]", "as that says"},
		{"an unknown pool", poolSite("nope"), 4, "sites[0].routes[0].pool", "define it under pools:"},
		{"a pool nobody uses", poolSite("api") + "pools:\n  api: {members: [http://a:1]}\n  spare: {members: [http://b:1]}\n", 7, "pools.spare", "drop it"},
		{"a pool without members", poolSite("api") + "pools:\n  api: {balance: round_robin}\n", 6, "pools.api", "members:"},
		{"a pool member not a URL", poolSite("api") + "pools:\n  api:\n    members:\n      - http://a:1\n      - 10.0.0.2:8080\n", 9, "pools.api.members[1]", "h2c://host:port"},
		{"an unknown balance", poolSite("api") + "pools:\n  api:\n    members: [http://a:1]\n    balance: random\n", 8, "pools.api.balance", "least_requests"},
		{"an unknown pool key", poolSite("api") + "pools:\n  api:\n    members: [http://a:1]\n    sticky: true\n", 8, "pools.api.sticky", "eject_after"},
		{"a duration without unit", poolSite("api") + "pools:\n  api:\n    members: [http://a:1]\n    eject_for: 30\n", 8, "pools.api.eject_for", "5s"},
		{"a health check without path", poolSite("api") + "pools:\n  api:\n    members: [http://a:1]\n    health: {interval: 5s}\n", 8, "pools.api.health", "path: /healthz"},
		{"a health timeout over its interval", poolSite("api") + "pools:\n  api:\n    members: [http://a:1]\n    health: {path: /h, interval: 1s, timeout: 2s}\n", 7, "pools.api", "as that says"},
		{"a member twice", poolSite("api") + "pools:\n  api: {members: [http://a:1, http://a:1]}\n", 6, "pools.api", "as that says"},
		{"a pool name with a space", poolSite("a b") + "pools:\n  a b: {members: [http://a:1]}\n", 6, "pools.a b", "letters"},
		{"a unix socket not absolute", "sites:\n  - hosts: [a.example.com]\n    routes:\n      - upstream: unix:app.sock\n", 4, "sites[0].routes[0].upstream", "unix:/path"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("rampart.yaml", []byte(tt.file), isSetting, nil)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("got %v; want a config.Error", err)
			}
			if e.File != "rampart.yaml" || e.Line != tt.line || e.Key != tt.key || !strings.Contains(e.Fix, tt.fix) {
				t.Errorf("got %q (line %d, key %q); want line %d, key %q, a fix saying %q", err, e.Line, e.Key, tt.line, tt.key, tt.fix)
			}
			if n := strings.Count(err.Error(), "; fix: "); n != 1 {
				t.Errorf("%d mistakes reported for one:\n%v", n, err)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the message repeats a password: %q", err)
			}
			if !strings.HasPrefix(err.Error(), "rampart.yaml:") || !strings.Contains(err.Error(), "; fix: ") {
				t.Errorf("the message %q does not read file:line: key: problem; fix: …", err)
			}
		})
	}
	// Every mistake, not only the first.
	_, err := Parse("r.yaml", []byte("domian: a\nsites:\n  - hosts: [a.example.com]\n    routes:\n      - upstream: ftp://x\n"), isSetting, nil)
	if n := strings.Count(err.Error(), "; fix: "); n != 2 {
		t.Errorf("%d mistakes reported; want 2:\n%v", n, err)
	}
}

// TestParsePolicy: a site's policy and a route's own, the users file read
// beside the configuration file.
func TestParsePolicy(t *testing.T) {
	dir := t.TempDir()
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err := os.WriteFile(filepath.Join(dir, "htpasswd"), []byte("ops:"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const file = `sites:
  - hosts: [shop.example.com]
    deny: [192.0.2.0/24, 2001:db8::1]
    hsts: max-age=300
    response_headers: {X-Robots-Tag: noindex}
    routes:
      - path: /checkout
        rate_limit: {rate: 30/m, burst: 5, clients: 100000}
        csp: "frame-ancestors 'none'"
        max_body_size: 64KiB
        timeout: 10s
        strip_prefix: true
        add_prefix: /v2
        upstream_host: pay.internal
        upstream: http://127.0.0.1:9000
      - path: /admin
        allow: [10.0.0.0/8]
        basic_auth: {realm: Shop admin, users_file: htpasswd}
        upstream: http://127.0.0.1:9001
      - upstream: http://127.0.0.1:8080
`
	f, err := Parse(filepath.Join(dir, "rampart.yaml"), []byte(file), isSetting, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := f.Sites[0]
	if len(s.Policy.Deny) != 2 || s.Policy.Deny[1].String() != "2001:db8::1/128" || s.Policy.ResponseHeaders["X-Robots-Tag"] != "noindex" {
		t.Errorf("site policy %+v", s.Policy)
	}
	if rl := s.Routes[0].Policy.RateLimit; rl == nil || rl.Rate != 0.5 || rl.Burst != 5 || rl.Clients != 100000 {
		t.Errorf("rate limit %+v", rl)
	}
	if r := s.Routes[0]; r.Policy.CSP != "frame-ancestors 'none'" || r.Policy.MaxBodyBytes != 64<<10 || r.Policy.Timeout != 10*time.Second ||
		!r.StripPrefix || r.AddPrefix != "/v2" || r.UpstreamHost != "pay.internal" || s.Policy.HSTS != "max-age=300" {
		t.Errorf("checkout route %+v, site policy %+v", r, s.Policy)
	}
	if ba := s.Routes[1].Policy.BasicAuth; ba == nil || ba.Realm != "Shop admin" || len(ba.Users["ops"]) == 0 || s.Routes[1].Policy.Allow[0].String() != "10.0.0.0/8" {
		t.Errorf("admin policy %+v", s.Routes[1].Policy)
	}
	if _, err := proxy.New(proxy.Config{Sites: f.Sites}); err != nil {
		t.Errorf("the policies do not make a table: %v", err)
	}
}

// poolSite is a file's start: one site whose route uses the named pool.
func poolSite(name string) string {
	return "sites:\n  - hosts: [a.example.com]\n    routes:\n      - pool: " + name + "\n"
}

// TestParsePools: named pools, defined before or after the routes that use
// them, shared by several routes, with their balance and health settings.
func TestParsePools(t *testing.T) {
	const file = `sites:
  - hosts: [shop.example.com]
    routes:
      - path: /api
        pool: api
      - path: /v2
        pool: api
      - path: /grpc
        upstream: h2c://127.0.0.1:50051
      - upstream: unix:/run/shop/app.sock
pools:
  api:
    members: [http://10.0.0.1:9000, http://10.0.0.2:9000, https://10.0.0.3:9443]
    balance: least_requests
    eject_after: 5
    eject_for: 30s
    health: {path: /healthz, interval: 2s, timeout: 500ms, status: 204, healthy: 3, unhealthy: 2}
`
	f, err := Parse("rampart.yaml", []byte(file), isSetting, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := f.Sites[0].Routes
	api := f.Pools["api"]
	if r[0].Pool != api || r[1].Pool != api || api.Name != "api" || len(api.Members) != 3 || api.Balance != proxy.LeastRequests ||
		api.EjectAfter != 5 || api.EjectFor != 30*time.Second ||
		*api.Health != (proxy.HealthCheck{Path: "/healthz", Interval: 2 * time.Second, Timeout: 500 * time.Millisecond, Status: 204, Healthy: 3, Unhealthy: 2}) {
		t.Errorf("pool %+v (health %+v), routes %+v", api, api.Health, r)
	}
	if r[2].Upstream.Scheme != "h2c" || r[3].Upstream.Scheme != "unix" {
		t.Errorf("routes %+v", r)
	}
	p, err := proxy.New(proxy.Config{Sites: f.Sites})
	if err != nil {
		t.Fatalf("the pools do not make a table: %v", err)
	}
	p.StopHealthChecks()
	if n := len(p.Upstreams()); n != 5 {
		t.Errorf("%d upstreams reported; want 5 (three of api, the h2c one, the socket)", n)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(example)
	f.Add("sites:\n  - hosts: [a]\n    routes: [{path: /x, upstream: http://a:1}]\n")
	f.Add("domain: [a, b]\n")
	f.Add(poolSite("api") + "pools:\n  api: {members: [http://a:1, unix:/s], balance: client_hash, health: {path: /h}}\n")
	f.Fuzz(func(t *testing.T, s string) {
		file, err := Parse("f.yaml", []byte(s), isSetting, nil)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Fix == "" {
				t.Errorf("an error that is not a config.Error with a fix: %v", err)
			}
			return
		}
		for _, st := range file.Sites {
			for _, r := range st.Routes {
				n := 0
				for _, set := range []bool{r.Upstream != nil, r.Pool != nil, r.Redirect != nil, r.Respond != nil} {
					if set {
						n++
					}
				}
				if n != 1 {
					t.Errorf("a route with %d actions passed: %+v", n, r)
				}
			}
		}
	})
}

// TestParseWebhook: a route's webhook check reads its secrets from files (a
// line each, both used while one rotates), and each mistake names its key.
func TestParseWebhook(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("stripe.secret", "# rotated 2026-11\nwhsec_new_0123456789abcdef\n\nwhsec_old_0123456789abcdef\n")
	write("empty.secret", "# nothing yet\n")
	write("private.key", "whsk_"+strings.Repeat("A", 86)+"==\n")
	route := func(webhook string) string {
		return "sites:\n  - hosts: [a.example.com]\n    routes:\n      - path: /hooks\n        upstream: http://a:1\n        webhook: " + webhook + "\n"
	}
	f, err := Parse(filepath.Join(dir, "rampart.yaml"), []byte(route("{scheme: stripe, secret_files: [stripe.secret], tolerance: 2m}")), isSetting, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, ok := f.Sites[0].Routes[0].Policy.Webhook.(*webhook.Verifier)
	if !ok || v.Scheme() != webhook.Stripe {
		t.Fatalf("webhook %#v; want a Stripe verifier", f.Sites[0].Routes[0].Policy.Webhook)
	}
	for _, tt := range []struct{ name, webhook, key, fix string }{
		{"a scheme rampart does not check", "{scheme: github, secret_files: [stripe.secret]}", "sites[0].routes[0].webhook.scheme", "standard-webhooks"},
		{"no scheme", "{secret_files: [stripe.secret]}", "sites[0].routes[0].webhook", "scheme: stripe"},
		{"no secret files", "{scheme: stripe}", "sites[0].routes[0].webhook", "secret_files:"},
		{"a secret file missing", "{scheme: stripe, secret_files: [nope.secret]}", "sites[0].routes[0].webhook.secret_files", "relative to this file"},
		{"a secret file empty", "{scheme: stripe, secret_files: [empty.secret]}", "sites[0].routes[0].webhook.secret_files", "signing secret"},
		{"a private key", "{scheme: standard-webhooks, secret_files: [private.key]}", "sites[0].routes[0].webhook", "whpk_"},
		{"an unknown key", "{scheme: stripe, secret_files: [stripe.secret], secret: x}", "sites[0].routes[0].webhook.secret", "scheme, secret_files and tolerance"},
		{"a tolerance without unit", "{scheme: stripe, secret_files: [stripe.secret], tolerance: 300}", "sites[0].routes[0].webhook.tolerance", "5s"},
	} {
		_, err := Parse(filepath.Join(dir, "rampart.yaml"), []byte(route(tt.webhook)), isSetting, nil)
		var e *Error
		if !errors.As(err, &e) || e.Line != 6 || e.Key != tt.key || !strings.Contains(e.Fix, tt.fix) {
			t.Errorf("%s: got %v; want line 6, key %s, a fix with %q", tt.name, err, tt.key, tt.fix)
		}
	}
}

// TestParsePaymentPage: payment_page on a site and on a route, found by
// their indices; a wrong mode or sample names its key.
func TestParsePaymentPage(t *testing.T) {
	f, err := Parse("rampart.yaml", []byte(`sites:
  - hosts: [a.example.com]
    routes: [{upstream: "http://a:1"}]
  - hosts: [shop.example.com]
    payment_page: {mode: enforce}
    routes:
      - path: /blog
        upstream: http://a:1
      - path: /checkout
        payment_page: {sample: 10%}
        upstream: http://a:1
`), isSetting, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []PaymentPageSetting{{Site: 1, Route: -1, Mode: "enforce", Sample: 1}, {Site: 1, Route: 1, Mode: "learn", Sample: 0.1}}
	if fmt.Sprint(f.PaymentPages) != fmt.Sprint(want) {
		t.Errorf("payment pages %+v; want %+v", f.PaymentPages, want)
	}
	for _, tt := range []struct{ name, pp, key, fix string }{
		{"a mode", "{mode: block}", "sites[0].routes[0].payment_page.mode", "enforce"},
		{"a sample over 1", "{sample: 2}", "sites[0].routes[0].payment_page.sample", "0.1"},
		{"a sample of 0", "{sample: 0%}", "sites[0].routes[0].payment_page.sample", "percentage"},
		{"an unknown key", "{mode: learn, report_uri: /r}", "sites[0].routes[0].payment_page.report_uri", "mode and sample"},
	} {
		_, err := Parse("rampart.yaml", []byte("sites:\n  - hosts: [a.example.com]\n    routes:\n      - upstream: http://a:1\n        payment_page: "+tt.pp+"\n"), isSetting, nil)
		var e *Error
		if !errors.As(err, &e) || e.Line != 5 || e.Key != tt.key || !strings.Contains(e.Fix, tt.fix) {
			t.Errorf("%s: got %v; want line 5, key %s, a fix with %q", tt.name, err, tt.key, tt.fix)
		}
	}
}

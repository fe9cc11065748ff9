package main

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// parse runs the real flag set over args and an environment map.
func parse(args []string, env map[string]string) (*config, error) {
	var raw rawFlags
	fs := newFlagSet("rampart", &raw)
	return load(fs, &raw, args, environment(env), io.Discard, nil)
}

func TestValidateNamesTheSetting(t *testing.T) {
	ok := []string{"--domain", "shop.example.com", "--upstream", "http://127.0.0.1:8080"}
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		setting string // "" means valid
	}{
		{"minimal", ok, nil, ""},
		{"domains comma-separated and repeated", []string{"--domain", "a.example.com,b.example.com", "--domain", "c.example.com", "--upstream", "http://app:1"}, nil, ""},
		{"domain from the environment", []string{"--upstream", "http://app:1"}, map[string]string{"RAMPART_DOMAIN": "shop.example.com"}, ""},
		{"no domain", []string{"--upstream", "http://app:1"}, nil, "--domain"},
		{"IPv4 domain", []string{"--domain", "192.0.2.1", "--upstream", "http://app:1"}, nil, "--domain"},
		{"IPv6 domain", []string{"--domain", "2001:db8::1", "--upstream", "http://app:1"}, nil, "--domain"},
		{"wildcard", []string{"--domain", "*.example.com", "--upstream", "http://app:1"}, nil, "--domain"},
		{"localhost", []string{"--domain", "localhost", "--upstream", "http://app:1"}, nil, "--domain"},
		{"localhost is fine for the internal CA", []string{"--tls", "internal", "--domain", "localhost", "--upstream", "http://app:1"}, nil, ""},
		{"bare name", []string{"--domain", "shop", "--upstream", "http://app:1"}, nil, "--domain"},
		{"bad characters", []string{"--domain", "shop_1.example.com", "--upstream", "http://app:1"}, nil, "--domain"},
		{"no upstream", []string{"--domain", "shop.example.com"}, nil, "--upstream"},
		{"an alert URL", append([]string{"--payment-page-alert-url", "https://alerts.example.com/rampart"}, ok...), nil, ""},
		{"an alert URL to a local relay", append([]string{"--payment-page-alert-url", "http://127.0.0.1:9999/a"}, ok...), nil, ""},
		{"an alert URL in plain http", append([]string{"--payment-page-alert-url", "http://alerts.example.com/a"}, ok...), nil, "--payment-page-alert-url"},
		{"an alert URL that is not", append([]string{"--payment-page-alert-url", "alerts.example.com"}, ok...), nil, "--payment-page-alert-url"},
		{"upstream without scheme", []string{"--domain", "shop.example.com", "--upstream", "127.0.0.1:8080"}, nil, "--upstream"},
		{"upstream with credentials", []string{"--domain", "shop.example.com", "--upstream", "http://u:p@app:1"}, nil, "--upstream"},
		{"upstream port out of range", []string{"--domain", "shop.example.com", "--upstream", "http://127.0.0.1:99999"}, nil, "--upstream"},
		{"upstream port zero", []string{"--domain", "shop.example.com", "--upstream", "http://127.0.0.1:0"}, nil, "--upstream"},
		{"upstream-ca with http upstream", append(ok, "--upstream-ca", "/etc/hostname"), nil, "--upstream-ca"},
		{"TLS 1.1", append(ok, "--tls-min-version", "1.1"), nil, "--tls-min-version"},
		{"TLS 1.3 floor", append(ok, "--tls-min-version", "1.3"), nil, ""},
		{"unknown tls mode", append(ok, "--tls", "self-signed"), nil, "--tls"},
		{"files without cert", append(ok, "--tls", "files"), nil, "--cert-file"},
		{"negative HSTS", append(ok, "--hsts-max-age", "-5"), nil, "--hsts-max-age"},
		{"preload with short HSTS", append(ok, "--hsts-preload", "--hsts-max-age", "600"), nil, "--hsts-preload"},
		{"CSP with a newline", append(ok, "--csp", "default-src 'self'\nX-Evil: 1"), nil, "--csp"},
		{"trusted proxy not a CIDR", append(ok, "--trusted-proxies", "10.0.0.0/33"), nil, "--trusted-proxies"},
		{"trusted proxy as a plain IP", append(ok, "--trusted-proxies", "10.0.0.7,192.168.0.0/16"), nil, ""},
		{"shutdown timeout zero", append(ok, "--shutdown-timeout", "0s"), nil, "--shutdown-timeout"},
		{"https-addr without port", append(ok, "--https-addr", "0.0.0.0"), nil, "--https-addr"},
		{"ACME directory over http", append(ok, "--acme-directory", "http://ca.example/dir"), nil, "--acme-directory"},
		{"half an EAB pair", append(ok, "--acme-eab-kid", "kid"), nil, "--acme-eab-kid"},
		{"EAB not base64url", append(ok, "--acme-eab-kid", "kid", "--acme-eab-hmac", "!!!"), nil, "--acme-eab-hmac"},
		{"log level", append(ok, "--log-level", "verbose"), nil, "--log-level"},
		{"IPv6 client prefix too short", append(ok, "--ipv6-client-prefix", "8"), nil, "--ipv6-client-prefix"},
		{"IPv6 client prefix too long", append(ok, "--ipv6-client-prefix", "129"), nil, "--ipv6-client-prefix"},
		{"IPv6 client prefix 56", append(ok, "--ipv6-client-prefix", "56"), nil, ""},
		{"negative ticket lifetime", append(ok, "--tls-ticket-lifetime", "-1h"), nil, "--tls-ticket-lifetime"},
		{"ticket lifetime over a week", append(ok, "--tls-ticket-lifetime", "200h"), nil, "--tls-ticket-lifetime"},
		{"tickets off", append(ok, "--tls-ticket-lifetime", "0"), nil, ""},
		{"ticket lifetime under a second", append(ok, "--tls-ticket-lifetime", "1ms"), nil, "--tls-ticket-lifetime"},
		{"response rate not a number", append(ok, "--min-response-rate", "fast"), nil, "--min-response-rate"},
		{"ranges negative", append(ok, "--max-ranges", "-1"), nil, "--max-ranges"},
		{"underscore headers allowed", append(ok, "--allow-underscore-headers"), nil, ""},
		{"bad value in the environment", ok, map[string]string{"RAMPART_TLS": "none"}, "RAMPART_TLS"},
		{"an ACME setting with the internal CA", append(ok, "--tls", "internal", "--acme-email", "ops@example.com"), nil, "--acme-email"},
		{"an empty ACME variable with the internal CA (a template's blank)", append(ok, "--tls", "internal"), map[string]string{"RAMPART_ACME_EMAIL": ""}, ""},
		{"--acme-rsa=false with the internal CA", append(ok, "--tls", "internal", "--acme-rsa=false"), nil, ""},
		{"--acme-rsa with the internal CA", append(ok, "--tls", "internal", "--acme-rsa"), nil, "--acme-rsa"},
		{"the default ACME directory with files", append(ok, "--tls", "files", "--cert-file", "/nonexistent", "--key-file", "/nonexistent",
			"--acme-directory", "https://acme-v02.api.letsencrypt.org/directory"), nil, "--cert-file"},
		{"HTTPS and HTTP on one port", append(ok, "--https-addr", ":8443", "--http-addr", "[::]:8443"), nil, "--http-addr"},
		{"HTTPS by service name and number", append(ok, "--https-addr", ":https", "--admin-addr", "127.0.0.1:443"), nil, "--admin-addr"},
		{"any free port twice", append(ok, "--https-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"), nil, ""},
		{"same port on two addresses", append(ok, "--https-addr", "127.0.0.1:8443", "--http-addr", "127.0.0.2:8443"), nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(tt.args, tt.env)
			if tt.setting == "" {
				if err != nil {
					t.Fatalf("got %v; want a valid configuration", err)
				}
				return
			}
			if err != nil && (strings.Contains(err.Error(), "p@app") || strings.Contains(err.Error(), ":p@")) {
				t.Errorf("the error repeats a password: %v", err)
			}
			var se *settingError
			if !errors.As(err, &se) {
				t.Fatalf("got %v; want a settingError naming %s", err, tt.setting)
			}
			if !strings.HasPrefix(se.setting, tt.setting) || se.fix == "" {
				t.Errorf("got %q; want it to name %s and a fix", err, tt.setting)
			}
		})
	}
}

func TestDefaultsAreHardened(t *testing.T) {
	cfg, err := parse([]string{"--domain", "Shop.Example.com.", "--upstream", "http://127.0.0.1:8080"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.domains[0] != "shop.example.com" {
		t.Errorf("domain %q; want it lower-cased without the trailing dot", cfg.domains[0])
	}
	if cfg.httpsAddr != ":443" || cfg.httpAddr != ":80" || cfg.adminAddr != "127.0.0.1:9090" {
		t.Errorf("addresses %q %q %q", cfg.httpsAddr, cfg.httpAddr, cfg.adminAddr)
	}
	if cfg.tlsMode != "acme" || cfg.acmeDirectory != letsEncryptProduction {
		t.Errorf("tls %q from %q; want acme from Let's Encrypt production", cfg.tlsMode, cfg.acmeDirectory)
	}
	if cfg.headers.HSTSMaxAge != 63072000 || cfg.headers.CSP == "" || len(cfg.trustedProxies) != 0 {
		t.Errorf("headers %+v, trusted %v", cfg.headers, cfg.trustedProxies)
	}
	if cfg.allowUnderscore || cfg.tlsTicketLifetime != 12*time.Hour {
		t.Errorf("underscore headers allowed %v, ticket lifetime %v; want dropped, 12h", cfg.allowUnderscore, cfg.tlsTicketLifetime)
	}
	l := cfg.limits
	if l.conns.Max != 8192 || l.conns.PerIP != 256 || l.conns.IPv6Prefix != 64 || l.request.MaxRanges != 100 || l.request.MinResponseRate != 1024 {
		t.Errorf("conns %+v, ranges %d, response rate %d; want 8192, 256 per address, IPv6 by /64, 100, 1024", l.conns, l.request.MaxRanges, l.request.MinResponseRate)
	}
}

// FuzzConfig: no input makes validation panic, and whatever passes is usable.
func FuzzConfig(f *testing.F) {
	f.Add("shop.example.com", "http://127.0.0.1:8080", "1.2", "10.0.0.0/8")
	f.Add("*.x", "ftp://", "1.1", "::/0")
	f.Add("localhost", "https://[::1]:1/p?q", "", "1.2.3.4")
	f.Fuzz(func(t *testing.T, domain, upstream, minVersion, trusted string) {
		cfg, err := parse([]string{"--domain", domain, "--upstream", upstream, "--tls-min-version", minVersion,
			"--trusted-proxies", trusted}, nil)
		if err != nil {
			return
		}
		for _, d := range cfg.domains {
			if msg := checkDomain(d, true); msg != "" {
				t.Errorf("accepted domain %q: %s", d, msg)
			}
		}
		if s := cfg.upstream.Scheme; s != "http" && s != "https" {
			t.Errorf("accepted upstream scheme %q", s)
		}
	})
}

// TestEnvironmentVariables: an unknown RAMPART_* variable is refused, with
// the one meant when it is near; the variables Kubernetes makes for a Service
// named rampart (or rampart-edge) in the pod's namespace are not settings and
// pass, but only with the values Kubernetes gives them.
func TestEnvironmentVariables(t *testing.T) {
	ok := []string{"--domain", "shop.example.com", "--upstream", "http://127.0.0.1:8080"}
	kube := map[string]string{ // as the kubelet writes them for Services rampart and rampart-edge
		"RAMPART_SERVICE_HOST": "10.96.0.17", "RAMPART_SERVICE_PORT": "443", "RAMPART_SERVICE_PORT_HTTPS": "443",
		"RAMPART_SERVICE_PORT_HTTP": "80", "RAMPART_PORT": "tcp://10.96.0.17:443", "RAMPART_PORT_443_TCP": "tcp://10.96.0.17:443",
		"RAMPART_PORT_443_TCP_PROTO": "tcp", "RAMPART_PORT_443_TCP_PORT": "443", "RAMPART_PORT_443_TCP_ADDR": "10.96.0.17",
		"RAMPART_EDGE_SERVICE_HOST": "fd00::17", "RAMPART_EDGE_PORT": "tcp://[fd00::17]:80", "RAMPART_EDGE_PORT_80_TCP_PORT": "80",
		"RAMPART_ACME_EMAIL": "ops@example.com",
	}
	if _, err := parse(ok, kube); err != nil {
		t.Errorf("Kubernetes' service variables refused: %v", err)
	}
	tests := []struct {
		env  map[string]string
		fix  string // what the fix must say
		name string // the variable named
	}{
		{map[string]string{"RAMPART_UPSTRAEM": "http://x:1"}, "did you mean RAMPART_UPSTREAM?", "RAMPART_UPSTRAEM"},
		{map[string]string{"RAMPART_ACME_EMIAL": "a@b.c"}, "did you mean RAMPART_ACME_EMAIL?", "RAMPART_ACME_EMIAL"},
		{map[string]string{"RAMPART_HTTPS_PORT": "8443"}, "unset it", "RAMPART_HTTPS_PORT"},
		{map[string]string{"RAMPART_PORT": "8443"}, "unset it", "RAMPART_PORT"},
		{map[string]string{"RAMPART_SERVICE_HOST": "shop.example.com"}, "unset it", "RAMPART_SERVICE_HOST"},
		{map[string]string{"RAMPART_domain": "shop.example.com"}, "", "RAMPART_domain"},
	}
	for _, tt := range tests {
		_, err := parse(ok, tt.env)
		var se *settingError
		if !errors.As(err, &se) || se.setting != tt.name || !strings.Contains(se.fix, tt.fix) {
			t.Errorf("%v: got %v; want %s named, with a fix saying %q", tt.env, err, tt.name, tt.fix)
		}
	}
}

func TestEditDistance(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{{"upstrem", "upstream", 1}, {"upstraem", "upstream", 1}, {"domian", "domain", 1}, {"", "tls", 3}, {"tls", "tls", 0}, {"https-port", "https-addr", 4}} {
		if got := editDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d; want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

const schemaFile = "../../config/rampart.schema.json"

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	s, err := c.Compile(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// schemaValidate judges a YAML document by the schema, as an editor would.
func schemaValidate(t *testing.T, s *jsonschema.Schema, doc string) error {
	t.Helper()
	var v any
	if err := yaml.Unmarshal([]byte(doc), &v); err != nil {
		t.Fatalf("%v:\n%s", err, doc)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return s.Validate(inst)
}

// TestSchemaKeysAreTheFlags: the schema's global keys are exactly the flags
// a file may set (all but --config), so an editor completes every one and
// flags one that does not exist.
func TestSchemaKeysAreTheFlags(t *testing.T) {
	var raw struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}
	b, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	var inSchema, flags []string
	for k := range raw.Properties {
		if k != "sites" && k != "pools" {
			inSchema = append(inSchema, k)
		}
	}
	newFlagSet("rampart", &rawFlags{}).VisitAll(func(f *flag.Flag) {
		if f.Name != "config" {
			flags = append(flags, f.Name)
		}
	})
	slices.Sort(inSchema)
	slices.Sort(flags)
	if !slices.Equal(inSchema, flags) {
		t.Errorf("schema keys %v\nflags       %v", inSchema, flags)
	}
}

// TestSchemaMatchesDecoder: files that rampart validate accepts, the schema
// accepts, and files it refuses for their shape (an unknown key at each
// level, a wrong type, a value out of its set, a missing key) the schema
// refuses too. Mistakes only rampart can see (a name served twice, a pool no
// route uses) are not the schema's to judge.
func TestSchemaMatchesDecoder(t *testing.T) {
	s := compileSchema(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "htpasswd"), []byte("ops:$2y$05$Yp0ZpHOy9bRsL4L3H.bYQO9Lk8dK3f/xWcKqNjUaaQJhR2c.mWZ5S\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "stripe.secret"), []byte("whsec_schema_test_0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const head = "tls: internal\nsites:\n  - hosts: [a.test]\n    routes:\n"
	pooled := func(pool string) string {
		return head + "      - pool: p\npools:\n  p:\n" + pool
	}
	example, err := os.ReadFile("../../deploy/examples/rampart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, doc string
		valid     bool
	}{
		{"the example", string(example), true},
		{"settings only", "tls: internal\ndomain: [a.test, b.test]\nupstream: http://127.0.0.1:8080\nhsts-max-age: 300\nready-requires-upstream: true\n", true},
		{"every route kind", head + "      - path: /a\n        methods: [GET, HEAD]\n        headers: {X-A: b}\n        upstream: h2c://127.0.0.1:50051\n" +
			"      - exact_path: /r\n        redirect: {to: /b, status: 301, keep_path: true}\n      - path: /m\n        respond: {status: 503, body: x, content_type: text/plain}\n" +
			"      - upstream: unix:/run/app.sock\n", true},
		{"a pool with everything", pooled("    members: [http://10.0.0.1:1, https://10.0.0.2:2]\n    balance: client_hash\n    eject_after: 5\n    eject_for: 30s\n    health: {path: /h, interval: 2s, timeout: 1s, status: 204, healthy: 3, unhealthy: 2}\n"), true},
		{"policies", "tls: internal\nsites:\n  - hosts: [a.test]\n    deny: [192.0.2.0/24]\n    response_headers: {X-Robots-Tag: noindex}\n    routes:\n" +
			"      - path: /c\n        rate_limit: {rate: 30/m, burst: 5, clients: 100000}\n        upstream: http://127.0.0.1:1\n" +
			"      - allow: [10.0.0.0/8]\n        basic_auth: {realm: R, users_file: htpasswd}\n        upstream: http://127.0.0.1:1\n", true},
		{"route options and the rest of policy", "tls: internal\nsites:\n  - hosts: [a.test]\n    hsts: max-age=300\n    max_body_size: 1MiB\n    routes:\n" +
			"      - path: /api\n        strip_prefix: true\n        add_prefix: /v2\n        upstream_host: api.internal\n        timeout: 5s\n        csp: \"frame-ancestors 'none'\"\n        upstream: http://127.0.0.1:1\n", true},
		{"a webhook", head + "      - path: /hooks\n        webhook: {scheme: stripe, secret_files: [stripe.secret], tolerance: 2m}\n        upstream: http://127.0.0.1:1\n", true},
		{"an unknown webhook key", head + "      - upstream: http://a:1\n        webhook: {scheme: stripe, secret_files: [stripe.secret], secret: x}\n", false},
		{"a webhook scheme unknown", head + "      - upstream: http://a:1\n        webhook: {scheme: github, secret_files: [stripe.secret]}\n", false},
		{"a webhook without secrets", head + "      - upstream: http://a:1\n        webhook: {scheme: stripe}\n", false},
		{"a default site", "tls: internal\nsites:\n  - hosts: [a.test]\n    default: true\n    routes: [{upstream: http://127.0.0.1:1}]\n", true},
		{"an unknown global key", "tls: internal\nupstrem: http://a:1\n", false},
		{"an unknown site key", "tls: internal\nsites:\n  - hosts: [a.test]\n    rotes: []\n    routes: [{upstream: http://a:1}]\n", false},
		{"an unknown route key", head + "      - upstream: http://a:1\n        strip: /x\n", false},
		{"an unknown pool key", pooled("    members: [http://a:1]\n    sticky: true\n"), false},
		{"an unknown health key", pooled("    members: [http://a:1]\n    health: {path: /h, every: 5s}\n"), false},
		{"an unknown redirect key", head + "      - redirect: {to: /b, code: 301}\n", false},
		{"an unknown respond key", head + "      - respond: {text: x}\n", false},
		{"an unknown rate limit key", head + "      - upstream: http://a:1\n        rate_limit: {rate: 1/s, per: ip}\n", false},
		{"an unknown basic auth key", head + "      - upstream: http://a:1\n        basic_auth: {users_file: htpasswd, users: x}\n", false},
		{"two actions", head + "      - upstream: http://a:1\n        respond: {body: x}\n", false},
		{"no action", head + "      - path: /a\n", false},
		{"path and exact_path", head + "      - path: /a\n        exact_path: /a\n        upstream: http://a:1\n", false},
		{"a path without /", head + "      - path: a\n        upstream: http://a:1\n", false},
		{"a method in lower case", head + "      - methods: [get]\n        upstream: http://a:1\n", false},
		{"an upstream that is not a URL", head + "      - upstream: 127.0.0.1:8080\n", false},
		{"a redirect status", head + "      - redirect: {to: /b, status: 303}\n", false},
		{"a redirect without a target", head + "      - redirect: {status: 301}\n", false},
		{"a balance unknown", pooled("    members: [http://a:1]\n    balance: random\n"), false},
		{"a pool without members", pooled("    balance: round_robin\n"), false},
		{"a duration without a unit", pooled("    members: [http://a:1]\n    eject_for: 30\n"), false},
		{"a health check without path", pooled("    members: [http://a:1]\n    health: {interval: 5s}\n"), false},
		{"a rate without a unit", head + "      - upstream: http://a:1\n        rate_limit: {rate: \"10\"}\n", false},
		{"a site without routes", "tls: internal\nsites:\n  - hosts: [a.test]\n", false},
		{"a boolean flag as a word", "tls: internal\nhsts-preload: yes please\n", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(dir, strings.NewReplacer(" ", "-", "/", "slash").Replace(tt.name)+".yaml")
			if err := os.WriteFile(file, []byte(tt.doc), 0o600); err != nil {
				t.Fatal(err)
			}
			decoderErr := runCheck([]string{"--config", file, "--data-dir", dir}, environment{}, io.Discard)
			schemaErr := schemaValidate(t, s, tt.doc)
			if (decoderErr == nil) != tt.valid || (schemaErr == nil) != tt.valid {
				t.Errorf("want valid=%v; rampart validate: %v; schema: %v", tt.valid, decoderErr, schemaErr)
			}
		})
	}
}

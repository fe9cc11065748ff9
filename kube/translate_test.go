package kube

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"flag"
	"fmt"
	"maps"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"sigs.k8s.io/yaml"

	"github.com/rampart-proxy/rampart/proxy"
)

// snapshot reads objects written as a user writes them (YAML, --- between).
func snapshot(t *testing.T, docs string) Snapshot {
	t.Helper()
	var s Snapshot
	for _, doc := range strings.Split(docs, "\n---\n") {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		var meta struct{ Kind string }
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatal(err)
		}
		var err error
		switch meta.Kind {
		case "Ingress":
			s.Ingresses, err = appendDecoded(s.Ingresses, doc)
		case "IngressClass":
			s.IngressClasses, err = appendDecoded(s.IngressClasses, doc)
		case "Service":
			s.Services, err = appendDecoded(s.Services, doc)
		case "EndpointSlice":
			s.EndpointSlices, err = appendDecoded(s.EndpointSlices, doc)
		case "Secret":
			if strings.Contains(doc, "type: kubernetes.io/tls") {
				s.Secrets, err = appendDecoded(s.Secrets, doc)
			} else {
				s.AuthSecrets, err = appendDecoded(s.AuthSecrets, doc) // fetched by name, as AuthSecretNames asks
			}
		default:
			t.Fatalf("kind %q", meta.Kind)
		}
		if err != nil {
			t.Fatalf("%v:\n%s", err, doc)
		}
	}
	return s
}

// appendDecoded decodes doc strictly (an unknown field is a mistake in the
// fixture) and appends it.
func appendDecoded[T any](list []T, doc string) ([]T, error) {
	var o T
	err := yaml.UnmarshalStrict([]byte(doc), &o)
	return append(list, o), err
}

// describe renders sites as one line per route: host, match, action.
func describe(sites []proxy.Site) string {
	var b strings.Builder
	for _, s := range sites {
		for _, r := range s.Routes {
			kind := "prefix"
			if r.Match.Kind == proxy.PathExact {
				kind = "exact"
			}
			fmt.Fprintf(&b, "%s %s %s -> ", strings.Join(s.Hosts, ","), kind, r.Match.Path)
			switch {
			case r.Pool != nil:
				var m []string
				for _, u := range r.Pool.Members {
					m = append(m, u.Host)
				}
				fmt.Fprintf(&b, "pool %s [%s]", r.Pool.Name, strings.Join(m, " "))
			case r.Respond != nil:
				fmt.Fprintf(&b, "respond %d", r.Respond.Status)
			case r.Redirect != nil:
				fmt.Fprintf(&b, "redirect %d %s", r.Redirect.Status, r.Redirect.To)
			}
			if r.Pool != nil && len(r.Pool.Members) > 0 && r.Pool.Members[0].Scheme != "http" {
				fmt.Fprintf(&b, " scheme=%s", r.Pool.Members[0].Scheme)
			}
			if r.Pool != nil && r.Pool.Balance != proxy.RoundRobin {
				fmt.Fprintf(&b, " balance=%s", r.Pool.Balance)
			}
			if r.Rewrite != nil {
				fmt.Fprintf(&b, " rewrite=%s→%q", r.Rewrite.Regexp, r.Rewrite.To)
			}
			if r.UpstreamHost != "" {
				fmt.Fprintf(&b, " host=%s", r.UpstreamHost)
			}
			if p := r.Policy; !reflect.DeepEqual(p, proxy.Policy{}) {
				fmt.Fprintf(&b, " policy{")
				if p.MaxBodyBytes != 0 {
					fmt.Fprintf(&b, " body=%d", p.MaxBodyBytes)
				}
				if p.Timeout != 0 {
					fmt.Fprintf(&b, " timeout=%s", p.Timeout)
				}
				if len(p.Allow)+len(p.Deny) > 0 {
					fmt.Fprintf(&b, " allow=%v deny=%v", p.Allow, p.Deny)
				}
				if rl := p.RateLimit; rl != nil {
					fmt.Fprintf(&b, " rate=%g burst=%d", rl.Rate, rl.Burst)
				}
				if ba := p.BasicAuth; ba != nil {
					users := slices.Sorted(maps.Keys(ba.Users))
					fmt.Fprintf(&b, " auth=%s%v", ba.Realm, users)
				}
				if p.CSP != "" || p.HSTS != "" {
					fmt.Fprintf(&b, " csp=%q hsts=%q", p.CSP, p.HSTS)
				}
				b.WriteString(" }")
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}

const cluster = `
kind: IngressClass
apiVersion: networking.k8s.io/v1
metadata:
  name: rampart
  annotations: {ingressclass.kubernetes.io/is-default-class: "true"}
spec: {controller: rampart-proxy.io/ingress-controller}
---
kind: IngressClass
apiVersion: networking.k8s.io/v1
metadata: {name: nginx}
spec: {controller: k8s.io/ingress-nginx}
---
kind: Service
apiVersion: v1
metadata: {name: shop, namespace: web}
spec:
  ports: [{name: http, port: 80, targetPort: 8080}]
---
kind: EndpointSlice
apiVersion: discovery.k8s.io/v1
metadata: {name: shop-abc, namespace: web, labels: {kubernetes.io/service-name: shop}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints:
  - addresses: [10.1.0.2]
    conditions: {ready: true}
  - addresses: [10.1.0.3]
    conditions: {ready: false}
  - addresses: [10.1.0.4]
    conditions: {ready: true, terminating: true}
  - addresses: [10.1.0.1]
---
kind: EndpointSlice
apiVersion: discovery.k8s.io/v1
metadata: {name: shop-def, namespace: web, labels: {kubernetes.io/service-name: shop}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints:
  - addresses: [10.1.0.5]
---
kind: Service
apiVersion: v1
metadata: {name: api, namespace: web}
spec:
  clusterIP: None
  ports: [{port: 9000}]
---
kind: EndpointSlice
apiVersion: discovery.k8s.io/v1
metadata: {name: api-1, namespace: web, labels: {kubernetes.io/service-name: api}}
addressType: IPv4
ports: [{name: "", port: 9000}]
endpoints:
  - addresses: [10.2.0.1]
---
kind: Service
apiVersion: v1
metadata: {name: idle, namespace: web}
spec:
  ports: [{port: 80}]
---
kind: Service
apiVersion: v1
metadata: {name: outside, namespace: web}
spec: {type: ExternalName, externalName: metadata.google.internal, ports: [{port: 80}]}
`

func ingress(name, created, class, spec string) string {
	meta := "metadata: {name: " + name + ", namespace: web, creationTimestamp: \"" + created + "\"}"
	if class != "" {
		spec = "ingressClassName: " + class + "\n  " + spec
	}
	return "\n---\nkind: Ingress\napiVersion: networking.k8s.io/v1\n" + meta + "\nspec:\n  " + spec + "\n"
}

// TestTranslate: Ingress objects, as written, become sites; each that
// cannot be served is left out whole with a problem, and the others stay.
func TestTranslate(t *testing.T) {
	shop := ingress("shop", "2026-01-01T00:00:00Z", "rampart", `rules:
    - host: shop.example.com
      http:
        paths:
          - {path: /api, pathType: Prefix, backend: {service: {name: api, port: {number: 9000}}}}
          - {path: /healthz, pathType: Exact, backend: {service: {name: shop, port: {name: http}}}}
          - {path: /, pathType: ImplementationSpecific, backend: {service: {name: shop, port: {number: 80}}}}
    - host: "*.tenants.example.com"
      http:
        paths:
          - {path: /, pathType: Prefix, backend: {service: {name: idle, port: {number: 80}}}}`)
	for _, tt := range []struct {
		name, objects string
		want          string
		problems      []string // "ns/name Reason", in order
	}{
		{"the cluster's shop", shop, `*.tenants.example.com prefix / -> respond 503
shop.example.com prefix /api -> pool web/api:9000 [10.2.0.1:9000]
shop.example.com exact /healthz -> pool web/shop:http [10.1.0.1:8080 10.1.0.2:8080 10.1.0.5:8080]
shop.example.com prefix / -> pool web/shop:80 [10.1.0.1:8080 10.1.0.2:8080 10.1.0.5:8080]
`, nil},
		{"another class is ignored", ingress("other", "2026-01-01T00:00:00Z", "nginx",
			`rules: [{host: other.example.com, http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: shop, port: {number: 80}}}}]}}]`), "", nil},
		{"no class: the default class, rampart's", ingress("plain", "2026-01-01T00:00:00Z", "",
			`rules: [{host: plain.example.com, http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: api, port: {number: 9000}}}}]}}]`),
			"plain.example.com prefix / -> pool web/api:9000 [10.2.0.1:9000]\n", nil},
		{"the legacy annotation names another class", strings.Replace(ingress("legacy", "2026-01-01T00:00:00Z", "",
			`rules: [{host: legacy.example.com, http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: api, port: {number: 9000}}}}]}}]`),
			"creationTimestamp:", "annotations: {kubernetes.io/ingress.class: nginx}, creationTimestamp:", 1), "", nil},
		{"a missing Service leaves that Ingress out, not the others", shop + ingress("broken", "2026-02-01T00:00:00Z", "rampart",
			`rules: [{host: broken.example.com, http: {paths: [{path: /ok, pathType: Prefix, backend: {service: {name: api, port: {number: 9000}}}}, {path: /, pathType: Prefix, backend: {service: {name: gone, port: {number: 80}}}}]}}]`),
			`*.tenants.example.com prefix / -> respond 503
shop.example.com prefix /api -> pool web/api:9000 [10.2.0.1:9000]
shop.example.com exact /healthz -> pool web/shop:http [10.1.0.1:8080 10.1.0.2:8080 10.1.0.5:8080]
shop.example.com prefix / -> pool web/shop:80 [10.1.0.1:8080 10.1.0.2:8080 10.1.0.5:8080]
`, []string{"web/broken InvalidBackend"}},
		{"a port the Service lacks", ingress("port", "2026-01-01T00:00:00Z", "rampart",
			`rules: [{host: p.example.com, http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: shop, port: {number: 81}}}}]}}]`), "", []string{"web/port InvalidBackend"}},
		{"ExternalName is refused", ingress("ext", "2026-01-01T00:00:00Z", "rampart",
			`rules: [{host: e.example.com, http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: outside, port: {number: 80}}}}]}}]`), "", []string{"web/ext InvalidBackend"}},
		{"a resource backend is refused", ingress("res", "2026-01-01T00:00:00Z", "rampart",
			`rules: [{host: r.example.com, http: {paths: [{path: /, pathType: Prefix, backend: {resource: {kind: Bucket, name: b}}}]}}]`), "", []string{"web/res InvalidBackend"}},
		{"a rule without host is not served (every name: rampart holds a certificate per name)", ingress("nohost", "2026-01-01T00:00:00Z", "rampart",
			`defaultBackend: {service: {name: api, port: {number: 9000}}}
  rules: [{http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: api, port: {number: 9000}}}}]}}]`), "", []string{"web/nohost Unsupported"}},
		{"nor a default backend alone", ingress("onlydefault", "2026-01-01T00:00:00Z", "rampart",
			`defaultBackend: {service: {name: api, port: {number: 9000}}}`), "", []string{"web/onlydefault Unsupported"}},
		{"a default backend takes what the rules' paths do not, for their hosts", ingress("fallback", "2026-01-01T00:00:00Z", "rampart",
			`defaultBackend: {service: {name: shop, port: {number: 80}}}
  rules: [{host: d.example.com, http: {paths: [{path: /api, pathType: Prefix, backend: {service: {name: api, port: {number: 9000}}}}]}}, {host: e.example.com, http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: api, port: {number: 9000}}}}]}}]`),
			`d.example.com prefix /api -> pool web/api:9000 [10.2.0.1:9000]
d.example.com prefix / -> pool web/shop:80 [10.1.0.1:8080 10.1.0.2:8080 10.1.0.5:8080]
e.example.com prefix / -> pool web/api:9000 [10.2.0.1:9000]
`, nil},
		{"a default backend's / yields to an older Ingress's /", shop + ingress("later-default", "2026-03-01T00:00:00Z", "rampart",
			`defaultBackend: {service: {name: api, port: {number: 9000}}}
  rules: [{host: shop.example.com, http: {paths: [{path: /more, pathType: Prefix, backend: {service: {name: api, port: {number: 9000}}}}]}}]`),
			`*.tenants.example.com prefix / -> respond 503
shop.example.com prefix /api -> pool web/api:9000 [10.2.0.1:9000]
shop.example.com exact /healthz -> pool web/shop:http [10.1.0.1:8080 10.1.0.2:8080 10.1.0.5:8080]
shop.example.com prefix / -> pool web/shop:80 [10.1.0.1:8080 10.1.0.2:8080 10.1.0.5:8080]
shop.example.com prefix /more -> pool web/api:9000 [10.2.0.1:9000]
`, nil},
		{"a path the older Ingress holds: the newer is left out", shop + ingress("later", "2026-03-01T00:00:00Z", "rampart",
			`rules: [{host: shop.example.com, http: {paths: [{path: /extra, pathType: Prefix, backend: {service: {name: api, port: {number: 9000}}}}, {path: /api, pathType: Prefix, backend: {service: {name: shop, port: {number: 80}}}}]}}]`),
			`*.tenants.example.com prefix / -> respond 503
shop.example.com prefix /api -> pool web/api:9000 [10.2.0.1:9000]
shop.example.com exact /healthz -> pool web/shop:http [10.1.0.1:8080 10.1.0.2:8080 10.1.0.5:8080]
shop.example.com prefix / -> pool web/shop:80 [10.1.0.1:8080 10.1.0.2:8080 10.1.0.5:8080]
`, []string{"web/later PathConflict"}},
		{"a path the older Ingress holds, written otherwise (case, trailing slash): the newer is left out", ingress("open", "2026-01-01T00:00:00Z", "rampart",
			`rules: [{host: m.example.com, http: {paths: [{path: /admin/, pathType: Prefix, backend: {service: {name: api, port: {number: 9000}}}}]}}]`) +
			ingress("guarded", "2026-02-01T00:00:00Z", "rampart",
				`rules: [{host: m.example.com, http: {paths: [{path: /Admin, pathType: Prefix, backend: {service: {name: api, port: {number: 9000}}}}]}}]`),
			"m.example.com prefix /admin/ -> pool web/api:9000 [10.2.0.1:9000]\n", []string{"web/guarded PathConflict"}},
		{"an EndpointSlice of names is not followed, as an ExternalName Service is not", `
---
kind: Service
apiVersion: v1
metadata: {name: named, namespace: web}
spec: {ports: [{name: http, port: 80}]}
---
kind: EndpointSlice
apiVersion: discovery.k8s.io/v1
metadata: {name: named-1, namespace: web, labels: {kubernetes.io/service-name: named}}
addressType: FQDN
ports: [{name: http, port: 80}]
endpoints: [{addresses: [metadata.google.internal]}]
` + ingress("fqdn", "2026-01-01T00:00:00Z", "rampart", `rules: [{host: f.example.com, http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: named, port: {number: 80}}}}]}}]`),
			"f.example.com prefix / -> respond 503\n", nil},
		{"two Ingresses share a host: paths merge, oldest first", ingress("b", "2026-02-01T00:00:00Z", "rampart",
			`rules: [{host: m.example.com, http: {paths: [{path: /b, pathType: Prefix, backend: {service: {name: api, port: {number: 9000}}}}]}}]`) +
			ingress("a", "2026-01-01T00:00:00Z", "rampart",
				`rules: [{host: m.example.com, http: {paths: [{path: /a, pathType: Exact, backend: {service: {name: api, port: {number: 9000}}}}]}}]`),
			"m.example.com exact /a -> pool web/api:9000 [10.2.0.1:9000]\nm.example.com prefix /b -> pool web/api:9000 [10.2.0.1:9000]\n", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := Translate(snapshot(t, cluster+tt.objects), Options{})
			if got := describe(res.Sites); got != tt.want {
				t.Errorf("sites:\n%s\nwant:\n%s", got, tt.want)
			}
			var got []string
			for _, p := range res.Problems {
				got = append(got, p.Ingress+" "+p.Reason)
				if p.Message == "" {
					t.Errorf("a problem without a message: %+v", p)
				}
			}
			if strings.Join(got, "; ") != strings.Join(tt.problems, "; ") {
				t.Errorf("problems %q; want %q (%+v)", got, tt.problems, res.Problems)
			}
			if len(res.Sites) > 0 {
				if _, err := proxy.New(proxy.Config{Sites: res.Sites}); err != nil {
					t.Errorf("the sites do not make a table: %v", err)
				}
			}
		})
	}
}

// TestTranslateExternalNameAllowed: with the setting, an ExternalName
// Service is followed by its name.
func TestTranslateExternalNameAllowed(t *testing.T) {
	s := snapshot(t, cluster+ingress("ext", "2026-01-01T00:00:00Z", "rampart",
		`rules: [{host: e.example.com, http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: outside, port: {number: 80}}}}]}}]`))
	res := Translate(s, Options{AllowExternalName: true})
	if got := describe(res.Sites); got != "e.example.com prefix / -> pool web/outside:80 [metadata.google.internal:80]\n" || len(res.Problems) != 0 {
		t.Errorf("sites %q, problems %+v", got, res.Problems)
	}
}

// selfSigned makes a PEM pair for names, valid for a day from now.
func selfSigned(t *testing.T, names ...string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

// tlsSecret is a kubernetes.io/tls Secret as cert-manager writes one.
func tlsSecret(t *testing.T, name string, names ...string) string {
	c, k := selfSigned(t, names...)
	return fmt.Sprintf("\n---\nkind: Secret\napiVersion: v1\nmetadata: {name: %s, namespace: web, resourceVersion: \"7\"}\ntype: kubernetes.io/tls\ndata: {tls.crt: %s, tls.key: %s}\n",
		name, base64.StdEncoding.EncodeToString(c), base64.StdEncoding.EncodeToString(k))
}

// TestTranslateTLS: a spec.tls Secret is served for the rules' hosts it
// names; one that is missing, broken, expired or does not cover a host
// leaves the Ingress out with a problem, and so does a host two Ingresses
// give different Secrets.
func TestTranslateTLS(t *testing.T) {
	rule := func(host string) string {
		return `{host: "` + host + `", http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: api, port: {number: 9000}}}}]}}`
	}
	shopTLS := ingress("shop", "2026-01-01T00:00:00Z", "rampart", `tls: [{hosts: [shop.example.com, www.example.com, unused.example.com], secretName: shop-tls}]
  rules: [`+rule("shop.example.com")+`, `+rule("www.example.com")+`, `+rule("acme.example.com")+`]`)
	shopSecret := tlsSecret(t, "shop-tls", "shop.example.com", "www.example.com")
	for _, tt := range []struct {
		name, objects string
		now           time.Time
		certs         string // "secret: hosts" per pair
		problems      []string
	}{
		{"served for the hosts it names; a host without one is left to ACME", cluster + shopSecret + shopTLS, time.Time{},
			"web/shop-tls: shop.example.com www.example.com", nil},
		{"the Secret not there yet: the Ingress waits", cluster + shopTLS, time.Time{}, "", []string{"web/shop SecretMissing"}},
		{"a Secret that does not cover a host", cluster + tlsSecret(t, "shop-tls", "shop.example.com") + shopTLS, time.Time{}, "", []string{"web/shop InvalidTLS"}},
		{"an expired certificate", cluster + shopSecret + shopTLS, time.Now().Add(48 * time.Hour), "", []string{"web/shop InvalidTLS"}},
		{"a broken pair", cluster + strings.Replace(shopSecret, "tls.key: ", "tls.key: AAAA", 1) + shopTLS, time.Time{}, "", []string{"web/shop InvalidTLS"}},
		{"a wildcard Secret for a wildcard host", cluster + tlsSecret(t, "wild", "*.tenants.example.com") + ingress("w", "2026-01-01T00:00:00Z", "rampart",
			`tls: [{hosts: ["*.tenants.example.com"], secretName: wild}]
  rules: [`+rule("*.tenants.example.com")+`]`), time.Time{}, "web/wild: *.tenants.example.com", nil},
		{"two Secrets for one host: the newer Ingress is left out", cluster + shopSecret + shopTLS + tlsSecret(t, "other", "shop.example.com") +
			ingress("later", "2026-02-01T00:00:00Z", "rampart", `tls: [{hosts: [shop.example.com], secretName: other}]
  rules: [{host: shop.example.com, http: {paths: [{path: /later, pathType: Prefix, backend: {service: {name: api, port: {number: 9000}}}}]}}]`),
			time.Time{}, "web/shop-tls: shop.example.com www.example.com", []string{"web/later TLSConflict"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := Translate(snapshot(t, tt.objects), Options{Now: tt.now})
			var certs, problems []string
			for _, c := range res.Certs {
				certs = append(certs, c.Secret+": "+strings.Join(c.Hosts, " "))
				if len(c.CertPEM) == 0 || len(c.KeyPEM) == 0 || c.ResourceVersion != "7" {
					t.Errorf("pair %s without its PEM or version", c.Secret)
				}
			}
			for _, p := range res.Problems {
				problems = append(problems, p.Ingress+" "+p.Reason)
			}
			if strings.Join(certs, "; ") != tt.certs || strings.Join(problems, "; ") != strings.Join(tt.problems, "; ") {
				t.Errorf("certs %q problems %q; want %q and %q (%+v)", certs, problems, tt.certs, tt.problems, res.Problems)
			}
			if len(tt.problems) > 0 && strings.HasPrefix(tt.problems[0], "web/shop ") && len(res.Sites) != 0 {
				t.Errorf("the Ingress waiting for its Secret is served: %s", describe(res.Sites))
			}
		})
	}
}

// TestTranslateAnnotations: ingress-nginx's annotations, as migrated
// manifests carry them, become routes, policies and pools; where rampart
// differs the Ingress is served with a problem saying how (Served); raw
// configuration, an access control rampart cannot enforce, and a value
// that does not parse leave the Ingress out.
func TestTranslateAnnotations(t *testing.T) {
	const n = "nginx.ingress.kubernetes.io/"
	rules := `rules: [{host: a.example.com, http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: api, port: {number: 9000}}}}]}}]`
	with := func(annotations, spec string) string {
		return strings.Replace(ingress("ann", "2026-01-01T00:00:00Z", "rampart", spec), "creationTimestamp:", "annotations: {"+annotations+"}, creationTimestamp:", 1)
	}
	for _, tt := range []struct {
		name, objects string
		want          string
		problems      []string // "Reason annotation", Served ones marked +
	}{
		{"honoured: body size, read timeout, ranges, upstream host, gRPC", with(n+`proxy-body-size: 8m, `+n+`proxy-read-timeout: "30", `+n+`whitelist-source-range: "10.0.0.0/8, 192.168.1.7", `+n+`denylist-source-range: 10.9.0.0/16, `+n+`upstream-vhost: internal.svc, `+n+`backend-protocol: GRPC, `+n+`ssl-redirect: "true"`, rules),
			"a.example.com prefix / -> pool web/api:9000 [10.2.0.1:9000] scheme=h2c host=internal.svc policy{ body=8388608 timeout=30s allow=[10.0.0.0/8 192.168.1.7/32] deny=[10.9.0.0/16] }\n", nil},
		{"a read timeout over --upstream-timeout is capped", with(n+`proxy-read-timeout: "600"`, rules),
			"a.example.com prefix / -> pool web/api:9000 [10.2.0.1:9000] policy{ timeout=2m0s }\n", []string{"+AnnotationDiffers " + n + "proxy-read-timeout"}},
		{"rewrite-target with capture groups (the documented example)", with(n+`rewrite-target: /$2, `+n+`use-regex: "true"`,
			`rules: [{host: a.example.com, http: {paths: [{path: "/something(/|$)(.*)", pathType: ImplementationSpecific, backend: {service: {name: api, port: {number: 9000}}}}]}}]`),
			"a.example.com prefix /something -> pool web/api:9000 [10.2.0.1:9000] rewrite=(?i)^/something(/|$)(.*)→\"/$2\"\n", []string{"+AnnotationDiffers " + n + "use-regex"}},
		{"rewrite-target: / sends every request under the path to / (ingress-nginx's behaviour since 0.22)", with(n+`rewrite-target: /`,
			`rules: [{host: a.example.com, http: {paths: [{path: /app, pathType: Exact, backend: {service: {name: api, port: {number: 9000}}}}]}}]`),
			"a.example.com prefix /app -> pool web/api:9000 [10.2.0.1:9000] rewrite=(?i)^/app→\"/\"\n", []string{"+RegexWider"}},
		{"an expression inside a segment routes by the segments before it", with(n+`use-regex: "true"`,
			`rules: [{host: a.example.com, http: {paths: [{path: "/api/v[0-9]+/.*", pathType: ImplementationSpecific, backend: {service: {name: api, port: {number: 9000}}}}]}}]`),
			"a.example.com prefix /api -> pool web/api:9000 [10.2.0.1:9000] rewrite=(?i)^/api/v[0-9]+/.*→\"\"\n", []string{"+AnnotationDiffers " + n + "use-regex"}},
		{"permanent redirect, with its code", with(n+`permanent-redirect: "https://new.example.com/", `+n+`permanent-redirect-code: "308"`, rules),
			"a.example.com prefix / -> redirect 308 https://new.example.com/\n", nil},
		{"temporal redirect wins over permanent, as in ingress-nginx", with(n+`permanent-redirect: "https://p.example.com/", `+n+`temporal-redirect: "https://t.example.com/"`, rules),
			"a.example.com prefix / -> redirect 302 https://t.example.com/\n", nil},
		{"app-root", with(n+`app-root: /shop`, rules),
			"a.example.com exact / -> redirect 302 /shop\na.example.com prefix / -> pool web/api:9000 [10.2.0.1:9000]\n", nil},
		{"limit-rps with the burst multiplier; affinity by address", with(n+`limit-rps: "10", `+n+`limit-burst-multiplier: "3", `+n+`affinity: cookie, `+n+`session-cookie-name: route`, rules),
			"a.example.com prefix / -> pool web/api:9000 [10.2.0.1:9000] balance=client_hash policy{ rate=10 burst=30 }\n",
			[]string{"+AnnotationDiffers " + n + "affinity", "+AnnotationDiffers " + n + "limit-rps"}},
		{"rampart's own", with(`rampart-proxy.io/csp: "frame-ancestors 'none'", rampart-proxy.io/hsts: max-age=300, rampart-proxy.io/rate-limit: 5/s, rampart-proxy.io/rate-limit-burst: "20"`, rules),
			"a.example.com prefix / -> pool web/api:9000 [10.2.0.1:9000] policy{ rate=5 burst=20 csp=\"frame-ancestors 'none'\" hsts=\"max-age=300\" }\n", nil},
		{"differs: ssl-redirect false, HTTPS backends verified, connect and send timeouts, body size 0, unknown annotations", with(n+`ssl-redirect: "false", `+n+`backend-protocol: HTTPS, `+n+`proxy-connect-timeout: "5", `+n+`proxy-send-timeout: "5", `+n+`proxy-body-size: "0", `+n+`enable-cors: "true", `+n+`session-cookie-name: x`, rules),
			"a.example.com prefix / -> pool web/api:9000 [10.2.0.1:9000] scheme=https\n",
			[]string{"+AnnotationDiffers " + n + "backend-protocol", "+AnnotationDiffers " + n + "enable-cors", "+AnnotationDiffers " + n + "proxy-body-size",
				"+AnnotationDiffers " + n + "proxy-connect-timeout", "+AnnotationDiffers " + n + "proxy-send-timeout", "+AnnotationDiffers " + n + "session-cookie-name", "+AnnotationDiffers " + n + "ssl-redirect"}},
		{"snippets are refused", with(n+`configuration-snippet: "more_set_headers 'X: y';"`, rules), "", []string{"AnnotationRefused " + n + "configuration-snippet"}},
		{"raw configuration in auth-url is refused", with(n+`auth-url: "http://auth.svc/verify"`, rules), "", []string{"AnnotationRefused " + n + "auth-url"}},
		{"basic auth from an htpasswd Secret (bcrypt)", authSecret("users", "auth: "+b64("alice:"+bcryptHash(t, "pw")+"\n")) + with(n+`auth-type: basic, `+n+`auth-secret: users, `+n+`auth-realm: Staff`, rules),
			"a.example.com prefix / -> pool web/api:9000 [10.2.0.1:9000] policy{ auth=Staff[alice] }\n", nil},
		{"basic auth from an auth-map Secret", authSecret("users", "bob: "+b64(bcryptHash(t, "pw"))) + with(n+`auth-type: basic, `+n+`auth-secret: web/users, `+n+`auth-secret-type: auth-map`, rules),
			"a.example.com prefix / -> pool web/api:9000 [10.2.0.1:9000] policy{ auth=[bob] }\n", nil},
		{"basic auth whose Secret is missing is refused, never served open", with(n+`auth-type: basic, `+n+`auth-secret: users`, rules), "", []string{"AnnotationRefused " + n + "auth-type"}},
		{"htpasswd's MD5 (its default) is refused: rampart checks bcrypt", authSecret("users", "auth: "+b64("alice:$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/\n")) + with(n+`auth-type: basic, `+n+`auth-secret: users`, rules), "", []string{"AnnotationRefused " + n + "auth-type"}},
		{"a Secret of another namespace is refused", authSecret("users", "auth: "+b64("alice:"+bcryptHash(t, "pw")+"\n")) + with(n+`auth-type: basic, `+n+`auth-secret: other/users`, rules), "", []string{"AnnotationRefused " + n + "auth-type"}},
		{"digest is refused", with(n+`auth-type: digest, `+n+`auth-secret: users`, rules), "", []string{"AnnotationRefused " + n + "auth-type"}},
		{"a value that does not parse", with(n+`proxy-read-timeout: 60s`, rules), "", []string{"AnnotationRefused " + n + "proxy-read-timeout"}},
		{"a bad range", with(n+`whitelist-source-range: "10.0.0.0/33"`, rules), "", []string{"AnnotationRefused " + n + "whitelist-source-range"}},
		{"a redirect with nginx variables", with(n+`permanent-redirect: "https://x.example.com$request_uri"`, rules), "", []string{"AnnotationRefused " + n + "permanent-redirect"}},
		{"FastCGI", with(n+`backend-protocol: FCGI`, rules), "", []string{"AnnotationRefused " + n + "backend-protocol"}},
		{"a misspelt rampart annotation", with(`rampart-proxy.io/cps: "default-src 'self'"`, rules), "", []string{"AnnotationRefused rampart-proxy.io/cps"}},
		{"a policy the proxy refuses leaves the Ingress out (every route is checked, app-root's too)", with(`rampart-proxy.io/hsts: bogus, `+n+`app-root: /app`, `rules: [{host: a.example.com}]`),
			"", []string{"InvalidPath"}},
		{"8mb is not a size", with(n+`proxy-body-size: 8mb`, rules), "", []string{"AnnotationRefused " + n + "proxy-body-size"}},
		{"an IPv4 range written as IPv6 is compared as IPv4", with(n+`denylist-source-range: "::ffff:10.0.0.0/104, ::ffff:192.0.2.1"`, rules),
			"a.example.com prefix / -> pool web/api:9000 [10.2.0.1:9000] policy{ allow=[] deny=[10.0.0.0/8 192.0.2.1/32] }\n", nil},
		{"an auth-secret of another namespace is refused", with(n+`auth-type: basic, `+n+`auth-secret: kube-system/users`, rules), "", []string{"AnnotationRefused " + n + "auth-type"}},
		{"two expressions with one literal start", with(n+`use-regex: "true"`,
			`rules: [{host: a.example.com, http: {paths: [{path: "/a(/|$)(.*)", pathType: ImplementationSpecific, backend: {service: {name: api, port: {number: 9000}}}}, {path: "/a/(.*)", pathType: ImplementationSpecific, backend: {service: {name: api, port: {number: 9000}}}}]}}]`),
			"", []string{"+AnnotationDiffers " + n + "use-regex", "PathConflict"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := Translate(snapshot(t, cluster+tt.objects), Options{MaxTimeout: 2 * time.Minute})
			if got := describe(res.Sites); got != tt.want {
				t.Errorf("sites:\n%s\nwant:\n%s", got, tt.want)
			}
			var got []string
			for _, p := range res.Problems {
				mark := ""
				if p.Served {
					mark = "+"
				}
				ann, _, _ := strings.Cut(p.Message, ": ")
				if !strings.HasPrefix(p.Reason, "Annotation") {
					ann = ""
				}
				got = append(got, strings.TrimSpace(mark+p.Reason+" "+ann))
			}
			if strings.Join(got, "; ") != strings.Join(tt.problems, "; ") {
				t.Errorf("problems %q; want %q (%+v)", got, tt.problems, res.Problems)
			}
			if len(res.Sites) > 0 {
				if _, err := proxy.New(proxy.Config{Sites: res.Sites}); err != nil {
					t.Errorf("the sites do not make a table: %v", err)
				}
			}
		})
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func bcryptHash(t *testing.T, pw string) string {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// authSecret is an Opaque Secret of web, with data as YAML's flow map body.
func authSecret(name, data string) string {
	return "\n---\nkind: Secret\napiVersion: v1\nmetadata: {name: " + name + ", namespace: web}\ntype: Opaque\ndata: {" + data + "}\n"
}

var update = flag.Bool("update", false, "rewrite the golden files of TestGolden")

// TestGolden: each testdata/golden/NAME.yaml (Ingresses and what they name,
// as users write them) translates to the route table and problems in
// NAME.golden. After a deliberate change: go test ./kube -run TestGolden
// -update, then read the diff as a reviewer would.
func TestGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/golden/*.yaml")
	if len(files) == 0 {
		t.Fatal("no golden fixtures")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			docs := regexp.MustCompile(`(?m)^#.*\n`).ReplaceAllString(string(data), "")
			res := Translate(snapshot(t, docs), Options{MaxTimeout: time.Minute, Now: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)})
			var b strings.Builder
			b.WriteString(describe(res.Sites))
			for _, p := range res.Problems {
				served := "left out"
				if p.Served {
					served = "served"
				}
				fmt.Fprintf(&b, "problem %s (%s) %s: %s\n", p.Ingress, served, p.Reason, p.Message)
			}
			golden := strings.TrimSuffix(file, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (write it with -update)", err)
			}
			if b.String() != string(want) {
				t.Errorf("%s differs from %s:\n%s", file, golden, b.String())
			}
			if _, err := proxy.New(proxy.Config{Sites: res.Sites, AllowEmpty: true}); err != nil {
				t.Errorf("the sites do not make a table: %v", err)
			}
		})
	}
}

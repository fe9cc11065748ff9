// Package kube owns rampart's Kubernetes source: turning the cluster's
// Ingress objects, and the IngressClasses, Services and EndpointSlices they
// name, into the route table's sites. Translate is pure: a snapshot in, the
// sites and the problems (each to become an Event on its Ingress) out. An
// Ingress that cannot be served is left out whole and never breaks the
// others. The informers that feed it, Events, status and the Secret-backed
// certificate cache stand beside it (issue 15).
package kube

import (
	"cmp"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/rampart-proxy/rampart/proxy"
)

// ControllerName is the IngressClass controller rampart answers for.
const ControllerName = "rampart-proxy.io/ingress-controller"

const (
	defaultClassAnnotation = "ingressclass.kubernetes.io/is-default-class"
	legacyClassAnnotation  = "kubernetes.io/ingress.class"
	serviceNameLabel       = "kubernetes.io/service-name"
)

// Snapshot is what Translate reads: the objects as the informers hold them.
// The zero value holds nothing.
type Snapshot struct {
	Ingresses      []networkingv1.Ingress
	IngressClasses []networkingv1.IngressClass
	Services       []corev1.Service
	EndpointSlices []discoveryv1.EndpointSlice
	// Secrets are those of type kubernetes.io/tls: the spec.tls pairs.
	Secrets []corev1.Secret
	// AuthSecrets are the Secrets that auth-secret annotations name
	// (AuthSecretNames), fetched one by one: no other is ever cached. An
	// Ingress whose Secret is not among them is not served (but see
	// Options.FromFiles).
	AuthSecrets []corev1.Secret
}

// Options are the settings that change the translation. The zero value is
// the hardened default.
type Options struct {
	// AllowExternalName lets a backend be a Service of type ExternalName
	// (a DNS name outside the cluster's view). False refuses it: such a
	// Service can point an Ingress at anything, the cloud's metadata
	// service included.
	AllowExternalName bool
	// WildcardNeedsSecret refuses a wildcard host without a spec.tls
	// Secret: ACME's HTTP and TLS-ALPN challenges cannot prove a wildcard.
	WildcardNeedsSecret bool
	// MaxTimeout is the longest a route may wait for its backend's
	// response headers (--upstream-timeout); proxy-read-timeout is capped
	// to it. Zero: no cap.
	MaxTimeout time.Duration
	// FromFiles is for rampart migrate on files: the Secrets that
	// auth-secret names cannot be read, and are taken to exist. False (the
	// controller): a Secret not in Snapshot.AuthSecrets is missing.
	FromFiles bool
	// Pairs, if not nil, remembers the spec.tls pairs checked by earlier
	// translations (keep one across rebuilds). Nil checks each every time.
	Pairs *PairCache
	// Now is when a spec.tls certificate must be valid. The zero value
	// means time.Now().
	Now time.Time
}

// Problem is why an Ingress, or a part of it, is not served.
type Problem struct {
	// Ingress is "namespace/name".
	Ingress string
	// Reason is short and stable, for an Event's reason field.
	Reason string
	// Message says what is wrong and what to do.
	Message string
	// Served is true when the Ingress is served regardless, with this part
	// working otherwise than asked (an annotation rampart reads
	// differently, or ignores); false when the Ingress is left out.
	Served bool
}

// Result is a translation: the sites to serve and the problems met.
type Result struct {
	Sites    []proxy.Site
	Problems []Problem
	// Served names the Ingresses taken, as "namespace/name", in the order
	// their rules were applied (oldest first).
	Served []string
	// Certs are the spec.tls pairs of the Ingresses served, for their
	// hosts; a host of a served Ingress with none gets its certificate
	// from rampart's own source (ACME).
	Certs []Cert
}

// Cert is a spec.tls Secret, served by SNI for Hosts. Every one has been
// checked: it parses, the key matches, it is valid now and covers each host.
type Cert struct {
	// Secret is "namespace/name".
	Secret string
	// Hosts are the rules' hosts it serves, sorted.
	Hosts []string
	// CertPEM and KeyPEM are the Secret's tls.crt and tls.key.
	CertPEM, KeyPEM []byte
	// ResourceVersion is the Secret's, so that a rotation is seen as a change.
	ResourceVersion string
}

// unavailable is the answer for a backend with no ready endpoint, as
// ingress-nginx gives it.
var unavailable = &proxy.Respond{Status: 503, Body: "503 Service Unavailable: no ready endpoint for this backend.\n"}

// index is a snapshot with its objects found by name, built once per
// Translate: a cluster's thousand Ingresses look up their Services,
// EndpointSlices and Secrets without scanning every list.
type index struct {
	Snapshot
	services map[string]*corev1.Service              // by namespace/name
	slices   map[string][]*discoveryv1.EndpointSlice // by namespace/the Service's name
	tls      map[string]*corev1.Secret               // kubernetes.io/tls ones, by namespace/name
}

func newIndex(s Snapshot) *index {
	x := &index{Snapshot: s, services: map[string]*corev1.Service{}, slices: map[string][]*discoveryv1.EndpointSlice{}, tls: map[string]*corev1.Secret{}}
	for i := range s.Services {
		x.services[s.Services[i].Namespace+"/"+s.Services[i].Name] = &s.Services[i]
	}
	for i := range s.EndpointSlices {
		es := &s.EndpointSlices[i]
		if svc := es.Labels[serviceNameLabel]; svc != "" {
			x.slices[es.Namespace+"/"+svc] = append(x.slices[es.Namespace+"/"+svc], es)
		}
	}
	for i := range s.Secrets {
		if s.Secrets[i].Type == corev1.SecretTypeTLS {
			x.tls[s.Secrets[i].Namespace+"/"+s.Secrets[i].Name] = &s.Secrets[i]
		}
	}
	return x
}

// Translate turns a snapshot into sites. Ingresses of another class are
// ignored. Ingresses are applied oldest first; a path two of them claim
// for one host goes to the older, and the newer is left out with a problem.
func Translate(s Snapshot, o Options) Result {
	var res Result
	x := newIndex(s)
	o.Pairs.begin()
	defer o.Pairs.sweep()
	classes, defaultClass := ourClasses(s.IngressClasses)
	ings := slices.Clone(s.Ingresses)
	slices.SortStableFunc(ings, func(a, b networkingv1.Ingress) int {
		if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
			return c
		}
		return cmp.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	type claimed struct {
		owner string
		route proxy.SiteRoute
	}
	hosts := map[string][]claimed{} // host → its routes, in order
	hostCert := map[string]*Cert{}  // host → its spec.tls pair
	var order []string
	for i := range ings {
		ing := &ings[i]
		if !ours(ing, classes, defaultClass) {
			continue
		}
		id := ing.Namespace + "/" + ing.Name
		routes, fallback, problems := translateIngress(ing, x, o)
		// A path another Ingress already serves for the host. The "/" that
		// spec.defaultBackend gives a host yields to an older Ingress's.
		for host, rs := range routes {
			for j := 0; j < len(rs); j++ {
				r := rs[j]
				for _, c := range hosts[host] {
					if matchKey(c.route.Match) != matchKey(r.Match) {
						continue
					}
					if fallback[host] && r.Match.Path == "/" && r.Match.Kind == proxy.PathPrefix {
						rs = slices.Delete(rs, j, j+1)
						j--
						break
					}
					problems = append(problems, Problem{Ingress: id, Reason: "PathConflict", Message: fmt.Sprintf("host %s path %s is served by Ingress %s, which is older; change the path or the host", host, r.Match.Path, c.owner)})
				}
			}
			routes[host] = rs
		}
		pairs, tlsProblems := ingressCerts(ing, routes, x, o)
		problems = append(problems, tlsProblems...)
		for host, c := range pairs {
			if prev, ok := hostCert[host]; ok && prev.Secret != c.Secret {
				problems = append(problems, Problem{Ingress: id, Reason: "TLSConflict", Message: fmt.Sprintf("host %s is served with Secret %s by an older Ingress; name the same Secret, or none", host, prev.Secret)})
			}
		}
		res.Problems = append(res.Problems, problems...)
		if slices.ContainsFunc(problems, func(p Problem) bool { return !p.Served }) {
			continue
		}
		for host, c := range pairs {
			hostCert[host] = c
		}
		for _, host := range sortedKeys(routes) {
			if _, seen := hosts[host]; !seen {
				order = append(order, host)
			}
			for _, r := range routes[host] {
				hosts[host] = append(hosts[host], claimed{id, r})
			}
		}
		res.Served = append(res.Served, id)
	}
	slices.Sort(order) // sites by name: the same snapshot, the same table
	for _, host := range order {
		site := proxy.Site{Hosts: []string{host}}
		for _, c := range hosts[host] {
			site.Routes = append(site.Routes, c.route)
		}
		res.Sites = append(res.Sites, site)
	}
	bySecret := map[string]*Cert{}
	for _, host := range sortedKeys(hostCert) {
		c := hostCert[host]
		if bySecret[c.Secret] == nil {
			bySecret[c.Secret] = &Cert{Secret: c.Secret, CertPEM: c.CertPEM, KeyPEM: c.KeyPEM, ResourceVersion: c.ResourceVersion}
		}
		bySecret[c.Secret].Hosts = append(bySecret[c.Secret].Hosts, host)
	}
	for _, name := range sortedKeys(bySecret) {
		res.Certs = append(res.Certs, *bySecret[name])
	}
	return res
}

// ingressCerts checks an Ingress's spec.tls pairs and gives each of its
// rules' hosts that one names its pair. A Secret that is missing, broken,
// expired or does not cover a host is a problem: the Ingress waits for it
// (cert-manager writes the Secret after the Ingress appears).
func ingressCerts(ing *networkingv1.Ingress, routes map[string][]proxy.SiteRoute, x *index, o Options) (map[string]*Cert, []Problem) {
	id := ing.Namespace + "/" + ing.Name
	var problems []Problem
	out := map[string]*Cert{}
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	for i, t := range ing.Spec.TLS {
		at := fmt.Sprintf("spec.tls[%d]", i)
		if t.SecretName == "" {
			problems = append(problems, Problem{Ingress: id, Reason: "InvalidTLS", Message: fmt.Sprintf("%s names no secretName; name a kubernetes.io/tls Secret, or drop the entry to have rampart obtain the certificate", at)})
			continue
		}
		if len(t.Hosts) == 0 {
			problems = append(problems, Problem{Ingress: id, Reason: "InvalidTLS", Message: fmt.Sprintf("%s lists no hosts; list the rules' hosts that Secret %s serves", at, t.SecretName)})
			continue
		}
		sec := x.tls[ing.Namespace+"/"+t.SecretName]
		if sec == nil {
			problems = append(problems, Problem{Ingress: id, Reason: "SecretMissing", Message: fmt.Sprintf("%s: Secret %s/%s of type kubernetes.io/tls not found; the Ingress is served once it exists", at, ing.Namespace, t.SecretName)})
			continue
		}
		c := &Cert{Secret: ing.Namespace + "/" + t.SecretName, CertPEM: sec.Data[corev1.TLSCertKey], KeyPEM: sec.Data[corev1.TLSPrivateKeyKey], ResourceVersion: sec.ResourceVersion}
		leaf, err := o.Pairs.parse(c.CertPEM, c.KeyPEM)
		if err != nil {
			problems = append(problems, Problem{Ingress: id, Reason: "InvalidTLS", Message: fmt.Sprintf("%s: Secret %s: %v", at, c.Secret, err)})
			continue
		}
		if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
			problems = append(problems, Problem{Ingress: id, Reason: "InvalidTLS", Message: fmt.Sprintf("%s: Secret %s holds a certificate valid from %s to %s", at, c.Secret,
				leaf.NotBefore.UTC().Format(time.RFC3339), leaf.NotAfter.UTC().Format(time.RFC3339))})
			continue
		}
		for _, h := range t.Hosts {
			if _, ok := routes[h]; !ok {
				continue // a host no rule serves needs no certificate
			}
			name := h
			if strings.HasPrefix(h, "*.") {
				name = "wildcard-check" + h[1:] // covered by a certificate for the wildcard
			}
			if err := leaf.VerifyHostname(name); err != nil {
				problems = append(problems, Problem{Ingress: id, Reason: "InvalidTLS", Message: fmt.Sprintf("%s: Secret %s does not cover %s (it covers %v)", at, c.Secret, h, leaf.DNSNames)})
				continue
			}
			out[h] = c
		}
	}
	if o.WildcardNeedsSecret {
		for _, h := range sortedKeys(routes) {
			if strings.HasPrefix(h, "*.") && out[h] == nil {
				problems = append(problems, Problem{Ingress: id, Reason: "WildcardWithoutTLS", Message: fmt.Sprintf("host %s has no spec.tls Secret, and ACME cannot obtain a wildcard certificate by HTTP or TLS-ALPN; give it a Secret (cert-manager with DNS-01)", h)})
			}
		}
	}
	return out, problems
}

// Ours lists the Ingresses of rampart's classes.
func (s Snapshot) Ours() []networkingv1.Ingress {
	classes, defaultClass := ourClasses(s.IngressClasses)
	var out []networkingv1.Ingress
	for i := range s.Ingresses {
		if ours(&s.Ingresses[i], classes, defaultClass) {
			out = append(out, s.Ingresses[i])
		}
	}
	return out
}

// ourClasses names the IngressClasses with rampart's controller, and the one
// marked default among them ("" if none).
func ourClasses(ics []networkingv1.IngressClass) (map[string]bool, string) {
	names, def := map[string]bool{}, ""
	for _, ic := range ics {
		if ic.Spec.Controller != ControllerName {
			continue
		}
		names[ic.Name] = true
		if ic.Annotations[defaultClassAnnotation] == "true" && (def == "" || ic.Name < def) {
			def = ic.Name
		}
	}
	return names, def
}

// ours tells whether an Ingress is of one of rampart's classes: by
// spec.ingressClassName, else the legacy annotation, else the default class.
func ours(ing *networkingv1.Ingress, classes map[string]bool, defaultClass string) bool {
	switch {
	case ing.Spec.IngressClassName != nil:
		return classes[*ing.Spec.IngressClassName]
	case ing.Annotations[legacyClassAnnotation] != "":
		return classes[ing.Annotations[legacyClassAnnotation]]
	}
	return defaultClass != ""
}

// translateIngress turns one Ingress into routes by host, or problems;
// fallback names the hosts whose "/" is spec.defaultBackend's.
func translateIngress(ing *networkingv1.Ingress, x *index, o Options) (routes map[string][]proxy.SiteRoute, fallback map[string]bool, problems []Problem) {
	id := ing.Namespace + "/" + ing.Name
	bad := func(reason, format string, args ...any) {
		problems = append(problems, Problem{Ingress: id, Reason: reason, Message: fmt.Sprintf(format, args...)})
	}
	if ing.Spec.DefaultBackend != nil && len(ing.Spec.Rules) == 0 {
		bad("Unsupported", "an Ingress of spec.defaultBackend alone (every host) is not served: rampart holds a certificate per name; give the backend a rule with a host")
	}
	st, notes := readAnnotations(ing, o, authSecrets(x.Snapshot, o))
	for _, n := range notes {
		if n.With != "" {
			continue // the annotation it goes with tells
		}
		switch n.Verdict {
		case Refused:
			bad("AnnotationRefused", "%s: %s", n.Annotation, n.Message)
		case Differs:
			problems = append(problems, Problem{Ingress: id, Reason: "AnnotationDiffers", Message: n.Annotation + ": " + n.Message, Served: true})
		}
	}
	routes, fallback = map[string][]proxy.SiteRoute{}, map[string]bool{}
	seen := map[string]string{} // host and match → where in the Ingress
	add := func(host, at string, r proxy.SiteRoute) {
		// Every route is checked here, whatever made it: one the proxy
		// would refuse must leave its Ingress out, not stop every table.
		if err := proxy.CheckRoute(r); err != nil {
			bad("InvalidPath", "%s: %v", at, err)
			return
		}
		key := host + " " + matchKey(r.Match)
		if first, dup := seen[key]; dup {
			bad("PathConflict", "%s matches what %s matches (host %s, path %s); give each path once", at, first, host, r.Match.Path)
			return
		}
		seen[key] = at
		routes[host] = append(routes[host], r)
	}
	for ri, rule := range ing.Spec.Rules {
		if rule.Host == "" {
			bad("Unsupported", "spec.rules[%d] has no host, so it serves every name; rampart serves rules for named hosts only (it holds a certificate per name): name the host", ri)
			continue
		}
		if st.appRoot != "" && ri == slices.IndexFunc(ing.Spec.Rules, func(r networkingv1.IngressRule) bool { return r.Host == rule.Host }) {
			add(rule.Host, NginxPrefix+"app-root", proxy.SiteRoute{Match: proxy.RouteMatch{Path: "/", Kind: proxy.PathExact},
				Redirect: &proxy.Redirect{Status: 302, To: st.appRoot}, Policy: st.policy})
		}
		if rule.HTTP == nil {
			continue
		}
		for pi, p := range rule.HTTP.Paths {
			at := fmt.Sprintf("spec.rules[%d].http.paths[%d]", ri, pi)
			route := proxy.SiteRoute{Match: proxy.RouteMatch{Path: p.Path}, Policy: st.policy}
			switch {
			case p.PathType == nil:
				bad("InvalidPath", "%s has no pathType; give Exact or Prefix", at)
				continue
			case !strings.HasPrefix(p.Path, "/"):
				bad("InvalidPath", "%s path %q does not start with /", at, p.Path)
				continue
			case st.regex:
				// ingress-nginx: with use-regex or rewrite-target, every
				// path is an expression, whatever its pathType.
				wider, err := regexRoute(&route, p.Path, st.rewriteTo)
				if err != nil {
					bad("InvalidPath", "%s: %v", at, err)
					continue
				}
				if wider {
					problems = append(problems, Problem{Ingress: id, Reason: "RegexWider", Served: true, Message: fmt.Sprintf(
						"%s path %q: ingress-nginx's expression also takes paths that only begin like %s (%sx); rampart routes it by whole segments, so those go to another route of the host; end the expression with (/|$) to say which", at, p.Path, route.Match.Path, strings.TrimRight(route.Match.Path, "/"))})
				}
			case *p.PathType == networkingv1.PathTypeExact:
				route.Match.Kind = proxy.PathExact
			case *p.PathType == networkingv1.PathTypePrefix, *p.PathType == networkingv1.PathTypeImplementationSpecific:
				// ImplementationSpecific is rampart's Prefix: whole segments.
			default:
				bad("InvalidPath", "%s has pathType %q; give Exact, Prefix or ImplementationSpecific", at, *p.PathType)
				continue
			}
			if st.redirect != nil {
				route.Redirect, route.Rewrite = st.redirect, nil
			} else if err := backendRoute(&route, ing.Namespace, p.Backend, x, o, st.scheme); err != "" {
				bad("InvalidBackend", "%s: %s", at, err)
				continue
			}
			if route.Pool != nil {
				route.Pool.Balance, route.UpstreamHost = st.balance, st.upstreamHost
			} else {
				route.Rewrite = nil // a redirect or a 503 has no path to rewrite
			}
			add(rule.Host, at, route)
		}
	}
	// spec.defaultBackend takes what the rules' paths do not, for each
	// of their hosts: a "/" where the Ingress gives none.
	if b := ing.Spec.DefaultBackend; b != nil {
		for host := range routes {
			if _, has := seen[host+" "+matchKey(proxy.RouteMatch{Path: "/"})]; has {
				continue
			}
			route := proxy.SiteRoute{Match: proxy.RouteMatch{Path: "/"}, Policy: st.policy}
			if st.redirect != nil {
				route.Redirect = st.redirect
			} else if err := backendRoute(&route, ing.Namespace, *b, x, o, st.scheme); err != "" {
				bad("InvalidBackend", "spec.defaultBackend: %s", err)
				break
			} else if route.Pool != nil {
				route.Pool.Balance, route.UpstreamHost = st.balance, st.upstreamHost
			}
			add(host, "spec.defaultBackend", route)
			fallback[host] = true
		}
	}
	return routes, fallback, problems
}

// backendRoute points a route at a backend's ready endpoints (a pool), or
// at a 503 when it has none. It returns what is wrong, or "".
func backendRoute(r *proxy.SiteRoute, ns string, b networkingv1.IngressBackend, x *index, o Options, scheme string) string {
	if b.Resource != nil {
		return "a resource backend is not served; use a Service"
	}
	if b.Service == nil {
		return "no backend Service"
	}
	svc := x.services[ns+"/"+b.Service.Name]
	if svc == nil {
		return fmt.Sprintf("Service %s/%s not found", ns, b.Service.Name)
	}
	sp, err := servicePort(svc, b.Service.Port)
	if err != "" {
		return err
	}
	pool := &proxy.Pool{Name: fmt.Sprintf("%s/%s:%s", ns, svc.Name, portText(b.Service.Port))}
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		if !o.AllowExternalName {
			return fmt.Sprintf("Service %s/%s is of type ExternalName (%s), which rampart does not follow unless allowed", ns, svc.Name, svc.Spec.ExternalName)
		}
		pool.Members = []*url.URL{{Scheme: scheme, Host: net.JoinHostPort(svc.Spec.ExternalName, strconv.Itoa(int(sp.Port)))}}
		r.Pool = pool
		return ""
	}
	pool.Members = readyEndpoints(x.slices[ns+"/"+svc.Name], sp, scheme, o.AllowExternalName)
	if len(pool.Members) == 0 {
		r.Respond = unavailable
		return ""
	}
	r.Pool = pool
	return ""
}

// servicePort finds the Service's port that a backend names, by number or name.
func servicePort(svc *corev1.Service, p networkingv1.ServiceBackendPort) (corev1.ServicePort, string) {
	for _, sp := range svc.Spec.Ports {
		if (p.Name != "" && sp.Name == p.Name) || (p.Name == "" && p.Number != 0 && sp.Port == p.Number) {
			return sp, ""
		}
	}
	return corev1.ServicePort{}, fmt.Sprintf("Service %s/%s has no port %s", svc.Namespace, svc.Name, portText(p))
}

func portText(p networkingv1.ServiceBackendPort) string {
	if p.Name != "" {
		return p.Name
	}
	return strconv.Itoa(int(p.Number))
}

// readyEndpoints lists the addresses of a Service port's ready endpoints
// across its EndpointSlices (a terminating endpoint is not ready), sorted.
func readyEndpoints(eps []*discoveryv1.EndpointSlice, sp corev1.ServicePort, scheme string, allowNames bool) []*url.URL {
	seen := map[string]bool{}
	var out []*url.URL
	for _, es := range eps {
		if es.AddressType == discoveryv1.AddressTypeFQDN && !allowNames {
			continue // names, like an ExternalName Service: not followed unless allowed
		}
		var port int32
		for _, p := range es.Ports {
			// A slice's ports carry the Service port's name ("" for an
			// unnamed single port).
			if p.Port != nil && p.Name != nil && *p.Name == sp.Name {
				port = *p.Port
			}
		}
		if port == 0 {
			continue
		}
		for _, ep := range es.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			if ep.Conditions.Terminating != nil && *ep.Conditions.Terminating {
				continue
			}
			for _, a := range ep.Addresses {
				host := net.JoinHostPort(a, strconv.Itoa(int(port)))
				if !seen[host] {
					seen[host] = true
					out = append(out, &url.URL{Scheme: scheme, Host: host})
				}
			}
		}
	}
	sortURLs(out)
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// authSecrets is what readAnnotations is given: nil only from files.
func authSecrets(s Snapshot, o Options) []corev1.Secret {
	if o.FromFiles {
		return nil
	}
	if s.AuthSecrets == nil {
		return []corev1.Secret{}
	}
	return s.AuthSecrets
}

func sortURLs(us []*url.URL) {
	slices.SortFunc(us, func(a, b *url.URL) int { return strings.Compare(a.Host, b.Host) })
}

// matchKey is what the proxy's matcher makes of a route's match: paths
// compared without case, a prefix without its trailing slash. Two routes
// with one key take the same requests.
func matchKey(m proxy.RouteMatch) string {
	p := strings.ToLower(m.Path)
	if m.Kind == proxy.PathPrefix && p != "/" {
		p = strings.TrimRight(p, "/")
	}
	return fmt.Sprintf("%d %s", m.Kind, p)
}

package kube

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/rampart-proxy/rampart/proxy"
)

// NginxPrefix is the prefix of ingress-nginx's annotations, read so that
// migrated manifests work unchanged; OwnPrefix is rampart's own.
const (
	NginxPrefix = "nginx.ingress.kubernetes.io/"
	OwnPrefix   = "rampart-proxy.io/"
)

// Verdict is what rampart makes of an annotation.
type Verdict uint8

const (
	// Honoured: it works as ingress-nginx documents it.
	Honoured Verdict = iota
	// Differs: the Ingress is served, and this annotation works otherwise
	// (or not at all); the note says how.
	Differs
	// Refused: the Ingress is not served while it carries this annotation
	// (raw configuration, an access control rampart cannot enforce, or a
	// value that does not parse).
	Refused
)

func (v Verdict) String() string {
	return [...]string{Honoured: "works as is", Differs: "differs", Refused: "unsupported"}[v]
}

// Note is rampart's verdict on one annotation of an Ingress.
type Note struct {
	// Annotation is its name, prefix included.
	Annotation string
	Verdict    Verdict
	// Message says what rampart does, or why not, and what to do. Empty
	// for Honoured.
	Message string
	// With names the annotation this one is part of (auth-realm's is
	// auth-type), whose verdict it shares; "" for one that stands alone.
	With string
}

// settings is what an Ingress's annotations make of its routes.
type settings struct {
	policy       proxy.Policy
	scheme       string // the members': http, https or h2c
	upstreamHost string
	balance      proxy.Balance
	redirect     *proxy.Redirect // every path answers with it
	appRoot      string          // "/" answers 302 to it
	regex        bool            // paths are case-insensitive regular expressions
	rewriteTo    string          // rewrite-target's template; "" keeps the path
}

// snippetLike are ingress-nginx annotations that carry raw configuration
// (the way CVE-2025-1974 and CVE-2023-5044 were reached), beyond those
// ending in -snippet.
var rawConfig = []string{"auth-url", "auth-signin", "auth-tls-match-cn", "mirror-target", "mirror-host", "server-alias",
	"proxy-ssl-name", "modsecurity-transaction-id", "upstream-hash-by", "auth-tls-error-page", "auth-signin-redirect-param"}

// part of another annotation: honoured (or judged) with it.
var companions = map[string]string{
	"permanent-redirect-code": "permanent-redirect", "temporal-redirect-code": "temporal-redirect",
	"limit-burst-multiplier": "limit-rps", "auth-secret": "auth-type", "auth-realm": "auth-type", "auth-secret-type": "auth-type",
	"session-cookie-name": "affinity", "session-cookie-max-age": "affinity", "session-cookie-expires": "affinity",
	"session-cookie-path": "affinity", "session-cookie-samesite": "affinity", "session-cookie-secure": "affinity",
	"session-cookie-domain": "affinity", "session-cookie-change-on-failure": "affinity", "affinity-mode": "affinity",
}

// readAnnotations judges every annotation of rampart's and ingress-nginx's
// on ing and returns the settings they make, with a note for each that is
// not simply honoured (and each that is, for rampart migrate).
//
// secrets are the Secrets auth-secret may name (Snapshot.AuthSecrets); nil
// when they cannot be known (rampart migrate on files).
func readAnnotations(ing *networkingv1.Ingress, o Options, secrets []corev1.Secret) (settings, []Note) {
	st := settings{scheme: "http"}
	var notes []Note
	var later []int // companions' notes, judged with their annotation
	note := func(name string, v Verdict, format string, args ...any) {
		notes = append(notes, Note{Annotation: name, Verdict: v, Message: fmt.Sprintf(format, args...)})
	}
	a := ing.Annotations
	get := func(short string) (string, bool) { v, ok := a[NginxPrefix+short]; return strings.TrimSpace(v), ok }
	names := make([]string, 0, len(a))
	for k := range a {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, name := range names {
		v := strings.TrimSpace(a[name])
		if own, ok := strings.CutPrefix(name, OwnPrefix); ok {
			ownAnnotation(&st, name, own, v, a, note)
			continue
		}
		short, ok := strings.CutPrefix(name, NginxPrefix)
		if !ok {
			continue
		}
		switch {
		case strings.HasSuffix(short, "-snippet") || slices.Contains(rawConfig, short):
			note(name, Refused, "raw configuration, never taken (how CVE-2025-1974 and CVE-2023-5044 were reached); express it with routes, or a rampart-proxy.io/ annotation")
			continue
		case companions[short] != "":
			if _, with := get(companions[short]); !with {
				note(name, Differs, "ignored: it goes with %s%s, which is not set", NginxPrefix, companions[short])
			} else {
				later = append(later, len(notes)) // judged as the annotation it goes with, below
				notes = append(notes, Note{Annotation: name, With: NginxPrefix + companions[short]})
			}
			continue
		}
		before := len(notes)
		nginxAnnotation(&st, name, short, v, get, o, note)
		if short == "auth-type" && v == "basic" {
			basicAuth(&st, ing, name, get, secrets, note)
		}
		if len(notes) == before {
			notes = append(notes, Note{Annotation: name, Verdict: Honoured})
		}
	}
	for _, i := range later {
		for _, n := range notes {
			if n.Annotation == notes[i].With && n.Verdict != Honoured {
				notes[i].Verdict, notes[i].Message = n.Verdict, "goes with "+n.Annotation+" ("+n.Verdict.String()+")"
			}
		}
	}
	return st, notes
}

// nginxAnnotation applies one ingress-nginx annotation.
func nginxAnnotation(st *settings, name, short, v string, get func(string) (string, bool), o Options, note func(string, Verdict, string, ...any)) {
	bad := func(want string) { note(name, Refused, "%q is not %s", v, want) }
	switch short {
	case "ssl-redirect", "force-ssl-redirect", "use-regex":
		b, err := strconv.ParseBool(v)
		switch {
		case err != nil:
			bad("true or false")
		case short == "ssl-redirect" && !b:
			note(name, Differs, "rampart redirects every plain HTTP request to HTTPS, whatever this says (a certificate by ACME where spec.tls names none)")
		case short == "use-regex" && b:
			st.regex = true
			note(name, Differs, "paths are regular expressions matched without case, as in ingress-nginx, but for this Ingress's paths only: ingress-nginx also turns the other Ingresses' paths for the same host into expressions")
		}
	case "backend-protocol":
		switch strings.ToUpper(v) {
		case "HTTP":
		case "GRPC":
			st.scheme = "h2c"
		case "HTTPS", "GRPCS":
			st.scheme = "https"
			note(name, Differs, "rampart verifies the backend's certificate (against --upstream-ca, or the system's roots); ingress-nginx does not by default")
		default:
			bad("HTTP, HTTPS, GRPC or GRPCS (rampart speaks neither FastCGI nor AJP, and AUTO_HTTP means HTTP here: its clients all come over HTTPS)")
		}
	case "proxy-body-size":
		n, ok := parseNginxSize(v)
		switch {
		case !ok:
			bad("a size such as 8m (a number with k, m or g)")
		case n == 0:
			note(name, Differs, "0 (no limit) is not offered: --max-body-size stays the bound")
		default:
			st.policy.MaxBodyBytes = n
		}
	case "proxy-connect-timeout", "proxy-send-timeout", "proxy-read-timeout":
		secs, err := strconv.Atoi(v)
		if err != nil || secs <= 0 {
			bad("a whole number of seconds, such as 60 (ingress-nginx's form: no unit)")
			return
		}
		switch short {
		case "proxy-connect-timeout":
			note(name, Differs, "rampart's connect timeout is --upstream-dial-timeout, the same for every route")
		case "proxy-send-timeout":
			note(name, Differs, "rampart bounds a request body by its own pace limits (--body-min-rate), not by a send timeout")
		default:
			d := time.Duration(secs) * time.Second
			if o.MaxTimeout > 0 && d > o.MaxTimeout {
				note(name, Differs, "rampart waits at most --upstream-timeout (%s) for the backend's response headers; raise it to allow %s", o.MaxTimeout, d)
				d = o.MaxTimeout
			}
			st.policy.Timeout = d
		}
	case "whitelist-source-range", "allowlist-source-range", "denylist-source-range":
		nets, err := parseRanges(v)
		if err != nil {
			bad("a comma-separated list of networks or addresses, such as 10.0.0.0/8,192.168.1.7")
			return
		}
		if short == "denylist-source-range" {
			st.policy.Deny = append(st.policy.Deny, nets...)
		} else {
			st.policy.Allow = append(st.policy.Allow, nets...)
		}
	case "permanent-redirect", "temporal-redirect":
		u, err := url.Parse(v)
		if err != nil || u.Scheme != "https" || u.Host == "" || strings.Contains(v, "$") {
			bad("an https URL without nginx variables (rampart sends it as written)")
			return
		}
		code := 301
		if short == "temporal-redirect" {
			code = 302
		}
		if c, ok := get(short + "-code"); ok {
			n, err := strconv.Atoi(c)
			if err != nil || (n != 301 && n != 302 && n != 307 && n != 308) {
				note(name, Refused, "%s-code %q: rampart redirects with 301, 302, 307 or 308", short, c)
				return
			}
			code = n
		}
		if _, both := get("temporal-redirect"); both && short == "permanent-redirect" {
			return // ingress-nginx: temporal wins
		}
		st.redirect = &proxy.Redirect{Status: code, To: v}
	case "app-root":
		if !strings.HasPrefix(v, "/") || strings.HasPrefix(v, "//") || strings.ContainsAny(v, "$\\ \r\n\x00") {
			bad("a path such as /app")
			return
		}
		st.appRoot = v
	case "rewrite-target":
		if !strings.HasPrefix(v, "/") || strings.HasPrefix(v, "//") || strings.ContainsAny(v, "?#\\ \r\n\x00") {
			bad("a path such as /$2 (rampart rewrites to a path, and keeps the query)")
			return
		}
		st.regex, st.rewriteTo = true, v
	case "limit-rps", "limit-rpm":
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			bad("a whole number above 0")
			return
		}
		mult := 5
		if m, ok := get("limit-burst-multiplier"); ok {
			if mult, err = strconv.Atoi(m); err != nil || mult <= 0 {
				note(name, Refused, "limit-burst-multiplier %q is not a whole number above 0", m)
				return
			}
		}
		rate := float64(n)
		if short == "limit-rpm" {
			rate /= 60
		}
		if cur := st.policy.RateLimit; cur == nil || rate < cur.Rate {
			st.policy.RateLimit = &proxy.RateLimit{Rate: rate, Burst: n * mult}
		}
		note(name, Differs, "per client address, as in ingress-nginx; over the limit rampart answers 429 with Retry-After (ingress-nginx 503)")
	case "auth-type":
		if v != "basic" {
			bad("basic (rampart has no digest authentication, and never serves such an Ingress open)")
		}
	case "upstream-vhost":
		if v == "" || strings.ContainsAny(v, "/@?#$ \\\r\n\x00") {
			bad("a host name")
			return
		}
		st.upstreamHost = v
	case "affinity":
		if v != "cookie" {
			bad("cookie")
			return
		}
		st.balance = proxy.ClientHash
		note(name, Differs, "rampart keeps each client on one endpoint by its address (rendezvous hashing), not by a cookie; session-cookie-* settings do nothing")
	case "enable-modsecurity", "enable-owasp-core-rules":
		if b, err := strconv.ParseBool(v); err != nil || b {
			note(name, Refused, "rampart has no ModSecurity: the Ingress would be served without the firewall it asks for")
		}
	default:
		if strings.HasPrefix(short, "auth-") || short == "satisfy" {
			note(name, Refused, "an access control rampart does not enforce: the Ingress would be served without it")
			return
		}
		note(name, Differs, "ignored: rampart does not implement this ingress-nginx annotation")
	}
}

// ownAnnotation applies one of rampart's own annotations.
func ownAnnotation(st *settings, name, short, v string, all map[string]string, note func(string, Verdict, string, ...any)) {
	switch short {
	case "csp":
		st.policy.CSP = v
	case "hsts":
		st.policy.HSTS = v
	case "rate-limit":
		rate, err := strconv.ParseFloat(strings.TrimSuffix(v, "/s"), 64)
		if err != nil || !(rate > 0) || rate > 1e6 {
			note(name, Refused, "%q is not a rate such as 10/s", v)
			return
		}
		rl := &proxy.RateLimit{Rate: rate}
		if b, ok := all[OwnPrefix+"rate-limit-burst"]; ok {
			if rl.Burst, err = strconv.Atoi(strings.TrimSpace(b)); err != nil || rl.Burst <= 0 {
				note(name, Refused, "rate-limit-burst %q is not a whole number above 0", b)
				return
			}
		}
		st.policy.RateLimit = rl
	case "rate-limit-burst":
		if _, ok := all[OwnPrefix+"rate-limit"]; !ok {
			note(name, Refused, "it goes with %srate-limit, which is not set", OwnPrefix)
		}
	default:
		note(name, Refused, "not one of rampart's annotations (csp, hsts, rate-limit, rate-limit-burst): check its spelling")
	}
}

// parseNginxSize reads ingress-nginx's sizes: digits and an optional b, k,
// m or g, any case.
func parseNginxSize(v string) (int64, bool) {
	v = strings.ToLower(strings.ReplaceAll(v, " ", ""))
	mult := int64(1)
	if v == "" {
		return 0, false
	}
	switch v[len(v)-1] { // one unit at most: "8mb" is not a size
	case 'k':
		mult = 1 << 10
	case 'm':
		mult = 1 << 20
	case 'g':
		mult = 1 << 30
	}
	if strings.ContainsRune("bkmg", rune(v[len(v)-1])) {
		v = v[:len(v)-1]
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, false
	}
	return n * mult, true
}

// parseRanges reads a comma-separated list of networks and addresses.
func parseRanges(v string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, err
			}
			a = a.Unmap()
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, err
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 { // clients are compared as IPv4
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no network")
	}
	return out, nil
}

// regexRoute makes a route's match and rewrite from a path that is a
// regular expression: ingress-nginx matches it without case from the
// path's start; rampart routes by its literal start (whole segments, which
// rampart's routing compares without case too) and lets the expression
// choose among those requests. wider is true when the expression also
// takes paths beyond those segments (/app takes /apple in ingress-nginx):
// those go to another route here, and the Ingress is told.
func regexRoute(r *proxy.SiteRoute, path, to string) (wider bool, err error) {
	re, err := regexp.Compile("(?i)^" + path)
	if err != nil {
		return false, fmt.Errorf("path %q is not a regular expression: %v", path, err)
	}
	lit, rest := path, ""
	if i := strings.IndexAny(path, `.+*?()|[]{}^$\`); i >= 0 {
		lit, rest = path[:i], path[i:]
		if !(strings.HasPrefix(rest, "(/") || strings.HasPrefix(rest, "/") || strings.HasPrefix(rest, "$")) && !strings.HasSuffix(lit, "/") {
			lit = lit[:strings.LastIndex(lit, "/")+1] // the expression goes on inside a segment
		}
	}
	// Only a segment's end after the literal keeps the two alike.
	bounded := strings.HasSuffix(lit, "/") || strings.HasPrefix(rest, "(/|$)") || strings.HasPrefix(rest, "$") ||
		(strings.HasPrefix(rest, "/") && !(len(rest) > 1 && strings.ContainsRune("?*{", rune(rest[1]))))
	r.Match = proxy.RouteMatch{Path: cmp.Or(strings.TrimRight(lit, "/"), "/")}
	r.Rewrite = &proxy.PathRewrite{Regexp: re, To: to}
	return !bounded, nil
}

// basicAuth reads auth-type basic's Secret (auth-secret, in the Ingress's
// namespace): htpasswd lines under the key auth (auth-secret-type
// auth-file, the default), or one key per user (auth-map). rampart checks
// bcrypt hashes only. Without the Secret, the Ingress is not served: never
// open.
func basicAuth(st *settings, ing *networkingv1.Ingress, name string, get func(string) (string, bool), secrets []corev1.Secret, note func(string, Verdict, string, ...any)) {
	ref, ok := get("auth-secret")
	if !ok || ref == "" {
		note(name, Refused, "basic without %sauth-secret: the Ingress would be open", NginxPrefix)
		return
	}
	ns, secretName, qualified := strings.Cut(ref, "/")
	if !qualified {
		ns, secretName = ing.Namespace, ref
	}
	if ns != ing.Namespace {
		note(name, Refused, "auth-secret %q is in another namespace; rampart reads it from the Ingress's own", ref)
		return
	}
	kind, _ := get("auth-secret-type")
	if kind != "" && kind != "auth-file" && kind != "auth-map" {
		note(name, Refused, "auth-secret-type %q is not auth-file or auth-map", kind)
		return
	}
	realm, _ := get("auth-realm")
	if secrets == nil {
		note(name, Differs, "works if Secret %s/%s holds bcrypt hashes (htpasswd -B): rampart checks no other kind; ingress-nginx's htpasswd default, MD5, is refused when served", ns, secretName)
		st.policy.BasicAuth = &proxy.BasicAuth{Realm: realm, Users: map[string][]byte{"checked-when-served": []byte("$2y$10$")}}
		return
	}
	i := slices.IndexFunc(secrets, func(s corev1.Secret) bool { return s.Namespace == ns && s.Name == secretName })
	if i < 0 {
		note(name, Refused, "Secret %s/%s not found (or not readable): the Ingress would be open; it is served once the Secret exists", ns, secretName)
		return
	}
	users := map[string][]byte{}
	var err error
	if kind == "auth-map" {
		var lines []string
		for user, hash := range secrets[i].Data {
			lines = append(lines, user+":"+string(hash))
		}
		slices.Sort(lines)
		users, err = proxy.ParseHtpasswd([]byte(strings.Join(lines, "\n")))
	} else {
		users, err = proxy.ParseHtpasswd(secrets[i].Data["auth"])
	}
	if err == nil && len(users) == 0 {
		err = errors.New("no users (the key auth holds the htpasswd lines)")
	}
	if err != nil {
		note(name, Refused, "Secret %s/%s: %v; rampart checks bcrypt only: htpasswd -B -c auth USER, then kubectl create secret generic %s --from-file=auth", ns, secretName, err, secretName)
		return
	}
	st.policy.BasicAuth = &proxy.BasicAuth{Realm: realm, Users: users}
}

// AuthSecretNames lists the Secrets that Ingresses' auth-secret
// annotations name ("namespace/name", the Ingress's namespace when
// unqualified): the caller fetches these for Snapshot.AuthSecrets, and no
// other Secret beyond the TLS ones.
func AuthSecretNames(ings []networkingv1.Ingress) []string {
	var out []string
	for _, ing := range ings {
		if strings.TrimSpace(ing.Annotations[NginxPrefix+"auth-type"]) != "basic" {
			continue
		}
		ref := strings.TrimSpace(ing.Annotations[NginxPrefix+"auth-secret"])
		if ref == "" {
			continue
		}
		if !strings.Contains(ref, "/") {
			ref = ing.Namespace + "/" + ref
		}
		if !strings.HasPrefix(ref, ing.Namespace+"/") {
			continue // another namespace's: refused, and never read
		}
		if !slices.Contains(out, ref) {
			out = append(out, ref)
		}
	}
	slices.Sort(out)
	return out
}

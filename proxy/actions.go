package proxy

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/rampart-proxy/rampart/hostname"
)

// Redirect answers a route's requests with a redirect instead of proxying.
type Redirect struct {
	// Status is 301, 302, 307 or 308. Zero means 308 (permanent, method kept).
	Status int
	// To is the target: an https URL, or a path on the same site ("/new").
	// Required.
	To string
	// KeepPath appends the request's path and query to To ("return 301
	// https://new.example$request_uri" in nginx). False sends To as is.
	KeepPath bool
}

// PathRewrite replaces the path a route's app is sent, as ingress-nginx's
// rewrite-target does: when Regexp matches the path (decoded, with runs of
// slashes merged, as nginx matches), the app is sent To with $1 to $9
// replaced by the match's groups (and runs of slashes merged); the query
// stays. A request whose path Regexp does not match gets 404, and so does
// one whose new path would hold a . or .. segment (a way out of To's
// folder): the route takes only what both its Match and Regexp take.
type PathRewrite struct {
	// Regexp is matched against the path. Required.
	Regexp *regexp.Regexp
	// To is the new path: it starts with /, and $N (or ${N}) stands for
	// the Nth group. Empty keeps the path: the expression only chooses
	// the requests (ingress-nginx's use-regex).
	To string
}

// expandTemplate turns To into regexp.Expand's form: $N and ${N} are
// groups, any other $ is itself.
func (pr *PathRewrite) expandTemplate() (string, error) {
	if pr.Regexp != nil && pr.To == "" {
		return "", nil
	}
	if pr.Regexp == nil || !strings.HasPrefix(pr.To, "/") || strings.ContainsAny(pr.To, "?#\\ \r\n\x00") || strings.HasPrefix(pr.To, "//") {
		return "", fmt.Errorf("rewrite %q: want a regular expression and a path such as /$1", pr.To)
	}
	var b strings.Builder
	for i := 0; i < len(pr.To); i++ {
		c := pr.To[i]
		if c != '$' {
			b.WriteByte(c)
			continue
		}
		j := i + 1
		brace := j < len(pr.To) && pr.To[j] == '{'
		if brace {
			j++
		}
		k := j
		for k < len(pr.To) && pr.To[k] >= '0' && pr.To[k] <= '9' {
			k++
		}
		if k == j || (brace && (k >= len(pr.To) || pr.To[k] != '}')) {
			b.WriteString("$$") // a plain dollar
			continue
		}
		n, _ := strconv.Atoi(pr.To[j:k])
		if n > pr.Regexp.NumSubexp() {
			return "", fmt.Errorf("rewrite %q: $%d, but the expression has %d groups", pr.To, n, pr.Regexp.NumSubexp())
		}
		b.WriteString("${" + pr.To[j:k] + "}")
		if brace {
			k++
		}
		i = k - 1
	}
	return b.String(), nil
}

// regexpGate answers 404 to a request whose path the route's rewrite
// expression does not match, or would rewrite to a path with a dot
// segment, and passes the others on.
type regexpGate struct {
	t    *table
	re   *regexp.Regexp
	to   string // the expansion template; "" keeps the path
	next http.Handler
}

func (g *regexpGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, ok := rewrittenPath(r.URL.Path, g.re, g.to); !ok {
		g.t.onReject("no_route")
		g.t.refusePage(w, r, http.StatusNotFound, noRoutePage)
		return
	}
	g.next.ServeHTTP(w, r)
}

// rewrittenPath is what a rewrite makes of a decoded path: the template
// expanded with the expression's match of the path (runs of slashes
// merged in both); ok is false when the expression does not match or the
// result holds a . or .. segment. An empty template keeps the path.
func rewrittenPath(path string, re *regexp.Regexp, to string) (string, bool) {
	path = mergeSlashes(path)
	idx := re.FindStringSubmatchIndex(path)
	if idx == nil {
		return "", false
	}
	if to == "" {
		return path, true
	}
	out := mergeSlashes("/" + string(re.ExpandString(nil, to, path, idx)))
	for seg := range strings.SplitSeq(out, "/") {
		if seg == "." || seg == ".." {
			return "", false
		}
	}
	return out, true
}

func mergeSlashes(p string) string {
	if !strings.Contains(p, "//") {
		return p
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] == '/' && i > 0 && p[i-1] == '/' {
			continue
		}
		b.WriteByte(p[i])
	}
	return b.String()
}

// Respond answers a route's requests itself: a maintenance page, a
// robots.txt, a health answer.
type Respond struct {
	// Status is the response's status. Zero means 200.
	Status int
	// Body is sent as is, at most 64 KiB. Empty sends none.
	Body string
	// ContentType is the body's type. Empty means text/plain; charset=utf-8.
	ContentType string
}

const maxRespondBody = 64 << 10

// redirectHandler and respondHandler carry what they send, built once.
type redirectHandler struct {
	headers  *headerPolicy
	status   int
	to       string
	keepPath bool
}

func (h *redirectHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.headers.apply(w.Header())
	target := h.to
	if h.keepPath {
		// The path as written, one leading "/" (never "//host", which a
		// browser would take for another site), and the query.
		target = strings.TrimSuffix(h.to, "/") + "/" + strings.TrimLeft(r.URL.EscapedPath(), "/\\")
		if r.URL.RawQuery != "" {
			target += "?" + r.URL.RawQuery
		}
	}
	w.Header().Set("Location", target)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(h.status)
}

type respondHandler struct {
	headers       *headerPolicy
	status        int
	body          []byte
	contentType   []string
	contentLength []string
}

func (h *respondHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	h.headers.apply(hd)
	hd["Content-Type"] = h.contentType
	hd["Content-Length"] = h.contentLength
	w.WriteHeader(h.status)
	_, _ = w.Write(h.body)
}

// CheckRoute reports what is wrong with a route's action, as the table would
// refuse it, or nil. A configuration source calls it to name the line.
func CheckRoute(r SiteRoute) error {
	_, err := (&table{}).newAction(r, r.Policy)
	return err
}

// newAction builds a route's handler: exactly one of its upstream, redirect
// or fixed response, with pol (its site's policy under its own) for its
// headers and timeout.
func (t *table) newAction(r SiteRoute, pol Policy) (http.Handler, error) {
	n := 0
	for _, set := range []bool{r.Upstream != nil, r.Pool != nil, r.Redirect != nil, r.Respond != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, errors.New("a route needs exactly one of an upstream, a pool, a redirect or a response")
	}
	if err := checkPolicy(r.Policy); err != nil {
		return nil, err
	}
	if err := checkProxyOptions(r); err != nil {
		return nil, err
	}
	headers := t.headers
	if headers != nil {
		headers = headers.forRoute(pol)
	}
	switch {
	case r.Redirect != nil:
		status := r.Redirect.Status
		if status == 0 {
			status = http.StatusPermanentRedirect
		}
		switch status {
		case 301, 302, 307, 308:
		default:
			return nil, fmt.Errorf("redirect status %d: want 301, 302, 307 or 308", status)
		}
		u, err := url.Parse(r.Redirect.To)
		switch {
		case err != nil || strings.ContainsAny(r.Redirect.To, "\r\n\x00 \\"):
			return nil, fmt.Errorf("redirect target %q is not a URL", r.Redirect.To)
		case u.Scheme == "" && u.Host == "" && strings.HasPrefix(r.Redirect.To, "/") && !strings.HasPrefix(r.Redirect.To, "//"):
		case u.Scheme == "https" && u.Host != "" && u.User == nil:
		default:
			return nil, fmt.Errorf("redirect target %q: want an https URL or a path starting with one /", r.Redirect.To)
		}
		if r.Redirect.KeepPath && (u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(r.Redirect.To, "?#")) {
			return nil, fmt.Errorf("redirect target %q has a query or fragment, and keep_path would append the request's path after it", r.Redirect.To)
		}
		return &redirectHandler{headers: headers, status: status, to: r.Redirect.To, keepPath: r.Redirect.KeepPath}, nil
	case r.Respond != nil:
		status := r.Respond.Status
		if status == 0 {
			status = http.StatusOK
		}
		if status < 200 || status > 599 {
			return nil, fmt.Errorf("response status %d: want 200 to 599", status)
		}
		if r.Respond.Body != "" && (status == http.StatusNoContent || status == http.StatusNotModified) {
			return nil, fmt.Errorf("response status %d carries no body", status)
		}
		if len(r.Respond.Body) > maxRespondBody {
			return nil, fmt.Errorf("response body of %d bytes: at most %d", len(r.Respond.Body), maxRespondBody)
		}
		ct := r.Respond.ContentType
		if ct == "" {
			ct = "text/plain; charset=utf-8"
		}
		if strings.ContainsAny(ct, "\r\n\x00") {
			return nil, fmt.Errorf("content type %q", ct)
		}
		return &respondHandler{headers: headers, status: status, body: []byte(r.Respond.Body),
			contentType: []string{ct}, contentLength: []string{strconv.Itoa(len(r.Respond.Body))}}, nil
	}
	pc := r.Pool
	if r.Upstream != nil {
		pc = &Pool{Members: []*url.URL{r.Upstream}}
	}
	if err := checkPool(pc); err != nil {
		return nil, err
	}
	var to string
	if r.Rewrite != nil {
		var err error
		if to, err = r.Rewrite.expandTemplate(); err != nil {
			return nil, err
		}
	}
	if t.registry == nil {
		return nil, nil // CheckRoute: nothing to build
	}
	pl := t.registry.acquire(pc, &t.held)
	t.pools = append(t.pools, pl)
	out := &routeOut{base: pl.base, add: strings.TrimRight(r.AddPrefix, "/"), host: r.UpstreamHost, headers: headers, webhook: pol.Webhook != nil}
	if r.StripPrefix {
		out.strip = strings.TrimRight(routeKey(r.Match.Path), "/")
	}
	if r.Rewrite != nil {
		out.re, out.to = r.Rewrite.Regexp, to
		return &regexpGate{t: t, re: out.re, to: to, next: t.newReverseProxy(out, pl, pol.Timeout)}, nil
	}
	return t.newReverseProxy(out, pl, pol.Timeout), nil
}

// checkProxyOptions judges a route's StripPrefix, AddPrefix and UpstreamHost.
func checkProxyOptions(r SiteRoute) error {
	proxies := r.Upstream != nil || r.Pool != nil
	if (r.StripPrefix || r.AddPrefix != "" || r.UpstreamHost != "" || r.Rewrite != nil) && !proxies {
		return errors.New("strip_prefix, add_prefix, upstream_host and a rewrite go with an upstream or a pool")
	}
	if r.Rewrite != nil && (r.StripPrefix || r.AddPrefix != "") {
		return errors.New("a rewrite replaces the whole path: not with strip_prefix or add_prefix")
	}
	if r.StripPrefix && (r.Match.Kind != PathPrefix || strings.Trim(r.Match.Path, "/") == "") {
		return errors.New("strip_prefix needs the route's path (a prefix other than /) to take off")
	}
	if a := r.AddPrefix; a != "" && (!strings.HasPrefix(a, "/") || strings.HasPrefix(a, "//") || strings.ContainsAny(a, "?#\\ \r\n\x00")) {
		return fmt.Errorf("add_prefix %q: want a path such as /v2", a)
	}
	if h := r.UpstreamHost; h != "" && (strings.ContainsAny(h, "/@?# \\\r\n\x00") || hostname.Canonical(h) == "") {
		return fmt.Errorf("upstream_host %q: want a host name, with a port if need be", h)
	}
	return nil
}

// Package proxy owns rampart's request path: routing by Host to an upstream,
// the security headers, the httputil.ReverseProxy (Rewrite, never Director),
// the error pages, the plain-HTTP redirect and the access log.
//
// The route table is a value swapped atomically (SetRoutes), so a reload or a
// controller can replace it under traffic. Everything a request needs (header
// values, redirect prefixes, the per-route ReverseProxy) is built when the
// table is built, not per request.
package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/rampart-proxy/rampart/hostname"
)

// Route sends the requests for one host name to one upstream.
type Route struct {
	// Host is a served name, without port. Required.
	Host string
	// Upstream is the app's base URL, http or https. Required.
	Upstream *url.URL
}

// Site is a set of host names served alike, and its routes.
type Site struct {
	// Hosts are its names: exact, or "*.example.com" for any one label in
	// front of example.com (an exact name of another site wins). Required.
	Hosts []string
	// Routes take its requests: for each, the route whose Match fits best
	// (see RouteMatch). A request that no route takes gets 404. Required.
	Routes []SiteRoute
	// Policy applies to every route, except where a route's own replaces a
	// key. The zero value asks nothing.
	Policy Policy
	// Default makes the site take the requests whose Host no site serves,
	// on connections that named no server (TLS without SNI: a client or a
	// load balancer's health check by address), instead of 421. A name
	// asked for by SNI is never defaulted. At most one site; false for
	// the others.
	Default bool
}

// SiteRoute is what happens to the requests it matches: exactly one of
// Upstream, Pool, Redirect and Respond is set.
type SiteRoute struct {
	// Match is what the request must be; its zero value takes every request.
	Match RouteMatch
	// Upstream is the app's base URL: a pool of one member with the
	// defaults (see Pool.Members). Nil: another action.
	Upstream *url.URL
	// Pool is the app's instances. Nil: another action.
	Pool *Pool
	// Redirect answers with a redirect. Nil: another action.
	Redirect *Redirect
	// Respond answers with a fixed response. Nil: another action.
	Respond *Respond
	// Policy replaces its site's, key by key. The zero value keeps the site's.
	Policy Policy

	// StripPrefix, with Upstream or Pool, takes the route's path off the
	// front of what the app is sent (/api/orders reaches it as /orders),
	// however the client spelt it. False sends the path as it came.
	StripPrefix bool
	// AddPrefix, with Upstream or Pool, is put in front of the path the app
	// is sent (after StripPrefix). Empty adds nothing.
	AddPrefix string
	// UpstreamHost, with Upstream or Pool, is the Host the app is sent.
	// Empty sends the client's.
	UpstreamHost string
	// Rewrite, with Upstream or Pool, replaces the path the app is sent by
	// a regular expression (ingress-nginx's rewrite-target); not with
	// StripPrefix or AddPrefix. Nil sends the path as it came.
	Rewrite *PathRewrite
}

// Config configures a Proxy.
type Config struct {
	// Routes are served names, each with its whole traffic to one upstream:
	// a short form of a Site with one host and one route. A request for a
	// name no route or site serves is refused (421 over HTTPS, 404 over
	// plain HTTP).
	Routes []Route

	// Sites are served names with their routes by path, method and headers.
	// Routes and Sites may both be given; a name may be served once.
	Sites []Site

	// AllowEmpty lets the table serve no name at all, every request refused
	// as for a name not served (the Kubernetes mode, before any Ingress).
	// False: no routes is a mistake, and New and Update refuse it.
	AllowEmpty bool

	// Transport carries requests to the upstreams. If nil, a Transport from
	// NewTransport with its defaults is used.
	Transport http.RoundTripper

	// TrustedProxies are the peers whose X-Forwarded-* and Forwarded headers
	// are kept. Empty means nobody's: rampart sets them from what it sees.
	TrustedProxies []netip.Prefix

	// Headers is the security-header policy; its zero value is the hardened default.
	Headers Headers

	// Limits bounds request bodies and slow clients; its zero value is the default.
	Limits Limits

	// OnReject is called with a short reason ("method", "upgrade",
	// "misdirected", "no_route", "denied", "unauthorized", "rate_limited", "path", "malformed", "range", "body_too_large",
	// "body_timeout", "body_malformed", "response_too_slow", and a Webhook's
	// reasons: "webhook_unsigned", "webhook_signature", "webhook_expired",
	// "webhook_replayed"; "csp_report" for a payment page's report refused)
	// for each
	// request rampart refuses or cuts off itself. Nil means no calls.
	OnReject func(reason string)

	// OnUpstreamError is called with "dial", "timeout", "reset", "tls" or
	// "other" for each failed exchange with the app that was not the
	// client's doing. Nil means no calls.
	OnUpstreamError func(reason string)

	// HTTPSPort is the public HTTPS port that plain-HTTP requests are sent to.
	// Zero means 443, which is left out of redirect URLs. A Host header may
	// name it, 443, or no port; any other port gets 421.
	HTTPSPort int

	// AllowUnderscoreHeaders passes on request headers whose names hold an
	// underscore. False (the default) drops them, as nginx does: servers
	// that read "_" as "-" would see a second Transfer-Encoding or
	// X-Forwarded-For that rampart never checked.
	AllowUnderscoreHeaders bool

	// Logger receives the access log and upstream errors. Nil means no logging.
	Logger *zap.Logger
}

// Proxy is the HTTPS handler. Its Redirect method gives the plain-HTTP one.
type Proxy struct {
	table    atomic.Pointer[table]
	log      *zap.Logger
	upgraded upgraded    // WebSocket connections handed to the app
	buffers  *bufferPool // copy buffers, shared by every route and generation
	registry registry    // pool members, whose state outlives a generation
}

var _ http.Handler = (*Proxy)(nil)

// table is one immutable generation of the configuration: routes, policies
// and limits together, so a request sees one consistent set.
type table struct {
	hosts       map[string]*hostEntry // exact names
	wildcards   map[string]*site      // "*.example.com" by "example.com"
	defaultSite *site                 // for names no site serves, on connections without SNI; nil: none
	transport   http.RoundTripper
	trusted     []netip.Prefix
	headers     *headerPolicy
	limits      Limits
	httpsPort   int
	log         *zap.Logger

	httpsPortText    string // httpsPort, as a Host header spells it
	allowUnderscores bool
	buffers          *bufferPool

	onReject        func(reason string)
	onUpstreamError func(reason string)

	registry *registry
	pools    []*pool   // every route's, for health reports
	held     []*member // the registry's members this table refers to

	limiters map[*RateLimit]*limiter     // one per rate limit given, however many routes share it
	auths    map[*BasicAuth]*authChecker // one per basic auth given
}

// site is a Site, built: its routes' matcher and their ReverseProxies.
type site struct {
	matcher *matcher
	routes  []http.Handler // by route index: a ReverseProxy, a redirect or a fixed response
	limits  []Limits       // by route index: the table's, with the route's body limit

	collector       http.Handler // ReportPath's, if a route is a payment page; nil: none
	collectorLimits Limits
}

// hostEntry is an exact name: its site and its redirect prefix, built once.
type hostEntry struct {
	site       *site
	redirectTo string // "https://host[:port]", the prefix of a plain-HTTP redirect
}

// lookup finds the site serving a canonical host name, or nil.
func (t *table) lookup(host string) *site {
	if e := t.hosts[host]; e != nil {
		return e.site
	}
	if i := strings.IndexByte(host, '.'); i > 0 && len(t.wildcards) > 0 && dnsLabel(host[:i]) {
		return t.wildcards[host[i+1:]]
	}
	return nil
}

// dnsLabel tells whether s is one DNS label: what a wildcard stands for.
func dnsLabel(s string) bool {
	if len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// redirectTo is the plain-HTTP redirect prefix for a canonical host, and
// whether it is served at all: built once for an exact name, per request for
// a wildcard's.
func (t *table) redirectTo(host string) (string, bool) {
	if e := t.hosts[host]; e != nil {
		return e.redirectTo, true
	}
	if t.lookup(host) != nil {
		return redirectPrefix(host, t.httpsPort), true
	}
	return "", false
}

func redirectPrefix(host string, httpsPort int) string {
	if ip, err := netip.ParseAddr(host); err == nil && ip.Is6() {
		return "https://" + net.JoinHostPort(host, strconv.Itoa(httpsPort))
	}
	if httpsPort != 443 {
		return "https://" + host + ":" + strconv.Itoa(httpsPort)
	}
	return "https://" + host
}

// New validates cfg and returns a Proxy serving it.
func New(cfg Config) (*Proxy, error) {
	p := &Proxy{log: cfg.Logger, buffers: newBufferPool()}
	if p.log == nil {
		p.log = zap.NewNop()
	}
	p.registry.log = p.log
	p.registry.transport = func() http.RoundTripper {
		if t := p.table.Load(); t != nil {
			return t.transport
		}
		return nil
	}
	if err := p.Update(cfg); err != nil {
		return nil, err
	}
	return p, nil
}

// Update replaces the whole configuration atomically (cfg.Logger is not
// changed). Requests in flight finish on the generation they started with.
// On error the running configuration stays. Pool members that the new
// configuration keeps (the same URL and health settings) keep their health
// state and load counts.
func (p *Proxy) Update(cfg Config) error {
	t, err := p.build(cfg)
	if err != nil {
		if t != nil {
			p.registry.release(t.held)
		}
		return err
	}
	if old := p.table.Swap(t); old != nil {
		p.registry.release(old.held)
	}
	return nil
}

func (p *Proxy) build(cfg Config) (*table, error) {
	t := &table{
		registry:  &p.registry,
		transport: cfg.Transport,
		trusted:   cfg.TrustedProxies,
		headers:   newHeaderPolicy(cfg.Headers),
		limits:    cfg.Limits.withDefaults(),
		httpsPort: cfg.HTTPSPort,
		log:       p.log,
		buffers:   p.buffers,

		allowUnderscores: cfg.AllowUnderscoreHeaders,

		onReject:        cfg.OnReject,
		onUpstreamError: cfg.OnUpstreamError,
	}
	if t.onReject == nil {
		t.onReject = func(string) {}
	}
	if t.onUpstreamError == nil {
		t.onUpstreamError = func(string) {}
	}
	if t.transport == nil {
		t.transport = NewTransport(TransportConfig{})
	}
	if t.httpsPort == 0 {
		t.httpsPort = 443
	}
	if t.httpsPort < 0 || t.httpsPort > 65535 {
		return nil, fmt.Errorf("proxy: HTTPS port %d out of range", t.httpsPort)
	}
	t.httpsPortText = strconv.Itoa(t.httpsPort)
	sites := slices.Clip(cfg.Sites) // appended to: never into the caller's spare room
	for _, r := range cfg.Routes {
		sites = append(sites, Site{Hosts: []string{r.Host}, Routes: []SiteRoute{{Upstream: r.Upstream}}})
	}
	if len(sites) == 0 && !cfg.AllowEmpty {
		return nil, errors.New("proxy: no routes")
	}
	t.hosts, t.wildcards = map[string]*hostEntry{}, map[string]*site{}
	var anyPage PaymentPage // the table's first payment page: every route then watches the scripts pages load
	var built []*site
	for _, sc := range sites {
		if len(sc.Hosts) == 0 || len(sc.Routes) == 0 {
			return t, errors.New("proxy: a site needs hosts and routes")
		}
		st := &site{}
		matches := make([]RouteMatch, len(sc.Routes))
		var pages []PaymentPage
		if err := checkPolicy(sc.Policy); err != nil {
			return t, fmt.Errorf("proxy: site %q: %w", sc.Hosts[0], err)
		}
		for i, r := range sc.Routes {
			pol := sc.Policy.merge(r.Policy)
			h, err := t.newAction(r, pol)
			if err != nil {
				return t, fmt.Errorf("proxy: site %q, route %d: %w", sc.Hosts[0], i, err)
			}
			matches[i] = r.Match
			if pol.PaymentPage != nil {
				pages = append(pages, pol.PaymentPage)
				h = &pageHandler{page: pol.PaymentPage, next: h}
			}
			st.routes = append(st.routes, t.withPolicy(h, pol))
			lim := t.limits
			if pol.MaxBodyBytes > 0 {
				lim.MaxBodyBytes = pol.MaxBodyBytes
				lim.BufferBodyBytes = min(lim.BufferBodyBytes, lim.MaxBodyBytes)
			}
			if pol.Webhook != nil { // its signature covers the whole body: all of it is read before the app is asked
				if pol.MaxBodyBytes == 0 {
					lim.MaxBodyBytes = min(lim.MaxBodyBytes, webhookMaxBody)
				}
				lim.MaxBodyBytes = min(lim.MaxBodyBytes, webhookMaxBodyCeiling)
				lim.BufferBodyBytes = lim.MaxBodyBytes
			}
			st.limits = append(st.limits, lim)
		}
		st.matcher = newMatcher(matches)
		st.collector, st.collectorLimits = t.siteCollector(pages)
		if anyPage == nil && len(pages) > 0 {
			anyPage = pages[0]
		}
		built = append(built, st)
		if sc.Default {
			if t.defaultSite != nil {
				return t, fmt.Errorf("proxy: site %q is a second default site: mark one", sc.Hosts[0])
			}
			t.defaultSite = st
		}
		for _, h := range sc.Hosts {
			wild := strings.HasPrefix(h, "*.")
			host := hostname.Canonical(strings.TrimPrefix(h, "*."))
			switch {
			case host == "" || strings.Contains(host, "*"):
				return t, fmt.Errorf("proxy: host %q: want a name, or *. and a name", h)
			case wild && t.wildcards[host] != nil, !wild && t.hosts[host] != nil:
				return t, fmt.Errorf("proxy: host %q routed twice", h)
			case wild:
				t.wildcards[host] = st
			default:
				t.hosts[host] = &hostEntry{site: st, redirectTo: redirectPrefix(host, t.httpsPort)}
			}
		}
	}
	if anyPage != nil {
		for _, st := range built {
			for i, h := range st.routes {
				st.routes[i] = &scriptHandler{page: anyPage, next: h}
			}
		}
	}
	return t, nil
}

func (t *table) newReverseProxy(out *routeOut, pl *pool, timeout time.Duration) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite:        func(pr *httputil.ProxyRequest) { t.rewrite(pr, out) },
		Transport:      &poolTransport{pool: pl, next: t.transport, timeout: timeout},
		ModifyResponse: func(res *http.Response) error { out.headers.apply(res.Header); return nil },
		ErrorHandler:   t.upstreamError,
		ErrorLog:       zap.NewStdLog(t.log.Named("reverseproxy")),
		BufferPool:     t.buffers,
	}
}

// ServeHTTP checks, bounds and routes an HTTPS request.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t := p.table.Load()
	// Hygiene: method, upgrade, names and path, before anything else.
	st, status, reason := checkRequest(t, r)
	if st == nil {
		t.onReject(reason)
		t.refuse(w, r, status)
		return
	}
	// The route, by the path as it is forwarded (escaped as the client sent it).
	var action http.Handler
	var limits *Limits
	if st.collector != nil && isRampartPath(r.URL.EscapedPath()) {
		action, limits = st.collector, &st.collectorLimits // the browsers' reports: rampart's, never the app's
	} else {
		i := st.matcher.match(r.Method, r.URL.EscapedPath(), r.Header)
		if i < 0 {
			t.onReject("no_route")
			t.refusePage(w, r, http.StatusNotFound, noRoutePage)
			return
		}
		action, limits = st.routes[i], &st.limits[i]
	}

	// RFC 9112 §6.1: a chunked HTTP/1 request (perhaps with a Content-Length
	// that net/http has already dropped) closes its connection afterwards, so
	// no second request can hide behind an ambiguous body.
	if r.ProtoMajor == 1 && len(r.TransferEncoding) > 0 {
		w.Header().Set("Connection", "close")
	}

	// Deadlines: each write to the client has its own; the body is paced.
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // clear what a previous request on this connection left
	defer func() { _ = rc.SetWriteDeadline(time.Now().Add(t.limits.WriteIdleTimeout)) }()
	minRate := max(t.limits.MinResponseRate, 0)
	if r.ProtoMajor != 1 {
		minRate = 0 // HTTP/2 streams are not judged one by one: see writeDeadline
	}
	w = &writeDeadline{ResponseWriter: w, rc: rc, t: t, idle: t.limits.WriteIdleTimeout, minRate: minRate, conn: http1Conn(r)}
	status, reason, br := limits.prepareBody(w, rc, r)
	if br != nil {
		defer br.handlerDone()
	}
	if status != 0 {
		t.log.Debug("request body refused", zap.String("request_id", r.Header.Get("X-Request-Id")), zap.Int("status", status), zap.String("host", r.Host))
		t.onReject(reason)
		t.refuse(w, r, status)
		return
	}
	if _, ok := r.Header["Upgrade"]; ok { // checkRequest let only WebSocket through
		w = &hijackTracker{ResponseWriter: w, set: &p.upgraded, idle: t.limits.WriteIdleTimeout}
	}
	action.ServeHTTP(w, r)
}

// GoAway closes every WebSocket connection cleanly: a Close frame with status
// 1001 (going away) at the next frame boundary, then a grace period for the
// client's answer, which reaches the app too. It returns when all are closed,
// or when ctx ends, cutting what is left. Call it beside http.Server.Shutdown,
// which does not wait for upgraded connections.
func (p *Proxy) GoAway(ctx context.Context) { p.upgraded.goAway(ctx) }

// routeOut is what a proxying route does to the outbound request and its
// answer, built once.
type routeOut struct {
	base    *url.URL       // the pool's base URL
	strip   string         // the route's path as routeKey has it, without a trailing "/"; "" strips nothing
	add     string         // put in front of the path, without a trailing "/"
	host    string         // the Host sent; "" sends the client's
	headers *headerPolicy  // the table's, with the route's policy on top
	re      *regexp.Regexp // a Rewrite's, or nil
	to      string         // a Rewrite's target, as a regexp.Expand template
	webhook bool           // the route checks webhooks: WebhookVerifiedHeader is rampart's
}

// rewrite builds the outbound request. ReverseProxy has already removed the
// hop-by-hop headers and every inbound X-Forwarded-* and Forwarded header.
func (t *table) rewrite(pr *httputil.ProxyRequest, out *routeOut) {
	switch {
	case out.re != nil && out.to != "":
		rewriteRegexp(pr.Out.URL, out.re, out.to)
	case out.strip != "" || out.add != "":
		rewritePath(pr.Out.URL, out.strip, out.add)
	}
	pr.SetURL(out.base)
	pr.Out.Host = pr.In.Host // the app sees the name the client asked for
	if out.host != "" {
		pr.Out.Host = out.host
	}
	if inMemory(pr.In.Body) {
		// Read in full already (prepareBody), so the lean path may send it at
		// once: ReverseProxy's wrapper, which guards a body still arriving,
		// would hide that.
		pr.Out.Body = pr.In.Body
	}
	t.setClientHeaders(pr)
	if out.webhook { // set by the policy, after the client's was dropped
		pr.Out.Header[WebhookVerifiedHeader] = pr.In.Header[WebhookVerifiedHeader]
	}
}

// rewritePath takes strip (a route's path, as routeKey has it) off the
// front of u's path, at the first segment boundary where what comes before
// reads as strip however it is spelt (/API, /api;x, /%61pi), and puts add in
// front of what is left.
// rewriteRegexp sets u's path to what the route's rewrite makes of it
// (its gate let only paths it rewrites cleanly through).
func rewriteRegexp(u *url.URL, re *regexp.Regexp, to string) {
	if p, ok := rewrittenPath(u.Path, re, to); ok {
		u.Path, u.RawPath = p, ""
	}
}

// setEscapedPath gives u the escaped path esc ("/" in front if it lacks one).
func setEscapedPath(u *url.URL, esc string) {
	if esc == "" || esc[0] != '/' {
		esc = "/" + esc
	}
	if p, err := url.PathUnescape(esc); err == nil {
		u.Path, u.RawPath = p, esc
		if u.EscapedPath() != esc {
			u.RawPath = ""
		}
	}
}

func rewritePath(u *url.URL, strip, add string) {
	esc := u.EscapedPath()
	if strip != "" {
		for j := 1; j <= len(esc); j++ {
			if (j == len(esc) || esc[j] == '/' || esc[j] == '\\') && strings.TrimRight(routeKey(esc[:j]), "/") == strip {
				esc = esc[j:]
				break
			}
		}
	}
	if esc == "" || esc[0] != '/' {
		esc = "/" + esc
	}
	setEscapedPath(u, add+esc)
}

// upstreamError answers a failed upstream exchange: 504 when the app was too
// slow, 502 otherwise, with a short page and the cause in the log only.
func (t *table) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		// The client went away (499 in nginx's terms); nobody is left to answer.
		t.log.Debug("client gone before upstream answered", zap.String("request_id", r.Header.Get("X-Request-Id")), zap.String("host", r.Host), zap.Error(err))
		return
	}
	if cbf := (*clientBodyFault)(nil); errors.As(err, &cbf) {
		// The client's body failed (malformed, too big, too slow, broken
		// off): its fault, not the app's.
		status, reason := clientBodyStatus(cbf)
		t.log.Debug("request body failed", zap.String("request_id", r.Header.Get("X-Request-Id")), zap.Int("status", status), zap.String("host", r.Host), zap.Error(cbf))
		t.onReject(reason)
		t.refuse(w, r, status)
		return
	}
	status := http.StatusBadGateway
	if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
		status = http.StatusGatewayTimeout
	}
	t.onUpstreamError(upstreamErrorReason(err))
	t.log.Warn("upstream failed",
		zap.String("request_id", r.Header.Get("X-Request-Id")),
		zap.Int("status", status),
		zap.String("host", r.Host),
		zap.String("method", r.Method),
		zap.String("path", r.URL.Path),
		zap.Error(err))
	t.errorPage(w, status, errorPages[status])
}

// upstreamErrorReason sorts a failed exchange with the app into a few kinds.
func upstreamErrorReason(err error) string {
	var oe *net.OpError
	var tlsErr tls.RecordHeaderError
	var certErr *tls.CertificateVerificationError
	switch {
	case errors.As(err, &oe) && oe.Op == "dial":
		return "dial"
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return "timeout"
	case errors.As(err, &tlsErr), errors.As(err, &certErr), strings.Contains(err.Error(), "tls: "):
		return "tls"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET), strings.Contains(err.Error(), "connection reset"):
		return "reset"
	}
	return "other"
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// errorPages are the bodies rampart itself sends: no internal detail.
var errorPages = map[int]string{
	http.StatusBadRequest:                   "400 Bad Request: rampart refused this request.\n",
	http.StatusUnauthorized:                 "401 Unauthorized: this site asks for a user name and password.\n",
	http.StatusForbidden:                    "403 Forbidden: this site does not take requests from your address.\n",
	http.StatusTooManyRequests:              "429 Too Many Requests: slow down, and try again after the time in Retry-After.\n",
	http.StatusMethodNotAllowed:             "405 Method Not Allowed.\n",
	http.StatusRequestTimeout:               "408 Request Timeout: the request body arrived too slowly.\n",
	http.StatusRequestEntityTooLarge:        "413 Content Too Large.\n",
	http.StatusMisdirectedRequest:           "421 Misdirected Request: this server does not serve that name.\n",
	http.StatusRequestedRangeNotSatisfiable: "416 Range Not Satisfiable: too many ranges.\n",
	http.StatusBadGateway:                   "502 Bad Gateway: the application could not be reached.\n",
	http.StatusGatewayTimeout:               "504 Gateway Timeout: the application did not answer in time.\n",
	http.StatusNotFound:                     "404 Not Found: this server does not serve that name.\n",
}

// noRoutePage is the 404 for a served name whose routes do not take the path.
const noRoutePage = "404 Not Found: no route of this site takes that path.\n"

// refuse answers a request rampart will not pass on. An HTTP/1 request whose
// body was not read to the end also loses its connection, at once: net/http
// would otherwise try to drain up to 256 KiB of a body nobody wants (or one
// that never comes), holding the connection and its goroutine while it waits.
func (t *table) refuse(w http.ResponseWriter, r *http.Request, status int) {
	t.refusePage(w, r, status, errorPages[status])
}

// refusePage is refuse with a page other than the status's own.
func (t *table) refusePage(w http.ResponseWriter, r *http.Request, status int, page string) {
	if r.ProtoMajor == 1 && r.ContentLength != 0 {
		w.Header().Set("Connection", "close")
		defer func() { _ = http.NewResponseController(w).SetReadDeadline(time.Now()) }()
	}
	t.errorPage(w, status, page)
}

func (t *table) errorPage(w http.ResponseWriter, status int, page string) {
	h := w.Header()
	t.headers.apply(h)
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, page)
}

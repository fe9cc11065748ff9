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
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strconv"
	"sync/atomic"

	"go.uber.org/zap"
)

// Route sends the requests for one host name to one upstream.
type Route struct {
	// Host is a served name, without port. Required.
	Host string
	// Upstream is the app's base URL, http or https. Required.
	Upstream *url.URL
}

// Config configures a Proxy.
type Config struct {
	// Routes are the served names. A request for any other name is refused
	// (421 over HTTPS, 404 over plain HTTP).
	Routes []Route

	// Transport carries requests to the upstreams. If nil, a Transport from
	// NewTransport with its defaults is used.
	Transport http.RoundTripper

	// TrustedProxies are the peers whose X-Forwarded-* and Forwarded headers
	// are kept. Empty means nobody's: rampart sets them from what it sees.
	TrustedProxies []netip.Prefix

	// Headers is the security-header policy; its zero value is the hardened default.
	Headers Headers

	// HTTPSPort is the public HTTPS port that plain-HTTP requests are sent to.
	// Zero means 443, which is left out of redirect URLs.
	HTTPSPort int

	// Logger receives the access log and upstream errors. Nil means no logging.
	Logger *zap.Logger
}

// Proxy is the HTTPS handler. Its Redirect method gives the plain-HTTP one.
type Proxy struct {
	table     atomic.Pointer[table]
	transport http.RoundTripper
	trusted   []netip.Prefix
	headers   *headerPolicy
	httpsPort int
	log       *zap.Logger
}

var _ http.Handler = (*Proxy)(nil)

// table is one immutable generation of the routes.
type table struct {
	routes map[string]*route
}

type route struct {
	rp         *httputil.ReverseProxy
	redirectTo string // "https://host[:port]", the prefix of a plain-HTTP redirect
}

// New validates cfg and returns a Proxy serving its routes.
func New(cfg Config) (*Proxy, error) {
	p := &Proxy{
		transport: cfg.Transport,
		trusted:   cfg.TrustedProxies,
		headers:   newHeaderPolicy(cfg.Headers),
		httpsPort: cfg.HTTPSPort,
		log:       cfg.Logger,
	}
	if p.log == nil {
		p.log = zap.NewNop()
	}
	if p.transport == nil {
		p.transport = NewTransport(TransportConfig{})
	}
	if p.httpsPort == 0 {
		p.httpsPort = 443
	}
	if p.httpsPort < 0 || p.httpsPort > 65535 {
		return nil, fmt.Errorf("proxy: HTTPS port %d out of range", p.httpsPort)
	}
	if err := p.SetRoutes(cfg.Routes); err != nil {
		return nil, err
	}
	return p, nil
}

// SetRoutes replaces the route table atomically. Requests in flight finish
// on the table they started with. On error the old table stays.
func (p *Proxy) SetRoutes(routes []Route) error {
	if len(routes) == 0 {
		return errors.New("proxy: no routes")
	}
	t := &table{routes: make(map[string]*route, len(routes))}
	for _, r := range routes {
		host := canonicalHost(r.Host)
		if host == "" {
			return errors.New("proxy: route with an empty host")
		}
		if _, dup := t.routes[host]; dup {
			return fmt.Errorf("proxy: host %q routed twice", host)
		}
		if r.Upstream == nil || (r.Upstream.Scheme != "http" && r.Upstream.Scheme != "https") || r.Upstream.Host == "" {
			return fmt.Errorf("proxy: route %q: upstream must be an http or https URL", host)
		}
		t.routes[host] = p.newRoute(host, r.Upstream)
	}
	p.table.Store(t)
	return nil
}

func (p *Proxy) newRoute(host string, upstream *url.URL) *route {
	redirectTo := "https://" + host
	if p.httpsPort != 443 {
		redirectTo += ":" + strconv.Itoa(p.httpsPort)
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.Is6() {
		redirectTo = "https://" + net.JoinHostPort(host, strconv.Itoa(p.httpsPort))
	}
	rp := &httputil.ReverseProxy{
		Rewrite:        func(pr *httputil.ProxyRequest) { p.rewrite(pr, upstream) },
		Transport:      p.transport,
		ModifyResponse: p.modifyResponse,
		ErrorHandler:   p.upstreamError,
		ErrorLog:       zap.NewStdLog(p.log.Named("reverseproxy")),
	}
	return &route{rp: rp, redirectTo: redirectTo}
}

// ServeHTTP routes an HTTPS request by Host and TLS server name.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t := p.table.Load()
	rt := t.routes[canonicalHost(r.Host)]
	// RFC 9110 §15.5.20: a request whose connection was set up for another
	// name (SNI) or that names a host this server does not serve is misdirected.
	if rt == nil || (r.TLS != nil && r.TLS.ServerName != "" && t.routes[canonicalHost(r.TLS.ServerName)] == nil) {
		p.errorPage(w, http.StatusMisdirectedRequest)
		return
	}
	rt.rp.ServeHTTP(w, r)
}

// rewrite builds the outbound request. ReverseProxy has already removed the
// hop-by-hop headers and every inbound X-Forwarded-* and Forwarded header.
func (p *Proxy) rewrite(pr *httputil.ProxyRequest, upstream *url.URL) {
	pr.SetURL(upstream)
	pr.Out.Host = pr.In.Host // the app sees the name the client asked for
	if !p.fromTrustedProxy(pr.In.RemoteAddr) {
		pr.SetXForwarded()
		return
	}
	// A trusted proxy's chain is extended, and its view of host and scheme kept.
	in, out := pr.In.Header, pr.Out.Header
	if v, ok := in["X-Forwarded-For"]; ok {
		out["X-Forwarded-For"] = v
	}
	pr.SetXForwarded()
	for _, k := range []string{"X-Forwarded-Host", "X-Forwarded-Proto", "Forwarded"} {
		if v, ok := in[k]; ok {
			out[k] = v
		}
	}
}

func (p *Proxy) fromTrustedProxy(remoteAddr string) bool {
	if len(p.trusted) == 0 {
		return false
	}
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return false
	}
	ip := ap.Addr().Unmap()
	for _, prefix := range p.trusted {
		if prefix.Contains(ip) {
			return true
		}
	}
	return false
}

func (p *Proxy) modifyResponse(res *http.Response) error {
	p.headers.apply(res.Header)
	return nil
}

// upstreamError answers a failed upstream exchange: 504 when the app was too
// slow, 502 otherwise, with a short page and the cause in the log only.
func (p *Proxy) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		// The client went away; nobody is left to answer.
		p.log.Debug("client gone before upstream answered", zap.String("host", r.Host), zap.Error(err))
		return
	}
	status := http.StatusBadGateway
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		status = http.StatusGatewayTimeout
	}
	p.log.Warn("upstream failed",
		zap.Int("status", status),
		zap.String("host", r.Host),
		zap.String("method", r.Method),
		zap.String("path", r.URL.Path),
		zap.Error(err))
	p.errorPage(w, status)
}

// errorPages are the bodies rampart itself sends: no internal detail.
var errorPages = map[int]string{
	http.StatusMisdirectedRequest: "421 Misdirected Request: this server does not serve that name.\n",
	http.StatusBadGateway:         "502 Bad Gateway: the application could not be reached.\n",
	http.StatusGatewayTimeout:     "504 Gateway Timeout: the application did not answer in time.\n",
	http.StatusNotFound:           "404 Not Found: this server does not serve that name.\n",
}

func (p *Proxy) errorPage(w http.ResponseWriter, status int) {
	h := w.Header()
	p.headers.apply(h)
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(errorPages[status]))
}

package proxy

import (
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"strings"
)

// clientIdentityHeaders name the client to an app (its address, its
// certificate, its user), or the scheme, host, port or path it came in on,
// and frameworks believe them (Gin's ClientIP, chi's RealIP, Echo,
// Express's trust proxy, Symfony's X-Original-URL, Tomcat's RemoteIpValve,
// Grafana's auth proxy). From anyone but a trusted proxy they are the client's
// word about itself, so they are dropped; rampart says what it saw in
// X-Forwarded-For, -Host, -Proto and X-Real-IP. X-Forwarded-* and
// Forwarded themselves are dropped by httputil.ReverseProxy.
var clientIdentityHeaders = func() map[string]bool {
	m := map[string]bool{}
	for _, k := range []string{
		"X-Real-IP", "True-Client-IP", "CF-Connecting-IP", "X-Client-IP", "Client-IP", "X-Cluster-Client-IP",
		"X-Originating-IP", "X-Forwarded", "Forwarded-For", "Fastly-Client-IP", "X-ProxyUser-IP",
		"X-Envoy-External-Address", "X-Original-Forwarded-For", "X-Forwarded-Server", "X-Forwarded-Port",
		"X-Forwarded-Scheme", "X-Forwarded-Ssl", "X-Forwarded-Prefix", "X-Forwarded-Uri", "X-Forwarded-Path",
		"X-Url-Scheme", "Front-End-Https", "X-Original-URL", "X-Original-URI", "X-Rewrite-URL",
		"X-Original-Host", "X-Host", "X-Forwarded-By", "X-Forwarded-Protocol", "Proxy-Client-IP", "WL-Proxy-Client-IP",
		// Client certificates as a TLS-terminating proxy passes them on.
		"X-Forwarded-Client-Cert", "X-Client-Cert", "X-SSL-Client-Cert", "SSL-Client-Cert", "X-SSL-Client-Verify",
		"X-Client-Verify", "X-SSL-Client-S-DN", "X-Client-DN",
		// Who the user is, as an authenticating proxy says it.
		"Remote-User", "X-Remote-User", "X-Forwarded-User", "X-Forwarded-Email", "X-Forwarded-Preferred-Username",
		"X-Forwarded-Groups", "X-Forwarded-Access-Token", "X-Auth-Request-User", "X-Auth-Request-Email",
		"X-Auth-Request-Preferred-Username", "X-Auth-Request-Groups", "X-Auth-Request-Access-Token", "X-WebAuth-User",
	} {
		m[http.CanonicalHeaderKey(k)] = true
	}
	return m
}()

// dropHeaders removes from the outbound request the client identity
// headers of an untrusted peer, WebhookVerifiedHeader whoever sent it, and,
// unless they are allowed, names with an underscore, in one pass over the
// header map.
func (t *table) dropHeaders(h http.Header, trusted bool) {
	for k := range h {
		underscore := strings.IndexByte(k, '_') >= 0
		if (!trusted && clientIdentityHeaders[k]) || k == WebhookVerifiedHeader || (underscore && (!t.allowUnderscores || webhookVerifiedSpelling(k))) {
			delete(h, k)
		}
	}
}

// webhookVerifiedSpelling tells whether a name with underscores reads as
// WebhookVerifiedHeader to an app that takes _ for - (CGI, WSGI, Rack):
// rampart's header must never come from a client, however spelt.
func webhookVerifiedSpelling(k string) bool {
	return strings.EqualFold(strings.ReplaceAll(k, "_", "-"), WebhookVerifiedHeader)
}

// setClientHeaders sets what rampart says about the client, after
// ReverseProxy has removed the hop-by-hop headers, so that a Connection
// header naming them cannot remove them: the request id, X-Forwarded-*,
// and X-Real-IP (as nginx users expect it).
func (t *table) setClientHeaders(pr *httputil.ProxyRequest) {
	in, out := pr.In.Header, pr.Out.Header
	if id, ok := in["X-Request-Id"]; ok { // with AccessLog in front, as rampart has it, one value of a safe shape
		out["X-Request-Id"] = id
	}
	peer := clientIP(pr.In.RemoteAddr)
	trusted := len(t.trusted) > 0 && t.trustedAddr(peer)
	t.dropHeaders(out, trusted)
	if !trusted {
		pr.SetXForwarded()
		out["X-Real-Ip"] = []string{peer}
		return
	}
	// A trusted proxy's chain is extended, and its view of host and scheme
	// and of the client kept.
	if v, ok := in["X-Forwarded-For"]; ok {
		out["X-Forwarded-For"] = v
	}
	pr.SetXForwarded()
	for _, k := range []string{"X-Forwarded-Host", "X-Forwarded-Proto", "Forwarded"} {
		if v, ok := in[k]; ok {
			out[k] = v
		}
	}
	if _, ok := out["X-Real-Ip"]; !ok {
		out["X-Real-Ip"] = []string{t.realIP(out["X-Forwarded-For"], peer)}
	}
}

// clientIP is the address part of a RemoteAddr.
func clientIP(remoteAddr string) string {
	if host, _, err := net.SplitHostPort(remoteAddr); err == nil {
		return host
	}
	return remoteAddr
}

// realIP finds the client behind trusted proxies: the last address of the
// X-Forwarded-For chain (which ends with the peer) that is not a trusted
// proxy's, as nginx's real_ip_recursive does. An entry that is not an
// address ends the walk at the last trusted one.
func (t *table) realIP(xff []string, peer string) string {
	last := peer
	chain := strings.Split(strings.Join(xff, ","), ",")
	for i := len(chain) - 1; i >= 0; i-- {
		if !t.trustedAddr(last) {
			return last
		}
		a, err := netip.ParseAddr(strings.TrimSpace(chain[i]))
		if err != nil {
			return last
		}
		last = a.Unmap().String()
	}
	return last
}

func (t *table) trustedAddr(s string) bool {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range t.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

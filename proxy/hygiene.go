package proxy

import (
	"net/http"
	"strings"

	"github.com/rampart-proxy/rampart/hostname"
)

// allowedMethods are the methods an app behind rampart receives. CONNECT
// would make rampart a tunnel, TRACE reflects credentials back (cross-site
// tracing); lower-case and unknown methods are refused rather than passed to
// an app that may treat "get" as GET, or as something else.
var allowedMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodOptions: true,
}

// maxRangeBytes bounds the Range (and Request-Range) header: 100 ranges of
// two 19-digit offsets fit with room to spare.
const maxRangeBytes = 4 << 10

// checkRequest applies the request hygiene that comes before routing and
// returns the request's site, or the status to refuse with and a short
// reason. net/http has already answered malformed requests (400), oversized
// headers (431) and "OPTIONS *" itself.
func checkRequest(t *table, r *http.Request) (*site, int, string) {
	if !allowedMethods[r.Method] {
		return nil, http.StatusMethodNotAllowed, "method"
	}
	// Only WebSocket may change protocols: h2c and anything else would let a
	// client speak past rampart's parser to the app (h2c smuggling).
	if up, ok := r.Header["Upgrade"]; ok {
		if len(up) != 1 || !strings.EqualFold(strings.TrimSpace(up[0]), "websocket") || r.Method != http.MethodGet {
			return nil, http.StatusBadRequest, "upgrade"
		}
	}
	// RFC 9113 §8.3.1: an HTTP/2 :path is origin-form. An absolute one
	// names a host beside :authority, and parsers disagree on which wins.
	if r.ProtoMajor == 2 && r.URL.Host != "" {
		return nil, http.StatusBadRequest, "malformed"
	}
	// A target with a scheme but no "//" ("https:@evil.test/x") is opaque to
	// Go: it has no path for a route, and would reach an app as a request
	// line no client means.
	if r.URL.Opaque != "" {
		return nil, http.StatusBadRequest, "malformed"
	}
	host := hostname.Canonical(r.Host)
	// RFC 9110 §15.5.20: a name not served, a port rampart does not serve
	// it on, or a connection set up for another name (SNI), is misdirected.
	// This also covers absolute-form targets, whose host net/http puts in
	// r.Host.
	st := t.lookup(host)
	if st == nil && t.defaultSite != nil && (r.TLS == nil || r.TLS.ServerName == "") {
		// A name served by no site, on a connection that named none (a
		// client or a load balancer's check by address): the default site.
		st = t.defaultSite
	}
	if st == nil || !t.servedPort(hostPort(r.Host)) {
		return nil, http.StatusMisdirectedRequest, "misdirected"
	}
	if r.TLS != nil && r.TLS.ServerName != "" && hostname.Canonical(r.TLS.ServerName) != host {
		return nil, http.StatusMisdirectedRequest, "misdirected"
	}
	if !pathAllowed(r) {
		return nil, http.StatusBadRequest, "path"
	}
	if status, reason := t.checkHeaders(r); status != 0 {
		return nil, status, reason
	}
	return st, 0, ""
}

// checkHeaders looks once through the request's headers for those that
// would let a client make the app believe something rampart did not check:
// a method override to a method rampart refuses; a Range beyond
// Limits.MaxRanges (the "Apache Killer"); and the HTTP/2 forms that
// HTTP/1.1 refuses (differing or malformed content-length, a host header
// that is not the :authority), which get the same 400 here.
func (t *table) checkHeaders(r *http.Request) (int, string) {
	ranges, rangeBytes := 0, 0
	for k, vs := range r.Header {
		switch k {
		case "X-Http-Method-Override", "X-Http-Method", "X-Method-Override":
			for _, v := range vs {
				if !allowedMethods[v] {
					return http.StatusMethodNotAllowed, "method"
				}
			}
		case "Range", "Request-Range":
			for _, v := range vs {
				ranges += strings.Count(v, ",") + 1
				rangeBytes += len(v)
			}
		case "Content-Length":
			if r.ProtoMajor == 2 && !plainLength(vs) {
				return http.StatusBadRequest, "malformed"
			}
		case "Host":
			// HTTP/1 keeps no Host in Header; HTTP/2 keeps a host header
			// beside the :authority that is r.Host (RFC 9113 §8.3.1).
			if len(vs) != 1 || !strings.EqualFold(vs[0], r.Host) {
				return http.StatusBadRequest, "malformed"
			}
		}
	}
	if t.limits.MaxRanges >= 0 && (ranges > t.limits.MaxRanges || rangeBytes > maxRangeBytes) {
		return http.StatusRequestedRangeNotSatisfiable, "range"
	}
	return 0, ""
}

// plainLength reports whether Content-Length values are one length, as
// HTTP/1.1 requires: every value the same, and only digits.
func plainLength(vs []string) bool {
	for _, v := range vs {
		if v != vs[0] || v == "" || len(v) > 18 {
			return false
		}
		for i := 0; i < len(v); i++ {
			if v[i] < '0' || v[i] > '9' {
				return false
			}
		}
	}
	return true
}

// servedPort reports whether a Host header's port (or "" for none) is one
// rampart serves HTTPS on: its own listener's, or 443 (which a load
// balancer in front may forward to it).
func (t *table) servedPort(port string) bool {
	return port == "" || port == "443" || port == t.httpsPortText
}

// hostPort returns the port of a Host value, or "" if it has none.
func hostPort(host string) string {
	i := strings.LastIndexByte(host, ':')
	if i < 0 || strings.IndexByte(host, ']') > i {
		return ""
	}
	if strings.IndexByte(host[:i], ':') >= 0 && !strings.HasPrefix(host, "[") {
		return "" // a bare IPv6 address
	}
	return host[i+1:]
}

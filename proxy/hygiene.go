package proxy

import (
	"net/http"
	"strings"
)

// allowedMethods are the methods an app behind rampart receives. CONNECT
// would make rampart a tunnel, TRACE reflects credentials back (cross-site
// tracing); lower-case and unknown methods are refused rather than passed to
// an app that may treat "get" as GET, or as something else.
var allowedMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodOptions: true,
}

// checkRequest applies the request hygiene that comes before routing and
// returns the request's route, or the status to refuse with and a short
// reason. net/http has already answered malformed requests (400), oversized
// headers (431) and "OPTIONS *" itself.
func checkRequest(t *table, r *http.Request) (*route, int, string) {
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
	host := canonicalHost(r.Host)
	// RFC 9110 §15.5.20: a name not served, or a connection set up for
	// another name (SNI), is misdirected. This also covers absolute-form
	// targets, whose host net/http puts in r.Host.
	rt := t.routes[host]
	if rt == nil {
		return nil, http.StatusMisdirectedRequest, "misdirected"
	}
	if r.TLS != nil && r.TLS.ServerName != "" && canonicalHost(r.TLS.ServerName) != host {
		return nil, http.StatusMisdirectedRequest, "misdirected"
	}
	if !cleanPath(r.URL.EscapedPath()) {
		return nil, http.StatusBadRequest, "path"
	}
	return rt, 0, ""
}

// cleanPath reports whether an escaped path is free of dot segments (plain or
// percent-encoded) and encoded NUL. Such a path means different things to
// different parsers (rampart's, the app's, a framework's router), so it is
// refused rather than normalised: what the app receives is exactly what the
// client sent. Encoded slashes (%2F) and empty segments (//) pass unchanged.
func cleanPath(p string) bool {
	if strings.Contains(p, "%00") {
		return false
	}
	for seg := range strings.SplitSeq(p, "/") {
		if len(seg) == 0 || len(seg) > 6 {
			continue
		}
		switch strings.ToLower(seg) {
		case ".", "..", "%2e", "%2e%2e", ".%2e", "%2e.":
			return false
		}
	}
	return true
}

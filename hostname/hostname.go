// Package hostname owns the one way rampart reads a host name: a Host
// header, a TLS server name or a configured name becomes the key on which
// routes, metrics and certificates agree. It is a base package: every package
// of this module may import it, and it imports none.
package hostname

import (
	"net/netip"
	"strings"
)

// Canonical returns host as a key: port removed, brackets of an IPv6
// literal removed, a trailing dot removed, lower case. A bracket anywhere but
// around a whole IPv6 literal gives "", which matches no name. It
// allocates only when the name has upper-case letters.
func Canonical(host string) string {
	if strings.HasPrefix(host, "[") {
		// A bracketed IPv6 literal, with or without a port; brackets around
		// anything else ("[shop.test]") give no name.
		if i := strings.IndexByte(host, ']'); i > 0 && (i == len(host)-1 || host[i+1] == ':') {
			if ip, err := netip.ParseAddr(host[1:i]); err == nil && ip.Is6() && ip.Zone() == "" {
				return lower(host[1:i])
			}
		}
		return ""
	}
	if strings.ContainsAny(host, "[]") {
		return "" // a bracket outside a bracketed literal
	}
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		if strings.IndexByte(host[:i], ':') >= 0 {
			return lower(host) // a bare IPv6 address, which cannot carry a port
		}
		host = host[:i]
	}
	return lower(strings.TrimSuffix(host, "."))
}

func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

package proxy

import "strings"

// canonicalHost returns a Host header or TLS server name as a route key:
// port removed, lower case, trailing dot removed. It allocates only when the
// name has upper-case letters.
func canonicalHost(host string) string {
	if strings.HasPrefix(host, "[") {
		// A bracketed IPv6 literal; anything else in brackets matches no route.
		if i := strings.IndexByte(host, ']'); i > 0 && !strings.ContainsAny(host[1:i], "[") {
			return strings.ToLower(host[1:i])
		}
		return ""
	}
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		if strings.IndexByte(host[:i], ':') >= 0 {
			return strings.ToLower(host) // a bare IPv6 address, no port
		}
		host = host[:i]
	}
	host = strings.TrimSuffix(host, ".")
	for i := 0; i < len(host); i++ {
		if c := host[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(host)
		}
	}
	return host
}

package proxy

import (
	"net/http"
	"strings"
)

// PathKind is how a route's path matches. The zero value is PathPrefix.
type PathKind uint8

const (
	// PathPrefix matches the path and everything below it, by whole
	// segments: /api matches /api, /api/ and /api/x, not /apix.
	PathPrefix PathKind = iota
	// PathExact matches the path alone.
	PathExact
)

// RouteMatch is what a request must be for a route to take it. The zero value
// matches every request.
type RouteMatch struct {
	// Path is matched against the path as rampart forwards it. Empty means
	// "/". A trailing slash of a prefix is not significant (/api/ is /api).
	Path string
	// Kind is PathPrefix (the zero value) or PathExact.
	Kind PathKind
	// Methods, if not empty, are the only methods taken (upper case).
	Methods []string
	// Headers must all be present with exactly these values. Nil means none.
	Headers []HeaderMatch
}

// HeaderMatch requires a request header to have a value.
type HeaderMatch struct {
	Name, Value string
}

// matcher finds the route for a request among one site's routes: the
// longest path match wins, an exact match beats a prefix of the same length,
// and among routes with the same path the first declared whose methods and
// headers match. It is built once per table and never changes; a lookup
// allocates nothing.
type matcher struct {
	exact  map[string][]compiledMatch // by path
	prefix map[string][]compiledMatch // by prefix, without its trailing slash ("" for /)
}

type compiledMatch struct {
	index   int // the route's place in the site's list
	methods []string
	headers []HeaderMatch // names canonical
}

func newMatcher(routes []RouteMatch) *matcher {
	m := &matcher{exact: map[string][]compiledMatch{}, prefix: map[string][]compiledMatch{}}
	for i, r := range routes {
		c := compiledMatch{index: i, methods: r.Methods}
		for _, h := range r.Headers {
			c.headers = append(c.headers, HeaderMatch{http.CanonicalHeaderKey(h.Name), h.Value})
		}
		p := r.Path
		if p == "" {
			p = "/"
		}
		if r.Kind == PathExact {
			m.exact[p] = append(m.exact[p], c)
		} else {
			p = strings.TrimRight(p, "/")
			m.prefix[p] = append(m.prefix[p], c)
		}
	}
	return m
}

// match returns the index of the route for a request, or -1.
func (m *matcher) match(method, path string, h http.Header) int {
	if i := pick(m.exact[path], method, h); i >= 0 {
		return i
	}
	// Prefixes from the longest: the path itself (less a trailing slash),
	// then cut back one segment at a time, down to "" (the root).
	p := strings.TrimRight(path, "/")
	for {
		if i := pick(m.prefix[p], method, h); i >= 0 {
			return i
		}
		if p == "" {
			return -1
		}
		cut := strings.LastIndexByte(p, '/')
		if cut < 0 {
			return -1 // not an origin-form path: only exact routes could match
		}
		p = strings.TrimRight(p[:cut], "/")
	}
}

func pick(cands []compiledMatch, method string, h http.Header) int {
	for _, c := range cands {
		if c.accepts(method, h) {
			return c.index
		}
	}
	return -1
}

func (c *compiledMatch) accepts(method string, h http.Header) bool {
	if len(c.methods) > 0 {
		ok := false
		for _, m := range c.methods {
			ok = ok || m == method
		}
		if !ok {
			return false
		}
	}
	for _, hm := range c.headers {
		ok := false
		for _, v := range h[hm.Name] {
			ok = ok || v == hm.Value
		}
		if !ok {
			return false
		}
	}
	return true
}

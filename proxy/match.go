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
	// Path is matched against the request's path as an app may read it, not
	// only as it is written (see routeKey): percent-encoding undone, "\" as
	// "/", ";" parameters cut, runs of "/" as one, and without case, so no
	// spelling of /admin slips past an /admin route. Empty means "/". A
	// trailing slash of a prefix is not significant (/api/ is /api).
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

// routeKey is a path as routes compare it: the most an app behind rampart
// might make of it, so that a route meant to catch /admin catches every
// spelling that reaches an app as /admin (Caddy's path matcher is without
// case too). Percent-encoding is undone up to three times over (%2561 is
// a), "\" counts as "/", a ";" parameter is cut from its segment (/admin;x
// is /admin to Tomcat), runs of "/" are one, and letters are lower case.
// Dot segments never get here: hygiene refuses them in every spelling. A path
// with none of these comes back as it is, without allocating.
func routeKey(p string) string {
	clean := true
	for i := 0; i < len(p) && clean; i++ {
		switch c := p[i]; {
		case c == '%', c == ';', c == '\\', 'A' <= c && c <= 'Z':
			clean = false
		case c == '/' && i+1 < len(p) && p[i+1] == '/':
			clean = false
		}
	}
	if clean {
		return p
	}
	if strings.IndexByte(p, '%') >= 0 {
		d := []byte(p)
		for round, changed := 0, true; round < 3 && changed; round++ {
			d, changed = percentDecode(d) // paths.go's: %XX and %uXXXX, as hygiene reads them
		}
		p = string(d)
	}
	b := make([]byte, 0, len(p))
	inParam := false
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '/' || c == '\\':
			inParam = false
			if len(b) > 0 && b[len(b)-1] == '/' {
				continue
			}
			b = append(b, '/')
		case inParam:
		case c == ';':
			inParam = true
		case 'A' <= c && c <= 'Z':
			b = append(b, c+'a'-'A')
		default:
			b = append(b, c)
		}
	}
	return string(b)
}

func newMatcher(routes []RouteMatch) *matcher {
	m := &matcher{exact: map[string][]compiledMatch{}, prefix: map[string][]compiledMatch{}}
	for i, r := range routes {
		c := compiledMatch{index: i, methods: r.Methods}
		for _, h := range r.Headers {
			c.headers = append(c.headers, HeaderMatch{http.CanonicalHeaderKey(h.Name), h.Value})
		}
		p := routeKey(r.Path)
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

// match returns the index of the route for a request, or -1. path is as the
// request wrote it (escaped).
func (m *matcher) match(method, path string, h http.Header) int {
	path = routeKey(path)
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

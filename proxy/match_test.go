package proxy

import (
	"net/http"
	"strings"
	"testing"
)

// referenceMatch is the rule written as plainly as possible: every route
// scored, the best kept. The matcher must agree with it on every input.
func referenceMatch(routes []RouteMatch, method, path string, h http.Header) int {
	path = routeKey(path)
	best, bestScore := -1, -1
	for i, r := range routes {
		if len(r.Methods) > 0 {
			ok := false
			for _, m := range r.Methods {
				ok = ok || m == method
			}
			if !ok {
				continue
			}
		}
		ok := true
		for _, hm := range r.Headers {
			found := false
			for _, v := range h.Values(hm.Name) {
				found = found || v == hm.Value
			}
			ok = ok && found
		}
		if !ok {
			continue
		}
		p := routeKey(r.Path)
		if p == "" {
			p = "/"
		}
		score := -1
		if r.Kind == PathExact {
			if path == p {
				score = 2*len(p) + 1 // exact beats a prefix of the same length
			}
		} else {
			p = strings.TrimRight(p, "/")
			if path == p || strings.HasPrefix(path, p+"/") {
				score = 2 * len(p)
			}
		}
		if score > bestScore {
			best, bestScore = i, score
		}
	}
	return best
}

// TestRoutePrecedence: which route takes a request.
func TestRoutePrecedence(t *testing.T) {
	routes := []RouteMatch{
		0: {Path: "/"},
		1: {Path: "/api"},
		2: {Path: "/api/v2/"},
		3: {Path: "/api/v2", Kind: PathExact},
		4: {Path: "/api/admin", Headers: []HeaderMatch{{"x-team", "ops"}}},
		5: {Path: "/api/admin", Methods: []string{"GET"}},
		6: {Path: "/checkout", Methods: []string{"POST"}},
		7: {Path: "/robots.txt", Kind: PathExact},
		8: {Path: "/api"}, // the same prefix again: never reached
	}
	ops := http.Header{"X-Team": {"ops"}}
	for _, tt := range []struct {
		method, path string
		h            http.Header
		want         int
	}{
		{"GET", "/", nil, 0},
		{"GET", "/anything/else", nil, 0},
		{"GET", "/api", nil, 1},
		{"GET", "/api/", nil, 1},
		{"GET", "/api/x", nil, 1},
		{"GET", "/apix", nil, 0},           // whole segments only
		{"GET", "/api/v2", nil, 3},         // exact beats the prefix of the same length
		{"GET", "/api/v2/", nil, 2},        // the prefix /api/v2 (a trailing slash is not significant)
		{"GET", "/api/v2/users", nil, 2},   // the longest prefix
		{"GET", "/api/v20", nil, 1},        // not /api/v2's
		{"GET", "/api/admin/x", ops, 4},    // the first declared that matches
		{"GET", "/api/admin/x", nil, 5},    // the header route does not match; the method route does
		{"DELETE", "/api/admin/x", nil, 1}, // neither: back to the shorter prefix
		{"POST", "/checkout/pay", nil, 6},  // method
		{"GET", "/checkout/pay", nil, 0},   // method not taken: the root
		{"GET", "/robots.txt", nil, 7},     // exact
		{"GET", "/robots.txt/x", nil, 0},   // an exact route takes nothing below it
		{"GET", "/api//v2/x", nil, 2},      // runs of / are one, as an app may read them
		// Every spelling an app may read as /api/admin is taken by its routes.
		{"GET", "/API/Admin/x", nil, 5},
		{"GET", "/api/%61dmin/x", nil, 5},
		{"GET", "/api/%2561dmin/x", nil, 5},
		{"GET", "/api/%u0061dmin", nil, 5},
		{"GET", "/api%2Fadmin", nil, 5},
		{"GET", "/api%5cadmin/x", nil, 5},
		{"GET", "/api;jsessionid=1/admin;x", nil, 5},
		{"GET", "//api///admin", nil, 5},
		{"OPTIONS", "*", nil, -1}, // not a path
	} {
		got := newMatcher(routes).match(tt.method, tt.path, tt.h)
		if got != tt.want {
			t.Errorf("%s %s %v: route %d; want %d", tt.method, tt.path, tt.h, got, tt.want)
		}
		if ref := referenceMatch(routes, tt.method, tt.path, tt.h); ref != tt.want {
			t.Errorf("the reference: %s %s: route %d; want %d (the table or the reference is wrong)", tt.method, tt.path, ref, tt.want)
		}
	}
	// No route at all for the root: nothing matches what no prefix covers.
	if got := newMatcher([]RouteMatch{{Path: "/a"}}).match("GET", "/b", nil); got != -1 {
		t.Errorf("/b with only /a: route %d; want -1", got)
	}
}

// TestRouteKey: the reading of a path that routes compare.
func TestRouteKey(t *testing.T) {
	for in, want := range map[string]string{
		"/api/x":       "/api/x",
		"/API/X":       "/api/x",
		"/a%2Fb":       "/a/b",
		"/a%252Fb":     "/a/b",
		"/a%25252Fb":   "/a/b",
		"/a%2525252Fb": "/a%2fb", // three rounds, as hygiene reads paths; the rest stays
		"/a;p=1/b;q":   "/a/b",
		"/a\\b":        "/a/b",
		"///a//b/":     "/a/b/",
		"/caf%C3%A9":   "/café",
		"/%zz":         "/%zz",
		"":             "",
	} {
		if got := routeKey(in); got != want {
			t.Errorf("routeKey(%q) = %q; want %q", in, got, want)
		}
	}
}

// TestRouteMatchAllocatesNothing: a lookup runs per request.
func TestRouteMatchAllocatesNothing(t *testing.T) {
	var routes []RouteMatch
	for _, p := range []string{"/", "/api", "/api/v1", "/api/v2", "/static", "/checkout"} {
		routes = append(routes, RouteMatch{Path: p}, RouteMatch{Path: p + "/health", Kind: PathExact})
	}
	m := newMatcher(routes)
	h := http.Header{"X-Team": {"ops"}}
	if n := testing.AllocsPerRun(200, func() { _ = m.match("GET", "/api/v2/users/42/orders", h) }); n != 0 {
		t.Errorf("a match allocates %v times; want 0", n)
	}
}

// FuzzRouteMatch: the matcher agrees with referenceMatch. Routes are made
// from the input: each comma-separated part is a path, exact when it starts
// with '=', limited to GET with a leading '!', needing X-A: b with a '~'.
func FuzzRouteMatch(f *testing.F) {
	f.Add("/,/api,=/api/v2,/api/v2/,!/admin,~/admin", "GET", "/api/v2/x", "b")
	f.Add("/a//b,/a/,=/a/", "POST", "/a//b/c", "")
	f.Add("=,/x", "GET", "", "b")
	f.Add("/%2e,/a%2Fb", "GET", "/a%2Fb/c", "")
	f.Fuzz(func(t *testing.T, spec, method, path, header string) {
		var routes []RouteMatch
		for _, part := range strings.Split(spec, ",") {
			var r RouteMatch
			for len(part) > 0 && strings.ContainsRune("=!~", rune(part[0])) {
				switch part[0] {
				case '=':
					r.Kind = PathExact
				case '!':
					r.Methods = []string{"GET"}
				case '~':
					r.Headers = []HeaderMatch{{"x-a", "b"}}
				}
				part = part[1:]
			}
			r.Path = part
			routes = append(routes, r)
		}
		h := http.Header{"X-A": {header}}
		got, want := newMatcher(routes).match(method, path, h), referenceMatch(routes, method, path, h)
		if got != want {
			t.Errorf("routes %q, %s %q (X-A %q): route %d; the reference says %d", spec, method, path, header, got, want)
		}
	})
}

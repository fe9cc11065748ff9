package proxy

import (
	"net/http"
	"slices"
	"strconv"
)

// DefaultCSP is rampart's Content-Security-Policy: it upgrades or blocks
// every plain-http subresource, so a page served over TLS never loads mixed
// content. It is sent in addition to the app's own policy; a browser enforces
// both, so a second policy can only tighten.
const DefaultCSP = "upgrade-insecure-requests; block-all-mixed-content"

// CSPOff, as Headers.CSP, sends no rampart policy at all.
const CSPOff = "off"

// DefaultHSTSMaxAge is two years, the value Mozilla and the HSTS preload list ask for.
const DefaultHSTSMaxAge = 63072000

// Headers is the security-header policy for every HTTPS response.
type Headers struct {
	// HSTSMaxAge is the Strict-Transport-Security max-age in seconds.
	// Zero means DefaultHSTSMaxAge; a negative value sends no HSTS header.
	HSTSMaxAge int

	// HSTSPreload adds the preload token. False leaves it out.
	HSTSPreload bool

	// HSTS, if not empty, is the whole Strict-Transport-Security value, sent
	// as is instead of the one HSTSMaxAge and HSTSPreload make (the demo's
	// max-age=0). Empty means those make it.
	HSTS string

	// CSP is rampart's Content-Security-Policy. Empty means DefaultCSP;
	// CSPOff sends none.
	CSP string
}

// headerPolicy holds the header values, built once so that the request path
// only assigns prebuilt slices.
type headerPolicy struct {
	hsts     []string
	csp      []string
	defaults []defaultHeader // set only where the app set none
	set      []defaultHeader // a route's own: set, replacing the app's
}

// forRoute returns p with a route's policy on top: its extra headers, a CSP
// of its own beside rampart's, its HSTS value. p itself is unchanged.
func (p *headerPolicy) forRoute(pol Policy) *headerPolicy {
	if len(pol.ResponseHeaders) == 0 && pol.CSP == "" && pol.HSTS == "" {
		return p
	}
	q := *p
	if pol.CSP != "" {
		q.csp = append([]string{pol.CSP}, p.csp...)[: len(p.csp)+1 : len(p.csp)+1]
	}
	if pol.HSTS != "" {
		q.hsts = []string{pol.HSTS}
	}
	names := make([]string, 0, len(pol.ResponseHeaders))
	for k := range pol.ResponseHeaders {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		q.set = append(q.set, defaultHeader{http.CanonicalHeaderKey(k), []string{pol.ResponseHeaders[k]}})
	}
	return &q
}

type defaultHeader struct {
	key   string
	value []string
}

func newHeaderPolicy(h Headers) *headerPolicy {
	p := &headerPolicy{
		defaults: []defaultHeader{
			{"X-Content-Type-Options", []string{"nosniff"}},
			{"Referrer-Policy", []string{"strict-origin-when-cross-origin"}},
			{"X-Frame-Options", []string{"SAMEORIGIN"}},
		},
	}
	maxAge := h.HSTSMaxAge
	if maxAge == 0 {
		maxAge = DefaultHSTSMaxAge
	}
	if maxAge > 0 {
		v := "max-age=" + strconv.Itoa(maxAge) + "; includeSubDomains"
		if h.HSTSPreload {
			v += "; preload"
		}
		p.hsts = []string{v}
	}
	if h.HSTS != "" {
		p.hsts = []string{h.HSTS}
	}
	switch h.CSP {
	case "":
		p.csp = []string{DefaultCSP}
	case CSPOff:
	default:
		p.csp = []string{h.CSP}
	}
	return p
}

// apply sets the policy on a response's header map. rampart's HSTS replaces
// the app's (rampart owns the transport); its CSP is added beside the app's.
func (p *headerPolicy) apply(h http.Header) {
	delete(h, "Server")
	delete(h, "X-Powered-By")
	if p.hsts != nil {
		h["Strict-Transport-Security"] = p.hsts
	}
	if p.csp != nil {
		if app, ok := h["Content-Security-Policy"]; ok {
			h["Content-Security-Policy"] = append(app[:len(app):len(app)], p.csp...)
		} else {
			h["Content-Security-Policy"] = p.csp
		}
	}
	// The prebuilt slices are shared by all responses: safe, because they have
	// no spare capacity, so a later Header.Add copies instead of writing into them.
	for _, d := range p.defaults {
		if _, ok := h[d.key]; !ok {
			h[d.key] = d.value
		}
	}
	for _, d := range p.set {
		h[d.key] = d.value
	}
}

// Package paymentpage owns payment-page integrity (PCI DSS 6.4.3 and
// 11.6.1): the Content-Security-Policy a payment page is sent (learn: a
// sampled report-only policy that makes browsers report every script, frame
// and connection; enforce: a policy built from the approved inventory), the
// reports browsers send back, the scripts of the HTML rampart serves, the
// inventory and its approvals (a Store, in the data directory), and change
// detection on the page's scripts and security headers (Events). It does no
// logging and serves nothing itself: the proxy hands it responses and
// reports, and the caller of New decides what an Event does.
package paymentpage

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// ReportPath is where browsers send a payment page's reports. rampart
// answers it on each site with a payment page; it never reaches the app.
const ReportPath = "/.well-known/rampart/csp-report"

// The modes of a payment page.
const (
	// Learn sends Content-Security-Policy-Report-Only naming no source, so
	// the browser reports every script, frame and connection the page uses.
	Learn = "learn"
	// Enforce sends a Content-Security-Policy that allows the approved
	// resources only, and reports what it blocks.
	Enforce = "enforce"
)

// reportTo is the Reporting API endpoint's name.
const reportTo = "rampart-csp"

// securityHeaders are those recorded, per page, as the browser receives
// them: a change or a removal is an Event.
var securityHeaders = []string{
	"Content-Security-Policy", "Strict-Transport-Security", "X-Frame-Options", "Referrer-Policy",
	"Permissions-Policy", "X-Content-Type-Options", "Cross-Origin-Opener-Policy",
	"Cross-Origin-Embedder-Policy", "Cross-Origin-Resource-Policy", "Integrity-Policy",
}

// Config is one payment page: a route of a site.
type Config struct {
	// Store keeps the inventory. Required.
	Store *Store
	// Site names the page's site (its first host): the inventory's key and
	// the metric's label. Required.
	Site string
	// Hosts are the site's names: a report or a page for another is not
	// this page's. Required.
	Hosts []string
	// Path is the route's path ("/checkout"); empty means the whole site.
	Path string
	// Mode is Learn or Enforce. Empty means Learn.
	Mode string
	// Sample is the share of responses that carry Learn's report-only
	// policy, above 0 and at most 1. Zero means 1 (every response). Enforce
	// sends its policy on every response.
	Sample float64
	// OnChange is told each Event. Nil means nobody is.
	OnChange func(Event)
}

// Page watches one payment page. Safe for concurrent use.
type Page struct {
	cfg     Config
	key     string
	learn   []string // the report-only policy, built once
	links   []string // Reporting-Endpoints, built once
	enforce atomic.Pointer[builtPolicy]
}

type builtPolicy struct {
	gen   uint64
	value []string
}

// New checks cfg and registers the page with its Store.
func New(cfg Config) (*Page, error) {
	if cfg.Mode == "" {
		cfg.Mode = Learn
	}
	if cfg.Sample == 0 {
		cfg.Sample = 1
	}
	switch {
	case cfg.Store == nil || cfg.Site == "" || len(cfg.Hosts) == 0:
		return nil, fmt.Errorf("paymentpage: a page needs a store, its site and hosts")
	case cfg.Mode != Learn && cfg.Mode != Enforce:
		return nil, fmt.Errorf("paymentpage: mode %q: want %s or %s", cfg.Mode, Learn, Enforce)
	case !(cfg.Sample > 0 && cfg.Sample <= 1):
		return nil, fmt.Errorf("paymentpage: sample %g: want above 0, at most 1", cfg.Sample)
	}
	if cfg.OnChange == nil {
		cfg.OnChange = func(Event) {}
	}
	p := &Page{cfg: cfg, key: pageKey(cfg.Site, cfg.Path)}
	p.learn = []string{"script-src 'none'; frame-src 'none'; connect-src 'none'; report-uri " + ReportPath + "; report-to " + reportTo}
	p.links = []string{reportTo + `="` + ReportPath + `"`}
	cfg.Store.register(cfg.Site, cfg.Path, cfg.Mode)
	return p, nil
}

// Key is the page's name in the inventory: site and path.
func (p *Page) Key() string { return p.key }

// Respond adds the page's policy to a response's headers: in Learn, on the
// sampled share; in Enforce, always. The values are built when the
// approvals change, not per response.
func (p *Page) Respond(h http.Header) {
	if p.cfg.Mode == Learn {
		if p.cfg.Sample < 1 && rand.Float64() >= p.cfg.Sample {
			return
		}
		add(h, "Content-Security-Policy-Report-Only", p.learn)
		add(h, "Reporting-Endpoints", p.links)
		return
	}
	add(h, "Content-Security-Policy", p.enforcePolicy())
	add(h, "Reporting-Endpoints", p.links)
}

// add puts vals after the app's own values of k, if any: a browser applies
// every policy it gets, and reads every endpoint line.
func add(h http.Header, k string, vals []string) {
	if old, ok := h[k]; ok {
		h[k] = append(old[:len(old):len(old)], vals...)
	} else {
		h[k] = vals
	}
}

// enforcePolicy is the page's enforced policy, rebuilt when the approvals
// changed.
func (p *Page) enforcePolicy() []string {
	gen := p.cfg.Store.gen.Load()
	if b := p.enforce.Load(); b != nil && b.gen == gen {
		return b.value
	}
	scripts, hashes, frames, connects := p.cfg.Store.approvedSources(p.key)
	list := func(l []string, quote bool, none string) string {
		if len(l) == 0 {
			return none
		}
		out := make([]string, 0, len(l))
		for _, s := range l {
			if quote {
				s = "'" + s + "'"
			} else {
				s = sourceExpression(s)
			}
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
		return strings.Join(out, " ")
	}
	src := strings.TrimSpace(list(scripts, false, "") + " " + list(hashes, true, ""))
	if src == "" {
		src = "'none'"
	}
	v := "script-src " + src + "; frame-src " + list(frames, false, "'none'") +
		"; connect-src 'self' " + list(connects, false, "") + "; report-uri " + ReportPath + "; report-to " + reportTo
	v = strings.Replace(v, "'self' ;", "'self';", 1)
	b := &builtPolicy{gen: gen, value: []string{v}}
	p.enforce.Store(b)
	return b.value
}

// sourceExpression writes a URL as a CSP source: "," and ";"
// percent-encoded (CSP3 asks it: they would end the policy or the
// directive).
func sourceExpression(u string) string {
	return strings.NewReplacer(",", "%2C", ";", "%3B").Replace(u)
}

// Observe records the security headers of a response of the page, as the
// browser receives them (before Respond adds rampart's own policy), raising
// an Event for each one changed or dropped since the last response; and, for
// an HTML page, returns a writer the body is to be copied to as it passes
// (closed at its end), whose scripts are then recorded. Nil: the body is not
// wanted.
//
// Only a page itself counts: a 200 answer to a GET, of HTML. What else the
// route serves (its JSON, its images, a HEAD) is not the page the browser
// shows, and would make its headers flap.
func (p *Page) Observe(r *http.Request, status int, h http.Header) io.WriteCloser {
	if status != http.StatusOK || r.Method != http.MethodGet || !strings.HasPrefix(strings.ToLower(h.Get("Content-Type")), "text/html") {
		return nil
	}
	p.headers(h)
	enc := strings.ToLower(h.Get("Content-Encoding"))
	if enc != "" && enc != "identity" && enc != "gzip" {
		return nil
	}
	select {
	case p.cfg.Store.scans <- struct{}{}:
	default:
		return nil // as many pages are being read as memory is allowed for: this one's scripts are not
	}
	page := &url.URL{Scheme: "https", Host: r.Host, Path: r.URL.Path}
	return &htmlSink{p: p, page: page, gzip: enc == "gzip"}
}

// nonce matches a CSP nonce source, which changes with each response.
var nonce = regexp.MustCompile(`'nonce-[^']*'`)

// headers compares the security headers with the page's last.
func (p *Page) headers(h http.Header) {
	now := map[string]string{}
	for _, k := range securityHeaders {
		if v, ok := h[k]; ok {
			now[k] = nonce.ReplaceAllString(strings.Join(v, ", "), "'nonce-…'")
		}
	}
	s := p.cfg.Store
	var events []Event
	s.mu.Lock()
	rec := s.record(p.cfg.Site, p.key)
	if rec != nil {
		if rec.Headers != nil {
			for _, k := range securityHeaders {
				old, had := rec.Headers[k]
				v, has := now[k]
				switch {
				case had && !has:
					events = append(events, p.event(HeaderDropped, k, "was "+old))
				case had && v != old:
					events = append(events, p.event(HeaderChanged, k, old+" → "+v))
				}
			}
		}
		if rec.Headers == nil || len(events) > 0 || !mapsEqual(rec.Headers, now) {
			rec.Headers, rec.HeadersAt = now, s.now()
			s.dirty = true
		}
		for _, e := range events {
			s.addEvent(e)
		}
	}
	s.mu.Unlock()
	for _, e := range events {
		p.cfg.OnChange(e)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func (p *Page) event(kind, subject, detail string) Event {
	return Event{Time: p.cfg.Store.now(), Site: p.cfg.Site, Page: p.key, Kind: kind, Subject: subject, Detail: detail}
}

// htmlSink holds a page's HTML, up to MaxPageBytes, and scans it when the
// body ends.
type htmlSink struct {
	p      *Page
	page   *url.URL
	gzip   bool
	buf    bytes.Buffer
	closed bool
}

func (s *htmlSink) Write(b []byte) (int, error) {
	if room := MaxPageBytes - s.buf.Len(); room > 0 {
		s.buf.Write(b[:min(len(b), room)])
	}
	return len(b), nil
}

// Abort gives back what the sink holds without reading the page: its
// response was cut off.
func (s *htmlSink) Abort() {
	if !s.closed {
		s.closed = true
		<-s.p.cfg.Store.scans
	}
}

func (s *htmlSink) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	defer func() { <-s.p.cfg.Store.scans }()
	if s.buf.Len() == 0 {
		return nil // no page to read: not its baseline either
	}
	var r io.Reader = &s.buf
	if s.gzip {
		zr, err := gzip.NewReader(&s.buf)
		if err != nil {
			return nil
		}
		r = io.LimitReader(zr, MaxPageBytes)
	}
	scripts, _ := scanHTML(s.page, r)
	s.p.scripts(scripts)
	return nil
}

// scripts records the scripts of the page's HTML: a new one (after the
// page's first scan since start, its baseline) or a changed one is an
// Event; in Enforce, so is one not approved.
func (p *Page) scripts(found []script) {
	st := p.cfg.Store
	var events []Event
	st.mu.Lock()
	rec := st.record(p.cfg.Site, p.key)
	if rec == nil {
		st.mu.Unlock()
		return
	}
	baseline := !rec.scanned && len(rec.Resources) == 0
	rec.scanned = true
	now := st.now()
	added := false
	// Inline scripts that differ with each response (a token, the order)
	// cannot be approved by hash: past maxInline new ones in an hour they
	// are one entry, and one alert an hour, however many come.
	recent := slices.DeleteFunc(rec.inlineRecent, func(t time.Time) bool { return now.Sub(t) > time.Hour })
	for _, sc := range found {
		key := sc.key()
		r := rec.Resources[key]
		if r == nil && sc.url == "inline" {
			if len(recent) >= maxInline {
				key, sc = varyingInline, script{url: "inline"}
				r = rec.Resources[key]
				if r != nil && now.Sub(rec.foldAlerted) > time.Hour {
					rec.foldAlerted = now
					events = append(events, p.event(ScriptNew, key, fmt.Sprintf("%d or more new inline scripts within the hour, and more still", maxInline)))
				}
			} else {
				recent = append(recent, now)
			}
		}
		switch {
		case r == nil:
			r = &Resource{Kind: "script", URL: key, FirstSeen: now, Integrity: sc.integrity, Hash: sc.hash}
			detail := "in the HTML rampart served"
			if key == varyingInline {
				detail = fmt.Sprintf("%d new inline scripts within the hour: they change with each response; give them a CSP nonce, or move them to files", maxInline)
			}
			if key == varyingInline {
				rec.foldAlerted = now
			}
			if len(rec.Resources) < maxResources+maxReported {
				rec.Resources[key] = r
				st.gen.Add(1) // an approval waiting for it now counts
			} else {
				detail += " (not kept: the page's inventory is full)"
			}
			if !baseline {
				events = append(events, p.event(ScriptNew, key, detail))
			}
		case r.Integrity != sc.integrity: // an inline script's hash is its key; a file's content is hashed as it is served
			events = append(events, p.event(ScriptChanged, key, fmt.Sprintf("integrity %q → %q", r.Integrity, sc.integrity)))
			r.Integrity = sc.integrity
			r.alerted = false
			st.gen.Add(1) // its approval, if any, no longer holds: the enforced policy is rebuilt
		}
		r.LastSeen = now
		if sc.url != "inline" {
			r.src = sc.exact
		}
		if !slices.Contains(r.SeenBy, "html") {
			r.SeenBy = append(r.SeenBy, "html")
			added = true
		}
		if p.cfg.Mode == Enforce && !r.alerted && !st.approved(p.key, r) {
			r.alerted = true
			events = append(events, p.event(ScriptUnapproved, key, "in the HTML rampart served; the browser blocks it"))
		}
	}
	rec.inlineRecent = recent
	st.dirty = true
	for _, e := range events {
		st.addEvent(e)
	}
	if added {
		st.reindex()
	}
	st.mu.Unlock()
	for _, e := range events {
		p.cfg.OnChange(e)
	}
}

// WantsScript tells whether a request (its Host and escaped path) is for a
// script that a payment page of the Store loads: its content is then hashed
// as rampart serves it (ObserveScript), and the app asked for it
// uncompressed.
func (p *Page) WantsScript(host, path string) bool {
	return p.cfg.Store.scriptPages(host, path) != nil
}

// scriptURL is a served script's URL as the inventory names it.
func scriptURL(host, path string) string {
	return "https://" + strings.ToLower(host) + maskDigits(path)
}

// MaxScriptBytes bounds the script content hashed; a longer one is not.
const MaxScriptBytes = 8 << 20

// ObserveScript returns where the body of a script a payment page loads is
// to be copied as it passes (hashed, not held), closed at its end; nil if
// the response is not such a script's: a 200 answer to a GET, of JavaScript,
// not encoded. A content that changes is an Event, and the approval, which
// pinned it, lapses; one that changes three times is said to vary and is no
// longer pinned.
func (p *Page) ObserveScript(r *http.Request, status int, h http.Header) io.WriteCloser {
	ct := strings.ToLower(h.Get("Content-Type"))
	enc := strings.ToLower(h.Get("Content-Encoding"))
	if status != http.StatusOK || r.Method != http.MethodGet || (enc != "" && enc != "identity") ||
		!(strings.Contains(ct, "javascript") || strings.Contains(ct, "ecmascript")) {
		return nil
	}
	pages := p.cfg.Store.scriptPages(r.Host, r.URL.EscapedPath())
	if pages == nil {
		return nil
	}
	return &scriptSink{p: p, url: scriptURL(r.Host, r.URL.EscapedPath()), exact: exactSrc(r.URL.EscapedPath(), r.URL.RawQuery), pages: pages, h: sha256.New()}
}

// scriptSink hashes a script's content as it passes.
type scriptSink struct {
	p      *Page
	url    string
	exact  string   // the request's path and query: only the one a page names is hashed
	pages  []string // that load it
	h      hash.Hash
	n      int64
	closed bool
}

func (s *scriptSink) Write(b []byte) (int, error) {
	if s.n += int64(len(b)); s.n <= MaxScriptBytes {
		s.h.Write(b)
	}
	return len(b), nil
}

// Abort drops a script cut off before its end: it is not hashed.
func (s *scriptSink) Abort() { s.closed = true }

func (s *scriptSink) Close() error {
	if s.closed || s.n > MaxScriptBytes || s.n == 0 {
		return nil
	}
	s.closed = true
	s.p.scriptServed(s.url, s.exact, s.pages, "sha256-"+base64.StdEncoding.EncodeToString(s.h.Sum(nil)))
	return nil
}

// maxContentChanges is how often a script's content may change, since
// start, before it is said to vary with each response (one alert; later
// changes are not alerted, and still lapse its approval).
const maxContentChanges = 3

// scriptServed records a script's content hash on each page that loads it
// by exactly this path and query: a client asking for it otherwise (an old
// build's path, another query) proves nothing about what the page runs.
func (p *Page) scriptServed(url, exact string, pages []string, sum string) {
	st := p.cfg.Store
	var events []Event
	st.mu.Lock()
	now := st.now()
	for _, page := range pages {
		rec := st.inv.Pages[page]
		if rec == nil {
			continue
		}
		r := rec.Resources[url]
		switch {
		case r == nil || r.src != exact || r.Hash == sum:
		case r.Hash == "":
			r.Hash = sum // its first content
			st.dirty = true
			st.gen.Add(1)
		default:
			r.changes++
			old := r.Hash
			r.Hash, r.alerted = sum, false
			st.dirty = true
			st.gen.Add(1) // an approval that pinned the old content lapses
			switch {
			case r.changes < maxContentChanges:
				events = append(events, Event{Time: now, Site: rec.Site, Page: page, Kind: ScriptChanged, Subject: url, Detail: "its content changed as rampart served it: " + old + " → " + sum})
			case r.changes == maxContentChanges:
				events = append(events, Event{Time: now, Site: rec.Site, Page: page, Kind: ScriptChanged, Subject: url,
					Detail: fmt.Sprintf("its content changed %d times since start: it varies with each response, so no approval can hold; serve it unchanged", r.changes)})
			}
		}
	}
	for _, e := range events {
		st.addEvent(e)
	}
	st.mu.Unlock()
	for _, e := range events {
		p.cfg.OnChange(e)
	}
}

// Collect takes a report a browser sent to ReportPath on the page's site
// (any of the site's pages may take it: it is filed under the page whose
// path fits the document's best). It returns the status to answer: 204, or
// 400 for a body that is not a report of this site, 415 for another type.
func (p *Page) Collect(contentType string, body []byte) int {
	vs, err := parseReports(contentType, body)
	if err != nil {
		if ct := strings.ToLower(contentType); !strings.Contains(ct, "csp-report") && !strings.Contains(ct, "reports+json") {
			return http.StatusUnsupportedMediaType
		}
		return http.StatusBadRequest
	}
	st := p.cfg.Store
	for _, v := range vs {
		u, err := url.Parse(v.document)
		if err != nil || !p.ours(u.Host) {
			return http.StatusBadRequest
		}
		page := st.pageOf(p.cfg.Site, u.EscapedPath())
		if page == "" {
			continue // a page of the site that is not a payment page
		}
		p.reported(page, v)
	}
	return http.StatusNoContent
}

// ours tells whether host (perhaps with a port) is one of the site's.
func (p *Page) ours(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	for _, n := range p.cfg.Hosts {
		if strings.EqualFold(n, host) || (strings.HasPrefix(n, "*.") && strings.HasSuffix(strings.ToLower(host), strings.ToLower(n[1:]))) {
			return true
		}
	}
	return false
}

// reported files a violation under page.
func (p *Page) reported(page string, v violation) {
	st := p.cfg.Store
	var events []Event
	st.mu.Lock()
	rec := st.record(p.cfg.Site, page)
	if rec == nil {
		st.mu.Unlock()
		return
	}
	now := st.now()
	r := rec.Resources[v.blocked]
	if r == nil {
		// What browsers report is anybody's word: it has room of its own,
		// so forged reports cannot crowd out what the HTML shows.
		reported := 0
		for _, o := range rec.Resources {
			if len(o.SeenBy) == 1 && o.SeenBy[0] == "report" {
				reported++
			}
		}
		if reported >= maxReported {
			st.mu.Unlock()
			return
		}
		r = &Resource{Kind: v.kind, URL: v.blocked, FirstSeen: now}
		rec.Resources[v.blocked] = r
		st.gen.Add(1) // an approval waiting for it now counts
		events = append(events, Event{Time: now, Site: p.cfg.Site, Page: page, Kind: ScriptNew, Subject: v.blocked, Detail: v.kind + ", reported by a browser"})
	}
	if r.LastSeen.Before(now) {
		r.LastSeen = now
	}
	if !slices.Contains(r.SeenBy, "report") {
		r.SeenBy = append(r.SeenBy, "report")
	}
	if p.modeOf(page) == Enforce && !r.alerted && !st.approved(page, r) {
		r.alerted = true
		events = append(events, Event{Time: now, Site: p.cfg.Site, Page: page, Kind: ScriptUnapproved, Subject: v.blocked, Detail: v.kind + " blocked by the browser"})
	}
	st.dirty = true
	for _, e := range events {
		st.addEvent(e)
	}
	st.mu.Unlock()
	for _, e := range events {
		p.cfg.OnChange(e)
	}
}

// modeOf is the mode of the site's page named page: this one's if it is
// this page, else the mode registered for it. st.mu is held.
func (p *Page) modeOf(page string) string {
	if page == p.key {
		return p.cfg.Mode
	}
	return p.cfg.Store.modes[page]
}

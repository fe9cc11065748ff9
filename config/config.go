// Package config reads rampart's configuration file: YAML, decoded strictly
// (an unknown key, a key given twice, a value of the wrong type or out of
// range is an error naming the file, the line, the key and the fix). It turns
// the file into the global settings (keys named as rampart's flags) and the
// sites of the route table (proxy.Site). It stands above the leaves: it
// imports proxy's configuration types, and cmd/rampart wires it.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/rampart-proxy/rampart/proxy"
	"github.com/rampart-proxy/rampart/webhook"
)

// File is a configuration file, decoded. The zero value holds nothing.
type File struct {
	// Settings are the global keys, in file order: a flag's name and its
	// values (several for a list, such as domain).
	Settings []Setting
	// Sites are the sites of the route table, in file order.
	Sites []proxy.Site
	// HostLines are the lines of each site's hosts, for errors found later.
	HostLines []int
	// Pools are the named pools, which the sites' routes refer to by name.
	Pools map[string]*proxy.Pool
	// Certs are the sites' own certificate files, by site (as Sites); a
	// zero CertFiles means the site's names take the --tls source's.
	Certs []CertFiles
	// PaymentPages are the payment_page settings, by the site and route
	// they are on: the caller makes each a paymentpage.Page (it needs the
	// data directory) and sets it as that policy's PaymentPage.
	PaymentPages []PaymentPageSetting
}

// PaymentPageSetting is a site's or a route's payment_page.
type PaymentPageSetting struct {
	Site  int // index in File.Sites
	Route int // index in the site's Routes; -1 for the site's own policy
	// Mode is "learn" or "enforce"; Sample the share of learn's responses
	// given the report-only policy (0 < Sample <= 1).
	Mode   string
	Sample float64
}

// CertFiles is a site's own certificate: a PEM chain and its key, served
// for the site's names (by SNI) and re-read when they change. Paths are as
// the file gives them, made absolute against the file's directory.
type CertFiles struct {
	CertFile, KeyFile string
}

// Setting is one global key of the file.
type Setting struct {
	Name   string
	Values []string
	Line   int
}

// Error is one mistake in the file. Several are joined (errors.Join).
type Error struct {
	File    string
	Line    int
	Key     string // the key's path, as sites[0].routes[1].upstream
	Problem string
	Fix     string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s:%d: %s: %s; fix: %s", e.File, e.Line, e.Key, e.Problem, e.Fix)
}

// Parse decodes a file. setting tells which global keys are settings (the
// flags' names), and which of those may hold a list; every other key but
// "sites" is an error. replays is the memory of webhook deliveries that every
// webhook check shares, so a reload does not forget them; nil gives each
// check its own.
func Parse(path string, data []byte, setting func(name string) (known, list bool), replays *webhook.Replays) (*File, error) {
	notYAML := func(err error) error {
		line := 0
		fmt.Sscanf(strings.TrimPrefix(err.Error(), "yaml: "), "line %d:", &line)
		return &Error{File: path, Line: line, Key: "(file)", Problem: "not YAML: " + strings.TrimPrefix(err.Error(), "yaml: "), Fix: "correct the syntax at that line"}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil && err != io.EOF {
		return nil, notYAML(err)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == io.EOF:
	case err != nil:
		return nil, notYAML(err)
	default:
		return nil, &Error{File: path, Line: next.Line, Key: "(file)", Problem: "a second document (after ---)", Fix: "keep one document: rampart reads one"}
	}
	d := &decoder{path: path, pools: map[string]*proxy.Pool{}, used: map[string]bool{}, replays: replays, pages: map[*proxy.Policy]PaymentPageSetting{}, webhooks: map[*proxy.Policy]pendingWebhook{}}
	f := &File{Pools: d.pools}
	if len(doc.Content) == 0 {
		return f, nil // an empty file sets nothing
	}
	root := doc.Content[0]
	d.plain(root)
	if len(d.errs) > 0 {
		return nil, errors.Join(d.errs...)
	}
	type pendingSite struct {
		site   *proxy.Site
		routes []*proxy.SiteRoute // complete when every pool is read
		cert   CertFiles
	}
	var sites []pendingSite
	d.mapping(root, "", func(key string, k, v *yaml.Node) {
		switch {
		case key == "sites":
			d.sequence(v, "sites", func(i int, n *yaml.Node) {
				if s, routes, cert, line, ok := d.site(n, fmt.Sprintf("sites[%d]", i)); ok {
					sites = append(sites, pendingSite{s, routes, cert})
					f.HostLines = append(f.HostLines, line)
				}
			})
		case key == "pools":
			d.mapping(v, key, func(name string, pk, pv *yaml.Node) {
				at := "pools." + name
				if !poolName(name) {
					d.used[name] = true // named already: no second error for the routes using it
					d.fail(pk, at, fmt.Sprintf("%q is not a pool name", name), "use letters, digits, ., - and _ (at most 64), such as shop-api")
					return
				}
				pc, ok := d.pool(pv, at)
				if !ok {
					d.used[name] = true // named already: no second error for the routes using it
					return
				}
				pc.Name = name
				d.pools[name] = pc
				d.poolLines = append(d.poolLines, poolLine{name, pk})
			})
		case key == "config":
			d.fail(k, key, "a file cannot name another", "drop it")
		default:
			known, list := setting(key)
			if !known {
				d.fail(k, key, "unknown key", "use a flag's name (rampart --help), sites or pools")
				return
			}
			vals, ok := d.scalars(v, key)
			if ok && len(vals) != 1 && !list {
				d.fail(v, key, "a list, and this setting takes one value", "give one value")
				return
			}
			if ok {
				f.Settings = append(f.Settings, Setting{Name: key, Values: vals, Line: k.Line})
			}
		}
	})
	for _, ps := range sites {
		host := ""
		if len(ps.site.Hosts) > 0 {
			host = ps.site.Hosts[0]
		}
		d.makeWebhook(&ps.site.Policy, host+" (site)")
		for _, r := range ps.routes {
			d.makeWebhook(&r.Policy, fmt.Sprintf("%s %s %d %v", host, r.Match.Path, r.Match.Kind, r.Match.Methods))
		}
	}
	// Routes name pools anywhere in the file: judged once all are read.
	for _, ref := range d.refs {
		pc := d.pools[ref.name]
		if pc == nil && d.used[ref.name] {
			continue // a pool with its own mistakes
		}
		if pc == nil {
			d.fail(ref.node, ref.at, fmt.Sprintf("no pool %q", ref.name), "define it under pools:, or use upstream: URL")
			continue
		}
		ref.route.Pool = pc
		d.used[ref.name] = true
	}
	for _, pl := range d.poolLines {
		if !d.used[pl.name] {
			d.fail(pl.node, "pools."+pl.name, "no route uses it", "refer to it from a route (pool: "+pl.name+") or drop it")
		}
	}
	if len(d.errs) > 0 {
		return nil, errors.Join(d.errs...)
	}
	for si, ps := range sites {
		if pg, ok := d.pages[&ps.site.Policy]; ok {
			pg.Site, pg.Route = si, -1
			f.PaymentPages = append(f.PaymentPages, pg)
		}
		for ri, r := range ps.routes {
			ps.site.Routes = append(ps.site.Routes, *r)
			if pg, ok := d.pages[&r.Policy]; ok {
				pg.Site, pg.Route = si, ri
				f.PaymentPages = append(f.PaymentPages, pg)
			}
		}
		f.Sites = append(f.Sites, *ps.site)
		f.Certs = append(f.Certs, ps.cert)
	}
	return f, nil
}

// poolName tells whether s may name a pool: it becomes a metrics label.
func poolName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// plain refuses what YAML can say that a settings file has no use for and
// would read in surprising ways: aliases and anchors, merge keys, explicit
// tags (!!binary, !!null, custom ones), and empty values (~, null).
func (d *decoder) plain(n *yaml.Node) {
	switch {
	case n.Kind == yaml.AliasNode || n.Anchor != "":
		d.fail(n, "(file)", "an anchor or alias (&name, *name)", "write each value out where it is used")
		return
	case n.Kind == yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == "<<" && n.Content[i].Tag == "!!merge" {
				d.fail(n.Content[i], "(file)", "a merge key (<<)", "write the keys out")
				return
			}
		}
	case n.Kind == yaml.ScalarNode && n.Tag == "!!null" && n.Style == 0:
		d.fail(n, "(file)", fmt.Sprintf("an empty value (%q)", n.Value), "give a value, or \"\" for an empty one, or drop the key")
		return
	case n.Kind == yaml.ScalarNode && n.Style&yaml.TaggedStyle != 0:
		d.fail(n, "(file)", fmt.Sprintf("an explicit tag (%s)", n.Tag), "write the value plainly")
		return
	}
	for _, c := range n.Content {
		d.plain(c)
	}
}

type decoder struct {
	path string
	errs []error

	pools     map[string]*proxy.Pool
	poolLines []poolLine
	used      map[string]bool
	refs      []poolRef
	replays   *webhook.Replays
	pages     map[*proxy.Policy]PaymentPageSetting // payment_page settings by the policy they are on
	webhooks  map[*proxy.Policy]pendingWebhook     // webhook checks, made once their endpoint's name is known
}

// pendingWebhook is a webhook setting, read, with where it was.
type pendingWebhook struct {
	cfg  webhook.Config
	node *yaml.Node
	at   string
}

type poolLine struct {
	name string
	node *yaml.Node
}

// poolRef is a route's pool: key, resolved when the whole file is read.
type poolRef struct {
	name  string
	at    string
	node  *yaml.Node
	route *proxy.SiteRoute
}

func (d *decoder) fail(n *yaml.Node, key, problem, fix string) {
	d.errs = append(d.errs, &Error{File: d.path, Line: n.Line, Key: key, Problem: problem, Fix: fix})
}

// mapping calls each for every key of a mapping node, refusing a key given
// twice; at names the node for errors.
func (d *decoder) mapping(n *yaml.Node, at string, each func(key string, k, v *yaml.Node)) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, orRoot(at), "not a mapping of keys to values", "write key: value lines")
		return
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key := join(at, k.Value)
		if first, dup := seen[k.Value]; dup {
			d.fail(k, key, fmt.Sprintf("given twice (first at line %d)", first), "keep one")
			continue
		}
		seen[k.Value] = k.Line
		each(k.Value, k, v)
	}
}

func (d *decoder) sequence(n *yaml.Node, at string, each func(i int, n *yaml.Node)) {
	if n.Kind != yaml.SequenceNode {
		d.fail(n, at, "not a list", "write it as a list (- item lines, or [a, b])")
		return
	}
	for i, c := range n.Content {
		each(i, c)
	}
}

// scalars reads a value or a list of values.
func (d *decoder) scalars(n *yaml.Node, at string) ([]string, bool) {
	switch n.Kind {
	case yaml.ScalarNode:
		return []string{n.Value}, true
	case yaml.SequenceNode:
		var out []string
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode {
				d.fail(c, at, "a list item is not a plain value", "write one value per item")
				return nil, false
			}
			out = append(out, c.Value)
		}
		return out, true
	}
	d.fail(n, at, "not a value or a list of values", "write key: value")
	return nil, false
}

func (d *decoder) scalar(n *yaml.Node, at string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.fail(n, at, "not a plain value", "write key: value")
		return "", false
	}
	return n.Value, true
}

func (d *decoder) integer(n *yaml.Node, at string, lo, hi int) (int, bool) {
	s, ok := d.scalar(n, at)
	if !ok {
		return 0, false
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < lo || v > hi {
		d.fail(n, at, fmt.Sprintf("%q is not a number from %d to %d", s, lo, hi), "give a number in that range")
		return 0, false
	}
	return v, true
}

func (d *decoder) boolean(n *yaml.Node, at string) (bool, bool) {
	s, ok := d.scalar(n, at)
	if !ok {
		return false, false
	}
	switch s {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	d.fail(n, at, fmt.Sprintf("%q is not true or false", s), "write true or false")
	return false, false
}

func (d *decoder) site(n *yaml.Node, at string) (*proxy.Site, []*proxy.SiteRoute, CertFiles, int, bool) {
	s := &proxy.Site{}
	var routes []*proxy.SiteRoute
	var cert CertFiles
	before, hostLine := len(d.errs), n.Line
	d.mapping(n, at, func(key string, k, v *yaml.Node) {
		switch key {
		case "hosts":
			hostLine = k.Line
			if hosts, ok := d.scalars(v, join(at, key)); ok {
				for _, h := range hosts {
					if h == "" || strings.ContainsAny(h, " /@") || strings.Contains(strings.TrimPrefix(h, "*."), "*") {
						d.fail(v, join(at, key), fmt.Sprintf("%q is not a host name", h), "give names such as shop.example.com, or *.example.com for one label")
					}
				}
				s.Hosts = hosts
			}
		case "routes":
			d.sequence(v, join(at, key), func(i int, rn *yaml.Node) {
				if r, ok := d.route(rn, fmt.Sprintf("%s.routes[%d]", at, i)); ok {
					routes = append(routes, r)
				}
			})
		case "default":
			s.Default, _ = d.boolean(v, join(at, key))
		case "tls":
			where, tlsBefore := join(at, key), len(d.errs)
			d.mapping(v, where, func(tk string, kk, vv *yaml.Node) {
				file, ok := d.scalar(vv, join(where, tk))
				if ok && file != "" && !filepath.IsAbs(file) {
					file = filepath.Join(filepath.Dir(d.path), file)
				}
				switch tk {
				case "cert_file":
					cert.CertFile = file
				case "key_file":
					cert.KeyFile = file
				default:
					d.fail(kk, join(where, tk), "unknown key", "a site's tls has cert_file and key_file")
				}
			})
			if (cert.CertFile == "" || cert.KeyFile == "") && len(d.errs) == tlsBefore {
				d.fail(v, where, "a certificate needs both files", "give cert_file (the PEM chain) and key_file (its key)")
			}
		default:
			if !d.policyKey(&s.Policy, key, k, v, join(at, key)) {
				d.fail(k, join(at, key), "unknown key", "a site has hosts, routes, default, tls, and the policy keys "+policyKeys)
			}
		}
	})
	if len(d.errs) == before {
		if len(s.Hosts) == 0 {
			d.fail(n, at, "no hosts", "add hosts: [shop.example.com]")
		}
		if len(routes) == 0 {
			d.fail(n, at, "no routes", "add routes: with an upstream, a pool, a redirect or a respond each")
		}
	}
	return s, routes, cert, hostLine, len(d.errs) == before
}

func (d *decoder) route(n *yaml.Node, at string) (*proxy.SiteRoute, bool) {
	r := &proxy.SiteRoute{}
	before := len(d.errs)
	actions := 0
	var poolRefs []poolRef
	d.mapping(n, at, func(key string, k, v *yaml.Node) {
		where := join(at, key)
		switch key {
		case "path", "exact_path":
			p, ok := d.scalar(v, where)
			if !ok {
				return
			}
			if !strings.HasPrefix(p, "/") {
				d.fail(v, where, fmt.Sprintf("%q does not start with /", p), "write the path as the client sends it, such as /api")
				return
			}
			if r.Match.Path != "" {
				d.fail(k, where, "path and exact_path together", "keep one: path matches below it too, exact_path only itself")
				return
			}
			r.Match.Path = p
			if key == "exact_path" {
				r.Match.Kind = proxy.PathExact
			}
		case "methods":
			if ms, ok := d.scalars(v, where); ok {
				for _, m := range ms {
					switch m {
					case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS":
					default:
						d.fail(v, where, fmt.Sprintf("%q is not a method rampart passes on", m),
							"use GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS (upper case; list HEAD beside GET to take it too)")
					}
				}
				r.Match.Methods = ms
			}
		case "headers":
			d.mapping(v, where, func(name string, hk, hv *yaml.Node) {
				if val, ok := d.scalar(hv, join(where, name)); ok {
					r.Match.Headers = append(r.Match.Headers, proxy.HeaderMatch{Name: http.CanonicalHeaderKey(name), Value: val})
				}
			})
		case "upstream":
			actions++
			s, ok := d.scalar(v, where)
			if !ok {
				return
			}
			if u, ok := d.upstream(v, where, s); ok {
				r.Upstream = u
			}
		case "strip_prefix":
			r.StripPrefix, _ = d.boolean(v, where)
		case "add_prefix":
			r.AddPrefix, _ = d.scalar(v, where)
		case "upstream_host":
			r.UpstreamHost, _ = d.scalar(v, where)
		case "pool":
			actions++
			if name, ok := d.scalar(v, where); ok {
				poolRefs = append(poolRefs, poolRef{name: name, at: where, node: v})
			}
		case "redirect":
			actions++
			rd := &proxy.Redirect{}
			d.mapping(v, where, func(rk string, kk, vv *yaml.Node) {
				switch rk {
				case "to":
					rd.To, _ = d.scalar(vv, join(where, rk))
				case "status":
					rd.Status, _ = d.integer(vv, join(where, rk), 301, 308)
				case "keep_path":
					rd.KeepPath, _ = d.boolean(vv, join(where, rk))
				default:
					d.fail(kk, join(where, rk), "unknown key", "a redirect has to, status and keep_path")
				}
			})
			if rd.To == "" {
				d.fail(v, where, "no target", "add to: https://new.example.com/ or to: /path")
			}
			r.Redirect = rd
		case "respond":
			actions++
			rs := &proxy.Respond{}
			d.mapping(v, where, func(rk string, kk, vv *yaml.Node) {
				switch rk {
				case "status":
					rs.Status, _ = d.integer(vv, join(where, rk), 200, 599)
				case "body":
					rs.Body, _ = d.scalar(vv, join(where, rk))
				case "content_type":
					rs.ContentType, _ = d.scalar(vv, join(where, rk))
				default:
					d.fail(kk, join(where, rk), "unknown key", "a response has status, body and content_type")
				}
			})
			r.Respond = rs
		default:
			if !d.policyKey(&r.Policy, key, k, v, where) {
				d.fail(k, where, "unknown key", "a route has path or exact_path, methods, headers, one of upstream, pool, redirect, respond, strip_prefix, add_prefix and upstream_host with an upstream or pool, and the policy keys "+policyKeys)
			}
		}
	})
	if len(d.errs) == before && actions != 1 {
		d.fail(n, at, fmt.Sprintf("%d actions", actions), "give exactly one of upstream, pool, redirect and respond")
	}
	for _, ref := range poolRefs {
		ref.route = r
		d.refs = append(d.refs, ref)
	}
	// What only the table judges (a redirect's target, a body with 204),
	// named here with its line. A pool is judged where it is defined.
	if len(d.errs) == before {
		check := *r
		if len(poolRefs) > 0 { // the pool itself is judged where it is defined
			check.Pool = &proxy.Pool{Members: []*url.URL{{Scheme: "http", Host: "pool.invalid:1"}}}
		}
		if err := proxy.CheckRoute(check); err != nil {
			d.fail(n, at, strings.TrimPrefix(err.Error(), "proxy: "), "correct the route as that says")
		}
	}
	return r, len(d.errs) == before
}

func join(at, key string) string {
	if at == "" {
		return key
	}
	return at + "." + key
}

func orRoot(at string) string {
	if at == "" {
		return "(file)"
	}
	return at
}

// upstream reads a member's URL: http, https, h2c or unix.
func (d *decoder) upstream(n *yaml.Node, at, s string) (*url.URL, bool) {
	u, err := url.Parse(s)
	switch {
	case err != nil || u.Scheme == "":
		d.fail(n, at, fmt.Sprintf("%q is not a URL", s), "use http://host:port, https://host:port, h2c://host:port or unix:/path/to/app.sock")
		return nil, false
	case u.User != nil:
		// Named without the password: the line may end up in a journal.
		d.fail(n, at, fmt.Sprintf("%q carries credentials", u.Redacted()), "use http://host:port or https://host:port, without credentials")
		return nil, false
	}
	if err := proxy.CheckRoute(proxy.SiteRoute{Upstream: u}); err != nil {
		d.fail(n, at, strings.TrimPrefix(err.Error(), "upstream "), "use http://host:port, https://host:port, h2c://host:port or unix:/path/to/app.sock, with a port from 1 to 65535")
		return nil, false
	}
	return u, true
}

// pool reads a pool's definition.
func (d *decoder) pool(n *yaml.Node, at string) (*proxy.Pool, bool) {
	pc := &proxy.Pool{}
	before := len(d.errs)
	d.mapping(n, at, func(key string, k, v *yaml.Node) {
		where := join(at, key)
		switch key {
		case "members":
			d.sequence(v, where, func(i int, mn *yaml.Node) {
				w := fmt.Sprintf("%s[%d]", where, i)
				if s, ok := d.scalar(mn, w); ok {
					if u, ok := d.upstream(mn, w, s); ok {
						pc.Members = append(pc.Members, u)
					}
				}
			})
		case "balance":
			if s, ok := d.scalar(v, where); ok {
				b, known := proxy.ParseBalance(s)
				if !known {
					d.fail(v, where, fmt.Sprintf("%q is not a balance", s), "use round_robin, least_requests or client_hash")
				}
				pc.Balance = b
			}
		case "eject_after":
			pc.EjectAfter, _ = d.integer(v, where, 1, 100)
		case "eject_for":
			pc.EjectFor, _ = d.duration(v, where, 100*time.Millisecond, time.Hour)
		case "health":
			h := &proxy.HealthCheck{}
			d.mapping(v, where, func(hk string, kk, vv *yaml.Node) {
				w := join(where, hk)
				switch hk {
				case "path":
					h.Path, _ = d.scalar(vv, w)
				case "interval":
					h.Interval, _ = d.duration(vv, w, 100*time.Millisecond, time.Hour)
				case "timeout":
					h.Timeout, _ = d.duration(vv, w, 10*time.Millisecond, time.Hour)
				case "status":
					h.Status, _ = d.integer(vv, w, 200, 599)
				case "healthy":
					h.Healthy, _ = d.integer(vv, w, 1, 100)
				case "unhealthy":
					h.Unhealthy, _ = d.integer(vv, w, 1, 100)
				default:
					d.fail(kk, w, "unknown key", "a health check has path, interval, timeout, status, healthy and unhealthy")
				}
			})
			if h.Path == "" {
				d.fail(v, where, "no path", "add path: /healthz (the path the app answers when it is well)")
			}
			pc.Health = h
		default:
			d.fail(k, where, "unknown key", "a pool has members, balance, eject_after, eject_for and health")
		}
	})
	if len(d.errs) == before && len(pc.Members) == 0 {
		d.fail(n, at, "no members", "add members: [http://10.0.0.1:8080, http://10.0.0.2:8080]")
	}
	if len(d.errs) == before {
		if err := proxy.CheckRoute(proxy.SiteRoute{Pool: pc}); err != nil {
			d.fail(n, at, err.Error(), "correct the pool as that says")
		}
	}
	return pc, len(d.errs) == before
}

func (d *decoder) duration(n *yaml.Node, at string, lo, hi time.Duration) (time.Duration, bool) {
	s, ok := d.scalar(n, at)
	if !ok {
		return 0, false
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < lo || v > hi {
		d.fail(n, at, fmt.Sprintf("%q is not a duration from %s to %s", s, lo, hi), "give one such as 5s or 500ms")
		return 0, false
	}
	return v, true
}

const policyKeys = "allow, deny, rate_limit, basic_auth, response_headers, csp, hsts, max_body_size, timeout, webhook, payment_page"

// policyKey reads one policy key of a site or route into p, and tells
// whether key was one.
func (d *decoder) policyKey(p *proxy.Policy, key string, k, v *yaml.Node, at string) bool {
	before := len(d.errs)
	switch key {
	case "allow", "deny":
		vals, ok := d.scalars(v, at)
		if !ok {
			return true
		}
		list := []netip.Prefix{}
		for _, s := range vals {
			pfx, err := netip.ParsePrefix(s)
			if err != nil {
				a, aerr := netip.ParseAddr(s)
				if aerr != nil {
					d.fail(v, at, fmt.Sprintf("%q is not an address or network", s), "give addresses or CIDRs, such as 10.0.0.0/8 or 2001:db8::/32")
					continue
				}
				pfx = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
			}
			list = append(list, pfx.Masked())
		}
		if key == "allow" {
			p.Allow = list
		} else {
			p.Deny = list
		}
	case "rate_limit":
		rl := &proxy.RateLimit{}
		d.mapping(v, at, func(rk string, kk, vv *yaml.Node) {
			w := join(at, rk)
			switch rk {
			case "rate":
				s, ok := d.scalar(vv, w)
				if !ok {
					return
				}
				n, per, _ := strings.Cut(s, "/")
				count, err := strconv.ParseFloat(n, 64)
				unit := map[string]float64{"s": 1, "m": 60, "h": 3600}[per]
				if err != nil || unit == 0 || !(count > 0) || count > 1e6 {
					d.fail(vv, w, fmt.Sprintf("%q is not a rate", s), "write requests per second, minute or hour: 10/s, 30/m, 100/h")
					return
				}
				rl.Rate = count / unit
			case "burst":
				rl.Burst, _ = d.integer(vv, w, 1, 1000000)
			case "clients":
				rl.Clients, _ = d.integer(vv, w, 1024, 1<<24)
			default:
				d.fail(kk, w, "unknown key", "a rate limit has rate, burst and clients")
			}
		})
		if rl.Rate == 0 && len(d.errs) == before {
			d.fail(v, at, "no rate", "add rate: 10/s (or /m, /h)")
		}
		p.RateLimit = rl
	case "basic_auth":
		ba := &proxy.BasicAuth{}
		d.mapping(v, at, func(bk string, kk, vv *yaml.Node) {
			w := join(at, bk)
			switch bk {
			case "realm":
				ba.Realm, _ = d.scalar(vv, w)
			case "users_file":
				file, ok := d.scalar(vv, w)
				if !ok {
					return
				}
				if !filepath.IsAbs(file) {
					file = filepath.Join(filepath.Dir(d.path), file)
				}
				data, err := os.ReadFile(file)
				if err != nil {
					d.fail(vv, w, fmt.Sprintf("cannot read %s: %v", file, errors.Unwrap(err)), "give the path of an htpasswd file (htpasswd -B -c FILE USER), relative to this file or absolute")
					return
				}
				if ba.Users, err = proxy.ParseHtpasswd(data); err != nil {
					d.fail(vv, w, fmt.Sprintf("%s: %v", file, err), "write user:hash lines with bcrypt hashes (htpasswd -B FILE USER)")
				}
			default:
				d.fail(kk, w, "unknown key", "basic auth has realm and users_file")
			}
		})
		if ba.Users == nil && len(d.errs) == before {
			d.fail(v, at, "no users_file", "add users_file: /etc/rampart/htpasswd (htpasswd -B makes one)")
		}
		p.BasicAuth = ba
	case "webhook":
		if wc, ok := d.webhook(v, at); ok {
			d.webhooks[p] = pendingWebhook{wc, v, at}
		}
	case "payment_page":
		pg := PaymentPageSetting{Mode: "learn", Sample: 1}
		d.mapping(v, at, func(pk string, kk, vv *yaml.Node) {
			w := join(at, pk)
			switch pk {
			case "mode":
				if pg.Mode, _ = d.scalar(vv, w); pg.Mode != "learn" && pg.Mode != "enforce" {
					d.fail(vv, w, fmt.Sprintf("%q is not a mode", pg.Mode), "write learn (report every script, block nothing) or enforce (allow the approved ones only)")
				}
			case "sample":
				s, ok := d.scalar(vv, w)
				if !ok {
					return
				}
				f, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
				if strings.HasSuffix(s, "%") {
					f /= 100
				}
				if err != nil || !(f > 0 && f <= 1) {
					d.fail(vv, w, fmt.Sprintf("%q is not a share of responses", s), "write a share above 0 and at most 1 (0.1), or a percentage (10%)")
					return
				}
				pg.Sample = f
			default:
				d.fail(kk, w, "unknown key", "a payment page has mode and sample")
			}
		})
		d.pages[p] = pg
	case "csp":
		p.CSP, _ = d.scalar(v, at)
		if p.CSP == "" && len(d.errs) == before {
			d.fail(v, at, "empty", "give a policy, such as frame-ancestors 'none', or drop the key")
		}
	case "hsts":
		p.HSTS, _ = d.scalar(v, at)
	case "max_body_size":
		s, ok := d.scalar(v, at)
		if !ok {
			return true
		}
		n, err := ParseSize(s)
		if err != nil || n < 1 || n > 1<<40 {
			d.fail(v, at, fmt.Sprintf("%q is not a size", s), "give bytes, or a number with KiB, MiB or GiB: 1MiB")
			return true
		}
		p.MaxBodyBytes = n
	case "timeout":
		p.Timeout, _ = d.duration(v, at, 10*time.Millisecond, 24*time.Hour)
	case "response_headers":
		p.ResponseHeaders = map[string]string{}
		d.mapping(v, at, func(name string, hk, hv *yaml.Node) {
			if val, ok := d.scalar(hv, join(at, name)); ok {
				p.ResponseHeaders[name] = val
			}
		})
	default:
		return false
	}
	if len(d.errs) == before {
		if err := proxy.CheckPolicy(*p); err != nil {
			d.fail(k, at, err.Error(), "correct it as that says")
		}
	}
	return true
}

// webhook reads a route's webhook check: its scheme, the files holding its
// secrets (one or more, a line each, for rotation) and its tolerance. The
// check is made (makeWebhooks) once its site's name and its route's path
// are known: they name it in the memory of deliveries.
func (d *decoder) webhook(n *yaml.Node, at string) (webhook.Config, bool) {
	before := len(d.errs)
	wc := webhook.Config{Replays: d.replays}
	files := false
	d.mapping(n, at, func(key string, k, v *yaml.Node) {
		w := join(at, key)
		switch key {
		case "scheme":
			if wc.Scheme, _ = d.scalar(v, w); wc.Scheme != webhook.Stripe && wc.Scheme != webhook.Standard && len(d.errs) == before {
				d.fail(v, w, fmt.Sprintf("%q is not a scheme rampart checks", wc.Scheme), "write stripe or standard-webhooks (Svix and others)")
			}
		case "secret_files":
			paths, ok := d.scalars(v, w)
			files = ok && len(paths) > 0
			for _, file := range paths {
				if !filepath.IsAbs(file) {
					file = filepath.Join(filepath.Dir(d.path), file)
				}
				data, err := os.ReadFile(file)
				if err != nil {
					d.fail(v, w, fmt.Sprintf("cannot read %s: %v", file, errors.Unwrap(err)), "give the path of a file holding the signing secret, relative to this file or absolute")
					continue
				}
				found := false
				for line := range strings.Lines(string(data)) {
					if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
						wc.Secrets, found = append(wc.Secrets, line), true
					}
				}
				if !found {
					d.fail(v, w, file+" holds no secret", "write the endpoint's signing secret in it (whsec_…), a line each while one rotates")
				}
			}
		case "tolerance":
			wc.Tolerance, _ = d.duration(v, w, time.Second, 24*time.Hour)
		default:
			d.fail(k, w, "unknown key", "a webhook has scheme, secret_files and tolerance")
		}
	})
	if len(d.errs) > before {
		return wc, false
	}
	switch {
	case wc.Scheme == "":
		d.fail(n, at, "no scheme", "add scheme: stripe (or standard-webhooks)")
	case !files:
		d.fail(n, at, "no secret_files", "add secret_files: [/etc/rampart/stripe-webhook.secret], a file holding the signing secret")
	default:
		return wc, true
	}
	return wc, false
}

// makeWebhook makes a policy's webhook check, named by its site's first
// name and its route's path, which a reload that moves it keeps.
func (d *decoder) makeWebhook(p *proxy.Policy, endpoint string) {
	pw, ok := d.webhooks[p]
	if !ok {
		return
	}
	pw.cfg.Endpoint = endpoint
	v, err := webhook.New(pw.cfg)
	if err != nil {
		d.fail(pw.node, pw.at, strings.TrimPrefix(err.Error(), "webhook: "), "copy the secret as the sender shows it (Stripe: whsec_…; Standard Webhooks: whsec_… or an Ed25519 whpk_…)")
		return
	}
	p.Webhook = v
}

// ParseSize reads a size: bytes, or a number with KiB, MiB or GiB (as
// --max-body-size and the file's max_body_size are written).
func ParseSize(s string) (int64, error) {
	mult := int64(1)
	for suffix, m := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30} {
		if strings.HasSuffix(s, suffix) {
			s, mult = strings.TrimSuffix(s, suffix), m
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n > (1<<62)/mult {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return n * mult, nil
}

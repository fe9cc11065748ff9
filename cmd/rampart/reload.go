package main

import (
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"
)

// fixedSetting is a setting that a reload cannot change: it shapes the
// listeners or the certificate source, which keep running.
type fixedSetting struct {
	name    string
	changed func(a, b *config) bool
	keep    func(dst, src *config) // copy the running value back
}

var fixedSettings = []fixedSetting{
	{"https-addr", func(a, b *config) bool { return a.httpsAddr != b.httpsAddr }, func(d, s *config) { d.httpsAddr = s.httpsAddr }},
	{"http-addr", func(a, b *config) bool { return a.httpAddr != b.httpAddr }, func(d, s *config) { d.httpAddr = s.httpAddr }},
	{"admin-addr", func(a, b *config) bool { return a.adminAddr != b.adminAddr }, func(d, s *config) { d.adminAddr = s.adminAddr }},
	{"data-dir", func(a, b *config) bool { return a.dataDir != b.dataDir }, func(d, s *config) { d.dataDir = s.dataDir }},
	{"payment-page-alert-url", func(a, b *config) bool {
		return (a.pageAlertURL == nil) != (b.pageAlertURL == nil) || (a.pageAlertURL != nil && *a.pageAlertURL != *b.pageAlertURL)
	},
		func(d, s *config) { d.pageAlertURL = s.pageAlertURL }},
	{"tls", func(a, b *config) bool { return a.tlsMode != b.tlsMode }, func(d, s *config) { d.tlsMode = s.tlsMode }},
	{"tls-min-version", func(a, b *config) bool { return a.tlsMinVersion != b.tlsMinVersion }, func(d, s *config) { d.tlsMinVersion = s.tlsMinVersion }},
	{"tls-ticket-lifetime", func(a, b *config) bool { return a.tlsTicketLifetime != b.tlsTicketLifetime }, func(d, s *config) { d.tlsTicketLifetime = s.tlsTicketLifetime }},
	{"acme-*", func(a, b *config) bool {
		return a.acmeDirectory != b.acmeDirectory || a.acmeEmail != b.acmeEmail || a.acmeEABKID != b.acmeEABKID
	}, func(d, s *config) {
		d.acmeDirectory, d.acmeEmail, d.acmeRoots, d.acmeEABKID, d.acmeEABKey = s.acmeDirectory, s.acmeEmail, s.acmeRoots, s.acmeEABKID, s.acmeEABKey
	}},
	{"listener limits", func(a, b *config) bool {
		return a.limits.maxHeaderBytes != b.limits.maxHeaderBytes || a.limits.readHeaderTimeout != b.limits.readHeaderTimeout ||
			a.limits.idleTimeout != b.limits.idleTimeout || a.limits.conns.Max != b.limits.conns.Max || a.limits.conns.PerIP != b.limits.conns.PerIP ||
			a.limits.conns.IPv6Prefix != b.limits.conns.IPv6Prefix
	}, func(d, s *config) {
		d.limits.maxHeaderBytes, d.limits.readHeaderTimeout, d.limits.idleTimeout, d.limits.conns =
			s.limits.maxHeaderBytes, s.limits.readHeaderTimeout, s.limits.idleTimeout, s.limits.conns
	}},
	{"proxy-protocol-from", func(a, b *config) bool { return !slices.Equal(a.proxyProtocolFrom, b.proxyProtocolFrom) }, func(d, s *config) {
		d.proxyProtocolFrom = s.proxyProtocolFrom
	}},
	{"log-*", func(a, b *config) bool { return a.logLevel != b.logLevel || a.logFormat != b.logFormat }, func(d, s *config) {
		d.logLevel, d.logFormat = s.logLevel, s.logFormat
	}},
}

// reload reads the configuration again and applies what can change under
// traffic: the names served, routes and pools, the upstream and its TLS and
// timeouts, trusted proxies, headers, request limits, shutdown timing, and
// (with --tls files) the certificate pair. No listener is closed. A configuration that fails validation leaves
// the running one in service. It returns the configuration now in force.
func (s *servers) reload(cur *config, read func() (*config, error), log *zap.Logger) *config {
	if read == nil {
		log.Warn("SIGHUP ignored: this mode has nothing to reload")
		return cur
	}
	next, err := read()
	if err != nil {
		s.metrics.ConfigLoaded(false, time.Now())
		log.Error("reload refused; the running configuration stays", zap.Error(err))
		return cur
	}
	// The names served (--domain's and the sites') are those certificates
	// are held for: a name added has its certificate ordered (or issued)
	// before any route takes it, and a name removed is no longer renewed.
	added, removed := nameChanges(cur.domains, next.domains)
	certsChanged := !slices.Equal(cur.mainDomains, next.mainDomains) ||
		!slices.EqualFunc(cur.siteCerts, next.siteCerts, func(a, b siteCert) bool { return a.same(b) })
	if certsChanged {
		if err := s.src.update(next); err != nil {
			s.metrics.ConfigLoaded(false, time.Now())
			log.Error("reload refused; the running configuration stays: the certificates cannot serve the new names", zap.Error(err),
				zap.String("fix", "give each name a certificate that covers it (--cert-file, or a site's tls), or restart as the error says"))
			return cur
		}
	}
	for _, f := range fixedSettings {
		if f.changed(cur, next) {
			log.Warn("reload: this setting changes only with a restart; the running value stays", zap.String("setting", f.name))
			f.keep(next, cur)
		}
	}
	// The transport, and with it the idle connections to the apps, stays
	// unless its own settings changed.
	transport := s.transport
	if transportChanged(cur, next) {
		transport = newTransport(next)
	}
	pc, err := proxyConfig(next, log, s.metrics, transport, s.pages)
	if err == nil {
		err = s.proxy.Update(pc)
	}
	if err != nil {
		if certsChanged {
			_ = s.src.update(cur) // as it was: it served those
		}
		s.metrics.ConfigLoaded(false, time.Now())
		log.Error("reload refused; the running configuration stays", zap.Error(fmt.Errorf("proxy: %w", err)))
		return cur
	}
	s.metrics.ConfigLoaded(true, time.Now())
	if len(added)+len(removed) > 0 {
		s.metrics.SetHosts(next.domains)
		s.names.set(next.domains, time.Now())
		log.Info("reload: the names served changed", zap.Strings("added", added), zap.Strings("removed", removed))
	}
	if transport != s.transport {
		old := s.transport
		s.transport = transport
		old.CloseIdleConnections() // requests in flight on it finish; its idle connections go
	}
	s.src.reloadFiles()
	log.Info("reloaded", zap.String("upstream", next.upstreamText()), zap.Int("sites", len(next.sites)))
	return next
}

// nameChanges lists the names in b and not a, and in a and not b.
func nameChanges(a, b []string) (added, removed []string) {
	for _, n := range b {
		if !slices.Contains(a, n) {
			added = append(added, n)
		}
	}
	for _, n := range a {
		if !slices.Contains(b, n) {
			removed = append(removed, n)
		}
	}
	return added, removed
}

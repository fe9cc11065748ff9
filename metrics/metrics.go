// Package metrics owns rampart's Prometheus collectors, always on a registry
// that the caller creates (never the global one), and the wrappers that feed
// them: an http.Handler for requests, an http.RoundTripper for calls to the
// app, hooks for TLS handshakes, refusals and ACME orders, and a collector
// over the certificate inventory.
//
// Every label value comes from a bounded set: hosts that are not served are
// counted as "other", unknown methods as "OTHER", reasons from fixed lists.
package metrics

import (
	"crypto/tls"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/rampart-proxy/rampart/hostname"
)

// Certificate is one certificate in service, for one served name.
type Certificate struct {
	Domain   string
	KeyType  string // "ecdsa", "rsa", "ed25519"
	Issuer   string
	NotAfter time.Time
}

// Config configures the collectors.
type Config struct {
	// Registerer receives every collector. Required; rampart passes its own
	// registry, never prometheus.DefaultRegisterer.
	Registerer prometheus.Registerer

	// Hosts are the served names: the only values of the host label besides "other".
	Hosts []string

	// Version is reported in rampart_build_info. Empty means "unknown".
	Version string

	// Certificates lists the certificates in service, read at each scrape.
	// Nil means no certificate series.
	Certificates func() []Certificate

	// Renewals lists the renewal plans of the ACME certificates, read at
	// each scrape. Nil means no renewal series.
	Renewals func() []Renewal

	// Upstreams lists the pool members of the running configuration, read
	// at each scrape: as many series as the configuration has members. Nil
	// means no upstream health series.
	Upstreams func() []Upstream
}

// Renewal is an ACME certificate's renewal plan, for one served name.
type Renewal struct {
	Domain, KeyType string
	// Planned is when the renewal is due.
	Planned time.Time
	// WindowStart and WindowEnd are the CA's suggested window (ARI); zero
	// when it offers none: no window series.
	WindowStart, WindowEnd time.Time
	// LastRenewed and LastReason tell the last renewal ("schedule", "ari",
	// "manual"); zero when none: no series.
	LastRenewed time.Time
	LastReason  string
	// Overdue: a renewal that was due is failing, or late.
	Overdue bool
}

// RenewalReasons are the reasons a certificate is renewed: the values of the reason label.
var RenewalReasons = []string{"schedule", "ari", "manual"}

// Upstream is one member of a pool, and whether it takes requests.
type Upstream struct {
	// Pool and Upstream are the labels: the pool's name and the member's
	// address. Empty values are reported as empty labels.
	Pool, Upstream string
	// Healthy is whether the member takes requests; false reports 0.
	Healthy bool
}

// Reasons a request is refused by rampart itself.
var RejectReasons = []string{
	"method", "upgrade", "misdirected", "no_route", "denied", "unauthorized", "rate_limited", "path", "malformed", "range",
	"body_too_large", "body_timeout", "body_malformed", "response_too_slow",
	"connection_limit", "connection_displaced", "connection_idle_closed", "proxy_protocol",
	"webhook_unsigned", "webhook_signature", "webhook_expired", "webhook_replayed", "csp_report",
}

// Reasons an exchange with the app fails.
var UpstreamErrorReasons = []string{"dial", "timeout", "reset", "tls", "other"}

// Reasons a TLS handshake fails.
var HandshakeErrorReasons = []string{"eof", "timeout", "unknown_name", "protocol_version", "no_shared_cipher", "bad_certificate", "not_tls", "other"}

// Metrics holds rampart's collectors. Its methods are safe for concurrent use.
type Metrics struct {
	hosts     atomic.Pointer[map[string]bool] // served names, replaced whole by SetHosts
	wildcards atomic.Bool                     // whether any served name is a wildcard

	requests     *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	inFlight     prometheus.Gauge
	responseSize prometheus.Histogram

	upstreamDuration prometheus.Histogram
	upstreamErrors   *prometheus.CounterVec

	handshakes      *prometheus.CounterVec
	handshakeErrors *prometheus.CounterVec

	acmeOrders      *prometheus.CounterVec
	acmeLastSuccess *prometheus.GaugeVec
	renewals        *prometheus.CounterVec

	rejected *prometheus.CounterVec

	pageChanges *prometheus.CounterVec

	reloadOK   prometheus.Gauge
	reloadTime prometheus.Gauge

	suites map[uint16]string // every suite Go knows, named once; read-only afterwards
}

// New creates and registers the collectors.
func New(cfg Config) (*Metrics, error) {
	if cfg.Registerer == nil {
		return nil, errors.New("metrics: a Registerer is required")
	}
	version := cfg.Version
	if version == "" {
		version = "unknown"
	}
	m := &Metrics{suites: map[uint16]string{}}
	for _, cs := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		m.suites[cs.ID] = cs.Name
	}
	hosts := map[string]bool{}
	for _, h := range cfg.Hosts {
		hosts[hostname.Canonical(h)] = true
	}
	m.hosts.Store(&hosts)
	m.wildcards.Store(hasWildcard(hosts))
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rampart_http_requests_total", Help: "HTTPS requests answered, by served host (or other), method and status code.",
	}, []string{"host", "method", "code"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "rampart_http_request_duration_seconds", Help: "Time from request headers to the end of the response, by served host (or other).",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"host"})
	m.inFlight = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "rampart_http_requests_in_flight", Help: "HTTPS requests being answered now.",
	})
	m.responseSize = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "rampart_http_response_size_bytes", Help: "Size of response bodies sent to clients.",
		Buckets: prometheus.ExponentialBuckets(256, 4, 8),
	})
	m.upstreamDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "rampart_upstream_request_duration_seconds", Help: "Time the app took to send its response headers.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
	})
	m.upstreamErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rampart_upstream_errors_total", Help: "Failed exchanges with the app that were not the client's doing, by reason (dial, timeout, reset, tls, other).",
	}, []string{"reason"})
	m.handshakes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rampart_tls_handshakes_total", Help: "Completed TLS handshakes, by protocol version and cipher suite.",
	}, []string{"version", "cipher_suite"})
	m.handshakeErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rampart_tls_handshake_errors_total", Help: "Failed TLS handshakes, by reason.",
	}, []string{"reason"})
	m.acmeOrders = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rampart_acme_orders_total", Help: "Certificate requests made to the ACME CA by rampart at start and on retry, by served name and result (success, error).",
	}, []string{"domain", "result"})
	m.acmeLastSuccess = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "rampart_acme_last_success_timestamp_seconds", Help: "Unix time of the last certificate obtained or loaded for a served name.",
	}, []string{"domain"})
	m.renewals = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rampart_certificate_renewals_total", Help: "Certificate renewals attempted, by reason (schedule, ari, manual) and result (success, error).",
	}, []string{"reason", "result"})
	m.rejected = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rampart_rejected_requests_total", Help: "Requests and connections rampart refused itself, by reason.",
	}, []string{"reason"})
	m.pageChanges = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rampart_payment_page_changes_total", Help: "Changes seen on payment pages (PCI DSS 11.6.1), by site and kind (script_new, script_changed, script_unapproved, header_changed, header_dropped).",
	}, []string{"site", "kind"})
	m.reloadOK = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "rampart_config_last_reload_successful", Help: "1 if the last configuration load (start or reload) was applied, 0 if it was refused and the one before stays.",
	})
	m.reloadTime = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "rampart_config_last_reload_success_timestamp_seconds", Help: "Unix time of the last configuration applied (start or reload).",
	})
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "rampart_build_info", Help: "A constant 1, labelled with rampart's version and the Go version it was built with.",
	}, []string{"version", "goversion"})
	build.WithLabelValues(version, runtime.Version()).Set(1)

	// Zero series for every fixed reason, so rates and alerts see them from the start.
	for _, r := range RejectReasons {
		m.rejected.WithLabelValues(r)
	}
	for _, r := range UpstreamErrorReasons {
		m.upstreamErrors.WithLabelValues(r)
	}
	for _, r := range HandshakeErrorReasons {
		m.handshakeErrors.WithLabelValues(r)
	}
	for _, r := range RenewalReasons {
		m.renewals.WithLabelValues(r, "success")
		m.renewals.WithLabelValues(r, "error")
	}
	for h := range hosts {
		m.acmeOrders.WithLabelValues(h, "success")
		m.acmeOrders.WithLabelValues(h, "error")
	}

	cs := []prometheus.Collector{
		m.requests, m.duration, m.inFlight, m.responseSize, m.upstreamDuration, m.upstreamErrors,
		m.handshakes, m.handshakeErrors, m.acmeOrders, m.acmeLastSuccess, m.renewals, m.rejected, m.pageChanges, m.reloadOK, m.reloadTime, build,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	}
	if cfg.Certificates != nil {
		cs = append(cs, &certCollector{list: cfg.Certificates, m: m})
	}
	if cfg.Renewals != nil {
		cs = append(cs, &renewalCollector{list: cfg.Renewals, m: m})
	}
	if cfg.Upstreams != nil {
		cs = append(cs, upstreamCollector(cfg.Upstreams))
	}
	for _, c := range cs {
		if err := cfg.Registerer.Register(c); err != nil {
			return nil, fmt.Errorf("metrics: %w", err)
		}
	}
	return m, nil
}

// ConfigLoaded records a configuration load: applied (at start, or by a
// reload) or refused (the running one stays).
func (m *Metrics) ConfigLoaded(applied bool, at time.Time) {
	if applied {
		m.reloadOK.Set(1)
		m.reloadTime.Set(float64(at.UnixNano()) / 1e9)
		return
	}
	m.reloadOK.Set(0)
}

// upstreamCollector reports each pool member's health at each scrape.
type upstreamCollector func() []Upstream

var upstreamDesc = prometheus.NewDesc("rampart_upstream_healthy",
	"1 if the pool member takes requests (not ejected after failures, not failing its health check), else 0.", []string{"pool", "upstream"}, nil)

func (c upstreamCollector) Describe(ch chan<- *prometheus.Desc) { ch <- upstreamDesc }

func (c upstreamCollector) Collect(ch chan<- prometheus.Metric) {
	for _, u := range c() {
		v := 0.0
		if u.Healthy {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(upstreamDesc, prometheus.GaugeValue, v, u.Pool, u.Upstream)
	}
}

// PaymentPageKinds are the kinds of change on a payment page.
var PaymentPageKinds = []string{"script_new", "script_changed", "script_unapproved", "header_changed", "header_dropped"}

// PaymentPages makes the zero series of the sites with payment pages, so
// an alert sees the first change.
func (m *Metrics) PaymentPages(sites []string) {
	for _, s := range sites {
		for _, k := range PaymentPageKinds {
			m.pageChanges.WithLabelValues(m.hostLabel(s), k)
		}
	}
}

// PaymentPageChange counts a change on a payment page of site; an unknown
// kind is not counted.
func (m *Metrics) PaymentPageChange(site, kind string) {
	if slices.Contains(PaymentPageKinds, kind) {
		m.pageChanges.WithLabelValues(m.hostLabel(site), kind).Inc()
	}
}

// Rejected counts a refusal; an unknown reason counts as "malformed".
func (m *Metrics) Rejected(reason string) {
	if !slices.Contains(RejectReasons, reason) {
		reason = "malformed"
	}
	m.rejected.WithLabelValues(reason).Inc()
}

// UpstreamError counts a failed exchange with the app; an unknown reason counts as "other".
func (m *Metrics) UpstreamError(reason string) {
	if !slices.Contains(UpstreamErrorReasons, reason) {
		reason = "other"
	}
	m.upstreamErrors.WithLabelValues(reason).Inc()
}

// Handshake counts a completed TLS handshake.
func (m *Metrics) Handshake(cs tls.ConnectionState) {
	m.handshakes.WithLabelValues(tls.VersionName(cs.Version), m.suiteName(cs.CipherSuite)).Inc()
}

// HandshakeError counts a failed TLS handshake; an unknown reason counts as "other".
func (m *Metrics) HandshakeError(reason string) {
	if !slices.Contains(HandshakeErrorReasons, reason) {
		reason = "other"
	}
	m.handshakeErrors.WithLabelValues(reason).Inc()
}

// ACMEOrder counts one certificate request for a served name.
func (m *Metrics) ACMEOrder(domain string, err error) {
	domain = m.hostLabel(domain)
	if err != nil {
		m.acmeOrders.WithLabelValues(domain, "error").Inc()
		return
	}
	m.acmeOrders.WithLabelValues(domain, "success").Inc()
	m.acmeLastSuccess.WithLabelValues(domain).SetToCurrentTime()
}

// CertificateRenewal counts one renewal attempt; an unknown reason counts as "manual".
func (m *Metrics) CertificateRenewal(reason string, err error) {
	if !slices.Contains(RenewalReasons, reason) {
		reason = "manual"
	}
	result := "success"
	if err != nil {
		result = "error"
	}
	m.renewals.WithLabelValues(reason, result).Inc()
}

// suiteName names a cipher suite; the set is Go's, so the label is bounded.
func (m *Metrics) suiteName(id uint16) string {
	if name, ok := m.suites[id]; ok {
		return name
	}
	return "other"
}

// hostLabel maps a Host header or server name to a served name, or "other".
func (m *Metrics) hostLabel(host string) string {
	h := hostname.Canonical(host)
	hosts := *m.hosts.Load()
	if hosts[h] {
		return h
	}
	// A name a served wildcard stands for is counted under the wildcard:
	// one series however many labels come. Only a table with a wildcard
	// pays for the lookup.
	if i := strings.IndexByte(h, '.'); i > 0 && m.wildcards.Load() && hosts["*"+h[i:]] {
		return "*" + h[i:]
	}
	return "other"
}

func hasWildcard(hosts map[string]bool) bool {
	for h := range hosts {
		if strings.HasPrefix(h, "*.") {
			return true
		}
	}
	return false
}

// SetHosts replaces the served names (a reload). A name removed loses its
// series, so the host label stays bounded by the configuration; a name
// added gets its ACME order series at zero.
func (m *Metrics) SetHosts(names []string) {
	hosts := map[string]bool{}
	for _, h := range names {
		hosts[hostname.Canonical(h)] = true
	}
	old := *m.hosts.Swap(&hosts)
	m.wildcards.Store(hasWildcard(hosts))
	for h := range old {
		if !hosts[h] {
			m.requests.DeletePartialMatch(prometheus.Labels{"host": h})
			m.duration.DeletePartialMatch(prometheus.Labels{"host": h})
			m.acmeOrders.DeletePartialMatch(prometheus.Labels{"domain": h})
			m.acmeLastSuccess.DeletePartialMatch(prometheus.Labels{"domain": h})
		}
	}
	for h := range hosts {
		if !old[h] {
			m.acmeOrders.WithLabelValues(h, "success")
			m.acmeOrders.WithLabelValues(h, "error")
		}
	}
}

var methods = map[string]bool{"GET": true, "HEAD": true, "POST": true, "PUT": true, "PATCH": true, "DELETE": true, "OPTIONS": true, "CONNECT": true, "TRACE": true}

func methodLabel(m string) string {
	if methods[m] {
		return m
	}
	return "OTHER"
}

func codeLabel(code int) string { return strconv.Itoa(code) }

// certCollector reports the certificates in service at each scrape.
type certCollector struct {
	list func() []Certificate
	m    *Metrics
}

var certDesc = prometheus.NewDesc("rampart_certificate_not_after_timestamp_seconds",
	"Unix time at which a certificate in service expires, by served name, key type and issuer.",
	[]string{"domain", "key_type", "issuer"}, nil)

func (c *certCollector) Describe(ch chan<- *prometheus.Desc) { ch <- certDesc }

func (c *certCollector) Collect(ch chan<- prometheus.Metric) {
	seen := map[[3]string]bool{}
	hosts := *c.m.hosts.Load()
	for _, cert := range c.list() {
		d := hostname.Canonical(cert.Domain)
		key := [3]string{d, cert.KeyType, cert.Issuer}
		if !hosts[d] || seen[key] {
			continue // only served names: the label set stays bounded
		}
		seen[key] = true
		ch <- prometheus.MustNewConstMetric(certDesc, prometheus.GaugeValue, float64(cert.NotAfter.Unix()), key[:]...)
	}
}

// renewalCollector reports the ACME certificates' renewal plans at each scrape.
type renewalCollector struct {
	list func() []Renewal
	m    *Metrics
}

var (
	renewalPlannedDesc = prometheus.NewDesc("rampart_certificate_renewal_planned_timestamp_seconds",
		"Unix time at which an ACME certificate is to be renewed, by served name and key type.", []string{"domain", "key_type"}, nil)
	ariStartDesc = prometheus.NewDesc("rampart_certificate_ari_window_start_timestamp_seconds",
		"Start of the renewal window the CA suggests (ARI), by served name and key type.", []string{"domain", "key_type"}, nil)
	ariEndDesc = prometheus.NewDesc("rampart_certificate_ari_window_end_timestamp_seconds",
		"End of the renewal window the CA suggests (ARI), by served name and key type.", []string{"domain", "key_type"}, nil)
	lastRenewalDesc = prometheus.NewDesc("rampart_certificate_last_renewal_timestamp_seconds",
		"Unix time of the last renewal of a certificate, by served name, key type and reason (schedule, ari, manual).", []string{"domain", "key_type", "reason"}, nil)
	renewalOverdueDesc = prometheus.NewDesc("rampart_certificate_renewal_overdue",
		"1 while a renewal that was due (planned, or asked for) is failing, or has not happened ten minutes after its planned moment, else 0.", []string{"domain", "key_type"}, nil)
)

func (c *renewalCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{renewalPlannedDesc, ariStartDesc, ariEndDesc, lastRenewalDesc, renewalOverdueDesc} {
		ch <- d
	}
}

func (c *renewalCollector) Collect(ch chan<- prometheus.Metric) {
	seen := map[[2]string]bool{}
	hosts := *c.m.hosts.Load()
	for _, r := range c.list() {
		d := hostname.Canonical(r.Domain)
		key := [2]string{d, r.KeyType}
		if !hosts[d] || seen[key] {
			continue // only served names: the label set stays bounded
		}
		seen[key] = true
		gauge := func(desc *prometheus.Desc, v float64, labels ...string) {
			ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, labels...)
		}
		gauge(renewalPlannedDesc, float64(r.Planned.Unix()), key[:]...)
		if !r.WindowStart.IsZero() {
			gauge(ariStartDesc, float64(r.WindowStart.Unix()), key[:]...)
			gauge(ariEndDesc, float64(r.WindowEnd.Unix()), key[:]...)
		}
		if !r.LastRenewed.IsZero() && slices.Contains(RenewalReasons, r.LastReason) {
			gauge(lastRenewalDesc, float64(r.LastRenewed.Unix()), d, r.KeyType, r.LastReason)
		}
		overdue := 0.0
		if r.Overdue {
			overdue = 1
		}
		gauge(renewalOverdueDesc, overdue, key[:]...)
	}
}

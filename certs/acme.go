package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"

	"github.com/rampart-proxy/rampart/hostname"
)

// ecdsaSuite is the cipher-suite list of a hello autocert serves ECDSA to.
var ecdsaSuite = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}

// LetsEncryptStaging is the directory of Let's Encrypt's staging CA.
const LetsEncryptStaging = "https://acme-staging-v02.api.letsencrypt.org/directory"

// ACMEConfig configures certificates obtained from an ACME CA.
type ACMEConfig struct {
	// Domains are the only names a certificate is ever ordered for. None
	// orders nothing until SetDomains gives some (the Kubernetes mode).
	Domains []string

	// CacheDir holds certificates and the ACME account key (mode 0700).
	// Required unless Cache is set.
	CacheDir string

	// Cache, if not nil, replaces CacheDir: a store that replicas share
	// (the Kubernetes mode's Secrets), which also carries the challenge
	// answers, so any replica can answer the CA.
	Cache autocert.Cache

	// MayOrder, if not nil, tells whether this replica may order now (it
	// holds the Lease). While it says no, handshakes are served only what
	// Cache holds (re-read now and then, so the leader's new and renewed
	// certificates are picked up), nothing is ordered or renewed, and Run's
	// loops wait. Nil: this replica always may.
	MayOrder func() bool

	// DirectoryURL is the CA's ACME directory. Empty means Let's Encrypt production.
	DirectoryURL string

	// Email is the contact address given to the CA. Empty gives none.
	Email string

	// Roots are trusted for the connection to the ACME server. Nil means the system roots.
	Roots *x509.CertPool

	// EAB is the External Account Binding for CAs that require one. Nil means none.
	EAB *acme.ExternalAccountBinding

	// RetryMin and RetryMax bound the backoff between failed first orders.
	// Zero means one minute and one hour.
	RetryMin, RetryMax time.Duration

	// RSA also orders an RSA certificate for a name, when a client that
	// cannot use ECDSA first connects. False holds ECDSA P-256 certificates
	// only: such a client's handshake fails and nothing is ordered for it.
	RSA bool

	// Logger receives each order's outcome and cache failures. Nil means no logging.
	Logger *zap.Logger

	// Advise, if not nil, says what the operator can do about a failed
	// order; its answer is logged as the line's fix. Nil logs no fix.
	Advise func(domain string, err error, retryIn time.Duration) string

	// OnOrder is called after each certificate request Run makes (or cache
	// load), with its error or nil. Nil means no calls.
	OnOrder func(domain string, err error)

	// ARIInterval is the longest wait between two asks of the CA's renewal
	// window for a certificate (a shorter Retry-After from the CA is
	// honoured). Zero means six hours.
	ARIInterval time.Duration

	// OnRenewal is called after each renewal, with its outcome. Nil means no calls.
	OnRenewal func(RenewalAttempt)

	// Clock is the renewal scheduler's time. Nil means the system clock.
	Clock Clock
}

// ACME serves certificates obtained and renewed through autocert.
type ACME struct {
	m         *autocert.Manager
	cache     autocert.Cache // the Manager's
	served    servedNames
	cfg       ACMEConfig
	log       *zap.Logger
	inv       inventory
	transport http.RoundTripper // to the CA
	clock     Clock
	ari       ariClient
	sched     scheduler
	http01    atomic.Bool // HTTPHandler was asked for: renewals try HTTP-01 too

	mu       sync.Mutex
	backoff  map[string]time.Time // name → when Run orders it again, while it has no certificate
	runCtx   context.Context      // Run's, for the orders of names added later; nil before Run
	stopping bool                 // Run's ctx has ended: no renewal is added to its wait
	running  map[string]bool      // names with an obtain loop going
	follows  map[string]*followed // a follower's certificates, read from the cache
}

// NewACME validates cfg and returns the ACME source. It talks to no CA; Run does.
func NewACME(cfg ACMEConfig) (*ACME, error) {
	if cfg.CacheDir == "" && cfg.Cache == nil {
		return nil, errors.New("certs: ACME needs a cache directory")
	}
	if cfg.RetryMin == 0 {
		cfg.RetryMin = time.Minute
	}
	if cfg.RetryMax == 0 {
		cfg.RetryMax = time.Hour
	}
	if cfg.ARIInterval <= 0 {
		cfg.ARIInterval = ariDefaultInterval
	}
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = &tls.Config{RootCAs: cfg.Roots, MinVersion: tls.VersionTLS12}
	a := &ACME{cfg: cfg, log: log, transport: transport, clock: cfg.Clock}
	if a.clock == nil {
		a.clock = systemClock{}
	}
	a.sched.kick, a.sched.asks = make(chan struct{}, 1), make(chan struct{}, ariAsks)
	if cfg.ARIInterval < time.Minute {
		log.Warn("the CA is asked for renewal windows more often than once a minute, against RFC 9773's advice: for tests only",
			zap.Duration("ari_interval", cfg.ARIInterval))
	}
	a.served.store(cfg.Domains)
	var cache autocert.Cache = autocert.DirCache(cfg.CacheDir)
	if cfg.Cache != nil {
		cache = cfg.Cache
	}
	a.cache = loggingCache{cache, log}
	dir := cfg.DirectoryURL
	if dir == "" {
		dir = autocert.DefaultACMEDirectory
	}
	a.ari = ariClient{directory: dir, http: &http.Client{Transport: transport, Timeout: 30 * time.Second}}
	// The policy compares names without port: autocert's HTTP-01 handler
	// passes the Host header as received, port included.
	a.m = a.newManager(a.cache, a.served.has, transport)
	return a, nil
}

// newManager is an autocert Manager over cache, for the names allow
// accepts, talking to the CA through transport. Its own renewal timer is
// only a last resort (see renew.go): rampart decides when to renew.
func (a *ACME) newManager(cache autocert.Cache, allow func(string) bool, transport http.RoundTripper) *autocert.Manager {
	return &autocert.Manager{
		Prompt: autocert.AcceptTOS,
		Cache:  cache,
		HostPolicy: func(_ context.Context, host string) error {
			if !allow(host) {
				return fmt.Errorf("%w: %q", ErrNotServed, host)
			}
			return nil
		},
		RenewBefore:            autocertLastResort,
		Email:                  a.cfg.Email,
		ExternalAccountBinding: a.cfg.EAB,
		Client: &acme.Client{
			DirectoryURL: a.cfg.DirectoryURL,
			HTTPClient:   &http.Client{Transport: transport, Timeout: 2 * time.Minute},
			UserAgent:    "rampart",
		},
	}
}

// GetCertificate serves the certificate for a handshake, answering
// TLS-ALPN-01 challenges too. Names outside Domains fail the handshake.
//
// While a name's first order is failing, its handshakes fail at once rather
// than start an order of their own (autocert would, a minute after each
// failure, whatever the CA's Retry-After): Run alone orders, on its backoff.
// Challenge handshakes (TLS-ALPN-01) always pass.
func (a *ACME) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if !isChallenge(hello) && !a.mayOrder() {
		return a.follow(hello)
	}
	if !isChallenge(hello) {
		name := hostname.Canonical(hello.ServerName)
		a.mu.Lock()
		until, waiting := a.backoff[name]
		a.mu.Unlock()
		if waiting {
			return nil, fmt.Errorf("%w: %q: its order failed; the next is at %s", ErrNotYetIssued, name, until.UTC().Format(time.RFC3339))
		}
	}
	return a.getCertificate(hello)
}

// ErrNotYetIssued is GetCertificate's error for a name whose first order
// failed and waits for its retry.
var ErrNotYetIssued = errors.New("certs: no certificate yet")

func (a *ACME) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	ecdsa := !a.cfg.RSA || ecdsaCapable(hello)
	challenge := isChallenge(hello)
	name := hostname.Canonical(hello.ServerName)
	if !challenge {
		if c := a.newestFor(name, !ecdsa); c != nil && a.served.has(name) {
			a.inv.record(name, c)
			return c, nil // served ahead of the Manager, which keeps a certificate renewed since
		}
	}
	if ecdsa {
		// autocert picks RSA for a hello it judges unable to use ECDSA, a
		// TLS 1.3 hello without TLS 1.2's ECDSA suites among them. Shown an
		// ECDSA-capable copy, it serves the ECDSA certificate. Without RSA, a
		// client that cannot use it fails its handshake, and nothing is
		// ordered for it (an audit's RSA probe must not cost an order).
		h := *hello
		h.SignatureSchemes, h.SupportedCurves = nil, nil
		h.CipherSuites = ecdsaSuite
		hello = &h
	}
	if challenge {
		return a.m.GetCertificate(hello)
	}
	// An order this may start (a first one, an RSA one) takes its turn with
	// the name's renewals: they share the cache's challenge slots. Never a
	// challenge's: a renewal under way waits for those.
	defer a.lockName(name)()
	c, err := a.m.GetCertificate(hello)
	if err == nil && a.inv.record(name, c) {
		a.track(name, c)
	}
	return c, err
}

// isChallenge tells a TLS-ALPN-01 validation's hello.
func isChallenge(hello *tls.ClientHelloInfo) bool {
	return len(hello.SupportedProtos) == 1 && hello.SupportedProtos[0] == acme.ALPNProto
}

// ecdsaCapable tells whether a client can use an ECDSA P-256 certificate:
// it accepts ECDSA P-256 signatures and either speaks TLS 1.3 (where any
// suite goes with any certificate) or offers a TLS 1.2 ECDHE_ECDSA suite on
// P-256.
func ecdsaCapable(hello *tls.ClientHelloInfo) bool {
	if hello.SignatureSchemes != nil && !slices.Contains(hello.SignatureSchemes, tls.ECDSAWithP256AndSHA256) {
		return false
	}
	if slices.Contains(hello.SupportedVersions, tls.VersionTLS13) {
		return true
	}
	if hello.SupportedCurves != nil && !slices.Contains(hello.SupportedCurves, tls.CurveP256) {
		return false
	}
	return slices.ContainsFunc(hello.CipherSuites, func(id uint16) bool { return ecdsaSuites[id] })
}

// ecdsaSuites are the TLS 1.2 suites signed with an ECDSA certificate.
var ecdsaSuites = func() map[uint16]bool {
	m := map[uint16]bool{}
	for _, cs := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		if strings.HasPrefix(cs.Name, "TLS_ECDHE_ECDSA_") {
			m[cs.ID] = true
		}
	}
	return m
}()

// HTTPHandler answers HTTP-01 challenges and passes every other request to fallback.
func (a *ACME) HTTPHandler(fallback http.Handler) http.Handler {
	a.http01.Store(true)
	return a.m.HTTPHandler(fallback)
}

// Inventory lists the certificates served so far.
func (a *ACME) Inventory() []Info { return a.inv.list() }

// Run obtains a certificate for every domain right away, in parallel, so the
// first visitor never waits for an order; a domain whose order fails is
// retried with backoff until it succeeds or ctx ends. A cached certificate
// counts as obtained. Then it renews each certificate when its time comes
// (renew.go). Run never fails because of the CA: the certificates in
// service stay in service.
//
// Run returns when ctx ends, once its renewals have stopped (their requests
// to the CA end with ctx). A first order in progress cannot be called off
// (autocert gives it five minutes of its own), so a stop abandons it rather
// than wait: the next start loads what the cache holds and orders the rest.
func (a *ACME) Run(ctx context.Context) {
	a.mu.Lock()
	a.runCtx = ctx
	a.mu.Unlock()
	scheduled := make(chan struct{})
	go func() { defer close(scheduled); a.schedule(ctx) }()
	for _, d := range a.served.list() {
		go a.obtain(ctx, d)
	}
	<-ctx.Done()
	a.mu.Lock()
	a.stopping = true
	a.mu.Unlock()
	<-scheduled // and with it every renewal and ask under way
}

// SetDomains replaces the served names (a reload). A name added is ordered
// at once, beside whatever Run is doing (or, if it was served before, its
// newest certificate is scheduled again); a name removed is refused from
// now on and its renewals are no longer scheduled. Only autocert's last
// resort, a second before the old certificate expires, may still order it:
// its timer does not ask the host policy, and nothing outside autocert stops it.
func (a *ACME) SetDomains(domains []string) error {
	added := a.served.added(domains)
	a.served.store(domains)
	for _, d := range added { // back after a reload removed it: the newest certificate known is renewed again
		name := hostname.Canonical(d)
		for _, rsa := range []bool{false, true} {
			if v, ok := a.sched.newest.Load(cacheKey(name, rsa)); ok {
				a.track(name, v.(*tls.Certificate))
			}
		}
	}
	a.mu.Lock()
	ctx := a.runCtx
	a.mu.Unlock()
	if ctx != nil {
		for _, d := range added {
			go a.obtain(ctx, d)
		}
	}
	return nil
}

// claim marks a name's obtain loop as running, or tells that one already is.
func (a *ACME) claim(domain string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	name := hostname.Canonical(domain)
	if a.running[name] {
		return false
	}
	if a.running == nil {
		a.running = map[string]bool{}
	}
	a.running[name] = true
	return true
}

func (a *ACME) obtain(ctx context.Context, domain string) {
	if !a.claim(domain) {
		return // a reload put it back while its first loop still runs
	}
	defer func() {
		a.mu.Lock()
		delete(a.running, hostname.Canonical(domain))
		delete(a.backoff, hostname.Canonical(domain))
		a.mu.Unlock()
	}()
	wait := a.cfg.RetryMin
	for attempt := 1; ; attempt++ {
		if !a.served.has(domain) {
			return // removed by a reload: nothing is ordered for it any more
		}
		for !a.mayOrder() { // another replica orders; this one may take over
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
		a.log.Debug("ordering a certificate, unless the cache holds it", zap.String("domain", domain))
		start := time.Now()
		// An ECDSA-capable hello, so that the certificate obtained first is the
		// ECDSA one modern clients use; autocert adds RSA on demand.
		c, err := a.getCertificate(&tls.ClientHelloInfo{
			ServerName:   domain,
			CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
		})
		if err == nil && c.Leaf == nil {
			err = errors.New("certs: certificate without a parsed leaf")
		}
		if a.cfg.OnOrder != nil {
			a.cfg.OnOrder(domain, err)
		}
		if err == nil {
			a.mu.Lock()
			delete(a.backoff, hostname.Canonical(domain))
			a.mu.Unlock()
			a.log.Info("certificate ready", zap.String("domain", domain),
				zap.String("issuer", infoOf(c.Leaf).Issuer), zap.Time("not_after", c.Leaf.NotAfter),
				zap.Duration("took", time.Since(start)))
			return
		}
		// A CA that asks for a pause gets it.
		var ae *acme.Error
		if errors.As(err, &ae) {
			if d, limited := acme.RateLimit(ae); limited && d > wait {
				wait = d
			}
		}
		fields := []zap.Field{zap.String("domain", domain), zap.Int("attempt", attempt),
			zap.Duration("retry_in", wait), zap.Time("retry_at", time.Now().Add(wait).UTC()), zap.Error(err)}
		if a.cfg.Advise != nil {
			fields = append(fields, zap.String("fix", a.cfg.Advise(domain, err, wait)))
		}
		a.log.Error("certificate order failed; serving what is cached and retrying", fields...)
		a.mu.Lock()
		if a.backoff == nil {
			a.backoff = map[string]time.Time{}
		}
		a.backoff[hostname.Canonical(domain)] = time.Now().Add(wait)
		a.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, a.cfg.RetryMax)
		a.mu.Lock()
		delete(a.backoff, hostname.Canonical(domain)) // ordering again: the next hello may join it
		a.mu.Unlock()
	}
}

// loggingCache reports cache write failures: autocert ignores the error of
// its cache Put, so a full or read-only disk would otherwise go unseen until
// the next restart orders everything again.
type loggingCache struct {
	autocert.Cache
	log *zap.Logger
}

func (c loggingCache) Put(ctx context.Context, key string, data []byte) error {
	err := c.Cache.Put(ctx, key, data)
	if err != nil {
		c.log.Error("certificate cache write failed", zap.String("key", key), zap.Error(err))
	}
	return err
}

package certs

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
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

// Renewal: rampart decides when each ACME certificate is renewed, and
// autocert orders it.
//
// autocert renews on a private timer, at most 30 days before expiry, on
// context.Background(), and cannot be asked to renew now. So every Manager
// rampart makes has RenewBefore set to the last second (its timer then
// fires only for a certificate about to expire, as a last resort), and a
// renewal is an order by a Manager of its own, made for that one
// certificate over the same cache: its cache hides the certificate in
// service until the new one is stored, so autocert orders (and stores) a
// new one, and its HTTP client is bound to the renewal's context, so a stop
// or a timeout calls the order off. The certificate in service is served
// until the new one is ready; then the new one is served from renewed,
// ahead of the serving Manager (which keeps the old one in memory until its
// own last-resort timer would have fired).
//
// What decides: the CA's ARI window when it offers one (a random moment
// inside it, RFC 9773 section 4.2), else when a third of the lifetime is
// left (half for ten days or less). A failed renewal is retried after
// 1 minute, 10 minutes, 100 minutes, then daily (Let's Encrypt's
// integration guide).

// Reasons a certificate is renewed: the bounded values of a metric label.
const (
	ReasonSchedule = "schedule" // a third of its lifetime left, the CA offering no window
	ReasonARI      = "ari"      // inside the window the CA suggests
	ReasonManual   = "manual"   // an operator asked (rampart certs renew)
)

// Clock is the scheduler's time. Tests inject one that they move by hand.
type Clock interface {
	Now() time.Time
	// Until's channel receives once the clock has reached t.
	Until(t time.Time) <-chan time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time                     { return time.Now() }
func (systemClock) Until(t time.Time) <-chan time.Time { return time.After(time.Until(t)) }

// autocertLastResort is RenewBefore for every Manager rampart makes: its own
// timer fires a second before expiry, when rampart's renewals have failed
// for weeks, and is then only a last try.
const autocertLastResort = time.Second

// renewalTimeout bounds one renewal: autocert gives a handshake's order five minutes.
const renewalTimeout = 10 * time.Minute

// ariDefaultInterval is how often a window is asked for when neither the CA
// (Retry-After) nor the operator says otherwise. Let's Encrypt asks for at
// least twice a day.
const ariDefaultInterval = 6 * time.Hour

// ariAsks bounds the renewal-information requests in flight at once.
const ariAsks = 4

// backoff is the wait after the n-th failed renewal in a row (n ≥ 1).
func backoff(n int) time.Duration {
	switch n {
	case 1:
		return time.Minute
	case 2:
		return 10 * time.Minute
	case 3:
		return 100 * time.Minute
	}
	return 24 * time.Hour
}

// Renewal is what rampart knows and plans for one ACME certificate.
type Renewal struct {
	Name      string    `json:"name"`     // the served name
	KeyType   string    `json:"key_type"` // "ecdsa" or "rsa"
	Issuer    string    `json:"issuer"`
	Serial    string    `json:"serial,omitempty"` // hexadecimal
	NotBefore time.Time `json:"not_before,omitzero"`
	NotAfter  time.Time `json:"not_after"`

	// ARI is the CA's suggested window; zero when the CA offers none or has
	// not answered. ARIError is why the last ask failed ("" if it did not).
	ARI      Window `json:"ari_window,omitzero"`
	ARIError string `json:"ari_error,omitempty"`
	// NextCheck is when the window is asked for next.
	NextCheck time.Time `json:"next_check,omitzero"`

	// Planned is when the renewal is due, and PlannedBy why: ReasonARI or
	// ReasonSchedule. Zero for a certificate rampart does not renew.
	Planned   time.Time `json:"planned,omitzero"`
	PlannedBy string    `json:"planned_by,omitempty"`

	// Failures counts the failed renewals in a row; NextAttempt is the next
	// try after one (zero when none failed), LastError the last failure.
	Failures    int       `json:"failures,omitempty"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	LastError   string    `json:"last_error,omitempty"`

	// LastRenewed and LastReason tell the last renewal this process made
	// (zero and "" if none).
	LastRenewed time.Time `json:"last_renewed,omitzero"`
	LastReason  string    `json:"last_reason,omitempty"`

	// Overdue is set while a renewal that was due (planned, or asked for)
	// has failed, or has not succeeded ten minutes after its planned moment.
	Overdue bool `json:"overdue,omitempty"`

	// Follower is set on a replica that may not order now: another renews
	// the certificate, and this one has no plan for it (Planned is zero).
	Follower bool `json:"follower,omitempty"`
}

// renewal is one certificate's state in the scheduler, keyed by its cache
// key (the name, or name+"+rsa").
type renewal struct {
	name string
	rsa  bool
	cert *tls.Certificate // in service

	ari       Window
	ariErr    string
	nextCheck time.Time
	checking  bool

	planned   time.Time
	plannedBy string
	drawnFrom Window // the window planned was drawn from

	failures    int
	nextAttempt time.Time // the retry after a failure: of the same reason
	retryReason string
	lastErr     string
	lastRenewed time.Time
	lastReason  string

	endedStreak int // certificates in a row whose first window had already ended
	renewing    bool
	done        chan struct{} // closed when the renewal under way ends
	result      error         // the outcome of the last renewal, read once done is closed
	justRenewed bool          // its window not yet asked since this process renewed it
}

// scheduler holds every ACME certificate's renewal plan. Its zero value is
// ready; ACME owns one.
type scheduler struct {
	mu      sync.Mutex
	entries map[string]*renewal
	kick    chan struct{} // buffered: something changed, plan again
	ariURL  string        // the CA's renewalInfo, once read
	asks    chan struct{} // ARI requests in flight

	newest   sync.Map       // cache key → *tls.Certificate: the newest known, served ahead of the Manager
	ordering sync.Map       // name → *sync.Mutex: one order at a time per name (ECDSA and RSA share challenge slots)
	work     sync.WaitGroup // renewals and asks under way; Run waits for them
}

func cacheKey(name string, rsa bool) string {
	if rsa {
		return name + "+rsa"
	}
	return name
}

func (a *ACME) now() time.Time { return a.clock.Now() }

// wake asks the scheduler to plan again.
func (a *ACME) wake() {
	select {
	case a.sched.kick <- struct{}{}:
	default:
	}
}

// newer tells whether c was issued after old: a renewal may well expire
// sooner (a shorter profile, another CA), never be issued earlier. Two
// issued within NotBefore's grain (a second; a day for CAs that start
// certificates at midnight) are told apart by expiry; a full tie is not
// newer, so a cache that missed a write never brings the old one back.
// A renewal's own result needs no telling: it replaces (renew).
func newer(c, old *tls.Certificate) bool {
	if !c.Leaf.NotBefore.Equal(old.Leaf.NotBefore) {
		return c.Leaf.NotBefore.After(old.Leaf.NotBefore)
	}
	return c.Leaf.NotAfter.After(old.Leaf.NotAfter)
}

// track tells the scheduler of a certificate in service for name. A newer
// one replaces what it held, and is asked about at once.
func (a *ACME) track(name string, c *tls.Certificate) {
	if c == nil || c.Leaf == nil {
		return
	}
	rsa := keyType(c.Leaf) == "rsa"
	key := cacheKey(name, rsa)
	a.serveNewest(key, c)
	s := &a.sched
	s.mu.Lock()
	e := s.entries[key]
	if e != nil && !newer(c, e.cert) {
		s.mu.Unlock()
		return
	}
	if s.entries == nil {
		s.entries = map[string]*renewal{}
	}
	if e == nil {
		e = &renewal{name: name, rsa: rsa}
		s.entries[key] = e
	}
	e.cert = c
	e.resetFor(a.now())
	s.mu.Unlock()
	a.wake()
}

// resetFor starts afresh with a new certificate: its window is asked for now.
func (e *renewal) resetFor(now time.Time) {
	e.ari, e.ariErr, e.drawnFrom = Window{}, "", Window{}
	e.nextCheck = now
	e.failures, e.nextAttempt, e.lastErr = 0, time.Time{}, ""
	e.plan(now)
}

// plan decides when e is renewed: a random moment in the CA's window (at
// once when the window has ended), kept while the window stays the same;
// else when a third of its lifetime is left, half for ten days or less.
func (e *renewal) plan(now time.Time) {
	if !e.ari.IsZero() {
		if e.drawnFrom.Start.Equal(e.ari.Start) && e.drawnFrom.End.Equal(e.ari.End) {
			return
		}
		e.drawnFrom, e.plannedBy = e.ari, ReasonARI
		if !e.ari.End.After(now) {
			e.planned = now
			return
		}
		e.planned = e.ari.Start.Add(rand.N(e.ari.End.Sub(e.ari.Start)))
		return
	}
	leaf := e.cert.Leaf
	life := leaf.NotAfter.Sub(leaf.NotBefore)
	left := life / 3
	if life <= 10*24*time.Hour {
		left = life / 2
	}
	e.planned, e.plannedBy, e.drawnFrom = leaf.NotAfter.Add(-left), ReasonSchedule, Window{}
}

// due is when e next needs the scheduler, and what for: a check of its
// window, a renewal, or nothing (zero time).
func (e *renewal) due() (at time.Time, renew bool) {
	if e.renewing {
		return time.Time{}, false
	}
	at, renew = e.planned, true
	if e.failures > 0 {
		at = e.nextAttempt // a failed renewal (an operator's too) is retried on its backoff
	}
	if !e.checking && !e.nextCheck.IsZero() && e.nextCheck.Before(at) {
		return e.nextCheck, false
	}
	return at, true
}

// schedule runs the renewals and the window checks until ctx ends; while
// this replica may not order, it only waits.
func (a *ACME) schedule(ctx context.Context) {
	defer a.sched.work.Wait()
	for {
		next := a.now().Add(time.Second) // a replica that may not order looks again
		if a.mayOrder() {
			next = a.scheduleOnce(ctx, &a.sched.work)
		}
		select {
		case <-ctx.Done():
			return
		case <-a.sched.kick:
		case <-a.clock.Until(next):
		}
	}
}

// scheduleOnce starts what is due and returns when the next thing is.
func (a *ACME) scheduleOnce(ctx context.Context, work *sync.WaitGroup) time.Time {
	s := &a.sched
	now := a.now()
	next := now.Add(24 * time.Hour)
	s.mu.Lock()
	defer s.mu.Unlock()
	for key, e := range s.entries {
		if !a.served.has(e.name) {
			delete(s.entries, key) // removed by a reload: never renewed again (SetDomains tracks it again if it comes back)
			continue
		}
		at, renew := e.due()
		if at.IsZero() {
			continue
		}
		if at.After(now) {
			if at.Before(next) {
				next = at
			}
			continue
		}
		work.Add(1)
		if renew {
			e.renewing, e.done = true, make(chan struct{})
			reason := e.plannedBy
			if e.failures > 0 {
				reason = e.retryReason
			}
			go func() { defer work.Done(); a.renew(ctx, key, e, reason) }()
		} else {
			e.checking = true
			go func() { defer work.Done(); a.check(ctx, key, e) }()
		}
	}
	return next
}

// check re-reads key's certificate from the cache (another replica, or a
// previous leader, may have renewed it) and asks the CA for its window.
func (a *ACME) check(ctx context.Context, key string, e *renewal) {
	s := &a.sched
	select {
	case s.asks <- struct{}{}:
		defer func() { <-s.asks }()
	case <-ctx.Done():
		return
	}
	s.mu.Lock()
	cert, name := e.cert, e.name
	s.mu.Unlock()

	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if c, err := a.readCached(cctx, key, name, time.Now()); err == nil && newer(c, cert) {
		a.adopt(key, e, c)
		return
	}
	w, retryAfter, err := a.askWindow(cctx, cert)
	now := a.now()
	interval := a.cfg.ARIInterval
	// RFC 9773, section 4.3.3: ask again after Retry-After, within reason.
	if retryAfter > 0 {
		interval = min(max(retryAfter, time.Minute), 24*time.Hour, interval)
	}
	if err != nil && retryAfter == 0 && !errors.Is(err, errNoARI) {
		interval = min(interval, time.Hour)
	}
	interval -= rand.N(interval/10 + 1) // jitter, so that many certificates do not ask at once

	s.mu.Lock()
	defer s.mu.Unlock()
	defer a.wake()
	e.checking = false
	if e.cert != cert {
		return // renewed meanwhile: asked about afresh
	}
	e.nextCheck = now.Add(interval)
	switch {
	case err == nil && e.justRenewed && !w.End.After(now) && !e.renewing:
		// A window already over for a certificate just obtained: a CA's
		// mistake (or this host's clock) would have rampart order again and
		// again. It is retried on the backoff instead, and alerts.
		e.ari, e.ariErr = w, ""
		e.drawnFrom, e.planned, e.plannedBy = w, now, ReasonARI
		e.failures++
		e.endedStreak++ // kept across the renewals it leads to: the backoff grows
		e.nextAttempt, e.retryReason = now.Add(backoff(e.endedStreak)), ReasonARI
		e.lastErr = "the CA's renewal window for the certificate just obtained had already ended"
		e.justRenewed = false
		a.log.Error("the CA's renewal window for a certificate just obtained has already ended; renewing on the backoff",
			zap.String("domain", name), zap.Time("end", w.End), zap.Time("retry_at", e.nextAttempt.UTC()))
		return
	case err == nil:
		if e.justRenewed && w.End.After(now) {
			e.endedStreak = 0 // a new certificate with a window ahead: the CA is sane again
		}
		e.justRenewed = false
		if e.ari != w {
			a.log.Info("the CA's renewal window", zap.String("domain", name), zap.String("key_type", keyType(cert.Leaf)),
				zap.Time("start", w.Start), zap.Time("end", w.End), zap.String("explanation", w.ExplanationURL))
		}
		e.ari, e.ariErr = w, ""
	case errors.Is(err, errNoARI):
		e.ari, e.ariErr = Window{}, ""
	default:
		e.ariErr = err.Error() // the window last heard of still holds
		a.log.Warn("could not ask the CA for the renewal window; the plan stands", zap.String("domain", name), zap.Error(err),
			zap.Time("next_check", e.nextCheck))
	}
	e.plan(now)
}

// askWindow asks the CA for c's window, reading the directory the first time.
func (a *ACME) askWindow(ctx context.Context, c *tls.Certificate) (Window, time.Duration, error) {
	s := &a.sched
	s.mu.Lock()
	base := s.ariURL
	s.mu.Unlock()
	if base == "" {
		u, err := a.ari.renewalURL(ctx)
		if err != nil {
			return Window{}, 0, err
		}
		s.mu.Lock()
		s.ariURL, base = u, u
		s.mu.Unlock()
	}
	return a.ari.window(ctx, base, c.Leaf)
}

// adopt puts a newer certificate found in the cache in service.
func (a *ACME) adopt(key string, e *renewal, c *tls.Certificate) {
	a.serveNewest(key, c)
	s := &a.sched
	s.mu.Lock()
	e.checking = false
	e.cert = c
	e.resetFor(a.now())
	s.mu.Unlock()
	a.wake()
	a.log.Info("a newer certificate in the cache is in service", zap.String("domain", e.name),
		zap.String("serial", c.Leaf.SerialNumber.Text(16)), zap.Time("not_after", c.Leaf.NotAfter))
}

// serveNewest serves c for key from now on, ahead of the Manager, unless a
// newer one is known.
func (a *ACME) serveNewest(key string, c *tls.Certificate) {
	for {
		old, loaded := a.sched.newest.LoadOrStore(key, c)
		if !loaded {
			return
		}
		if old := old.(*tls.Certificate); old == c || !newer(c, old) {
			return
		}
		if a.sched.newest.CompareAndSwap(key, old, c) {
			return
		}
	}
}

// newestFor is the newest certificate known for a name and key type, nil
// if none, or if it has expired (autocert's last resort may then have one).
func (a *ACME) newestFor(name string, rsa bool) *tls.Certificate {
	v, ok := a.sched.newest.Load(cacheKey(name, rsa))
	if !ok {
		return nil
	}
	c := v.(*tls.Certificate)
	if !time.Now().Before(c.Leaf.NotAfter) {
		return nil
	}
	return c
}

// renew orders a new certificate for key and puts it in service, or counts
// the failure and plans the retry.
func (a *ACME) renew(ctx context.Context, key string, e *renewal, reason string) {
	s := &a.sched
	s.mu.Lock()
	name, rsa, old, attempt := e.name, e.rsa, e.cert, e.failures+1
	s.mu.Unlock()

	a.log.Info("renewing a certificate", zap.String("domain", name), zap.String("key_type", keyType(old.Leaf)),
		zap.String("reason", reason), zap.Int("attempt", attempt), zap.Time("not_after", old.Leaf.NotAfter))
	start := a.now()
	c, err := a.orderOne(ctx, name, rsa)
	if err == nil && c.Leaf.SerialNumber.Cmp(old.Leaf.SerialNumber) == 0 {
		err = errors.New("certs: the CA answered with the certificate in service")
	}
	if err == nil {
		a.sched.newest.Store(key, c) // the newest by definition, whatever its dates
	}
	now := a.now()

	s.mu.Lock()
	e.renewing, e.result = false, err
	close(e.done)
	if err == nil {
		e.cert = c
		e.resetFor(now)
		e.lastRenewed, e.lastReason, e.justRenewed = now, reason, true
	} else {
		e.failures++
		wait := backoff(e.failures)
		var ae *acme.Error
		if errors.As(err, &ae) {
			if d, limited := acme.RateLimit(ae); limited && d > wait {
				wait = d // a CA that asks for a pause gets it
			}
		}
		e.nextAttempt, e.lastErr, e.retryReason = now.Add(wait), err.Error(), reason
	}
	failures, next := e.failures, e.nextAttempt
	s.mu.Unlock()
	a.wake()

	if a.cfg.OnRenewal != nil {
		a.cfg.OnRenewal(RenewalAttempt{Name: name, KeyType: keyType(old.Leaf), Reason: reason, At: start, Err: err})
	}
	if err != nil {
		a.log.Error("certificate renewal failed; the certificate in service stays in service", zap.String("domain", name),
			zap.String("reason", reason), zap.Int("failures", failures), zap.Time("retry_at", next.UTC()),
			zap.Time("not_after", old.Leaf.NotAfter), zap.Error(err))
		return
	}
	a.log.Info("certificate renewed", zap.String("domain", name), zap.String("reason", reason),
		zap.String("old_serial", old.Leaf.SerialNumber.Text(16)), zap.String("serial", c.Leaf.SerialNumber.Text(16)),
		zap.Time("not_after", c.Leaf.NotAfter), zap.Duration("took", now.Sub(start)))
}

// orderOne orders for name, one order at a time per name: its ECDSA and
// RSA certificates' challenges would share the cache's slots.
func (a *ACME) orderOne(ctx context.Context, name string, rsa bool) (*tls.Certificate, error) {
	defer a.lockName(name)()
	return a.order(ctx, name, rsa)
}

// lockName takes name's turn to order, and returns its release.
func (a *ACME) lockName(name string) func() {
	v, ok := a.sched.ordering.Load(name)
	if !ok {
		v, _ = a.sched.ordering.LoadOrStore(name, new(sync.Mutex))
	}
	mu := v.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// RenewalAttempt is one renewal's outcome, for ACMEConfig.OnRenewal.
type RenewalAttempt struct {
	Name, KeyType, Reason string
	At                    time.Time // when it began, on the scheduler's clock
	Err                   error     // nil: renewed
}

// order has autocert order a new certificate for name through a Manager of
// its own, whose cache hides the one in service until the new one is
// stored, and whose requests to the CA end with ctx.
func (a *ACME) order(ctx context.Context, name string, rsa bool) (*tls.Certificate, error) {
	ctx, cancel := context.WithTimeout(ctx, renewalTimeout)
	defer cancel()
	hide := &hidingCache{Cache: a.cache, key: cacheKey(name, rsa)}
	hide.on.Store(true)
	m := a.newManager(hide, func(host string) bool { return hostname.Canonical(host) == name },
		boundTransport{ctx: ctx, base: a.transport})
	if a.http01.Load() {
		// autocert tries HTTP-01 only on a Manager whose HTTPHandler was
		// asked for; the serving Manager's handler answers from the cache.
		m.HTTPHandler(nil)
	}
	hello := &tls.ClientHelloInfo{ServerName: name, CipherSuites: ecdsaSuite}
	if rsa {
		hello.CipherSuites = []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}
		hello.SignatureSchemes = []tls.SignatureScheme{tls.PSSWithSHA256, tls.PKCS1WithSHA256}
	}
	type result struct {
		c   *tls.Certificate
		err error
	}
	// autocert orders on a context of its own; the requests end with ctx,
	// and so does this wait.
	got := make(chan result, 1)
	go func() {
		c, err := m.GetCertificate(hello)
		got <- result{c, err}
	}()
	var r result
	select {
	case r = <-got:
	case <-ctx.Done():
		r.err = ctx.Err()
	}
	hide.on.Store(false) // its Manager lives on in autocert's timer: let it see the cache as it is
	if r.err != nil {
		return nil, r.err
	}
	if r.c.Leaf == nil {
		return nil, errors.New("certs: certificate without a parsed leaf")
	}
	return r.c, nil
}

// hidingCache hides one key while on: a renewal's Manager then orders it anew.
type hidingCache struct {
	autocert.Cache
	key string
	on  atomic.Bool
}

func (c *hidingCache) Get(ctx context.Context, key string) ([]byte, error) {
	if key == c.key && c.on.Load() {
		return nil, autocert.ErrCacheMiss
	}
	return c.Cache.Get(ctx, key)
}

// boundTransport ends every request when ctx ends, whatever the caller's
// own context: autocert makes its requests on context.Background().
type boundTransport struct {
	ctx  context.Context
	base http.RoundTripper
}

func (t boundTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if err := t.ctx.Err(); err != nil {
		return nil, fmt.Errorf("certs: the order was called off: %w", err)
	}
	ctx, cancel := context.WithCancel(r.Context())
	stop := context.AfterFunc(t.ctx, cancel)
	res, err := t.base.RoundTrip(r.WithContext(ctx))
	if err != nil {
		stop()
		cancel()
		return nil, err
	}
	res.Body = &boundBody{ReadCloser: res.Body, done: func() { stop(); cancel() }}
	return res, nil
}

// boundBody lets the request's context go when the body is closed.
type boundBody struct {
	io.ReadCloser
	done func()
}

func (b *boundBody) Close() error {
	err := b.ReadCloser.Close()
	b.done()
	return err
}

// Renew renews name's certificates now (an operator's request), waiting for
// the outcome or ctx. A renewal already under way is waited for.
func (a *ACME) Renew(ctx context.Context, name string) ([]Renewal, error) {
	name = hostname.Canonical(name)
	if !a.served.has(name) {
		return nil, fmt.Errorf("%w: %q", ErrNotServed, name)
	}
	if !a.mayOrder() {
		return nil, ErrNotOrderer
	}
	// a.mu is held while renewals are added to Run's wait: a stop waits
	// for them, or they are refused.
	a.mu.Lock()
	runCtx := a.runCtx // the renewal outlives the operator's request, not the process
	if runCtx == nil || a.stopping {
		a.mu.Unlock()
		return nil, errors.New("certs: not running")
	}
	s := &a.sched
	var waits []chan struct{}
	var entries []*renewal
	s.mu.Lock()
	for _, rsa := range []bool{false, true} {
		key := cacheKey(name, rsa)
		e := s.entries[key]
		if e == nil {
			continue
		}
		if !e.renewing {
			e.renewing, e.done = true, make(chan struct{})
			s.work.Add(1)
			go func() { defer s.work.Done(); a.renew(runCtx, key, e, ReasonManual) }()
		}
		waits = append(waits, e.done)
		entries = append(entries, e)
	}
	s.mu.Unlock()
	a.mu.Unlock()
	if len(entries) == 0 {
		return nil, fmt.Errorf("%w: %q", ErrNotYetIssued, name)
	}
	for _, w := range waits {
		select {
		case <-w:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	var out []Renewal
	for _, r := range a.Renewals() {
		if r.Name == name {
			out = append(out, r)
		}
	}
	var failed []string
	s.mu.Lock()
	for _, e := range entries {
		if e.result != nil { // the outcome of the renewal waited for, whoever started it
			failed = append(failed, e.result.Error())
		}
	}
	s.mu.Unlock()
	if len(failed) > 0 {
		return out, fmt.Errorf("%w: %s", ErrRenewalFailed, strings.Join(failed, "; "))
	}
	return out, nil
}

// ErrRenewalFailed is Renew's error when the CA did not renew: the
// certificate in service stays in service.
var ErrRenewalFailed = errors.New("certs: the renewal failed; the certificate in service stays in service")

// ErrNotOrderer is Renew's error on a replica that may not order now.
var ErrNotOrderer = errors.New("certs: this replica does not order certificates now; another holds the lease")

// Renewals lists every ACME certificate with its renewal plan, by name.
func (a *ACME) Renewals() []Renewal {
	s := &a.sched
	now, follower := a.now(), !a.mayOrder()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Renewal, 0, len(s.entries))
	for _, e := range s.entries {
		leaf := e.cert.Leaf
		info := infoOf(leaf)
		r := Renewal{
			Name: e.name, KeyType: info.KeyType, Issuer: info.Issuer, Serial: leaf.SerialNumber.Text(16),
			NotBefore: leaf.NotBefore, NotAfter: leaf.NotAfter,
			ARI: e.ari, ARIError: e.ariErr, NextCheck: e.nextCheck,
			Planned: e.planned, PlannedBy: e.plannedBy,
			Failures: e.failures, NextAttempt: e.nextAttempt, LastError: e.lastErr,
			LastRenewed: e.lastRenewed, LastReason: e.lastReason,
		}
		r.Overdue = e.failures > 0 || now.Sub(e.planned) > 10*time.Minute
		if follower {
			r.Planned, r.PlannedBy, r.Overdue, r.Follower = time.Time{}, "", false, true
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(x, y Renewal) int {
		return cmp.Or(strings.Compare(x.Name, y.Name), strings.Compare(x.KeyType, y.KeyType))
	})
	return out
}

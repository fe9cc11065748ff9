package proxy

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Pool is a set of app instances that share a route's traffic.
type Pool struct {
	// Name labels the pool in metrics and logs. Empty means the first
	// member's address.
	Name string
	// Members are the instances: http://host:port, https://host:port
	// (verified), h2c://host:port (HTTP/2 without TLS, so gRPC reaches a
	// plain app) or unix:/path/to.sock (HTTP/1.1 over a Unix socket). Members
	// other than unix ones may carry a base path, the same for all. Required.
	Members []*url.URL
	// Balance picks the member for each request. The zero value is RoundRobin.
	Balance Balance
	// EjectAfter is how many failures in a row (a connection refused, reset
	// or closed before an answer, never a client's own fault) take a member
	// out of rotation. Zero means 3.
	EjectAfter int
	// EjectFor is how long an ejected member rests before it is tried again;
	// a first failure then ejects it again. Zero means 10 seconds.
	EjectFor time.Duration
	// Health is the active health check. Nil means none: passive only.
	Health *HealthCheck
}

// Balance is how a pool picks a member. The zero value is RoundRobin.
type Balance uint8

const (
	// RoundRobin takes the members in turn.
	RoundRobin Balance = iota
	// LeastRequests takes the member with the fewest requests waiting for
	// an answer.
	LeastRequests
	// ClientHash keeps a client address on one member while it is
	// available (rendezvous hashing: when one leaves, only its clients move).
	ClientHash
)

var balanceNames = [...]string{RoundRobin: "round_robin", LeastRequests: "least_requests", ClientHash: "client_hash"}

func (b Balance) String() string {
	if int(b) < len(balanceNames) {
		return balanceNames[b]
	}
	return "Balance(" + strconv.Itoa(int(b)) + ")"
}

// ParseBalance reads a balance's name: round_robin, least_requests or client_hash.
func ParseBalance(s string) (Balance, bool) {
	for i, n := range balanceNames {
		if n == s {
			return Balance(i), true
		}
	}
	return 0, false
}

const (
	defaultEjectAfter = 3
	defaultEjectFor   = 10 * time.Second
)

// pool is a Pool, built: its members from the registry, and the base URL that
// Rewrite gives each request before a member is picked.
type pool struct {
	name    string
	base    *url.URL
	members []*member
	balance Balance
	next    atomic.Uint32 // round robin's turn, and least requests' start
}

// member is one app instance: its passive and active health and its load.
// Members live in the Proxy's registry, keyed by their whole configuration,
// so that a reload which keeps a member keeps its state (and the Transport
// its idle connections, which it keys by address).
type member struct {
	key    string
	label  string // the address, for metrics and logs (no credentials)
	scheme string // the outbound request's: http, https or h2c
	host   string // the outbound request's: host:port, or a Unix socket's alias
	seed   uint64 // for client hashing
	log    *zap.Logger

	ejectAfter int32
	ejectFor   time.Duration
	health     *HealthCheck

	inflight     atomic.Int64
	fails        atomic.Int32 // failures in a row
	ejectedUntil atomic.Int64 // monoNow's clock; 0: never ejected
	down         atomic.Bool  // the active check's verdict

	refs int                // under registry.mu
	stop context.CancelFunc // the health check's loop; nil without one
	done chan struct{}      // closed when that loop has returned
}

// monoBase is the start of monoNow's clock.
var monoBase = time.Now()

// monoNow is nanoseconds on the monotonic clock: a wall clock stepped back
// (a VM resumed, NTP) must not stretch an ejection or a rate limit.
func monoNow() int64 { return int64(time.Since(monoBase)) }

// available tells whether the member may take a request now.
func (m *member) available(now int64) bool {
	return !m.down.Load() && m.ejectedUntil.Load() <= now
}

// observe counts an exchange's outcome for passive health: a refused or
// reset connection is a failure, an answer a success.
func (m *member) observe(err error, ctx context.Context) {
	if err == nil {
		if m.fails.Load() != 0 {
			m.fails.Store(0)
		}
		return
	}
	if ctx.Err() != nil {
		return // the client left: nothing is known of the app
	}
	if cbf := (*clientBodyFault)(nil); errors.As(err, &cbf) {
		return // the client's body failed, not the app
	}
	switch upstreamErrorReason(err) {
	case "dial", "reset":
	default:
		return
	}
	// A member readmitted after an ejection keeps its count, so one more
	// failure sends it back to rest.
	if m.fails.Add(1) >= m.ejectAfter {
		now := monoNow()
		if prev := m.ejectedUntil.Load(); prev < now && m.ejectedUntil.CompareAndSwap(prev, now+int64(m.ejectFor)) {
			m.log.Warn("upstream ejected", zap.String("upstream", m.label), zap.Int32("failures_in_a_row", m.fails.Load()),
				zap.Duration("for", m.ejectFor), zap.Error(err))
		}
	}
}

// pick chooses the member for a request, never not (the member a retry
// leaves) while another exists. An ejected or unhealthy member is taken only
// when no member is available.
func (p *pool) pick(req *http.Request, not *member) *member {
	n := len(p.members)
	if n == 1 {
		return p.members[0]
	}
	now := monoNow()
	var best *member
	switch p.balance {
	case LeastRequests:
		start := int(p.next.Add(1) % uint32(n))
		var least int64
		for j := 0; j < n; j++ {
			m := p.members[(start+j)%n]
			if m == not || !m.available(now) {
				continue
			}
			if l := m.inflight.Load(); best == nil || l < least {
				best, least = m, l
			}
		}
	case ClientHash:
		h := clientHash(req)
		var top uint64
		for _, m := range p.members {
			if m == not || !m.available(now) {
				continue
			}
			if s := mix64(h ^ m.seed); best == nil || s > top {
				best, top = m, s
			}
		}
	default:
		start := int(p.next.Add(1) % uint32(n))
		for j := 0; j < n; j++ {
			if m := p.members[(start+j)%n]; m != not && m.available(now) {
				return m
			}
		}
	}
	if best != nil {
		return best
	}
	// None available: the next one in turn that is not the one just left,
	// rather than no answer at all.
	start := int(p.next.Add(1) % uint32(n))
	for j := 0; j < n; j++ {
		if m := p.members[(start+j)%n]; m != not {
			return m
		}
	}
	return p.members[0]
}

// clientHash is FNV-1a over the client's address, as rewrite has set it in
// X-Real-Ip (after --trusted-proxies).
func clientHash(req *http.Request) uint64 {
	h := uint64(14695981039346656037)
	if v := req.Header["X-Real-Ip"]; len(v) > 0 {
		for i := 0; i < len(v[0]); i++ {
			h ^= uint64(v[0][i])
			h *= 1099511628211
		}
	}
	return h
}

// mix64 is SplitMix64's finaliser: a client's hash and a member's seed, mixed.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// poolTransport is a route's way to its pool: it picks a member for each
// request, counts its load and its failures, and when a connection to the
// member could not be made, sends the request once more: to another member,
// or with one member, to it again.
// Nothing had left rampart then, so this holds for a POST too (as nginx's
// proxy_next_upstream does it): a request that reached an app is never sent
// again. A body still streaming in from the client is the exception: the
// failed attempt has closed it.
type poolTransport struct {
	pool    *pool
	next    http.RoundTripper
	timeout time.Duration // the route's wait for response headers; 0: the Transport's own
}

// errRouteTimeout is a route's Timeout passing before the app's headers came.
var errRouteTimeout = routeTimeoutError{}

type routeTimeoutError struct{}

func (routeTimeoutError) Error() string {
	return "proxy: the app sent no response headers within the route's timeout"
}
func (routeTimeoutError) Timeout() bool   { return true }
func (routeTimeoutError) Temporary() bool { return true }

func (pt *poolTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if pt.timeout == 0 {
		return pt.roundTrip(req)
	}
	// The route's timeout covers the wait for the headers only: once they
	// have come, the body takes as long as it moves.
	ctx, cancel := context.WithCancelCause(req.Context())
	timer := time.AfterFunc(pt.timeout, func() { cancel(errRouteTimeout) })
	res, err := pt.roundTrip(req.WithContext(ctx))
	if !timer.Stop() {
		if err == nil {
			res.Body.Close()
		}
		return nil, errRouteTimeout
	}
	return res, err
}

func (pt *poolTransport) roundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	defer func() { recordUpstream(req.Context(), time.Since(start)) }()
	m := pt.pool.pick(req, nil)
	res, err := pt.send(m, req)
	if err == nil || !isDialError(err) || req.Context().Err() != nil || !(req.Body == nil || req.Body == http.NoBody || inMemory(req.Body)) {
		return res, err
	}
	return pt.send(pt.pool.pick(req, m), req)
}

func (pt *poolTransport) send(m *member, req *http.Request) (*http.Response, error) {
	req.URL.Scheme, req.URL.Host = m.scheme, m.host
	m.inflight.Add(1)
	res, err := pt.next.RoundTrip(req)
	m.inflight.Add(-1)
	m.observe(err, req.Context())
	return res, err
}

// registry holds the members of every pool in the running table and the one
// before, so state survives a reload; a member no table refers to any more
// is dropped and its health check stopped.
type registry struct {
	log       *zap.Logger
	transport func() http.RoundTripper // the health checks' way to the app

	mu      sync.Mutex
	members map[string]*member
}

// unixHostSuffix marks an outbound host that stands for a Unix socket: the
// socket's path, hex-encoded, so that the Transport's pools key it like an
// address and its dialer can find the path again.
const unixHostSuffix = ".unix.invalid"

// memberTarget is what an outbound request to u carries: its scheme and
// host. A Unix socket's path is hidden in the host (unixHostSuffix).
func memberTarget(u *url.URL) (scheme, host string, err error) {
	switch u.Scheme {
	case "http", "https", "h2c":
		if u.Host == "" || u.User != nil {
			return "", "", fmt.Errorf("upstream %q: want %s://host:port, without credentials", u.Redacted(), u.Scheme)
		}
		if !validPort(u.Port()) {
			return "", "", fmt.Errorf("upstream %q: port %q: want 1 to 65535", u.Redacted(), u.Port())
		}
		return u.Scheme, u.Host, nil
	case "unix":
		path := u.Opaque
		if path == "" {
			path = u.Path
		}
		if !strings.HasPrefix(path, "/") || u.Host != "" || u.RawQuery != "" {
			return "", "", fmt.Errorf("upstream %q: want unix:/path/to/app.sock", u.String())
		}
		return "http", hex.EncodeToString([]byte(path)) + unixHostSuffix, nil
	}
	return "", "", fmt.Errorf("upstream %q: want an http, https, h2c or unix URL", u.Redacted())
}

// unixSocket returns the socket path an outbound address stands for.
func unixSocket(addr string) (string, bool) {
	host := addr
	if i := strings.LastIndexByte(addr, ':'); i >= 0 {
		host = addr[:i]
	}
	enc, ok := strings.CutSuffix(host, unixHostSuffix)
	if !ok {
		return "", false
	}
	b, err := hex.DecodeString(enc)
	return string(b), err == nil
}

func validPort(p string) bool {
	if p == "" {
		return true
	}
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535
}

// checkPool reports what is wrong with a pool, or nil.
func checkPool(pc *Pool) error {
	if len(pc.Members) == 0 {
		return errors.New("a pool needs members")
	}
	if int(pc.Balance) >= len(balanceNames) {
		return fmt.Errorf("balance %d unknown", pc.Balance)
	}
	if pc.EjectAfter < 0 || pc.EjectFor < 0 {
		return errors.New("eject_after and eject_for may not be negative")
	}
	var path string
	seen := map[string]bool{}
	for i, u := range pc.Members {
		if u == nil {
			return errors.New("a pool member is empty")
		}
		if _, _, err := memberTarget(u); err != nil {
			return err
		}
		if seen[u.String()] {
			return fmt.Errorf("upstream %q listed twice", u.Redacted())
		}
		seen[u.String()] = true
		p := u.EscapedPath()
		if u.Scheme == "unix" {
			p = ""
		}
		if i > 0 && p != path {
			return errors.New("the members' base paths differ: give them all the same one")
		}
		path = p
	}
	if h := pc.Health; h != nil {
		if err := h.check(); err != nil {
			return err
		}
	}
	return nil
}

// acquire builds a pool from the registry's members, taking a reference on
// each; the table that holds it releases them when it is replaced.
func (r *registry) acquire(pc *Pool, held *[]*member) *pool {
	h := pc.Health.withDefaults()
	after, ejectFor := pc.EjectAfter, pc.EjectFor
	if after == 0 {
		after = defaultEjectAfter
	}
	if ejectFor == 0 {
		ejectFor = defaultEjectFor
	}
	p := &pool{name: pc.Name, balance: pc.Balance}
	if p.name == "" {
		p.name = memberLabel(pc.Members[0])
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.members == nil {
		r.members = map[string]*member{}
	}
	for _, u := range pc.Members {
		key := fmt.Sprintf("%s|%d|%d|%+v", u.String(), after, ejectFor, h)
		m := r.members[key]
		if m == nil {
			scheme, host, _ := memberTarget(u) // checkPool has judged it
			// The seed comes from the address alone, so every replica, and
			// every restart, sends a client to the same member.
			m = &member{key: key, label: memberLabel(u), scheme: scheme, host: host, log: r.log,
				seed: 0x9e3779b97f4a7c15, ejectAfter: int32(after), ejectFor: ejectFor, health: h}
			for i := 0; i < len(m.label); i++ {
				m.seed = mix64(m.seed ^ uint64(m.label[i]))
			}
			if h != nil {
				ctx, cancel := context.WithCancel(context.Background())
				m.stop, m.done = cancel, make(chan struct{})
				go func() { defer close(m.done); r.check(ctx, m) }()
			}
			r.members[key] = m
		}
		m.refs++
		*held = append(*held, m)
		p.members = append(p.members, m)
	}
	base := *pc.Members[0]
	if base.Scheme == "unix" {
		base = url.URL{Path: "/"}
	}
	base.Scheme, base.Host = p.members[0].scheme, p.members[0].host
	p.base = &base
	return p
}

// release drops a table's references; a member left with none is removed
// and its health check stopped. Requests in flight on it finish.
func (r *registry) release(held []*member) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range held {
		m.refs--
		if m.refs == 0 {
			if m.stop != nil {
				m.stop()
			}
			delete(r.members, m.key)
		}
	}
}

// StopHealthChecks ends the pools' active health checks and waits for them,
// as a stop does; requests are still served, on the members' last verdicts.
func (p *Proxy) StopHealthChecks() {
	p.registry.mu.Lock()
	var wait []chan struct{}
	for _, m := range p.registry.members {
		if m.stop != nil {
			m.stop()
			wait = append(wait, m.done)
		}
	}
	p.registry.mu.Unlock()
	for _, d := range wait {
		<-d
	}
}

// memberLabel names a member without credentials: its scheme and address,
// or its socket.
func memberLabel(u *url.URL) string {
	if u.Scheme == "unix" {
		if u.Opaque != "" {
			return "unix:" + u.Opaque
		}
		return "unix:" + u.Path
	}
	return u.Scheme + "://" + u.Host
}

// UpstreamState is one pool member's health, for metrics and readiness.
type UpstreamState struct {
	// Pool is the pool's name; Upstream the member's address, without
	// credentials. Never empty.
	Pool, Upstream string
	// Healthy is true when the member takes requests: not ejected by
	// passive health, not failing its active check.
	Healthy bool
}

// Upstreams reports the members of the running table's pools, once each
// (by pool name and member): as many as the configuration has.
func (p *Proxy) Upstreams() []UpstreamState {
	t := p.table.Load()
	if t == nil {
		return nil
	}
	now := monoNow()
	var out []UpstreamState
	seen := map[[2]string]bool{}
	for _, pl := range t.pools {
		for _, m := range pl.members {
			k := [2]string{pl.name, m.label}
			if seen[k] {
				continue
			}
			seen[k] = true
			out = append(out, UpstreamState{Pool: pl.name, Upstream: m.label, Healthy: m.available(now)})
		}
	}
	return out
}

// PoolsDown names the running table's pools of which no member takes
// requests (each once): what a sidecar's /readyz may refuse on. Empty when
// every pool has one.
func (p *Proxy) PoolsDown() []string {
	var names []string
	up := map[string]bool{}
	for _, u := range p.Upstreams() {
		if _, seen := up[u.Pool]; !seen {
			names = append(names, u.Pool)
		}
		up[u.Pool] = up[u.Pool] || u.Healthy
	}
	return slices.DeleteFunc(names, func(n string) bool { return up[n] })
}

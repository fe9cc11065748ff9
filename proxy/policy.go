package proxy

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/crypto/bcrypt"
)

// Policy is what a site or route asks of a request before its action runs,
// and adds to its response. A route's Policy, where set, replaces its site's
// key by key; the zero value asks nothing.
type Policy struct {
	// Allow, if not empty, are the only client networks let through; Deny
	// are refused (Deny wins). The client is its address after
	// TrustedProxies. Refused clients get 403.
	Allow, Deny []netip.Prefix
	// RateLimit bounds each client's request rate. Nil means no limit.
	RateLimit *RateLimit
	// BasicAuth asks for a user name and password. Nil means none.
	BasicAuth *BasicAuth
	// ResponseHeaders are set on every response, replacing the app's, beside
	// rampart's security headers (which they may not name). Nil means none.
	ResponseHeaders map[string]string
	// CSP is a Content-Security-Policy sent beside rampart's (and the
	// app's): a browser enforces every policy it gets, so this one can only
	// tighten, never loosen. Empty means none.
	CSP string
	// HSTS replaces rampart's Strict-Transport-Security value for these
	// responses, such as "max-age=31536000" without includeSubDomains for a
	// name whose subdomains are not all on HTTPS. Empty means rampart's.
	HSTS string
	// MaxBodyBytes replaces --max-body-size. Zero means the global limit.
	MaxBodyBytes int64
	// Timeout replaces --upstream-timeout: how long the app may take to
	// send its response headers before the client gets 504. Zero means the
	// global one.
	Timeout time.Duration
	// Webhook checks each request's signature before the app is
	// contacted: the whole body is read first (at most MaxBodyBytes if set,
	// else 1 MiB; never over 16 MiB), a request that fails gets 400 or 401, and
	// one that passes reaches the app with WebhookVerifiedHeader naming the
	// scheme. Nil means no check.
	Webhook WebhookVerifier
	// PaymentPage watches these routes as a payment page, and makes their
	// site answer ReportPath. Nil means they are not one.
	PaymentPage PaymentPage
}

// WebhookVerifier checks a webhook's signature: package webhook has Stripe's
// scheme and Standard Webhooks.
type WebhookVerifier interface {
	// Verify judges a request's headers and whole body, as sent: it
	// returns the scheme's name if the request passes, else the status to
	// answer (400 or 401) and a short reason, which is counted as a refusal.
	Verify(header http.Header, body []byte) (scheme string, status int, reason string)
}

// WebhookVerifiedHeader tells the app which scheme verified a request
// ("stripe", "standard-webhooks"). rampart removes it from every request a
// client sends, on every route, and sets it only where a route's Webhook
// passed the request.
const WebhookVerifiedHeader = "Rampart-Webhook-Verified"

// webhookMaxBody is how much of a webhook's body is read to check it, when
// the route sets no body limit of its own: Stripe's and Standard Webhooks'
// events are well under it. webhookMaxBodyCeiling bounds a limit given (or
// a site's, inherited), since every byte is held before the signature is
// known.
const (
	webhookMaxBody        = 1 << 20
	webhookMaxBodyCeiling = 16 << 20
)

// RateLimit is a token bucket per client address (an IPv6 client by its /64):
// Burst requests at once, then Rate per second. A client over it gets 429
// with Retry-After.
type RateLimit struct {
	// Rate is the sustained requests per second. Required, above 0.
	Rate float64
	// Burst is how many requests may come at once. Zero means max(1, Rate).
	Burst int
	// Clients bounds the addresses remembered at once, and with it the
	// limiter's memory: about 42 bytes each, rounded up to a power of two
	// of sets of four. Zero means 65536 (2.6 MiB). An address shares a set
	// of four slots with others (by a keyed hash); a newcomer takes the slot
	// whose client has spent least lately: random source addresses cannot
	// grow the table, only push out clients whose buckets had refilled.
	Clients int
}

// BasicAuth is HTTP basic authentication against bcrypt hashes.
type BasicAuth struct {
	// Realm is shown by the browser. Empty means "rampart".
	Realm string
	// Users maps a user name to its bcrypt hash ($2a$, $2b$ or $2y$), as
	// htpasswd -B writes them. Required.
	Users map[string][]byte
}

// ParseHtpasswd reads "user:bcrypt-hash" lines (htpasswd -B); blank lines
// and # comments are skipped. Another kind of hash is an error: rampart
// checks bcrypt only.
func ParseHtpasswd(data []byte) (map[string][]byte, error) {
	users := map[string][]byte{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		user, hash, ok := strings.Cut(line, ":")
		if !ok || user == "" {
			return nil, fmt.Errorf("line %d: want user:hash", n)
		}
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return nil, fmt.Errorf("line %d: user %q: not a bcrypt hash (make one with htpasswd -B)", n, user)
		}
		if _, dup := users[user]; dup {
			return nil, fmt.Errorf("line %d: user %q listed twice", n, user)
		}
		users[user] = []byte(hash)
	}
	if len(users) == 0 {
		return nil, errors.New("no users")
	}
	return users, sc.Err()
}

// merge returns p with route's keys put over it.
func (p Policy) merge(route Policy) Policy {
	if route.Allow != nil {
		p.Allow = route.Allow
	}
	if route.Deny != nil {
		p.Deny = route.Deny
	}
	if route.RateLimit != nil {
		p.RateLimit = route.RateLimit
	}
	if route.BasicAuth != nil {
		p.BasicAuth = route.BasicAuth
	}
	if route.ResponseHeaders != nil {
		p.ResponseHeaders = route.ResponseHeaders
	}
	if route.CSP != "" {
		p.CSP = route.CSP
	}
	if route.HSTS != "" {
		p.HSTS = route.HSTS
	}
	if route.MaxBodyBytes != 0 {
		p.MaxBodyBytes = route.MaxBodyBytes
	}
	if route.Timeout != 0 {
		p.Timeout = route.Timeout
	}
	if route.Webhook != nil {
		p.Webhook = route.Webhook
	}
	if route.PaymentPage != nil {
		p.PaymentPage = route.PaymentPage
	}
	return p
}

// gates tells whether the policy judges requests (rather than only shaping
// responses and limits).
func (p Policy) gates() bool {
	return len(p.Allow) > 0 || len(p.Deny) > 0 || p.RateLimit != nil || p.BasicAuth != nil || p.Webhook != nil
}

// CheckPolicy reports what is wrong with a policy, or nil. A configuration
// source calls it to name the line.
func CheckPolicy(p Policy) error { return checkPolicy(p) }

func checkPolicy(p Policy) error {
	if rl := p.RateLimit; rl != nil {
		if !(rl.Rate > 0) || math.IsInf(rl.Rate, 0) || rl.Burst < 0 || rl.Burst > 1e6 || rl.Clients < 0 || rl.Clients > 1<<24 {
			return errors.New("rate limit: want a rate above 0, a burst of 0 to 1000000, clients 0 to 16777216")
		}
	}
	if ba := p.BasicAuth; ba != nil {
		if len(ba.Users) == 0 {
			return errors.New("basic auth: no users")
		}
		if strings.ContainsAny(ba.Realm, "\"\\\r\n\x00") {
			return fmt.Errorf("basic auth realm %q: no quotes, backslashes or line breaks", ba.Realm)
		}
	}
	if strings.ContainsAny(p.CSP, "\r\n\x00") || strings.ContainsAny(p.HSTS, "\r\n\x00") {
		return errors.New("csp and hsts: one line each")
	}
	if p.HSTS != "" {
		n, _ := strings.CutPrefix(p.HSTS, "max-age=")
		n, _, _ = strings.Cut(n, ";")
		if age, err := strconv.Atoi(strings.TrimSpace(n)); !strings.HasPrefix(p.HSTS, "max-age=") || err != nil || age < 0 {
			return fmt.Errorf("hsts %q: want max-age=SECONDS, then includeSubDomains or preload if wanted", p.HSTS)
		}
	}
	if p.MaxBodyBytes < 0 || p.Timeout < 0 {
		return errors.New("max body size and timeout may not be negative")
	}
	for name, v := range p.ResponseHeaders {
		if !validHeaderName(name) || strings.ContainsAny(v, "\r\n\x00") {
			return fmt.Errorf("response header %q: not a valid header", name)
		}
		if securityHeader(name) {
			return fmt.Errorf("response header %q is one of rampart's security headers: set it with its own setting (--hsts-max-age, --csp)", name)
		}
	}
	return nil
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

func securityHeader(name string) bool {
	switch http.CanonicalHeaderKey(name) {
	case "Strict-Transport-Security", "Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy",
		"Set-Cookie", "Content-Length", "Transfer-Encoding", "Connection", "Location":
		return true
	}
	return false
}

// policyHandler runs a policy in front of a route's action. It is built once
// per table: the limiter, the header values, the realm's challenge.
type policyHandler struct {
	t         *table
	next      http.Handler
	allow     []netip.Prefix
	deny      []netip.Prefix
	limiter   *limiter
	auth      *authChecker
	challenge []string
	webhook   WebhookVerifier
}

func (t *table) withPolicy(h http.Handler, p Policy) http.Handler {
	if !p.gates() {
		return h
	}
	ph := &policyHandler{t: t, next: h, allow: p.Allow, deny: p.Deny, webhook: p.Webhook}
	if p.RateLimit != nil {
		if t.limiters == nil {
			t.limiters = map[*RateLimit]*limiter{}
		}
		if ph.limiter = t.limiters[p.RateLimit]; ph.limiter == nil {
			ph.limiter = newLimiter(*p.RateLimit)
			t.limiters[p.RateLimit] = ph.limiter
		}
	}
	if p.BasicAuth != nil {
		realm := p.BasicAuth.Realm
		if realm == "" {
			realm = "rampart"
		}
		if t.auths == nil {
			t.auths = map[*BasicAuth]*authChecker{}
		}
		if ph.auth = t.auths[p.BasicAuth]; ph.auth == nil { // one per setting: a user pays bcrypt once, whatever the route
			ph.auth = newAuthChecker(p.BasicAuth.Users)
			t.auths[p.BasicAuth] = ph.auth
		}
		ph.challenge = []string{`Basic realm="` + realm + `", charset="UTF-8"`}
	}
	return ph
}

func (ph *policyHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t := ph.t
	if len(ph.allow) > 0 || len(ph.deny) > 0 || ph.limiter != nil {
		client := t.clientAddr(r)
		if !ph.admits(client) {
			t.onReject("denied")
			t.refuse(w, r, http.StatusForbidden)
			return
		}
		if ph.limiter != nil {
			if wait, ok := ph.limiter.take(client); !ok {
				t.onReject("rate_limited")
				w.Header().Set("Retry-After", strconv.Itoa(wait))
				t.refuse(w, r, http.StatusTooManyRequests)
				return
			}
		}
	}
	if ph.auth != nil {
		user, pass, ok := r.BasicAuth()
		if ok {
			var busy bool
			if ok, busy = ph.auth.check(user, pass); busy {
				t.onReject("rate_limited")
				w.Header().Set("Retry-After", "1")
				t.refuse(w, r, http.StatusTooManyRequests)
				return
			}
		}
		if !ok {
			t.onReject("unauthorized")
			w.Header()["Www-Authenticate"] = ph.challenge
			t.refuse(w, r, http.StatusUnauthorized)
			return
		}
		// The password was for rampart: it does not travel on to the app.
		r.Header.Del("Authorization")
	}
	if ph.webhook != nil && !ph.verifyWebhook(w, r) {
		return
	}
	ph.next.ServeHTTP(w, r)
}

// verifyWebhook checks the request's signature over its whole body, which
// prepareBody has read into memory (the route's buffer is its body limit),
// and answers the client itself if it fails.
func (ph *policyHandler) verifyWebhook(w http.ResponseWriter, r *http.Request) bool {
	t := ph.t
	var body []byte
	if b := bufferOf(r.Body); b != nil {
		body = b.Bytes() // read in full by prepareBody, and left unread for the app
	} else if r.Body != nil && r.Body != http.NoBody {
		var buf bytes.Buffer
		if _, err := buf.ReadFrom(r.Body); err != nil {
			status, reason := clientBodyStatus(err)
			t.onReject(reason)
			t.refuse(w, r, status)
			return false
		}
		body, r.Body = buf.Bytes(), io.NopCloser(bytes.NewBuffer(buf.Bytes()))
	}
	scheme, status, reason := ph.webhook.Verify(r.Header, body)
	if status != 0 {
		t.log.Debug("webhook refused", zap.String("request_id", r.Header.Get("X-Request-Id")), zap.String("reason", reason), zap.String("host", r.Host))
		t.onReject(reason)
		t.refuse(w, r, status)
		return false
	}
	r.Header[WebhookVerifiedHeader] = []string{scheme}
	return true
}

// admits judges a client address by the deny and allow lists. An address
// that cannot be read is refused when there is an allow list.
func (ph *policyHandler) admits(a netip.Addr) bool {
	if !a.IsValid() {
		return len(ph.allow) == 0
	}
	for _, p := range ph.deny {
		if p.Contains(a) {
			return false
		}
	}
	if len(ph.allow) == 0 {
		return true
	}
	for _, p := range ph.allow {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientAddr is the client's address as policies judge it: the peer, or,
// behind a trusted proxy, the address that proxy reports (as X-Real-IP).
func (t *table) clientAddr(r *http.Request) netip.Addr {
	peer := clientIP(r.RemoteAddr)
	if len(t.trusted) > 0 && t.trustedAddr(peer) {
		peer = t.realIP(r.Header["X-Forwarded-For"], peer)
	}
	a, _ := netip.ParseAddr(peer)
	return a.Unmap()
}

// authChecker checks passwords against bcrypt hashes. bcrypt is slow by
// design (a few to tens of milliseconds), so a success is remembered, under
// an HMAC of user and password with a key made at start: the password itself
// is never kept, nor logged. The memory is bounded; a failure is never
// remembered. At most GOMAXPROCS checks run at once, so wrong passwords
// cannot take every core: past that a client gets 429 and tries again.
type authChecker struct {
	users map[string][]byte
	key   [32]byte
	dummy []byte        // a hash of nothing, at the users' highest cost: an unknown name takes as long
	slots chan struct{} // bcrypt checks running

	mu sync.Mutex
	ok map[[32]byte]struct{}
}

const authCacheSize = 4096

func newAuthChecker(users map[string][]byte) *authChecker {
	a := &authChecker{users: users, ok: map[[32]byte]struct{}{}, slots: make(chan struct{}, runtime.GOMAXPROCS(0))}
	_, _ = rand.Read(a.key[:])
	cost := bcrypt.MinCost
	for _, h := range users {
		if c, err := bcrypt.Cost(h); err == nil && c > cost {
			cost = c
		}
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	a.dummy, _ = bcrypt.GenerateFromPassword([]byte(base64.StdEncoding.EncodeToString(b[:])), cost)
	return a
}

// check tells whether the password is the user's; busy means every bcrypt
// slot was taken and nothing was judged.
func (a *authChecker) check(user, pass string) (ok, busy bool) {
	hash, known := a.users[user]
	var sum [32]byte
	if known {
		mac := hmac.New(sha256.New, a.key[:])
		mac.Write([]byte(user))
		mac.Write([]byte{0})
		mac.Write([]byte(pass))
		mac.Sum(sum[:0])
		a.mu.Lock()
		_, seen := a.ok[sum]
		a.mu.Unlock()
		if seen {
			return true, false
		}
	} else {
		hash = a.dummy // as slow as a known user's check, so timing does not tell names
	}
	select {
	case a.slots <- struct{}{}:
	default:
		return false, true
	}
	err := bcrypt.CompareHashAndPassword(hash, []byte(pass))
	<-a.slots
	if err != nil || !known {
		return false, false
	}
	a.mu.Lock()
	if len(a.ok) >= authCacheSize {
		clear(a.ok)
	}
	a.ok[sum] = struct{}{}
	a.mu.Unlock()
	return true, false
}

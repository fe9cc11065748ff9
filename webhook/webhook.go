// Package webhook owns the checking of webhook signatures at the edge:
// Stripe's scheme and Standard Webhooks (v1, HMAC-SHA256, and v1a, Ed25519),
// several secrets at once while one rotates, a timestamp tolerance, and a
// bounded memory of deliveries already let through (Replays), so a captured
// request cannot be sent again. It does no I/O: the caller reads the secrets
// and the body, and hands each request to Verify before the app sees it.
package webhook

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// The schemes, by the names the configuration uses.
const (
	// Stripe is Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…], an
	// HMAC-SHA256 of "<t>.<body>" keyed with the endpoint secret as it is
	// written (whsec_…).
	Stripe = "stripe"
	// Standard is Standard Webhooks (Svix and others): webhook-id,
	// webhook-timestamp and webhook-signature ("v1,<base64>" HMAC-SHA256
	// keyed with a whsec_ base64 secret, or "v1a,<base64>" Ed25519 checked
	// with a whpk_ base64 public key), over "<id>.<timestamp>.<body>".
	Standard = "standard-webhooks"
)

// DefaultTolerance is how far a signature's timestamp may be from now, either
// way, when Config.Tolerance is zero: Stripe's and Standard Webhooks' default.
const DefaultTolerance = 5 * time.Minute

// Config is one endpoint's scheme and secrets.
type Config struct {
	// Scheme is Stripe or Standard. Required.
	Scheme string
	// Endpoint names the endpoint in the memory of deliveries, so one
	// event a provider sends to two endpoints (Stripe sends the same evt_
	// to each) is not a replay at the second. Empty is a name too: give
	// each Verifier sharing a Replays its own.
	Endpoint string
	// Secrets are the keys a signature may be made with: any one passing
	// is enough, so a rotating secret is listed beside the new one until
	// the sender stops using it. Stripe: the endpoint's signing secrets
	// (whsec_…). Standard Webhooks: whsec_<base64> secrets (v1) and
	// whpk_<base64> Ed25519 public keys (v1a). Required.
	Secrets []string
	// Tolerance bounds the distance between a signature's timestamp and
	// now, into the past or the future. Zero means DefaultTolerance.
	Tolerance time.Duration
	// Replays remembers the deliveries let through, so the same one is
	// refused a second time while its timestamp is within the tolerance.
	// Share one across reloads and endpoints (NewReplays). Nil means a
	// memory of this Verifier's own, with DefaultReplays entries.
	Replays *Replays
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
}

// Verifier checks one endpoint's requests. It is safe for concurrent use.
type Verifier struct {
	scheme    string
	endpoint  string
	tolerance time.Duration
	replays   *Replays
	now       func() time.Time
	hmacKeys  [][]byte // Stripe: the secrets' bytes; Standard: the decoded whsec_ keys
	edKeys    [][]byte // Standard: the decoded whpk_ Ed25519 public keys
}

// Result reasons, as Verify returns them and metrics count them.
const (
	// ReasonUnsigned: the signature headers are missing or malformed (400).
	ReasonUnsigned = "webhook_unsigned"
	// ReasonSignature: no signature was made with a configured secret over
	// this body and timestamp (401).
	ReasonSignature = "webhook_signature"
	// ReasonExpired: the timestamp is outside the tolerance (401).
	ReasonExpired = "webhook_expired"
	// ReasonReplayed: this delivery was already let through (401).
	ReasonReplayed = "webhook_replayed"
)

// New checks cfg and builds its Verifier; an error names what is wrong.
func New(cfg Config) (*Verifier, error) {
	v := &Verifier{scheme: cfg.Scheme, endpoint: cfg.Endpoint, tolerance: cfg.Tolerance, replays: cfg.Replays, now: cfg.Now}
	if v.tolerance == 0 {
		v.tolerance = DefaultTolerance
	}
	if v.tolerance < time.Second || v.tolerance > 24*time.Hour {
		return nil, fmt.Errorf("webhook: tolerance %s: want 1s to 24h", cfg.Tolerance)
	}
	if v.replays == nil {
		v.replays = NewReplays(DefaultReplays)
	}
	if v.now == nil {
		v.now = time.Now
	}
	if len(cfg.Secrets) == 0 {
		return nil, errors.New("webhook: no secrets")
	}
	switch cfg.Scheme {
	case Stripe:
		for i, s := range cfg.Secrets {
			if len(s) < 8 {
				return nil, fmt.Errorf("webhook: secret %d is %d characters: a Stripe signing secret is whsec_ and more", i+1, len(s))
			}
			v.hmacKeys = append(v.hmacKeys, []byte(s))
		}
	case Standard:
		for i, s := range cfg.Secrets {
			hk, ek, err := standardKey(s)
			if err != nil {
				return nil, fmt.Errorf("webhook: secret %d: %w", i+1, err)
			}
			if hk != nil {
				v.hmacKeys = append(v.hmacKeys, hk)
			} else {
				v.edKeys = append(v.edKeys, ek)
			}
		}
	default:
		return nil, fmt.Errorf("webhook: scheme %q: want %s or %s", cfg.Scheme, Stripe, Standard)
	}
	return v, nil
}

// Scheme is the scheme's name, as the app is told it.
func (v *Verifier) Scheme() string { return v.scheme }

// Verify judges a request's headers and whole body (as sent: never
// re-encoded). It returns the scheme's name when the request passes, and
// then remembers the delivery; otherwise the status to answer (400 or 401)
// and one of the Reason constants. Signatures are compared in constant time.
func (v *Verifier) Verify(h http.Header, body []byte) (scheme string, status int, reason string) {
	var d delivery
	var ok bool
	if v.scheme == Stripe {
		d, ok = parseStripe(h)
	} else {
		d, ok = parseStandard(h)
	}
	if !ok {
		return "", http.StatusBadRequest, ReasonUnsigned
	}
	now := v.now()
	at := time.Unix(d.timestamp, 0)
	if at.Before(now.Add(-v.tolerance)) || at.After(now.Add(v.tolerance)) {
		return "", http.StatusUnauthorized, ReasonExpired
	}
	var good bool
	if v.scheme == Stripe {
		good = v.stripeSigned(d, body)
	} else {
		good = v.standardSigned(d, body)
	}
	if !good {
		return "", http.StatusUnauthorized, ReasonSignature
	}
	// Only a delivery that verified is remembered: an unsigned request
	// cannot fill the memory, nor push a real delivery out of it.
	if !v.replays.first(v.endpoint+"\x00"+v.scheme, d.replayID(v.scheme, body), d.timestamp, now, at.Add(v.tolerance)) {
		return "", http.StatusUnauthorized, ReasonReplayed
	}
	return v.scheme, 0, ""
}

// delivery is what a request's signature headers say.
type delivery struct {
	timestamp int64    // Unix seconds
	stamp     string   // the timestamp as sent (digits only)
	id        string   // Standard Webhooks: webhook-id
	sigs      [][]byte // Stripe: the v1 signatures, decoded
	v1, v1a   [][]byte // Standard Webhooks: by version, decoded
}

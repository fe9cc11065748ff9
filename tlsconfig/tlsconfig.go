// Package tlsconfig owns rampart's TLS policy: the hardened *tls.Config of the
// public listener and the one used towards upstreams, and the ring of
// session ticket keys and their lifetime. It does no I/O and no logging; the
// ring's state is the caller's to keep and to drive with a clock.
//
// The policy is Mozilla's "intermediate" profile as Go can express it: TLS 1.3
// whenever the client can, TLS 1.2 the floor, and for TLS 1.2 only the six
// ECDHE AEAD suites. Go's default TLS 1.2 list also offers four CBC-SHA suites
// (LUCKY13-prone, capped by graders); Cipher Suites removes them. Key exchanges
// stay Go's defaults, which include the post-quantum hybrid X25519MLKEM768.
package tlsconfig

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// cipherSuites are the only TLS 1.2 suites rampart accepts: forward secret
// (ECDHE) and AEAD. TLS 1.3 suites are not configurable in Go and are all AEAD.
var cipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// CipherSuites returns a copy of the TLS 1.2 suites rampart allows.
func CipherSuites() []uint16 { return append([]uint16(nil), cipherSuites...) }

// alpnProtos is what the public listener offers, in preference order.
// The ACME TLS-ALPN-01 protocol is added by Server when asked to.
var alpnProtos = []string{"h2", "http/1.1"}

// acmeALPN is the TLS-ALPN-01 protocol name (RFC 8737); it equals acme.ALPNProto,
// written out so this package imports nothing beyond the standard library.
const acmeALPN = "acme-tls/1"

// ServerConfig describes the public listener.
type ServerConfig struct {
	// MinVersion is tls.VersionTLS12 or tls.VersionTLS13.
	// Zero means tls.VersionTLS12; anything lower is an error.
	MinVersion uint16

	// GetCertificate picks the certificate for a handshake. Required.
	GetCertificate func(*tls.ClientHelloInfo) (*tls.Certificate, error)

	// ACME adds the "acme-tls/1" ALPN protocol so that TLS-ALPN-01 challenges
	// can be answered on this listener. False leaves it out.
	ACME bool

	// OnHandshake is called with the state of every completed handshake (to
	// count versions and suites). Nil means no calls.
	OnHandshake func(tls.ConnectionState)
}

// Server returns the hardened *tls.Config for the public listener.
func Server(cfg ServerConfig) (*tls.Config, error) {
	minVersion := cfg.MinVersion
	if minVersion == 0 {
		minVersion = tls.VersionTLS12
	}
	if minVersion != tls.VersionTLS12 && minVersion != tls.VersionTLS13 {
		return nil, fmt.Errorf("tlsconfig: minimum version %s is not allowed: use TLS 1.2 or 1.3", tls.VersionName(minVersion))
	}
	if cfg.GetCertificate == nil {
		return nil, errors.New("tlsconfig: GetCertificate is required")
	}
	protos := append([]string(nil), alpnProtos...)
	if cfg.ACME {
		protos = append(protos, acmeALPN)
	}
	c := &tls.Config{
		MinVersion:     minVersion,
		CipherSuites:   CipherSuites(),
		NextProtos:     protos,
		GetCertificate: cfg.GetCertificate,
		// CurvePreferences stays nil: Go's defaults put X25519MLKEM768 first.
		// KeyLogWriter stays nil: session secrets are never written anywhere.
	}
	if cfg.OnHandshake != nil {
		// Called by the server after every handshake, resumed ones included;
		// it never refuses one.
		c.VerifyConnection = func(cs tls.ConnectionState) error {
			cfg.OnHandshake(cs)
			return nil
		}
	}
	return c, nil
}

// Upstream returns the *tls.Config for connections to an https upstream.
// A nil roots pool means the system roots. Verification is never skipped.
func Upstream(roots *x509.CertPool) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		CipherSuites: CipherSuites(),
		RootCAs:      roots,
	}
}

// ParseVersion turns "1.2" or "1.3" (also written TLS1.3, TLSv1.3, tls 1.3)
// into the crypto/tls constant. Older versions are refused with
// ErrBrokenVersion, so the caller can say why.
func ParseVersion(s string) (uint16, error) {
	// The spellings of nginx (TLSv1.3), Caddy (tls1.3) and people (TLS 1.3).
	v := strings.ToLower(strings.TrimSpace(s))
	for _, p := range []string{"tlsv", "tls", "sslv", "ssl"} {
		if rest, ok := strings.CutPrefix(v, p); ok {
			if strings.HasPrefix(p, "ssl") {
				return 0, fmt.Errorf("%w: %s", ErrBrokenVersion, s)
			}
			v = strings.TrimSpace(rest)
			break
		}
	}
	switch v {
	case "1.2":
		return tls.VersionTLS12, nil
	case "1.3":
		return tls.VersionTLS13, nil
	case "1.0", "1", "1.1":
		return 0, fmt.Errorf("%w: %s", ErrBrokenVersion, s)
	}
	return 0, fmt.Errorf("tlsconfig: unknown TLS version %q: use 1.2 or 1.3", s)
}

// ErrBrokenVersion is ParseVersion's error for SSL, TLS 1.0 and TLS 1.1.
var ErrBrokenVersion = errors.New("tlsconfig: SSL, TLS 1.0 and TLS 1.1 are broken and not allowed: use 1.2 or 1.3")

// TicketKeyRing holds the keys that encrypt TLS session tickets, and
// rotates them: a new key starts encrypting every rotation, and a key is
// forgotten lifetime after it was made, so no ticket is honoured for longer
// than lifetime, and a key stolen from memory decrypts no session older than
// that (Go's own keys last seven days). The keys live in memory only.
//
// It does no I/O of its own: Keys takes the time, and the ring the source
// of randomness it was made with. It is not safe for concurrent use.
type TicketKeyRing struct {
	lifetime, rotation time.Duration
	rand               io.Reader
	keys               []ticketKey // newest first
}

type ticketKey struct {
	key  [32]byte
	made time.Time
}

// NewTicketKeyRing returns a ring whose tickets live at most lifetime (a
// second at least), with keys rotated every hour, or four times a lifetime
// shorter than four hours.
// Random keys come from rand (crypto/rand.Reader in production).
func NewTicketKeyRing(lifetime time.Duration, rand io.Reader) (*TicketKeyRing, error) {
	if lifetime < time.Second {
		return nil, fmt.Errorf("tlsconfig: session ticket lifetime %v is under a second", lifetime)
	}
	return &TicketKeyRing{lifetime: lifetime, rotation: min(time.Hour, lifetime/4), rand: rand}, nil
}

// NextChange is when the keys Keys returns next change: the newest key is
// due to be replaced, or the oldest to be forgotten. Call Keys then (the
// zero time, before the first call: at once).
func (r *TicketKeyRing) NextChange() time.Time {
	if len(r.keys) == 0 {
		return time.Time{}
	}
	next := r.keys[0].made.Add(r.rotation)
	if len(r.keys) > 1 {
		if drop := r.keys[len(r.keys)-1].made.Add(r.lifetime); drop.Before(next) {
			next = drop
		}
	}
	return next
}

// Keys returns the keys for tls.Config.SetSessionTicketKeys at now: a new
// key first when the newest is a rotation old, and none older than the
// lifetime.
func (r *TicketKeyRing) Keys(now time.Time) ([][32]byte, error) {
	if len(r.keys) == 0 || now.Sub(r.keys[0].made) >= r.rotation {
		var k ticketKey
		if _, err := io.ReadFull(r.rand, k.key[:]); err != nil {
			return nil, fmt.Errorf("tlsconfig: making a session ticket key: %w", err)
		}
		k.made = now
		r.keys = append([]ticketKey{k}, r.keys...)
	}
	keep := r.keys[:1] // the newest always: it encrypts
	for _, k := range r.keys[1:] {
		if now.Sub(k.made) < r.lifetime {
			keep = append(keep, k)
		}
	}
	r.keys = keep
	out := make([][32]byte, len(r.keys))
	for i, k := range r.keys {
		out[i] = k.key
	}
	return out, nil
}

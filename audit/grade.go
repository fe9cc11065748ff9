// Package audit owns rampart's TLS audit: probing an HTTPS endpoint (which
// protocols, suites and groups it accepts, its certificate, HSTS, redirect
// and headers) and grading the findings the way the SSL Labs SSL Server
// Rating Guide (2009r, May 2025) does. The grader is a pure function of the
// findings, so every rule is tested without a network.
package audit

import (
	"fmt"
	"slices"
	"sort"
)

// Protocol versions, as on the wire.
const (
	SSL30 = 0x0300
	TLS10 = 0x0301
	TLS11 = 0x0302
	TLS12 = 0x0303
	TLS13 = 0x0304
)

// Suite is one accepted cipher suite and what the grader needs to know of it.
type Suite struct {
	Name           string
	Bits           int  // symmetric strength; 0 for NULL
	ForwardSecrecy bool // ECDHE or DHE (all TLS 1.3 suites)
	AEAD           bool
	Export         bool
	RC4            bool
	Block64        bool // 3DES and other 64-bit block ciphers (SWEET32)
}

// Findings is what a probe learned of an endpoint. Its zero value describes
// an endpoint that offers nothing.
type Findings struct {
	Protocols []uint16 // accepted versions
	Suites    []Suite  // accepted suites, all versions

	KeyType       string // "rsa", "ecdsa", "ed25519"
	KeyBits       int    // RSA modulus or EC field size
	DHBits        int    // smallest finite-field DH group accepted; 0 if none
	ECDHBits      int    // smallest EC group accepted; 0 if none
	SignatureHash string // "sha256", "sha1", "md5", …
	Trusted       bool   // the chain verifies to a trusted root
	NameMatch     bool   // the certificate covers the host name
	Expired       bool
	DaysLeft      int

	HSTSMaxAge            int // seconds; -1 when no valid header
	HSTSIncludeSubDomains bool
	HSTSPreload           bool

	SecureRenegotiation bool
	Compression         bool // TLS-level compression (CRIME)

	RedirectsToHTTPS bool // plain HTTP on port 80 answers with a redirect to https
	CSP              bool
	NoSniff          bool
	FrameOptions     bool
}

// Issue is a cap or a warning, with what fixes it.
type Issue struct {
	Cap    string `json:"cap,omitempty"` // the grade it caps at; empty for a warning
	Reason string `json:"reason"`
	Fix    string `json:"fix"`
}

// Result is the grade and how it was reached.
type Result struct {
	Grade       string  `json:"grade"`
	Score       int     `json:"score"`
	Protocol    int     `json:"protocol_score"`
	KeyExchange int     `json:"key_exchange_score"`
	Cipher      int     `json:"cipher_score"`
	Caps        []Issue `json:"caps"`
	Warnings    []Issue `json:"warnings"`
}

// hstsMin is six months, the A+ threshold (testssl's HSTS_MIN=180 days).
const hstsMin = 180 * 24 * 3600

// Grade rates findings.
func Grade(f Findings) Result {
	var r Result
	if len(f.Protocols) == 0 || len(f.Suites) == 0 {
		r.Grade = "F"
		r.Caps = append(r.Caps, Issue{"F", "no TLS protocol or suite accepted", "enable TLS 1.2 and 1.3 with AEAD suites"})
		return r
	}
	r.Protocol = protocolScore(f.Protocols)
	r.KeyExchange = keyExchangeScore(f)
	r.Cipher = cipherScore(f.Suites)
	r.Score = (r.Protocol*30 + r.KeyExchange*30 + r.Cipher*40 + 50) / 100
	if r.Protocol == 0 || r.KeyExchange == 0 || r.Cipher == 0 {
		r.Score = 0
	}
	r.Caps = caps(f)
	r.Warnings = warnings(f)

	grade := letter(r.Score)
	for _, c := range r.Caps {
		grade = worse(grade, c.Cap)
	}
	if grade == "A" {
		switch {
		case len(r.Warnings) > 0:
			grade = "A-"
		case f.HSTSMaxAge >= hstsMin:
			grade = "A+"
		}
	}
	r.Grade = grade
	return r
}

func letter(score int) string {
	switch {
	case score >= 80:
		return "A"
	case score >= 65:
		return "B"
	case score >= 50:
		return "C"
	case score >= 35:
		return "D"
	case score >= 20:
		return "E"
	}
	return "F"
}

// order ranks grades, best first; T and M (trust, mismatch) rank below F, as
// SSL Labs shows them instead of a letter.
var order = map[string]int{"A+": 0, "A": 1, "A-": 2, "B": 3, "C": 4, "D": 5, "E": 6, "F": 7, "T": 8, "M": 9}

func worse(a, b string) string {
	if order[b] > order[a] {
		return b
	}
	return a
}

// AtLeast reports whether grade is as good as min or better.
func AtLeast(grade, min string) bool {
	g, okG := order[grade]
	m, okM := order[min]
	return okG && okM && g <= m
}

func protocolValue(v uint16) int {
	switch v {
	case SSL30:
		return 80
	case TLS10:
		return 90
	case TLS11:
		return 95
	case TLS12, TLS13:
		return 100
	}
	return 0 // SSL 2
}

func protocolScore(ps []uint16) int {
	best, worst := 0, 100
	for _, p := range ps {
		v := protocolValue(p)
		best, worst = max(best, v), min(worst, v)
	}
	return (best + worst) / 2
}

// The key-exchange ladder (SSL Labs 2009r): below each size the score on
// the same line of keyScores; at or above the last, 100. RSA and DH sizes
// use rsaLimits; elliptic curves, ecLimits (their equivalent strengths).
var (
	keyScores = [...]int{20, 40, 80, 90}
	rsaLimits = [...]int{512, 1024, 2048, 4096}
	ecLimits  = [...]int{110, 123, 163, 225}
)

func keyScore(bits int, limits [4]int) int {
	for i, limit := range limits {
		if bits < limit {
			return keyScores[i]
		}
	}
	return 100
}

func rsaScore(bits int) int { return keyScore(bits, rsaLimits) }

func ecScore(bits int) int { return keyScore(bits, ecLimits) }

// keyExchangeScore is the weakest of the certificate key and the ephemeral keys.
func keyExchangeScore(f Findings) int {
	s := 100
	switch f.KeyType {
	case "rsa":
		s = rsaScore(f.KeyBits)
	case "ecdsa", "ed25519":
		s = ecScore(f.KeyBits)
	}
	if f.DHBits > 0 {
		s = min(s, rsaScore(f.DHBits))
	}
	if f.ECDHBits > 0 {
		s = min(s, ecScore(f.ECDHBits))
	}
	return s
}

func cipherValue(bits int) int {
	switch {
	case bits == 0:
		return 0
	case bits < 128:
		return 20
	case bits < 256:
		return 80
	}
	return 100
}

func cipherScore(ss []Suite) int {
	best, worst := 0, 100
	for _, s := range ss {
		v := cipherValue(s.Bits)
		best, worst = max(best, v), min(worst, v)
	}
	return (best + worst) / 2
}

// has reports whether the protocol list holds v.
func has(ps []uint16, v uint16) bool { return slices.Contains(ps, v) }

func caps(f Findings) []Issue {
	var out []Issue
	add := func(cap, reason, fix string) { out = append(out, Issue{cap, reason, fix}) }
	// F
	if has(f.Protocols, 0x0200) {
		add("F", "SSL 2 offered", "disable SSL 2")
	}
	anyFS, anyAEAD := false, false
	for _, s := range f.Suites {
		anyFS = anyFS || s.ForwardSecrecy
		anyAEAD = anyAEAD || s.AEAD
		switch {
		case s.Export:
			add("F", "export suite "+s.Name, "remove export suites")
		case s.Bits < 112:
			add("F", fmt.Sprintf("%s has %d-bit strength", s.Name, s.Bits), "remove suites under 112 bits")
		}
	}
	if keyExchangeScore(f) <= 40 {
		add("F", fmt.Sprintf("%s key of %d bits", f.KeyType, f.KeyBits), "use ECDSA P-256 or RSA 2048 or larger")
	}
	if f.SignatureHash == "md5" {
		add("F", "certificate signed with MD5", "get a certificate signed with SHA-256")
	}
	if len(f.Protocols) == 1 && f.Protocols[0] == SSL30 {
		add("F", "SSL 3 is the best protocol", "enable TLS 1.2 and 1.3")
	}
	// C
	if !has(f.Protocols, TLS12) {
		add("C", "TLS 1.2 not offered", "enable TLS 1.2")
	}
	if f.Compression {
		add("C", "TLS compression (CRIME)", "disable TLS compression")
	}
	for _, s := range f.Suites {
		if s.Block64 && (has(f.Protocols, TLS11) || has(f.Protocols, TLS12) || has(f.Protocols, TLS13)) {
			add("C", "64-bit block cipher "+s.Name+" (SWEET32)", "remove 3DES suites")
			break
		}
	}
	for _, s := range f.Suites {
		if s.RC4 && (has(f.Protocols, TLS11) || has(f.Protocols, TLS12)) {
			add("C", "RC4 with TLS 1.1 or later", "remove RC4 suites")
			break
		}
	}
	// B
	if has(f.Protocols, SSL30) {
		add("B", "SSL 3 offered", "disable SSL 3")
	}
	if has(f.Protocols, TLS10) || has(f.Protocols, TLS11) {
		add("B", "TLS 1.0 or 1.1 offered", "set the minimum version to TLS 1.2 (rampart: --tls-min-version 1.2)")
	}
	if !anyFS {
		add("B", "no forward secrecy", "offer ECDHE suites")
	}
	if !anyAEAD {
		add("B", "no AEAD suite", "offer AES-GCM or ChaCha20-Poly1305 suites")
	}
	if s := keyExchangeScore(f); s == 80 {
		reason := fmt.Sprintf("weak key exchange: %s key of %d bits", f.KeyType, f.KeyBits)
		if f.DHBits > 0 && rsaScore(f.DHBits) == 80 {
			reason = fmt.Sprintf("weak key exchange: DH group of %d bits", f.DHBits)
		}
		add("B", reason, "use ECDSA P-256 or RSA 2048 or larger, and ECDHE (or DH groups of 2048 bits or more)")
	}
	for _, s := range f.Suites {
		if s.RC4 {
			add("B", "RC4 offered", "remove RC4 suites")
			break
		}
	}
	// T and M
	if !f.Trusted {
		add("T", "certificate not trusted (self-signed, unknown CA or broken chain)", "serve a chain that verifies to a public root (rampart: --tls acme)")
	}
	if f.Expired {
		add("T", "certificate expired", "renew it (rampart renews by itself with --tls acme)")
	}
	if f.SignatureHash == "sha1" {
		add("T", "certificate signed with SHA-1", "get a certificate signed with SHA-256")
	}
	if !f.NameMatch {
		add("M", "certificate does not cover the host name", "get a certificate for this name")
	}
	sort.SliceStable(out, func(i, j int) bool { return order[out[i].Cap] > order[out[j].Cap] })
	return out
}

func warnings(f Findings) []Issue {
	var out []Issue
	if !has(f.Protocols, TLS13) {
		out = append(out, Issue{"", "TLS 1.3 not supported", "enable TLS 1.3"})
	}
	if f.HSTSMaxAge < 0 {
		out = append(out, Issue{"", "no HSTS header", "send Strict-Transport-Security (rampart does by default)"})
	} else if f.HSTSMaxAge < hstsMin {
		out = append(out, Issue{"", fmt.Sprintf("HSTS max-age %d s is under six months", f.HSTSMaxAge), "raise max-age to at least 15552000 (rampart's default is 63072000)"})
	}
	if has(f.Protocols, TLS12) && !f.SecureRenegotiation {
		out = append(out, Issue{"", "no secure renegotiation", "support RFC 5746"})
	}
	return out
}

// Package redact owns what rampart's logs may not contain. It masks payment
// card numbers (any run of 13 to 19 digits, spaces or dashes between them,
// that passes the Luhn check) to their first six and last four digits, and
// replaces the values of query parameters whose names mark secrets. Encoder
// applies both to every encoded log line, so no field added later can carry
// a card number past it (PCI DSS v4.0.1 3.3.1, 3.5.1).
package redact

import (
	"strings"
)

// Redacted replaces a secret value.
const Redacted = "[REDACTED]"

// secretNames mark query parameters whose values are never logged; a name
// that contains any of them is secret (so "card_number", "x-api-key" and
// "sessionid" are). Over-matching only hides a harmless value.
var secretNames = []string{
	"card", "pan", "cvv", "cvc", "cav", "pin", "pass", "pwd", "secret", "token", "key",
	"auth", "session", "code", "otp", "ssn", "sig", "credential", "account", "iban",
}

// IsSecretName reports whether a parameter name marks a secret value.
func IsSecretName(name string) bool {
	lower := strings.ToLower(name)
	for _, s := range secretNames {
		if strings.Contains(lower, s) {
			return true
		}
	}
	return false
}

// Query returns a raw query string with the values of secret parameters
// replaced and card numbers masked. Order and encoding are kept otherwise.
func Query(raw string) string {
	if raw == "" {
		return ""
	}
	var b strings.Builder
	b.Grow(len(raw))
	for i, part := range strings.Split(raw, "&") {
		if i > 0 {
			b.WriteByte('&')
		}
		name, _, hasValue := strings.Cut(part, "=")
		if hasValue && IsSecretName(name) {
			b.WriteString(name)
			b.WriteString("=" + Redacted)
			continue
		}
		b.WriteString(part)
	}
	return String(b.String())
}

// String masks every card number in s.
func String(s string) string {
	out := Bytes([]byte(s))
	return string(out)
}

// Bytes masks every card number in b, in place, and returns b.
//
// A run is digits joined by at most one separator each: a space, a dash, a
// plus (a space in a form-encoded query) or a percent-encoded space or dash
// (%20, %2D). A run of 13 to 19 digits that passes the Luhn check keeps its
// first six and last four digits; the rest become '*'. Otherwise, in a run
// split by separators ("4111 1111 1111 1111 2026", "1 4111 1111 1111 1111"),
// every span of whole groups with 13 to 19 digits is checked the same way.
func Bytes(b []byte) []byte {
	var pos []int    // positions of the run's digits
	var groups []int // index into pos where each separator-delimited group starts
	for i := 0; i < len(b); {
		if !isDigit(b[i]) {
			i++
			continue
		}
		pos, groups = pos[:0], append(groups[:0], 0)
		j := i
		for j < len(b) {
			if isDigit(b[j]) {
				pos = append(pos, j)
				j++
				continue
			}
			sep := separatorLen(b[j:])
			if sep == 0 || j+sep >= len(b) || !isDigit(b[j+sep]) {
				break
			}
			groups = append(groups, len(pos))
			j += sep
		}
		maskRun(b, pos, groups)
		i = j
	}
	return b
}

// maskRun masks a run that holds a card number. For a card number inside a
// longer run, the digits around it are masked too, so that its kept first
// six cannot join its neighbours into something that looks like another.
func maskRun(b []byte, pos, groups []int) {
	if n := len(pos); n >= 13 && n <= 19 && luhn(b, pos) {
		maskAllBut(b, pos, 0, n)
		return
	}
	if len(pos) < 13 || len(groups) < 2 {
		return
	}
	groups = append(groups, len(pos))
	for g := 0; g < len(groups)-1; g++ {
		for h := g + 1; h < len(groups); h++ {
			n := groups[h] - groups[g]
			if n > 19 {
				break
			}
			if n >= 13 && luhn(b, pos[groups[g]:groups[h]]) {
				maskAllBut(b, pos, groups[g], groups[h])
				return
			}
		}
	}
}

// maskAllBut masks every digit of the run except the first six and the last
// four of the card number at pos[start:end].
func maskAllBut(b []byte, pos []int, start, end int) {
	for k := range pos {
		if (k >= start && k < start+6) || (k >= end-4 && k < end) {
			continue
		}
		b[pos[k]] = '*'
	}
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// separatorLen returns the length of a separator at the start of b, or 0.
func separatorLen(b []byte) int {
	switch {
	case b[0] == ' ' || b[0] == '-' || b[0] == '+':
		return 1
	case len(b) >= 3 && b[0] == '%' && b[1] == '2' && (b[2] == '0' || b[2] == 'd' || b[2] == 'D'):
		return 3
	}
	return 0
}

// luhn checks the digits of b at the positions given.
func luhn(b []byte, pos []int) bool {
	sum := 0
	double := false
	for k := len(pos) - 1; k >= 0; k-- {
		d := int(b[pos[k]] - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

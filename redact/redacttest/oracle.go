// Package redacttest is the oracle that tests of log redaction judge by,
// written apart from package redact: it decodes a line the way a reader
// would (JSON, then percent-encoding until nothing changes) and looks for
// card numbers with a regular expression and the Luhn check. It also
// spells test card numbers the ways a client could.
package redacttest

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"unicode"
)

// CardsInLine returns the card numbers a reader can find in a JSON log
// line, or an error if the line is not JSON.
func CardsInLine(line string) ([]string, error) {
	var doc any
	if err := json.Unmarshal([]byte(line), &doc); err != nil {
		return nil, err
	}
	var found []string
	for _, s := range JSONStrings(doc, nil) {
		found = append(found, CardsIn(PercentDecodeAll(s))...)
	}
	return found, nil
}

// oracleRun is a run of digits of any script joined by up to four
// separators (anything but a letter, a digit, '*', ':' or '=').
var runOfDigits = regexp.MustCompile(`\p{Nd}(?:[^\p{L}\p{Nd}*:=]{0,4}\p{Nd})*`)

func digitValue(r rune) int {
	for _, rg := range unicode.Nd.R16 {
		if rune(rg.Lo) <= r && r <= rune(rg.Hi) {
			return int(r-rune(rg.Lo)) % 10
		}
	}
	for _, rg := range unicode.Nd.R32 {
		if rune(rg.Lo) <= r && r <= rune(rg.Hi) {
			return int(r-rune(rg.Lo)) % 10
		}
	}
	return -1
}

// PercentDecodeAll undoes %XX and %uXXXX until nothing changes, or for 20
// rounds (the redactor masks every digit of a line it cannot decode in 8).
func PercentDecodeAll(s string) string {
	hex := func(c byte) int {
		switch {
		case '0' <= c && c <= '9':
			return int(c - '0')
		case 'a' <= c && c <= 'f':
			return int(c-'a') + 10
		case 'A' <= c && c <= 'F':
			return int(c-'A') + 10
		}
		return -1
	}
	for range 20 {
		var b strings.Builder
		for i := 0; i < len(s); i++ {
			if s[i] == '%' && i+2 < len(s) && hex(s[i+1]) >= 0 && hex(s[i+2]) >= 0 {
				b.WriteByte(byte(hex(s[i+1])<<4 | hex(s[i+2])))
				i += 2
				continue
			}
			if s[i] == '%' && i+5 < len(s) && (s[i+1] == 'u' || s[i+1] == 'U') {
				v, ok := 0, true
				for _, c := range []byte(s[i+2 : i+6]) {
					ok = ok && hex(c) >= 0
					v = v<<4 | hex(c)
				}
				if ok {
					b.WriteRune(rune(v))
					i += 5
					continue
				}
			}
			b.WriteByte(s[i])
		}
		if b.String() == s {
			return s
		}
		s = b.String()
	}
	return s
}

// CardsIn returns the card numbers a reader can find in decoded text.
func CardsIn(text string) []string {
	var found []string
	for _, run := range runOfDigits.FindAllString(text, -1) {
		var digits []int
		for _, r := range run {
			if d := digitValue(r); d >= 0 {
				digits = append(digits, d)
			}
		}
		for s := range digits {
			sum := 0
			for e := s; e < len(digits) && e-s < 19; e++ {
				// Luhn from the right end of digits[s:e+1]: recompute.
				sum = 0
				for k, double := e, false; k >= s; k, double = k-1, !double {
					d := digits[k]
					if double {
						if d *= 2; d > 9 {
							d -= 9
						}
					}
					sum += d
				}
				if e-s+1 >= 13 && sum%10 == 0 {
					found = append(found, fmt.Sprint(digits[s:e+1]))
				}
			}
		}
	}
	return found
}

// JSONStrings returns every string in a JSON document, keys included.
func JSONStrings(v any, out []string) []string {
	switch v := v.(type) {
	case string:
		return append(out, v)
	case []any:
		for _, e := range v {
			out = JSONStrings(e, out)
		}
	case map[string]any:
		for k, e := range v {
			out = JSONStrings(e, append(out, k))
		}
	}
	return out
}

// TestPANs are test card numbers of the major brands.
var TestPANs = []string{"4111111111111111", "5555555555554444", "378282246310005", "6011111111111117", "4222222222222", "3530111333300000", "6200000000000005", "4000056655665556", "2223003122003222"}

// cardSeparators are what a browser or client may put between groups.
var cardSeparators = []string{" ", "-", ".", "_", "/", "\t", "+", ",", "%20", "%2D", "%2E", "%2F", "%5F", "%09", "%2B", " - ", "%2520", "%252F", "\u00a0", "%C2%A0", "\\", ";", "|", "\u3000"}

// spellDigit writes one digit in one of the ways a client can spell it.
func spellDigit(d byte, how uint64) string {
	switch how % 9 {
	case 1:
		return fmt.Sprintf("%%3%c", d)
	case 2:
		return fmt.Sprintf("%%253%c", d)
	case 3:
		return string(rune(0xFF10 + rune(d-'0'))) // full-width
	case 4:
		return fmt.Sprintf("%%EF%%BC%%%X", 0x90+d-'0')
	case 5:
		return fmt.Sprintf("%%u003%c", d)
	case 6:
		return string(rune(0x0660 + rune(d-'0'))) // Arabic-Indic
	case 7:
		return fmt.Sprintf("%%25%%33%c", d) // each character of %3d encoded again
	}
	return string(d)
}

// PlantPAN spells a test card number as the seed chooses: grouped or not,
// with separators, its digits each spelled their own way, with an expiry
// joined to it or not.
func PlantPAN(pan string, seed uint64) string {
	rnd := seed
	next := func(n uint64) uint64 { rnd = rnd*6364136223846793005 + 1442695040888963407; return (rnd >> 33) % n }
	var b strings.Builder
	group := 1 + next(6) // group sizes 1 to 6, or none
	sep := cardSeparators[next(uint64(len(cardSeparators)))]
	grouped := next(4) != 0
	digitWays := next(4) // 0: all plain; otherwise each digit chooses
	for i := 0; i < len(pan); i++ {
		if grouped && i > 0 && uint64(i)%group == 0 {
			b.WriteString(sep)
		}
		how := uint64(0)
		if digitWays > 0 {
			how = next(9)
		}
		b.WriteString(spellDigit(pan[i], how))
	}
	switch next(4) {
	case 1:
		b.WriteString("2612") // track data: the expiry joined on
	case 2:
		b.WriteString(sep + "12" + sep + "26")
	}
	return b.String()
}

package redact

import (
	"encoding/binary"
	"unicode"
	"unicode/utf8"
)

// Character classes, looked up in a table for ASCII: redaction runs on
// every log line, and most of a line is ASCII.
const (
	cDigit     uint8 = 1 << iota // 0-9
	cLetter                      // a-z A-Z
	cName                        // may be part of a parameter name when written as such
	cSeparator                   // may stand between the digits of a card number
)

var asciiClass = func() (t [utf8.RuneSelf]uint8) {
	for c := range utf8.RuneSelf {
		switch {
		case '0' <= c && c <= '9':
			t[c] = cDigit | cName
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
			t[c] = cLetter | cName
		case c == '*', c == ':', c == '=':
			// '*' is a digit already masked, ':' separates times and ports
			// ("07:18:38.123", "10.1.2.3:18443"), '=' ends a parameter's name.
		default:
			t[c] = cSeparator
		}
	}
	// A '%' still present did not decode: it makes a name unreadable
	// (secret), and is kept in the name so that the name can be judged so.
	for _, c := range "_-.[]%+" {
		t[c] |= cName
	}
	return t
}()

// digitValue returns the value of a decimal digit of any script, or -1.
func digitValue(r rune) int {
	if r < utf8.RuneSelf {
		return int(asciiDigit[r])
	}
	return digitValueUnicode(r)
}

var asciiDigit = func() (t [utf8.RuneSelf]int8) {
	for c := range t {
		t[c] = -1
		if '0' <= c && c <= '9' {
			t[c] = int8(c - '0')
		}
	}
	return t
}()

//go:noinline (keeps the ASCII path of its callers inlined)
func digitValueUnicode(r rune) int {
	if !unicode.IsDigit(r) {
		return -1
	}
	// Unicode assigns decimal digits only in runs of ten, 0 to 9, and each
	// range of the table begins at a zero.
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

// isSeparator reports whether r may stand between two digits of a card
// number: anything but a letter or a digit, except '*', ':' and '='.
func isSeparator(r rune) bool {
	if r < utf8.RuneSelf {
		return asciiClass[r]&cSeparator != 0
	}
	return !isAlnumUnicode(r)
}

func isAlnum(r rune) bool {
	if r < utf8.RuneSelf {
		return asciiClass[r]&(cDigit|cLetter) != 0
	}
	return isAlnumUnicode(r)
}

//go:noinline
func isAlnumUnicode(r rune) bool { return unicode.IsLetter(r) || digitValueUnicode(r) >= 0 }

// isNameChar reports whether a character the client wrote as such (not
// percent-encoded) can be part of a parameter name.
func isNameChar(r rune) bool {
	if r < utf8.RuneSelf {
		return asciiClass[r]&cName != 0
	}
	return isNameCharUnicode(r)
}

//go:noinline
func isNameCharUnicode(r rune) bool {
	return isAlnumUnicode(r) || (0xFF01 <= r && r <= 0xFF5E) // full-width ASCII reads as ASCII
}

// Word-at-a-time scanning of plain ASCII (bit-twiddling hacks: "determine
// if a word has a byte equal to n", "... between m and n").
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

func hasByte(x uint64, b byte) bool {
	y := x ^ (ones * uint64(b))
	return (y-ones)&^y&highs != 0
}

// hasDigit reports whether a word of ASCII bytes holds one of 0-9.
func hasDigit(x uint64) bool {
	const m, n = '0' - 1, '9' + 1
	return (ones*(127+n)-(x&(ones*127)))&^x&((x&(ones*127))+ones*(127-m))&highs != 0
}

// plainPrefix returns how many bytes at the start of b need no decoding.
func plainPrefix(b []byte) int {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		if x := binary.LittleEndian.Uint64(b[i:]); x&highs != 0 || hasByte(x, '%') || hasByte(x, '\\') {
			break
		}
	}
	for i < len(b) && !needsDecoding[b[i]] {
		i++
	}
	return i
}

// skipNonDigits returns the index of the first digit in the ASCII bytes b,
// or len(b).
func skipNonDigits(b []byte) int {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		if hasDigit(binary.LittleEndian.Uint64(b[i:])) {
			break
		}
	}
	for i < len(b) && asciiDigit[b[i]] < 0 {
		i++
	}
	return i
}

package redact

import (
	"unicode/utf8"
)

// A log line is judged as a reader would read it, with every encoding a
// client or the log encoder could have used undone: JSON string escapes
// (\t, \", \u0034), percent-encoding (%34, %2534 for a value encoded twice,
// %u0034), and UTF-8 whether raw or percent-encoded (%EF%BC%94, a
// full-width 4). Each decoded character remembers the bytes of the line
// that spell it, so that what is masked is exactly those bytes.

// unit is one decoded character of a line and the span of the line that
// spells it.
type unit struct {
	r          rune
	start, end int32
	kind       uint8
	b          byte // a rawByte's value (its r is utf8.RuneError, as a reader sees it)
}

// Unit kinds. A plain or escaped unit is the character the client (or
// rampart) wrote, so it can end a name or a value; an encoded one is data
// inside a name or a value, whatever character it decodes to.
const (
	plain   uint8 = iota // the character as it stands in the line
	escaped              // a JSON escape (\t, \", \u0009): a character the client sent as such
	encoded              // percent-encoded: data, never structure
	rawByte              // a percent-encoded byte of 0x80 or more that is not part of a valid UTF-8 character
)

func (u unit) isData() bool { return u.kind >= encoded }

// maxDecodePasses bounds the rounds of percent-decoding (a value encoded
// eight times over is not something a browser or client produces). A line
// still changing after them is not understood, and fails closed.
const maxDecodePasses = 8

// text is a decoded line: units from index base on (where the first byte
// that needs decoding stands: '%', '\\', a byte past ASCII) to raw offset
// top (past the last one, and whatever its escapes can reach), and
// between, each byte of the line a plain unit of its own, not stored. Most
// lines need no decoding, and the rest little of it; the accessors hide
// the regions.
type text struct {
	raw       []byte
	us        []unit
	base, top int
}

func (t *text) len() int { return t.base + len(t.us) + len(t.raw) - t.top }

// rawOffset returns the offset in raw of the index i, if i is in a region
// of plain bytes.
func (t *text) rawOffset(i int) (int, bool) {
	if i < t.base {
		return i, true
	}
	if j := i - t.base - len(t.us); j >= 0 {
		return t.top + j, true
	}
	return 0, false
}

func (t *text) at(i int) unit {
	if off, ok := t.rawOffset(i); ok {
		return unit{rune(t.raw[off]), int32(off), int32(off + 1), plain, 0}
	}
	return t.us[i-t.base]
}

func (t *text) r(i int) rune {
	if off, ok := t.rawOffset(i); ok {
		return rune(t.raw[off])
	}
	return t.us[i-t.base].r
}

// plainFrom returns the plain bytes from index i to the end of its region,
// or nil if i is in the decoded region.
func (t *text) plainFrom(i int) []byte {
	if i < t.base {
		return t.raw[i:t.base]
	}
	if off, ok := t.rawOffset(i); ok {
		return t.raw[off:]
	}
	return nil
}

// escapeReach is how far past the last byte that needs decoding its
// decoding can reach: a JSON \uXXXX\uXXXX pair, or a percent escape
// decoded again in each of maxDecodePasses passes (%uXXXX at most).
const escapeReach = 5*maxDecodePasses + 12

// needsDecoding marks the bytes where decoding starts.
var needsDecoding = func() (t [256]bool) {
	for c := range t {
		t[c] = c == '%' || c == '\\' || c >= utf8.RuneSelf
	}
	return t
}()

// decodeLine decodes line into t, using us as the units' memory. It
// reports false when the line could not be decoded to the end (see
// maxDecodePasses).
func decodeLine(t *text, us []unit, line []byte) bool {
	base := plainPrefix(line)
	t.raw, t.base, t.top, t.us = line, base, base, us[:0]
	if base == len(line) {
		return true
	}
	top := len(line)
	for top > base && !needsDecoding[line[top-1]] {
		top--
	}
	top = min(len(line), top+escapeReach)
	hasPercent := false
	if cap(us) < top-base {
		us = make([]unit, top-base)
	}
	us = us[:top-base]
	w, i := 0, base
	for ; i < top; w++ {
		c := line[i]
		switch {
		case c == '\\':
			if r, n := jsonEscape(line[i:]); n > 0 {
				hasPercent = hasPercent || r == '%'
				us[w] = unit{r, int32(i), int32(i + n), escaped, 0}
				i += n
				continue
			}
		case c >= utf8.RuneSelf:
			r, n := utf8.DecodeRune(line[i:])
			us[w] = unit{r, int32(i), int32(i + n), plain, 0}
			i += n
			continue
		case c == '%':
			hasPercent = true
		}
		us[w] = unit{rune(c), int32(i), int32(i + 1), plain, 0}
		i++
	}
	t.us, t.top = us[:w], i // the last unit may end past top
	for pass := 0; hasPercent; pass++ {
		if pass == maxDecodePasses {
			return false
		}
		t.us, hasPercent = percentPass(t.us)
	}
	return true
}

// jsonEscape decodes the JSON string escape at the start of b, returning
// the character and the escape's length, or 0 if b holds none.
func jsonEscape(b []byte) (rune, int) {
	if len(b) < 2 {
		return 0, 0
	}
	switch b[1] {
	case '"', '\\', '/':
		return rune(b[1]), 2
	case 'b':
		return '\b', 2
	case 'f':
		return '\f', 2
	case 'n':
		return '\n', 2
	case 'r':
		return '\r', 2
	case 't':
		return '\t', 2
	case 'u':
		r, ok := hex4(b[2:])
		if !ok {
			return 0, 0
		}
		if 0xD800 <= r && r < 0xDC00 && len(b) >= 12 && b[6] == '\\' && b[7] == 'u' {
			if lo, ok := hex4(b[8:]); ok && 0xDC00 <= lo && lo < 0xE000 {
				return 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00), 12
			}
		}
		return r, 6
	}
	return 0, 0
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		v := hexValue(rune(c))
		if v < 0 {
			return 0, false
		}
		r = r<<4 | v
	}
	return r, true
}

func hexValue(r rune) rune {
	switch {
	case '0' <= r && r <= '9':
		return r - '0'
	case 'a' <= r && r <= 'f':
		return r - 'a' + 10
	case 'A' <= r && r <= 'F':
		return r - 'A' + 10
	}
	return -1
}

// percentPass decodes, in place, every %XX and %uXXXX whose characters are
// already units (so %2534 becomes %34 in one pass and 4 in the next), then
// joins percent-encoded bytes into the UTF-8 characters they spell. It
// reports whether another pass could decode more: only if this one made a
// '%' or a hex digit, from which a new escape can form.
func percentPass(us []unit) ([]unit, bool) {
	w, again, bytes := 0, false, false
	for k := 0; k < len(us); k++ {
		u := us[k]
		if u.r == '%' {
			if k+2 < len(us) {
				if hi, lo := hexValue(us[k+1].r), hexValue(us[k+2].r); hi >= 0 && lo >= 0 {
					b := hi<<4 | lo
					us[w] = unit{b, u.start, us[k+2].end, encoded, 0}
					if b >= utf8.RuneSelf {
						us[w] = unit{utf8.RuneError, u.start, us[k+2].end, rawByte, byte(b)}
						bytes = true
					}
					w, k = w+1, k+2
					again = again || b == '%' || hexValue(b) >= 0 || b == 'u' || b == 'U'
					continue
				}
			}
			// %uXXXX, as IIS and old JavaScript escape() spell a character.
			if k+5 < len(us) && (us[k+1].r == 'u' || us[k+1].r == 'U') {
				var r rune
				ok := true
				for _, d := range us[k+2 : k+6] {
					v := hexValue(d.r)
					ok = ok && v >= 0
					r = r<<4 | v
				}
				if ok {
					us[w] = unit{r, u.start, us[k+5].end, encoded, 0}
					w, k = w+1, k+5
					again = again || r == '%' || hexValue(r) >= 0 || r == 'u' || r == 'U'
					continue
				}
			}
		}
		us[w] = u
		w++
	}
	us = us[:w]
	if bytes {
		us = joinUTF8(us)
	}
	return us, again
}

// joinUTF8 merges runs of percent-encoded bytes that form a UTF-8
// character into one unit; bytes that form none stay as they are.
func joinUTF8(us []unit) []unit {
	w := 0
	for k := 0; k < len(us); k++ {
		u := us[k]
		if u.kind == rawByte {
			var buf [utf8.UTFMax]byte
			n := 0
			for n < utf8.UTFMax && k+n < len(us) && us[k+n].kind == rawByte {
				buf[n] = us[k+n].b
				n++
			}
			if r, size := utf8.DecodeRune(buf[:n]); r != utf8.RuneError {
				us[w] = unit{r, u.start, us[k+size-1].end, encoded, 0}
				w++
				k += size - 1
				continue
			}
		}
		us[w] = u
		w++
	}
	return us[:w]
}

package proxy

import (
	"net/http"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// A request path is refused (400) rather than normalised when parsers could
// read it differently: rampart, the app, its framework's router and any
// server between them each resolve dot segments, backslashes, escapes and
// parameters in their own way, so the only safe path to pass on is one on
// which they cannot disagree. What passes reaches the app exactly as sent.
//
// The path is judged decoded, as many times as an app might decode it (up
// to maxPathDecodes rounds of %XX and %uXXXX): a dot segment in any
// spelling ("..", "%2e%2E", "%252e%252e", "%u002e", full-width "．．", the
// leader "‥", and "..." or more; after a ";" parameter as in "..;", before
// an encoded "?" or "#", with trailing spaces), with '/', '\' or their
// encodings or full-width forms as separators; a backslash written as such
// (no valid URI has one); an
// encoded control character (%00 to %1F, %7F: NUL, CR LF); bytes that are
// not UTF-8 (overlong forms such as %c0%ae, lone bytes such as %ff); a
// fragment ("#", which a client never sends).

// maxPathDecodes bounds the rounds of decoding a path is judged through;
// one that still decodes further is refused.
const maxPathDecodes = 3

// pathAllowed reports whether the path of r's request target may reach the app.
func pathAllowed(r *http.Request) bool {
	target := r.RequestURI
	if target == "" { // a request not read from a connection
		target = r.URL.RequestURI()
	}
	if strings.IndexByte(target, '#') >= 0 {
		return false
	}
	return cleanPath(targetPath(target))
}

// targetPath returns the path of a request target (origin or absolute form).
func targetPath(target string) string {
	if i := strings.IndexByte(target, '?'); i >= 0 {
		target = target[:i]
	}
	if strings.HasPrefix(target, "/") {
		return target
	}
	if i := strings.Index(target, "://"); i >= 0 {
		rest := target[i+3:]
		if j := strings.IndexByte(rest, '/'); j >= 0 {
			return rest[j:]
		}
		return ""
	}
	return target
}

// cleanPath reports whether an escaped path is free of everything the
// comment at the top of this file lists.
func cleanPath(p string) bool {
	simple := true
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c < 0x20 || c == 0x7f || c == '\\':
			return false
		case c == '%' || c >= utf8.RuneSelf:
			simple = false
		}
	}
	if simple {
		return !hasDotSegment(p)
	}
	// Each reading must be UTF-8: an app may stop decoding at any round.
	var buf [512]byte
	d := append(buf[:0], p...)
	for round := 0; ; round++ {
		if !utf8.Valid(d) {
			return false
		}
		next, changed := percentDecode(d)
		if !changed {
			break
		}
		if round == maxPathDecodes {
			return false // still decoding: beyond what is judged
		}
		d = next
	}
	for _, c := range d {
		if c < 0x20 || c == 0x7f {
			return false
		}
	}
	// Compatibility forms read as what they stand for to a normalising
	// reader: full-width '．' and '／', the two-dot leader '‥', ….
	return !hasDotSegment(norm.NFKC.Bytes(d))
}

// hasDotSegment reports whether a decoded path has a dot segment: "." or
// "..", or more dots, once what a reader could cut off is cut (";"
// parameters, as Tomcat reads "..;"; a "?" or "#" that a decoded path
// re-parsed would start; trailing spaces, which Windows drops), with '/'
// and '\' as separators.
func hasDotSegment[T string | []byte](p T) bool {
	start := 0
	for i := 0; i <= len(p); i++ {
		if i < len(p) && p[i] != '/' && p[i] != '\\' {
			continue
		}
		if isDotSegment(p[start:i]) {
			return true
		}
		start = i + 1
	}
	return false
}

func isDotSegment[T string | []byte](seg T) bool {
	for i := 0; i < len(seg); i++ {
		if c := seg[i]; c == ';' || c == '?' || c == '#' {
			seg = seg[:i]
			break
		}
	}
	for len(seg) > 0 && (seg[len(seg)-1] == ' ' || seg[len(seg)-1] == '\t') {
		seg = seg[:len(seg)-1]
	}
	if len(seg) == 0 {
		return false
	}
	for i := 0; i < len(seg); i++ {
		if seg[i] != '.' {
			return false
		}
	}
	return true
}

// percentDecode decodes one round of %XX and %uXXXX in b, in place,
// leaving what is not a valid escape as it is; it reports whether anything
// was decoded.
func percentDecode(b []byte) ([]byte, bool) {
	w, changed := 0, false
	for i := 0; i < len(b); i++ {
		if b[i] == '%' {
			if i+2 < len(b) && isHex(b[i+1]) && isHex(b[i+2]) {
				b[w] = unhex(b[i+1])<<4 | unhex(b[i+2])
				w, i, changed = w+1, i+2, true
				continue
			}
			if i+5 < len(b) && (b[i+1] == 'u' || b[i+1] == 'U') && isHex(b[i+2]) && isHex(b[i+3]) && isHex(b[i+4]) && isHex(b[i+5]) {
				r := rune(unhex(b[i+2]))<<12 | rune(unhex(b[i+3]))<<8 | rune(unhex(b[i+4]))<<4 | rune(unhex(b[i+5]))
				var enc [utf8.UTFMax]byte
				n := utf8.EncodeRune(enc[:], r)
				w += copy(b[w:], enc[:n]) // at most 4 bytes for a 6-byte escape: never past i

				i, changed = i+5, true
				continue
			}
		}
		b[w] = b[i]
		w++
	}
	return b[:w], changed
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

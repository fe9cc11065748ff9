package redact

import (
	"bytes"
	"unicode"
	"unicode/utf8"
)

// A secret is the value of a name=value pair whose name marks one, wherever
// the pair stands: a query ("?cvv=123"), path parameters
// ("/login;password=x"), an encoded URL inside a parameter
// ("redirect=%2Fcb%3Fpassword%3Dx"), a free-text header ("User-Agent: app
// token=x"), an error message. Names are decoded before they are judged
// (p%61ssword, user%5Bpassword%5D), and a name that cannot be decoded is
// taken for a secret. JSON Web Tokens are secrets wherever they stand.

// secretStems mark a secret name wherever they occur in it, so
// "card_number", "x-api-key", "PHPSESSID" and "access_token" are secret.
// Over-matching only hides a harmless value.
var secretStems = [][]byte{
	[]byte("card"), []byte("pan"), []byte("cvv"), []byte("cvc"), []byte("cav"), []byte("cvn"), []byte("pin"),
	[]byte("pass"), []byte("pwd"), []byte("pswd"), []byte("secret"), []byte("token"), []byte("key"),
	[]byte("auth"), []byte("sess"), []byte("code"), []byte("otp"), []byte("ssn"), []byte("sig"),
	[]byte("credential"), []byte("account"), []byte("acct"), []byte("iban"), []byte("jwt"), []byte("bearer"),
	[]byte("hash"), []byte("nonce"), []byte("ccnum"), []byte("cookie"), []byte("private"), []byte("salt"),
	[]byte("expir"), []byte("secur"), []byte("ticket"), []byte("assertion"), []byte("saml"),
}

// stemsByLetter indexes secretStems by their first letter.
var stemsByLetter = func() (t [26][][]byte) {
	for _, s := range secretStems {
		t[s[0]-'a'] = append(t[s[0]-'a'], s)
	}
	return t
}()

// secretWords mark a secret name only as a whole word of it, being too
// short to look for inside words: "pw" and "new_pw" are secret, "upward"
// is not. Words are split at anything not a letter or digit, at a change
// from lower to upper case, and between letters and digits ("ccNum",
// "pw2").
var secretWords = [][]byte{
	[]byte("pw"), []byte("sid"), []byte("cc"), []byte("exp"), []byte("cv2"), []byte("ccv"), []byte("csc"),
	[]byte("cid"), []byte("mfa"),
}

// maxNameLen is the longest name judged by its words; a longer one (not a
// parameter name anyone chooses) is taken for a secret.
const maxNameLen = 128

// secretName judges the decoded name t[from:to].
func secretName(t *text, from, to int) bool {
	if from == to {
		return false
	}
	if to-from > maxNameLen {
		return true
	}
	var lower [maxNameLen * utf8.UTFMax]byte
	var words [maxNameLen]int // where in lower each word starts
	n, nw := 0, 0
	var prev rune
	for i := from; i < to; i++ {
		u := t.at(i)
		r := u.r
		if (r == '%' && !u.isData()) || r == utf8.RuneError || r < ' ' || u.kind == rawByte {
			return true // an escape that does not decode, or bytes that are no text: fail closed
		}
		if 0xFF01 <= r && r <= 0xFF5E {
			r -= 0xFEE0 // full-width ASCII reads as ASCII
		}
		alnum := isAlnum(r)
		if i == from || !alnum || !isAlnum(prev) ||
			(unicode.IsLower(prev) && unicode.IsUpper(r)) ||
			(digitValue(prev) >= 0) != (digitValue(r) >= 0) {
			words[nw] = n
			nw++
		}
		switch {
		case r < utf8.RuneSelf && alnum:
			lower[n] = byte(unicode.ToLower(r))
			n++
		case alnum:
			n += utf8.EncodeRune(lower[n:], unicode.ToLower(r))
		default:
			lower[n] = ' '
			n++
		}
		prev = r
	}
	name := lower[:n]
	for i, c := range name {
		if 'a' <= c && c <= 'z' {
			for _, s := range stemsByLetter[c-'a'] {
				if bytes.HasPrefix(name[i:], s) {
					return true
				}
			}
		}
	}
	for i := range nw {
		end := n
		if i+1 < nw {
			end = words[i+1]
		}
		w := bytes.TrimSpace(name[words[i]:end])
		for _, s := range secretWords {
			if bytes.Equal(w, s) {
				return true
			}
		}
	}
	return false
}

// endsValue reports whether u ends a parameter's value: a separator of
// pairs or of words that the client wrote as such. Percent-encoded
// characters never end one (a secret's "%26" is part of it), nor does a
// quote the client sent (its "\"" in a JSON line).
func endsValue(u unit) bool {
	switch u.kind {
	case plain:
		switch u.r {
		case '&', ';', ' ', '"', '\t', '\n', '\r', '\f', '\v':
			return true
		}
	case escaped:
		switch u.r {
		case '\t', '\n', '\r', '\f', '\v', ' ':
			return true
		}
	}
	return false
}

// findSecrets records an edit for each secret value in t: the value of a
// pair whose name is secret, or a JSON Web Token.
func findSecrets(t *text, sc *scratch) {
	nameStart, n := 0, t.len()
	for k := 0; k < n; {
		if plain := t.plainFrom(k); len(plain) > 1 {
			// Among plain bytes only an '=' or an "eyJ" can start a secret:
			// jump to the next, keeping track of where a name starts.
			i := len(plain)
			if eq := bytes.IndexByte(plain, '='); eq >= 0 {
				i = eq
			}
			if jwt := bytes.Index(plain[:i], jwtStart); jwt >= 0 {
				i = jwt
			}
			if i > 0 {
				for j := i - 1; j >= 0; j-- {
					if asciiClass[plain[j]]&cName == 0 {
						nameStart = k + j + 1
						break
					}
				}
				k += i
				continue
			}
		}
		u := t.at(k)
		switch {
		case u.r == '=':
			k, nameStart = secretPair(t, sc, nameStart, k)
			continue
		case u.r == 'e' && (k == 0 || !isAlnum(t.r(k-1))):
			if end := jwtEnd(t, k); end > k {
				sc.addSecret(u.start, t.at(end-1).end)
				k, nameStart = end, end
				continue
			}
		case !u.isData() && !isNameChar(u.r):
			nameStart = k + 1
		}
		k++
	}
}

var jwtStart = []byte("eyJ")

// secretPair judges the pair whose name is t[from:eq] and whose '=' is at
// eq, recording its value if the name is secret. It returns where to go on
// from, and where the next name may start.
func secretPair(t *text, sc *scratch, from, eq int) (next, nameStart int) {
	if !secretName(t, from, eq) {
		if lf, lt := looseName(t, eq); lf == lt || !secretName(t, lf, lt) {
			return eq + 1, eq + 1
		}
	}
	// "token= abc": a value set off by a space or two is still its value.
	start, n := eq+1, t.len()
	for skipped := 0; skipped < 3 && start < n && isSpace(t.at(start)); skipped++ {
		start++
	}
	if start == n || endsValue(t.at(start)) {
		start = eq + 1
	}
	end := valueEnd(t, start)
	if end > eq+1 {
		sc.addSecret(t.at(eq+1).start, t.at(end-1).end)
	}
	return max(end, eq+1), end
}

// looseName finds a name set off from its '=' by up to three characters
// that cannot be part of one ("'password'=", "user(password)=", "token ="),
// and returns its span, or an empty one.
func looseName(t *text, eq int) (from, to int) {
	k := eq
	for skipped := 0; skipped < 3 && k > 0; skipped++ {
		u := t.at(k - 1)
		if u.isData() || isNameChar(u.r) || (u.kind == plain && (u.r == '&' || u.r == ';' || u.r == '?' || u.r == '=')) {
			break
		}
		k--
	}
	if k == eq {
		return eq, eq
	}
	to = k
	for k > 0 && to-k < maxNameLen {
		if u := t.at(k - 1); !u.isData() && !isNameChar(u.r) {
			break
		}
		k--
	}
	return k, to
}

// isSpace reports whether u is a space or tab the client wrote as such.
func isSpace(u unit) bool {
	return (u.kind == plain || u.kind == escaped) && (u.r == ' ' || u.r == '\t')
}

// valueEnd returns the index just past the value that starts at k. A value
// that opens with a quote the client sent runs to the next such quote, or
// to the end of the line's own string (a quote or line end of the line
// itself, which is never part of the value).
func valueEnd(t *text, k int) int {
	n := t.len()
	if k < n {
		if u := t.at(k); u.kind == escaped && u.r == '"' {
			for j := k + 1; j < n; j++ {
				switch u := t.at(j); {
				case u.kind == escaped && u.r == '"':
					return j + 1
				case u.kind == plain && (u.r == '"' || u.r == '\n'):
					return j
				}
			}
			return n
		}
	}
	for k < n && !endsValue(t.at(k)) {
		k++
	}
	return k
}

// jwtEnd returns the index just past a JSON Web Token starting at k
// ("eyJ", then three base64url parts joined by dots), or k if none does.
func jwtEnd(t *text, k int) int {
	n := t.len()
	if k+3 > n || t.r(k+1) != 'y' || t.r(k+2) != 'J' {
		return k
	}
	j := k
	for part := 0; part < 3; part++ {
		size := 0
		for j < n && isBase64URL(t.r(j)) {
			j, size = j+1, size+1
		}
		if part < 2 {
			if size < 4 || j == n || t.r(j) != '.' {
				return k
			}
			j++
		}
	}
	return j
}

func isBase64URL(r rune) bool {
	return r < utf8.RuneSelf && asciiClass[r]&(cDigit|cLetter) != 0 || r == '-' || r == '_'
}

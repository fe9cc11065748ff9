// Package redact owns what rampart's logs may not contain. PCI DSS treats a
// log as storage, where only a card's brand, last four and expiry may be
// kept, and a credential never. Encoder redacts every encoded log line as a
// whole, so no field added later can carry one past it.
//
// A line is read as a person or a program would read it: every encoding a
// browser, a client or the log encoder can produce is undone first (JSON
// escapes, percent-encoding once or more, %uXXXX, UTF-8 raw or encoded),
// and then judged. Card numbers (13 to 19 digits of any script that pass the
// Luhn check, in any grouping, even inside a longer run of digits) keep
// their first six and last four digits; values of parameters whose names
// mark secrets, and JSON Web Tokens, become [REDACTED]. Where the line
// cannot be read, redaction fails closed: an unreadable name is a secret's,
// and a line whose encoding does not come undone has all its digits masked.
package redact

import "sync"

// Redacted replaces a secret value.
const Redacted = "[REDACTED]"

// edit replaces the bytes [start, end) of a line.
type edit struct {
	start, end int32
	repl       string
}

// scratch is the working memory for one line, pooled: the log path
// allocates nothing for redaction.
type scratch struct {
	text    text
	units   []unit
	pos     []int32
	vals    []int8
	grp     []bool
	secrets []edit
	cards   []edit
	out     []byte
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// maxPooledLine is the longest line whose working memory is kept for the
// next: one huge line should not pin its 16 bytes a byte for good.
const maxPooledLine = 64 << 10

func putScratch(sc *scratch) {
	if cap(sc.units) <= maxPooledLine && cap(sc.out) <= maxPooledLine {
		scratchPool.Put(sc)
	}
}

func (sc *scratch) addSecret(start, end int32) {
	sc.secrets = append(sc.secrets, edit{start, end, Redacted})
}

func (sc *scratch) maskDigit(start, end int32) {
	sc.cards = append(sc.cards, edit{start, end, "*"})
}

// String returns s redacted as a log line would be.
func String(s string) string {
	sc := scratchPool.Get().(*scratch)
	defer putScratch(sc)
	if !sc.redact([]byte(s)) {
		return s
	}
	return string(sc.out)
}

// redact plans the edits of line and, if there are any, writes the
// redacted line to sc.out and reports true.
func (sc *scratch) redact(line []byte) bool {
	sc.secrets, sc.cards = sc.secrets[:0], sc.cards[:0]
	t := &sc.text
	ok := decodeLine(t, sc.units, line)
	sc.units = t.us[:0]            // keep the grown memory for the next line
	defer func() { t.raw = nil }() // the line belongs to the caller
	findSecrets(t, sc)
	if ok {
		findCards(t, sc)
	} else {
		maskAllDigits(t, sc)
	}
	if len(sc.secrets) == 0 && len(sc.cards) == 0 {
		return false
	}
	sc.out = apply(sc.out[:0], line, sc.secrets, sc.cards)
	return true
}

// maskAllDigits is the fail-closed answer to a line that could not be
// decoded: every digit is masked, and every '%' too, so that no escape
// left undecoded can spell one.
func maskAllDigits(t *text, sc *scratch) {
	for i := range t.len() {
		if u := t.at(i); digitValue(u.r) >= 0 || u.r == '%' {
			sc.maskDigit(u.start, u.end)
		}
	}
}

// apply appends line to dst with the edits made. Both lists are in order
// of position; a card edit inside a secret's span is dropped, the secret
// replacing it all.
func apply(dst, line []byte, secrets, cards []edit) []byte {
	var pos int32
	c := 0
	for _, s := range secrets {
		for ; c < len(cards) && cards[c].start < s.start; c++ {
			dst = append(append(dst, line[pos:cards[c].start]...), cards[c].repl...)
			pos = cards[c].end
		}
		for c < len(cards) && cards[c].start < s.end {
			c++
		}
		dst = append(append(dst, line[pos:s.start]...), s.repl...)
		pos = s.end
	}
	for ; c < len(cards); c++ {
		dst = append(append(dst, line[pos:cards[c].start]...), cards[c].repl...)
		pos = cards[c].end
	}
	return append(dst, line[pos:]...)
}

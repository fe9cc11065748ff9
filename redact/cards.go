package redact

// A card number (PAN) is 13 to 19 digits that pass the Luhn check. In a log
// line it may be spelled with the digits of any script (a full-width ４ is a
// 4 to many parsers), split into groups by separators of any kind
// ("4111.1111.1111.1111", "/pay/4111/1111/1111/1111", a tab), and joined to
// other digits (a PAN followed by its expiry date, as in track data).

// maxGap is the most separators that may stand between two digits of one
// run ("4111 - 1111" has three).
const maxGap = 4

// findCards records the digits to mask in t: in every run of digits
// (joined by at most maxGap separators each) that holds 13 to 19
// consecutive digits passing the Luhn check, all but the first six and the
// last four of that card number. No card number can be left whole, since
// at most ten digits of the run stay.
func findCards(t *text, sc *scratch) {
	n := t.len()
	for k := 0; k < n; {
		if plain := t.plainFrom(k); plain != nil {
			// The common case: skip what is no digit without decoding.
			i := skipNonDigits(plain)
			if k += i; i == len(plain) {
				continue
			}
		}
		if digitValue(t.r(k)) < 0 {
			k++
			continue
		}
		// Count the run's digits first: most runs are short, and need no more.
		end, digits := runEnd(t, k)
		if digits >= 13 {
			maskRun(t, sc, k, end)
		}
		k = end
	}
}

// maskRun masks the run t[k:end], which holds 13 digits or more, if it
// holds a card number.
func maskRun(t *text, sc *scratch, k, end int) {
	pos, vals, grp := sc.pos[:0], sc.vals[:0], sc.grp[:0]
	newGroup := true
	for j := k; j < end; j++ {
		if v := digitValue(t.r(j)); v >= 0 {
			pos, vals, grp = append(pos, int32(j)), append(vals, int8(v)), append(grp, newGroup)
			newGroup = false
		} else {
			newGroup = true
		}
	}
	sc.pos, sc.vals, sc.grp = pos, vals, grp
	if s, e, ok := luhnWindow(vals, grp); ok {
		for i, p := range pos {
			if (i >= s && i < s+6) || (i >= e-4 && i < e) {
				continue
			}
			u := t.at(int(p))
			sc.maskDigit(u.start, u.end)
		}
	}
}

// plainRunEnd is runEnd over plain bytes. It reports false when the run,
// or a gap after it, reaches the end of b: the run may go on past it.
func plainRunEnd(b []byte) (end, digits int, inside bool) {
	j := 0
	for j < len(b) {
		if asciiDigit[b[j]] >= 0 {
			j, digits = j+1, digits+1
			continue
		}
		g := j
		for g < len(b) && g-j < maxGap && asciiClass[b[g]]&cSeparator != 0 {
			g++
		}
		if g == len(b) {
			return 0, 0, false
		}
		if g == j || asciiDigit[b[g]] < 0 {
			return j, digits, true
		}
		j = g
	}
	return 0, 0, false
}

// runEnd returns the end of the run of digits that starts at k, and how
// many digits it holds.
func runEnd(t *text, k int) (end, digits int) {
	if plain := t.plainFrom(k); plain != nil {
		if e, d, inside := plainRunEnd(plain); inside {
			return k + e, d
		}
	}
	n := t.len()
	j := k
	for j < n {
		if digitValue(t.r(j)) >= 0 {
			j, digits = j+1, digits+1
			continue
		}
		g := j
		for g < n && g-j < maxGap && isSeparator(t.r(g)) {
			g++
		}
		if g == j || g == n || digitValue(t.r(g)) < 0 {
			break
		}
		j = g
	}
	return j, digits
}

// luhnWindow finds the span of 13 to 19 consecutive digits that passes the
// Luhn check and most looks like the card number, so that the digits kept
// are its own first six and last four: spans whose ends fall on the run's
// group boundaries first (grp[i] marks a digit that starts a group), then
// the common lengths, then the leftmost.
func luhnWindow(vals []int8, grp []bool) (start, end int, ok bool) {
	best := -1
	for e := 13; e <= len(vals); e++ {
		sum := 0
		for l := 1; l <= 19 && l <= e; l++ {
			d := int(vals[e-l])
			if l%2 == 0 {
				if d *= 2; d > 9 {
					d -= 9
				}
			}
			sum += d
			if l < 13 || sum%10 != 0 {
				continue
			}
			score := lengthPreference[l]
			if grp[e-l] {
				score += 10
			}
			if e == len(vals) || grp[e] {
				score += 10
			}
			if score > best || (score == best && e-l < start) {
				start, end, best = e-l, e, score
			}
		}
	}
	return start, end, best >= 0
}

// lengthPreference ranks card number lengths by how common they are.
var lengthPreference = [20]int{16: 7, 15: 6, 19: 5, 13: 4, 14: 3, 17: 2, 18: 1}

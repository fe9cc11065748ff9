package proxy

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestPathAllowed(t *testing.T) {
	tests := []struct {
		target string
		ok     bool
	}{
		{"/", true},
		{"/pay/confirm?x=1", true},
		{"/file..txt", true},
		{"/a%2Fb", true},  // an encoded slash alone is data
		{"//admin", true}, // empty segments pass
		{"/a%23f", true},  // an encoded '#'
		{"/a%5Cb", true},  // an encoded backslash alone is data
		{"/a;jsessionid=1/b", true},
		{"/caf%C3%A9", true}, // UTF-8
		{"/café", true},      // UTF-8 written as such
		{"/100%25", true},    // a percent sign
		{"https://shop.test/x", true},

		{"/a/../b", false},
		{"/a/./b", false},
		{"/..", false},
		{"/a/%2e%2e/b", false},
		{"/a/%2E%2e/b", false},
		{"/a/.%2e/b", false},
		{"/a/%252e%252e/b", false}, // encoded twice
		{"/a/%25252e%25252e/b", false},
		{"/a/%u002e%u002e/b", false},
		{"/a/%EF%BC%8E%EF%BC%8E/b", false}, // full-width dots
		{"/a/..;/b", false},
		{"/a/..%3fx/b", false},              // "..?x" once decoded: a re-parse sees ".."
		{"/a/..%23/b", false},               // "..#"
		{"/a/%E2%80%A5/b", false},           // the two-dot leader, ".." to NFKC
		{"/a/..%20/b", false},               // Windows drops the trailing space
		{"/a/.../b", false},                 // more dots
		{"/a/%EF%BC%8F..%EF%BC%8Fb", false}, // full-width solidus around a dot-dot
		{"/a/...b/c", true},
		{"/a/.;x=1/b", false},
		{`/a/..\c`, false},
		{`/a\b`, false},
		{"/a/..%5Cc", false},
		{"/a/%5C..%5Cb", false},
		{"/a/..%2Fb", false},
		{"/a/..%EF%BC%8Fb", false},   // full-width solidus
		{"/%c0%ae%c0%ae/etc", false}, // overlong dots
		{"/a/%e0%80%ae%e0%80%ae/b", false},
		{"/a/..%c0%afb", false},
		{"/a%ffb", false},
		{"/a%00b", false},
		{"/a%0d%0ab", false},
		{"/a%2500b", false}, // an encoded NUL, encoded again
		{"/a%1fb", false},
		{"/a%7fb", false},
		{"/a#f", false},
		{"/a?x=1#f", false},
		{"https://shop.test/a/../b", false},
		{"/a/%2525252e%2525252e/b", false}, // more rounds than judged
		{"/\xd0%80", false},                // not UTF-8 as written
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		r.RequestURI = tt.target
		if got := pathAllowed(r); got != tt.ok {
			t.Errorf("pathAllowed(%q) = %v; want %v", tt.target, got, tt.ok)
		}
	}
}

// FuzzPathAllowed: whatever path is allowed has no '#' or '\' as written,
// and no reading of it (decoded up to three times, with '\' as '/', ';'
// parameters cut, full-width forms folded) has a dot segment, a control
// character or bytes that are not UTF-8. The oracle uses net/url's
// decoder, apart from the one under test.
func FuzzPathAllowed(f *testing.F) {
	for _, s := range []string{"/", "/a/../b", "/a%2e%2e", "/a/%252e.", `/a\..`, "/%c0%ae", "/a;x/..;/b", "/%u002e%u002e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if !strings.HasPrefix(p, "/") {
			p = "/" + p
		}
		r := httptest.NewRequest("GET", "/", nil)
		r.RequestURI = p
		if !pathAllowed(r) {
			return
		}
		d := strings.SplitN(p, "?", 2)[0]
		for round := 0; round <= 3; round++ {
			if round == 0 && strings.ContainsAny(d, "#\\") {
				t.Fatalf("allowed %q, which holds a '#' or '\\'", p)
			}
			folded := strings.NewReplacer("\uff0e", ".", "\uff0f", "/", "\uff3c", "/", "\\", "/").Replace(d)
			for _, seg := range strings.Split(folded, "/") {
				seg, _, _ = strings.Cut(seg, ";")
				if seg == "." || seg == ".." {
					t.Fatalf("allowed %q, which reads as %q", p, d)
				}
			}
			for _, c := range []byte(d) {
				if c < 0x20 || c == 0x7f {
					t.Fatalf("allowed %q, which reads as %q", p, d)
				}
			}
			if !utf8.ValidString(d) {
				t.Fatalf("allowed %q, which reads as %q (not UTF-8)", p, d)
			}
			next, err := url.PathUnescape(d)
			if err != nil {
				break // not an escape to undo: as far as readers go
			}
			d = next
		}
	})
}

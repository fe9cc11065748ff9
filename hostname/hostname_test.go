package hostname

import (
	"strings"
	"testing"
)

// TestCanonical: the forms a Host header, a TLS server name and a setting
// take. Before this package, proxy, metrics and certs each had a normaliser,
// and certs read "[::1]:443" as "::1]:443".
func TestCanonical(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"shop.test", "shop.test"},
		{"SHOP.Test", "shop.test"},
		{"shop.test.", "shop.test"},
		{"shop.test:443", "shop.test"},
		{"SHOP.test.:8443", "shop.test"},
		{"[::1]:443", "::1"},
		{"[::1]", "::1"},
		{"[2001:DB8::1]:8443", "2001:db8::1"},
		{"::1", "::1"},
		{"2001:DB8::1", "2001:db8::1"},
		{"192.0.2.1:443", "192.0.2.1"},
		{"[::1]x", ""},
		{"[shop.test]:443", ""},
		{"[SHOP.test.]", ""},
		{"[192.0.2.1]", ""},
		{"[fe80::1%25eth0]", ""},
		{"[::1", ""},
		{"[[::1]]", ""},
		{"", ""},
		{":443", ""},
	} {
		if got := Canonical(tt.in); got != tt.want {
			t.Errorf("Canonical(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = Canonical("shop.test:443") }); n != 0 {
		t.Errorf("Canonical of a lower-case name allocates %v times; want 0 (it runs per request)", n)
	}
}

func FuzzCanonical(f *testing.F) {
	for _, s := range []string{"shop.test", "SHOP.test.:443", "[::1]:8443", "::1", "", ":", "[", "a:b:c", "[::1]x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h := Canonical(s)
		if strings.ContainsAny(h, "ABCDEFGHIJKLMNOPQRSTUVWXYZ[]") {
			t.Errorf("Canonical(%q) = %q has upper case or brackets", s, h)
		}
		// Stable for every name it can produce as a key ("a.." keeps one dot
		// and matches no name, which is all that matters there).
		if Canonical(h) != h && !strings.Contains(h, ":") && !strings.HasSuffix(h, ".") {
			t.Errorf("Canonical not idempotent on %q: %q then %q", s, h, Canonical(h))
		}
		// Brackets give an IPv6 address or nothing.
		if strings.HasPrefix(s, "[") && h != "" && !strings.Contains(h, ":") {
			t.Errorf("Canonical(%q) = %q: brackets around a name that is not IPv6", s, h)
		}
		// A name with a port reads as the name without it.
		if h != "" && !strings.Contains(h, ":") && !strings.HasSuffix(h, ".") && Canonical(h+":443") != h {
			t.Errorf("Canonical(%q:443) = %q; want %q", h, Canonical(h+":443"), h)
		}
	})
}

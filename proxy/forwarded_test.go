package proxy

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

func TestClientIdentityHeaders(t *testing.T) {
	var seen http.Header
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r.Header.Clone() })
	spoof := map[string]string{
		"X-Real-IP": "6.6.6.6", "True-Client-IP": "6.6.6.6", "CF-Connecting-IP": "6.6.6.6", "X-Client-IP": "6.6.6.6",
		"X-Original-URL": "/admin", "X-Forwarded-Port": "1",
	}

	t.Run("untrusted client", func(t *testing.T) {
		front := newProxy(t, app, nil)
		get(t, front, "shop.test", spoof)
		for k := range spoof {
			if k == "X-Real-IP" {
				continue
			}
			if v := seen.Values(k); len(v) != 0 {
				t.Errorf("app got %s %q; want it dropped", k, v)
			}
		}
		if v := seen.Values("X-Real-IP"); len(v) != 1 || v[0] != "127.0.0.1" {
			t.Errorf("X-Real-IP = %q; want rampart's 127.0.0.1", v)
		}
	})

	t.Run("trusted proxy keeps them", func(t *testing.T) {
		front := newProxy(t, app, func(c *Config) { c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")} })
		get(t, front, "shop.test", spoof)
		for k, want := range spoof {
			if v := seen.Values(k); len(v) != 1 || v[0] != want {
				t.Errorf("app got %s %q; want the trusted proxy's %q", k, v, want)
			}
		}
	})

	t.Run("behind trusted proxies, X-Real-IP is the last untrusted address", func(t *testing.T) {
		front := newProxy(t, app, func(c *Config) {
			c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8")}
		})
		for _, tt := range []struct{ xff, want string }{
			{"203.0.113.9, 10.0.0.2", "203.0.113.9"},
			{"6.6.6.6, 203.0.113.9, 10.1.1.1", "203.0.113.9"}, // a spoofed start of the chain is not believed
			{"10.0.0.3", "10.0.0.3"},                          // nothing but proxies: the first of them
			{"junk, 10.0.0.2", "10.0.0.2"},                    // the walk stops at what is no address
			{"", "127.0.0.1"},
		} {
			hdr := map[string]string{}
			if tt.xff != "" {
				hdr["X-Forwarded-For"] = tt.xff
			}
			get(t, front, "shop.test", hdr)
			if v := seen.Values("X-Real-IP"); len(v) != 1 || v[0] != tt.want {
				t.Errorf("X-Forwarded-For %q: X-Real-IP = %q; want %q", tt.xff, v, tt.want)
			}
		}
	})

	t.Run("underscores allowed when asked", func(t *testing.T) {
		front := newProxy(t, app, func(c *Config) { c.AllowUnderscoreHeaders = true })
		get(t, front, "shop.test", map[string]string{"X_Custom": "1"})
		if v := seen.Values("X_custom"); len(v) != 1 {
			t.Errorf("app got X_Custom %q; want it passed on with AllowUnderscoreHeaders", v)
		}
	})
}

func TestRequestIDs(t *testing.T) {
	for _, tt := range []struct {
		id string
		ok bool
	}{
		{"abc-123", true},
		{"f47ac10b-58cc-4372-a567-0e02b2c3d479", true},
		{"123e4567-e89b-12d3-a456-426614174000", false}, // "456-426614174000": 15 digits with no letter between
		{"01ARZ3NDEKTSV4RRFFQ69G5FAV", true},
		{"req:42.7_x", true},
		{"123456789012", true},   // 12 digits
		{"1234567890123", false}, // 13: the shape of a card number
		{"4111-1111-1111-1111", false},
		{"4111.1111.1111.1111", false},
		{"", false},
		{strings.Repeat("a", 65), false},
		{"a=b", false},
		{"a b", false},
		{"a%20b", false},
	} {
		if got := validRequestID(tt.id); got != tt.ok {
			t.Errorf("validRequestID(%q) = %v; want %v", tt.id, got, tt.ok)
		}
	}
	seen := map[string]bool{}
	for range 1000 {
		id := newRequestID()
		if len(id) != 32 || strings.Trim(id, "abcdefghijklmnop") != "" || seen[id] {
			t.Fatalf("newRequestID() = %q; want 32 letters a-p, never repeated", id)
		}
		seen[id] = true
		if !validRequestID(id) {
			t.Fatalf("rampart's own id %q is not one it would accept", id)
		}
	}
}

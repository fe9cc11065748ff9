package main

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/rampart-proxy/rampart/certs"
)

func TestReadiness(t *testing.T) {
	start := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	valid := []certs.Info{{Names: []string{"shop.test"}, NotAfter: start.Add(24 * time.Hour)}}
	expired := []certs.Info{{Names: []string{"shop.test"}, NotAfter: start.Add(-time.Hour)}}
	tests := []struct {
		name  string
		up    bool
		inv   []certs.Info
		grace time.Duration
		at    time.Duration // after start
		ready bool
	}{
		{"serving with a certificate", true, valid, 0, time.Minute, true},
		{"stopping", false, valid, 0, time.Minute, false},
		{"no certificate, no grace", true, nil, 0, time.Second, false},
		{"no certificate, within the grace", true, nil, time.Minute, 30 * time.Second, true},
		{"no certificate, grace over", true, nil, time.Minute, 2 * time.Minute, false},
		{"only an expired certificate", true, expired, 0, time.Minute, false},
	}
	for _, tt := range tests {
		var up atomic.Bool
		up.Store(tt.up)
		c := adminConfig{ready: &up, names: newServedSince([]string{"shop.test"}, start), grace: tt.grace,
			inventory: func() []certs.Info { return tt.inv }}
		reason := c.notReady(start.Add(tt.at))
		if (reason == "") != tt.ready {
			t.Errorf("%s: notReady = %q; want ready=%v", tt.name, reason, tt.ready)
		}
	}
	// A name added by a reload has a grace of its own; one kept keeps its start.
	var up atomic.Bool
	up.Store(true)
	names := newServedSince([]string{"shop.test"}, start)
	c := adminConfig{ready: &up, names: names, grace: time.Minute, inventory: func() []certs.Info { return valid }}
	names.set([]string{"shop.test", "news.test"}, start.Add(time.Hour))
	if reason := c.notReady(start.Add(time.Hour + 30*time.Second)); reason != "" {
		t.Errorf("a name added 30 s ago, within its grace: %q; want ready", reason)
	}
	if reason := c.notReady(start.Add(time.Hour + 2*time.Minute)); reason != "not ready: no valid certificate for news.test" {
		t.Errorf("a name added 2 min ago without a certificate: %q", reason)
	}
	names.set([]string{"shop.test"}, start.Add(2*time.Hour))
	if reason := c.notReady(start.Add(2 * time.Hour)); reason != "" {
		t.Errorf("after the name was removed again: %q; want ready", reason)
	}
}

func TestHandshakeReason(t *testing.T) {
	for cause, want := range map[string]string{
		"EOF": "eof",
		"read tcp 127.0.0.1:443->127.0.0.1:5555: read: connection reset by peer": "eof",
		"tls: client offered only unsupported versions: [302 301]":               "protocol_version",
		"tls: no cipher suite supported by both client and server":               "no_shared_cipher",
		`certs: name is not served: "evil.test"`:                                 "unknown_name",
		"acme/autocert: missing server name":                                     "unknown_name",
		"remote error: tls: bad certificate":                                     "bad_certificate",
		"tls: first record does not look like a TLS handshake":                   "not_tls",
		"client sent an HTTP request to an HTTPS server":                         "not_tls",
		"something new": "other",
	} {
		if got := handshakeReason(cause); got != want {
			t.Errorf("handshakeReason(%q) = %q; want %q", cause, got, want)
		}
	}
}

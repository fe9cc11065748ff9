package main

import (
	"crypto/tls"
	"crypto/x509"
	"path/filepath"
	"testing"
	"time"
)

// TestSessionTicketLifetime: a TLS session resumes while its ticket is
// within --tls-ticket-lifetime, and not after, for TLS 1.2 and 1.3; with a
// lifetime of 0, never.
func TestSessionTicketLifetime(t *testing.T) {
	for _, tt := range []struct {
		name, lifetime, addr string
		resumeAtOnce         bool
	}{
		{"2s", "2s", "127.0.0.1:18730", true},
		{"off", "0", "127.0.0.1:18731", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dataDir := t.TempDir()
			start(t, "rampart", nil, rampartBin, "--tls", "internal", "--domain", "shop.test", "--upstream", "http://127.0.0.1:18732",
				"--https-addr", tt.addr, "--http-addr", "", "--admin-addr", "", "--data-dir", dataDir, "--tls-ticket-lifetime", tt.lifetime)
			waitListening(t, tt.addr)
			roots := poolFromFile(t, filepath.Join(dataDir, "internal-ca", "root.pem"))
			for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
				cache := tls.NewLRUClientSessionCache(4)
				if resumes(t, tt.addr, roots, cache, version) {
					t.Fatalf("%s: the first connection resumed", tls.VersionName(version))
				}
				time.Sleep(200 * time.Millisecond)
				if got := resumes(t, tt.addr, roots, cache, version); got != tt.resumeAtOnce {
					t.Errorf("%s: resumed %v at once; want %v", tls.VersionName(version), got, tt.resumeAtOnce)
				}
				if !tt.resumeAtOnce {
					continue
				}
				time.Sleep(3 * time.Second) // past the 2s lifetime of the last ticket
				if resumes(t, tt.addr, roots, cache, version) {
					t.Errorf("%s: resumed with a ticket 3s old; want the 2s lifetime kept", tls.VersionName(version))
				}
			}
		})
	}
}

// resumes connects and reports whether the session was resumed.
func resumes(t *testing.T, addr string, roots *x509.CertPool, cache tls.ClientSessionCache, version uint16) bool {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "shop.test", RootCAs: roots, ClientSessionCache: cache,
		MinVersion: version, MaxVersion: version, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// TLS 1.3 tickets come after the handshake: a request and its answer
	// make sure the client has read them.
	c.Write([]byte("GET / HTTP/1.1\r\nHost: shop.test\r\nConnection: close\r\n\r\n"))
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	c.Read(make([]byte, 512))
	return c.ConnectionState().DidResume
}

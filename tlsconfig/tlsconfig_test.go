package tlsconfig

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"slices"
	"testing"
	"time"
)

func selfSigned(t *testing.T) *tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "shop.test"},
		DNSNames:     []string{"shop.test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// handshake runs one in-memory handshake against a Server config and returns
// the client's view of it, or the client's error.
func handshake(t *testing.T, server *tls.Config, client *tls.Config) (tls.ConnectionState, error) {
	t.Helper()
	c, s := net.Pipe()
	defer c.Close()
	defer s.Close()
	go func() {
		srv := tls.Server(s, server)
		_ = srv.Handshake()
		srv.Close()
	}()
	cl := tls.Client(c, client)
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	err := cl.Handshake()
	return cl.ConnectionState(), err
}

func TestServerPolicy(t *testing.T) {
	cert := selfSigned(t)
	get := func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cert, nil }
	cfg, err := Server(ServerConfig{GetCertificate: get})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MinVersion != tls.VersionTLS12 {
		t.Errorf("MinVersion = %x; want TLS 1.2", cfg.MinVersion)
	}
	if cfg.KeyLogWriter != nil {
		t.Error("KeyLogWriter is set; want nil")
	}
	if cfg.CurvePreferences != nil {
		t.Errorf("CurvePreferences = %v; want nil (Go's defaults, with X25519MLKEM768)", cfg.CurvePreferences)
	}
	if !slices.Equal(cfg.NextProtos, []string{"h2", "http/1.1"}) {
		t.Errorf("NextProtos = %v; want [h2 http/1.1]", cfg.NextProtos)
	}
	for _, id := range cfg.CipherSuites {
		s := suiteByID(id)
		if s == nil || s.Insecure {
			t.Errorf("suite %#04x is not a secure suite", id)
		}
	}
	if len(cfg.CipherSuites) != 6 {
		t.Errorf("got %d suites; want 6", len(cfg.CipherSuites))
	}

	acmeCfg, err := Server(ServerConfig{GetCertificate: get, ACME: true})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(acmeCfg.NextProtos, "acme-tls/1") {
		t.Errorf("ACME config NextProtos = %v; want acme-tls/1 included", acmeCfg.NextProtos)
	}

	tests := []struct {
		name        string
		client      *tls.Config
		wantErr     bool
		wantVersion uint16
	}{
		{"default client gets TLS 1.3", &tls.Config{}, false, tls.VersionTLS13},
		{"TLS 1.2 AEAD accepted", &tls.Config{MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384}}, false, tls.VersionTLS12},
		{"TLS 1.1 refused", &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}, true, 0},
		{"TLS 1.2 CBC refused", &tls.Config{MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}}, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.client.InsecureSkipVerify = true // the test checks the protocol, not the chain
			st, err := handshake(t, cfg, tt.client)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("handshake succeeded with %s; want refusal", tls.VersionName(st.Version))
				}
				return
			}
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			if st.Version != tt.wantVersion {
				t.Errorf("got %s; want %s", tls.VersionName(st.Version), tls.VersionName(tt.wantVersion))
			}
		})
	}
}

func suiteByID(id uint16) *tls.CipherSuite {
	for _, s := range tls.CipherSuites() {
		if s.ID == id {
			return s
		}
	}
	for _, s := range tls.InsecureCipherSuites() {
		if s.ID == id {
			return s
		}
	}
	return nil
}

func TestServerRejectsBadConfig(t *testing.T) {
	get := func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return nil, nil }
	if _, err := Server(ServerConfig{GetCertificate: get, MinVersion: tls.VersionTLS11}); err == nil {
		t.Error("MinVersion TLS 1.1 accepted; want error")
	}
	if _, err := Server(ServerConfig{}); err == nil {
		t.Error("nil GetCertificate accepted; want error")
	}
}

func TestParseVersion(t *testing.T) {
	tests := []struct {
		in      string
		want    uint16
		wantErr bool
		broken  bool // the error is ErrBrokenVersion
	}{
		{"1.2", tls.VersionTLS12, false, false},
		{"1.3", tls.VersionTLS13, false, false},
		{"tls1.2", tls.VersionTLS12, false, false},
		{"TLS1.3", tls.VersionTLS13, false, false},
		{"TLSv1.3", tls.VersionTLS13, false, false},
		{"TLS 1.3", tls.VersionTLS13, false, false},
		{"1.1", 0, true, true},
		{"1.0", 0, true, true},
		{"TLSv1.1", 0, true, true},
		{"SSLv3", 0, true, true},
		{"1.4", 0, true, false},
		{"TLS1.3x", 0, true, false},
		{"", 0, true, false},
	}
	for _, tt := range tests {
		got, err := ParseVersion(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want || errors.Is(err, ErrBrokenVersion) != tt.broken {
			t.Errorf("ParseVersion(%q) = %x, %v; want %x, error %v (broken %v)", tt.in, got, err, tt.want, tt.wantErr, tt.broken)
		}
	}
}

func TestUpstreamVerifies(t *testing.T) {
	cfg := Upstream(nil)
	if cfg.InsecureSkipVerify {
		t.Error("upstream config skips verification")
	}
	cert := selfSigned(t)
	srv, _ := Server(ServerConfig{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cert, nil }})
	cfg.ServerName = "shop.test"
	if _, err := handshake(t, srv, cfg); err == nil {
		t.Error("upstream handshake with an untrusted certificate succeeded; want verification error")
	}
	pool := x509.NewCertPool()
	leaf, _ := x509.ParseCertificate(cert.Certificate[0])
	pool.AddCert(leaf)
	cfg = Upstream(pool)
	cfg.ServerName = "shop.test"
	if _, err := handshake(t, srv, cfg); err != nil {
		t.Errorf("upstream handshake with the trusted root: %v", err)
	}
}

// countingRand gives distinct keys: 1, 2, 3, ... in every byte.
type countingRand struct{ n byte }

func (c *countingRand) Read(p []byte) (int, error) {
	c.n++
	for i := range p {
		p[i] = c.n
	}
	return len(p), nil
}

func TestTicketKeyRing(t *testing.T) {
	r, err := NewTicketKeyRing(4*time.Hour, &countingRand{})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	first := func(keys [][32]byte) byte { return keys[0][0] }
	for _, step := range []struct {
		at     time.Duration
		newest byte // which key encrypts
		kept   int
	}{
		{0, 1, 1},
		{59 * time.Minute, 1, 1},
		{time.Hour, 2, 2}, // rotated every hour: four a lifetime
		{2 * time.Hour, 3, 3},
		{3 * time.Hour, 4, 4},
		{4 * time.Hour, 5, 4},  // key 1 is a lifetime old: forgotten
		{10 * time.Hour, 6, 1}, // a long gap: only the new one
	} {
		keys, err := r.Keys(t0.Add(step.at))
		if err != nil {
			t.Fatal(err)
		}
		if first(keys) != step.newest || len(keys) != step.kept {
			t.Errorf("at +%v: newest key %d, %d kept; want %d, %d", step.at, first(keys), len(keys), step.newest, step.kept)
		}
		if next := r.NextChange(); !next.After(t0.Add(step.at)) || next.After(t0.Add(step.at+time.Hour)) {
			t.Errorf("at +%v: next change at +%v; want within the hour", step.at, next.Sub(t0))
		}
	}
	for _, d := range []time.Duration{0, time.Nanosecond, 999 * time.Millisecond} {
		if _, err := NewTicketKeyRing(d, &countingRand{}); err == nil {
			t.Errorf("a lifetime of %v was accepted (it would rotate keys without pause)", d)
		}
	}
}

// TestTicketsLiveNoLongerThanTheirKeys: a client resumes with a ticket
// while its key is kept, and not once the ring has forgotten it; for TLS
// 1.2 and 1.3.
func TestTicketsLiveNoLongerThanTheirKeys(t *testing.T) {
	cert := selfSigned(t)
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(version), func(t *testing.T) {
			// Times within the test certificate's hour of validity, past
			// which a client will not resume whatever the keys.
			ring, _ := NewTicketKeyRing(20*time.Minute, rand.Reader)
			srv, err := Server(ServerConfig{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cert, nil }})
			if err != nil {
				t.Fatal(err)
			}
			t0 := time.Now()
			now := t0
			srv.Time = func() time.Time { return now }
			rekey := func() {
				keys, err := ring.Keys(now)
				if err != nil {
					t.Fatal(err)
				}
				srv.SetSessionTicketKeys(keys)
			}
			rekey()
			cache := tls.NewLRUClientSessionCache(4)
			// Real TCP on loopback (a fixed port: this package owns 19450-19459):
			// a synchronous net.Pipe deadlocks on TLS 1.3's tickets.
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", 19450+int(version&0xf)))
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go func() {
				for {
					s, err := ln.Accept()
					if err != nil {
						return
					}
					go func() {
						defer s.Close()
						_ = s.SetDeadline(time.Now().Add(5 * time.Second))
						ts := tls.Server(s, srv)
						if ts.Handshake() == nil {
							_, _ = ts.Write([]byte("x")) // TLS 1.3 tickets come after the handshake
							_, _ = ts.Read(make([]byte, 1))
						}
					}()
				}
			}()
			resumed := func() bool {
				tc, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true, ClientSessionCache: cache,
					MaxVersion: version, Time: func() time.Time { return now }})
				if err != nil {
					t.Fatal(err)
				}
				defer tc.Close()
				if _, err := tc.Read(make([]byte, 1)); err != nil {
					t.Fatal(err)
				}
				return tc.ConnectionState().DidResume
			}
			if resumed() {
				t.Fatal("the first connection resumed")
			}
			now = t0.Add(15 * time.Minute) // three rotations later, within the lifetime
			rekey()
			if !resumed() {
				t.Error("no resumption 15 minutes on, within the 20-minute lifetime")
			}
			now = now.Add(21 * time.Minute) // the key that made the last ticket is gone
			rekey()
			if resumed() {
				t.Error("resumed with a ticket whose key is past its lifetime")
			}
		})
	}
}

package audit

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"io"
	"math/big"
	"net"
	"slices"
	"testing"
	"time"
)

// FuzzServerHello: whatever a server sends back, reading it never panics.
func FuzzServerHello(f *testing.F) {
	f.Add([]byte{22, 3, 3, 0, 42, 2, 0, 0, 38, 3, 3})
	f.Add([]byte{21, 3, 3, 0, 2, 2, 70})
	f.Add(serverHelloRecord(false, 0x1301, 0x002b, []byte{3, 4}, 0x0033, append([]byte{0, 29, 0, 32}, make([]byte, 32)...)))
	f.Add(serverHelloRecord(true, 0x1302, 0x002b, []byte{3, 4}, 0x0033, []byte{0, 23}))
	f.Add(serverHelloRecord(false, 0xc02b, 0xff01, []byte{0}))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = readServerHello(bytes.NewReader(b))
	})
}

// serverHelloRecord frames a ServerHello choosing suite, with extensions
// given as type, data pairs; retry makes it a HelloRetryRequest.
func serverHelloRecord(retry bool, suite uint16, exts ...any) []byte {
	body := []byte{3, 3}
	random := make([]byte, 32)
	if retry {
		random = hrrRandom[:]
	}
	body = append(body, random...)
	body = append(body, 0) // empty session id
	body = binary.BigEndian.AppendUint16(body, suite)
	body = append(body, 0)
	var ext []byte
	for i := 0; i+1 < len(exts); i += 2 {
		ext = appendExt(ext, uint16(exts[i].(int)), exts[i+1].([]byte))
	}
	body = binary.BigEndian.AppendUint16(body, uint16(len(ext)))
	body = append(body, ext...)
	rec := handshakeRecord(TLS12, body)
	rec[5] = 2 // ServerHello, not ClientHello
	return rec
}

func TestClientHelloShape(t *testing.T) {
	h := clientHello("shop.test", TLS12, []uint16{0xc02b}, false)
	if h[0] != 22 || len(h) != 5+(int(h[3])<<8|int(h[4])) {
		t.Fatalf("record header %x does not frame the hello (%d bytes)", h[:5], len(h))
	}
	if !bytes.Contains(h, []byte("shop.test")) || !bytes.Contains(h, []byte{0xc0, 0x2b, 0x00, 0xff}) {
		t.Error("SNI or the offered suite (with the renegotiation SCSV) missing")
	}
	if ssl3 := clientHello("shop.test", SSL30, []uint16{0x000a}, false); bytes.Contains(ssl3, []byte("shop.test")) {
		t.Error("an SSL 3 hello carries extensions")
	}
}

// parsedHello is a ClientHello as a test reads it back.
type parsedHello struct {
	suites       []uint16
	compressions []byte
	ext          map[uint16][]byte
}

// parseClientHello reads a hand-built ClientHello back; it reports through
// t.Errorf, so a server goroutine may call it too.
func parseClientHello(t *testing.T, h []byte) (parsedHello, bool) {
	t.Helper()
	var p parsedHello
	b := h
	take := func(n int) []byte {
		if n > len(b) {
			t.Errorf("ClientHello cut short: want %d more bytes, have %d", n, len(b))
			b = nil
			return make([]byte, n)
		}
		out := b[:n]
		b = b[n:]
		return out
	}
	u8 := func() int { return int(take(1)[0]) }
	u16 := func() int { return int(binary.BigEndian.Uint16(take(2))) }
	if len(h) < 9 || h[0] != 22 || len(h) != 5+int(binary.BigEndian.Uint16(h[3:])) || h[5] != 1 ||
		int(h[6])<<16|int(h[7])<<8|int(h[8]) != len(h)-9 {
		t.Errorf("not one record framing one ClientHello: % x", h[:min(len(h), 9)])
		return p, false
	}
	b = h[9:]
	take(2 + 32)
	take(u8())
	suites := take(u16())
	for i := 0; i+1 < len(suites); i += 2 {
		p.suites = append(p.suites, binary.BigEndian.Uint16(suites[i:]))
	}
	p.compressions = take(u8())
	if n := u16(); n != len(b) {
		t.Errorf("extensions length %d; %d bytes follow", n, len(b))
		return p, false
	}
	p.ext = map[uint16][]byte{}
	for len(b) >= 4 {
		typ := uint16(u16())
		if _, dup := p.ext[typ]; dup {
			t.Errorf("extension %#04x twice", typ)
		}
		p.ext[typ] = take(u16())
	}
	return p, len(b) == 0 && len(p.suites) > 0
}

func TestClientHello13Shape(t *testing.T) {
	share := bytes.Repeat([]byte{7}, 32)
	p, ok := parseClientHello(t, clientHello13("shop.test", 0x1303, groupX25519, share))
	if !ok {
		t.FailNow()
	}
	if !slices.Equal(p.suites, []uint16{0x1303}) {
		t.Errorf("suites %x; want exactly 1303", p.suites)
	}
	if !bytes.Equal(p.compressions, []byte{0}) {
		t.Errorf("compression methods %x; want null alone", p.compressions)
	}
	if got := p.ext[0x002b]; !bytes.Equal(got, []byte{2, 3, 4}) {
		t.Errorf("supported_versions %x; want TLS 1.3 alone (02 0304)", got)
	}
	wantShare := append([]byte{0, 36, 0, 29, 0, 32}, share...)
	if got := p.ext[0x0033]; !bytes.Equal(got, wantShare) {
		t.Errorf("key_share %x; want %x", got, wantShare)
	}
	if got := p.ext[0x000a]; !bytes.Contains(got, []byte{0, 29}) {
		t.Errorf("supported_groups %x lacks X25519", got)
	}
	if !bytes.Contains(p.ext[0x0000], []byte("shop.test")) {
		t.Errorf("server_name %q; want shop.test", p.ext[0x0000])
	}
	if sa := p.ext[0x000d]; !bytes.Contains(sa, []byte{4, 3}) || !bytes.Contains(sa, []byte{8, 4}) {
		t.Errorf("signature_algorithms %x lacks ECDSA P-256 or RSA-PSS", sa)
	}
	if p, _ := parseClientHello(t, clientHello13("127.0.0.1", 0x1301, groupX25519, share)); p.ext[0x0000] != nil {
		t.Error("an address went into server_name")
	}
}

func TestParseServerHello13(t *testing.T) {
	x25519Share := append([]byte{0, 29, 0, 32}, make([]byte, 32)...)
	tests := []struct {
		name       string
		rec        []byte
		version    uint16
		suite      uint16
		group      uint16
		retry, bad bool
	}{
		{"TLS 1.3 ServerHello", serverHelloRecord(false, 0x1302, 0x002b, []byte{3, 4}, 0x0033, x25519Share), TLS13, 0x1302, groupX25519, false, false},
		{"HelloRetryRequest", serverHelloRecord(true, 0x1301, 0x002b, []byte{3, 4}, 0x0033, []byte{0, 23}), TLS13, 0x1301, groupP256, true, false},
		{"TLS 1.2 ServerHello", serverHelloRecord(false, 0xc02b, 0xff01, []byte{0}), TLS12, 0xc02b, 0, false, false},
		{"key_share cut short", serverHelloRecord(false, 0x1301, 0x002b, []byte{3, 4}, 0x0033, []byte{0}), TLS13, 0x1301, 0, false, false},
		{"extension longer than the message", func() []byte {
			r := serverHelloRecord(false, 0x1301, 0x002b, []byte{3, 4})
			r[len(r)-3] = 9 // supported_versions claims 9 bytes
			return r
		}(), 0, 0, 0, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sh, err := readServerHello(bytes.NewReader(tt.rec))
			if tt.bad {
				if err == nil {
					t.Fatalf("got %+v; want an error", sh)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if sh.version != tt.version || sh.suite != tt.suite || sh.group != tt.group || sh.retry != tt.retry {
				t.Errorf("got version %x suite %x group %x retry %v; want %x %x %x %v",
					sh.version, sh.suite, sh.group, sh.retry, tt.version, tt.suite, tt.group, tt.retry)
			}
		})
	}
}

// testCert is a self-signed ECDSA P-256 certificate for shop.test.
func testCert(t *testing.T) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "shop.test"},
		DNSNames: []string{"shop.test"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// goServer returns a dial function whose every connection is served by Go's
// TLS server with cfg, over an in-memory pipe.
func goServer(cfg *tls.Config) func() (net.Conn, error) {
	return func() (net.Conn, error) {
		client, server := net.Pipe()
		go func() {
			defer server.Close()
			_ = server.SetDeadline(time.Now().Add(5 * time.Second))
			_ = tls.Server(server, cfg).Handshake() // ends in an error when the probe hangs up
		}()
		return client, nil
	}
}

func TestTLS13SuitesAgainstGo(t *testing.T) {
	cert := testCert(t)
	all := []string{"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"}
	tests := []struct {
		name string
		cfg  *tls.Config
		want []string
	}{
		{"Go's defaults (rampart's)", &tls.Config{Certificates: []tls.Certificate{cert}}, all},
		{"P-256 only: a HelloRetryRequest first", &tls.Config{Certificates: []tls.Certificate{cert}, CurvePreferences: []tls.CurveID{tls.CurveP256}}, all},
		{"TLS 1.2 at most", &tls.Config{Certificates: []tls.Certificate{cert}, MaxVersion: tls.VersionTLS12}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := suiteNames(tls13SuitesAccepted(goServer(tt.cfg), "shop.test"))
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v; want %v", got, tt.want)
			}
		})
	}
}

// A HelloRetryRequest answers the hello that drew it with no acceptance.
func TestHelloRetryRequestIsNoAcceptance(t *testing.T) {
	cfg := &tls.Config{Certificates: []tls.Certificate{testCert(t)}, CurvePreferences: []tls.CurveID{tls.CurveP256}}
	sh, err := sendHello13(goServer(cfg), "shop.test", 0x1301, groupX25519)
	if err != nil {
		t.Fatal(err)
	}
	if !sh.retry || sh.group != groupP256 {
		t.Errorf("retry %v group %#04x; want a HelloRetryRequest for P-256 (0x0017)", sh.retry, sh.group)
	}
	sh, err = sendHello13(goServer(cfg), "shop.test", 0x1301, groupP256)
	if err != nil || sh.retry || sh.version != TLS13 || sh.suite != 0x1301 || sh.group != groupP256 {
		t.Errorf("with a P-256 share: %+v, %v; want a TLS 1.3 ServerHello for 1301 over P-256", sh, err)
	}
}

// cannedServer answers each ClientHello with what answer returns for the
// suite and key-share group it offered, and counts the connections.
func cannedServer(t *testing.T, answer func(suite, group uint16) []byte) (dial func() (net.Conn, error), dials *int) {
	dials = new(int)
	return func() (net.Conn, error) {
		*dials++
		client, server := net.Pipe()
		go func() {
			defer server.Close()
			_ = server.SetDeadline(time.Now().Add(5 * time.Second))
			hdr := make([]byte, 5)
			if _, err := io.ReadFull(server, hdr); err != nil {
				return
			}
			rest := make([]byte, binary.BigEndian.Uint16(hdr[3:]))
			if _, err := io.ReadFull(server, rest); err != nil {
				return
			}
			p, ok := parseClientHello(t, append(hdr, rest...))
			if !ok {
				return
			}
			var group uint16
			if ks := p.ext[0x0033]; len(ks) >= 4 {
				group = binary.BigEndian.Uint16(ks[2:])
			}
			_, _ = server.Write(answer(p.suites[0], group))
		}()
		return client, nil
	}, dials
}

func TestTLS13SuitesCanned(t *testing.T) {
	share := func(group uint16) []byte { return append(binary.BigEndian.AppendUint16(nil, group), 0, 1, 9) }
	hello := func(suite, group uint16) []byte {
		return serverHelloRecord(false, suite, 0x002b, []byte{3, 4}, 0x0033, share(group))
	}
	alert := []byte{21, 3, 3, 0, 2, 2, 40}
	tests := []struct {
		name     string
		answer   func(suite, group uint16) []byte
		want     []string
		maxDials int
	}{
		{"ChaCha20 refused with an alert", func(suite, group uint16) []byte {
			if suite == 0x1303 {
				return alert
			}
			return hello(suite, group)
		}, []string{"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384"}, 3},
		{"always a HelloRetryRequest for the group offered", func(suite, group uint16) []byte {
			return serverHelloRecord(true, suite, 0x002b, []byte{3, 4}, 0x0033, binary.BigEndian.AppendUint16(nil, group))
		}, nil, 3},
		{"HelloRetryRequest for P-384, then a ServerHello", func(suite, group uint16) []byte {
			if group != groupP384 {
				return serverHelloRecord(true, suite, 0x002b, []byte{3, 4}, 0x0033, []byte{0, 0x18})
			}
			return hello(suite, group)
		}, []string{"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"}, 6},
		{"HelloRetryRequest for a group the probe cannot make", func(suite, group uint16) []byte {
			return serverHelloRecord(true, suite, 0x002b, []byte{3, 4}, 0x0033, []byte{0x11, 0xec})
		}, nil, 3},
		{"another suite chosen", func(suite, group uint16) []byte { return hello(0x1301, group) }, []string{"TLS_AES_128_GCM_SHA256"}, 3},
		{"TLS 1.2 chosen", func(suite, group uint16) []byte {
			return serverHelloRecord(false, suite, 0xff01, []byte{0})
		}, nil, 3},
		{"key share for another group", func(suite, group uint16) []byte { return hello(suite, groupP256) }, nil, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dial, dials := cannedServer(t, tt.answer)
			got := suiteNames(tls13SuitesAccepted(dial, "shop.test"))
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v; want %v", got, tt.want)
			}
			if *dials > tt.maxDials {
				t.Errorf("%d connections; want at most %d", *dials, tt.maxDials)
			}
		})
	}
}

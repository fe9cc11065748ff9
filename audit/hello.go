package audit

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// serverHello is what a server answered to a hand-built ClientHello.
type serverHello struct {
	version     uint16
	suite       uint16
	compression uint8
	renegotiate bool     // the renegotiation_info extension came back (RFC 5746)
	dhBits      int      // size of the finite-field DH prime, for DHE suites (ServerKeyExchange)
	chain       [][]byte // the Certificate message's certificates, up to TLS 1.2
	// retry marks a HelloRetryRequest (RFC 8446, Section 4.1.3): a
	// ServerHello whose random is hrrRandom, asking for a key share for
	// another group. It is no acceptance of the hello that drew it.
	retry bool
	// group is the key_share extension's group: the server's share in a
	// TLS 1.3 ServerHello, the group asked for in a HelloRetryRequest.
	group uint16
}

// hrrRandom is SHA-256("HelloRetryRequest"), the random of every
// HelloRetryRequest (RFC 8446, Section 4.1.3).
var hrrRandom = [32]byte{
	0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
	0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
}

// Named groups, as on the wire (RFC 8446, Section 4.2.7).
const (
	groupP256   = 0x0017
	groupP384   = 0x0018
	groupP521   = 0x0019
	groupX25519 = 0x001d
)

// errRefused is an alert, or a closed connection, instead of a ServerHello.
var errRefused = errors.New("audit: refused")

// sendHello offers version (SSL 3 to TLS 1.2) and suites, and reads the answer.
// It builds the ClientHello itself because Go's client cannot offer legacy
// versions or most old suites.
func sendHello(dial func() (net.Conn, error), serverName string, version uint16, suites []uint16, offerCompression bool) (*serverHello, error) {
	return exchangeHello(dial, clientHello(serverName, version, suites, offerCompression))
}

// sendHello13 offers TLS 1.3 alone, suite alone and a key share for group,
// and reads the answer. It builds the ClientHello itself because Go's client
// always offers every TLS 1.3 suite (Config.CipherSuites does not apply to
// TLS 1.3).
func sendHello13(dial func() (net.Conn, error), serverName string, suite, group uint16) (*serverHello, error) {
	curve := curveFor(group)
	if curve == nil {
		return nil, fmt.Errorf("audit: no key share for group %#04x", group)
	}
	key, err := curve.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	return exchangeHello(dial, clientHello13(serverName, suite, group, key.PublicKey().Bytes()))
}

// curveFor is the curve of a group sendHello13 can make a key share for;
// nil for any other.
func curveFor(group uint16) ecdh.Curve {
	switch group {
	case groupX25519:
		return ecdh.X25519()
	case groupP256:
		return ecdh.P256()
	case groupP384:
		return ecdh.P384()
	case groupP521:
		return ecdh.P521()
	}
	return nil
}

// exchangeHello sends a ClientHello on a new connection and reads the answer.
func exchangeHello(dial func() (net.Conn, error), hello []byte) (*serverHello, error) {
	conn, err := dial()
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write(hello); err != nil {
		return nil, err
	}
	return readServerHello(conn)
}

func clientHello(serverName string, version uint16, suites []uint16, offerCompression bool) []byte {
	body := helloPrefix(version)
	cs := make([]byte, 0, 2*len(suites)+2)
	for _, s := range suites {
		cs = binary.BigEndian.AppendUint16(cs, s)
	}
	cs = binary.BigEndian.AppendUint16(cs, 0x00ff) // TLS_EMPTY_RENEGOTIATION_INFO_SCSV
	body = binary.BigEndian.AppendUint16(body, uint16(len(cs)))
	body = append(body, cs...)
	if offerCompression {
		body = append(body, 2, 1, 0) // DEFLATE, null
	} else {
		body = append(body, 1, 0)
	}
	if version > SSL30 {
		ext := sniExt(nil, serverName)
		ext = appendExt(ext, 0x000a, []byte{0, 8, 0, 29, 0, 23, 0, 24, 0, 25}) // x25519, P-256, P-384, P-521
		ext = appendExt(ext, 0x000b, []byte{1, 0})                             // uncompressed points
		if version >= TLS12 {
			ext = sigAlgsExt(ext)
		}
		body = binary.BigEndian.AppendUint16(body, uint16(len(ext)))
		body = append(body, ext...)
	}
	recVersion := uint16(TLS10)
	if version == SSL30 {
		recVersion = SSL30
	}
	return handshakeRecord(recVersion, body)
}

// clientHello13 is a TLS 1.3 ClientHello (RFC 8446, Section 4.1.2) that
// offers exactly one suite, TLS 1.3 alone in supported_versions, and one key
// share. Nothing in it lets a server fall back to TLS 1.2: an answer is a
// TLS 1.3 ServerHello, a HelloRetryRequest or an alert.
func clientHello13(serverName string, suite, group uint16, share []byte) []byte {
	body := helloPrefix(TLS12) // legacy_version
	body = binary.BigEndian.AppendUint16(body, 2)
	body = binary.BigEndian.AppendUint16(body, suite)
	body = append(body, 1, 0) // null compression, the only one TLS 1.3 allows
	ext := sniExt(nil, serverName)
	ext = appendExt(ext, 0x000a, []byte{0, 8, 0, 29, 0, 23, 0, 24, 0, 25}) // x25519, P-256, P-384, P-521
	ext = sigAlgsExt(ext)
	ext = appendExt(ext, 0x002b, []byte{2, 0x03, 0x04}) // supported_versions: TLS 1.3 only
	ks := binary.BigEndian.AppendUint16(nil, uint16(4+len(share)))
	ks = binary.BigEndian.AppendUint16(ks, group)
	ks = binary.BigEndian.AppendUint16(ks, uint16(len(share)))
	ks = append(ks, share...)
	ext = appendExt(ext, 0x0033, ks) // key_share
	body = binary.BigEndian.AppendUint16(body, uint16(len(ext)))
	body = append(body, ext...)
	return handshakeRecord(TLS10, body)
}

// helloPrefix is a ClientHello's start: the version, a fresh random and an
// empty session id.
func helloPrefix(version uint16) []byte {
	body := binary.BigEndian.AppendUint16(nil, version)
	random := make([]byte, 32)
	_, _ = rand.Read(random)
	body = append(body, random...)
	return append(body, 0) // no session id
}

// sniExt appends server_name, unless serverName is empty or an address (RFC 6066, Section 3).
func sniExt(ext []byte, serverName string) []byte {
	if serverName == "" || net.ParseIP(serverName) != nil {
		return ext
	}
	name := []byte(serverName)
	sni := binary.BigEndian.AppendUint16(nil, uint16(len(name)+3))
	sni = append(sni, 0)
	sni = binary.BigEndian.AppendUint16(sni, uint16(len(name)))
	sni = append(sni, name...)
	return appendExt(ext, 0x0000, sni)
}

// sigAlgsExt appends signature_algorithms: ECDSA, RSA-PSS (which TLS 1.3
// needs for an RSA key), Ed25519, then the PKCS #1 and SHA-1 ones TLS 1.2
// servers may still use.
func sigAlgsExt(ext []byte) []byte {
	algs := []uint16{0x0403, 0x0503, 0x0603, 0x0804, 0x0805, 0x0806, 0x0807, 0x0401, 0x0501, 0x0201, 0x0203}
	sa := binary.BigEndian.AppendUint16(nil, uint16(2*len(algs)))
	for _, a := range algs {
		sa = binary.BigEndian.AppendUint16(sa, a)
	}
	return appendExt(ext, 0x000d, sa)
}

// handshakeRecord frames a ClientHello body as a handshake message in one record.
func handshakeRecord(recVersion uint16, body []byte) []byte {
	hs := append([]byte{1, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}, body...)
	rec := []byte{22}
	rec = binary.BigEndian.AppendUint16(rec, recVersion)
	rec = binary.BigEndian.AppendUint16(rec, uint16(len(hs)))
	return append(rec, hs...)
}

func appendExt(b []byte, typ uint16, data []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, typ)
	b = binary.BigEndian.AppendUint16(b, uint16(len(data)))
	return append(b, data...)
}

// readServerHello reads records until the ServerHello is complete.
func readServerHello(r io.Reader) (*serverHello, error) {
	var hs []byte
	msgLen := func() int { return int(hs[1])<<16 | int(hs[2])<<8 | int(hs[3]) }
	for len(hs) < 4 || len(hs) < 4+msgLen() {
		var hdr [5]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return nil, errRefused
		}
		n := int(binary.BigEndian.Uint16(hdr[3:]))
		if n > 1<<14+2048 {
			return nil, fmt.Errorf("audit: record of %d bytes", n)
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(r, payload); err != nil {
			return nil, errRefused
		}
		switch hdr[0] {
		case 21: // alert
			return nil, errRefused
		case 22:
			hs = append(hs, payload...)
		default:
			return nil, fmt.Errorf("audit: unexpected record type %d", hdr[0])
		}
	}
	if hs[0] != 2 {
		return nil, fmt.Errorf("audit: handshake message %d, not ServerHello", hs[0])
	}
	sh, err := parseServerHello(hs[4 : 4+msgLen()])
	if err != nil || sh.version > TLS12 {
		return sh, err
	}
	// Up to TLS 1.2 the rest of the server's flight is in the clear: read on
	// for the Certificate (so a server Go's client cannot talk to is still
	// checked) and, for a DHE suite, the ServerKeyExchange, whose first field
	// is the DH prime: its size is the strength of the key exchange.
	rest := hs[4+msgLen():]
	for tries := 0; tries < 32; tries++ {
		for len(rest) >= 4 {
			n := int(rest[1])<<16 | int(rest[2])<<8 | int(rest[3])
			if len(rest) < 4+n {
				break
			}
			msg := rest[4 : 4+n]
			switch rest[0] {
			case 11: // Certificate
				sh.chain = parseCertificateMsg(msg)
			case 12: // ServerKeyExchange
				if isDHE(sh.suite) && len(msg) >= 2 {
					sh.dhBits = primeBits(msg[2:min(2+(int(msg[0])<<8|int(msg[1])), len(msg))])
				}
			case 14: // ServerHelloDone: the flight is complete
				return sh, nil
			}
			rest = rest[4+n:]
		}
		more, err := readRecord(r)
		if err != nil {
			return sh, nil
		}
		rest = append(rest, more...)
	}
	return sh, nil
}

// parseCertificateMsg splits a Certificate message into DER certificates.
func parseCertificateMsg(m []byte) [][]byte {
	if len(m) < 3 {
		return nil
	}
	m = m[3:]
	var out [][]byte
	for len(m) >= 3 {
		n := int(m[0])<<16 | int(m[1])<<8 | int(m[2])
		if len(m) < 3+n {
			break
		}
		out = append(out, m[3:3+n])
		m = m[3+n:]
	}
	return out
}

// primeBits is the bit length of a big-endian number.
func primeBits(p []byte) int {
	for len(p) > 0 && p[0] == 0 {
		p = p[1:]
	}
	if len(p) == 0 {
		return 0
	}
	bits := len(p) * 8
	for b := p[0]; b&0x80 == 0; b <<= 1 {
		bits--
	}
	return bits
}

// readRecord returns the next handshake record's payload.
func readRecord(r io.Reader) ([]byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint16(hdr[3:]))
	if hdr[0] != 22 || n > 1<<14+2048 {
		return nil, errRefused
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return nil, err
	}
	return payload, nil
}

// isDHE reports whether a known suite uses finite-field Diffie-Hellman.
func isDHE(id uint16) bool {
	return strings.HasPrefix(knownSuites[id].Name, "TLS_DHE_")
}

func parseServerHello(b []byte) (*serverHello, error) {
	bad := errors.New("audit: malformed ServerHello")
	if len(b) < 2+32+1 {
		return nil, bad
	}
	sh := &serverHello{version: binary.BigEndian.Uint16(b), retry: [32]byte(b[2:34]) == hrrRandom}
	b = b[34:]
	sid := int(b[0])
	if len(b) < 1+sid+3 {
		return nil, bad
	}
	b = b[1+sid:]
	sh.suite = binary.BigEndian.Uint16(b)
	sh.compression = b[2]
	b = b[3:]
	if len(b) >= 2 {
		n := int(binary.BigEndian.Uint16(b))
		ext := b[2:]
		if len(ext) < n {
			return nil, bad
		}
		ext = ext[:n]
		for len(ext) >= 4 {
			typ, l := binary.BigEndian.Uint16(ext), int(binary.BigEndian.Uint16(ext[2:]))
			if len(ext) < 4+l {
				return nil, bad
			}
			switch typ {
			case 0xff01:
				sh.renegotiate = true
			case 0x002b: // supported_versions: the server chose TLS 1.3
				if l == 2 {
					sh.version = binary.BigEndian.Uint16(ext[4:])
				}
			case 0x0033: // key_share: the server's share (group first), or a HelloRetryRequest's group alone
				if l >= 2 {
					sh.group = binary.BigEndian.Uint16(ext[4:])
				}
			}
			ext = ext[4+l:]
		}
	}
	return sh, nil
}

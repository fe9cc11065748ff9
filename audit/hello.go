package audit

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// serverHello is what a server answered to a hand-built ClientHello.
type serverHello struct {
	version     uint16
	suite       uint16
	compression uint8
	renegotiate bool // the renegotiation_info extension came back (RFC 5746)
}

// errRefused is an alert, or a closed connection, instead of a ServerHello.
var errRefused = errors.New("audit: refused")

// sendHello offers version (SSL 3 to TLS 1.2) and suites, and reads the answer.
// It builds the ClientHello itself because Go's client cannot offer legacy
// versions or most old suites.
func sendHello(dial func() (net.Conn, error), serverName string, version uint16, suites []uint16, offerCompression bool) (*serverHello, error) {
	conn, err := dial()
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write(clientHello(serverName, version, suites, offerCompression)); err != nil {
		return nil, err
	}
	return readServerHello(conn)
}

func clientHello(serverName string, version uint16, suites []uint16, offerCompression bool) []byte {
	var body []byte
	body = binary.BigEndian.AppendUint16(body, version)
	random := make([]byte, 32)
	_, _ = rand.Read(random)
	body = append(body, random...)
	body = append(body, 0) // no session id
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
		var ext []byte
		if serverName != "" && net.ParseIP(serverName) == nil {
			name := []byte(serverName)
			sni := binary.BigEndian.AppendUint16(nil, uint16(len(name)+3))
			sni = append(sni, 0)
			sni = binary.BigEndian.AppendUint16(sni, uint16(len(name)))
			sni = append(sni, name...)
			ext = appendExt(ext, 0x0000, sni)
		}
		ext = appendExt(ext, 0x000a, []byte{0, 8, 0, 29, 0, 23, 0, 24, 0, 25}) // x25519, P-256, P-384, P-521
		ext = appendExt(ext, 0x000b, []byte{1, 0})                             // uncompressed points
		if version >= TLS12 {
			algs := []uint16{0x0403, 0x0503, 0x0804, 0x0805, 0x0401, 0x0501, 0x0201, 0x0203}
			sa := binary.BigEndian.AppendUint16(nil, uint16(2*len(algs)))
			for _, a := range algs {
				sa = binary.BigEndian.AppendUint16(sa, a)
			}
			ext = appendExt(ext, 0x000d, sa)
		}
		body = binary.BigEndian.AppendUint16(body, uint16(len(ext)))
		body = append(body, ext...)
	}
	hs := append([]byte{1, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}, body...)
	recVersion := uint16(TLS10)
	if version == SSL30 {
		recVersion = SSL30
	}
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
	return parseServerHello(hs[4 : 4+msgLen()])
}

func parseServerHello(b []byte) (*serverHello, error) {
	bad := errors.New("audit: malformed ServerHello")
	if len(b) < 2+32+1 {
		return nil, bad
	}
	sh := &serverHello{version: binary.BigEndian.Uint16(b)}
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
			}
			ext = ext[4+l:]
		}
	}
	return sh, nil
}

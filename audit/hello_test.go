package audit

import (
	"bytes"
	"testing"
)

// FuzzServerHello: whatever a server sends back, reading it never panics.
func FuzzServerHello(f *testing.F) {
	f.Add([]byte{22, 3, 3, 0, 42, 2, 0, 0, 38, 3, 3})
	f.Add([]byte{21, 3, 3, 0, 2, 2, 70})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = readServerHello(bytes.NewReader(b))
	})
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

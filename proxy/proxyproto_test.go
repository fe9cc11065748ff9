package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// ppServer serves, behind a PROXY protocol listener that trusts
// 127.0.0.1, a handler that answers with the client address it sees.
func ppServer(t *testing.T) (addr string, refused func() []string) {
	t.Helper()
	raw := listenFixed(t)
	var mu sync.Mutex
	var reasons []string
	ln := ProxyProtocolListener(raw, ProxyProtocol{From: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, Timeout: 500 * time.Millisecond,
		OnRefuse: func(_ net.Addr, why string) { mu.Lock(); reasons = append(reasons, why); mu.Unlock() }})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.RemoteAddr) })}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return raw.Addr().String(), func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), reasons...) }
}

// exchange connects from local (127.0.0.1 is the balancer), sends prefix
// and a request, and returns the answer's body, or an error.
func exchange(addr, local string, prefix []byte) (string, error) {
	d := net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Write(append(prefix, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"...)); err != nil {
		return "", err
	}
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return string(b), err
}

func v2Header(cmd, fam byte, addrs []byte) []byte {
	h := append([]byte(nil), v2Signature...)
	h = append(h, 0x20|cmd, fam, byte(len(addrs)>>8), byte(len(addrs)))
	return append(h, addrs...)
}

// TestProxyProtocol: the balancer's v1 and v2 headers give the client's
// address; its health checks (LOCAL, UNKNOWN) keep its own; a header from
// anyone else, or none from the balancer, closes the connection.
func TestProxyProtocol(t *testing.T) {
	addr, refused := ppServer(t)
	v4 := []byte{203, 0, 113, 7, 127, 0, 0, 1, 0x30, 0x39, 0x01, 0xbb}
	v6 := append(append(netip.MustParseAddr("2001:db8::9").AsSlice(), netip.MustParseAddr("::1").AsSlice()...), 0x30, 0x39, 0x01, 0xbb)
	for _, tt := range []struct {
		name, local string
		prefix      []byte
		want        string // the address seen; "" for a closed connection
	}{
		{"v1 TCP4", "127.0.0.1", []byte("PROXY TCP4 203.0.113.7 127.0.0.1 12345 443\r\n"), "203.0.113.7:12345"},
		{"v1 TCP6", "127.0.0.1", []byte("PROXY TCP6 2001:db8::9 ::1 12345 443\r\n"), "[2001:db8::9]:12345"},
		{"v1 UNKNOWN (a health check)", "127.0.0.1", []byte("PROXY UNKNOWN\r\n"), "127.0.0.1:"},
		{"v2 IPv4", "127.0.0.1", v2Header(1, 0x11, append(v4, 0x03, 0, 1, 'x')), "203.0.113.7:12345"}, // with a TLV
		{"v2 IPv6", "127.0.0.1", v2Header(1, 0x21, v6), "[2001:db8::9]:12345"},
		{"v2 LOCAL (a health check)", "127.0.0.1", v2Header(0, 0, nil), "127.0.0.1:"},
		{"no header from the balancer", "127.0.0.1", nil, ""},
		{"a v1 header cut", "127.0.0.1", []byte("PROXY TCP4 203.0.113.7\r\n"), ""},
		{"a v1 header with a bad address", "127.0.0.1", []byte("PROXY TCP4 2001:db8::9 127.0.0.1 1 2\r\n"), ""},
		{"a v2 header for UDP", "127.0.0.1", v2Header(1, 0x12, v4), ""},
		{"a client without a header", "127.0.0.2", nil, "127.0.0.2:"},
		{"a client naming its own address, v1", "127.0.0.2", []byte("PROXY TCP4 10.0.0.1 127.0.0.1 1 443\r\n"), ""},
		{"a client naming its own address, v2", "127.0.0.2", v2Header(1, 0x11, v4), ""},
	} {
		got, err := exchange(addr, tt.local, tt.prefix)
		switch {
		case tt.want == "" && err == nil:
			t.Errorf("%s: answered as %q; want the connection closed", tt.name, got)
		case tt.want != "" && (err != nil || !strings.HasPrefix(got, tt.want)):
			t.Errorf("%s: %q, %v; want the client seen as %s", tt.name, got, err, tt.want)
		}
	}
	if n := len(refused()); n != 6 {
		t.Errorf("%d refusals reported; want 6: %q", n, refused())
	}
}

// TestProxyProtocolSlowHeader: a balancer connection that sends nothing
// holds up no other, and is closed at the timeout.
func TestProxyProtocolSlowHeader(t *testing.T) {
	addr, refused := ppServer(t)
	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	if got, err := exchange(addr, "127.0.0.1", []byte("PROXY TCP4 198.51.100.1 127.0.0.1 1 443\r\n")); err != nil || !strings.HasPrefix(got, "198.51.100.1:") {
		t.Fatalf("behind a silent connection: %q, %v", got, err)
	}
	_ = silent.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := silent.Read(make([]byte, 1)); err == nil {
		t.Error("the silent connection got bytes")
	}
	if r := refused(); len(r) != 1 || !strings.Contains(fmt.Sprint(r), "no PROXY header") {
		t.Errorf("refusals %q; want the silent one's", r)
	}
}

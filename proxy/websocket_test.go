package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

// recordConn is a net.Conn that keeps what is written to it.
type recordConn struct {
	net.Conn
	buf bytes.Buffer
}

func (r *recordConn) Write(b []byte) (int, error)      { return r.buf.Write(b) }
func (r *recordConn) Close() error                     { return nil }
func (r *recordConn) SetWriteDeadline(time.Time) error { return nil }

func TestCloseFrameWaitsForTheFrameBoundary(t *testing.T) {
	frame := append([]byte{0x81, 126, 0x01, 0x00}, bytes.Repeat([]byte("x"), 256)...) // text, 256 bytes, 16-bit length
	tests := []struct {
		name  string
		split int // the app's frame arrives in two writes, split here
	}{
		{"split inside the header", 1},
		{"split inside the extended length", 3},
		{"split inside the payload", 100},
		{"whole frame, then more", len(frame)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := &recordConn{}
			set := &upgraded{}
			c := &wsConn{Conn: rc, set: set}
			set.add(c)
			if _, err := c.Write(frame[:tt.split]); err != nil {
				t.Fatal(err)
			}
			c.goAway() // arrives in the middle of the app's frame (except the last case)
			if _, err := c.Write(frame[tt.split:]); err != nil {
				t.Fatal(err)
			}
			c.Write([]byte{0x81, 0x01, 'y'}) // the app keeps talking: dropped after Close
			want := append(append([]byte{}, frame...), closeFrame1001...)
			if got := rc.buf.Bytes(); !bytes.Equal(got, want) {
				t.Errorf("client got %d bytes ending %x; want the whole frame, then Close 1001, then nothing", len(got), got[max(0, len(got)-6):])
			}
		})
	}
}

func TestParseFrameHeader(t *testing.T) {
	tests := []struct {
		h       []byte
		size    int
		payload uint64
		ok      bool
	}{
		{[]byte{0x81}, 0, 0, false},
		{[]byte{0x81, 5}, 2, 5, true},
		{[]byte{0x81, 0x85, 1, 2, 3}, 0, 0, false},
		{[]byte{0x81, 0x85, 1, 2, 3, 4}, 6, 5, true},
		{[]byte{0x82, 126, 0x12, 0x34}, 4, 0x1234, true},
		{[]byte{0x82, 127, 0, 0, 0, 1, 0, 0, 0, 0}, 10, 1 << 32, true},
	}
	for _, tt := range tests {
		size, payload, ok := parseFrameHeader(tt.h)
		if size != tt.size || payload != tt.payload || ok != tt.ok {
			t.Errorf("parseFrameHeader(%x) = %d, %d, %v; want %d, %d, %v", tt.h, size, payload, ok, tt.size, tt.payload, tt.ok)
		}
	}
}

// failAfter is a net.Conn whose writes fail once it has taken n bytes.
type failAfter struct {
	recordConn
	n int
}

func (f *failAfter) Write(b []byte) (int, error) {
	k := min(len(b), f.n)
	f.n -= k
	f.buf.Write(b[:k])
	if k < len(b) {
		return k, errors.New("broken pipe")
	}
	return k, nil
}

// TestWritePartialReportsWhatWent: a write that fails part way reports
// the bytes of the app's data it took, not 0.
func TestWritePartialReportsWhatWent(t *testing.T) {
	frame := append([]byte{0x82, 100}, bytes.Repeat([]byte("x"), 100)...)
	c := &wsConn{Conn: &failAfter{n: 50}, set: &upgraded{}}
	n, err := c.Write(frame)
	if err == nil || n != 50 {
		t.Errorf("Write = %d, %v; want 50 and an error", n, err)
	}
}

// TestStopWithAClientThatStopsReading: the app streams to a WebSocket
// client that has stopped reading, so rampart's write to it blocks. A stop
// must still end by its deadline, and close the connection.
func TestStopWithAClientThatStopsReading(t *testing.T) {
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")
		brw.Flush()
		frame := append([]byte{0x82, 126, 0x40, 0x00}, bytes.Repeat([]byte("x"), 16<<10)...)
		for {
			if _, err := conn.Write(frame); err != nil {
				return
			}
		}
	})
	u := serveFixed(t, app)
	up, _ := url.Parse(u.URL)
	p, err := New(Config{Routes: []Route{{Host: "shop.test", Upstream: up}}, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	front := serveFixed(t, p)
	client, err := net.Dial("tcp", strings.TrimPrefix(front.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	io.WriteString(client, "GET /ws HTTP/1.1\r\nHost: shop.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	br := bufio.NewReader(client)
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", res, err)
	}
	// The client reads no more: the socket buffers fill and rampart's write blocks.
	time.Sleep(time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	done := make(chan struct{})
	start := time.Now()
	go func() { p.GoAway(ctx); close(done) }()
	select {
	case <-done:
		t.Logf("stop ended after %v (deadline 1s)", time.Since(start).Round(time.Millisecond))
	case <-time.After(10 * time.Second):
		t.Fatal("GoAway still running 10s after its 1s deadline")
	}
	// The connection is closed: reading drains what was buffered, then ends.
	_ = client.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, br); err != nil {
		t.Errorf("client connection not closed by the stop: %v", err)
	}
}

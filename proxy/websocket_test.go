package proxy

import (
	"bytes"
	"net"
	"testing"
	"time"
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

package proxy

import (
	"bufio"
	"context"
	"encoding/binary"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// upgraded tracks the WebSocket connections rampart has handed over to the
// app, so that a stop can close each one cleanly: net/http's Shutdown does not
// wait for hijacked connections, and cutting them would look like a crash to
// both ends.
type upgraded struct {
	mu    sync.Mutex
	conns map[*wsConn]struct{}
}

// goingAwayGrace is how long a client has to answer rampart's Close frame
// before its connection is cut.
const goingAwayGrace = 2 * time.Second

// closeFrame1001 is an unmasked server Close frame with status 1001 "going
// away" (RFC 6455 §5.5.1, §7.4.1).
var closeFrame1001 = []byte{0x88, 0x02, 0x03, 0xe9}

// hijackTracker intercepts the hijack that httputil.ReverseProxy performs for
// a WebSocket upgrade and registers the client connection.
type hijackTracker struct {
	http.ResponseWriter
	set  *upgraded
	idle time.Duration // Limits.WriteIdleTimeout
}

func (h *hijackTracker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	ws := &wsConn{Conn: conn, set: h.set, idle: h.idle}
	h.set.add(ws)
	return ws, brw, nil
}

func (h *hijackTracker) Unwrap() http.ResponseWriter { return h.ResponseWriter }

func (u *upgraded) add(c *wsConn) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.conns == nil {
		u.conns = map[*wsConn]struct{}{}
	}
	u.conns[c] = struct{}{}
}

func (u *upgraded) remove(c *wsConn) {
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.conns, c)
}

// goAway sends every upgraded connection a Close frame (between frames, never
// inside one) and waits until they are closed or ctx ends, then cuts the rest.
//
// It must end by ctx's deadline whatever the clients do. A client that has
// stopped reading leaves a write blocked, holding its connection's lock; so
// every connection gets its write deadline first, without the lock, which
// fails such a write by then and frees the lock.
func (u *upgraded) goAway(ctx context.Context) {
	by := time.Now().Add(goingAwayGrace)
	if d, ok := ctx.Deadline(); ok && d.Before(by) {
		by = d
	}
	conns := u.list()
	for _, c := range conns {
		c.stopBy.Store(by.UnixNano())
		_ = c.Conn.SetWriteDeadline(by)
	}
	for _, c := range conns {
		if ctx.Err() != nil {
			break
		}
		c.goAway()
	}
	for {
		if len(u.list()) == 0 {
			return
		}
		select {
		case <-ctx.Done():
			for _, c := range u.list() { // those upgraded since the stop began too
				_ = c.Close()
			}
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (u *upgraded) list() []*wsConn {
	u.mu.Lock()
	defer u.mu.Unlock()
	conns := make([]*wsConn, 0, len(u.conns))
	for c := range u.conns {
		conns = append(conns, c)
	}
	return conns
}

// wsConn is a client WebSocket connection. It follows the frames the app
// sends so that a Close frame can be slipped in at a frame boundary, and
// gives each write to the client a deadline, as the HTTP path does: a
// client that stops reading is cut off after the idle timeout.
type wsConn struct {
	net.Conn
	set    *upgraded
	idle   time.Duration // how long one write may block; 0: no limit
	stopBy atomic.Int64  // when a stop is under way, the Unix nanoseconds by which writes end

	mu        sync.Mutex
	header    []byte // a frame header not yet complete
	remaining uint64 // payload bytes left in the current frame
	pending   bool   // a Close frame waits for the next boundary
	closing   bool   // the Close frame has gone out: the app's frames are dropped
	closeOnce sync.Once
}

// writeDeadline is the deadline of the next write: the idle timeout from
// now, or the stop's deadline if that comes first.
func (c *wsConn) writeDeadline() time.Time {
	var d time.Time
	if c.idle > 0 {
		d = time.Now().Add(c.idle)
	}
	if by := c.stopBy.Load(); by != 0 && (d.IsZero() || by < d.UnixNano()) {
		d = time.Unix(0, by)
	}
	return d
}

// write writes to the client with the write deadline. Callers hold c.mu.
func (c *wsConn) write(b []byte) (int, error) {
	_ = c.Conn.SetWriteDeadline(c.writeDeadline())
	if c.stopBy.Load() != 0 {
		// A stop may have begun, and set its deadline, between the two
		// lines above: set again, so that the stop's wins.
		_ = c.Conn.SetWriteDeadline(c.writeDeadline())
	}
	return c.Conn.Write(b)
}

// Write passes the app's frames to the client, tracking boundaries. It
// reports the bytes of b it took: on an error, those it wrote (a frame
// header counts once it is whole); once a Close frame has gone out, all of
// them (the rest is dropped).
func (c *wsConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	total, took := len(b), 0
	for len(b) > 0 && !c.closing {
		if c.remaining > 0 {
			n := min(uint64(len(b)), c.remaining)
			w, err := c.write(b[:n])
			took += w
			c.remaining -= uint64(w)
			if err != nil {
				return took, err
			}
			b = b[n:]
		} else {
			// Accumulate a header; write it once complete.
			c.header = append(c.header, b[0])
			b = b[1:]
			took++
			if size, payload, ok := parseFrameHeader(c.header); ok {
				if _, err := c.write(c.header[:size]); err != nil {
					return took, err
				}
				c.header, c.remaining = c.header[:0], payload
			}
		}
		if c.pending && c.remaining == 0 && len(c.header) == 0 {
			c.sendClose()
		}
	}
	return total, nil
}

// goAway sends the Close frame now if between frames, else at the next boundary.
func (c *wsConn) goAway() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return
	}
	if c.remaining == 0 && len(c.header) == 0 {
		c.sendClose()
		return
	}
	c.pending = true
}

// sendClose writes the Close frame and gives the client a grace period to
// answer (its answer is forwarded to the app, so the app sees a clean close
// too). Callers hold c.mu.
func (c *wsConn) sendClose() {
	c.closing, c.pending = true, false
	_, _ = c.write(closeFrame1001)
	time.AfterFunc(goingAwayGrace, func() { _ = c.Close() })
}

func (c *wsConn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		err = c.Conn.Close()
		c.set.remove(c)
	})
	return err
}

// parseFrameHeader reports whether h holds a complete WebSocket frame header
// (RFC 6455 §5.2), its size and the payload length it announces.
func parseFrameHeader(h []byte) (size int, payload uint64, ok bool) {
	if len(h) < 2 {
		return 0, 0, false
	}
	size = 2
	payload = uint64(h[1] & 0x7f)
	switch payload {
	case 126:
		size += 2
	case 127:
		size += 8
	}
	if h[1]&0x80 != 0 {
		size += 4 // masking key
	}
	if len(h) < size {
		return 0, 0, false
	}
	switch payload {
	case 126:
		payload = uint64(binary.BigEndian.Uint16(h[2:4]))
	case 127:
		payload = binary.BigEndian.Uint64(h[2:10])
	}
	return size, payload, true
}

package proxy

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// ConnLimits bounds the connections a listener holds.
type ConnLimits struct {
	// Max is the most open connections in all. Zero means no limit. At the
	// limit, the connection idle longest is closed to make room for a new
	// one; only when none is idle is the new one refused. From half the
	// limit on, idle connections are also closed sooner (IdleTimeout).
	Max int

	// PerIP is the most open connections from one client address, an IPv6
	// address counted with its whole IPv6Prefix. Zero means no limit. At the
	// limit, a new connection displaces one of the address's: first the
	// oldest suspect (one that has gone two seconds without sending a whole
	// request head, a slowloris; or whose request has waited a second on the
	// client, reading its body or writing its response, a slow client), then
	// the oldest idle one, then the oldest young one (connected, not yet
	// asking). So a browser behind the same NAT as an attacker still gets in:
	// its connection, the newest, goes last. A request in progress that
	// waits on nobody, or on the app, is never displaced; when every
	// connection is such, the new one is refused.
	PerIP int

	// IPv6Prefix is the prefix length by which IPv6 clients are counted for
	// PerIP: one host usually holds a whole /64. Zero means 64; 128 counts
	// each address.
	IPv6Prefix int

	// IdleTimeout is the server's idle keep-alive timeout, which the guard
	// shortens under pressure: from half of Max on, it falls in step with
	// the free room, to one second at the limit. Zero means no shortening.
	IdleTimeout time.Duration

	// OnReject is called for each connection refused for being over a
	// limit. Nil means nothing is called.
	OnReject func(remote net.Addr)

	// OnShed is called for each connection closed to make room: "displaced"
	// (by a newer one of its address) or "idle" (idle, under pressure). Nil
	// means nothing is called.
	OnShed func(reason string)
}

// ConnGuard caps the connections of a listener, in all and per client
// address: net/http has no connection cap of its own, and a few hundred
// idle or slow clients would otherwise pin memory and upstream
// connections. It follows each connection's state through the server's
// ConnState hook, so that under pressure it closes the connections that
// cost the most and serve the least (idle ones, ones that have never
// completed a request) rather than refuse a new client.
//
// The zero ConnGuard is not usable; NewConnGuard makes one. Wire it as
//
//	ln = g.Listener(ln)
//	srv.ConnState = g.ConnState
//	srv.ConnContext = g.ConnContext // so the proxy can say when a response waits on the client
type ConnGuard struct {
	lim ConnLimits

	mu     sync.Mutex
	seq    uint64
	total  int
	byAddr map[netip.Addr][]*guardedConn
	idle   idleList // oldest first
}

// NewConnGuard returns a guard for lim.
func NewConnGuard(lim ConnLimits) *ConnGuard {
	if lim.IPv6Prefix <= 0 || lim.IPv6Prefix > 128 {
		lim.IPv6Prefix = 64
	}
	return &ConnGuard{lim: lim, byAddr: map[netip.Addr][]*guardedConn{}}
}

// Listener wraps ln so that every connection it accepts passes the guard:
// one over a limit is closed as soon as it is accepted, before any byte is
// read, unless an older one can make room.
func (g *ConnGuard) Listener(ln net.Listener) net.Listener {
	if g.lim.Max <= 0 && g.lim.PerIP <= 0 {
		return ln
	}
	return &guardedListener{Listener: ln, g: g}
}

type guardedListener struct {
	net.Listener
	g *ConnGuard
}

func (l *guardedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if gc := l.g.admit(c); gc != nil {
			return gc, nil
		}
		_ = c.Close()
		if l.g.lim.OnReject != nil {
			l.g.lim.OnReject(c.RemoteAddr())
		}
	}
}

// connState is where a connection stands, as the server last said.
type connState uint8

const (
	stateNew connState = iota
	stateActive
	stateIdle
	stateHijacked
)

// guardedConn is an admitted connection. Its fields past Conn are the
// guard's, under its lock.
type guardedConn struct {
	net.Conn
	g        *ConnGuard
	addr     netip.Addr // the per-address key
	seq      uint64     // order of admission: lower is older
	accepted time.Time

	state      connState
	idles      int  // times it went idle
	h2         bool // HTTP/2: it goes idle once before any request
	completed  bool // it has completed a request
	idleSince  time.Time
	prev, next *guardedConn // in the idle list while idle
	released   bool

	checked   bool // the protocol has been looked at (ConnState's own)
	closeOnce sync.Once

	// waiting is when the read from or write to the client in progress
	// began, in Unix nanoseconds, or 0: set by the proxy for HTTP/1
	// requests (an HTTP/2 connection's streams would overwrite one
	// another's), outside the guard's lock.
	waiting atomic.Int64
}

// maxShedPerAccept bounds the idle connections closed for pressure at one
// accept: thousands could be past a shortened timeout at once.
const maxShedPerAccept = 64

// stalledAfter is how long a request must have waited on the client for
// its connection to count as a slow client's; youngFor, how long a
// connection may take to send its first request head before it counts as
// a slowloris: a client on a slow link needs three round trips (TCP, TLS,
// HTTP).
const (
	stalledAfter = time.Second
	youngFor     = 2 * time.Second
)

// suspect reports whether c is one to displace first: it has gone youngFor
// without a request head, or its request has waited on the client for
// stalledAfter. Callers hold g.mu.
func (c *guardedConn) suspect(now time.Time) bool {
	switch c.state {
	case stateHijacked:
		return false
	case stateNew:
		return now.Sub(c.accepted) >= youngFor
	}
	w := c.waiting.Load()
	return c.state == stateActive && w != 0 && now.UnixNano()-w >= int64(stalledAfter)
}

// waitStarts and waitEnds bracket a read from or a write to the client.
func (c *guardedConn) waitStarts(now time.Time) { c.waiting.Store(now.UnixNano()) }
func (c *guardedConn) waitEnds()                { c.waiting.Store(0) }

// Close closes the connection and gives its slot back, once however often
// it is called.
func (c *guardedConn) Close() error {
	err := c.Conn.Close()
	c.closeOnce.Do(func() { c.g.release(c) })
	return err
}

// admit takes c in if the limits allow, making room if they let it, and
// returns it wrapped, or nil to refuse it.
func (g *ConnGuard) admit(c net.Conn) *guardedConn {
	addr := g.addrKey(c.RemoteAddr())
	now := time.Now()
	var shed []*guardedConn
	var reasons []string
	defer func() {
		for i, v := range shed {
			_ = v.Conn.Close() // the raw connection, outside the lock
			if g.lim.OnShed != nil {
				g.lim.OnShed(reasons[i])
			}
		}
	}()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.lim.PerIP > 0 && len(g.byAddr[addr]) >= g.lim.PerIP {
		v := g.displaceable(addr, now)
		if v == nil {
			return nil
		}
		g.drop(v)
		shed, reasons = append(shed, v), append(reasons, "displaced")
	}
	if g.lim.Max > 0 {
		// Idle connections past the (shortened) idle timeout go first, a
		// few at each accept so that none waits long; then, at the limit,
		// the one idle longest.
		limit := g.idleLimit()
		for n := 0; n < maxShedPerAccept && g.idle.head != nil && now.Sub(g.idle.head.idleSince) >= limit; n++ {
			v := g.idle.head
			g.drop(v)
			shed, reasons = append(shed, v), append(reasons, "idle")
		}
		if g.total >= g.lim.Max {
			v := g.idle.head
			if v == nil {
				return nil
			}
			g.drop(v)
			shed, reasons = append(shed, v), append(reasons, "idle")
		}
	}
	g.seq++
	gc := &guardedConn{Conn: c, g: g, addr: addr, seq: g.seq, accepted: now}
	g.total++
	if g.lim.PerIP > 0 {
		g.byAddr[addr] = append(g.byAddr[addr], gc)
	}
	return gc
}

// displaceable returns the connection of addr that should make room for a
// new one: the oldest suspect, else the oldest idle one, else the oldest
// young one, else nil. Callers hold g.mu.
func (g *ConnGuard) displaceable(addr netip.Addr, now time.Time) *guardedConn {
	var suspect, idle, young *guardedConn
	older := func(a, b *guardedConn) bool { return b == nil || a.seq < b.seq }
	for _, c := range g.byAddr[addr] {
		switch {
		case c.suspect(now):
			if older(c, suspect) {
				suspect = c
			}
		case c.state == stateIdle:
			if older(c, idle) {
				idle = c
			}
		case c.state == stateNew:
			if older(c, young) {
				young = c
			}
		}
	}
	switch {
	case suspect != nil:
		return suspect
	case idle != nil:
		return idle
	}
	return young
}

// idleLimit is the idle timeout as pressure shortens it: whole up to half of
// Max, then in step with the room left, down to a second at the limit.
// Callers hold g.mu.
func (g *ConnGuard) idleLimit() time.Duration {
	half := g.lim.Max / 2
	free := g.lim.Max - g.total
	if g.lim.IdleTimeout <= 0 || half == 0 || free >= half {
		return 1<<63 - 1
	}
	return max(time.Second, g.lim.IdleTimeout*time.Duration(free)/time.Duration(half))
}

// drop takes c out of the guard's count, to be closed by the caller.
// Callers hold g.mu.
func (g *ConnGuard) drop(c *guardedConn) {
	if c.released {
		return
	}
	c.released = true
	g.total--
	if c.state == stateIdle {
		g.idle.remove(c)
	}
	if g.lim.PerIP > 0 {
		conns := g.byAddr[c.addr]
		for i, o := range conns {
			if o == c {
				conns[i] = conns[len(conns)-1]
				conns[len(conns)-1] = nil
				conns = conns[:len(conns)-1]
				break
			}
		}
		if len(conns) == 0 {
			delete(g.byAddr, c.addr)
		} else {
			g.byAddr[c.addr] = conns
		}
	}
}

func (g *ConnGuard) release(c *guardedConn) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.drop(c)
}

// ConnContext keeps the guard's view of a connection in its context, where
// the proxy finds it; set it as http.Server.ConnContext.
func (g *ConnGuard) ConnContext(ctx context.Context, nc net.Conn) context.Context {
	if gc := guarded(nc); gc != nil {
		return context.WithValue(ctx, guardedConnKey{}, gc)
	}
	return ctx
}

type guardedConnKey struct{}

// connOf returns the guarded connection a request came on, or nil.
func connOf(r *http.Request) *guardedConn {
	gc, _ := r.Context().Value(guardedConnKey{}).(*guardedConn)
	return gc
}

// guarded returns the guarded connection under nc (a TLS one, or itself), or nil.
func guarded(nc net.Conn) *guardedConn {
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	gc, _ := nc.(*guardedConn)
	return gc
}

// ConnState follows a connection's state; set it as http.Server.ConnState.
func (g *ConnGuard) ConnState(nc net.Conn, s http.ConnState) {
	c := guarded(nc)
	if c == nil {
		return
	}
	tc, isTLS := nc.(*tls.Conn)
	// The server calls ConnState for one connection from one goroutine at a
	// time, so checked needs no lock; the protocol is known once active.
	h2 := false
	if s == http.StateActive && isTLS && !c.checked {
		c.checked = true
		h2 = tc.ConnectionState().NegotiatedProtocol == "h2"
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if c.released {
		return
	}
	if c.state == stateIdle {
		g.idle.remove(c)
	}
	switch s {
	case http.StateActive:
		c.h2 = c.h2 || h2
		c.state = stateActive
	case http.StateIdle:
		// HTTP/1 goes idle when a request is done; HTTP/2 goes idle once as
		// it starts, then when its streams are done.
		c.idles++
		c.completed = c.completed || !c.h2 || c.idles > 1
		c.state, c.idleSince = stateIdle, time.Now()
		g.idle.push(c)
	case http.StateHijacked:
		c.state, c.completed = stateHijacked, true
	case http.StateClosed:
		c.state = stateActive // out of the idle list; Close gives the slot back
	}
}

// addrKey is the per-address key: an IPv4 address, or an IPv6 address
// masked to the IPv6 prefix.
func (g *ConnGuard) addrKey(a net.Addr) netip.Addr {
	var ip netip.Addr
	if ta, ok := a.(*net.TCPAddr); ok {
		ip = ta.AddrPort().Addr().Unmap()
	} else if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		ip = ap.Addr().Unmap()
	}
	if ip.Is6() {
		if p, err := ip.Prefix(g.lim.IPv6Prefix); err == nil {
			return p.Addr()
		}
	}
	return ip
}

// idleList is a list of idle connections, oldest first.
type idleList struct{ head, tail *guardedConn }

func (l *idleList) push(c *guardedConn) {
	c.prev, c.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = c
	} else {
		l.head = c
	}
	l.tail = c
}

func (l *idleList) remove(c *guardedConn) {
	if c.prev != nil {
		c.prev.next = c.next
	} else if l.head == c {
		l.head = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	} else if l.tail == c {
		l.tail = c.prev
	}
	c.prev, c.next = nil, nil
}

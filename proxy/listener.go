package proxy

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// ConnLimits bounds the connections a listener holds.
type ConnLimits struct {
	// Max is the most open connections in all. Zero means no limit.
	Max int
	// PerIP is the most open connections from one client address. Zero means no limit.
	PerIP int
	// OnReject is called for each connection closed at once for being over a
	// limit. Nil means nothing is called.
	OnReject func(remote net.Addr)
}

// LimitListener wraps ln so that a connection over a limit is closed as soon
// as it is accepted, before any byte is read: net/http has no connection cap
// of its own, and a few hundred idle or slow clients would otherwise pin
// memory and upstream connections.
func LimitListener(ln net.Listener, lim ConnLimits) net.Listener {
	if lim.Max <= 0 && lim.PerIP <= 0 {
		return ln
	}
	return &limitListener{Listener: ln, lim: lim, perIP: map[netip.Addr]int{}}
}

type limitListener struct {
	net.Listener
	lim   ConnLimits
	total atomic.Int64
	mu    sync.Mutex
	perIP map[netip.Addr]int
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := remoteIP(c)
		if l.admit(ip) {
			return &limitedConn{Conn: c, release: func() { l.release(ip) }}, nil
		}
		_ = c.Close()
		if l.lim.OnReject != nil {
			l.lim.OnReject(c.RemoteAddr())
		}
	}
}

func (l *limitListener) admit(ip netip.Addr) bool {
	if l.lim.Max > 0 && l.total.Add(1) > int64(l.lim.Max) {
		l.total.Add(-1)
		return false
	} else if l.lim.Max <= 0 {
		l.total.Add(1)
	}
	if l.lim.PerIP <= 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.perIP[ip] >= l.lim.PerIP {
		l.total.Add(-1)
		return false
	}
	l.perIP[ip]++
	return true
}

func (l *limitListener) release(ip netip.Addr) {
	l.total.Add(-1)
	if l.lim.PerIP <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.perIP[ip]--; l.perIP[ip] <= 0 {
		delete(l.perIP, ip)
	}
}

func remoteIP(c net.Conn) netip.Addr {
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// limitedConn gives its slot back exactly once, however often it is closed.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

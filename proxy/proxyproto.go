package proxy

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ProxyProtocol configures a listener behind a TCP load balancer that sends
// the PROXY protocol (v1 text or v2 binary, as HAProxy specifies it), so the
// client address that policies, logs and X-Forwarded-For use is the real
// one rather than the load balancer's.
type ProxyProtocol struct {
	// From are the load balancers' addresses: a connection from one must
	// begin with a PROXY header; anyone else's header is refused, as it
	// would let a client name its own address. Empty refuses every header.
	From []netip.Prefix
	// Timeout bounds the wait for a load balancer's header. Zero means 5 seconds.
	Timeout time.Duration
	// OnRefuse is called with the peer and why for each connection closed
	// for its header. Nil means no calls.
	OnRefuse func(peer net.Addr, reason string)
}

// maxPendingHeaders bounds the load balancers' connections whose header is
// being read at once; past it a new one is closed.
const maxPendingHeaders = 1024

// ProxyProtocolListener returns ln reading PROXY headers as cfg says. A
// connection is handed on only once its header is read, with the client's
// address as its RemoteAddr; a slow header does not hold up the others.
func ProxyProtocolListener(ln net.Listener, cfg ProxyProtocol) net.Listener {
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.OnRefuse == nil {
		cfg.OnRefuse = func(net.Addr, string) {}
	}
	l := &ppListener{Listener: ln, cfg: cfg, ready: make(chan net.Conn), done: make(chan struct{}), pending: make(chan struct{}, maxPendingHeaders)}
	go l.acceptLoop()
	return l
}

type ppListener struct {
	net.Listener
	cfg     ProxyProtocol
	ready   chan net.Conn
	done    chan struct{}
	pending chan struct{} // a slot per header being read

	errOnce sync.Once
	err     error
}

func (l *ppListener) acceptLoop() {
	backoff := 5 * time.Millisecond
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				// Out of descriptors, or a connection reset before it was
				// accepted: wait and go on, as http.Server does.
				time.Sleep(backoff)
				backoff = min(2*backoff, time.Second)
				continue
			}
			l.errOnce.Do(func() { l.err = err; close(l.done) })
			return
		}
		backoff = 5 * time.Millisecond
		if !l.fromBalancer(c.RemoteAddr()) {
			// Not a load balancer: its bytes are looked at when it is first
			// read, in its own goroutine, and a PROXY header there is refused.
			l.hand(&ppConn{Conn: c, br: bufio.NewReaderSize(c, 16), remote: c.RemoteAddr(), check: true, refuse: l.cfg.OnRefuse})
			continue
		}
		select {
		case l.pending <- struct{}{}:
		default:
			l.cfg.OnRefuse(c.RemoteAddr(), "too many headers being read")
			_ = c.Close()
			continue
		}
		go func() {
			defer func() { <-l.pending }()
			pc, err := readProxyHeader(c, l.cfg.Timeout)
			if err != nil {
				l.cfg.OnRefuse(c.RemoteAddr(), err.Error())
				_ = c.Close()
				return
			}
			l.hand(pc)
		}()
	}
}

func (l *ppListener) hand(c net.Conn) {
	select {
	case l.ready <- c:
	case <-l.done:
		_ = c.Close()
	}
}

func (l *ppListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ready:
		return c, nil
	case <-l.done:
		return nil, l.err
	}
}

func (l *ppListener) fromBalancer(a net.Addr) bool {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return false
	}
	ip := ap.Addr().Unmap()
	for _, p := range l.cfg.From {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// ppConn is a connection whose first bytes went through a bufio.Reader: a
// load balancer's after its header, or anyone else's, checked for one.
type ppConn struct {
	net.Conn
	br     *bufio.Reader
	remote net.Addr
	check  bool // not yet looked at: refuse a PROXY header
	refuse func(net.Addr, string)
}

var (
	v1Signature = []byte("PROXY ")
	v2Signature = []byte("\r\n\r\n\x00\r\nQUIT\n")
)

func (c *ppConn) Read(p []byte) (int, error) {
	if c.check {
		c.check = false
		first, err := c.br.Peek(1)
		if err == nil && (first[0] == 'P' || first[0] == '\r') {
			n := len(v1Signature)
			if first[0] == '\r' {
				n = len(v2Signature)
			}
			if b, _ := c.br.Peek(n); bytes.Equal(b, v1Signature) || bytes.Equal(b, v2Signature) {
				c.refuse(c.remote, "a PROXY header from an address not in --proxy-protocol-from")
				_ = c.Conn.Close()
				return 0, errors.New("proxy: PROXY header from an untrusted peer")
			}
		}
	}
	if c.br.Buffered() > 0 {
		return c.br.Read(p)
	}
	return c.Conn.Read(p)
}

func (c *ppConn) RemoteAddr() net.Addr { return c.remote }

// readProxyHeader reads a load balancer's PROXY header (v1 or v2) within
// timeout, and returns the connection with the client's address. A LOCAL
// (v2) or UNKNOWN (v1) header, which a balancer sends for its own health
// checks, keeps the balancer's address.
func readProxyHeader(c net.Conn, timeout time.Duration) (*ppConn, error) {
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	defer func() { _ = c.SetReadDeadline(time.Time{}) }()
	br := bufio.NewReaderSize(c, 256)
	pc := &ppConn{Conn: c, br: br, remote: c.RemoteAddr()}
	first, err := br.Peek(1)
	if err != nil {
		return nil, fmt.Errorf("no PROXY header: %v", err)
	}
	switch first[0] {
	case 'P':
		return pc, readV1(br, pc)
	case '\r':
		return pc, readV2(br, pc)
	}
	return nil, errors.New("no PROXY header from a load balancer in --proxy-protocol-from")
}

// readV1 reads "PROXY TCP4 src dst sport dport\r\n" (at most 107 bytes).
func readV1(br *bufio.Reader, pc *ppConn) error {
	var line []byte
	for len(line) < 107 {
		b, err := br.ReadByte()
		if err != nil {
			return fmt.Errorf("PROXY v1 header cut short: %v", err)
		}
		line = append(line, b)
		if b == '\n' {
			break
		}
	}
	s, ok := strings.CutSuffix(string(line), "\r\n")
	if !ok || !strings.HasPrefix(s, "PROXY ") {
		return errors.New("PROXY v1 header malformed")
	}
	f := strings.Split(s, " ")
	if len(f) >= 2 && f[1] == "UNKNOWN" {
		return nil
	}
	if len(f) != 6 || (f[1] != "TCP4" && f[1] != "TCP6") {
		return errors.New("PROXY v1 header malformed")
	}
	ip, err := netip.ParseAddr(f[2])
	port, perr := strconv.ParseUint(f[4], 10, 16)
	if err != nil || perr != nil || ip.Is4() != (f[1] == "TCP4") || ip.Zone() != "" {
		return errors.New("PROXY v1 header: bad source address")
	}
	pc.remote = net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port)))
	return nil
}

// readV2 reads the binary header: signature, version and command, family,
// length, addresses, and TLVs (skipped).
func readV2(br *bufio.Reader, pc *ppConn) error {
	var head [16]byte
	if _, err := io.ReadFull(br, head[:]); err != nil {
		return fmt.Errorf("PROXY v2 header cut short: %v", err)
	}
	if !bytes.Equal(head[:12], v2Signature) || head[12]>>4 != 2 {
		return errors.New("PROXY v2 header malformed")
	}
	n := int(binary.BigEndian.Uint16(head[14:16]))
	body := make([]byte, n)
	if _, err := io.ReadFull(br, body); err != nil {
		return fmt.Errorf("PROXY v2 header cut short: %v", err)
	}
	switch head[12] & 0xf {
	case 0: // LOCAL: the balancer's own connection
		return nil
	case 1: // PROXY
	default:
		return errors.New("PROXY v2 header: unknown command")
	}
	switch head[13] {
	case 0x11: // TCP over IPv4
		if n < 12 {
			return errors.New("PROXY v2 header: short IPv4 addresses")
		}
		ip := netip.AddrFrom4([4]byte(body[0:4]))
		pc.remote = net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip, binary.BigEndian.Uint16(body[8:10])))
	case 0x21: // TCP over IPv6
		if n < 36 {
			return errors.New("PROXY v2 header: short IPv6 addresses")
		}
		ip := netip.AddrFrom16([16]byte(body[0:16]))
		pc.remote = net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip, binary.BigEndian.Uint16(body[32:34])))
	case 0x00: // UNSPEC
	default:
		return errors.New("PROXY v2 header: not TCP")
	}
	return nil
}

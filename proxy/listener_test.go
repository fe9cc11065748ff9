package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// guardedServer serves h behind a ConnGuard with lim; requests to /hold
// wait until release is closed.
type guardedServer struct {
	addr    string
	release chan struct{}
	shed    sync.Map // reason -> *atomic.Int32
	refused atomic.Int32
}

func newGuardedServer(t *testing.T, lim ConnLimits) *guardedServer {
	t.Helper()
	s := &guardedServer{release: make(chan struct{})}
	lim.OnReject = func(net.Addr) { s.refused.Add(1) }
	lim.OnShed = func(reason string) {
		n, _ := s.shed.LoadOrStore(reason, new(atomic.Int32))
		n.(*atomic.Int32).Add(1)
	}
	g := NewConnGuard(lim)
	inner := listenFixed(t)
	s.addr = inner.Addr().String()
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/hold":
				<-s.release
			case "/stall": // as the proxy marks a write that has waited 2s on the client
				connOf(r).waitStarts(time.Now().Add(-2 * time.Second))
				<-s.release
			}
			io.WriteString(w, "ok")
		}),
		ConnState:   g.ConnState,
		ConnContext: g.ConnContext,
	}
	go srv.Serve(g.Listener(inner))
	t.Cleanup(func() {
		select {
		case <-s.release:
		default:
			close(s.release)
		}
		srv.Close()
	})
	return s
}

func (s *guardedServer) shedCount(reason string) int {
	n, ok := s.shed.Load(reason)
	if !ok {
		return 0
	}
	return int(n.(*atomic.Int32).Load())
}

// client is one raw connection to a guarded server.
type client struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialGuarded(t *testing.T, s *guardedServer) *client {
	t.Helper()
	c, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{t: t, c: c, br: bufio.NewReader(c)}
}

// get sends a request and, unless the path is /hold, reads its answer: the
// connection is then idle.
func (c *client) get(path string) {
	c.t.Helper()
	fmt.Fprintf(c.c, "GET %s HTTP/1.1\r\nHost: shop.test\r\n\r\n", path)
	if path == "/hold" || path == "/stall" {
		return
	}
	_ = c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	res, err := http.ReadResponse(c.br, nil)
	if err != nil {
		c.t.Fatalf("GET %s: %v", path, err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
}

// closed tells whether the server has closed the connection.
func (c *client) closed() bool {
	_ = c.c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	_, err := c.br.ReadByte()
	return err != nil && !isTimeout(err)
}

// settle lets the server see what the clients did.
func settle() { time.Sleep(100 * time.Millisecond) }

func TestConnGuard(t *testing.T) {
	t.Run("at the total limit, the connection idle longest makes room", func(t *testing.T) {
		s := newGuardedServer(t, ConnLimits{Max: 2})
		a, b := dialGuarded(t, s), dialGuarded(t, s)
		a.get("/")
		settle() // the server marks a connection idle just after it answers
		b.get("/")
		settle()
		c := dialGuarded(t, s)
		c.get("/") // served
		if !a.closed() || b.closed() {
			t.Errorf("closed: oldest idle %v, newer idle %v; want the oldest only", a.closed(), b.closed())
		}
		if s.shedCount("idle") != 1 || s.refused.Load() != 0 {
			t.Errorf("shed idle %d, refused %d; want 1 and 0", s.shedCount("idle"), s.refused.Load())
		}
	})

	t.Run("at the total limit with nothing idle, a new connection is refused", func(t *testing.T) {
		s := newGuardedServer(t, ConnLimits{Max: 2})
		a, b := dialGuarded(t, s), dialGuarded(t, s)
		a.get("/hold")
		b.get("/hold")
		settle()
		c := dialGuarded(t, s)
		if !c.closed() || a.closed() || b.closed() {
			t.Errorf("closed: new %v, busy %v %v; want the new one only", c.closed(), a.closed(), b.closed())
		}
		if s.refused.Load() != 1 {
			t.Errorf("refused %d; want 1", s.refused.Load())
		}
	})

	t.Run("per address, one that has not completed a request in 2s makes room first", func(t *testing.T) {
		s := newGuardedServer(t, ConnLimits{PerIP: 2})
		idle, slow := dialGuarded(t, s), dialGuarded(t, s)
		idle.get("/")               // completed, now idle
		slow.c.Write([]byte("GET")) // a slowloris: never completes
		time.Sleep(youngFor + 100*time.Millisecond)
		c := dialGuarded(t, s)
		c.get("/")
		if !slow.closed() || idle.closed() {
			t.Errorf("closed: slowloris %v, idle %v; want the slowloris only", slow.closed(), idle.closed())
		}
		if s.shedCount("displaced") != 1 {
			t.Errorf("displaced %d; want 1", s.shedCount("displaced"))
		}
	})

	t.Run("per address, a request waiting on the app is never displaced", func(t *testing.T) {
		// A long poll, a stream, a slow app: busy, but not the client's doing.
		s := newGuardedServer(t, ConnLimits{PerIP: 2})
		idle, first := dialGuarded(t, s), dialGuarded(t, s)
		idle.get("/")
		first.get("/hold") // its first request, which the app takes its time over
		time.Sleep(youngFor + 100*time.Millisecond)
		dialGuarded(t, s).get("/")
		if !idle.closed() || first.closed() {
			t.Errorf("closed: idle %v, waiting on the app %v; want the idle one only", idle.closed(), first.closed())
		}
	})

	t.Run("per address, a young connection goes only after the idle ones", func(t *testing.T) {
		// A newcomer doing its handshake looks like a slowloris that has
		// just begun; for its first seconds it is the last to go.
		s := newGuardedServer(t, ConnLimits{PerIP: 2})
		idle, young := dialGuarded(t, s), dialGuarded(t, s)
		idle.get("/")
		young.c.Write([]byte("GET"))
		settle()
		dialGuarded(t, s).get("/")
		if !idle.closed() || young.closed() {
			t.Errorf("closed: idle %v, young %v; want the idle one only", idle.closed(), young.closed())
		}
	})

	t.Run("per address, a response stalled on its reader goes before a younger first request", func(t *testing.T) {
		s := newGuardedServer(t, ConnLimits{PerIP: 2})
		reader, young := dialGuarded(t, s), dialGuarded(t, s)
		reader.get("/")
		settle()
		reader.get("/stall") // completed one; now its response waits on it
		young.get("/hold")   // its first request, younger
		settle()
		dialGuarded(t, s).get("/")
		if !reader.closed() || young.closed() {
			t.Errorf("closed: stalled reader %v, younger first request %v; want the stalled reader only", reader.closed(), young.closed())
		}
	})

	t.Run("per address, then the oldest idle one", func(t *testing.T) {
		s := newGuardedServer(t, ConnLimits{PerIP: 2})
		idle, busy := dialGuarded(t, s), dialGuarded(t, s)
		idle.get("/")
		busy.get("/")
		settle()
		busy.get("/hold") // busy, having completed one before
		settle()
		dialGuarded(t, s).get("/")
		if !idle.closed() || busy.closed() {
			t.Errorf("closed: idle %v, busy %v; want the idle one only", idle.closed(), busy.closed())
		}
	})

	t.Run("per address, all busy: refused", func(t *testing.T) {
		s := newGuardedServer(t, ConnLimits{PerIP: 2})
		a, b := dialGuarded(t, s), dialGuarded(t, s)
		for _, c := range []*client{a, b} {
			c.get("/")
			settle()
			c.get("/hold")
		}
		settle()
		c := dialGuarded(t, s)
		if !c.closed() || a.closed() || b.closed() {
			t.Errorf("closed: new %v, busy %v %v; want the new one only", c.closed(), a.closed(), b.closed())
		}
	})

	t.Run("under pressure idle connections time out sooner", func(t *testing.T) {
		// Max 4 and 3 open: one free of the top half's two, so the 4s idle
		// timeout is down to 2s.
		s := newGuardedServer(t, ConnLimits{Max: 4, IdleTimeout: 4 * time.Second})
		old := []*client{dialGuarded(t, s), dialGuarded(t, s), dialGuarded(t, s)}
		for _, c := range old {
			c.get("/")
		}
		time.Sleep(2500 * time.Millisecond)
		dialGuarded(t, s).get("/")
		for i, c := range old {
			if !c.closed() {
				t.Errorf("connection %d, idle 2.5s under pressure, still open; want it closed", i)
			}
		}
	})

	t.Run("a slot is given back once however often its connection is closed", func(t *testing.T) {
		g := NewConnGuard(ConnLimits{Max: 1})
		inner := listenFixed(t)
		ln := g.Listener(inner)
		defer ln.Close()
		accepted := make(chan net.Conn, 4)
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				accepted <- c
			}
		}()
		for range 3 {
			c, err := net.Dial("tcp", inner.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			select {
			case sc := <-accepted:
				sc.Close()
				sc.Close()
			case <-time.After(time.Second):
				t.Fatal("a freed slot was not given to the next client")
			}
		}
	})
}

func TestConnGuardCountsIPv6ByPrefix(t *testing.T) {
	for _, tt := range []struct {
		prefix int
		a, b   string
		same   bool
	}{
		{0, "[2001:db8:1:2::1]:5", "[2001:db8:1:2:ffff::9]:6", true}, // one /64: one client
		{0, "[2001:db8:1:2::1]:5", "[2001:db8:1:3::1]:6", false},
		{128, "[2001:db8:1:2::1]:5", "[2001:db8:1:2::2]:6", false},
		{56, "[2001:db8:1:2::1]:5", "[2001:db8:1:3::1]:6", true},
		{0, "192.0.2.1:5", "192.0.2.2:6", false},
		{0, "[::ffff:192.0.2.1]:5", "192.0.2.1:6", true}, // IPv4 in IPv6 is IPv4
	} {
		g := NewConnGuard(ConnLimits{PerIP: 1, IPv6Prefix: tt.prefix})
		ka := g.addrKey(net.TCPAddrFromAddrPort(netip.MustParseAddrPort(tt.a)))
		kb := g.addrKey(net.TCPAddrFromAddrPort(netip.MustParseAddrPort(tt.b)))
		if (ka == kb) != tt.same {
			t.Errorf("prefix %d: %s and %s counted as one = %v; want %v", tt.prefix, tt.a, tt.b, ka == kb, tt.same)
		}
	}
}

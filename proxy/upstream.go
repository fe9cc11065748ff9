package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"net/url"
	"reflect"
	"sync"
	"time"
)

// This file is the lean way to a plain-HTTP/1.1 app: the handler's own
// goroutine writes the request with the standard library's writer
// (Request.Write) and reads the answer with its reader (http.ReadResponse),
// over a per-upstream pool of persistent connections. http.Transport spends
// two goroutines and their channel hand-offs on every exchange (writeLoop,
// readLoop), and probes a bodiless GET's body in a third; here there are none.
// Whatever is unusual (https upstreams, upgrades, bodies still streaming in
// from the client) stays with http.Transport.

// maxResponseHeaderBytes bounds an app's response head, status line included.
// A bigger one is a 502: nginx refuses past 4-8 KiB by default, http.Transport
// at 10 MiB; 1 MiB leaves room for any honest set of cookies.
const maxResponseHeaderBytes = 1 << 20

// max1xxResponses bounds informational answers before the final one, as
// http.Transport does: an app cannot hold a request open with endless 1xx.
const max1xxResponses = 5

var (
	errResponseHeaderTooBig = errors.New("proxy: upstream response header over 1 MiB")
	errTooMany1xx           = errors.New("proxy: upstream sent too many 1xx responses")
	errUnexpected101        = errors.New("proxy: upstream switched protocols on a request that did not ask to")
)

// inMemoryBodyType is the type of a request body that rampart has read in
// full (prepareBody's buffer): it can be written to the app at once, with its
// length, in the handler's goroutine. The type, not a wrapper of rampart's
// own, marks it because Request.Write recognises this one as in memory and
// sends head and body in one write.
var inMemoryBodyType = reflect.TypeOf(io.NopCloser(new(bytes.Buffer)))

// inMemory reports whether body is one that rampart has read in full.
func inMemory(body io.ReadCloser) bool { return reflect.TypeOf(body) == inMemoryBodyType }

// bufferOf is the buffer of a body read in full (inMemory), or nil. Its
// bytes are those still to be sent.
func bufferOf(body io.ReadCloser) *bytes.Buffer {
	if !inMemory(body) {
		return nil
	}
	b, _ := reflect.ValueOf(body).Field(0).Interface().(*bytes.Buffer)
	return b
}

// leanEligible reports whether req can take the lean path: plain HTTP, no
// upgrade, and a body that is either absent or already in memory.
func leanEligible(req *http.Request) bool {
	if req.URL.Scheme != "http" || req.Method == http.MethodConnect {
		return false
	}
	if _, up := req.Header["Upgrade"]; up {
		return false
	}
	if req.Body == nil || req.Body == http.NoBody {
		return req.ContentLength == 0
	}
	return req.ContentLength > 0 && inMemory(req.Body)
}

// upstreamPools holds one pool per upstream, found by the request URL's host
// as the route gives it: a lookup with no lock and no string work per request.
type upstreamPools struct {
	dial            func(ctx context.Context, network, addr string) (net.Conn, error)
	responseTimeout time.Duration
	idleTimeout     time.Duration
	maxIdle         int

	pools sync.Map // URL host -> *connPool
}

func (u *upstreamPools) pool(url *url.URL) *connPool {
	if p, ok := u.pools.Load(url.Host); ok {
		return p.(*connPool)
	}
	p, _ := u.pools.LoadOrStore(url.Host, &connPool{up: u, addr: dialAddr(url)})
	return p.(*connPool)
}

func (u *upstreamPools) closeIdle() {
	u.pools.Range(func(_, p any) bool {
		p.(*connPool).closeIdle(0)
		return true
	})
}

// connPool is one upstream's idle connections, most recently used last: a
// warm connection is reused first, and the cold end ages out.
type connPool struct {
	up   *upstreamPools
	addr string

	mu     sync.Mutex
	idle   []*upstreamConn
	reaper *time.Timer
}

// upstreamConn is one persistent connection to an app.
type upstreamConn struct {
	pool      *connPool
	nc        net.Conn
	alive     func() bool // the liveness peek (upstream_linux.go); nil: taken as alive
	head      headLimit
	br        *bufio.Reader
	bw        *bufio.Writer
	idleSince time.Time
}

// headLimit counts what the response head may still read; negative means
// no limit (while a body is read).
type headLimit struct {
	r    io.Reader
	left int
}

func (h *headLimit) Read(p []byte) (int, error) {
	if h.left < 0 {
		return h.r.Read(p)
	}
	if h.left == 0 {
		return 0, errResponseHeaderTooBig
	}
	if len(p) > h.left {
		p = p[:h.left]
	}
	n, err := h.r.Read(p)
	h.left -= n
	return n, err
}

// get returns a live idle connection, or dials a new one.
func (p *connPool) get(ctx context.Context) (*upstreamConn, error) {
	for {
		p.mu.Lock()
		n := len(p.idle)
		if n == 0 {
			p.mu.Unlock()
			break
		}
		c := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		// An app closes idle connections on its own schedule (Node.js after
		// 5 s, gunicorn after 2 s): a connection it has closed, or that holds
		// bytes nobody asked for, is not used.
		if time.Since(c.idleSince) < p.up.idleTimeout && (c.alive == nil || c.alive()) {
			return c, nil
		}
		_ = c.nc.Close()
	}
	nc, err := p.up.dial(ctx, "tcp", p.addr)
	if err != nil {
		return nil, err
	}
	c := &upstreamConn{pool: p, nc: nc}
	c.alive = newLivenessPeek(nc)
	c.head = headLimit{r: nc, left: -1}
	c.br = bufio.NewReader(&c.head)
	c.bw = bufio.NewWriter(nc)
	return c, nil
}

// put gives a connection whose exchange ended cleanly back to the pool.
func (p *connPool) put(c *upstreamConn) {
	if c.br.Buffered() > 0 { // the app said more than its answer: not to be trusted again
		_ = c.nc.Close()
		return
	}
	c.idleSince = time.Now()
	p.mu.Lock()
	if len(p.idle) >= p.up.maxIdle {
		p.mu.Unlock()
		_ = c.nc.Close()
		return
	}
	p.idle = append(p.idle, c)
	if p.reaper == nil {
		p.reaper = time.AfterFunc(p.up.idleTimeout, p.reap)
	}
	p.mu.Unlock()
}

// reap closes the connections idle for longer than the idle timeout, and
// comes back while any are left.
func (p *connPool) reap() {
	p.closeIdle(p.up.idleTimeout)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reaper = nil
	if len(p.idle) > 0 {
		p.reaper = time.AfterFunc(p.up.idleTimeout/2, p.reap)
	}
}

// closeIdle closes the idle connections older than age (all of them if age is 0).
func (p *connPool) closeIdle(age time.Duration) {
	p.mu.Lock()
	keep := p.idle[:0]
	var gone []*upstreamConn
	for _, c := range p.idle {
		if age == 0 || time.Since(c.idleSince) >= age {
			gone = append(gone, c)
		} else {
			keep = append(keep, c)
		}
	}
	clear(p.idle[len(keep):])
	p.idle = keep
	p.mu.Unlock()
	for _, c := range gone {
		_ = c.nc.Close()
	}
}

// roundTrip is one exchange on the lean path. Nothing here is ever sent
// twice: a request written on a connection that then fails is the app's
// 502, never a replay.
func (u *upstreamPools) roundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	c, err := u.pool(req.URL).get(ctx)
	if err != nil {
		return nil, err
	}
	// The client going away ends the exchange: closing the connection
	// unblocks whatever waits on it, and stop then reports it unfit to pool.
	stop := context.AfterFunc(ctx, func() { _ = c.nc.Close() })
	fail := func(err error) (*http.Response, error) {
		stop()
		_ = c.nc.Close()
		return nil, err
	}
	// The response-header timeout covers writing the request (its body is in
	// memory) and waiting for the answer's head.
	_ = c.nc.SetDeadline(time.Now().Add(u.responseTimeout))
	if err := req.Write(c.bw); err != nil {
		return fail(err)
	}
	if err := c.bw.Flush(); err != nil {
		return fail(err)
	}
	var res *http.Response
	trace := httptrace.ContextClientTrace(ctx)
	for informational := 0; ; informational++ {
		c.head.left = maxResponseHeaderBytes // each head has its own bound
		res, err = http.ReadResponse(c.br, req)
		if err != nil {
			return fail(err)
		}
		if res.StatusCode >= 200 {
			break
		}
		// 1xx. An app that asks to switch protocols unasked is broken. A 100
		// Continue answers the Expect header that rampart passed on with a
		// body the app already has, and net/http has answered the client's
		// own already. Any other (103 Early Hints, 102) goes to the client
		// as http.Transport would hand it on: through ReverseProxy's trace.
		if res.StatusCode == http.StatusSwitchingProtocols {
			return fail(errUnexpected101)
		}
		if informational == max1xxResponses {
			return fail(errTooMany1xx)
		}
		if res.StatusCode != http.StatusContinue && trace != nil && trace.Got1xxResponse != nil {
			if err := trace.Got1xxResponse(res.StatusCode, textproto.MIMEHeader(res.Header)); err != nil {
				return fail(err)
			}
		}
	}
	c.head.left = -1
	_ = c.nc.SetDeadline(time.Time{}) // the body may take as long as it moves: the client's write deadlines pace it
	reusable := !res.Close && !req.Close
	if res.Body == http.NoBody {
		c.release(stop, reusable)
		return res, nil
	}
	res.Body = &upstreamBody{body: res.Body, c: c, stop: stop, reusable: reusable}
	return res, nil
}

// release ends an exchange: the connection goes back to the pool if it can
// carry another, and is closed otherwise.
func (c *upstreamConn) release(stop func() bool, reusable bool) {
	if stop() && reusable {
		c.pool.put(c)
		return
	}
	_ = c.nc.Close()
}

// upstreamBody is a response body read from a pooled connection: read to its
// end, it gives the connection back; closed before that, it closes it, since
// the rest of the body would be in the way of the next answer.
type upstreamBody struct {
	body     io.ReadCloser
	c        *upstreamConn
	stop     func() bool
	reusable bool
	done     bool
}

func (b *upstreamBody) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	n, err := b.body.Read(p)
	if err == io.EOF {
		b.done = true
		b.c.release(b.stop, b.reusable)
	}
	return n, err
}

func (b *upstreamBody) Close() error {
	if !b.done {
		b.done = true
		b.stop()
		_ = b.c.nc.Close()
	}
	return nil
}

// dialAddr is the URL's host with its port (80 if none).
func dialAddr(u *url.URL) string {
	if u.Port() == "" {
		return net.JoinHostPort(u.Hostname(), "80")
	}
	return u.Host
}

package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// TransportConfig configures the connections to upstreams.
type TransportConfig struct {
	// TLS is used for https upstreams. Nil means Go's defaults with the
	// system roots; verification is never skipped by rampart.
	TLS *tls.Config

	// ResponseHeaderTimeout bounds the wait for an upstream's response headers;
	// past it the client gets 504. Zero means 60 seconds.
	ResponseHeaderTimeout time.Duration

	// DialTimeout bounds connecting to an upstream. Zero means 10 seconds.
	DialTimeout time.Duration
}

// Transport carries requests to the upstreams. A plain-HTTP request whose
// body is absent or already in memory (the common case: every GET, and every
// body up to Limits.BufferBodyBytes) goes the lean way, over rampart's own
// connection pool (upstream.go). Upgrades, https upstreams and bodies still
// streaming in from the client go through an http.Transport, kept from
// replaying anything. Either way, nothing is sent twice: only a request whose
// connection could not be made goes again (poolTransport), to another member.
//
// The zero Transport is not usable; NewTransport makes one.
type Transport struct {
	lean     *upstreamPools
	fallback *http.Transport
	h2c      *http.Transport // HTTP/2 without TLS, for h2c:// members
}

var _ http.RoundTripper = (*Transport)(nil)

// NewTransport returns the Transport for upstream calls.
func NewTransport(cfg TransportConfig) *Transport {
	if cfg.ResponseHeaderTimeout == 0 {
		cfg.ResponseHeaderTimeout = 60 * time.Second
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = 10 * time.Second
	}
	const idleTimeout = 90 * time.Second
	const maxIdlePerHost = 512 // enough for every stream in flight: fewer means dialling afresh under load
	dialer := &net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second}
	// A Unix socket member's address is its path in disguise (unixHostSuffix).
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		if path, ok := unixSocket(addr); ok {
			return dialer.DialContext(ctx, "unix", path)
		}
		return dialer.DialContext(ctx, network, addr)
	}
	h2c := &http.Transport{
		DialContext:            dial,
		Protocols:              new(http.Protocols),
		MaxIdleConns:           64,
		IdleConnTimeout:        idleTimeout,
		ResponseHeaderTimeout:  cfg.ResponseHeaderTimeout,
		MaxResponseHeaderBytes: maxResponseHeaderBytes,
	}
	h2c.Protocols.SetUnencryptedHTTP2(true) // and nothing else: prior knowledge, as gRPC servers expect
	return &Transport{
		h2c: h2c,
		lean: &upstreamPools{
			dial:            dial,
			responseTimeout: cfg.ResponseHeaderTimeout,
			idleTimeout:     idleTimeout,
			maxIdle:         maxIdlePerHost,
		},
		fallback: &http.Transport{
			// No Proxy: an edge proxy must not route through HTTP_PROXY by accident.
			DialContext:            dial,
			TLSClientConfig:        cfg.TLS,
			ForceAttemptHTTP2:      true,
			MaxIdleConns:           1024,
			MaxIdleConnsPerHost:    maxIdlePerHost,
			IdleConnTimeout:        idleTimeout,
			TLSHandshakeTimeout:    10 * time.Second,
			ResponseHeaderTimeout:  cfg.ResponseHeaderTimeout,
			ExpectContinueTimeout:  time.Second,
			MaxResponseHeaderBytes: maxResponseHeaderBytes, // as on the lean way
		},
	}
}

// RoundTrip sends req the lean way when it can, through http.Transport otherwise.
// A request to an h2c:// member goes over HTTP/2 without TLS.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if leanEligible(req) {
		return t.lean.roundTrip(req)
	}
	if req.URL.Scheme == "h2c" {
		req.URL.Scheme = "http" // the pool's own outbound request: its scheme is set again for each member
		return t.h2c.RoundTrip(unreplayable(req))
	}
	return t.fallback.RoundTrip(unreplayable(req))
}

// CloseIdleConnections closes the idle connections of both ways; requests in
// flight finish on theirs.
func (t *Transport) CloseIdleConnections() {
	t.lean.closeIdle()
	t.fallback.CloseIdleConnections()
	t.h2c.CloseIdleConnections()
}

// unreplayable returns req, or a copy of it that http.Transport will not send
// twice. It replays a request written on a reused connection that broke when
// the request has no body (or can rewind it), or carries Idempotency-Key or
// X-Idempotency-Key: a payment POST must never reach the app twice, nor a GET
// (which a careless app may act on).
func unreplayable(req *http.Request) *http.Request {
	emptyGet := (req.Body == nil || req.Body == http.NoBody) && (req.Method == http.MethodGet || req.Method == http.MethodHead)
	keyed := false
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		for _, k := range idempotencyKeys {
			_, ok := req.Header[k]
			keyed = keyed || ok
		}
	}
	if !emptyGet && !keyed {
		return req
	}
	out := req.Clone(req.Context())
	if emptyGet {
		out.Body = emptyBody{}
	}
	// The key is kept under a non-canonical map key that the Transport's
	// check does not see; header names are case-insensitive on the wire, so
	// the app still receives it.
	for _, k := range idempotencyKeys {
		if v, ok := out.Header[k]; ok {
			delete(out.Header, k)
			out.Header[strings.ToLower(k)] = v
		}
	}
	return out
}

var idempotencyKeys = [...]string{"Idempotency-Key", "X-Idempotency-Key"}

// emptyBody is a request body with nothing in it. Given to a bodiless GET or
// HEAD on its way to http.Transport, it makes http.Transport treat the request as not replayable (it
// replays only requests whose Body is nil, NoBody or has GetBody), so a
// request written on a keep-alive connection that then breaks is never sent
// to the app a second time. The Transport sees the body is empty before it
// writes the request, so nothing changes on the wire.
type emptyBody struct{}

func (emptyBody) Read([]byte) (int, error) { return 0, io.EOF }
func (emptyBody) Close() error             { return nil }

func isDialError(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial"
}

// bufferPool lends ReverseProxy its 32 KiB copy buffers: without one it
// allocates a fresh buffer for every response body. It pools array pointers,
// which a returned slice converts back to without allocating.
type bufferPool struct{ p sync.Pool }

const copyBufferSize = 32 << 10

func newBufferPool() *bufferPool {
	return &bufferPool{p: sync.Pool{New: func() any { return new([copyBufferSize]byte) }}}
}

func (bp *bufferPool) Get() []byte { return bp.p.Get().(*[copyBufferSize]byte)[:] }

func (bp *bufferPool) Put(b []byte) {
	if cap(b) >= copyBufferSize {
		bp.p.Put((*[copyBufferSize]byte)(b[:copyBufferSize]))
	}
}

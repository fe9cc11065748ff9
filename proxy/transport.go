package proxy

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
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

// NewTransport returns the http.Transport for upstream calls.
func NewTransport(cfg TransportConfig) *http.Transport {
	if cfg.ResponseHeaderTimeout == 0 {
		cfg.ResponseHeaderTimeout = 60 * time.Second
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = 10 * time.Second
	}
	dialer := &net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second}
	return &http.Transport{
		// No Proxy: an edge proxy must not route through HTTP_PROXY by accident.
		DialContext:           dialer.DialContext,
		TLSClientConfig:       cfg.TLS,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   512, // enough for every stream in flight: fewer means dialling afresh under load
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: cfg.ResponseHeaderTimeout,
		ExpectContinueTimeout: time.Second,
	}
}

// emptyBody is a request body with nothing in it. Given to a bodiless GET or
// HEAD, it makes http.Transport treat the request as not replayable (it
// replays only requests whose Body is nil, NoBody or has GetBody), so a
// request written on a keep-alive connection that then breaks is never sent
// to the app a second time. The Transport sees the body is empty before it
// writes the request, so nothing changes on the wire.
type emptyBody struct{}

func (emptyBody) Read([]byte) (int, error) { return 0, io.EOF }
func (emptyBody) Close() error             { return nil }

// retryOnDial retries a GET or HEAD once when the connection to the app could
// not be made: the app cannot have seen it. Nothing else is ever retried.
type retryOnDial struct{ next http.RoundTripper }

func (r retryOnDial) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	defer func() { recordUpstream(req.Context(), time.Since(start)) }()
	res, err := r.next.RoundTrip(req)
	if err == nil || (req.Method != http.MethodGet && req.Method != http.MethodHead) || !isDialError(err) || req.Context().Err() != nil {
		return res, err
	}
	retry := req.Clone(req.Context())
	if req.Body != nil {
		retry.Body = emptyBody{}
	}
	return r.next.RoundTrip(retry)
}

func isDialError(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial"
}

// bufferPool lends ReverseProxy its 32 KiB copy buffers: without one it
// allocates a fresh buffer for every response body.
type bufferPool struct{ p sync.Pool }

func newBufferPool() *bufferPool {
	return &bufferPool{p: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}
}

func (bp *bufferPool) Get() []byte  { return *(bp.p.Get().(*[]byte)) }
func (bp *bufferPool) Put(b []byte) { bp.p.Put(&b) }

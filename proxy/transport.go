package proxy

import (
	"crypto/tls"
	"net"
	"net/http"
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
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: cfg.ResponseHeaderTimeout,
		ExpectContinueTimeout: time.Second,
	}
}

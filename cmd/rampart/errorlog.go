package main

import (
	"log"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/rampart-proxy/rampart/metrics"
)

// serverErrorLog is net/http's ErrorLog: each line is counted (TLS handshake
// failures by reason) and logged under a fixed message, through a sampler, so
// that a flood of bad handshakes writes at most a few lines a second.
func serverErrorLog(l *zap.Logger, m *metrics.Metrics) *log.Logger {
	sampled := l.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
		return zapcore.NewSamplerWithOptions(c, time.Second, 5, 0)
	}))
	return log.New(errorLogWriter{log: sampled, m: m}, "", 0)
}

type errorLogWriter struct {
	log *zap.Logger
	m   *metrics.Metrics
}

func (w errorLogWriter) Write(p []byte) (int, error) {
	line := strings.TrimSpace(string(p))
	// "http: TLS handshake error from 192.0.2.1:5555: remote error: tls: bad certificate"
	if rest, ok := strings.CutPrefix(line, "http: TLS handshake error from "); ok {
		remote, cause, _ := strings.Cut(rest, ": ")
		reason := handshakeReason(cause)
		w.m.HandshakeError(reason)
		w.log.Info("TLS handshake failed", zap.String("reason", reason), zap.String("remote", remote), zap.String("error", cause))
		return len(p), nil
	}
	w.log.Warn("http server error", zap.String("error", line))
	return len(p), nil
}

// handshakeReason sorts a handshake failure into metrics.HandshakeErrorReasons.
func handshakeReason(cause string) string {
	switch c := strings.ToLower(cause); {
	case c == "eof" || strings.Contains(c, "connection reset") || strings.HasSuffix(c, "eof"):
		return "eof"
	case strings.Contains(c, "timeout"):
		return "timeout"
	case strings.Contains(c, "not served") || strings.Contains(c, "missing server name") || strings.Contains(c, "server name component count"):
		return "unknown_name"
	case strings.Contains(c, "protocol version") || strings.Contains(c, "unsupported versions"):
		return "protocol_version"
	case strings.Contains(c, "no cipher suite") || strings.Contains(c, "no mutually supported"):
		return "no_shared_cipher"
	case strings.Contains(c, "bad certificate") || strings.Contains(c, "unknown certificate") || strings.Contains(c, "certificate"):
		return "bad_certificate"
	case strings.Contains(c, "first record does not look like a tls handshake"), strings.Contains(c, "http request to an https server"):
		return "not_tls"
	}
	return "other"
}

package proxy

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// AccessLog wraps next so that each request is logged once it ends, at info
// level: request id, client, host, method, path, query, status, bytes in and
// out, duration, time spent waiting for the app, TLS version, protocol and
// user agent. It never logs headers beyond the user agent, nor bodies. The
// logger's encoder must redact (card numbers, secret query values: package
// redact); the query is logged with its leading "?" so that every parameter
// is recognisable as one. Each request gets an X-Request-Id (the client's,
// if it sent one of a safe shape), passed to the app and returned to the
// client. A nil logger returns next unchanged.
func AccessLog(logger *zap.Logger, next http.Handler) http.Handler {
	if logger == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := requestID(r)
		w.Header().Set("X-Request-Id", id)
		info := &requestInfo{}
		r = r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, info))
		var in *countingBody
		if r.Body != nil && r.Body != http.NoBody {
			in = &countingBody{ReadCloser: r.Body}
			r.Body = in
		}
		// The status and size come from the writer's own recorder when it has
		// one (the metrics wrapper outside this one): one recorder per request.
		rec, recorded := w.(responseRecorder)
		if !recorded {
			sr := &statusRecorder{ResponseWriter: w}
			w, rec = sr, sr
		}
		aborted := true
		defer func() {
			if aborted {
				// The handler panicked, usually with http.ErrAbortHandler: the
				// app broke off its response and the client's is cut off too.
				// Log that, then let net/http abort the connection or stream.
				logger.Warn("response aborted", zap.String("request_id", id), zap.String("method", r.Method),
					zap.String("host", r.Host), zap.String("path", r.URL.Path), zap.Int("status", rec.Status()),
					zap.Int64("bytes_out", rec.BytesWritten()), zap.Duration("duration", time.Since(start)))
			}
		}()
		next.ServeHTTP(w, r)
		aborted = false

		level, msg := zapcore.InfoLevel, "request"
		if rec.Status() == 0 && r.Context().Err() != nil {
			// The client left before any answer (nginx's 499): a debug line,
			// so a rapid-reset flood cannot flood the log too.
			level, msg = zapcore.DebugLevel, "client gone before the answer"
		}
		ce := logger.Check(level, msg)
		if ce == nil {
			return
		}
		status := rec.Status()
		switch {
		case level == zapcore.DebugLevel:
			status = 499
		case status == 0 && r.Header.Get("Upgrade") != "":
			status = http.StatusSwitchingProtocols // hijacked: the 101 went out on the raw connection
		case status == 0:
			status = http.StatusOK
		}
		var bytesIn int64
		if in != nil {
			bytesIn = in.n.Load()
		}
		tlsVersion := ""
		if r.TLS != nil {
			tlsVersion = tls.VersionName(r.TLS.Version)
		}
		query := ""
		if r.URL.RawQuery != "" {
			query = "?" + r.URL.RawQuery
		}
		ce.Write(
			zap.String("request_id", id),
			zap.String("remote", r.RemoteAddr),
			zap.String("host", r.Host),
			zap.String("method", r.Method),
			zap.String("path", r.URL.Path),
			zap.String("query", query),
			zap.Int("status", status),
			zap.Int64("bytes_in", bytesIn),
			zap.Int64("bytes_out", rec.BytesWritten()),
			zap.Duration("duration", time.Since(start)),
			zap.Duration("upstream_duration", info.upstream),
			zap.String("tls", tlsVersion),
			zap.String("proto", r.Proto),
			zap.String("user_agent", r.UserAgent()),
		)
	})
}

// requestInfo collects what the proxy learns about a request for its log line.
type requestInfo struct {
	upstream time.Duration // waiting for the app's response headers, all attempts
}

type requestInfoKey struct{}

// recordUpstream adds d to the request's time spent waiting for the app.
func recordUpstream(ctx context.Context, d time.Duration) {
	if info, ok := ctx.Value(requestInfoKey{}).(*requestInfo); ok {
		info.upstream += d
	}
}

// requestID returns the client's X-Request-Id if it has a safe shape
// (validRequestID), else a new one of rampart's own, and makes sure the
// request carries exactly that one, for the app.
func requestID(r *http.Request) string {
	if v := r.Header["X-Request-Id"]; len(v) == 1 && validRequestID(v[0]) {
		return v[0]
	}
	id := newRequestID()
	r.Header["X-Request-Id"] = []string{id}
	return id
}

// newRequestID returns 128 random bits as 32 letters, a to p: with no
// digit in it, log redaction can never take one for a card number, so the
// id logged is always the id the client and the app got.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	var id [32]byte
	for i, c := range b {
		id[2*i], id[2*i+1] = 'a'+c>>4, 'a'+c&0xf
	}
	return string(id[:])
}

// validRequestID reports whether a client's request id may be kept: 1 to
// 64 of A–Z a–z 0–9 . _ - :, and never 13 digits without a letter between
// them (the shape of a card number, which the log would mask), and never
// the start of a JSON Web Token (masked too). Anything
// else could carry data the log must not hold, or be logged differently
// from what the app received.
func validRequestID(id string) bool {
	if len(id) == 0 || len(id) > 64 || strings.Contains(id, "eyJ") { // a JSON Web Token's start: masked in the log
		return false
	}
	digits := 0
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
			digits = 0
		case '0' <= c && c <= '9':
			if digits++; digits >= 13 {
				return false
			}
		case c == '.' || c == '_' || c == '-' || c == ':':
		default:
			return false
		}
	}
	return true
}

// countingBody counts the request body bytes read. The count is atomic:
// http.Transport may still be reading the body while the log line is
// written (the app answered before the upload ended).
type countingBody struct {
	io.ReadCloser
	n atomic.Int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// responseRecorder is a ResponseWriter that remembers the status of its
// response (0 until one is sent; a 1xx does not count) and the body bytes
// written.
type responseRecorder interface {
	http.ResponseWriter
	Status() int
	BytesWritten() int64
}

// statusRecorder remembers the status and size of a response. Unwrap lets
// http.ResponseController reach Flush and Hijack on the real writer, which
// streaming and WebSocket upgrades need.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 && code >= 200 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += int64(n)
	return n, err
}

// Flush is here because http.Flusher is checked by type assertion in places
// that do not use ResponseController.
func (s *statusRecorder) Flush() { _ = http.NewResponseController(s.ResponseWriter).Flush() }

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *statusRecorder) Status() int { return s.status }

func (s *statusRecorder) BytesWritten() int64 { return s.bytes }

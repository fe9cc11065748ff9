package proxy

import (
	"net/http"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// AccessLog wraps next so that each request is logged once it ends, at info
// level. It logs the path but never the query string, headers or body: those
// can carry card numbers and credentials. A nil logger returns next unchanged.
func AccessLog(logger *zap.Logger, next http.Handler) http.Handler {
	if logger == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		aborted := true
		defer func() {
			if aborted {
				// The handler panicked, usually with http.ErrAbortHandler: the
				// app broke off its response and the client's is cut off too.
				// Log that, then let net/http abort the connection or stream.
				logger.Warn("response aborted", zap.String("method", r.Method), zap.String("host", r.Host),
					zap.String("path", r.URL.Path), zap.Int("status", rec.status), zap.Int64("bytes", rec.bytes),
					zap.Duration("duration", time.Since(start)))
			}
		}()
		next.ServeHTTP(rec, r)
		aborted = false
		level, msg := zapcore.InfoLevel, "request"
		if rec.status == 0 && r.Context().Err() != nil {
			// The client left before any answer (nginx's 499): a debug line,
			// so a rapid-reset flood cannot flood the log too.
			level, msg = zapcore.DebugLevel, "client gone before the answer"
		}
		ce := logger.Check(level, msg)
		if ce == nil {
			return
		}
		status := rec.status
		if level == zapcore.DebugLevel {
			status = 499
		} else if status == 0 {
			status = http.StatusOK
			if r.Header.Get("Upgrade") != "" {
				status = http.StatusSwitchingProtocols // hijacked: the 101 went out on the raw connection
			}
		}
		ce.Write(
			zap.String("method", r.Method),
			zap.String("host", r.Host),
			zap.String("path", r.URL.Path),
			zap.String("proto", r.Proto),
			zap.Int("status", status),
			zap.Int64("bytes", rec.bytes),
			zap.Duration("duration", time.Since(start)),
			zap.String("remote", r.RemoteAddr),
		)
	})
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

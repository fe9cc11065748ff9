package metrics

import (
	"net/http"
	"time"
)

// Handler wraps next so that every request is counted, timed and sized.
func (m *Metrics) Handler(next http.Handler) http.Handler {
	return &instrumented{m: m, next: next}
}

var _ http.Handler = (*instrumented)(nil)

type instrumented struct {
	m    *Metrics
	next http.Handler
}

func (h *instrumented) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	h.m.inFlight.Inc()
	defer h.m.inFlight.Dec()
	rec := &recorder{ResponseWriter: w}
	defer func() {
		code := rec.status
		switch {
		case code == 0 && r.Header.Get("Upgrade") != "":
			code = http.StatusSwitchingProtocols // hijacked: the 101 went out on the raw connection
		case code == 0 && r.Context().Err() != nil:
			code = 499 // the client left before any answer
		case code == 0:
			code = http.StatusOK
		}
		host := h.m.hostLabel(r.Host)
		h.m.requests.WithLabelValues(host, methodLabel(r.Method), codeLabel(code)).Inc()
		h.m.duration.WithLabelValues(host).Observe(time.Since(start).Seconds())
		h.m.responseSize.Observe(float64(rec.bytes))
	}()
	h.next.ServeHTTP(rec, r)
}

// recorder remembers the status and size of a response; Unwrap lets
// http.ResponseController reach Flush and Hijack underneath. Status and
// BytesWritten let a handler inside (the access log) read them rather than
// wrap the writer again.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 && code >= 200 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

func (r *recorder) Flush() { _ = http.NewResponseController(r.ResponseWriter).Flush() }

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Status is the response's status: 0 until one is sent (a 1xx does not count).
func (r *recorder) Status() int { return r.status }

// BytesWritten is the number of body bytes written so far.
func (r *recorder) BytesWritten() int64 { return r.bytes }

// RoundTripper wraps next so that the app's response time is observed.
func (m *Metrics) RoundTripper(next http.RoundTripper) http.RoundTripper {
	return roundTripper{m: m, next: next}
}

type roundTripper struct {
	m    *Metrics
	next http.RoundTripper
}

func (t roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	res, err := t.next.RoundTrip(req)
	if err == nil {
		t.m.upstreamDuration.Observe(time.Since(start).Seconds())
	}
	return res, err
}

package proxy

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"
)

// Limits bounds what one request may cost rampart and the app. The zero value
// of each field means its default.
type Limits struct {
	// MaxBodyBytes is the largest request body; past it the client gets 413,
	// before the app is contacted when Content-Length already says so.
	// Zero means 10 MiB.
	MaxBodyBytes int64

	// BufferBodyBytes: bodies up to this size are read in full before the app
	// is contacted, so a malformed or abandoned body never reaches it.
	// Zero means 64 KiB.
	BufferBodyBytes int64

	// BodyIdleTimeout is how long a request body may stall between reads.
	// Zero means 30 seconds.
	BodyIdleTimeout time.Duration

	// MinBodyRate is the slowest average a request body may arrive at, in
	// bytes per second, enforced once the body has taken RateGrace.
	// Zero means 1024; negative disables the check.
	MinBodyRate int64

	// RateGrace is how long a body, or the writes of a response, may take
	// before their rate is judged: short uploads and downloads on slow
	// links are not punished for their first seconds. Zero or negative
	// means 10 seconds.
	RateGrace time.Duration

	// WriteIdleTimeout is how long one write to the client may block (a
	// client that stops reading). Long streams that keep moving are not cut.
	// Zero means 30 seconds.
	WriteIdleTimeout time.Duration

	// MinResponseRate is the slowest a client may read a response, in bytes
	// per second, judged once the writes to it have spent RateGrace
	// blocked; a response read slower is cut. Zero means 1024; negative
	// disables the check.
	MinResponseRate int64

	// MaxRanges is the most byte ranges a request may ask for (Range and
	// Request-Range together); past it, or past 4 KiB of them, the client
	// gets 416 and the app is not asked. Zero means 100; negative, no limit.
	MaxRanges int
}

func (l Limits) withDefaults() Limits {
	if l.MaxBodyBytes == 0 {
		l.MaxBodyBytes = 10 << 20
	}
	if l.BufferBodyBytes == 0 {
		l.BufferBodyBytes = 64 << 10
	}
	l.BufferBodyBytes = min(l.BufferBodyBytes, l.MaxBodyBytes)
	if l.BodyIdleTimeout == 0 {
		l.BodyIdleTimeout = 30 * time.Second
	}
	if l.MinBodyRate == 0 {
		l.MinBodyRate = 1024
	}
	if l.RateGrace <= 0 {
		l.RateGrace = 10 * time.Second
	}
	if l.WriteIdleTimeout == 0 {
		l.WriteIdleTimeout = 30 * time.Second
	}
	if l.MaxRanges == 0 {
		l.MaxRanges = 100
	}
	if l.MinResponseRate == 0 {
		l.MinResponseRate = 1024
	}
	return l
}

// errBodyTooSlow is a request body arriving below MinBodyRate.
var errBodyTooSlow = errors.New("proxy: request body below the minimum rate")

// bodyReader paces the client's request body: a read deadline before every
// read, a minimum average rate and a size cap. Its errors are marked as the
// client's (clientBodyFault), so a failed upstream exchange is blamed on the
// right side.
//
// http.Transport may go on reading a streamed body after the handler has
// returned (the app answered early): from then on, Read fails without
// touching the handler's ResponseController, which must not be used after
// ServeHTTP returns (on a keep-alive connection it would clear the next
// request's read deadline).
type bodyReader struct {
	body    io.ReadCloser // http.MaxBytesReader over the client's body
	rc      *http.ResponseController
	idle    time.Duration
	minRate int64
	grace   time.Duration
	start   time.Time
	n       int64

	conn *guardedConn // told when a read waits on the client; nil without a ConnGuard, or for HTTP/2

	mu   sync.Mutex
	done bool // the handler has returned
}

// errHandlerDone is a read of a request body after its handler returned.
var errHandlerDone = errors.New("proxy: request body read after the handler returned")

func (b *bodyReader) Read(p []byte) (int, error) {
	now := time.Now()
	if !b.setReadDeadline(now.Add(b.idle)) {
		return 0, &clientBodyFault{errHandlerDone}
	}
	if b.conn != nil {
		b.conn.waitStarts(now)
	}
	n, err := b.body.Read(p)
	if b.conn != nil {
		b.conn.waitEnds()
	}
	b.n += int64(n)
	if err == nil && b.minRate > 0 {
		if el := time.Since(b.start); el > b.grace && float64(b.n) < el.Seconds()*float64(b.minRate) {
			err = errBodyTooSlow
		}
	}
	switch {
	case err == io.EOF:
		b.setReadDeadline(time.Time{})
	case err != nil:
		// Marked, so that whoever gets this error through the upstream
		// transport can tell it was the client's doing.
		err = &clientBodyFault{err}
	}
	return n, err
}

// setReadDeadline sets the connection's read deadline unless the handler
// has returned, and reports whether it could.
func (b *bodyReader) setReadDeadline(t time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return false
	}
	_ = b.rc.SetReadDeadline(t)
	return true
}

// handlerDone marks the handler returned.
func (b *bodyReader) handlerDone() {
	b.mu.Lock()
	b.done = true
	b.mu.Unlock()
}

// clientBodyFault is a failure of the client's request body: malformed
// framing, too big, too slow, or broken off.
type clientBodyFault struct{ err error }

func (e *clientBodyFault) Error() string { return "proxy: client request body: " + e.err.Error() }
func (e *clientBodyFault) Unwrap() error { return e.err }

func (b *bodyReader) Close() error { return b.body.Close() }

// clientBodyStatus maps a client body error to the status the client gets,
// and a short reason.
func clientBodyStatus(err error) (int, string) {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge, "body_too_large"
	case errors.Is(err, errBodyTooSlow), isTimeout(err):
		return http.StatusRequestTimeout, "body_timeout"
	}
	return http.StatusBadRequest, "body_malformed" // malformed framing, or the client broke off
}

// prepareBody installs the paced body reader and reads small bodies in full.
// It returns a status (and reason) to answer with instead of proxying, or 0,
// and the body reader installed, if any: the handler marks it when it
// returns.
func (l Limits) prepareBody(w http.ResponseWriter, rc *http.ResponseController, r *http.Request) (int, string, *bodyReader) {
	if r.ContentLength > l.MaxBodyBytes {
		return http.StatusRequestEntityTooLarge, "body_too_large", nil
	}
	if r.Body == nil || r.Body == http.NoBody {
		return 0, "", nil
	}
	if r.ContentLength == 0 {
		// Nothing can follow: net/http gives HTTP/1 NoBody here itself, and
		// for HTTP/2 (END_STREAM on the HEADERS, or content-length: 0) its
		// server refuses any DATA beyond the declared length. Said as NoBody,
		// the request goes to the app the lean way, not through
		// http.Transport's probe of a body it cannot see into.
		r.Body = http.NoBody
		return 0, "", nil
	}
	br := &bodyReader{
		body:    http.MaxBytesReader(w, r.Body, l.MaxBodyBytes),
		rc:      rc,
		idle:    l.BodyIdleTimeout,
		minRate: l.MinBodyRate,
		grace:   l.RateGrace,
		conn:    http1Conn(r),
		start:   time.Now(),
	}
	r.Body = br
	if r.ContentLength > l.BufferBodyBytes {
		return 0, "", br // streamed: too big to hold, its length already checked
	}
	// Read up to the buffer size plus one byte to learn whether it all fits.
	buf := make([]byte, 0, max(r.ContentLength, 512))
	bb := bytes.NewBuffer(buf)
	_, err := io.Copy(bb, io.LimitReader(br, l.BufferBodyBytes+1))
	if err != nil {
		status, reason := clientBodyStatus(err)
		return status, reason, br
	}
	if int64(bb.Len()) <= l.BufferBodyBytes {
		// The whole body is here: the app gets it with a Content-Length,
		// whatever framing the client used; an empty one (a chunked body
		// that was only its last chunk) is no body at all.
		r.Body = io.NopCloser(bb)
		if bb.Len() == 0 {
			r.Body = http.NoBody
		}
		r.ContentLength = int64(bb.Len())
		r.TransferEncoding = nil
		return 0, "", br
	}
	// Bigger than the buffer (chunked): what was read goes first, then the rest.
	r.Body = &resumedBody{Reader: io.MultiReader(bb, br), br: br}
	return 0, "", br
}

// resumedBody is a body whose start was read ahead.
type resumedBody struct {
	io.Reader
	br *bodyReader
}

func (b *resumedBody) Close() error { return b.br.Close() }

// writeDeadline gives every write to the client its own deadline, so a
// client that stops reading is cut off while a stream that keeps moving is
// not. It also cuts a response that the client reads slower than
// Limits.MinResponseRate, once its writes have spent Limits.RateGrace
// waiting for the client. The rate is the client's draining rate: once a
// write has had to wait (the socket's buffers are full), the bytes written
// from then on, over the time writes spent waiting. The bytes that first
// filled the buffers are not the client's doing, and time the app took
// between writes is not counted against the client: an app that writes
// slowly (a stream of events) is not judged, nor a response small enough
// for the buffers. HTTP/2 streams are not judged: they share their
// connection's bandwidth, so a busy page on a slow link would fall below
// the rate stream by stream; net/http's per-connection write timeout bounds
// an HTTP/2 client that stops reading.
type writeDeadline struct {
	http.ResponseWriter
	rc      *http.ResponseController
	t       *table // for onReject, when the rate cuts the response
	idle    time.Duration
	minRate int64         // bytes a second; 0: none
	waited  time.Duration // time spent in writes that waited for the client
	drained int64         // bytes written since the first write that waited
	byRate  bool          // the deadline last set was the rate's
	cut     bool          // the rate has cut the response
	conn    *guardedConn  // told when a write waits on the client; nil without a ConnGuard, or for HTTP/2
}

// waitedWrite is how long a write must take to count as waiting for the
// client rather than going straight into the socket's buffers.
const waitedWrite = time.Millisecond

// setDeadline sets the deadline of a write of size bytes starting now: the
// idle timeout, or sooner if by then the draining rate would fall below the
// minimum. Waiting writes may take, in all, the grace period or as long as
// their bytes take at the minimum rate, whichever is longer.
func (d *writeDeadline) setDeadline(now time.Time, size int) {
	dl := now.Add(d.idle)
	d.byRate = false
	if d.minRate > 0 {
		need := time.Duration(float64(d.drained+int64(size)) / float64(d.minRate) * float64(time.Second))
		if allowed := max(d.t.limits.RateGrace, need) - d.waited; allowed < d.idle {
			dl, d.byRate = now.Add(max(allowed, 0)), true
		}
	}
	_ = d.rc.SetWriteDeadline(dl)
}

// account adds a write that started at start to the response's tally.
func (d *writeDeadline) account(start time.Time, n int, err error) {
	if took := time.Since(start); took >= waitedWrite {
		d.waited += took
	}
	if d.waited > 0 {
		d.drained += int64(n)
	}
	if err != nil && d.byRate && !d.cut && isTimeout(err) {
		d.cut = true
		d.t.onReject("response_too_slow")
	}
}

func (d *writeDeadline) Write(p []byte) (int, error) {
	now := time.Now()
	d.setDeadline(now, len(p))
	if d.conn != nil {
		d.conn.waitStarts(now)
		defer d.conn.waitEnds()
	}
	n, err := d.ResponseWriter.Write(p)
	d.account(now, n, err)
	return n, err
}

func (d *writeDeadline) WriteHeader(code int) {
	d.setDeadline(time.Now(), 0)
	d.ResponseWriter.WriteHeader(code)
}

func (d *writeDeadline) Flush() {
	now := time.Now()
	d.setDeadline(now, 0)
	if d.conn != nil {
		d.conn.waitStarts(now)
		defer d.conn.waitEnds()
	}
	d.account(now, 0, d.rc.Flush())
}

func (d *writeDeadline) Unwrap() http.ResponseWriter { return d.ResponseWriter }

// http1Conn is the guarded connection of an HTTP/1 request, or nil.
func http1Conn(r *http.Request) *guardedConn {
	if r.ProtoMajor != 1 {
		return nil
	}
	return connOf(r)
}

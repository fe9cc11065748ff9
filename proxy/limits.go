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
	// bytes per second, enforced once the body has taken 10 seconds.
	// Zero means 1024; negative disables the check.
	MinBodyRate int64

	// WriteIdleTimeout is how long one write to the client may block (a
	// client that stops reading). Long streams that keep moving are not cut.
	// Zero means 30 seconds.
	WriteIdleTimeout time.Duration

	// MaxRanges is the most byte ranges a request may ask for (Range and
	// Request-Range together); past it, or past 4 KiB of them, the client
	// gets 416 and the app is not asked. Zero means 100; negative, no limit.
	MaxRanges int
}

// bodyRateGrace is how long a body may take before its rate is judged:
// short uploads on slow links are not punished for their first seconds.
const bodyRateGrace = 10 * time.Second

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
	if l.WriteIdleTimeout == 0 {
		l.WriteIdleTimeout = 30 * time.Second
	}
	if l.MaxRanges == 0 {
		l.MaxRanges = 100
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
	start   time.Time
	n       int64

	mu   sync.Mutex
	done bool // the handler has returned
}

// errHandlerDone is a read of a request body after its handler returned.
var errHandlerDone = errors.New("proxy: request body read after the handler returned")

func (b *bodyReader) Read(p []byte) (int, error) {
	if !b.setReadDeadline(time.Now().Add(b.idle)) {
		return 0, &clientBodyFault{errHandlerDone}
	}
	n, err := b.body.Read(p)
	b.n += int64(n)
	if err == nil && b.minRate > 0 {
		if el := time.Since(b.start); el > bodyRateGrace && float64(b.n) < el.Seconds()*float64(b.minRate) {
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

// writeDeadline gives every write to the client its own deadline, so a client
// that stops reading is cut off while a stream that keeps moving is not.
type writeDeadline struct {
	http.ResponseWriter
	rc   *http.ResponseController
	idle time.Duration
}

func (d *writeDeadline) Write(p []byte) (int, error) {
	_ = d.rc.SetWriteDeadline(time.Now().Add(d.idle))
	return d.ResponseWriter.Write(p)
}

func (d *writeDeadline) WriteHeader(code int) {
	_ = d.rc.SetWriteDeadline(time.Now().Add(d.idle))
	d.ResponseWriter.WriteHeader(code)
}

func (d *writeDeadline) Flush() {
	_ = d.rc.SetWriteDeadline(time.Now().Add(d.idle))
	_ = d.rc.Flush()
}

func (d *writeDeadline) Unwrap() http.ResponseWriter { return d.ResponseWriter }

package proxy

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

// slowBody is a request body that arrives in pieces, with pauses, so that
// http.Transport's writer is still reading it after the app has answered.
type slowBody struct {
	left int
}

func (b *slowBody) Read(p []byte) (int, error) {
	if b.left == 0 {
		return 0, io.EOF
	}
	time.Sleep(2 * time.Millisecond)
	n := min(len(p), b.left, 16<<10)
	copy(p, strings.Repeat("x", n))
	b.left -= n
	return n, nil
}

// TestEarlyAnswerToAStreamedUpload: an app that answers before it has read
// an upload too big to be read ahead (so it streams through http.Transport,
// whose writer may read the body after the handler has returned). The
// request path must not touch the handler's ResponseController once the
// handler has returned, nor count bytes the access log is reading: run
// with -race.
func TestEarlyAnswerToAStreamedUpload(t *testing.T) {
	upstream := serveFixed(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted) // answered without reading the upload
	}))
	u, _ := url.Parse(upstream.URL)
	p, err := New(Config{Routes: []Route{{Host: "shop.test", Upstream: u}}, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	front := serveFixed(t, AccessLog(zaptest.NewLogger(t), p))
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				req, _ := http.NewRequest("POST", front.URL+"/upload", &slowBody{left: 512 << 10})
				req.Host = "shop.test"
				req.ContentLength = 512 << 10
				res, err := front.Client().Do(req)
				if err != nil {
					continue // the app's early answer may break the upload off: allowed
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusAccepted && res.StatusCode != http.StatusBadRequest {
					t.Errorf("status %d; want the app's 202", res.StatusCode)
				}
			}
		}()
	}
	wg.Wait()
}

// deadlineRecorder is a ResponseWriter that records the read deadlines
// set through its ResponseController.
type deadlineRecorder struct {
	http.ResponseWriter
	mu  sync.Mutex
	set []time.Time
}

func (d *deadlineRecorder) SetReadDeadline(t time.Time) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.set = append(d.set, t)
	return nil
}

// TestBodyReaderLetsGoOfTheHandler: once the handler has returned, reading
// the body fails, and no read deadline is set through the handler's
// ResponseController any more (on a keep-alive connection, clearing one
// would free the next request's headers from --read-header-timeout).
func TestBodyReaderLetsGoOfTheHandler(t *testing.T) {
	w := &deadlineRecorder{}
	br := &bodyReader{body: io.NopCloser(strings.NewReader("hello")), rc: http.NewResponseController(w), idle: time.Minute, start: time.Now()}
	buf := make([]byte, 2)
	if n, err := br.Read(buf); n != 2 || err != nil {
		t.Fatalf("Read = %d, %v; want 2, nil", n, err)
	}
	if len(w.set) != 1 {
		t.Fatalf("%d read deadlines set; want 1 for the read", len(w.set))
	}
	br.handlerDone()
	if _, err := br.Read(buf); err == nil {
		t.Error("Read after the handler returned succeeded; want an error")
	}
	if len(w.set) != 1 {
		t.Errorf("%d read deadlines set after the handler returned; want none", len(w.set)-1)
	}
}

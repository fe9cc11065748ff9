package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

// TestSlowReaderIsCut: a client that reads a large response slower than
// MinResponseRate is cut once its writes have spent RateGrace blocked; one
// that reads fast enough is not, however long the response takes, nor is a
// stream the app writes slowly.
func TestSlowReaderIsCut(t *testing.T) {
	big := strings.Repeat("x", 64<<10)
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/trickle" { // the app is the slow one: 4 small events a second
			for range 8 {
				io.WriteString(w, "data: tick\n\n")
				http.NewResponseController(w).Flush()
				time.Sleep(250 * time.Millisecond)
			}
			return
		}
		for range 512 { // 32 MiB
			if _, err := io.WriteString(w, big); err != nil {
				return
			}
		}
	})
	upstream := serveFixed(t, app)
	u, _ := url.Parse(upstream.URL)
	var slow atomic.Int32
	p, err := New(Config{
		Routes:   []Route{{Host: "shop.test", Upstream: u}},
		Limits:   Limits{MinResponseRate: 256 << 10, RateGrace: time.Second},
		OnReject: func(reason string) { slow.Add(1); t.Logf("rejected: %s", reason) },
		Logger:   zaptest.NewLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	front := serveFixed(t, p)

	// read fetches path, reading at most rate bytes a second for d.
	read := func(path string, rate int, d time.Duration) (got int, err error) {
		c, err := net.Dial("tcp", strings.TrimPrefix(front.URL, "http://"))
		if err != nil {
			return 0, err
		}
		defer c.Close()
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: shop.test\r\n\r\n", path)
		br := bufio.NewReaderSize(c, 4<<10)
		buf := make([]byte, rate/10)
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
			_ = c.SetReadDeadline(time.Now().Add(time.Second))
			n, err := io.ReadFull(br, buf)
			got += n
			if err != nil {
				return got, err
			}
		}
		return got, nil
	}

	t.Run("a client reading at 40 KiB/s is cut", func(t *testing.T) {
		slow.Store(0)
		start := time.Now()
		go func() { _, _ = read("/", 40<<10, 30*time.Second) }() // what the socket buffers hold it may go on reading
		for time.Since(start) < 30*time.Second && slow.Load() == 0 {
			time.Sleep(100 * time.Millisecond)
		}
		if slow.Load() != 1 {
			t.Fatalf("%d responses cut as too slow after %v; want 1", slow.Load(), time.Since(start))
		}
		t.Logf("cut after %v (RateGrace 1s of blocked writes)", time.Since(start).Round(100*time.Millisecond))
	})
	t.Run("a client reading at 4 MiB/s is not", func(t *testing.T) {
		slow.Store(0)
		got, err := read("/", 4<<20, 4*time.Second)
		if err != nil && err != io.ErrUnexpectedEOF && got < 32<<20 {
			t.Errorf("read %d bytes, then %v; want the response to keep coming", got, err)
		}
		if slow.Load() != 0 {
			t.Errorf("%d responses cut; want none", slow.Load())
		}
	})
	t.Run("a stream the app writes slowly is not", func(t *testing.T) {
		slow.Store(0)
		got, err := read("/trickle", 10, 3500*time.Millisecond)
		if err != nil || got == 0 || slow.Load() != 0 {
			t.Errorf("read %d bytes, %v, %d cut; want the stream whole", got, err, slow.Load())
		}
	})
}

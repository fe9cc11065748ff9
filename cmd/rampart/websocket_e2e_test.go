package main

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/websocket"
)

// TestWebSocketClosedCleanlyOnStop: a WebSocket open through rampart at
// SIGTERM gets a Close frame with status 1001; the client's answer reaches
// the app, which sees a clean close rather than a dropped connection.
func TestWebSocketClosedCleanlyOnStop(t *testing.T) {
	const httpsAddr, appAddr = "127.0.0.1:18565", "127.0.0.1:18597"
	appEnd := make(chan error, 1)
	startApp(t, appAddr, websocket.Handler(func(ws *websocket.Conn) {
		// The app streams messages until its peer closes.
		go func() {
			for i := 0; ; i++ {
				if _, err := ws.Write([]byte("tick")); err != nil {
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
		var buf [64]byte
		for {
			if _, err := ws.Read(buf[:]); err != nil {
				appEnd <- err
				return
			}
		}
	}))
	dataDir := t.TempDir()
	r := start(t, "rampart", nil, rampartBin, "--tls", "internal", "--domain", "shop.test", "--upstream", "http://"+appAddr,
		"--https-addr", httpsAddr, "--http-addr", "", "--admin-addr", "", "--data-dir", dataDir)
	waitListening(t, httpsAddr)

	conn, err := tls.Dial("tcp", httpsAddr, &tls.Config{ServerName: "shop.test", NextProtos: []string{"http/1.1"},
		RootCAs: poolFromFile(t, filepath.Join(dataDir, "internal-ca", "root.pem"))})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
	io.WriteString(conn, crlf("GET /ws HTTP/1.1", host, "Connection: Upgrade", "Upgrade: websocket",
		"Origin: https://shop.test", "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="))
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v, %v", res, err)
	}

	// Read frames: some ticks, then (after SIGTERM) the Close frame.
	signalled := false
	for frames := 0; ; frames++ {
		b0, err := br.ReadByte()
		if err != nil {
			t.Fatalf("connection ended without a Close frame: %v", err)
		}
		b1, _ := br.ReadByte()
		payload := make([]byte, b1&0x7f)
		if _, err := io.ReadFull(br, payload); err != nil {
			t.Fatal(err)
		}
		if b0&0x0f == 0x8 { // Close
			if len(payload) < 2 || int(payload[0])<<8|int(payload[1]) != 1001 {
				t.Errorf("Close frame payload %v; want status 1001", payload)
			}
			if !signalled {
				t.Error("a Close frame before SIGTERM")
			}
			break
		}
		if frames == 3 && !signalled {
			if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			signalled = true
		}
	}
	// Answer the close, masked as a client must (RFC 6455 §5.3).
	conn.Write([]byte{0x88, 0x82, 1, 2, 3, 4, 0x03 ^ 1, 0xe9 ^ 2})

	select {
	case err := <-appEnd:
		if !errors.Is(err, io.EOF) {
			t.Errorf("the app's connection ended with %v; want a clean close (EOF)", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("the app never saw its WebSocket end")
	}
	select {
	case <-r.done:
		if code := r.cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("exit status %d; want 0", code)
		}
	case <-time.After(10 * time.Second):
		t.Error("rampart did not exit after the WebSocket closed")
	}
}

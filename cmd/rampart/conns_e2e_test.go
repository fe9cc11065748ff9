package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// holdIdle opens n keep-alive TLS connections to addr from the local
// address from, has each complete one request, and leaves them idle. It
// returns those that stayed open (the others rampart closed to make room).
func holdIdle(t *testing.T, addr, from string, n int, roots *x509.CertPool) []net.Conn {
	t.Helper()
	var mu sync.Mutex
	var held []net.Conn
	var wg sync.WaitGroup
	work := make(chan struct{})
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := &net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
			for range work {
				c, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{ServerName: "shop.test", RootCAs: roots, NextProtos: []string{"http/1.1"}})
				if err != nil {
					continue
				}
				_ = c.SetDeadline(time.Now().Add(20 * time.Second))
				io.WriteString(c, "GET / HTTP/1.1\r\nHost: shop.test\r\n\r\n")
				res, err := http.ReadResponse(bufio.NewReader(c), nil)
				if err != nil {
					c.Close()
					continue
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				_ = c.SetDeadline(time.Time{})
				mu.Lock()
				held = append(held, c)
				mu.Unlock()
			}
		}()
	}
	for range n {
		work <- struct{}{}
	}
	close(work)
	wg.Wait()
	t.Cleanup(func() {
		for _, c := range held {
			c.Close()
		}
	})
	return held
}

// stillOpen counts the connections rampart has not closed.
func stillOpen(conns []net.Conn) int {
	open := 0
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				open++
			}
		}
	}
	return open
}

// TestIdleFloodFromManyAddresses: 34 addresses each hold 245 idle keep-alive
// connections (8,330, over the cap of 8,192, each address under its 256). A
// new client from another address gets in and is answered: rampart closes
// the connection idle longest to make room, rather than refuse it.
func TestIdleFloodFromManyAddresses(t *testing.T) {
	skipUnderRace(t)
	if runtime.GOOS != "linux" {
		t.Skip("needs 127.0.0.0/8 on the loopback interface, as Linux has it")
	}
	const httpsAddr, appAddr = "127.0.0.1:18720", "127.0.0.1:18721"
	const addresses, perAddress = 34, 245
	startApp(t, appAddr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	dataDir := t.TempDir()
	r := start(t, "rampart", nil, rampartBin, "--tls", "internal", "--domain", "shop.test", "--upstream", "http://"+appAddr,
		"--https-addr", httpsAddr, "--http-addr", "", "--admin-addr", "", "--data-dir", dataDir)
	waitListening(t, httpsAddr)
	roots := poolFromFile(t, filepath.Join(dataDir, "internal-ca", "root.pem"))

	begin := time.Now()
	var held []net.Conn
	for i := range addresses {
		held = append(held, holdIdle(t, httpsAddr, fmt.Sprintf("127.0.0.%d", 10+i), perAddress, roots)...)
	}
	time.Sleep(time.Second)
	open := stillOpen(held)
	t.Logf("%d connections opened from %d addresses in %v, each completed a request; %d still open (cap 8192)",
		len(held), addresses, time.Since(begin).Round(100*time.Millisecond), open)
	if len(held) < addresses*perAddress*95/100 {
		t.Fatalf("only %d of %d connections were made: the flood proves nothing", len(held), addresses*perAddress)
	}
	if open > 8192 {
		t.Errorf("%d connections open; want at most the cap, 8192", open)
	}

	// A new client, from an address of its own.
	d := &net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.99")}}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext:     func(ctx context.Context, _, _ string) (net.Conn, error) { return d.DialContext(ctx, "tcp", httpsAddr) },
		TLSClientConfig: &tls.Config{RootCAs: roots}}}
	for i := range 3 {
		probe := time.Now()
		res, err := client.Get("https://shop.test:18720/")
		took := time.Since(probe)
		if err != nil {
			t.Fatalf("new client, try %d: %v (after %v)", i, err, took)
		}
		res.Body.Close()
		client.CloseIdleConnections()
		t.Logf("new client from 127.0.0.99, try %d: %d after %v", i, res.StatusCode, took.Round(time.Millisecond))
		if res.StatusCode != 200 {
			t.Errorf("new client: status %d; want 200", res.StatusCode)
		}
	}
	if code := r.stop(30 * time.Second); code != 0 {
		t.Errorf("exit %d", code)
	}
	for _, l := range strings.Split(r.out.String(), "\n") {
		if strings.Contains(l, `"msg":"stopped"`) {
			t.Logf("stop summary: %s", l)
		}
	}
}

// TestSlowClientsOverThePerAddressCap: slowhttptest holds 1,000 slowloris,
// then 1,000 slow-read connections from 127.0.0.1, four times the
// per-address cap. A client behind the same address (a browser behind the
// attacker's NAT) opens a new connection each second: at least 90% of its
// requests succeed, because a new connection displaces the address's
// oldest that has not completed a request, and slow readers are cut.
func TestSlowClientsOverThePerAddressCap(t *testing.T) {
	skipUnderRace(t)
	slow := requireTool(t, "slowhttptest")
	const httpsAddr, appAddr = "127.0.0.1:18722", "127.0.0.1:18723"
	startApp(t, appAddr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		io.WriteString(w, strings.Repeat("slow clients test page\n", 2000)) // 46 KB: more than the socket buffers take at once
	}))
	dataDir := t.TempDir()
	r := start(t, "rampart", nil, rampartBin, "--tls", "internal", "--domain", "localhost", "--upstream", "http://"+appAddr,
		"--https-addr", httpsAddr, "--http-addr", "", "--admin-addr", "127.0.0.1:18724", "--data-dir", dataDir, "--log-level", "warn")
	waitListening(t, httpsAddr)
	roots := poolFromFile(t, filepath.Join(dataDir, "internal-ca", "root.pem"))
	url := "https://localhost:18722/"

	for _, m := range []struct {
		name string
		args []string
	}{
		{"slowloris", []string{"-H", "-i", "10", "-x", "24"}},
		{"slow read", []string{"-X", "-w", "1", "-y", "16", "-n", "3", "-z", "8", "-k", "3"}},
	} {
		t.Run(m.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			attack := exec.CommandContext(ctx, slow, append([]string{"-c", "1000", "-r", "250", "-l", "30", "-p", "3", "-u", url}, m.args...)...)
			if err := attack.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			go func() { _ = attack.Wait(); close(done) }()
			time.Sleep(5 * time.Second) // the attack's 1,000 connections are made

			// A new connection every second, from the attacker's address.
			var ok, failed atomic.Int32
			var errs sync.Map
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			for i := 0; i < 20; i++ {
				<-tick.C
				client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
					TLSClientConfig: &tls.Config{RootCAs: roots}}}
				res, err := client.Get(url)
				if err == nil {
					_, _ = io.Copy(io.Discard, res.Body)
					res.Body.Close()
				}
				if err != nil || res.StatusCode != 200 {
					failed.Add(1)
					errs.Store(fmt.Sprint(err), true)
					continue
				}
				ok.Add(1)
			}
			cancel()
			<-done
			for _, l := range strings.Split(scrape(t, "127.0.0.1:18724"), "\n") {
				if strings.HasPrefix(l, "rampart_rejected_requests_total") && !strings.HasSuffix(l, " 0") {
					t.Logf("%s", l)
				}
			}
			_ = r
			var reasons []string
			errs.Range(func(k, _ any) bool { reasons = append(reasons, k.(string)); return true })
			t.Logf("%s, 1,000 connections from 127.0.0.1: a new connection each second from the same address: %d of %d answered 200 %v",
				m.name, ok.Load(), ok.Load()+failed.Load(), reasons)
			if total := ok.Load() + failed.Load(); ok.Load()*10 < total*9 {
				t.Errorf("%d of %d succeeded; want at least 90%%", ok.Load(), total)
			}
		})
	}
}

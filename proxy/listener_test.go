package proxy

import (
	"net"
	"sync/atomic"
	"testing"
	"time"
)

func TestLimitListener(t *testing.T) {
	tests := []struct {
		name     string
		lim      ConnLimits
		accepted int
	}{
		{"total", ConnLimits{Max: 2}, 2},
		{"per IP", ConnLimits{PerIP: 3}, 3},
		{"both, the smaller wins", ConnLimits{Max: 4, PerIP: 1}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rejected atomic.Int32
			tt.lim.OnReject = func(net.Addr) { rejected.Add(1) }
			inner := listenFixed(t)
			ln := LimitListener(inner, tt.lim)
			defer ln.Close()
			accepted := make(chan net.Conn, 10)
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					accepted <- c
				}
			}()
			var clients []net.Conn
			for range 5 {
				c, err := net.Dial("tcp", inner.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				clients = append(clients, c)
			}
			time.Sleep(200 * time.Millisecond)
			if got := len(accepted); got != tt.accepted {
				t.Errorf("accepted %d; want %d", got, tt.accepted)
			}
			if got := int(rejected.Load()); got != 5-tt.accepted {
				t.Errorf("rejected %d; want %d", got, 5-tt.accepted)
			}
			// A rejected client sees its connection closed at once.
			closed := 0
			for _, c := range clients {
				_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
				if _, err := c.Read(make([]byte, 1)); err != nil && !isTimeout(err) {
					closed++
				}
			}
			if closed != 5-tt.accepted {
				t.Errorf("%d clients saw their connection closed; want %d", closed, 5-tt.accepted)
			}
			// Closing an accepted connection frees its slot, once however often it is closed.
			c := <-accepted
			c.Close()
			c.Close()
			extra, err := net.Dial("tcp", inner.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer extra.Close()
			select {
			case <-accepted:
			case <-time.After(time.Second):
				t.Error("a freed slot was not given to the next client")
			}
		})
	}
}

package proxy

import (
	"net"
	"syscall"
)

// newLivenessPeek returns a check of whether an idle connection to an app is
// still open and silent, with one non-blocking peek: an app that has closed
// it (EOF), or reset it, or sent bytes nobody asked for, fails. It costs one
// system call, cheap beside the write to a closed connection that it saves,
// which would be a 502 for a request that is never replayed. The check and
// its state are made once per connection, so using it allocates nothing.
func newLivenessPeek(nc net.Conn) func() bool {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	var (
		alive bool
		b     [1]byte
	)
	peek := func(fd uintptr) bool {
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		alive = err == syscall.EAGAIN // nothing to read, and not closed
		return true                   // never wait: the answer is now
	}
	return func() bool {
		alive = false
		return rc.Read(peek) == nil && alive
	}
}

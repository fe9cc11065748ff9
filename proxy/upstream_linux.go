package proxy

import (
	"net"
	"syscall"
)

// idleConnAlive reports whether an idle connection to an app is still open
// and silent, with one non-blocking peek: an app that has closed it (EOF), or
// reset it, or sent bytes nobody asked for, fails. It costs one system call,
// cheap beside the write to a closed connection that it saves, which would
// be a 502 for a request that is never replayed.
func idleConnAlive(nc net.Conn) bool {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	alive := false
	var b [1]byte
	err = rc.Read(func(fd uintptr) bool {
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		alive = err == syscall.EAGAIN // nothing to read, and not closed
		return true                   // never wait: the answer is now
	})
	return err == nil && alive
}

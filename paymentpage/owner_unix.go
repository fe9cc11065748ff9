//go:build unix

package paymentpage

import (
	"os"
	"syscall"
)

// chownLikeDir gives f the owner of dir, when they differ and the process
// may (root does): the file is then the running rampart's, whoever wrote it.
func chownLikeDir(f *os.File, dir string) error {
	di, err := os.Stat(dir)
	if err != nil {
		return err
	}
	st, ok := di.Sys().(*syscall.Stat_t)
	if !ok || os.Geteuid() != 0 || int(st.Uid) == os.Geteuid() {
		return nil
	}
	return f.Chown(int(st.Uid), int(st.Gid))
}

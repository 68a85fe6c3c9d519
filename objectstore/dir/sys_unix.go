//go:build unix

package dir

import (
	"os"

	"golang.org/x/sys/unix"
)

// flock takes an exclusive flock on f, waiting for it. Closing f releases
// it.
func flock(f *os.File) error {
	conn, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	err = conn.Control(func(fd uintptr) {
		for {
			ferr = unix.Flock(int(fd), unix.LOCK_EX)
			if ferr != unix.EINTR {
				return
			}
		}
	})
	if err != nil {
		return err
	}
	return ferr
}

package locallog

import (
	"os"
	"syscall"
)

// Datasync flushes the file's data and only the metadata needed to read it
// back (fdatasync): for a file overwritten in place, such as a recycled WAL
// file, no metadata at all, so the file system commits no journal
// transaction for it.
func (f osFile) Datasync() error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			serr = syscall.Fdatasync(int(fd))
			if serr != syscall.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	if serr != nil {
		return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: serr}
	}
	return nil
}

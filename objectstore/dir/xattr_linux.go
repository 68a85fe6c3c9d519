//go:build linux

package dir

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"

	"github.com/strata-io/strata/objectstore"
)

const etagAttr = "user.strata.etag"

// setETag stores etag in f's extended attribute. A file system without
// extended attributes is not an error: readers then hash the content.
func setETag(f *os.File, etag objectstore.ETag) error {
	conn, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := conn.Control(func(fd uintptr) {
		serr = unix.Fsetxattr(int(fd), etagAttr, []byte(etag), 0)
	}); err != nil {
		return err
	}
	if errors.Is(serr, unix.ENOTSUP) || errors.Is(serr, unix.EOPNOTSUPP) || errors.Is(serr, unix.EPERM) {
		return nil
	}
	return serr
}

// getETag returns the ETag stored in f's extended attribute, if there is a
// well-formed one.
func getETag(f *os.File) (objectstore.ETag, bool) {
	conn, err := f.SyscallConn()
	if err != nil {
		return "", false
	}
	var (
		buf  [64]byte
		n    int
		gerr error
	)
	if err := conn.Control(func(fd uintptr) {
		n, gerr = unix.Fgetxattr(int(fd), etagAttr, buf[:])
	}); err != nil || gerr != nil || n != 32 {
		return "", false
	}
	for _, c := range buf[:n] {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return "", false
		}
	}
	return objectstore.ETag(buf[:n]), true
}

//go:build !unix

package broker

import (
	"os"
	"path/filepath"
)

// lockDir opens dir's lock file. Only Unix systems enforce the lock.
func lockDir(dir string) (*os.File, error) {
	return os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
}

//go:build !linux

package locallog

// Datasync is fsync where fdatasync(2) is not offered.
func (f osFile) Datasync() error { return f.Sync() }

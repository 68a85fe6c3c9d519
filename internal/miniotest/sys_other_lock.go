//go:build !unix

package miniotest

// lockFile does nothing where there is no flock(2): parallel test binaries
// may then install minio twice, which is slow but harmless.
func lockFile(string) (unlock func(), err error) { return func() {}, nil }

//go:build !unix

package dir

import "os"

// flock does nothing where there is no flock(2): only the Bucket's mutex
// serializes commits, so two processes must not share a directory.
func flock(*os.File) error { return nil }

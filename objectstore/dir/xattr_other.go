//go:build !linux

package dir

import (
	"os"

	"github.com/strata-io/strata/objectstore"
)

// setETag does nothing off Linux: readers hash the content.
func setETag(*os.File, objectstore.ETag) error { return nil }

func getETag(*os.File) (objectstore.ETag, bool) { return "", false }

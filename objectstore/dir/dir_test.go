package dir_test

import (
	"testing"

	"github.com/strata-io/strata/objectstore"
	"github.com/strata-io/strata/objectstore/dir"
	"github.com/strata-io/strata/objectstore/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) objectstore.Bucket {
		b, err := dir.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}

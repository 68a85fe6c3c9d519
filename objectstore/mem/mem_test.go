package mem_test

import (
	"testing"

	"github.com/strata-io/strata/objectstore"
	"github.com/strata-io/strata/objectstore/mem"
	"github.com/strata-io/strata/objectstore/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(*testing.T) objectstore.Bucket { return mem.New() })
}

func TestConformanceWithPrefix(t *testing.T) {
	storetest.Run(t, func(t *testing.T) objectstore.Bucket {
		b := mem.New()
		// Objects outside the prefix must stay invisible.
		if _, err := b.Put(t.Context(), "other/x", []byte("x")); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Put(t.Context(), "strata", []byte("x")); err != nil {
			t.Fatal(err)
		}
		return objectstore.WithPrefix(b, "strata/")
	})
}

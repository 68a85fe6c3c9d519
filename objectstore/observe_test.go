package objectstore_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/strata-io/strata/objectstore"
	"github.com/strata-io/strata/objectstore/mem"
)

// Observe reports every call once, with its key and outcome, and passes
// the results through unchanged.
func TestObserveReportsEveryCall(t *testing.T) {
	type call struct {
		op  objectstore.Op
		key string
		ok  bool
	}
	var (
		mu    sync.Mutex
		calls []call
	)
	b := objectstore.Observe(mem.New(), func(op objectstore.Op, key string, err error, d time.Duration) {
		if d < 0 {
			t.Errorf("%s took %v", op, d)
		}
		mu.Lock()
		calls = append(calls, call{op, key, err == nil})
		mu.Unlock()
	})
	ctx := context.Background()
	etag, err := b.Put(ctx, "a/1", []byte("one"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.PutIfAbsent(ctx, "a/1", []byte("x")); !errors.Is(err, objectstore.ErrPreconditionFailed) {
		t.Fatalf("PutIfAbsent over an object: %v", err)
	}
	if _, err := b.PutIfMatch(ctx, "a/1", []byte("two"), etag); err != nil {
		t.Fatal(err)
	}
	if body, _, err := b.Get(ctx, "a/1"); err != nil || string(body) != "two" {
		t.Fatalf("Get: %q %v", body, err)
	}
	if body, err := b.GetRange(ctx, "a/1", 1, 1); err != nil || string(body) != "w" {
		t.Fatalf("GetRange: %q %v", body, err)
	}
	if _, err := b.Head(ctx, "a/2"); !errors.Is(err, objectstore.ErrNotExist) {
		t.Fatalf("Head of a missing object: %v", err)
	}
	var keys []string
	for info, err := range b.List(ctx, "a/") {
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, info.Key)
	}
	if !slices.Equal(keys, []string{"a/1"}) {
		t.Fatalf("List: %v", keys)
	}
	if err := b.Delete(ctx, "a/1"); err != nil {
		t.Fatal(err)
	}
	want := []call{
		{objectstore.OpPut, "a/1", true},
		{objectstore.OpPutIfAbsent, "a/1", false},
		{objectstore.OpPutIfMatch, "a/1", true},
		{objectstore.OpGet, "a/1", true},
		{objectstore.OpGetRange, "a/1", true},
		{objectstore.OpHead, "a/2", false},
		{objectstore.OpList, "a/", true},
		{objectstore.OpDelete, "a/1", true},
	}
	if !slices.Equal(calls, want) {
		t.Errorf("observed %v\nwant %v", calls, want)
	}
}

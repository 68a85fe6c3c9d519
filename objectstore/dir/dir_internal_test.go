package dir

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/strata-io/strata/objectstore"
)

func open(t *testing.T, root string) *Bucket {
	t.Helper()
	b, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestLayoutIsPlainFiles(t *testing.T) {
	root := t.TempDir()
	b := open(t, root)
	if _, err := b.Put(t.Context(), "topics/t/0/seg", []byte("bytes")); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, "objects", "topics", "t", "0", "seg"))
	if err != nil || string(data) != "bytes" {
		t.Fatalf("object file = %q, %v", data, err)
	}
	if entries, _ := os.ReadDir(filepath.Join(root, "tmp")); len(entries) != 0 {
		t.Fatalf("tmp/ holds %d files after a Put", len(entries))
	}
}

func TestObjectUnderObjectIsRefused(t *testing.T) {
	b := open(t, t.TempDir())
	ctx := t.Context()
	if _, err := b.Put(ctx, "a", []byte("a")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(ctx, "a/b", []byte("ab")); !errors.Is(err, objectstore.ErrInvalidKey) {
		t.Fatalf("Put(a/b) under object a: %v, want ErrInvalidKey", err)
	}
	if _, err := b.Put(ctx, "x/y", []byte("xy")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.PutIfAbsent(ctx, "x", []byte("x")); !errors.Is(err, objectstore.ErrInvalidKey) {
		t.Fatalf("PutIfAbsent(x) over directory x/: %v, want ErrInvalidKey", err)
	}
	// Deleting x/y removes the directory x, so x can now be an object.
	if err := b.Delete(ctx, "x/y"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.PutIfAbsent(ctx, "x", []byte("x")); err != nil {
		t.Fatalf("PutIfAbsent(x) after deleting x/y: %v", err)
	}
	if _, err := os.Stat(filepath.Join(b.Root(), "objects")); err != nil {
		t.Fatalf("Delete pruned objects/ itself: %v", err)
	}
}

func TestEmptyDirectoryLeftByACrashIsReplaced(t *testing.T) {
	b := open(t, t.TempDir())
	if err := os.MkdirAll(filepath.Join(b.Root(), "objects", "e", "f", "g"), 0o750); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(t.Context(), "e", []byte("e")); err != nil {
		t.Fatalf("Put over an empty directory tree: %v", err)
	}
	if got, _, err := b.Get(t.Context(), "e"); err != nil || string(got) != "e" {
		t.Fatalf("Get = %q, %v", got, err)
	}
}

func TestFileWithoutETagAttributeGetsContentETag(t *testing.T) {
	b := open(t, t.TempDir())
	ctx := t.Context()
	etag, err := b.Put(ctx, "put", []byte("same bytes"))
	if err != nil {
		t.Fatal(err)
	}
	// A file copied in by hand carries no attribute.
	if err := os.WriteFile(filepath.Join(b.Root(), "objects", "hand"), []byte("same bytes"), 0o640); err != nil {
		t.Fatal(err)
	}
	info, err := b.Head(ctx, "hand")
	if err != nil || info.ETag != etag {
		t.Fatalf("Head(hand) = %+v, %v; want ETag %q", info, err, etag)
	}
	for info, err := range b.List(ctx, "hand") {
		if err != nil || info.ETag != etag {
			t.Fatalf("List(hand) = %+v, %v", info, err)
		}
	}
	if _, err := b.PutIfMatch(ctx, "hand", []byte("new"), etag); err != nil {
		t.Fatalf("PutIfMatch on the hand-made file: %v", err)
	}
}

func TestOpenRemovesOnlyStaleTemporaryFiles(t *testing.T) {
	root := t.TempDir()
	open(t, root)
	old, fresh := filepath.Join(root, "tmp", "old.tmp"), filepath.Join(root, "tmp", "fresh.tmp")
	for _, p := range []string{old, fresh} {
		if err := os.WriteFile(p, []byte("partial"), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	past := time.Now().Add(-2 * staleTemp)
	if err := os.Chtimes(old, past, past); err != nil {
		t.Fatal(err)
	}
	open(t, root)
	if _, err := os.Stat(old); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale temporary file kept: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("fresh temporary file removed: %v", err)
	}
}

func TestSymlinkOutOfTheRootIsNotFollowed(t *testing.T) {
	b := open(t, t.TempDir())
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("s"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(b.Root(), "objects", "link")); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if body, _, err := b.Get(ctx, "link/secret"); err == nil {
		t.Fatalf("Get through a symlink out of the root = %q", body)
	}
	if _, err := b.Put(ctx, "link/planted", []byte("x")); err == nil {
		t.Fatal("Put through a symlink out of the root succeeded")
	}
	if _, err := os.Stat(filepath.Join(outside, "planted")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a file was written outside the root: %v", err)
	}
}

// increment adds 1 to the decimal counter under key n times with
// PutIfMatch, retrying lost races.
func increment(ctx context.Context, b objectstore.Bucket, key string, n int) error {
	for done := 0; done < n; {
		body, info, err := b.Get(ctx, key)
		if err != nil {
			return err
		}
		v, err := strconv.Atoi(string(body))
		if err != nil {
			return err
		}
		_, err = b.PutIfMatch(ctx, key, []byte(strconv.Itoa(v+1)), info.ETag)
		switch {
		case err == nil:
			done++
		case !errors.Is(err, objectstore.ErrPreconditionFailed):
			return err
		}
	}
	return nil
}

func counter(t *testing.T, b objectstore.Bucket, key string) int {
	t.Helper()
	body, _, err := b.Get(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	v, err := strconv.Atoi(string(body))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestCompareAndSwapAcrossBucketsOnOneDirectory has two Buckets on one
// directory (each with its own mutex, so only the flock keeps them apart)
// increment one counter; no increment may be lost.
func TestCompareAndSwapAcrossBucketsOnOneDirectory(t *testing.T) {
	root := t.TempDir()
	b1, b2 := open(t, root), open(t, root)
	if _, err := b1.Put(t.Context(), "counter", []byte("0")); err != nil {
		t.Fatal(err)
	}
	const each = 40
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i, b := range []*Bucket{b1, b2, b1, b2} {
		wg.Go(func() { errs[i] = increment(t.Context(), b, "counter", each) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if got := counter(t, b1, "counter"); got != 4*each {
		t.Fatalf("counter = %d, want %d", got, 4*each)
	}
}

const helperEnv = "STRATA_DIR_TEST_HELPER"

// TestCompareAndSwapAcrossProcesses runs this test binary twice more as
// helper processes that increment one counter in one directory.
func TestCompareAndSwapAcrossProcesses(t *testing.T) {
	if spec := os.Getenv(helperEnv); spec != "" {
		var (
			root string
			n    int
		)
		if _, err := fmt.Sscanf(spec, "%d %s", &n, &root); err != nil {
			t.Fatal(err)
		}
		b := open(t, root)
		if err := increment(t.Context(), b, "counter", n); err != nil {
			t.Fatal(err)
		}
		return
	}
	root := t.TempDir()
	b := open(t, root)
	if _, err := b.Put(t.Context(), "counter", []byte("0")); err != nil {
		t.Fatal(err)
	}
	const each, procs = 60, 2
	var wg sync.WaitGroup
	outs := make([][]byte, procs)
	errs := make([]error, procs)
	for i := range procs {
		cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestCompareAndSwapAcrossProcesses$", "-test.count=1")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d %s", helperEnv, each, root))
		wg.Go(func() { outs[i], errs[i] = cmd.CombinedOutput() })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("helper %d: %v\n%s", i, err, outs[i])
		}
	}
	if got := counter(t, b, "counter"); got != procs*each {
		t.Fatalf("counter = %d, want %d: increments were lost between processes", got, procs*each)
	}
}

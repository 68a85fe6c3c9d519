package tiering

import (
	"bytes"
	"context"
	"encoding/binary"
	"flag"
	"hash/crc32"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"

	"github.com/strata-io/strata/objectstore"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// testPrefix is the partition prefix tests use.
var testPrefix = PartitionPrefix([16]byte{0xab, 0xcd, 15: 0xef}, 3)

// makeBatch returns an uncompressed magic-v2 record batch at base holding
// one record per value, the ith with timestamp firstTs+tsDeltas[i] (0 if
// tsDeltas is short). It is built by hand so that the tests do not trust
// package batch to check itself.
func makeBatch(base int64, firstTs int64, tsDeltas []int64, values ...string) []byte {
	var recs []byte
	maxTs := firstTs
	for i, v := range values {
		var d int64
		if i < len(tsDeltas) {
			d = tsDeltas[i]
		}
		maxTs = max(maxTs, firstTs+d)
		var r []byte
		r = append(r, 0) // attributes
		r = binary.AppendVarint(r, d)
		r = binary.AppendVarint(r, int64(i))
		r = binary.AppendVarint(r, -1) // null key
		r = binary.AppendVarint(r, int64(len(v)))
		r = append(r, v...)
		r = binary.AppendVarint(r, 0) // no headers
		recs = binary.AppendVarint(recs, int64(len(r)))
		recs = append(recs, r...)
	}
	be := binary.BigEndian
	b := be.AppendUint64(nil, uint64(base))
	b = be.AppendUint32(b, uint32(61-12+len(recs)))
	b = be.AppendUint32(b, 7) // leader epoch
	b = append(b, 2)          // magic
	b = be.AppendUint32(b, 0) // crc, below
	b = be.AppendUint16(b, 0) // attributes: no codec, create time
	b = be.AppendUint32(b, uint32(len(values)-1))
	b = be.AppendUint64(b, uint64(firstTs))
	b = be.AppendUint64(b, uint64(maxTs))
	b = be.AppendUint64(b, ^uint64(0)) // producer id -1
	b = be.AppendUint16(b, ^uint16(0)) // producer epoch -1
	b = be.AppendUint32(b, ^uint32(0)) // base sequence -1
	b = be.AppendUint32(b, uint32(len(values)))
	b = append(b, recs...)
	be.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// goldenCheck compares got with testdata/name, or rewrites the file with
// -update.
func goldenCheck(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from what the encoder writes now (%d bytes, file has %d); a format change must bump its version constant, then rewrite with -update", path, len(got), len(want))
	}
}

// snapshot returns every object of b, key to body.
func snapshot(t *testing.T, b objectstore.Bucket) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	for info, err := range b.List(ctx, "") {
		if err != nil {
			t.Fatal(err)
		}
		body, _, err := b.Get(ctx, info.Key)
		if err != nil {
			t.Fatal(err)
		}
		out[info.Key] = string(body)
	}
	return out
}

// keysUnder lists the keys of b under prefix, sorted.
func keysUnder(t testing.TB, b objectstore.Bucket, prefix string) []string {
	t.Helper()
	var keys []string
	for info, err := range b.List(context.Background(), prefix) {
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, info.Key)
	}
	sort.Strings(keys)
	return keys
}

// testEntry returns an entry for [base, end) of epoch with a fresh key.
func testEntry(base, end int64, epoch Epoch) Entry {
	return Entry{
		Key:          SegmentKey(testPrefix, base, end, epoch)[len(testPrefix):],
		BaseOffset:   base,
		EndOffset:    end,
		SizeBytes:    1000 + base,
		MinTimestamp: 1_700_000_000_000 + base,
		MaxTimestamp: 1_700_000_000_000 + end,
		Epoch:        epoch,
		Records:      end - base,
	}
}

// counting counts the calls and the bytes written through a Bucket.
type counting struct {
	objectstore.Bucket

	mu           sync.Mutex // guards below
	calls        int
	writes       int
	bytesWritten int64
}

func (c *counting) count(write bool, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	if write {
		c.writes++
		c.bytesWritten += int64(n)
	}
}

func (c *counting) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls, c.writes, c.bytesWritten = 0, 0, 0
}

func (c *counting) Put(ctx context.Context, key string, body []byte) (objectstore.ETag, error) {
	c.count(true, len(body))
	return c.Bucket.Put(ctx, key, body)
}

func (c *counting) PutIfAbsent(ctx context.Context, key string, body []byte) (objectstore.ETag, error) {
	c.count(true, len(body))
	return c.Bucket.PutIfAbsent(ctx, key, body)
}

func (c *counting) PutIfMatch(ctx context.Context, key string, body []byte, etag objectstore.ETag) (objectstore.ETag, error) {
	c.count(true, len(body))
	return c.Bucket.PutIfMatch(ctx, key, body, etag)
}

func (c *counting) Get(ctx context.Context, key string) ([]byte, objectstore.Info, error) {
	c.count(false, 0)
	return c.Bucket.Get(ctx, key)
}

func (c *counting) Head(ctx context.Context, key string) (objectstore.Info, error) {
	c.count(false, 0)
	return c.Bucket.Head(ctx, key)
}

func (c *counting) Delete(ctx context.Context, key string) error {
	c.count(true, 0)
	return c.Bucket.Delete(ctx, key)
}

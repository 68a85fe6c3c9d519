package tiering

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/strata-io/strata/batch"
	"github.com/strata-io/strata/cache"
	"github.com/strata-io/strata/index"
	"github.com/strata-io/strata/objectstore"
	"github.com/strata-io/strata/objectstore/faulty"
	"github.com/strata-io/strata/objectstore/mem"
)

// readerSeg is one segment object built for the reader's tests.
type readerSeg struct {
	e       Entry
	obj     []byte
	f       Footer
	batches [][]byte // the record batches, in order
}

// data returns the segment's data section.
func (s readerSeg) data() []byte { return s.obj[:s.f.DataLen] }

// batchAt returns the index of the batch holding offset.
func (s readerSeg) batchAt(t testing.TB, offset int64) int {
	t.Helper()
	for i, b := range s.batches {
		h, err := batch.ParseHeader(b)
		if err != nil {
			t.Fatal(err)
		}
		if h.BaseOffset <= offset && offset <= h.LastOffset() {
			return i
		}
	}
	t.Fatalf("no batch holds offset %d", offset)
	return -1
}

// batchPos returns the byte position of batch i in the data section.
func (s readerSeg) batchPos(i int) int64 {
	var p int64
	for _, b := range s.batches[:i] {
		p += int64(len(b))
	}
	return p
}

// buildReaderSeg returns a segment at base of nBatches random batches of 1
// to 5 records with values of up to maxValue bytes, a timestamp delta of
// up to ±20 ms and every seventh batch with log-append time, indexed every
// indexInterval bytes the way the local log indexes its segments.
func buildReaderSeg(t testing.TB, rnd *rand.Rand, base int64, nBatches, maxValue, indexInterval int) readerSeg {
	t.Helper()
	var (
		data, value []byte
		batches     [][]byte
		offs        = new(index.Offsets)
		times       = new(index.Times)
		next        = base
		lastIndexed int64
		maxTsSoFar  int64
	)
	for i := range nBatches {
		n := 1 + rnd.IntN(5)
		values := make([]string, n)
		deltas := make([]int64, n)
		for j := range values {
			value = value[:0]
			for range rnd.IntN(maxValue + 1) {
				value = append(value, byte('a'+rnd.IntN(26)))
			}
			values[j] = string(value)
			deltas[j] = rnd.Int64N(41) - 20
		}
		firstTs := 1_700_000_000_000 + next*10
		b := makeBatch(next, firstTs, deltas, values...)
		if i%7 == 6 {
			b = withLogAppendTime(b, firstTs+5)
		}
		pos := int64(len(data))
		if pos > 0 && pos-lastIndexed >= int64(indexInterval) {
			offs.Append(uint32(next-base), uint32(pos))
			times.Append(maxTsSoFar, uint32(pos))
			lastIndexed = pos
		}
		h, err := batch.ParseHeader(b)
		if err != nil {
			t.Fatal(err)
		}
		maxTsSoFar = max(maxTsSoFar, h.MaxTimestamp)
		data = append(data, b...)
		batches = append(batches, b)
		next += int64(n)
	}
	obj, f, err := EncodeSegment(data, offs, times, base, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := Entry{
		Key:          SegmentKey(testPrefix, base, f.EndOffset, 1)[len(testPrefix):],
		BaseOffset:   base,
		EndOffset:    f.EndOffset,
		SizeBytes:    int64(len(obj)),
		MinTimestamp: f.MinTimestamp,
		MaxTimestamp: f.MaxTimestamp,
		Epoch:        1,
		Records:      f.RecordCount,
	}
	return readerSeg{e: e, obj: obj, f: f, batches: batches}
}

// withLogAppendTime returns a copy of the batch b with log-append time ts.
func withLogAppendTime(b []byte, ts int64) []byte {
	b = slices.Clone(b)
	be := binary.BigEndian
	be.PutUint16(b[21:], be.Uint16(b[21:])|0x08)
	be.PutUint64(b[35:], uint64(ts))
	be.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// readerSegs returns n adjacent segments starting at offset 0.
func readerSegs(t testing.TB, seed uint64, n, nBatches int) []readerSeg {
	t.Helper()
	rnd := rand.New(rand.NewPCG(seed, 1))
	var segs []readerSeg
	var base int64
	for range n {
		s := buildReaderSeg(t, rnd, base, nBatches, 300, 512)
		segs = append(segs, s)
		base = s.e.EndOffset
	}
	return segs
}

func putSegs(t testing.TB, b objectstore.Bucket, segs ...readerSeg) {
	t.Helper()
	for _, s := range segs {
		if _, err := b.Put(context.Background(), testPrefix+s.e.Key, s.obj); err != nil {
			t.Fatal(err)
		}
	}
}

// rangeReq is one ranged get.
type rangeReq struct {
	key    string
	off, n int64
}

// rangeCounter counts the ranged gets through a Bucket and can hold those
// that hold selects until release.
type rangeCounter struct {
	objectstore.Bucket

	mu     sync.Mutex // guards below
	gets   map[rangeReq]int
	hold   func(rangeReq) bool
	gate   chan struct{}
	held   int // calls waiting at the gate
	cutOff int // held calls that gave up when their context ended
}

func newRangeCounter(b objectstore.Bucket) *rangeCounter {
	return &rangeCounter{Bucket: b, gets: map[rangeReq]int{}}
}

func (c *rangeCounter) GetRange(ctx context.Context, key string, off, n int64) ([]byte, error) {
	req := rangeReq{key, off, n}
	c.mu.Lock()
	c.gets[req]++
	gate := c.gate
	hold := c.hold != nil && c.hold(req)
	if hold {
		c.held++
	}
	c.mu.Unlock()
	if hold {
		select {
		case <-gate:
		case <-ctx.Done():
			c.mu.Lock()
			c.cutOff++
			c.mu.Unlock()
			return nil, ctx.Err()
		}
	}
	return c.Bucket.GetRange(ctx, key, off, n)
}

// holdWhere makes the ranged gets that fn selects wait until release.
func (c *rangeCounter) holdWhere(fn func(rangeReq) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hold, c.gate = fn, make(chan struct{})
}

func (c *rangeCounter) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	close(c.gate)
	c.hold = nil
}

func (c *rangeCounter) count(req rangeReq) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gets[req]
}

// total counts every ranged get of the object under key.
func (c *rangeCounter) total(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for req, k := range c.gets {
		if req.key == key {
			n += k
		}
	}
	return n
}

// dataGets returns, for each block of s under blockSize, how many times it
// was fetched.
func (c *rangeCounter) dataGets(s readerSeg, blockSize int64) []int {
	var out []int
	for start := int64(0); start < s.f.DataLen; start += blockSize {
		out = append(out, c.count(rangeReq{testPrefix + s.e.Key, start, min(blockSize, s.f.DataLen-start)}))
	}
	return out
}

// splitBatches splits b into its batches, failing on anything else.
func splitBatches(t testing.TB, b []byte) []batch.Header {
	t.Helper()
	var hs []batch.Header
	n, err := batch.ScanVerify(b, func(h batch.Header, _ []byte) bool {
		hs = append(hs, h)
		return true
	})
	if err != nil || n != len(b) {
		t.Fatalf("returned bytes are not whole batches: %d of %d bytes, %v", n, len(b), err)
	}
	return hs
}

// Read is ReadBatches with the answer as one slice: the one part itself
// (not a copy), or the parts joined.
func (r *Reader) Read(ctx context.Context, prefix string, e Entry, offset int64, maxBytes int32) ([]byte, error) {
	bs, err := r.ReadBatches(ctx, prefix, e, offset, maxBytes)
	return bs.Bytes(), err
}

// Bytes returns the answer as one slice: its one part, or the parts joined.
func (bs Batches) Bytes() []byte {
	if len(bs.Parts) == 1 {
		return bs.Parts[0]
	}
	return slices.Concat(bs.Parts...)
}

func newTestReader(t testing.TB, b objectstore.Bucket, cfg ReaderConfig) (*Reader, *cache.Cache) {
	t.Helper()
	c := cache.New(64 << 20)
	r := NewReader(b, c, cfg)
	t.Cleanup(func() {
		_ = r.Close()
		_ = c.Close()
	})
	return r, c
}

func TestReaderReadsEveryOffsetExactlyOnce(t *testing.T) {
	segs := readerSegs(t, 1, 3, 120)
	var all []byte
	for _, s := range segs {
		all = append(all, s.data()...)
	}
	bk := mem.New()
	putSegs(t, bk, segs...)
	for _, rangeBytes := range []int64{7, 100, 1000, 0} {
		for _, maxBytes := range []int32{1, 100, 5000, 1 << 20} {
			t.Run(fmt.Sprintf("range=%d/max=%d", rangeBytes, maxBytes), func(t *testing.T) {
				r, _ := newTestReader(t, bk, ReaderConfig{RangeBytes: rangeBytes})
				ctx := context.Background()
				var got []byte
				for _, s := range segs {
					for off := s.e.BaseOffset; off < s.e.EndOffset; {
						out, err := r.Read(ctx, testPrefix, s.e, off, maxBytes)
						if err != nil {
							t.Fatal(err)
						}
						hs := splitBatches(t, out)
						if len(hs) == 0 {
							t.Fatalf("read at %d returned nothing", off)
						}
						if len(hs) > 1 && len(out) > int(maxBytes) {
							t.Fatalf("read at %d returned %d batches in %d bytes, max %d", off, len(hs), len(out), maxBytes)
						}
						if hs[0].BaseOffset != off {
							t.Fatalf("read at %d starts with the batch at %d", off, hs[0].BaseOffset)
						}
						if last := hs[len(hs)-1].LastOffset(); last >= s.e.EndOffset {
							t.Fatalf("read in [%d, %d) returned offset %d", s.e.BaseOffset, s.e.EndOffset, last)
						}
						got = append(got, out...)
						off = hs[len(hs)-1].LastOffset() + 1
					}
				}
				if !bytes.Equal(got, all) {
					t.Fatalf("read back %d bytes that differ from the %d written", len(got), len(all))
				}
			})
		}
	}
}

func TestReaderReadAtEveryOffsetStartsWithItsBatch(t *testing.T) {
	segs := readerSegs(t, 2, 2, 60)
	bk := mem.New()
	putSegs(t, bk, segs...)
	r, _ := newTestReader(t, bk, ReaderConfig{RangeBytes: 333})
	ctx := context.Background()
	for _, s := range segs {
		for off := s.e.BaseOffset; off < s.e.EndOffset; off++ {
			out, err := r.Read(ctx, testPrefix, s.e, off, 1)
			if err != nil {
				t.Fatal(err)
			}
			if want := s.batches[s.batchAt(t, off)]; !bytes.Equal(out, want) {
				t.Fatalf("read at %d: got %d bytes, want its batch of %d", off, len(out), len(want))
			}
		}
	}
}

func TestReaderNeverCrossesIntoAnotherEntry(t *testing.T) {
	segs := readerSegs(t, 3, 2, 40)
	bk := newRangeCounter(mem.New())
	putSegs(t, bk, segs...)
	r, _ := newTestReader(t, bk, ReaderConfig{RangeBytes: 256, ReadAheadBlocks: 4})
	ctx := context.Background()
	first, second := segs[0], segs[1]

	out, err := r.Read(ctx, testPrefix, first.e, first.e.EndOffset-1, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if want := first.batches[len(first.batches)-1]; !bytes.Equal(out, want) {
		t.Fatalf("read at the last offset returned %d bytes, want only the last batch (%d bytes)", len(out), len(want))
	}
	out, err = r.Read(ctx, testPrefix, first.e, first.e.BaseOffset, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, first.data()) {
		t.Fatalf("a large read returned %d bytes, want exactly the segment's %d", len(out), len(first.data()))
	}
	for _, off := range []int64{second.e.BaseOffset, second.e.EndOffset, first.e.BaseOffset - 1} {
		if _, err := r.Read(ctx, testPrefix, first.e, off, 1<<20); !errors.Is(err, ErrOutOfRange) {
			t.Errorf("read of offset %d from [%d, %d) = %v, want ErrOutOfRange", off, first.e.BaseOffset, first.e.EndOffset, err)
		}
	}
	if n := bk.total(testPrefix + second.e.Key); n != 0 {
		t.Errorf("reads of the first segment made %d gets of the second", n)
	}
}

func TestReaderNoBytesForNonPositiveMax(t *testing.T) {
	segs := readerSegs(t, 4, 1, 5)
	bk := newRangeCounter(mem.New())
	putSegs(t, bk, segs...)
	r, _ := newTestReader(t, bk, ReaderConfig{})
	for _, maxBytes := range []int32{0, -1} {
		out, err := r.Read(context.Background(), testPrefix, segs[0].e, 0, maxBytes)
		if err != nil || len(out) != 0 {
			t.Errorf("Read with max %d = %d bytes, %v", maxBytes, len(out), err)
		}
	}
	if n := bk.total(testPrefix + segs[0].e.Key); n != 0 {
		t.Errorf("made %d gets", n)
	}
}

func TestReaderAnswerWithinOneBlockIsNotCopied(t *testing.T) {
	segs := readerSegs(t, 5, 1, 200)
	bk := mem.New()
	putSegs(t, bk, segs...)
	r, _ := newTestReader(t, bk, ReaderConfig{ReadAheadBlocks: -1})
	ctx := context.Background()
	out, err := r.Read(ctx, testPrefix, segs[0].e, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(out)) != segs[0].f.DataLen {
		t.Fatalf("read %d bytes, want the whole %d-byte data section", len(out), segs[0].f.DataLen)
	}
	// The object is one cached block: a read of it from the cache must
	// not allocate a copy of the answer each time.
	const reads = 50
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range reads {
		again, err := r.Read(ctx, testPrefix, segs[0].e, 0, 1<<20)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("cached read: %d bytes, %v", len(again), err)
		}
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / reads; per > uint64(len(out))/4 {
		t.Errorf("a cached read of a %d-byte answer allocated %d bytes", len(out), per)
	}
}

func TestReaderConcurrentReadersOfOneBlockMakeOneGet(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		segs := readerSegs(t, 6, 1, 80)
		s := segs[0]
		const rangeBytes = 4096
		bk := newRangeCounter(mem.New())
		putSegs(t, bk, s)
		r, _ := newTestReader(t, bk, ReaderConfig{RangeBytes: rangeBytes, ReadAheadBlocks: -1})
		ctx := context.Background()
		if _, err := r.Read(ctx, testPrefix, s.e, 0, 1); err != nil { // footer and index
			t.Fatal(err)
		}
		// A batch wholly inside block 3.
		i := 0
		for p := s.batchPos(i); p < 3*rangeBytes || p+int64(len(s.batches[i])) > 4*rangeBytes; p = s.batchPos(i) {
			i++
		}
		h, _ := batch.ParseHeader(s.batches[i])
		block := rangeReq{testPrefix + s.e.Key, 3 * rangeBytes, rangeBytes}
		bk.holdWhere(func(req rangeReq) bool { return req == block })

		const readers = 16
		var wg sync.WaitGroup
		results := make([][]byte, readers)
		for j := range readers {
			wg.Go(func() {
				out, err := r.Read(ctx, testPrefix, s.e, h.BaseOffset, 1)
				if err != nil {
					t.Error(err)
				}
				results[j] = out
			})
		}
		synctest.Wait() // every reader waits: one in the get, the rest on it
		if n := bk.count(block); n != 1 {
			t.Fatalf("%d concurrent readers started %d gets of the block, want 1", readers, n)
		}
		bk.release()
		wg.Wait()
		for j, out := range results {
			if !bytes.Equal(out, s.batches[i]) {
				t.Fatalf("reader %d got %d bytes, want the batch's %d", j, len(out), len(s.batches[i]))
			}
		}
		if n := bk.count(block); n != 1 {
			t.Errorf("the block was fetched %d times, want 1", n)
		}
		key := testPrefix + s.e.Key
		tail := min(s.e.SizeBytes, tailGuess(s.e.SizeBytes))
		if n := bk.count(rangeReq{key, s.e.SizeBytes - tail, tail}); n != 1 {
			t.Errorf("the tail (footer and index) was fetched %d times, want 1", n)
		}
		if off, n := s.f.IndexRange(); bk.count(rangeReq{key, off, n}) != 0 {
			t.Errorf("the index was fetched %d times on its own, want 0: it came with the footer", bk.count(rangeReq{key, off, n}))
		}
	})
}

func TestReaderReadAheadFetchesNextBlocks(t *testing.T) {
	for _, tc := range []struct {
		ahead int
		want  []int // gets per block after one small read at offset 0
	}{
		{ahead: -1, want: []int{1, 0, 0, 0}},
		{ahead: 0, want: []int{1, 1, 0, 0}}, // the default, 1
		{ahead: 1, want: []int{1, 1, 0, 0}},
		{ahead: 2, want: []int{1, 1, 1, 0}},
	} {
		t.Run(fmt.Sprintf("ahead=%d", tc.ahead), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := readerSegs(t, 7, 1, 100)[0]
				blockSize := (s.f.DataLen + 3) / 4
				bk := newRangeCounter(mem.New())
				putSegs(t, bk, s)
				r, c := newTestReader(t, bk, ReaderConfig{RangeBytes: blockSize, ReadAheadBlocks: tc.ahead})
				ctx := context.Background()

				if _, err := r.Read(ctx, testPrefix, s.e, 0, 1); err != nil {
					t.Fatal(err)
				}
				synctest.Wait() // the read-aheads have finished
				if got := bk.dataGets(s, blockSize); !slices.Equal(got, tc.want) {
					t.Fatalf("gets per block after the first read = %v, want %v", got, tc.want)
				}
				for i, n := range tc.want {
					start := int64(i) * blockSize
					bk := blockKey(testPrefix+s.e.Key, start, min(start+blockSize, s.f.DataLen))
					if _, ok := c.Get(bk); ok != (n > 0) {
						t.Errorf("block %d cached = %v, want %v", i, ok, n > 0)
					}
				}

				// A sequential consumer fetches each block exactly once.
				for off := int64(0); off < s.e.EndOffset; {
					out, err := r.Read(ctx, testPrefix, s.e, off, 500)
					if err != nil {
						t.Fatal(err)
					}
					hs := splitBatches(t, out)
					if len(hs) == 0 {
						t.Fatalf("read at %d returned nothing", off)
					}
					off = hs[len(hs)-1].LastOffset() + 1
					synctest.Wait()
				}
				if err := r.Close(); err != nil {
					t.Fatal(err)
				}
				if got := bk.dataGets(s, blockSize); !slices.Equal(got, []int{1, 1, 1, 1}) {
					t.Errorf("gets per block after a sequential read = %v, want one each", got)
				}
			})
		})
	}
}

// A Read that spans several blocks reads as many ahead, so that a consumer
// whose fetches are larger than a block finds its next fetch cached.
func TestReaderReadAheadMatchesTheReadSize(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := readerSegs(t, 9, 1, 200)[0]
		blockSize := (s.f.DataLen + 7) / 8
		bk := newRangeCounter(mem.New())
		putSegs(t, bk, s)
		r, _ := newTestReader(t, bk, ReaderConfig{RangeBytes: blockSize}) // ReadAheadBlocks: the default, 1
		// A read of two blocks' worth from offset 0 uses blocks 0 to 2 at
		// most (its batches may straddle a block boundary).
		out, err := r.Read(context.Background(), testPrefix, s.e, 0, int32(2*blockSize))
		if err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		used := (int64(len(out)) - 1) / blockSize // the last block the read used
		got := bk.dataGets(s, blockSize)
		for i, n := range got {
			want := 0
			if int64(i) <= used+used+1 { // the blocks used, then as many again
				want = 1
			}
			if n != want {
				t.Fatalf("gets per block after a read of %d bytes in blocks 0..%d = %v", len(out), used, got)
			}
		}
	})
}

// Prefetch loads the footer and index and starts the data blocks a Read of
// the same arguments uses; that Read then makes no get of its own, and
// PrefetchAsync does the same in the background.
func TestReaderPrefetch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		segs := readerSegs(t, 10, 2, 100)
		blockSize := (segs[0].f.DataLen + 3) / 4
		bk := newRangeCounter(mem.New())
		putSegs(t, bk, segs...)
		r, _ := newTestReader(t, bk, ReaderConfig{RangeBytes: blockSize, ReadAheadBlocks: -1})
		ctx := context.Background()

		s := segs[0]
		off := s.e.BaseOffset + (s.e.EndOffset-s.e.BaseOffset)/2
		if err := r.Prefetch(ctx, testPrefix, s.e, off, int32(blockSize)); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		before := bk.total(testPrefix + s.e.Key)
		if before < 2 { // the tail (footer and index) and at least one block
			t.Fatalf("prefetch made %d gets", before)
		}
		if _, err := r.Read(ctx, testPrefix, s.e, off, int32(blockSize)); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if n := bk.total(testPrefix + s.e.Key); n != before {
			t.Errorf("the read after a prefetch made %d gets of its own", n-before)
		}
		for i, n := range bk.dataGets(s, blockSize) {
			if n > 1 {
				t.Errorf("block %d fetched %d times", i, n)
			}
		}

		s = segs[1]
		r.PrefetchAsync(ctx, testPrefix, s.e, s.e.BaseOffset, int32(blockSize))
		synctest.Wait()
		before = bk.total(testPrefix + s.e.Key)
		if got := bk.dataGets(s, blockSize); got[0] != 1 || before != 2+got[1] {
			t.Fatalf("after PrefetchAsync: %d gets, per block %v", before, got)
		}
		if _, err := r.Read(ctx, testPrefix, s.e, s.e.BaseOffset, int32(blockSize/2)); err != nil {
			t.Fatal(err)
		}
		if n := bk.total(testPrefix + s.e.Key); n != before {
			t.Errorf("the read after PrefetchAsync made %d gets of its own", n-before)
		}

		// Nothing outside the segment, nothing for an empty read.
		if err := r.Prefetch(ctx, testPrefix, s.e, s.e.EndOffset, 100); err != nil {
			t.Fatal(err)
		}
		if err := r.Prefetch(ctx, testPrefix, segs[0].e, segs[0].e.BaseOffset, 0); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if n := bk.total(testPrefix + s.e.Key); n != before {
			t.Errorf("out-of-range prefetches made %d gets", n-before)
		}

		// A missing object is reported by Prefetch.
		gone := segs[0].e
		gone.Key += "-gone"
		if err := r.Prefetch(ctx, testPrefix, gone, gone.BaseOffset, 100); !errors.Is(err, ErrMissingObject) {
			t.Errorf("prefetch of a missing object: %v, want ErrMissingObject", err)
		}
	})
}

func TestReaderCloseStopsReadAheads(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		segs := readerSegs(t, 8, 2, 100)
		a, b := segs[0], segs[1]
		const blockSize = 1024
		bk := newRangeCounter(mem.New())
		putSegs(t, bk, a, b)
		r, c := newTestReader(t, bk, ReaderConfig{RangeBytes: blockSize, ReadAheadInFlight: 1})
		ctx := context.Background()
		// Hold every second block: the read-aheads' gets.
		bk.holdWhere(func(req rangeReq) bool { return req.off == blockSize && req.n == blockSize })

		if _, err := r.Read(ctx, testPrefix, a.e, 0, 1); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Read(ctx, testPrefix, b.e, b.e.BaseOffset, 1); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if got := bk.dataGets(a, blockSize)[1]; got != 1 {
			t.Errorf("read-ahead of the first segment made %d gets, want 1", got)
		}
		if got := bk.dataGets(b, blockSize)[1]; got != 0 {
			t.Errorf("with one read-ahead in flight, a second one made %d gets, want 0", got)
		}

		if err := r.Close(); err != nil { // returns although the get is held
			t.Fatal(err)
		}
		synctest.Wait()
		bk.mu.Lock()
		held, cutOff := bk.held, bk.cutOff
		bk.mu.Unlock()
		if held != 1 || cutOff != 1 {
			t.Errorf("%d gets held, %d cut off by Close; want 1 and 1", held, cutOff)
		}
		if _, ok := c.Get(blockKey(testPrefix+a.e.Key, blockSize, 2*blockSize)); ok {
			t.Error("a cancelled read-ahead cached its block")
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}

		// Reads go on after Close, but start no read-ahead.
		bk.release()
		if _, err := r.Read(ctx, testPrefix, b.e, b.e.BaseOffset, 1); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if got := bk.dataGets(b, blockSize)[1]; got != 0 {
			t.Errorf("a read after Close started a read-ahead")
		}
	})
}

func TestReaderReadAheadOutlivesTheRequest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := readerSegs(t, 9, 1, 50)[0]
		const blockSize = 512
		bk := newRangeCounter(mem.New())
		putSegs(t, bk, s)
		r, c := newTestReader(t, bk, ReaderConfig{RangeBytes: blockSize})
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if _, err := r.Read(ctx, testPrefix, s.e, 0, 1); err != nil {
			t.Fatal(err)
		}
		cancel() // the fetch request ends as soon as it is answered
		synctest.Wait()
		if _, ok := c.Get(blockKey(testPrefix+s.e.Key, blockSize, 2*blockSize)); !ok {
			t.Error("the read-ahead did not survive the end of the request that started it")
		}
	})
}

// flip returns a copy of b with bit 0 of byte i flipped.
func flip(b []byte, i int64) []byte {
	b = slices.Clone(b)
	b[i] ^= 1
	return b
}

func TestReaderCorruptBatchIsNeitherServedNorCached(t *testing.T) {
	s := readerSegs(t, 10, 1, 40)[0]
	const k = 20 // the corrupt batch
	pos := s.batchPos(k)
	h, _ := batch.ParseHeader(s.batches[k])
	for _, tc := range []struct {
		name string
		at   int64 // byte of the batch to flip
	}{
		{"records", batch.HeaderSize + 3},
		{"crc", 17},
		{"attributes", 22},
		{"magic", 16},
		{"base offset", 7},
		{"length", 11},
		{"last offset delta", 26},
		{"max timestamp", 42},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const blockSize = 4096
			bk := newRangeCounter(mem.New())
			key := testPrefix + s.e.Key
			if _, err := bk.Put(context.Background(), key, flip(s.obj, pos+tc.at)); err != nil {
				t.Fatal(err)
			}
			r, c := newTestReader(t, bk, ReaderConfig{RangeBytes: blockSize, ReadAheadBlocks: -1})
			ctx := context.Background()
			// Batches before it are served (the block may well be cached).
			if out, err := r.Read(ctx, testPrefix, s.e, 0, 1); err != nil || !bytes.Equal(out, s.batches[0]) {
				t.Fatalf("read of the first batch = %d bytes, %v", len(out), err)
			}
			for _, off := range []int64{h.BaseOffset, h.LastOffset()} {
				out, err := r.Read(ctx, testPrefix, s.e, off, 1)
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("read of offset %d in the flipped batch = %d bytes, %v; want ErrCorrupt", off, len(out), err)
				}
			}
			if out, err := r.Read(ctx, testPrefix, s.e, 0, 1<<20); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("read of the whole segment = %d bytes, %v; want ErrCorrupt", len(out), err)
			}
			for start := int64(pos / blockSize * blockSize); start < pos+int64(len(s.batches[k])); start += blockSize {
				if _, ok := c.Get(blockKey(key, start, min(start+blockSize, s.f.DataLen))); ok {
					t.Errorf("block at %d stays cached after it was found corrupt", start)
				}
			}
			// Repaired, the object reads back: the retry fetched anew.
			if _, err := bk.Put(ctx, key, s.obj); err != nil {
				t.Fatal(err)
			}
			out, err := r.Read(ctx, testPrefix, s.e, h.BaseOffset, 1)
			if err != nil || !bytes.Equal(out, s.batches[k]) {
				t.Fatalf("read after repair = %d bytes, %v", len(out), err)
			}
		})
	}
}

func TestReaderMissingObject(t *testing.T) {
	segs := readerSegs(t, 11, 1, 60)
	s := segs[0]
	ctx := context.Background()
	bk := mem.New()
	r, _ := newTestReader(t, bk, ReaderConfig{RangeBytes: 512, ReadAheadBlocks: -1})
	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, ErrMissingObject) || !errors.Is(err, objectstore.ErrNotExist) || errors.Is(err, ErrCorrupt) {
			t.Errorf("%s = %v, want ErrMissingObject wrapping objectstore.ErrNotExist", what, err)
		}
	}
	_, err := r.Read(ctx, testPrefix, s.e, 0, 1)
	check("Read of an object never written", err)
	_, _, err = r.OffsetForTimestamp(ctx, testPrefix, s.e, 0)
	check("OffsetForTimestamp of an object never written", err)

	// Deleted after its footer and index are cached: the data is missing.
	putSegs(t, bk, s)
	if _, err := r.Read(ctx, testPrefix, s.e, 0, 1); err != nil {
		t.Fatal(err)
	}
	if err := bk.Delete(ctx, testPrefix+s.e.Key); err != nil {
		t.Fatal(err)
	}
	_, err = r.Read(ctx, testPrefix, s.e, s.e.EndOffset-1, 1)
	check("Read of a deleted object", err)
}

func TestReaderCorruptFooterOrIndex(t *testing.T) {
	s := readerSegs(t, 12, 1, 30)[0]
	other := readerSegs(t, 13, 1, 30)[0]
	idxOff, idxLen := s.f.IndexRange()
	type tc struct {
		name string
		obj  []byte
		e    Entry
	}
	cases := []tc{
		{"truncated by one byte", s.obj[:len(s.obj)-1], s.e},
		{"truncated to its data", s.obj[:s.f.DataLen], s.e},
		{"empty", []byte{}, s.e},
		{"shifted by a leading byte", append([]byte{0}, s.obj[:len(s.obj)-1]...), s.e},
		{"another segment's object", other.obj, s.e},
		{"entry smaller than a footer", s.obj, func() Entry { e := s.e; e.SizeBytes = MinFooterSize - 1; return e }()},
		{"entry with another range", s.obj, func() Entry { e := s.e; e.EndOffset++; return e }()},
	}
	for i := range FooterSizeV2 {
		cases = append(cases, tc{fmt.Sprintf("footer byte %d flipped", i), flip(s.obj, int64(len(s.obj)-FooterSizeV2+i)), s.e})
	}
	for _, i := range []int64{0, 4, 8, 12, idxLen / 2, idxLen - 1} {
		cases = append(cases, tc{fmt.Sprintf("index byte %d flipped", i), flip(s.obj, idxOff+i), s.e})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			bk := mem.New()
			key := testPrefix + tc.e.Key
			if _, err := bk.Put(ctx, key, tc.obj); err != nil {
				t.Fatal(err)
			}
			r, c := newTestReader(t, bk, ReaderConfig{})
			out, err := r.Read(ctx, testPrefix, tc.e, tc.e.BaseOffset, 1<<20)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Read = %d bytes, %v; want ErrCorrupt", len(out), err)
			}
			if _, _, err := r.OffsetForTimestamp(ctx, testPrefix, tc.e, 0); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("OffsetForTimestamp = %v, want ErrCorrupt", err)
			}
			if _, ok := c.Get(key + "#index"); ok {
				t.Error("the index is cached after a corrupt read")
			}
			if _, ok := c.Get(key + "#footer"); ok && !strings.HasPrefix(tc.name, "index") {
				t.Error("the footer is cached after a corrupt read")
			}
			if tc.e != s.e {
				return
			}
			if _, err := bk.Put(ctx, key, s.obj); err != nil {
				t.Fatal(err)
			}
			if out, err := r.Read(ctx, testPrefix, s.e, 0, 1<<20); err != nil || !bytes.Equal(out, s.data()) {
				t.Fatalf("read after repair = %d bytes, %v", len(out), err)
			}
		})
	}
}

func TestReaderTransientErrorIsNotCached(t *testing.T) {
	s := readerSegs(t, 14, 1, 30)[0]
	fb := faulty.New(mem.New(), 1)
	putSegs(t, fb, s)
	r, _ := newTestReader(t, fb, ReaderConfig{RangeBytes: 256, ReadAheadBlocks: -1})
	ctx := context.Background()
	// The first get fails each time: the footer's, then the index's, then
	// the block's, as each success before it is cached.
	for _, what := range []string{"footer", "index", "block"} {
		fb.Inject(faulty.FailNth(objectstore.OpGetRange, 1, nil))
		if _, err := r.Read(ctx, testPrefix, s.e, 0, 1); !errors.Is(err, objectstore.ErrUnavailable) || errors.Is(err, ErrCorrupt) {
			t.Fatalf("read with the %s's get failing = %v, want ErrUnavailable", what, err)
		}
		fb.Clear()
	}
	out, err := r.Read(ctx, testPrefix, s.e, 0, 1)
	if err != nil || !bytes.Equal(out, s.batches[0]) {
		t.Fatalf("retry = %d bytes, %v", len(out), err)
	}
}

// firstAtOrAfter is OffsetForTimestamp by brute force over every record.
func firstAtOrAfter(t testing.TB, s readerSeg, ts int64) (int64, int64) {
	t.Helper()
	for _, b := range s.batches {
		recs, err := batch.Records(b)
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range recs {
			if rec.Timestamp >= ts {
				return rec.Offset, rec.Timestamp
			}
		}
	}
	return -1, -1
}

func TestReaderOffsetForTimestamp(t *testing.T) {
	// The golden segment: offsets 100-104 at 1_700_000_000_000 +0 +5 | +100 |
	// +200 +150, indexed at the second and third batch.
	data, offs, times := goldenSegment(t)
	obj, f, err := EncodeSegment(data, offs, times, 100, nil)
	if err != nil {
		t.Fatal(err)
	}
	golden := Entry{Key: "segments/golden", BaseOffset: 100, EndOffset: 105, SizeBytes: int64(len(obj)), MaxTimestamp: f.MaxTimestamp}
	bk := mem.New()
	if _, err := bk.Put(context.Background(), testPrefix+golden.Key, obj); err != nil {
		t.Fatal(err)
	}
	const t0 = 1_700_000_000_000
	for _, tc := range []struct {
		ts           int64
		offset, time int64
	}{
		{0, 100, t0},
		{t0, 100, t0},
		{t0 + 1, 101, t0 + 5},
		{t0 + 5, 101, t0 + 5},
		{t0 + 6, 102, t0 + 100},
		{t0 + 100, 102, t0 + 100},
		{t0 + 101, 103, t0 + 200},
		{t0 + 150, 103, t0 + 200}, // 104 at +150 comes after 103 at +200
		{t0 + 200, 103, t0 + 200},
		{t0 + 201, -1, -1},
	} {
		r, _ := newTestReader(t, bk, ReaderConfig{RangeBytes: 50})
		off, ts, err := r.OffsetForTimestamp(context.Background(), testPrefix, golden, tc.ts)
		if err != nil || off != tc.offset || ts != tc.time {
			t.Errorf("OffsetForTimestamp(%d) = %d, %d, %v; want %d, %d", tc.ts, off, ts, err, tc.offset, tc.time)
		}
	}

	// Random segments, log-append time included, against brute force.
	segs := readerSegs(t, 15, 2, 80)
	putSegs(t, bk, segs...)
	r, _ := newTestReader(t, bk, ReaderConfig{RangeBytes: 700})
	for _, s := range segs {
		for ts := s.f.MinTimestamp - 25; ts <= s.f.MaxTimestamp+1; ts++ {
			wantOff, wantTs := firstAtOrAfter(t, s, ts)
			off, gotTs, err := r.OffsetForTimestamp(context.Background(), testPrefix, s.e, ts)
			if err != nil || off != wantOff || gotTs != wantTs {
				t.Fatalf("OffsetForTimestamp(%d) = %d, %d, %v; want %d, %d", ts, off, gotTs, err, wantOff, wantTs)
			}
		}
	}
}

func TestReaderOffsetForTimestampRefusesCorruptBatch(t *testing.T) {
	s := readerSegs(t, 16, 1, 30)[0]
	bk := mem.New()
	key := testPrefix + s.e.Key
	if _, err := bk.Put(context.Background(), key, flip(s.obj, s.batchPos(0)+batch.HeaderSize+1)); err != nil {
		t.Fatal(err)
	}
	r, _ := newTestReader(t, bk, ReaderConfig{})
	if _, _, err := r.OffsetForTimestamp(context.Background(), testPrefix, s.e, 0); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("OffsetForTimestamp over a flipped batch = %v, want ErrCorrupt", err)
	}
}

func TestReaderWithoutDecodedIndexes(t *testing.T) {
	segs := readerSegs(t, 17, 2, 30)
	bk := newRangeCounter(mem.New())
	putSegs(t, bk, segs...)
	r, _ := newTestReader(t, bk, ReaderConfig{DecodedIndexBytes: -1})
	for range 3 {
		for _, s := range segs {
			out, err := r.Read(context.Background(), testPrefix, s.e, s.e.BaseOffset, 1<<20)
			if err != nil || !bytes.Equal(out, s.data()) {
				t.Fatalf("read = %d bytes, %v", len(out), err)
			}
		}
	}
	for _, s := range segs {
		// The tail (footer and index) and one block, each fetched once.
		if n := bk.total(testPrefix + s.e.Key); n != 2 {
			t.Errorf("%d gets of %s, want 2", n, s.e.Key)
		}
	}
}

// benchSegs holds the objects BenchmarkReaderCatchUp reads, built once.
var benchSegs struct {
	once    sync.Once
	b       *mem.Bucket
	entries []Entry
	bytes   int64 // sum of the data sections
}

// BenchmarkReaderCatchUp reads 4 segments of 64 MiB from a mem bucket with
// a cold cache, as a consumer catching up would (1 MiB fetches, in order),
// and compares that with plain gets of the same whole objects in the same
// run. raw-MB/s and reader-MB/s count data-section bytes; gets/GiB counts
// the reader's ranged gets.
func BenchmarkReaderCatchUp(b *testing.B) {
	const (
		segments   = 4
		segBytes   = 64 << 20
		batchBytes = 16 << 10
		fetchBytes = 1 << 20
	)
	benchSegs.once.Do(func() {
		benchSegs.b = mem.New()
		value := strings.Repeat("v", 1000)
		values := make([]string, batchBytes/1024)
		for i := range values {
			values[i] = value
		}
		var base int64
		for range segments {
			var data []byte
			offs, times := new(index.Offsets), new(index.Times)
			for off := base; len(data) < segBytes; off += int64(len(values)) {
				if len(data) > 0 {
					offs.Append(uint32(off-base), uint32(len(data)))
					times.Append(1_700_000_000_000+off, uint32(len(data)))
				}
				data = append(data, makeBatch(off, 1_700_000_000_000+off, nil, values...)...)
			}
			obj, f, err := EncodeSegment(data, offs, times, base, nil)
			if err != nil {
				b.Fatal(err)
			}
			e := Entry{Key: SegmentKey(testPrefix, base, f.EndOffset, 1)[len(testPrefix):], BaseOffset: base, EndOffset: f.EndOffset, SizeBytes: int64(len(obj))}
			if _, err := benchSegs.b.Put(context.Background(), testPrefix+e.Key, obj); err != nil {
				b.Fatal(err)
			}
			benchSegs.entries = append(benchSegs.entries, e)
			benchSegs.bytes += f.DataLen
			base = f.EndOffset
		}
	})
	ctx := context.Background()
	var rawTime, readTime time.Duration
	var gets, iters int64
	for b.Loop() {
		iters++
		runtime.GC() // each half starts with a clean heap, untimed
		start := time.Now()
		for _, e := range benchSegs.entries {
			if _, _, err := benchSegs.b.Get(ctx, testPrefix+e.Key); err != nil {
				b.Fatal(err)
			}
		}
		rawTime += time.Since(start)

		bk := newRangeCounter(benchSegs.b)
		c := cache.New(256 << 20)
		r := NewReader(bk, c, ReaderConfig{})
		runtime.GC()
		start = time.Now()
		var n int64
		for _, e := range benchSegs.entries {
			for off := e.BaseOffset; off < e.EndOffset; {
				out, err := r.Read(ctx, testPrefix, e, off, fetchBytes)
				if err != nil {
					b.Fatal(err)
				}
				n += int64(len(out))
				// The last batch's last offset: base + lastOffsetDelta.
				var last int64
				_, _ = batch.Scan(out, func(h batch.Header, _ []byte) bool { last = h.LastOffset(); return true })
				off = last + 1
			}
		}
		readTime += time.Since(start)
		_ = r.Close()
		_ = c.Close()
		if n != benchSegs.bytes {
			b.Fatalf("read %d bytes, want %d", n, benchSegs.bytes)
		}
		for _, e := range benchSegs.entries {
			gets += int64(bk.total(testPrefix + e.Key))
		}
	}
	total := float64(benchSegs.bytes) * float64(iters)
	b.ReportMetric(total/1e6/rawTime.Seconds(), "raw-MB/s")
	b.ReportMetric(total/1e6/readTime.Seconds(), "reader-MB/s")
	b.ReportMetric(100*rawTime.Seconds()/readTime.Seconds(), "pct-of-raw")
	b.ReportMetric(float64(gets)/(total/(1<<30)), "gets/GiB")
}

// TestReaderProducerSnapshot reads the snapshot section of objects with a
// small, a large and no snapshot, and of a version 1 object: one ranged
// get unless the snapshot is larger than the guess, and every damage to
// it reported as ErrCorrupt.
func TestReaderProducerSnapshot(t *testing.T) {
	data, offs, times := goldenSegment(t)
	large := bytes.Repeat([]byte("producer "), (snapshotGuessBytes+1000)/9)
	entryOf := func(obj []byte, f Footer) Entry {
		return Entry{
			Key: SegmentKey(testPrefix, f.BaseOffset, f.EndOffset, 1)[len(testPrefix):], BaseOffset: f.BaseOffset, EndOffset: f.EndOffset,
			SizeBytes: int64(len(obj)), MinTimestamp: f.MinTimestamp, MaxTimestamp: f.MaxTimestamp, Epoch: 1, Records: f.RecordCount,
		}
	}
	tests := []struct {
		name     string
		version  uint16
		snap     []byte
		edit     func(obj []byte, f Footer) []byte // damages the stored object
		wantErr  string
		wantGets int
	}{
		{name: "small", version: 2, snap: goldenSnapshot, wantGets: 1},
		{name: "larger than the guess", version: 2, snap: large, wantGets: 2},
		{name: "none", version: 2, wantGets: 1},
		{name: "version 1", version: 1, wantGets: 1},
		{name: "flipped snapshot byte", version: 2, snap: goldenSnapshot, wantErr: "producer snapshot crc", wantGets: 1,
			edit: func(obj []byte, f Footer) []byte { off, _ := f.SnapshotRange(); return flip(obj, off+3) }},
		{name: "flipped byte of a large snapshot", version: 2, snap: large, wantErr: "producer snapshot crc", wantGets: 2,
			edit: func(obj []byte, f Footer) []byte { off, _ := f.SnapshotRange(); return flip(obj, off) }},
		{name: "flipped footer byte", version: 2, snap: goldenSnapshot, wantErr: "footer crc", wantGets: 1,
			edit: func(obj []byte, f Footer) []byte { return flip(obj, int64(len(obj)-10)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			obj, f, err := encodeSegment(tt.version, data, offs, times, 100, tt.snap)
			if err != nil {
				t.Fatal(err)
			}
			e := entryOf(obj, f)
			stored := obj
			if tt.edit != nil {
				stored = tt.edit(obj, f)
			}
			bk := newRangeCounter(mem.New())
			if _, err := bk.Put(ctx, testPrefix+e.Key, stored); err != nil {
				t.Fatal(err)
			}
			r, _ := newTestReader(t, bk, ReaderConfig{})
			got, err := r.ProducerSnapshot(ctx, testPrefix, e)
			switch {
			case tt.wantErr != "":
				if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ProducerSnapshot = %d bytes, %v; want ErrCorrupt saying %q", len(got), err, tt.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			case !bytes.Equal(got, tt.snap) || (tt.snap == nil) != (got == nil):
				t.Fatalf("ProducerSnapshot = %q, want %q", got, tt.snap)
			}
			if n := bk.total(testPrefix + e.Key); n != tt.wantGets {
				t.Errorf("%d ranged gets, want %d", n, tt.wantGets)
			}
		})
	}

	// An entry that disagrees with the object's footer.
	obj, f, err := EncodeSegment(data, offs, times, 100, goldenSnapshot)
	if err != nil {
		t.Fatal(err)
	}
	e := entryOf(obj, f)
	bk := mem.New()
	if _, err := bk.Put(context.Background(), testPrefix+e.Key, obj); err != nil {
		t.Fatal(err)
	}
	r, _ := newTestReader(t, bk, ReaderConfig{})
	e.EndOffset++
	if _, err := r.ProducerSnapshot(context.Background(), testPrefix, e); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("ProducerSnapshot with a wrong entry: %v, want ErrCorrupt", err)
	}
	e.EndOffset--
	e.SizeBytes = MinFooterSize - 1
	if _, err := r.ProducerSnapshot(context.Background(), testPrefix, e); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("ProducerSnapshot of an entry smaller than a footer: %v, want ErrCorrupt", err)
	}
}

// TestReaderReadsVersion1Objects: the reader fetches MaxFooterSize bytes
// of the tail, which holds a version 1 footer too.
func TestReaderReadsVersion1Objects(t *testing.T) {
	ctx := context.Background()
	data, offs, times := goldenSegment(t)
	obj, f, err := encodeSegment(1, data, offs, times, 100, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := Entry{Key: "segments/v1", BaseOffset: 100, EndOffset: f.EndOffset, SizeBytes: int64(len(obj)), MinTimestamp: f.MinTimestamp, MaxTimestamp: f.MaxTimestamp, Epoch: 1, Records: f.RecordCount}
	bk := mem.New()
	if _, err := bk.Put(ctx, testPrefix+e.Key, obj); err != nil {
		t.Fatal(err)
	}
	r, _ := newTestReader(t, bk, ReaderConfig{})
	for off := e.BaseOffset; off < e.EndOffset; off++ {
		got, err := r.Read(ctx, testPrefix, e, off, 1)
		if err != nil || len(splitBatches(t, got)) != 1 || !bytes.Contains(data, got) {
			t.Fatalf("Read at %d of a version 1 object: %d bytes, %v", off, len(got), err)
		}
	}
}

func TestReaderBatchesSpanningBlocksAreNotCopied(t *testing.T) {
	s := readerSegs(t, 12, 1, 200)[0]
	const blockSize = 4096
	bk := mem.New()
	putSegs(t, bk, s)
	r, c := newTestReader(t, bk, ReaderConfig{RangeBytes: blockSize, ReadAheadBlocks: -1})
	ctx := context.Background()
	bs, err := r.ReadBatches(ctx, testPrefix, s.e, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(bs.Bytes(), s.data()) || bs.Len != len(s.data()) || bs.Next != s.e.EndOffset {
		t.Fatalf("read %d bytes (Len %d, Next %d), want the %d-byte data section and Next %d", len(bs.Bytes()), bs.Len, bs.Next, len(s.data()), s.e.EndOffset)
	}
	blocks := (s.f.DataLen + blockSize - 1) / blockSize
	if int64(len(bs.Parts)) != blocks {
		t.Fatalf("answer in %d parts, want one per block: %d", len(bs.Parts), blocks)
	}
	key := testPrefix + s.e.Key
	for i, part := range bs.Parts {
		start := int64(i) * blockSize
		block, ok := c.Get(blockKey(key, start, min(start+blockSize, s.f.DataLen)))
		if !ok || len(part) != len(block) || &part[0] != &block[0] {
			t.Fatalf("part %d is not the cached block at %d", i, start)
		}
	}
	// Read again from the cache: no copy of the answer is made.
	const reads = 20
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range reads {
		if _, err := r.ReadBatches(ctx, testPrefix, s.e, 0, 1<<20); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / reads; per > uint64(bs.Len)/4 {
		t.Errorf("a cached read of a %d-byte answer over %d blocks allocated %d bytes", bs.Len, blocks, per)
	}
}

func TestReaderCorruptBatchAcrossBlocks(t *testing.T) {
	s := readerSegs(t, 13, 1, 60)[0]
	const blockSize = 4096
	// A batch whose bytes lie in two blocks.
	k := 0
	for ; k < len(s.batches); k++ {
		if p := s.batchPos(k); p/blockSize != (p+int64(len(s.batches[k]))-1)/blockSize {
			break
		}
	}
	if k == len(s.batches) {
		t.Fatal("no batch spans two blocks")
	}
	pos, size := s.batchPos(k), int64(len(s.batches[k]))
	h, _ := batch.ParseHeader(s.batches[k])
	for _, at := range []int64{batch.HeaderSize, size - 1} { // in the first block, in the second
		t.Run(fmt.Sprint(at), func(t *testing.T) {
			bk := mem.New()
			if _, err := bk.Put(context.Background(), testPrefix+s.e.Key, flip(s.obj, pos+at)); err != nil {
				t.Fatal(err)
			}
			r, _ := newTestReader(t, bk, ReaderConfig{RangeBytes: blockSize, ReadAheadBlocks: -1})
			bs, err := r.ReadBatches(context.Background(), testPrefix, s.e, h.BaseOffset, 1<<20)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("read of a batch flipped at byte %d of %d = %d bytes, %v; want ErrCorrupt", at, size, bs.Len, err)
			}
		})
	}
}

// The first read of a segment gets its footer and index with one get of
// the object's tail; an index larger than that guess takes a get of its
// own, and reads are as good.
func TestReaderIndexBeyondTheTailGuess(t *testing.T) {
	// An index entry per batch, 20 bytes each: over 80 KiB of index in an
	// object of about 300 KiB, more than its tail guess.
	s := buildReaderSeg(t, rand.New(rand.NewPCG(18, 1)), 0, 4200, 10, 1)
	if tail := tailGuess(s.e.SizeBytes); int64(s.f.IndexLen) <= tail || s.e.SizeBytes <= tail {
		t.Fatalf("index of %d bytes and object of %d fit the tail guess of %d", s.f.IndexLen, s.e.SizeBytes, tail)
	}
	bk := newRangeCounter(mem.New())
	putSegs(t, bk, s)
	r, _ := newTestReader(t, bk, ReaderConfig{ReadAheadBlocks: -1})
	ctx := context.Background()
	for _, k := range []int{0, 1234, len(s.batches) - 1} {
		h, _ := batch.ParseHeader(s.batches[k])
		out, err := r.Read(ctx, testPrefix, s.e, h.BaseOffset, 1)
		if err != nil || !bytes.Equal(out, s.batches[k]) {
			t.Fatalf("read of batch %d = %d bytes, %v", k, len(out), err)
		}
	}
	key := testPrefix + s.e.Key
	tail := tailGuess(s.e.SizeBytes)
	off, n := s.f.IndexRange()
	if a, b := bk.count(rangeReq{key, s.e.SizeBytes - tail, tail}), bk.count(rangeReq{key, off, n}); a != 1 || b != 1 {
		t.Errorf("tail fetched %d times, index %d times; want once each", a, b)
	}
}

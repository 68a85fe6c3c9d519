package tiering

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/strata-io/strata/objectstore"
	"github.com/strata-io/strata/objectstore/mem"
)

// benchState is a bucket whose manifest already holds many segments, built
// by writing chunk objects and the head directly rather than by commits.
type benchState struct {
	b    *mem.Bucket
	m    *Manifest // the head, as a writer would hold it
	body []byte    // its encoding
}

var (
	benchMu     sync.Mutex
	benchStates = map[[2]int]*benchState{}
)

// benchManifest returns (building once) a manifest of n segments of which
// tail sit in the head's tail and the rest in chunks of DefaultChunkSize
// (the first chunk takes the remainder).
func benchManifest(b *testing.B, n, tail int) *benchState {
	b.Helper()
	benchMu.Lock()
	defer benchMu.Unlock()
	if s, ok := benchStates[[2]int{n, tail}]; ok {
		return s
	}
	ctx := context.Background()
	s := &benchState{b: mem.New()}
	m := &Manifest{Prefix: testPrefix, WriterEpoch: 1, WriterID: WriterID{1}, Generation: int64(n), cache: newChunkCache(DefaultChunkCache)}
	entry := func(i int) Entry {
		base := int64(i) * 1000
		return Entry{
			Key:          fmt.Sprintf("segments/%020d-%020d-1-%016x", base, base+1000, i),
			BaseOffset:   base,
			EndOffset:    base + 1000,
			SizeBytes:    256 << 20,
			MinTimestamp: 1_700_000_000_000 + int64(i)*1000,
			MaxTimestamp: 1_700_000_000_000 + int64(i)*1000 + 999,
			Epoch:        1,
			Records:      1000,
		}
	}
	inChunks := n - tail
	first := inChunks % DefaultChunkSize
	if first == 0 {
		first = DefaultChunkSize
	}
	for i := 0; i < inChunks; {
		size := DefaultChunkSize
		if i == 0 {
			size = first
		}
		entries := make([]Entry, size)
		for j := range entries {
			entries[j] = entry(i + j)
		}
		key := fmt.Sprintf("chunks/%020d-%016x", entries[0].BaseOffset, i)
		if _, err := s.b.PutIfAbsent(ctx, testPrefix+key, encodeChunk(entries)); err != nil {
			b.Fatal(err)
		}
		m.Chunks = append(m.Chunks, summarizeChunk(key, entries))
		i += size
	}
	for i := inChunks; i < n; i++ {
		m.Tail = append(m.Tail, entry(i))
	}
	m.RemoteEnd = int64(n) * 1000
	if err := m.validateHead(); err != nil {
		b.Fatal(err)
	}
	s.m, s.body = m, encodeHead(m)
	benchStates[[2]int{n, tail}] = s
	return s
}

// BenchmarkCommit measures one Append on a manifest that already holds
// that many segments, the tail half full (so no chunk is written): the
// common commit. B-written/op is the bytes the commit puts.
func BenchmarkCommit(b *testing.B) {
	for _, n := range []int{10, 1_000_000} {
		b.Run(fmt.Sprintf("segments=%d", n), func(b *testing.B) {
			benchCommit(b, benchManifest(b, n, min(n, DefaultChunkSize/2)))
		})
	}
}

// BenchmarkCommitRollover measures the commit that finds the tail full and
// first writes it as a chunk, once every DefaultChunkSize commits.
func BenchmarkCommitRollover(b *testing.B) {
	b.Run("segments=1000000", func(b *testing.B) {
		benchCommit(b, benchManifest(b, 1_000_000, DefaultChunkSize))
	})
}

func benchCommit(b *testing.B, s *benchState) {
	ctx := context.Background()
	c := &counting{Bucket: s.b}
	e := Entry{
		Key: fmt.Sprintf("segments/%020d-%020d-1-ffffffffffffffff", s.m.RemoteEnd, s.m.RemoteEnd+1000), BaseOffset: s.m.RemoteEnd,
		EndOffset: s.m.RemoteEnd + 1000, SizeBytes: 256 << 20, Epoch: 1, Records: 1000,
	}
	var written, puts int64
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		etag, err := s.b.Put(ctx, testPrefix+headKey, s.body)
		if err != nil {
			b.Fatal(err)
		}
		w := &Writer{b: c, prefix: testPrefix, chunkSize: DefaultChunkSize, epoch: 1, id: s.m.WriterID, m: s.m, etag: etag}
		c.reset()
		b.StartTimer()

		if err := w.Append(ctx, e); err != nil {
			b.Fatal(err)
		}

		b.StopTimer()
		written += c.bytesWritten
		puts += int64(c.writes)
		if next := w.Manifest(); len(next.Chunks) > len(s.m.Chunks) {
			if err := s.b.Delete(ctx, testPrefix+next.Chunks[len(next.Chunks)-1].Key); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(written)/float64(b.N), "B-written/op")
	b.ReportMetric(float64(puts)/float64(b.N), "puts/op")
	b.ReportMetric(float64(len(s.body)), "head-B")
}

// BenchmarkLookup measures resolving an offset in a manifest of 10^6
// segments: from a cached chunk, and from a chunk read and decoded anew.
func BenchmarkLookup(b *testing.B) {
	s := benchManifest(b, 1_000_000, DefaultChunkSize/2)
	ctx := context.Background()
	m, _, err := Load(ctx, s.b, testPrefix)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("cached", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, err := m.Lookup(ctx, s.b, int64(i%8)*1000+7); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("uncached", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			off := int64(i%len(m.Chunks))*DefaultChunkSize*1000 + 500_000 // a chunk the cache does not hold
			if _, err := m.Lookup(ctx, s.b, off); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("tail", func(b *testing.B) {
		for b.Loop() {
			if _, err := m.Lookup(ctx, s.b, m.RemoteEnd-1); err != nil {
				b.Fatal(err)
			}
		}
	})
}

var _ objectstore.Bucket = (*counting)(nil)

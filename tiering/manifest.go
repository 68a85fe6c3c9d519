package tiering

import (
	"container/list"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"iter"
	"sort"
	"strings"
	"sync"

	"github.com/strata-io/strata/objectstore"
)

// Epoch is a writer's fencing epoch. Every Acquire takes the stored epoch
// plus one; the first writer of a partition has epoch 1.
type Epoch int64

// WriterID identifies one Writer, so that a writer recognises its own
// commit when a write that reported a failure did happen. It is random.
type WriterID [16]byte

func (id WriterID) String() string { return hex.EncodeToString(id[:]) }

// Entry describes one committed segment object.
type Entry struct {
	Key          string // object key, relative to the partition prefix
	BaseOffset   int64
	EndOffset    int64 // offset after the segment's last record
	SizeBytes    int64 // size of the segment object
	MinTimestamp int64
	MaxTimestamp int64
	Epoch        Epoch // epoch of the writer that committed it
	Records      int64
}

// Contains reports whether offset lies in [BaseOffset, EndOffset).
func (e Entry) Contains(offset int64) bool { return e.BaseOffset <= offset && offset < e.EndOffset }

// ChunkRef describes one chunk: an immutable object holding Count
// consecutive entries of the manifest, moved there from the head's tail.
type ChunkRef struct {
	Key          string // object key, relative to the partition prefix
	FirstBase    int64  // BaseOffset of the first entry
	EndOffset    int64  // EndOffset of the last entry
	Count        int
	MinTimestamp int64 // least MinTimestamp of the entries
	MaxTimestamp int64 // largest MaxTimestamp of the entries
	Bytes        int64 // sum of the entries' SizeBytes
}

// Object keys, relative to the partition prefix.
const (
	headKey      = "manifest"
	chunkDir     = "chunks/"
	segmentDir   = "segments/"
	randomSuffix = 8 // bytes, so 16 hex digits
)

// PartitionPrefix returns the prefix under which a partition keeps its
// manifest and segments: "topics/<topic id in hex>/<partition>/".
func PartitionPrefix(topicID [16]byte, partition int32) string {
	return fmt.Sprintf("topics/%x/%d/", topicID[:], partition)
}

// SegmentKey returns a new, unique object key under prefix for a segment
// holding offsets [base, end) uploaded by the writer of epoch:
// prefix+"segments/<base %020d>-<end %020d>-<epoch>-<16 random hex digits>".
// The random suffix keeps a retried upload from overwriting an object a
// manifest may already reference.
func SegmentKey(prefix string, base, end int64, epoch Epoch) string {
	return fmt.Sprintf("%s%s%020d-%020d-%d-%s", prefix, segmentDir, base, end, epoch, randomHex())
}

func newChunkKey(firstBase int64) string {
	return fmt.Sprintf("%s%020d-%s", chunkDir, firstBase, randomHex())
}

func randomHex() string {
	var b [randomSuffix]byte
	_, _ = rand.Read(b[:]) // never fails; see crypto/rand.Read
	return hex.EncodeToString(b[:])
}

// checkPrefix checks a partition prefix: it must end with '/' and leave
// valid keys for the objects under it.
func checkPrefix(prefix string) error {
	if !strings.HasSuffix(prefix, "/") {
		return fmt.Errorf("partition prefix %q does not end with '/'", prefix)
	}
	return objectstore.ValidateKey(prefix + headKey)
}

// Manifest is one partition's remote tier as committed in its bucket: the
// head object (prefix+"manifest") and the chunks it references. A Manifest
// is an immutable snapshot of one head; the fields must not be modified.
// Its methods are safe for concurrent use.
//
// The entries, chunks first, then the tail, always satisfy (decoding and
// every commit check it; Check also reads the chunks):
//   - they are ordered, contiguous and non-overlapping: each entry's
//     BaseOffset is the EndOffset of the one before it;
//   - 0 <= LogStartOffset <= RemoteEnd;
//   - with no entries, LogStartOffset == RemoteEnd (the remote tier is
//     empty); otherwise the first entry holds LogStartOffset and the last
//     ends at RemoteEnd, and the first chunk (or, with no chunks, the first
//     tail entry) ends above LogStartOffset, so no chunk ref or tail entry
//     is wholly below it;
//   - the epochs of the entries never fall and none exceeds WriterEpoch.
//
// Entries that end at or below LogStartOffset may still sit in the first
// chunk; they are dead: every method here skips them.
type Manifest struct {
	Prefix         string // partition prefix the keys are relative to
	WriterEpoch    Epoch  // the only epoch that may commit
	WriterID       WriterID
	Generation     int64 // +1 on every commit
	LogStartOffset int64 // first offset of the remote tier, the partition's logStart
	// RemoteEnd is the end of the remote tier: the EndOffset of the last
	// entry, or, with no entries, LogStartOffset (0 for a new partition).
	RemoteEnd int64
	Chunks    []ChunkRef
	Tail      []Entry // the newest entries, after the chunks

	cache *chunkCache
}

// Empty reports whether the remote tier holds no offsets.
func (m *Manifest) Empty() bool { return m.LogStartOffset == m.RemoteEnd }

// DefaultChunkCache is the number of chunks a Manifest keeps decoded.
const DefaultChunkCache = 16

// Load reads the manifest of the partition under prefix and returns it with
// the ETag of its head. It returns an error wrapping objectstore.ErrNotExist
// if the partition has no manifest, and ErrCorrupt if the head does not
// decode or breaks an invariant.
func Load(ctx context.Context, b objectstore.Bucket, prefix string) (*Manifest, objectstore.ETag, error) {
	m, etag, _, err := loadHead(ctx, b, prefix, nil)
	return m, etag, err
}

// loadHead is Load that also returns the head's bytes, and that shares cache
// (if not nil) with the new Manifest.
func loadHead(ctx context.Context, b objectstore.Bucket, prefix string, cache *chunkCache) (*Manifest, objectstore.ETag, []byte, error) {
	if err := checkPrefix(prefix); err != nil {
		return nil, "", nil, fmt.Errorf("load manifest: %w", err)
	}
	body, info, err := b.Get(ctx, prefix+headKey)
	if err != nil {
		return nil, "", nil, fmt.Errorf("load manifest %s: %w", prefix, err)
	}
	m, err := decodeHead(body)
	if err != nil {
		return nil, "", nil, fmt.Errorf("load manifest %s: %w", prefix, err)
	}
	m.Prefix = prefix
	if cache == nil {
		cache = newChunkCache(DefaultChunkCache)
	}
	m.cache = cache
	return m, info.ETag, body, nil
}

// Lookup returns the one entry whose segment holds offset, which must lie
// in [LogStartOffset, RemoteEnd); otherwise it returns ErrOutOfRange. It
// reads the chunk that holds the entry unless it is cached. A chunk that
// does not exist any more (objectstore.ErrNotExist) means a newer head has
// trimmed it: reload the manifest.
func (m *Manifest) Lookup(ctx context.Context, b objectstore.Bucket, offset int64) (Entry, error) {
	if offset < m.LogStartOffset || offset >= m.RemoteEnd {
		return Entry{}, fmt.Errorf("%w: offset %d is outside the remote tier [%d, %d) of %s", ErrOutOfRange, offset, m.LogStartOffset, m.RemoteEnd, m.Prefix)
	}
	entries := m.Tail
	if len(m.Tail) == 0 || offset < m.Tail[0].BaseOffset {
		i := sort.Search(len(m.Chunks), func(i int) bool { return m.Chunks[i].EndOffset > offset })
		if i == len(m.Chunks) {
			return Entry{}, fmt.Errorf("%w: manifest %s has no chunk holding offset %d", ErrCorrupt, m.Prefix, offset)
		}
		var err error
		if entries, err = m.chunk(ctx, b, i, true); err != nil {
			return Entry{}, err
		}
	}
	i := sort.Search(len(entries), func(i int) bool { return entries[i].EndOffset > offset })
	if i == len(entries) || !entries[i].Contains(offset) {
		return Entry{}, fmt.Errorf("%w: manifest %s has no entry holding offset %d", ErrCorrupt, m.Prefix, offset)
	}
	return entries[i], nil
}

// LookupTimestamp returns the first live entry (in offset order) whose
// MaxTimestamp is at least ts: the segment where a search for the first
// record with a timestamp of at least ts begins. It reports false if there
// is none. It reads the chunks whose MaxTimestamp is at least ts until it
// finds one.
func (m *Manifest) LookupTimestamp(ctx context.Context, b objectstore.Bucket, ts int64) (Entry, bool, error) {
	for i, c := range m.Chunks {
		if c.MaxTimestamp < ts {
			continue
		}
		entries, err := m.chunk(ctx, b, i, true)
		if err != nil {
			return Entry{}, false, err
		}
		for _, e := range entries {
			if e.EndOffset > m.LogStartOffset && e.MaxTimestamp >= ts {
				return e, true, nil
			}
		}
	}
	for _, e := range m.Tail {
		if e.EndOffset > m.LogStartOffset && e.MaxTimestamp >= ts {
			return e, true, nil
		}
	}
	return Entry{}, false, nil
}

// Entries yields every live entry (EndOffset above LogStartOffset) in
// offset order, reading each chunk in turn without caching it. On failure
// it yields one error with a zero Entry and stops.
func (m *Manifest) Entries(ctx context.Context, b objectstore.Bucket) iter.Seq2[Entry, error] {
	return func(yield func(Entry, error) bool) {
		for i := range m.Chunks {
			entries, err := m.chunk(ctx, b, i, false)
			if err != nil {
				yield(Entry{}, err)
				return
			}
			for _, e := range entries {
				if e.EndOffset > m.LogStartOffset && !yield(e, nil) {
					return
				}
			}
		}
		for _, e := range m.Tail {
			if !yield(e, nil) {
				return
			}
		}
	}
}

// Check verifies every invariant listed at Manifest, reading every chunk
// from the bucket (bypassing the cache), and that no two entries share a
// key. It returns an error wrapping ErrCorrupt naming the first violation,
// or the bucket's error if a chunk cannot be read. It does not read the
// segment objects.
func (m *Manifest) Check(ctx context.Context, b objectstore.Bucket) error {
	if err := m.validateHead(); err != nil {
		return fmt.Errorf("%w: manifest %s: %v", ErrCorrupt, m.Prefix, err)
	}
	var (
		prev  *Entry
		live  bool
		keys  = make(map[string]bool)
		check = func(e Entry) error {
			switch {
			case keys[e.Key]:
				return fmt.Errorf("two entries have key %s", e.Key)
			case e.Epoch > m.WriterEpoch:
				return fmt.Errorf("entry %s has epoch %d above the writer's %d", e.Key, e.Epoch, m.WriterEpoch)
			case prev != nil && e.BaseOffset != prev.EndOffset:
				return fmt.Errorf("entry %s starts at %d, the one before ends at %d", e.Key, e.BaseOffset, prev.EndOffset)
			case prev != nil && e.Epoch < prev.Epoch:
				return fmt.Errorf("entry %s has epoch %d after epoch %d", e.Key, e.Epoch, prev.Epoch)
			case !live && e.EndOffset > m.LogStartOffset && !e.Contains(m.LogStartOffset):
				return fmt.Errorf("the first live entry %s [%d, %d) does not hold logStartOffset %d", e.Key, e.BaseOffset, e.EndOffset, m.LogStartOffset)
			}
			keys[e.Key] = true
			live = live || e.EndOffset > m.LogStartOffset
			prev = &e
			return nil
		}
	)
	for i, c := range m.Chunks {
		body, _, err := b.Get(ctx, m.Prefix+c.Key)
		if err != nil {
			return fmt.Errorf("check manifest %s: chunk %s: %w", m.Prefix, c.Key, err)
		}
		entries, err := decodeChunk(body, m.Chunks[i])
		if err != nil {
			return fmt.Errorf("check manifest %s: %w", m.Prefix, err)
		}
		for _, e := range entries {
			if err := check(e); err != nil {
				return fmt.Errorf("%w: manifest %s: chunk %s: %v", ErrCorrupt, m.Prefix, c.Key, err)
			}
		}
	}
	for _, e := range m.Tail {
		if err := check(e); err != nil {
			return fmt.Errorf("%w: manifest %s: tail: %v", ErrCorrupt, m.Prefix, err)
		}
	}
	return nil
}

// chunk returns the entries of chunk i, from the cache or the bucket; it
// caches what it reads if useCache is set.
func (m *Manifest) chunk(ctx context.Context, b objectstore.Bucket, i int, useCache bool) ([]Entry, error) {
	ref := m.Chunks[i]
	if m.cache != nil {
		if entries, ok := m.cache.get(ref.Key); ok {
			return entries, nil
		}
	}
	body, _, err := b.Get(ctx, m.Prefix+ref.Key)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: read chunk %s: %w", m.Prefix, ref.Key, err)
	}
	entries, err := decodeChunk(body, ref)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", m.Prefix, err)
	}
	if useCache && m.cache != nil {
		m.cache.add(ref.Key, entries)
	}
	return entries, nil
}

// chunkCache keeps the most recently used decoded chunks. Chunks are
// immutable, so one cache serves every head of a partition.
type chunkCache struct {
	max int

	mu    sync.Mutex // guards below
	lru   *list.List // of *cachedChunk, most recently used first
	byKey map[string]*list.Element
}

type cachedChunk struct {
	key     string
	entries []Entry
}

func newChunkCache(max int) *chunkCache {
	return &chunkCache{max: max, lru: list.New(), byKey: make(map[string]*list.Element)}
}

func (c *chunkCache) get(key string) ([]Entry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byKey[key]
	if !ok {
		return nil, false
	}
	c.lru.MoveToFront(el)
	return el.Value.(*cachedChunk).entries, true
}

func (c *chunkCache) add(key string, entries []Entry) {
	if c.max <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byKey[key]; ok {
		c.lru.MoveToFront(el)
		return
	}
	c.byKey[key] = c.lru.PushFront(&cachedChunk{key: key, entries: entries})
	for c.lru.Len() > c.max {
		el := c.lru.Back()
		c.lru.Remove(el)
		delete(c.byKey, el.Value.(*cachedChunk).key)
	}
}

package tiering

import (
	"bytes"
	"container/list"
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"

	"github.com/strata-io/strata/batch"
	"github.com/strata-io/strata/cache"
	"github.com/strata-io/strata/index"
	"github.com/strata-io/strata/objectstore"
)

// Defaults of ReaderConfig.
const (
	DefaultRangeBytes        = 8 << 20
	DefaultReadAheadBlocks   = 1
	DefaultReadAheadInFlight = 16
	DefaultDecodedIndexBytes = 32 << 20
)

// ReaderConfig tunes a Reader. The zero value means every default.
type ReaderConfig struct {
	// RangeBytes is the size of one ranged get of a segment's data section
	// (default DefaultRangeBytes). The data section is cut into aligned
	// blocks of RangeBytes (block i is bytes [i*RangeBytes, (i+1)*RangeBytes)
	// of the object, the last one shorter), each fetched by one get and
	// cached as one entry, so consumers at nearby offsets share blocks.
	RangeBytes int64
	// ReadAheadBlocks is the least number of blocks after the last one a
	// read used that are fetched in the background, for the consumer's next
	// read (default DefaultReadAheadBlocks; negative turns read-ahead off).
	// A read that used more blocks reads as many ahead: the consumer's next
	// fetch is likely as large. Read-ahead stays within the segment the read
	// served.
	ReadAheadBlocks int
	// ReadAheadInFlight bounds the read-ahead fetches a Reader runs at once
	// (default DefaultReadAheadInFlight). A read-ahead that finds the bound
	// reached is skipped, not queued: the consumer's own read fetches the
	// block if it needs it.
	ReadAheadInFlight int
	// DecodedIndexBytes bounds the segment indexes a Reader keeps decoded,
	// counted by their encoded size (default DefaultDecodedIndexBytes;
	// negative keeps none, so every read decodes the index it needs from
	// the cache). The encoded indexes themselves live in the cache.
	DecodedIndexBytes int64
}

func (cfg ReaderConfig) withDefaults() ReaderConfig {
	if cfg.RangeBytes <= 0 {
		cfg.RangeBytes = DefaultRangeBytes
	}
	switch {
	case cfg.ReadAheadBlocks == 0:
		cfg.ReadAheadBlocks = DefaultReadAheadBlocks
	case cfg.ReadAheadBlocks < 0:
		cfg.ReadAheadBlocks = 0
	}
	if cfg.ReadAheadInFlight <= 0 {
		cfg.ReadAheadInFlight = DefaultReadAheadInFlight
	}
	switch {
	case cfg.DecodedIndexBytes == 0:
		cfg.DecodedIndexBytes = DefaultDecodedIndexBytes
	case cfg.DecodedIndexBytes < 0:
		cfg.DecodedIndexBytes = 0
	}
	return cfg
}

// Reader is the read path of the remote tier: it answers a fetch at an
// offset from the one segment object the manifest resolved it to, through
// a cache of footers, indexes and data blocks. It never reads, merges or
// fills in records from a second segment. It is safe for concurrent use.
//
// Cache keys, for an object key K: K+"#footer" (the footer bytes),
// K+"#index" (the index section, its CRC verified), and K+"#<start>-<end>"
// (the data bytes [start, end) of one block). Objects are immutable under
// their keys, so entries never go stale; a block found corrupt is dropped.
//
// A Reader owns the goroutines that run its read-aheads; Close stops them.
// The bucket and the cache belong to the caller, who closes the cache after
// the Reader.
type Reader struct {
	b    objectstore.Bucket
	c    *cache.Cache
	cfg  ReaderConfig
	memo *indexMemo

	aheads sync.WaitGroup // one per running read-ahead goroutine

	mu     sync.Mutex // guards below
	closed bool
	// ahead holds the running read-aheads by block cache key, to cancel
	// them on Close and to start at most one per block.
	ahead map[string]context.CancelFunc
}

// NewReader returns a Reader of the segment objects in b, caching through
// c. Close it to stop its read-aheads.
func NewReader(b objectstore.Bucket, c *cache.Cache, cfg ReaderConfig) *Reader {
	cfg = cfg.withDefaults()
	return &Reader{
		b:     b,
		c:     c,
		cfg:   cfg,
		memo:  newIndexMemo(cfg.DecodedIndexBytes),
		ahead: make(map[string]context.CancelFunc),
	}
}

// Close cancels the running read-aheads and waits for their goroutines to
// return; their fetches end as the cache's GetOrLoad describes (a fetch
// another caller also waits for goes on for that caller). Reads still work
// after Close but start no read-ahead. Close is idempotent and returns nil.
func (r *Reader) Close() error {
	r.mu.Lock()
	r.closed = true
	for _, cancel := range r.ahead {
		cancel()
	}
	r.mu.Unlock()
	r.aheads.Wait()
	return nil
}

// Batches is the answer of ReadBatches: whole record batches laid end to end,
// held as Parts whose concatenation is the answer. Each part is a piece of
// a cached block of the segment object, not a copy, and must not be
// modified; an answer that spans blocks has a part per block.
type Batches struct {
	Parts [][]byte
	// Len is the answer's size, the sum of the parts' lengths.
	Len int
	// Next is the offset after the answer's last batch, where the
	// consumer's next fetch goes on; 0 for an empty answer.
	Next int64
}

// ReadBatches returns the record batches of segment e, whose object lives
// under prefix+e.Key, starting with the batch that holds offset, which e
// must contain (otherwise ErrOutOfRange). It returns whole batches only
// and never reads past e's last batch nor from any other object: at least
// one batch when maxBytes > 0, even if that batch is larger (KIP-74), and
// then more while the total stays within maxBytes. With maxBytes <= 0 it
// returns nothing and reads nothing. The first batch may start below
// offset; the client skips the records before it, as with Kafka. The next
// fetch of a consumer goes on from Next, which may be e.EndOffset: the
// next segment's business.
//
// The answer lies in the cached blocks it was read from (see Batches): a
// fetch answer is written from there, so the record bytes are not copied
// on their way from the bucket to the client.
//
// Every returned batch has passed its CRC-32C, and every batch header the
// read walked has checked framing: magic 2, a size within the data section,
// and offsets that run contiguously from where the index says and stay
// within [e.BaseOffset, e.EndOffset). A failure wraps ErrCorrupt, nothing
// is served, and the data blocks the read used are dropped from the cache,
// so a retry fetches them anew. A footer or index that is corrupt, or that
// disagrees with e, wraps ErrCorrupt and is not cached; an object the
// bucket does not have wraps ErrMissingObject. Other errors are the
// bucket's, the cache's or ctx's.
//
// A read that used data blocks j to k of the object starts background
// fetches of blocks k+1 to k+max(ReadAheadBlocks, k-j+1), unless they are
// cached or the Reader's read-aheads are at their bound. They run under ctx's values, not its
// deadline, until Close.
func (r *Reader) ReadBatches(ctx context.Context, prefix string, e Entry, offset int64, maxBytes int32) (Batches, error) {
	key := prefix + e.Key
	if !e.Contains(offset) {
		return Batches{}, fmt.Errorf("%w: offset %d is not in segment [%d, %d) of %s", ErrOutOfRange, offset, e.BaseOffset, e.EndOffset, key)
	}
	if maxBytes <= 0 {
		return Batches{}, nil
	}
	out, err := r.read(ctx, key, e, offset, int64(maxBytes))
	if err != nil {
		return Batches{}, fmt.Errorf("read offset %d from %s: %w", offset, key, err)
	}
	return out, nil
}

func (r *Reader) read(ctx context.Context, key string, e Entry, offset, maxBytes int64) (Batches, error) {
	m, err := r.meta(ctx, key, e)
	if err != nil {
		return Batches{}, err
	}
	v := r.newView(ctx, key, m.footer)
	pos, base := m.seek(offset)
	// Walk the headers up to the batch holding offset.
	for {
		h, err := v.header(pos, base)
		if err != nil {
			return Batches{}, v.fail(err)
		}
		if h.LastOffset() >= offset {
			break
		}
		pos, base = pos+int64(h.Size()), h.LastOffset()+1
	}
	// Take whole batches from there while they fit, and check each one's
	// CRC where it lies.
	start, n := pos, int64(0)
	var body [][]byte
	for pos < m.footer.DataLen && n < maxBytes {
		h, err := v.header(pos, base)
		if err != nil {
			return Batches{}, v.fail(err)
		}
		size := int64(h.Size())
		if n > 0 && n+size > maxBytes {
			break
		}
		body, err = v.parts(body[:0], pos+batch.CRCStart, size-batch.CRCStart)
		if err != nil {
			return Batches{}, v.fail(err)
		}
		if err := batch.VerifyParts(h, body...); err != nil {
			return Batches{}, v.fail(fmt.Errorf("%w: batch at data byte %d: %w", ErrCorrupt, pos, err))
		}
		n += size
		pos, base = pos+size, h.LastOffset()+1
	}
	parts, err := v.parts(nil, start, n)
	if err != nil {
		return Batches{}, v.fail(err)
	}
	r.readAhead(ctx, v)
	return Batches{Parts: parts, Len: int(n), Next: base}, nil
}

// OffsetForTimestamp returns the offset and timestamp of the first record
// of segment e (in offset order) whose timestamp is at least ts, or -1, -1
// if e has none. It starts where the time index says, skips batches by
// their max timestamp, and decodes the records of the first batch that may
// hold one (after checking its CRC). The offset may lie below the
// partition's logStart if e straddles it; the caller clamps. Errors are as
// for ReadBatches; it starts no read-ahead.
func (r *Reader) OffsetForTimestamp(ctx context.Context, prefix string, e Entry, ts int64) (offset, timestamp int64, err error) {
	key := prefix + e.Key
	offset, timestamp, err = r.offsetForTimestamp(ctx, key, e, ts)
	if err != nil {
		return -1, -1, fmt.Errorf("find timestamp %d in %s: %w", ts, key, err)
	}
	return offset, timestamp, nil
}

func (r *Reader) offsetForTimestamp(ctx context.Context, key string, e Entry, ts int64) (int64, int64, error) {
	m, err := r.meta(ctx, key, e)
	if err != nil {
		return -1, -1, err
	}
	f := m.footer
	if ts > f.MaxTimestamp {
		return -1, -1, nil
	}
	v := r.newView(ctx, key, f)
	pos := int64(m.times.Lookup(ts))
	base := m.baseAt(pos)
	for pos < f.DataLen {
		h, err := v.header(pos, base)
		if err != nil {
			return -1, -1, v.fail(err)
		}
		size := int64(h.Size())
		if h.MaxTimestamp >= ts {
			raw, err := v.slice(pos, size)
			if err != nil {
				return -1, -1, v.fail(err)
			}
			if _, err := batch.ScanVerify(raw, func(batch.Header, []byte) bool { return true }); err != nil {
				return -1, -1, v.fail(fmt.Errorf("%w: data at byte %d: %w", ErrCorrupt, pos, err))
			}
			recs, err := batch.Records(raw)
			if err != nil {
				return -1, -1, v.fail(fmt.Errorf("%w: batch at byte %d: %w", ErrCorrupt, pos, err))
			}
			for _, rec := range recs {
				if rec.Timestamp >= ts {
					return rec.Offset, rec.Timestamp, nil
				}
			}
		}
		pos, base = pos+size, h.LastOffset()+1
	}
	return -1, -1, nil
}

// snapshotGuessBytes is how much of a producer snapshot section
// ProducerSnapshot reads in the same ranged get as the footer; a larger
// snapshot takes a second get.
const snapshotGuessBytes = 64 << 10

// ProducerSnapshot returns the producer snapshot section of segment e,
// whose object lives under prefix+e.Key: the local tier's producer state
// as of e.EndOffset, its CRC verified, or nil if the object has none (a
// version 1 object, or one uploaded without). It reads the object's last
// MaxFooterSize+64 KiB bytes with one ranged get, and a snapshot that does
// not fit there with a second one; it bypasses the cache, since a snapshot
// is read once, when a partition is restored from the bucket. Errors are
// as ReadBatches': ErrCorrupt for a footer that is corrupt or disagrees with e
// or a snapshot whose length or CRC is wrong, ErrMissingObject, or the
// bucket's or ctx's.
func (r *Reader) ProducerSnapshot(ctx context.Context, prefix string, e Entry) ([]byte, error) {
	key := prefix + e.Key
	snap, err := r.producerSnapshot(ctx, key, e)
	if err != nil {
		return nil, fmt.Errorf("producer snapshot of %s: %w", key, err)
	}
	return snap, nil
}

func (r *Reader) producerSnapshot(ctx context.Context, key string, e Entry) ([]byte, error) {
	if e.SizeBytes < MinFooterSize {
		return nil, fmt.Errorf("%w: manifest says the object is %d bytes, less than a footer", ErrCorrupt, e.SizeBytes)
	}
	tailOff := max(e.SizeBytes-MaxFooterSize-snapshotGuessBytes, 0)
	tail, err := r.getRange(ctx, key, tailOff, e.SizeBytes-tailOff)
	if err != nil {
		return nil, err
	}
	f, err := DecodeFooter(tail)
	if err != nil {
		return nil, err
	}
	if f.BaseOffset != e.BaseOffset || f.EndOffset != e.EndOffset || f.Size() != e.SizeBytes {
		return nil, fmt.Errorf("%w: footer says offsets [%d, %d) in %d bytes, the manifest [%d, %d) in %d bytes",
			ErrCorrupt, f.BaseOffset, f.EndOffset, f.Size(), e.BaseOffset, e.EndOffset, e.SizeBytes)
	}
	off, n := f.SnapshotRange()
	if n == 0 {
		return nil, nil
	}
	var snap []byte
	if off >= tailOff {
		snap = bytes.Clone(tail[off-tailOff : off-tailOff+n])
	} else if snap, err = r.getRange(ctx, key, off, n); err != nil {
		return nil, err
	}
	if err := f.VerifySnapshot(snap); err != nil {
		return nil, err
	}
	return snap, nil
}

// segmentMeta is a segment object's footer and decoded index.
type segmentMeta struct {
	footer Footer
	offs   *index.Offsets
	times  *index.Times
}

// seek returns where the scan for offset starts: the position of the last
// offset index entry at or below offset, and the base offset of the batch
// there.
func (m *segmentMeta) seek(offset int64) (pos, base int64) {
	rel := offset - m.footer.BaseOffset
	es := m.offs.Entries()
	i := sort.Search(len(es), func(i int) bool { return int64(es[i].RelOffset) > rel })
	if i == 0 {
		return 0, m.footer.BaseOffset
	}
	return int64(es[i-1].Pos), m.footer.BaseOffset + int64(es[i-1].RelOffset)
}

// baseAt returns the base offset of the batch at pos if the offset index
// knows it (or pos is 0), and -1 otherwise.
func (m *segmentMeta) baseAt(pos int64) int64 {
	if pos == 0 {
		return m.footer.BaseOffset
	}
	es := m.offs.Entries()
	i := sort.Search(len(es), func(i int) bool { return int64(es[i].Pos) >= pos })
	if i < len(es) && int64(es[i].Pos) == pos {
		return m.footer.BaseOffset + int64(es[i].RelOffset)
	}
	return -1
}

// meta returns the footer and decoded index of the object under key, which
// e describes, from the memo, the cache or the bucket.
func (r *Reader) meta(ctx context.Context, key string, e Entry) (*segmentMeta, error) {
	if m, ok := r.memo.get(key); ok {
		return m, nil
	}
	if e.SizeBytes < MinFooterSize {
		return nil, fmt.Errorf("%w: manifest says the object is %d bytes, less than a footer", ErrCorrupt, e.SizeBytes)
	}
	footerKey := key + "#footer"
	tail, err := r.c.GetOrLoad(ctx, footerKey, func(ctx context.Context) ([]byte, error) {
		// One get of the object's tail, guessed large enough to hold
		// the index too: a segment's first read then makes one get for
		// its footer and index instead of two, which on MinIO costs
		// about as much server CPU as a 4 MiB data block.
		n := min(e.SizeBytes, tailGuess(e.SizeBytes))
		b, err := r.getRange(ctx, key, e.SizeBytes-n, n)
		if err != nil {
			return nil, err
		}
		f, err := DecodeFooter(b)
		if err != nil {
			return nil, err
		}
		if off, ln := f.IndexRange(); footerMatches(f, e) == nil && off >= e.SizeBytes-n {
			idx := b[off-(e.SizeBytes-n) : off-(e.SizeBytes-n)+ln]
			if f.VerifyIndex(idx) == nil {
				r.c.Add(key+"#index", bytes.Clone(idx))
			}
		}
		// The footer's size depends on its version: keep the largest.
		return bytes.Clone(b[len(b)-int(min(n, MaxFooterSize)):]), nil
	})
	if err != nil {
		return nil, err
	}
	f, err := DecodeFooter(tail)
	if err == nil {
		err = footerMatches(f, e)
	}
	if err != nil {
		r.c.Add(footerKey, nil) // so that a repaired object or entry is read anew
		return nil, err
	}
	raw, err := r.c.GetOrLoad(ctx, key+"#index", func(ctx context.Context) ([]byte, error) {
		off, n := f.IndexRange()
		b, err := r.getRange(ctx, key, off, n)
		if err != nil {
			return nil, err
		}
		if err := f.VerifyIndex(b); err != nil {
			return nil, err
		}
		return b, nil
	})
	if err != nil {
		return nil, err
	}
	offs, times, err := f.DecodeIndex(raw)
	if err != nil {
		r.c.Add(key+"#index", nil)
		return nil, err
	}
	m := &segmentMeta{footer: f, offs: offs, times: times}
	r.memo.add(key, m, int64(f.IndexLen))
	return m, nil
}

// footerMatches reports, as ErrCorrupt, a footer that disagrees with the
// manifest entry of its object.
func footerMatches(f Footer, e Entry) error {
	if f.BaseOffset != e.BaseOffset || f.EndOffset != e.EndOffset || f.Size() != e.SizeBytes {
		return fmt.Errorf("%w: footer says offsets [%d, %d) in %d bytes, the manifest [%d, %d) in %d bytes",
			ErrCorrupt, f.BaseOffset, f.EndOffset, f.Size(), e.BaseOffset, e.EndOffset, e.SizeBytes)
	}
	return nil
}

// tailGuess is how many bytes at the end of a segment object of size
// bytes the first read of its footer gets, so as to hold the index and
// producer snapshot sections before the footer as well: the index has an
// entry of 20 bytes per 4 KiB of data at most (locallog's default index
// interval), so size/128 covers it with room to spare, and a snapshot is
// rarely more than snapshotGuessBytes. An index that does not fit is read
// with a get of its own.
func tailGuess(size int64) int64 {
	return MaxFooterSize + snapshotGuessBytes + size/128
}

// getRange reads exactly n bytes at off of the object under key. An object
// that is too short is corrupt (the manifest or its footer promised more);
// one that does not exist is missing.
func (r *Reader) getRange(ctx context.Context, key string, off, n int64) ([]byte, error) {
	b, err := r.b.GetRange(ctx, key, off, n)
	switch {
	case errors.Is(err, objectstore.ErrNotExist):
		return nil, fmt.Errorf("%w: %w", ErrMissingObject, err)
	case errors.Is(err, objectstore.ErrInvalidRange):
		return nil, fmt.Errorf("%w: object is shorter than byte %d: %w", ErrCorrupt, off, err)
	case err != nil:
		return nil, err
	case int64(len(b)) != n:
		return nil, fmt.Errorf("%w: object ends %d bytes into the %d at byte %d", ErrCorrupt, len(b), n, off)
	}
	return b, nil
}

// blockKey is the cache key of the data block [start, end) of the object
// under key. It names the bytes, not a block number, so Readers with other
// RangeBytes sharing a cache cannot mistake each other's blocks.
func blockKey(key string, start, end int64) string {
	return key + "#" + strconv.FormatInt(start, 10) + "-" + strconv.FormatInt(end, 10)
}

// view reads the data section of one segment object through the cache for
// one call, remembering the blocks it used.
type view struct {
	r   *Reader
	ctx context.Context
	key string
	f   Footer

	cur  int64  // index of the block in blk, or -1
	blk  []byte // the cached block cur; must not be modified
	used []int64
	// scratch holds slice's pieces, so that reading a header allocates
	// nothing.
	scratch [2][]byte
}

func (r *Reader) newView(ctx context.Context, key string, f Footer) *view {
	return &view{r: r, ctx: ctx, key: key, f: f, cur: -1}
}

// bounds returns the data bytes [start, end) of block i.
func (v *view) bounds(i int64) (start, end int64) {
	start = i * v.r.cfg.RangeBytes
	return start, min(start+v.r.cfg.RangeBytes, v.f.DataLen)
}

// block returns block i, from the cache or by one ranged get.
func (v *view) block(i int64) ([]byte, error) {
	if i == v.cur {
		return v.blk, nil
	}
	start, end := v.bounds(i)
	bk := blockKey(v.key, start, end)
	b, err := v.r.c.GetOrLoad(v.ctx, bk, v.r.loadBlock(v.key, start, end))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) != end-start {
		// loadBlock returns exactly end-start bytes, so only someone else
		// caching under our keys gets here.
		v.r.c.Add(bk, nil)
		return nil, fmt.Errorf("%w: cached block at byte %d has %d bytes, want %d", ErrCorrupt, start, len(b), end-start)
	}
	v.cur, v.blk = i, b
	if len(v.used) == 0 || v.used[len(v.used)-1] != i {
		v.used = append(v.used, i)
	}
	return b, nil
}

func (r *Reader) loadBlock(key string, start, end int64) func(context.Context) ([]byte, error) {
	return func(ctx context.Context) ([]byte, error) {
		return r.getRange(ctx, key, start, end-start)
	}
}

// slice returns the data bytes [p, p+n), which the caller must not modify:
// part of a cached block, or a copy when they span blocks.
func (v *view) slice(p, n int64) ([]byte, error) {
	parts, err := v.parts(v.scratch[:0], p, n)
	if err != nil {
		return nil, err
	}
	if len(parts) == 1 {
		return parts[0], nil
	}
	out := make([]byte, 0, n)
	for _, b := range parts {
		out = append(out, b...)
	}
	return out, nil
}

// parts appends to dst the pieces of the cached blocks that hold the data
// bytes [p, p+n), in order, and returns it. The pieces must not be
// modified.
func (v *view) parts(dst [][]byte, p, n int64) ([][]byte, error) {
	for end := p + n; p < end; {
		i := p / v.r.cfg.RangeBytes
		b, err := v.block(i)
		if err != nil {
			return nil, err
		}
		start, _ := v.bounds(i)
		k := min(int64(len(b)), end-start)
		dst = append(dst, b[p-start:k])
		p = start + k
	}
	return dst, nil
}

// header reads and checks the framing of the batch header at p. wantBase
// is the base offset the batch must have, or -1 if only its range can be
// checked.
func (v *view) header(p, wantBase int64) (batch.Header, error) {
	f := v.f
	if p < 0 || p+batch.HeaderSize > f.DataLen {
		return batch.Header{}, fmt.Errorf("%w: no batch header fits at byte %d of %d data bytes", ErrCorrupt, p, f.DataLen)
	}
	b, err := v.slice(p, batch.HeaderSize)
	if err != nil {
		return batch.Header{}, err
	}
	h, err := batch.ParseHeader(b)
	switch {
	case err != nil:
		return batch.Header{}, fmt.Errorf("%w: batch at byte %d: %w", ErrCorrupt, p, err)
	case h.Magic != 2:
		err = fmt.Errorf("magic %d", h.Magic)
	case int64(h.Size()) > f.DataLen-p:
		err = fmt.Errorf("%d bytes overrun the data section of %d", h.Size(), f.DataLen)
	case wantBase >= 0 && h.BaseOffset != wantBase:
		err = fmt.Errorf("base offset %d, want %d", h.BaseOffset, wantBase)
	case h.LastOffsetDelta < 0 || h.BaseOffset < f.BaseOffset || h.BaseOffset >= f.EndOffset ||
		int64(h.LastOffsetDelta) >= f.EndOffset-h.BaseOffset:
		err = fmt.Errorf("offsets [%d, %d+%d] outside the segment's [%d, %d)", h.BaseOffset, h.BaseOffset, h.LastOffsetDelta, f.BaseOffset, f.EndOffset)
	}
	if err != nil {
		return batch.Header{}, fmt.Errorf("%w: batch at byte %d: %w", ErrCorrupt, p, err)
	}
	return h, nil
}

// fail drops the blocks the view used from the cache if err reports
// corruption, so that a retry fetches them again, and returns err.
func (v *view) fail(err error) error {
	if errors.Is(err, ErrCorrupt) {
		for _, i := range v.used {
			start, end := v.bounds(i)
			v.r.c.Add(blockKey(v.key, start, end), nil)
		}
	}
	return err
}

// readAhead starts background fetches of the blocks after the last one v
// used: ReaderConfig.ReadAheadBlocks of them, or as many as the read used
// if that is more, so that a consumer whose fetches span several blocks
// finds its next fetch in the cache.
func (r *Reader) readAhead(ctx context.Context, v *view) {
	if len(v.used) == 0 {
		return
	}
	first, last := v.used[0], v.used[len(v.used)-1]
	n := max(int64(r.cfg.ReadAheadBlocks), last-first+1)
	if r.cfg.ReadAheadBlocks == 0 {
		n = 0
	}
	r.warm(ctx, v.key, v.f, last+1, last+n)
}

// Prefetch starts what a ReadBatches with the same arguments needs, without
// waiting for the data: it loads e's footer and index (waiting for those)
// and starts background fetches of the data blocks that the read's first
// maxBytes from offset lie in, as read-aheads do. A caller that will read
// several segments runs their Prefetches first, so that their round trips
// to the bucket overlap; the Reads then join the fetches in flight. It
// serves nothing and reports only failures to load the footer or index.
func (r *Reader) Prefetch(ctx context.Context, prefix string, e Entry, offset int64, maxBytes int32) error {
	key := prefix + e.Key
	if !e.Contains(offset) || maxBytes <= 0 {
		return nil
	}
	m, err := r.meta(ctx, key, e)
	if err != nil {
		return fmt.Errorf("prefetch offset %d of %s: %w", offset, key, err)
	}
	pos, _ := m.seek(offset)
	if pos >= m.footer.DataLen {
		return nil
	}
	end := min(pos+int64(maxBytes), m.footer.DataLen)
	r.warm(ctx, key, m.footer, pos/r.cfg.RangeBytes, (end-1)/r.cfg.RangeBytes)
	return nil
}

// warm starts background fetches of the data blocks first to last of the
// object under key, whose footer is f, that are neither cached nor being
// fetched, while the Reader's bound of read-aheads allows.
func (r *Reader) warm(ctx context.Context, key string, f Footer, first, last int64) {
	v := view{r: r, f: f}
	for i := first; i <= last; i++ {
		start, end := v.bounds(i)
		if start >= f.DataLen {
			return
		}
		bk := blockKey(key, start, end)
		if _, ok := r.c.Get(bk); ok {
			continue
		}
		if !r.startReadAhead(ctx, bk, r.loadBlock(key, start, end)) {
			return
		}
	}
}

// startReadAhead runs one read-ahead of the block cached under bk unless
// one is running already. It reports false if the Reader is closed or at
// its bound of read-aheads.
func (r *Reader) startReadAhead(ctx context.Context, bk string, load func(context.Context) ([]byte, error)) bool {
	return r.goAhead(ctx, bk, func(actx context.Context) {
		// The error is dropped: a read-ahead only warms the cache, and the
		// consumer's own read of the block reports any failure.
		_, _ = r.c.GetOrLoad(actx, bk, load)
	})
}

// PrefetchAsync runs Prefetch in the background, as a read-ahead: a
// caller that has served a segment to its end starts the next segment's
// footer, index and first blocks this way, for the consumer's next fetch.
// It is skipped if the Reader is closed or at its bound of read-aheads.
func (r *Reader) PrefetchAsync(ctx context.Context, prefix string, e Entry, offset int64, maxBytes int32) {
	id := prefix + e.Key + "#prefetch@" + strconv.FormatInt(offset, 10)
	r.goAhead(ctx, id, func(actx context.Context) {
		_ = r.Prefetch(actx, prefix, e, offset, maxBytes)
	})
}

// goAhead runs fn in a read-ahead goroutine under id unless one runs under
// id already. It reports false if the Reader is closed or at its bound of
// read-aheads. fn's context keeps ctx's values but not its deadline: the
// read-ahead outlives the read that asked for it. Close cancels it.
func (r *Reader) goAhead(ctx context.Context, id string, fn func(context.Context)) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || len(r.ahead) >= r.cfg.ReadAheadInFlight {
		return false
	}
	if _, ok := r.ahead[id]; ok {
		return true
	}
	actx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r.ahead[id] = cancel
	r.aheads.Go(func() {
		fn(actx)
		r.mu.Lock()
		delete(r.ahead, id)
		r.mu.Unlock()
		cancel()
	})
	return true
}

// indexMemo keeps the decoded footers and indexes of recently read segment
// objects, so that Reads do not decode an index each time. It is bounded by
// the encoded size of the indexes and evicts the least recently used.
type indexMemo struct {
	maxBytes int64

	mu    sync.Mutex // guards below
	ll    *list.List // of *memoEntry, most recently used first
	byKey map[string]*list.Element
	bytes int64
}

type memoEntry struct {
	key  string
	m    *segmentMeta
	size int64
}

func newIndexMemo(maxBytes int64) *indexMemo {
	return &indexMemo{maxBytes: maxBytes, ll: list.New(), byKey: make(map[string]*list.Element)}
}

func (x *indexMemo) get(key string) (*segmentMeta, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	el, ok := x.byKey[key]
	if !ok {
		return nil, false
	}
	x.ll.MoveToFront(el)
	return el.Value.(*memoEntry).m, true
}

func (x *indexMemo) add(key string, m *segmentMeta, size int64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if size > x.maxBytes {
		return
	}
	if el, ok := x.byKey[key]; ok {
		x.ll.MoveToFront(el)
		return
	}
	x.byKey[key] = x.ll.PushFront(&memoEntry{key: key, m: m, size: size})
	x.bytes += size
	for x.bytes > x.maxBytes {
		el := x.ll.Back()
		me := el.Value.(*memoEntry)
		x.ll.Remove(el)
		delete(x.byKey, me.key)
		x.bytes -= me.size
	}
}

package tiering

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/strata-io/strata/objectstore"
)

// DefaultChunkSize is the number of entries the head's tail holds before a
// commit moves them into a chunk object. With it a partition of 10^6
// segments has a head of about 1000 chunk refs and at most 1000 entries.
const DefaultChunkSize = 1000

// WriterConfig configures a Writer. The zero value takes the defaults.
type WriterConfig struct {
	// ChunkSize is the number of entries the tail holds before the next
	// Append moves them into a chunk (default DefaultChunkSize).
	ChunkSize int
	// ChunkCache is the number of decoded chunks kept (default
	// DefaultChunkCache).
	ChunkCache int
}

const (
	// commitAttempts bounds the conditional writes of one Append, Trim or
	// StartAt: the first, and one more on the freshly read head after a
	// conflict with our own earlier write.
	commitAttempts = 2
	// acquireAttempts bounds the conditional writes of one Acquire, each
	// after another writer changed the head under us.
	acquireAttempts = 3
)

// A Writer is the one process that may commit a partition's manifest: it
// holds the epoch it took in Acquire until a newer writer takes a higher one.
// Every change is one conditional write of the head (plus, every ChunkSize
// appends, one create-only write of a chunk before it), so a commit costs
// O(chunk refs + tail), not O(segments).
//
// A Writer that learns of a higher epoch returns ErrFenced from then on and
// never writes to the bucket again. A write that reports a failure may still
// have happened; the Writer then reads the head back before its next
// commit, recognises its own write by its epoch and WriterID, and continues
// from there, so retrying an Append or Trim after an error is safe.
//
// The methods are safe for concurrent use; commits are serialized.
type Writer struct {
	b         objectstore.Bucket
	prefix    string
	chunkSize int
	epoch     Epoch
	id        WriterID

	// snapshot and isFenced mirror m and fenced for readers that must not
	// wait for a commit in flight (the resolver, status endpoints).
	snapshot atomic.Pointer[Manifest]
	isFenced atomic.Bool

	mu     sync.Mutex // serializes commits; guards below
	m      *Manifest  // the head as last committed or read back
	etag   objectstore.ETag
	stale  bool // a commit failed: read the head back before the next one
	fenced bool
}

// Acquire makes the caller the writer of the partition under prefix. It
// reads the head (or starts from an empty manifest if there is none) and
// stores it back with WriterEpoch one higher, by a conditional write, so the
// previous writer's next commit fails with ErrFenced. If another writer
// changes the head in between, Acquire reads it again and retries a few
// times before it gives up with an error wrapping
// objectstore.ErrPreconditionFailed. A restarted broker, or a second broker
// on the same bucket, takes over a partition this way.
func Acquire(ctx context.Context, b objectstore.Bucket, prefix string, cfg WriterConfig) (*Writer, error) {
	if err := checkPrefix(prefix); err != nil {
		return nil, fmt.Errorf("acquire manifest: %w", err)
	}
	if cfg.ChunkSize <= 0 {
		cfg.ChunkSize = DefaultChunkSize
	}
	if cfg.ChunkCache <= 0 {
		cfg.ChunkCache = DefaultChunkCache
	}
	w := &Writer{b: b, prefix: prefix, chunkSize: cfg.ChunkSize}
	_, _ = rand.Read(w.id[:]) // never fails; see crypto/rand.Read
	cache := newChunkCache(cfg.ChunkCache)
	key := prefix + headKey
	for range acquireAttempts {
		m, etag, _, err := loadHead(ctx, b, prefix, cache)
		absent := errors.Is(err, objectstore.ErrNotExist)
		switch {
		case absent:
			m = &Manifest{Prefix: prefix, cache: cache}
		case err != nil:
			return nil, fmt.Errorf("acquire: %w", err)
		case m.WriterEpoch >= math.MaxInt64-1:
			return nil, fmt.Errorf("acquire manifest %s: %w: epoch %d cannot grow", prefix, ErrCorrupt, m.WriterEpoch)
		}
		next := *m
		next.WriterEpoch, next.WriterID, next.Generation = m.WriterEpoch+1, w.id, m.Generation+1
		body := encodeHead(&next)
		var newTag objectstore.ETag
		if absent {
			newTag, err = b.PutIfAbsent(ctx, key, body)
		} else {
			newTag, err = b.PutIfMatch(ctx, key, body, etag)
		}
		if err != nil && !errors.Is(err, objectstore.ErrPreconditionFailed) {
			// The write may have happened: it did if the head is ours.
			_, storedTag, stored, lerr := loadHead(ctx, b, prefix, cache)
			if lerr != nil || !bytes.Equal(stored, body) {
				return nil, fmt.Errorf("acquire manifest %s: %w", prefix, err)
			}
			newTag, err = storedTag, nil
		}
		if err == nil {
			w.epoch, w.m, w.etag = next.WriterEpoch, &next, newTag
			w.snapshot.Store(w.m)
			return w, nil
		}
	}
	return nil, fmt.Errorf("acquire manifest %s: lost to other writers %d times: %w", prefix, acquireAttempts, objectstore.ErrPreconditionFailed)
}

// Epoch returns the writer's epoch. Segment keys and entries carry it.
func (w *Writer) Epoch() Epoch { return w.epoch }

// Manifest returns the head as last committed (or read back) by the writer.
// It is a snapshot: later commits do not change it. It does not wait for a
// commit in flight.
func (w *Writer) Manifest() *Manifest { return w.snapshot.Load() }

// Fenced reports whether the writer has learnt that a newer writer owns the
// partition; a fenced writer never writes again.
func (w *Writer) Fenced() bool { return w.isFenced.Load() }

// Append commits e as the partition's next segment: e.BaseOffset must be
// RemoteEnd, and RemoteEnd becomes e.EndOffset. An empty remote tier also
// takes an e that holds RemoteEnd (StartAt moved it into a segment's
// offsets); LogStartOffset stays where it is. e.Epoch must be the
// writer's epoch and e.Key the segment object's key relative to the prefix
// (see SegmentKey); the object must already be uploaded.
//
// Append is idempotent: if the manifest already holds an entry equal to e
// (an earlier Append of e reported a failure but happened), it returns nil
// without writing. An entry that starts elsewhere, or overlaps a different
// committed entry, is rejected with ErrNotContiguous; its object is then an
// orphan the caller may delete. It returns ErrFenced if a newer writer has
// taken over; then, and on any other error, the manifest does not hold e
// unless a later call finds it there.
func (w *Writer) Append(ctx context.Context, e Entry) error {
	if err := e.validate(); err != nil {
		return fmt.Errorf("append to manifest %s: %w", w.prefix, err)
	}
	if e.Epoch != w.epoch {
		return fmt.Errorf("append to manifest %s: entry %s has epoch %d, the writer's is %d", w.prefix, e.Key, e.Epoch, w.epoch)
	}
	err := w.update(ctx, func(m *Manifest) (plan, error) {
		holdsStart := m.Empty() && e.BaseOffset < m.RemoteEnd && m.RemoteEnd < e.EndOffset
		if e.BaseOffset != m.RemoteEnd && !holdsStart {
			if !m.Empty() && e.EndOffset > m.LogStartOffset && e.BaseOffset < m.RemoteEnd {
				got, err := m.Lookup(ctx, w.b, max(e.BaseOffset, m.LogStartOffset))
				if err != nil {
					return plan{}, err
				}
				if got == e {
					return plan{}, nil
				}
			}
			return plan{}, fmt.Errorf("%w: entry %s [%d, %d) with the remote tier at [%d, %d)", ErrNotContiguous, e.Key, e.BaseOffset, e.EndOffset, m.LogStartOffset, m.RemoteEnd)
		}
		next := *m
		next.RemoteEnd = e.EndOffset
		var p plan
		if len(m.Tail) >= w.chunkSize {
			key := newChunkKey(m.Tail[0].BaseOffset)
			p.chunkKey, p.chunkBody = key, encodeChunk(m.Tail)
			next.Chunks = append(slices.Clip(m.Chunks), summarizeChunk(key, m.Tail))
			next.Tail = []Entry{e}
		} else {
			next.Tail = append(slices.Clip(m.Tail), e)
		}
		p.next = &next
		return p, nil
	})
	if err != nil {
		return fmt.Errorf("append %s to manifest %s: %w", e.Key, w.prefix, err)
	}
	return nil
}

// Trim advances LogStartOffset to newLogStart, which must not exceed
// RemoteEnd (ErrOutOfRange); a newLogStart at or below LogStartOffset
// changes nothing. It drops the chunk refs and tail entries that end at or
// below newLogStart (entries in a chunk that still holds live ones stay in
// it, dead) and returns every entry this trim made dead, in offset order:
// those with EndOffset in (old LogStartOffset, newLogStart]. Each entry is
// returned by exactly one successful Trim, unless a Trim reported an error
// although it happened; its objects are then orphans for the bucket sweep.
//
// The caller deletes the returned entries' segment objects, and only after
// Trim returned. Trim itself deletes the chunk objects the new head no
// longer references, after the commit; a failed delete leaves an orphan.
// It returns ErrFenced if a newer writer has taken over.
func (w *Writer) Trim(ctx context.Context, newLogStart int64) (removed []Entry, err error) {
	err = w.update(ctx, func(m *Manifest) (plan, error) {
		removed = nil
		if newLogStart > m.RemoteEnd {
			return plan{}, fmt.Errorf("%w: log start %d is beyond remoteEnd %d", ErrOutOfRange, newLogStart, m.RemoteEnd)
		}
		if newLogStart <= m.LogStartOffset {
			return plan{}, nil
		}
		next := *m
		next.LogStartOffset = newLogStart
		var p plan
		drop := 0
		for i, c := range m.Chunks {
			if c.FirstBase >= newLogStart {
				break
			}
			entries, err := m.chunk(ctx, w.b, i, false)
			if err != nil {
				return plan{}, err
			}
			for _, e := range entries {
				if e.EndOffset > m.LogStartOffset && e.EndOffset <= newLogStart {
					removed = append(removed, e)
				}
			}
			if c.EndOffset <= newLogStart {
				drop = i + 1
				p.dropChunks = append(p.dropChunks, c.Key)
			}
		}
		next.Chunks = m.Chunks[drop:]
		k := 0
		for k < len(m.Tail) && m.Tail[k].EndOffset <= newLogStart {
			removed = append(removed, m.Tail[k])
			k++
		}
		next.Tail = m.Tail[k:]
		if len(next.Chunks) == 0 {
			next.Chunks = nil
		}
		if len(next.Tail) == 0 {
			next.Tail = nil
		}
		p.next = &next
		return p, nil
	})
	if err != nil {
		return nil, fmt.Errorf("trim manifest %s to %d: %w", w.prefix, newLogStart, err)
	}
	return removed, nil
}

// StartAt moves an empty remote tier to begin at offset: LogStartOffset and
// RemoteEnd both become offset, so the next Append must start there (or,
// for a segment that holds offset, below it: see Append). It is for a
// partition whose local log no longer holds the offsets below offset when
// its first segment is uploaded, and for records deleted beyond the remote
// end. It fails if the manifest holds
// entries (trim them first) or if offset is below RemoteEnd; an offset equal
// to RemoteEnd of an empty tier changes nothing. It returns ErrFenced if a
// newer writer has taken over.
func (w *Writer) StartAt(ctx context.Context, offset int64) error {
	err := w.update(ctx, func(m *Manifest) (plan, error) {
		switch {
		case !m.Empty():
			return plan{}, fmt.Errorf("the remote tier [%d, %d) is not empty", m.LogStartOffset, m.RemoteEnd)
		case offset < m.RemoteEnd:
			return plan{}, fmt.Errorf("%w: offset %d is below remoteEnd %d", ErrOutOfRange, offset, m.RemoteEnd)
		case offset == m.RemoteEnd:
			return plan{}, nil
		}
		next := *m
		next.LogStartOffset, next.RemoteEnd = offset, offset
		return plan{next: &next}, nil
	})
	if err != nil {
		return fmt.Errorf("start manifest %s at %d: %w", w.prefix, offset, err)
	}
	return nil
}

// plan is one commit: the next head, the chunk to create before it and the
// chunks to delete after it. A zero plan means there is nothing to write.
type plan struct {
	next       *Manifest
	chunkKey   string // relative; "" if none
	chunkBody  []byte
	dropChunks []string // relative keys
}

// update computes a plan from the current head with op and commits it. If
// the commit conflicts with the writer's own earlier write, it reads the
// head back and runs op again on it, up to commitAttempts commits in all.
func (w *Writer) update(ctx context.Context, op func(m *Manifest) (plan, error)) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	var err error
	for range commitAttempts {
		if w.fenced {
			return fmt.Errorf("%w: the writer of epoch %d stopped", ErrFenced, w.epoch)
		}
		if w.stale {
			if err := w.reloadLocked(ctx); err != nil {
				return err
			}
		}
		p, perr := op(w.m)
		if perr != nil || p.next == nil {
			return perr
		}
		err = w.commitLocked(ctx, p)
		var r *retryable
		if !errors.As(err, &r) {
			return err
		}
		err = r.err
	}
	return err
}

// retryable wraps the error of a commit that failed while the head stayed
// this writer's: update may run its op again on the head read back.
type retryable struct{ err error }

func (r *retryable) Error() string { return r.err.Error() }
func (r *retryable) Unwrap() error { return r.err }

// commitLocked writes p's chunk, if any, and then p.next as the head,
// conditional on the head still being w.etag. On success it makes p.next
// the writer's head and deletes p.dropChunks. If the head write fails, it
// reads the head back (see conflictLocked).
//
// A chunk whose head write fails is left alone even when the failure looks
// final: under objectstore.WithRetry an earlier try of the head write may
// have happened and been built on by a newer writer. Orphans are for the
// sweep.
func (w *Writer) commitLocked(ctx context.Context, p plan) error {
	next := p.next
	next.WriterEpoch, next.WriterID, next.Generation = w.epoch, w.id, w.m.Generation+1
	if err := next.validateHead(); err != nil {
		panic(fmt.Sprintf("tiering: commit of an invalid manifest %s: %v", w.prefix, err))
	}
	body := encodeHead(next)
	if p.chunkKey != "" {
		// Check the head first, so that a fenced writer rarely leaves an
		// orphan chunk behind.
		info, err := w.b.Head(ctx, w.prefix+headKey)
		if err != nil {
			return fmt.Errorf("check head before writing chunk: %w", err)
		}
		if info.ETag != w.etag {
			return w.conflictLocked(ctx, nil, fmt.Errorf("head changed before writing chunk: %w", objectstore.ErrPreconditionFailed))
		}
		if _, err := w.b.PutIfAbsent(ctx, w.prefix+p.chunkKey, p.chunkBody); err != nil {
			return fmt.Errorf("write chunk %s: %w", p.chunkKey, err)
		}
	}
	etag, err := w.b.PutIfMatch(ctx, w.prefix+headKey, body, w.etag)
	if err != nil {
		if err := w.conflictLocked(ctx, body, err); err != nil {
			return err
		}
		etag = w.etag // conflictLocked read our head back
	}
	w.m, w.etag = next, etag
	w.snapshot.Store(next)
	for _, key := range p.dropChunks {
		// The chunk holds only dead entries and no head refers to it any
		// more; a reader of an older head that still wants it reloads.
		_ = w.b.Delete(ctx, w.prefix+key) // a failure leaves an orphan for the sweep
	}
	return nil
}

// conflictLocked handles a head write of body (nil if none was tried) that
// failed with werr, by reading the head back. It returns nil if the head is
// body: the write happened after all, and w.etag is now its ETag. It returns
// ErrFenced if a newer writer owns the head (the writer stays fenced), and
// a retryable werr if the head is another of this writer's (w.m is then
// that head). If the read fails it marks the head stale and returns both
// errors.
func (w *Writer) conflictLocked(ctx context.Context, body []byte, werr error) error {
	m, etag, stored, err := loadHead(ctx, w.b, w.prefix, w.m.cache)
	if err != nil {
		w.stale = true
		return fmt.Errorf("%w; reading the head back: %w", werr, err)
	}
	if err := w.adoptLocked(m, etag); err != nil {
		return err
	}
	if body != nil && bytes.Equal(stored, body) {
		return nil
	}
	return &retryable{err: werr}
}

// reloadLocked reads the head back after a commit whose outcome is unknown.
func (w *Writer) reloadLocked(ctx context.Context) error {
	m, etag, _, err := loadHead(ctx, w.b, w.prefix, w.m.cache)
	if err != nil {
		return err
	}
	return w.adoptLocked(m, etag)
}

// adoptLocked makes m, read from the bucket with etag, the writer's head if
// this writer wrote it, and fences the writer for good if a newer one did.
func (w *Writer) adoptLocked(m *Manifest, etag objectstore.ETag) error {
	switch {
	case m.WriterEpoch > w.epoch || (m.WriterEpoch == w.epoch && m.WriterID != w.id):
		w.fenced = true
		w.isFenced.Store(true)
		return fmt.Errorf("%w: the manifest belongs to epoch %d (writer %s), this writer has epoch %d", ErrFenced, m.WriterEpoch, m.WriterID, w.epoch)
	case m.WriterEpoch < w.epoch:
		w.stale = true
		return fmt.Errorf("%w: manifest %s epoch fell from %d to %d", ErrCorrupt, w.prefix, w.epoch, m.WriterEpoch)
	}
	w.m, w.etag, w.stale = m, etag, false
	w.snapshot.Store(m)
	return nil
}

package tiering

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/strata-io/strata/index"
	"github.com/strata-io/strata/internal/failpoint"
	"github.com/strata-io/strata/objectstore"
)

// Source is one partition's local tier as the Uploader sees it. The
// Uploader calls it from its own goroutines, at most one call of Sealed,
// ReadSealed or Uploaded at a time per partition, while Status may call
// Sealed from the caller's goroutine; so it must be safe for concurrent use.
// Its methods must not call Remove (Remove waits for the partition's upload
// to end).
type Source interface {
	// Sealed lists the sealed (immutable) local segments, oldest first.
	Sealed() []SealedInfo
	// ReadSealed returns the sealed segment starting at base: its record
	// batches, its indexes and, if the local tier has it, its producer
	// snapshot as of the segment's end. An error wrapping ErrCorrupt stops
	// the partition's uploads for good; any other error is retried after a
	// backoff.
	ReadSealed(base int64) (SealedSegment, error)
	// Uploaded is told the remote end, with strictly increasing values:
	// after each manifest commit (an uploaded segment, or StartAt), and on
	// the first look after Add if the manifest already holds offsets (a
	// restart). [.., remoteEnd) then lives in the remote tier: the local
	// tier may serve its segments below remoteEnd only as the remote tier's
	// cache, and may delete them. It is never told an offset the manifest
	// in the bucket does not hold.
	Uploaded(remoteEnd int64)
}

// SealedSegment is what Source.ReadSealed returns for one sealed segment.
type SealedSegment struct {
	Data    []byte         // the record batches
	Offsets *index.Offsets // nil means empty
	Times   *index.Times   // nil means empty
	// ProducerSnapshot is the local tier's idempotent-producer state after
	// the segment's last batch, stored as the object's snapshot section;
	// tiering does not parse it. nil uploads the segment without one (a
	// segment sealed before snapshots were kept).
	ProducerSnapshot []byte
}

// SealedInfo describes one sealed local segment: offsets
// [BaseOffset, EndOffset) in a file of SizeBytes bytes.
type SealedInfo struct {
	BaseOffset int64
	EndOffset  int64
	SizeBytes  int64
}

// Backoff is a capped, jittered exponential backoff: the nth retry in a
// row waits between d/2 and d, where d is Min doubled n-1 times but at most
// Max ("equal jitter").
type Backoff struct {
	Min time.Duration // the bound of the first retry (default DefaultBackoffMin)
	Max time.Duration // the largest bound (default DefaultBackoffMax)
}

// Delay returns the wait before retry n (1 for the first retry after a
// failure), given jitter in [0, 1).
func (b Backoff) Delay(n int, jitter float64) time.Duration {
	d := b.Max
	if n < 1 {
		n = 1
	}
	if shift := n - 1; shift < 62 && b.Min<<shift > 0 && b.Min<<shift < b.Max {
		d = b.Min << shift
	}
	return d/2 + time.Duration(jitter*float64(d/2))
}

// Defaults of UploaderConfig.
const (
	DefaultUploadConcurrency = 4
	DefaultBackoffMin        = 100 * time.Millisecond
	DefaultBackoffMax        = 30 * time.Second
)

// The failpoints of an upload, in the order an upload passes them; see
// UploaderConfig.Failpoint.
const (
	FailpointAfterPut    = "after-put"    // the segment object is stored
	FailpointAfterVerify = "after-verify" // it read back as written
	FailpointAfterCommit = "after-commit" // the manifest references it; Source.Uploaded not yet called
)

// UploaderConfig configures an Uploader. The zero value takes the defaults.
type UploaderConfig struct {
	// Concurrency is the number of partitions uploading at once (default
	// DefaultUploadConcurrency); each uploads one segment at a time.
	Concurrency int
	// Backoff spaces the retries of a partition whose upload failed.
	Backoff Backoff
	// Jitter returns a number in [0, 1) that scales a backoff (default
	// math/rand/v2.Float64). Tests fix it.
	Jitter func() float64
	// Logger receives failures (Warn), stopped partitions (Error) and
	// commits (Debug); default slog.Default().
	Logger *slog.Logger
	// Failpoint, if set, is called with each Failpoint* name as an upload
	// passes it. If it returns an error the Uploader acts as if the process
	// died there: the upload goes no further and Run returns that error.
	// Tests crash the uploader with it; the binary may exit instead.
	Failpoint func(name string) error
}

// PartitionStatus is one partition's upload state, for operators.
type PartitionStatus struct {
	RemoteEnd      int64  // the manifest's RemoteEnd when the uploader last looked
	UploadLagBytes int64  // SizeBytes of the sealed segments not yet (wholly) in the remote tier
	LastError      string // the last failure; "" once an upload succeeded after it
	Fenced         bool   // a newer writer took over the manifest; uploads stopped
	Stopped        bool   // uploads stopped for good: fenced, or a broken local segment or invariant
}

// UploaderStats counts what an Uploader did since it was made.
type UploaderStats struct {
	Uploads        int64 // segment objects stored (a retry stores a new one)
	UploadedBytes  int64 // their bytes
	Commits        int64 // manifest commits: appended segments and StartAt moves
	CommitFailures int64 // manifest commits that failed (each also counts in Failures)
	Failures       int64 // uploads that failed and were scheduled for a retry
	Stopped        int64 // partitions stopped for good (fenced or broken)
	Swept          int64 // orphan objects Sweep deleted
}

// An Uploader moves the sealed segments of its partitions into the bucket:
// for each partition, oldest first, it stores the segment as one new object
// (PutIfAbsent under a fresh SegmentKey), reads the object back to verify
// it, commits it to the manifest with Writer.Append, and then tells the
// local tier (Source.Uploaded). Only the commit moves remoteEnd, so a crash
// at any point leaves at worst an object no manifest references, which
// Sweep deletes later; never two manifest entries for one offset.
//
// Run does the work, with at most Concurrency partitions uploading at a
// time. A failed upload is retried after a backoff, scheduled by Run's loop;
// a commit whose outcome is unknown is retried with the same entry, which
// Writer.Append recognises if it landed. A partition stops for good, with
// its reason in Status, when its writer is fenced (ErrFenced), when a
// sealed segment does not encode (EncodeSegment fails) or when the local
// tier does not line up with the manifest (a gap, or a segment straddling
// remoteEnd).
//
// The methods are safe for concurrent use.
type Uploader struct {
	b    objectstore.Bucket
	cfg  UploaderConfig
	log  *slog.Logger
	wake chan struct{} // capacity 1: Run's loop has something to look at

	uploads, uploadedBytes, commits, commitFailures, failures, stopped, swept atomic.Int64

	mu       sync.Mutex // guards below and the guarded fields of every uploadPartition
	parts    map[string]*uploadPartition
	queue    []*uploadPartition // partitions ready to upload, first come first served
	inFlight int                // partitions uploading now
	running  bool               // Run is running
	crashErr error              // a failpoint's error: Run returns it
}

// uploadPartition is one partition registered with an Uploader.
type uploadPartition struct {
	prefix string
	w      *Writer
	src    Source

	// Owned by the partition's running upload (one at a time; Uploader.mu
	// hands it from one to the next).
	told int64 // the last remote end given to src.Uploaded; -1 for none

	// Guarded by Uploader.mu.
	state     partState
	notified  bool      // Notify came while uploading: look again after it
	removed   bool      // Remove took it out; it never runs again
	retryAt   time.Time // when a waiting partition is due
	attempt   int       // failures in a row
	lastErr   string
	fenced    bool
	remoteEnd int64 // the manifest's, as the partition's upload last saw it
	// pending is an uploaded, verified segment whose commit failed with an
	// unknown outcome; the next upload retries the commit with it.
	pending *Entry
	ctx     context.Context    // of the running upload
	cancel  context.CancelFunc // of the running upload
	done    chan struct{}      // closed when the running upload ends
}

type partState int

const (
	partIdle    partState = iota // nothing to upload until Notify
	partQueued                   // in Uploader.queue
	partRunning                  // a worker is uploading
	partWaiting                  // backing off until retryAt
	partStopped                  // never again (until Add replaces it)
)

// NewUploader returns an Uploader that stores segments in b. It does
// nothing until Run.
func NewUploader(b objectstore.Bucket, cfg UploaderConfig) *Uploader {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultUploadConcurrency
	}
	if cfg.Backoff.Min <= 0 {
		cfg.Backoff.Min = DefaultBackoffMin
	}
	if cfg.Backoff.Max <= 0 {
		cfg.Backoff.Max = DefaultBackoffMax
	}
	cfg.Backoff.Max = max(cfg.Backoff.Max, cfg.Backoff.Min)
	if cfg.Jitter == nil {
		cfg.Jitter = rand.Float64
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Uploader{
		b:     b,
		cfg:   cfg,
		log:   cfg.Logger,
		wake:  make(chan struct{}, 1),
		parts: make(map[string]*uploadPartition),
	}
}

// Add registers the partition under prefix, whose manifest writer w the
// caller has Acquired and whose local tier is src, and queues it for a
// first look. A partition already registered under prefix is removed first
// (see Remove), so Add after a takeover replaces the old writer. It panics
// if w is not the writer of prefix.
func (u *Uploader) Add(prefix string, w *Writer, src Source) {
	m := w.Manifest()
	if m.Prefix != prefix {
		panic(fmt.Sprintf("tiering: Uploader.Add(%q) with the writer of %q", prefix, m.Prefix))
	}
	u.Remove(prefix)
	p := &uploadPartition{prefix: prefix, w: w, src: src, told: -1, remoteEnd: m.RemoteEnd}
	u.mu.Lock()
	u.parts[prefix] = p
	u.enqueueLocked(p)
	u.mu.Unlock()
	u.poke()
}

// Remove unregisters the partition under prefix. It cancels an upload in
// flight and waits for it to end; that upload may leave an orphan object,
// and may have committed one more segment (and told its Source) before it
// noticed. Once Remove returns the Uploader does not touch the partition's
// writer or Source again. Removing an unknown prefix does nothing.
func (u *Uploader) Remove(prefix string) {
	u.mu.Lock()
	p := u.parts[prefix]
	if p == nil {
		u.mu.Unlock()
		return
	}
	delete(u.parts, prefix)
	p.removed = true
	p.pending = nil
	cancel, done := p.cancel, p.done
	u.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// Notify tells the Uploader that the partition under prefix may have a new
// sealed segment. A partition that is backing off after a failure keeps
// waiting; a stopped or unknown one ignores it.
func (u *Uploader) Notify(prefix string) {
	u.mu.Lock()
	p := u.parts[prefix]
	if p != nil {
		switch p.state {
		case partIdle:
			u.enqueueLocked(p)
		case partRunning:
			p.notified = true
		}
	}
	u.mu.Unlock()
	if p != nil {
		u.poke()
	}
}

// Status returns the upload state of the partition under prefix, and false
// if no partition is registered there. It calls the partition's
// Source.Sealed.
func (u *Uploader) Status(prefix string) (PartitionStatus, bool) {
	u.mu.Lock()
	p := u.parts[prefix]
	if p == nil {
		u.mu.Unlock()
		return PartitionStatus{}, false
	}
	st := PartitionStatus{RemoteEnd: p.remoteEnd, LastError: p.lastErr, Fenced: p.fenced, Stopped: p.state == partStopped}
	u.mu.Unlock()
	for _, s := range p.src.Sealed() {
		if s.EndOffset > st.RemoteEnd {
			st.UploadLagBytes += s.SizeBytes
		}
	}
	return st, true
}

// Stats returns the Uploader's counters.
func (u *Uploader) Stats() UploaderStats {
	return UploaderStats{
		Uploads:        u.uploads.Load(),
		UploadedBytes:  u.uploadedBytes.Load(),
		Commits:        u.commits.Load(),
		CommitFailures: u.commitFailures.Load(),
		Failures:       u.failures.Load(),
		Stopped:        u.stopped.Load(),
		Swept:          u.swept.Load(),
	}
}

// Run uploads until ctx ends, with a pool of Concurrency workers, each
// uploading one segment of one partition at a time; partitions take turns,
// one segment each. It returns nil after ctx ends, or the error of a
// failpoint (see UploaderConfig.Failpoint), and only after its goroutines
// have exited. An upload in flight when ctx ends is abandoned, deleting
// nothing. Run may be called again after it returned, but not twice at once.
func (u *Uploader) Run(ctx context.Context) error {
	u.mu.Lock()
	if u.running {
		u.mu.Unlock()
		return errors.New("tiering: Uploader.Run called twice")
	}
	u.running, u.crashErr = true, nil
	u.mu.Unlock()

	ctx, crash := context.WithCancelCause(ctx)
	defer crash(nil)
	jobs := make(chan *uploadPartition)
	var wg sync.WaitGroup
	for range u.cfg.Concurrency {
		wg.Go(func() {
			for p := range jobs {
				u.work(ctx, crash, p)
			}
		})
	}
	u.schedule(ctx, jobs)
	close(jobs)
	wg.Wait()

	u.mu.Lock()
	defer u.mu.Unlock()
	u.running = false
	return u.crashErr
}

// schedule is Run's loop: it hands ready partitions to the workers, at most
// Concurrency at once, and wakes for Add, Notify, a finished upload or the
// next due retry, until ctx ends.
func (u *Uploader) schedule(ctx context.Context, jobs chan<- *uploadPartition) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		ready, next := u.dispatch(ctx)
		for i, p := range ready {
			select {
			case jobs <- p:
			case <-ctx.Done():
				u.undispatch(ready[i:])
				return
			}
		}
		var due <-chan time.Time
		if !next.IsZero() {
			timer.Reset(time.Until(next))
			due = timer.C
		}
		select {
		case <-ctx.Done():
			return
		case <-u.wake:
		case <-due:
		}
	}
}

// dispatch queues the waiting partitions whose retry is due, marks as
// running as many queued ones as there are idle workers, and returns them
// with the time the next retry is due (zero if none is).
func (u *Uploader) dispatch(ctx context.Context) (ready []*uploadPartition, next time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	now := time.Now()
	var due []*uploadPartition
	for _, p := range u.parts {
		if p.state != partWaiting {
			continue
		}
		if !p.retryAt.After(now) {
			due = append(due, p)
		} else if next.IsZero() || p.retryAt.Before(next) {
			next = p.retryAt
		}
	}
	slices.SortFunc(due, func(a, b *uploadPartition) int {
		if c := a.retryAt.Compare(b.retryAt); c != 0 {
			return c
		}
		return cmp.Compare(a.prefix, b.prefix)
	})
	for _, p := range due {
		u.enqueueLocked(p)
	}
	for len(u.queue) > 0 && u.inFlight < u.cfg.Concurrency {
		p := u.queue[0]
		u.queue[0] = nil
		u.queue = u.queue[1:]
		if p.removed || p.state != partQueued {
			continue
		}
		p.state, p.notified = partRunning, false
		p.ctx, p.cancel = context.WithCancel(ctx)
		p.done = make(chan struct{})
		u.inFlight++
		ready = append(ready, p)
	}
	return ready, next
}

// undispatch puts back partitions that dispatch marked running but no
// worker took, because Run is stopping.
func (u *Uploader) undispatch(ps []*uploadPartition) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, p := range ps {
		u.endLocked(p)
		if !p.removed {
			u.enqueueLocked(p)
		}
	}
}

// enqueueLocked makes p ready to upload.
func (u *Uploader) enqueueLocked(p *uploadPartition) {
	p.state = partQueued
	u.queue = append(u.queue, p)
}

// endLocked ends p's running upload.
func (u *Uploader) endLocked(p *uploadPartition) {
	p.cancel()
	close(p.done)
	p.ctx, p.cancel, p.done = nil, nil, nil
	u.inFlight--
}

// poke wakes Run's loop.
func (u *Uploader) poke() {
	select {
	case u.wake <- struct{}{}:
	default:
	}
}

// work runs one upload step of p on a worker and decides what p does next.
func (u *Uploader) work(runCtx context.Context, crash context.CancelCauseFunc, p *uploadPartition) {
	u.mu.Lock()
	ctx := p.ctx
	u.mu.Unlock()
	progress, err := u.step(ctx, p)

	var (
		stop    *stopError
		crashed *crashError
		logf    func()
	)
	u.mu.Lock()
	u.endLocked(p)
	switch {
	case errors.As(err, &crashed):
		if u.crashErr == nil {
			u.crashErr = err
		}
		crash(err)
		if !p.removed {
			u.enqueueLocked(p) // for the next Run, if any
		}
	case p.removed:
	case runCtx.Err() != nil:
		// Run is stopping: not a failure of the upload.
		u.enqueueLocked(p)
	case err == nil:
		p.attempt, p.lastErr = 0, ""
		if progress || p.notified {
			u.enqueueLocked(p)
		} else {
			p.state = partIdle
		}
	case errors.Is(err, ErrFenced) || errors.As(err, &stop):
		p.state, p.lastErr, p.pending = partStopped, err.Error(), nil
		p.fenced = errors.Is(err, ErrFenced)
		u.stopped.Add(1)
		logf = func() {
			u.log.Error("uploads of the partition stopped", "prefix", p.prefix, "epoch", p.w.Epoch(), "fenced", p.fenced, "err", err)
		}
	default:
		p.attempt++
		p.lastErr = err.Error()
		d := u.cfg.Backoff.Delay(p.attempt, u.cfg.Jitter())
		p.state, p.retryAt = partWaiting, time.Now().Add(d)
		u.failures.Add(1)
		attempt := p.attempt
		logf = func() {
			u.log.Warn("upload failed; will retry", "prefix", p.prefix, "attempt", attempt, "retry_in", d, "err", err)
		}
	}
	u.mu.Unlock()
	if logf != nil {
		logf()
	}
	u.poke()
}

// stopError marks a failure after which retrying cannot help: the
// partition stops until it is added again.
type stopError struct{ err error }

func (e *stopError) Error() string { return e.err.Error() }
func (e *stopError) Unwrap() error { return e.err }

// crashError is a failpoint's error: the Uploader plays dead.
type crashError struct {
	name string
	err  error
}

func (e *crashError) Error() string { return fmt.Sprintf("failpoint %s: %v", e.name, e.err) }
func (e *crashError) Unwrap() error { return e.err }

func (u *Uploader) failpoint(name string) error {
	failpoint.Hit(name)
	if u.cfg.Failpoint == nil {
		return nil
	}
	if err := u.cfg.Failpoint(name); err != nil {
		return &crashError{name: name, err: err}
	}
	return nil
}

// step does the next piece of p's work: it commits a pending entry, moves
// an empty remote tier up to the local tier's start, or uploads and
// commits the next sealed segment. It reports whether it changed the
// manifest, so that there may be more to do.
func (u *Uploader) step(ctx context.Context, p *uploadPartition) (progress bool, err error) {
	if p.w.Fenced() {
		return false, fmt.Errorf("upload to %s: %w: the writer of epoch %d stopped", p.prefix, ErrFenced, p.w.Epoch())
	}
	u.mu.Lock()
	pending := p.pending
	u.mu.Unlock()
	if pending != nil {
		return u.commit(ctx, p, *pending)
	}

	m := p.w.Manifest()
	u.tell(p, m.RemoteEnd)
	seg, ok, err := nextSealed(p.src.Sealed(), m)
	if err != nil || !ok {
		return false, err
	}
	if seg.BaseOffset > m.RemoteEnd {
		// nextSealed allows this only for an empty remote tier: the local
		// tier no longer holds the offsets below seg.
		if err := p.w.StartAt(ctx, seg.BaseOffset); err != nil {
			return false, err
		}
		u.commits.Add(1)
		level := slog.LevelInfo
		if m.RemoteEnd > 0 {
			level = slog.LevelWarn // offsets [RemoteEnd, base) were neither uploaded nor kept
		}
		u.log.Log(ctx, level, "remote tier starts at the local tier's start", "prefix", p.prefix, "offset", seg.BaseOffset, "previous_remote_end", m.RemoteEnd)
		u.tell(p, p.w.Manifest().RemoteEnd)
		return true, nil
	}

	sealed, err := p.src.ReadSealed(seg.BaseOffset)
	if err != nil {
		err = fmt.Errorf("read local segment %d of %s: %w", seg.BaseOffset, p.prefix, err)
		if errors.Is(err, ErrCorrupt) {
			return false, &stopError{err}
		}
		return false, err
	}
	obj, f, err := EncodeSegment(sealed.Data, sealed.Offsets, sealed.Times, seg.BaseOffset, sealed.ProducerSnapshot)
	if err != nil {
		return false, &stopError{fmt.Errorf("local segment %d of %s: %w", seg.BaseOffset, p.prefix, err)}
	}
	if f.EndOffset != seg.EndOffset {
		return false, &stopError{fmt.Errorf("local segment %d of %s: its batches end at %d, the local tier says %d", seg.BaseOffset, p.prefix, f.EndOffset, seg.EndOffset)}
	}

	key := SegmentKey(p.prefix, f.BaseOffset, f.EndOffset, p.w.Epoch())
	if err := u.put(ctx, key, obj, f); err != nil {
		// An object stored after all is an orphan for Sweep.
		return false, fmt.Errorf("upload segment %d of %s: %w", f.BaseOffset, p.prefix, err)
	}
	e := Entry{
		Key:          key[len(p.prefix):],
		BaseOffset:   f.BaseOffset,
		EndOffset:    f.EndOffset,
		SizeBytes:    f.Size(),
		MinTimestamp: f.MinTimestamp,
		MaxTimestamp: f.MaxTimestamp,
		Epoch:        p.w.Epoch(),
		Records:      f.RecordCount,
	}
	if err := u.failpoint(FailpointAfterVerify); err != nil {
		return false, err
	}
	return u.commit(ctx, p, e)
}

// put stores obj under key and verifies it: the object's size and ETag,
// and its footer read back with a ranged get.
func (u *Uploader) put(ctx context.Context, key string, obj []byte, f Footer) error {
	etag, err := u.b.PutIfAbsent(ctx, key, obj)
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	u.uploads.Add(1)
	u.uploadedBytes.Add(int64(len(obj)))
	if err := u.failpoint(FailpointAfterPut); err != nil {
		return err
	}
	info, err := u.b.Head(ctx, key)
	if err != nil {
		return fmt.Errorf("verify %s: %w", key, err)
	}
	if info.Size != int64(len(obj)) || (etag != "" && info.ETag != etag) {
		return fmt.Errorf("verify %s: stored %d bytes with ETag %q, wrote %d bytes with ETag %q", key, info.Size, info.ETag, len(obj), etag)
	}
	n := min(info.Size, MaxFooterSize)
	tail, err := u.b.GetRange(ctx, key, info.Size-n, n)
	if err != nil {
		return fmt.Errorf("verify %s: %w", key, err)
	}
	got, err := DecodeFooter(tail)
	if err != nil {
		return fmt.Errorf("verify %s: %w", key, err)
	}
	if got != f {
		return fmt.Errorf("verify %s: footer reads back as %+v, wrote %+v", key, got, f)
	}
	return nil
}

// commit appends e, whose object is stored and verified, to p's manifest
// and tells the local tier. If the outcome of the commit is unknown, e
// stays pending: the next step retries the same Append, which finds e if
// it landed.
func (u *Uploader) commit(ctx context.Context, p *uploadPartition, e Entry) (bool, error) {
	if err := p.w.Append(ctx, e); err != nil {
		u.commitFailures.Add(1)
		if !errors.Is(err, ErrNotContiguous) && !errors.Is(err, ErrFenced) {
			u.setPending(p, &e)
		} else {
			u.setPending(p, nil) // the object is an orphan
		}
		return false, err
	}
	u.setPending(p, nil)
	u.commits.Add(1)
	u.log.Info("segment uploaded", "prefix", p.prefix, "base", e.BaseOffset, "end", e.EndOffset, "bytes", e.SizeBytes, "key", e.Key)
	if err := u.failpoint(FailpointAfterCommit); err != nil {
		return false, err
	}
	u.tell(p, p.w.Manifest().RemoteEnd)
	return true, nil
}

// setPending records the entry whose commit p retries next (nil for none).
func (u *Uploader) setPending(p *uploadPartition, e *Entry) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if !p.removed {
		p.pending = e
	}
}

// tell records remoteEnd, read from p's writer, for Status, and passes it
// to p's Source if it is beyond what the Source was told.
func (u *Uploader) tell(p *uploadPartition, remoteEnd int64) {
	u.mu.Lock()
	p.remoteEnd = max(p.remoteEnd, remoteEnd)
	u.mu.Unlock()
	if remoteEnd > p.told && remoteEnd > 0 {
		p.told = remoteEnd
		p.src.Uploaded(remoteEnd)
	}
}

// nextSealed returns the first sealed segment that is not wholly in m's
// remote tier, and false if there is none. It is an error (a stopError) for
// that segment to straddle RemoteEnd, or to start above it, while the
// remote tier holds offsets: the local and remote tiers must meet exactly.
// An empty remote tier may start inside the segment (StartAt moved it to a
// log start that DeleteRecords put there); the segment then goes up whole
// and the manifest keeps its log start.
func nextSealed(sealed []SealedInfo, m *Manifest) (SealedInfo, bool, error) {
	for _, s := range sealed {
		switch {
		case s.EndOffset <= m.RemoteEnd:
			continue // uploaded
		case s.BaseOffset < m.RemoteEnd && !m.Empty():
			return SealedInfo{}, false, &stopError{fmt.Errorf("%w: local segment [%d, %d) of %s straddles remoteEnd %d", ErrNotContiguous, s.BaseOffset, s.EndOffset, m.Prefix, m.RemoteEnd)}
		case s.BaseOffset > m.RemoteEnd && !m.Empty():
			return SealedInfo{}, false, &stopError{fmt.Errorf("%w: local segment [%d, %d) of %s starts above remoteEnd %d: offsets [%d, %d) are in neither tier", ErrNotContiguous, s.BaseOffset, s.EndOffset, m.Prefix, m.RemoteEnd, m.RemoteEnd, s.BaseOffset)}
		}
		return s, true, nil
	}
	return SealedInfo{}, false, nil
}

// Sweep deletes the orphans of the partition under prefix: objects under
// prefix+"segments/" and prefix+"chunks/" that the committed manifest does
// not reference (dead entries below LogStartOffset included), that no
// commit can still reference, and whose LastModified is more than
// olderThan ago. It returns how many objects it deleted; on an error, the
// ones it deleted before.
//
// No commit can reference a segment object based below the manifest's
// RemoteEnd (an Append starts at RemoteEnd, which never falls), nor a chunk
// whose first base is below the first tail entry's (a chunk is made from
// the tail). So Sweep spares every other unreferenced object: an upload or
// chunk waiting for its commit, by this process or any other, is never
// swept however long it waits. The orphan of a failed upload is swept once
// the partition's RemoteEnd has moved past it, and an orphan chunk once
// the tail has moved into a new chunk. olderThan (at least a few minutes,
// beyond the bucket's and the broker's clock skew) guards what these rules
// cannot see, such as an object being written as Sweep lists.
//
// w must be the partition's current writer: Sweep reads the head from the
// bucket, after listing, and returns ErrFenced without deleting if a newer
// writer owns it. It does not wait for w's commits in flight.
func (u *Uploader) Sweep(ctx context.Context, prefix string, w *Writer, olderThan time.Duration) (deleted int, err error) {
	if w.prefix != prefix {
		return 0, fmt.Errorf("sweep %s: the writer is that of %s", prefix, w.prefix)
	}
	cutoff := time.Now().Add(-olderThan)
	type candidate struct {
		key  string
		base int64 // of a segment, or first base of a chunk
		dir  string
	}
	var old []candidate
	for _, dir := range []string{segmentDir, chunkDir} {
		for info, err := range u.b.List(ctx, prefix+dir) {
			if err != nil {
				return 0, fmt.Errorf("sweep %s: %w", prefix, err)
			}
			if !info.LastModified.Before(cutoff) {
				continue
			}
			base, ok := keyBase(info.Key[len(prefix+dir):])
			if !ok {
				u.log.Warn("sweep: leaving an object whose key this package does not write", "key", info.Key)
				continue
			}
			old = append(old, candidate{key: info.Key, base: base, dir: dir})
		}
	}
	if len(old) == 0 {
		return 0, nil
	}

	m, _, err := Load(ctx, u.b, prefix)
	if err != nil {
		return 0, fmt.Errorf("sweep %s: %w", prefix, err)
	}
	if m.WriterEpoch != w.epoch || m.WriterID != w.id {
		return 0, fmt.Errorf("sweep %s: %w: the manifest belongs to epoch %d, the writer has %d", prefix, ErrFenced, m.WriterEpoch, w.Epoch())
	}
	refs := map[string]bool{}
	for _, c := range m.Chunks {
		refs[prefix+c.Key] = true
	}
	for e, err := range m.Entries(ctx, u.b) {
		if err != nil {
			return 0, fmt.Errorf("sweep %s: %w", prefix, err)
		}
		refs[prefix+e.Key] = true
	}
	floor := map[string]int64{segmentDir: m.RemoteEnd, chunkDir: m.RemoteEnd}
	if len(m.Tail) > 0 {
		floor[chunkDir] = m.Tail[0].BaseOffset
	}
	for _, c := range old {
		if refs[c.key] || c.base >= floor[c.dir] {
			continue
		}
		if err := u.b.Delete(ctx, c.key); err != nil {
			return deleted, fmt.Errorf("sweep %s: %w", prefix, err)
		}
		deleted++
		u.swept.Add(1)
		u.log.Info("deleted orphan object", "key", c.key)
	}
	return deleted, nil
}

// keyBase parses the base offset that begins a segment or chunk key
// relative to its directory: "<base %020d>-…".
func keyBase(rel string) (int64, bool) {
	const digits = 20
	if len(rel) <= digits || rel[digits] != '-' {
		return 0, false
	}
	base, err := strconv.ParseInt(rel[:digits], 10, 64)
	return base, err == nil && base >= 0
}

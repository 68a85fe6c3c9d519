package locallog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/strata-io/strata/batch"
	"github.com/strata-io/strata/internal/failpoint"
)

// PartitionConfig holds the topic configs that drive one partition's log.
type PartitionConfig struct {
	SegmentBytes   int64         // segment.bytes
	SegmentMs      time.Duration // segment.ms; zero or negative never rolls by age
	RetentionMs    time.Duration // retention.ms; negative keeps forever
	RetentionBytes int64         // retention.bytes; negative means no limit

	// Tiered partitions upload sealed segments to the remote tier. Their
	// local segments are deleted only once committed remotely (see
	// SetRemoteEnd), under LocalRetentionMs and LocalRetentionBytes
	// (local.retention.ms / .bytes) instead of RetentionMs/RetentionBytes,
	// which the remote tier applies to the whole log.
	Tiered              bool
	LocalRetentionMs    time.Duration // negative keeps forever
	LocalRetentionBytes int64         // negative means no limit
}

// Offsets are a partition's bounds: LogStart <= HighWatermark <= LogEnd.
type Offsets struct {
	LogStart      int64
	HighWatermark int64
	LogEnd        int64
}

// AppendResult reports where a batch landed.
type AppendResult struct {
	BaseOffset int64
	LastOffset int64
	LogStart   int64
	// Duplicate is set when the batch is a retry of one of its producer's
	// last five batches; nothing was appended and the offsets are the
	// original ones.
	Duplicate bool
}

// SegmentInfo describes one local segment.
type SegmentInfo struct {
	BaseOffset int64
	EndOffset  int64 // next offset after the segment's last record
	SizeBytes  int64
	Sealed     bool
	// FirstAppend is when this process first appended to the segment;
	// zero for a segment recovered at Open or still empty.
	FirstAppend time.Time
}

// Partition is the local log of one topic partition.
type Partition struct {
	log  *Log
	name string
	dir  string

	syncMu sync.Mutex // serializes fsyncs; taken before mu

	mu        sync.RWMutex // guards below
	cfg       PartitionConfig
	segs      []*segment // ascending base; the last is active
	logStart  int64
	hw        int64
	hwPos     int64 // position of hw in the active segment (FsyncAlways)
	logEnd    int64
	synced    int64        // end of what has been fsynced in the segment files
	pending   []pendingAck // FsyncAlways: appends waiting for a WAL fsync, oldest first
	remoteEnd int64        // end of what the remote tier has committed (SetRemoteEnd)
	producers producers
	failed    error // sticky: a write or fsync failed, the partition refuses appends
	closed    bool

	watchMu  sync.Mutex // guards below
	watchers map[int]func()
	nextW    int
}

func (p *Partition) fsyncAlways() bool { return p.log.cfg.Fsync.Mode == FsyncAlways }

// Offsets returns the partition's current bounds.
func (p *Partition) Offsets() Offsets {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return Offsets{LogStart: p.logStart, HighWatermark: p.hw, LogEnd: p.logEnd}
}

// Config returns the partition's current configuration.
func (p *Partition) Config() PartitionConfig {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.cfg
}

// SetConfig replaces the partition's configuration; it applies from the next
// append, roll check and retention pass.
func (p *Partition) SetConfig(cfg PartitionConfig) {
	p.mu.Lock()
	p.cfg = cfg
	p.mu.Unlock()
}

// Segments describes the local segments, oldest first.
func (p *Partition) Segments() []SegmentInfo {
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := make([]SegmentInfo, len(p.segs))
	for i, s := range p.segs {
		out[i] = SegmentInfo{BaseOffset: s.base, EndOffset: s.end, SizeBytes: s.size, Sealed: s.sealed, FirstAppend: s.firstAppend}
	}
	return out
}

// Watch registers fn to be called whenever the high watermark or log start
// moves. fn runs on the goroutine that moved it and must not block; it is
// typically a non-blocking send on a buffered channel. The returned cancel
// removes it.
func (p *Partition) Watch(fn func()) (cancel func()) {
	p.watchMu.Lock()
	defer p.watchMu.Unlock()
	if p.watchers == nil {
		p.watchers = make(map[int]func())
	}
	id := p.nextW
	p.nextW++
	p.watchers[id] = fn
	return func() {
		p.watchMu.Lock()
		delete(p.watchers, id)
		p.watchMu.Unlock()
	}
}

func (p *Partition) notify() {
	p.watchMu.Lock()
	defer p.watchMu.Unlock()
	for _, fn := range p.watchers {
		fn()
	}
}

// Append writes one record batch, which must already have passed
// batch.Validate, at the end of the log. It assigns offsets by rewriting the
// batch's base offset in b, checks idempotent producer sequences
// (ErrOutOfOrderSequence, ErrInvalidProducerEpoch) and answers a retry of a
// recent batch with its original offsets without appending. Append returns
// once the bytes are written to the file; WaitDurable waits for fsync.
func (p *Partition) Append(b []byte) (AppendResult, error) {
	h, err := batch.ParseHeader(b)
	if err != nil {
		return AppendResult{}, err
	}
	if h.Size() != len(b) {
		return AppendResult{}, fmt.Errorf("append %d bytes holding a %d-byte batch: %w", len(b), h.Size(), batch.ErrCorrupt)
	}
	res, advanced, err := p.appendLocked(h, b)
	if err != nil {
		return AppendResult{}, err
	}
	if advanced {
		p.notify()
	} else if !res.Duplicate {
		p.log.requestSync()
	}
	return res, nil
}

func (p *Partition) appendLocked(h batch.Header, b []byte) (res AppendResult, advanced bool, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return res, false, ErrClosed
	}
	if p.failed != nil {
		return res, false, p.failed
	}
	if h.ProducerID >= 0 {
		dup, err := p.producers.check(h)
		if err != nil {
			return res, false, err
		}
		if dup != nil {
			return AppendResult{BaseOffset: dup.firstOffset, LastOffset: dup.lastOffset, LogStart: p.logStart, Duplicate: true}, false, nil
		}
	}
	base := p.logEnd
	batch.SetBaseOffset(b, base)
	batch.SetLeaderEpoch(b, 0)
	h.BaseOffset = base
	undo, err := p.writeLocked(h, b)
	if err != nil {
		return res, false, err
	}
	res = AppendResult{BaseOffset: base, LastOffset: h.LastOffset(), LogStart: p.logStart}
	advanced = !p.fsyncAlways()
	if advanced {
		p.hw = p.logEnd
	} else {
		// Behind the segment, into the write-ahead log: acks=all waits for
		// its fsync. If that write fails (a full disk), the segment write
		// is undone too, so that no offset is in the segment without being
		// in the WAL, and the next append reuses the offsets; the WAL has
		// cut its torn record, or refuses every later append if it could
		// not.
		walEnd, err := p.log.wal.append(p.name, b)
		if err != nil {
			undo()
			return AppendResult{}, false, fmt.Errorf("append to %s: %w", p.name, err)
		}
		failpoint.Hit("wal-written")
		act := p.segs[len(p.segs)-1]
		p.pending = append(p.pending, pendingAck{walEnd: walEnd, end: p.logEnd, pos: act.size, seg: act})
		p.log.setPending(p, true)
	}
	p.checkLocked()
	return res, advanced, nil
}

// pendingAck is an append whose high watermark waits for the WAL fsync that
// covers walEnd.
type pendingAck struct {
	walEnd   int64
	end, pos int64 // logEnd after the append, and its position in seg
	seg      *segment
}

// writeLocked writes the batch h (offsets assigned) at the end of the
// active segment, rolling first if it does not fit, and updates the bounds,
// indexes and producer state. undo takes the write back: the file, the
// segment's bounds and indexes, the log end and the producer's state are
// as before it (a roll it made stays).
func (p *Partition) writeLocked(h batch.Header, b []byte) (undo func(), err error) {
	act := p.segs[len(p.segs)-1]
	if act.size > 0 && (act.size+int64(len(b)) > p.cfg.SegmentBytes || !act.fits(len(b), h.LastOffset())) {
		if err := p.rollLocked(); err != nil {
			return nil, err
		}
		act = p.segs[len(p.segs)-1]
	}
	pos := act.size
	cut := func(err error) {
		// Cut back whatever part reached the file so the next append
		// starts on a batch boundary; if even that fails, stop taking
		// writes.
		if terr := act.f.Truncate(pos); terr != nil {
			p.failed = fmt.Errorf("partition %s: write failed (%v) and could not be undone: %w", p.name, err, terr)
		}
	}
	if _, err := act.f.WriteAt(b, pos); err != nil {
		cut(err)
		return nil, fmt.Errorf("append to %s: %w", act.path, err)
	}
	before := act.state()
	logEnd := p.logEnd
	prod := p.producers.save(h.ProducerID)
	undo = func() {
		cut(errors.New("write-ahead log write failed"))
		act.setState(before)
		p.logEnd = logEnd
		p.producers.restore(h.ProducerID, prod)
	}
	failpoint.Hit("segment-written")
	if act.size == 0 {
		act.firstAppend = p.log.cfg.Now()
	}
	act.track(h, pos, int64(p.log.cfg.IndexIntervalBytes))
	p.logEnd = act.end
	p.producers.update(h, h.BaseOffset)
	return undo, nil
}

// advanceTo moves the high watermark over the appends that the WAL fsync up
// to synced covered.
func (p *Partition) advanceTo(synced int64) {
	p.mu.Lock()
	i := 0
	for i < len(p.pending) && p.pending[i].walEnd <= synced {
		i++
	}
	advanced := false
	if i > 0 {
		last := p.pending[i-1]
		if last.end > p.hw {
			p.hw = last.end
			if last.seg == p.segs[len(p.segs)-1] {
				p.hwPos = last.pos
			}
			advanced = true
		}
		p.pending = append(p.pending[:0], p.pending[i:]...)
		p.checkLocked()
	}
	if len(p.pending) == 0 {
		p.log.setPending(p, false)
	}
	p.mu.Unlock()
	if advanced {
		p.notify()
	}
}

// dropSatisfiedLocked forgets the appends waiting for a WAL fsync that a
// segment fsync has made durable already (the high watermark passed them).
func (p *Partition) dropSatisfiedLocked() {
	i := 0
	for i < len(p.pending) && p.pending[i].end <= p.hw {
		i++
	}
	if i == 0 {
		return
	}
	p.pending = append(p.pending[:0], p.pending[i:]...)
	if len(p.pending) == 0 {
		p.log.setPending(p, false)
	}
}

// replayWAL appends the WAL records beyond the recovered end of the log: the
// acknowledged batches whose segment bytes a crash lost. Records below the
// end are already in the segments; one that starts past the end means the
// two disagree, which is corruption.
func (p *Partition) replayWAL(recs []walRecord) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	replayed := 0
	for _, r := range recs {
		if r.last < p.logEnd {
			continue
		}
		if r.base != p.logEnd {
			return fmt.Errorf("%w: write-ahead log holds [%d, %d], the log ends at %d", ErrCorrupt, r.base, r.last, p.logEnd)
		}
		h, err := batch.Validate(r.batch)
		if err != nil {
			return fmt.Errorf("%w: write-ahead log batch at %d: %w", ErrCorrupt, r.base, err)
		}
		if _, err := p.writeLocked(h, r.batch); err != nil {
			return err
		}
		replayed++
	}
	if replayed == 0 {
		return nil
	}
	act := p.segs[len(p.segs)-1]
	if err := act.f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", act.path, err)
	}
	p.hw, p.synced, p.hwPos = p.logEnd, p.logEnd, act.size
	p.log.cfg.Logger.Info("replayed write-ahead log", "partition", p.name, "batches", replayed, "log_end", p.logEnd)
	p.checkLocked()
	return nil
}

// rollLocked seals the active segment (fsync, index file, producer snapshot)
// and starts a new one at logEnd. An empty active segment is not rolled.
func (p *Partition) rollLocked() error {
	act := p.segs[len(p.segs)-1]
	if act.size == 0 {
		return nil
	}
	if err := act.f.Sync(); err != nil {
		p.failed = fmt.Errorf("partition %s: fsync %s: %w", p.name, act.path, err)
		return p.failed
	}
	if err := writeFileAtomic(segmentPath(p.dir, act.base, ".idx"), act.encodeMeta()); err != nil {
		return fmt.Errorf("seal %s: %w", act.path, err)
	}
	if err := writeFileAtomic(segmentPath(p.dir, p.logEnd, ".snapshot"), p.producers.encode()); err != nil {
		return fmt.Errorf("seal %s: producer snapshot: %w", act.path, err)
	}
	next, err := p.createSegment(p.logEnd)
	if err != nil {
		return err
	}
	act.sealed = true
	p.segs = append(p.segs, next)
	p.synced = max(p.synced, act.end)
	if p.hw < act.end {
		p.hw = act.end
	}
	p.hwPos = 0
	p.dropSatisfiedLocked()
	p.removeOldSnapshotsLocked()
	p.checkLocked()
	failpoint.Hit("sealed")
	if p.log.cfg.OnSeal != nil {
		p.log.cfg.OnSeal(p.name)
	}
	p.log.cfg.Logger.Debug("segment sealed", "partition", p.name, "base", act.base, "end", act.end, "bytes", act.size)
	return nil
}

func (p *Partition) createSegment(base int64) (*segment, error) {
	path := segmentPath(p.dir, base, ".log")
	f, err := p.log.cfg.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create segment: %w", err)
	}
	if err := syncDir(p.dir); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("create segment: %w", err)
	}
	return newSegment(f, path, base), nil
}

// Roll seals the active segment now if it holds any records.
func (p *Partition) Roll() error {
	p.mu.Lock()
	err := p.rollLocked()
	p.mu.Unlock()
	p.notify()
	return err
}

// rollIfAged seals the active segment once its first record has waited
// segment.ms, so an idle partition's records still leave the active segment
// in bounded time.
func (p *Partition) rollIfAged(now time.Time) error {
	p.mu.Lock()
	act := p.segs[len(p.segs)-1]
	due := !p.closed && p.failed == nil && act.size > 0 && p.cfg.SegmentMs > 0 && now.Sub(act.firstAppend) >= p.cfg.SegmentMs
	var err error
	if due {
		err = p.rollLocked()
	}
	p.mu.Unlock()
	if due {
		p.notify()
	}
	return err
}

// WaitDurable blocks until every record below end is durable under the fsync
// policy: with FsyncAlways by a group-committed fsync (one fsync releases
// every caller whose bytes it covers), otherwise at once. A failed fsync is
// returned and makes the partition refuse further appends.
func (p *Partition) WaitDurable(ctx context.Context, end int64) error {
	if !p.fsyncAlways() {
		return nil
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		p.mu.RLock()
		hw, failed, closed := p.hw, p.failed, p.closed
		target := int64(-1) // the WAL position that makes end durable
		for _, a := range p.pending {
			if a.end >= end {
				target = a.walEnd
				break
			}
		}
		p.mu.RUnlock()
		if hw >= end {
			return nil
		}
		if failed != nil {
			return failed
		}
		if closed {
			return ErrClosed
		}
		if err := p.log.commitWALTo(target); err != nil {
			return err
		}
	}
}

// sync makes everything appended so far durable and, with FsyncAlways,
// visible. Concurrent callers queue on syncMu; each finds its bytes already
// covered by the fsync before it or covers them with one fsync for all.
func (p *Partition) sync() error {
	p.syncMu.Lock()
	defer p.syncMu.Unlock()
	p.mu.RLock()
	if p.closed || p.synced >= p.logEnd {
		p.mu.RUnlock()
		return nil
	}
	act := p.segs[len(p.segs)-1]
	target, pos := p.logEnd, act.size
	act.acquire()
	p.mu.RUnlock()
	err := act.f.Sync()
	act.release()
	p.mu.Lock()
	if err != nil {
		p.failed = fmt.Errorf("partition %s: fsync %s: %w", p.name, act.path, err)
		p.mu.Unlock()
		return p.failed
	}
	advanced := false
	p.synced = max(p.synced, target)
	if p.fsyncAlways() && target > p.hw {
		p.hw = target
		if p.segs[len(p.segs)-1] == act {
			p.hwPos = pos
		}
		p.dropSatisfiedLocked()
		advanced = true
	}
	p.checkLocked()
	p.mu.Unlock()
	if advanced {
		p.notify()
	}
	return nil
}

// visibleSizeLocked is how many bytes of s a reader may see.
func (p *Partition) visibleSizeLocked(s *segment) int64 {
	if p.fsyncAlways() && s == p.segs[len(p.segs)-1] {
		return p.hwPos
	}
	return s.size
}

// segmentForLocked returns the segment whose range holds off, or nil.
func (p *Partition) segmentForLocked(off int64) *segment {
	i := sort.Search(len(p.segs), func(i int) bool { return p.segs[i].base > off }) - 1
	if i < 0 || off >= p.segs[i].end {
		return nil
	}
	return p.segs[i]
}

// removeOldSnapshotsLocked deletes the producer snapshots nothing needs.
// It keeps the two newest, since recovery needs one at or below the active
// base, and, in a tiered partition, the snapshot at the end of each sealed
// segment the remote tier does not hold yet, which ReadSealed uploads with
// the segment.
func (p *Partition) removeOldSnapshotsLocked() {
	snaps, err := listByExt(p.dir, ".snapshot")
	if err != nil || len(snaps) <= 2 {
		return
	}
	for _, off := range snaps[:len(snaps)-2] {
		if p.awaitsUploadLocked(off) {
			continue
		}
		_ = os.Remove(segmentPath(p.dir, off, ".snapshot"))
	}
}

// awaitsUploadLocked reports whether end is the end of a sealed segment of
// a tiered partition that is not yet below the remote end.
func (p *Partition) awaitsUploadLocked(end int64) bool {
	if !p.cfg.Tiered || end <= p.remoteEnd {
		return false
	}
	for _, s := range p.segs {
		if s.sealed && s.end == end {
			return true
		}
	}
	return false
}

// close syncs and closes the partition's files, leaving a producer snapshot
// at logEnd so the next Open need not rescan.
func (p *Partition) close() error {
	p.syncMu.Lock()
	defer p.syncMu.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	var errs []error
	act := p.segs[len(p.segs)-1]
	if p.failed == nil {
		if err := act.f.Sync(); err != nil {
			errs = append(errs, fmt.Errorf("fsync %s: %w", act.path, err))
		} else if err := writeFileAtomic(segmentPath(p.dir, p.logEnd, ".snapshot"), p.producers.encode()); err != nil {
			errs = append(errs, err)
		}
	}
	for _, s := range p.segs {
		s.release()
	}
	if len(errs) > 0 {
		p.log.cfg.Logger.Error("partition close", slog.String("partition", p.name), slog.Any("err", errors.Join(errs...)))
	}
	return errors.Join(errs...)
}

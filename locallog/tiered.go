package locallog

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/strata-io/strata/index"
)

// SealedSegment is a sealed segment as ReadSealed returns it, for upload
// to the remote tier.
type SealedSegment struct {
	Data    []byte // the record batches, byte-for-byte as in the segment file
	Offsets *index.Offsets
	Times   *index.Times
	// ProducerSnapshot is the producer snapshot file written when the
	// segment was sealed: the idempotent-producer state after its last
	// batch, for RestoreProducers. It is nil if the file is missing (a
	// segment sealed by a version that deleted it) or unreadable.
	ProducerSnapshot []byte
}

// ReadSealed returns the bytes of the sealed segment starting at base,
// copies of its offset and time indexes, and its producer snapshot, for
// upload to the remote tier. The segment stays pinned while it is read, so
// retention may not pull it away; its snapshot is kept until the remote
// end passes the segment (see SetRemoteEnd). It reports
// ErrOffsetOutOfRange if no sealed segment starts at base.
func (p *Partition) ReadSealed(base int64) (SealedSegment, error) {
	p.mu.RLock()
	var s *segment
	for _, c := range p.segs {
		if c.base == base && c.sealed {
			s = c
			break
		}
	}
	if s == nil || p.closed {
		p.mu.RUnlock()
		return SealedSegment{}, fmt.Errorf("sealed segment %d of %s: %w", base, p.name, ErrOffsetOutOfRange)
	}
	size, end := s.size, s.end
	offs, times := cloneOffsets(&s.offs), cloneTimes(&s.times)
	s.acquire()
	p.mu.RUnlock()
	defer s.release()
	data := make([]byte, size)
	if err := readFull(s.f, data, 0); err != nil {
		return SealedSegment{}, fmt.Errorf("read sealed segment %s: %w", s.path, err)
	}
	snapPath := segmentPath(p.dir, end, ".snapshot")
	snap, err := os.ReadFile(snapPath)
	if err == nil {
		_, err = decodeProducers(snap)
	}
	if err != nil {
		// The segment uploads without its producer state: a broker
		// restored from the bucket then starts with none for it.
		if !errors.Is(err, fs.ErrNotExist) {
			p.log.cfg.Logger.Warn("producer snapshot not uploaded", "partition", p.name, "file", snapPath, "err", err)
		}
		snap = nil
	}
	return SealedSegment{Data: data, Offsets: offs, Times: times, ProducerSnapshot: snap}, nil
}

func cloneOffsets(x *index.Offsets) *index.Offsets {
	var c index.Offsets
	for _, e := range x.Entries() {
		c.Append(e.RelOffset, e.Pos)
	}
	return &c
}

func cloneTimes(x *index.Times) *index.Times {
	var c index.Times
	for _, e := range x.Entries() {
		c.Append(e.Timestamp, e.Pos)
	}
	return &c
}

// SetRemoteEnd tells the partition that every record below end is committed
// in the remote tier's manifest. It never moves backwards. With
// PartitionConfig.Tiered, local retention may then delete sealed segments
// that end at or below it, and only those: nothing is deleted locally before
// it is committed remotely. Likewise the producer snapshot of a sealed
// segment that ends above the remote end (the one ReadSealed uploads with
// it) is kept until the remote end passes it.
func (p *Partition) SetRemoteEnd(end int64) {
	p.mu.Lock()
	p.remoteEnd = max(p.remoteEnd, end)
	p.mu.Unlock()
}

// RemoteEnd returns the last value given to SetRemoteEnd (0 before any).
func (p *Partition) RemoteEnd() int64 {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.remoteEnd
}

// RestoreProducers replaces the idempotent-producer state of an empty
// partition (log start = log end) with snap, a producer snapshot as
// ReadSealed returned it for a segment that ends at the partition's log
// end: a partition created at the remote end of a rebuilt broker (see
// Log.CreatePartitionAt) thus answers a producer's retry of a batch that
// is already in the remote tier with its original offsets. It also writes
// snap as the partition's snapshot at log end, so a reopen keeps it. A snap
// that does not decode, or that describes offsets at or above log end, is
// an error wrapping ErrCorrupt and changes nothing; a partition holding
// records is ErrNotEmpty.
func (p *Partition) RestoreProducers(snap []byte) error {
	ps, err := decodeProducers(snap)
	if err != nil {
		return fmt.Errorf("restore producers of %s: %w", p.name, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	if p.logStart != p.logEnd || len(p.pending) > 0 {
		return fmt.Errorf("restore producers of %s: it holds offsets [%d, %d): %w", p.name, p.logStart, p.logEnd, ErrNotEmpty)
	}
	for id, pr := range ps {
		for _, b := range pr.batches {
			if b.lastOffset >= p.logEnd || b.firstOffset > b.lastOffset {
				return fmt.Errorf("restore producers of %s: %w: producer %d has a batch at offsets [%d, %d], the log ends at %d",
					p.name, ErrCorrupt, id, b.firstOffset, b.lastOffset, p.logEnd)
			}
		}
	}
	if err := writeFileAtomic(segmentPath(p.dir, p.logEnd, ".snapshot"), snap); err != nil {
		return fmt.Errorf("restore producers of %s: %w", p.name, err)
	}
	p.producers = ps
	return nil
}

// SkipTo moves an empty partition (log start = log end) forward to start at
// offset: log start, high watermark and log end all become offset, the
// remote end too, and the next append would get offset. It is for a
// partition whose every record lives elsewhere and keeps growing there (a
// read-only broker following a bucket another broker writes): its local
// log stays empty and only follows the remote end. It fails with
// ErrNotEmpty if the partition holds records; an offset at or below log
// end changes nothing.
func (p *Partition) SkipTo(offset int64) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrClosed
	}
	if offset <= p.logEnd {
		p.mu.Unlock()
		return nil
	}
	if p.logStart != p.logEnd || len(p.pending) > 0 {
		ls, le := p.logStart, p.logEnd
		p.mu.Unlock()
		return fmt.Errorf("skip %s to %d: it holds offsets [%d, %d): %w", p.name, offset, ls, le, ErrNotEmpty)
	}
	next, err := p.createSegment(offset)
	if err == nil {
		err = writeLogStart(p.dir, offset)
	}
	if err != nil {
		p.mu.Unlock()
		return fmt.Errorf("skip %s to %d: %w", p.name, offset, err)
	}
	old := p.segs
	p.segs = []*segment{next}
	p.logStart, p.hw, p.logEnd, p.synced = offset, offset, offset, offset
	p.hwPos = 0
	p.remoteEnd = max(p.remoteEnd, offset)
	for _, s := range old {
		for _, ext := range []string{".log", ".idx"} {
			if err := os.Remove(segmentPath(p.dir, s.base, ext)); err != nil && !os.IsNotExist(err) {
				p.log.cfg.Logger.Warn("delete segment file", "partition", p.name, "err", err)
			}
		}
		s.release()
	}
	p.checkLocked()
	p.mu.Unlock()
	p.notify()
	return nil
}

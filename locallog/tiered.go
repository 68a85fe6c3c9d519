package locallog

import (
	"fmt"
	"os"

	"github.com/strata-io/strata/index"
)

// ReadSealed returns the bytes of the sealed segment starting at base and
// copies of its offset and time indexes, for upload to the remote tier. The
// segment stays pinned while it is read, so retention may not pull it away.
// It reports ErrOffsetOutOfRange if no sealed segment starts at base.
func (p *Partition) ReadSealed(base int64) ([]byte, *index.Offsets, *index.Times, error) {
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
		return nil, nil, nil, fmt.Errorf("sealed segment %d of %s: %w", base, p.name, ErrOffsetOutOfRange)
	}
	size := s.size
	offs, times := cloneOffsets(&s.offs), cloneTimes(&s.times)
	s.acquire()
	p.mu.RUnlock()
	defer s.release()
	data := make([]byte, size)
	if err := readFull(s.f, data, 0); err != nil {
		return nil, nil, nil, fmt.Errorf("read sealed segment %s: %w", s.path, err)
	}
	return data, offs, times, nil
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
// it is committed remotely.
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

package locallog

import (
	"fmt"

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

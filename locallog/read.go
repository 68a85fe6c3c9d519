package locallog

import (
	"fmt"

	"github.com/strata-io/strata/batch"
)

// ReadResult is one answer to a fetch.
type ReadResult struct {
	// Data holds whole batches from one segment, starting with the batch
	// that holds the requested offset (which may begin before it).
	Data    []byte
	Offsets Offsets
}

// readAhead is how much Read fetches beyond an index entry to find the batch
// holding an offset in one pread.
const readAhead = 16 << 10

// Read returns whole batches from the one segment that holds offset,
// starting with the batch containing it and ending at or before the high
// watermark and the segment's end. It returns at least one whole batch when
// maxBytes > 0, even if that batch is larger (KIP-74), and otherwise stops
// before exceeding maxBytes. Data is empty when offset is the high
// watermark; offsets below logStart or above the high watermark are
// ErrOffsetOutOfRange. Read runs concurrently with Append.
func (p *Partition) Read(offset int64, maxBytes int32) (ReadResult, error) {
	p.mu.RLock()
	if p.closed {
		p.mu.RUnlock()
		return ReadResult{}, ErrClosed
	}
	offs := Offsets{LogStart: p.logStart, HighWatermark: p.hw, LogEnd: p.logEnd}
	if offset < offs.LogStart || offset > offs.HighWatermark {
		p.mu.RUnlock()
		return ReadResult{Offsets: offs}, fmt.Errorf("offset %d of %s outside [%d, %d]: %w", offset, p.name, offs.LogStart, offs.HighWatermark, ErrOffsetOutOfRange)
	}
	if offset == offs.HighWatermark || maxBytes <= 0 {
		p.mu.RUnlock()
		return ReadResult{Offsets: offs}, nil
	}
	s := p.segmentForLocked(offset)
	if s == nil {
		p.mu.RUnlock()
		panic(fmt.Sprintf("locallog: %s: offset %d in [%d, %d) has no segment", p.name, offset, offs.LogStart, offs.HighWatermark))
	}
	limit := p.visibleSizeLocked(s)
	from := int64(s.offs.Lookup(uint32(offset - s.base)))
	s.acquire()
	p.mu.RUnlock()
	defer s.release()

	data, err := s.readFrom(offset, from, limit, int64(maxBytes))
	if err != nil {
		return ReadResult{Offsets: offs}, fmt.Errorf("read %s at offset %d: %w", p.name, offset, err)
	}
	return ReadResult{Data: data, Offsets: offs}, nil
}

// readFrom finds the batch holding offset at or after position from and
// returns it and the batches after it, up to maxBytes (but at least one
// batch) and never past limit.
func (s *segment) readFrom(offset, from, limit, maxBytes int64) ([]byte, error) {
	// Find the batch: read a window, walk headers inside it, slide.
	var start int64 = -1
	var first int64
	buf := make([]byte, min(limit-from, readAhead+maxBytes))
	for pos := from; pos < limit && start < 0; {
		n := min(int64(len(buf)), limit-pos)
		w := buf[:n]
		if err := readFull(s.f, w, pos); err != nil {
			return nil, err
		}
		i := int64(0)
		for i+batch.HeaderSize <= n {
			h, err := batch.ParseHeader(w[i:])
			if err != nil {
				return nil, fmt.Errorf("%w: batch at %d: %w", ErrCorrupt, pos+i, err)
			}
			if h.LastOffset() >= offset {
				start, first = pos+i, int64(h.Size())
				break
			}
			i += int64(h.Size())
		}
		if start < 0 {
			if i == 0 {
				return nil, fmt.Errorf("%w: no batch header fits at %d", ErrCorrupt, pos)
			}
			pos += i
			continue
		}
		// The window may already hold everything the answer needs: it
		// is the answer, without a copy (the window is only ever a
		// little larger than the answer: the bytes before the batch
		// from the sparse index's entry, and readAhead).
		want := s.answerLen(w[start-pos:], first, limit-start, maxBytes)
		if start+want <= pos+n {
			return w[start-pos : start-pos+want : start-pos+want], nil
		}
	}
	if start < 0 {
		return nil, fmt.Errorf("%w: no batch holds offset %d below position %d", ErrCorrupt, offset, limit)
	}
	// Read the answer afresh: first batch plus whatever whole batches fit.
	n := max(first, min(maxBytes, limit-start))
	out := make([]byte, n)
	if err := readFull(s.f, out, start); err != nil {
		return nil, err
	}
	return out[:s.answerLen(out, first, n, maxBytes)], nil
}

// answerLen is the length of the whole batches at the front of b (the first
// of size first) that fit in maxBytes, at least the first, at most avail.
func (s *segment) answerLen(b []byte, first, avail, maxBytes int64) int64 {
	n := first
	for n < avail && n+batch.HeaderSize <= int64(len(b)) {
		h, err := batch.ParseHeader(b[n:])
		if err != nil {
			break
		}
		next := n + int64(h.Size())
		if next > maxBytes || next > avail {
			break
		}
		n = next
	}
	return n
}

// OffsetForTimestamp returns the offset and timestamp of the first record
// whose timestamp is at least ts, or offset -1 when no visible record is
// that new.
func (p *Partition) OffsetForTimestamp(ts int64) (int64, int64, error) {
	p.mu.RLock()
	var cands []*segment
	for _, s := range p.segs {
		if s.maxTs >= ts && s.end > p.logStart {
			s.acquire()
			cands = append(cands, s)
		}
	}
	limits := make([]int64, len(cands))
	for i, s := range cands {
		limits[i] = p.visibleSizeLocked(s)
	}
	logStart, hw := p.logStart, p.hw
	p.mu.RUnlock()
	defer func() {
		for _, s := range cands {
			s.release()
		}
	}()
	for i, s := range cands {
		off, rts := int64(-1), int64(-1)
		var rerr error
		err := s.walkHeaders(int64(s.times.Lookup(ts)), limits[i], func(h batch.Header, pos int64) bool {
			if h.MaxTimestamp < ts || h.LastOffset() < logStart {
				return true
			}
			off, rts, rerr = s.firstRecordAtLeast(h, pos, ts, logStart)
			return off < 0 && rerr == nil
		})
		if err == nil {
			err = rerr
		}
		if err != nil {
			return -1, -1, err
		}
		if off >= 0 && off < hw {
			return off, rts, nil
		}
	}
	return -1, -1, nil
}

// firstRecordAtLeast decodes the batch at pos and returns its first record
// at or after minOffset with a timestamp of at least ts.
func (s *segment) firstRecordAtLeast(h batch.Header, pos, ts, minOffset int64) (int64, int64, error) {
	raw := make([]byte, h.Size())
	if err := readFull(s.f, raw, pos); err != nil {
		return -1, -1, err
	}
	recs, err := batch.Records(raw)
	if err != nil {
		return -1, -1, fmt.Errorf("%w: batch at %d: %w", ErrCorrupt, pos, err)
	}
	for _, r := range recs {
		if r.Timestamp >= ts && r.Offset >= minOffset {
			return r.Offset, r.Timestamp, nil
		}
	}
	return -1, -1, nil
}

// MaxTimestamp returns the offset and timestamp of the first record with the
// largest timestamp among visible records, or (-1, -1) when there are none.
func (p *Partition) MaxTimestamp() (int64, int64, error) {
	p.mu.RLock()
	var best *segment
	for _, s := range p.segs {
		if s.end > p.logStart && s.maxTs >= 0 && (best == nil || s.maxTs > best.maxTs) {
			best = s
		}
	}
	if best == nil {
		p.mu.RUnlock()
		return -1, -1, nil
	}
	pos, ts, limit, hw, logStart := best.maxTsPos, best.maxTs, p.visibleSizeLocked(best), p.hw, p.logStart
	best.acquire()
	p.mu.RUnlock()
	defer best.release()
	if pos >= limit {
		return -1, -1, nil // the newest batch is not yet durable
	}
	var hdr [batch.HeaderSize]byte
	if err := readFull(best.f, hdr[:], pos); err != nil {
		return -1, -1, err
	}
	h, err := batch.ParseHeader(hdr[:])
	if err != nil {
		return -1, -1, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	off, rts, err := best.firstRecordAtLeast(h, pos, ts, logStart)
	if err != nil || off < 0 || off >= hw {
		return -1, -1, err
	}
	return off, rts, nil
}

package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/strata-io/strata/locallog"
	"github.com/strata-io/strata/tiering"
)

// tier names the home of an offset.
type tier int

const (
	tierLocal  tier = iota // [remoteEnd, logEnd): the local log
	tierRemote             // [logStart, remoteEnd): one segment object
)

// resolution is where one offset lives: the local log, or one entry of the
// manifest snapshot m (nil with tiering off).
type resolution struct {
	tier  tier
	entry tiering.Entry // the segment that holds the offset, for tierRemote
	m     *tiering.Manifest
}

// resolve maps offset of p to exactly one home (DESIGN.md, "the one rule"):
// below the manifest's RemoteEnd the one remote segment that holds it, and
// the local log from there on. It reads nothing but the manifest. An offset
// below the remote tier's start is out of range; a failed manifest lookup
// is a remote storage error.
//
// The answer holds for the manifest snapshot it was made from; a local
// read that then finds its segments deleted (an upload committed and local
// retention ran in between) resolves again, to the remote tier.
func (b *Broker) resolve(ctx context.Context, p *partition, offset int64) (resolution, error) {
	if p.tier == nil {
		return resolution{tier: tierLocal}, nil
	}
	m := p.tier.manifest()
	r := resolution{tier: tierLocal, m: m}
	if offset >= m.RemoteEnd {
		return r, nil
	}
	if offset < m.LogStartOffset {
		return r, fmt.Errorf("%w: %d is below the log start %d", locallog.ErrOffsetOutOfRange, offset, m.LogStartOffset)
	}
	e, err := m.Lookup(ctx, b.tiers.bucket, offset)
	if err != nil {
		return r, fmt.Errorf("%w: look up offset %d in %s: %w", errRemoteStorage, offset, p.tier.prefix, err)
	}
	r.tier, r.entry = tierRemote, e
	return r, nil
}

// logStart returns a partition's effective log start: the remote tier's
// when it holds offsets (m may be nil, with tiering off), else the local
// log's.
func logStart(o locallog.Offsets, m *tiering.Manifest) int64 {
	if m != nil && !m.Empty() {
		return m.LogStartOffset
	}
	return o.LogStart
}

// effectiveOffsets returns p's bounds with the effective log start.
func (p *partition) effectiveOffsets() locallog.Offsets {
	o := p.log.Offsets()
	if p.tier != nil {
		o.LogStart = logStart(o, p.tier.manifest())
	}
	return o
}

// liveEntries counts the segments of m's remote tier without reading any
// chunk: exact unless the first chunk still holds entries below the log
// start, which it then counts too.
func liveEntries(m *tiering.Manifest) int {
	if m.Empty() {
		return 0
	}
	n := len(m.Tail)
	for _, c := range m.Chunks {
		n += c.Count
	}
	return n
}

// remoteBytes is the object bytes of m's segments.
func remoteBytes(m *tiering.Manifest) int64 {
	var n int64
	for _, c := range m.Chunks {
		n += c.Bytes
	}
	for _, e := range m.Tail {
		n += e.SizeBytes
	}
	return n
}

// uploadLagSeconds is the age of the oldest record of segs at or above
// remoteEnd, by when this process appended it; 0 if there is none (or it
// was recovered, not appended, by this process).
func uploadLagSeconds(segs []locallog.SegmentInfo, remoteEnd int64, now time.Time) float64 {
	for _, s := range segs {
		if s.EndOffset > remoteEnd && s.SizeBytes > 0 && !s.FirstAppend.IsZero() {
			return now.Sub(s.FirstAppend).Seconds()
		}
	}
	return 0
}

// readAt answers one partition of a fetch at offset from the one segment
// resolve picks, with at most room bytes (at least one batch when room is
// positive). It returns the data, as the parts it lies in (one for a local
// read, one per cached block for a remote one; none for no data), and the
// partition's effective bounds.
func (b *Broker) readAt(ctx context.Context, p *partition, offset int64, room int32) ([][]byte, locallog.Offsets, error) {
	for attempt := 0; ; attempt++ {
		r, err := b.resolve(ctx, p, offset)
		o := p.log.Offsets()
		o.LogStart = logStart(o, r.m)
		if err != nil {
			if errors.Is(err, errRemoteStorage) {
				b.logger.Warn("remote read", "topic", p.topic, "partition", p.index, "offset", offset, "err", err)
			}
			return nil, o, err
		}
		if r.tier == tierRemote {
			bs, err := b.tiers.reader.ReadBatches(ctx, p.tier.prefix, r.entry, offset, room)
			if err != nil {
				err = fmt.Errorf("%w: read offset %d of %s%s: %w", errRemoteStorage, offset, p.tier.prefix, r.entry.Key, err)
				b.logger.Warn("remote read", "topic", p.topic, "partition", p.index, "offset", offset, "err", err)
				return nil, o, err
			}
			b.readAheadNext(ctx, p, r.entry, bs.Next, room)
			return bs.Parts, o, nil
		}
		if b.afterResolve != nil {
			b.afterResolve(p, offset, r)
		}
		res, err := p.log.Read(offset, room)
		res.Offsets.LogStart = o.LogStart
		if errors.Is(err, locallog.ErrOffsetOutOfRange) && r.m != nil && attempt == 0 && offset < p.log.Offsets().LogStart {
			// The local segment went after its upload was committed:
			// the offset's home is now the remote tier.
			continue
		}
		if len(res.Data) == 0 {
			return nil, res.Offsets, err
		}
		return [][]byte{res.Data}, res.Offsets, err
	}
}

// readAheadNext starts, in the background, the reads of the next segment
// of p when an answer from remote segment e reaches e's end, that is when
// next, the offset after the answer, is e's end offset: a consumer
// catching up asks for that segment next. The Reader's own read-ahead
// covers the rest of e. This only warms the cache; the next fetch is
// resolved and answered as any other.
func (b *Broker) readAheadNext(ctx context.Context, p *partition, e tiering.Entry, next int64, room int32) {
	if next != e.EndOffset {
		return
	}
	r, err := b.resolve(ctx, p, next)
	if err != nil || r.tier != tierRemote {
		return
	}
	b.tiers.reader.PrefetchAsync(ctx, p.tier.prefix, r.entry, next, room)
}

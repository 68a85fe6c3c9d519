package history

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math"
	"sync"

	"github.com/strata-io/strata/batch"
	"github.com/strata-io/strata/objectstore"
	"github.com/strata-io/strata/tiering"
)

// Range selects records by offset, [FromOffset, ToOffset), and by
// timestamp, [FromTime, ToTime) in Unix milliseconds. A record is in the
// range if both its offset and its timestamp are.
//
// Timestamps are judged as the broker's ListOffsets judges them, by the
// batch and segment bounds first: a segment whose entry's MaxTimestamp is
// below FromTime, or whose MinTimestamp (the least first timestamp of its
// batches) is at or above ToTime, is not read, and neither is a batch whose
// MaxTimestamp is below FromTime. A producer that wrote a record older than
// its batch's first timestamp may thus see it left out of a range ending
// at ToTime. Every record of a segment that is read is checked one by one.
type Range struct {
	FromOffset, ToOffset int64
	FromTime, ToTime     int64
}

// All returns the range that holds every record.
func All() Range {
	return Range{FromOffset: 0, ToOffset: math.MaxInt64, FromTime: math.MinInt64, ToTime: math.MaxInt64}
}

// Contains reports whether a record at offset with timestamp ts is in r.
func (r Range) Contains(offset, ts int64) bool {
	return r.FromOffset <= offset && offset < r.ToOffset && r.FromTime <= ts && ts < r.ToTime
}

// Empty reports whether no record can be in r.
func (r Range) Empty() bool { return r.FromOffset >= r.ToOffset || r.FromTime >= r.ToTime }

// Overlaps reports whether segment e may hold records in r, judged by its
// offsets and timestamps; see Range.
func (r Range) Overlaps(e tiering.Entry) bool {
	return !r.Empty() && e.EndOffset > r.FromOffset && e.BaseOffset < r.ToOffset &&
		e.MaxTimestamp >= r.FromTime && e.MinTimestamp < r.ToTime
}

// Partition is one partition's remote tier, as its manifest in the bucket
// described it when OpenPartition loaded it. It only reads the bucket. It
// is safe for concurrent use.
type Partition struct {
	b         objectstore.Bucket
	topicID   [16]byte
	partition int32
	m         *tiering.Manifest // nil if the partition has no manifest
}

// OpenPartition loads the manifest of one partition of the topic with
// topicID in b. A partition that has no manifest has never uploaded a
// segment: it has no history, and its Segments yield nothing. Records a
// broker has not yet uploaded are not in the bucket and so not in the
// history.
func OpenPartition(ctx context.Context, b objectstore.Bucket, topicID [16]byte, partition int32) (*Partition, error) {
	p := &Partition{b: b, topicID: topicID, partition: partition}
	m, _, err := tiering.Load(ctx, b, tiering.PartitionPrefix(topicID, partition))
	switch {
	case errors.Is(err, objectstore.ErrNotExist):
		return p, nil
	case err != nil:
		return nil, fmt.Errorf("topic %x partition %d: %w", topicID, partition, err)
	}
	p.m = m
	return p, nil
}

// HasManifest reports whether the partition has a manifest in the bucket,
// that is, whether it has ever uploaded a segment.
func (p *Partition) HasManifest() bool { return p.m != nil }

// Entries yields the manifest entries of the segments that may hold
// records in r (Range.Overlaps), in offset order. On failure it yields one
// error with a zero Entry and stops.
func (p *Partition) Entries(ctx context.Context, r Range) iter.Seq2[tiering.Entry, error] {
	return func(yield func(tiering.Entry, error) bool) {
		if p.m == nil {
			return
		}
		for e, err := range p.m.Entries(ctx, p.b) {
			if err != nil {
				yield(tiering.Entry{}, fmt.Errorf("topic %x partition %d: %w", p.topicID, p.partition, err))
				return
			}
			if e.BaseOffset >= r.ToOffset {
				return
			}
			if r.Overlaps(e) && !yield(e, nil) {
				return
			}
		}
	}
}

// Segment is the records of one segment object that are in a range.
type Segment struct {
	Entry tiering.Entry
	Key   string // the object's key in the bucket
	// Records are the segment's records in the range, in offset order,
	// decompressed. Their keys, values and headers alias the object and
	// must not be modified. Records of control batches (transaction
	// markers) are never included.
	Records []batch.Record
	// Whole reports that the range left none of the segment's records
	// out; records of control batches do not count.
	Whole bool
}

// ReadSegment fetches the object of segment e with one get, verifies it
// whole (see the package doc) and returns its records in r. A missing
// object wraps tiering.ErrMissingObject (and objectstore.ErrNotExist); an
// object that fails verification, does not match e, or holds a record
// that does not decode wraps tiering.ErrCorrupt. Other errors are the
// bucket's or ctx's. Every error names the object.
func (p *Partition) ReadSegment(ctx context.Context, e tiering.Entry, r Range) (*Segment, error) {
	if p.m == nil {
		return nil, fmt.Errorf("topic %x partition %d has no manifest", p.topicID, p.partition)
	}
	key := p.m.Prefix + e.Key
	seg, err := p.readSegment(ctx, key, e, r)
	if err != nil {
		return nil, fmt.Errorf("topic %x partition %d: segment [%d, %d) %s: %w", p.topicID, p.partition, e.BaseOffset, e.EndOffset, key, err)
	}
	return seg, nil
}

func (p *Partition) readSegment(ctx context.Context, key string, e tiering.Entry, r Range) (*Segment, error) {
	obj, _, err := p.b.Get(ctx, key)
	if errors.Is(err, objectstore.ErrNotExist) {
		return nil, fmt.Errorf("%w: %w", tiering.ErrMissingObject, err)
	}
	if err != nil {
		return nil, err
	}
	if int64(len(obj)) != e.SizeBytes {
		return nil, fmt.Errorf("%w: object is %d bytes, the manifest says %d", tiering.ErrCorrupt, len(obj), e.SizeBytes)
	}
	s, err := tiering.DecodeSegment(obj)
	if err != nil {
		return nil, err
	}
	if f := s.Footer; f.BaseOffset != e.BaseOffset || f.EndOffset != e.EndOffset {
		return nil, fmt.Errorf("%w: object holds offsets [%d, %d), the manifest says [%d, %d)", tiering.ErrCorrupt, f.BaseOffset, f.EndOffset, e.BaseOffset, e.EndOffset)
	}
	recs, whole, err := records(s.Data, r)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", tiering.ErrCorrupt, err)
	}
	return &Segment{Entry: e, Key: key, Records: recs, Whole: whole}, nil
}

// records decodes the records in r of the verified batches in data, and
// reports whether r left none out.
func records(data []byte, r Range) (_ []batch.Record, whole bool, _ error) {
	var (
		out     []batch.Record
		dropped int64
		bad     error
	)
	_, err := batch.Scan(data, func(h batch.Header, raw []byte) bool {
		switch {
		case h.Control():
			return true
		case h.LastOffset() < r.FromOffset || h.BaseOffset >= r.ToOffset || h.MaxTimestamp < r.FromTime:
			dropped += int64(h.NumRecords)
			return true
		}
		recs, err := batch.Records(raw)
		if err != nil {
			bad = fmt.Errorf("batch at offset %d: %w", h.BaseOffset, err)
			return false
		}
		for _, rec := range recs {
			if r.Contains(rec.Offset, rec.Timestamp) {
				out = append(out, rec)
			} else {
				dropped++
			}
		}
		return true
	})
	if bad != nil {
		return nil, false, bad
	}
	if err != nil {
		return nil, false, err
	}
	return out, dropped == 0, nil
}

// Segments yields, for each segment that may hold records in r (see
// Entries), its records in r, as ReadSegment returns them, in offset
// order; see ReadSegments.
func (p *Partition) Segments(ctx context.Context, r Range, readAhead int) iter.Seq2[*Segment, error] {
	return p.ReadSegments(ctx, p.Entries(ctx, r), r, readAhead)
}

// ReadSegments yields, for each entry of entries in turn, the segment's
// records in r, as ReadSegment returns them. It fetches up to readAhead
// objects beyond the one being yielded in the background (0 fetches one at
// a time), so it holds at most readAhead+2 objects in memory. On failure,
// its own or one entries yields, it yields one error with a nil Segment and
// stops. It returns only after its fetches have ended.
func (p *Partition) ReadSegments(ctx context.Context, entries iter.Seq2[tiering.Entry, error], r Range, readAhead int) iter.Seq2[*Segment, error] {
	return func(yield func(*Segment, error) bool) {
		type result struct {
			seg *Segment
			err error
		}
		ctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		defer func() {
			cancel()
			wg.Wait()
		}()
		// futures holds, in offset order, one channel per segment whose
		// fetch has started; its capacity bounds the read-ahead.
		futures := make(chan chan result, max(readAhead, 0))
		wg.Go(func() {
			defer close(futures)
			for e, err := range entries {
				f := make(chan result, 1)
				select {
				case futures <- f:
				case <-ctx.Done():
					return
				}
				if err != nil {
					f <- result{err: err}
					return
				}
				wg.Go(func() {
					seg, err := p.ReadSegment(ctx, e, r)
					f <- result{seg, err}
				})
			}
		})
		for f := range futures {
			res := <-f
			if !yield(res.seg, res.err) || res.err != nil {
				return
			}
		}
		if err := ctx.Err(); err != nil {
			yield(nil, err) // the walk of the entries stopped early
		}
	}
}

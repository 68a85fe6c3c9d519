package broker

import (
	"encoding/binary"
	"net"
	"slices"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fetchFrameMaxVersion is the newest Fetch version fetchFrame encodes: the
// one kmsg v1.15.1 knows. A kmsg that adds a version may add fields, so a
// newer resp.Version falls back to appendResponse until fetchFrame has been
// checked against it (TestFetchFrameKnowsKmsgMaxVersion fails first).
const fetchFrameMaxVersion = 18

// fetchFrame returns the whole response frame of resp, an answer to the
// request with correlation ID corr, as buffers to write in order: the
// encoding is byte for byte appendResponse's, but each partition's record
// data is not copied: it is the slices of records[i] (i counting the
// partitions of all topics in order), or the partition's RecordBatches where
// records[i] is nil. A partition's record data is the concatenation of its
// slices; it is null only where records[i] and RecordBatches are both nil.
// The small fields in between are appended to hdr[:0], which is returned for
// reuse (it may grow) and must not be modified before the buffers are
// written; neither must the record slices. The buffers alternate between
// runs of hdr and record slices, one run where slices follow each other
// directly; empty slices are left out.
//
// ok is false, and nothing is encoded, when resp carries what fetchFrame
// does not encode, and the caller then uses appendResponse: a version above
// fetchFrameMaxVersion, a partition's DivergingEpoch, CurrentLeader or
// SnapshotID other than their defaults, unknown tags anywhere, Brokers, or a
// non-nil records whose length is not the number of partitions.
func fetchFrame(hdr []byte, corr int32, resp *kmsg.FetchResponse, records [][][]byte) (bufs net.Buffers, hdrOut []byte, ok bool) {
	parts, hdrBound, ok := checkFetchFrame(resp, records)
	if !ok {
		return nil, hdr, false
	}
	version := resp.Version
	flexible := resp.IsFlexible()

	// A nil entry of bufs stands for the run of h that ends at the next of
	// runEnds and starts where the previous run ended. The runs are sliced
	// out of h only at the end, since h may move as it grows.
	bufs = make(net.Buffers, 0, 2*parts+1)
	runEnds := make([]int, 0, parts+1)
	runStart := 0
	data := 0 // bytes of record data, which are not in h
	addRecords := func(h, b []byte) {
		if len(b) == 0 {
			return
		}
		if len(h) > runStart {
			bufs = append(bufs, nil)
			runEnds = append(runEnds, len(h))
			runStart = len(h)
		}
		bufs = append(bufs, b)
		data += len(b)
	}

	h := slices.Grow(hdr[:0], hdrBound)
	h = append(h, 0, 0, 0, 0) // size, filled in below
	h = kbin.AppendInt32(h, corr)
	if flexible {
		h = append(h, 0) // response header v1: no tagged fields
	}
	if version >= 1 {
		h = kbin.AppendInt32(h, resp.ThrottleMillis)
	}
	if version >= 7 {
		h = kbin.AppendInt16(h, resp.ErrorCode)
		h = kbin.AppendInt32(h, resp.SessionID)
	}
	h = appendArrayLen(h, len(resp.Topics), flexible)
	i := 0
	for ti := range resp.Topics {
		t := &resp.Topics[ti]
		if version <= 12 {
			if flexible {
				h = kbin.AppendCompactString(h, t.Topic)
			} else {
				h = kbin.AppendString(h, t.Topic)
			}
		} else {
			h = kbin.AppendUuid(h, t.TopicID)
		}
		h = appendArrayLen(h, len(t.Partitions), flexible)
		for pi := range t.Partitions {
			p := &t.Partitions[pi]
			h = kbin.AppendInt32(h, p.Partition)
			h = kbin.AppendInt16(h, p.ErrorCode)
			h = kbin.AppendInt64(h, p.HighWatermark)
			if version >= 4 {
				h = kbin.AppendInt64(h, p.LastStableOffset)
			}
			if version >= 5 {
				h = kbin.AppendInt64(h, p.LogStartOffset)
			}
			if version >= 4 {
				txns := p.AbortedTransactions
				if flexible {
					h = kbin.AppendCompactNullableArrayLen(h, len(txns), txns == nil)
				} else {
					h = kbin.AppendNullableArrayLen(h, len(txns), txns == nil)
				}
				for k := range txns {
					h = kbin.AppendInt64(h, txns[k].ProducerID)
					h = kbin.AppendInt64(h, txns[k].FirstOffset)
					if flexible {
						h = append(h, 0) // no tagged fields
					}
				}
			}
			if version >= 11 {
				h = kbin.AppendInt32(h, p.PreferredReadReplica)
			}
			var rs [][]byte
			if records != nil {
				rs = records[i]
			}
			i++
			switch {
			case rs == nil && p.RecordBatches == nil:
				if flexible {
					h = append(h, 0)
				} else {
					h = kbin.AppendInt32(h, -1)
				}
			case rs == nil:
				h = appendRecordsLen(h, len(p.RecordBatches), flexible)
				addRecords(h, p.RecordBatches)
			default:
				n := 0
				for _, b := range rs {
					n += len(b)
				}
				h = appendRecordsLen(h, n, flexible)
				for _, b := range rs {
					addRecords(h, b)
				}
			}
			if flexible {
				h = append(h, 0) // no tagged fields: checkFetchFrame checked
			}
		}
		if flexible {
			h = append(h, 0)
		}
	}
	if flexible {
		h = append(h, 0)
	}
	if len(h) > runStart {
		bufs = append(bufs, nil)
		runEnds = append(runEnds, len(h))
	}
	binary.BigEndian.PutUint32(h, uint32(len(h)-frameSizeLen+data))

	runStart = 0
	for j, b := range bufs {
		if b == nil {
			bufs[j] = h[runStart:runEnds[0]:runEnds[0]]
			runStart, runEnds = runEnds[0], runEnds[1:]
		}
	}
	return bufs, h, true
}

// checkFetchFrame reports whether fetchFrame encodes resp with records and,
// if so, how many record slices it may reference and a bound on the bytes
// it appends to the header buffer, so that hdr grows at most once.
func checkFetchFrame(resp *kmsg.FetchResponse, records [][][]byte) (parts, hdrBound int, ok bool) {
	if resp.Version < 0 || resp.Version > fetchFrameMaxVersion || len(resp.Brokers) > 0 || resp.UnknownTags.Len() > 0 {
		return 0, 0, false
	}
	// Frame and response header, top-level fields and tags, each length
	// as its longest encoding (5 bytes as a uvarint).
	hdrBound = 4 + 4 + 1 + 4 + 2 + 4 + 5 + 1
	i := 0
	for ti := range resp.Topics {
		t := &resp.Topics[ti]
		if t.UnknownTags.Len() > 0 {
			return 0, 0, false
		}
		hdrBound += 5 + len(t.Topic) + 16 + 5 + 1
		for pi := range t.Partitions {
			p := &t.Partitions[pi]
			if !plainFetchPartition(p) {
				return 0, 0, false
			}
			if records != nil && i < len(records) && records[i] != nil {
				parts += len(records[i])
			} else {
				parts++
			}
			i++
			hdrBound += 4 + 2 + 3*8 + 5 + len(p.AbortedTransactions)*(2*8+1) + 4 + 5 + 1
		}
	}
	if records != nil && len(records) != i {
		return 0, 0, false
	}
	return parts, hdrBound, true
}

// plainFetchPartition reports whether p has its defaults in every tagged
// field, as the broker leaves them, and no unknown tags.
func plainFetchPartition(p *kmsg.FetchResponseTopicPartition) bool {
	for k := range p.AbortedTransactions {
		if p.AbortedTransactions[k].UnknownTags.Len() > 0 {
			return false
		}
	}
	d, l, s := &p.DivergingEpoch, &p.CurrentLeader, &p.SnapshotID
	return p.UnknownTags.Len() == 0 &&
		d.Epoch == -1 && d.EndOffset == -1 && d.UnknownTags.Len() == 0 &&
		l.LeaderID == -1 && l.LeaderEpoch == -1 && l.UnknownTags.Len() == 0 &&
		s.EndOffset == -1 && s.Epoch == -1 && s.UnknownTags.Len() == 0
}

// appendArrayLen appends an array length as kmsg does: a uvarint of n+1 in
// flexible versions, else an int32.
func appendArrayLen(dst []byte, n int, flexible bool) []byte {
	if flexible {
		return kbin.AppendCompactArrayLen(dst, n)
	}
	return kbin.AppendArrayLen(dst, n)
}

// appendRecordsLen appends the length of n bytes of non-null record data.
func appendRecordsLen(dst []byte, n int, flexible bool) []byte {
	if flexible {
		return kbin.AppendUvarint(dst, 1+uint32(n))
	}
	return kbin.AppendInt32(dst, int32(n))
}

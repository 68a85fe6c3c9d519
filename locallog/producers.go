package locallog

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"slices"
	"sort"

	"github.com/strata-io/strata/batch"
)

// maxCachedBatches is how many of a producer's newest batches are remembered
// per partition to answer retries with their original offsets (Kafka's
// max.in.flight.requests.per.connection limit for idempotence).
const maxCachedBatches = 5

const noEpoch = -1

// batchMeta is what a retry of a batch is answered with.
type batchMeta struct {
	firstSeq, lastSeq       int32
	firstOffset, lastOffset int64
}

// producer is one producer id's state on one partition.
type producer struct {
	epoch   int16
	batches []batchMeta // oldest first, at most maxCachedBatches
}

// producers is the idempotent-producer state of a partition, guarded by the
// Partition's mu.
type producers map[int64]*producer

// check decides what to do with an idempotent batch: a duplicate of a cached
// batch (returned), an error, or append (nil, nil).
func (ps producers) check(h batch.Header) (*batchMeta, error) {
	p := ps[h.ProducerID]
	if p == nil {
		// No state (new producer, or its batches are gone by retention):
		// Kafka accepts any sequence here.
		return nil, nil
	}
	if h.ProducerEpoch < p.epoch {
		return nil, fmt.Errorf("producer %d epoch %d is older than %d: %w", h.ProducerID, h.ProducerEpoch, p.epoch, ErrInvalidProducerEpoch)
	}
	if h.ProducerEpoch > p.epoch {
		if h.BaseSequence != 0 && p.epoch != noEpoch {
			return nil, fmt.Errorf("producer %d new epoch %d starts at sequence %d: %w", h.ProducerID, h.ProducerEpoch, h.BaseSequence, ErrOutOfOrderSequence)
		}
		return nil, nil
	}
	last := h.LastSequence()
	for i := range p.batches {
		if b := &p.batches[i]; b.firstSeq == h.BaseSequence && b.lastSeq == last {
			return b, nil
		}
	}
	if n := len(p.batches); n > 0 && !inSequence(p.batches[n-1].lastSeq, h.BaseSequence) {
		return nil, fmt.Errorf("producer %d epoch %d: sequence %d after %d: %w", h.ProducerID, h.ProducerEpoch, h.BaseSequence, p.batches[n-1].lastSeq, ErrOutOfOrderSequence)
	}
	return nil, nil
}

func inSequence(last, next int32) bool {
	return next == last+1 || (last == math.MaxInt32 && next == 0)
}

// update records an appended batch whose first offset is base.
// save returns a copy of producer id's state (nil if it has none), for
// restore to put back.
func (ps producers) save(id int64) *producer {
	p := ps[id]
	if p == nil {
		return nil
	}
	return &producer{epoch: p.epoch, batches: slices.Clone(p.batches)}
}

// restore puts back producer id's state as save returned it.
func (ps producers) restore(id int64, saved *producer) {
	if id < 0 {
		return
	}
	if saved == nil {
		delete(ps, id)
		return
	}
	ps[id] = saved
}

func (ps producers) update(h batch.Header, base int64) {
	if h.ProducerID < 0 {
		return
	}
	p := ps[h.ProducerID]
	if p == nil {
		p = &producer{epoch: h.ProducerEpoch}
		ps[h.ProducerID] = p
	}
	if h.ProducerEpoch != p.epoch {
		p.epoch = h.ProducerEpoch
		p.batches = p.batches[:0]
	}
	if len(p.batches) == maxCachedBatches {
		copy(p.batches, p.batches[1:])
		p.batches = p.batches[:maxCachedBatches-1]
	}
	p.batches = append(p.batches, batchMeta{
		firstSeq: h.BaseSequence, lastSeq: h.LastSequence(),
		firstOffset: base, lastOffset: base + int64(h.LastOffsetDelta),
	})
}

// Producer snapshot file (%020d.snapshot): the state after every batch below
// the offset in its name. The same bytes travel in the producer snapshot
// section of a segment object (package tiering stores them unparsed), so
// this format is also read back from the bucket by RestoreProducers.
// Version 1, big-endian:
//
//	magic     [4]byte "SPS1"
//	count     uint32  producers
//	count × { id int64, epoch int16, n uint8, n × {firstSeq int32, lastSeq int32, firstOffset int64, lastOffset int64} }
//	crc       uint32  CRC-32C of everything before it
const snapshotMagic = "SPS1"

func (ps producers) encode() []byte {
	ids := make([]int64, 0, len(ps))
	for id := range ps {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	b := append([]byte(nil), snapshotMagic...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(ids)))
	for _, id := range ids {
		p := ps[id]
		b = binary.BigEndian.AppendUint64(b, uint64(id))
		b = binary.BigEndian.AppendUint16(b, uint16(p.epoch))
		b = append(b, byte(len(p.batches)))
		for _, m := range p.batches {
			b = binary.BigEndian.AppendUint32(b, uint32(m.firstSeq))
			b = binary.BigEndian.AppendUint32(b, uint32(m.lastSeq))
			b = binary.BigEndian.AppendUint64(b, uint64(m.firstOffset))
			b = binary.BigEndian.AppendUint64(b, uint64(m.lastOffset))
		}
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

func decodeProducers(b []byte) (producers, error) {
	bad := func(what string) (producers, error) {
		return nil, fmt.Errorf("%w: producer snapshot: %s", ErrCorrupt, what)
	}
	if len(b) < 12 || string(b[:4]) != snapshotMagic {
		return bad("header")
	}
	body := b[:len(b)-4]
	if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(b[len(body):]) {
		return bad("checksum")
	}
	n := binary.BigEndian.Uint32(body[4:])
	p := body[8:]
	ps := make(producers, min(n, 1<<16))
	for range n {
		if len(p) < 11 {
			return bad("short producer entry")
		}
		id := int64(binary.BigEndian.Uint64(p))
		pr := &producer{epoch: int16(binary.BigEndian.Uint16(p[8:]))}
		k := int(p[10])
		p = p[11:]
		if k > maxCachedBatches || len(p) < k*24 {
			return bad("short batch list")
		}
		for range k {
			pr.batches = append(pr.batches, batchMeta{
				firstSeq:    int32(binary.BigEndian.Uint32(p)),
				lastSeq:     int32(binary.BigEndian.Uint32(p[4:])),
				firstOffset: int64(binary.BigEndian.Uint64(p[8:])),
				lastOffset:  int64(binary.BigEndian.Uint64(p[16:])),
			})
			p = p[24:]
		}
		ps[id] = pr
	}
	if len(p) != 0 {
		return bad("trailing bytes")
	}
	return ps, nil
}

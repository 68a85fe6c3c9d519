package tiering

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"sort"

	"github.com/strata-io/strata/batch"
	"github.com/strata-io/strata/index"
)

// A segment object holds one sealed local segment. Format version 1:
//
//	data    DataLen bytes   the record batches, byte-for-byte as in the local segment file
//	index   IndexLen bytes  index.Encode of the segment's offset and time indexes
//	footer  FooterSize bytes, all integers big-endian:
//
//	offset  size  field
//	     0     4  magic         "STSG"
//	     4     2  version       SegmentVersion
//	     6     2  flags         0; version 1 defines no flags
//	     8     8  baseOffset    offset of the first record
//	    16     8  endOffset     offset after the last record
//	    24     8  recordCount   sum of the batches' record counts
//	    32     4  batchCount
//	    36     8  minTimestamp  see Footer.MinTimestamp
//	    44     8  maxTimestamp  largest batch max timestamp
//	    52     8  dataLen
//	    60     4  indexLen
//	    64     4  dataCRC       CRC-32C (Castagnoli) of data
//	    68     4  indexCRC      CRC-32C of index
//	    72     4  footerCRC     CRC-32C of footer bytes [0, 72)
//
// The footer sits at the object's end, so one ranged get of the last
// FooterSize bytes (or of the last IndexLen+FooterSize, when the reader
// guesses generously) reads it without knowing anything but the object's
// size. The data CRC covers the batch fields Kafka's batch CRC does not
// (base offset, length, leader epoch).
const (
	// SegmentVersion is the format version EncodeSegment writes.
	SegmentVersion = 1
	// FooterSize is the size of a segment object's footer in bytes.
	FooterSize = 76

	segmentMagic   = "STSG"
	footerCRCStart = FooterSize - 4
	// emptyIndexLen is the size of index.Encode of two empty indexes.
	emptyIndexLen = 16
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Footer is the decoded footer of a segment object.
type Footer struct {
	Version     uint16
	Flags       uint16
	BaseOffset  int64 // offset of the first record
	EndOffset   int64 // offset after the last record
	RecordCount int64
	BatchCount  int32
	// MinTimestamp is the least first timestamp of the batches (the max
	// timestamp of a batch with log-append time). A record with a negative
	// timestamp delta may be older; searches by time use MaxTimestamp.
	MinTimestamp int64
	// MaxTimestamp is the largest max timestamp of the batches.
	MaxTimestamp int64
	DataLen      int64
	IndexLen     int32
	DataCRC      uint32
	IndexCRC     uint32
}

// Size is the size of the whole object in bytes.
func (f Footer) Size() int64 { return f.DataLen + int64(f.IndexLen) + FooterSize }

// IndexRange returns the byte range of the index section in the object, for
// a ranged get.
func (f Footer) IndexRange() (off, n int64) { return f.DataLen, int64(f.IndexLen) }

// VerifyData checks that data is the object's whole data section: its length
// and CRC. It returns an error wrapping ErrCorrupt otherwise. It does not
// parse the batches; DecodeSegment does.
func (f Footer) VerifyData(data []byte) error {
	if int64(len(data)) != f.DataLen {
		return fmt.Errorf("%w: segment %d: data is %d bytes, footer says %d", ErrCorrupt, f.BaseOffset, len(data), f.DataLen)
	}
	if c := crc32.Checksum(data, castagnoli); c != f.DataCRC {
		return fmt.Errorf("%w: segment %d: data crc %08x, footer says %08x", ErrCorrupt, f.BaseOffset, c, f.DataCRC)
	}
	return nil
}

// VerifyIndex checks that idx is the object's whole index section: its
// length and CRC. It returns an error wrapping ErrCorrupt otherwise.
func (f Footer) VerifyIndex(idx []byte) error {
	if int64(len(idx)) != int64(f.IndexLen) {
		return fmt.Errorf("%w: segment %d: index is %d bytes, footer says %d", ErrCorrupt, f.BaseOffset, len(idx), f.IndexLen)
	}
	if c := crc32.Checksum(idx, castagnoli); c != f.IndexCRC {
		return fmt.Errorf("%w: segment %d: index crc %08x, footer says %08x", ErrCorrupt, f.BaseOffset, c, f.IndexCRC)
	}
	return nil
}

// DecodeIndex verifies idx as VerifyIndex does and decodes it. Every error
// wraps ErrCorrupt.
func (f Footer) DecodeIndex(idx []byte) (*index.Offsets, *index.Times, error) {
	if err := f.VerifyIndex(idx); err != nil {
		return nil, nil, err
	}
	offs, times, err := index.Decode(idx)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: segment %d: index section: %w", ErrCorrupt, f.BaseOffset, err)
	}
	return offs, times, nil
}

// EncodeSegment returns the object for a sealed segment whose record
// batches are data and whose first offset is base, with the segment's
// indexes (nil means empty), and the object's footer. It checks the batches
// with batch.ScanVerify: data must be one or more whole batches with good
// CRCs, the first based at base and each next one starting right after the
// last offset of the one before. Index entries must point at batch starts
// in data. The record counts, end offset and timestamps come from the batch
// headers. The object does not alias data.
func EncodeSegment(data []byte, offs *index.Offsets, times *index.Times, base int64) ([]byte, Footer, error) {
	if offs == nil {
		offs = new(index.Offsets)
	}
	if times == nil {
		times = new(index.Times)
	}
	f, starts, err := summarize(data, base)
	if err != nil {
		return nil, Footer{}, fmt.Errorf("encode segment %d: %w", base, err)
	}
	idx := index.Encode(offs, times)
	if len(idx) > math.MaxInt32 {
		return nil, Footer{}, fmt.Errorf("encode segment %d: index of %d bytes is too long", base, len(idx))
	}
	if err := checkIndex(starts, offs, times); err != nil {
		return nil, Footer{}, fmt.Errorf("encode segment %d: %w", base, err)
	}
	f.IndexLen = int32(len(idx))
	f.DataCRC = crc32.Checksum(data, castagnoli)
	f.IndexCRC = crc32.Checksum(idx, castagnoli)

	obj := make([]byte, 0, f.Size())
	obj = append(obj, data...)
	obj = append(obj, idx...)
	obj = appendFooter(obj, f)
	return obj, f, nil
}

func appendFooter(b []byte, f Footer) []byte {
	start := len(b)
	be := binary.BigEndian
	b = append(b, segmentMagic...)
	b = be.AppendUint16(b, f.Version)
	b = be.AppendUint16(b, f.Flags)
	b = be.AppendUint64(b, uint64(f.BaseOffset))
	b = be.AppendUint64(b, uint64(f.EndOffset))
	b = be.AppendUint64(b, uint64(f.RecordCount))
	b = be.AppendUint32(b, uint32(f.BatchCount))
	b = be.AppendUint64(b, uint64(f.MinTimestamp))
	b = be.AppendUint64(b, uint64(f.MaxTimestamp))
	b = be.AppendUint64(b, uint64(f.DataLen))
	b = be.AppendUint32(b, uint32(f.IndexLen))
	b = be.AppendUint32(b, f.DataCRC)
	b = be.AppendUint32(b, f.IndexCRC)
	return be.AppendUint32(b, crc32.Checksum(b[start:], castagnoli))
}

// DecodeFooter decodes the footer from the last FooterSize bytes of tail,
// which may hold more of the object before them. It checks the magic,
// version, flags and footer CRC and that the fields describe a possible
// segment; every error wraps ErrCorrupt and names the field.
func DecodeFooter(tail []byte) (Footer, error) {
	if len(tail) < FooterSize {
		return Footer{}, fmt.Errorf("%w: segment footer needs %d bytes, have %d", ErrCorrupt, FooterSize, len(tail))
	}
	p := tail[len(tail)-FooterSize:]
	be := binary.BigEndian
	if string(p[:4]) != segmentMagic {
		return Footer{}, fmt.Errorf("%w: segment footer magic %q", ErrCorrupt, p[:4])
	}
	if c, want := crc32.Checksum(p[:footerCRCStart], castagnoli), be.Uint32(p[footerCRCStart:]); c != want {
		return Footer{}, fmt.Errorf("%w: segment footer crc %08x, computed %08x", ErrCorrupt, want, c)
	}
	f := Footer{
		Version:      be.Uint16(p[4:]),
		Flags:        be.Uint16(p[6:]),
		BaseOffset:   int64(be.Uint64(p[8:])),
		EndOffset:    int64(be.Uint64(p[16:])),
		RecordCount:  int64(be.Uint64(p[24:])),
		BatchCount:   int32(be.Uint32(p[32:])),
		MinTimestamp: int64(be.Uint64(p[36:])),
		MaxTimestamp: int64(be.Uint64(p[44:])),
		DataLen:      int64(be.Uint64(p[52:])),
		IndexLen:     int32(be.Uint32(p[60:])),
		DataCRC:      be.Uint32(p[64:]),
		IndexCRC:     be.Uint32(p[68:]),
	}
	if err := f.check(); err != nil {
		return Footer{}, fmt.Errorf("%w: segment footer: %v", ErrCorrupt, err)
	}
	if f.IndexLen < emptyIndexLen {
		return Footer{}, fmt.Errorf("%w: segment footer: indexLen %d is below the %d bytes of an empty index", ErrCorrupt, f.IndexLen, emptyIndexLen)
	}
	return f, nil
}

// check reports a footer no EncodeSegment could have written, but for its
// IndexLen and CRCs.
func (f Footer) check() error {
	switch {
	case f.Version != SegmentVersion:
		return fmt.Errorf("unsupported version %d", f.Version)
	case f.Flags != 0:
		return fmt.Errorf("unknown flags %#04x", f.Flags)
	case f.BaseOffset < 0:
		return fmt.Errorf("baseOffset %d is negative", f.BaseOffset)
	case f.EndOffset <= f.BaseOffset:
		return fmt.Errorf("endOffset %d is not above baseOffset %d", f.EndOffset, f.BaseOffset)
	case f.BatchCount < 1 || int64(f.BatchCount) > f.EndOffset-f.BaseOffset:
		return fmt.Errorf("batchCount %d for offsets [%d, %d)", f.BatchCount, f.BaseOffset, f.EndOffset)
	case f.RecordCount < 0 || f.RecordCount > f.EndOffset-f.BaseOffset:
		return fmt.Errorf("recordCount %d for offsets [%d, %d)", f.RecordCount, f.BaseOffset, f.EndOffset)
	case f.MinTimestamp > f.MaxTimestamp:
		return fmt.Errorf("minTimestamp %d above maxTimestamp %d", f.MinTimestamp, f.MaxTimestamp)
	case f.DataLen < int64(f.BatchCount)*batch.HeaderSize || f.DataLen > math.MaxInt64/2:
		return fmt.Errorf("dataLen %d for %d batches", f.DataLen, f.BatchCount)
	}
	return nil
}

// Segment is a whole segment object, decoded and verified.
type Segment struct {
	Footer  Footer
	Data    []byte // the record batches; aliases the object
	Offsets *index.Offsets
	Times   *index.Times
}

// DecodeSegment decodes and fully verifies a whole segment object: the
// footer, both CRCs, the index, and the batches (each batch's CRC, their
// contiguity, and that counts, offsets and timestamps agree with the
// footer). Every error wraps ErrCorrupt. It reads every byte, so it suits
// audits (strata bucket verify) and tests rather than serving fetches.
func DecodeSegment(obj []byte) (*Segment, error) {
	f, err := DecodeFooter(obj)
	if err != nil {
		return nil, err
	}
	if int64(len(obj)) != f.Size() {
		return nil, fmt.Errorf("%w: segment %d: object is %d bytes, footer says %d", ErrCorrupt, f.BaseOffset, len(obj), f.Size())
	}
	data := obj[:f.DataLen:f.DataLen]
	if err := f.VerifyData(data); err != nil {
		return nil, err
	}
	offs, times, err := f.DecodeIndex(obj[f.DataLen : f.DataLen+int64(f.IndexLen)])
	if err != nil {
		return nil, err
	}
	got, starts, err := summarize(data, f.BaseOffset)
	if err != nil {
		return nil, fmt.Errorf("%w: segment %d: %w", ErrCorrupt, f.BaseOffset, err)
	}
	got.IndexLen, got.DataCRC, got.IndexCRC = f.IndexLen, f.DataCRC, f.IndexCRC
	if got != f {
		return nil, fmt.Errorf("%w: segment %d: footer %+v disagrees with the batches %+v", ErrCorrupt, f.BaseOffset, f, got)
	}
	if err := checkIndex(starts, offs, times); err != nil {
		return nil, fmt.Errorf("%w: segment %d: %w", ErrCorrupt, f.BaseOffset, err)
	}
	return &Segment{Footer: f, Data: data, Offsets: offs, Times: times}, nil
}

// summarize walks the batches in data and returns the footer fields they
// determine (all but IndexLen and the CRCs) and where each batch starts.
func summarize(data []byte, base int64) (Footer, []batchStart, error) {
	f := Footer{Version: SegmentVersion, BaseOffset: base, EndOffset: base, DataLen: int64(len(data))}
	if base < 0 {
		return Footer{}, nil, fmt.Errorf("base offset %d is negative", base)
	}
	if len(data) == 0 {
		return Footer{}, nil, errors.New("no batches")
	}
	var (
		bad    error
		pos    int64
		starts []batchStart
	)
	_, err := batch.ScanVerify(data, func(h batch.Header, raw []byte) bool {
		switch {
		case h.BaseOffset != f.EndOffset:
			bad = fmt.Errorf("batch at byte %d has base offset %d, want %d", pos, h.BaseOffset, f.EndOffset)
		case h.LastOffsetDelta < 0:
			bad = fmt.Errorf("batch at byte %d has last offset delta %d", pos, h.LastOffsetDelta)
		case h.BaseOffset > math.MaxInt64-1-int64(h.LastOffsetDelta):
			bad = fmt.Errorf("batch at byte %d ends beyond the largest offset", pos)
		case h.NumRecords < 0:
			bad = fmt.Errorf("batch at byte %d has record count %d", pos, h.NumRecords)
		case f.BatchCount == math.MaxInt32:
			bad = fmt.Errorf("more than %d batches", math.MaxInt32)
		}
		if bad != nil {
			return false
		}
		minTs := h.FirstTimestamp
		if h.LogAppendTime() {
			minTs = h.MaxTimestamp
		}
		if f.BatchCount == 0 || minTs < f.MinTimestamp {
			f.MinTimestamp = minTs
		}
		if f.BatchCount == 0 || h.MaxTimestamp > f.MaxTimestamp {
			f.MaxTimestamp = h.MaxTimestamp
		}
		starts = append(starts, batchStart{pos: pos, rel: h.BaseOffset - base})
		f.BatchCount++
		f.RecordCount += int64(h.NumRecords)
		f.EndOffset = h.LastOffset() + 1
		pos += int64(len(raw))
		return true
	})
	if bad != nil {
		return Footer{}, nil, bad
	}
	if err != nil {
		return Footer{}, nil, err
	}
	if f.MinTimestamp > f.MaxTimestamp {
		// A create-time batch whose first timestamp is above its max: the
		// producer's bytes, and still a valid range for searches.
		f.MinTimestamp = f.MaxTimestamp
	}
	if err := f.check(); err != nil {
		return Footer{}, nil, err
	}
	return f, starts, nil
}

// batchStart is where a batch begins in a segment's data and its offset
// relative to the segment's base.
type batchStart struct {
	pos int64
	rel int64
}

// checkIndex checks that every index entry points at the start of a batch,
// and that an offset entry's relative offset is that batch's.
func checkIndex(starts []batchStart, offs *index.Offsets, times *index.Times) error {
	find := func(p uint32) (batchStart, bool) {
		i := sort.Search(len(starts), func(i int) bool { return starts[i].pos >= int64(p) })
		if i < len(starts) && starts[i].pos == int64(p) {
			return starts[i], true
		}
		return batchStart{}, false
	}
	for _, e := range offs.Entries() {
		s, ok := find(e.Pos)
		if !ok {
			return fmt.Errorf("offset index entry at byte %d is not a batch start", e.Pos)
		}
		if int64(e.RelOffset) != s.rel {
			return fmt.Errorf("offset index entry at byte %d says relative offset %d, the batch there has %d", e.Pos, e.RelOffset, s.rel)
		}
	}
	for _, e := range times.Entries() {
		if _, ok := find(e.Pos); !ok {
			return fmt.Errorf("time index entry at byte %d is not a batch start", e.Pos)
		}
	}
	return nil
}

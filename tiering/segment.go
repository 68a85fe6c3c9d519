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

// A segment object holds one sealed local segment. Format version 2:
//
//	data      DataLen bytes      the record batches, byte-for-byte as in the local segment file
//	index     IndexLen bytes     index.Encode of the segment's offset and time indexes
//	snapshot  SnapshotLen bytes  the local tier's producer snapshot as of endOffset; opaque here, may be empty
//	footer    FooterSizeV2 bytes, all integers big-endian:
//
//	offset  size  field
//	     0     4  snapshotLen   length of the snapshot section; 0 for none
//	     4     4  snapshotCRC   CRC-32C of the snapshot section; 0 for none
//	     8     4  magic         "STSG"
//	    12     2  version       2
//	    14     2  flags         0; version 2 defines no flags
//	    16     8  baseOffset    offset of the first record
//	    24     8  endOffset     offset after the last record
//	    32     8  recordCount   sum of the batches' record counts
//	    40     4  batchCount
//	    44     8  minTimestamp  see Footer.MinTimestamp
//	    52     8  maxTimestamp  largest batch max timestamp
//	    60     8  dataLen
//	    68     4  indexLen
//	    72     4  dataCRC       CRC-32C (Castagnoli) of data
//	    76     4  indexCRC      CRC-32C of index
//	    80     4  footerCRC     CRC-32C of footer bytes [0, 80)
//
// Format version 1 (still read, no longer written) has no snapshot section
// and a footer of FooterSizeV1 bytes: the version 2 footer without its
// first 8 bytes (snapshotLen and snapshotCRC), so magic at 0, version 1
// at 4, and so on up to footerCRC at 72, covering [0, 72).
//
// The last FooterSizeV1 bytes of every version's footer have the same
// layout (fields a version adds go before the magic), so a decoder finds
// the magic and the version at fixed distances from the object's end and
// learns from the version how long the footer is. One ranged get of the
// last MaxFooterSize bytes (never more than the object) therefore reads
// the footer of any version without knowing anything but the object's
// size. The data CRC covers the batch fields Kafka's batch CRC does not
// (base offset, length, leader epoch).
const (
	// SegmentVersion is the format version EncodeSegment writes.
	SegmentVersion = 2
	// FooterSizeV1 is the size of a version 1 footer in bytes.
	FooterSizeV1 = 76
	// FooterSizeV2 is the size of a version 2 footer in bytes.
	FooterSizeV2 = 84
	// MinFooterSize and MaxFooterSize bound the footer of every version
	// this package reads: an object is at least MinFooterSize bytes, and
	// its last MaxFooterSize bytes (or all of it, if shorter) hold its
	// footer.
	MinFooterSize = FooterSizeV1
	MaxFooterSize = FooterSizeV2

	segmentMagic = "STSG"
	// emptyIndexLen is the size of index.Encode of two empty indexes.
	emptyIndexLen = 16
)

// footerSize returns the size of a footer of the given version, or 0 for
// a version this package does not know.
func footerSize(version uint16) int {
	switch version {
	case 1:
		return FooterSizeV1
	case 2:
		return FooterSizeV2
	}
	return 0
}

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
	// SnapshotLen and SnapshotCRC describe the producer snapshot section
	// (version 2); both are 0 when the object has none.
	SnapshotLen int32
	SnapshotCRC uint32
}

// Size is the size of the whole object in bytes.
func (f Footer) Size() int64 {
	return f.DataLen + int64(f.IndexLen) + int64(f.SnapshotLen) + int64(footerSize(f.Version))
}

// IndexRange returns the byte range of the index section in the object, for
// a ranged get.
func (f Footer) IndexRange() (off, n int64) { return f.DataLen, int64(f.IndexLen) }

// SnapshotRange returns the byte range of the producer snapshot section in
// the object, for a ranged get; n is 0 when the object has none.
func (f Footer) SnapshotRange() (off, n int64) {
	return f.DataLen + int64(f.IndexLen), int64(f.SnapshotLen)
}

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
	return f.verifySection("index", idx, f.IndexLen, f.IndexCRC)
}

// VerifySnapshot checks that snap is the object's whole producer snapshot
// section (empty when it has none): its length and CRC. It returns an
// error wrapping ErrCorrupt otherwise. The snapshot's contents are the
// local tier's; tiering does not parse them.
func (f Footer) VerifySnapshot(snap []byte) error {
	return f.verifySection("producer snapshot", snap, f.SnapshotLen, f.SnapshotCRC)
}

// verifySection checks that b, the object's section called name, has the
// length and CRC the footer gives for it.
func (f Footer) verifySection(name string, b []byte, wantLen int32, wantCRC uint32) error {
	if int64(len(b)) != int64(wantLen) {
		return fmt.Errorf("%w: segment %d: %s is %d bytes, footer says %d", ErrCorrupt, f.BaseOffset, name, len(b), wantLen)
	}
	if c := crc32.Checksum(b, castagnoli); c != wantCRC {
		return fmt.Errorf("%w: segment %d: %s crc %08x, footer says %08x", ErrCorrupt, f.BaseOffset, name, c, wantCRC)
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

// EncodeSegment returns the object (format SegmentVersion) for a sealed
// segment whose record batches are data and whose first offset is base,
// with the segment's indexes (nil means empty) and the local tier's
// producer snapshot as of the segment's end (nil or empty means none), and
// the object's footer. It checks the batches
// with batch.ScanVerify: data must be one or more whole batches with good
// CRCs, the first based at base and each next one starting right after the
// last offset of the one before. Index entries must point at batch starts
// in data. The record counts, end offset and timestamps come from the batch
// headers. The object does not alias data.
func EncodeSegment(data []byte, offs *index.Offsets, times *index.Times, base int64, snapshot []byte) ([]byte, Footer, error) {
	return encodeSegment(SegmentVersion, data, offs, times, base, snapshot)
}

// encodeSegment is EncodeSegment in the given format version; version 1,
// which has no snapshot section, is left for tests of the readers.
func encodeSegment(version uint16, data []byte, offs *index.Offsets, times *index.Times, base int64, snapshot []byte) ([]byte, Footer, error) {
	if version == 1 && len(snapshot) > 0 {
		return nil, Footer{}, fmt.Errorf("encode segment %d: format version 1 has no producer snapshot", base)
	}
	if len(snapshot) > math.MaxInt32 {
		return nil, Footer{}, fmt.Errorf("encode segment %d: producer snapshot of %d bytes is too long", base, len(snapshot))
	}
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
	f.Version = version
	f.IndexLen = int32(len(idx))
	f.DataCRC = crc32.Checksum(data, castagnoli)
	f.IndexCRC = crc32.Checksum(idx, castagnoli)
	f.SnapshotLen = int32(len(snapshot))
	f.SnapshotCRC = crc32.Checksum(snapshot, castagnoli)

	obj := make([]byte, 0, f.Size())
	obj = append(obj, data...)
	obj = append(obj, idx...)
	obj = append(obj, snapshot...)
	obj = appendFooter(obj, f)
	return obj, f, nil
}

// appendFooter appends f's footer in the layout of f.Version, which must
// be one footerSize knows.
func appendFooter(b []byte, f Footer) []byte {
	start := len(b)
	be := binary.BigEndian
	if f.Version >= 2 {
		b = be.AppendUint32(b, uint32(f.SnapshotLen))
		b = be.AppendUint32(b, f.SnapshotCRC)
	}
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

// DecodeFooter decodes the footer at the end of tail, which may hold more
// of the object before it: a tail of MaxFooterSize bytes (or the whole
// object, if shorter) always suffices. It finds the version at its fixed
// distance from the end and checks the magic, version, flags and footer
// CRC and that the fields describe a possible segment; every error wraps
// ErrCorrupt and names the field.
func DecodeFooter(tail []byte) (Footer, error) {
	if len(tail) < MinFooterSize {
		return Footer{}, fmt.Errorf("%w: segment footer needs at least %d bytes, have %d", ErrCorrupt, MinFooterSize, len(tail))
	}
	be := binary.BigEndian
	// The layout every version shares: magic and version at the start of
	// the last FooterSizeV1 bytes.
	common := tail[len(tail)-FooterSizeV1:]
	if string(common[:4]) != segmentMagic {
		return Footer{}, fmt.Errorf("%w: segment footer magic %q", ErrCorrupt, common[:4])
	}
	version := be.Uint16(common[4:])
	size := footerSize(version)
	if size == 0 {
		// Checked before the CRC, whose place depends on the version.
		return Footer{}, fmt.Errorf("%w: segment footer: unsupported version %d", ErrCorrupt, version)
	}
	if len(tail) < size {
		return Footer{}, fmt.Errorf("%w: segment footer version %d needs %d bytes, have %d", ErrCorrupt, version, size, len(tail))
	}
	p := tail[len(tail)-size:]
	if c, want := crc32.Checksum(p[:size-4], castagnoli), be.Uint32(p[size-4:]); c != want {
		return Footer{}, fmt.Errorf("%w: segment footer crc %08x, computed %08x", ErrCorrupt, want, c)
	}
	var f Footer
	if version >= 2 {
		f.SnapshotLen = int32(be.Uint32(p))
		f.SnapshotCRC = be.Uint32(p[4:])
	}
	f.Version = version
	f.Flags = be.Uint16(common[6:])
	f.BaseOffset = int64(be.Uint64(common[8:]))
	f.EndOffset = int64(be.Uint64(common[16:]))
	f.RecordCount = int64(be.Uint64(common[24:]))
	f.BatchCount = int32(be.Uint32(common[32:]))
	f.MinTimestamp = int64(be.Uint64(common[36:]))
	f.MaxTimestamp = int64(be.Uint64(common[44:]))
	f.DataLen = int64(be.Uint64(common[52:]))
	f.IndexLen = int32(be.Uint32(common[60:]))
	f.DataCRC = be.Uint32(common[64:])
	f.IndexCRC = be.Uint32(common[68:])
	if err := f.check(); err != nil {
		return Footer{}, fmt.Errorf("%w: segment footer: %v", ErrCorrupt, err)
	}
	if f.IndexLen < emptyIndexLen {
		return Footer{}, fmt.Errorf("%w: segment footer: indexLen %d is below the %d bytes of an empty index", ErrCorrupt, f.IndexLen, emptyIndexLen)
	}
	switch {
	case f.SnapshotLen < 0:
		return Footer{}, fmt.Errorf("%w: segment footer: snapshotLen %d is negative", ErrCorrupt, f.SnapshotLen)
	case f.SnapshotLen == 0 && f.SnapshotCRC != 0:
		return Footer{}, fmt.Errorf("%w: segment footer: snapshotCRC %08x without a snapshot", ErrCorrupt, f.SnapshotCRC)
	}
	return f, nil
}

// check reports a footer no EncodeSegment could have written, but for its
// IndexLen and CRCs.
func (f Footer) check() error {
	switch {
	case footerSize(f.Version) == 0:
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
	// ProducerSnapshot is the producer snapshot section; it aliases the
	// object, and is nil when the object has none.
	ProducerSnapshot []byte
}

// DecodeSegment decodes and fully verifies a whole segment object of any
// version this package reads: the footer, the data, index and snapshot
// CRCs, the index, and the batches (each batch's CRC, their
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
	var snap []byte
	if off, n := f.SnapshotRange(); n > 0 {
		snap = obj[off : off+n : off+n]
	}
	if err := f.VerifySnapshot(snap); err != nil {
		return nil, err
	}
	got, starts, err := summarize(data, f.BaseOffset)
	if err != nil {
		return nil, fmt.Errorf("%w: segment %d: %w", ErrCorrupt, f.BaseOffset, err)
	}
	got.Version, got.IndexLen, got.DataCRC, got.IndexCRC = f.Version, f.IndexLen, f.DataCRC, f.IndexCRC
	got.SnapshotLen, got.SnapshotCRC = f.SnapshotLen, f.SnapshotCRC
	if got != f {
		return nil, fmt.Errorf("%w: segment %d: footer %+v disagrees with the batches %+v", ErrCorrupt, f.BaseOffset, f, got)
	}
	if err := checkIndex(starts, offs, times); err != nil {
		return nil, fmt.Errorf("%w: segment %d: %w", ErrCorrupt, f.BaseOffset, err)
	}
	return &Segment{Footer: f, Data: data, Offsets: offs, Times: times, ProducerSnapshot: snap}, nil
}

// summarize walks the batches in data and returns the footer fields they
// determine (all but IndexLen, the snapshot fields and the CRCs; Version
// is SegmentVersion) and where each batch starts.
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

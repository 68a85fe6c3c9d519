package batch

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
)

// A record batch, magic v2, is laid out as follows; integers are
// big-endian.
//
//	offset  size  field
//	     0     8  baseOffset            offset of the first record
//	     8     4  batchLength           bytes after this field: Size() = batchLength + 12
//	    12     4  partitionLeaderEpoch
//	    16     1  magic                 2
//	    17     4  crc                   CRC-32C (Castagnoli) of bytes [21, Size())
//	    21     2  attributes            bits 0-2 codec, 3 timestamp type,
//	                                    4 transactional, 5 control
//	    23     4  lastOffsetDelta
//	    27     8  baseTimestamp
//	    35     8  maxTimestamp
//	    43     8  producerId
//	    51     2  producerEpoch
//	    53     4  baseSequence
//	    57     4  recordCount
//	    61     …  records, compressed as one stream unless the codec is none
//
// Each record is, with signed (zigzag) varints:
//
//	length varint (bytes after this field), attributes int8,
//	timestampDelta varlong, offsetDelta varint,
//	keyLength varint (-1 for null), key, valueLength varint (-1 for null), value,
//	headerCount varint, then per header:
//	keyLength varint, key, valueLength varint (-1 for null), value
//
// The format is Kafka's, so it has no version constant of ours: magic is
// its version, and this package reads magic 2 only.
const (
	offLength          = 8
	offLeaderEpoch     = 12
	offMagic           = 16
	offCRC             = 17
	offAttributes      = 21
	offLastOffsetDelta = 23
	offFirstTimestamp  = 27
	offMaxTimestamp    = 35
	offProducerID      = 43
	offProducerEpoch   = 51
	offBaseSequence    = 53
	offNumRecords      = 57

	// HeaderSize is the size of the fixed batch header; records follow it.
	HeaderSize = 61

	// lengthEnd is where the bytes counted by batchLength begin.
	lengthEnd = offLength + 4

	magicV2 = 2

	attrCodecMask     = 0x07
	attrLogAppendTime = 0x08
	attrTransactional = 0x10
	attrControl       = 0x20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Codec is the compression codec of a batch's records, attribute bits 0-2.
type Codec int8

// The codecs Kafka defines. Values 5 to 7 are unassigned.
const (
	CodecNone Codec = iota
	CodecGzip
	CodecSnappy
	CodecLZ4
	CodecZstd
)

// String returns the codec's Kafka name, such as "zstd".
func (c Codec) String() string {
	switch c {
	case CodecNone:
		return "none"
	case CodecGzip:
		return "gzip"
	case CodecSnappy:
		return "snappy"
	case CodecLZ4:
		return "lz4"
	case CodecZstd:
		return "zstd"
	}
	return fmt.Sprintf("codec(%d)", int8(c))
}

// Header is the fixed 61-byte header of a record batch, decoded.
type Header struct {
	BaseOffset      int64
	Length          int32 // bytes after the Length field; see Size
	LeaderEpoch     int32
	Magic           int8
	CRC             uint32
	Attributes      int16
	LastOffsetDelta int32
	FirstTimestamp  int64
	MaxTimestamp    int64
	ProducerID      int64
	ProducerEpoch   int16
	BaseSequence    int32
	NumRecords      int32
}

// Size returns the size of the whole batch in bytes, header included.
func (h Header) Size() int { return int(h.Length) + lengthEnd }

// LastOffset returns the offset of the batch's last record.
func (h Header) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// Codec returns the codec the records are compressed with.
func (h Header) Codec() Codec { return Codec(h.Attributes & attrCodecMask) }

// LogAppendTime reports whether the broker's append time, MaxTimestamp,
// stands for the timestamp of every record (timestamp type 1) rather than
// each record's own create time.
func (h Header) LogAppendTime() bool { return h.Attributes&attrLogAppendTime != 0 }

// Transactional reports whether the batch belongs to a transaction.
func (h Header) Transactional() bool { return h.Attributes&attrTransactional != 0 }

// Control reports whether the batch holds control records (transaction
// markers) rather than data.
func (h Header) Control() bool { return h.Attributes&attrControl != 0 }

// LastSequence returns the producer sequence number of the batch's last
// record. Sequences wrap from math.MaxInt32 to 0, as in Kafka; a batch
// without a sequence (BaseSequence -1) yields -1.
func (h Header) LastSequence() int32 {
	if h.BaseSequence == -1 {
		return -1
	}
	s := int64(h.BaseSequence) + int64(h.LastOffsetDelta)
	if s > math.MaxInt32 {
		s -= math.MaxInt32 + 1
	}
	return int32(s)
}

// ParseHeader decodes the first HeaderSize bytes of b. It checks only that
// b is long enough, reporting ErrTruncated otherwise, and that the length
// field could describe a batch, reporting ErrCorrupt otherwise; it checks
// neither the magic nor the CRC and does not require b to hold the whole
// batch. On error the Header is zero.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, fmt.Errorf("%w: header needs %d bytes, have %d", ErrTruncated, HeaderSize, len(b))
	}
	be := binary.BigEndian
	h := Header{
		BaseOffset:      int64(be.Uint64(b)),
		Length:          int32(be.Uint32(b[offLength:])),
		LeaderEpoch:     int32(be.Uint32(b[offLeaderEpoch:])),
		Magic:           int8(b[offMagic]),
		CRC:             be.Uint32(b[offCRC:]),
		Attributes:      int16(be.Uint16(b[offAttributes:])),
		LastOffsetDelta: int32(be.Uint32(b[offLastOffsetDelta:])),
		FirstTimestamp:  int64(be.Uint64(b[offFirstTimestamp:])),
		MaxTimestamp:    int64(be.Uint64(b[offMaxTimestamp:])),
		ProducerID:      int64(be.Uint64(b[offProducerID:])),
		ProducerEpoch:   int16(be.Uint16(b[offProducerEpoch:])),
		BaseSequence:    int32(be.Uint32(b[offBaseSequence:])),
		NumRecords:      int32(be.Uint32(b[offNumRecords:])),
	}
	if h.Length < HeaderSize-lengthEnd || h.Length > math.MaxInt32-lengthEnd {
		// The upper bound keeps Size within an int32, even where int is 32 bits.
		return Header{}, fmt.Errorf("%w: batch length %d out of range", ErrCorrupt, h.Length)
	}
	return h, nil
}

// SetBaseOffset overwrites the base offset of the batch at the start of b.
// The CRC does not cover the field, so the batch stays valid. b must hold
// at least a batch header.
func SetBaseOffset(b []byte, off int64) {
	binary.BigEndian.PutUint64(b[:8], uint64(off))
}

// SetLeaderEpoch overwrites the partition leader epoch of the batch at the
// start of b. The CRC does not cover the field, so the batch stays valid. b
// must hold at least a batch header.
func SetLeaderEpoch(b []byte, epoch int32) {
	binary.BigEndian.PutUint32(b[offLeaderEpoch:offLeaderEpoch+4], uint32(epoch))
}

// Validate checks that b holds exactly one complete batch that a producer
// may send, and returns its header. It reports ErrCorrupt when the bytes are
// not a well-formed v2 batch: b shorter or longer than the length field
// says, a magic other than 2, a CRC mismatch, or, for an uncompressed
// batch, a record whose framing or varints are broken. It reports
// ErrInvalidRecord when the batch is well formed but not acceptable from a
// producer: an unknown codec, a control batch, no records, a
// LastOffsetDelta other than NumRecords-1, or, for an uncompressed batch,
// records whose number differs from NumRecords or whose offset deltas are
// not 0, 1, …, NumRecords-1. Compressed records are not decompressed; they
// are stored as the producer sent them.
//
// On error the Header holds what ParseHeader decoded, or is zero if the
// header itself was unreadable.
func Validate(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		// A producer's batch arrives whole, so a short one is corrupt
		// rather than truncated.
		return Header{}, fmt.Errorf("%w: %d bytes cannot hold a batch header", ErrCorrupt, len(b))
	}
	h, err := ParseHeader(b)
	if err != nil {
		return Header{}, err
	}
	if h.Size() != len(b) {
		return h, fmt.Errorf("%w: batch length field says %d bytes, have %d", ErrCorrupt, h.Size(), len(b))
	}
	if err := verify(h, b); err != nil {
		return h, err
	}
	switch {
	case h.Codec() > CodecZstd:
		return h, fmt.Errorf("%w: unknown compression codec %d", ErrInvalidRecord, h.Codec())
	case h.Control():
		return h, fmt.Errorf("%w: producers may not send control batches", ErrInvalidRecord)
	case h.NumRecords < 1:
		return h, fmt.Errorf("%w: record count %d, want at least 1", ErrInvalidRecord, h.NumRecords)
	case h.LastOffsetDelta != h.NumRecords-1:
		return h, fmt.Errorf("%w: last offset delta %d with %d records", ErrInvalidRecord, h.LastOffsetDelta, h.NumRecords)
	case h.Codec() != CodecNone:
		return h, nil
	}
	d := decoder{b: b[HeaderSize:]}
	for ; d.pos < len(d.b); d.rec++ {
		r := d.record(false)
		if d.err != nil {
			return h, d.err
		}
		if int(r.offsetDelta) != d.rec {
			return h, fmt.Errorf("%w: record %d has offset delta %d", ErrInvalidRecord, d.rec, r.offsetDelta)
		}
	}
	if d.rec != int(h.NumRecords) {
		return h, fmt.Errorf("%w: header counts %d records, batch holds %d", ErrInvalidRecord, h.NumRecords, d.rec)
	}
	return h, nil
}

// verify checks the magic and CRC of b, which holds exactly the batch h.
func verify(h Header, b []byte) error {
	return VerifyParts(h, b[offAttributes:])
}

// CRCStart is where in a batch the bytes its CRC covers begin: everything
// from the attributes on.
const CRCStart = offAttributes

// VerifyParts checks the magic and CRC of batch h, whose bytes from
// CRCStart to its end are the concatenation of parts: a batch that lies in
// pieces of memory is checked where it lies, without joining it first. It
// reports ErrCorrupt as ScanVerify does.
func VerifyParts(h Header, parts ...[]byte) error {
	if h.Magic != magicV2 {
		return fmt.Errorf("%w: unsupported magic %d, want %d", ErrCorrupt, h.Magic, magicV2)
	}
	var c uint32
	for _, p := range parts {
		c = crc32.Update(c, castagnoli, p)
	}
	if c != h.CRC {
		return fmt.Errorf("%w: crc is %#08x, computed %#08x", ErrCorrupt, h.CRC, c)
	}
	return nil
}

// Scan walks the batches laid end to end in b, as in a log segment, and
// calls fn with each one's header and bytes (a subslice of b, not a copy)
// until fn returns false or b is used up. It checks framing only: each
// header must parse, carry magic 2 and fit in b. Use ScanVerify to check
// CRCs too.
//
// n is the offset just past the last batch handed to fn, so b[:n] holds
// whole batches. err is nil when fn stopped the scan or b ends exactly on a
// batch boundary; it wraps ErrTruncated when b ends inside the batch at n
// (a torn tail) and ErrCorrupt when the header at n is impossible.
func Scan(b []byte, fn func(h Header, raw []byte) bool) (n int, err error) {
	return scan(b, false, fn)
}

// ScanVerify is Scan that also checks each batch's CRC before handing it to
// fn, reporting a mismatch as ErrCorrupt at the batch's position. It reads
// every byte, so it suits recovery and audits rather than serving fetches.
func ScanVerify(b []byte, fn func(h Header, raw []byte) bool) (n int, err error) {
	return scan(b, true, fn)
}

func scan(b []byte, verifyCRC bool, fn func(Header, []byte) bool) (int, error) {
	n := 0
	for n < len(b) {
		h, err := ParseHeader(b[n:])
		if err != nil {
			return n, fmt.Errorf("batch at byte %d: %w", n, err)
		}
		if h.Magic != magicV2 {
			return n, fmt.Errorf("batch at byte %d: %w: unsupported magic %d", n, ErrCorrupt, h.Magic)
		}
		if h.Size() > len(b)-n {
			return n, fmt.Errorf("batch at byte %d: %w: needs %d bytes, have %d", n, ErrTruncated, h.Size(), len(b)-n)
		}
		raw := b[n : n+h.Size() : n+h.Size()]
		if verifyCRC {
			if err := verify(h, raw); err != nil {
				return n, fmt.Errorf("batch at byte %d: %w", n, err)
			}
		}
		n += len(raw)
		if !fn(h, raw) {
			break
		}
	}
	return n, nil
}

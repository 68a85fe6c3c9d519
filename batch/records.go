package batch

import (
	"encoding/binary"
	"fmt"
)

// minRecordSize is the smallest encoded record: a one-byte length, the
// attributes byte, and five one-byte varints (timestamp delta, offset delta,
// key length, value length, header count).
const minRecordSize = 7

// Record is one decoded record of a batch.
type Record struct {
	Offset    int64
	Timestamp int64
	Key       []byte // nil when null
	Value     []byte // nil when null
	Headers   []RecordHeader
}

// RecordHeader is one header of a record.
type RecordHeader struct {
	Key   string
	Value []byte // nil when null
}

// Records decodes every record of the batch raw, which must hold exactly one
// batch, decompressing the records first if the batch is compressed. It does
// not check the CRC (Validate and ScanVerify do). Offsets are BaseOffset plus
// each record's offset delta, which need not be consecutive in a compacted
// batch. Timestamps are FirstTimestamp plus each record's delta, or
// MaxTimestamp for every record when the batch carries log-append time.
// Keys and values alias raw, or the decompressed records, so they must be
// copied before raw is reused.
//
// Records reports ErrTruncated when raw is shorter than its batch and
// ErrCorrupt when the batch is not well formed: a magic other than 2, bytes
// after the batch, records that do not decompress or decompress to more than
// 256 MiB, a record count the bytes cannot hold, broken record framing, or
// bytes left after the last record. A batch with no records yields none.
func Records(raw []byte) ([]Record, error) {
	h, err := ParseHeader(raw)
	switch {
	case err != nil:
		return nil, err
	case h.Magic != magicV2:
		return nil, fmt.Errorf("%w: unsupported magic %d, want %d", ErrCorrupt, h.Magic, magicV2)
	case h.Size() > len(raw):
		return nil, fmt.Errorf("%w: batch needs %d bytes, have %d", ErrTruncated, h.Size(), len(raw))
	case h.Size() < len(raw):
		return nil, fmt.Errorf("%w: %d bytes after the batch", ErrCorrupt, len(raw)-h.Size())
	}
	data := raw[HeaderSize:]
	if c := h.Codec(); c != CodecNone {
		if data, err = decompress(c, data, decompressLimit); err != nil {
			return nil, fmt.Errorf("%w: decompress %s records: %w", ErrCorrupt, c, err)
		}
	}
	if h.NumRecords < 0 || int(h.NumRecords) > len(data)/minRecordSize {
		return nil, fmt.Errorf("%w: record count %d is impossible in %d bytes", ErrCorrupt, h.NumRecords, len(data))
	}
	recs := make([]Record, 0, h.NumRecords)
	d := decoder{b: data}
	for ; d.rec < int(h.NumRecords); d.rec++ {
		r := d.record(true)
		if d.err != nil {
			return nil, d.err
		}
		ts := h.FirstTimestamp + r.timestampDelta
		if h.LogAppendTime() {
			ts = h.MaxTimestamp
		}
		recs = append(recs, Record{
			Offset:    h.BaseOffset + int64(r.offsetDelta),
			Timestamp: ts,
			Key:       r.key,
			Value:     r.value,
			Headers:   r.headers,
		})
	}
	if d.pos != len(data) {
		return nil, fmt.Errorf("%w: %d bytes after the last of %d records", ErrCorrupt, len(data)-d.pos, h.NumRecords)
	}
	return recs, nil
}

// decoder reads records from a batch's (decompressed) records region. The
// first error sticks, so a record's fields are read in a row and checked
// once; positions in errors count from the start of the region.
type decoder struct {
	b   []byte
	pos int
	rec int // index of the record being read
	err error
}

// rawRecord is one record's fields as they sit in the batch.
type rawRecord struct {
	timestampDelta int64
	offsetDelta    int32
	key, value     []byte
	headers        []RecordHeader // only when the caller keeps headers
}

func (d *decoder) failf(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: record %d at byte %d: %s", ErrCorrupt, d.rec, d.pos, fmt.Sprintf(format, args...))
	}
}

// record reads one record, which must use exactly the bytes its length
// field claims. Headers are decoded only if keepHeaders is set; either way
// they are bounds checked.
func (d *decoder) record(keepHeaders bool) (r rawRecord) {
	length := d.varint("record length")
	if d.err != nil {
		return r
	}
	if length < 0 || int(length) > len(d.b)-d.pos {
		d.failf("record length %d, %d bytes left", length, len(d.b)-d.pos)
		return r
	}
	// Confine the fields to the record so none can run into the next one.
	all, end := d.b, d.pos+int(length)
	d.b = d.b[:end]
	defer func() { d.b = all }()

	d.skipByte("attributes") // unused by Kafka
	r.timestampDelta = d.varlong("timestamp delta")
	r.offsetDelta = d.varint("offset delta")
	r.key = d.bytes("key", true)
	r.value = d.bytes("value", true)
	n := d.varint("header count")
	if d.err == nil && (n < 0 || int(n) > (end-d.pos)/2) {
		// Each header takes at least two bytes: its two lengths.
		d.failf("header count %d, %d bytes left", n, end-d.pos)
	}
	if d.err != nil {
		return r
	}
	if keepHeaders && n > 0 {
		r.headers = make([]RecordHeader, 0, n)
	}
	for range n {
		k := d.bytes("header key", false)
		v := d.bytes("header value", true)
		if d.err != nil {
			return r
		}
		if keepHeaders {
			r.headers = append(r.headers, RecordHeader{Key: string(k), Value: v})
		}
	}
	if d.pos != end {
		d.failf("%d bytes after the fields of a record of length %d", end-d.pos, length)
	}
	return r
}

func (d *decoder) skipByte(field string) {
	if d.err == nil && d.pos >= len(d.b) {
		d.failf("%s: no bytes left", field)
	}
	if d.err == nil {
		d.pos++
	}
}

// varlong reads a zigzag varint of up to 64 bits.
func (d *decoder) varlong(field string) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b[d.pos:])
	if n <= 0 {
		if n == 0 {
			d.failf("%s: truncated varint", field)
		} else {
			d.failf("%s: varint overflows 64 bits", field)
		}
		return 0
	}
	d.pos += n
	return v
}

// varint reads a zigzag varint that must fit 32 bits. Kafka's 32-bit zigzag
// encoding decodes the same under 64-bit zigzag whenever it fits.
func (d *decoder) varint(field string) int32 {
	v := d.varlong(field)
	if int64(int32(v)) != v {
		d.failf("%s: %d overflows int32", field, v)
		return 0
	}
	return int32(v)
}

// bytes reads a varint length and that many bytes. If nullable, length -1
// stands for null and yields nil. The result's capacity ends with it, so an
// append by the caller cannot overwrite the next field.
func (d *decoder) bytes(field string, nullable bool) []byte {
	n := d.varint(field + " length")
	switch {
	case d.err != nil:
		return nil
	case n == -1 && nullable:
		return nil
	case n < 0:
		d.failf("%s length %d", field, n)
		return nil
	case int(n) > len(d.b)-d.pos:
		d.failf("%s length %d, %d bytes left", field, n, len(d.b)-d.pos)
		return nil
	}
	v := d.b[d.pos : d.pos+int(n) : d.pos+int(n)]
	d.pos += int(n)
	return v
}

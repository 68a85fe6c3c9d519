package batch

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"slices"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Batches in tests are built with franz-go's kmsg types and compressed with
// its producer's compressor, so the decoder is checked against another
// implementation rather than against itself.

// codecs lists every codec, for tests that cover each.
var codecs = []Codec{CodecNone, CodecGzip, CodecSnappy, CodecLZ4, CodecZstd}

// testRecords returns the records most tests put in a batch: a null key, an
// empty key and value, headers including a null value, a negative timestamp
// delta and a value long enough to compress.
func testRecords() []kmsg.Record {
	return []kmsg.Record{
		{OffsetDelta: 0, Key: []byte("k0"), Value: []byte("v0")},
		{OffsetDelta: 1, TimestampDelta64: 5, Value: []byte{}, Headers: []kmsg.Header{
			{Key: "h", Value: []byte("x")}, {Key: "", Value: nil},
		}},
		{OffsetDelta: 2, TimestampDelta64: -3, Key: []byte{}, Value: bytes.Repeat([]byte("abc"), 100)},
	}
}

// wantRecords is what Records should return for recs in a batch with the
// given base offset and first timestamp.
func wantRecords(recs []kmsg.Record, base, ts int64) []Record {
	var out []Record
	for _, r := range recs {
		want := Record{Offset: base + int64(r.OffsetDelta), Timestamp: ts + r.TimestampDelta64, Key: r.Key, Value: r.Value}
		for _, h := range r.Headers {
			want.Headers = append(want.Headers, RecordHeader(h))
		}
		out = append(out, want)
	}
	return out
}

// encodeRecords encodes recs as an uncompressed records region.
func encodeRecords(recs []kmsg.Record) []byte {
	var out []byte
	for _, r := range recs {
		r.Length = 0 // a one-byte varint, so the encoding less one byte is the body
		r.Length = int32(len(r.AppendTo(nil)) - 1)
		out = r.AppendTo(out)
	}
	return out
}

// compress compresses data with c as a franz-go producer does; snappy
// comes out as one raw block.
func compress(t testing.TB, c Codec, data []byte) []byte {
	t.Helper()
	codec := map[Codec]kgo.CompressionCodec{
		CodecGzip:   kgo.GzipCompression(),
		CodecSnappy: kgo.SnappyCompression(),
		CodecLZ4:    kgo.Lz4Compression(),
		CodecZstd:   kgo.ZstdCompression(),
	}
	if c == CodecNone {
		return data
	}
	comp, err := kgo.DefaultCompressor(codec[c])
	if err != nil {
		t.Fatal(err)
	}
	out, used := comp.Compress(new(bytes.Buffer), data)
	if int8(used) != int8(c) {
		t.Fatalf("compress with %s: used codec %d", c, used)
	}
	return slices.Clone(out)
}

// xerial frames data as the Java producer's snappy stream does, in chunks
// of chunk bytes.
func xerial(data []byte, chunk int) []byte {
	out := append(slices.Clone(xerialMagic), 0, 0, 0, 1, 0, 0, 0, 1)
	for c := range slices.Chunk(data, chunk) {
		blk := s2.EncodeSnappy(nil, c)
		out = binary.BigEndian.AppendUint32(out, uint32(len(blk)))
		out = append(out, blk...)
	}
	return out
}

// newBatch returns the header fields a producer would send for recs, with
// body as the (possibly compressed) records region.
func newBatch(c Codec, recs []kmsg.Record, body []byte) kmsg.RecordBatch {
	var maxDelta int64
	for _, r := range recs {
		maxDelta = max(maxDelta, r.TimestampDelta64)
	}
	return kmsg.RecordBatch{
		Magic:           magicV2,
		Attributes:      int16(c),
		LastOffsetDelta: int32(len(recs) - 1),
		FirstTimestamp:  1000,
		MaxTimestamp:    1000 + maxDelta,
		ProducerID:      -1,
		ProducerEpoch:   -1,
		FirstSequence:   -1,
		NumRecords:      int32(len(recs)),
		Records:         body,
	}
}

// seal applies edit, if any, to b, then encodes it with its length and CRC
// filled in.
func seal(b kmsg.RecordBatch, edit func(*kmsg.RecordBatch)) []byte {
	if edit != nil {
		edit(&b)
	}
	b.Length = int32(HeaderSize - lengthEnd + len(b.Records))
	raw := b.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[offCRC:], crc32.Checksum(raw[offAttributes:], castagnoli))
	return raw
}

// batchOf returns a valid batch of recs compressed with c; edit, if not
// nil, may change the batch before its length and CRC are set.
func batchOf(t testing.TB, c Codec, recs []kmsg.Record, edit func(*kmsg.RecordBatch)) []byte {
	t.Helper()
	return seal(newBatch(c, recs, compress(t, c, encodeRecords(recs))), edit)
}

// xerialBatchOf is batchOf for snappy in the Java producer's framing.
func xerialBatchOf(recs []kmsg.Record, edit func(*kmsg.RecordBatch)) []byte {
	return seal(newBatch(CodecSnappy, recs, xerial(encodeRecords(recs), 100)), edit)
}

// rawBatch returns an uncompressed batch claiming n records around a
// hand-made records region, with a correct CRC.
func rawBatch(n int32, body ...[]byte) []byte {
	b := newBatch(CodecNone, nil, slices.Concat(body...))
	b.NumRecords, b.LastOffsetDelta = n, n-1
	return seal(b, nil)
}

// rec encodes one record by hand from its fields after the length, so
// tests can write what kmsg would refuse to.
func rec(fields ...[]byte) []byte {
	body := slices.Concat(fields...)
	return append(vi(int64(len(body))), body...)
}

// vi encodes v as a zigzag varint.
func vi(v int64) []byte { return binary.AppendVarint(nil, v) }

// attrs0 is a record's attributes byte.
var attrs0 = []byte{0}

// with returns a copy of b changed by fn.
func with(b []byte, fn func(b []byte) []byte) []byte { return fn(slices.Clone(b)) }

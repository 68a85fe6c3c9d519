package batch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var update = flag.Bool("update", false, "rewrite testdata/*.bin")

func TestRecords(t *testing.T) {
	recs := testRecords()
	at100 := func(b *kmsg.RecordBatch) { b.FirstOffset = 100 }
	many := make([]kmsg.Record, 1000)
	for i := range many {
		many[i] = kmsg.Record{OffsetDelta: int32(i), TimestampDelta64: int64(i), Value: []byte(strings.Repeat("v", i%50))}
	}
	compacted := slices.Clone(recs)
	compacted[1].OffsetDelta, compacted[2].OffsetDelta = 3, 7

	type test struct {
		name string
		b    []byte
		want []Record
	}
	tests := []test{
		{"snappy xerial", xerialBatchOf(recs, at100), wantRecords(recs, 100, 1000)},
		{"snappy xerial empty", seal(newBatch(CodecSnappy, nil, xerial(nil, 100)), nil), nil},
		{"no records", batchOf(t, CodecNone, nil, nil), nil},
		{"1000 records", batchOf(t, CodecZstd, many, nil), wantRecords(many, 0, 1000)},
		{"compacted, offsets with gaps", batchOf(t, CodecNone, compacted, func(b *kmsg.RecordBatch) {
			b.FirstOffset, b.LastOffsetDelta = 100, 7
		}), wantRecords(compacted, 100, 1000)},
		{"log append time", batchOf(t, CodecGzip, recs, func(b *kmsg.RecordBatch) {
			b.Attributes |= attrLogAppendTime
			b.MaxTimestamp = 5000
		}), func() []Record {
			w := wantRecords(recs, 0, 0)
			for i := range w {
				w[i].Timestamp = 5000
			}
			return w
		}()},
		{"control batch", batchOf(t, CodecNone, recs[:1], func(b *kmsg.RecordBatch) { b.Attributes |= attrControl }), wantRecords(recs[:1], 0, 1000)},
	}
	for _, c := range codecs {
		tests = append(tests, test{c.String(), batchOf(t, c, recs, at100), wantRecords(recs, 100, 1000)})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Records(tt.b)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 0 || len(tt.want) != 0 { // nil and empty are both "no records"
				if !reflect.DeepEqual(got, tt.want) {
					t.Fatalf("Records:\n got %+v\nwant %+v", got, tt.want)
				}
			}
		})
	}
}

func TestRecordsRejects(t *testing.T) {
	recs := testRecords()
	good := batchOf(t, CodecNone, recs, nil)
	edited := func(c Codec, edit func(*kmsg.RecordBatch)) []byte { return batchOf(t, c, recs, edit) }
	withBody := func(c Codec, body []byte) []byte { return seal(newBatch(c, recs, body), nil) }
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"short header", good[:10], ErrTruncated},
		{"short records", good[:len(good)-1], ErrTruncated},
		{"one byte extra", append(slices.Clone(good), 0), ErrCorrupt},
		{"magic 1", with(good, func(b []byte) []byte { b[offMagic] = 1; return b }), ErrCorrupt},
		{"count beyond the bytes", edited(CodecNone, func(b *kmsg.RecordBatch) { b.NumRecords = 1 << 30 }), ErrCorrupt},
		{"compressed count beyond the bytes", edited(CodecZstd, func(b *kmsg.RecordBatch) { b.NumRecords = 1 << 30 }), ErrCorrupt},
		{"count negative", edited(CodecNone, func(b *kmsg.RecordBatch) { b.NumRecords = -1 }), ErrCorrupt},
		{"count above the records", edited(CodecNone, func(b *kmsg.RecordBatch) { b.NumRecords = 4 }), ErrCorrupt},
		{"count below the records", edited(CodecLZ4, func(b *kmsg.RecordBatch) { b.NumRecords = 2 }), ErrCorrupt},
		{"key past the record", rawBatch(1, rec(attrs0, vi(0), vi(0), vi(9), []byte("abc"), vi(-1), vi(0))), ErrCorrupt},
		{"header value past the record", rawBatch(1, rec(attrs0, vi(0), vi(0), vi(-1), vi(-1), vi(1), vi(1), []byte("k"), vi(9))), ErrCorrupt},
		{"unknown codec", edited(CodecNone, func(b *kmsg.RecordBatch) { b.Attributes |= 6 }), ErrCorrupt},
		{"gzip garbage", withBody(CodecGzip, []byte("not gzip at all")), ErrCorrupt},
		{"gzip cut short", withBody(CodecGzip, compress(t, CodecGzip, encodeRecords(recs))[:30]), ErrCorrupt},
		{"snappy garbage", withBody(CodecSnappy, []byte{0xff, 0xff, 0xff}), ErrCorrupt},
		{"snappy claims 2 GiB", withBody(CodecSnappy, binary.AppendUvarint(nil, 1<<31)), ErrCorrupt},
		{"xerial chunk past the end", withBody(CodecSnappy, append(xerial(nil, 1), 0, 0, 1, 0, 1)), ErrCorrupt},
		{"xerial chunk length cut", withBody(CodecSnappy, append(xerial(nil, 1), 0, 0)), ErrCorrupt},
		{"lz4 garbage", withBody(CodecLZ4, []byte("not lz4 at all")), ErrCorrupt},
		{"zstd garbage", withBody(CodecZstd, []byte("not zstd at all")), ErrCorrupt},
		{"zstd cut short", withBody(CodecZstd, compress(t, CodecZstd, encodeRecords(recs))[:20]), ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Records(tt.b)
			if !errors.Is(err, tt.want) || got != nil {
				t.Fatalf("Records = %d records, %v; want %v", len(got), err, tt.want)
			}
			t.Log(err)
		})
	}
}

// TestRecordsBoundsDecompression checks that records decompressing past the
// limit are refused, with the limit lowered so the test stays small.
func TestRecordsBoundsDecompression(t *testing.T) {
	defer func(l int) { decompressLimit = l }(decompressLimit)
	decompressLimit = 64 << 10
	big := []kmsg.Record{{Value: make([]byte, 100<<10)}}
	fits := []kmsg.Record{{Value: make([]byte, 60<<10)}}
	for _, c := range codecs[1:] {
		b := batchOf(t, c, big, nil)
		if len(b) > 10<<10 {
			t.Fatalf("%s: %d-byte batch does not test decompression bounds", c, len(b))
		}
		_, err := Records(b)
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: Records over the limit = %v, want ErrCorrupt", c, err)
		}
		t.Log(err)
		if _, err := Records(batchOf(t, c, fits, nil)); err != nil {
			t.Errorf("%s: Records under the limit = %v", c, err)
		}
	}
	if _, err := Records(xerialBatchOf(big, nil)); !errors.Is(err, ErrCorrupt) {
		t.Errorf("snappy xerial: Records over the limit = %v, want ErrCorrupt", err)
	}
}

// TestDecompressMatchesFranzGo checks decompress against the decompressor
// franz-go consumers use.
func TestDecompressMatchesFranzGo(t *testing.T) {
	data := encodeRecords(testRecords())
	ref := kgo.DefaultDecompressor()
	for _, c := range codecs[1:] {
		for _, src := range [][]byte{compress(t, c, data), xerial(data, 50)} {
			if c != CodecSnappy && bytes.HasPrefix(src, xerialMagic) {
				continue
			}
			want, err := ref.Decompress(src, kgo.CompressionCodecType(c))
			if err != nil {
				t.Fatal(err)
			}
			got, err := decompress(c, src, decompressLimit)
			if err != nil || !bytes.Equal(got, want) || !bytes.Equal(got, data) {
				t.Fatalf("%s: decompress = %d bytes, %v; franz-go %d bytes", c, len(got), err, len(want))
			}
		}
	}
}

// testdataBatches are the batches kept in testdata/ as fuzz seeds and
// regression inputs, each holding testRecords at base offset 100 unless it
// is a log of several batches.
func testdataBatches(t testing.TB) map[string][]byte {
	recs := testRecords()
	at100 := func(b *kmsg.RecordBatch) { b.FirstOffset = 100 }
	m := map[string][]byte{
		"snappy-xerial.bin": xerialBatchOf(recs, at100),
		"transactional.bin": batchOf(t, CodecNone, recs, func(b *kmsg.RecordBatch) {
			at100(b)
			b.Attributes |= attrTransactional
			b.ProducerID, b.ProducerEpoch, b.FirstSequence = 5, 1, 0
		}),
	}
	for _, c := range codecs {
		m[c.String()+".bin"] = batchOf(t, c, recs, at100)
	}
	var log []byte
	for i, c := range codecs {
		b := batchOf(t, c, recs[:1+i%3], nil)
		SetBaseOffset(b, int64(10*i))
		log = append(log, b...)
	}
	m["log.bin"] = log
	return m
}

// TestTestdataBatches decodes the batches in testdata/. With -update it
// first rewrites them from the builders above.
func TestTestdataBatches(t *testing.T) {
	if *update {
		for name, b := range testdataBatches(t) {
			if err := os.WriteFile(filepath.Join("testdata", name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	files, err := filepath.Glob(filepath.Join("testdata", "*.bin"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/*.bin (%v); run with -update", err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		n, err := ScanVerify(b, func(h Header, raw []byte) bool {
			if _, err := Validate(raw); err != nil {
				t.Errorf("%s: batch at %d: Validate = %v", file, h.BaseOffset, err)
			}
			got, err := Records(raw)
			if err != nil || int32(len(got)) != h.NumRecords || got[0].Offset != h.BaseOffset {
				t.Errorf("%s: batch at %d: Records = %d records, %v", file, h.BaseOffset, len(got), err)
			}
			if filepath.Base(file) != "log.bin" && !reflect.DeepEqual(got, wantRecords(testRecords(), 100, 1000)) {
				t.Errorf("%s: Records = %+v", file, got)
			}
			return true
		})
		if n != len(b) || err != nil {
			t.Errorf("%s: ScanVerify = %d of %d bytes, %v", file, n, len(b), err)
		}
	}
}

package history

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/objectstore"
	"github.com/strata-io/strata/objectstore/mem"
	"github.com/strata-io/strata/tiering"
)

var (
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
	testTopic  = [16]byte{0xab, 15: 0x01}
)

// testBatch returns an uncompressed batch at base of n records; record o
// has timestamp 1000+o and value "v<o>".
func testBatch(base int64, n int) []byte {
	var recs []byte
	for i := range n {
		r := kmsg.Record{TimestampDelta64: int64(i), OffsetDelta: int32(i), Value: fmt.Appendf(nil, "v%d", base+int64(i))}
		r.Length = int32(len(r.AppendTo(nil)) - 1)
		recs = r.AppendTo(recs)
	}
	rb := kmsg.RecordBatch{
		FirstOffset: base, Magic: 2, LastOffsetDelta: int32(n - 1), FirstTimestamp: 1000 + base, MaxTimestamp: 1000 + base + int64(n-1),
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: int32(n), Records: recs,
	}
	b := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], castagnoli))
	return b
}

// testPartition commits segments [0,10) [10,20) [20,30) of batches of 5
// records to partition 0 of testTopic in a new bucket, and returns the
// bucket and the entries.
func testPartition(t *testing.T) (objectstore.Bucket, []tiering.Entry) {
	t.Helper()
	b := mem.New()
	prefix := tiering.PartitionPrefix(testTopic, 0)
	w, err := tiering.Acquire(t.Context(), b, prefix, tiering.WriterConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var entries []tiering.Entry
	for base := int64(0); base < 30; base += 10 {
		data := append(testBatch(base, 5), testBatch(base+5, 5)...)
		obj, f, err := tiering.EncodeSegment(data, nil, nil, base, nil)
		if err != nil {
			t.Fatal(err)
		}
		key := tiering.SegmentKey(prefix, base, f.EndOffset, w.Epoch())
		e := tiering.Entry{Key: key[len(prefix):], BaseOffset: base, EndOffset: f.EndOffset, SizeBytes: int64(len(obj)),
			MinTimestamp: f.MinTimestamp, MaxTimestamp: f.MaxTimestamp, Epoch: w.Epoch(), Records: f.RecordCount}
		if _, err := b.Put(t.Context(), key, obj); err != nil {
			t.Fatal(err)
		}
		if err := w.Append(t.Context(), e); err != nil {
			t.Fatal(err)
		}
		entries = append(entries, e)
	}
	return b, entries
}

// readAll returns the offsets Segments yields for r and which segments
// were whole.
func readAll(t *testing.T, p *Partition, r Range, readAhead int) (offsets []int64, whole []bool, err error) {
	for seg, err := range p.Segments(t.Context(), r, readAhead) {
		if err != nil {
			return offsets, whole, err
		}
		for _, rec := range seg.Records {
			if want := fmt.Sprintf("v%d", rec.Offset); string(rec.Value) != want || rec.Timestamp != 1000+rec.Offset {
				t.Errorf("record %d: value %q timestamp %d", rec.Offset, rec.Value, rec.Timestamp)
			}
			offsets = append(offsets, rec.Offset)
		}
		whole = append(whole, seg.Whole)
	}
	return offsets, whole, nil
}

func span(from, to int64) []int64 {
	var out []int64
	for o := from; o < to; o++ {
		out = append(out, o)
	}
	return out
}

func TestSegmentsYieldTheRangeInOffsetOrder(t *testing.T) {
	b, _ := testPartition(t)
	p, err := OpenPartition(t.Context(), b, testTopic, 0)
	if err != nil {
		t.Fatal(err)
	}
	offsets := func(from, to int64) Range { r := All(); r.FromOffset, r.ToOffset = from, to; return r }
	times := func(from, to int64) Range { r := All(); r.FromTime, r.ToTime = from, to; return r }
	tests := []struct {
		name      string
		r         Range
		want      []int64
		wantWhole []bool
	}{
		{"all", All(), span(0, 30), []bool{true, true, true}},
		{"offsets cut two segments", offsets(7, 23), span(7, 23), []bool{false, true, false}},
		{"offsets within a segment", offsets(12, 13), span(12, 13), []bool{false}},
		{"offsets beyond the end", offsets(30, math.MaxInt64), nil, nil},
		{"empty", offsets(5, 5), nil, nil},
		{"times", times(1004, 1016), span(4, 16), []bool{false, false}},
		{"times and offsets", Range{FromOffset: 8, ToOffset: 25, FromTime: 1000, ToTime: 1012}, span(8, 12), []bool{false, false}},
	}
	for _, tt := range tests {
		for _, readAhead := range []int{0, 2} {
			got, whole, err := readAll(t, p, tt.r, readAhead)
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) || fmt.Sprint(whole) != fmt.Sprint(tt.wantWhole) {
				t.Errorf("%s, read-ahead %d: offsets %v whole %v, want %v %v", tt.name, readAhead, got, whole, tt.want, tt.wantWhole)
			}
		}
	}
}

func TestSegmentsFailOnAMissingOrCorruptObject(t *testing.T) {
	tests := []struct {
		name   string
		damage func(b objectstore.Bucket, key string, obj []byte) error
		want   error
	}{
		{"missing", func(b objectstore.Bucket, key string, _ []byte) error { return b.Delete(t.Context(), key) }, tiering.ErrMissingObject},
		{"flipped bit", func(b objectstore.Bucket, key string, obj []byte) error {
			obj[70] ^= 1
			_, err := b.Put(t.Context(), key, obj)
			return err
		}, tiering.ErrCorrupt},
		{"truncated", func(b objectstore.Bucket, key string, obj []byte) error {
			_, err := b.Put(t.Context(), key, obj[:len(obj)-1])
			return err
		}, tiering.ErrCorrupt},
	}
	for _, tt := range tests {
		b, entries := testPartition(t)
		key := tiering.PartitionPrefix(testTopic, 0) + entries[1].Key
		obj, _, err := b.Get(t.Context(), key)
		if err != nil {
			t.Fatal(err)
		}
		if err := tt.damage(b, key, obj); err != nil {
			t.Fatal(err)
		}
		p, err := OpenPartition(t.Context(), b, testTopic, 0)
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := readAll(t, p, All(), 2)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: error %v, want %v", tt.name, err, tt.want)
		} else if want := "segment [10, 20) " + key; !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %q does not name %q", tt.name, err, want)
		}
		if fmt.Sprint(got) != fmt.Sprint(span(0, 10)) {
			t.Errorf("%s: yielded %v before the error, want the first segment only", tt.name, got)
		}
	}
}

func TestOpenPartitionWithoutManifestIsEmpty(t *testing.T) {
	p, err := OpenPartition(t.Context(), mem.New(), testTopic, 3)
	if err != nil {
		t.Fatal(err)
	}
	if p.HasManifest() {
		t.Error("HasManifest reports a manifest in an empty bucket")
	}
	got, _, err := readAll(t, p, All(), 1)
	if err != nil || got != nil {
		t.Errorf("got %v, %v; want nothing", got, err)
	}
}

package tiering

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-io/strata/batch"
	"github.com/strata-io/strata/index"
)

// goldenSegment is the segment the golden file holds: three batches of
// five records at base 100, one with a timestamp delta below zero, indexed
// at the second and third batch.
func goldenSegment(t testing.TB) (data []byte, offs *index.Offsets, times *index.Times) {
	t.Helper()
	b1 := makeBatch(100, 1_700_000_000_000, []int64{0, 5}, "alpha", "beta")
	b2 := makeBatch(102, 1_700_000_000_100, []int64{0}, "gamma")
	b3 := makeBatch(103, 1_700_000_000_200, []int64{0, -50}, "delta", "epsilon")
	for _, b := range [][]byte{b1, b2, b3} {
		if _, err := batch.Validate(b); err != nil {
			t.Fatalf("test batch: %v", err)
		}
	}
	data = append(append(append([]byte(nil), b1...), b2...), b3...)
	offs, times = new(index.Offsets), new(index.Times)
	offs.Append(2, uint32(len(b1)))
	offs.Append(3, uint32(len(b1)+len(b2)))
	times.Append(1_700_000_000_005, uint32(len(b1)))
	times.Append(1_700_000_000_100, uint32(len(b1)+len(b2)))
	return data, offs, times
}

// goldenSnapshot is the producer snapshot of the v2 golden segment:
// opaque bytes to tiering.
var goldenSnapshot = []byte("SPS1 producer state, opaque to tiering")

func TestEncodeSegmentRoundTrip(t *testing.T) {
	for _, snap := range [][]byte{nil, goldenSnapshot} {
		t.Run(fmt.Sprintf("snapshot of %d bytes", len(snap)), func(t *testing.T) {
			testEncodeSegmentRoundTrip(t, snap)
		})
	}
}

func testEncodeSegmentRoundTrip(t *testing.T, snap []byte) {
	data, offs, times := goldenSegment(t)
	obj, f, err := EncodeSegment(data, offs, times, 100, snap)
	if err != nil {
		t.Fatal(err)
	}
	want := Footer{
		Version: SegmentVersion, BaseOffset: 100, EndOffset: 105, RecordCount: 5, BatchCount: 3,
		MinTimestamp: 1_700_000_000_000, MaxTimestamp: 1_700_000_000_200,
		DataLen: int64(len(data)), IndexLen: int32(len(index.Encode(offs, times))),
		DataCRC: f.DataCRC, IndexCRC: f.IndexCRC,
		SnapshotLen: int32(len(snap)), SnapshotCRC: crc32.Checksum(snap, castagnoli),
	}
	if f != want || (len(snap) == 0) != (f.SnapshotCRC == 0) {
		t.Fatalf("footer %+v\nwant   %+v", f, want)
	}
	if int64(len(obj)) != f.Size() || int64(len(obj)) != f.DataLen+int64(f.IndexLen)+int64(len(snap))+FooterSizeV2 ||
		!bytes.Equal(obj[:len(data)], data) {
		t.Fatalf("object of %d bytes does not start with the data or has the wrong size", len(obj))
	}
	// One ranged get of the tail, of any length from FooterSizeV2 up.
	for _, n := range []int{FooterSizeV2, FooterSizeV2 + 1, MaxFooterSize, len(obj)} {
		got, err := DecodeFooter(obj[len(obj)-n:])
		if err != nil || got != f {
			t.Fatalf("DecodeFooter of the last %d bytes = %+v, %v", n, got, err)
		}
	}
	if _, err := DecodeFooter(obj[len(obj)-FooterSizeV1:]); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "needs 84 bytes") {
		t.Fatalf("DecodeFooter of a version 2 footer's last %d bytes: %v", FooterSizeV1, err)
	}
	off, n := f.IndexRange()
	if err := f.VerifyIndex(obj[off : off+n]); err != nil {
		t.Fatal(err)
	}
	if err := f.VerifyData(obj[:f.DataLen]); err != nil {
		t.Fatal(err)
	}
	gotOffs, gotTimes, err := f.DecodeIndex(obj[off : off+n])
	if err != nil || !equalIndexes(gotOffs, gotTimes, offs, times) {
		t.Fatalf("DecodeIndex = %v, %v, %v", gotOffs, gotTimes, err)
	}
	soff, sn := f.SnapshotRange()
	if soff != off+n || sn != int64(len(snap)) || !bytes.Equal(obj[soff:soff+sn], snap) {
		t.Fatalf("SnapshotRange = %d, %d: not the snapshot", soff, sn)
	}
	if err := f.VerifySnapshot(obj[soff : soff+sn]); err != nil {
		t.Fatal(err)
	}
	s, err := DecodeSegment(obj)
	if err != nil {
		t.Fatal(err)
	}
	if s.Footer != f || !bytes.Equal(s.Data, data) || !equalIndexes(s.Offsets, s.Times, offs, times) ||
		!bytes.Equal(s.ProducerSnapshot, snap) || (snap == nil) != (s.ProducerSnapshot == nil) {
		t.Fatalf("DecodeSegment = %+v", s)
	}
	if err := f.VerifyData(data[:len(data)-1]); !errors.Is(err, ErrCorrupt) {
		t.Errorf("VerifyData of short data = %v", err)
	}
	if err := f.VerifySnapshot(append(bytes.Clone(snap), 0)); !errors.Is(err, ErrCorrupt) {
		t.Errorf("VerifySnapshot of a longer snapshot = %v", err)
	}
}

// TestDecodeVersion1Segment: objects written before the snapshot section
// still decode, in full and by their footer from a tail of MaxFooterSize
// bytes, with no snapshot.
func TestDecodeVersion1Segment(t *testing.T) {
	data, offs, times := goldenSegment(t)
	obj, f, err := encodeSegment(1, data, offs, times, 100, nil)
	if err != nil {
		t.Fatal(err)
	}
	if f.Version != 1 || int64(len(obj)) != f.DataLen+int64(f.IndexLen)+FooterSizeV1 || f.Size() != int64(len(obj)) {
		t.Fatalf("version 1 footer %+v for an object of %d bytes", f, len(obj))
	}
	for _, n := range []int{FooterSizeV1, MaxFooterSize, len(obj)} {
		got, err := DecodeFooter(obj[len(obj)-n:])
		if err != nil || got != f {
			t.Fatalf("DecodeFooter of the last %d bytes = %+v, %v", n, got, err)
		}
	}
	s, err := DecodeSegment(obj)
	if err != nil {
		t.Fatal(err)
	}
	if s.Footer != f || !bytes.Equal(s.Data, data) || s.ProducerSnapshot != nil {
		t.Fatalf("DecodeSegment = %+v", s)
	}
	if _, n := f.SnapshotRange(); n != 0 {
		t.Errorf("SnapshotRange of a version 1 object has %d bytes", n)
	}
	if _, _, err := encodeSegment(1, data, offs, times, 100, goldenSnapshot); err == nil {
		t.Error("a version 1 object with a producer snapshot encoded")
	}
}

// TestSegmentCorruptSnapshotIsDetected flips each byte of the snapshot
// section: the footer still decodes (it is intact), but the full decoder
// and VerifySnapshot report the snapshot's CRC.
func TestSegmentCorruptSnapshotIsDetected(t *testing.T) {
	data, offs, times := goldenSegment(t)
	obj, f, err := EncodeSegment(data, offs, times, 100, goldenSnapshot)
	if err != nil {
		t.Fatal(err)
	}
	off, n := f.SnapshotRange()
	for i := off; i < off+n; i++ {
		bad := bytes.Clone(obj)
		bad[i] ^= 0x04
		if got, err := DecodeFooter(bad); err != nil || got != f {
			t.Fatalf("DecodeFooter with snapshot byte %d flipped: %+v, %v", i-off, got, err)
		}
		if _, err := DecodeSegment(bad); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "producer snapshot crc") {
			t.Fatalf("DecodeSegment with snapshot byte %d flipped: %v", i-off, err)
		}
		if err := f.VerifySnapshot(bad[off : off+n]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("VerifySnapshot with byte %d flipped: %v", i-off, err)
		}
	}
}

func equalIndexes(o1 *index.Offsets, t1 *index.Times, o2 *index.Offsets, t2 *index.Times) bool {
	return bytes.Equal(index.Encode(o1, t1), index.Encode(o2, t2))
}

func TestEncodeSegmentNilIndexes(t *testing.T) {
	data, _, _ := goldenSegment(t)
	obj, f, err := EncodeSegment(data, nil, nil, 100, nil)
	if err != nil {
		t.Fatal(err)
	}
	if f.IndexLen != emptyIndexLen {
		t.Errorf("IndexLen = %d, want %d", f.IndexLen, emptyIndexLen)
	}
	if _, err := DecodeSegment(obj); err != nil {
		t.Fatal(err)
	}
}

func TestEncodeSegmentRejects(t *testing.T) {
	data, offs, times := goldenSegment(t)
	h, err := batch.ParseHeader(data)
	if err != nil {
		t.Fatal(err)
	}
	firstLen := h.Size()
	b1 := makeBatch(100, 1, nil, "a", "b")
	badCRC := bytes.Clone(b1)
	badCRC[len(badCRC)-1] ^= 1
	at := func(rel, pos uint32) *index.Offsets {
		x := new(index.Offsets)
		x.Append(rel, pos)
		return x
	}
	atTime := func(pos uint32) *index.Times {
		x := new(index.Times)
		x.Append(1, pos)
		return x
	}
	tests := []struct {
		name  string
		data  []byte
		offs  *index.Offsets
		times *index.Times
		base  int64
		want  string
	}{
		{"no batches", nil, nil, nil, 100, "no batches"},
		{"base differs", data, offs, times, 99, "base offset 100, want 99"},
		{"negative base", makeBatch(-5, 1, nil, "a"), nil, nil, -5, "negative"},
		{"gap", append(bytes.Clone(b1), makeBatch(103, 1, nil, "c")...), nil, nil, 100, "base offset 103, want 102"},
		{"overlap", append(bytes.Clone(b1), makeBatch(101, 1, nil, "c")...), nil, nil, 100, "base offset 101, want 102"},
		{"torn tail", data[:len(data)-3], nil, nil, 100, "truncated"},
		{"bad crc", badCRC, nil, nil, 100, "crc"},
		{"offset index inside a batch", data, at(1, 5), nil, 100, "not a batch start"},
		{"offset index wrong offset", data, at(1, uint32(firstLen)), nil, 100, "relative offset 1, the batch there has 2"},
		{"time index beyond data", data, nil, atTime(uint32(len(data))), 100, "not a batch start"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := EncodeSegment(tt.data, tt.offs, tt.times, tt.base, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one saying %q", err, tt.want)
			}
		})
	}
}

func TestDecodeFooterRejectsFields(t *testing.T) {
	data, offs, times := goldenSegment(t)
	_, good, err := EncodeSegment(data, offs, times, 100, goldenSnapshot)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		edit func(f *Footer)
		want string
	}{
		{"version", func(f *Footer) { f.Version = 3 }, "unsupported version 3"},
		{"version 0", func(f *Footer) { f.Version = 0 }, "unsupported version 0"},
		{"flags", func(f *Footer) { f.Flags = 1 }, "unknown flags"},
		{"base", func(f *Footer) { f.BaseOffset = -1 }, "baseOffset -1"},
		{"end", func(f *Footer) { f.EndOffset = f.BaseOffset }, "endOffset 100"},
		{"batches", func(f *Footer) { f.BatchCount = 0 }, "batchCount 0"},
		{"batches beyond offsets", func(f *Footer) { f.BatchCount = 6 }, "batchCount 6"},
		{"records", func(f *Footer) { f.RecordCount = 6 }, "recordCount 6"},
		{"timestamps", func(f *Footer) { f.MinTimestamp = f.MaxTimestamp + 1 }, "minTimestamp"},
		{"data length", func(f *Footer) { f.DataLen = 10 }, "dataLen 10"},
		{"huge data length", func(f *Footer) { f.DataLen = 1 << 62 }, "dataLen"},
		{"index length", func(f *Footer) { f.IndexLen = 15 }, "indexLen 15"},
		{"snapshot length", func(f *Footer) { f.SnapshotLen = -1 }, "snapshotLen -1"},
		{"snapshot crc without a snapshot", func(f *Footer) { f.SnapshotLen = 0 }, "without a snapshot"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := good
			tt.edit(&f)
			_, err := DecodeFooter(appendFooter(nil, f))
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want ErrCorrupt saying %q", err, tt.want)
			}
		})
	}
}

// testObjects are the objects every-byte tests run over: each format
// version, with and without a producer snapshot.
func testObjects(t testing.TB) []struct {
	name string
	obj  []byte
	f    Footer
} {
	data, offs, times := goldenSegment(t)
	var out []struct {
		name string
		obj  []byte
		f    Footer
	}
	for _, c := range []struct {
		version uint16
		snap    []byte
	}{{1, nil}, {2, nil}, {2, goldenSnapshot}} {
		obj, f, err := encodeSegment(c.version, data, offs, times, 100, c.snap)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, struct {
			name string
			obj  []byte
			f    Footer
		}{fmt.Sprintf("v%d snapshot %d bytes", c.version, len(c.snap)), obj, f})
	}
	return out
}

// TestSegmentEveryFlippedByteIsCorrupt flips each byte of a whole object in
// turn: the footer decoder catches every flip in the footer, and the full
// decoder every flip anywhere.
func TestSegmentEveryFlippedByteIsCorrupt(t *testing.T) {
	for _, tc := range testObjects(t) {
		t.Run(tc.name, func(t *testing.T) {
			obj := tc.obj
			for i := range obj {
				for _, mask := range []byte{0x01, 0x80, 0xff} {
					bad := bytes.Clone(obj)
					bad[i] ^= mask
					if _, err := DecodeSegment(bad); !errors.Is(err, ErrCorrupt) {
						t.Fatalf("DecodeSegment with byte %d ^ %#x: %v, want ErrCorrupt", i, mask, err)
					}
					if i >= len(obj)-footerSize(tc.f.Version) {
						if _, err := DecodeFooter(bad); !errors.Is(err, ErrCorrupt) {
							t.Fatalf("DecodeFooter with byte %d ^ %#x: %v, want ErrCorrupt", i, mask, err)
						}
					}
				}
			}
		})
	}
}

// TestSegmentBaseOffsetIsCovered checks what the batch CRC does not cover:
// a batch renumbered in place (with the footer rebuilt to match) fails the
// data CRC.
func TestSegmentBaseOffsetIsCovered(t *testing.T) {
	data, _, _ := goldenSegment(t)
	obj, f, err := EncodeSegment(data, nil, nil, 100, nil)
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Clone(obj)
	batch.SetLeaderEpoch(bad, 99) // outside Kafka's CRC
	if _, err := DecodeSegment(bad); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "data crc") {
		t.Fatalf("DecodeSegment after changing a leader epoch: %v", err)
	}
	// A footer that lies about the batches, with valid CRCs, is caught too.
	f.RecordCount = 4
	lie := appendFooter(bytes.Clone(obj[:len(obj)-FooterSizeV2]), f)
	if _, err := DecodeSegment(lie); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "disagrees") {
		t.Fatalf("DecodeSegment with a lying footer: %v", err)
	}
}

func TestSegmentTruncationsNeverPanic(t *testing.T) {
	for _, tc := range testObjects(t) {
		t.Run(tc.name, func(t *testing.T) {
			obj, f := tc.obj, tc.f
			for n := range len(obj) {
				if _, err := DecodeSegment(obj[:n]); !errors.Is(err, ErrCorrupt) {
					t.Fatalf("DecodeSegment of the first %d bytes: %v", n, err)
				}
				_, err := DecodeFooter(obj[:n])
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("DecodeFooter of the first %d bytes: %v", n, err)
				}
				if _, err := DecodeFooter(obj[n:]); (err == nil) != (len(obj)-n >= footerSize(f.Version)) {
					t.Fatalf("DecodeFooter of the last %d bytes: %v", len(obj)-n, err)
				}
				if idxEnd := f.DataLen + int64(f.IndexLen); int64(n) >= f.DataLen && int64(n) < idxEnd {
					if _, _, err := f.DecodeIndex(obj[f.DataLen:n]); !errors.Is(err, ErrCorrupt) {
						t.Fatalf("DecodeIndex of %d of %d index bytes: %v", int64(n)-f.DataLen, f.IndexLen, err)
					}
				}
				if off, sn := f.SnapshotRange(); int64(n) >= off && int64(n) < off+sn {
					if err := f.VerifySnapshot(obj[off:n]); !errors.Is(err, ErrCorrupt) {
						t.Fatalf("VerifySnapshot of %d of %d snapshot bytes: %v", int64(n)-off, sn, err)
					}
				}
			}
		})
	}
}

// TestSegmentGolden checks the segment format against testdata: the golden
// object (with a producer snapshot) still decodes to the same footer, and
// encoding its batches, indexes and snapshot again gives the same bytes.
// -update rewrites it.
func TestSegmentGolden(t *testing.T) {
	data, offs, times := goldenSegment(t)
	obj, _, err := EncodeSegment(data, offs, times, 100, goldenSnapshot)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("segment-v%d.golden", SegmentVersion)
	goldenCheck(t, name, obj)

	golden, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	s, err := DecodeSegment(golden)
	if err != nil {
		t.Fatalf("golden segment: %v", err)
	}
	if s.Footer.Version != 2 || s.Footer.BaseOffset != 100 || s.Footer.EndOffset != 105 || s.Footer.RecordCount != 5 || s.Footer.BatchCount != 3 ||
		!bytes.Equal(s.ProducerSnapshot, goldenSnapshot) {
		t.Errorf("golden footer %+v, snapshot %q", s.Footer, s.ProducerSnapshot)
	}
	again, _, err := EncodeSegment(s.Data, s.Offsets, s.Times, s.Footer.BaseOffset, s.ProducerSnapshot)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, golden) {
		t.Errorf("re-encoding the golden segment gives different bytes")
	}
}

// TestSegmentGoldenV1 checks that the version 1 golden object, written
// before producer snapshots, still decodes: same footer, no snapshot, and
// the same bytes when encoded again in version 1.
func TestSegmentGoldenV1(t *testing.T) {
	golden, err := os.ReadFile(filepath.Join("testdata", "segment-v1.golden"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := DecodeSegment(golden)
	if err != nil {
		t.Fatalf("golden segment: %v", err)
	}
	if s.Footer.Version != 1 || s.Footer.BaseOffset != 100 || s.Footer.EndOffset != 105 || s.Footer.RecordCount != 5 ||
		s.Footer.BatchCount != 3 || s.Footer.SnapshotLen != 0 || s.ProducerSnapshot != nil {
		t.Errorf("golden footer %+v", s.Footer)
	}
	data, offs, times := goldenSegment(t)
	if !bytes.Equal(s.Data, data) || !equalIndexes(s.Offsets, s.Times, offs, times) {
		t.Errorf("golden segment holds other batches or indexes")
	}
	again, _, err := encodeSegment(1, s.Data, s.Offsets, s.Times, s.Footer.BaseOffset, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, golden) {
		t.Errorf("re-encoding the golden segment in version 1 gives different bytes")
	}
}

// FuzzDecodeSegment: bucket bytes never panic the decoders, and whatever
// decodes re-encodes, in its own version, to the same bytes.
func FuzzDecodeSegment(f *testing.F) {
	for _, tc := range testObjects(f) {
		f.Add(tc.obj)
		f.Add(tc.obj[len(tc.obj)-footerSize(tc.f.Version):])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if foot, err := DecodeFooter(b); err == nil {
			if got := appendFooter(nil, foot); !bytes.Equal(got, b[len(b)-footerSize(foot.Version):]) {
				t.Fatalf("footer re-encodes differently")
			}
		}
		s, err := DecodeSegment(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		again, _, err := encodeSegment(s.Footer.Version, s.Data, s.Offsets, s.Times, s.Footer.BaseOffset, s.ProducerSnapshot)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("decoded segment re-encodes to %d bytes (%v), had %d", len(again), err, len(b))
		}
	})
}

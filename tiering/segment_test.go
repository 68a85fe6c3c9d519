package tiering

import (
	"bytes"
	"errors"
	"fmt"
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

func TestEncodeSegmentRoundTrip(t *testing.T) {
	data, offs, times := goldenSegment(t)
	obj, f, err := EncodeSegment(data, offs, times, 100)
	if err != nil {
		t.Fatal(err)
	}
	want := Footer{
		Version: SegmentVersion, BaseOffset: 100, EndOffset: 105, RecordCount: 5, BatchCount: 3,
		MinTimestamp: 1_700_000_000_000, MaxTimestamp: 1_700_000_000_200,
		DataLen: int64(len(data)), IndexLen: int32(len(index.Encode(offs, times))),
		DataCRC: f.DataCRC, IndexCRC: f.IndexCRC,
	}
	if f != want {
		t.Fatalf("footer %+v\nwant   %+v", f, want)
	}
	if int64(len(obj)) != f.Size() || !bytes.Equal(obj[:len(data)], data) {
		t.Fatalf("object of %d bytes does not start with the data", len(obj))
	}
	// One ranged get of the tail, of any length from FooterSize up.
	for _, n := range []int{FooterSize, FooterSize + 1, len(obj)} {
		got, err := DecodeFooter(obj[len(obj)-n:])
		if err != nil || got != f {
			t.Fatalf("DecodeFooter of the last %d bytes = %+v, %v", n, got, err)
		}
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
	s, err := DecodeSegment(obj)
	if err != nil {
		t.Fatal(err)
	}
	if s.Footer != f || !bytes.Equal(s.Data, data) || !equalIndexes(s.Offsets, s.Times, offs, times) {
		t.Fatalf("DecodeSegment = %+v", s)
	}
	if err := f.VerifyData(data[:len(data)-1]); !errors.Is(err, ErrCorrupt) {
		t.Errorf("VerifyData of short data = %v", err)
	}
}

func equalIndexes(o1 *index.Offsets, t1 *index.Times, o2 *index.Offsets, t2 *index.Times) bool {
	return bytes.Equal(index.Encode(o1, t1), index.Encode(o2, t2))
}

func TestEncodeSegmentNilIndexes(t *testing.T) {
	data, _, _ := goldenSegment(t)
	obj, f, err := EncodeSegment(data, nil, nil, 100)
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
			_, _, err := EncodeSegment(tt.data, tt.offs, tt.times, tt.base)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one saying %q", err, tt.want)
			}
		})
	}
}

func TestDecodeFooterRejectsFields(t *testing.T) {
	data, offs, times := goldenSegment(t)
	_, good, err := EncodeSegment(data, offs, times, 100)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		edit func(f *Footer)
		want string
	}{
		{"version", func(f *Footer) { f.Version = 2 }, "unsupported version 2"},
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

// TestSegmentEveryFlippedByteIsCorrupt flips each byte of a whole object in
// turn: the footer decoder catches every flip in the footer, and the full
// decoder every flip anywhere.
func TestSegmentEveryFlippedByteIsCorrupt(t *testing.T) {
	data, offs, times := goldenSegment(t)
	obj, _, err := EncodeSegment(data, offs, times, 100)
	if err != nil {
		t.Fatal(err)
	}
	for i := range obj {
		for _, mask := range []byte{0x01, 0x80, 0xff} {
			bad := bytes.Clone(obj)
			bad[i] ^= mask
			if _, err := DecodeSegment(bad); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("DecodeSegment with byte %d ^ %#x: %v, want ErrCorrupt", i, mask, err)
			}
			if i >= len(obj)-FooterSize {
				if _, err := DecodeFooter(bad); !errors.Is(err, ErrCorrupt) {
					t.Fatalf("DecodeFooter with byte %d ^ %#x: %v, want ErrCorrupt", i, mask, err)
				}
			}
		}
	}
}

// TestSegmentBaseOffsetIsCovered checks what the batch CRC does not cover:
// a batch renumbered in place (with the footer rebuilt to match) fails the
// data CRC.
func TestSegmentBaseOffsetIsCovered(t *testing.T) {
	data, _, _ := goldenSegment(t)
	obj, f, err := EncodeSegment(data, nil, nil, 100)
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
	lie := appendFooter(bytes.Clone(obj[:len(obj)-FooterSize]), f)
	if _, err := DecodeSegment(lie); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "disagrees") {
		t.Fatalf("DecodeSegment with a lying footer: %v", err)
	}
}

func TestSegmentTruncationsNeverPanic(t *testing.T) {
	data, offs, times := goldenSegment(t)
	obj, f, err := EncodeSegment(data, offs, times, 100)
	if err != nil {
		t.Fatal(err)
	}
	for n := range len(obj) {
		if _, err := DecodeSegment(obj[:n]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("DecodeSegment of the first %d bytes: %v", n, err)
		}
		_, err := DecodeFooter(obj[:n])
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("DecodeFooter of the first %d bytes: %v", n, err)
		}
		if _, err := DecodeFooter(obj[n:]); (err == nil) != (len(obj)-n >= FooterSize) {
			t.Fatalf("DecodeFooter of the last %d bytes: %v", len(obj)-n, err)
		}
		if idxEnd := f.DataLen + int64(f.IndexLen); int64(n) >= f.DataLen && int64(n) < idxEnd {
			if _, _, err := f.DecodeIndex(obj[f.DataLen:n]); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("DecodeIndex of %d of %d index bytes: %v", int64(n)-f.DataLen, f.IndexLen, err)
			}
		}
	}
}

// TestSegmentGolden checks the segment format against testdata: the golden
// object still decodes to the same footer, and encoding its batches and
// indexes again gives the same bytes. -update rewrites it.
func TestSegmentGolden(t *testing.T) {
	data, offs, times := goldenSegment(t)
	obj, _, err := EncodeSegment(data, offs, times, 100)
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
	if s.Footer.BaseOffset != 100 || s.Footer.EndOffset != 105 || s.Footer.RecordCount != 5 || s.Footer.BatchCount != 3 {
		t.Errorf("golden footer %+v", s.Footer)
	}
	again, _, err := EncodeSegment(s.Data, s.Offsets, s.Times, s.Footer.BaseOffset)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, golden) {
		t.Errorf("re-encoding the golden segment gives different bytes")
	}
}

// FuzzDecodeSegment: bucket bytes never panic the decoders, and whatever
// decodes re-encodes to the same bytes.
func FuzzDecodeSegment(f *testing.F) {
	data, offs, times := goldenSegment(f)
	obj, _, err := EncodeSegment(data, offs, times, 100)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(obj)
	f.Add(obj[len(obj)-FooterSize:])
	f.Fuzz(func(t *testing.T, b []byte) {
		if foot, err := DecodeFooter(b); err == nil {
			if got := appendFooter(nil, foot); !bytes.Equal(got, b[len(b)-FooterSize:]) {
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
		again, _, err := EncodeSegment(s.Data, s.Offsets, s.Times, s.Footer.BaseOffset)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("decoded segment re-encodes to %d bytes (%v), had %d", len(again), err, len(b))
		}
	})
}

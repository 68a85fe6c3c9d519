package batch

import (
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestParseHeaderDecodesEveryField(t *testing.T) {
	raw := batchOf(t, CodecZstd, testRecords(), func(b *kmsg.RecordBatch) {
		b.FirstOffset = 1 << 40
		b.PartitionLeaderEpoch = 7
		b.Attributes |= attrTransactional | attrLogAppendTime
		b.FirstTimestamp, b.MaxTimestamp = -5, 1<<50
		b.ProducerID, b.ProducerEpoch, b.FirstSequence = 99, 3, math.MaxInt32
	})
	got, err := ParseHeader(raw)
	if err != nil {
		t.Fatal(err)
	}
	want := Header{
		BaseOffset: 1 << 40, Length: int32(len(raw) - 12), LeaderEpoch: 7, Magic: 2,
		CRC: binary.BigEndian.Uint32(raw[17:]), Attributes: int16(CodecZstd) | attrTransactional | attrLogAppendTime,
		LastOffsetDelta: 2, FirstTimestamp: -5, MaxTimestamp: 1 << 50,
		ProducerID: 99, ProducerEpoch: 3, BaseSequence: math.MaxInt32, NumRecords: 3,
	}
	if got != want {
		t.Fatalf("ParseHeader:\n got %+v\nwant %+v", got, want)
	}
	if got.Size() != len(raw) || got.LastOffset() != 1<<40+2 || got.Codec() != CodecZstd ||
		!got.Transactional() || !got.LogAppendTime() || got.Control() || got.LastSequence() != 1 {
		t.Fatalf("accessors of %+v disagree with the batch", got)
	}
}

func TestParseHeaderRejects(t *testing.T) {
	good := batchOf(t, CodecNone, testRecords(), nil)
	withLength := func(n int32) []byte {
		return with(good, func(b []byte) []byte { binary.BigEndian.PutUint32(b[offLength:], uint32(n)); return b })
	}
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrTruncated},
		{"one byte short of a header", good[:HeaderSize-1], ErrTruncated},
		{"length below the header", withLength(HeaderSize - 13), ErrCorrupt},
		{"negative length", withLength(-1), ErrCorrupt},
		{"length past int32 with the prefix", withLength(math.MaxInt32 - 11), ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if h, err := ParseHeader(tt.b); !errors.Is(err, tt.want) || h != (Header{}) {
				t.Fatalf("ParseHeader = %+v, %v; want zero, %v", h, err, tt.want)
			}
		})
	}
	// The header alone is enough, even with a length that runs past it.
	if _, err := ParseHeader(good[:HeaderSize]); err != nil {
		t.Fatalf("ParseHeader(header only) = %v", err)
	}
}

func TestHeaderLastSequenceWrapsLikeKafka(t *testing.T) {
	tests := []struct {
		base, delta, want int32
	}{
		{0, 0, 0},
		{10, 4, 14},
		{-1, 4, -1}, // no sequence
		{math.MaxInt32, 0, math.MaxInt32},
		{math.MaxInt32 - 1, 1, math.MaxInt32},
		{math.MaxInt32 - 1, 2, 0},
		{math.MaxInt32, 5, 4},
	}
	for _, tt := range tests {
		h := Header{BaseSequence: tt.base, LastOffsetDelta: tt.delta}
		if got := h.LastSequence(); got != tt.want {
			t.Errorf("LastSequence(base %d, delta %d) = %d, want %d", tt.base, tt.delta, got, tt.want)
		}
	}
}

func TestHeaderCodecAndFlags(t *testing.T) {
	tests := []struct {
		attrs                  int16
		codec                  Codec
		name                   string
		txn, control, appendTS bool
	}{
		{0x00, CodecNone, "none", false, false, false},
		{0x01, CodecGzip, "gzip", false, false, false},
		{0x1a, CodecSnappy, "snappy", true, false, true},
		{0x33, CodecLZ4, "lz4", true, true, false},
		{0x24, CodecZstd, "zstd", false, true, false},
		{0x07, Codec(7), "codec(7)", false, false, false},
	}
	for _, tt := range tests {
		h := Header{Attributes: tt.attrs}
		if h.Codec() != tt.codec || h.Codec().String() != tt.name || h.Transactional() != tt.txn ||
			h.Control() != tt.control || h.LogAppendTime() != tt.appendTS {
			t.Errorf("attributes %#x: codec %s, txn %t, control %t, log append time %t", tt.attrs,
				h.Codec(), h.Transactional(), h.Control(), h.LogAppendTime())
		}
	}
}

func TestValidate(t *testing.T) {
	recs := testRecords()
	good := batchOf(t, CodecNone, recs, nil)
	minimal := rec(attrs0, vi(0), vi(0), vi(-1), vi(-1), vi(0))
	edited := func(edit func(*kmsg.RecordBatch)) []byte { return batchOf(t, CodecNone, recs, edit) }
	tests := []struct {
		name string
		b    []byte
		want error // nil for a valid batch
	}{
		{"uncompressed", good, nil},
		{"gzip", batchOf(t, CodecGzip, recs, nil), nil},
		{"snappy", batchOf(t, CodecSnappy, recs, nil), nil},
		{"snappy xerial", xerialBatchOf(recs, nil), nil},
		{"lz4", batchOf(t, CodecLZ4, recs, nil), nil},
		{"zstd", batchOf(t, CodecZstd, recs, nil), nil},
		{"one record", batchOf(t, CodecNone, recs[:1], nil), nil},
		{"minimal record", rawBatch(1, minimal), nil},
		{"transactional", edited(func(b *kmsg.RecordBatch) {
			b.Attributes |= attrTransactional
			b.ProducerID, b.ProducerEpoch, b.FirstSequence = 5, 1, 0
		}), nil},
		{"base offset and epoch set", with(good, func(b []byte) []byte { SetBaseOffset(b, 9); SetLeaderEpoch(b, 3); return b }), nil},

		// Framing: ErrCorrupt.
		{"empty", nil, ErrCorrupt},
		{"shorter than a header", good[:HeaderSize-1], ErrCorrupt},
		{"one byte short", good[:len(good)-1], ErrCorrupt},
		{"one byte extra", append(slices.Clone(good), 0), ErrCorrupt},
		{"two batches", slices.Concat(good, good), ErrCorrupt},
		{"length below the header", with(good, func(b []byte) []byte { b[offLength+3] = 10; return b }), ErrCorrupt},
		{"magic 1", with(good, func(b []byte) []byte { b[offMagic] = 1; return b }), ErrCorrupt},
		{"crc field flipped", with(good, func(b []byte) []byte { b[offCRC] ^= 1; return b }), ErrCorrupt},
		{"value byte flipped", with(good, func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), ErrCorrupt},
		{"compressed byte flipped", with(batchOf(t, CodecZstd, recs, nil), func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), ErrCorrupt},
		{"record length past the end", rawBatch(1, vi(7), attrs0, vi(0), vi(0), vi(-1), vi(-1), vi(0)), ErrCorrupt},
		{"record length negative", rawBatch(1, vi(-1), attrs0, vi(0), vi(0), vi(-1), vi(-1), vi(0)), ErrCorrupt},
		{"record longer than its fields", rawBatch(1, rec(attrs0, vi(0), vi(0), vi(-1), vi(-1), vi(0), []byte{0})), ErrCorrupt},
		{"record empty", rawBatch(1, vi(0)), ErrCorrupt},
		{"key length -2", rawBatch(1, rec(attrs0, vi(0), vi(0), vi(-2), vi(-1), vi(0))), ErrCorrupt},
		{"value past the record", rawBatch(1, rec(attrs0, vi(0), vi(0), vi(-1), vi(4), []byte("ab"), vi(0))), ErrCorrupt},
		{"null header key", rawBatch(1, rec(attrs0, vi(0), vi(0), vi(-1), vi(-1), vi(1), vi(-1), vi(-1))), ErrCorrupt},
		{"header count huge", rawBatch(1, rec(attrs0, vi(0), vi(0), vi(-1), vi(-1), vi(1<<30))), ErrCorrupt},
		{"header count negative", rawBatch(1, rec(attrs0, vi(0), vi(0), vi(-1), vi(-1), vi(-1))), ErrCorrupt},
		{"varint of 11 bytes", rawBatch(1, rec(attrs0, slices.Repeat([]byte{0xff}, 10), []byte{1}, vi(0), vi(-1), vi(-1), vi(0))), ErrCorrupt},
		{"offset delta beyond int32", rawBatch(1, rec(attrs0, vi(0), vi(1<<40), vi(-1), vi(-1), vi(0))), ErrCorrupt},
		{"varint cut by the record end", rawBatch(1, rec(attrs0, vi(0), vi(0), vi(-1), vi(-1), []byte{0x80})), ErrCorrupt},
		{"garbage after the last record", rawBatch(1, minimal, []byte{0}), ErrCorrupt},

		// Well formed but not acceptable from a producer: ErrInvalidRecord.
		{"no records", batchOf(t, CodecNone, nil, nil), ErrInvalidRecord},
		{"last offset delta off", edited(func(b *kmsg.RecordBatch) { b.LastOffsetDelta = 5 }), ErrInvalidRecord},
		{"control batch", edited(func(b *kmsg.RecordBatch) { b.Attributes |= attrControl }), ErrInvalidRecord},
		{"unknown codec", edited(func(b *kmsg.RecordBatch) { b.Attributes |= 5 }), ErrInvalidRecord},
		{"count above the records", edited(func(b *kmsg.RecordBatch) { b.NumRecords, b.LastOffsetDelta = 4, 3 }), ErrInvalidRecord},
		{"count below the records", edited(func(b *kmsg.RecordBatch) { b.NumRecords, b.LastOffsetDelta = 2, 1 }), ErrInvalidRecord},
		{"offset deltas skip", rawBatch(2, minimal, rec(attrs0, vi(0), vi(2), vi(-1), vi(-1), vi(0))), ErrInvalidRecord},
		{"offset deltas repeat", rawBatch(2, minimal, minimal), ErrInvalidRecord},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := Validate(tt.b)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				if h.Size() != len(tt.b) {
					t.Fatalf("Validate header size %d, batch %d bytes", h.Size(), len(tt.b))
				}
				return
			}
			other := map[error]error{ErrCorrupt: ErrInvalidRecord, ErrInvalidRecord: ErrCorrupt}[tt.want]
			if !errors.Is(err, tt.want) || errors.Is(err, other) {
				t.Fatalf("Validate = %v, want %v", err, tt.want)
			}
			t.Log(err)
		})
	}
}

// TestValidateDetectsEveryByteFlip flips each byte of a batch in turn: only
// the base offset and leader epoch, which the broker overwrites, may change
// unnoticed.
func TestValidateDetectsEveryByteFlip(t *testing.T) {
	for _, c := range codecs {
		good := batchOf(t, c, testRecords(), nil)
		for i := range good {
			b := with(good, func(b []byte) []byte { b[i] ^= 0x41; return b })
			_, err := Validate(b)
			unchecked := i < offLength || (i >= offLeaderEpoch && i < offMagic)
			if unchecked != (err == nil) {
				t.Fatalf("%s: flip byte %d: Validate = %v", c, i, err)
			}
		}
	}
}

// TestCutAtEveryByte cuts valid batches short at every position: nothing
// panics, Validate calls the rest corrupt, and Records and Scan call it
// truncated.
func TestCutAtEveryByte(t *testing.T) {
	for _, c := range codecs {
		good := batchOf(t, c, testRecords(), nil)
		for i := range len(good) {
			b := good[:i]
			if _, err := Validate(b); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("%s cut at %d: Validate = %v, want ErrCorrupt", c, i, err)
			}
			if _, err := Records(b); !errors.Is(err, ErrTruncated) {
				t.Fatalf("%s cut at %d: Records = %v, want ErrTruncated", c, i, err)
			}
			n, err := ScanVerify(b, func(Header, []byte) bool { t.Fatal("fn called"); return false })
			if n != 0 || (i > 0) != errors.Is(err, ErrTruncated) || (i == 0) != (err == nil) {
				t.Fatalf("%s cut at %d: ScanVerify = %d, %v", c, i, n, err)
			}
		}
	}
}

func TestSetBaseOffsetAndLeaderEpochKeepBatchValid(t *testing.T) {
	b := batchOf(t, CodecLZ4, testRecords(), nil)
	SetBaseOffset(b, 1<<33)
	SetLeaderEpoch(b, 12)
	h, err := Validate(b)
	if err != nil {
		t.Fatal(err)
	}
	if h.BaseOffset != 1<<33 || h.LeaderEpoch != 12 || h.LastOffset() != 1<<33+2 {
		t.Fatalf("header after setters: %+v", h)
	}
	recs, err := Records(b)
	if err != nil || recs[0].Offset != 1<<33 {
		t.Fatalf("Records after SetBaseOffset: %v, %v", recs, err)
	}
}

func TestScan(t *testing.T) {
	b0 := batchOf(t, CodecNone, testRecords(), nil)
	b1 := batchOf(t, CodecZstd, testRecords(), nil)
	b2 := xerialBatchOf(testRecords()[:1], nil)
	SetBaseOffset(b1, 3)
	SetBaseOffset(b2, 6)
	log := slices.Concat(b0, b1, b2)
	crcBad := slices.Concat(b0, with(b1, func(b []byte) []byte { b[HeaderSize] ^= 1; return b }), b2)
	magicBad := slices.Concat(b0, with(b1, func(b []byte) []byte { b[offMagic] = 1; return b }))

	tests := []struct {
		name    string
		log     []byte
		verify  bool
		stop    int // fn returns false on this batch; -1 never
		wantN   int
		wantErr error
		want    []int64 // base offsets handed to fn
	}{
		{"empty", nil, true, -1, 0, nil, nil},
		{"whole log", log, false, -1, len(log), nil, []int64{0, 3, 6}},
		{"whole log verified", log, true, -1, len(log), nil, []int64{0, 3, 6}},
		{"stop after first", log, true, 0, len(b0), nil, []int64{0}},
		{"torn in the last header", log[:len(b0)+len(b1)+20], true, -1, len(b0) + len(b1), ErrTruncated, []int64{0, 3}},
		{"torn in the last records", log[:len(log)-1], true, -1, len(b0) + len(b1), ErrTruncated, []int64{0, 3}},
		{"short zero tail", append(slices.Clone(log), make([]byte, 20)...), true, -1, len(log), ErrTruncated, []int64{0, 3, 6}},
		{"long zero tail", append(slices.Clone(log), make([]byte, 100)...), false, -1, len(log), ErrCorrupt, []int64{0, 3, 6}},
		{"bad magic", magicBad, false, -1, len(b0), ErrCorrupt, []int64{0}},
		{"bad crc unverified", crcBad, false, -1, len(log), nil, []int64{0, 3, 6}},
		{"bad crc verified", crcBad, true, -1, len(b0), ErrCorrupt, []int64{0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			scan := Scan
			if tt.verify {
				scan = ScanVerify
			}
			var got []int64
			pos := 0
			n, err := scan(tt.log, func(h Header, raw []byte) bool {
				// raw is the next batch of the log itself, not a copy.
				if h.Size() != len(raw) || offsetOf(tt.log, raw) != pos {
					t.Errorf("batch %d: header size %d, raw %d bytes at %d, want at %d",
						len(got), h.Size(), len(raw), offsetOf(tt.log, raw), pos)
				}
				pos += len(raw)
				got = append(got, h.BaseOffset)
				return len(got)-1 != tt.stop
			})
			if n != tt.wantN || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("scan = %d, %v; want %d, %v", n, err, tt.wantN, tt.wantErr)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("base offsets %v, want %v", got, tt.want)
			}
		})
	}
}

// offsetOf returns where sub starts within b, or -1 if sub is not a
// subslice of b.
func offsetOf(b, sub []byte) int {
	for i := range len(b) - len(sub) + 1 {
		if &b[i] == &sub[0] {
			return i
		}
	}
	return -1
}

func TestVerifyPartsAtEverySplit(t *testing.T) {
	good := batchOf(t, CodecNone, testRecords(), nil)
	h, err := ParseHeader(good)
	if err != nil {
		t.Fatal(err)
	}
	body := good[CRCStart:]
	bad := with(good, func(b []byte) []byte { b[len(b)-1] ^= 1; return b })[CRCStart:]
	for i := range len(body) + 1 {
		if err := VerifyParts(h, body[:i], nil, body[i:]); err != nil {
			t.Fatalf("split at %d: %v", i, err)
		}
		if err := VerifyParts(h, bad[:i], bad[i:]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("flipped last byte, split at %d: %v; want ErrCorrupt", i, err)
		}
	}
	if err := VerifyParts(h); !errors.Is(err, ErrCorrupt) {
		t.Errorf("no parts: %v; want ErrCorrupt", err)
	}
}

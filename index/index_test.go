package index

import (
	"errors"
	"testing"
)

func TestOffsetsLookup(t *testing.T) {
	var x Offsets
	x.Append(10, 4096)
	x.Append(25, 8200)
	x.Append(25, 9000) // not increasing: ignored
	x.Append(40, 12300)
	for _, tc := range []struct {
		rel  uint32
		want uint32
	}{{0, 0}, {9, 0}, {10, 4096}, {24, 4096}, {25, 8200}, {39, 8200}, {40, 12300}, {1 << 30, 12300}} {
		if got := x.Lookup(tc.rel); got != tc.want {
			t.Errorf("Lookup(%d) = %d, want %d", tc.rel, got, tc.want)
		}
	}
	if x.Len() != 3 {
		t.Fatalf("Len = %d, want 3", x.Len())
	}
}

func TestTimesLookup(t *testing.T) {
	var x Times
	x.Append(100, 4096)
	x.Append(100, 8192) // equal timestamps are allowed
	x.Append(90, 9000)  // falling: ignored
	x.Append(300, 12288)
	for _, tc := range []struct {
		ts   int64
		want uint32
	}{{0, 0}, {100, 0}, {101, 8192}, {300, 8192}, {301, 12288}} {
		if got := x.Lookup(tc.ts); got != tc.want {
			t.Errorf("Lookup(%d) = %d, want %d", tc.ts, got, tc.want)
		}
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	var o Offsets
	var tm Times
	for i := uint32(1); i < 100; i++ {
		o.Append(i*7, i*4096)
		tm.Append(int64(i)*1000, i*4096)
	}
	b := Encode(&o, &tm)
	o2, t2, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if o2.Len() != o.Len() || t2.Len() != tm.Len() {
		t.Fatalf("lengths %d/%d, want %d/%d", o2.Len(), t2.Len(), o.Len(), tm.Len())
	}
	for i := range o.entries {
		if o.entries[i] != o2.entries[i] || tm.entries[i] != t2.entries[i] {
			t.Fatalf("entry %d differs", i)
		}
	}
}

func TestDecodeRejectsDamage(t *testing.T) {
	var o Offsets
	var tm Times
	o.Append(1, 10)
	tm.Append(5, 10)
	good := Encode(&o, &tm)
	for i := range good {
		b := append([]byte(nil), good...)
		b[i] ^= 0x40
		if _, _, err := Decode(b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("flipped byte %d: err = %v, want ErrCorrupt", i, err)
		}
	}
	for n := range len(good) {
		if _, _, err := Decode(good[:n]); !errors.Is(err, ErrCorrupt) {
			t.Errorf("truncated to %d: err = %v, want ErrCorrupt", n, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	var o Offsets
	var tm Times
	o.Append(3, 100)
	tm.Append(7, 100)
	f.Add(Encode(&o, &tm))
	f.Add(Encode(&Offsets{}, &Times{}))
	f.Fuzz(func(t *testing.T, b []byte) {
		o, tm, err := Decode(b)
		if err != nil {
			return
		}
		again := Encode(o, tm)
		if string(again) != string(b) {
			t.Fatalf("decode→encode changed the bytes")
		}
	})
}

package batch

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// addSeeds seeds f with the batches in testdata/ and with each of them cut
// short and followed by a second copy, so the fuzzer starts from valid
// batches, torn ones and logs.
func addSeeds(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.bin"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
		f.Add(slices.Concat(b, b))
	}
	f.Add(rawBatch(1, rec(attrs0, vi(0), vi(0), vi(-1), vi(-1), vi(0))))
}

// capDecompression lowers the decompression limit to 1 MiB for the rest of
// f, so that a mutated length claim cannot make each input allocate
// hundreds of MiB.
func capDecompression(f *testing.F) {
	old := decompressLimit
	decompressLimit = 1 << 20
	f.Cleanup(func() { decompressLimit = old })
}

// FuzzValidateRecordBatch checks that Validate never panics, reports only
// its two sentinels, and that whatever it accepts the rest of the package
// accepts too. Each input is also tried with its CRC corrected, so that the
// fuzzer reaches the record checks behind the CRC.
func FuzzValidateRecordBatch(f *testing.F) {
	capDecompression(f)
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		checkValidate(t, b)
		if len(b) >= HeaderSize {
			b = slices.Clone(b)
			binary.BigEndian.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], castagnoli))
			checkValidate(t, b)
		}
	})
}

// checkValidate validates b and, if it is accepted, checks that Scan and
// ScanVerify consume it whole as one batch, that Records decodes NumRecords
// consecutive records from it if it is uncompressed, and that the setters
// keep it valid.
func checkValidate(t *testing.T, b []byte) {
	h, err := Validate(b)
	if err != nil {
		if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrInvalidRecord) {
			t.Fatalf("Validate = %v, want ErrCorrupt or ErrInvalidRecord", err)
		}
		return
	}
	for _, scan := range []func([]byte, func(Header, []byte) bool) (int, error){Scan, ScanVerify} {
		count := 0
		n, err := scan(b, func(got Header, raw []byte) bool {
			count++
			if got != h || len(raw) != len(b) {
				t.Fatalf("scan yields %+v (%d bytes), Validate %+v (%d bytes)", got, len(raw), h, len(b))
			}
			return true
		})
		if n != len(b) || err != nil || count != 1 {
			t.Fatalf("scan = %d of %d bytes, %d batches, %v", n, len(b), count, err)
		}
	}
	recs, err := Records(b)
	if h.Codec() == CodecNone {
		if err != nil || int32(len(recs)) != h.NumRecords {
			t.Fatalf("Records = %d records, %v; header counts %d", len(recs), err, h.NumRecords)
		}
		for i, r := range recs {
			if r.Offset != h.BaseOffset+int64(i) {
				t.Fatalf("record %d has offset %d, base %d", i, r.Offset, h.BaseOffset)
			}
		}
	}
	c := slices.Clone(b)
	SetBaseOffset(c, h.BaseOffset+1)
	SetLeaderEpoch(c, h.LeaderEpoch+1)
	if _, err := Validate(c); err != nil {
		t.Fatalf("Validate after setters = %v", err)
	}
}

// FuzzRecords checks that Records and the scanners never panic on any
// bytes, report only their sentinels, and agree with the headers they
// return; and that scanning in two reads, the second resuming where the
// first stopped, finds the same batches as scanning once.
func FuzzRecords(f *testing.F) {
	capDecompression(f)
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := Records(b)
		switch {
		case err == nil:
			if h, _ := ParseHeader(b); int32(len(recs)) != h.NumRecords {
				t.Fatalf("Records = %d records, header counts %d", len(recs), h.NumRecords)
			}
		case !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrCorrupt):
			t.Fatalf("Records = %v, want ErrTruncated or ErrCorrupt", err)
		}

		ends, n, err := scanEnds(t, Scan, b)
		vends, vn, _ := scanEnds(t, ScanVerify, b)
		if vn > n || !slices.Equal(vends, ends[:len(vends)]) {
			t.Fatalf("ScanVerify found batches ending at %v, Scan %v", vends, ends)
		}
		if len(b) == 0 {
			return
		}
		k := int(b[0]) * len(b) / 256
		ends1, n1, _ := scanEnds(t, Scan, b[:k])
		ends2, n2, err2 := scanEnds(t, Scan, b[n1:])
		for _, e := range ends2 {
			ends1 = append(ends1, n1+e)
		}
		if !slices.Equal(ends1, ends) || n1+n2 != n || (err == nil) != (err2 == nil) ||
			errors.Is(err, ErrTruncated) != errors.Is(err2, ErrTruncated) {
			t.Fatalf("split at %d: batches end at %v, %v; unsplit %v, %v", k, ends1, err2, ends, err)
		}
	})
}

// scanEnds runs scan over b and returns where each batch it yields ends,
// after checking the scanner's contract: batches are contiguous, n is where
// the last one ends, and err is nil exactly when n is len(b), else one of
// the two sentinels.
func scanEnds(t *testing.T, scan func([]byte, func(Header, []byte) bool) (int, error), b []byte) ([]int, int, error) {
	var ends []int
	pos := 0
	n, err := scan(b, func(h Header, raw []byte) bool {
		if h.Size() != len(raw) || pos+len(raw) > len(b) || (len(raw) > 0 && &raw[0] != &b[pos]) {
			t.Fatalf("batch at %d: header size %d, raw %d bytes", pos, h.Size(), len(raw))
		}
		pos += len(raw)
		ends = append(ends, pos)
		return true
	})
	if n != pos || (err == nil) != (n == len(b)) {
		t.Fatalf("scan = %d of %d bytes, %v; batches end at %d", n, len(b), err, pos)
	}
	if err != nil && !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrCorrupt) {
		t.Fatalf("scan = %v, want ErrTruncated or ErrCorrupt", err)
	}
	return ends, n, err
}

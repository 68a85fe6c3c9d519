package locallog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"testing"
)

// walBatch is a one-record batch based at offset base, padded to about size
// bytes.
func walBatch(base int64, size int) []byte {
	b := makeBatch(-1, -1, -1, 1, 1000, fmt.Sprintf("%0*d", max(1, size-80), base))
	binary.BigEndian.PutUint64(b, uint64(base))
	return b
}

// appendWAL appends n one-record batches of partition name at offsets from
// base on, each about size bytes, and syncs them.
func appendWAL(t *testing.T, w *wal, name string, base int64, n, size int) {
	t.Helper()
	for i := range n {
		if _, err := w.append(name, walBatch(base+int64(i), size)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.sync(); err != nil {
		t.Fatal(err)
	}
}

// offsetsOf returns the base offsets of recs.
func offsetsOf(recs []walRecord) []int64 {
	var out []int64
	for _, r := range recs {
		out = append(out, r.base)
	}
	return out
}

func wantOffsets(t *testing.T, what string, got []walRecord, from, to int64) {
	t.Helper()
	offs := offsetsOf(got)
	if len(offs) != int(to-from) {
		t.Fatalf("%s: offsets %v, want [%d, %d)", what, offs, from, to)
	}
	for i, o := range offs {
		if o != from+int64(i) {
			t.Fatalf("%s: offsets %v, want [%d, %d)", what, offs, from, to)
		}
	}
}

func openTestWAL(t *testing.T, dir string) (*wal, map[string][]walRecord) {
	t.Helper()
	w, recs, err := openWAL(dir, osOpenFile)
	if err != nil {
		t.Fatal(err)
	}
	w.maxFileBytes = 8 << 10
	t.Cleanup(func() { _ = w.close() })
	return w, recs
}

// TestWALRecycledFileYieldsOnlyItsOwnRecords fills WAL files, checkpoints
// them into spares, and writes fewer bytes into a reused one than its
// previous life held: the stale records after the new ones must not come
// back at recovery (they would be replayed as data of their partition).
func TestWALRecycledFileYieldsOnlyItsOwnRecords(t *testing.T) {
	dir := t.TempDir()
	w, _ := openTestWAL(t, dir)
	appendWAL(t, w, "old-0", 0, 40, 1000) // about five files of 8 KiB
	old := w.checkpointable()
	if len(old) < 3 {
		t.Fatalf("only %d closed WAL files; the test needs rotations", len(old))
	}
	spareInfo, err := os.Stat(walPath(dir, old[0]))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.remove(old); err != nil {
		t.Fatal(err)
	}
	if spares, _ := listWAL(dir, walSparePrefix); len(spares) != walMaxSpares {
		t.Fatalf("spares after a checkpoint of %d files: %v, want %d", len(old), spares, walMaxSpares)
	}
	// Fill the current file so that the next record starts a new one,
	// then write a little into that one: a reused spare.
	w.mu.Lock()
	cur := w.seq
	w.mu.Unlock()
	for {
		appendWAL(t, w, "new-0", 0, 1, 1000)
		w.mu.Lock()
		rotated := w.seq != cur
		w.mu.Unlock()
		if rotated {
			break
		}
	}
	w.mu.Lock()
	reused := w.seq
	w.mu.Unlock()
	info, err := os.Stat(walPath(dir, reused))
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(spareInfo, info) {
		t.Fatalf("WAL file %d is a new file, not the spare", reused)
	}
	if info.Size() < 4<<10 {
		t.Fatalf("the reused file has %d bytes: no stale records in it to test with", info.Size())
	}
	// A crash (no close): recovery reads what is on disk.
	_, recs := openTestWAL(t, dir)
	if len(recs["old-0"]) == 0 {
		t.Fatal("the records of old-0 in the files not checkpointed are gone")
	}
	for _, r := range recs["old-0"] {
		if r.base < 0 || r.base >= 40 {
			t.Fatalf("old-0 record at %d", r.base)
		}
	}
	// old-0's records run to its end without a gap: none from a spare's
	// previous life crept in between.
	got := offsetsOf(recs["old-0"])
	wantOffsets(t, "old-0", recs["old-0"], got[0], 40)
	if n := len(recs["new-0"]); n == 0 {
		t.Fatal("no records of new-0")
	}
	for _, r := range recs["new-0"] {
		if r.base != 0 {
			t.Fatalf("new-0 record at %d", r.base)
		}
	}
	// Every record in the reused file was written to it after its reuse.
	only := make(map[string][]walRecord)
	if err := readWALFile(walPath(dir, reused), reused, false, only); err != nil {
		t.Fatal(err)
	}
	if len(only) != 1 || len(only["new-0"]) != 1 {
		t.Fatalf("the reused file holds %d old-0 and %d new-0 records, want 0 and 1", len(only["old-0"]), len(only["new-0"]))
	}
}

// TestWALEarlierRecycledFileEndsAtItsEndRecord checks that a reused file
// that is no longer the last reads up to its end record, without calling
// its previous life's bytes after it corruption.
func TestWALEarlierRecycledFileEndsAtItsEndRecord(t *testing.T) {
	dir := t.TempDir()
	w, _ := openTestWAL(t, dir)
	appendWAL(t, w, "a-0", 0, 40, 1000)
	if err := w.remove(w.checkpointable()); err != nil {
		t.Fatal(err)
	}
	// Small records now: the reused files end long before their old end.
	appendWAL(t, w, "a-0", 40, 60, 300)
	if _, recs := openTestWAL(t, dir); len(recs["a-0"]) == 0 {
		t.Fatal("no records")
	} else {
		got := offsetsOf(recs["a-0"])
		wantOffsets(t, "a-0", recs["a-0"], got[0], 100)
		if got[0] > 40 {
			t.Fatalf("records from %d on, want from 40 or before", got[0])
		}
	}
}

// TestWALReadsVersion1Files reads files written before version 2: no
// header, record CRCs without the file number, a torn last file.
func TestWALReadsVersion1Files(t *testing.T) {
	dir := t.TempDir()
	v1 := func(name string, b []byte) []byte {
		body := binary.BigEndian.AppendUint16(nil, uint16(len(name)))
		body = append(append(body, name...), b...)
		rec := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
		rec = binary.BigEndian.AppendUint32(rec, crc32.Checksum(body, castagnoli))
		return append(rec, body...)
	}
	var f0, f1 []byte
	for i := range int64(5) {
		f0 = append(f0, v1("p-0", walBatch(i, 200))...)
		f1 = append(f1, v1("p-0", walBatch(5+i, 200))...)
	}
	f1 = append(f1, v1("p-0", walBatch(10, 200))[:50]...) // torn
	if err := os.WriteFile(walPath(dir, 0), f0, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(walPath(dir, 1), f1, 0o644); err != nil {
		t.Fatal(err)
	}
	w, recs := openTestWAL(t, dir)
	wantOffsets(t, "p-0", recs["p-0"], 0, 10)
	appendWAL(t, w, "p-0", 10, 3, 200)
	_ = w.close()
	_, recs = openTestWAL(t, dir)
	wantOffsets(t, "p-0 after version 2 appends", recs["p-0"], 0, 13)
}

// TestWALSpareRenamedBeforeItsHeader checks the crash between a spare's
// rename and its new header: as the last file it holds nothing; before
// another file it is corruption.
func TestWALSpareRenamedBeforeItsHeader(t *testing.T) {
	dir := t.TempDir()
	w, _ := openTestWAL(t, dir)
	appendWAL(t, w, "p-0", 0, 5, 200)
	_ = w.close()
	// File 0 holds p-0's records; move it to be file 7, as if it were a
	// spare renamed to the next number.
	if err := os.Rename(walPath(dir, 0), walPath(dir, 7)); err != nil {
		t.Fatal(err)
	}
	_, recs := openTestWAL(t, dir)
	if n := len(recs["p-0"]); n != 0 {
		t.Fatalf("%d records read from a file whose header names another", n)
	}
	if fi, err := os.Stat(walPath(dir, 7)); err != nil || fi.Size() != 0 {
		t.Fatalf("file 7 after recovery: %v, %v; want it cut to nothing", fi, err)
	}

	dir = t.TempDir()
	w, _ = openTestWAL(t, dir)
	appendWAL(t, w, "p-0", 0, 5, 200)
	_ = w.close()
	if err := os.Rename(walPath(dir, 0), walPath(dir, 3)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(walPath(dir, 4), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := openWAL(dir, osOpenFile); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("an earlier file with another file's header: %v, want ErrCorrupt", err)
	}
}

// TestWALCorruptEarlierFileIsAnError flips a bit in a record of a file
// that is not the last: unlike a torn tail, that is corruption.
func TestWALCorruptEarlierFileIsAnError(t *testing.T) {
	dir := t.TempDir()
	w, _ := openTestWAL(t, dir)
	appendWAL(t, w, "p-0", 0, 40, 1000)
	_ = w.close()
	b, err := os.ReadFile(walPath(dir, 0))
	if err != nil {
		t.Fatal(err)
	}
	b[walFileHeaderLen+walHeaderLen+20] ^= 1
	if err := os.WriteFile(walPath(dir, 0), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := openWAL(dir, osOpenFile); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("a flipped bit in an earlier file: %v, want ErrCorrupt", err)
	}
}

package locallog

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestAppendReadEveryOffsetOnceAcrossSegments(t *testing.T) {
	for _, mode := range []FsyncMode{FsyncAlways, FsyncInterval, FsyncNever} {
		t.Run(fmt.Sprint(mode), func(t *testing.T) {
			l := testLog(t, t.TempDir(), mode, nil)
			defer l.Close()
			p := openPart(t, l, "t-0", smallSegments)
			var want []string
			for i := range 200 {
				n := 1 + i%7
				res := mustAppend(t, p, makeBatch(-1, -1, -1, n, int64(1000+i), fmt.Sprintf("b%d", i)))
				if res.BaseOffset != int64(len(want)) {
					t.Fatalf("batch %d at %d, want %d", i, res.BaseOffset, len(want))
				}
				for j := range n {
					want = append(want, fmt.Sprintf("b%d-%d", i, j))
				}
			}
			if segs := p.Segments(); len(segs) < 5 {
				t.Fatalf("only %d segments; the test needs several", len(segs))
			}
			for _, maxBytes := range []int32{1, 100, 5000, 1 << 20} {
				got := readAll(t, p, maxBytes)
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("maxBytes %d: read %d records, want %d", maxBytes, len(got), len(want))
				}
			}
		})
	}
}

func TestReadStaysInOneSegment(t *testing.T) {
	l := testLog(t, t.TempDir(), FsyncNever, nil)
	defer l.Close()
	p := openPart(t, l, "t-0", smallSegments)
	for i := range 100 {
		mustAppend(t, p, makeBatch(-1, -1, -1, 3, 0, fmt.Sprint(i)))
	}
	for _, s := range p.Segments() {
		res, err := p.Read(s.BaseOffset, 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(res.Data)) != s.SizeBytes {
			t.Fatalf("read at segment base %d returned %d bytes; the segment has %d", s.BaseOffset, len(res.Data), s.SizeBytes)
		}
	}
}

func TestReadOutOfRange(t *testing.T) {
	l := testLog(t, t.TempDir(), FsyncAlways, nil)
	defer l.Close()
	p := openPart(t, l, "t-0", smallSegments)
	mustAppend(t, p, makeBatch(-1, -1, -1, 5, 0, "a"))
	if res, err := p.Read(5, 100); err != nil || len(res.Data) != 0 {
		t.Fatalf("read at high watermark: %d bytes, %v", len(res.Data), err)
	}
	if _, err := p.Read(6, 100); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read above high watermark: %v", err)
	}
	if _, err := p.DeleteRecords(3); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Read(2, 100); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below log start: %v", err)
	}
}

func TestAcksAllNotVisibleBeforeFsync(t *testing.T) {
	l := testLog(t, t.TempDir(), FsyncAlways, nil)
	defer l.Close()
	p := openPart(t, l, "t-0", smallSegments)
	res, err := p.Append(makeBatch(-1, -1, -1, 2, 0, "a"))
	if err != nil {
		t.Fatal(err)
	}
	if o := p.Offsets(); o.HighWatermark != 0 || o.LogEnd != 2 {
		t.Fatalf("before fsync: %+v, want hw 0, end 2", o)
	}
	if err := p.WaitDurable(t.Context(), res.LastOffset+1); err != nil {
		t.Fatal(err)
	}
	if o := p.Offsets(); o.HighWatermark != 2 {
		t.Fatalf("after fsync: %+v", o)
	}
}

func TestGroupCommitSharesFsyncs(t *testing.T) {
	fs := &faultyFS{syncDelay: 5 * time.Millisecond}
	l := testLog(t, t.TempDir(), FsyncAlways, fs.open)
	defer l.Close()
	p := openPart(t, l, "t-0", PartitionConfig{SegmentBytes: 1 << 30, RetentionMs: -1, RetentionBytes: -1})
	before := fs.syncs.Load()
	const writers = 16
	const each = 20
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				res, err := p.Append(makeBatch(-1, -1, -1, 1, 0, fmt.Sprintf("%d-%d", w, i)))
				if err == nil {
					err = p.WaitDurable(t.Context(), res.LastOffset+1)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	syncs := fs.syncs.Load() - before
	if syncs >= writers*each {
		t.Fatalf("%d fsyncs for %d acks=all appends: no group commit", syncs, writers*each)
	}
	if o := p.Offsets(); o.HighWatermark != writers*each {
		t.Fatalf("offsets %+v", o)
	}
	t.Logf("%d appends, %d fsyncs", writers*each, syncs)
}

func TestFsyncFailureRefusesFurtherAppends(t *testing.T) {
	fs := &faultyFS{}
	l := testLog(t, t.TempDir(), FsyncAlways, fs.open)
	defer l.Close()
	p := openPart(t, l, "t-0", smallSegments)
	mustAppend(t, p, makeBatch(-1, -1, -1, 1, 0, "ok"))
	fs.failSync.Store(true)
	res, err := p.Append(makeBatch(-1, -1, -1, 1, 0, "lost"))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.WaitDurable(t.Context(), res.LastOffset+1); err == nil {
		t.Fatal("WaitDurable succeeded although fsync failed")
	}
	if _, err := p.Append(makeBatch(-1, -1, -1, 1, 0, "after")); err == nil {
		t.Fatal("append accepted after a failed fsync")
	}
	if o := p.Offsets(); o.HighWatermark != 1 {
		t.Fatalf("high watermark moved past undurable data: %+v", o)
	}
}

func TestShortWriteIsUndone(t *testing.T) {
	fs := &faultyFS{}
	dir := t.TempDir()
	l := testLog(t, dir, FsyncAlways, fs.open)
	p := openPart(t, l, "t-0", smallSegments)
	mustAppend(t, p, makeBatch(-1, -1, -1, 2, 0, "a"))
	fs.shortNext.Store(true)
	if _, err := p.Append(makeBatch(-1, -1, -1, 2, 0, "torn")); err == nil {
		t.Fatal("short write reported success")
	}
	mustAppend(t, p, makeBatch(-1, -1, -1, 2, 0, "b"))
	if got := fmt.Sprint(readAll(t, p, 1<<20)); got != "[a-0 a-1 b-0 b-1]" {
		t.Fatalf("read %s", got)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2 := testLog(t, dir, FsyncAlways, nil)
	defer l2.Close()
	if got := fmt.Sprint(readAll(t, openPart(t, l2, "t-0", smallSegments), 1<<20)); got != "[a-0 a-1 b-0 b-1]" {
		t.Fatalf("after reopen read %s", got)
	}
}

// A full disk fails an append with a retriable error, whether the segment
// write or the write-ahead log write runs out of space, and leaves nothing
// behind: not in the segment, the log end, the indexes or the producer's
// sequence state. Once there is space again the same batch goes in at the
// same offsets, and a restart reads exactly what was acknowledged.
func TestDiskFullIsRetriable(t *testing.T) {
	for _, full := range []string{"segment", "wal"} {
		t.Run(full, func(t *testing.T) {
			fs := &faultyFS{}
			dir := t.TempDir()
			l := testLog(t, dir, FsyncAlways, fs.open)
			p := openPart(t, l, "t-0", smallSegments)
			ctx := context.Background()
			a := mustAppend(t, p, makeBatch(1, 0, 0, 2, 0, "a"))
			if err := p.WaitDurable(ctx, a.LastOffset+1); err != nil {
				t.Fatal(err)
			}
			flag := &fs.fullSegments
			if full == "wal" {
				flag = &fs.fullWAL
			}
			flag.Store(true)
			for range 3 {
				if _, err := p.Append(makeBatch(1, 0, 2, 2, 0, "b")); !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("append on a full disk: %v, want ENOSPC", err)
				}
			}
			if o := p.Offsets(); o.LogEnd != 2 || o.HighWatermark != 2 {
				t.Fatalf("offsets after failed appends: %+v", o)
			}
			flag.Store(false)
			b, err := p.Append(makeBatch(1, 0, 2, 2, 0, "b")) // the producer's retry
			if err != nil || b.Duplicate || b.BaseOffset != 2 {
				t.Fatalf("append once there is space: %+v, %v", b, err)
			}
			if err := p.WaitDurable(ctx, b.LastOffset+1); err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(readAll(t, p, 1<<20)); got != "[a-0 a-1 b-0 b-1]" {
				t.Fatalf("read %s", got)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l2 := testLog(t, dir, FsyncAlways, nil)
			defer l2.Close()
			if got := fmt.Sprint(readAll(t, openPart(t, l2, "t-0", smallSegments), 1<<20)); got != "[a-0 a-1 b-0 b-1]" {
				t.Fatalf("after reopen read %s", got)
			}
		})
	}
}

func TestRecoveryCutsTornTail(t *testing.T) {
	for _, damage := range []struct {
		name string
		do   func(t *testing.T, path string, size int64)
	}{
		{"truncated batch", func(t *testing.T, path string, size int64) {
			if err := os.Truncate(path, size-7); err != nil {
				t.Fatal(err)
			}
		}},
		{"garbage appended", func(t *testing.T, path string, size int64) {
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.Write([]byte("\x00\x00\x00\x00\x00\x00\x00\x09\x00\x00\x00\x40garbage")); err != nil {
				t.Fatal(err)
			}
		}},
		{"flipped bit in last batch", func(t *testing.T, path string, size int64) {
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			b := make([]byte, 1)
			if _, err := f.ReadAt(b, size-3); err != nil {
				t.Fatal(err)
			}
			b[0] ^= 1
			if _, err := f.WriteAt(b, size-3); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(damage.name, func(t *testing.T) {
			// FsyncNever: no write-ahead log to restore the damaged batch
			// from (TestWALRestoresLostSegmentBytes covers that).
			dir := t.TempDir()
			l := testLog(t, dir, FsyncNever, nil)
			p := openPart(t, l, "t-0", smallSegments)
			var want []string
			for i := range 30 {
				mustAppend(t, p, makeBatch(-1, -1, -1, 2, 0, fmt.Sprint(i)))
				want = append(want, fmt.Sprintf("%d-0", i), fmt.Sprintf("%d-1", i))
			}
			segs := p.Segments()
			act := segs[len(segs)-1]
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			damage.do(t, filepath.Join(dir, "t-0", fmt.Sprintf("%020d.log", act.BaseOffset)), act.SizeBytes)
			if damage.name != "garbage appended" {
				want = want[:len(want)-2] // the damaged last batch is gone
			}
			l2 := testLog(t, dir, FsyncNever, nil)
			defer l2.Close()
			p2 := openPart(t, l2, "t-0", smallSegments)
			if got := readAll(t, p2, 1<<20); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("after recovery read %v\nwant %v", got, want)
			}
			// Appends continue right after the kept data.
			res := mustAppend(t, p2, makeBatch(-1, -1, -1, 1, 0, "new"))
			if res.BaseOffset != int64(len(want)) {
				t.Fatalf("next append at %d, want %d", res.BaseOffset, len(want))
			}
		})
	}
}

func TestRecoveryRebuildsMissingIndexes(t *testing.T) {
	dir := t.TempDir()
	l := testLog(t, dir, FsyncNever, nil)
	p := openPart(t, l, "t-0", smallSegments)
	for i := range 300 {
		mustAppend(t, p, makeBatch(-1, -1, -1, 3, 0, fmt.Sprint(i)))
	}
	want := readAll(t, p, 1<<20)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	idx, _ := filepath.Glob(filepath.Join(dir, "t-0", "*.idx"))
	if len(idx) < 3 {
		t.Fatalf("%d index files", len(idx))
	}
	for _, f := range idx[:2] {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(idx[2], []byte("SSM1 not really"), 0o644); err != nil {
		t.Fatal(err)
	}
	l2 := testLog(t, dir, FsyncNever, nil)
	defer l2.Close()
	p2 := openPart(t, l2, "t-0", smallSegments)
	if got := readAll(t, p2, 300); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("read differs after index rebuild")
	}
	for _, f := range idx[:3] {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("index not rewritten: %v", err)
		}
	}
}

func TestRecoveryRefusesCorruptSealedSegment(t *testing.T) {
	dir := t.TempDir()
	l := testLog(t, dir, FsyncNever, nil)
	p := openPart(t, l, "t-0", smallSegments)
	for i := range 100 {
		mustAppend(t, p, makeBatch(-1, -1, -1, 3, 0, fmt.Sprint(i)))
	}
	first := p.Segments()[0]
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(dir, "t-0", fmt.Sprintf("%020d", first.BaseOffset))
	if err := os.Remove(base + ".idx"); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(base+".log", first.SizeBytes-1); err != nil {
		t.Fatal(err)
	}
	l2 := testLog(t, dir, FsyncNever, nil)
	defer l2.Close()
	if _, err := l2.OpenPartition("t-0", smallSegments); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("open with a torn sealed segment: %v, want ErrCorrupt", err)
	}
}

func TestIdempotentProducer(t *testing.T) {
	dir := t.TempDir()
	l := testLog(t, dir, FsyncAlways, nil)
	p := openPart(t, l, "t-0", smallSegments)
	const pid = 42
	var firsts []int64
	for i := range 10 {
		res := mustAppend(t, p, makeBatch(pid, 0, int32(i*3), 3, 0, fmt.Sprint(i)))
		firsts = append(firsts, res.BaseOffset)
	}
	// A retry of any of the last five is answered with its original offsets.
	for i := 5; i < 10; i++ {
		res, err := p.Append(makeBatch(pid, 0, int32(i*3), 3, 0, fmt.Sprint(i)))
		if err != nil || !res.Duplicate || res.BaseOffset != firsts[i] {
			t.Fatalf("retry of batch %d: %+v, %v; want duplicate at %d", i, res, err, firsts[i])
		}
	}
	// Older ones are out of order, as is a gap.
	if _, err := p.Append(makeBatch(pid, 0, 3, 3, 0, "old")); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("old batch: %v", err)
	}
	if _, err := p.Append(makeBatch(pid, 0, 31, 1, 0, "gap")); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("gap: %v", err)
	}
	if _, err := p.Append(makeBatch(pid, -1+0, 30, 1, 0, "stale epoch")); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("stale epoch: %v", err)
	}
	if o := p.Offsets(); o.LogEnd != 30 {
		t.Fatalf("log end %d after rejected batches, want 30", o.LogEnd)
	}
	// The state survives a crash (no Close: no final snapshot) and a clean
	// restart alike.
	for _, clean := range []bool{false, true} {
		if clean {
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
		}
		l = testLog(t, dir, FsyncAlways, nil)
		p = openPart(t, l, "t-0", smallSegments)
		res, err := p.Append(makeBatch(pid, 0, 27, 3, 0, "9"))
		if err != nil || !res.Duplicate || res.BaseOffset != firsts[9] {
			t.Fatalf("clean=%v: retry after restart: %+v, %v", clean, res, err)
		}
	}
	res := mustAppend(t, p, makeBatch(pid, 0, 30, 1, 0, "next"))
	if res.BaseOffset != 30 || res.Duplicate {
		t.Fatalf("next batch: %+v", res)
	}
	// A new epoch starts at sequence 0.
	if _, err := p.Append(makeBatch(pid, 1, 5, 1, 0, "bad")); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("new epoch at 5: %v", err)
	}
	mustAppend(t, p, makeBatch(pid, 1, 0, 1, 0, "epoch1"))
	_ = l.Close()
}

func TestRollBySegmentMs(t *testing.T) {
	now := time.Unix(1000, 0)
	var sealed []string
	l, err := Open(t.TempDir(), Config{Fsync: FsyncPolicy{Mode: FsyncAlways}, Now: func() time.Time { return now },
		OnSeal: func(name string) { sealed = append(sealed, name) }})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	p := openPart(t, l, "t-0", PartitionConfig{SegmentBytes: 1 << 30, SegmentMs: time.Minute, RetentionMs: -1, RetentionBytes: -1})
	if err := p.rollIfAged(now.Add(time.Hour)); err != nil || len(p.Segments()) != 1 {
		t.Fatalf("an empty segment rolled: %v %v", err, p.Segments())
	}
	mustAppend(t, p, makeBatch(-1, -1, -1, 1, 0, "a"))
	if err := p.rollIfAged(now.Add(59 * time.Second)); err != nil || len(p.Segments()) != 1 {
		t.Fatalf("rolled early: %v", p.Segments())
	}
	if err := p.rollIfAged(now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	segs := p.Segments()
	if len(segs) != 2 || !segs[0].Sealed || segs[1].BaseOffset != 1 {
		t.Fatalf("after segment.ms: %+v", segs)
	}
	if fmt.Sprint(sealed) != "[t-0]" {
		t.Fatalf("OnSeal calls: %v", sealed)
	}
}

func TestRetention(t *testing.T) {
	l := testLog(t, t.TempDir(), FsyncNever, nil)
	defer l.Close()
	p := openPart(t, l, "t-0", smallSegments)
	now := time.UnixMilli(1_000_000)
	for i := range 100 {
		mustAppend(t, p, makeBatch(-1, -1, -1, 3, now.UnixMilli()+int64(i)*1000, fmt.Sprint(i)))
	}
	segs := p.Segments()
	var total int64
	for _, s := range segs {
		total += s.SizeBytes
	}
	// By size: keep about half.
	cfg := smallSegments
	cfg.RetentionBytes = total / 2
	p.SetConfig(cfg)
	n, err := p.EnforceRetention(now)
	if err != nil || n == 0 {
		t.Fatalf("retention.bytes deleted %d: %v", n, err)
	}
	var kept int64
	for _, s := range p.Segments() {
		kept += s.SizeBytes
	}
	// Kafka's rule: a segment goes only if what remains is still at least
	// retention.bytes.
	if first := p.Segments()[0]; kept < total/2 || kept-first.SizeBytes >= total/2 {
		t.Fatalf("kept %d of %d bytes with retention.bytes %d", kept, total, total/2)
	}
	o := p.Offsets()
	if o.LogStart != p.Segments()[0].BaseOffset {
		t.Fatalf("log start %d, first segment %d", o.LogStart, p.Segments()[0].BaseOffset)
	}
	// By time: everything but the active segment expires.
	cfg.RetentionBytes = -1
	cfg.RetentionMs = time.Second
	p.SetConfig(cfg)
	if _, err := p.EnforceRetention(now.Add(200 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if segs := p.Segments(); len(segs) != 1 || segs[0].Sealed {
		t.Fatalf("after retention.ms: %+v", segs)
	}
	if o := p.Offsets(); o.LogStart != p.Segments()[0].BaseOffset || o.LogEnd != 300 {
		t.Fatalf("offsets %+v", o)
	}
	readAll(t, p, 1<<20)
}

func TestDeleteRecordsSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	l := testLog(t, dir, FsyncAlways, nil)
	p := openPart(t, l, "t-0", smallSegments)
	for i := range 50 {
		mustAppend(t, p, makeBatch(-1, -1, -1, 3, 0, fmt.Sprint(i)))
	}
	if ls, err := p.DeleteRecords(77); err != nil || ls != 77 {
		t.Fatalf("DeleteRecords: %d %v", ls, err)
	}
	if _, err := p.DeleteRecords(1000); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("beyond hw: %v", err)
	}
	got := readAll(t, p, 1<<20)
	if len(got) != 150-77 || got[0] != "25-2" {
		t.Fatalf("after delete: %d records starting %v", len(got), got[:1])
	}
	_ = l.Close()
	l2 := testLog(t, dir, FsyncAlways, nil)
	defer l2.Close()
	if o := openPart(t, l2, "t-0", smallSegments).Offsets(); o.LogStart != 77 || o.LogEnd != 150 {
		t.Fatalf("after restart %+v", o)
	}
}

func TestOffsetForTimestamp(t *testing.T) {
	l := testLog(t, t.TempDir(), FsyncAlways, nil)
	defer l.Close()
	p := openPart(t, l, "t-0", smallSegments)
	// Batch i holds records with timestamps 1000*i, 1000*i+1, 1000*i+2.
	for i := range 60 {
		mustAppend(t, p, makeBatch(-1, -1, -1, 3, int64(i)*1000, fmt.Sprint(i)))
	}
	for _, tc := range []struct{ ts, off, rts int64 }{
		{0, 0, 0}, {1, 1, 1}, {2, 2, 2}, {3, 3, 1000}, {1000, 3, 1000}, {30001, 91, 30001},
		{59002, 179, 59002}, {59003, -1, -1},
	} {
		off, rts, err := p.OffsetForTimestamp(tc.ts)
		if err != nil || off != tc.off || rts != tc.rts {
			t.Errorf("OffsetForTimestamp(%d) = %d, %d, %v; want %d, %d", tc.ts, off, rts, err, tc.off, tc.rts)
		}
	}
	off, ts, err := p.MaxTimestamp()
	if err != nil || off != 179 || ts != 59002 {
		t.Fatalf("MaxTimestamp = %d, %d, %v", off, ts, err)
	}
}

func TestConcurrentReadsDuringAppends(t *testing.T) {
	l := testLog(t, t.TempDir(), FsyncAlways, nil)
	defer l.Close()
	p := openPart(t, l, "t-0", smallSegments)
	const batches = 300
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range batches {
			mustAppend(t, p, makeBatch(-1, -1, -1, 2, 0, fmt.Sprint(i)))
			if i%50 == 0 {
				if _, err := p.EnforceRetention(time.Now()); err != nil {
					t.Error(err)
				}
			}
		}
	})
	for range 3 {
		wg.Go(func() {
			next := int64(0)
			for next < 2*batches {
				res, err := p.Read(next, 700)
				if err != nil {
					t.Errorf("read %d: %v", next, err)
					return
				}
				for _, r := range decodeAll(t, res.Data) {
					if r.off < next {
						continue
					}
					if r.off != next || r.val != fmt.Sprintf("%d-%d", r.off/2, r.off%2) {
						t.Errorf("at %d got %d %q", next, r.off, r.val)
						return
					}
					next++
				}
				if len(res.Data) == 0 {
					p.waitForAdvance(t, next)
				}
			}
		})
	}
	wg.Wait()
}

// waitForAdvance blocks until the high watermark passes off, through Watch.
func (p *Partition) waitForAdvance(t *testing.T, off int64) {
	ch := make(chan struct{}, 1)
	cancel := p.Watch(func() {
		select {
		case ch <- struct{}{}:
		default:
		}
	})
	defer cancel()
	for p.Offsets().HighWatermark <= off {
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			t.Errorf("high watermark stuck at %d", p.Offsets().HighWatermark)
			return
		}
	}
}

// TestWALRestoresLostSegmentBytes crashes (no Close) after acked appends and
// then takes away segment bytes the page cache had not written back: the
// write-ahead log puts every acknowledged batch back, once.
func TestWALRestoresLostSegmentBytes(t *testing.T) {
	for _, damage := range []string{"cut to an earlier batch", "torn last batch", "empty active segment"} {
		t.Run(damage, func(t *testing.T) {
			dir := t.TempDir()
			l := testLog(t, dir, FsyncAlways, nil)
			p := openPart(t, l, "t-0", smallSegments)
			q := openPart(t, l, "t-1", smallSegments)
			var want []string
			for i := range 60 {
				mustAppend(t, p, makeBatch(7, 0, int32(i*2), 2, 0, fmt.Sprint(i)))
				mustAppend(t, q, makeBatch(-1, -1, -1, 1, 0, fmt.Sprint(i)))
				want = append(want, fmt.Sprintf("%d-0", i), fmt.Sprintf("%d-1", i))
			}
			segs := p.Segments()
			act := segs[len(segs)-1]
			path := filepath.Join(dir, "t-0", fmt.Sprintf("%020d.log", act.BaseOffset))
			var cut int64
			switch damage {
			case "cut to an earlier batch":
				res, err := p.Read(act.BaseOffset, 1)
				if err != nil {
					t.Fatal(err)
				}
				cut = int64(len(res.Data)) // keep only the first batch
			case "torn last batch":
				cut = act.SizeBytes - 5
			}
			// Crash: the first log is never closed.
			if err := os.Truncate(path, cut); err != nil {
				t.Fatal(err)
			}
			l2 := testLog(t, dir, FsyncAlways, nil)
			defer l2.Close()
			p2 := openPart(t, l2, "t-0", smallSegments)
			if got := readAll(t, p2, 1<<20); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("after recovery read %d records, want %d", len(got), len(want))
			}
			if got := readAll(t, openPart(t, l2, "t-1", smallSegments), 1<<20); len(got) != 60 {
				t.Fatalf("the other partition has %d records, want 60", len(got))
			}
			// The producer state came back with the batches: a retry of the
			// last one is a duplicate, the next sequence goes on.
			if res, err := p2.Append(makeBatch(7, 0, 118, 2, 0, "59")); err != nil || !res.Duplicate {
				t.Fatalf("retry of the last batch after replay: %+v, %v", res, err)
			}
			if res := mustAppend(t, p2, makeBatch(7, 0, 120, 1, 0, "next")); res.BaseOffset != 120 {
				t.Fatalf("next append at %d, want 120", res.BaseOffset)
			}
		})
	}
}

func TestWALCheckpointDeletesOldFiles(t *testing.T) {
	dir := t.TempDir()
	l := testLog(t, dir, FsyncAlways, nil)
	p := openPart(t, l, "t-0", PartitionConfig{SegmentBytes: 1 << 30, RetentionMs: -1, RetentionBytes: -1})
	for i := range 10 {
		mustAppend(t, p, makeBatch(-1, -1, -1, 1, 0, fmt.Sprint(i)))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// Reopening starts a new WAL file; the old one goes at the first
	// checkpoint, once every partition with records in it is open.
	l2 := testLog(t, dir, FsyncAlways, nil)
	defer l2.Close()
	if files, _ := listWAL(dir, walPrefix); len(files) != 2 {
		t.Fatalf("WAL files after reopen: %v", files)
	}
	if err := l2.checkpoint(); err != nil {
		t.Fatal(err)
	}
	if files, _ := listWAL(dir, walPrefix); len(files) != 2 {
		t.Fatalf("checkpoint deleted WAL files before t-0 was opened: %v", files)
	}
	p2 := openPart(t, l2, "t-0", PartitionConfig{SegmentBytes: 1 << 30, RetentionMs: -1, RetentionBytes: -1})
	if err := l2.checkpoint(); err != nil {
		t.Fatal(err)
	}
	if files, _ := listWAL(dir, walPrefix); len(files) != 1 {
		t.Fatalf("WAL files after checkpoint: %v", files)
	}
	if got := readAll(t, p2, 1<<20); len(got) != 10 {
		t.Fatalf("read %d records", len(got))
	}
}

// TestAcksAllManyPartitionsWithFlusher races acks=all writers on several
// partitions against the flusher's WAL commits: every WaitDurable must
// return (a lost wake-up would leave one waiting until its deadline).
func TestAcksAllManyPartitionsWithFlusher(t *testing.T) {
	l := testLog(t, t.TempDir(), FsyncAlways, nil)
	defer l.Close()
	ctx, cancel := context.WithCancel(t.Context())
	runDone := make(chan error, 1)
	go func() { runDone <- l.Run(ctx) }()
	defer func() {
		cancel()
		<-runDone
	}()
	var parts []*Partition
	for i := range 4 {
		parts = append(parts, openPart(t, l, fmt.Sprintf("t-%d", i), smallSegments))
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			p := parts[w%len(parts)]
			for i := range 200 {
				res, err := p.Append(makeBatch(-1, -1, -1, 1, 0, fmt.Sprintf("%d-%d", w, i)))
				if err != nil {
					t.Error(err)
					return
				}
				wctx, wcancel := context.WithTimeout(t.Context(), 20*time.Second)
				err = p.WaitDurable(wctx, res.LastOffset+1)
				wcancel()
				if err != nil {
					t.Errorf("writer %d append %d: %v", w, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	for _, p := range parts {
		if o := p.Offsets(); o.HighWatermark != 400 {
			t.Fatalf("%+v", o)
		}
	}
}

// TestReadAllocatesTheAnswerOnce reads an answer that the first window
// holds: the window is the answer, not copied into a second buffer.
func TestReadAllocatesTheAnswerOnce(t *testing.T) {
	l := testLog(t, t.TempDir(), FsyncNever, nil)
	defer l.Close()
	p := openPart(t, l, "t-0", PartitionConfig{SegmentBytes: 1 << 30, RetentionMs: -1, RetentionBytes: -1})
	for i := range 400 {
		mustAppend(t, p, makeBatch(-1, -1, -1, 3, 0, fmt.Sprintf("%0200d", i)))
	}
	const maxBytes = 64 << 10
	first, err := p.Read(0, maxBytes)
	if err != nil || len(first.Data) < maxBytes/2 {
		t.Fatalf("read: %d bytes, %v", len(first.Data), err)
	}
	const reads = 50
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range reads {
		if _, err := p.Read(0, maxBytes); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	// The window is the answer plus the read-ahead: less than twice it.
	if per := (after.TotalAlloc - before.TotalAlloc) / reads; per >= 2*uint64(len(first.Data)) {
		t.Errorf("a read of a %d-byte answer allocated %d bytes", len(first.Data), per)
	}
}

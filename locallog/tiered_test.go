package locallog

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/strata-io/strata/batch"
)

func TestReadSealedReturnsTheSegmentAndItsIndexes(t *testing.T) {
	l := testLog(t, t.TempDir(), FsyncAlways, nil)
	defer l.Close()
	p := openPart(t, l, "t-0", smallSegments)
	for i := range 200 {
		mustAppend(t, p, makeBatch(-1, -1, -1, 2, int64(i)*10, fmt.Sprint(i)))
	}
	segs := p.Segments()
	for _, s := range segs[:len(segs)-1] {
		sealed, err := p.ReadSealed(s.BaseOffset)
		if err != nil {
			t.Fatal(err)
		}
		data, offs, times := sealed.Data, sealed.Offsets, sealed.Times
		if int64(len(data)) != s.SizeBytes {
			t.Fatalf("segment %d: %d bytes, want %d", s.BaseOffset, len(data), s.SizeBytes)
		}
		res, err := p.Read(s.BaseOffset, 1<<30)
		if err != nil || string(res.Data) != string(data) {
			t.Fatalf("segment %d: ReadSealed differs from Read (%v)", s.BaseOffset, err)
		}
		// Every index entry points at a batch start holding its offset.
		for _, e := range offs.Entries() {
			h, err := batch.ParseHeader(data[e.Pos:])
			if err != nil || h.BaseOffset != s.BaseOffset+int64(e.RelOffset) {
				t.Fatalf("offset index entry %+v: header %+v, %v", e, h, err)
			}
		}
		if offs.Len() == 0 || times.Len() != offs.Len() {
			t.Fatalf("segment %d: %d offset and %d time entries", s.BaseOffset, offs.Len(), times.Len())
		}
	}
	if _, err := p.ReadSealed(segs[len(segs)-1].BaseOffset); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("ReadSealed of the active segment: %v", err)
	}
}

func TestTieredRetentionKeepsWhatIsNotRemote(t *testing.T) {
	l := testLog(t, t.TempDir(), FsyncNever, nil)
	defer l.Close()
	cfg := PartitionConfig{SegmentBytes: 4096, RetentionMs: -1, RetentionBytes: -1,
		Tiered: true, LocalRetentionMs: time.Second, LocalRetentionBytes: -1}
	p := openPart(t, l, "t-0", cfg)
	for i := range 300 {
		mustAppend(t, p, makeBatch(-1, -1, -1, 2, 1000, fmt.Sprint(i)))
	}
	segs := p.Segments()
	if len(segs) < 4 {
		t.Fatalf("%d segments", len(segs))
	}
	later := time.UnixMilli(1000).Add(time.Hour)
	// Everything is past local.retention.ms, but nothing is remote yet.
	if n, err := p.EnforceRetention(later); err != nil || n != 0 {
		t.Fatalf("deleted %d segments before any upload (%v)", n, err)
	}
	// Two segments committed remotely: exactly those two may go.
	p.SetRemoteEnd(segs[1].EndOffset)
	p.SetRemoteEnd(segs[0].EndOffset) // never moves back
	if n, err := p.EnforceRetention(later); err != nil || n != 2 {
		t.Fatalf("deleted %d segments with two remote (%v)", n, err)
	}
	if got := p.Segments()[0].BaseOffset; got != segs[2].BaseOffset {
		t.Fatalf("first local segment %d, want %d", got, segs[2].BaseOffset)
	}
	if p.RemoteEnd() != segs[1].EndOffset {
		t.Fatalf("remote end %d", p.RemoteEnd())
	}
	// retention.ms does not apply locally to a tiered partition.
	cfg.LocalRetentionMs = -1
	cfg.RetentionMs = time.Millisecond
	p.SetConfig(cfg)
	p.SetRemoteEnd(p.Offsets().LogEnd)
	if n, err := p.EnforceRetention(later); err != nil || n != 0 {
		t.Fatalf("retention.ms deleted %d local segments of a tiered partition (%v)", n, err)
	}
}

func TestCreatePartitionAtStartsTheLogThere(t *testing.T) {
	dir := t.TempDir()
	l := testLog(t, dir, FsyncAlways, nil)
	p, err := l.CreatePartitionAt("t-0", smallSegments, 1234)
	if err != nil {
		t.Fatal(err)
	}
	if o := p.Offsets(); o.LogStart != 1234 || o.LogEnd != 1234 || o.HighWatermark != 1234 {
		t.Fatalf("offsets %+v, want all 1234", o)
	}
	if r := mustAppend(t, p, makeBatch(-1, -1, -1, 3, 1000, "a")); r.BaseOffset != 1234 {
		t.Fatalf("first append at %d, want 1234", r.BaseOffset)
	}
	if _, err := l.CreatePartitionAt("t-0", smallSegments, 5); err == nil {
		t.Fatal("created an open partition again")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	// Reopened, the partition keeps its start; creating it again fails
	// because its directory holds segments.
	l = testLog(t, dir, FsyncAlways, nil)
	defer l.Close()
	if _, err := l.CreatePartitionAt("t-0", smallSegments, 5); err == nil {
		t.Fatal("created a partition over existing segments")
	}
	p = openPart(t, l, "t-0", smallSegments)
	if o := p.Offsets(); o.LogStart != 1234 || o.LogEnd != 1237 {
		t.Fatalf("reopened offsets %+v, want [1234, 1237)", o)
	}
	if _, err := l.CreatePartitionAt("t-1", smallSegments, -1); err == nil {
		t.Fatal("negative start accepted")
	}
}

// SkipTo moves an empty partition forward, survives a reopen, wakes
// watchers, and refuses a partition that holds records.
func TestSkipToMovesAnEmptyPartition(t *testing.T) {
	dir := t.TempDir()
	l := testLog(t, dir, FsyncAlways, nil)
	p := openPart(t, l, "t-0", smallSegments)
	woke := make(chan struct{}, 1)
	cancel := p.Watch(func() {
		select {
		case woke <- struct{}{}:
		default:
		}
	})
	defer cancel()
	if err := p.SkipTo(500); err != nil {
		t.Fatal(err)
	}
	<-woke
	if o := p.Offsets(); o.LogStart != 500 || o.HighWatermark != 500 || o.LogEnd != 500 || p.RemoteEnd() != 500 {
		t.Fatalf("after SkipTo(500): %+v, remote end %d", o, p.RemoteEnd())
	}
	if err := p.SkipTo(400); err != nil { // behind: nothing changes
		t.Fatal(err)
	}
	if err := p.SkipTo(900); err != nil {
		t.Fatal(err)
	}
	if segs := p.Segments(); len(segs) != 1 || segs[0].BaseOffset != 900 {
		t.Fatalf("segments after two skips: %+v", segs)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = testLog(t, dir, FsyncAlways, nil)
	defer l.Close()
	p = openPart(t, l, "t-0", smallSegments)
	if o := p.Offsets(); o.LogStart != 900 || o.LogEnd != 900 {
		t.Fatalf("reopened: %+v, want all 900", o)
	}
	mustAppend(t, p, makeBatch(-1, -1, -1, 3, 1000, "a"))
	if err := p.SkipTo(2000); !errors.Is(err, ErrNotEmpty) {
		t.Fatalf("SkipTo on a partition with records: %v", err)
	}
}

var tieredSegments = PartitionConfig{SegmentBytes: 4096, RetentionMs: -1, RetentionBytes: -1,
	Tiered: true, LocalRetentionMs: -1, LocalRetentionBytes: -1}

// appendIdempotent appends n batches of producer pid (epoch 0) with
// sequences from seq on, two records each, and returns their results.
func appendIdempotent(t *testing.T, p *Partition, pid int64, seq int32, n int) []AppendResult {
	t.Helper()
	var out []AppendResult
	for i := range n {
		out = append(out, mustAppend(t, p, makeBatch(pid, 0, seq+2*int32(i), 2, 1000+int64(i), fmt.Sprint(i))))
	}
	return out
}

// snapshotFiles lists the offsets of p's producer snapshot files.
func snapshotFiles(t *testing.T, p *Partition) []int64 {
	t.Helper()
	offs, err := listByExt(p.dir, ".snapshot")
	if err != nil {
		t.Fatal(err)
	}
	return offs
}

// lastBatchOf decodes snap and returns producer pid's newest batch in it.
func lastBatchOf(t *testing.T, snap []byte, pid int64) batchMeta {
	t.Helper()
	ps, err := decodeProducers(snap)
	if err != nil {
		t.Fatal(err)
	}
	pr := ps[pid]
	if pr == nil || len(pr.batches) == 0 {
		t.Fatalf("snapshot has no batches of producer %d", pid)
	}
	return pr.batches[len(pr.batches)-1]
}

// A tiered partition keeps the producer snapshot of every sealed segment
// the remote tier does not hold yet, however many rolls pass, and
// ReadSealed returns the one taken at the segment's end; once the remote
// end passes a segment, the next roll deletes its snapshot.
func TestSnapshotsOfUnuploadedSegmentsSurviveRolls(t *testing.T) {
	l := testLog(t, t.TempDir(), FsyncAlways, nil)
	defer l.Close()
	p := openPart(t, l, "t-0", tieredSegments)
	const pid = 7
	appendIdempotent(t, p, pid, 0, 400)
	segs := p.Segments()
	sealed := segs[:len(segs)-1]
	if len(sealed) < 6 {
		t.Fatalf("only %d sealed segments", len(sealed))
	}
	have := map[int64]bool{}
	for _, off := range snapshotFiles(t, p) {
		have[off] = true
	}
	for _, s := range sealed {
		if !have[s.EndOffset] {
			t.Fatalf("no snapshot at the end %d of sealed segment [%d, %d); have %v", s.EndOffset, s.BaseOffset, s.EndOffset, snapshotFiles(t, p))
		}
		got, err := p.ReadSealed(s.BaseOffset)
		if err != nil {
			t.Fatal(err)
		}
		// The producer's newest batch in the snapshot is the segment's
		// last batch.
		if b := lastBatchOf(t, got.ProducerSnapshot, pid); b.lastOffset != s.EndOffset-1 {
			t.Fatalf("segment [%d, %d): snapshot's newest batch ends at %d", s.BaseOffset, s.EndOffset, b.lastOffset)
		}
	}

	// The remote tier catches up to the end of the third segment; the
	// next roll drops the snapshots at or below it, but for the two
	// newest.
	remote := sealed[2].EndOffset
	p.SetRemoteEnd(remote)
	if err := p.Roll(); err != nil {
		t.Fatal(err)
	}
	for _, off := range snapshotFiles(t, p) {
		if off <= remote {
			t.Errorf("snapshot at %d is kept, the remote end is %d", off, remote)
		}
	}
	if got, err := p.ReadSealed(sealed[3].BaseOffset); err != nil || got.ProducerSnapshot == nil {
		t.Fatalf("ReadSealed of the first segment not uploaded: snapshot %v, %v", got.ProducerSnapshot != nil, err)
	}
}

// A partition that is not tiered keeps only the two newest snapshots.
func TestUntieredPartitionKeepsTwoSnapshots(t *testing.T) {
	l := testLog(t, t.TempDir(), FsyncAlways, nil)
	defer l.Close()
	p := openPart(t, l, "t-0", smallSegments)
	appendIdempotent(t, p, 7, 0, 300)
	if n := len(p.Segments()); n < 5 {
		t.Fatalf("only %d segments", n)
	}
	if snaps := snapshotFiles(t, p); len(snaps) != 2 {
		t.Fatalf("snapshots at %v, want the two newest", snaps)
	}
}

// A sealed segment without its snapshot file (sealed by an older version)
// reads without one.
func TestReadSealedWithoutSnapshot(t *testing.T) {
	l := testLog(t, t.TempDir(), FsyncAlways, nil)
	defer l.Close()
	p := openPart(t, l, "t-0", tieredSegments)
	appendIdempotent(t, p, 7, 0, 100)
	s := p.Segments()[0]
	if err := os.Remove(segmentPath(p.dir, s.EndOffset, ".snapshot")); err != nil {
		t.Fatal(err)
	}
	got, err := p.ReadSealed(s.BaseOffset)
	if err != nil || got.ProducerSnapshot != nil || int64(len(got.Data)) != s.SizeBytes {
		t.Fatalf("ReadSealed = %d bytes, snapshot %q, %v", len(got.Data), got.ProducerSnapshot, err)
	}
}

// RestoreProducers on a partition created at another log's remote end
// installs the producer state of the snapshot uploaded with the last
// segment: a retried batch gets its original offsets, the next sequence
// continues, a gap is refused; and a reopen keeps the state.
func TestRestoreProducersAnswersRetriesWithOriginalOffsets(t *testing.T) {
	src := testLog(t, t.TempDir(), FsyncAlways, nil)
	defer src.Close()
	sp := openPart(t, src, "t-0", tieredSegments)
	const pid = 42
	res := appendIdempotent(t, sp, pid, 0, 50)
	if err := sp.Roll(); err != nil {
		t.Fatal(err)
	}
	segs := sp.Segments()
	last := segs[len(segs)-2] // the newest sealed segment
	sealed, err := sp.ReadSealed(last.BaseOffset)
	if err != nil {
		t.Fatal(err)
	}
	end := last.EndOffset
	lastRes := res[len(res)-1]
	if end != lastRes.LastOffset+1 {
		t.Fatalf("sealed segment ends at %d, the last batch at %d", end, lastRes.LastOffset)
	}

	dir := t.TempDir()
	l := testLog(t, dir, FsyncAlways, nil)
	p, err := l.CreatePartitionAt("t-0", tieredSegments, end)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.RestoreProducers(sealed.ProducerSnapshot); err != nil {
		t.Fatal(err)
	}
	check := func(p *Partition) {
		t.Helper()
		// A retry of the last batch: its original offsets, nothing appended.
		dup, err := p.Append(makeBatch(pid, 0, 2*49, 2, 1049, "49"))
		if err != nil || !dup.Duplicate || dup.BaseOffset != lastRes.BaseOffset || dup.LastOffset != lastRes.LastOffset {
			t.Fatalf("retry of the last batch = %+v, %v; want a duplicate at [%d, %d]", dup, err, lastRes.BaseOffset, lastRes.LastOffset)
		}
		// An older one of the five remembered.
		old := res[len(res)-3]
		dup, err = p.Append(makeBatch(pid, 0, 2*47, 2, 1047, "47"))
		if err != nil || !dup.Duplicate || dup.BaseOffset != old.BaseOffset {
			t.Fatalf("retry of the third newest batch = %+v, %v; want a duplicate at %d", dup, err, old.BaseOffset)
		}
		// A gap in the sequence.
		if _, err := p.Append(makeBatch(pid, 0, 2*50+6, 2, 1, "gap")); !errors.Is(err, ErrOutOfOrderSequence) {
			t.Fatalf("a sequence gap: %v, want ErrOutOfOrderSequence", err)
		}
		if o := p.Offsets(); o.LogEnd != end {
			t.Fatalf("log end %d after retries, want %d", o.LogEnd, end)
		}
	}
	check(p)
	// The state survives a crash (no Close, so no snapshot but the one
	// RestoreProducers wrote) and a clean restart alike.
	for _, clean := range []bool{false, true} {
		if clean {
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
		}
		l = testLog(t, dir, FsyncAlways, nil)
		p = openPart(t, l, "t-0", tieredSegments)
		check(p)
	}
	defer l.Close()
	next := mustAppend(t, p, makeBatch(pid, 0, 2*50, 2, 1050, "50"))
	if next.Duplicate || next.BaseOffset != end {
		t.Fatalf("next sequence = %+v, want a new batch at %d", next, end)
	}
	// Now the partition holds records.
	if err := p.RestoreProducers(sealed.ProducerSnapshot); !errors.Is(err, ErrNotEmpty) {
		t.Fatalf("RestoreProducers on a partition with records: %v", err)
	}
}

// A snapshot that does not decode, or that describes offsets the
// partition does not have below its end, changes nothing.
func TestRestoreProducersRefusesABadSnapshot(t *testing.T) {
	l := testLog(t, t.TempDir(), FsyncAlways, nil)
	defer l.Close()
	p, err := l.CreatePartitionAt("t-0", tieredSegments, 100)
	if err != nil {
		t.Fatal(err)
	}
	ps := producers{9: {epoch: 0, batches: []batchMeta{{firstSeq: 0, lastSeq: 1, firstOffset: 98, lastOffset: 99}}}}
	good := ps.encode()
	bad := slices.Clone(good)
	bad[10] ^= 1
	beyond := producers{9: {epoch: 0, batches: []batchMeta{{firstSeq: 0, lastSeq: 1, firstOffset: 99, lastOffset: 100}}}}.encode()
	for name, snap := range map[string][]byte{"flipped bit": bad, "empty": nil, "beyond the log end": beyond} {
		if err := p.RestoreProducers(snap); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: RestoreProducers = %v, want ErrCorrupt", name, err)
		}
	}
	if snaps := snapshotFiles(t, p); len(snaps) != 0 {
		t.Errorf("snapshots written: %v", snaps)
	}
	// No state: any sequence is a new batch.
	if res := mustAppend(t, p, makeBatch(9, 0, 0, 2, 1, "x")); res.Duplicate || res.BaseOffset != 100 {
		t.Fatalf("append after refused snapshots = %+v", res)
	}
}

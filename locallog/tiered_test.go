package locallog

import (
	"errors"
	"fmt"
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
		data, offs, times, err := p.ReadSealed(s.BaseOffset)
		if err != nil {
			t.Fatal(err)
		}
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
	if _, _, _, err := p.ReadSealed(segs[len(segs)-1].BaseOffset); !errors.Is(err, ErrOffsetOutOfRange) {
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

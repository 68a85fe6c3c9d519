package locallog

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// makeBatch builds an uncompressed producer batch of n records whose values
// are "<tag>-<i>" and whose timestamps start at ts, one millisecond apart.
func makeBatch(pid int64, epoch int16, seq int32, n int, ts int64, tag string) []byte {
	var recs []byte
	for i := range n {
		r := kmsg.Record{
			OffsetDelta:      int32(i),
			TimestampDelta64: int64(i),
			Key:              []byte(fmt.Sprintf("k%d", i)),
			Value:            []byte(fmt.Sprintf("%s-%d", tag, i)),
		}
		r.Length = int32(len(r.AppendTo(nil)) - 1)
		recs = r.AppendTo(recs)
	}
	b := kmsg.RecordBatch{
		Magic:           2,
		LastOffsetDelta: int32(n - 1),
		FirstTimestamp:  ts,
		MaxTimestamp:    ts + int64(n-1),
		ProducerID:      pid,
		ProducerEpoch:   epoch,
		FirstSequence:   seq,
		NumRecords:      int32(n),
		Records:         recs,
	}
	raw := b.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	binary.BigEndian.PutUint32(raw[17:], crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli)))
	return raw
}

// testLog opens a log in dir with small segments and the given fsync mode.
func testLog(t *testing.T, dir string, mode FsyncMode, open OpenFileFunc) *Log {
	t.Helper()
	l, err := Open(dir, Config{Fsync: FsyncPolicy{Mode: mode, Interval: time.Hour}, IndexIntervalBytes: 256, OpenFile: open})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

var smallSegments = PartitionConfig{SegmentBytes: 4096, RetentionMs: -1, RetentionBytes: -1}

func openPart(t *testing.T, l *Log, name string, cfg PartitionConfig) *Partition {
	t.Helper()
	p, err := l.OpenPartition(name, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// mustAppend appends and, with FsyncAlways, waits for durability so the
// records are visible.
func mustAppend(t *testing.T, p *Partition, b []byte) AppendResult {
	t.Helper()
	res, err := p.Append(b)
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	if err := p.WaitDurable(t.Context(), res.LastOffset+1); err != nil {
		t.Fatalf("wait durable: %v", err)
	}
	return res
}

// readAll reads every offset from logStart to the high watermark with
// successive Reads and returns the values in offset order, failing on any
// gap, repeat or disorder.
func readAll(t *testing.T, p *Partition, maxBytes int32) []string {
	t.Helper()
	offs := p.Offsets()
	var vals []string
	next := offs.LogStart
	for next < offs.HighWatermark {
		res, err := p.Read(next, maxBytes)
		if err != nil {
			t.Fatalf("read %d: %v", next, err)
		}
		if len(res.Data) == 0 {
			t.Fatalf("read %d below high watermark %d returned nothing", next, offs.HighWatermark)
		}
		recs := decodeAll(t, res.Data)
		for _, r := range recs {
			if r.off < next {
				continue // the first batch may start before the fetch offset
			}
			if r.off != next {
				t.Fatalf("offset %d follows %d", r.off, next-1)
			}
			vals = append(vals, r.val)
			next++
		}
	}
	return vals
}

type rec struct {
	off int64
	val string
}

func decodeAll(t *testing.T, data []byte) []rec {
	t.Helper()
	var out []rec
	for len(data) > 0 {
		var b kmsg.RecordBatch
		if err := b.ReadFrom(data); err != nil {
			t.Fatalf("decode batch: %v", err)
		}
		n := int(b.Length) + 12
		rs := b.Records
		for i := range int(b.NumRecords) {
			var r kmsg.Record
			l, k := binary.Varint(rs)
			if k <= 0 {
				t.Fatalf("bad record length")
			}
			if err := r.ReadFrom(rs[:k+int(l)]); err != nil {
				t.Fatalf("decode record %d: %v", i, err)
			}
			out = append(out, rec{off: b.FirstOffset + int64(r.OffsetDelta), val: string(r.Value)})
			rs = rs[k+int(l):]
		}
		data = data[n:]
	}
	return out
}

// faultyFile wraps a real file and fails Sync or cuts writes short on demand.
type faultyFile struct {
	*os.File
	fs *faultyFS
}

type faultyFS struct {
	syncs     atomic.Int64
	failSync  atomic.Bool
	shortNext atomic.Bool
	syncDelay time.Duration
	// fullWAL and fullSegments make writes to WAL files and to segment
	// files write half their bytes and fail with ENOSPC, as on a full disk.
	fullWAL, fullSegments atomic.Bool
}

func (fs *faultyFS) open(name string, flag int, perm os.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &faultyFile{File: f, fs: fs}, nil
}

func (f *faultyFile) Sync() error {
	f.fs.syncs.Add(1)
	if f.fs.syncDelay > 0 {
		time.Sleep(f.fs.syncDelay) // models a slow disk, not synchronisation
	}
	if f.fs.failSync.Load() {
		return fmt.Errorf("injected fsync failure")
	}
	return f.File.Sync()
}

func (f *faultyFile) WriteAt(b []byte, off int64) (int, error) {
	isWAL := strings.HasPrefix(filepath.Base(f.Name()), walPrefix)
	if (isWAL && f.fs.fullWAL.Load()) || (!isWAL && strings.HasSuffix(f.Name(), ".log") && f.fs.fullSegments.Load()) {
		n, _ := f.File.WriteAt(b[:len(b)/2], off)
		return n, fmt.Errorf("write %s: %w", f.Name(), syscall.ENOSPC)
	}
	if f.fs.shortNext.CompareAndSwap(true, false) {
		n, _ := f.File.WriteAt(b[:len(b)/2], off)
		return n, fmt.Errorf("injected short write")
	}
	return f.File.WriteAt(b, off)
}

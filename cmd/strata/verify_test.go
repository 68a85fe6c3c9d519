package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/objectstore"
	"github.com/strata-io/strata/objectstore/dir"
	"github.com/strata-io/strata/tiering"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// testBatch returns an uncompressed magic-v2 record batch at base holding n
// records, the ith with timestamp ts+i and a value naming its offset.
func testBatch(base int64, n int, ts int64) []byte {
	var recs []byte
	for i := range n {
		r := kmsg.Record{
			TimestampDelta64: int64(i),
			OffsetDelta:      int32(i),
			Value:            fmt.Appendf(nil, "value %d", base+int64(i)),
		}
		r.Length = int32(len(r.AppendTo(nil)) - 1) // a zero Length takes one byte
		recs = r.AppendTo(recs)
	}
	rb := kmsg.RecordBatch{
		FirstOffset:          base,
		PartitionLeaderEpoch: 1,
		Magic:                2,
		LastOffsetDelta:      int32(n - 1),
		FirstTimestamp:       ts,
		MaxTimestamp:         ts + int64(n-1),
		ProducerID:           -1,
		ProducerEpoch:        -1,
		FirstSequence:        -1,
		NumRecords:           int32(n),
		Records:              recs,
	}
	b := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))                   // length of what follows it
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], castagnoli)) // from the attributes on
	return b
}

// testData returns the record batches of a segment holding [base, end), at
// most three records a batch, with timestamps 1_700_000_000_000+offset.
func testData(base, end int64) []byte {
	var data []byte
	for off := base; off < end; off += 3 {
		n := int(min(3, end-off))
		data = append(data, testBatch(off, n, 1_700_000_000_000+off)...)
	}
	return data
}

// testBucket is a dir bucket holding partitions written through tiering.
type testBucket struct {
	url   string // file URL of the bucket
	b     objectstore.Bucket
	parts []*testPartition
}

// testPartition is one partition of a testBucket and what was committed.
type testPartition struct {
	topic     [16]byte
	partition int32
	prefix    string
	w         *tiering.Writer
	entries   []tiering.Entry // in offset order
}

// testTopicA and testTopicB are the topic IDs of newTestBucket's partitions.
var (
	testTopicA = [16]byte{0x0a, 0x11, 15: 0x01}
	testTopicB = [16]byte{0x0b, 0x22, 15: 0x02}
)

// newTestBucket returns a bucket of two partitions: topic A partition 0 of
// 3 segments, [0,5) [5,12) [12,20), and topic B partition 7 of 5 segments,
// [0,4) [4,9) [9,15) [15,22) [22,30), written with a chunk size of 2, so
// its manifest has two chunk refs and one tail entry.
func newTestBucket(t *testing.T) *testBucket {
	t.Helper()
	root := t.TempDir()
	b, err := dir.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	tb := &testBucket{url: "file://" + filepath.ToSlash(root), b: b}
	a := tb.addPartition(t, testTopicA, 0, tiering.WriterConfig{})
	for _, r := range [][2]int64{{0, 5}, {5, 12}, {12, 20}} {
		a.commit(t, tb.b, testData(r[0], r[1]), nil)
	}
	p := tb.addPartition(t, testTopicB, 7, tiering.WriterConfig{ChunkSize: 2})
	for _, r := range [][2]int64{{0, 4}, {4, 9}, {9, 15}, {15, 22}, {22, 30}} {
		p.commit(t, tb.b, testData(r[0], r[1]), nil)
	}
	if n := len(p.w.Manifest().Chunks); n != 2 {
		t.Fatalf("topic B has %d chunk refs, want 2", n)
	}
	return tb
}

func (tb *testBucket) addPartition(t *testing.T, topic [16]byte, partition int32, cfg tiering.WriterConfig) *testPartition {
	t.Helper()
	prefix := tiering.PartitionPrefix(topic, partition)
	w, err := tiering.Acquire(t.Context(), tb.b, prefix, cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := &testPartition{topic: topic, partition: partition, prefix: prefix, w: w}
	tb.parts = append(tb.parts, p)
	return p
}

// testSnapshot is the producer snapshot section of the segment at base:
// opaque bytes to tiering and to verify.
func testSnapshot(base int64) []byte {
	return fmt.Appendf(nil, "producer state after the segment at %d", base)
}

// commit uploads the segment object of data, whose first batch sets its
// base offset, with a producer snapshot, and appends its entry to the
// manifest, as the uploader does. edit, if not nil, changes the entry
// first, so a test can commit an entry that disagrees with its object.
func (p *testPartition) commit(t *testing.T, b objectstore.Bucket, data []byte, edit func(*tiering.Entry)) tiering.Entry {
	t.Helper()
	base := int64(binary.BigEndian.Uint64(data))
	obj, f, err := tiering.EncodeSegment(data, nil, nil, base, testSnapshot(base))
	if err != nil {
		t.Fatal(err)
	}
	e := tiering.Entry{
		BaseOffset:   f.BaseOffset,
		EndOffset:    f.EndOffset,
		SizeBytes:    int64(len(obj)),
		MinTimestamp: f.MinTimestamp,
		MaxTimestamp: f.MaxTimestamp,
		Epoch:        p.w.Epoch(),
		Records:      f.RecordCount,
	}
	if edit != nil {
		edit(&e)
	}
	key := tiering.SegmentKey(p.prefix, e.BaseOffset, e.EndOffset, e.Epoch)
	e.Key = key[len(p.prefix):]
	if _, err := b.PutIfAbsent(t.Context(), key, obj); err != nil {
		t.Fatal(err)
	}
	if err := p.w.Append(t.Context(), e); err != nil {
		t.Fatal(err)
	}
	p.entries = append(p.entries, e)
	return e
}

// key returns the bucket key of entry i.
func (p *testPartition) key(i int) string { return p.prefix + p.entries[i].Key }

// problemLine returns the start of the PROBLEM line verify prints for
// entry i: everything up to the description.
func (p *testPartition) problemLine(i int) string {
	e := p.entries[i]
	return fmt.Sprintf("PROBLEM topic=%x partition=%d offset=[%d,%d) key=%s: ", p.topic, p.partition, e.BaseOffset, e.EndOffset, p.key(i))
}

// bytes returns the total size of the segment objects of the entries.
func bytesOf(entries ...tiering.Entry) int64 {
	var n int64
	for _, e := range entries {
		n += e.SizeBytes
	}
	return n
}

// flipBit inverts one bit of the object under key, at byte pos.
func flipBit(t *testing.T, b objectstore.Bucket, key string, pos int) {
	t.Helper()
	body, _, err := b.Get(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	body[pos] ^= 0x10
	if _, err := b.Put(t.Context(), key, body); err != nil {
		t.Fatal(err)
	}
}

// runCommand runs the strata command line args in process.
func runCommand(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut strings.Builder
	code = run(t.Context(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestBucketVerifyPassesAHealthyBucket(t *testing.T) {
	tb := newTestBucket(t)
	code, out, errOut := runCommand(t, "bucket", "verify", "--bucket", tb.url)
	want := fmt.Sprintf("verified 2 partitions, 8 segments, %d bytes: 0 problems, 0 orphans\n",
		bytesOf(tb.parts[0].entries...)+bytesOf(tb.parts[1].entries...))
	if code != exitOK || out != want || errOut != "" {
		t.Errorf("exit %d, stdout:\n%s\nstderr:\n%s\nwant exit 0 and stdout %q", code, out, errOut, want)
	}

	code, out, _ = runCommand(t, "bucket", "verify", "--bucket", tb.url, "--verbose")
	for _, wantLine := range []string{
		fmt.Sprintf("CHECKED topic=%x partition=0 offset=[0,20) segments=3 bytes=%d problems=0\n", testTopicA, bytesOf(tb.parts[0].entries...)),
		fmt.Sprintf("CHECKED topic=%x partition=7 offset=[0,30) segments=5 bytes=%d problems=0\n", testTopicB, bytesOf(tb.parts[1].entries...)),
	} {
		if code != exitOK || !strings.Contains(out, wantLine) {
			t.Errorf("--verbose: exit %d, stdout:\n%s\nwant exit 0 and the line %q", code, out, wantLine)
		}
	}
}

// Each case damages a fresh bucket one way; verify must exit 1 and name
// exactly the damaged object and offsets, and still check the rest.
func TestBucketVerifyReportsDamage(t *testing.T) {
	tests := []struct {
		name string
		// damage breaks tb and returns the start of the one PROBLEM line
		// expected, and a text that line must contain.
		damage       func(t *testing.T, tb *testBucket) (line, contains string)
		wantSegments int // segments verified, of 8
	}{
		{
			name: "deleted segment object",
			damage: func(t *testing.T, tb *testBucket) (string, string) {
				a := tb.parts[0]
				if err := tb.b.Delete(t.Context(), a.key(1)); err != nil {
					t.Fatal(err)
				}
				return a.problemLine(1) + "segment object is missing", ""
			},
			wantSegments: 8,
		},
		{
			name: "flipped bit in a batch",
			damage: func(t *testing.T, tb *testBucket) (string, string) {
				p := tb.parts[1]
				flipBit(t, tb.b, p.key(3), 70) // inside the first batch's records
				return p.problemLine(3) + "segment object is corrupt: ", "segment 15: data crc"
			},
			wantSegments: 8,
		},
		{
			name: "flipped bit in a segment footer",
			damage: func(t *testing.T, tb *testBucket) (string, string) {
				a := tb.parts[0]
				flipBit(t, tb.b, a.key(2), int(a.entries[2].SizeBytes)-tiering.FooterSizeV2+20)
				return a.problemLine(2) + "segment object is corrupt: ", "segment footer crc"
			},
			wantSegments: 8,
		},
		{
			name: "flipped bit in a producer snapshot",
			damage: func(t *testing.T, tb *testBucket) (string, string) {
				p := tb.parts[1]
				body, _, err := tb.b.Get(t.Context(), p.key(4))
				if err != nil {
					t.Fatal(err)
				}
				f, err := tiering.DecodeFooter(body)
				if err != nil {
					t.Fatal(err)
				}
				off, n := f.SnapshotRange()
				if n == 0 {
					t.Fatal("the segment has no producer snapshot")
				}
				flipBit(t, tb.b, p.key(4), int(off+n/2))
				return p.problemLine(4) + "segment object is corrupt: ", "segment 22: producer snapshot crc"
			},
			wantSegments: 8,
		},
		{
			name: "truncated segment object",
			damage: func(t *testing.T, tb *testBucket) (string, string) {
				a := tb.parts[0]
				body, _, err := tb.b.Get(t.Context(), a.key(0))
				if err != nil {
					t.Fatal(err)
				}
				if _, err := tb.b.Put(t.Context(), a.key(0), body[:len(body)-1]); err != nil {
					t.Fatal(err)
				}
				e := a.entries[0]
				return a.problemLine(0) + fmt.Sprintf("segment object is %d bytes, its entry says %d; is corrupt: ", e.SizeBytes-1, e.SizeBytes), "footer magic"
			},
			wantSegments: 8,
		},
		{
			name: "flipped bit in the manifest head",
			damage: func(t *testing.T, tb *testBucket) (string, string) {
				p := tb.parts[1]
				flipBit(t, tb.b, p.prefix+"manifest", 40)
				return fmt.Sprintf("PROBLEM topic=%x partition=7 offset=? key=%smanifest: manifest head unreadable: ", testTopicB, p.prefix), "head crc"
			},
			wantSegments: 3,
		},
		{
			name: "deleted manifest chunk",
			damage: func(t *testing.T, tb *testBucket) (string, string) {
				p := tb.parts[1]
				chunk := p.w.Manifest().Chunks[1]
				if err := tb.b.Delete(t.Context(), p.prefix+chunk.Key); err != nil {
					t.Fatal(err)
				}
				return fmt.Sprintf("PROBLEM topic=%x partition=7 offset=[0,30) key=%smanifest: manifest check failed: ", testTopicB, p.prefix),
					"chunk " + chunk.Key + ": "
			},
			wantSegments: 3 + 2, // topic B's entries stop at the missing chunk
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := newTestBucket(t)
			line, contains := tt.damage(t, tb)
			code, out, errOut := runCommand(t, "bucket", "verify", "--bucket", tb.url)
			if code != exitError {
				t.Errorf("exit %d, want %d", code, exitError)
			}
			var problems []string
			for l := range strings.Lines(out) {
				if strings.HasPrefix(l, "PROBLEM ") {
					problems = append(problems, l)
				}
			}
			if len(problems) != 1 || !strings.HasPrefix(problems[0], line) || !strings.Contains(problems[0], contains) {
				t.Errorf("stdout:\n%s\nwant exactly one PROBLEM line, starting %q and containing %q", out, line, contains)
			}
			summary := fmt.Sprintf("verified 2 partitions, %d segments, ", tt.wantSegments)
			if !strings.Contains(out, summary) || !strings.HasSuffix(out, ": 1 problems, 0 orphans\n") {
				t.Errorf("stdout:\n%s\nwant a summary with %q and 1 problem, 0 orphans", out, summary)
			}
			if errOut != "" {
				t.Errorf("stderr: %s", errOut)
			}
		})
	}
}

// An entry that claims [10,20) for an object holding [5,20): the offsets
// 5..9 then have two homes. The manifest alone cannot tell; verify compares
// every object's footer with its entry.
func TestBucketVerifyFindsASegmentOverlappingItsNeighbour(t *testing.T) {
	tb := newTestBucket(t)
	p := tb.addPartition(t, testTopicA, 1, tiering.WriterConfig{})
	p.commit(t, tb.b, testData(0, 10), nil)
	p.commit(t, tb.b, testData(5, 20), func(e *tiering.Entry) { e.BaseOffset, e.Records = 10, 10 })
	p.commit(t, tb.b, testData(20, 23), nil)

	code, out, _ := runCommand(t, "bucket", "verify", "--bucket", tb.url)
	want := p.problemLine(1) + "segment object disagrees with its entry: it holds offsets [5,20), the entry says [10,20); " +
		"offsets [5,10) overlap the segments below the entry; it holds 15 records, the entry says 10\n"
	if code != exitError || !strings.Contains(out, want) || !strings.HasSuffix(out, "verified 3 partitions, 11 segments, "+
		fmt.Sprint(bytesOf(tb.parts[0].entries...)+bytesOf(tb.parts[1].entries...)+bytesOf(p.entries...))+" bytes: 1 problems, 0 orphans\n") {
		t.Errorf("exit %d, stdout:\n%s\nwant exit 1 and the line\n%s", code, out, want)
	}
}

// A head whose entries overlap does not load; verify reports the head and
// the violation, and goes on with the other partitions.
func TestBucketVerifyFindsOverlappingEntriesInAHead(t *testing.T) {
	tb := newTestBucket(t)
	a := tb.parts[0]
	over := a.commitObjectOnly(t, tb.b, testData(10, 20)) // overlaps [5,12) by [10,12)
	head := encodeTestHead(a.w.Epoch(), 99, 0, 20, []tiering.Entry{a.entries[0], a.entries[1], over})
	if _, err := tb.b.Put(t.Context(), a.prefix+"manifest", head); err != nil {
		t.Fatal(err)
	}
	code, out, _ := runCommand(t, "bucket", "verify", "--bucket", tb.url)
	wantStart := fmt.Sprintf("PROBLEM topic=%x partition=0 offset=? key=%smanifest: manifest head unreadable: ", testTopicA, a.prefix)
	wantWhat := fmt.Sprintf("entry %s starts at 10, the one before ends at 12", over.Key)
	if code != exitError || !strings.Contains(out, wantStart) || !strings.Contains(out, wantWhat) ||
		!strings.Contains(out, "verified 2 partitions, 5 segments, ") {
		t.Errorf("exit %d, stdout:\n%s\nwant exit 1 and a line starting %q naming %q", code, out, wantStart, wantWhat)
	}
}

// commitObjectOnly uploads the segment object of data and returns the entry
// a commit would append, without appending it.
func (p *testPartition) commitObjectOnly(t *testing.T, b objectstore.Bucket, data []byte) tiering.Entry {
	t.Helper()
	base := int64(binary.BigEndian.Uint64(data))
	obj, f, err := tiering.EncodeSegment(data, nil, nil, base, nil)
	if err != nil {
		t.Fatal(err)
	}
	key := tiering.SegmentKey(p.prefix, f.BaseOffset, f.EndOffset, p.w.Epoch())
	if _, err := b.PutIfAbsent(t.Context(), key, obj); err != nil {
		t.Fatal(err)
	}
	return tiering.Entry{
		Key: key[len(p.prefix):], BaseOffset: f.BaseOffset, EndOffset: f.EndOffset, SizeBytes: int64(len(obj)),
		MinTimestamp: f.MinTimestamp, MaxTimestamp: f.MaxTimestamp, Epoch: p.w.Epoch(), Records: f.RecordCount,
	}
}

// encodeTestHead writes a manifest head of the given tail entries and no
// chunks, following the layout documented at tiering's encodeHead, without
// checking anything: tiering refuses to write an invalid head.
func encodeTestHead(epoch tiering.Epoch, generation, logStart, remoteEnd int64, tail []tiering.Entry) []byte {
	be := binary.BigEndian
	b := []byte("STMH")
	b = be.AppendUint16(b, tiering.ManifestVersion)
	b = be.AppendUint16(b, 0) // flags
	b = be.AppendUint64(b, uint64(epoch))
	b = append(b, make([]byte, 16)...) // writer ID
	b = be.AppendUint64(b, uint64(generation))
	b = be.AppendUint64(b, uint64(logStart))
	b = be.AppendUint64(b, uint64(remoteEnd))
	b = be.AppendUint32(b, 0) // chunk refs
	b = be.AppendUint32(b, uint32(len(tail)))
	for _, e := range tail {
		b = be.AppendUint16(b, uint16(len(e.Key)))
		b = append(b, e.Key...)
		for _, v := range []int64{e.BaseOffset, e.EndOffset, e.SizeBytes, e.MinTimestamp, e.MaxTimestamp, int64(e.Epoch), e.Records} {
			b = be.AppendUint64(b, uint64(v))
		}
	}
	return be.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// Orphans are warnings: an upload never committed, a segment that
// retention dropped from the manifest but did not delete, and the objects
// of a partition without a manifest. The exit status stays 0.
func TestBucketVerifyWarnsOfOrphans(t *testing.T) {
	tb := newTestBucket(t)
	a := tb.parts[0]
	uncommitted := a.commitObjectOnly(t, tb.b, testData(20, 25))
	if _, err := a.w.Trim(t.Context(), 5); err != nil { // drops [0,5), whose object stays
		t.Fatal(err)
	}
	stray := tiering.PartitionPrefix(testTopicB, 3) + "segments/x"
	if _, err := tb.b.Put(t.Context(), stray, []byte("abc")); err != nil {
		t.Fatal(err)
	}
	code, out, _ := runCommand(t, "bucket", "verify", "--bucket", tb.url)
	want := []string{
		fmt.Sprintf("ORPHAN topic=%x partition=0 key=%s: segment object not referenced by the manifest, %d bytes\n", testTopicA, a.key(0), a.entries[0].SizeBytes),
		fmt.Sprintf("ORPHAN topic=%x partition=0 key=%s%s: segment object not referenced by the manifest, %d bytes\n", testTopicA, a.prefix, uncommitted.Key, uncommitted.SizeBytes),
		fmt.Sprintf("ORPHAN topic=%x partition=3 key=%s: the partition has no manifest, 3 bytes\n", testTopicB, stray),
		fmt.Sprintf("verified 2 partitions, 7 segments, %d bytes: 0 problems, 3 orphans\n", bytesOf(a.entries[1:]...)+bytesOf(tb.parts[1].entries...)),
	}
	if code != exitOK || !slices.Equal(slices.Collect(strings.Lines(out)), want) {
		t.Errorf("exit %d, stdout:\n%s\nwant exit 0 and:\n%s", code, out, strings.Join(want, ""))
	}
}

// --prefix-only compares the manifests with the listing: it finds a missing
// or resized object but, reading no segment, not a flipped bit.
func TestBucketVerifyPrefixOnly(t *testing.T) {
	tb := newTestBucket(t)
	a, p := tb.parts[0], tb.parts[1]
	flipBit(t, tb.b, p.key(0), 70)
	total := bytesOf(a.entries...) + bytesOf(p.entries...)
	code, out, _ := runCommand(t, "bucket", "verify", "--prefix-only", "--bucket", tb.url)
	if want := fmt.Sprintf("verified 2 partitions, 8 segments, %d bytes: 0 problems, 0 orphans\n", total); code != exitOK || out != want {
		t.Errorf("flipped bit: exit %d, stdout:\n%s\nwant exit 0 and %q", code, out, want)
	}

	if err := tb.b.Delete(t.Context(), a.key(2)); err != nil {
		t.Fatal(err)
	}
	code, out, _ = runCommand(t, "bucket", "verify", "--prefix-only", "--bucket", tb.url)
	want := a.problemLine(2) + "segment object is missing\n" +
		fmt.Sprintf("verified 2 partitions, 8 segments, %d bytes: 1 problems, 0 orphans\n", total-a.entries[2].SizeBytes)
	if code != exitError || out != want {
		t.Errorf("deleted object: exit %d, stdout:\n%s\nwant exit 1 and:\n%s", code, out, want)
	}
}

// The built binary exits 1 on a damaged bucket, as a script sees it.
func TestBucketVerifyProcessExitStatus(t *testing.T) {
	tb := newTestBucket(t)
	if err := tb.b.Delete(t.Context(), tb.parts[1].key(4)); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "bucket", "verify", "--bucket", tb.url)
	cmd.Env = append(os.Environ(), "STRATA_TEST_RUN_MAIN=1")
	out, err := cmd.Output()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != exitError || !strings.Contains(string(out), tb.parts[1].problemLine(4)+"segment object is missing\n") {
		t.Errorf("err %v, stdout:\n%s\nwant exit status 1 and the missing object reported", err, out)
	}
}

func TestBucketCommandUsage(t *testing.T) {
	t.Setenv(bucketEnv, "")
	tb := newTestBucket(t)
	topic := fmt.Sprintf("%x", testTopicA)
	tests := []struct {
		args     []string
		wantCode int
		wantOut  string
		wantErr  string
	}{
		{[]string{"bucket"}, exitUsage, "", "Usage: strata bucket verify"},
		{[]string{"bucket", "help"}, exitOK, "Usage: strata bucket verify", ""},
		{[]string{"bucket", "frob"}, exitUsage, "", `strata bucket: unknown subcommand "frob"`},
		{[]string{"bucket", "verify"}, exitUsage, "", "strata bucket verify: --bucket is required (or set STRATA_BUCKET)"},
		{[]string{"bucket", "verify", "-h"}, exitOK, "", "--prefix-only"},
		{[]string{"bucket", "verify", "--bucket", tb.url, "extra"}, exitUsage, "", `unexpected argument "extra"`},
		{[]string{"bucket", "verify", "--bucket", "ftp://x"}, exitUsage, "", `unknown scheme "ftp"`},
		{[]string{"bucket", "verify", "--bucket", tb.url + "/no-such-dir"}, exitError, "", "no such file or directory"},
		{[]string{"manifest"}, exitUsage, "", "Usage: strata manifest show"},
		{[]string{"manifest", "show", "--bucket", tb.url, topic}, exitUsage, "", "want TOPIC PARTITION, got 1 arguments"},
		{[]string{"manifest", "show", "--bucket", tb.url, "orders", "0"}, exitError, "", `no topic named "orders" in the bucket (it has: ), and it is not a topic ID: topic ID "orders" is not 32 hex digits`},
		{[]string{"manifest", "show", "--bucket", tb.url, topic, "p1"}, exitUsage, "", `partition "p1" is not a number`},
		{[]string{"manifest", "show", "--bucket", tb.url, topic, "9"}, exitError, "", "partition 9 has no manifest"},
		{[]string{"manifest", "show", topic, "0"}, exitUsage, "", "--bucket is required"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out, errOut := runCommand(t, tt.args...)
			if code != tt.wantCode || !strings.Contains(out, tt.wantOut) || !strings.Contains(errOut, tt.wantErr) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d, stdout with %q, stderr with %q",
					code, out, errOut, tt.wantCode, tt.wantOut, tt.wantErr)
			}
		})
	}

	// The environment supplies --bucket.
	t.Setenv(bucketEnv, tb.url)
	if code, out, errOut := runCommand(t, "bucket", "verify"); code != exitOK || !strings.Contains(out, "verified 2 partitions") {
		t.Errorf("with %s set: exit %d, stdout %q, stderr %q", bucketEnv, code, out, errOut)
	}
}

func TestSplitPartitionKey(t *testing.T) {
	id := "0a110000000000000000000000000001"
	tests := []struct {
		key                   string
		wantPrefix, wantTopic string
		wantPartition         int32
		wantOK                bool
	}{
		{"topics/" + id + "/0/manifest", "topics/" + id + "/0/", id, 0, true},
		{"topics/" + id + "/12/segments/x", "topics/" + id + "/12/", id, 12, true},
		{"topics/" + id + "/012/manifest", "", "", 0, false},
		{"topics/" + id + "/+1/manifest", "", "", 0, false},
		{"topics/" + id + "/-1/manifest", "", "", 0, false},
		{"topics/" + id + "/2147483648/manifest", "", "", 0, false},
		{"topics/" + strings.ToUpper(id) + "/0/manifest", "", "", 0, false},
		{"topics/" + id[1:] + "/0/manifest", "", "", 0, false},
		{"topics/" + id + "/meta", "", "", 0, false},
		{"topics/" + id + "/0", "", "", 0, false},
		{"other/" + id + "/0/manifest", "", "", 0, false},
	}
	for _, tt := range tests {
		prefix, topic, partition, ok := splitPartitionKey(tt.key)
		if prefix != tt.wantPrefix || topic != tt.wantTopic || partition != tt.wantPartition || ok != tt.wantOK {
			t.Errorf("splitPartitionKey(%q) = %q, %q, %d, %v; want %q, %q, %d, %v", tt.key,
				prefix, topic, partition, ok, tt.wantPrefix, tt.wantTopic, tt.wantPartition, tt.wantOK)
		}
	}
}

// verify stops, rather than reporting every object as a problem, when the
// bucket itself fails.
func TestBucketVerifyStopsOnBucketErrors(t *testing.T) {
	tb := newTestBucket(t)
	var out strings.Builder
	v := &verifier{b: failingGets{tb.b}, out: &out}
	err := v.run(context.Background())
	if !errors.Is(err, objectstore.ErrUnavailable) || strings.Contains(out.String(), "PROBLEM") {
		t.Errorf("run: %v, stdout:\n%s\nwant ErrUnavailable and no problems", err, out.String())
	}
}

// failingGets is a bucket whose every Get fails as an unavailable store does.
type failingGets struct{ objectstore.Bucket }

func (failingGets) Get(context.Context, string) ([]byte, objectstore.Info, error) {
	return nil, objectstore.Info{}, objectstore.Unavailable(errors.New("503 SlowDown"))
}

package tiering

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/strata-io/strata/index"
	"github.com/strata-io/strata/objectstore"
	"github.com/strata-io/strata/objectstore/faulty"
	"github.com/strata-io/strata/objectstore/mem"
)

var uploaderSeed = flag.Uint64("uploader-seed", 0, "replay TestUploaderRandomFaultsAndCrashes with this seed (0 runs uploaderRuns random seeds)")

const uploaderRuns = 100

// fakeSegment is a sealed local segment made of real record batches.
type fakeSegment struct {
	base, end int64
	data      []byte
	offs      *index.Offsets
	times     *index.Times
	snapshot  []byte // the producer snapshot ReadSealed returns
}

// newFakeSegment returns a segment at base of n batches of two records
// each, indexed at every batch after the first, with a producer snapshot
// naming its offsets.
func newFakeSegment(base int64, n int) fakeSegment {
	s := fakeSegment{base: base, end: base, offs: new(index.Offsets), times: new(index.Times)}
	var maxTs int64
	for i := range n {
		off := base + 2*int64(i)
		ts := 1_700_000_000_000 + 10*off
		if i > 0 {
			s.offs.Append(uint32(off-base), uint32(len(s.data)))
			s.times.Append(maxTs, uint32(len(s.data)))
		}
		s.data = append(s.data, makeBatch(off, ts, []int64{0, 3}, fmt.Sprintf("record %d", off), fmt.Sprintf("record %d", off+1))...)
		maxTs = ts + 3
		s.end = off + 2
	}
	s.snapshot = fmt.Appendf(nil, "producers at %d", s.end)
	return s
}

// fakeSource is a Source over in-memory segments. It records what it is
// told; with trimLocal it deletes its segments below the told remote end,
// as local retention would.
type fakeSource struct {
	trimLocal bool

	mu       sync.Mutex    // guards below
	all      []fakeSegment // every segment ever sealed, for checks
	local    []fakeSegment // the sealed segments on local disk
	next     int64         // base of the next segment
	told     []int64
	toldAt   []time.Time
	readErrs []error // returned by the next ReadSealed calls, one each
}

// newFakeSource returns a source whose first segment will start at start.
func newFakeSource(start int64) *fakeSource { return &fakeSource{next: start} }

// seal adds n segments of three batches each.
func (s *fakeSource) seal(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		seg := newFakeSegment(s.next, 3)
		s.all = append(s.all, seg)
		s.local = append(s.local, seg)
		s.next = seg.end
	}
}

// restart returns the source a restarted process finds: the same local
// segments, and nothing told yet.
func (s *fakeSource) restart() *fakeSource {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &fakeSource{trimLocal: s.trimLocal, all: slices.Clone(s.all), local: slices.Clone(s.local), next: s.next}
}

func (s *fakeSource) Sealed() []SealedInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []SealedInfo
	for _, seg := range s.local {
		out = append(out, SealedInfo{BaseOffset: seg.base, EndOffset: seg.end, SizeBytes: int64(len(seg.data))})
	}
	return out
}

func (s *fakeSource) ReadSealed(base int64) (SealedSegment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.readErrs) > 0 {
		err := s.readErrs[0]
		s.readErrs = s.readErrs[1:]
		return SealedSegment{}, err
	}
	for _, seg := range s.local {
		if seg.base == base {
			return SealedSegment{Data: slices.Clone(seg.data), Offsets: seg.offs, Times: seg.times, ProducerSnapshot: slices.Clone(seg.snapshot)}, nil
		}
	}
	return SealedSegment{}, fmt.Errorf("no local segment at %d", base)
}

func (s *fakeSource) Uploaded(remoteEnd int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.told = append(s.told, remoteEnd)
	s.toldAt = append(s.toldAt, time.Now())
	if s.trimLocal {
		s.local = slices.DeleteFunc(s.local, func(seg fakeSegment) bool { return seg.end <= remoteEnd })
	}
}

func (s *fakeSource) toldEnds() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.told)
}

func (s *fakeSource) toldTimes() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.toldAt)
}

func (s *fakeSource) end() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.next
}

// ends returns the end offsets of the segments in [from, to).
func (s *fakeSource) ends(from, to int64) []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []int64
	for _, seg := range s.all {
		if seg.base >= from && seg.end <= to {
			out = append(out, seg.end)
		}
	}
	return out
}

func (s *fakeSource) segmentAt(base int64) (fakeSegment, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, seg := range s.all {
		if seg.base == base {
			return seg, true
		}
	}
	return fakeSegment{}, false
}

// checkUploaded checks the one-home property for the remote tier under
// prefix: the manifest passes Check and holds exactly [start, end), each
// entry's object decodes, matches its entry, and holds byte-for-byte the
// local segment with the same bounds. With the manifest's contiguity that
// puts every offset in [start, end) in the remote tier exactly once.
func checkUploaded(t *testing.T, b objectstore.Bucket, prefix string, src *fakeSource, start, end int64) *Manifest {
	t.Helper()
	ctx := context.Background()
	m, _, err := Load(ctx, b, prefix)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Check(ctx, b); err != nil {
		t.Fatal(err)
	}
	if m.LogStartOffset != start || m.RemoteEnd != end {
		t.Fatalf("remote tier [%d, %d), want [%d, %d)", m.LogStartOffset, m.RemoteEnd, start, end)
	}
	next := start
	for e, err := range m.Entries(ctx, b) {
		if err != nil {
			t.Fatal(err)
		}
		if e.BaseOffset != next {
			t.Fatalf("entry %s starts at %d, want %d", e.Key, e.BaseOffset, next)
		}
		obj, _, err := b.Get(ctx, prefix+e.Key)
		if err != nil {
			t.Fatalf("object of entry [%d, %d): %v", e.BaseOffset, e.EndOffset, err)
		}
		seg, err := DecodeSegment(obj)
		if err != nil {
			t.Fatal(err)
		}
		f := seg.Footer
		if f.BaseOffset != e.BaseOffset || f.EndOffset != e.EndOffset || f.Size() != e.SizeBytes ||
			f.RecordCount != e.Records || f.MinTimestamp != e.MinTimestamp || f.MaxTimestamp != e.MaxTimestamp {
			t.Fatalf("entry %+v does not describe its object's footer %+v", e, f)
		}
		local, ok := src.segmentAt(e.BaseOffset)
		if !ok || local.end != e.EndOffset || !bytes.Equal(local.data, seg.Data) {
			t.Fatalf("object of entry [%d, %d) is not the local segment there", e.BaseOffset, e.EndOffset)
		}
		if !equalIndexes(seg.Offsets, seg.Times, local.offs, local.times) {
			t.Fatalf("object of entry [%d, %d) has other indexes than the local segment", e.BaseOffset, e.EndOffset)
		}
		if !bytes.Equal(seg.ProducerSnapshot, local.snapshot) {
			t.Fatalf("object of entry [%d, %d) has producer snapshot %q, the local segment %q", e.BaseOffset, e.EndOffset, seg.ProducerSnapshot, local.snapshot)
		}
		next = e.EndOffset
	}
	if next != end {
		t.Fatalf("entries end at %d, want %d", next, end)
	}
	return m
}

// orphanSegments returns the segment objects under prefix that the
// manifest does not reference.
// segmentBytes is the size of every segment object under prefix.
func segmentBytes(t *testing.T, b objectstore.Bucket, prefix string) int64 {
	t.Helper()
	var n int64
	for info, err := range b.List(context.Background(), prefix+segmentDir) {
		if err != nil {
			t.Fatal(err)
		}
		n += info.Size
	}
	return n
}

func orphanSegments(t *testing.T, b objectstore.Bucket, prefix string) []string {
	t.Helper()
	ctx := context.Background()
	m, _, err := Load(ctx, b, prefix)
	if err != nil {
		t.Fatal(err)
	}
	refs := map[string]bool{}
	for e, err := range m.Entries(ctx, b) {
		if err != nil {
			t.Fatal(err)
		}
		refs[prefix+e.Key] = true
	}
	var out []string
	for _, key := range keysUnder(t, b, prefix+segmentDir) {
		if !refs[key] {
			out = append(out, key)
		}
	}
	return out
}

// countsOf returns c's calls and writes since its last reset.
func countsOf(c *counting) (calls, writes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls, c.writes
}

func acquireAt(t *testing.T, b objectstore.Bucket, prefix string, cfg WriterConfig) *Writer {
	t.Helper()
	w, err := Acquire(context.Background(), b, prefix, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

var quietLog = slog.New(slog.DiscardHandler)

// uploaderRun is an Uploader's Run in a goroutine.
type uploaderRun struct {
	cancel context.CancelFunc
	errc   chan error
}

func startUploader(u *Uploader) *uploaderRun {
	ctx, cancel := context.WithCancel(context.Background())
	r := &uploaderRun{cancel: cancel, errc: make(chan error, 1)}
	go func() { r.errc <- u.Run(ctx) }()
	return r
}

// stop cancels Run and returns what it returned.
func (r *uploaderRun) stop() error {
	r.cancel()
	return <-r.errc
}

func TestUploaderUploadsSealedSegmentsInOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mem.New()
		w := mustAcquire(t, b, WriterConfig{ChunkSize: 2})
		src := newFakeSource(0)
		src.seal(5)
		u := NewUploader(b, UploaderConfig{Concurrency: 1, Logger: quietLog})
		u.Add(testPrefix, w, src)

		st, ok := u.Status(testPrefix)
		var size int64
		for _, s := range src.Sealed() {
			size += s.SizeBytes
		}
		if !ok || st.RemoteEnd != 0 || st.UploadLagBytes != size {
			t.Fatalf("status before Run = %+v, %v; want lag %d", st, ok, size)
		}

		r := startUploader(u)
		synctest.Wait()
		checkUploaded(t, b, testPrefix, src, 0, src.end())
		if got, want := src.toldEnds(), src.ends(0, src.end()); !slices.Equal(got, want) {
			t.Fatalf("Uploaded got %v, want %v", got, want)
		}

		src.seal(2)
		if st, _ := u.Status(testPrefix); st.UploadLagBytes == 0 {
			t.Error("no upload lag after sealing two segments")
		}
		u.Notify(testPrefix)
		synctest.Wait()
		checkUploaded(t, b, testPrefix, src, 0, src.end())
		if got, want := src.toldEnds(), src.ends(0, src.end()); !slices.Equal(got, want) {
			t.Fatalf("Uploaded got %v, want %v", got, want)
		}
		if err := r.stop(); err != nil {
			t.Fatalf("Run = %v", err)
		}

		if st, _ := u.Status(testPrefix); st != (PartitionStatus{RemoteEnd: src.end()}) {
			t.Errorf("status = %+v", st)
		}
		if s := u.Stats(); s != (UploaderStats{Uploads: 7, UploadedBytes: segmentBytes(t, b, testPrefix), Commits: 7}) {
			t.Errorf("stats = %+v", s)
		}
		if o := orphanSegments(t, b, testPrefix); len(o) != 0 {
			t.Errorf("orphans %v", o)
		}
		if _, ok := u.Status("topics/unknown/0/"); ok {
			t.Error("Status of an unknown prefix reports ok")
		}
		u.Notify("topics/unknown/0/") // ignored
	})
}

// TestUploaderResumesAfterRestart: a new process (new Uploader, writer
// Acquired again) continues at the manifest's RemoteEnd, skipping local
// segments already uploaded, and never commits an offset twice.
func TestUploaderResumesAfterRestart(t *testing.T) {
	for _, trimmed := range []bool{false, true} {
		t.Run(fmt.Sprintf("local tier trimmed=%v", trimmed), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := mem.New()
				src := newFakeSource(0)
				src.trimLocal = trimmed
				src.seal(3)
				u1 := NewUploader(b, UploaderConfig{Logger: quietLog})
				u1.Add(testPrefix, mustAcquire(t, b, WriterConfig{}), src)
				r := startUploader(u1)
				synctest.Wait()
				if err := r.stop(); err != nil {
					t.Fatal(err)
				}
				mid := src.end()
				src.seal(2)

				src2 := src.restart()
				w2 := mustAcquire(t, b, WriterConfig{})
				u2 := NewUploader(b, UploaderConfig{Logger: quietLog})
				u2.Add(testPrefix, w2, src2)
				r = startUploader(u2)
				synctest.Wait()
				if err := r.stop(); err != nil {
					t.Fatal(err)
				}

				m := checkUploaded(t, b, testPrefix, src, 0, src.end())
				var epochs []Epoch
				for e, err := range m.Entries(context.Background(), b) {
					if err != nil {
						t.Fatal(err)
					}
					epochs = append(epochs, e.Epoch)
				}
				if want := []Epoch{1, 1, 1, 2, 2}; !slices.Equal(epochs, want) {
					t.Errorf("entry epochs %v, want %v", epochs, want)
				}
				// The restarted source first learns the remote end it
				// resumes from, then each new commit.
				want := append([]int64{mid}, src.ends(mid, src.end())...)
				if got := src2.toldEnds(); !slices.Equal(got, want) {
					t.Errorf("restarted source told %v, want %v", got, want)
				}
				if s := u2.Stats(); s.Uploads != 2 || s.Commits != 2 {
					t.Errorf("restarted uploader stats %+v, want 2 uploads and commits", s)
				}
				if o := orphanSegments(t, b, testPrefix); len(o) != 0 {
					t.Errorf("orphans %v", o)
				}
			})
		})
	}
}

// crashAtFailpoint returns a Failpoint that fails the nth time name is
// passed.
func crashAtFailpoint(name string, n int) func(string) error {
	var mu sync.Mutex
	seen := 0
	return func(got string) error {
		mu.Lock()
		defer mu.Unlock()
		if got != name {
			return nil
		}
		if seen++; seen == n {
			return errors.New("simulated crash")
		}
		return nil
	}
}

// TestUploaderCrashBetweenSteps crashes the uploader at each step of the
// second segment's upload (by a failpoint, or by halting the bucket before
// or after a call) and restarts it on the same bucket and local data:
// every offset ends up in the manifest exactly once, the local tier is
// never told of an offset the manifest does not hold, and Sweep removes
// exactly the orphan the crash left.
func TestUploaderCrashBetweenSteps(t *testing.T) {
	tests := []struct {
		name      string
		failpoint string
		rule      faulty.Rule
		orphans   int
	}{
		{name: "failpoint after put", failpoint: FailpointAfterPut, orphans: 1},
		{name: "failpoint after verify", failpoint: FailpointAfterVerify, orphans: 1},
		{name: "failpoint after commit", failpoint: FailpointAfterCommit},
		{name: "halt before put", rule: faulty.HaltAt(objectstore.OpPutIfAbsent, 2)},
		{name: "halt after put", rule: faulty.HaltAfterNth(objectstore.OpPutIfAbsent, 2), orphans: 1},
		{name: "halt in verify", rule: faulty.HaltAt(objectstore.OpGetRange, 2), orphans: 1},
		{name: "halt before commit", rule: faulty.HaltAt(objectstore.OpPutIfMatch, 2), orphans: 1},
		{name: "halt after commit", rule: faulty.HaltAfterNth(objectstore.OpPutIfMatch, 2)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := context.Background()
				f := faulty.New(mem.New(), 1)
				src := newFakeSource(0)
				src.trimLocal = true
				src.seal(4)
				cfg := UploaderConfig{Concurrency: 1, Logger: quietLog}
				if tt.failpoint != "" {
					cfg.Failpoint = crashAtFailpoint(tt.failpoint, 2)
				}
				w1 := mustAcquire(t, f, WriterConfig{})
				if tt.rule.Action != 0 {
					f.Inject(tt.rule)
				}
				u1 := NewUploader(f, cfg)
				u1.Add(testPrefix, w1, src)
				r := startUploader(u1)
				var runErr error
				if tt.failpoint != "" {
					runErr = <-r.errc // Run ends by itself
					r.cancel()
					if runErr == nil || !strings.Contains(runErr.Error(), tt.failpoint) {
						t.Fatalf("Run after a failpoint = %v", runErr)
					}
				} else {
					synctest.Wait() // retrying the halted bucket, in backoff
					if !f.Halted() {
						t.Fatal("bucket not halted")
					}
					if runErr = r.stop(); runErr != nil {
						t.Fatalf("Run = %v", runErr)
					}
				}

				// The crash: the bucket comes back, the process restarts.
				f.Clear()
				crashed, _, err := Load(ctx, f, testPrefix)
				if err != nil {
					t.Fatal(err)
				}
				for _, end := range src.toldEnds() {
					if end > crashed.RemoteEnd {
						t.Fatalf("local tier told %d, the manifest ends at %d", end, crashed.RemoteEnd)
					}
				}
				if got := len(orphanSegments(t, f, testPrefix)); got != tt.orphans {
					t.Errorf("%d orphans after the crash, want %d", got, tt.orphans)
				}

				src2 := src.restart()
				w2 := mustAcquire(t, f, WriterConfig{})
				u2 := NewUploader(f, UploaderConfig{Logger: quietLog})
				u2.Add(testPrefix, w2, src2)
				r = startUploader(u2)
				synctest.Wait()
				if err := r.stop(); err != nil {
					t.Fatal(err)
				}
				checkUploaded(t, f, testPrefix, src, 0, src.end())

				// Sweep spares young orphans, then deletes the old ones.
				if n, err := u2.Sweep(ctx, testPrefix, w2, time.Hour); err != nil || n != 0 {
					t.Fatalf("Sweep of young objects = %d, %v", n, err)
				}
				time.Sleep(2 * time.Hour)
				n, err := u2.Sweep(ctx, testPrefix, w2, time.Hour)
				if err != nil || n != tt.orphans {
					t.Fatalf("Sweep = %d, %v; want %d", n, err, tt.orphans)
				}
				if o := orphanSegments(t, f, testPrefix); len(o) != 0 {
					t.Errorf("orphans after Sweep: %v", o)
				}
				checkUploaded(t, f, testPrefix, src, 0, src.end())
			})
		})
	}
}

// putTimeline records when segment objects are stored.
type putTimeline struct {
	objectstore.Bucket

	mu   sync.Mutex // guards below
	puts []time.Time
}

func (l *putTimeline) putTimes() []time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.puts)
}

func (l *putTimeline) PutIfAbsent(ctx context.Context, key string, body []byte) (objectstore.ETag, error) {
	l.mu.Lock()
	l.puts = append(l.puts, time.Now())
	l.mu.Unlock()
	return l.Bucket.PutIfAbsent(ctx, key, body)
}

// TestUploaderRetriesWithBackoff: each failure is retried after the next,
// capped backoff, on fake time; a commit whose outcome was unknown is
// retried with the same object rather than a new upload.
func TestUploaderRetriesWithBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := faulty.New(mem.New(), 1)
		w := mustAcquire(t, f, WriterConfig{})
		f.Inject(
			faulty.FailNth(objectstore.OpPutIfAbsent, 1, nil),          // 1: the put fails
			faulty.FailNth(objectstore.OpHead, 1, nil),                 // 2: the verify fails: an orphan
			faulty.TimeoutAfterWrite(objectstore.OpPutIfMatch, 1),      // 3: the commit lands, reports a timeout,
			faulty.FailNth(objectstore.OpGet, 1, nil),                  //    and reading the head back fails
			faulty.FailNth(objectstore.OpGetRange, 2, errors.New("x")), // spent by the second segment
		)
		l := &putTimeline{Bucket: f}
		src := newFakeSource(0)
		src.seal(1)
		backoff := Backoff{Min: time.Second, Max: 3 * time.Second}
		u := NewUploader(l, UploaderConfig{Backoff: backoff, Jitter: func() float64 { return 0.5 }, Logger: quietLog})
		u.Add(testPrefix, w, src)
		begin := time.Now()
		r := startUploader(u)

		synctest.Wait()
		if st, _ := u.Status(testPrefix); st.LastError == "" || st.RemoteEnd != 0 || st.Stopped {
			t.Errorf("status while backing off = %+v", st)
		}
		d1, d2, d3 := backoff.Delay(1, 0.5), backoff.Delay(2, 0.5), backoff.Delay(3, 0.5)
		if d1 != 750*time.Millisecond || d2 != 1500*time.Millisecond || d3 != 2250*time.Millisecond {
			t.Fatalf("delays %v %v %v", d1, d2, d3) // 3rd capped at Max
		}
		time.Sleep(d1 + d2 + d3 + time.Millisecond)
		synctest.Wait()

		var offsets []time.Duration
		for _, at := range l.putTimes() {
			offsets = append(offsets, at.Sub(begin))
		}
		if want := []time.Duration{0, d1, d1 + d2}; !slices.Equal(offsets, want) {
			t.Errorf("puts at %v, want %v", offsets, want)
		}
		if told := src.toldTimes(); len(told) != 1 || told[0].Sub(begin) != d1+d2+d3 {
			t.Errorf("Uploaded at %v, want once at %v", told, d1+d2+d3)
		}
		checkUploaded(t, f, testPrefix, src, 0, src.end())
		if o := orphanSegments(t, f, testPrefix); len(o) != 1 {
			t.Errorf("orphans %v, want the one whose verify failed", o)
		}
		if st, _ := u.Status(testPrefix); st.LastError != "" {
			t.Errorf("LastError %q after a success", st.LastError)
		}
		if s := u.Stats(); s != (UploaderStats{Uploads: 2, UploadedBytes: segmentBytes(t, f, testPrefix), Commits: 1, CommitFailures: 1, Failures: 3}) {
			t.Errorf("stats %+v", s)
		}

		// The backoff starts over after a success: the next segment's
		// verify fails once and is retried after the first delay.
		src.seal(1)
		u.Notify(testPrefix)
		synctest.Wait()
		at := time.Now()
		time.Sleep(d1)
		synctest.Wait()
		puts := l.putTimes()
		if got := puts[len(puts)-1].Sub(at); got != d1 {
			t.Errorf("retry after %v, want %v", got, d1)
		}
		checkUploaded(t, f, testPrefix, src, 0, src.end())
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestBackoffDelay(t *testing.T) {
	b := Backoff{Min: 100 * time.Millisecond, Max: 30 * time.Second}
	tests := []struct {
		n      int
		jitter float64
		want   time.Duration
	}{
		{0, 0, 50 * time.Millisecond},
		{1, 0, 50 * time.Millisecond},
		{1, 0.999999, 100*time.Millisecond - 50},
		{2, 0.5, 150 * time.Millisecond},
		{9, 0, 12800 * time.Millisecond},
		{10, 0, 15 * time.Second},
		{11, 0.5, 22500 * time.Millisecond},
		{63, 0, 15 * time.Second},
		{1 << 30, 0.5, 22500 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := b.Delay(tt.n, tt.jitter); got != tt.want {
			t.Errorf("Delay(%d, %v) = %v, want %v", tt.n, tt.jitter, got, tt.want)
		}
	}
}

// logBuffer is an io.Writer for a log handler shared by goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// TestUploaderStopsFencedPartition: a writer that a newer one has fenced
// loses its commit, and its partition stops for good, reported in Status
// and the log; its other partitions go on. A writer that already knows it
// is fenced stores nothing at all.
func TestUploaderStopsFencedPartition(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		c := &counting{Bucket: mem.New()}
		other := PartitionPrefix([16]byte{1}, 0)
		w1 := mustAcquire(t, c, WriterConfig{})
		wOther := acquireAt(t, c, other, WriterConfig{})
		w2 := mustAcquire(t, c, WriterConfig{}) // fences w1; w1 does not know yet
		src, srcOther := newFakeSource(0), newFakeSource(0)
		src.seal(2)
		srcOther.seal(2)
		var logs logBuffer
		u := NewUploader(c, UploaderConfig{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		u.Add(testPrefix, w1, src)
		u.Add(other, wOther, srcOther)
		r := startUploader(u)
		synctest.Wait()

		st, _ := u.Status(testPrefix)
		if !st.Fenced || !st.Stopped || !strings.Contains(st.LastError, "fenced") || st.RemoteEnd != 0 {
			t.Errorf("status of the fenced partition %+v", st)
		}
		if !strings.Contains(logs.String(), "level=ERROR") {
			t.Errorf("no error logged:\n%s", logs.String())
		}
		if got := src.toldEnds(); len(got) != 0 {
			t.Errorf("fenced partition told %v", got)
		}
		m := mustLoad(t, c)
		if m.WriterEpoch != w2.Epoch() || !m.Empty() || m.Generation != 2 {
			t.Errorf("the fenced writer changed the manifest: %+v", m)
		}
		checkUploaded(t, c, other, srcOther, 0, srcOther.end())
		if s := u.Stats(); s.Stopped != 1 || s.Commits != 2 || s.Failures != 0 {
			t.Errorf("stats %+v", s)
		}

		// Stopped means stopped: no call of the bucket for it again.
		c.reset()
		src.seal(1)
		u.Notify(testPrefix)
		synctest.Wait()
		if calls, _ := countsOf(c); calls != 0 {
			t.Errorf("%d bucket calls for a stopped partition", calls)
		}

		// A writer that already learned it is fenced stores nothing.
		c.reset()
		u.Add(testPrefix, w1, src)
		synctest.Wait()
		if st, _ := u.Status(testPrefix); !st.Fenced {
			t.Errorf("re-added fenced writer: status %+v", st)
		}
		if _, writes := countsOf(c); writes != 0 {
			t.Errorf("re-added fenced writer: %d writes", writes)
		}

		// w1 left one orphan, at offset 0. w1 may not sweep; the new owner
		// sweeps it once its own uploads moved RemoteEnd past it.
		time.Sleep(time.Hour)
		if _, err := u.Sweep(ctx, testPrefix, w1, time.Minute); !errors.Is(err, ErrFenced) {
			t.Errorf("Sweep with a fenced writer = %v", err)
		}
		if n, err := u.Sweep(ctx, testPrefix, w2, time.Minute); err != nil || n != 0 {
			t.Errorf("Sweep by the new owner before it uploaded = %d, %v; want 0", n, err)
		}
		u.Add(testPrefix, w2, src.restart())
		synctest.Wait()
		checkUploaded(t, c, testPrefix, src, 0, src.end())
		time.Sleep(time.Hour)
		if n, err := u.Sweep(ctx, testPrefix, w2, time.Minute); err != nil || n != 1 {
			t.Errorf("Sweep by the new owner = %d, %v; want 1", n, err)
		}
		if o := orphanSegments(t, c, testPrefix); len(o) != 0 {
			t.Errorf("orphans %v", o)
		}
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
	})
}

// putGate holds every store of a segment object until the test releases
// it, and records how many are held at once, in all and per partition.
type putGate struct {
	objectstore.Bucket
	release chan struct{}

	mu       sync.Mutex // guards below
	held     int
	maxHeld  int
	byPrefix map[string]int
	order    []string // partition prefix of each store, in arrival order
}

func (g *putGate) PutIfAbsent(ctx context.Context, key string, body []byte) (objectstore.ETag, error) {
	prefix, _, isSegment := strings.Cut(key, segmentDir)
	if !isSegment {
		return g.Bucket.PutIfAbsent(ctx, key, body)
	}
	g.mu.Lock()
	g.held++
	g.maxHeld = max(g.maxHeld, g.held)
	g.byPrefix[prefix]++
	bad := g.byPrefix[prefix] > 1
	g.order = append(g.order, prefix)
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.held--
		g.byPrefix[prefix]--
		g.mu.Unlock()
	}()
	if bad {
		return "", fmt.Errorf("two uploads of %s at once", prefix)
	}
	select {
	case <-g.release:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	return g.Bucket.PutIfAbsent(ctx, key, body)
}

func (g *putGate) heldNow() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.held
}

// TestUploaderBoundsConcurrency: never more than Concurrency partitions
// upload at once, a partition never uploads two segments at once, and
// partitions take turns.
func TestUploaderBoundsConcurrency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const parts, segs, conc = 10, 2, 3
		g := &putGate{Bucket: mem.New(), release: make(chan struct{}), byPrefix: map[string]int{}}
		u := NewUploader(g, UploaderConfig{Concurrency: conc, Logger: quietLog})
		srcs := map[string]*fakeSource{}
		var prefixes []string
		for i := range parts {
			prefix := PartitionPrefix([16]byte{2}, int32(i))
			src := newFakeSource(int64(100 * i))
			src.seal(segs)
			srcs[prefix] = src
			prefixes = append(prefixes, prefix)
			u.Add(prefix, acquireAt(t, g, prefix, WriterConfig{}), src)
		}
		r := startUploader(u)
		for left := parts * segs; left > 0; left-- {
			synctest.Wait()
			if got := g.heldNow(); got < 1 || got > conc || (left >= 2*conc && got != conc) {
				t.Fatalf("%d uploads held with %d to go", got, left)
			}
			g.release <- struct{}{}
		}
		synctest.Wait()
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
		if g.maxHeld != conc {
			t.Errorf("at most %d uploads at once, want %d", g.maxHeld, conc)
		}
		// Partitions take turns: each stores one segment before any
		// stores its second.
		if first := slices.Sorted(slices.Values(g.order[:parts])); !slices.Equal(first, prefixes) {
			t.Errorf("first round of uploads %v, want each partition once", g.order[:parts])
		}
		for _, prefix := range prefixes {
			src := srcs[prefix]
			checkUploaded(t, g, prefix, src, src.all[0].base, src.end())
		}
		if s := u.Stats(); s.Failures != 0 || s.Uploads != parts*segs {
			t.Errorf("stats %+v", s)
		}
	})
}

// TestUploaderStartsAtLocalStart: an empty remote tier moves up to where
// the local tier starts; a local tier that does not meet a non-empty
// remote tier stops the partition without writing.
func TestUploaderStartsAtLocalStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mem.New()
		w := mustAcquire(t, b, WriterConfig{})
		src := newFakeSource(100)
		src.seal(2)
		u := NewUploader(b, UploaderConfig{Logger: quietLog})
		u.Add(testPrefix, w, src)
		r := startUploader(u)
		synctest.Wait()
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
		checkUploaded(t, b, testPrefix, src, 100, src.end())
		if got, want := src.toldEnds(), append([]int64{100}, src.ends(100, src.end())...); !slices.Equal(got, want) {
			t.Errorf("told %v, want %v", got, want)
		}
		if s := u.Stats(); s.Commits != 3 || s.Uploads != 2 {
			t.Errorf("stats %+v, want 2 uploads and 3 commits (StartAt and two appends)", s)
		}
	})

	end := newFakeSegment(0, 3).end // the remote tier holds one segment, [0, end)
	for _, tt := range []struct {
		name string
		base int64 // of the local tier after a restart
	}{
		{"gap", end + 2},
		{"straddle", end - 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := &counting{Bucket: mem.New()}
				w := mustAcquire(t, c, WriterConfig{})
				first := newFakeSource(0)
				first.seal(1)
				u0 := NewUploader(c, UploaderConfig{Logger: quietLog})
				u0.Add(testPrefix, w, first)
				r := startUploader(u0)
				synctest.Wait()
				if err := r.stop(); err != nil {
					t.Fatal(err)
				}
				src := newFakeSource(tt.base)
				src.seal(2)
				c.reset()
				u := NewUploader(c, UploaderConfig{Logger: quietLog})
				u.Add(testPrefix, w, src)
				r = startUploader(u)
				synctest.Wait()
				if err := r.stop(); err != nil {
					t.Fatal(err)
				}
				st, _ := u.Status(testPrefix)
				if !st.Stopped || st.Fenced || !strings.Contains(st.LastError, "not contiguous") {
					t.Errorf("status %+v", st)
				}
				if _, writes := countsOf(c); writes != 0 {
					t.Errorf("%d writes", writes)
				}
				checkUploaded(t, c, testPrefix, first, 0, end)
			})
		})
	}
}

// TestUploaderStopsOnBrokenLocalSegment: a local segment that does not
// encode, or that its Source reports corrupt, stops its partition; a
// local read that fails otherwise is retried; other partitions go on.
func TestUploaderStopsOnBrokenLocalSegment(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := mem.New()
		u := NewUploader(b, UploaderConfig{Backoff: Backoff{Min: time.Second}, Jitter: func() float64 { return 0 }, Logger: quietLog})

		flipped := newFakeSource(0)
		flipped.seal(3)
		flipped.mu.Lock()
		flipped.local[1].data[len(flipped.local[1].data)-1] ^= 1 // breaks a batch CRC
		flipped.mu.Unlock()
		pFlipped := PartitionPrefix([16]byte{3}, 0)
		u.Add(pFlipped, acquireAt(t, b, pFlipped, WriterConfig{}), flipped)

		corrupt := newFakeSource(0)
		corrupt.seal(1)
		corrupt.readErrs = []error{fmt.Errorf("segment file: %w", ErrCorrupt)}
		pCorrupt := PartitionPrefix([16]byte{3}, 1)
		u.Add(pCorrupt, acquireAt(t, b, pCorrupt, WriterConfig{}), corrupt)

		flaky := newFakeSource(0)
		flaky.seal(2)
		flaky.readErrs = []error{errors.New("EIO")}
		pFlaky := PartitionPrefix([16]byte{3}, 2)
		u.Add(pFlaky, acquireAt(t, b, pFlaky, WriterConfig{}), flaky)

		r := startUploader(u)
		synctest.Wait()
		time.Sleep(time.Second)
		synctest.Wait()
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}

		st, _ := u.Status(pFlipped)
		if !st.Stopped || st.Fenced || !strings.Contains(st.LastError, "crc") || st.RemoteEnd != flipped.all[1].base {
			t.Errorf("status with a flipped bit %+v", st)
		}
		st, _ = u.Status(pCorrupt)
		if !st.Stopped || !strings.Contains(st.LastError, ErrCorrupt.Error()) || st.RemoteEnd != 0 {
			t.Errorf("status with a corrupt segment %+v", st)
		}
		checkUploaded(t, b, pFlaky, flaky, 0, flaky.end())
		if s := u.Stats(); s.Stopped != 2 || s.Failures != 1 {
			t.Errorf("stats %+v", s)
		}
	})
}

// commitGate holds commits of the head while armed.
type commitGate struct {
	objectstore.Bucket
	armed   chan struct{} // closed: hold commits
	release chan struct{}
}

func (g *commitGate) PutIfMatch(ctx context.Context, key string, body []byte, etag objectstore.ETag) (objectstore.ETag, error) {
	select {
	case <-g.armed:
		select {
		case <-g.release:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	default:
	}
	return g.Bucket.PutIfMatch(ctx, key, body, etag)
}

// TestSweepSparesReferencedPendingAndYoungObjects: Sweep deletes old
// unreferenced segment objects and chunks, and leaves alone what the
// manifest references (chunks included), what a commit may still
// reference (a segment object at or above RemoteEnd, here one stored
// and waiting for its commit, and the chunk that commit writes first)
// however old, and objects younger than olderThan.
func TestSweepSparesReferencedPendingAndYoungObjects(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		g := &commitGate{Bucket: mem.New(), armed: make(chan struct{}), release: make(chan struct{})}
		w := mustAcquire(t, g, WriterConfig{ChunkSize: 2})
		src := newFakeSource(0)
		src.seal(4) // two entries in a chunk, two in the tail
		u := NewUploader(g, UploaderConfig{Logger: quietLog})
		u.Add(testPrefix, w, src)
		r := startUploader(u)
		synctest.Wait()
		if m := checkUploaded(t, g, testPrefix, src, 0, src.end()); len(m.Chunks) != 1 {
			t.Fatalf("%d chunks, want 1", len(m.Chunks))
		}

		oldOrphans := []string{
			SegmentKey(testPrefix, 0, 6, w.Epoch()),
			testPrefix + newChunkKey(0),
		}
		future := SegmentKey(testPrefix, 1000, 1006, w.Epoch())
		for _, key := range append(slices.Clone(oldOrphans), future, testPrefix+"segments/not-ours") {
			if _, err := g.Put(ctx, key, []byte("orphan")); err != nil {
				t.Fatal(err)
			}
		}
		close(g.armed)
		src.seal(1)
		u.Notify(testPrefix)
		synctest.Wait() // the fifth segment is stored, its commit held
		time.Sleep(2 * time.Hour)
		young := SegmentKey(testPrefix, 0, 6, w.Epoch())
		if _, err := g.Put(ctx, young, []byte("young")); err != nil {
			t.Fatal(err)
		}
		before := keysUnder(t, g, testPrefix)

		n, err := u.Sweep(ctx, testPrefix, w, time.Hour)
		if err != nil || n != len(oldOrphans) {
			t.Fatalf("Sweep = %d, %v; want %d", n, err, len(oldOrphans))
		}
		after := keysUnder(t, g, testPrefix)
		if want := slices.DeleteFunc(before, func(k string) bool { return slices.Contains(oldOrphans, k) }); !slices.Equal(after, want) {
			t.Fatalf("after Sweep\n%v\nwant\n%v", after, want)
		}

		g.release <- struct{}{}
		synctest.Wait()
		checkUploaded(t, g, testPrefix, src, 0, src.end())
		want := []string{young, future, testPrefix + "segments/not-ours"}
		slices.Sort(want)
		if o := orphanSegments(t, g, testPrefix); !slices.Equal(o, want) {
			t.Errorf("orphans %v, want %v", o, want)
		}
		if s := u.Stats(); s.Swept != 2 {
			t.Errorf("stats %+v", s)
		}
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestUploaderRemoveCancelsUpload: Remove abandons an upload in flight and
// returns once it ended; the partition is forgotten and its Source is not
// told anything after.
func TestUploaderRemoveCancelsUpload(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := &putGate{Bucket: mem.New(), release: make(chan struct{}), byPrefix: map[string]int{}}
		w := mustAcquire(t, g, WriterConfig{})
		src := newFakeSource(0)
		src.seal(2)
		u := NewUploader(g, UploaderConfig{Logger: quietLog})
		u.Add(testPrefix, w, src)
		r := startUploader(u)
		synctest.Wait()
		if g.heldNow() != 1 {
			t.Fatal("no upload in flight")
		}
		u.Remove(testPrefix)
		if g.heldNow() != 0 {
			t.Error("Remove returned before the upload ended")
		}
		if _, ok := u.Status(testPrefix); ok {
			t.Error("Status after Remove reports ok")
		}
		u.Notify(testPrefix)
		synctest.Wait()
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
		if len(src.toldEnds()) != 0 || !mustLoad(t, g).Empty() {
			t.Error("a removed partition was uploaded")
		}
		if s := u.Stats(); s.Failures != 0 {
			t.Errorf("a cancelled upload counted as a failure: %+v", s)
		}

		// Run again after it returned; Run twice at once is refused.
		u.Add(testPrefix, w, src)
		r = startUploader(u)
		synctest.Wait()
		if err := u.Run(context.Background()); err == nil {
			t.Error("a second concurrent Run was accepted")
		}
		for range 2 {
			g.release <- struct{}{}
			synctest.Wait()
		}
		synctest.Wait()
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
		checkUploaded(t, g, testPrefix, src, 0, src.end())
	})
}

// TestUploaderRandomFaultsAndCrashes runs random sequences of seals,
// uploads under random bucket faults (failures, writes that land but
// report a timeout, lost races), crashes at random failpoints, abandoned
// runs and restarts with a new writer, with local retention deleting what
// the uploader reports uploaded. After every step the remote tier holds
// each offset of [0, remoteEnd) exactly once, byte-equal to the local
// segment, and the local tier was never told of more; at the end,
// everything is uploaded and Sweep leaves no orphan.
func TestUploaderRandomFaultsAndCrashes(t *testing.T) {
	seeds := []uint64{*uploaderSeed}
	if *uploaderSeed == 0 {
		base := uint64(time.Now().UnixNano())
		t.Logf("seeds %d to %d; replay one with -run TestUploaderRandomFaultsAndCrashes -uploader-seed N", base, base+uploaderRuns-1)
		seeds = seeds[:0]
		for i := range uint64(uploaderRuns) {
			seeds = append(seeds, base+i)
		}
	}
	var total randomTally
	for _, s := range seeds {
		synctest.Test(t, func(t *testing.T) {
			tally := randomUploads(t, s)
			total.faults += tally.faults
			total.crashes += tally.crashes
			total.failures += tally.failures
			total.commits += tally.commits
			total.swept += tally.swept
		})
		if t.Failed() {
			t.Fatalf("seed %d failed; replay with -run TestUploaderRandomFaultsAndCrashes -uploader-seed %d", s, s)
		}
	}
	t.Logf("%+v", total)
	if len(seeds) > 1 && (total.faults == 0 || total.crashes == 0 || total.swept == 0) {
		t.Errorf("the runs exercised too little: %+v", total)
	}
}

// randomTally counts what random runs did.
type randomTally struct {
	faults, crashes, failures, commits, swept int64
}

func randomUploads(t *testing.T, s uint64) (tally randomTally) {
	ctx := context.Background()
	rnd := rand.New(rand.NewPCG(s, 0x0b1ec7))
	f := faulty.New(mem.New(), s)
	src := newFakeSource(int64(rnd.IntN(3)) * 10) // maybe the local log starts above 0
	src.trimLocal = true
	acquire := func() *Writer {
		for range 20 {
			w, err := Acquire(ctx, f, testPrefix, WriterConfig{ChunkSize: 3})
			if err == nil {
				return w
			}
		}
		t.Fatal("Acquire failed 20 times")
		return nil
	}
	faults := func() {
		p := rnd.Float64() * 0.3
		for _, op := range []objectstore.Op{objectstore.OpPutIfAbsent, objectstore.OpPutIfMatch, objectstore.OpHead, objectstore.OpGet, objectstore.OpGetRange} {
			f.Inject(faulty.Rule{Op: op, Rate: p / 2, Action: faulty.Fail})
			f.Inject(faulty.Rule{Op: op, Rate: p / 4, Action: faulty.FailAfter, Err: faulty.ErrTimeout})
		}
		f.Inject(faulty.Rule{Op: faulty.Conditional, Rate: p / 10, Action: faulty.LoseRace})
	}
	failpoints := []string{FailpointAfterPut, FailpointAfterVerify, FailpointAfterCommit}
	cfg := UploaderConfig{Concurrency: 1, Backoff: Backoff{Min: 10 * time.Millisecond, Max: time.Second}, Logger: quietLog}
	start0 := src.end()
	check := func() {
		t.Helper()
		m, _, err := Load(ctx, f, testPrefix)
		if err != nil {
			t.Fatal(err)
		}
		start := start0
		if m.Empty() {
			start = m.RemoteEnd
		}
		checkUploaded(t, f, testPrefix, src, start, m.RemoteEnd)
		for _, end := range src.toldEnds() {
			if end > m.RemoteEnd {
				t.Fatalf("local tier told %d, the manifest ends at %d", end, m.RemoteEnd)
			}
		}
	}

	for range 12 {
		src.seal(rnd.IntN(3))
		f.Clear()
		w := acquire()
		faults()
		src = src.restart()
		c := cfg
		if rnd.IntN(3) == 0 {
			c.Failpoint = crashAtFailpoint(failpoints[rnd.IntN(len(failpoints))], 1+rnd.IntN(3))
		}
		u := NewUploader(f, c)
		u.Add(testPrefix, w, src)
		r := startUploader(u)
		time.Sleep(time.Duration(rnd.IntN(3000)) * time.Millisecond)
		if err := r.stop(); err != nil {
			if c.Failpoint == nil {
				t.Fatalf("Run = %v", err)
			}
			tally.crashes++
		}
		st := u.Stats()
		tally.failures += st.Failures
		tally.commits += st.Commits
		f.Clear()
		check()
		if t.Failed() {
			return tally
		}
	}

	// Calm: a last restart uploads everything.
	src.seal(1)
	w := acquire()
	src = src.restart()
	u := NewUploader(f, cfg)
	u.Add(testPrefix, w, src)
	r := startUploader(u)
	synctest.Wait()
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if st, _ := u.Status(testPrefix); st.UploadLagBytes != 0 || st.Stopped {
		t.Fatalf("after the calm run: %+v", st)
	}
	check()
	if m := mustLoad(t, f); m.RemoteEnd != src.end() {
		t.Fatalf("remote end %d, local end %d", m.RemoteEnd, src.end())
	}
	time.Sleep(time.Hour)
	n, err := u.Sweep(ctx, testPrefix, w, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	tally.swept += int64(n)
	tally.faults = int64(f.Fired())
	tally.commits += u.Stats().Commits
	if o := orphanSegments(t, f, testPrefix); len(o) != 0 {
		t.Fatalf("orphans after Sweep: %v", o)
	}
	// An orphan chunk of a failed commit stays until the tail has moved
	// into a newer chunk.
	m := mustLoad(t, f)
	for _, key := range keysUnder(t, f, testPrefix+chunkDir) {
		base, _ := keyBase(key[len(testPrefix+chunkDir):])
		referenced := slices.ContainsFunc(m.Chunks, func(c ChunkRef) bool { return testPrefix+c.Key == key })
		if !referenced && (len(m.Tail) == 0 || base < m.Tail[0].BaseOffset) {
			t.Fatalf("orphan chunk %s after Sweep", key)
		}
	}
	check()
	return tally
}

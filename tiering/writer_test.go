package tiering

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/strata-io/strata/objectstore"
	"github.com/strata-io/strata/objectstore/faulty"
	"github.com/strata-io/strata/objectstore/mem"
)

func mustAcquire(t *testing.T, b objectstore.Bucket, cfg WriterConfig) *Writer {
	t.Helper()
	w, err := Acquire(context.Background(), b, testPrefix, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func mustAppend(t *testing.T, w *Writer, base, end int64) Entry {
	t.Helper()
	e := testEntry(base, end, w.Epoch())
	if err := w.Append(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	return e
}

func mustLoad(t *testing.T, b objectstore.Bucket) *Manifest {
	t.Helper()
	ctx := context.Background()
	m, _, err := Load(ctx, b, testPrefix)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Check(ctx, b); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestLoadMissingManifestIsNotExist(t *testing.T) {
	if _, _, err := Load(context.Background(), mem.New(), testPrefix); !errors.Is(err, objectstore.ErrNotExist) {
		t.Fatalf("Load of an empty bucket: %v", err)
	}
	if _, _, err := Load(context.Background(), mem.New(), "topics/x"); err == nil {
		t.Fatal("Load accepted a prefix without a trailing '/'")
	}
}

func TestAcquireStartsEmptyManifest(t *testing.T) {
	b := mem.New()
	w := mustAcquire(t, b, WriterConfig{})
	if w.Epoch() != 1 {
		t.Errorf("first epoch %d, want 1", w.Epoch())
	}
	m := mustLoad(t, b)
	if m.WriterEpoch != 1 || m.Generation != 1 || m.LogStartOffset != 0 || m.RemoteEnd != 0 || !m.Empty() {
		t.Errorf("new manifest %+v", m)
	}
	if _, err := m.Lookup(context.Background(), b, 0); !errors.Is(err, ErrOutOfRange) {
		t.Errorf("Lookup in an empty manifest: %v", err)
	}
}

func TestAppendLookupTrim(t *testing.T) {
	ctx := context.Background()
	b := mem.New()
	w := mustAcquire(t, b, WriterConfig{ChunkSize: 2})
	var all []Entry
	for base := int64(0); base < 20; base += 4 {
		all = append(all, mustAppend(t, w, base, base+4))
	}
	m := mustLoad(t, b)
	if len(m.Chunks) != 2 || len(m.Tail) != 1 || m.RemoteEnd != 20 || m.Generation != 6 {
		t.Fatalf("after 5 appends with chunks of 2: %d chunks, %d tail entries, remoteEnd %d, generation %d", len(m.Chunks), len(m.Tail), m.RemoteEnd, m.Generation)
	}
	if !reflect.DeepEqual(headFields(w.Manifest()), headFields(m)) {
		t.Errorf("the writer's head differs from the stored one")
	}
	for off := int64(0); off < 20; off++ {
		got, err := m.Lookup(ctx, b, off)
		if err != nil || got != all[off/4] {
			t.Fatalf("Lookup(%d) = %+v, %v", off, got, err)
		}
	}
	if _, err := m.Lookup(ctx, b, 20); !errors.Is(err, ErrOutOfRange) {
		t.Errorf("Lookup(remoteEnd): %v", err)
	}

	removed, err := w.Trim(ctx, 9)
	if err != nil || !reflect.DeepEqual(removed, all[:2]) {
		t.Fatalf("Trim(9) = %v, %v", removed, err)
	}
	m = mustLoad(t, b)
	if m.LogStartOffset != 9 || len(m.Chunks) != 1 {
		t.Fatalf("after Trim(9): logStart %d, %d chunks", m.LogStartOffset, len(m.Chunks))
	}
	if keys := keysUnder(t, b, testPrefix+chunkDir); len(keys) != 1 || keys[0] != testPrefix+m.Chunks[0].Key {
		t.Errorf("chunk objects %v, want only %s", keys, m.Chunks[0].Key)
	}
	if _, err := m.Lookup(ctx, b, 8); !errors.Is(err, ErrOutOfRange) {
		t.Errorf("Lookup below logStart: %v", err)
	}
	if got, err := m.Lookup(ctx, b, 9); err != nil || got != all[2] {
		t.Errorf("Lookup(9) = %+v, %v", got, err)
	}

	// Entry [12, 16) is made dead while its chunk stays referenced: it is
	// returned now and never again.
	removed, err = w.Trim(ctx, 16)
	if err != nil || !reflect.DeepEqual(removed, all[2:4]) {
		t.Fatalf("Trim(16) = %v, %v", removed, err)
	}
	if removed, err := w.Trim(ctx, 10); err != nil || removed != nil {
		t.Errorf("Trim backwards = %v, %v, want nothing", removed, err)
	}
	if _, err := w.Trim(ctx, 21); !errors.Is(err, ErrOutOfRange) {
		t.Errorf("Trim beyond remoteEnd: %v", err)
	}
	var live []Entry
	for e, err := range mustLoad(t, b).Entries(ctx, b) {
		if err != nil {
			t.Fatal(err)
		}
		live = append(live, e)
	}
	if !reflect.DeepEqual(live, all[4:]) {
		t.Errorf("Entries = %v, want %v", live, all[4:])
	}

	removed, err = w.Trim(ctx, 20)
	if err != nil || !reflect.DeepEqual(removed, all[4:]) {
		t.Fatalf("Trim(20) = %v, %v", removed, err)
	}
	m = mustLoad(t, b)
	if !m.Empty() || m.RemoteEnd != 20 || len(m.Chunks)+len(m.Tail) != 0 {
		t.Fatalf("after trimming everything: %+v", m)
	}
	if keys := keysUnder(t, b, testPrefix+chunkDir); len(keys) != 0 {
		t.Errorf("chunk objects left: %v", keys)
	}
	mustAppend(t, w, 20, 21)
}

func TestAppendRejects(t *testing.T) {
	ctx := context.Background()
	b := mem.New()
	w := mustAcquire(t, b, WriterConfig{})
	first := mustAppend(t, w, 0, 10)
	tests := []struct {
		name string
		e    Entry
		want error
		msg  string
	}{
		{"gap", testEntry(11, 20, 1), ErrNotContiguous, "[11, 20)"},
		{"overlap", testEntry(5, 20, 1), ErrNotContiguous, "[5, 20)"},
		{"same range other object", testEntry(0, 10, 1), ErrNotContiguous, "[0, 10)"},
		{"wrong epoch", testEntry(10, 20, 2), nil, "epoch 2"},
		{"empty range", testEntry(10, 10, 1), nil, "offsets [10, 10)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := w.Append(ctx, tt.e)
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("error %v, want %v saying %q", err, tt.want, tt.msg)
			}
		})
	}
	// Appending the committed entry again is a success that writes nothing.
	gen := mustLoad(t, b).Generation
	if err := w.Append(ctx, first); err != nil {
		t.Fatalf("repeated Append: %v", err)
	}
	if g := mustLoad(t, b).Generation; g != gen {
		t.Errorf("repeated Append committed (generation %d → %d)", gen, g)
	}
}

func TestStartAt(t *testing.T) {
	ctx := context.Background()
	b := mem.New()
	w := mustAcquire(t, b, WriterConfig{})
	if err := w.StartAt(ctx, 500); err != nil {
		t.Fatal(err)
	}
	if err := w.StartAt(ctx, 500); err != nil {
		t.Fatalf("repeated StartAt: %v", err)
	}
	if err := w.Append(ctx, testEntry(0, 10, 1)); !errors.Is(err, ErrNotContiguous) {
		t.Fatalf("Append below the start: %v", err)
	}
	mustAppend(t, w, 500, 510)
	if m := mustLoad(t, b); m.LogStartOffset != 500 || m.RemoteEnd != 510 {
		t.Fatalf("manifest [%d, %d)", m.LogStartOffset, m.RemoteEnd)
	}
	if err := w.StartAt(ctx, 600); err == nil {
		t.Fatal("StartAt on a non-empty tier succeeded")
	}
	if _, err := w.Trim(ctx, 510); err != nil {
		t.Fatal(err)
	}
	if err := w.StartAt(ctx, 505); !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("StartAt backwards: %v", err)
	}
}

// TestAppendHoldingStartOfEmptyTier: an empty tier that StartAt moved into
// a segment's offsets (records deleted beyond the remote end) takes that
// segment whole and keeps its log start; a retry of the Append is a no-op.
func TestAppendHoldingStartOfEmptyTier(t *testing.T) {
	ctx := context.Background()
	b := mem.New()
	w := mustAcquire(t, b, WriterConfig{})
	mustAppend(t, w, 0, 10)
	if _, err := w.Trim(ctx, 10); err != nil {
		t.Fatal(err)
	}
	if err := w.StartAt(ctx, 15); err != nil {
		t.Fatal(err)
	}
	if err := w.Append(ctx, testEntry(10, 15, w.Epoch())); !errors.Is(err, ErrNotContiguous) {
		t.Fatalf("Append ending at the start: %v", err)
	}
	e := mustAppend(t, w, 10, 20)
	m := mustLoad(t, b)
	if m.LogStartOffset != 15 || m.RemoteEnd != 20 {
		t.Fatalf("manifest [%d, %d), want [15, 20)", m.LogStartOffset, m.RemoteEnd)
	}
	if got, err := m.Lookup(ctx, b, 15); err != nil || got != e {
		t.Fatalf("Lookup(15) = %+v, %v", got, err)
	}
	if _, err := m.Lookup(ctx, b, 14); !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("Lookup(14) below the log start: %v", err)
	}
	if err := w.Append(ctx, e); err != nil {
		t.Fatalf("retried Append: %v", err)
	}
	mustAppend(t, w, 20, 30)
}

// TestSecondAcquireFencesFirst: a takeover gives the new writer epoch+1;
// the old writer's next commit fails with ErrFenced, leaves the bucket
// unchanged, and the old writer never touches the bucket again.
func TestSecondAcquireFencesFirst(t *testing.T) {
	for _, full := range []bool{false, true} {
		name := "tail not full"
		if full {
			name = "tail full, next append writes a chunk"
		}
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			b := mem.New()
			c1 := &counting{Bucket: b}
			w1 := mustAcquire(t, c1, WriterConfig{ChunkSize: 2})
			mustAppend(t, w1, 0, 5)
			if full {
				mustAppend(t, w1, 5, 10)
			}
			w2 := mustAcquire(t, b, WriterConfig{ChunkSize: 2})
			if w2.Epoch() != w1.Epoch()+1 {
				t.Fatalf("epochs %d then %d", w1.Epoch(), w2.Epoch())
			}
			before := snapshot(t, b)
			end := w1.Manifest().RemoteEnd
			if err := w1.Append(ctx, testEntry(end, end+5, w1.Epoch())); !errors.Is(err, ErrFenced) {
				t.Fatalf("fenced Append: %v", err)
			}
			if after := snapshot(t, b); !reflect.DeepEqual(before, after) {
				t.Fatalf("the fenced Append changed the bucket")
			}
			c1.reset()
			if err := w1.Append(ctx, testEntry(end, end+5, w1.Epoch())); !errors.Is(err, ErrFenced) {
				t.Fatalf("second fenced Append: %v", err)
			}
			if _, err := w1.Trim(ctx, 1); !errors.Is(err, ErrFenced) {
				t.Fatalf("fenced Trim: %v", err)
			}
			if err := w1.StartAt(ctx, 100); !errors.Is(err, ErrFenced) {
				t.Fatalf("fenced StartAt: %v", err)
			}
			if c1.calls != 0 {
				t.Errorf("a fenced writer made %d bucket calls", c1.calls)
			}
			mustAppend(t, w2, end, end+5)
			if m := mustLoad(t, b); m.WriterEpoch != w2.Epoch() || m.RemoteEnd != end+5 {
				t.Errorf("manifest epoch %d, remoteEnd %d", m.WriterEpoch, m.RemoteEnd)
			}
		})
	}
}

// gate holds every PutIfMatch of the head until n of them have arrived,
// then lets them race: they all carry the same (stale for all but one) ETag.
type gate struct {
	objectstore.Bucket
	n       int
	mu      sync.Mutex
	arrived int
	open    chan struct{}
}

func newGate(b objectstore.Bucket, n int) *gate {
	return &gate{Bucket: b, n: n, open: make(chan struct{})}
}

func (g *gate) PutIfMatch(ctx context.Context, key string, body []byte, etag objectstore.ETag) (objectstore.ETag, error) {
	g.mu.Lock()
	g.arrived++
	if g.arrived == g.n {
		close(g.open)
	}
	g.mu.Unlock()
	<-g.open
	return g.Bucket.PutIfMatch(ctx, key, body, etag)
}

// TestConcurrentCommitsOneWins: two writers that hold the same ETag commit
// at once; exactly one commit lands and the other writer is fenced. The two
// writers share an epoch here, a split brain Acquire cannot produce, so
// that only the conditional write can tell them apart.
func TestConcurrentCommitsOneWins(t *testing.T) {
	ctx := context.Background()
	b := mem.New()
	g := newGate(b, 2)
	w1 := mustAcquire(t, g, WriterConfig{})
	w2 := &Writer{b: g, prefix: w1.prefix, chunkSize: w1.chunkSize, epoch: w1.epoch, id: WriterID{0xff}, m: w1.m, etag: w1.etag}
	entries := []Entry{testEntry(0, 5, w1.Epoch()), testEntry(0, 7, w1.Epoch())}
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, w := range []*Writer{w1, w2} {
		wg.Go(func() { errs[i] = w.Append(ctx, entries[i]) })
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner < 0:
			winner = i
		case err == nil:
			t.Fatalf("both commits succeeded")
		case !errors.Is(err, ErrFenced):
			t.Fatalf("the losing commit: %v, want ErrFenced", err)
		}
	}
	if winner < 0 {
		t.Fatalf("no commit succeeded: %v", errs)
	}
	m := mustLoad(t, b)
	if len(m.Tail) != 1 || m.Tail[0] != entries[winner] {
		t.Fatalf("stored tail %v, want the winner's %v", m.Tail, entries[winner])
	}
}

// TestConcurrentAcquire: two brokers take over at once from the same head.
// One conditional write wins; the other Acquire reads the new head and
// takes the next epoch, fencing the first.
func TestConcurrentAcquire(t *testing.T) {
	ctx := context.Background()
	b := mem.New()
	w0 := mustAcquire(t, b, WriterConfig{})
	mustAppend(t, w0, 0, 5)
	g := newGate(b, 2)
	ws := make([]*Writer, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range ws {
		wg.Go(func() { ws[i], errs[i] = Acquire(ctx, g, testPrefix, WriterConfig{}) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	older, newer := ws[0], ws[1]
	if older.Epoch() > newer.Epoch() {
		older, newer = newer, older
	}
	if older.Epoch() != 2 || newer.Epoch() != 3 {
		t.Fatalf("epochs %d and %d, want 2 and 3", older.Epoch(), newer.Epoch())
	}
	for _, w := range []*Writer{w0, older} {
		if err := w.Append(ctx, testEntry(5, 6, w.Epoch())); !errors.Is(err, ErrFenced) {
			t.Errorf("writer of epoch %d: %v, want ErrFenced", w.Epoch(), err)
		}
	}
	mustAppend(t, newer, 5, 6)
}

// TestCommitSurvivesFaults: each conditional-write failure the bucket can
// report, on an Append, leaves exactly one entry committed after at most
// one retry by the caller.
func TestCommitSurvivesFaults(t *testing.T) {
	tests := []struct {
		name      string
		rules     []faulty.Rule
		wantError bool // the first Append reports an error
	}{
		{"timeout after the write happened", []faulty.Rule{faulty.TimeoutAfterWrite(objectstore.OpPutIfMatch, 1)}, false},
		{"failure before the write", []faulty.Rule{faulty.FailNth(objectstore.OpPutIfMatch, 1, nil)}, false},
		{"lost race without a write", []faulty.Rule{{Op: objectstore.OpPutIfMatch, Nth: 1, Action: faulty.LoseRace}}, false},
		{"timeout, then the read-back fails", []faulty.Rule{
			faulty.TimeoutAfterWrite(objectstore.OpPutIfMatch, 1), faulty.FailNth(objectstore.OpGet, 1, nil),
		}, true},
		{"failure, then the read-back fails", []faulty.Rule{
			faulty.FailNth(objectstore.OpPutIfMatch, 1, nil), faulty.FailNth(objectstore.OpGet, 1, nil),
		}, true},
		{"two failures in a row", []faulty.Rule{
			faulty.FailNth(objectstore.OpPutIfMatch, 1, nil), faulty.FailNth(objectstore.OpPutIfMatch, 2, nil),
		}, true},
		{"chunk write fails", []faulty.Rule{faulty.FailNth(objectstore.OpPutIfAbsent, 1, nil)}, true},
		{"head check fails", []faulty.Rule{faulty.FailNth(objectstore.OpHead, 1, nil)}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			b := mem.New()
			f := faulty.New(b, 1)
			w := mustAcquire(t, f, WriterConfig{ChunkSize: 1})
			mustAppend(t, w, 0, 5) // the tail is full: the next Append writes a chunk
			f.Inject(tt.rules...)
			e := testEntry(5, 9, w.Epoch())
			err := w.Append(ctx, e)
			if (err != nil) != tt.wantError {
				t.Fatalf("Append: %v, want error: %v", err, tt.wantError)
			}
			if err != nil {
				if err := w.Append(ctx, e); err != nil {
					t.Fatalf("retried Append: %v", err)
				}
			}
			m := mustLoad(t, b)
			if m.RemoteEnd != 9 || len(m.Tail) != 1 || m.Tail[0] != e {
				t.Fatalf("manifest remoteEnd %d, tail %v", m.RemoteEnd, m.Tail)
			}
			if !reflect.DeepEqual(headFields(w.Manifest()), headFields(m)) {
				t.Errorf("the writer's head differs from the stored one")
			}
			mustAppend(t, w, 9, 10)
		})
	}
}

// TestTrimReportsRemovedAfterTimeout: a Trim whose commit reports a timeout
// but happened still returns what it removed.
func TestTrimReportsRemovedAfterTimeout(t *testing.T) {
	ctx := context.Background()
	b := mem.New()
	f := faulty.New(b, 1)
	w := mustAcquire(t, f, WriterConfig{})
	e := mustAppend(t, w, 0, 5)
	mustAppend(t, w, 5, 10)
	f.Inject(faulty.TimeoutAfterWrite(objectstore.OpPutIfMatch, 1))
	removed, err := w.Trim(ctx, 5)
	if err != nil || !reflect.DeepEqual(removed, []Entry{e}) {
		t.Fatalf("Trim = %v, %v", removed, err)
	}
	if m := mustLoad(t, b); m.LogStartOffset != 5 {
		t.Fatalf("logStart %d", m.LogStartOffset)
	}
}

// TestLookupTimestamp: the first live entry whose max timestamp reaches ts,
// across chunks and tail, with timestamps that do not grow monotonically.
func TestLookupTimestamp(t *testing.T) {
	ctx := context.Background()
	b := mem.New()
	w := mustAcquire(t, b, WriterConfig{ChunkSize: 2})
	maxTs := []int64{10, 30, 20, 40, 35}
	var all []Entry
	for i, ts := range maxTs {
		e := testEntry(int64(i*10), int64(i*10+10), w.Epoch())
		e.MinTimestamp, e.MaxTimestamp = ts-5, ts
		if err := w.Append(ctx, e); err != nil {
			t.Fatal(err)
		}
		all = append(all, e)
	}
	if _, err := w.Trim(ctx, 15); err != nil {
		t.Fatal(err)
	}
	m := mustLoad(t, b)
	tests := []struct {
		ts   int64
		want int // index in all, -1 for none
	}{
		{0, 1}, {10, 1}, {25, 1}, {30, 1}, {31, 3}, {36, 3}, {40, 3}, {41, -1},
	}
	for _, tt := range tests {
		got, ok, err := m.LookupTimestamp(ctx, b, tt.ts)
		if err != nil {
			t.Fatal(err)
		}
		if tt.want < 0 && ok || tt.want >= 0 && (!ok || got != all[tt.want]) {
			t.Errorf("LookupTimestamp(%d) = %+v, %v; want entry %d", tt.ts, got, ok, tt.want)
		}
	}
}

func TestCheckFindsBrokenChunk(t *testing.T) {
	ctx := context.Background()
	b := mem.New()
	w := mustAcquire(t, b, WriterConfig{ChunkSize: 1})
	mustAppend(t, w, 0, 5)
	mustAppend(t, w, 5, 10)
	m := mustLoad(t, b)
	key := testPrefix + m.Chunks[0].Key
	body, _, err := b.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	body[len(body)-1] ^= 1
	if _, err := b.Put(ctx, key, body); err != nil {
		t.Fatal(err)
	}
	if err := m.Check(ctx, b); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Check of a flipped chunk: %v", err)
	}
	if _, err := b.Put(ctx, key, encodeChunk([]Entry{testEntry(0, 5, 2)})); err != nil {
		t.Fatal(err)
	}
	if err := m.Check(ctx, b); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Check of a swapped chunk: %v", err)
	}
	if err := b.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if err := m.Check(ctx, b); !errors.Is(err, objectstore.ErrNotExist) {
		t.Errorf("Check of a missing chunk: %v", err)
	}
	if _, err := m.Lookup(ctx, b, 0); !errors.Is(err, objectstore.ErrNotExist) {
		t.Errorf("Lookup in a missing chunk: %v", err)
	}
}

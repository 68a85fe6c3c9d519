package tiering

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/strata-io/strata/objectstore"
	"github.com/strata-io/strata/objectstore/faulty"
	"github.com/strata-io/strata/objectstore/mem"
)

var seed = flag.Uint64("seed", 0, "replay TestManifestModel with this seed (0 runs modelRuns random seeds)")

const (
	modelRuns      = 200
	modelSteps     = 60
	modelChunkSize = 4
	// opAttempts is how often the model retries a failed operation, as the
	// uploader would; the faults injected into one step run out before.
	opAttempts = 4
)

// TestManifestModel runs random sequences of append, trim, start, epoch
// takeover, restart and crash against a Writer on a fault-injecting bucket
// and against a plain slice, and after every step checks that the stored
// manifest passes Check and agrees with the slice: same bounds, every
// offset in [logStart, remoteEnd) resolving to the model's one entry, the
// same live entries, epochs and generations never falling, the head
// encoding round-tripping.
func TestManifestModel(t *testing.T) {
	seeds := []uint64{*seed}
	if *seed == 0 {
		base := uint64(time.Now().UnixNano())
		t.Logf("seeds %d to %d; replay one with -run TestManifestModel -seed N", base, base+modelRuns-1)
		seeds = seeds[:0]
		for i := range uint64(modelRuns) {
			seeds = append(seeds, base+i)
		}
	}
	var fired, maxChunks, errs, lost int
	for _, s := range seeds {
		r := newModelRun(t, s)
		for step := range modelSteps {
			r.step(step)
			if t.Failed() {
				t.Fatalf("seed %d failed at step %d; replay with -run TestManifestModel -seed %d\n%s", s, step, s, strings.Join(r.log, "\n"))
			}
			maxChunks = max(maxChunks, len(r.w.Manifest().Chunks))
		}
		fired += r.f.Fired()
		errs += r.errors
		lost += r.lostTrims
	}
	t.Logf("%d sequences of %d steps: %d faults fired, %d operations failed and were retried, %d trimmed entries went unreported, up to %d chunks", len(seeds), modelSteps, fired, errs, lost, maxChunks)
}

type modelRun struct {
	t   *testing.T
	ctx context.Context
	rnd *rand.Rand
	log []string

	raw *mem.Bucket    // the truth, read by the checks
	f   *faulty.Bucket // what the writers use
	w   *Writer

	// The model.
	entries   []Entry // every entry committed and not yet trimmed away, in order
	logStart  int64
	remoteEnd int64

	lastEpoch Epoch
	lastGen   int64
	lostTrims int // entries a Trim removed but could not report
	errors    int // failed operations, retried
}

func newModelRun(t *testing.T, s uint64) *modelRun {
	r := &modelRun{t: t, ctx: context.Background(), rnd: rand.New(rand.NewPCG(s, s^0x9e3779b97f4a7c15)), raw: mem.New()}
	r.f = faulty.New(r.raw, s)
	r.acquire("start")
	return r
}

func (r *modelRun) logf(format string, args ...any) {
	r.log = append(r.log, fmt.Sprintf(format, args...))
}

func (r *modelRun) config() WriterConfig {
	return WriterConfig{ChunkSize: modelChunkSize, ChunkCache: 2}
}

// acquire makes a new writer, retrying through injected faults, and checks
// that its epoch is above every earlier one.
func (r *modelRun) acquire(why string) {
	var err error
	for range opAttempts {
		var w *Writer
		if w, err = Acquire(r.ctx, r.f, testPrefix, r.config()); err == nil {
			if w.Epoch() <= r.lastEpoch {
				r.t.Errorf("%s: new epoch %d is not above %d", why, w.Epoch(), r.lastEpoch)
			}
			r.w, r.lastEpoch = w, w.Epoch()
			r.logf("%s: epoch %d", why, w.Epoch())
			return
		}
	}
	r.t.Errorf("%s: Acquire: %v", why, err)
}

func (r *modelRun) live() []Entry {
	var out []Entry
	for _, e := range r.entries {
		if e.EndOffset > r.logStart {
			out = append(out, e)
		}
	}
	return out
}

// injectSome arms zero or more faults for the next operation.
func (r *modelRun) injectSome() {
	if r.rnd.IntN(10) >= 3 {
		return
	}
	n := 1 + r.rnd.IntN(2)
	rules := []faulty.Rule{
		faulty.FailNth(objectstore.OpPutIfMatch, n, nil),
		faulty.TimeoutAfterWrite(objectstore.OpPutIfMatch, n),
		{Op: objectstore.OpPutIfMatch, Nth: n, Action: faulty.LoseRace},
		faulty.FailNth(objectstore.OpGet, n, nil),
		faulty.FailNth(objectstore.OpPutIfAbsent, 1, nil),
		faulty.TimeoutAfterWrite(objectstore.OpPutIfAbsent, 1),
		faulty.FailNth(objectstore.OpHead, 1, nil),
		faulty.FailNth(objectstore.OpDelete, 1, nil),
	}
	for range 1 + r.rnd.IntN(2) {
		rule := rules[r.rnd.IntN(len(rules))]
		r.logf("  inject %+v", rule)
		r.f.Inject(rule)
	}
}

func (r *modelRun) newEntry() Entry {
	n := 1 + r.rnd.Int64N(4)
	e := Entry{
		Key:          SegmentKey(testPrefix, r.remoteEnd, r.remoteEnd+n, r.w.Epoch())[len(testPrefix):],
		BaseOffset:   r.remoteEnd,
		EndOffset:    r.remoteEnd + n,
		SizeBytes:    MinFooterSize + r.rnd.Int64N(1<<20),
		MinTimestamp: r.rnd.Int64N(1000),
		Epoch:        r.w.Epoch(),
		Records:      r.rnd.Int64N(n + 1),
	}
	e.MaxTimestamp = e.MinTimestamp + r.rnd.Int64N(100)
	return e
}

// retry runs op until it succeeds, up to opAttempts times.
func (r *modelRun) retry(what string, op func() error) {
	var err error
	for range opAttempts {
		if err = op(); err == nil {
			return
		}
		r.logf("  %s: %v", what, err)
		r.errors++
		if errors.Is(err, ErrFenced) {
			break
		}
	}
	r.t.Errorf("%s: %v", what, err)
}

func (r *modelRun) step(step int) {
	defer r.f.Clear()
	switch k := r.rnd.IntN(100); {
	case k < 50 || k < 55 && !r.empty():
		e := r.newEntry()
		r.logf("%d: append [%d, %d)", step, e.BaseOffset, e.EndOffset)
		r.injectSome()
		r.retry("append", func() error { return r.w.Append(r.ctx, e) })
		r.entries = append(r.entries, e)
		r.remoteEnd = e.EndOffset

	case k < 55:
		off := r.remoteEnd + r.rnd.Int64N(5)
		r.logf("%d: start at %d", step, off)
		r.injectSome()
		r.retry("start", func() error { return r.w.StartAt(r.ctx, off) })
		r.logStart, r.remoteEnd = off, off

	case k < 72:
		r.trim(step)

	case k < 78:
		r.takeover(step)

	case k < 84:
		r.logf("%d: restart", step)
		r.w = nil
		r.acquire("restart")

	case k < 90:
		r.crash(step)

	default:
		r.logf("%d: append that gets a non-contiguous entry first", step)
		e := r.newEntry()
		bad := e
		bad.BaseOffset, bad.EndOffset = e.BaseOffset+1, e.EndOffset+1
		if err := r.w.Append(r.ctx, bad); !errors.Is(err, ErrNotContiguous) {
			r.t.Errorf("non-contiguous Append: %v", err)
		}
		r.retry("append", func() error { return r.w.Append(r.ctx, e) })
		r.entries = append(r.entries, e)
		r.remoteEnd = e.EndOffset
	}
	r.check()
}

func (r *modelRun) empty() bool { return r.logStart == r.remoteEnd }

func (r *modelRun) trim(step int) {
	to := r.logStart - 2 + r.rnd.Int64N(r.remoteEnd-r.logStart+3)
	if r.rnd.IntN(10) == 0 {
		to = r.remoteEnd + 1 + r.rnd.Int64N(3)
		r.logf("%d: trim to %d, beyond remoteEnd", step, to)
		if _, err := r.w.Trim(r.ctx, to); !errors.Is(err, ErrOutOfRange) {
			r.t.Errorf("Trim beyond remoteEnd: %v", err)
		}
		return
	}
	r.logf("%d: trim to %d", step, to)
	var want []Entry
	for _, e := range r.entries {
		if e.EndOffset > r.logStart && e.EndOffset <= to {
			want = append(want, e)
		}
	}
	r.injectSome()
	failed := false
	var removed []Entry
	r.retry("trim", func() (err error) {
		removed, err = r.w.Trim(r.ctx, to)
		failed = failed || err != nil
		return err
	})
	switch {
	case !failed && !reflect.DeepEqual(removed, want):
		r.t.Errorf("Trim(%d) removed %v, want %v", to, removed, want)
	case failed:
		// A Trim that failed may have happened; its retry then reports
		// nothing. What it reports is still a subset of what went.
		for _, e := range removed {
			if !contains(want, e) {
				r.t.Errorf("Trim(%d) removed %+v, not among %v", to, e, want)
			}
		}
		r.lostTrims += len(want) - len(removed)
	}
	if to > r.logStart {
		r.logStart = to
		for len(r.entries) > 0 && r.entries[0].EndOffset <= to {
			r.entries = r.entries[1:]
		}
	}
}

func contains(es []Entry, e Entry) bool {
	for _, x := range es {
		if x == e {
			return true
		}
	}
	return false
}

// takeover acquires a second writer and checks that the first is fenced:
// its next Append fails with ErrFenced and changes nothing.
func (r *modelRun) takeover(step int) {
	r.logf("%d: takeover", step)
	old := r.w
	r.acquire("takeover")
	before := r.bucketState()
	e := Entry{
		Key: SegmentKey(testPrefix, r.remoteEnd, r.remoteEnd+1, old.Epoch())[len(testPrefix):], BaseOffset: r.remoteEnd,
		EndOffset: r.remoteEnd + 1, SizeBytes: MinFooterSize, Epoch: old.Epoch(),
	}
	if err := old.Append(r.ctx, e); !errors.Is(err, ErrFenced) {
		r.t.Errorf("Append by the writer of epoch %d after a takeover: %v, want ErrFenced", old.Epoch(), err)
	}
	if _, err := old.Trim(r.ctx, r.remoteEnd); !errors.Is(err, ErrFenced) {
		r.t.Errorf("Trim by a fenced writer: %v", err)
	}
	if after := r.bucketState(); before != after {
		r.t.Errorf("a fenced writer changed the bucket")
	}
}

// crash halts the bucket at a random point of an Append, as a process
// dying there would, then restarts: the Append happened or did not, and
// nothing else changed.
func (r *modelRun) crash(step int) {
	e := r.newEntry()
	rules := []faulty.Rule{
		faulty.HaltAt(objectstore.OpPutIfMatch, 1),
		faulty.HaltAfterNth(objectstore.OpPutIfMatch, 1),
		faulty.HaltAt(objectstore.OpPutIfAbsent, 1),
		faulty.HaltAfterNth(objectstore.OpPutIfAbsent, 1),
		faulty.HaltAt(objectstore.OpHead, 1),
	}
	rule := rules[r.rnd.IntN(len(rules))]
	r.logf("%d: crash (%+v) appending [%d, %d)", step, rule, e.BaseOffset, e.EndOffset)
	r.f.Inject(rule)
	err := r.w.Append(r.ctx, e)
	r.f.Clear()
	r.w = nil
	r.acquire("restart after crash")
	m, _, lerr := Load(r.ctx, r.raw, testPrefix)
	if lerr != nil {
		r.t.Errorf("Load after crash: %v", lerr)
		return
	}
	switch m.RemoteEnd {
	case e.EndOffset:
		r.entries = append(r.entries, e)
		r.remoteEnd = e.EndOffset
	case r.remoteEnd:
		if err == nil {
			r.t.Errorf("Append reported success but did not happen")
		}
	default:
		r.t.Errorf("after a crash remoteEnd is %d, want %d or %d", m.RemoteEnd, r.remoteEnd, e.EndOffset)
	}
}

// bucketState is every key and ETag of the bucket, for change detection.
func (r *modelRun) bucketState() string {
	var b strings.Builder
	for info, err := range r.raw.List(r.ctx, "") {
		if err != nil {
			r.t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s %s\n", info.Key, info.ETag)
	}
	return b.String()
}

// check compares the stored manifest with the model.
func (r *modelRun) check() {
	t, ctx, b := r.t, r.ctx, r.raw
	m, _, err := Load(ctx, b, testPrefix)
	if err != nil {
		t.Errorf("Load: %v", err)
		return
	}
	if err := m.Check(ctx, b); err != nil {
		t.Errorf("Check: %v", err)
	}
	if m.LogStartOffset != r.logStart || m.RemoteEnd != r.remoteEnd {
		t.Errorf("manifest [%d, %d), model [%d, %d)", m.LogStartOffset, m.RemoteEnd, r.logStart, r.remoteEnd)
	}
	if m.WriterEpoch != r.w.Epoch() || m.WriterEpoch < r.lastEpoch {
		t.Errorf("manifest epoch %d, writer's %d, highest taken %d", m.WriterEpoch, r.w.Epoch(), r.lastEpoch)
	}
	if m.Generation < r.lastGen {
		t.Errorf("generation fell from %d to %d", r.lastGen, m.Generation)
	}
	r.lastGen = m.Generation
	if !reflect.DeepEqual(headFields(r.w.Manifest()), headFields(m)) {
		t.Errorf("the writer's head differs from the stored one")
	}

	live := r.live()
	var got []Entry
	for e, err := range m.Entries(ctx, b) {
		if err != nil {
			t.Errorf("Entries: %v", err)
			return
		}
		got = append(got, e)
	}
	if !reflect.DeepEqual(got, live) {
		t.Errorf("Entries = %v\nmodel     %v", got, live)
	}
	// Every offset of the remote tier has exactly one home: the model's.
	for _, e := range live {
		for off := max(e.BaseOffset, r.logStart); off < e.EndOffset; off++ {
			if got, err := m.Lookup(ctx, b, off); err != nil || got != e {
				t.Errorf("Lookup(%d) = %+v, %v; model %+v", off, got, err, e)
			}
		}
	}
	for _, off := range []int64{r.logStart - 1, r.remoteEnd, r.remoteEnd + 1} {
		if off < 0 {
			continue
		}
		if _, err := m.Lookup(ctx, b, off); !errors.Is(err, ErrOutOfRange) {
			t.Errorf("Lookup(%d) outside [%d, %d): %v", off, r.logStart, r.remoteEnd, err)
		}
	}
	for range 3 {
		ts := r.rnd.Int64N(1200)
		var want Entry
		found := false
		for _, e := range live {
			if e.MaxTimestamp >= ts {
				want, found = e, true
				break
			}
		}
		if got, ok, err := m.LookupTimestamp(ctx, b, ts); err != nil || ok != found || got != want {
			t.Errorf("LookupTimestamp(%d) = %+v, %v, %v; model %+v, %v", ts, got, ok, err, want, found)
		}
	}

	body, _, err := b.Get(ctx, testPrefix+headKey)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(encodeHead(m), body) {
		t.Errorf("the head does not re-encode to its bytes")
	}
	referenced := map[string]bool{}
	for _, c := range m.Chunks {
		referenced[testPrefix+c.Key] = true
	}
	orphans := 0
	for _, key := range keysUnder(t, b, testPrefix+chunkDir) {
		if !referenced[key] {
			orphans++
		}
	}
	if orphans > r.f.Fired() {
		t.Errorf("%d orphan chunks after %d injected faults", orphans, r.f.Fired())
	}
}

package broker

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/batch"
	"github.com/strata-io/strata/locallog"
	"github.com/strata-io/strata/objectstore"
	"github.com/strata-io/strata/objectstore/faulty"
	"github.com/strata-io/strata/objectstore/mem"
	"github.com/strata-io/strata/tiering"
)

var (
	propSeed  = flag.Uint64("prop.seed", 0, "replay TestPropertyEveryOffsetHasOneHome with this seed (0 runs -prop.seeds random seeds)")
	propSeeds = flag.Int("prop.seeds", 0, "number of random seeds TestPropertyEveryOffsetHasOneHome runs (0: the default)")
	propSteps = flag.Int("prop.steps", 0, "steps of each TestPropertyEveryOffsetHasOneHome sequence (0: the default)")
	propLog   = flag.Bool("prop.log", false, "send the brokers' log lines of TestPropertyEveryOffsetHasOneHome to the test log")
)

// The defaults of -prop.seeds and -prop.steps, with and without -short.
const (
	propDefaultSeeds = 20
	propDefaultSteps = 100
	propShortSeeds   = 4
	propShortSteps   = 40
	propTopic        = "prop"
	// propAttempts bounds the retries of an operation that injected bucket
	// faults may fail (DeleteRecords, remote retention).
	propAttempts = 20
)

// TestPropertyEveryOffsetHasOneHome is DESIGN.md's one rule as a property:
// random sequences of produce, seal, upload and commit, remote retention,
// DeleteRecords, local deletion, injected bucket faults, crash, clean
// restart and epoch takeover (a second broker rebuilding from the bucket)
// run against a real broker over a fault-injecting in-memory bucket and
// against a model (the records by offset, the log start and the high
// watermark). After every step, fetching every offset from the log start to
// the high watermark through the Fetch API yields each record exactly once,
// in order, byte-equal to the model, and the partition's bounds agree with
// the model and with logStart <= remoteEnd <= highWatermark <= logEnd.
//
// A seed fixes the steps, not the timing: the uploader runs beside them, so
// a replay with -prop.seed may need -count=10 or so to fail again.
func TestPropertyEveryOffsetHasOneHome(t *testing.T) {
	seeds, steps := propDefaultSeeds, propDefaultSteps
	if testing.Short() {
		seeds, steps = propShortSeeds, propShortSteps
	}
	if *propSeeds > 0 {
		seeds = *propSeeds
	}
	if *propSteps > 0 {
		steps = *propSteps
	}
	list := []uint64{*propSeed}
	if *propSeed == 0 {
		base := uint64(time.Now().UnixNano())
		t.Logf("seeds %d to %d, %d steps each; replay one with -run TestPropertyEveryOffsetHasOneHome -prop.seed N", base, base+uint64(seeds)-1, steps)
		list = list[:0]
		for i := range uint64(seeds) {
			list = append(list, base+i)
		}
	}
	for _, seed := range list {
		if !t.Run(fmt.Sprint(seed), func(t *testing.T) { runProperty(t, seed, steps) }) {
			return
		}
	}
}

// propRun is one sequence: the broker under test and the model.
type propRun struct {
	t       *testing.T
	seed    uint64
	rnd     *rand.Rand
	log     []string // the steps so far, printed on failure
	raw     *mem.Bucket
	url     string          // Config.Bucket; wrapBucket replaces it with raw
	dataDir string          // of the current broker
	tb      *testBroker     // the current broker
	f       *faulty.Bucket  // the current broker's view of raw
	crashed *atomic.Bool    // set, the current broker's local files take no more writes
	stats   map[string]int  // steps taken by kind
	waited  PartitionStatus // the last status a wait looked at, for its timeout message
	closers []func()        // of the step's connections

	// The model.
	recs      []propRecord // by offset; [logStart, len(recs)) is readable
	logStart  int64
	remoteEnd int64 // the highest remote end seen: it never falls
	nextID    int
}

// propRecord is what the model knows of one record.
type propRecord struct {
	value []byte
	ts    int64
}

func (r *propRun) hw() int64 { return int64(len(r.recs)) }

func (r *propRun) logf(format string, args ...any) {
	r.log = append(r.log, fmt.Sprintf(format, args...))
}

func runProperty(t *testing.T, seed uint64, steps int) {
	r := &propRun{
		t:     t,
		seed:  seed,
		rnd:   rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		raw:   mem.New(),
		url:   fileBucketURL(t),
		stats: map[string]int{},
	}
	defer func() {
		if t.Failed() {
			t.Logf("seed %d failed; replay with -run TestPropertyEveryOffsetHasOneHome -prop.seed %d\n%s", seed, seed, strings.Join(r.log, "\n"))
		}
	}()
	r.start(t.TempDir())
	segBytes := []string{"1024", "2048", "4096"}[r.rnd.IntN(3)]
	localBytes := []string{"0", "-1", "6000"}[r.rnd.IntN(3)]
	r.logf("topic: segment.bytes %s, local.retention.bytes %s", segBytes, localBytes)
	r.tb.createTopic(propTopic, 1, map[string]*string{"segment.bytes": kmsg.StringPtr(segBytes), "local.retention.bytes": kmsg.StringPtr(localBytes)})
	for step := range steps {
		r.step(step)
		if t.Failed() {
			return
		}
		r.check(step)
		if t.Failed() {
			return
		}
	}
	t.Logf("%d steps %v; [%d, %d), remote end %d", steps, r.stats, r.logStart, r.hw(), r.remoteEnd)
}

// start opens a broker on dataDir over the bucket and makes it current.
func (r *propRun) start(dataDir string) {
	crashed := new(atomic.Bool)
	r.dataDir, r.crashed = dataDir, crashed
	r.tb = startBroker(r.t, func(cfg *Config) {
		cfg.DataDir = dataDir
		cfg.Bucket = r.url
		cfg.RetentionCheckInterval = time.Hour // the steps apply retention
		cfg.uploadBackoff = tiering.Backoff{Min: time.Millisecond, Max: 20 * time.Millisecond}
		if !*propLog {
			cfg.Logger = slog.New(slog.DiscardHandler)
		}
		cfg.openFile = crashableFiles(crashed)
		cfg.wrapBucket = func(objectstore.Bucket) objectstore.Bucket {
			r.f = faulty.New(r.raw, r.rnd.Uint64())
			return r.f
		}
	})
}

// errCrashed is what the files of a crashed broker return.
var errCrashed = errors.New("simulated crash: the process is gone")

// crashableFiles opens the local log's files so that, once crashed is set,
// nothing more is written or synced to them: the disk keeps what the
// broker had written before the crash and nothing after.
func crashableFiles(crashed *atomic.Bool) locallog.OpenFileFunc {
	return func(name string, flag int, perm os.FileMode) (locallog.File, error) {
		if crashed.Load() {
			return nil, errCrashed
		}
		f, err := os.OpenFile(name, flag, perm)
		if err != nil {
			return nil, err
		}
		return crashableFile{f, crashed}, nil
	}
}

type crashableFile struct {
	*os.File
	crashed *atomic.Bool
}

func (f crashableFile) WriteAt(p []byte, off int64) (int, error) {
	if f.crashed.Load() {
		return 0, errCrashed
	}
	return f.File.WriteAt(p, off)
}

func (f crashableFile) Sync() error {
	if f.crashed.Load() {
		return errCrashed
	}
	return f.File.Sync()
}

func (f crashableFile) Truncate(size int64) error {
	if f.crashed.Load() {
		return errCrashed
	}
	return f.File.Truncate(size)
}

// partition returns the current broker's partition.
func (r *propRun) partition() *partition {
	p, err := r.tb.lookupPartition(propTopic, 0)
	if err != nil {
		r.t.Fatal(err)
	}
	return p
}

// seal rolls the current broker's active segment, if it holds records.
func (r *propRun) seal() {
	if err := r.partition().log.Roll(); err != nil {
		r.t.Fatalf("roll: %v", err)
	}
}

// conn dials tb; endStep closes the connection.
func (r *propRun) conn(tb *testBroker) *rawConn {
	c := dialRaw(r.t, tb.Addr())
	r.closers = append(r.closers, func() { _ = c.nc.Close() })
	return c
}

func (r *propRun) step(step int) {
	defer r.endStep()
	k := r.rnd.IntN(100)
	// Bucket faults for the length of the step, on the steps that touch
	// the bucket only through the broker's own retries.
	if k < 72 && r.rnd.IntN(10) < 3 {
		r.injectSome(step)
	}
	switch {
	case k < 35:
		r.produce(step)
	case k < 43:
		r.logf("%d: seal", step)
		r.stats["seal"]++
		r.seal()
	case k < 58:
		r.waitUploaded(step)
	case k < 63:
		r.deleteRecords(step)
	case k < 69:
		r.retainRemote(step)
	case k < 72:
		r.logf("%d: local retention drops every uploaded segment", step)
		r.stats["local-retention"]++
		if _, err := r.partition().log.EnforceRetention(time.Now().Add(24 * time.Hour)); err != nil {
			r.t.Fatalf("local retention: %v", err)
		}
	case k < 84:
		r.crash(step)
	case k < 94:
		r.logf("%d: restart", step)
		r.stats["restart"]++
		r.tb.shutdown()
		r.start(r.dataDir)
	default:
		r.takeover(step)
	}
}

// endStep clears the faults armed for the step and closes its
// connections.
func (r *propRun) endStep() {
	r.f.Clear()
	for _, c := range r.closers {
		c()
	}
	r.closers = nil
}

// injectSome arms one or two bucket faults on the current broker's bucket.
func (r *propRun) injectSome(step int) {
	n := 1 + r.rnd.IntN(3)
	rules := []faulty.Rule{
		faulty.FailRate(objectstore.OpPutIfAbsent, 0.3),
		faulty.FailRate(objectstore.OpPutIfMatch, 0.3),
		faulty.FailRate(objectstore.OpGetRange, 0.3),
		faulty.FailRate(objectstore.OpGet, 0.3),
		faulty.FailRate(objectstore.OpHead, 0.3),
		faulty.FailRate(objectstore.OpDelete, 0.5),
		faulty.FailNth(objectstore.OpPutIfMatch, n, nil),
		faulty.TimeoutAfterWrite(objectstore.OpPutIfMatch, n),
		faulty.TimeoutAfterWrite(objectstore.OpPutIfAbsent, n),
		faulty.LoseRaceNth(n),
		faulty.Latency(objectstore.OpPutIfAbsent, time.Millisecond),
	}
	for range 1 + r.rnd.IntN(2) {
		rule := rules[r.rnd.IntN(len(rules))]
		r.logf("%d: inject %+v", step, rule)
		r.f.Inject(rule)
	}
}

// produce appends a few batches with acks=all; every one must be acked at
// the model's high watermark.
func (r *propRun) produce(step int) {
	r.stats["produce"]++
	c := r.conn(r.tb)
	for range 1 + r.rnd.IntN(4) {
		n := 1 + r.rnd.IntN(5)
		ts := tieredTestBase + int64(r.nextID)
		vals := make([][]byte, n)
		for i := range vals {
			vals[i] = fmt.Appendf(nil, "seed %d record %d %s", r.seed, r.nextID+i, bytes.Repeat([]byte{'x'}, r.rnd.IntN(200)))
		}
		rp := c.produceOne(produceRequest(propTopic, 0, -1, makeBatch(-1, -1, -1, ts, vals...)))
		if rp.ErrorCode != 0 || rp.BaseOffset != r.hw() {
			r.t.Fatalf("produce at %d: offset %d, error %v", r.hw(), rp.BaseOffset, kerr.ErrorForCode(rp.ErrorCode))
		}
		r.logf("%d: produce [%d, %d)", step, r.hw(), r.hw()+int64(n))
		for i, v := range vals {
			r.recs = append(r.recs, propRecord{v, ts + int64(i)})
		}
		r.nextID += n
	}
}

// waitUploaded seals the active segment (sometimes) and waits until every
// sealed segment is committed to the manifest.
func (r *propRun) waitUploaded(step int) {
	r.stats["upload"]++
	p := r.partition()
	if r.rnd.IntN(2) == 0 {
		r.seal()
	}
	var end int64
	for _, seg := range p.log.Segments() {
		if seg.Sealed {
			end = max(end, seg.EndOffset)
		}
	}
	r.logf("%d: wait until [.., %d) is uploaded", step, end)
	r.waitFor(r.tb, "sealed segments uploaded", func(st PartitionStatus) bool {
		return st.RemoteEndOffset >= end && st.UploadLagBytes == 0
	})
}

// waitFor polls tb's status of the partition until cond holds.
func (r *propRun) waitFor(tb *testBroker, what string, cond func(PartitionStatus) bool) {
	r.t.Helper()
	defer func() {
		if r.t.Failed() {
			us, _ := tb.tiers.uploader.Status(r.partition().tier.prefix)
			r.logf("waiting for %s: last status %+v %+v, uploader %+v", what, r.waited, r.waited.TierStatus, us)
		}
	}()
	eventually(r.t, what, func() bool {
		r.waited = tb.partitionStatus(propTopic)
		return cond(r.waited)
	})
}

// deleteRecords moves the log start to a random offset in [logStart, hw]
// with DeleteRecords, retrying what injected faults fail.
func (r *propRun) deleteRecords(step int) {
	r.stats["delete-records"]++
	off := r.logStart + r.rnd.Int64N(r.hw()-r.logStart+1)
	r.logf("%d: delete records before %d", step, off)
	req := kmsg.NewPtrDeleteRecordsRequest()
	req.TimeoutMillis = int32(testTimeout / time.Millisecond)
	rt := kmsg.NewDeleteRecordsRequestTopic()
	rt.Topic = propTopic
	rp := kmsg.NewDeleteRecordsRequestTopicPartition()
	rp.Offset = off
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	c := r.conn(r.tb)
	for attempt := 1; ; attempt++ {
		sp := c.roundTrip(req).(*kmsg.DeleteRecordsResponse).Topics[0].Partitions[0]
		if sp.ErrorCode == 0 {
			if want := max(r.logStart, off); sp.LowWatermark != want {
				r.t.Fatalf("DeleteRecords before %d: low watermark %d, want %d", off, sp.LowWatermark, want)
			}
			break
		}
		err := kerr.ErrorForCode(sp.ErrorCode)
		r.logf("  attempt %d: %v", attempt, err)
		if attempt == propAttempts || !errors.Is(err, kerr.KafkaStorageError) {
			r.t.Fatalf("DeleteRecords before %d: %v", off, err)
		}
	}
	r.logStart = max(r.logStart, off)
}

// retainRemote applies remote retention once, by time or by size, as the
// broker's retention loop would with retention.ms or retention.bytes set.
func (r *propRun) retainRemote(step int) {
	r.stats["retention"]++
	p := r.partition()
	s := r.tb.topics().byName[propTopic].settings
	now := time.Now()
	// By time: with retention.ms 0 at the timestamp of record o, every
	// segment wholly below o has expired.
	byTime := r.rnd.IntN(2) == 0
	var o int64
	if byTime {
		o = r.logStart + r.rnd.Int64N(r.hw()-r.logStart+1)
		s.retentionMs, s.retentionBytes = 0, -1
		if o < r.hw() {
			now = time.UnixMilli(r.recs[o].ts)
		} else {
			now = time.UnixMilli(tieredTestBase + int64(r.nextID))
		}
		r.logf("%d: remote retention by time: segments wholly below %d", step, o)
	} else {
		s.retentionMs, s.retentionBytes = -1, r.rnd.Int64N(20000)
		r.logf("%d: remote retention by size: %d bytes", step, s.retentionBytes)
	}
	// The segments' bounds, from the bucket without faults: the cut falls
	// on one of them.
	m := p.tier.w.Manifest()
	bounds := map[int64]bool{m.LogStartOffset: true}
	cut := m.LogStartOffset
	for e, err := range m.Entries(testContext(r.t), r.raw) {
		if err != nil {
			r.t.Fatalf("manifest entries: %v", err)
		}
		bounds[e.EndOffset] = true
		if byTime && e.EndOffset <= o {
			cut = e.EndOffset
		}
	}
	for attempt := 1; ; attempt++ {
		err := r.tb.retainRemote(testContext(r.t), p, s, now)
		if err == nil {
			break
		}
		r.logf("  attempt %d: %v", attempt, err)
		if attempt == propAttempts {
			r.t.Fatalf("remote retention: %v", err)
		}
	}
	got := p.tier.w.Manifest().LogStartOffset
	switch {
	case got < m.LogStartOffset:
		r.t.Fatalf("remote retention moved the remote log start from %d back to %d", m.LogStartOffset, got)
	case !bounds[got]:
		r.t.Fatalf("remote retention cut at %d, not a segment boundary", got)
	case byTime && got != max(cut, m.LogStartOffset):
		r.t.Fatalf("remote retention by time cut at %d, want %d", got, cut)
	}
	r.logf("  remote log start %d", got)
	r.logStart = max(r.logStart, got)
}

// crash kills the broker: from an instant on (now, or when an armed fault
// halts its bucket in the middle of an upload) neither its local files nor
// the bucket take another write; then a new broker recovers from the same
// data directory. Every acknowledged record survives: with fsync always,
// acks=all answers after the write-ahead log is synced.
func (r *propRun) crash(step int) {
	r.stats["crash"]++
	if r.rnd.IntN(2) == 0 {
		rules := []faulty.Rule{
			faulty.HaltAt(objectstore.OpPutIfAbsent, 1),
			faulty.HaltAfterNth(objectstore.OpPutIfAbsent, 1),
			faulty.HaltAt(objectstore.OpHead, 1),
			faulty.HaltAt(objectstore.OpPutIfMatch, 1),
			faulty.HaltAfterNth(objectstore.OpPutIfMatch, 1),
		}
		rule := rules[r.rnd.IntN(len(rules))]
		r.logf("%d: crash in the next upload (%+v)", step, rule)
		r.f.Inject(rule)
		r.seal()
		r.waitFor(r.tb, "an upload to halt the bucket or nothing left to upload", func(st PartitionStatus) bool {
			return r.f.Halted() || st.UploadLagBytes == 0
		})
	} else {
		r.logf("%d: crash", step)
	}
	r.crashed.Store(true)
	r.f.Halt()
	_, _ = r.tb.stopAndClose() // errors are what a crash leaves behind
	r.start(r.dataDir)
}

// takeover opens a second broker on the bucket with an empty data
// directory: it rebuilds the topic from the bucket and takes the manifest
// over with a higher epoch. The records that were only local are lost —
// DESIGN.md's documented loss — so the model's high watermark becomes the
// remote end. The first broker is fenced: its next commit fails and leaves
// the bucket as it was.
func (r *propRun) takeover(step int) {
	r.stats["takeover"]++
	old := r.tb
	oldP := r.partition()
	oldEpoch := oldP.tier.w.Epoch()
	r.start(r.t.TempDir())
	p := r.partition()
	end := p.tier.w.Manifest().RemoteEnd
	r.logf("%d: takeover: epoch %d after %d, remote end %d", step, p.tier.w.Epoch(), oldEpoch, end)
	if p.tier.w.Epoch() <= oldEpoch {
		r.t.Fatalf("takeover: epoch %d, the old broker's is %d", p.tier.w.Epoch(), oldEpoch)
	}
	if end < r.remoteEnd || end > r.hw() {
		r.t.Fatalf("takeover: remote end %d, outside [%d, %d]", end, r.remoteEnd, r.hw())
	}
	head := func() []byte {
		body, _, err := r.raw.Get(testContext(r.t), oldP.tier.prefix+"manifest")
		if err != nil && !errors.Is(err, objectstore.ErrNotExist) {
			r.t.Fatal(err)
		}
		return body
	}
	before := head()
	c := r.conn(old)
	if rp := c.produceOne(produceRequest(propTopic, 0, -1, makeBatch(-1, -1, -1, 0, []byte("zombie")))); rp.ErrorCode != 0 {
		r.t.Fatalf("produce to the old broker: %v", kerr.ErrorForCode(rp.ErrorCode))
	}
	if err := oldP.log.Roll(); err != nil {
		r.t.Fatalf("roll on the old broker: %v", err)
	}
	eventually(r.t, "the old broker fenced", func() bool {
		us, _ := old.tiers.uploader.Status(oldP.tier.prefix)
		return us.Fenced
	})
	if after := head(); !bytes.Equal(before, after) {
		r.t.Fatal("a fenced broker changed the manifest")
	}
	old.shutdown()
	r.recs = r.recs[:end]
	r.logStart = min(r.logStart, end)
}

// check compares the broker with the model: the partition's bounds, and
// every offset in [logStart, highWatermark) read through Fetch.
func (r *propRun) check(step int) {
	t := r.t
	st := r.tb.partitionStatus(propTopic)
	ts := st.TierStatus
	if st.LogStartOffset != r.logStart || st.HighWatermark != r.hw() || st.LogEndOffset != r.hw() {
		t.Fatalf("after step %d: [%d, %d) ending at %d, model [%d, %d)", step, st.LogStartOffset, st.HighWatermark, st.LogEndOffset, r.logStart, r.hw())
	}
	if !(st.LogStartOffset <= ts.RemoteEndOffset && ts.RemoteEndOffset <= st.HighWatermark && st.HighWatermark <= st.LogEndOffset) {
		t.Fatalf("after step %d: want logStart %d <= remoteEnd %d <= highWatermark %d <= logEnd %d",
			step, st.LogStartOffset, ts.RemoteEndOffset, st.HighWatermark, st.LogEndOffset)
	}
	if ts.RemoteEndOffset < r.remoteEnd {
		t.Fatalf("after step %d: remote end fell from %d to %d", step, r.remoteEnd, ts.RemoteEndOffset)
	}
	r.remoteEnd = ts.RemoteEndOffset

	c := r.conn(r.tb)
	fetch := func(offset int64) kmsg.FetchResponseTopicPartition {
		return c.roundTrip(fetchRequest(12, propTopic, [16]byte{}, 0, offset, 0)).(*kmsg.FetchResponse).Topics[0].Partitions[0]
	}
	for next := r.logStart; next < r.hw(); {
		rp := fetch(next)
		if rp.ErrorCode != 0 || rp.HighWatermark != r.hw() || rp.LogStartOffset != r.logStart {
			t.Fatalf("after step %d: fetch at %d: error %v, [%d, %d); model [%d, %d)",
				step, next, kerr.ErrorForCode(rp.ErrorCode), rp.LogStartOffset, rp.HighWatermark, r.logStart, r.hw())
		}
		from := next
		if _, err := batch.Scan(rp.RecordBatches, func(h batch.Header, raw []byte) bool {
			recs, err := batch.Records(raw)
			if err != nil {
				t.Fatalf("after step %d: fetch at %d: batch at %d: %v", step, from, h.BaseOffset, err)
			}
			for _, rec := range recs {
				if rec.Offset < next && next == from {
					continue // a batch may begin below the fetch offset; the client skips those
				}
				if rec.Offset != next || rec.Offset >= r.hw() {
					t.Fatalf("after step %d: fetch at %d: record at %d, want %d below %d", step, from, rec.Offset, next, r.hw())
				}
				if want := r.recs[next]; !bytes.Equal(rec.Value, want.value) || rec.Timestamp != want.ts {
					t.Fatalf("after step %d: offset %d: %q at %d, want %q at %d", step, next, rec.Value, rec.Timestamp, want.value, want.ts)
				}
				next++
			}
			return true
		}); err != nil {
			t.Fatalf("after step %d: fetch at %d: %v", step, from, err)
		}
		if next == from {
			t.Fatalf("after step %d: fetch at %d below the high watermark %d returned nothing", step, from, r.hw())
		}
	}
	if rp := fetch(r.hw()); rp.ErrorCode != 0 || len(rp.RecordBatches) != 0 {
		t.Fatalf("after step %d: fetch at the high watermark %d: error %v, %d bytes", step, r.hw(), kerr.ErrorForCode(rp.ErrorCode), len(rp.RecordBatches))
	}
	if r.logStart > 0 {
		if rp := fetch(r.logStart - 1); rp.ErrorCode != kerr.OffsetOutOfRange.Code {
			t.Fatalf("after step %d: fetch below the log start %d: error %v, want OFFSET_OUT_OF_RANGE", step, r.logStart, kerr.ErrorForCode(rp.ErrorCode))
		}
	}
	if got := listOffsetsOf(t, c, propTopic, 0, -2); got != r.logStart {
		t.Fatalf("after step %d: ListOffsets earliest %d, want %d", step, got, r.logStart)
	}
	if got := listOffsetsOf(t, c, propTopic, 0, -1); got != r.hw() {
		t.Fatalf("after step %d: ListOffsets latest %d, want %d", step, got, r.hw())
	}
}

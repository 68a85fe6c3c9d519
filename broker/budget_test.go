package broker

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/objectstore"
	"github.com/strata-io/strata/objectstore/faulty"
	"github.com/strata-io/strata/tiering"
)

// budgetValue is the value of record i in the budget test: about 1 KiB, so
// a 16 KiB segment holds a few four-record batches.
func budgetValue(i int) []byte {
	return fmt.Appendf(nil, "budget-%08d-%01000d", i, i)
}

// While the bucket fails every call, produce goes on into local disk up to
// LocalBudgetBytes and then answers KAFKA_STORAGE_ERROR without appending;
// once the bucket is back, uploads catch up and produce resumes by itself,
// and every acknowledged record is there exactly once.
func TestProduceLocalBudgetWhileBucketFails(t *testing.T) {
	const budget = 64 << 10
	var fb *faulty.Bucket
	tb := startBroker(t, func(cfg *Config) {
		cfg.Bucket = fileBucketURL(t)
		cfg.RetentionCheckInterval = 20 * time.Millisecond
		cfg.LocalBudgetBytes = budget
		cfg.uploadBackoff = tiering.Backoff{Min: 10 * time.Millisecond, Max: 100 * time.Millisecond}
		cfg.wrapBucket = func(b objectstore.Bucket) objectstore.Bucket {
			fb = faulty.New(b, 1)
			return fb
		}
	})
	const topic = "budget"
	tb.createTopic(topic, 1, tieredConfigs())
	fb.Inject(faulty.Rule{Action: faulty.Fail}) // every call of every operation

	c := dialRaw(t, tb.Addr())
	var acked [][]byte // the value at each acknowledged offset
	produce := func() kmsg.ProduceResponseTopicPartition {
		t.Helper()
		vals := make([][]byte, 4)
		for k := range vals {
			vals[k] = budgetValue(len(acked) + k)
		}
		rp := c.produceOne(produceRequest(topic, 0, -1, makeBatch(-1, -1, -1, time.Now().UnixMilli(), vals...)))
		switch rp.ErrorCode {
		case 0:
			if rp.BaseOffset != int64(len(acked)) {
				t.Fatalf("acked at offset %d, want %d", rp.BaseOffset, len(acked))
			}
			acked = append(acked, vals...)
		case kerr.KafkaStorageError.Code:
		default:
			t.Fatalf("produce: %v", kerr.ErrorForCode(rp.ErrorCode))
		}
		return rp
	}

	for n := 0; produce().ErrorCode == 0; n++ {
		if n > 1000 {
			t.Fatalf("no error after %d acknowledged records with the bucket failing", len(acked))
		}
	}
	if len(acked) == 0 {
		t.Fatal("the first produce failed: nothing went into local disk")
	}
	if e := kerr.ErrorForCode(kerr.KafkaStorageError.Code).(*kerr.Error); !e.Retriable {
		t.Fatal("KAFKA_STORAGE_ERROR is not retriable for franz-go")
	}
	// Soft by at most an append racing a recount: one batch here.
	if held := tb.localOnlyBytes(); held > budget+8<<10 || held < budget/2 {
		t.Fatalf("%d bytes held only locally at the first refusal, budget %d", held, budget)
	}
	if st := tb.partitionStatus(topic); st.RemoteEndOffset != 0 || st.HighWatermark != int64(len(acked)) {
		t.Fatalf("status while the bucket fails: %+v, %d acknowledged", st, len(acked))
	}
	// The connection stays usable: the same request is answered again, with
	// the same retriable error and nothing appended.
	if rp := produce(); rp.ErrorCode != kerr.KafkaStorageError.Code || rp.BaseOffset != -1 {
		t.Fatalf("second produce over the budget: %v at %d", kerr.ErrorForCode(rp.ErrorCode), rp.BaseOffset)
	}
	if hw := tb.partitionStatus(topic).HighWatermark; hw != int64(len(acked)) {
		t.Fatalf("high watermark %d after refused produces, want %d", hw, len(acked))
	}

	fb.Clear()
	eventually(t, "produce accepted after the bucket recovers", func() bool { return produce().ErrorCode == 0 })
	// Several budgets' worth more: uploads keep up, and a producer retrying
	// a refused batch (as clients do) gets through.
	before := len(acked)
	eventually(t, "three budgets produced after recovery", func() bool {
		produce()
		return len(acked)-before >= 3*budget/len(budgetValue(0))
	})
	if st := tb.waitAllRemote(topic); st.HighWatermark != int64(len(acked)) {
		t.Fatalf("status after recovery: %+v, %d acknowledged", st, len(acked))
	}

	// Every acknowledged record, once, in order, from the bucket.
	cl := tb.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	ctx := testContext(t)
	var next int64
	for next < int64(len(acked)) {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("at offset %d: %v", next, err)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("at offset %d: %v", next, err) })
		for it := fs.RecordIter(); !it.Done(); {
			r := it.Next()
			if r.Offset != next || r.Offset >= int64(len(acked)) || string(r.Value) != string(acked[r.Offset]) {
				t.Fatalf("got offset %d (value %.20q), want offset %d of %d", r.Offset, r.Value, next, len(acked))
			}
			next++
		}
	}
}

func TestLocalBudgetUnlimited(t *testing.T) {
	tb := startBroker(t, func(cfg *Config) {
		cfg.Bucket = fileBucketURL(t)
		cfg.LocalBudgetBytes = -1
	})
	if tb.budget.limit != -1 {
		t.Fatalf("limit %d", tb.budget.limit)
	}
	tb.createTopic("unlimited", 1, nil)
	p, err := tb.lookupPartition("unlimited", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := tb.admit(p, 1<<40); err != nil {
		t.Fatal(err)
	}
	if tb2 := startBroker(t, func(cfg *Config) { cfg.Bucket = fileBucketURL(t) }); tb2.budget.limit != DefaultLocalBudgetBytes {
		t.Fatalf("default limit %d", tb2.budget.limit)
	}
}

// The sweep deletes an unreferenced segment object below the remote end
// and leaves every referenced one.
func TestOrphanSweepDeletesStrayObjects(t *testing.T) {
	tb := startBroker(t, func(cfg *Config) {
		cfg.Bucket = fileBucketURL(t)
		cfg.RetentionCheckInterval = 20 * time.Millisecond
		cfg.SweepInterval = 20 * time.Millisecond
		cfg.OrphanAge = time.Millisecond
	})
	const topic = "swept"
	tb.createTopic(topic, 1, tieredConfigs())
	const n = 2000
	if err := produceTimed(testContext(t), tb.producer(), topic, 0, n); err != nil {
		t.Fatal(err)
	}
	st := tb.waitAllRemote(topic)
	p, _ := tb.lookupPartition(topic, 0)
	ctx := testContext(t)
	stray := tiering.SegmentKey(p.tier.prefix, 0, st.RemoteEndOffset/2, p.tier.w.Epoch())
	if _, err := tb.tiers.bucket.Put(ctx, stray, []byte("an abandoned upload")); err != nil {
		t.Fatal(err)
	}
	// Above the remote end: an upload that may yet commit, never swept.
	pending := tiering.SegmentKey(p.tier.prefix, st.RemoteEndOffset, st.RemoteEndOffset+10, p.tier.w.Epoch())
	if _, err := tb.tiers.bucket.Put(ctx, pending, []byte("an upload waiting for its commit")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the stray object swept", func() bool {
		_, err := tb.tiers.bucket.Head(ctx, stray)
		if err != nil && !errors.Is(err, objectstore.ErrNotExist) {
			t.Fatal(err)
		}
		// Sweep counts an object after deleting it.
		return err != nil && tb.tiers.uploader.Stats().Swept > 0
	})
	if _, err := tb.tiers.bucket.Head(ctx, pending); err != nil {
		t.Fatalf("object above the remote end: %v", err)
	}
	refs := 0
	for e, err := range p.tier.w.Manifest().Entries(ctx, tb.tiers.bucket) {
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tb.tiers.bucket.Head(ctx, p.tier.prefix+e.Key); err != nil {
			t.Fatalf("referenced object %s: %v", e.Key, err)
		}
		refs++
	}
	if refs != st.RemoteSegments || refs < 2 {
		t.Fatalf("%d referenced objects, status %+v", refs, st)
	}
	if got := tb.tiers.uploader.Stats().Swept; got != 1 {
		t.Fatalf("swept %d objects, want 1", got)
	}
	cl := tb.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	if err := consumeExactlyOnce(testContext(t), cl, 0, n-1); err != nil {
		t.Fatal(err)
	}
}

package broker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/objectstore"
	"github.com/strata-io/strata/objectstore/bucketurl"
	"github.com/strata-io/strata/objectstore/faulty"
	"github.com/strata-io/strata/tiering"
)

// readRecord is one record as read back, for comparing reads across
// brokers.
type readRecord struct {
	offset int64
	key    string
	value  string
	ts     int64
}

// readPartition reads partition p of topic from offset 0 up to (not
// including) end, failing the test on a gap, a repeat or an error.
func (tb *testBroker) readPartition(topic string, p int32, end int64) []readRecord {
	tb.t.Helper()
	var out []readRecord
	if end == 0 {
		return out
	}
	cl := tb.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {p: kgo.NewOffset().At(0)}}),
		kgo.FetchMaxWait(50*time.Millisecond))
	defer cl.Close()
	ctx := testContext(tb.t)
	for int64(len(out)) < end {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			tb.t.Fatalf("read %s[%d] at %d of %d: %v", topic, p, len(out), end, err)
		}
		fs.EachError(func(_ string, _ int32, err error) { tb.t.Fatalf("read %s[%d]: %v", topic, p, err) })
		for it := fs.RecordIter(); !it.Done(); {
			r := it.Next()
			if r.Offset != int64(len(out)) {
				tb.t.Fatalf("read %s[%d]: offset %d, want %d", topic, p, r.Offset, len(out))
			}
			out = append(out, readRecord{r.Offset, string(r.Key), string(r.Value), r.Timestamp.UnixMilli()})
		}
	}
	return out[:end]
}

// status returns the status of partition p of topic.
func (tb *testBroker) status(topic string, p int32) PartitionStatus {
	tb.t.Helper()
	for _, st := range tb.Partitions() {
		if st.Topic == topic && st.Partition == p && st.TierStatus != nil {
			return st
		}
	}
	tb.t.Fatalf("no tiered partition %s[%d]", topic, p)
	return PartitionStatus{}
}

// listOffsetsOf returns the ListOffsets answer for timestamp ts (-1 latest,
// -2 earliest) of partition p of topic.
func listOffsetsOf(t *testing.T, c *rawConn, topic string, p int32, ts int64) int64 {
	t.Helper()
	req := listOffsetsRequest(8, topic, ts)
	req.Topics[0].Partitions[0].Partition = p
	sp := c.roundTrip(req).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
	if sp.ErrorCode != 0 {
		t.Fatalf("ListOffsets %s[%d] at %d: %v", topic, p, ts, kerr.ErrorForCode(sp.ErrorCode))
	}
	return sp.Offset
}

// A wiped data directory is rebuilt from the bucket: the same topics, ids,
// partition counts and configs; every uploaded record reads back equal
// from offset 0; exactly the records that were only local are gone; and
// new records continue at the old remote end.
func TestRebuildFromBucketAfterWipe(t *testing.T) {
	dataDir := t.TempDir()
	opts := rebuildOpts(t, dataDir)
	tb := startBroker(t, opts)
	ctx := testContext(t)
	adm := tb.admin()

	// Every metadata change reaches the bucket: create, partition count,
	// configs, delete.
	tb.createTopic("orders", 2, tieredConfigs())
	if r, err := adm.UpdatePartitions(ctx, 3, "orders"); err != nil || r["orders"].Err != nil {
		t.Fatalf("update partitions: %v %v", err, r["orders"].Err)
	}
	if rs, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "retention.ms", Value: kmsg.StringPtr("86400000")}}, "orders"); err != nil || rs[0].Err != nil {
		t.Fatalf("alter configs: %v", err)
	}
	events := tieredConfigs()
	events["max.message.bytes"] = kmsg.StringPtr("500000")
	tb.createTopic("events", 1, events)
	tb.createTopic("gone", 1, tieredConfigs())
	goneID := tb.topics().byName["gone"].id
	if r, err := adm.DeleteTopics(ctx, "gone"); err != nil || r["gone"].Err != nil {
		t.Fatalf("delete topic: %v", err)
	}
	if _, _, err := tb.tiers.bucket.Get(ctx, topicMetaKey(goneID)); !objectstoreNotExist(err) {
		t.Fatalf("topic.json of a deleted topic: %v", err)
	}

	type part struct {
		topic string
		p     int32
	}
	parts := []part{{"orders", 0}, {"orders", 1}, {"orders", 2}, {"events", 0}}
	c := dialRaw(t, tb.Addr())
	produce := func(c *rawConn, pt part, from, n int) int64 {
		t.Helper()
		var first int64 = -1
		for i := from; i < from+n; i += 4 {
			vals := make([][]byte, 4)
			for k := range vals {
				vals[k] = fmt.Appendf(nil, "%s-%d-%s", pt.topic, pt.p, testValue(i+k))
			}
			rp := c.produceOne(produceRequest(pt.topic, pt.p, -1, makeBatch(-1, -1, -1, tieredTestBase+int64(i), vals...)))
			if rp.ErrorCode != 0 {
				t.Fatalf("produce %s[%d]: %v", pt.topic, pt.p, kerr.ErrorForCode(rp.ErrorCode))
			}
			if first < 0 {
				first = rp.BaseOffset
			}
		}
		return first
	}

	// Uploaded records, then a few that stay in the local active segment.
	remoteEnd := map[part]int64{}
	before := map[part][]readRecord{}
	for k, pt := range parts {
		produce(c, pt, 0, 200+40*k)
		lp, err := tb.lookupPartition(pt.topic, pt.p)
		if err != nil {
			t.Fatal(err)
		}
		if err := lp.log.Roll(); err != nil {
			t.Fatal(err)
		}
		eventually(t, "everything sealed uploaded", func() bool {
			st := tb.status(pt.topic, pt.p)
			return st.RemoteEndOffset == st.HighWatermark && st.UploadLagBytes == 0
		})
		remoteEnd[pt] = tb.status(pt.topic, pt.p).RemoteEndOffset
		if remoteEnd[pt] != int64(200+40*k) {
			t.Fatalf("%v: remote end %d", pt, remoteEnd[pt])
		}
		produce(c, pt, 1000, 8) // local only: segment.ms is far away
		st := tb.status(pt.topic, pt.p)
		if st.RemoteEndOffset != remoteEnd[pt] || st.HighWatermark != remoteEnd[pt]+8 {
			t.Fatalf("%v: %+v", pt, st)
		}
		before[pt] = tb.readPartition(pt.topic, pt.p, st.HighWatermark)
	}
	oldTopics := maps.Clone(tb.topics().byName)
	oldCluster := tb.clusterID
	tb.shutdown()

	// Wipe the data directory; keep the bucket.
	if err := os.RemoveAll(dataDir); err != nil {
		t.Fatal(err)
	}
	tb = startBroker(t, opts)

	if tb.clusterID != oldCluster {
		t.Errorf("cluster id %s, want %s", tb.clusterID, oldCluster)
	}
	set := tb.topics()
	if len(set.byName) != 2 {
		t.Fatalf("rebuilt topics %v, want orders and events", slicesKeys(set.byName))
	}
	for name, old := range oldTopics {
		nt := set.byName[name]
		switch {
		case nt == nil:
			t.Fatalf("topic %s not rebuilt", name)
		case nt.id != old.id || len(nt.partitions) != len(old.partitions) || !maps.Equal(nt.configs, old.configs):
			t.Fatalf("topic %s rebuilt as id %x, %d partitions, configs %v; want %x, %d, %v",
				name, nt.id, len(nt.partitions), nt.configs, old.id, len(old.partitions), old.configs)
		}
	}

	c = dialRaw(t, tb.Addr())
	for _, pt := range parts {
		end := remoteEnd[pt]
		st := tb.status(pt.topic, pt.p)
		if st.LogStartOffset != 0 || st.HighWatermark != end || st.LogEndOffset != end || st.RemoteEndOffset != end {
			t.Fatalf("%v after rebuild: %+v, want [0, %d)", pt, st, end)
		}
		if got := listOffsetsOf(t, c, pt.topic, pt.p, -2); got != 0 {
			t.Errorf("%v: earliest %d, want 0", pt, got)
		}
		if got := listOffsetsOf(t, c, pt.topic, pt.p, -1); got != end {
			t.Errorf("%v: latest %d, want %d", pt, got, end)
		}
		// Every uploaded record is there, equal; exactly the local-only
		// ones (at and after the old remote end) are gone.
		after := tb.readPartition(pt.topic, pt.p, end)
		for i := range after {
			if after[i] != before[pt][i] {
				t.Fatalf("%v offset %d: %+v after the rebuild, %+v before", pt, i, after[i], before[pt][i])
			}
		}
		if lost := len(before[pt]) - len(after); lost != 8 {
			t.Fatalf("%v: %d records lost, want the 8 never uploaded", pt, lost)
		}
		// New records continue at the old remote end: no gap, no reuse.
		if got := produce(c, pt, 2000, 4); got != end {
			t.Fatalf("%v: produced at %d, want %d", pt, got, end)
		}
		all := tb.readPartition(pt.topic, pt.p, end+4)
		if all[end].value != fmt.Sprintf("%s-%d-%s", pt.topic, pt.p, testValue(2000)) {
			t.Fatalf("%v: record at %d is %+v", pt, end, all[end])
		}
	}

	// A restart with the rebuilt data directory intact resumes.
	tb = tb.restart()
	for _, pt := range parts {
		if st := tb.status(pt.topic, pt.p); st.LogStartOffset != 0 || st.HighWatermark != remoteEnd[pt]+4 {
			t.Fatalf("%v after a plain restart: %+v", pt, st)
		}
	}
}

// A created topic's topic.json holds its name, id, partitions and configs,
// is refused under another topic's key, and is rewritten at start-up when
// it is missing.
func TestTopicMetaInBucket(t *testing.T) {
	bucket := fileBucketURL(t)
	tb := startBroker(t, func(cfg *Config) { cfg.Bucket = bucket })
	tb.createTopic("t", 2, map[string]*string{"retention.ms": kmsg.StringPtr("1000000")})
	id := tb.topics().byName["t"].id

	b, err := bucketurl.Open(context.Background(), bucket)
	if err != nil {
		t.Fatal(err)
	}
	body, _, err := b.Get(context.Background(), topicMetaKey(id))
	if err != nil {
		t.Fatal(err)
	}
	mt, err := decodeBucketTopic(topicMetaKey(id), body)
	if err != nil {
		t.Fatal(err)
	}
	if mt.Name != "t" || mt.ID != formatTopicID(id) || mt.Partitions != 2 || mt.Configs["retention.ms"] != "1000000" {
		t.Fatalf("topic.json %s", body)
	}
	if _, err := decodeBucketTopic(topicMetaKey(newTopicID()), body); err == nil {
		t.Fatal("topic.json under another topic's key accepted")
	}

	// A missing or stale topic.json (a failed write, or a topic older than
	// topic metadata in the bucket) is written again at the next start.
	if err := b.Delete(context.Background(), topicMetaKey(id)); err != nil {
		t.Fatal(err)
	}
	tb.restart()
	if again, _, err := b.Get(context.Background(), topicMetaKey(id)); err != nil || string(again) != string(body) {
		t.Fatalf("topic.json after a restart: %q, %v", again, err)
	}
}

func objectstoreNotExist(err error) bool { return errors.Is(err, objectstore.ErrNotExist) }

func slicesKeys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// Rebuilding retries bucket errors, also past the bucket's own retries.
func TestRebuildFromBucketRetriesBucketErrors(t *testing.T) {
	dataDir := t.TempDir()
	opts := rebuildOpts(t, dataDir)
	tb := startBroker(t, opts)
	tb.createTopic("r", 1, tieredConfigs())
	if err := produceTimed(testContext(t), tb.producer(), "r", 0, 300); err != nil {
		t.Fatal(err)
	}
	end := tb.waitAllRemote("r").RemoteEndOffset
	if end != 300 {
		t.Fatalf("remote end %d", end)
	}
	before := tb.readPartition("r", 0, end)
	tb.shutdown()
	if err := os.RemoveAll(dataDir); err != nil {
		t.Fatal(err)
	}

	var fb *faulty.Bucket
	tb = startBroker(t, opts, func(cfg *Config) {
		cfg.wrapBucket = func(b objectstore.Bucket) objectstore.Bucket {
			fb = faulty.New(b, 1)
			// More failures in a row than objectstore.WithRetry tries.
			for n := 1; n <= objectstore.DefaultMaxAttempts+1; n++ {
				fb.Inject(faulty.Rule{Op: objectstore.OpGet, KeyPrefix: clusterMetaKey, Nth: n, Action: faulty.Fail})
				fb.Inject(faulty.Rule{Op: objectstore.OpList, KeyPrefix: "topics/", Nth: n, Action: faulty.Fail})
				fb.Inject(faulty.Rule{Op: objectstore.OpGet, KeyPrefix: "topics/", Nth: n, Action: faulty.Fail})
			}
			return fb
		}
	})
	if st := tb.partitionStatus("r"); st.LogStartOffset != 0 || st.HighWatermark != end {
		t.Fatalf("after rebuild: %+v", st)
	}
	after := tb.readPartition("r", 0, end)
	for i := range after {
		if after[i] != before[i] {
			t.Fatalf("offset %d: %+v after the rebuild, %+v before", i, after[i], before[i])
		}
	}
}

// Producer IDs are reserved in the bucket too: a broker rebuilt from the
// bucket after its data directory was lost never hands out an ID the old
// one gave to a producer, whose idempotent batches would otherwise be
// mistaken for another's.
func TestProducerIDsSurviveARebuild(t *testing.T) {
	bucket := fileBucketURL(t)
	dataDir := t.TempDir()
	opts := func(cfg *Config) {
		cfg.Bucket = bucket
		cfg.DataDir = dataDir
	}
	tb := startBroker(t, opts)
	initPID := func(tb *testBroker) int64 {
		t.Helper()
		resp := dialRaw(t, tb.Addr()).roundTrip(kmsg.NewPtrInitProducerIDRequest()).(*kmsg.InitProducerIDResponse)
		if resp.ErrorCode != 0 {
			t.Fatalf("InitProducerID: %v", kerr.ErrorForCode(resp.ErrorCode))
		}
		return resp.ProducerID
	}
	var last int64
	for range producerIDBlock + 1 { // into the second block
		last = initPID(tb)
	}
	tb.shutdown()
	if err := os.RemoveAll(dataDir); err != nil {
		t.Fatal(err)
	}
	tb = startBroker(t, opts)
	if id := initPID(tb); id <= last {
		t.Fatalf("after the rebuild the broker handed out producer ID %d; %d was handed out before", id, last)
	}

	// While the bucket cannot record a new block, InitProducerID answers a
	// retriable error instead of handing out unrecorded IDs.
	tb.shutdown()
	var fb *faulty.Bucket
	tb = startBroker(t, opts, func(cfg *Config) {
		cfg.wrapBucket = func(b objectstore.Bucket) objectstore.Bucket {
			fb = faulty.New(b, 1)
			return fb
		}
	})
	fb.Inject(faulty.Rule{Op: faulty.Conditional, Action: faulty.Fail, Err: errors.New("bucket down")})
	rc := dialRaw(t, tb.Addr())
	resp := rc.roundTrip(kmsg.NewPtrInitProducerIDRequest()).(*kmsg.InitProducerIDResponse)
	if resp.ErrorCode != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("InitProducerID with the bucket failing: error %v, id %d", kerr.ErrorForCode(resp.ErrorCode), resp.ProducerID)
	}
	fb.Clear()
	if id := initPID(tb); id <= last {
		t.Fatalf("producer ID %d after the bucket healed", id)
	}
}

// An idempotent producer keeps exactly-once across a rebuild from the
// bucket: the producer state uploaded with the last segment is restored,
// so a retry of a batch the bucket holds is answered with its original
// offset and appends nothing, the next sequence continues at the remote
// end, and a gap is refused. A corrupt snapshot in the bucket does not stop
// the rebuild: the partition starts without producer state.
func TestRebuildFromBucketKeepsProducerState(t *testing.T) {
	for _, corrupt := range []bool{false, true} {
		t.Run(fmt.Sprintf("corrupt snapshot %v", corrupt), func(t *testing.T) {
			testRebuildKeepsProducerState(t, corrupt)
		})
	}
}

func testRebuildKeepsProducerState(t *testing.T, corrupt bool) {
	dataDir := t.TempDir()
	opts := rebuildOpts(t, dataDir)
	tb := startBroker(t, opts)
	tb.createTopic("idem", 1, tieredConfigs())
	rc := dialRaw(t, tb.Addr())
	init := rc.roundTrip(kmsg.NewPtrInitProducerIDRequest()).(*kmsg.InitProducerIDResponse)
	if init.ErrorCode != 0 {
		t.Fatalf("InitProducerId: %v", kerr.ErrorForCode(init.ErrorCode))
	}
	pid, epoch := init.ProducerID, init.ProducerEpoch
	// Batch i holds two records with sequences 2i and 2i+1.
	batch := func(i int) []byte {
		return makeBatch(pid, epoch, int32(2*i), tieredTestBase+int64(2*i), fmt.Appendf(nil, "v%d", 2*i), fmt.Appendf(nil, "v%d", 2*i+1))
	}
	const n = 6
	for i := range n {
		if got := rc.produceOne(produceRequest("idem", 0, -1, batch(i))); got.ErrorCode != 0 || got.BaseOffset != int64(2*i) {
			t.Fatalf("batch %d: %+v", i, got)
		}
	}
	lp, err := tb.lookupPartition("idem", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.log.Roll(); err != nil {
		t.Fatal(err)
	}
	const end = 2 * n
	eventually(t, "the segment uploaded", func() bool {
		st := tb.status("idem", 0)
		return st.RemoteEndOffset == end && st.UploadLagBytes == 0
	})
	if corrupt {
		ctx := testContext(t)
		m := lp.tier.manifest()
		e, err := m.Lookup(ctx, tb.tiers.bucket, end-1)
		if err != nil {
			t.Fatal(err)
		}
		key := lp.tier.prefix + e.Key
		obj, _, err := tb.tiers.bucket.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		f, err := tiering.DecodeFooter(obj)
		if err != nil {
			t.Fatal(err)
		}
		off, sn := f.SnapshotRange()
		if sn == 0 {
			t.Fatal("the uploaded segment has no producer snapshot")
		}
		obj[off+sn/2] ^= 0x20
		if _, err := tb.tiers.bucket.Put(ctx, key, obj); err != nil {
			t.Fatal(err)
		}
	}
	tb.shutdown()

	// Wipe the data directory; keep the bucket.
	if err := os.RemoveAll(dataDir); err != nil {
		t.Fatal(err)
	}
	tb = startBroker(t, opts)
	if st := tb.status("idem", 0); st.RemoteEndOffset != end || st.LogEndOffset != end {
		t.Fatalf("after rebuild: %+v, want everything below %d remote", st, end)
	}
	hw := func() int64 {
		t.Helper()
		lp, err := tb.lookupPartition("idem", 0)
		if err != nil {
			t.Fatal(err)
		}
		return lp.log.Offsets().HighWatermark
	}
	rc = dialRaw(t, tb.Addr())
	if corrupt {
		// No producer state: the retry is a new batch, at the remote end.
		if got := rc.produceOne(produceRequest("idem", 0, -1, batch(n-1))); got.ErrorCode != 0 || got.BaseOffset != end {
			t.Fatalf("retry without producer state: %+v, want a new batch at %d", got, end)
		}
		return
	}
	// Retries of the last batch and of an older one: the original offsets,
	// nothing appended.
	for _, i := range []int{n - 1, n - 3} {
		if got := rc.produceOne(produceRequest("idem", 0, -1, batch(i))); got.ErrorCode != 0 || got.BaseOffset != int64(2*i) {
			t.Fatalf("retry of batch %d after the rebuild: %+v, want offset %d", i, got, 2*i)
		}
	}
	if got := hw(); got != end {
		t.Fatalf("after retries: high watermark %d, want %d", got, end)
	}
	if got := rc.produceOne(produceRequest("idem", 0, -1, batch(n+1))); got.ErrorCode != kerr.OutOfOrderSequenceNumber.Code {
		t.Fatalf("sequence gap: %v, want OUT_OF_ORDER_SEQUENCE_NUMBER", kerr.ErrorForCode(got.ErrorCode))
	}
	if got := rc.produceOne(produceRequest("idem", 0, -1, batch(n))); got.ErrorCode != 0 || got.BaseOffset != end {
		t.Fatalf("next batch: %+v, want offset %d", got, end)
	}
	if got := hw(); got != end+2 {
		t.Fatalf("high watermark %d, want %d", got, end+2)
	}

	// A plain restart of the rebuilt broker keeps the state too.
	tb = tb.restart()
	rc = dialRaw(t, tb.Addr())
	for _, i := range []int{n, n - 1} {
		if got := rc.produceOne(produceRequest("idem", 0, -1, batch(i))); got.ErrorCode != 0 || got.BaseOffset != int64(2*i) {
			t.Fatalf("retry of batch %d after a restart: %+v, want offset %d", i, got, 2*i)
		}
	}
	if got := hw(); got != end+2 {
		t.Fatalf("after retries: high watermark %d, want %d", got, end+2)
	}
}

// rebuildOpts configures brokers on dataDir and one file bucket, the same
// for every broker of a test, so that a restart (or a wiped dataDir) finds
// the bucket again.
func rebuildOpts(t *testing.T, dataDir string) func(*Config) {
	bucket := fileBucketURL(t)
	return func(cfg *Config) {
		cfg.Bucket = bucket
		cfg.DataDir = dataDir
		cfg.RetentionCheckInterval = 20 * time.Millisecond
	}
}

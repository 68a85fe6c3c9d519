package broker

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/internal/miniotest"
)

// tieredTestBase is the timestamp of record 0 in the tiering tests; record
// i has timestamp tieredTestBase+i ms.
var tieredTestBase = time.Now().Add(-time.Hour).UnixMilli()

// tieredConfigs makes segments small and keeps nothing locally once it is
// uploaded, so segments are sealed, uploaded and deleted locally all the
// time under the consumers.
func tieredConfigs() map[string]*string {
	s := func(v string) *string { return &v }
	return map[string]*string{"segment.bytes": s("16384"), "local.retention.bytes": s("0")}
}

// startTieredBroker starts a broker whose remote tier is bucketURL.
func startTieredBroker(t *testing.T, bucketURL string) *testBroker {
	t.Helper()
	return startBroker(t, func(cfg *Config) {
		cfg.Bucket = bucketURL
		cfg.RetentionCheckInterval = 20 * time.Millisecond
	})
}

func fileBucketURL(t *testing.T) string {
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(filepath.Join(t.TempDir(), "bucket"))}).String()
}

func TestTieringDir(t *testing.T) {
	testTiering(t, fileBucketURL(t))
}

func TestTieringMinIO(t *testing.T) {
	if os.Getenv("STRATA_SKIP_MINIO") != "" {
		t.Skip("STRATA_SKIP_MINIO is set")
	}
	srv := miniotest.Start(t)
	srv.Setenv(t)
	testTiering(t, srv.URL("s3"))
}

// produceTimed produces records [from, to) to partition 0 of topic, in
// order, idempotently with acks=all: key i, value testValue(i), timestamp
// tieredTestBase+i.
func produceTimed(ctx context.Context, cl *kgo.Client, topic string, from, to int) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for i := from; i < to; i++ {
		r := &kgo.Record{Topic: topic, Key: []byte(strconv.Itoa(i)), Value: testValue(i), Timestamp: time.UnixMilli(tieredTestBase + int64(i))}
		wg.Add(1)
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				mu.Lock()
				first = cmpOr(first, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return first
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// consumeExactlyOnce polls cl until it has seen offset last, checking that
// every record is the one produceTimed wrote at its offset and that offsets
// run without gaps or repeats. The first record may be at any offset (a
// consumer starting at the end), unless from >= 0.
func consumeExactlyOnce(ctx context.Context, cl *kgo.Client, from, last int64) error {
	next := from
	for next < 0 || next <= last {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("at offset %d: %w", next, err)
		}
		var err error
		fs.EachError(func(_ string, _ int32, e error) { err = cmpOr(err, e) })
		if err != nil {
			return fmt.Errorf("at offset %d: %w", next, err)
		}
		for it := fs.RecordIter(); !it.Done(); {
			r := it.Next()
			if next < 0 {
				next = r.Offset
			}
			i := int(r.Offset)
			if r.Offset != next {
				return fmt.Errorf("got offset %d, want %d", r.Offset, next)
			}
			if string(r.Key) != strconv.Itoa(i) || !bytes.Equal(r.Value, testValue(i)) || r.Timestamp.UnixMilli() != tieredTestBase+int64(i) {
				return fmt.Errorf("offset %d: key %q, value %q, timestamp %d: not record %d", r.Offset, r.Key, r.Value, r.Timestamp.UnixMilli(), i)
			}
			next++
		}
	}
	return nil
}

// partitionStatus returns the status of partition 0 of topic.
func (tb *testBroker) partitionStatus(topic string) PartitionStatus {
	tb.t.Helper()
	for _, st := range tb.Partitions() {
		if st.Topic == topic && st.Partition == 0 {
			if st.TierStatus == nil {
				tb.t.Fatalf("%s[0] is not tiered", topic)
			}
			return st
		}
	}
	tb.t.Fatalf("no partition %s[0]", topic)
	return PartitionStatus{}
}

// waitAllRemote seals the active segment of topic's partition 0 and waits
// until everything is uploaded and no uploaded segment is left locally.
func (tb *testBroker) waitAllRemote(topic string) PartitionStatus {
	tb.t.Helper()
	p, err := tb.lookupPartition(topic, 0)
	if err != nil {
		tb.t.Fatal(err)
	}
	if err := p.log.Roll(); err != nil {
		tb.t.Fatal(err)
	}
	var st PartitionStatus
	eventually(tb.t, "every segment uploaded and deleted locally", func() bool {
		st = tb.partitionStatus(topic)
		if st.RemoteEndOffset != st.HighWatermark || st.UploadLagBytes != 0 {
			return false
		}
		for _, seg := range p.log.Segments() {
			if seg.BaseOffset < st.RemoteEndOffset {
				return false
			}
		}
		return true
	})
	return st
}

// listOffset asks for one ListOffsets timestamp of partition 0 of topic.
func listOffset(t *testing.T, c *rawConn, topic string, ts int64) (offset, timestamp int64) {
	t.Helper()
	resp := c.roundTrip(listOffsetsRequest(8, topic, ts)).(*kmsg.ListOffsetsResponse)
	sp := resp.Topics[0].Partitions[0]
	if sp.ErrorCode != 0 {
		t.Fatalf("ListOffsets %s at %d: %v", topic, ts, kerr.ErrorForCode(sp.ErrorCode))
	}
	return sp.Offset, sp.Timestamp
}

// testTiering runs the tiering scenario on the bucket at bucketURL.
func testTiering(t *testing.T, bucketURL string) {
	tb := startTieredBroker(t, bucketURL)
	const topic = "tiered"
	tb.createTopic(topic, 1, tieredConfigs())
	const n = 40000

	// The regression the design exists for: consumers tailing and catching
	// up while segments are sealed, uploaded and deleted locally under them
	// each see every offset exactly once, in order, byte-equal.
	t.Run("ConsumersSeeEveryOffsetOnceWhileSegmentsMove", func(t *testing.T) {
		ctx := testContext(t)
		producer := tb.producer()
		tail := tb.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtEnd()}}))
		errs := make(chan error, 3)
		var wg sync.WaitGroup
		wg.Go(func() {
			if err := consumeExactlyOnce(ctx, tail, -1, n-1); err != nil {
				errs <- fmt.Errorf("tailing consumer: %w", err)
			}
		})
		wg.Go(func() {
			// In steps, so that uploads and local deletions happen
			// between and during the produce requests.
			for from := 0; from < n; from += n / 12 {
				if err := produceTimed(ctx, producer, topic, from, min(from+n/12, n)); err != nil {
					errs <- fmt.Errorf("produce: %w", err)
					return
				}
			}
		})
		// The catching-up consumer starts once history has moved to the
		// bucket and left the local disk.
		eventually(t, "first segments uploaded and deleted locally", func() bool {
			st := tb.partitionStatus(topic)
			return st.RemoteEndOffset > 0 && st.LogStartOffset == 0 && tb.localStart(topic) > 0
		})
		catchUp := tb.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().At(0)}}))
		wg.Go(func() {
			if err := consumeExactlyOnce(ctx, catchUp, 0, n-1); err != nil {
				errs <- fmt.Errorf("catching-up consumer: %w", err)
			}
		})
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
	if t.Failed() {
		return
	}

	st := tb.waitAllRemote(topic)
	if st.HighWatermark != n || st.LogStartOffset != 0 || st.RemoteSegments < 10 {
		t.Fatalf("status after all uploads: %+v", st)
	}

	t.Run("FreshConsumerReadsEverythingFromTheBucket", func(t *testing.T) {
		if got := tb.localStart(topic); got != n {
			t.Fatalf("local log starts at %d, want %d: uploaded segments left on disk", got, n)
		}
		cl := tb.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
		if err := consumeExactlyOnce(testContext(t), cl, 0, n-1); err != nil {
			t.Fatal(err)
		}
	})

	// A few records that stay local, for the searches across tiers.
	const m = 50
	if err := produceTimed(testContext(t), tb.producer(), topic, n, n+m); err != nil {
		t.Fatal(err)
	}
	t.Run("ListOffsetsAcrossTiers", func(t *testing.T) {
		c := dialRaw(t, tb.Addr())
		if off, _ := listOffset(t, c, topic, listEarliest); off != 0 {
			t.Errorf("earliest = %d, want 0", off)
		}
		if off, _ := listOffset(t, c, topic, listLatest); off != n+m {
			t.Errorf("latest = %d, want %d", off, n+m)
		}
		if off, _ := listOffset(t, c, topic, listEarliestLocal); off != n {
			t.Errorf("earliest local = %d, want %d", off, n)
		}
		for _, i := range []int64{0, 1, 777, n - 1, n, n + m - 1} {
			off, ts := listOffset(t, c, topic, tieredTestBase+i)
			if off != i || ts != tieredTestBase+i {
				t.Errorf("by timestamp of record %d: offset %d, timestamp %d", i, off, ts)
			}
		}
		if off, _ := listOffset(t, c, topic, tieredTestBase+n+m); off != -1 {
			t.Errorf("by a timestamp after every record: offset %d, want -1", off)
		}
		if off, ts := listOffset(t, c, topic, listMaxTimestamp); off != n+m-1 || ts != tieredTestBase+n+m-1 {
			t.Errorf("max timestamp: offset %d, timestamp %d, want the last record", off, ts)
		}
	})

	t.Run("MissingObjectIsStorageErrorAndConnectionStaysUsable", func(t *testing.T) {
		const holes = "holes"
		tb.createTopic(holes, 1, tieredConfigs())
		if err := produceTimed(testContext(t), tb.producer(), holes, 0, 2000); err != nil {
			t.Fatal(err)
		}
		tb.waitAllRemote(holes)
		p, _ := tb.lookupPartition(holes, 0)
		mf := p.tier.w.Manifest()
		// Not read by anyone yet, so no block of it is cached.
		victim, err := mf.Lookup(testContext(t), tb.tiers.bucket, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if err := tb.tiers.bucket.Delete(testContext(t), p.tier.prefix+victim.Key); err != nil {
			t.Fatal(err)
		}
		c := dialRaw(t, tb.Addr())
		for range 2 { // and again: the consumer is never moved past it
			resp := c.roundTrip(fetchRequest(12, holes, [16]byte{}, 0, 1000, 0)).(*kmsg.FetchResponse)
			rp := resp.Topics[0].Partitions[0]
			if rp.ErrorCode != kerr.KafkaStorageError.Code || len(rp.RecordBatches) != 0 {
				t.Fatalf("fetch from a missing object: error %v, %d bytes; want KAFKA_STORAGE_ERROR and nothing", kerr.ErrorForCode(rp.ErrorCode), len(rp.RecordBatches))
			}
		}
		// The same connection still serves the segments that exist.
		resp := c.roundTrip(fetchRequest(12, holes, [16]byte{}, 0, victim.EndOffset, 0)).(*kmsg.FetchResponse)
		rp := resp.Topics[0].Partitions[0]
		if rp.ErrorCode != 0 || len(rp.RecordBatches) == 0 {
			t.Fatalf("fetch after the missing object: error %v, %d bytes", kerr.ErrorForCode(rp.ErrorCode), len(rp.RecordBatches))
		}
		if offs := fetchedOffsets(t, rp.RecordBatches); offs[0] != victim.EndOffset {
			t.Fatalf("fetch at %d starts at %d", victim.EndOffset, offs[0])
		}
	})

	t.Run("RestartTakesOverAndContinues", func(t *testing.T) {
		p, _ := tb.lookupPartition(topic, 0)
		oldEpoch := p.tier.w.Epoch()
		tb = tb.restart()
		p, _ = tb.lookupPartition(topic, 0)
		if p.tier.w.Epoch() <= oldEpoch {
			t.Fatalf("epoch %d after restart, was %d", p.tier.w.Epoch(), oldEpoch)
		}
		if st := tb.partitionStatus(topic); st.RemoteEndOffset != n || st.HighWatermark != n+m || st.LogStartOffset != 0 {
			t.Fatalf("status after restart: %+v", st)
		}
		if err := produceTimed(testContext(t), tb.producer(), topic, n+m, n+2*m); err != nil {
			t.Fatal(err)
		}
		tb.waitAllRemote(topic)
		cl := tb.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
		if err := consumeExactlyOnce(testContext(t), cl, 0, n+2*m-1); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("DeleteRecordsTrimsBothTiers", func(t *testing.T) {
		p, _ := tb.lookupPartition(topic, 0)
		before := p.tier.w.Manifest()
		e, err := before.Lookup(testContext(t), tb.tiers.bucket, 5000)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tb.admin().DeleteRecords(testContext(t), offsetsOf(topic, 0, e.BaseOffset+1)); err != nil {
			t.Fatal(err)
		}
		after := p.tier.w.Manifest()
		if after.LogStartOffset != e.BaseOffset+1 {
			t.Fatalf("manifest log start %d, want %d", after.LogStartOffset, e.BaseOffset+1)
		}
		if _, err := tb.tiers.bucket.Head(testContext(t), p.tier.prefix+e.Key); err != nil {
			t.Fatalf("the segment holding the new log start: %v", err)
		}
		first, err := before.Lookup(testContext(t), tb.tiers.bucket, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tb.tiers.bucket.Head(testContext(t), p.tier.prefix+first.Key); err == nil {
			t.Fatal("the first segment's object is still in the bucket")
		}
		c := dialRaw(t, tb.Addr())
		if off, _ := listOffset(t, c, topic, listEarliest); off != e.BaseOffset+1 {
			t.Errorf("earliest = %d, want %d", off, e.BaseOffset+1)
		}
		resp := c.roundTrip(fetchRequest(12, topic, [16]byte{}, 0, 0, 0)).(*kmsg.FetchResponse)
		if rp := resp.Topics[0].Partitions[0]; rp.ErrorCode != kerr.OffsetOutOfRange.Code || rp.LogStartOffset != e.BaseOffset+1 {
			t.Errorf("fetch below the log start: error %v, log start %d", kerr.ErrorForCode(rp.ErrorCode), rp.LogStartOffset)
		}
	})
}

// producer returns a client that produces small batches, so a 16 KiB
// segment holds several.
func (tb *testBroker) producer() *kgo.Client {
	return tb.client(kgo.ProducerBatchMaxBytes(4096), kgo.ProducerBatchCompression(kgo.NoCompression()))
}

// localStart returns the local log start of partition 0 of topic.
func (tb *testBroker) localStart(topic string) int64 {
	tb.t.Helper()
	p, err := tb.lookupPartition(topic, 0)
	if err != nil {
		tb.t.Fatal(err)
	}
	return p.log.Offsets().LogStart
}

func TestRemoteRetentionDropsOldSegments(t *testing.T) {
	tb := startTieredBroker(t, fileBucketURL(t))
	const topic = "retained"
	cfgs := tieredConfigs()
	retention := "40000" // bytes: two or so of the 16 KiB segments
	cfgs["retention.bytes"] = &retention
	tb.createTopic(topic, 1, cfgs)
	const n = 3000
	if err := produceTimed(testContext(t), tb.producer(), topic, 0, n); err != nil {
		t.Fatal(err)
	}
	tb.waitAllRemote(topic)
	p, _ := tb.lookupPartition(topic, 0)
	objects := func() int {
		count := 0
		for _, err := range tb.tiers.bucket.List(testContext(t), p.tier.prefix+"segments/") {
			if err != nil {
				t.Fatal(err)
			}
			count++
		}
		return count
	}
	// Every dropped segment's object is deleted; every kept one stays.
	// Retention is done once what is left fits retention.bytes: nothing is
	// produced any more, so the log start stays where it is from then on.
	var st PartitionStatus
	eventually(t, "remote retention", func() bool {
		st = tb.partitionStatus(topic)
		var total int64
		for e, err := range p.tier.w.Manifest().Entries(testContext(t), tb.tiers.bucket) {
			if err != nil {
				t.Fatal(err)
			}
			total += e.SizeBytes
		}
		return st.LogStartOffset > 0 && total <= 40000 && objects() == st.RemoteSegments
	})
	cl := tb.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	if err := consumeExactlyOnce(testContext(t), cl, st.LogStartOffset, n-1); err != nil {
		t.Fatal(err)
	}
}

func TestLocalRetentionConfigs(t *testing.T) {
	tb := startTieredBroker(t, fileBucketURL(t))
	tb.createTopic("local", 1, nil)
	cs := describeTopic(t, tb, "local")
	wantConfig(t, cs, "local.retention.ms", strconv.FormatInt(DefaultLocalRetentionMs, 10), kmsg.ConfigSourceDefaultConfig)
	wantConfig(t, cs, "local.retention.bytes", "-1", kmsg.ConfigSourceDefaultConfig)

	v := "60000"
	if _, err := tb.admin().AlterTopicConfigs(testContext(t), []kadm.AlterConfig{{Name: "local.retention.ms", Value: &v}}, "local"); err != nil {
		t.Fatal(err)
	}
	wantConfig(t, describeTopic(t, tb, "local"), "local.retention.ms", "60000", kmsg.ConfigSourceDynamicTopicConfig)
	p, _ := tb.lookupPartition("local", 0)
	if c := p.log.Config(); !c.Tiered || c.LocalRetentionMs != time.Minute || c.LocalRetentionBytes != -1 {
		t.Fatalf("partition config %+v", c)
	}

	tests := []struct {
		configs   topicConfigs
		ok        bool
		wantMs    time.Duration
		wantBytes int64
	}{
		// -2: as retention.ms / retention.bytes, as in Kafka.
		{topicConfigs{"local.retention.ms": "-2", "retention.ms": "5000", "local.retention.bytes": "-2", "retention.bytes": "7"}, true, 5 * time.Second, 7},
		{topicConfigs{"local.retention.ms": "0", "local.retention.bytes": "0"}, true, 0, 0},
		{topicConfigs{"local.retention.ms": "-3"}, false, 0, 0},
		{topicConfigs{"local.retention.bytes": "x"}, false, 0, 0},
	}
	base := Config{SegmentBytes: DefaultSegmentBytes, SegmentMs: DefaultSegmentMs, LocalRetentionMs: DefaultLocalRetentionMs, LocalRetentionBytes: DefaultLocalRetentionBytes}
	for _, tt := range tests {
		s, err := tt.configs.settings(&base)
		if (err == nil) != tt.ok {
			t.Errorf("%v: err %v, want ok %v", tt.configs, err, tt.ok)
			continue
		}
		if !tt.ok {
			continue
		}
		if c := s.partitionConfig(true); c.LocalRetentionMs != tt.wantMs || c.LocalRetentionBytes != tt.wantBytes {
			t.Errorf("%v: local retention %v / %d, want %v / %d", tt.configs, c.LocalRetentionMs, c.LocalRetentionBytes, tt.wantMs, tt.wantBytes)
		}
	}
}

// Records deleted beyond the remote end stay deleted once the segment that
// holds the new log start is uploaded: the remote tier starts at the log
// start, not at the segment's base, and logStart <= remoteEnd throughout.
func TestDeleteRecordsBeyondRemoteEndStaysDeleted(t *testing.T) {
	tb := startTieredBroker(t, fileBucketURL(t))
	const topic = "deleted"
	tb.createTopic(topic, 1, tieredConfigs())
	if err := produceTimed(testContext(t), tb.producer(), topic, 0, 100); err != nil {
		t.Fatal(err)
	}
	if _, err := tb.admin().DeleteRecords(testContext(t), offsetsOf(topic, 0, 60)); err != nil {
		t.Fatal(err)
	}
	if st := tb.partitionStatus(topic); st.LogStartOffset != 60 || st.RemoteEndOffset != 60 {
		t.Fatalf("after DeleteRecords: %+v %+v, want log start and remote end 60", st, st.TierStatus)
	}
	if st := tb.waitAllRemote(topic); st.LogStartOffset != 60 || st.RemoteEndOffset != 100 {
		t.Fatalf("after the upload: %+v %+v, want [60, 100) remote", st, st.TierStatus)
	}
	c := dialRaw(t, tb.Addr())
	rp := c.roundTrip(fetchRequest(12, topic, [16]byte{}, 0, 59, 0)).(*kmsg.FetchResponse).Topics[0].Partitions[0]
	if rp.ErrorCode != kerr.OffsetOutOfRange.Code || rp.LogStartOffset != 60 {
		t.Fatalf("fetch at 59: error %v, log start %d", kerr.ErrorForCode(rp.ErrorCode), rp.LogStartOffset)
	}
	cl := tb.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	if err := consumeExactlyOnce(testContext(t), cl, 60, 99); err != nil {
		t.Fatal(err)
	}
}

package broker

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/batch"
	"github.com/strata-io/strata/objectstore"
)

// getCounter counts the ranged gets through a Bucket, by object key.
type getCounter struct {
	objectstore.Bucket

	mu   sync.Mutex // guards gets
	gets map[string]int
}

func (c *getCounter) GetRange(ctx context.Context, key string, off, n int64) ([]byte, error) {
	c.mu.Lock()
	c.gets[key]++
	c.mu.Unlock()
	return c.Bucket.GetRange(ctx, key, off, n)
}

func (c *getCounter) count(suffix string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for k, v := range c.gets {
		if strings.HasSuffix(k, suffix) {
			n += v
		}
	}
	return n
}

// A fetch that answers partitions from the remote tier up to the end of
// their segments starts reading the next segments before the consumer asks:
// the consumer's next fetch finds them cached and makes no get of its own.
// And each answer still comes from its one segment.
func TestRemoteFetchReadsTheNextSegmentAhead(t *testing.T) {
	gc := &getCounter{gets: map[string]int{}}
	tb := startBroker(t, func(cfg *Config) {
		cfg.Bucket = fileBucketURL(t)
		cfg.RetentionCheckInterval = 20 * time.Millisecond
		cfg.wrapBucket = func(b objectstore.Bucket) objectstore.Bucket {
			gc.Bucket = b
			return gc
		}
	})
	const topic = "ahead"
	tb.createTopic(topic, 2, tieredConfigs())
	cl := tb.client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx := testContext(t)
	for i := range 400 {
		r := &kgo.Record{Topic: topic, Partition: int32(i % 2), Value: []byte(strings.Repeat("v", 200) + string(rune('a'+i%26)))}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	var second [2]string // key of each partition's second segment
	var firstEnd [2]int64
	var uploadGets [2]int // gets of the second segment by the upload's verify step
	for pi := range int32(2) {
		p, err := tb.lookupPartition(topic, pi)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.log.Roll(); err != nil {
			t.Fatal(err)
		}
		eventually(t, "everything uploaded", func() bool {
			m := p.tier.w.Manifest()
			return m.RemoteEnd == p.log.Offsets().HighWatermark
		})
		m := p.tier.w.Manifest()
		first, err := m.Lookup(ctx, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		next, err := m.Lookup(ctx, nil, first.EndOffset)
		if err != nil {
			t.Fatalf("partition %d has one segment: %v", pi, err)
		}
		second[pi], firstEnd[pi] = next.Key, first.EndOffset
		uploadGets[pi] = gc.count(next.Key)
	}

	fetch := func(offsets [2]int64) *kmsg.FetchResponse {
		req := kmsg.NewPtrFetchRequest()
		req.Version = 12
		req.ReplicaID, req.MaxBytes = -1, 1<<20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = topic
		for pi, off := range offsets {
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = int32(pi), off, 1<<20
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		return dialRaw(t, tb.Addr()).roundTrip(req).(*kmsg.FetchResponse)
	}
	resp := fetch([2]int64{0, 0})
	for _, rp := range resp.Topics[0].Partitions {
		if rp.ErrorCode != 0 {
			t.Fatalf("partition %d: error %d", rp.Partition, rp.ErrorCode)
		}
		if got := lastOffset(t, rp.RecordBatches) + 1; got != firstEnd[rp.Partition] {
			t.Fatalf("partition %d answered up to %d, want its first segment's end %d", rp.Partition, got, firstEnd[rp.Partition])
		}
	}
	// The tail (footer and index) and the one data block of each second
	// segment, on top of the upload's own read of the footer.
	for pi, key := range second {
		eventually(t, "the next segment read ahead", func() bool { return gc.count(key) >= uploadGets[pi]+2 })
	}
	before := [2]int{gc.count(second[0]), gc.count(second[1])}
	resp = fetch(firstEnd)
	for _, rp := range resp.Topics[0].Partitions {
		if rp.ErrorCode != 0 || len(rp.RecordBatches) == 0 {
			t.Fatalf("partition %d: error %d, %d bytes", rp.Partition, rp.ErrorCode, len(rp.RecordBatches))
		}
		if n := gc.count(second[rp.Partition]); n != before[rp.Partition] {
			t.Errorf("partition %d: the fetch of the read-ahead segment made %d gets", rp.Partition, n-before[rp.Partition])
		}
	}
}

// lastOffset returns the last offset of the record batches in b.
func lastOffset(t *testing.T, b []byte) int64 {
	t.Helper()
	last := int64(-1)
	if _, err := batch.Scan(b, func(h batch.Header, _ []byte) bool {
		last = h.LastOffset()
		return true
	}); err != nil {
		t.Fatal(err)
	}
	return last
}

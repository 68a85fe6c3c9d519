package broker

import (
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// An offset resolved to the local tier whose segment is uploaded, committed
// and deleted locally before the read gets to it is read again from its new
// home, the remote tier: the consumer gets its records once, not an
// out-of-range error, and nothing from a second source.
func TestReadAfterTheLocalSegmentMovedToTheBucket(t *testing.T) {
	tb := startTieredBroker(t, fileBucketURL(t))
	const topic = "moved"
	tb.createTopic(topic, 1, tieredConfigs())
	ctx := testContext(t)
	const n = 50
	if err := produceTimed(ctx, tb.producer(), topic, 0, n); err != nil {
		t.Fatal(err)
	}
	p, err := tb.lookupPartition(topic, 0)
	if err != nil {
		t.Fatal(err)
	}
	if st := tb.partitionStatus(topic); st.RemoteEndOffset != 0 {
		t.Fatalf("already uploaded: %+v", st)
	}
	var once sync.Once
	moved := false
	tb.afterResolve = func(rp *partition, offset int64, r resolution) {
		if rp != p || offset != 0 || r.tier != tierLocal {
			return
		}
		// Between the resolution and the read: seal, upload, commit and
		// delete locally everything the read was sent to.
		once.Do(func() {
			tb.waitAllRemote(topic)
			moved = true
		})
	}
	// A raw fetch: a client would hide an out-of-range answer by resetting
	// its offset and fetching again.
	req := kmsg.NewPtrFetchRequest()
	req.Version = 12
	req.ReplicaID, req.MaxBytes = -1, 1<<20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rq := kmsg.NewFetchRequestTopicPartition()
	rq.PartitionMaxBytes = 1 << 20
	rt.Partitions = append(rt.Partitions, rq)
	req.Topics = append(req.Topics, rt)
	rp := dialRaw(t, tb.Addr()).roundTrip(req).(*kmsg.FetchResponse).Topics[0].Partitions[0]
	if rp.ErrorCode != 0 || len(rp.RecordBatches) == 0 {
		t.Fatalf("fetch at 0 after the move: %v, %d bytes", kerr.ErrorForCode(rp.ErrorCode), len(rp.RecordBatches))
	}
	m := p.tier.w.Manifest()
	e, err := m.Lookup(ctx, tb.tiers.bucket, 0)
	if err != nil {
		t.Fatal(err)
	}
	if last := lastOffset(t, rp.RecordBatches); last+1 != e.EndOffset {
		t.Errorf("answered up to offset %d, want the remote segment's end %d", last, e.EndOffset)
	}
	cl := tb.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().At(0)}}))
	if err := consumeExactlyOnce(ctx, cl, 0, n-1); err != nil {
		t.Fatal(err)
	}
	if !moved {
		t.Fatal("the test's hook never ran: the read did not resolve offset 0 locally first")
	}
}

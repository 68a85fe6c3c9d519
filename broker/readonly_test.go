package broker

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/objectstore"
)

// noWrites is a Bucket that fails the test on any write.
type noWrites struct {
	objectstore.Bucket
	t *testing.T
}

func (n noWrites) wrote(op, key string) error {
	n.t.Errorf("read-only broker called %s %q", op, key)
	return objectstore.ErrPreconditionFailed
}

func (n noWrites) Put(_ context.Context, key string, _ []byte) (objectstore.ETag, error) {
	return "", n.wrote("Put", key)
}

func (n noWrites) PutIfAbsent(_ context.Context, key string, _ []byte) (objectstore.ETag, error) {
	return "", n.wrote("PutIfAbsent", key)
}

func (n noWrites) PutIfMatch(_ context.Context, key string, _ []byte, _ objectstore.ETag) (objectstore.ETag, error) {
	return "", n.wrote("PutIfMatch", key)
}

func (n noWrites) Delete(_ context.Context, key string) error { return n.wrote("Delete", key) }

// A read-only broker serves what another broker wrote to the bucket: a
// committed segment becomes readable at its next poll (waking a long-poll
// consumer), one that is uploaded but not committed never does; new and
// deleted topics are followed; writes are refused; it writes nothing.
func TestReadOnlyBrokerFollowsTheBucket(t *testing.T) {
	bucket := fileBucketURL(t)
	var (
		gateMu  sync.Mutex
		gate    chan struct{} // when set, uploads wait after their put
		reached = make(chan struct{}, 1)
	)
	w := startBroker(t, func(cfg *Config) {
		cfg.Bucket = bucket
		cfg.RetentionCheckInterval = 20 * time.Millisecond
		cfg.UploadFailpoint = func(step string) error {
			gateMu.Lock()
			g := gate
			gateMu.Unlock()
			if step == "after-verify" && g != nil {
				reached <- struct{}{}
				<-g
			}
			return nil
		}
	})
	const topic = "history"
	w.createTopic(topic, 1, tieredConfigs())
	ctx := testContext(t)
	if err := produceTimed(ctx, w.producer(), topic, 0, 100); err != nil {
		t.Fatal(err)
	}
	end1 := w.waitAllRemote(topic).RemoteEndOffset

	r := startBroker(t, func(cfg *Config) {
		cfg.Bucket = bucket
		cfg.ReadOnly = true
		cfg.PollInterval = time.Hour // the test polls by hand
		cfg.wrapBucket = func(b objectstore.Bucket) objectstore.Bucket { return noWrites{b, t} }
	})
	if st := r.partitionStatus(topic); st.HighWatermark != end1 || st.LogStartOffset != 0 || st.RemoteEndOffset != end1 {
		t.Fatalf("read-only broker at open: %+v, want [0, %d)", st, end1)
	}
	// A consumer reads everything there is, then waits for more.
	cons := r.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().At(0)}}))
	consumed := make(chan error, 1)
	go func() { consumed <- consumeExactlyOnce(ctx, cons, 0, 199) }()

	// The next segment is uploaded, and its commit held back.
	gateMu.Lock()
	gate = make(chan struct{})
	gateMu.Unlock()
	if err := produceTimed(ctx, w.producer(), topic, 100, 200); err != nil {
		t.Fatal(err)
	}
	p, err := w.lookupPartition(topic, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.log.Roll(); err != nil {
		t.Fatal(err)
	}
	<-reached // the object is in the bucket, the manifest not yet changed
	r.followOnce(ctx)
	if st := r.partitionStatus(topic); st.HighWatermark != end1 {
		t.Fatalf("an uploaded but uncommitted segment is visible: %+v", st)
	}
	gateMu.Lock()
	close(gate)
	gate = nil
	gateMu.Unlock()
	end2 := w.waitAllRemote(topic).RemoteEndOffset
	r.followOnce(ctx)
	if st := r.partitionStatus(topic); st.HighWatermark != end2 || st.RemoteEndOffset != end2 {
		t.Fatalf("after the commit: %+v, want the high watermark at %d", st, end2)
	}
	if err := <-consumed; err != nil {
		t.Fatalf("consumer of the read-only broker: %v", err)
	}

	// Writes are refused with authorization errors.
	rc := dialRaw(t, r.Addr())
	rp := rc.produceOne(produceRequest(topic, 0, -1, makeBatch(-1, -1, -1, time.Now().UnixMilli(), []byte("no"))))
	if rp.ErrorCode != kerr.TopicAuthorizationFailed.Code {
		t.Errorf("produce to a read-only broker: %v", kerr.ErrorForCode(rp.ErrorCode))
	}
	if ip := rc.roundTrip(kmsg.NewPtrInitProducerIDRequest()).(*kmsg.InitProducerIDResponse); ip.ErrorCode != kerr.ClusterAuthorizationFailed.Code {
		t.Errorf("InitProducerID on a read-only broker: %v", kerr.ErrorForCode(ip.ErrorCode))
	}
	if resp, err := r.admin().CreateTopic(ctx, 1, -1, nil, "new"); err == nil && !errors.Is(resp.Err, kerr.TopicAuthorizationFailed) {
		t.Errorf("CreateTopics on a read-only broker: %v", resp.Err)
	}

	// Consumer groups work, with their offsets kept locally only (the
	// bucket fails the test on any write).
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: topic, Partition: 0, At: 150, LeaderEpoch: -1})
	if _, err := r.admin().CommitOffsets(ctx, "readers", offs); err != nil {
		t.Fatalf("commit offsets on a read-only broker: %v", err)
	}
	got, err := r.admin().FetchOffsets(ctx, "readers")
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := got.Lookup(topic, 0); !ok || o.At != 150 {
		t.Fatalf("committed offset on a read-only broker: %+v", o)
	}

	// Topics made and deleted on the writer are followed.
	w.createTopic("later", 1, tieredConfigs())
	if err := produceTimed(ctx, w.producer(), "later", 0, 10); err != nil {
		t.Fatal(err)
	}
	endLater := w.waitAllRemote("later").RemoteEndOffset
	r.followOnce(ctx)
	if st := r.partitionStatus("later"); st.HighWatermark != endLater {
		t.Fatalf("new topic on the read-only broker: %+v, want high watermark %d", st, endLater)
	}
	if res, err := w.admin().DeleteTopics(ctx, "later"); err != nil || res["later"].Err != nil {
		t.Fatalf("delete topic: %v %v", err, res["later"].Err)
	}
	r.followOnce(ctx)
	if _, err := r.lookupPartition("later", 0); err == nil {
		t.Error("a topic deleted from the bucket is still served")
	}

	// A restart serves the same from the bucket alone.
	r = r.restart()
	if st := r.partitionStatus(topic); st.HighWatermark != end2 {
		t.Fatalf("restarted read-only broker: %+v", st)
	}
}

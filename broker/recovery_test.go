package broker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-io/strata/objectstore"
	"github.com/strata-io/strata/objectstore/faulty"
	"github.com/strata-io/strata/tiering"
)

// A broker restarted while its bucket fails keeps retrying recovery (not
// ready, not failed) for as long as it takes, and then serves everything;
// its context ending stops the retries.
func TestOpenWaitsForTheBucket(t *testing.T) {
	tb := startTieredBroker(t, fileBucketURL(t))
	const topic = "waits"
	tb.createTopic(topic, 1, tieredConfigs())
	ctx := testContext(t)
	if err := produceTimed(ctx, tb.producer(), topic, 0, 20); err != nil {
		t.Fatal(err)
	}
	tb.waitAllRemote(topic)
	tb.shutdown()

	// Every call fails, with an error the bucket's own retries pass on at
	// once, so that the broker's retries are what the test counts.
	errDown := errors.New("bucket down")
	buckets := make(chan *faulty.Bucket, 1)
	cfg := tb.cfg
	cfg.bucketBackoff = tiering.Backoff{Min: time.Millisecond, Max: 2 * time.Millisecond}
	cfg.wrapBucket = func(b objectstore.Bucket) objectstore.Bucket {
		fb := faulty.New(b, 1)
		fb.Inject(faulty.Rule{Action: faulty.Fail, Err: errDown})
		buckets <- fb
		return fb
	}
	calls := func(fb *faulty.Bucket) int {
		n := 0
		for _, op := range []objectstore.Op{objectstore.OpGet, objectstore.OpGetRange, objectstore.OpHead, objectstore.OpList, objectstore.OpPutIfAbsent, objectstore.OpPutIfMatch} {
			n += fb.Calls(op)
		}
		return n
	}

	open := func(ctx context.Context) (<-chan *Broker, <-chan error) {
		opened, failed := make(chan *Broker, 1), make(chan error, 1)
		go func() {
			if b, err := Open(ctx, cfg); err != nil {
				failed <- err
			} else {
				opened <- b
			}
		}()
		return opened, failed
	}

	// Cancelled while it waits: Open gives up.
	octx, cancel := context.WithCancel(context.Background())
	opened, failed := open(octx)
	fb := <-buckets
	eventually(t, "recovery retrying", func() bool { return calls(fb) >= 100 })
	select {
	case <-opened:
		t.Fatal("Open succeeded while the bucket failed")
	case err := <-failed:
		t.Fatalf("Open failed while the bucket failed, instead of waiting: %v", err)
	default:
	}
	cancel()
	select {
	case b := <-opened:
		_ = b.Close()
		t.Fatal("Open succeeded after its context ended")
	case err := <-failed:
		if !errors.Is(err, context.Canceled) && !errors.Is(err, errDown) {
			t.Fatalf("Open after cancel: %v", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("Open did not return after its context ended")
	}

	// Healed while it waits: Open succeeds and the broker serves it all.
	opened, failed = open(context.Background())
	fb = <-buckets
	eventually(t, "recovery retrying", func() bool { return calls(fb) >= 100 })
	fb.Clear()
	var nb *testBroker
	select {
	case b := <-opened:
		nb = serveBroker(t, b, cfg)
	case err := <-failed:
		t.Fatalf("Open: %v", err)
	case <-time.After(testTimeout):
		t.Fatal("Open did not finish after the bucket healed")
	}
	cl := nb.client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err := consumeExactlyOnce(ctx, cl, 0, 19); err != nil {
		t.Fatal(err)
	}
}

package e2e

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-io/strata/internal/miniotest"
)

// outage is how long MinIO is down in TestBucketOutageUnderLoad;
// STRATA_OUTAGE (a Go duration) lengthens it, e.g. to the 60s in a
// soak run.
func outage(t *testing.T) time.Duration {
	if v := os.Getenv("STRATA_OUTAGE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("STRATA_OUTAGE=%q: %v", v, err)
		}
		return d
	}
	return 10 * time.Second
}

// While MinIO is stopped under a steady acks=all load, produce goes on
// into the local disk; when it is started again, the uploads resume by
// themselves, everything reaches the bucket, and every acked record reads
// back exactly once.
func TestBucketOutageUnderLoad(t *testing.T) {
	const (
		topic      = "outage"
		partitions = 2
		rate       = 2000 // records a second, 512 bytes each
	)
	down := outage(t)
	mc := miniotest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute+down)
	defer cancel()
	bucketURL := mc.BucketURL("s3", mc.Bucket, "outage-"+strconv.FormatInt(time.Now().UnixNano(), 36))
	p := startBrokerEnv(t, t.TempDir(), mc.Env(), "--bucket", bucketURL, "--segment-bytes", "64KiB", "--segment-ms", "2s")
	createTieredTopic(t, ctx, p, topic, partitions, "65536", nil)

	prod := newClient(t, p, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var (
		mu    sync.Mutex
		acks  []ack
		phase = "before" // guarded by mu
		count = map[string]int{}
	)
	prodCtx, stopProducing := context.WithCancel(ctx)
	prodDone := make(chan struct{})
	go func() {
		defer close(prodDone)
		tick := time.NewTicker(time.Second / rate)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-prodCtx.Done():
				return
			case <-tick.C:
			}
			v := fmt.Appendf(nil, "outage-%09d|%0500d", i, i)
			prod.Produce(prodCtx, &kgo.Record{Topic: topic, Partition: int32(i % partitions), Value: v}, func(r *kgo.Record, err error) {
				if err != nil {
					return
				}
				mu.Lock()
				acks = append(acks, ack{r.Partition, r.Offset, string(r.Value)})
				count[phase]++
				mu.Unlock()
			})
		}
	}()
	setPhase := func(s string) {
		mu.Lock()
		phase = s
		mu.Unlock()
	}

	// Some segments go up first.
	waitFor(t, ctx, "a first upload", func() bool {
		st, err := p.tierPartitions(topic)
		return err == nil && st[0].RemoteEndOffset != nil && *st[0].RemoteEndOffset > 0
	})
	setPhase("down")
	if err := mc.Stop(); err != nil {
		t.Fatal(err)
	}
	outageEnd := time.Now().Add(down)
	waitFor(t, ctx, "sealed segments waiting for the bucket", func() bool {
		st, err := p.tierPartitions(topic)
		return err == nil && st[0].UploadLagBytes > 0
	})
	select {
	case <-time.After(time.Until(outageEnd)): // the outage lasts this long: the test's subject, not synchronisation
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	}
	setPhase("after")
	if err := mc.Restart(ctx); err != nil {
		t.Fatalf("restart MinIO: %v", err)
	}
	waitFor(t, ctx, "acks after the outage", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return count["after"] > 0
	})
	stopProducing()
	<-prodDone
	prod.Close()
	mu.Lock()
	acked := append([]ack(nil), acks...)
	t.Logf("acks before the outage %d, during its %v %d, after %d", count["before"], down, count["down"], count["after"])
	if count["down"] == 0 {
		t.Errorf("no produce was acknowledged while the bucket was down")
	}
	mu.Unlock()

	st := waitUploaded(t, p, topic, partitions)
	_, end := offsets(t, ctx, newClient(t, p), topic)
	got := consumeRange(t, ctx, p, topic, end)
	for part := range int32(partitions) {
		t.Logf("%s/%d: %v", topic, part, st[part])
		for k, r := range got[part] {
			if r.Offset != int64(k) {
				t.Fatalf("%s/%d: record %d has offset %d (gap or duplicate)", topic, part, k, r.Offset)
			}
		}
	}
	for _, a := range acked {
		recs := got[a.partition]
		if a.offset >= int64(len(recs)) || string(recs[a.offset].Value) != a.value {
			t.Fatalf("acked record at %s/%d@%d is missing or changed after the outage", topic, a.partition, a.offset)
		}
	}
}

// waitFor polls cond every pollInterval until it holds, failing the test
// when ctx ends first.
func waitFor(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-tick.C:
		}
	}
}

package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-io/strata/internal/miniotest"
)

// TestSoak runs mixed produce, group-consume and chaos traffic for
// STRATA_SOAK (a Go duration; `make soak` sets 30m) and ends with a full
// verification. It is not part of make test: without STRATA_SOAK it skips
// at once.
//
// A producer writes acks=all at a steady rate and a consumer group reads
// and commits, through epochs of 30-60 s; each epoch ends in one of: the
// broker killed with SIGKILL and restarted on its data directory, or MinIO
// stopped for 5-15 s and started again while traffic goes on. At the end
// every acked record must be in the log exactly once, at its acked offset,
// no record may be there twice, everything must have reached the bucket,
// and the group must have committed progress.
func TestSoak(t *testing.T) {
	v := os.Getenv("STRATA_SOAK")
	if v == "" {
		t.Skip("soak test: set STRATA_SOAK=30m (make soak) to run it")
	}
	total, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("STRATA_SOAK=%q: %v", v, err)
	}
	const (
		topic      = "soak"
		group      = "soak-readers"
		partitions = 4
		rate       = 1000 // records a second
	)
	rnd := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	mc := miniotest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), total+10*time.Minute)
	defer cancel()
	dataDir := t.TempDir()
	bucketURL := mc.BucketURL("s3", mc.Bucket, "soak-"+strconv.FormatInt(time.Now().UnixNano(), 36))
	args := []string{"--bucket", bucketURL, "--segment-bytes", "256KiB", "--segment-ms", "5s"}
	p := startBrokerEnv(t, dataDir, mc.Env(), args...)
	createTieredTopic(t, ctx, p, topic, partitions, "262144", nil)

	var (
		mu       sync.Mutex
		acked    = make([]map[int64]int, partitions) // offset → record index
		next     atomic.Int64                        // next record index
		consumed atomic.Int64
		events   []string
	)
	for i := range acked {
		acked[i] = make(map[int64]int)
	}
	value := func(i int) []byte { return fmt.Appendf(nil, "soak-%09d|%048d", i, i) }

	deadline := time.Now().Add(total)
	for epoch := 0; time.Now().Before(deadline); epoch++ {
		ectx, stop := context.WithCancel(ctx)
		var wg sync.WaitGroup
		prod := newClient(t, p, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
		cons := newClient(t, p, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		wg.Go(func() {
			tick := time.NewTicker(time.Second / rate)
			defer tick.Stop()
			for {
				select {
				case <-ectx.Done():
					return
				case <-tick.C:
				}
				i := int(next.Add(1) - 1)
				prod.Produce(ectx, &kgo.Record{Topic: topic, Partition: int32(i % partitions), Value: value(i)}, func(r *kgo.Record, err error) {
					if err == nil {
						mu.Lock()
						acked[r.Partition][r.Offset] = i
						mu.Unlock()
					}
				})
			}
		})
		wg.Go(func() {
			for ectx.Err() == nil {
				fs := cons.PollFetches(ectx)
				consumed.Add(int64(fs.NumRecords()))
			}
		})
		run := time.Duration(30+rnd.IntN(30)) * time.Second
		select {
		case <-time.After(min(run, time.Until(deadline))): // the epoch's length: the workload, not synchronisation
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
		if time.Now().After(deadline) {
			stop()
			wg.Wait()
			prod.Close()
			cons.Close()
			break
		}
		if epoch%2 == 0 {
			events = append(events, fmt.Sprintf("%s kill -9 broker", time.Now().Format(time.TimeOnly)))
			p.kill(t)
			stop()
			wg.Wait()
			prod.Close()
			cons.Close()
			p = startBrokerEnv(t, dataDir, mc.Env(), args...)
			continue
		}
		down := time.Duration(5+rnd.IntN(10)) * time.Second
		events = append(events, fmt.Sprintf("%s MinIO down %v", time.Now().Format(time.TimeOnly), down))
		if err := mc.Stop(); err != nil {
			t.Fatal(err)
		}
		select {
		case <-time.After(down): // the outage's length
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
		if err := mc.Restart(ctx); err != nil {
			t.Fatal(err)
		}
		stop()
		wg.Wait()
		prod.Close()
		cons.Close()
	}
	for _, e := range events {
		t.Log(e)
	}

	// Verification: everything in the bucket, every acked record once.
	st := waitUploaded(t, p, topic, partitions)
	_, end := offsets(t, ctx, newClient(t, p), topic)
	got := consumeRange(t, ctx, p, topic, end)
	seen := make(map[string]string)
	var inLog, nAcked int
	for part := range int32(partitions) {
		t.Logf("%s/%d: %v", topic, part, st[part])
		for k, r := range got[part] {
			where := fmt.Sprintf("%s/%d@%d", topic, part, r.Offset)
			if r.Offset != int64(k) {
				t.Fatalf("%s: record %d of the partition (gap or duplicate offset)", where, k)
			}
			if prev, dup := seen[string(r.Value)]; dup {
				t.Fatalf("%s: the same record is also at %s", where, prev)
			}
			seen[string(r.Value)] = where
		}
		inLog += len(got[part])
		for off, i := range acked[part] {
			nAcked++
			if off >= int64(len(got[part])) || string(got[part][off].Value) != string(value(i)) {
				t.Fatalf("acked record %d at %s/%d@%d is missing or changed", i, topic, part, off)
			}
		}
	}
	committed, err := kadm.NewClient(newClient(t, p)).FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	var progress int64
	committed.Each(func(o kadm.OffsetResponse) { progress += o.At })
	t.Logf("soak %v: %d events, %d records sent, %d acked, %d in the log, all acked read back once; the group consumed %d (with re-reads) and committed %d",
		total, len(events), next.Load(), nAcked, inLog, consumed.Load(), progress)
	if progress == 0 {
		t.Errorf("the consumer group committed nothing")
	}
}

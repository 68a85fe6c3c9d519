package bench

import (
	"context"
	"encoding/binary"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-io/strata/broker"
	"github.com/strata-io/strata/locallog"
)

// Workload of issue 2: 1 KiB records over 8 partitions, acks=all, producer
// linger 0, Strata with --fsync always.
const (
	recordSize   = 1024
	partitions   = 8
	fullRecords  = 200_000         // full-speed phase: ~200 MiB
	paceRate     = 50 << 20        // fixed-rate phase: 50 MB/s
	paceDuration = 4 * time.Second // of fixed-rate producing
	topic        = "bench"
	tailTopic    = "bench-tail"
)

// target is a broker under test.
type target struct {
	name  string
	start func(b *testing.B) (addr string, stop func())
}

func strataTarget() target {
	return target{name: "strata", start: func(b *testing.B) (string, func()) {
		ctx, cancel := context.WithCancel(context.Background())
		br, err := broker.Open(ctx, broker.Config{
			Listen:            "127.0.0.1:0",
			DataDir:           b.TempDir(),
			AutoCreateTopics:  true,
			DefaultPartitions: partitions,
			SegmentBytes:      broker.DefaultSegmentBytes,
			SegmentMs:         broker.DefaultSegmentMs,
			Fsync:             locallog.FsyncPolicy{Mode: locallog.FsyncAlways},
			Logger:            slog.New(slog.DiscardHandler),
		})
		if err != nil {
			b.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- br.Run(ctx) }()
		return br.Addr(), func() {
			cancel()
			if err := <-done; err != nil {
				b.Error(err)
			}
		}
	}}
}

func kfakeTarget() target {
	return target{name: "kfake", start: func(b *testing.B) (string, func()) {
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topic, tailTopic))
		if err != nil {
			b.Fatal(err)
		}
		return c.ListenAddrs()[0], c.Close
	}}
}

// BenchmarkProduceConsume reports, for Strata and kfake in one run: produce
// MB/s and records/s at full speed, ack latency p50/p99 at full speed and at
// 50 MB/s, consume MB/s, and end-to-end p99 at 50 MB/s.
func BenchmarkProduceConsume(b *testing.B) {
	for _, tg := range []target{strataTarget(), kfakeTarget()} {
		b.Run(tg.name, func(b *testing.B) {
			for range b.N {
				runWorkload(b, tg)
			}
		})
	}
}

func runWorkload(b *testing.B, tg target) {
	addr, stop := tg.start(b)
	defer stop()
	ctx := context.Background()

	prod, err := kgo.NewClient(
		kgo.SeedBrokers(addr),
		kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(0),
		kgo.AllowAutoTopicCreation(),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
		kgo.ProducerBatchMaxBytes(1<<20),
	)
	if err != nil {
		b.Fatal(err)
	}
	defer prod.Close()
	// Make sure the topic exists with 8 partitions before timing.
	if err := prod.ProduceSync(ctx, &kgo.Record{Value: make([]byte, recordSize)}).FirstErr(); err != nil {
		b.Fatal(err)
	}

	// Phase 1: full speed.
	lat := newLatencies(fullRecords)
	var wg sync.WaitGroup
	var failed atomic.Value
	start := time.Now()
	for i := range fullRecords {
		r := &kgo.Record{Value: payload(i)}
		sent := time.Now()
		wg.Add(1)
		prod.Produce(ctx, r, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.Store(err)
			}
			lat.add(time.Since(sent))
			wg.Done()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	mb := float64(fullRecords*recordSize) / (1 << 20)
	b.ReportMetric(mb/elapsed.Seconds(), "produce_MB/s")
	b.ReportMetric(float64(fullRecords)/elapsed.Seconds(), "produce_rec/s")
	b.ReportMetric(lat.pct(50), "ack_p50_ms")
	b.ReportMetric(lat.pct(99), "ack_p99_ms")

	// Phase 2: consume everything from the start.
	cons := consumer(b, addr, topic, kgo.NewOffset().AtStart())
	want := fullRecords + 1
	got := 0
	start = time.Now()
	for got < want {
		fs := cons.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			b.Fatal(err)
		}
		got += fs.NumRecords()
	}
	elapsed = time.Since(start)
	cons.Close()
	b.ReportMetric(float64(want*recordSize)/(1<<20)/elapsed.Seconds(), "consume_MB/s")

	// Phase 3: 50 MB/s paced producing with a tailing consumer; ack and
	// end-to-end latency.
	// A topic of its own, read from its start, so the tailing consumer
	// cannot miss records produced before it found its position.
	if err := prod.ProduceSync(ctx, &kgo.Record{Topic: tailTopic, Value: make([]byte, recordSize)}).FirstErr(); err != nil {
		b.Fatal(err)
	}
	tail := consumer(b, addr, tailTopic, kgo.NewOffset().AtStart())
	defer tail.Close()
	paced := int(float64(paceRate) * paceDuration.Seconds() / recordSize)
	ack := newLatencies(paced)
	e2e := newLatencies(paced)
	consumed := make(chan struct{})
	go func() {
		defer close(consumed)
		n := 0
		for n < paced {
			fs := tail.PollFetches(ctx)
			now := time.Now()
			fs.EachRecord(func(r *kgo.Record) {
				if len(r.Value) >= 8 && r.Value[0] == 'P' {
					e2e.add(now.Sub(time.Unix(0, int64(binary.BigEndian.Uint64(r.Value[8:])))))
					n++
				}
			})
		}
	}()
	interval := time.Second * recordSize / paceRate
	start = time.Now()
	for i := range paced {
		due := start.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > 0 {
			time.Sleep(d) // pacing the load, not synchronisation
		}
		v := payload(i)
		v[0] = 'P'
		sent := time.Now()
		binary.BigEndian.PutUint64(v[8:], uint64(sent.UnixNano()))
		wg.Add(1)
		prod.Produce(ctx, &kgo.Record{Topic: tailTopic, Value: v}, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.Store(err)
			}
			ack.add(time.Since(sent))
			wg.Done()
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	select {
	case <-consumed:
	case <-time.After(30 * time.Second):
		b.Fatal("tailing consumer did not see every paced record")
	}
	b.ReportMetric(ack.pct(50), "ack50MBs_p50_ms")
	b.ReportMetric(ack.pct(99), "ack50MBs_p99_ms")
	b.ReportMetric(e2e.pct(50), "e2e50MBs_p50_ms")
	b.ReportMetric(e2e.pct(99), "e2e50MBs_p99_ms")
}

func consumer(b *testing.B, addr, topic string, at kgo.Offset) *kgo.Client {
	c, err := kgo.NewClient(
		kgo.SeedBrokers(addr),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(at),
		kgo.FetchMaxBytes(64<<20),
		kgo.FetchMaxPartitionBytes(8<<20),
	)
	if err != nil {
		b.Fatal(err)
	}
	return c
}

func payload(i int) []byte {
	v := make([]byte, recordSize)
	for j := 16; j < len(v); j += 8 {
		binary.BigEndian.PutUint64(v[j:], uint64(i*31+j))
	}
	return v
}

// latencies collects durations from many goroutines.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func newLatencies(n int) *latencies { return &latencies{d: make([]time.Duration, 0, n)} }

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

// pct returns the p-th percentile in milliseconds.
func (l *latencies) pct(p float64) float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return 0
	}
	slices.Sort(l.d)
	i := min(len(l.d)-1, int(float64(len(l.d))*p/100))
	return float64(l.d[i]) / float64(time.Millisecond)
}

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// restartRecord is the i-th record TestRestartKeepsAckedRecords produces:
// partitions round robin, a value of 1 to 2000 pseudo-random bytes and one
// header, all derived from i.
func restartRecord(topic string, i, partitions int) *kgo.Record {
	rng := rand.New(rand.NewPCG(uint64(i), 0x5eed))
	value := fmt.Appendf(nil, "rec-%06d|", i)
	for n := 1 + rng.IntN(2000); n > 0; n-- {
		value = append(value, byte(rng.Uint32()))
	}
	return &kgo.Record{
		Topic:     topic,
		Partition: int32(i % partitions),
		Key:       fmt.Appendf(nil, "key-%06d", i),
		Value:     value,
		Headers:   []kgo.RecordHeader{{Key: "i", Value: []byte(strconv.Itoa(i))}},
	}
}

func TestRestartKeepsAckedRecords(t *testing.T) {
	const (
		topic      = "restart"
		partitions = 4
		total      = 20_000
		perPart    = total / partitions
	)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dataDir := t.TempDir()
	// About 5 MB per partition in 1 MiB segments: recovery reopens sealed
	// segments and their indexes, not only the active one.
	args := []string{"--segment-bytes", "1MiB"}
	p := startBroker(t, dataDir, args...)
	createTopic(t, ctx, p, topic, partitions)

	// Produce everything acks=all, idempotently, and check each ack: one
	// producer writing a fresh partition in order gets offsets 0, 1, 2, …
	// in the order it produced.
	prod := newClient(t, p,
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
	)
	var (
		mu      sync.Mutex // guards below
		ackErrs []string
		acked   = make(map[int]int64) // record index → offset
	)
	for i := range total {
		prod.Produce(ctx, restartRecord(topic, i, partitions), func(r *kgo.Record, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if len(ackErrs) < 10 {
					ackErrs = append(ackErrs, fmt.Sprintf("record %s: %v", r.Key, err))
				}
				return
			}
			i, _ := strconv.Atoi(string(r.Headers[0].Value))
			acked[i] = r.Offset
		})
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatalf("flush producer: %v", err)
	}
	mu.Lock()
	if len(ackErrs) > 0 {
		t.Fatalf("produce failed (acks=all, idempotent): %v", ackErrs)
	}
	for i := range total {
		if got, ok := acked[i]; !ok || got != int64(i/partitions) {
			t.Fatalf("record %d to partition %d acked at offset %d (acked %v), want %d", i, i%partitions, got, ok, i/partitions)
		}
	}
	mu.Unlock()
	prod.Close()

	checkStatus := func(when string) {
		t.Helper()
		st := p.partitions(t, topic)
		if len(st) != partitions {
			t.Fatalf("%s: /v1/partitions lists %d partitions of %s, want %d: %+v", when, len(st), topic, partitions, st)
		}
		for part := range int32(partitions) {
			want := partitionStatus{Topic: topic, Partition: part, LogStartOffset: 0, HighWatermark: perPart, LogEndOffset: perPart}
			if got := st[part]; got != want {
				t.Errorf("%s: /v1/partitions = %+v, want %+v", when, got, want)
			}
		}
	}
	checkStatus("before restart")

	p.stop(t)
	p = startBroker(t, dataDir, args...)
	checkStatus("after restart")

	cl := newClient(t, p)
	start, end := offsets(t, ctx, cl, topic)
	for part := range int32(partitions) {
		if start[part] != 0 || end[part] != perPart {
			t.Errorf("after restart, ListOffsets of %s/%d: earliest %d, latest %d; want 0 and %d", topic, part, start[part], end[part], perPart)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	got := consumeRange(t, ctx, p, topic, end)
	for part := range int32(partitions) {
		recs := got[part]
		if len(recs) != perPart {
			t.Errorf("partition %d: consumed %d records, want %d", part, len(recs), perPart)
		}
		for k, r := range recs {
			want := restartRecord(topic, k*partitions+int(part), partitions)
			if err := sameRecord(r, want, int64(k)); err != nil {
				t.Fatalf("partition %d, record %d: %v", part, k, err)
			}
		}
	}
}

// checkReadBack checks what a full read after a crash returned, per
// partition of topic: offsets run from start to end without a gap, every
// value is one the producer sent (valueIndex) to that partition, none is
// there twice, and every acked record at or above the log start is at its
// offset, unchanged. It returns how many records the log holds; after names
// the crash in messages.
func checkReadBack(t *testing.T, topic string, partitions int32, start, end map[int32]int64, got map[int32][]*kgo.Record,
	valueIndex func([]byte) (int, bool), acked []ack, after string) int64 {
	t.Helper()
	byOffset := make(map[int32]map[int64]string)
	seen := make(map[int]string) // record index → where it was found
	var inLog int64
	for part := range partitions {
		byOffset[part] = make(map[int64]string)
		for k, r := range got[part] {
			where := fmt.Sprintf("%s/%d@%d", topic, part, r.Offset)
			if r.Offset != start[part]+int64(k) {
				t.Fatalf("%s: record %d of the partition has offset %d, want %d (gap or duplicate offset)", where, k, r.Offset, start[part]+int64(k))
			}
			i, ok := valueIndex(r.Value)
			if !ok {
				t.Fatalf("%s: value %.30q is not one the producer sent", where, r.Value)
			}
			if int32(i%int(partitions)) != part {
				t.Fatalf("%s: record %d was produced to partition %d", where, i, i%int(partitions))
			}
			if prev, dup := seen[i]; dup {
				t.Fatalf("%s: record %d is also at %s (duplicate)", where, i, prev)
			}
			seen[i] = where
			byOffset[part][r.Offset] = string(r.Value)
		}
		if n := int64(len(got[part])); n != end[part]-start[part] {
			t.Fatalf("partition %d: consumed %d records, want %d (end %d)", part, n, end[part]-start[part], end[part])
		}
		inLog += end[part] - start[part]
	}
	lost := 0
	for _, a := range acked {
		if a.offset < start[a.partition] {
			continue // removed by retention
		}
		v, ok := byOffset[a.partition][a.offset]
		if !ok || v != a.value {
			if lost < 10 {
				t.Errorf("acked record %.20q at %s/%d@%d: after %s and restart found %.20q (present %v)", a.value, topic, a.partition, a.offset, after, v, ok)
			}
			lost++
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d acked records lost or changed after %s", lost, len(acked), after)
	}
	return inLog
}

// sameRecord reports how got differs from want read back at offset.
func sameRecord(got, want *kgo.Record, offset int64) error {
	switch {
	case got.Offset != offset:
		return fmt.Errorf("offset %d, want %d (value %.20q)", got.Offset, offset, got.Value)
	case got.Partition != want.Partition:
		return fmt.Errorf("offset %d: partition %d, want %d", offset, got.Partition, want.Partition)
	case !bytes.Equal(got.Key, want.Key):
		return fmt.Errorf("offset %d: key %q, want %q", offset, got.Key, want.Key)
	case !bytes.Equal(got.Value, want.Value):
		return fmt.Errorf("offset %d: value differs (%d bytes %.20q, want %d bytes %.20q)", offset, len(got.Value), got.Value, len(want.Value), want.Value)
	case !slices.EqualFunc(got.Headers, want.Headers, func(a, b kgo.RecordHeader) bool {
		return a.Key == b.Key && bytes.Equal(a.Value, b.Value)
	}):
		return fmt.Errorf("offset %d: headers %v, want %v", offset, got.Headers, want.Headers)
	}
	return nil
}

// ack is one record the broker acknowledged.
type ack struct {
	partition int32
	offset    int64
	value     string
}

func TestKill9DuringProduceKeepsAckedRecords(t *testing.T) {
	const (
		topic      = "kill9"
		partitions = 4
		minAcked   = 5000
	)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dataDir := t.TempDir()
	// Small segments, so that the kill may land near a roll.
	args := []string{"--fsync", "always", "--segment-bytes", "256KiB"}
	p := startBroker(t, dataDir, args...)
	createTopic(t, ctx, p, topic, partitions)

	// value is the i-th record's value; valueIndex parses it back.
	value := func(i int) []byte {
		return append(fmt.Appendf(nil, "kill9-%09d|", i), bytes.Repeat([]byte{byte(i)}, 100+i%400)...)
	}
	valueIndex := func(v []byte) (int, bool) {
		var i int
		if _, err := fmt.Sscanf(string(v), "kill9-%09d|", &i); err != nil {
			return 0, false
		}
		return i, bytes.Equal(v, value(i))
	}

	prod := newClient(t, p,
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		// Small batches and a bounded buffer keep many produce requests
		// in flight, so that the kill lands among them.
		kgo.MaxBufferedRecords(2000),
		kgo.ProducerBatchMaxBytes(16<<10),
	)
	var (
		mu       sync.Mutex // guards acks
		acks     []ack
		nAcked   atomic.Int64
		nSent    atomic.Int64 // records handed to Produce
		enough   = make(chan struct{})
		once     sync.Once
		prodDone = make(chan struct{})
	)
	prodCtx, stopProducing := context.WithCancel(ctx)
	defer stopProducing()
	promise := func(r *kgo.Record, err error) {
		if err != nil {
			return // unacknowledged: may or may not be in the log
		}
		mu.Lock()
		acks = append(acks, ack{r.Partition, r.Offset, string(r.Value)})
		mu.Unlock()
		if nAcked.Add(1) >= minAcked {
			once.Do(func() { close(enough) })
		}
	}
	go func() {
		defer close(prodDone)
		for i := 0; prodCtx.Err() == nil; i++ {
			r := &kgo.Record{Topic: topic, Partition: int32(i % partitions), Value: value(i)}
			prod.Produce(prodCtx, r, promise) // blocks while MaxBufferedRecords are in flight
			nSent.Add(1)
		}
	}()

	select {
	case <-enough:
	case <-ctx.Done():
		t.Fatalf("only %d records acked before %v", nAcked.Load(), ctx.Err())
	}
	p.kill(t)
	killedAt := nAcked.Load()
	stopProducing()
	<-prodDone
	closed := make(chan struct{})
	go func() { prod.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Fatalf("franz-go producer did not close within 30s of the broker's death")
	}
	mu.Lock()
	acked := slices.Clone(acks)
	mu.Unlock()
	t.Logf("killed the broker after %d acks; %d acks in total of %d records handed to the producer", killedAt, len(acked), nSent.Load())

	p = startBroker(t, dataDir, args...)
	cl := newClient(t, p)
	start, end := offsets(t, ctx, cl, topic)
	st := p.partitions(t, topic)
	for part := range int32(partitions) {
		if start[part] != 0 {
			t.Errorf("partition %d: log start offset %d after restart, want 0", part, start[part])
		}
		if got := st[part]; got.HighWatermark != end[part] || got.LogStartOffset != start[part] || got.LogEndOffset < got.HighWatermark {
			t.Errorf("partition %d: /v1/partitions %+v disagrees with ListOffsets earliest %d latest %d", part, got, start[part], end[part])
		}
	}

	got := consumeRange(t, ctx, p, topic, end)
	inLog := checkReadBack(t, topic, partitions, start, end, got, valueIndex, acked, "kill -9 (--fsync always)")
	t.Logf("after restart the log holds %d records: %d acked, %d unacked", inLog, len(acked), inLog-int64(len(acked)))

	// The recovered log takes new appends right after its end.
	prod2 := newClient(t, p, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for part := range int32(partitions) {
		res := prod2.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: part, Value: []byte("after-restart")})
		r, err := res.First()
		if err != nil {
			t.Fatalf("produce to %s/%d after restart: %v", topic, part, err)
		}
		if r.Offset != end[part] {
			t.Errorf("produce to %s/%d after restart acked at offset %d, want %d (the recovered end)", topic, part, r.Offset, end[part])
		}
	}
}

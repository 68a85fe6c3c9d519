package broker

import (
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestRestartKeepsRecordsAndProducerState(t *testing.T) {
	tb := startBroker(t)
	tb.createTopic("durable", 4, nil)
	cl := tb.client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	const n = 2000
	produceAll(t, cl, "durable", 4, n)
	cl.Close()

	// An idempotent producer, by hand: two batches on partition 0.
	rc := dialRaw(t, tb.Addr())
	init := rc.roundTrip(kmsg.NewPtrInitProducerIDRequest()).(*kmsg.InitProducerIDResponse)
	if init.ErrorCode != 0 {
		t.Fatalf("InitProducerId: error %d", init.ErrorCode)
	}
	pid, epoch := init.ProducerID, init.ProducerEpoch
	batch := func(seq int32, values ...string) []byte {
		vs := make([][]byte, len(values))
		for i, v := range values {
			vs[i] = []byte(v)
		}
		return makeBatch(pid, epoch, seq, 1, vs...)
	}
	first := rc.produceOne(produceRequest("durable", 0, -1, batch(0, "a", "b", "c")))
	second := rc.produceOne(produceRequest("durable", 0, -1, batch(3, "d", "e")))
	base := int64(n / 4)
	if first.ErrorCode != 0 || first.BaseOffset != base || second.ErrorCode != 0 || second.BaseOffset != base+3 {
		t.Fatalf("idempotent batches: %+v / %+v", first, second)
	}
	clusterID, topicID := tb.clusterID, tb.topics().byName["durable"].id

	tb = tb.restart()
	if tb.clusterID != clusterID || tb.topics().byName["durable"].id != topicID {
		t.Fatal("cluster or topic ID changed across the restart")
	}
	rc = dialRaw(t, tb.Addr())
	// Retries of the last batches are answered with their original
	// offsets and append nothing.
	if got := rc.produceOne(produceRequest("durable", 0, -1, batch(3, "d", "e"))); got.ErrorCode != 0 || got.BaseOffset != base+3 {
		t.Fatalf("retry of the last batch after restart: %+v, want offset %d", got, base+3)
	}
	if got := rc.produceOne(produceRequest("durable", 0, -1, batch(0, "a", "b", "c"))); got.ErrorCode != 0 || got.BaseOffset != base {
		t.Fatalf("retry of the first batch after restart: %+v, want offset %d", got, base)
	}
	lp, _ := tb.lookupPartition("durable", 0)
	if o := lp.log.Offsets(); o.HighWatermark != base+5 {
		t.Fatalf("after retries: high watermark %d, want %d", o.HighWatermark, base+5)
	}
	if got := rc.produceOne(produceRequest("durable", 0, -1, batch(9, "gap"))); got.ErrorCode != kerr.OutOfOrderSequenceNumber.Code {
		t.Fatalf("sequence gap: error %d, want OUT_OF_ORDER_SEQUENCE_NUMBER", got.ErrorCode)
	}
	if got := rc.produceOne(produceRequest("durable", 0, -1, batch(5, "f"))); got.ErrorCode != 0 || got.BaseOffset != base+5 {
		t.Fatalf("next batch: %+v", got)
	}
	// Producer IDs are not handed out twice.
	if again := rc.roundTrip(kmsg.NewPtrInitProducerIDRequest()).(*kmsg.InitProducerIDResponse); again.ProducerID <= pid {
		t.Fatalf("producer id %d after restart, had %d", again.ProducerID, pid)
	}

	// Every record produced before the restart is still there, once, in
	// order (consumeAllFrom skips the hand-made ones after them).
	consumeAllFrom(t, tb, "durable", 4, n)
}

// consumeAllFrom checks produceAll's n records like consumeAll, ignoring
// records past them.
func consumeAllFrom(t *testing.T, tb *testBroker, topic string, partitions, n int) {
	t.Helper()
	start := make(map[int32]kgo.Offset)
	for p := range partitions {
		start[int32(p)] = kgo.NewOffset().AtStart()
	}
	cl := tb.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: start}))
	ctx := testContext(t)
	next := make([]int, partitions)
	got := 0
	for got < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d: %v", got, n, err)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatal(err) })
		fs.EachRecord(func(r *kgo.Record) {
			p := int(r.Partition)
			want := p + partitions*next[p]
			if want >= n {
				return
			}
			if r.Offset != int64(next[p]) || string(r.Key) != strconv.Itoa(want) || string(r.Value) != string(testValue(want)) {
				t.Fatalf("partition %d offset %d: key %q, want record %d", p, r.Offset, r.Key, want)
			}
			next[p]++
			got++
		})
	}
}

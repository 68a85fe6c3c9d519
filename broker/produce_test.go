package broker

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/batch"
	"github.com/strata-io/strata/locallog"
)

// testValue is the value of record i: distinct, and long enough that
// batches span several segments in some tests.
func testValue(i int) []byte {
	return fmt.Appendf(nil, "value-%08d-%s", i, bytes.Repeat([]byte{byte('a' + i%26)}, 40+i%17))
}

// produceAll produces n records with key i and value testValue(i) to
// partition i%partitions, idempotently with acks=all, and fails the test on
// any error.
func produceAll(t *testing.T, cl *kgo.Client, topic string, partitions, n int) {
	t.Helper()
	var wg sync.WaitGroup
	var failed atomic.Pointer[error]
	ctx := testContext(t)
	for i := range n {
		r := &kgo.Record{Topic: topic, Partition: int32(i % partitions), Key: []byte(strconv.Itoa(i)), Value: testValue(i)}
		wg.Add(1)
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				failed.CompareAndSwap(nil, &err)
			}
		})
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		t.Fatalf("produce: %v", *err)
	}
}

// consumeAll reads partitions 0..partitions-1 of topic from the start until
// it has n records, and checks that they are exactly produceAll's records:
// each once, in order within its partition, at consecutive offsets from 0,
// byte-equal.
func consumeAll(t *testing.T, tb *testBroker, topic string, partitions, n int, opts ...kgo.Opt) {
	t.Helper()
	start := make(map[int32]kgo.Offset)
	for p := range partitions {
		start[int32(p)] = kgo.NewOffset().AtStart()
	}
	cl := tb.client(append([]kgo.Opt{kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: start})}, opts...)...)
	ctx := testContext(t)
	next := make([]int64, partitions) // next expected offset per partition
	got := 0
	for got < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records: %v", got, n, err)
		}
		fs.EachError(func(topic string, p int32, err error) {
			t.Fatalf("fetch %s[%d]: %v", topic, p, err)
		})
		fs.EachRecord(func(r *kgo.Record) {
			got++
			p := int(r.Partition)
			if r.Offset != next[p] {
				t.Fatalf("partition %d: offset %d, want %d", p, r.Offset, next[p])
			}
			want := p + partitions*int(next[p])
			next[p]++
			if string(r.Key) != strconv.Itoa(want) || !bytes.Equal(r.Value, testValue(want)) {
				t.Fatalf("partition %d offset %d: key %q, want record %d", p, r.Offset, r.Key, want)
			}
		})
	}
	if got != n {
		t.Fatalf("consumed %d records, want %d", got, n)
	}
	// Nothing beyond them.
	for p := range partitions {
		want := int64((n - p + partitions - 1) / partitions)
		if next[p] != want {
			t.Fatalf("partition %d: %d records, want %d", p, next[p], want)
		}
		lp, err := tb.lookupPartition(topic, int32(p))
		if err != nil {
			t.Fatal(err)
		}
		if o := lp.log.Offsets(); o.HighWatermark != want || o.LogEnd != want {
			t.Fatalf("partition %d: offsets %+v, want end %d", p, o, want)
		}
	}
}

func TestProduceIdempotentAcksAllReadBackExactlyOnce(t *testing.T) {
	const (
		partitions = 8
		n          = 100_000 + 3 // not a multiple of the partition count
	)
	tb := startBroker(t)
	tb.createTopic("big", partitions, nil)
	cl := tb.client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RequiredAcks(kgo.AllISRAcks()))
	produceAll(t, cl, "big", partitions, n)
	consumeAll(t, tb, "big", partitions, n)
}

func TestProduceCompressionCodecsPassThrough(t *testing.T) {
	tb := startBroker(t)
	codecs := []struct {
		name  string
		codec kgo.CompressionCodec
		want  batch.Codec
	}{
		{"gzip", kgo.GzipCompression(), batch.CodecGzip},
		{"snappy", kgo.SnappyCompression(), batch.CodecSnappy},
		{"lz4", kgo.Lz4Compression(), batch.CodecLZ4},
		{"zstd", kgo.ZstdCompression(), batch.CodecZstd},
	}
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			topic := "codec-" + c.name
			tb.createTopic(topic, 2, nil)
			cl := tb.client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(c.codec))
			produceAll(t, cl, topic, 2, 2000)
			consumeAll(t, tb, topic, 2, 2000)

			// The stored batches are the producer's compressed bytes.
			lp, err := tb.lookupPartition(topic, 0)
			if err != nil {
				t.Fatal(err)
			}
			res, err := lp.log.Read(0, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := batch.Scan(res.Data, func(h batch.Header, _ []byte) bool {
				if h.Codec() != c.want {
					t.Fatalf("stored batch codec %v, want %v", h.Codec(), c.want)
				}
				return true
			}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestProduceLargeRecord(t *testing.T) {
	tb := startBroker(t)
	tb.createTopic("large", 1, nil)
	ctx := testContext(t)
	big := bytes.Repeat([]byte("0123456789abcdef"), 900<<10/16) // 900 KiB
	cl := tb.client()
	for i := range 3 {
		big[0] = byte('A' + i)
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "large", Value: bytes.Clone(big)}).FirstErr(); err != nil {
			t.Fatalf("produce 900 KiB record: %v", err)
		}
	}
	// A partition limit smaller than one record still returns it (KIP-74).
	cons := tb.client(kgo.ConsumeTopics("large"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxPartitionBytes(1000))
	var got int
	for got < 3 {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("got %d of 3 records: %v", got, err)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatal(err) })
		fs.EachRecord(func(r *kgo.Record) {
			big[0] = byte('A' + got)
			if !bytes.Equal(r.Value, big) {
				t.Fatalf("record %d differs", got)
			}
			got++
		})
	}
}

func TestProduceOversizedBatchRefusedConnectionUsable(t *testing.T) {
	tb := startBroker(t)
	tb.createTopic("limits", 1, map[string]*string{"max.message.bytes": kmsg.StringPtr("100000")})
	ctx := testContext(t)

	// franz-go: MESSAGE_TOO_LARGE fails the record; the client goes on.
	// (Random bytes, so that compression does not shrink them.)
	cl := tb.client(kgo.ProducerBatchMaxBytes(1 << 20))
	noise := make([]byte, 200_000)
	_, _ = rand.NewChaCha8([32]byte{1}).Read(noise)
	err := cl.ProduceSync(ctx, &kgo.Record{Topic: "limits", Value: noise}).FirstErr()
	if !errors.Is(err, kerr.MessageTooLarge) {
		t.Fatalf("oversized record: %v, want MESSAGE_TOO_LARGE", err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "limits", Value: []byte("small")}).FirstErr(); err != nil {
		t.Fatalf("small record after the oversized one: %v", err)
	}

	// Raw: every refusal leaves the same connection usable.
	rc := dialRaw(t, tb.Addr())
	good := func() []byte { return makeBatch(-1, -1, -1, time.Now().UnixMilli(), []byte("ok")) }
	badCRC := good()
	badCRC[len(badCRC)-1] ^= 0xff
	control := setAttributes(good(), 0x20)
	txn := setAttributes(good(), 0x10)
	twoBatches := append(good(), good()...)
	refusals := []struct {
		name    string
		records []byte
		want    *kerr.Error
	}{
		{"too large", makeBatch(-1, -1, -1, 1, make([]byte, 150_000)), kerr.MessageTooLarge},
		{"bad crc", badCRC, kerr.CorruptMessage},
		{"truncated", good()[:65], kerr.CorruptMessage},
		{"empty", nil, kerr.CorruptMessage},
		{"two batches", twoBatches, kerr.CorruptMessage},
		{"control batch", control, kerr.InvalidRecord},
		{"transactional", txn, kerr.TransactionalIDAuthorizationFailed},
	}
	for _, r := range refusals {
		got := rc.produceOne(produceRequest("limits", 0, -1, r.records))
		if got.ErrorCode != r.want.Code {
			t.Errorf("%s: error %d, want %v", r.name, got.ErrorCode, r.want)
		}
		if got.ErrorMessage == nil || *got.ErrorMessage == "" {
			t.Errorf("%s: no error message", r.name)
		}
		ok := rc.produceOne(produceRequest("limits", 0, -1, good()))
		if ok.ErrorCode != 0 {
			t.Fatalf("produce after %s: error %d", r.name, ok.ErrorCode)
		}
	}
	if got := rc.produceOne(produceRequest("limits", 0, 2, good())); got.ErrorCode != kerr.InvalidRequiredAcks.Code {
		t.Errorf("acks=2: error %d, want INVALID_REQUIRED_ACKS", got.ErrorCode)
	}
	if got := rc.produceOne(produceRequest("limits", 7, -1, good())); got.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("missing partition: error %d, want UNKNOWN_TOPIC_OR_PARTITION", got.ErrorCode)
	}
}

// TestProducePipelinedAcksAllInOrder sends many acks=all requests on one
// connection without waiting and checks that the answers come back in
// request order with increasing offsets.
func TestProducePipelinedAcksAllInOrder(t *testing.T) {
	tb := startBroker(t)
	tb.createTopic("pipe", 1, nil)
	rc := dialRaw(t, tb.Addr())
	const n = 200
	init := rc.roundTrip(kmsg.NewPtrInitProducerIDRequest()).(*kmsg.InitProducerIDResponse)
	// All requests in one write, answers read meanwhile: the broker
	// appends them while earlier ones wait for their fsync.
	var wire []byte
	for i := range n {
		b := makeBatch(init.ProducerID, init.ProducerEpoch, int32(i), 1, fmt.Appendf(nil, "%d", i))
		wire = append(wire, rc.fmt.AppendRequest(nil, produceRequest("pipe", 0, -1, b), int32(i+1))...) // AppendRequest sizes dst from its start
	}
	written := make(chan error, 1)
	go func() {
		_, err := rc.nc.Write(wire)
		written <- err
	}()
	for i := range n {
		resp := kmsg.NewPtrProduceResponse()
		resp.Version = 9
		corr := rc.recv(resp)
		if corr != int32(i+1) { // correlation id 0 was InitProducerId
			t.Fatalf("response %d has correlation id %d", i, corr)
		}
		p := resp.Topics[0].Partitions[0]
		if p.ErrorCode != 0 || p.BaseOffset != int64(i) {
			t.Fatalf("response %d: error %d offset %d", i, p.ErrorCode, p.BaseOffset)
		}
	}
	if err := <-written; err != nil {
		t.Fatal(err)
	}
}

func TestProduceAcksZeroAndOne(t *testing.T) {
	tb := startBroker(t)
	tb.createTopic("acks", 1, nil)
	rc := dialRaw(t, tb.Addr())
	// acks=0 gets no answer: the next answer on the connection is the
	// acks=1 request's.
	rc.send(produceRequest("acks", 0, 0, makeBatch(-1, -1, -1, 1, []byte("zero"))))
	got := rc.produceOne(produceRequest("acks", 0, 1, makeBatch(-1, -1, -1, 1, []byte("one"))))
	if got.ErrorCode != 0 || got.BaseOffset != 1 {
		t.Fatalf("acks=1 after acks=0: error %d offset %d, want offset 1", got.ErrorCode, got.BaseOffset)
	}
	// A failed acks=0 produce closes the connection, as in Kafka.
	rc.send(produceRequest("missing", 5, 0, makeBatch(-1, -1, -1, 1, []byte("x"))))
	rc.expectClosed()
}

func TestInitProducerIDRefusesTransactions(t *testing.T) {
	tb := startBroker(t)
	rc := dialRaw(t, tb.Addr())
	req := kmsg.NewPtrInitProducerIDRequest()
	req.Version = 4
	req.TransactionalID = kmsg.StringPtr("txn")
	req.TransactionTimeoutMillis = 10000
	resp := rc.roundTrip(req).(*kmsg.InitProducerIDResponse)
	if resp.ErrorCode != kerr.TransactionalIDAuthorizationFailed.Code {
		t.Fatalf("transactional InitProducerId: error %d", resp.ErrorCode)
	}
	// Idempotent producers get distinct IDs, also when they ask to bump.
	seen := map[int64]bool{}
	for range 3 {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.Version = 4
		if len(seen) > 0 {
			req.ProducerID, req.ProducerEpoch = 0, 0
		}
		resp := rc.roundTrip(req).(*kmsg.InitProducerIDResponse)
		if resp.ErrorCode != 0 || resp.ProducerEpoch != 0 || seen[resp.ProducerID] {
			t.Fatalf("InitProducerId: %+v", resp)
		}
		seen[resp.ProducerID] = true
	}
}

// gatedFile counts fsyncs and holds the first one until released.
type gatedFile struct {
	locallog.File
	g *syncGate
}

type syncGate struct {
	armed   atomic.Bool
	syncs   atomic.Int64
	held    chan struct{} // closed when the first fsync is waiting
	release chan struct{}
	opened  sync.Once
}

func (g *syncGate) open() { g.opened.Do(func() { close(g.release) }) }

func (f gatedFile) Sync() error {
	if f.g.armed.Load() && f.g.syncs.Add(1) == 1 {
		close(f.g.held)
		<-f.g.release
	}
	return f.File.Sync()
}

// TestProduceGroupCommit checks that one fsync acknowledges every acks=all
// request appended while the fsync before it ran: requests pipelined on one
// connection are appended without waiting for the previous one's fsync.
func TestProduceGroupCommit(t *testing.T) {
	g := &syncGate{held: make(chan struct{}), release: make(chan struct{})}
	tb := startBroker(t, func(c *Config) {
		c.openFile = func(name string, flag int, perm os.FileMode) (locallog.File, error) {
			f, err := os.OpenFile(name, flag, perm)
			if err != nil {
				return nil, err
			}
			return gatedFile{f, g}, nil
		}
	})
	t.Cleanup(g.open) // runs before the broker's shutdown, also on failure
	tb.createTopic("group", 1, nil)
	g.armed.Store(true)
	rc := dialRaw(t, tb.Addr())
	const n = maxInFlight // the reader stops reading beyond that many unanswered requests
	var wire []byte
	for i := range n {
		b := makeBatch(-1, -1, -1, 1, fmt.Appendf(nil, "%d", i))
		wire = append(wire, rc.fmt.AppendRequest(nil, produceRequest("group", 0, -1, b), int32(i))...)
	}
	written := make(chan error, 1)
	go func() {
		_, err := rc.nc.Write(wire)
		written <- err
	}()
	// The first fsync is held; meanwhile every request is appended.
	select {
	case <-g.held:
	case <-time.After(testTimeout):
		t.Fatal("no fsync started")
	}
	lp, _ := tb.lookupPartition("group", 0)
	eventually(t, "all requests to be appended", func() bool { return lp.log.Offsets().LogEnd == n })
	if hw := lp.log.Offsets().HighWatermark; hw != 0 {
		t.Fatalf("high watermark %d before any fsync finished", hw)
	}
	g.open()
	for i := range n {
		resp := kmsg.NewPtrProduceResponse()
		resp.Version = 9
		if corr := rc.recv(resp); corr != int32(i) {
			t.Fatalf("response %d has correlation id %d", i, corr)
		}
		if p := resp.Topics[0].Partitions[0]; p.ErrorCode != 0 || p.BaseOffset != int64(i) {
			t.Fatalf("response %d: %+v", i, p)
		}
	}
	if err := <-written; err != nil {
		t.Fatal(err)
	}
	// The held fsync, one covering everything after it, and perhaps one
	// by the log's flusher racing them.
	if s := g.syncs.Load(); s > 3 {
		t.Fatalf("%d fsyncs for %d pipelined requests; want group commit", s, n)
	}
}

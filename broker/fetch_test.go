package broker

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/batch"
)

// fetchRequest builds a fetch of one partition at offset.
func fetchRequest(version int16, topic string, id [16]byte, partition int32, offset int64, maxWait time.Duration) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.Version = version
	req.MaxWaitMillis = int32(maxWait / time.Millisecond)
	req.MinBytes = 1
	req.MaxBytes = 50 << 20
	req.SessionEpoch = -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = topic, id
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition = partition
	rp.FetchOffset = offset
	rp.PartitionMaxBytes = 1 << 20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// fetchedOffsets returns the offsets of the records in batches, checking
// that the batches are whole.
func fetchedOffsets(t *testing.T, data []byte) []int64 {
	t.Helper()
	var offs []int64
	if _, err := batch.Scan(data, func(h batch.Header, _ []byte) bool {
		for o := h.BaseOffset; o <= h.LastOffset(); o++ {
			offs = append(offs, o)
		}
		return true
	}); err != nil {
		t.Fatalf("fetched batches: %v", err)
	}
	return offs
}

func TestFetchLongPollWokenByAppend(t *testing.T) {
	tb := startBroker(t)
	tb.createTopic("poll", 1, nil)
	const maxWait = 20 * time.Second
	fc := dialRaw(t, tb.Addr())
	// The test fails, rather than waits, if the fetch is not answered
	// well before MaxWait.
	_ = fc.nc.SetReadDeadline(time.Now().Add(maxWait / 2))
	req := fetchRequest(12, "poll", [16]byte{}, 0, 0, maxWait)
	start := time.Now()
	corr := fc.send(req)
	eventually(t, "the fetch to wait", func() bool { return tb.waitingFetches.Load() == 1 })

	pc := dialRaw(t, tb.Addr())
	if got := pc.produceOne(produceRequest("poll", 0, -1, makeBatch(-1, -1, -1, 1, []byte("wake")))); got.ErrorCode != 0 {
		t.Fatalf("produce: error %d", got.ErrorCode)
	}
	resp := kmsg.NewPtrFetchResponse()
	resp.Version = req.Version
	if got := fc.recv(resp); got != corr {
		t.Fatalf("correlation id %d, want %d", got, corr)
	}
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 || p.HighWatermark != 1 || p.LastStableOffset != 1 || p.LogStartOffset != 0 {
		t.Fatalf("fetch: %+v", p)
	}
	if offs := fetchedOffsets(t, p.RecordBatches); len(offs) != 1 || offs[0] != 0 {
		t.Fatalf("fetched offsets %v, want [0]", offs)
	}
	t.Logf("long poll answered %v after it was sent", time.Since(start))
	eventually(t, "the wait to end", func() bool { return tb.waitingFetches.Load() == 0 })
}

func TestFetchLongPollEndsAtMaxWait(t *testing.T) {
	tb := startBroker(t)
	tb.createTopic("idle", 1, nil)
	rc := dialRaw(t, tb.Addr())
	resp := rc.roundTrip(fetchRequest(12, "idle", [16]byte{}, 0, 0, 50*time.Millisecond)).(*kmsg.FetchResponse)
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 || len(p.RecordBatches) != 0 {
		t.Fatalf("idle fetch: %+v", p)
	}
}

func TestFetchShutdownAnswersLongPoll(t *testing.T) {
	tb := startBroker(t)
	tb.createTopic("idle", 1, nil)
	rc := dialRaw(t, tb.Addr())
	req := fetchRequest(12, "idle", [16]byte{}, 0, 0, time.Hour)
	corr := rc.send(req)
	eventually(t, "the fetch to wait", func() bool { return tb.waitingFetches.Load() == 1 })
	tb.shutdown()
	resp := kmsg.NewPtrFetchResponse()
	resp.Version = req.Version
	if got := rc.recv(resp); got != corr {
		t.Fatalf("correlation id %d, want %d", got, corr)
	}
	if p := resp.Topics[0].Partitions[0]; p.ErrorCode != 0 || len(p.RecordBatches) != 0 {
		t.Fatalf("fetch answered at shutdown: %+v", p)
	}
	rc.expectClosed()
}

func TestFetchAnswersFromOneSegment(t *testing.T) {
	tb := startBroker(t)
	tb.createTopic("segs", 1, map[string]*string{"segment.bytes": kmsg.StringPtr("1024")})
	rc := dialRaw(t, tb.Addr())
	const n = 100
	for i := range n {
		if got := rc.produceOne(produceRequest("segs", 0, -1, makeBatch(-1, -1, -1, int64(i), fmt.Appendf(nil, "record %03d", i)))); got.ErrorCode != 0 || got.BaseOffset != int64(i) {
			t.Fatalf("produce %d: %+v", i, got)
		}
	}
	lp, _ := tb.lookupPartition("segs", 0)
	if s := lp.log.Segments(); len(s) < 5 {
		t.Fatalf("%d segments, want several", len(s))
	}
	// Each fetch answers from the one segment holding its offset and stops
	// at that segment's end; successive fetches read every offset once.
	segs := lp.log.Segments()
	next := int64(0)
	for i, s := range segs {
		resp := rc.roundTrip(fetchRequest(12, "segs", [16]byte{}, 0, next, 0)).(*kmsg.FetchResponse)
		offs := fetchedOffsets(t, resp.Topics[0].Partitions[0].RecordBatches)
		if len(offs) == 0 || offs[0] != s.BaseOffset || offs[len(offs)-1] != s.EndOffset-1 {
			t.Fatalf("fetch %d at %d: offsets %v, want exactly segment [%d, %d)", i, next, offs, s.BaseOffset, s.EndOffset)
		}
		for j, o := range offs {
			if o != next+int64(j) {
				t.Fatalf("fetch %d: record %d has offset %d", i, j, o)
			}
		}
		next = s.EndOffset
	}
	if next != n {
		t.Fatalf("segments end at %d, want %d", next, n)
	}
	// From the middle of the log, and with a partition limit smaller than
	// a batch: exactly the first batch (KIP-74).
	req := fetchRequest(12, "segs", [16]byte{}, 0, 37, 0)
	req.Topics[0].Partitions[0].PartitionMaxBytes = 1
	resp := rc.roundTrip(req).(*kmsg.FetchResponse)
	if offs := fetchedOffsets(t, resp.Topics[0].Partitions[0].RecordBatches); len(offs) != 1 || offs[0] != 37 {
		t.Fatalf("fetch at 37 with a 1-byte limit: offsets %v", offs)
	}
	// The request limit caps a second partition that would not fit.
	req = fetchRequest(12, "segs", [16]byte{}, 0, 0, 0)
	second := req.Topics[0].Partitions[0]
	second.FetchOffset = 50
	req.Topics[0].Partitions = append(req.Topics[0].Partitions, second)
	req.MaxBytes = 300
	resp = rc.roundTrip(req).(*kmsg.FetchResponse)
	first := fetchedOffsets(t, resp.Topics[0].Partitions[0].RecordBatches)
	if len(first) == 0 || len(resp.Topics[0].Partitions[0].RecordBatches) > 300 {
		t.Fatalf("first partition: %d records in %d bytes", len(first), len(resp.Topics[0].Partitions[0].RecordBatches))
	}
	total := len(resp.Topics[0].Partitions[0].RecordBatches) + len(resp.Topics[0].Partitions[1].RecordBatches)
	if total > 300 {
		t.Fatalf("fetch returned %d bytes, MaxBytes 300", total)
	}
}

func TestFetchErrors(t *testing.T) {
	tb := startBroker(t)
	tb.createTopic("errs", 1, nil)
	rc := dialRaw(t, tb.Addr())
	for i := range 5 {
		rc.produceOne(produceRequest("errs", 0, -1, makeBatch(-1, -1, -1, int64(i), []byte("x"))))
	}
	check := func(name string, req *kmsg.FetchRequest, want *kerr.Error) kmsg.FetchResponseTopicPartition {
		t.Helper()
		resp := rc.roundTrip(req).(*kmsg.FetchResponse)
		p := resp.Topics[0].Partitions[0]
		if kerr.ErrorForCode(p.ErrorCode) != error(want) && !(want == nil && p.ErrorCode == 0) {
			t.Fatalf("%s: error %d, want %v", name, p.ErrorCode, want)
		}
		return p
	}
	// Errors answer at once, whatever MaxWait says.
	p := check("beyond the end", fetchRequest(12, "errs", [16]byte{}, 0, 6, time.Hour), kerr.OffsetOutOfRange)
	if p.HighWatermark != 5 || p.LogStartOffset != 0 {
		t.Fatalf("out of range: hwm %d log start %d", p.HighWatermark, p.LogStartOffset)
	}
	check("unknown topic", fetchRequest(12, "nope", [16]byte{}, 0, 0, time.Hour), kerr.UnknownTopicOrPartition)
	check("unknown partition", fetchRequest(12, "errs", [16]byte{}, 3, 0, time.Hour), kerr.UnknownTopicOrPartition)
	check("unknown topic id", fetchRequest(13, "", [16]byte{1}, 0, 0, time.Hour), kerr.UnknownTopicID)
	req := fetchRequest(12, "errs", [16]byte{}, 0, 0, time.Hour)
	req.Topics[0].Partitions[0].CurrentLeaderEpoch = 3
	check("future leader epoch", req, kerr.UnknownLeaderEpoch)

	if r, err := tb.admin().DeleteRecords(testContext(t), offsetsOf("errs", 0, 3)); err != nil || r.Error() != nil {
		t.Fatalf("delete records: %v / %v", err, r.Error())
	}
	p = check("below the log start", fetchRequest(12, "errs", [16]byte{}, 0, 1, time.Hour), kerr.OffsetOutOfRange)
	if p.LogStartOffset != 3 {
		t.Fatalf("log start %d, want 3", p.LogStartOffset)
	}
	p = check("at the log start", fetchRequest(12, "errs", [16]byte{}, 0, 3, 0), nil)
	if offs := fetchedOffsets(t, p.RecordBatches); len(offs) != 2 || offs[0] != 3 {
		t.Fatalf("after delete records: offsets %v", offs)
	}

	// Fetch sessions: never created, incremental fetches refused.
	req = fetchRequest(12, "errs", [16]byte{}, 0, 3, 0)
	req.SessionEpoch = 0
	if resp := rc.roundTrip(req).(*kmsg.FetchResponse); resp.ErrorCode != 0 || resp.SessionID != 0 {
		t.Fatalf("session request: error %d session %d, want no session", resp.ErrorCode, resp.SessionID)
	}
	req.SessionID, req.SessionEpoch = 7, 1
	if resp := rc.roundTrip(req).(*kmsg.FetchResponse); resp.ErrorCode != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("incremental fetch: error %d, want FETCH_SESSION_ID_NOT_FOUND", resp.ErrorCode)
	}
}

// TestFetchByTopicIDWithFranzGo consumes with a client that uses topic IDs
// (Fetch v13+) and sessions if the broker offers them.
func TestFetchByTopicIDWithFranzGo(t *testing.T) {
	tb := startBroker(t)
	tb.createTopic("ids", 1, nil)
	ctx := testContext(t)
	cl := tb.client(kgo.ConsumeTopics("ids"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	for i := range 3 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "ids", Value: fmt.Appendf(nil, "v%d", i)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	var got [][]byte
	for len(got) < 3 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatal(err)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatal(err) })
		fs.EachRecord(func(r *kgo.Record) { got = append(got, r.Value) })
	}
	if !bytes.Equal(bytes.Join(got, []byte(",")), []byte("v0,v1,v2")) {
		t.Fatalf("consumed %q", got)
	}
}

func TestFetchLongPollEndsWhenTopicDeleted(t *testing.T) {
	tb := startBroker(t)
	tb.createTopic("doomed", 1, nil)
	rc := dialRaw(t, tb.Addr())
	req := fetchRequest(12, "doomed", [16]byte{}, 0, 0, time.Hour)
	corr := rc.send(req)
	eventually(t, "the fetch to wait", func() bool { return tb.waitingFetches.Load() == 1 })
	// Another topic's creation does not matter to the fetch; the
	// deletion of its own does.
	tb.createTopic("other", 1, nil)
	if r, err := tb.admin().DeleteTopics(testContext(t), "doomed"); err != nil || r["doomed"].Err != nil {
		t.Fatalf("delete: %v / %v", err, r["doomed"].Err)
	}
	resp := kmsg.NewPtrFetchResponse()
	resp.Version = req.Version
	if got := rc.recv(resp); got != corr {
		t.Fatalf("correlation id %d, want %d", got, corr)
	}
	if p := resp.Topics[0].Partitions[0]; p.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("fetch of a deleted topic: error %d", p.ErrorCode)
	}
}

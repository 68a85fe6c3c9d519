package broker

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func listOffsetsRequest(version int16, topic string, timestamps ...int64) *kmsg.ListOffsetsRequest {
	req := kmsg.NewPtrListOffsetsRequest()
	req.Version = version
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	for _, ts := range timestamps {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition = 0
		rp.Timestamp = ts
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	return req
}

func TestListOffsets(t *testing.T) {
	tb := startBroker(t)
	tb.createTopic("times", 1, nil)
	rc := dialRaw(t, tb.Addr())
	// Offsets 0-9 at 1000-1009, 10-14 at 5000-5004, 15 at 2000.
	for _, b := range [][]byte{
		makeBatch(-1, -1, -1, 1000, make([][]byte, 10)...),
		makeBatch(-1, -1, -1, 5000, make([][]byte, 5)...),
		makeBatch(-1, -1, -1, 2000, []byte("late")),
	} {
		if got := rc.produceOne(produceRequest("times", 0, -1, b)); got.ErrorCode != 0 {
			t.Fatalf("produce: error %d", got.ErrorCode)
		}
	}
	type want struct {
		offset, timestamp int64
		err               *kerr.Error
	}
	list := func(version int16, ts int64) want {
		t.Helper()
		resp := rc.roundTrip(listOffsetsRequest(version, "times", ts)).(*kmsg.ListOffsetsResponse)
		p := resp.Topics[0].Partitions[0]
		var err *kerr.Error
		if p.ErrorCode != 0 {
			err = kerr.ErrorForCode(p.ErrorCode).(*kerr.Error)
		} else if p.Offset >= 0 && version >= 4 && p.LeaderEpoch != 0 {
			t.Errorf("timestamp %d: leader epoch %d, want 0", ts, p.LeaderEpoch)
		}
		return want{p.Offset, p.Timestamp, err}
	}
	check := func(name string, got, w want) {
		t.Helper()
		if got != w {
			t.Errorf("%s: got %+v, want %+v", name, got, w)
		}
	}
	check("latest", list(11, -1), want{16, -1, nil})
	check("earliest", list(11, -2), want{0, -1, nil})
	check("max timestamp", list(11, -3), want{10 + 4, 5004, nil})
	check("earliest local", list(11, -4), want{0, -1, nil})
	check("latest tiered", list(11, -5), want{-1, -1, nil})
	check("earliest pending upload", list(11, -6), want{-1, -1, nil})
	check("exact timestamp", list(11, 1005), want{5, 1005, nil})
	check("between batches", list(11, 1500), want{10, 5000, nil})
	check("first batch", list(11, 0), want{0, 1000, nil})
	check("after every record", list(11, 6000), want{-1, -1, nil})
	check("max timestamp before v7", list(6, -3), want{-1, -1, kerr.UnsupportedVersion})
	check("unknown special timestamp", list(11, -7), want{-1, -1, kerr.UnsupportedVersion})
	check("v1 latest", list(1, -1), want{16, -1, nil})

	if r, err := tb.admin().DeleteRecords(testContext(t), offsetsOf("times", 0, 3)); err != nil || r.Error() != nil {
		t.Fatalf("delete records: %v / %v", err, r.Error())
	}
	check("earliest after delete", list(11, -2), want{3, -1, nil})
	check("timestamp below the log start", list(11, 1000), want{3, 1003, nil})

	// kadm agrees.
	adm := tb.admin()
	ctx := testContext(t)
	starts, err := adm.ListStartOffsets(ctx, "times")
	if err != nil || starts["times"][0].Offset != 3 {
		t.Fatalf("ListStartOffsets: %v %+v", err, starts)
	}
	ends, err := adm.ListEndOffsets(ctx, "times")
	if err != nil || ends["times"][0].Offset != 16 {
		t.Fatalf("ListEndOffsets: %v %+v", err, ends)
	}
	after, err := adm.ListOffsetsAfterMilli(ctx, 4000, "times")
	if err != nil || after["times"][0].Offset != 10 {
		t.Fatalf("ListOffsetsAfterMilli: %v %+v", err, after)
	}
	maxTS, err := adm.ListMaxTimestampOffsets(ctx, "times")
	if err != nil || maxTS["times"][0].Offset != 14 || maxTS["times"][0].Timestamp != 5004 {
		t.Fatalf("ListMaxTimestampOffsets: %v %+v", err, maxTS)
	}

	// A partition listed twice is refused; unknown partitions too.
	resp := rc.roundTrip(listOffsetsRequest(11, "times", -1, -2)).(*kmsg.ListOffsetsResponse)
	for _, p := range resp.Topics[0].Partitions {
		if p.ErrorCode != kerr.InvalidRequest.Code {
			t.Errorf("partition listed twice: error %d", p.ErrorCode)
		}
	}
	resp = rc.roundTrip(listOffsetsRequest(11, "nope", -1)).(*kmsg.ListOffsetsResponse)
	if p := resp.Topics[0].Partitions[0]; p.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("unknown topic: error %d", p.ErrorCode)
	}
}

func TestDeleteRecords(t *testing.T) {
	tb := startBroker(t)
	tb.createTopic("trim", 1, nil)
	rc := dialRaw(t, tb.Addr())
	for i := range 10 {
		rc.produceOne(produceRequest("trim", 0, -1, makeBatch(-1, -1, -1, int64(i), []byte("x"))))
	}
	del := func(offset int64) kmsg.DeleteRecordsResponseTopicPartition {
		req := kmsg.NewPtrDeleteRecordsRequest()
		req.Version = 2
		rt := kmsg.NewDeleteRecordsRequestTopic()
		rt.Topic = "trim"
		rp := kmsg.NewDeleteRecordsRequestTopicPartition()
		rp.Offset = offset
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return rc.roundTrip(req).(*kmsg.DeleteRecordsResponse).Topics[0].Partitions[0]
	}
	for _, tt := range []struct {
		offset, low int64
		err         *kerr.Error
	}{
		{4, 4, nil},
		{2, 4, nil}, // below the log start: nothing changes
		{11, -1, kerr.OffsetOutOfRange},
		{-2, -1, kerr.OffsetOutOfRange},
		{-1, 10, nil}, // -1: the high watermark
	} {
		got := del(tt.offset)
		code := int16(0)
		if tt.err != nil {
			code = tt.err.Code
		}
		if got.ErrorCode != code || got.LowWatermark != tt.low {
			t.Errorf("delete before %d: error %d low %d, want %d %d", tt.offset, got.ErrorCode, got.LowWatermark, code, tt.low)
		}
	}
}

func TestOffsetForLeaderEpoch(t *testing.T) {
	tb := startBroker(t)
	tb.createTopic("epochs", 1, nil)
	rc := dialRaw(t, tb.Addr())
	for i := range 3 {
		rc.produceOne(produceRequest("epochs", 0, -1, makeBatch(-1, -1, -1, int64(i), []byte("x"))))
	}
	ask := func(current, epoch int32) kmsg.OffsetForLeaderEpochResponseTopicPartition {
		req := kmsg.NewPtrOffsetForLeaderEpochRequest()
		req.Version = 4
		req.ReplicaID = -1
		rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
		rt.Topic = "epochs"
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.CurrentLeaderEpoch, rp.LeaderEpoch = current, epoch
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return rc.roundTrip(req).(*kmsg.OffsetForLeaderEpochResponse).Topics[0].Partitions[0]
	}
	for _, tt := range []struct {
		current, epoch   int32
		code             int16
		wantEpoch, wantE int64
	}{
		{-1, 0, 0, 0, 3},
		{0, 0, 0, 0, 3},
		{-1, 1, 0, -1, -1},
		{1, 0, kerr.UnknownLeaderEpoch.Code, -1, -1},
	} {
		got := ask(tt.current, tt.epoch)
		if got.ErrorCode != tt.code || int64(got.LeaderEpoch) != tt.wantEpoch || got.EndOffset != tt.wantE {
			t.Errorf("current %d epoch %d: %+v", tt.current, tt.epoch, got)
		}
	}
}

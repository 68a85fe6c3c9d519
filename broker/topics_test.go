package broker

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestTopicsCreateListDeleteRecreate(t *testing.T) {
	tb := startBroker(t, func(c *Config) { c.AutoCreateTopics = false })
	adm := tb.admin()
	ctx := testContext(t)

	resp, err := adm.CreateTopics(ctx, 3, 1, map[string]*string{"retention.ms": kmsg.StringPtr("3600000")}, "orders", "events")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range resp {
		if r.Err != nil {
			t.Fatalf("create %s: %v", r.Topic, r.Err)
		}
	}
	again, err := adm.CreateTopic(ctx, 1, 1, nil, "orders")
	if !errors.Is(again.Err, kerr.TopicAlreadyExists) {
		t.Fatalf("create existing topic: %v / %v, want TOPIC_ALREADY_EXISTS", err, again.Err)
	}

	listed, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := listed.Names(); !slices.Equal(got, []string{"events", "orders"}) {
		t.Fatalf("topics %v, want [events orders]", got)
	}
	orders := listed["orders"]
	if len(orders.Partitions) != 3 || orders.ID == (kadm.TopicID{}) {
		t.Fatalf("orders: %d partitions, id %v", len(orders.Partitions), orders.ID)
	}
	for _, p := range orders.Partitions {
		if p.Leader != 0 || p.LeaderEpoch != 0 || !slices.Equal(p.Replicas, []int32{0}) || !slices.Equal(p.ISR, []int32{0}) {
			t.Errorf("partition %d: leader %d epoch %d replicas %v isr %v", p.Partition, p.Leader, p.LeaderEpoch, p.Replicas, p.ISR)
		}
	}

	// Records in the old topic must not show up after delete + recreate.
	cl := tb.client()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "orders", Partition: 0, Value: []byte("old")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	oldDir := filepath.Join(tb.cfg.DataDir, partitionsDir, partitionDir(orders.ID, 0))
	if _, err := os.Stat(oldDir); err != nil {
		t.Fatalf("partition dir: %v", err)
	}
	del, err := adm.DeleteTopics(ctx, "orders")
	if err != nil || del["orders"].Err != nil {
		t.Fatalf("delete: %v / %v", err, del["orders"].Err)
	}
	if _, err := os.Stat(oldDir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("deleted topic's partition dir still there: %v", err)
	}
	del, err = adm.DeleteTopics(ctx, "orders")
	if err != nil || !errors.Is(del["orders"].Err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("delete again: %v / %v, want UNKNOWN_TOPIC_OR_PARTITION", err, del["orders"].Err)
	}
	tb.createTopic("orders", 3, nil)
	listed, err = tb.admin().ListTopics(ctx, "orders") // a new client: kadm caches metadata
	if err != nil {
		t.Fatal(err)
	}
	if listed["orders"].ID == orders.ID {
		t.Fatal("recreated topic kept the old topic ID")
	}
	ends, err := adm.ListEndOffsets(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil || o.Offset != 0 {
			t.Errorf("recreated %s[%d]: end offset %d, err %v; want 0", o.Topic, o.Partition, o.Offset, o.Err)
		}
	})

	// Delete by topic ID (DeleteTopics v6+).
	rc := dialRaw(t, tb.Addr())
	req := kmsg.NewPtrDeleteTopicsRequest()
	req.Version = 6
	dt := kmsg.NewDeleteTopicsRequestTopic()
	dt.TopicID = listed["orders"].ID
	req.Topics = append(req.Topics, dt)
	dresp := rc.roundTrip(req).(*kmsg.DeleteTopicsResponse)
	if len(dresp.Topics) != 1 || dresp.Topics[0].ErrorCode != 0 || dresp.Topics[0].Topic == nil || *dresp.Topics[0].Topic != "orders" {
		t.Fatalf("delete by id: %+v", dresp.Topics)
	}
	dresp = rc.roundTrip(req).(*kmsg.DeleteTopicsResponse)
	if dresp.Topics[0].ErrorCode != kerr.UnknownTopicID.Code {
		t.Fatalf("delete unknown id: error %d, want UNKNOWN_TOPIC_ID", dresp.Topics[0].ErrorCode)
	}
}

func TestCreateTopicsValidation(t *testing.T) {
	tb := startBroker(t)
	rc := dialRaw(t, tb.Addr())
	tests := []struct {
		name     string
		topic    kmsg.CreateTopicsRequestTopic
		want     error
		wantNum  int32
		realOnly bool // the outcome depends on an earlier entry really creating its topic
	}{
		{name: "default partitions", topic: ctTopic("defaults", -1, -1), wantNum: 1},
		{name: "rf 1", topic: ctTopic("rf1", 2, 1), wantNum: 2},
		{name: "rf 3", topic: ctTopic("rf3", 2, 3), want: kerr.InvalidReplicationFactor},
		{name: "zero partitions", topic: ctTopic("zero", 0, 1), want: kerr.InvalidPartitions},
		{name: "too many partitions", topic: ctTopic("many", maxPartitions+1, 1), want: kerr.InvalidPartitions},
		{name: "bad name", topic: ctTopic("a/b", 1, 1), want: kerr.InvalidTopicException},
		{name: "dot name", topic: ctTopic("..", 1, 1), want: kerr.InvalidTopicException},
		{name: "dotted", topic: ctTopic("a.b", 1, 1), wantNum: 1},
		{name: "collides", topic: ctTopic("a_b", 1, 1), want: kerr.InvalidTopicException, realOnly: true},
		{name: "compact", topic: withConfig(ctTopic("compact", 1, 1), "cleanup.policy", "compact"), want: kerr.InvalidConfig},
		{name: "unknown config", topic: withConfig(ctTopic("unknown", 1, 1), "min.insync.replicas", "2"), want: kerr.InvalidConfig},
		{name: "bad value", topic: withConfig(ctTopic("badvalue", 1, 1), "retention.ms", "soon"), want: kerr.InvalidConfig},
		{name: "segment too small", topic: withConfig(ctTopic("tiny", 1, 1), "segment.bytes", "13"), want: kerr.InvalidConfig},
		{name: "assignment", topic: withAssignment(ctTopic("assigned", -1, -1), 0, 0), wantNum: 2},
		{name: "assignment other broker", topic: withAssignment(ctTopic("assigned2", -1, -1), 1), want: kerr.InvalidReplicaAssignment},
		{name: "assignment with count", topic: withAssignment(ctTopic("assigned3", 1, -1), 0), want: kerr.InvalidRequest},
	}
	for _, validateOnly := range []bool{true, false} {
		for _, tt := range tests {
			if tt.realOnly && validateOnly {
				continue
			}
			req := kmsg.NewPtrCreateTopicsRequest()
			req.Version = 7
			req.ValidateOnly = validateOnly
			req.Topics = []kmsg.CreateTopicsRequestTopic{tt.topic}
			resp := rc.roundTrip(req).(*kmsg.CreateTopicsResponse)
			got := resp.Topics[0]
			if err := kerr.ErrorForCode(got.ErrorCode); !errors.Is(err, tt.want) {
				t.Errorf("%s (validate %v): error %v, want %v", tt.name, validateOnly, err, tt.want)
				continue
			}
			if tt.want == nil {
				if got.NumPartitions != tt.wantNum || got.ReplicationFactor != 1 || len(got.Configs) != len(topicConfigDefs) {
					t.Errorf("%s: partitions %d rf %d configs %d", tt.name, got.NumPartitions, got.ReplicationFactor, len(got.Configs))
				}
				if (got.TopicID == [16]byte{}) != validateOnly {
					t.Errorf("%s (validate %v): topic id %x", tt.name, validateOnly, got.TopicID)
				}
			}
		}
		if validateOnly && len(tb.topics().byName) != 0 {
			t.Fatalf("validate_only created topics: %v", tb.Partitions())
		}
	}
	// A name given twice in one request is refused.
	req := kmsg.NewPtrCreateTopicsRequest()
	req.Version = 7
	req.Topics = []kmsg.CreateTopicsRequestTopic{ctTopic("twice", 1, 1), ctTopic("twice", 1, 1)}
	for _, tp := range rc.roundTrip(req).(*kmsg.CreateTopicsResponse).Topics {
		if tp.ErrorCode != kerr.InvalidRequest.Code {
			t.Errorf("duplicate topic in request: error %d, want INVALID_REQUEST", tp.ErrorCode)
		}
	}
}

func ctTopic(name string, partitions int32, rf int16) kmsg.CreateTopicsRequestTopic {
	t := kmsg.NewCreateTopicsRequestTopic()
	t.Topic, t.NumPartitions, t.ReplicationFactor = name, partitions, rf
	return t
}

func withConfig(t kmsg.CreateTopicsRequestTopic, name, value string) kmsg.CreateTopicsRequestTopic {
	c := kmsg.NewCreateTopicsRequestTopicConfig()
	c.Name, c.Value = name, kmsg.StringPtr(value)
	t.Configs = append(t.Configs, c)
	return t
}

func withAssignment(t kmsg.CreateTopicsRequestTopic, replicas ...int32) kmsg.CreateTopicsRequestTopic {
	for i, r := range replicas {
		a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		a.Partition, a.Replicas = int32(i), []int32{r}
		t.ReplicaAssignment = append(t.ReplicaAssignment, a)
	}
	return t
}

func TestCreatePartitions(t *testing.T) {
	tb := startBroker(t)
	tb.createTopic("grow", 2, nil)
	adm := tb.admin()
	ctx := testContext(t)
	if r, err := adm.CreatePartitions(ctx, 3, "grow"); err != nil || r["grow"].Err != nil {
		t.Fatalf("add 3: %v / %v", err, r["grow"].Err)
	}
	if r, err := adm.UpdatePartitions(ctx, 5, "grow"); err != nil || !errors.Is(r["grow"].Err, kerr.InvalidPartitions) {
		t.Fatalf("set to the current count: %v / %v, want INVALID_PARTITIONS", err, r["grow"].Err)
	}
	if r, err := adm.UpdatePartitions(ctx, 1, "grow"); err != nil || !errors.Is(r["grow"].Err, kerr.InvalidPartitions) {
		t.Fatalf("shrink: %v / %v, want INVALID_PARTITIONS", err, r["grow"].Err)
	}
	if r, err := adm.CreatePartitions(ctx, 1, "missing"); err != nil || !errors.Is(r["missing"].Err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("unknown topic: %v / %v", err, r["missing"].Err)
	}
	if r, err := adm.ValidateCreatePartitions(ctx, 1, "grow"); err != nil || r["grow"].Err != nil {
		t.Fatalf("validate: %v / %v", err, r["grow"].Err)
	}
	listed, err := adm.ListTopics(ctx, "grow")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(listed["grow"].Partitions); n != 5 {
		t.Fatalf("grow has %d partitions, want 5", n)
	}
	cl := tb.client()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "grow", Partition: 4, Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatalf("produce to a new partition: %v", err)
	}
}

func TestAutoCreateTopics(t *testing.T) {
	tb := startBroker(t, func(c *Config) { c.DefaultPartitions = 3 })
	ctx := testContext(t)
	cl := tb.client(kgo.AllowAutoTopicCreation())
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "auto", Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatalf("produce to a new topic: %v", err)
	}
	if n := len(tb.topics().byName["auto"].partitions); n != 3 {
		t.Fatalf("auto-created topic has %d partitions, want 3", n)
	}

	off := startBroker(t, func(c *Config) { c.AutoCreateTopics = false })
	md, err := off.admin().Metadata(ctx, "nope")
	if err != nil {
		t.Fatal(err)
	}
	if err := md.Topics["nope"].Err; !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("metadata of unknown topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
	}
	rc := dialRaw(t, off.Addr())
	got := rc.produceOne(produceRequest("nope", 0, -1, makeBatch(-1, -1, -1, 1, []byte("x"))))
	if got.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("produce to unknown topic: error %d, want UNKNOWN_TOPIC_OR_PARTITION", got.ErrorCode)
	}
}

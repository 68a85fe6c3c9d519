package broker

import (
	"errors"
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// describeTopic returns the topic's configs by name.
func describeTopic(t *testing.T, tb *testBroker, topic string) map[string]kadm.Config {
	t.Helper()
	rcs, err := tb.admin().DescribeTopicConfigs(testContext(t), topic)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On(topic, nil)
	if err != nil || rc.Err != nil {
		t.Fatalf("describe %s: %v / %v", topic, err, rc.Err)
	}
	out := make(map[string]kadm.Config)
	for _, c := range rc.Configs {
		out[c.Key] = c
	}
	return out
}

func wantConfig(t *testing.T, cs map[string]kadm.Config, name, value string, source kmsg.ConfigSource) {
	t.Helper()
	c, ok := cs[name]
	if !ok {
		t.Fatalf("%s not described", name)
	}
	if c.MaybeValue() != value || c.Source != source {
		t.Fatalf("%s = %q (%v), want %q (%v)", name, c.MaybeValue(), c.Source, value, source)
	}
}

func TestTopicConfigsDescribeAlterPersist(t *testing.T) {
	tb := startBroker(t, func(c *Config) { c.SegmentBytes = 1 << 20 })
	tb.createTopic("cfg", 2, map[string]*string{"retention.ms": kmsg.StringPtr("3600000")})
	cs := describeTopic(t, tb, "cfg")
	if len(cs) != len(topicConfigDefs) {
		t.Fatalf("%d configs described, want %d", len(cs), len(topicConfigDefs))
	}
	wantConfig(t, cs, "retention.ms", "3600000", kmsg.ConfigSourceDynamicTopicConfig)
	wantConfig(t, cs, "segment.bytes", strconv.Itoa(1<<20), kmsg.ConfigSourceDefaultConfig)
	wantConfig(t, cs, "segment.ms", strconv.FormatInt(DefaultSegmentMs.Milliseconds(), 10), kmsg.ConfigSourceDefaultConfig)
	wantConfig(t, cs, "max.message.bytes", "1048588", kmsg.ConfigSourceDefaultConfig)
	wantConfig(t, cs, "retention.bytes", "-1", kmsg.ConfigSourceDefaultConfig)
	wantConfig(t, cs, "cleanup.policy", "delete", kmsg.ConfigSourceDefaultConfig)

	adm := tb.admin()
	ctx := testContext(t)
	alter := func(configs ...kadm.AlterConfig) error {
		t.Helper()
		rs, err := adm.AlterTopicConfigs(ctx, configs, "cfg")
		if err != nil {
			t.Fatal(err)
		}
		return rs[0].Err
	}
	if err := alter(kadm.AlterConfig{Name: "segment.bytes", Value: kmsg.StringPtr("2048")},
		kadm.AlterConfig{Op: kadm.DeleteConfig, Name: "retention.ms"}); err != nil {
		t.Fatalf("incremental alter: %v", err)
	}
	// Applied live to every partition.
	for i := range int32(2) {
		lp, _ := tb.lookupPartition("cfg", i)
		if got := lp.log.Config().SegmentBytes; got != 2048 {
			t.Fatalf("partition %d: segment.bytes %d, want 2048", i, got)
		}
	}
	cs = describeTopic(t, tb, "cfg")
	wantConfig(t, cs, "segment.bytes", "2048", kmsg.ConfigSourceDynamicTopicConfig)
	wantConfig(t, cs, "retention.ms", "604800000", kmsg.ConfigSourceDefaultConfig)

	for _, bad := range []kadm.AlterConfig{
		{Name: "cleanup.policy", Value: kmsg.StringPtr("compact")},
		{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: kmsg.StringPtr("compact")},
		{Op: kadm.AppendConfig, Name: "retention.ms", Value: kmsg.StringPtr("1")},
		{Name: "segment.bytes", Value: kmsg.StringPtr("huge")},
		{Name: "compression.type", Value: kmsg.StringPtr("zstd")},
	} {
		if err := alter(bad); !errors.Is(err, kerr.InvalidConfig) {
			t.Errorf("alter %+v: %v, want INVALID_CONFIG", bad, err)
		}
	}
	if err := alter(kadm.AlterConfig{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: kmsg.StringPtr("delete")}); err != nil {
		t.Errorf("append delete to cleanup.policy: %v", err)
	}
	// A failed alter changed nothing.
	wantConfig(t, describeTopic(t, tb, "cfg"), "segment.bytes", "2048", kmsg.ConfigSourceDynamicTopicConfig)

	// Legacy AlterConfigs replaces the whole set.
	rs, err := adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: "max.message.bytes", Value: kmsg.StringPtr("5000")}}, "cfg")
	if err != nil || rs[0].Err != nil {
		t.Fatalf("alter state: %v / %v", err, rs)
	}
	cs = describeTopic(t, tb, "cfg")
	wantConfig(t, cs, "max.message.bytes", "5000", kmsg.ConfigSourceDynamicTopicConfig)
	wantConfig(t, cs, "segment.bytes", strconv.Itoa(1<<20), kmsg.ConfigSourceDefaultConfig)

	// Validate-only changes nothing.
	if rs, err := adm.ValidateAlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "retention.ms", Value: kmsg.StringPtr("1")}}, "cfg"); err != nil || rs[0].Err != nil {
		t.Fatalf("validate alter: %v / %v", err, rs)
	}
	wantConfig(t, describeTopic(t, tb, "cfg"), "retention.ms", "604800000", kmsg.ConfigSourceDefaultConfig)

	// Unknown topics and read-only broker configs.
	if rs, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "retention.ms", Value: kmsg.StringPtr("1")}}, "nope"); err != nil || !errors.Is(rs[0].Err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("alter unknown topic: %v / %v", err, rs)
	}
	bcs, err := adm.DescribeBrokerConfigs(ctx, 0)
	if err != nil || len(bcs) != 1 || bcs[0].Err != nil || len(bcs[0].Configs) == 0 {
		t.Fatalf("describe broker: %v / %+v", err, bcs)
	}
	if rs, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: "num.partitions", Value: kmsg.StringPtr("3")}}, 0); err != nil || !errors.Is(rs[0].Err, kerr.InvalidRequest) {
		t.Fatalf("alter broker config: %v / %+v", err, rs)
	}

	// Configs survive a restart and drive the reopened partitions.
	tb = tb.restart()
	cs = describeTopic(t, tb, "cfg")
	wantConfig(t, cs, "max.message.bytes", "5000", kmsg.ConfigSourceDynamicTopicConfig)
	lp, _ := tb.lookupPartition("cfg", 1)
	if got := tb.topics().byName["cfg"].settings.maxMessageBytes; got != 5000 {
		t.Fatalf("after restart: max.message.bytes %d", got)
	}
	if got := lp.log.Config().SegmentBytes; got != 1<<20 {
		t.Fatalf("after restart: segment.bytes %d", got)
	}
}

func TestTopicConfigsTable(t *testing.T) {
	cfg := Config{SegmentBytes: 4096, SegmentMs: DefaultSegmentMs}
	tests := []struct {
		configs topicConfigs
		ok      bool
	}{
		{topicConfigs{}, true},
		{topicConfigs{"retention.ms": "-1", "retention.bytes": "-1"}, true},
		{topicConfigs{"retention.ms": "-2"}, false},
		{topicConfigs{"retention.ms": "9223372036854775807"}, true},
		{topicConfigs{"segment.ms": "0"}, false},
		{topicConfigs{"segment.bytes": "2147483648"}, false},
		{topicConfigs{"max.message.bytes": "-1"}, false},
		{topicConfigs{"cleanup.policy": "delete,delete"}, true},
		{topicConfigs{"cleanup.policy": "compact,delete"}, false},
		{topicConfigs{"cleanup.policy": ""}, false},
		{topicConfigs{"flush.ms": "1"}, false},
	}
	for _, tt := range tests {
		s, err := tt.configs.settings(&cfg)
		if (err == nil) != tt.ok {
			t.Errorf("%v: err %v, want ok %v", tt.configs, err, tt.ok)
		}
		if err != nil && !errors.Is(err, errInvalidConfig) {
			t.Errorf("%v: %v is not errInvalidConfig", tt.configs, err)
		}
		if tt.ok && len(tt.configs) == 0 && (s.segmentBytes != 4096 || s.maxMessageBytes != defaultMaxMessageBytes) {
			t.Errorf("defaults: %+v", s)
		}
	}
	if d := msDuration(9223372036854775807); d <= 0 {
		t.Errorf("msDuration overflowed: %v", d)
	}
	if got := editList("delete", "compact,delete", true); got != "delete,compact" {
		t.Errorf("append: %q", got)
	}
	if got := editList("delete,compact", "delete", false); got != "compact" {
		t.Errorf("subtract: %q", got)
	}
}

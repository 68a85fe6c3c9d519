package broker

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/locallog"
)

// Kafka's defaults for the topic configs that have no broker flag.
const (
	defaultMaxMessageBytes = 1048588 // 1 MiB plus record batch overhead, as Kafka
	defaultRetentionMs     = 7 * 24 * time.Hour / time.Millisecond
	defaultRetentionBytes  = -1
	minSegmentBytes        = 14 // as Kafka before 4.0: one legacy record's overhead
)

// topicSettings are a topic's effective configs: the explicitly set values
// over the broker's defaults.
type topicSettings struct {
	retentionMs     int64 // -1: forever
	retentionBytes  int64 // negative: no limit
	segmentBytes    int32
	segmentMs       int64
	maxMessageBytes int32
	// local.retention.*: what a tiered partition keeps locally once
	// uploaded.
	localRetentionMs    int64 // -2: as retention.ms; other negatives: forever
	localRetentionBytes int64 // -2: as retention.bytes; other negatives: no limit
}

// partitionConfig is the locallog view of s. A tiered partition applies
// the local retention settings locally; retention.ms and retention.bytes
// then apply to the remote tier (see retainRemote).
func (s topicSettings) partitionConfig(tiered bool) locallog.PartitionConfig {
	localMs, localBytes := s.localRetentionMs, s.localRetentionBytes
	if localMs == -2 { // Kafka's "as retention.ms"
		localMs = s.retentionMs
	}
	if localBytes == -2 {
		localBytes = s.retentionBytes
	}
	return locallog.PartitionConfig{
		SegmentBytes:        int64(s.segmentBytes),
		SegmentMs:           msDuration(s.segmentMs),
		RetentionMs:         msDuration(s.retentionMs),
		RetentionBytes:      s.retentionBytes,
		Tiered:              tiered,
		LocalRetentionMs:    msDuration(localMs),
		LocalRetentionBytes: localBytes,
	}
}

// msDuration converts milliseconds to a Duration, saturating instead of
// overflowing (Kafka users write Long.MAX_VALUE for "forever").
func msDuration(ms int64) time.Duration {
	switch {
	case ms > math.MaxInt64/int64(time.Millisecond):
		return math.MaxInt64
	case ms < math.MinInt64/int64(time.Millisecond):
		return math.MinInt64
	}
	return time.Duration(ms) * time.Millisecond
}

// topicConfigDef describes one topic config the broker supports.
type topicConfigDef struct {
	name string
	typ  kmsg.ConfigType
	// def returns the default value, which may come from the broker's
	// Config.
	def func(cfg *Config) string
	// set parses v into s, or reports why v is not acceptable.
	set func(s *topicSettings, v string) error
}

// topicConfigDefs are the supported topic configs, sorted by name.
var topicConfigDefs = []topicConfigDef{
	{
		name: "cleanup.policy",
		typ:  kmsg.ConfigTypeList,
		def:  func(*Config) string { return "delete" },
		set: func(_ *topicSettings, v string) error {
			for p := range strings.SplitSeq(v, ",") {
				switch strings.TrimSpace(p) {
				case "delete":
				case "compact":
					return fmt.Errorf("cleanup.policy %q: compaction is not supported, only delete", v)
				default:
					return fmt.Errorf("cleanup.policy %q: want delete", v)
				}
			}
			return nil
		},
	},
	{
		name: "local.retention.bytes",
		typ:  kmsg.ConfigTypeLong,
		def:  func(cfg *Config) string { return strconv.FormatInt(cfg.LocalRetentionBytes, 10) },
		set: func(s *topicSettings, v string) error {
			n, err := parseConfigInt(v, 64, -2) // -2: as retention.bytes, as in Kafka
			s.localRetentionBytes = n
			return err
		},
	},
	{
		name: "local.retention.ms",
		typ:  kmsg.ConfigTypeLong,
		def:  func(cfg *Config) string { return strconv.FormatInt(cfg.LocalRetentionMs, 10) },
		set: func(s *topicSettings, v string) error {
			n, err := parseConfigInt(v, 64, -2) // -2: as retention.ms, as in Kafka
			s.localRetentionMs = n
			return err
		},
	},
	{
		name: "max.message.bytes",
		typ:  kmsg.ConfigTypeInt,
		def:  func(*Config) string { return strconv.Itoa(defaultMaxMessageBytes) },
		set: func(s *topicSettings, v string) error {
			n, err := parseConfigInt(v, 32, 0)
			s.maxMessageBytes = int32(n)
			return err
		},
	},
	{
		name: "retention.bytes",
		typ:  kmsg.ConfigTypeLong,
		def:  func(*Config) string { return strconv.Itoa(defaultRetentionBytes) },
		set: func(s *topicSettings, v string) error {
			n, err := parseConfigInt(v, 64, math.MinInt64)
			s.retentionBytes = n
			return err
		},
	},
	{
		name: "retention.ms",
		typ:  kmsg.ConfigTypeLong,
		def:  func(*Config) string { return strconv.FormatInt(int64(defaultRetentionMs), 10) },
		set: func(s *topicSettings, v string) error {
			n, err := parseConfigInt(v, 64, -1)
			s.retentionMs = n
			return err
		},
	},
	{
		name: "segment.bytes",
		typ:  kmsg.ConfigTypeInt,
		def:  func(cfg *Config) string { return strconv.FormatInt(cfg.SegmentBytes, 10) },
		set: func(s *topicSettings, v string) error {
			n, err := parseConfigInt(v, 32, minSegmentBytes)
			s.segmentBytes = int32(n)
			return err
		},
	},
	{
		name: "segment.ms",
		typ:  kmsg.ConfigTypeLong,
		def:  func(cfg *Config) string { return strconv.FormatInt(cfg.SegmentMs.Milliseconds(), 10) },
		set: func(s *topicSettings, v string) error {
			n, err := parseConfigInt(v, 64, 1)
			s.segmentMs = n
			return err
		},
	},
}

func lookupTopicConfig(name string) *topicConfigDef {
	for i := range topicConfigDefs {
		if topicConfigDefs[i].name == name {
			return &topicConfigDefs[i]
		}
	}
	return nil
}

func parseConfigInt(v string, bits int, least int64) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, bits)
	if err != nil {
		return 0, fmt.Errorf("%q is not a %d-bit integer", v, bits)
	}
	if n < least {
		return 0, fmt.Errorf("%d is below the minimum %d", n, least)
	}
	return n, nil
}

// topicConfigs are the explicitly set configs of a topic, by name. Values
// are kept as the client sent them.
type topicConfigs map[string]string

// settings validates tc and returns the effective settings: tc over the
// defaults of cfg. An unknown name or a bad value is an errInvalidConfig.
func (tc topicConfigs) settings(cfg *Config) (topicSettings, error) {
	var s topicSettings
	for _, d := range topicConfigDefs {
		v, set := tc[d.name]
		if !set {
			v = d.def(cfg)
		}
		if err := d.set(&s, v); err != nil {
			if !set {
				panic(fmt.Sprintf("broker: default of %s: %v", d.name, err))
			}
			return topicSettings{}, fmt.Errorf("%w: %v", errInvalidConfig, err)
		}
	}
	for name := range tc {
		if lookupTopicConfig(name) == nil {
			return topicSettings{}, fmt.Errorf("%w: unknown or unsupported topic config %q", errInvalidConfig, name)
		}
	}
	return s, nil
}

// configEntry is one config as DescribeConfigs and CreateTopics report it.
type configEntry struct {
	name     string
	value    string
	source   kmsg.ConfigSource
	typ      kmsg.ConfigType
	readOnly bool
}

// describe lists every supported topic config with its effective value and
// source, sorted by name.
func (tc topicConfigs) describe(cfg *Config) []configEntry {
	out := make([]configEntry, 0, len(topicConfigDefs))
	for _, d := range topicConfigDefs {
		e := configEntry{name: d.name, typ: d.typ, source: kmsg.ConfigSourceDefaultConfig, value: d.def(cfg)}
		if v, ok := tc[d.name]; ok {
			e.value, e.source = v, kmsg.ConfigSourceDynamicTopicConfig
		}
		out = append(out, e)
	}
	return out
}

// brokerConfigs is the short, read-only list DescribeConfigs returns for
// the broker resource.
func (b *Broker) brokerConfigs() []configEntry {
	static := func(name, value string, typ kmsg.ConfigType) configEntry {
		return configEntry{name: name, value: value, typ: typ, source: kmsg.ConfigSourceStaticBrokerConfig, readOnly: true}
	}
	out := []configEntry{
		static("auto.create.topics.enable", strconv.FormatBool(b.cfg.AutoCreateTopics), kmsg.ConfigTypeBoolean),
		static("default.replication.factor", "1", kmsg.ConfigTypeInt),
		static("log.retention.bytes", strconv.Itoa(defaultRetentionBytes), kmsg.ConfigTypeLong),
		static("log.retention.ms", strconv.FormatInt(int64(defaultRetentionMs), 10), kmsg.ConfigTypeLong),
		static("log.roll.ms", strconv.FormatInt(b.cfg.SegmentMs.Milliseconds(), 10), kmsg.ConfigTypeLong),
		static("log.segment.bytes", strconv.FormatInt(b.cfg.SegmentBytes, 10), kmsg.ConfigTypeInt),
		static("message.max.bytes", strconv.Itoa(defaultMaxMessageBytes), kmsg.ConfigTypeInt),
		static("node.id", strconv.Itoa(int(b.nodeID)), kmsg.ConfigTypeInt),
		static("num.partitions", strconv.Itoa(int(b.cfg.DefaultPartitions)), kmsg.ConfigTypeInt),
	}
	slices.SortFunc(out, func(x, y configEntry) int { return strings.Compare(x.name, y.name) })
	return out
}

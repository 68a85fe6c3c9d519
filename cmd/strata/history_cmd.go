package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/strata-io/strata/broker"
	"github.com/strata-io/strata/history"
	"github.com/strata-io/strata/objectstore"
	"github.com/strata-io/strata/tiering"
)

// This file holds what strata export and strata replay share: the flags
// that select a topic's history in a bucket, and the plan of what to read.

// historyRangeUsage describes the range flags, for the commands' usage.
const historyRangeUsage = `Records are taken from the bucket alone: records the broker has not yet
uploaded are not there. The range is [--from-offset, --to-offset) and
[--from-time, --to-time): both ends of each are optional, a start is
inclusive and an end exclusive, and a record must be in both. Times are
RFC 3339 (2026-01-02T15:04:05Z); segments are chosen by their min and max
timestamps, then every record is checked.`

// historyFlags are the flags that select what to read.
type historyFlags struct {
	bucket, topic, partitions string
	fromOffset, toOffset      int64
	fromTime, toTime          string
}

func addHistoryFlags(fs *flag.FlagSet) *historyFlags {
	f := new(historyFlags)
	fs.StringVar(&f.bucket, "bucket", "", bucketFlagUsage)
	fs.StringVar(&f.topic, "topic", "", "`name` of the topic, as the bucket's topic metadata records it, or its ID in hex (required)")
	fs.StringVar(&f.partitions, "partitions", "", "comma-separated `list` of partitions (default all)")
	fs.Int64Var(&f.fromOffset, "from-offset", -1, "first `offset` to take; -1 is the partition's log start")
	fs.Int64Var(&f.toOffset, "to-offset", -1, "`offset` to stop before; -1 is the end of what is in the bucket")
	fs.StringVar(&f.fromTime, "from-time", "", "first `timestamp` to take, RFC 3339")
	fs.StringVar(&f.toTime, "to-time", "", "`timestamp` to stop before, RFC 3339")
	return f
}

// historySource is what the history flags select.
type historySource struct {
	b          objectstore.Bucket
	topic      broker.BucketTopic
	partitions []int32
	r          history.Range
}

// open checks the flags, opens the bucket and finds the topic. Bad flags
// are usage errors; an unknown topic or partition is not.
func (f *historyFlags) open(ctx context.Context) (*historySource, error) {
	r, err := f.rangeOf()
	if err != nil {
		return nil, err
	}
	if f.topic == "" {
		return nil, usageErrorf("--topic is required")
	}
	rawURL, err := bucketFlag(f.bucket)
	if err != nil {
		return nil, err
	}
	wanted, err := parsePartitionList(f.partitions)
	if err != nil {
		return nil, err
	}
	b, err := openBucketForReading(ctx, rawURL)
	if err != nil {
		return nil, err
	}
	t, err := lookupTopic(ctx, b, f.topic)
	if err != nil {
		return nil, err
	}
	s := &historySource{b: b, topic: t, r: r, partitions: wanted}
	if wanted == nil {
		for p := range t.Partitions {
			s.partitions = append(s.partitions, p)
		}
	}
	for _, p := range s.partitions {
		if p >= t.Partitions {
			return nil, fmt.Errorf("topic %s has %d partitions, no partition %d", t.Name, t.Partitions, p)
		}
	}
	return s, nil
}

// rangeOf returns the range the flags select.
func (f *historyFlags) rangeOf() (history.Range, error) {
	r := history.All()
	if f.fromOffset >= 0 {
		r.FromOffset = f.fromOffset
	}
	if f.toOffset >= 0 {
		r.ToOffset = f.toOffset
	}
	for _, t := range []struct {
		flag, value string
		ms          *int64
	}{{"--from-time", f.fromTime, &r.FromTime}, {"--to-time", f.toTime, &r.ToTime}} {
		if t.value == "" {
			continue
		}
		ts, err := time.Parse(time.RFC3339Nano, t.value)
		if err != nil {
			return r, usageErrorf("%s: %v", t.flag, err)
		}
		*t.ms = ts.UnixMilli()
	}
	switch {
	case f.fromOffset < -1 || f.toOffset < -1:
		return r, usageErrorf("offsets are from 0 up (or -1 for no bound)")
	case f.fromOffset >= 0 && f.fromTime != "":
		return r, usageErrorf("give --from-offset or --from-time, not both")
	case f.toOffset >= 0 && f.toTime != "":
		return r, usageErrorf("give --to-offset or --to-time, not both")
	case r.ToOffset < r.FromOffset:
		return r, usageErrorf("--to-offset %d is below --from-offset %d", r.ToOffset, r.FromOffset)
	case r.ToTime < r.FromTime:
		return r, usageErrorf("--to-time is before --from-time")
	}
	return r, nil
}

// parsePartitionList parses "0,1,5" into sorted, distinct partitions; ""
// means all (nil).
func parsePartitionList(s string) ([]int32, error) {
	if s == "" {
		return nil, nil
	}
	var out []int32
	for field := range strings.SplitSeq(s, ",") {
		p, err := parsePartition(strings.TrimSpace(field))
		if err != nil {
			return nil, &usageError{err: fmt.Errorf("--partitions: %w", err)}
		}
		out = append(out, p)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// lookupTopic returns the topic the bucket's metadata records under the
// name topic, or with topic as its ID in hex.
func lookupTopic(ctx context.Context, b objectstore.Bucket, topic string) (broker.BucketTopic, error) {
	topics, err := broker.BucketTopics(ctx, b)
	if err != nil {
		return broker.BucketTopic{}, err
	}
	id, idErr := parseTopicID(topic)
	for _, t := range topics {
		if t.Name == topic || (idErr == nil && t.ID == id) {
			return t, nil
		}
	}
	return broker.BucketTopic{}, &unknownTopicError{topic: topic, topics: topics}
}

// unknownTopicError reports a topic the bucket's metadata does not name.
type unknownTopicError struct {
	topic  string
	topics []broker.BucketTopic
}

func (e *unknownTopicError) Error() string {
	names := make([]string, 0, len(e.topics))
	for _, t := range e.topics {
		names = append(names, t.Name)
	}
	slices.Sort(names)
	return fmt.Sprintf("no topic named %q in the bucket (it has: %s)", e.topic, strings.Join(names, ", "))
}

// historyPlan is what a command will read: per partition, the segments
// that may hold records in the range.
type historyPlan struct {
	parts    []*history.Partition
	entries  [][]tiering.Entry // by index into parts
	bytes    int64             // of the entries' objects
	segments int
	// unuploaded are the partitions without a manifest: they have never
	// uploaded a segment, so the bucket holds none of their records.
	unuploaded []int32
}

// note prints to w which partitions have nothing in the bucket, if any.
func (pl *historyPlan) note(w io.Writer) {
	if len(pl.unuploaded) > 0 {
		fmt.Fprintf(w, "note: partitions %v have no manifest in the bucket (they never uploaded a segment); they have no history\n", pl.unuploaded)
	}
}

// plan opens every selected partition and lists its segments in the
// range, keeping those keep accepts (nil keeps all).
func (s *historySource) plan(ctx context.Context, keep func(partition int32, e tiering.Entry) bool) (*historyPlan, error) {
	pl := &historyPlan{}
	for _, p := range s.partitions {
		part, err := history.OpenPartition(ctx, s.b, s.topic.ID, p)
		if err != nil {
			return nil, err
		}
		if !part.HasManifest() {
			pl.unuploaded = append(pl.unuploaded, p)
		}
		var entries []tiering.Entry
		for e, err := range part.Entries(ctx, s.r) {
			if err != nil {
				return nil, err
			}
			if keep == nil || keep(p, e) {
				entries = append(entries, e)
				pl.bytes += e.SizeBytes
			}
		}
		pl.parts = append(pl.parts, part)
		pl.entries = append(pl.entries, entries)
		pl.segments += len(entries)
	}
	return pl, nil
}

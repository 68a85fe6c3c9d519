package bench

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/strata-io/strata/broker"
	"github.com/strata-io/strata/objectstore/dir"
	"github.com/strata-io/strata/objectstore/mem"
	"github.com/strata-io/strata/tiering"
)

// Workload of issue 6's start-up benchmark: a bucket whose manifests hold
// 10⁵ segments, over startupPartitions partitions of one topic.
const (
	startupSegments   = 100_000
	startupPartitions = 100
)

// BenchmarkStartupFromBucket reports how long a broker takes to open (and
// be ready to serve) on a bucket holding 10⁵ segments: once on an empty
// data directory, which rebuilds every topic from the bucket, and once
// restarted on the data directory that made. The manifests are real (built
// with tiering.Writer); the segment objects they name are not written,
// since opening a broker reads manifests, not segments.
func BenchmarkStartupFromBucket(b *testing.B) {
	ctx := context.Background()
	bucketDir := b.TempDir()
	buildStartupBucket(ctx, b, bucketDir)
	bucketURL := (&url.URL{Scheme: "file", Path: filepath.ToSlash(bucketDir)}).String()
	var rebuild, restart time.Duration
	for range b.N {
		dataDir := b.TempDir()
		for _, d := range []*time.Duration{&rebuild, &restart} {
			start := time.Now()
			br, err := broker.Open(ctx, broker.Config{
				Listen:  "127.0.0.1:0",
				DataDir: dataDir,
				Bucket:  bucketURL,
				Logger:  slog.New(slog.DiscardHandler),
			})
			if err != nil {
				b.Fatal(err)
			}
			*d += time.Since(start)
			if got := len(br.Partitions()); got != startupPartitions {
				b.Fatalf("%d partitions after open, want %d", got, startupPartitions)
			}
			if err := br.Close(); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(rebuild.Seconds()/float64(b.N), "rebuild_open_s")
	b.ReportMetric(restart.Seconds()/float64(b.N), "restart_open_s")
}

// buildStartupBucket writes into a dir bucket at root the topic metadata
// and manifests of startupSegments segments: built in memory with
// tiering.Writer, then copied.
func buildStartupBucket(ctx context.Context, b *testing.B, root string) {
	m := mem.New()
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		b.Fatal(err)
	}
	meta, err := json.Marshal(map[string]any{"version": 1, "name": "history", "id": fmt.Sprintf("%x", id), "partitions": startupPartitions,
		"configs": map[string]string{"retention.ms": "-1"}})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := m.Put(ctx, fmt.Sprintf("topics/%x/topic.json", id), meta); err != nil {
		b.Fatal(err)
	}
	const perPartition, records = startupSegments / startupPartitions, 1000
	for p := range int32(startupPartitions) {
		prefix := tiering.PartitionPrefix(id, p)
		w, err := tiering.Acquire(ctx, m, prefix, tiering.WriterConfig{})
		if err != nil {
			b.Fatal(err)
		}
		for i := range int64(perPartition) {
			base := i * records
			key := tiering.SegmentKey(prefix, base, base+records, w.Epoch())
			e := tiering.Entry{Key: key[len(prefix):], BaseOffset: base, EndOffset: base + records, SizeBytes: 1 << 20,
				MinTimestamp: base, MaxTimestamp: base + records - 1, Epoch: w.Epoch(), Records: records}
			if err := w.Append(ctx, e); err != nil {
				b.Fatal(err)
			}
		}
	}
	d, err := dir.Open(root)
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for info, err := range m.List(ctx, "") {
		if err != nil {
			b.Fatal(err)
		}
		body, _, err := m.Get(ctx, info.Key)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := d.Put(ctx, info.Key, body); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.Logf("bucket: %d segments in the manifests of %d partitions, %d objects (heads, chunks, topic.json)", startupSegments, startupPartitions, n)
}

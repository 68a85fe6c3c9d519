package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/strata-io/strata/broker"
	"github.com/strata-io/strata/history"
	"github.com/strata-io/strata/internal/miniotest"
)

// BenchmarkHistoryFromMinIO measures issue 5's operator commands on the
// catch-up workload (256 MiB of 1 KiB records, 4 partitions, 8 MiB
// segments, all in MinIO): the strata binary exporting the topic to
// Parquet and to Arrow IPC files, and replaying it into a second,
// untiered Strata broker, each against plain whole-object GETs of the same
// segment objects in the same run. Every rate is of the segment objects'
// bytes.
func BenchmarkHistoryFromMinIO(b *testing.B) {
	mc := miniotest.Start(b)
	mc.Setenv(b)
	bin := buildStrata(b)
	for i := range b.N {
		runHistory(b, mc, bin, fmt.Sprintf("history-%d-%d", i, time.Now().UnixNano()))
	}
}

// buildStrata builds the strata binary into a temporary directory.
func buildStrata(b *testing.B) string {
	bin := filepath.Join(b.TempDir(), "strata")
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, "github.com/strata-io/strata/cmd/strata")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func runHistory(b *testing.B, mc *miniotest.Server, bin, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	bucketURL := mc.BucketURL("s3", mc.Bucket, prefix)

	br, stop := openCatchUpBroker(ctx, b, b.TempDir(), bucketURL)
	createCatchUpTopic(ctx, b, br.Addr(), catchUpTopic, "0")
	produceCatchUp(ctx, b, br.Addr(), catchUpTopic)
	for !allRemote(br.Partitions()) {
		if ctx.Err() != nil {
			b.Fatalf("not everything uploaded: %v", tierStates(br.Partitions()))
		}
		time.Sleep(50 * time.Millisecond) // polling the broker's state, bounded by ctx
	}
	stop()

	bkt, keys, objBytes := segmentObjects(ctx, b, bucketURL)
	rawGets := func() time.Duration {
		start := time.Now()
		for _, k := range keys {
			if _, _, err := bkt.Get(ctx, k.Key); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(start)
	}
	strata := func(args ...string) time.Duration {
		cmd := exec.CommandContext(ctx, bin, args...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		start := time.Now()
		out, err := cmd.Output()
		d := time.Since(start)
		if err != nil {
			b.Fatalf("strata %s: %v\n%s%s", args[0], err, out, stderr.String())
		}
		b.Logf("strata %s: %s", args[0], strings.TrimSpace(string(out)))
		return d
	}
	exportTo := func(format string) time.Duration {
		out := b.TempDir()
		d := strata("export", "--bucket", bucketURL, "--topic", catchUpTopic, "--format", format, "--out", out)
		var size int64
		_ = filepath.Walk(out, func(_ string, fi os.FileInfo, err error) error {
			if err == nil && !fi.IsDir() {
				size += fi.Size()
			}
			return err
		})
		b.Logf("%s files: %.1f MiB", format, float64(size)/(1<<20))
		return d
	}

	// The history package alone, in process: fetch, verify and decode
	// every record, one partition after another, writing nothing.
	readHistory := func() time.Duration {
		topics, err := broker.BucketTopics(ctx, bkt)
		if err != nil || len(topics) != 1 {
			b.Fatalf("topics in the bucket: %v, %v", topics, err)
		}
		start := time.Now()
		var n int
		for p := range topics[0].Partitions {
			part, err := history.OpenPartition(ctx, bkt, topics[0].ID, p)
			if err != nil {
				b.Fatal(err)
			}
			for seg, err := range part.Segments(ctx, history.All(), 1) {
				if err != nil {
					b.Fatal(err)
				}
				n += len(seg.Records)
			}
		}
		if n != catchUpRecords {
			b.Fatalf("history read %d records, want %d", n, catchUpRecords)
		}
		return time.Since(start)
	}

	seq1 := rawGets()
	readTime := readHistory()
	parquetTime := exportTo("parquet")
	arrowTime := exportTo("arrow")
	target, tstop := openCatchUpBroker(ctx, b, b.TempDir(), "")
	replayTime := strata("replay", "--bucket", bucketURL, "--topic", catchUpTopic, "--to", target.Addr())
	tstop()
	seq2 := rawGets()

	mb := func(d time.Duration) float64 { return float64(objBytes) / 1e6 / d.Seconds() }
	raw := mb(min(seq1, seq2))
	b.ReportMetric(raw, "rawget_seq_MB/s")
	b.ReportMetric(mb(readTime), "history_read_MB/s")
	b.ReportMetric(mb(parquetTime), "export_parquet_MB/s")
	b.ReportMetric(mb(arrowTime), "export_arrow_MB/s")
	b.ReportMetric(mb(replayTime), "replay_MB/s")
	b.ReportMetric(mb(parquetTime)/raw, "export_parquet/rawseq")
	b.ReportMetric(mb(replayTime)/raw, "replay/rawseq")
	b.Logf("%d segment objects, %.1f MiB; plain sequential GETs %v and %v; history read and decode %v; export parquet %v, arrow %v; replay into an untiered broker %v",
		len(keys), float64(objBytes)/(1<<20), seq1.Round(time.Millisecond), seq2.Round(time.Millisecond), readTime.Round(time.Millisecond),
		parquetTime.Round(time.Millisecond), arrowTime.Round(time.Millisecond), replayTime.Round(time.Millisecond))
}

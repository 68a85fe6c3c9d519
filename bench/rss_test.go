package bench

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

const rssPartitions = 1000

// BenchmarkRSS1000Partitions reports the resident memory of a `strata
// serve` process (the embedded default: tiering to a local directory) with
// no topic, and then with one topic of 1,000 partitions that each hold a
// record, read from /proc. The broker runs as a child process so that the
// benchmark's own client does not count.
func BenchmarkRSS1000Partitions(b *testing.B) {
	bin := goBuild(b, b.TempDir(), "strata", "./cmd/strata")
	for range b.N {
		runRSS(b, bin)
	}
}

func runRSS(b *testing.B, bin string) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	kafka, _, cmd := startStrataChild(b, bin)
	idle := rss(b, cmd.Process.Pid)

	cl, err := kgo.NewClient(kgo.SeedBrokers(kafka), kgo.DefaultProduceTopic("wide"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	if resp, err := kadm.NewClient(cl).CreateTopic(ctx, rssPartitions, -1, nil, "wide"); err != nil || resp.Err != nil {
		b.Fatalf("create topic: %v %v", err, resp.Err)
	}
	value := make([]byte, 1<<10)
	for p := range int32(rssPartitions) {
		cl.Produce(ctx, &kgo.Record{Partition: p, Value: value}, nil)
	}
	if err := cl.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	wide := rss(b, cmd.Process.Pid)
	b.ReportMetric(float64(idle)/(1<<20), "rss_idle_MiB")
	b.ReportMetric(float64(wide)/(1<<20), "rss_1000p_MiB")
	b.ReportMetric(float64(wide-idle)/rssPartitions/(1<<10), "KiB/partition")
}

// rss returns the resident set size of process pid.
func rss(b *testing.B, pid int) int64 {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb int64
			if _, err := fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(v), " kB"), &kb); err != nil {
				b.Fatal(err)
			}
			return kb << 10
		}
	}
	b.Fatal("no VmRSS")
	return 0
}

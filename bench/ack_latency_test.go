package bench

import (
	"bufio"
	"context"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kgo"

	dto "github.com/prometheus/client_model/go"
)

// Issue 2's ack latency at 50 MB/s with each broker in a process of its own,
// as it runs in production: in BenchmarkProduceConsume the broker shares one
// Go runtime (scheduler, garbage collector) with the producer and the
// tailing consumer, and the tail of every latency there, kfake's included,
// is mostly theirs. Here `strata serve` (built from this tree, --fsync
// always) and kfake (bench/internal/kfakeserver) each run as a child
// process, one after the other, driven by the same producer: 200 MiB at
// full speed first (so that Strata's write-ahead log has been checkpointed
// and recycles its files, as it does in steady state), then 8 s at 50 MB/s
// of 1 KiB records, acks=all, linger 0, over 8 partitions.
const (
	childWarmRecords = 200_000
	childPaceFor     = 8 * time.Second
	childTopic       = "paced"
)

func BenchmarkAckLatencyChildProcesses(b *testing.B) {
	dir := b.TempDir()
	strataBin := goBuild(b, dir, "strata", "./cmd/strata")
	kfakeBin := goBuild(b, dir, "kfakeserver", "./bench/internal/kfakeserver")
	b.Run("strata", func(b *testing.B) {
		for range b.N {
			// No segment fills up (128 MiB) in the run, so nothing is
			// uploaded to the default bucket: this is the local log.
			addr, httpAddr, _ := startStrataChild(b, strataBin, "--default-partitions", "8", "--fsync", "always")
			reportPacedAcks(b, addr, httpAddr)
		}
	})
	b.Run("kfake", func(b *testing.B) {
		for range b.N {
			addr := startKfakeChild(b, kfakeBin)
			reportPacedAcks(b, addr, "")
		}
	})
}

// goBuild builds the package at pkg (relative to the module root) into
// dir/name.
func goBuild(b *testing.B, dir, name, pkg string) string {
	b.Helper()
	out := filepath.Join(dir, name)
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", out, pkg)
	cmd.Dir = ".."
	if msg, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go build %s: %v\n%s", pkg, err, msg)
	}
	return out
}

// freeAddr returns a loopback address with a port that was free just now.
func freeAddr(b *testing.B) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startStrataChild runs `strata serve` with its defaults (a local directory
// as its bucket) on a fresh data directory, waits for /readyz and returns
// its Kafka and HTTP addresses. The process is interrupted and waited for
// when b ends.
func startStrataChild(b *testing.B, bin string, args ...string) (kafka, httpAddr string, cmd *exec.Cmd) {
	b.Helper()
	kafka, httpAddr = freeAddr(b), freeAddr(b)
	cmd = exec.Command(bin, append([]string{"serve", "--listen", kafka, "--http-listen", httpAddr,
		"--data-dir", b.TempDir(), "--log-level", "warn"}, args...)...)
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := http.Get("http://" + httpAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return kafka, httpAddr, cmd
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("strata serve not ready within a minute: %v", err)
		}
		time.Sleep(20 * time.Millisecond) // polling a child's readiness, bounded by the deadline
	}
}

// startKfakeChild runs kfakeserver and reads the address it prints.
func startKfakeChild(b *testing.B, bin string) string {
	b.Helper()
	cmd := exec.Command(bin, childTopic)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatalf("kfakeserver printed no address: %v", err)
	}
	return strings.TrimSpace(line)
}

// reportPacedAcks runs the warm-up and the paced phase against addr and
// reports the ack latency percentiles of the paced phase, as the producer
// sees them. With a Strata broker's HTTP address it also reports, from the
// broker's own histograms over the paced phase, the p99 of its Produce
// requests (from reading one to writing its answer) and of its WAL
// fdatasyncs: the histograms' bucket bounds, so upper bounds within 2x.
func reportPacedAcks(b *testing.B, addr, httpAddr string) {
	b.Helper()
	ctx := context.Background()
	// The producer of BenchmarkProduceConsume.
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ProducerLinger(0), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.DefaultProduceTopic(childTopic), kgo.AllowAutoTopicCreation(),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.ProducerBatchMaxBytes(1<<20))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	var wg sync.WaitGroup
	var failed error
	var mu sync.Mutex
	done := func(_ *kgo.Record, err error) {
		if err != nil {
			mu.Lock()
			failed = err
			mu.Unlock()
		}
		wg.Done()
	}
	for i := range childWarmRecords {
		wg.Add(1)
		cl.Produce(ctx, &kgo.Record{Value: payload(i)}, done)
	}
	wg.Wait()
	var before map[string]*dto.MetricFamily
	if httpAddr != "" {
		before = scrape(b, httpAddr)
	}
	n := int(float64(paceRate) * childPaceFor.Seconds() / recordSize)
	interval := time.Second * recordSize / paceRate
	acks := newLatencies(n)
	start := time.Now()
	for i := range n {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d) // pacing the load, not synchronisation
		}
		sent := time.Now()
		wg.Add(1)
		cl.Produce(ctx, &kgo.Record{Value: payload(i)}, func(r *kgo.Record, err error) {
			acks.add(time.Since(sent))
			done(r, err)
		})
	}
	wg.Wait()
	if failed != nil {
		b.Fatal(failed)
	}
	b.ReportMetric(acks.pct(50), "ack50MBs_p50_ms")
	b.ReportMetric(acks.pct(99), "ack50MBs_p99_ms")
	b.ReportMetric(acks.pct(99.9), "ack50MBs_p999_ms")
	if httpAddr != "" {
		after := scrape(b, httpAddr)
		b.ReportMetric(histogramP99(b, before, after, "strata_request_duration_seconds", "Produce"), "broker_produce_p99_ms")
		b.ReportMetric(histogramP99(b, before, after, "strata_wal_fsync_seconds", ""), "broker_fsync_p99_ms")
	}
	b.Logf("%s: %d paced records, ack p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms", b.Name(), n, acks.pct(50), acks.pct(99), acks.pct(99.9))
}

// scrape reads a Strata broker's /metrics.
func scrape(b *testing.B, httpAddr string) map[string]*dto.MetricFamily {
	b.Helper()
	resp, err := http.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		b.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// histogramP99 returns, in milliseconds, the upper bound of the bucket that
// holds the 99th percentile of what histogram name (the series with
// api="<api>", if api is set) observed between the scrapes before and
// after.
func histogramP99(b *testing.B, before, after map[string]*dto.MetricFamily, name, api string) float64 {
	b.Helper()
	buckets := func(fams map[string]*dto.MetricFamily) []*dto.Bucket {
		f := fams[name]
		if f == nil {
			b.Fatalf("the broker exports no %s", name)
		}
		for _, m := range f.GetMetric() {
			if api == "" || slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool { return l.GetName() == "api" && l.GetValue() == api }) {
				return m.GetHistogram().GetBucket()
			}
		}
		b.Fatalf("no %s series for %q", name, api)
		return nil
	}
	b0, b1 := buckets(before), buckets(after)
	total := float64(b1[len(b1)-1].GetCumulativeCount() - b0[len(b0)-1].GetCumulativeCount())
	for i := range b1 {
		if float64(b1[i].GetCumulativeCount()-b0[i].GetCumulativeCount()) >= 0.99*total {
			return b1[i].GetUpperBound() * 1000
		}
	}
	return math.Inf(1)
}

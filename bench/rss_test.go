package bench

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
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
	bin := filepath.Join(b.TempDir(), "strata")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/strata-io/strata/cmd/strata").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	for range b.N {
		runRSS(b, bin)
	}
}

func runRSS(b *testing.B, bin string) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	kafka, httpAddr := freeAddr(b), freeAddr(b)
	cmd := exec.CommandContext(ctx, bin, "serve", "--listen", kafka, "--http-listen", httpAddr, "--data-dir", b.TempDir(), "--log-level", "warn")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	}()
	for {
		resp, err := http.Get("http://" + httpAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if ctx.Err() != nil {
			b.Fatal("broker not ready")
		}
		time.Sleep(20 * time.Millisecond) // polling the child's readiness, bounded by ctx
	}
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

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
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

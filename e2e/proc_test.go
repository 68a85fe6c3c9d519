package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	readyTimeout     = 30 * time.Second // start to GET /readyz 200, recovery included
	stopTimeout      = 10 * time.Second // SIGTERM to exit
	pollInterval     = 20 * time.Millisecond
	maxStartAttempts = 5 // a free port can be taken by someone else before the child binds it
	logTailBytes     = 64 << 10
)

// proc is one running `strata serve` child.
type proc struct {
	kafkaAddr string // host:port of the Kafka listener
	httpAddr  string // host:port of the HTTP endpoints
	logPath   string // the child's stdout and stderr

	cmd  *exec.Cmd
	done chan struct{} // closed once cmd.Wait has returned
	mu   sync.Mutex    // guards below
	werr error         // cmd.Wait's result
}

// startBroker starts `strata serve` on dataDir with free loopback ports and
// returns once GET /readyz answers 200. extraArgs go after the generated
// flags, so they may override them. The child is killed, if still running,
// when the test ends; its log is printed if the test failed.
func startBroker(t testing.TB, dataDir string, extraArgs ...string) *proc {
	t.Helper()
	return startBrokerEnv(t, dataDir, nil, extraArgs...)
}

// startBrokerEnv is startBroker with env added to the child's environment
// (childEnv drops STRATA_* settings, so a failpoint must come this way).
func startBrokerEnv(t testing.TB, dataDir string, env []string, extraArgs ...string) *proc {
	t.Helper()
	return startBrokerWith(t, dataDir, env, nil, extraArgs)
}

// startBrokerListening is startBroker with the Kafka listener flags made
// by listenArgs from the free loopback address picked for the child (in
// place of --listen addr), e.g. a --listeners list.
func startBrokerListening(t testing.TB, dataDir string, listenArgs func(kafkaAddr string) []string, extraArgs ...string) *proc {
	t.Helper()
	return startBrokerWith(t, dataDir, nil, listenArgs, extraArgs)
}

func startBrokerWith(t testing.TB, dataDir string, env []string, listenArgs func(string) []string, extraArgs []string) *proc {
	t.Helper()
	bin := strataBinary(t)
	var lastErr error
	for attempt := 1; attempt <= maxStartAttempts; attempt++ {
		p, err := tryStartBroker(t, bin, dataDir, attempt, env, listenArgs, extraArgs)
		if err == nil {
			return p
		}
		lastErr = err
		if !errors.Is(err, errPortTaken) {
			break
		}
		t.Logf("start attempt %d: %v; retrying with other ports", attempt, err)
	}
	t.Fatalf("start strata serve: %v", lastErr)
	return nil
}

var errPortTaken = errors.New("port taken")

func tryStartBroker(t testing.TB, bin, dataDir string, attempt int, env []string, listenArgs func(string) []string, extraArgs []string) (*proc, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	p := &proc{
		kafkaAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0])),
		httpAddr:  net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1])),
		logPath:   filepath.Join(t.TempDir(), fmt.Sprintf("strata-%d.log", attempt)),
		done:      make(chan struct{}),
	}
	logFile, err := os.Create(p.logPath)
	if err != nil {
		return nil, err
	}
	if listenArgs == nil {
		listenArgs = func(addr string) []string { return []string{"--listen", addr} }
	}
	args := append([]string{"serve"}, listenArgs(p.kafkaAddr)...)
	args = append(args, "--http-listen", p.httpAddr, "--data-dir", dataDir)
	args = append(args, extraArgs...)
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(childEnv(), env...)
	dieWithParent(p.cmd)
	p.cmd.Stdout = logFile
	p.cmd.Stderr = logFile
	if err := p.cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	go func() {
		err := p.cmd.Wait()
		logFile.Close()
		p.mu.Lock()
		p.werr = err
		p.mu.Unlock()
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.exited() {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s %s (log %s):\n%s", bin, strings.Join(args, " "), p.logPath, p.logTail())
		}
	})

	if err := p.waitReady(); err != nil {
		if p.exited() && strings.Contains(p.logTail(), "address already in use") {
			return nil, fmt.Errorf("%w: %v", errPortTaken, err)
		}
		return nil, err
	}
	return p, nil
}

// waitReady polls GET /readyz until it answers 200, the child exits or
// readyTimeout passes.
func (p *proc) waitReady() error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.NewTimer(readyTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	var last string
	for {
		resp, err := client.Get("http://" + p.httpAddr + "/readyz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-p.done:
			return fmt.Errorf("strata serve exited before ready: %v", p.waitErr())
		case <-deadline.C:
			return fmt.Errorf("GET /readyz not 200 within %v; last: %s", readyTimeout, last)
		case <-tick.C:
		}
	}
}

// stop sends SIGTERM and asserts a clean exit (status 0) within stopTimeout.
func (p *proc) stop(t testing.TB) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM strata serve: %v", err)
	}
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("strata serve did not exit within %v of SIGTERM", stopTimeout)
	}
	if err := p.waitErr(); err != nil {
		t.Fatalf("strata serve after SIGTERM: %v (want exit status 0)", err)
	}
}

// kill sends SIGKILL and waits for the child to be gone.
func (p *proc) kill(t testing.TB) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatalf("SIGKILL strata serve: %v", err)
	}
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		t.Fatalf("strata serve still running %v after SIGKILL", stopTimeout)
	}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) waitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.werr
}

// logTail returns the last logTailBytes of the child's log.
func (p *proc) logTail() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	if len(b) > logTailBytes {
		b = append([]byte("…\n"), b[len(b)-logTailBytes:]...)
	}
	return string(b)
}

// partitionStatus is one element of GET /v1/partitions.
type partitionStatus struct {
	Topic          string `json:"topic"`
	Partition      int32  `json:"partition"`
	LogStartOffset int64  `json:"logStartOffset"`
	HighWatermark  int64  `json:"highWatermark"`
	LogEndOffset   int64  `json:"logEndOffset"`
}

// partitions returns GET /v1/partitions for topic, indexed by partition. It
// fails the test if an element lacks one of the documented fields.
func (p *proc) partitions(t testing.TB, topic string) map[int32]partitionStatus {
	t.Helper()
	body := p.get(t, "/v1/partitions")
	var raw []map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatalf("GET /v1/partitions: not a JSON array of objects: %v\n%s", err, body)
	}
	out := make(map[int32]partitionStatus)
	for i, obj := range raw {
		for _, k := range []string{"topic", "partition", "logStartOffset", "highWatermark", "logEndOffset"} {
			if _, ok := obj[k]; !ok {
				t.Fatalf("GET /v1/partitions: element %d lacks %q:\n%s", i, k, body)
			}
		}
		var ps partitionStatus
		b, _ := json.Marshal(obj)
		if err := json.Unmarshal(b, &ps); err != nil {
			t.Fatalf("GET /v1/partitions: element %d: %v\n%s", i, err, body)
		}
		if ps.Topic != topic {
			continue
		}
		if _, dup := out[ps.Partition]; dup {
			t.Fatalf("GET /v1/partitions: %s/%d listed twice:\n%s", topic, ps.Partition, body)
		}
		out[ps.Partition] = ps
	}
	return out
}

// get returns the body of GET path on the HTTP listener, failing the test
// unless it answers 200.
func (p *proc) get(t testing.TB, path string) []byte {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + p.httpAddr + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", path, resp.Status, body)
	}
	return body
}

// freePorts returns n distinct loopback TCP ports that were free a moment
// ago. A child cannot be given port 0 and tell us what it bound, so the test
// picks ports itself and retries the start if one was taken meanwhile.
func freePorts(n int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("pick a free port: %w", err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// childEnv is the test's environment without STRATA_* settings, so that a
// developer's shell cannot change what the child runs with.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "STRATA_") {
			env = append(env, kv)
		}
	}
	return env
}

// requireTool skips the test (or fails it when CI=true) unless the external
// client name is installed. Known names: "kcat" and "kafka-python".
func requireTool(t testing.TB, name string) {
	t.Helper()
	var err error
	switch name {
	case "kcat":
		_, err = exec.LookPath("kcat")
	case "kafka-python":
		// Debian's python3-kafka serves /usr/bin/python3 only, not other
		// Pythons that may come first on PATH.
		out, cerr := exec.Command(systemPython, "-c", "import kafka").CombinedOutput()
		if cerr != nil {
			err = fmt.Errorf("%s -c 'import kafka': %v: %s", systemPython, cerr, strings.TrimSpace(string(out)))
		}
	default:
		t.Fatalf("requireTool: unknown tool %q", name)
	}
	if err == nil {
		return
	}
	const install = "install it with: apt-get install -y kcat python3-kafka (or run .ci/run)"
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is required in CI but missing (%v); %s", name, err, install)
	}
	t.Skipf("!!! SKIPPING: %s is not installed (%v); %s", name, err, install)
}

const systemPython = "/usr/bin/python3"

// newClient returns a franz-go client of p, closed when the test ends.
func newClient(t testing.TB, p *proc, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(p.kafkaAddr), kgo.ClientID("strata-e2e")}, opts...)...)
	if err != nil {
		t.Fatalf("kgo.NewClient: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// createTopic creates topic with n partitions through CreateTopics.
func createTopic(t testing.TB, ctx context.Context, p *proc, topic string, n int32) {
	t.Helper()
	adm := kadm.NewClient(newClient(t, p))
	resp, err := adm.CreateTopic(ctx, n, -1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("CreateTopics %s with %d partitions: %v", topic, n, err)
	}
}

// createTieredTopic creates topic with segments of segmentBytes that leave
// the local disk as soon as they are uploaded (local.retention.bytes=0), so
// that reads come from the bucket; extra adds or overrides configs.
func createTieredTopic(t testing.TB, ctx context.Context, p *proc, topic string, partitions int32, segmentBytes string, extra map[string]*string) {
	t.Helper()
	configs := map[string]*string{
		"segment.bytes":         kadm.StringPtr(segmentBytes),
		"local.retention.bytes": kadm.StringPtr("0"),
	}
	for k, v := range extra {
		configs[k] = v
	}
	resp, err := kadm.NewClient(newClient(t, p)).CreateTopic(ctx, partitions, -1, configs, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("CreateTopics %s: %v", topic, err)
	}
}

// offsets returns the earliest and latest offsets of every partition of
// topic through ListOffsets.
func offsets(t testing.TB, ctx context.Context, cl *kgo.Client, topic string) (start, end map[int32]int64) {
	t.Helper()
	adm := kadm.NewClient(cl)
	list := func(what string, f func(context.Context, ...string) (kadm.ListedOffsets, error)) map[int32]int64 {
		lo, err := f(ctx, topic)
		if err == nil {
			err = lo.Error()
		}
		if err != nil {
			t.Fatalf("ListOffsets %s of %s: %v", what, topic, err)
		}
		m := make(map[int32]int64)
		lo.Each(func(o kadm.ListedOffset) { m[o.Partition] = o.Offset })
		return m
	}
	return list("earliest", adm.ListStartOffsets), list("latest", adm.ListEndOffsets)
}

// consumeRange reads every partition of topic from offset 0 until it has
// seen the record before end[partition], and returns the records by
// partition in the order fetched. Any fetch error fails the test.
func consumeRange(t testing.TB, ctx context.Context, p *proc, topic string, end map[int32]int64) map[int32][]*kgo.Record {
	t.Helper()
	assign := make(map[int32]kgo.Offset)
	remaining := 0
	for part, e := range end {
		if e > 0 {
			assign[part] = kgo.NewOffset().At(0)
			remaining++
		}
	}
	out := make(map[int32][]*kgo.Record)
	reached := make(map[int32]bool)
	if remaining == 0 {
		return out
	}
	cl := newClient(t, p, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: assign}))
	for remaining > 0 {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			var progress []string
			for part, e := range end {
				progress = append(progress, fmt.Sprintf("p%d %d/%d", part, len(out[part]), e))
			}
			t.Fatalf("consume %s: %v before reaching the end offsets (records so far: %s)", topic, err, strings.Join(progress, ", "))
		}
		for _, fe := range fetches.Errors() {
			t.Fatalf("consume %s: fetch error on %s/%d: %v", topic, fe.Topic, fe.Partition, fe.Err)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			e := end[r.Partition]
			if r.Offset >= e {
				return // appended after end was taken; not ours to check
			}
			out[r.Partition] = append(out[r.Partition], r)
			if r.Offset == e-1 && !reached[r.Partition] {
				reached[r.Partition] = true
				remaining--
			}
		})
	}
	return out
}

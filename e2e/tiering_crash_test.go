package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-io/strata/internal/miniotest"
)

const (
	crashExitTimeout = 90 * time.Second // produce start to the failpoint's exit(137)
	uploadTimeout    = 90 * time.Second // restart to uploadLagBytes 0
)

// crashPoint is one case of the crash matrix: a failpoint (see
// internal/failpoint; name@n fires at its n-th hit) and whether the topic
// has remote retention on, so that the point is reached.
type crashPoint struct {
	at        string
	retention bool
}

// crashMatrix kills the broker at each step a record goes through, from
// the segment write to remote retention.
var crashMatrix = []crashPoint{
	{at: "segment-written@300"},          // mid-append: in the segment, not in the WAL
	{at: "wal-written@300"},              // appended, not fsynced
	{at: "wal-synced@300"},               // fsynced, not acknowledged
	{at: "sealed@3"},                     // a segment sealed, not uploaded
	{at: "after-put"},                    // mid-upload: stored, not verified
	{at: "after-verify"},                 // uploaded, not committed
	{at: "after-commit"},                 // committed, the local tier not told (nor its segment deleted)
	{at: "local-retention@2"},            // mid local deletion of an uploaded segment
	{at: "remote-trim", retention: true}, // the manifest trimmed, the objects not deleted
}

// TestKill9BetweenUploadSteps kills a child broker (exit 137, as kill -9
// would leave it) at each point of crashMatrix — mid-append, around the WAL
// fsync, after a seal, between the steps of an upload, mid-retention — on
// real MinIO, restarts it on the same data dir and bucket, and checks that
// every acked record at or above the log start reads back once, at its
// acked offset, that nothing is read twice, and that the bucket verifies.
func TestKill9BetweenUploadSteps(t *testing.T) {
	mc := miniotest.Start(t)
	for _, cp := range crashMatrix {
		t.Run(cp.at, func(t *testing.T) {
			testKill9BetweenUploadSteps(t, mc, cp)
		})
	}
}

func testKill9BetweenUploadSteps(t *testing.T, mc *miniotest.Server, cp crashPoint) {
	step, _, _ := strings.Cut(cp.at, "@")
	const (
		topic      = "crash"
		partitions = 2
	)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	dataDir := t.TempDir()
	bucketURL := mc.BucketURL("s3", mc.Bucket, "crash-"+step+"-"+strconv.FormatInt(time.Now().UnixNano(), 36))
	// segment.ms 2s seals the tail after the restart, so that every record
	// reaches the bucket and is read back from it.
	args := []string{"--bucket", bucketURL, "--segment-bytes", "64KiB", "--segment-ms", "2s"}

	p := startBrokerEnv(t, dataDir, append(mc.Env(), "STRATA_CRASH_AT="+cp.at), args...)
	var extra map[string]*string
	if cp.retention {
		// A few segments per partition: retention trims the oldest soon.
		extra = map[string]*string{"retention.bytes": kadm.StringPtr("200000")}
	}
	createTieredTopic(t, ctx, p, topic, partitions, "65536", extra)

	value := func(i int) []byte {
		return append(fmt.Appendf(nil, "%s-%09d|", step, i), bytes.Repeat([]byte{byte(i)}, 200+i%300)...)
	}
	valueIndex := func(v []byte) (int, bool) {
		head, _, ok := bytes.Cut(v, []byte("|"))
		if !ok || !bytes.HasPrefix(head, []byte(step+"-")) {
			return 0, false
		}
		i, err := strconv.Atoi(string(head[len(step)+1:]))
		return i, err == nil && bytes.Equal(v, value(i))
	}

	prod := newClient(t, p,
		kgo.RequiredAcks(kgo.AllISRAcks()), // idempotent: franz-go's default with acks=all
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.MaxBufferedRecords(2000),
		kgo.ProducerBatchMaxBytes(16<<10),
	)
	var (
		mu       sync.Mutex // guards acks
		acks     []ack
		nSent    atomic.Int64
		prodDone = make(chan struct{})
	)
	prodCtx, stopProducing := context.WithCancel(ctx)
	defer stopProducing()
	go func() {
		defer close(prodDone)
		for i := 0; prodCtx.Err() == nil; i++ {
			r := &kgo.Record{Topic: topic, Partition: int32(i % partitions), Value: value(i)}
			prod.Produce(prodCtx, r, func(r *kgo.Record, err error) {
				if err != nil {
					return // unacknowledged: may or may not be in the log
				}
				mu.Lock()
				acks = append(acks, ack{r.Partition, r.Offset, string(r.Value)})
				mu.Unlock()
			})
			nSent.Add(1)
		}
	}()

	// The failpoint fires at the first upload that reaches step; the
	// child must exit by itself with 137.
	select {
	case <-p.done:
	case <-time.After(crashExitTimeout):
		t.Fatalf("STRATA_CRASH_AT=%s: strata serve still running %v after producing began (%d records sent)", cp.at, crashExitTimeout, nSent.Load())
	}
	var exitErr *exec.ExitError
	if err := p.waitErr(); !errors.As(err, &exitErr) || exitErr.ExitCode() != 137 {
		t.Fatalf("STRATA_CRASH_AT=%s: strata serve exited with %v, want exit status 137", cp.at, err)
	}
	if !strings.Contains(p.logTail(), "crash failpoint reached") {
		t.Fatalf("STRATA_CRASH_AT=%s: exit 137 without the failpoint's log line", cp.at)
	}
	stopProducing()
	<-prodDone
	closed := make(chan struct{})
	go func() { prod.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Fatalf("franz-go producer did not close within 30s of the broker's death")
	}
	mu.Lock()
	acked := slices.Clone(acks)
	mu.Unlock()
	if len(acked) == 0 {
		t.Fatalf("no record was acked before the failpoint fired")
	}
	t.Logf("failpoint %s fired after %d acks of %d records sent", step, len(acked), nSent.Load())

	// Restart without the failpoint on the same data dir and bucket.
	p = startBrokerEnv(t, dataDir, mc.Env(), args...)
	if cp.retention {
		// Retention off again, so that the log start stays put while the
		// records are read back.
		rs, err := kadm.NewClient(newClient(t, p)).AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "retention.bytes", Value: kadm.StringPtr("-1")}}, topic)
		if err == nil {
			err = rs[0].Err
		}
		if err != nil {
			t.Fatalf("retention off after the restart: %v", err)
		}
	}
	st := waitUploaded(t, p, topic, partitions)
	for part := range int32(partitions) {
		t.Logf("after restart %s/%d: %+v", topic, part, st[part])
	}

	cl := newClient(t, p)
	start, end := offsets(t, ctx, cl, topic)
	got := consumeRange(t, ctx, p, topic, end)
	for part := range int32(partitions) {
		if start[part] != 0 && !cp.retention {
			t.Fatalf("partition %d: log start offset %d after restart, want 0", part, start[part])
		}
	}
	inLog := checkReadBack(t, topic, partitions, start, end, got, valueIndex, acked, "the crash at "+step)
	t.Logf("after restart the log holds %d records: %d acked, %d unacked; all read back once", inLog, len(acked), inLog-int64(len(acked)))

	// Orphans (an uploaded, uncommitted segment after after-put) are
	// allowed; problems are not.
	verifyBucket(t, ctx, mc, bucketURL, "the crash at "+step)
}

// verifyBucket runs strata bucket verify on bucketURL, failing the test on
// any problem (orphan objects are allowed), and logs its report.
func verifyBucket(t *testing.T, ctx context.Context, mc *miniotest.Server, bucketURL, after string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, strataBinary(t), "bucket", "verify", "--bucket", bucketURL)
	cmd.Env = append(childEnv(), mc.Env()...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("strata bucket verify after %s: %v\n%s", after, err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	for i, l := range lines[:len(lines)-1] {
		if i == 5 {
			t.Logf("strata bucket verify: … %d more lines", len(lines)-1-i)
			break
		}
		t.Logf("strata bucket verify: %s", l)
	}
	t.Logf("strata bucket verify: %s", lines[len(lines)-1])
}

// tierStatus is one element of GET /v1/partitions with its tiering fields.
type tierStatus struct {
	Topic           string `json:"topic"`
	Partition       int32  `json:"partition"`
	LogStartOffset  int64  `json:"logStartOffset"`
	HighWatermark   int64  `json:"highWatermark"`
	RemoteEndOffset *int64 `json:"remoteEndOffset"`
	LocalSegments   int    `json:"localSegments"`
	RemoteSegments  int    `json:"remoteSegments"`
	UploadLagBytes  int64  `json:"uploadLagBytes"`
}

func (s tierStatus) String() string {
	re := int64(-1)
	if s.RemoteEndOffset != nil {
		re = *s.RemoteEndOffset
	}
	return fmt.Sprintf("logStart %d hw %d remoteEnd %d local %d remote %d lag %dB",
		s.LogStartOffset, s.HighWatermark, re, s.LocalSegments, s.RemoteSegments, s.UploadLagBytes)
}

// tierPartitions returns GET /v1/partitions for topic, by partition.
func (p *proc) tierPartitions(topic string) (map[int32]tierStatus, error) {
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + p.httpAddr + "/v1/partitions")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", resp.Status, body)
	}
	var all []tierStatus
	if err := json.Unmarshal(body, &all); err != nil {
		return nil, fmt.Errorf("%v\n%s", err, body)
	}
	out := make(map[int32]tierStatus)
	for _, s := range all {
		if s.Topic == topic {
			out[s.Partition] = s
		}
	}
	return out, nil
}

// waitUploaded polls GET /v1/partitions until every partition of topic has
// uploadLagBytes 0 and remoteEndOffset equal to a highWatermark above 0 (so
// every record is read from the bucket), or fails after uploadTimeout.
func waitUploaded(t *testing.T, p *proc, topic string, partitions int32) map[int32]tierStatus {
	t.Helper()
	deadline := time.Now().Add(uploadTimeout)
	tick := time.NewTicker(pollInterval * 5)
	defer tick.Stop()
	var last string
	for {
		st, err := p.tierPartitions(topic)
		if err == nil {
			done := len(st) == int(partitions)
			var desc []string
			for part := range partitions {
				s, ok := st[part]
				if !ok || s.RemoteEndOffset == nil {
					done = false
					desc = append(desc, fmt.Sprintf("p%d: no tier status", part))
					continue
				}
				if s.UploadLagBytes != 0 || *s.RemoteEndOffset <= 0 || *s.RemoteEndOffset != s.HighWatermark {
					done = false
				}
				desc = append(desc, fmt.Sprintf("p%d: %v", part, s))
			}
			if done {
				return st
			}
			last = strings.Join(desc, "; ")
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not fully uploaded within %v of the restart; last /v1/partitions: %s", topic, uploadTimeout, last)
		}
		select {
		case <-p.done:
			t.Fatalf("strata serve exited while uploading: %v", p.waitErr())
		case <-tick.C:
		}
	}
}

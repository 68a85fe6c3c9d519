package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-io/strata/broker"
)

// replayTargets returns the addresses of two empty Kafka clusters to
// replay into: an in-process Strata broker without a bucket, and kfake.
func replayTargets(t *testing.T) map[string]string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return map[string]string{
		"strata": startTestBroker(t, broker.Config{}).Addr(),
		"kfake":  c.ListenAddrs()[0],
	}
}

// withoutOffsets returns recs with the offsets cleared, for comparing
// records replayed into another cluster, which assigns its own.
func withoutOffsets(recs []testRecord) []testRecord {
	out := make([]testRecord, len(recs))
	for i, r := range recs {
		r.Offset = 0
		out[i] = r
	}
	return out
}

func TestReplay(t *testing.T) {
	fx := newHistoryFixture(t)
	for name, addr := range replayTargets(t) {
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr := runCommand(t, "replay", "--bucket", fx.url, "--topic", historyTopic, "--to", addr)
			if code != exitOK {
				t.Fatalf("exit %d, stderr:\n%s", code, stderr)
			}
			if !strings.Contains(stdout, "replayed 600 records of topic events") {
				t.Errorf("stdout: %s", stdout)
			}
			// The source's offsets start at 0 and have no gaps, so the
			// target's must equal them.
			got := consumeAll(t, addr, historyTopic, historyRecords)
			if d := diffRecords(got, fx.records); d != "" {
				t.Error(d)
			}

			// --to-topic, a range and a subset of the partitions.
			code, _, stderr = runCommand(t, "replay", "--bucket", fx.url, "--topic", historyTopic, "--to", addr,
				"--to-topic", "copy", "--partitions", "2", "--from-offset", "50", "--to-offset", "120")
			if code != exitOK {
				t.Fatalf("--to-topic: exit %d, stderr:\n%s", code, stderr)
			}
			want := filter(fx.records, func(r testRecord) bool { return r.Partition == 2 && r.Offset >= 50 && r.Offset < 120 })
			if d := diffRecords(withoutOffsets(consumeAll(t, addr, "copy", len(want))), withoutOffsets(want)); d != "" {
				t.Error(d)
			}
		})
	}
}

// A replay interrupted after some records were acknowledged and run again
// with the same --resume file produces every record exactly once.
func TestReplayResume(t *testing.T) {
	fx := newHistoryFixture(t)
	for name, addr := range replayTargets(t) {
		t.Run(name, func(t *testing.T) {
			resume := filepath.Join(t.TempDir(), "resume.json")
			args := []string{"--bucket", fx.url, "--topic", historyTopic, "--to", addr, "--resume", resume}

			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			rp, err := parseReplay(args, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			// Few records in flight, so the interruption comes partway.
			rp.clientOpts = []kgo.Opt{kgo.MaxBufferedRecords(10)}
			const interruptAt = 150
			var acked atomic.Int64
			rp.afterAck = func(n int64) {
				acked.Store(n)
				if n == interruptAt {
					cancel()
				}
			}
			err = rp.run(ctx, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), "run again to go on from "+resume) {
				t.Fatalf("interrupted run returned %v", err)
			}
			first := acked.Load()
			if first < interruptAt || first >= historyRecords {
				t.Fatalf("the interrupted run acknowledged %d records; the test wants it stopped partway", first)
			}
			var saved resumeFile
			body, err := os.ReadFile(resume)
			if err == nil {
				err = json.Unmarshal(body, &saved)
			}
			if err != nil {
				t.Fatal(err)
			}
			var next int64
			for _, off := range saved.Next {
				next += off // offsets start at 0 without gaps: the sum counts the records
			}
			if next != first {
				t.Errorf("resume file %s says %d records done, %d were acknowledged", body, next, first)
			}

			code, stdout, stderr := runCommand(t, append([]string{"replay"}, args...)...)
			if code != exitOK {
				t.Fatalf("second run: exit %d, stderr:\n%s", code, stderr)
			}
			if !strings.Contains(stdout, "replayed "+strconv.FormatInt(historyRecords-first, 10)+" records") {
				t.Errorf("second run: %s; want %d records", stdout, historyRecords-first)
			}
			if d := diffRecords(consumeAll(t, addr, historyTopic, historyRecords), fx.records); d != "" {
				t.Error(d)
			}
		})
	}
}

func TestReplayErrors(t *testing.T) {
	fx := newHistoryFixture(t)
	targets := replayTargets(t)
	damaged, dir := fx.copyBucket(t)
	objs := segmentObjects(t, dir)
	if err := os.Remove(objs[0]); err != nil {
		t.Fatal(err)
	}
	key := strings.TrimPrefix(filepath.ToSlash(strings.TrimPrefix(objs[0], dir)), "/objects/")
	otherResume := filepath.Join(t.TempDir(), "resume.json")
	if err := os.WriteFile(otherResume, fmt.Appendf(nil, `{"version":1,"topic":"events","topicId":"%x","toTopic":"elsewhere","next":{"0":5}}`, fx.topicID(t)), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []failureCase{
		{"unknown topic", []string{"--bucket", fx.url, "--topic", "nope", "--to", targets["kfake"]}, exitError,
			[]string{`strata replay: no topic named "nope" in the bucket (it has: events)`}},
		{"missing segment object", []string{"--bucket", damaged, "--topic", historyTopic, "--to", targets["kfake"], "--to-topic", "damaged"}, exitError,
			[]string{"tiering: segment object missing", key}},
		{"resume file of another replay", []string{"--bucket", fx.url, "--topic", historyTopic, "--to", targets["kfake"], "--resume", otherResume}, exitUsage,
			[]string{"is for topic events (ID " + fmt.Sprintf("%x", fx.topicID(t)) + ") into elsewhere, not topic events"}},
		{"no --to", []string{"--bucket", fx.url, "--topic", historyTopic}, exitUsage, []string{"--to is required"}},
		{"no --bucket", []string{"--topic", historyTopic, "--to", "x:1"}, exitUsage, []string{"--bucket is required"}},
	}
	t.Setenv(bucketEnv, "")
	checkFailures(t, "replay", tests)
}

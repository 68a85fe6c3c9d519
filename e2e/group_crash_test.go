package e2e

import (
	"context"
	"errors"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/strata-io/strata/internal/miniotest"
)

// A broker killed in the middle of a consumer group's offset commit (saved
// locally, not yet answered nor in the bucket) comes back with the group's
// offset at the last one it acknowledged or the one it was committing, never
// older and never one nobody committed.
func TestKill9MidGroupCommit(t *testing.T) {
	const (
		topic = "groupcrash"
		group = "committers"
	)
	mc := miniotest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dataDir := t.TempDir()
	args := []string{"--bucket", mc.BucketURL("s3", mc.Bucket, "groupcrash-"+strconv.FormatInt(time.Now().UnixNano(), 36))}
	p := startBrokerEnv(t, dataDir, append(mc.Env(), "STRATA_CRASH_AT=group-commit@25"), args...)
	createTopic(t, ctx, p, topic, 1)
	adm := kadm.NewClient(newClient(t, p))
	var lastAcked, attempted int64 = -1, -1
	for i := int64(1); ; i++ {
		offs := kadm.Offsets{}
		offs.Add(kadm.Offset{Topic: topic, Partition: 0, At: i, LeaderEpoch: -1})
		attempted = i
		cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
		resp, err := adm.CommitOffsets(cctx, group, offs)
		ccancel()
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			break // the broker died under this commit
		}
		lastAcked = i
		if i > 1000 {
			t.Fatal("the failpoint never fired")
		}
	}
	select {
	case <-p.done:
	case <-time.After(crashExitTimeout):
		t.Fatal("broker still running after a failed commit")
	}
	var exitErr *exec.ExitError
	if err := p.waitErr(); !errors.As(err, &exitErr) || exitErr.ExitCode() != 137 {
		t.Fatalf("broker exited with %v, want the failpoint's 137", err)
	}

	p = startBrokerEnv(t, dataDir, mc.Env(), args...)
	got, err := kadm.NewClient(newClient(t, p)).FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	o, ok := got.Lookup(topic, 0)
	if !ok || o.At < lastAcked || o.At > attempted {
		t.Fatalf("after the crash the group's offset is %+v (found %v); acked up to %d, attempted %d", o.Offset, ok, lastAcked, attempted)
	}
	t.Logf("killed while committing %d (last acked %d); after the restart the offset is %d", attempted, lastAcked, o.At)
}

package broker

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/auth"

	"github.com/strata-io/strata/locallog"
)

// groupAPIs are the group coordinator's API keys.
var groupAPIs = map[kmsg.Key]bool{
	kmsg.OffsetCommit: true, kmsg.OffsetFetch: true, kmsg.FindCoordinator: true,
	kmsg.JoinGroup: true, kmsg.Heartbeat: true, kmsg.LeaveGroup: true, kmsg.SyncGroup: true,
	kmsg.DescribeGroups: true, kmsg.ListGroups: true, kmsg.DeleteGroups: true, kmsg.OffsetDelete: true,
}

// FuzzGroupRequests hands decodable group requests of any content to their
// handlers on one broker, in the order the fuzzer makes them: whatever the
// bytes, no handler panics and every answer encodes. Waiting answers are
// cut short as at shutdown.
func FuzzGroupRequests(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "requests", "*.bin"))
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	b, err := Open(context.Background(), Config{
		Listen:                 "127.0.0.1:0",
		DataDir:                f.TempDir(),
		Fsync:                  locallog.FsyncPolicy{Mode: locallog.FsyncNever},
		GroupMinSessionTimeout: time.Millisecond,
		Logger:                 slog.New(slog.DiscardHandler),
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = b.Close() })
	if _, err := b.createTopic(topicSpec{name: "sweep", partitions: 2}, false); err != nil {
		f.Fatal(err)
	}
	done, cancel := context.WithCancel(context.Background())
	cancel() // waiting answers return at once
	f.Fuzz(func(t *testing.T, data []byte) {
		ds, _ := decodeStream(bytes.NewReader(data))
		for _, d := range ds {
			if d.err != "" || !groupAPIs[kmsg.Key(d.hdr.key)] {
				continue
			}
			rc := &request{requestHeader: d.hdr, kreq: d.req, at: time.Now(), host: "/fuzz", listener: b.listeners[0], principal: auth.Anonymous, ctx: context.Background(), pollCtx: done}
			rep, err := lookupAPI(d.hdr.key).handle(b, rc)
			if err != nil {
				continue
			}
			resp := rep.resp
			if rep.finish != nil {
				resp = rep.finish()
			}
			_ = appendResponse(nil, d.hdr.corr, resp)
		}
	})
}

package e2e

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-io/strata/internal/miniotest"
)

// faultProxy sits between the broker and MinIO and answers a share of the
// requests with S3's throttling and server errors, as a real S3 does under
// load: 10% get 503 SlowDown without reaching MinIO, 2% get 500
// InternalError, and 5% of the object writes reach MinIO (the object is
// stored) but the client is told 500, as when a response is lost. The first
// GET is always throttled and the first write's answer always lost, so
// every run has both; and the first segment upload is stored but never
// answered, so the client's timeout (--bucket-timeout) ends it.
type faultProxy struct {
	proxy *httputil.ReverseProxy
	mu    sync.Mutex
	rnd   *rand.Rand

	slowDown, internal, lostWrites, heldWrites atomic.Int64
	firstGet, firstPut, firstHold              atomic.Bool
}

func (f *faultProxy) roll() float64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rnd.Float64()
}

func s3Error(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message></Error>`, code, msg)
}

func (f *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/segments/") && !f.firstHold.Swap(true) {
		// The first segment upload is stored, and its answer held until
		// the client gives up: a write that succeeded on the server and
		// timed out at the client.
		f.proxy.ServeHTTP(&discardResponse{header: http.Header{}}, r)
		f.heldWrites.Add(1)
		<-r.Context().Done()
		return
	}
	x := f.roll()
	switch {
	case r.Method == http.MethodGet && !f.firstGet.Swap(true):
		x = 0 // throttled
	case r.Method == http.MethodPut && !f.firstPut.Swap(true):
		x = 0.15 // the answer lost
	}
	switch {
	case x < 0.10:
		f.slowDown.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		s3Error(w, http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate.")
		return
	case x < 0.12:
		f.internal.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		s3Error(w, http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again.")
		return
	case x < 0.17 && r.Method == http.MethodPut:
		// Forward, then lose the answer.
		rec := &discardResponse{header: http.Header{}}
		f.proxy.ServeHTTP(rec, r)
		if rec.status/100 == 2 {
			f.lostWrites.Add(1)
			s3Error(w, http.StatusInternalServerError, "InternalError", "The write happened; this answer was lost.")
			return
		}
		s3Error(w, rec.status, "ProxiedError", "see the server")
		return
	}
	f.proxy.ServeHTTP(w, r)
}

// discardResponse records a proxied answer's status and drops its body.
type discardResponse struct {
	header http.Header
	status int
}

func (d *discardResponse) Header() http.Header { return d.header }
func (d *discardResponse) Write(b []byte) (int, error) {
	if d.status == 0 {
		d.status = http.StatusOK
	}
	return len(b), nil
}
func (d *discardResponse) WriteHeader(status int) { d.status = status }

// With a sixth of the bucket's requests failing as S3 fails under load
// (throttling, server errors, writes whose answer is lost), produce,
// upload, a restart's recovery and reading everything back from the bucket
// all still work, and every acked record reads back exactly once.
func TestBucketErrorsUnderLoad(t *testing.T) {
	const (
		topic      = "faults"
		partitions = 2
		records    = 20_000
	)
	mc := miniotest.Start(t)
	target, err := url.Parse("http://" + mc.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	fp := &faultProxy{proxy: httputil.NewSingleHostReverseProxy(target), rnd: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: fp}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	q := url.Values{"endpoint": {"http://" + ln.Addr().String()}, "region": {miniotest.Region}, "path-style": {"true"}}
	prefix := "faults-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	bucketURL := "s3://" + mc.Bucket + "/" + prefix + "?" + q.Encode()
	dataDir := t.TempDir()
	args := []string{"--bucket", bucketURL, "--segment-bytes", "64KiB", "--segment-ms", "2s", "--bucket-timeout", "3s"}
	p := startBrokerEnv(t, dataDir, mc.Env(), args...)
	createTieredTopic(t, ctx, p, topic, partitions, "65536", nil)
	prod := newClient(t, p, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var (
		mu    sync.Mutex
		acked []ack
		wg    sync.WaitGroup
	)
	for i := range records {
		wg.Add(1)
		v := fmt.Appendf(nil, "faults-%09d|%0400d", i, i)
		prod.Produce(ctx, &kgo.Record{Topic: topic, Partition: int32(i % partitions), Value: v}, func(r *kgo.Record, err error) {
			defer wg.Done()
			if err == nil {
				mu.Lock()
				acked = append(acked, ack{r.Partition, r.Offset, string(r.Value)})
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(acked) != records {
		t.Fatalf("%d of %d records acked: produce does not depend on the bucket", len(acked), records)
	}
	waitUploaded(t, p, topic, partitions)

	// A restart recovers through the faults, and the read comes from the
	// bucket through them as well (nothing is left locally).
	p.stop(t)
	p = startBrokerEnv(t, dataDir, mc.Env(), args...)
	_, end := offsets(t, ctx, newClient(t, p), topic)
	got := consumeRange(t, ctx, p, topic, end)
	for _, a := range acked {
		recs := got[a.partition]
		if a.offset >= int64(len(recs)) || recs[a.offset].Offset != a.offset || string(recs[a.offset].Value) != a.value {
			t.Fatalf("acked record at %s/%d@%d is missing or changed", topic, a.partition, a.offset)
		}
	}
	for part := range int32(partitions) {
		if n := int64(len(got[part])); n != end[part] {
			t.Fatalf("partition %d: read %d records, end offset %d", part, n, end[part])
		}
	}
	t.Logf("injected %d SlowDown, %d InternalError, %d lost write answers, %d write answers held past the client's timeout; %d records acked and read back once",
		fp.slowDown.Load(), fp.internal.Load(), fp.lostWrites.Load(), fp.heldWrites.Load(), len(acked))
	if fp.slowDown.Load() == 0 || fp.lostWrites.Load() == 0 || fp.heldWrites.Load() == 0 {
		t.Errorf("the proxy injected too few faults to test anything")
	}
	// The bucket verifies (orphans from lost write answers are allowed).
	verifyBucket(t, ctx, mc, mc.BucketURL("s3", mc.Bucket, prefix), "bucket errors")
}

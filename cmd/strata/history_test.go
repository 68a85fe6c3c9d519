package main

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-io/strata/batch"
	"github.com/strata-io/strata/broker"
	"github.com/strata-io/strata/tiering"
)

// Test data of the export and replay tests: historyRecords records over
// historyPartitions partitions of topic historyTopic, produced by one
// client per compression codec, record i at timestamp historyBaseTime+i.
const (
	historyTopic      = "events"
	historyPartitions = 3
	historyRecords    = 600
	historyTimeout    = 2 * time.Minute
)

var historyBaseTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixMilli()

// historyCodecs are the compressions the test data is produced with, one
// client each.
var historyCodecs = []kgo.CompressionCodec{
	kgo.NoCompression(), kgo.GzipCompression(), kgo.SnappyCompression(), kgo.Lz4Compression(), kgo.ZstdCompression(),
}

// testRecord is one record as the tests compare them. Key, Value and a
// header's Value are nil when null and non-nil otherwise.
type testRecord struct {
	Partition int32
	Offset    int64
	Timestamp int64
	Key       []byte
	Value     []byte
	Headers   []testHeader
}

type testHeader struct {
	Key   string
	Value []byte
}

// nullable copies b, keeping nil apart from empty.
func nullable(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

func fromKgo(r *kgo.Record) testRecord {
	tr := testRecord{Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp.UnixMilli(), Key: nullable(r.Key), Value: nullable(r.Value)}
	for _, h := range r.Headers {
		tr.Headers = append(tr.Headers, testHeader{Key: h.Key, Value: nullable(h.Value)})
	}
	return tr
}

// historyFixture is a bucket that a real broker wrote.
type historyFixture struct {
	url     string // file URL of the bucket
	dir     string
	records []testRecord // every record, consumed from the broker, by partition then offset
}

// newHistoryFixture runs a tiered broker on a new dir bucket, produces the
// test data with every codec (null and empty keys and values, headers),
// waits until everything is in the bucket, consumes it all back with a
// franz-go consumer, and stops the broker.
func newHistoryFixture(t *testing.T) *historyFixture {
	t.Helper()
	ctx := testContextTimeout(t)
	dir := filepath.Join(t.TempDir(), "bucket")
	fx := &historyFixture{dir: dir, url: (&url.URL{Scheme: "file", Path: filepath.ToSlash(dir)}).String()}
	br := startTestBroker(t, broker.Config{Bucket: fx.url, RetentionCheckInterval: 20 * time.Millisecond})
	adm := newAdmin(t, br.Addr())
	s := func(v string) *string { return &v }
	resp, err := adm.CreateTopic(ctx, historyPartitions, -1, map[string]*string{
		"segment.bytes": s("8192"), "segment.ms": s("200"), "local.retention.bytes": s("0"),
		"retention.ms": s("-1"), // the test data is older than the default week
	}, historyTopic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatal(err)
	}
	per := historyRecords / len(historyCodecs)
	for c, codec := range historyCodecs {
		cl, err := kgo.NewClient(kgo.SeedBrokers(br.Addr()), kgo.DefaultProduceTopic(historyTopic),
			kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(codec), kgo.ProducerLinger(5*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		// Produced without waiting, so batches hold many records.
		errs := make(chan error, per)
		for i := c * per; i < (c+1)*per; i++ {
			cl.Produce(ctx, historyRecord(i), func(_ *kgo.Record, err error) { errs <- err })
		}
		for range per {
			if err := <-errs; err != nil {
				t.Fatalf("produce with %v: %v", codec, err)
			}
		}
		cl.Close()
	}
	// Wait until the bucket holds everything.
	deadline := time.Now().Add(historyTimeout)
	for {
		st := br.Partitions()
		done := len(st) == historyPartitions
		for _, p := range st {
			done = done && p.TierStatus != nil && p.RemoteEndOffset == p.HighWatermark && p.UploadLagBytes == 0 && p.HighWatermark > 0
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not everything uploaded: %+v", st)
		}
		time.Sleep(20 * time.Millisecond) // polling the broker's state, bounded by the deadline
	}
	// Every codec made it into the bucket as is.
	codecs := map[batch.Codec]int{}
	for _, obj := range segmentObjects(t, dir) {
		body, err := os.ReadFile(obj)
		if err != nil {
			t.Fatal(err)
		}
		seg, err := tiering.DecodeSegment(body)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := batch.Scan(seg.Data, func(h batch.Header, _ []byte) bool { codecs[h.Codec()]++; return true }); err != nil {
			t.Fatal(err)
		}
	}
	if len(codecs) != len(historyCodecs) {
		t.Fatalf("batches by codec in the bucket: %v, want all %d codecs", codecs, len(historyCodecs))
	}
	fx.records = consumeAll(t, br.Addr(), historyTopic, historyRecords)
	return fx
}

// historyRecord returns record i of the test data: every 7th key null,
// every 11th empty, every 5th value null, every 13th empty, headers on
// every 3rd (one with a null value) and an empty header on every 4th.
func historyRecord(i int) *kgo.Record {
	r := &kgo.Record{Partition: int32(i % historyPartitions), Timestamp: time.UnixMilli(historyBaseTime + int64(i))}
	switch {
	case i%7 == 0:
	case i%11 == 0:
		r.Key = []byte{}
	default:
		r.Key = fmt.Appendf(nil, "key-%d", i)
	}
	switch {
	case i%5 == 0:
	case i%13 == 0:
		r.Value = []byte{}
	default:
		r.Value = bytes.Repeat(fmt.Appendf(nil, "value %d;", i), 1+i%40)
	}
	if i%3 == 0 {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: "h1", Value: fmt.Appendf(nil, "%d", i)}, kgo.RecordHeader{Key: "null"})
	}
	if i%4 == 0 {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: "", Value: []byte{}})
	}
	return r
}

// consumeAll reads n records of topic from the start of every partition
// and returns them ordered by partition, then offset.
func consumeAll(t *testing.T, addr, topic string, n int) []testRecord {
	t.Helper()
	ctx := testContextTimeout(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	byPart := make([][]testRecord, historyPartitions)
	got := 0
	for got < n {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			counts := make([]int, len(byPart))
			for p, recs := range byPart {
				counts[p] = len(recs)
			}
			t.Fatalf("consume %s: %d of %d records (by partition %v): %v", topic, got, n, counts, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			byPart[r.Partition] = append(byPart[r.Partition], fromKgo(r))
			got++
		})
	}
	var out []testRecord
	for _, recs := range byPart {
		out = append(out, recs...)
	}
	return out
}

// testContextTimeout returns a context that ends with the test or after
// historyTimeout.
func testContextTimeout(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), historyTimeout)
	t.Cleanup(cancel)
	return ctx
}

// startTestBroker opens and runs a broker on loopback with a new data
// directory; it is stopped and closed when the test ends.
func startTestBroker(t *testing.T, cfg broker.Config) *broker.Broker {
	t.Helper()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.Logger = slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithCancel(context.Background())
	br, err := broker.Open(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- br.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		if err := br.Close(); err != nil {
			t.Error(err)
		}
	})
	return br
}

func newAdmin(t *testing.T, addr string) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// filter returns the records of recs that keep accepts.
func filter(recs []testRecord, keep func(testRecord) bool) []testRecord {
	var out []testRecord
	for _, r := range recs {
		if keep(r) {
			out = append(out, r)
		}
	}
	return out
}

// diffRecords describes the first difference between got and want, or
// returns "".
func diffRecords(got, want []testRecord) string {
	for i := range min(len(got), len(want)) {
		if !reflect.DeepEqual(got[i], want[i]) {
			return fmt.Sprintf("record %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
	if len(got) != len(want) {
		return fmt.Sprintf("got %d records, want %d", len(got), len(want))
	}
	return ""
}

// copyBucket returns the file URL of a copy of fx's bucket, which a test
// may damage.
func (fx *historyFixture) copyBucket(t *testing.T) (rawURL, dir string) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "bucket")
	if err := os.CopyFS(dir, os.DirFS(fx.dir)); err != nil {
		t.Fatal(err)
	}
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(dir)}).String(), dir
}

// segmentObjects returns the paths of the segment objects under a dir
// bucket, sorted.
func segmentObjects(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(filepath.ToSlash(p), "/segments/") {
			out = append(out, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// failureCase is a command line that must fail with exit status code and
// print each of contains to stderr.
type failureCase struct {
	name     string
	args     []string
	code     int
	contains []string
}

// checkFailures runs strata command with each case's arguments.
func checkFailures(t *testing.T, command string, tests []failureCase) {
	t.Helper()
	for _, tt := range tests {
		code, _, stderr := runCommand(t, append([]string{command}, tt.args...)...)
		if code != tt.code {
			t.Errorf("%s: exit %d, want %d; stderr:\n%s", tt.name, code, tt.code, stderr)
		}
		for _, c := range tt.contains {
			if !strings.Contains(stderr, c) {
				t.Errorf("%s: stderr does not contain %q:\n%s", tt.name, c, stderr)
			}
		}
	}
}

// topicID returns the ID the bucket's metadata gives the test topic.
func (fx *historyFixture) topicID(t *testing.T) [16]byte {
	t.Helper()
	b, err := openBucketForReading(t.Context(), fx.url)
	if err != nil {
		t.Fatal(err)
	}
	topic, err := lookupTopic(t.Context(), b, historyTopic)
	if err != nil {
		t.Fatal(err)
	}
	return topic.ID
}

package broker

import (
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/locallog"
)

// testTimeout bounds every wait in these tests; reaching it fails the test
// rather than hanging it. Nothing waits for it to pass.
const testTimeout = 30 * time.Second

// testBroker is a broker running in the test process on a loopback port.
type testBroker struct {
	*Broker
	t      *testing.T
	cfg    Config
	stop   context.CancelFunc
	done   chan error
	closed bool // by stopAndClose
}

// testLogger sends the broker's log lines to t.Log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// startBroker opens a broker on 127.0.0.1:0 in a fresh temporary directory
// (or cfg.DataDir if set by an option) and runs it until the test ends.
func startBroker(t *testing.T, opts ...func(*Config)) *testBroker {
	t.Helper()
	cfg := Config{
		Listen:           "127.0.0.1:0",
		DataDir:          t.TempDir(),
		AutoCreateTopics: true,
		Fsync:            locallog.FsyncPolicy{Mode: locallog.FsyncAlways},
		Logger:           testLogger(t),
	}
	for _, o := range opts {
		o(&cfg)
	}
	return runBroker(t, cfg)
}

func runBroker(t *testing.T, cfg Config) *testBroker {
	t.Helper()
	b, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return serveBroker(t, b, cfg)
}

// serveBroker runs b, opened with cfg, until the test ends.
func serveBroker(t *testing.T, b *Broker, cfg Config) *testBroker {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	tb := &testBroker{Broker: b, t: t, cfg: cfg, stop: cancel, done: make(chan error, 1)}
	go func() { tb.done <- b.Run(ctx) }()
	t.Cleanup(func() { tb.shutdown() })
	return tb
}

// shutdown stops the broker and waits for Run to return; it is idempotent.
func (tb *testBroker) shutdown() {
	tb.t.Helper()
	runErr, closeErr := tb.stopAndClose()
	if runErr != nil {
		tb.t.Errorf("Run: %v", runErr)
	}
	if closeErr != nil {
		tb.t.Errorf("Close: %v", closeErr)
	}
}

// stopAndClose stops the broker, waits for Run to return and closes it,
// returning the errors of Run and Close rather than reporting them: after a
// simulated crash some are expected. Later calls do nothing.
func (tb *testBroker) stopAndClose() (runErr, closeErr error) {
	tb.t.Helper()
	if tb.closed {
		return nil, nil
	}
	tb.closed = true
	tb.stop()
	select {
	case err, ok := <-tb.done:
		if ok {
			runErr = err
			close(tb.done)
		}
	case <-time.After(testTimeout):
		tb.t.Fatalf("Run did not return %v after its context ended", testTimeout)
	}
	return runErr, tb.Close()
}

// restart shuts the broker down and opens a new one on the same data
// directory and port-0 listener.
func (tb *testBroker) restart() *testBroker {
	tb.t.Helper()
	tb.shutdown()
	return runBroker(tb.t, tb.cfg)
}

// client returns a franz-go client for the broker, closed when the test
// ends.
func (tb *testBroker) client(opts ...kgo.Opt) *kgo.Client {
	tb.t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(tb.Addr())}, opts...)...)
	if err != nil {
		tb.t.Fatalf("kgo.NewClient: %v", err)
	}
	tb.t.Cleanup(cl.Close)
	return cl
}

func (tb *testBroker) admin() *kadm.Client {
	tb.t.Helper()
	return kadm.NewClient(tb.client())
}

// createTopic creates a topic with n partitions and the given configs.
func (tb *testBroker) createTopic(name string, n int32, configs map[string]*string) {
	tb.t.Helper()
	resp, err := tb.admin().CreateTopic(testContext(tb.t), n, -1, configs, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		tb.t.Fatalf("create topic %s: %v", name, err)
	}
}

// testContext returns a context that ends at the test timeout or when the
// test ends.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls cond until it holds, failing the test at the deadline.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// rawConn speaks the Kafka protocol over a plain TCP connection, so tests
// control exactly which bytes and versions are sent.
type rawConn struct {
	t    *testing.T
	nc   net.Conn
	fmt  *kmsg.RequestFormatter
	mu   sync.Mutex
	corr int32
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, testTimeout)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	_ = nc.SetDeadline(time.Now().Add(testTimeout))
	t.Cleanup(func() { _ = nc.Close() })
	return &rawConn{t: t, nc: nc, fmt: kmsg.NewRequestFormatter(kmsg.FormatterClientID("raw-test"))}
}

// send writes req and returns its correlation id.
func (c *rawConn) send(req kmsg.Request) int32 {
	c.t.Helper()
	c.mu.Lock()
	corr := c.corr
	c.corr++
	c.mu.Unlock()
	c.write(c.fmt.AppendRequest(nil, req, corr))
	return corr
}

func (c *rawConn) write(b []byte) {
	c.t.Helper()
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// recv reads one response frame into resp (whose version must be set) and
// returns its correlation id.
func (c *rawConn) recv(resp kmsg.Response) int32 {
	c.t.Helper()
	frame, err := c.readFrame()
	if err != nil {
		c.t.Fatalf("read response: %v", err)
	}
	corr := int32(binary.BigEndian.Uint32(frame))
	body := frame[4:]
	if resp.IsFlexible() && resp.Key() != int16(kmsg.ApiVersions) {
		if len(body) == 0 || body[0] != 0 {
			c.t.Fatalf("response header tags: want none, got % x", body[:min(len(body), 1)])
		}
		body = body[1:]
	}
	if err := resp.ReadFrom(body); err != nil {
		c.t.Fatalf("decode %s v%d response: %v", kmsg.NameForKey(resp.Key()), resp.GetVersion(), err)
	}
	return corr
}

func (c *rawConn) readFrame() ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(c.nc, size[:]); err != nil {
		return nil, err
	}
	frame := make([]byte, binary.BigEndian.Uint32(size[:]))
	_, err := io.ReadFull(c.nc, frame)
	return frame, err
}

// roundTrip sends req and returns its response.
func (c *rawConn) roundTrip(req kmsg.Request) kmsg.Response {
	c.t.Helper()
	corr := c.send(req)
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if got := c.recv(resp); got != corr {
		c.t.Fatalf("response correlation id %d, want %d", got, corr)
	}
	return resp
}

// expectClosed checks that the broker closes the connection without
// answering.
func (c *rawConn) expectClosed() {
	c.t.Helper()
	frame, err := c.readFrame()
	if err == nil {
		c.t.Fatalf("connection still open: got a %d-byte frame", len(frame))
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.t.Fatalf("connection not closed within %v", testTimeout)
	}
}

// makeBatch encodes an uncompressed magic-v2 record batch of values with
// the given producer ID, epoch and base sequence (-1, -1, -1 for a
// non-idempotent batch) and base timestamp; record i has timestamp ts+i.
func makeBatch(pid int64, epoch int16, seq int32, ts int64, values ...[]byte) []byte {
	var recs []byte
	for i, v := range values {
		var r []byte
		r = append(r, 0)                          // attributes
		r = binary.AppendVarint(r, int64(i))      // timestamp delta
		r = binary.AppendVarint(r, int64(i))      // offset delta
		r = binary.AppendVarint(r, -1)            // null key
		r = binary.AppendVarint(r, int64(len(v))) // value
		r = append(r, v...)
		r = binary.AppendVarint(r, 0) // no headers
		recs = binary.AppendVarint(recs, int64(len(r)))
		recs = append(recs, r...)
	}
	rb := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1,
		Magic:                2,
		LastOffsetDelta:      int32(len(values) - 1),
		FirstTimestamp:       ts,
		MaxTimestamp:         ts + int64(len(values)-1),
		ProducerID:           pid,
		ProducerEpoch:        epoch,
		FirstSequence:        seq,
		NumRecords:           int32(len(values)),
		Records:              recs,
	}
	b := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	return fixCRC(b)
}

// setAttributes overwrites a batch's attributes and fixes its CRC.
func setAttributes(b []byte, attrs int16) []byte {
	binary.BigEndian.PutUint16(b[21:], uint16(attrs))
	return fixCRC(b)
}

func fixCRC(b []byte) []byte {
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// produceRequest builds a v9 produce request of one batch for one
// partition.
func produceRequest(topic string, partition int32, acks int16, records []byte) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Version = 9
	req.Acks = acks
	req.TimeoutMillis = int32(testTimeout / time.Millisecond)
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = partition
	rp.Records = records
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// produceOne sends req on c and returns its only partition's answer.
func (c *rawConn) produceOne(req *kmsg.ProduceRequest) kmsg.ProduceResponseTopicPartition {
	c.t.Helper()
	resp := c.roundTrip(req).(*kmsg.ProduceResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		c.t.Fatalf("produce response: want one partition, got %+v", resp.Topics)
	}
	return resp.Topics[0].Partitions[0]
}

// offsetsOf returns kadm offsets naming one partition at offset.
func offsetsOf(topic string, partition int32, offset int64) kadm.Offsets {
	os := make(kadm.Offsets)
	os.AddOffset(topic, partition, offset, -1)
	return os
}

package broker

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// frame returns a size-prefixed frame of body.
func frame(body []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

// header returns a request header with a null client id.
func header(key, version int16, corr int32) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(key))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	return binary.BigEndian.AppendUint16(b, 0xffff)
}

func TestBadFramesCloseOnlyTheirConnection(t *testing.T) {
	tb := startBroker(t, func(c *Config) { c.MaxRequestBytes = 1 << 20 })
	tb.createTopic("safe", 1, nil)
	ctx := testContext(t)
	cl := tb.client()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "safe", Value: []byte("before")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	bystander := dialRaw(t, tb.Addr())
	bystander.roundTrip(kmsg.NewPtrApiVersionsRequest())

	cases := []struct {
		name  string
		bytes []byte
		half  bool // close our write side after sending
	}{
		{"garbage", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), false},
		{"negative size", []byte{0xff, 0xff, 0xff, 0xfe, 1, 2, 3}, false},
		{"oversized", binary.BigEndian.AppendUint32(nil, 2<<20), false},
		{"too small", frame([]byte{0, 3, 0}), false},
		{"truncated", append(binary.BigEndian.AppendUint32(nil, 100), header(18, 0, 1)...), true},
		{"unknown key", frame(header(999, 0, 1)), false},
		{"negative key", frame(header(-1, 0, 1)), false},
		{"unadvertised key", frame(header(int16(kmsg.FindCoordinator), 0, 1)), false},
		{"produce above max", frame(header(0, 99, 1)), false},
		{"produce below min", frame(header(0, 2, 1)), false},
		{"fetch below min", frame(header(1, 3, 1)), false},
		{"malformed body", frame(append(header(3, 1, 1), 0, 0, 3, 232)), false},
		{"short header", frame(append(header(3, 1, 1)[:8], 0, 200)), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rc := dialRaw(t, tb.Addr())
			rc.write(c.bytes)
			if c.half {
				_ = rc.nc.(*net.TCPConn).CloseWrite()
			}
			rc.expectClosed()
			bystander.roundTrip(kmsg.NewPtrApiVersionsRequest())
		})
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "safe", Value: []byte("after")}).FirstErr(); err != nil {
		t.Fatalf("produce after bad connections: %v", err)
	}
}

func TestApiVersionsUnknownVersion(t *testing.T) {
	tb := startBroker(t)
	rc := dialRaw(t, tb.Addr())
	// An ApiVersions version from the future, with a body the broker
	// cannot know, is answered in v0 (KIP-511).
	rc.write(frame(append(header(18, 99, 42), 0xde, 0xad)))
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 0
	if corr := rc.recv(resp); corr != 42 {
		t.Fatalf("correlation id %d", corr)
	}
	if resp.ErrorCode != kerr.UnsupportedVersion.Code || len(resp.ApiKeys) != 1 ||
		resp.ApiKeys[0].ApiKey != 18 || resp.ApiKeys[0].MinVersion != 0 || resp.ApiKeys[0].MaxVersion != 5 {
		t.Fatalf("ApiVersions v99: %+v", resp)
	}
	// The connection stays usable.
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 3
	req.ClientSoftwareName, req.ClientSoftwareVersion = "strata-test", "1.0"
	ok := rc.roundTrip(req).(*kmsg.ApiVersionsResponse)
	if ok.ErrorCode != 0 || len(ok.ApiKeys) != len(apis) {
		t.Fatalf("ApiVersions v3: error %d, %d keys", ok.ErrorCode, len(ok.ApiKeys))
	}
	req.ClientSoftwareName = "bad name!"
	if bad := rc.roundTrip(req).(*kmsg.ApiVersionsResponse); bad.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("bad client software name: error %d", bad.ErrorCode)
	}
}

// TestApiVersionsAdvertisesTheTable checks that what franz-go learns is
// exactly versions.go.
func TestApiVersionsAdvertisesTheTable(t *testing.T) {
	tb := startBroker(t)
	vs, err := tb.admin().ApiVersions(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	var got int
	vs.Each(func(bv kadm.BrokerApiVersions) {
		bv.EachKeySorted(func(key, minV, maxV int16) {
			got++
			a := lookupAPI(key)
			if a == nil || a.min != minV || a.max != maxV {
				t.Errorf("advertised %s v%d-v%d, table has %+v", kmsg.NameForKey(key), minV, maxV, a)
			}
		})
	})
	if got != len(apis) {
		t.Fatalf("advertised %d APIs, table has %d", got, len(apis))
	}
}

// A client that announces a frame and then stalls is disconnected after
// RequestTimeout, one that sends nothing after IdleTimeout; a client that
// keeps sending requests is not, and neither touches the others.
func TestStalledAndIdleConnectionsAreClosed(t *testing.T) {
	tb := startBroker(t, func(c *Config) {
		c.RequestTimeout = 200 * time.Millisecond
		c.IdleTimeout = 400 * time.Millisecond
	})
	start := time.Now() // before the broker can start either clock
	stalled := dialRaw(t, tb.Addr())
	stalled.write(append(binary.BigEndian.AppendUint32(nil, 50<<20), header(18, 0, 1)...))
	idle := dialRaw(t, tb.Addr())
	stalled.expectClosed()
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("stalled connection closed after %v, before its request timeout", d)
	}
	idle.expectClosed()
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Errorf("idle connection closed after %v, before its idle timeout", d)
	}
	// A connection that keeps sending requests stays open past the idle
	// timeout.
	bystander := dialRaw(t, tb.Addr())
	for range 4 {
		bystander.roundTrip(kmsg.NewPtrApiVersionsRequest())
		time.Sleep(150 * time.Millisecond) // spacing requests, below the idle timeout; not synchronisation
	}
}

// A frame is read into memory as its bytes arrive: announcing 100 MiB and
// sending a few bytes allocates about frameChunk, not 100 MiB.
func TestLargeAnnouncedFrameAllocatesAsBytesArrive(t *testing.T) {
	announced := append(binary.BigEndian.AppendUint32(nil, 100<<20), header(18, 0, 1)...)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := readFrame(bytes.NewReader(announced), 200<<20, nil)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("readFrame of a cut frame: %v", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 2*frameChunk {
		t.Errorf("reading a frame that announced 100 MiB and sent %d bytes allocated %d bytes", len(announced), n)
	}
	// And a whole large frame still reads back equal.
	body := bytes.Repeat([]byte("0123456789"), 500_000) // 5 MB: grows past frameChunk
	got, err := readFrame(bytes.NewReader(frame(body)), 200<<20, nil)
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("readFrame of %d bytes: %d bytes back, %v", len(body), len(got), err)
	}
}

// A client that sends many fetches and does not read the answers makes
// the broker hold at most maxInFlightFetches answers, not one per request;
// read later, every answer is there, in order.
func TestUnreadFetchAnswersAreBounded(t *testing.T) {
	tb := startBroker(t)
	const topic = "big"
	tb.createTopic(topic, 1, nil)
	cl := tb.client(kgo.DefaultProduceTopic(topic), kgo.ProducerBatchMaxBytes(1<<20), kgo.ProducerBatchCompression(kgo.NoCompression()))
	ctx := testContext(t)
	value := bytes.Repeat([]byte("x"), 4<<10)
	for range 2048 { // 8 MiB
		cl.Produce(ctx, &kgo.Record{Value: value}, nil)
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	const answerBytes, requests = 4 << 20, 40
	req := fetchRequest(12, topic, [16]byte{}, 0, 0, 0)
	req.MaxBytes, req.Topics[0].Partitions[0].PartitionMaxBytes = answerBytes, answerBytes

	heap := func() uint64 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	base := heap()
	slow := dialRaw(t, tb.Addr())
	corrs := make([]int32, requests)
	for i := range corrs {
		corrs[i] = slow.send(req)
	}
	// Sample the heap while the broker works through what it may: without
	// the bound it builds answers until its in-flight limit (32 × 4 MiB).
	var peak uint64
	for range 30 {
		peak = max(peak, heap())
		time.Sleep(20 * time.Millisecond) // sampling over a window, not synchronisation
	}
	grown := int64(peak) - int64(base)
	t.Logf("heap grew by %.1f MiB with %d unread %d MiB fetch answers", float64(grown)/(1<<20), requests, answerBytes>>20)
	// Two answers in flight and the one being written, each held twice
	// (read, then encoded), and slack for the runtime: 12 answers. Without
	// the bound the broker held 32 (130 MiB).
	if grown > 12*answerBytes {
		t.Errorf("heap grew by %.1f MiB while a client left %d fetch answers unread", float64(grown)/(1<<20), requests)
	}
	// The dial's deadline also covered the sampling (30 forced GCs, slow
	// under -race on a loaded machine): give the reads a deadline of their
	// own, so that it still catches a broker that stops answering.
	_ = slow.nc.SetDeadline(time.Now().Add(testTimeout))
	for i, corr := range corrs {
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		resp.SetVersion(req.Version)
		if got := slow.recv(resp); got != corr {
			t.Fatalf("answer %d has correlation id %d, want %d", i, got, corr)
		}
		rp := resp.Topics[0].Partitions[0]
		if rp.ErrorCode != 0 || len(rp.RecordBatches) < answerBytes/2 {
			t.Fatalf("answer %d: error %d, %d bytes", i, rp.ErrorCode, len(rp.RecordBatches))
		}
	}
}

package broker

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/internal/testcert"
	"github.com/strata-io/strata/tiering"
)

var (
	frameSeed  = flag.Uint64("frame.seed", 0, "replay TestFetchFrameMatchesAppendResponse with this seed (0 runs -frame.seeds seeds from the clock)")
	frameSeeds = flag.Int("frame.seeds", 3000, "number of random answers TestFetchFrameMatchesAppendResponse encodes")
)

// TestFetchFrameMatchesAppendResponse encodes random Fetch answers of every
// version both ways: the buffers of fetchFrame joined must be appendResponse's
// frame with each partition's record data joined into RecordBatches, the
// record data must be the caller's slices (not copies), and the header runs
// must be hdr, in order and whole, between them.
func TestFetchFrameMatchesAppendResponse(t *testing.T) {
	seeds := []uint64{*frameSeed}
	if *frameSeed == 0 {
		base := uint64(time.Now().UnixNano())
		seeds = seeds[:0]
		for i := range uint64(*frameSeeds) {
			seeds = append(seeds, base+i)
		}
		t.Logf("seeds %d to %d; replay one with -run TestFetchFrameMatchesAppendResponse -frame.seed N", base, base+uint64(*frameSeeds)-1)
	}
	var hdr []byte // reused across answers, as a connection would
	for _, seed := range seeds {
		rnd := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
		version := int16(seed % (fetchFrameMaxVersion + 1))
		resp, records := randomFetchAnswer(rnd, version)
		corr := rnd.Int32()
		if rnd.IntN(4) == 0 {
			hdr = nil
		}
		bufs, out, ok := fetchFrame(hdr, corr, resp, records)
		if !ok {
			t.Fatalf("seed %d: v%d: fetchFrame declined an answer it encodes", seed, version)
		}
		want := appendResponse(nil, corr, withJoinedRecords(resp, records))
		if got := bytes.Join(bufs, nil); !bytes.Equal(got, want) {
			t.Fatalf("seed %d: v%d: frame differs from appendResponse's at byte %d of %d (got %d bytes)\n got %x\nwant %x",
				seed, version, firstDiff(got, want), len(want), len(got), head(got), head(want))
		}
		if err := checkFrameBuffers(bufs, out, dataParts(resp, records)); err != nil {
			t.Fatalf("seed %d: v%d: %s", seed, version, err)
		}
		hdr = out
	}
}

// randomFetchAnswer returns a Fetch answer of the given version and the
// record data to encode it with: every partition's data is null, its
// RecordBatches (records[i] nil) or random parts, and records as a whole
// is sometimes nil.
func randomFetchAnswer(rnd *rand.Rand, version int16) (*kmsg.FetchResponse, [][][]byte) {
	resp := kmsg.NewPtrFetchResponse()
	resp.Version = version
	resp.ThrottleMillis = randInt32(rnd)
	resp.ErrorCode = int16(rnd.IntN(120) - 1)
	resp.SessionID = randInt32(rnd)
	noRecords := rnd.IntN(5) == 0
	var records [][][]byte
	for range rnd.IntN(5) {
		t := kmsg.NewFetchResponseTopic()
		t.Topic = string(randBytes(rnd, []int{0, 1, 10, 126, 127, 200}[rnd.IntN(6)]))
		for k := range t.TopicID {
			t.TopicID[k] = byte(rnd.Uint32())
		}
		for range rnd.IntN(6) {
			p := kmsg.NewFetchResponseTopicPartition()
			p.Partition = randInt32(rnd)
			p.ErrorCode = int16(rnd.IntN(120) - 1)
			p.HighWatermark = randInt64(rnd)
			p.LastStableOffset = randInt64(rnd)
			p.LogStartOffset = randInt64(rnd)
			if rnd.IntN(2) == 0 {
				p.PreferredReadReplica = randInt32(rnd)
			}
			switch rnd.IntN(3) {
			case 0: // nil
			case 1:
				p.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
			case 2:
				for range 1 + rnd.IntN(3) {
					a := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
					a.ProducerID, a.FirstOffset = randInt64(rnd), randInt64(rnd)
					p.AbortedTransactions = append(p.AbortedTransactions, a)
				}
			}
			var parts [][]byte
			switch m := rnd.IntN(6); {
			case m == 0: // null
			case m == 1 || noRecords:
				p.RecordBatches = randRecords(rnd) // maybe empty, maybe null
			default:
				// The parts replace whatever RecordBatches holds.
				if rnd.IntN(2) == 0 {
					p.RecordBatches = randRecords(rnd)
				}
				parts = [][]byte{}
				for range []int{0, 1, 1, 2, 3, 8}[rnd.IntN(6)] {
					parts = append(parts, randRecords(rnd))
				}
			}
			records = append(records, parts)
			t.Partitions = append(t.Partitions, p)
		}
		resp.Topics = append(resp.Topics, t)
	}
	if noRecords {
		records = nil
	}
	return resp, records
}

// randRecords returns stand-in record data: null, empty or random bytes
// whose length takes one to three bytes as a uvarint.
func randRecords(rnd *rand.Rand) []byte {
	switch rnd.IntN(6) {
	case 0:
		return nil
	case 1:
		return []byte{}
	case 2:
		return randBytes(rnd, 1+rnd.IntN(20000))
	default:
		return randBytes(rnd, 1+rnd.IntN(200))
	}
}

func randBytes(rnd *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + byte(rnd.IntN(26))
	}
	return b
}

// randInt32 and randInt64 favour the values whose encodings are most
// likely wrong: -1, 0 and the extremes.
func randInt32(rnd *rand.Rand) int32 {
	switch rnd.IntN(4) {
	case 0:
		return []int32{-1, 0, 1, -1 << 31, 1<<31 - 1}[rnd.IntN(5)]
	default:
		return rnd.Int32() - 1<<30
	}
}

func randInt64(rnd *rand.Rand) int64 {
	switch rnd.IntN(4) {
	case 0:
		return []int64{-1, 0, 1, -1 << 63, 1<<63 - 1}[rnd.IntN(5)]
	default:
		return rnd.Int64() - 1<<62
	}
}

// withJoinedRecords returns a copy of resp whose partitions hold their
// record data as fetchFrame is to encode it, in RecordBatches.
func withJoinedRecords(resp *kmsg.FetchResponse, records [][][]byte) *kmsg.FetchResponse {
	c := *resp
	c.Topics = append([]kmsg.FetchResponseTopic(nil), resp.Topics...)
	i := 0
	for ti := range c.Topics {
		t := &c.Topics[ti]
		t.Partitions = append([]kmsg.FetchResponseTopicPartition(nil), t.Partitions...)
		for pi := range t.Partitions {
			if records != nil && records[i] != nil {
				joined := []byte{}
				for _, b := range records[i] {
					joined = append(joined, b...)
				}
				t.Partitions[pi].RecordBatches = joined
			}
			i++
		}
	}
	return &c
}

// dataParts lists the non-empty record slices fetchFrame is to reference,
// in order.
func dataParts(resp *kmsg.FetchResponse, records [][][]byte) [][]byte {
	var out [][]byte
	i := 0
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			parts := [][]byte{p.RecordBatches}
			if records != nil && records[i] != nil {
				parts = records[i]
			}
			for _, b := range parts {
				if len(b) > 0 {
					out = append(out, b)
				}
			}
			i++
		}
	}
	return out
}

// checkFrameBuffers checks the shape of fetchFrame's buffers: none empty,
// runs of hdr that follow each other in hdr and cover it whole, never two
// runs in a row, and between them exactly parts, each the very slice given
// (the same first byte), not a copy.
func checkFrameBuffers(bufs net.Buffers, hdr []byte, parts [][]byte) error {
	off, next := 0, 0
	prevRun := false
	for j, b := range bufs {
		switch {
		case len(b) == 0:
			return fmt.Errorf("buffer %d is empty", j)
		case off < len(hdr) && len(b) <= len(hdr)-off && &b[0] == &hdr[off]:
			if prevRun {
				return fmt.Errorf("buffers %d and %d are both header runs", j-1, j)
			}
			off += len(b)
			prevRun = true
		case next < len(parts) && &b[0] == &parts[next][0] && len(b) == len(parts[next]):
			next++
			prevRun = false
		default:
			return fmt.Errorf("buffer %d (%d bytes) is neither the next run of hdr nor record slice %d: a copy?", j, len(b), next)
		}
	}
	if off != len(hdr) {
		return fmt.Errorf("header runs cover %d of the %d bytes of hdr", off, len(hdr))
	}
	if next != len(parts) {
		return fmt.Errorf("buffers reference %d of %d record slices", next, len(parts))
	}
	return nil
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// head is the start of a frame, enough to see a misplaced field.
func head(b []byte) []byte { return b[:min(len(b), 96)] }

// plainFetchAnswer is a v18 answer of two topics fetchFrame encodes, with
// its record data in three parts for the first partition and in
// RecordBatches for the second.
func plainFetchAnswer() (*kmsg.FetchResponse, [][][]byte) {
	resp := kmsg.NewPtrFetchResponse()
	resp.Version = 18
	for _, name := range []string{"a", "b"} {
		t := kmsg.NewFetchResponseTopic()
		t.Topic, t.TopicID = name, [16]byte{name[0]}
		for i := range 2 {
			p := kmsg.NewFetchResponseTopicPartition()
			p.Partition = int32(i)
			p.HighWatermark, p.LastStableOffset, p.LogStartOffset = 10, 10, 0
			p.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{{ProducerID: 7, FirstOffset: 3}}
			p.RecordBatches = []byte(name + " batches")
			t.Partitions = append(t.Partitions, p)
		}
		resp.Topics = append(resp.Topics, t)
	}
	records := [][][]byte{{[]byte("one "), []byte("two "), []byte("three")}, nil, nil, {}}
	return resp, records
}

func TestFetchFrameFallsBackOnWhatItDoesNotEncode(t *testing.T) {
	tags := func() kmsg.Tags {
		var tg kmsg.Tags
		tg.Set(9, []byte{1})
		return tg
	}
	p := func(r *kmsg.FetchResponse) *kmsg.FetchResponseTopicPartition { return &r.Topics[1].Partitions[1] }
	for _, tc := range []struct {
		name   string
		change func(r *kmsg.FetchResponse, records *[][][]byte)
	}{
		{"DivergingEpoch.Epoch", func(r *kmsg.FetchResponse, _ *[][][]byte) { p(r).DivergingEpoch.Epoch = 3 }},
		{"DivergingEpoch.EndOffset", func(r *kmsg.FetchResponse, _ *[][][]byte) { p(r).DivergingEpoch.EndOffset = 0 }},
		{"DivergingEpoch.UnknownTags", func(r *kmsg.FetchResponse, _ *[][][]byte) { p(r).DivergingEpoch.UnknownTags = tags() }},
		{"CurrentLeader.LeaderID", func(r *kmsg.FetchResponse, _ *[][][]byte) { p(r).CurrentLeader.LeaderID = 0 }},
		{"CurrentLeader.LeaderEpoch", func(r *kmsg.FetchResponse, _ *[][][]byte) { p(r).CurrentLeader.LeaderEpoch = 0 }},
		{"CurrentLeader.UnknownTags", func(r *kmsg.FetchResponse, _ *[][][]byte) { p(r).CurrentLeader.UnknownTags = tags() }},
		{"SnapshotID.EndOffset", func(r *kmsg.FetchResponse, _ *[][][]byte) { p(r).SnapshotID.EndOffset = 5 }},
		{"SnapshotID.Epoch", func(r *kmsg.FetchResponse, _ *[][][]byte) { p(r).SnapshotID.Epoch = 5 }},
		{"SnapshotID.UnknownTags", func(r *kmsg.FetchResponse, _ *[][][]byte) { p(r).SnapshotID.UnknownTags = tags() }},
		{"partition without Default", func(r *kmsg.FetchResponse, _ *[][][]byte) {
			*p(r) = kmsg.FetchResponseTopicPartition{RecordBatches: []byte("x")}
		}},
		{"partition UnknownTags", func(r *kmsg.FetchResponse, _ *[][][]byte) { p(r).UnknownTags = tags() }},
		{"aborted transaction UnknownTags", func(r *kmsg.FetchResponse, _ *[][][]byte) {
			p(r).AbortedTransactions[0].UnknownTags = tags()
		}},
		{"topic UnknownTags", func(r *kmsg.FetchResponse, _ *[][][]byte) { r.Topics[0].UnknownTags = tags() }},
		{"response UnknownTags", func(r *kmsg.FetchResponse, _ *[][][]byte) { r.UnknownTags = tags() }},
		{"Brokers", func(r *kmsg.FetchResponse, _ *[][][]byte) {
			r.Brokers = []kmsg.FetchResponseBroker{{NodeID: 0, Host: "localhost", Port: 9092}}
		}},
		{"records for too few partitions", func(_ *kmsg.FetchResponse, rs *[][][]byte) { *rs = (*rs)[:3] }},
		{"records for too many partitions", func(_ *kmsg.FetchResponse, rs *[][][]byte) { *rs = append(*rs, nil) }},
		{"records for no partitions", func(_ *kmsg.FetchResponse, rs *[][][]byte) { *rs = [][][]byte{} }},
		{"version above kmsg's", func(r *kmsg.FetchResponse, _ *[][][]byte) { r.Version = fetchFrameMaxVersion + 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, records := plainFetchAnswer()
			hdr := make([]byte, 3, 64)
			if _, _, ok := fetchFrame(hdr, 1, resp, records); !ok {
				t.Fatal("fetchFrame declined the answer before the change")
			}
			tc.change(resp, &records)
			hdr = append(hdr[:0], "abc"...)
			bufs, out, ok := fetchFrame(hdr, 1, resp, records)
			if ok || bufs != nil {
				t.Fatalf("fetchFrame = %d buffers, ok %v; want nil, false", len(bufs), ok)
			}
			if len(out) != 3 || &out[0] != &hdr[0] || string(out) != "abc" {
				t.Fatalf("fetchFrame returned hdr %q, not the one given unchanged", out)
			}
		})
	}
}

// TestFetchFrameDecodesBackToItsRecords writes the buffers as a connection does and decodes
// the frame with kmsg: each partition reads back its record data.
func TestFetchFrameDecodesBackToItsRecords(t *testing.T) {
	for _, version := range []int16{4, 11, 12, 13, 18} {
		resp, records := plainFetchAnswer()
		resp.Version = version
		bufs, _, ok := fetchFrame(nil, 77, resp, records)
		if !ok {
			t.Fatalf("v%d: fetchFrame declined", version)
		}
		var w bytes.Buffer
		if _, err := bufs.WriteTo(&w); err != nil {
			t.Fatal(err)
		}
		frame := w.Bytes()
		if n := binary.BigEndian.Uint32(frame); int(n) != len(frame)-frameSizeLen {
			t.Fatalf("v%d: frame size %d, %d bytes follow", version, n, len(frame)-frameSizeLen)
		}
		if corr := int32(binary.BigEndian.Uint32(frame[4:])); corr != 77 {
			t.Fatalf("v%d: correlation id %d, want 77", version, corr)
		}
		body := frame[8:]
		if version >= 12 {
			body = body[1:] // response header tags
		}
		got := kmsg.FetchResponse{Version: version}
		if err := got.ReadFrom(body); err != nil {
			t.Fatalf("v%d: decode: %v", version, err)
		}
		want := []string{"one two three", "a batches", "b batches", ""}
		i := 0
		for _, gt := range got.Topics {
			for _, gp := range gt.Partitions {
				if string(gp.RecordBatches) != want[i] || gp.RecordBatches == nil {
					t.Errorf("v%d: partition %d reads back %q, want %q", version, i, gp.RecordBatches, want[i])
				}
				if len(gp.AbortedTransactions) != 1 || gp.AbortedTransactions[0].ProducerID != 7 {
					t.Errorf("v%d: partition %d reads back aborted transactions %+v", version, i, gp.AbortedTransactions)
				}
				i++
			}
		}
		if i != len(want) {
			t.Fatalf("v%d: %d partitions read back, want %d", version, i, len(want))
		}
	}
}

// TestFetchFrameKnowsKmsgMaxVersion fails when kmsg learns a Fetch version
// fetchFrame has not been checked against: compare the new AppendTo with
// fetchFrame, then raise fetchFrameMaxVersion.
func TestFetchFrameKnowsKmsgMaxVersion(t *testing.T) {
	if v := (&kmsg.FetchResponse{}).MaxVersion(); v != fetchFrameMaxVersion {
		t.Fatalf("kmsg encodes Fetch up to v%d, fetchFrame up to v%d", v, fetchFrameMaxVersion)
	}
}

// BenchmarkFetchFrame encodes a 32 MiB answer, four partitions of two 4 MiB
// parts each, into one buffer as appendResponse does and into buffers that
// reference the parts as fetchFrame does.
func BenchmarkFetchFrame(b *testing.B) {
	const partSize = 4 << 20
	resp := kmsg.NewPtrFetchResponse()
	resp.Version = 16
	topic := kmsg.NewFetchResponseTopic()
	topic.TopicID = [16]byte{1}
	var records [][][]byte
	for i := range 4 {
		p := kmsg.NewFetchResponseTopicPartition()
		p.Partition = int32(i)
		parts := [][]byte{bytes.Repeat([]byte{'x'}, partSize), bytes.Repeat([]byte{'y'}, partSize)}
		p.RecordBatches = bytes.Join(parts, nil)
		records = append(records, parts)
		topic.Partitions = append(topic.Partitions, p)
	}
	resp.Topics = append(resp.Topics, topic)
	size := int64(8 * partSize)

	b.Run("appendResponse", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(size)
		buf := make([]byte, 0, sizeHint(resp)+sizeHintSlack) // reused, as a pooled buffer is
		for b.Loop() {
			buf = appendResponse(buf[:0], 1, resp)
		}
	})
	b.Run("fetchFrame", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(size)
		var hdr []byte
		for b.Loop() {
			var ok bool
			if _, hdr, ok = fetchFrame(hdr, 1, resp, records); !ok {
				b.Fatal("fetchFrame declined")
			}
		}
	})
}

// Fetch answers larger than the connection's write buffer are written as
// buffers that reference the record data where it lies: from the remote
// tier one part per cached block (the reader's blocks are 16 KiB here, the
// answers up to a 256 KiB segment), from the local log one part. Real
// clients read every record back exactly once, over plaintext (one
// vectored write) and over TLS (through the buffered writer).
func TestFetchAnswersWrittenInParts(t *testing.T) {
	certs := testcert.New(t, "parts")
	tb := startBroker(t, func(cfg *Config) {
		cfg.Listen = ""
		cfg.Listeners = []Listener{
			{Name: "PLAINTEXT", Addr: "127.0.0.1:0"},
			{Name: "SECURE", Addr: "localhost:0", Protocol: ProtocolSSL, TLS: certs.ServerConfig(tls.NoClientCert)},
		}
		cfg.Bucket = fileBucketURL(t)
		cfg.RetentionCheckInterval = 20 * time.Millisecond
		cfg.readerConfig = tiering.ReaderConfig{RangeBytes: 16 << 10}
	})
	const n = 20000 // about 1.7 MiB
	s := func(v string) *string { return &v }
	tb.createTopic("remote", 1, map[string]*string{"segment.bytes": s("262144"), "local.retention.bytes": s("0")})
	tb.createTopic("local", 1, map[string]*string{"segment.bytes": s("262144")})
	prod := tb.client(kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerBatchMaxBytes(64<<10))
	ctx := testContext(t)
	for _, topic := range []string{"remote", "local"} {
		if err := produceTimed(ctx, prod, topic, 0, n); err != nil {
			t.Fatal(err)
		}
	}
	if st := tb.waitAllRemote("remote"); st.RemoteSegments < 5 {
		t.Fatalf("%d remote segments, want several", st.RemoteSegments)
	}
	for _, listener := range []struct {
		name string
		opts []kgo.Opt
	}{
		{"PLAINTEXT", nil},
		{"SECURE", []kgo.Opt{kgo.DialTLSConfig(certs.ClientConfig())}},
	} {
		for _, topic := range []string{"remote", "local"} {
			t.Run(listener.name+"/"+topic, func(t *testing.T) {
				cl := tb.client(append(listener.opts,
					kgo.SeedBrokers(tb.ListenerAddr(listener.name)),
					kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().At(0)}}),
					kgo.FetchMaxPartitionBytes(1<<20))...)
				if err := consumeExactlyOnce(ctx, cl, 0, n-1); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

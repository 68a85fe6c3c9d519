package e2e

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// idleConnections is how many idle clients TestManyIdleConnections holds
// open: the figure. The test process holds one end of each and the
// broker the other, each within this machine's open-file limit of 20,000.
const idleConnections = 10_000

// rssBytes returns the resident set size of process pid.
func rssBytes(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatalf("read the broker's memory use: %v", err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("VmRSS %q: %v", v, err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc/<pid>/status")
	return 0
}

// A broker with 10,000 idle client connections (each has sent one request
// and gone quiet) stays small, and serves a producer and a consumer as
// usual; a client that sends a 2 GiB length prefix is disconnected alone.
func TestManyIdleConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 10,000 connections")
	}
	p := startBroker(t, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Warm up: a topic, a producer and a consumer, before the baseline.
	const topic = "busy"
	createTopic(t, ctx, p, topic, 2)
	roundTrip := func(t *testing.T) {
		t.Helper()
		cl := newClient(t, p, kgo.DefaultProduceTopic(topic), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		for i := range 100 {
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
				t.Fatalf("produce: %v", err)
			}
		}
		for got := 0; got < 100; {
			fs := cl.PollFetches(ctx)
			if err := fs.Err0(); err != nil {
				t.Fatalf("consume: %v", err)
			}
			got += fs.NumRecords()
		}
		cl.Close()
	}
	roundTrip(t)
	pid := p.cmd.Process.Pid
	before := rssBytes(t, pid)

	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 3
	req.ClientSoftwareName, req.ClientSoftwareVersion = "idle", "1"
	frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("idle")).AppendRequest(nil, req, 1)
	conns := make([]net.Conn, 0, idleConnections)
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	var d net.Dialer
	for range idleConnections {
		c, err := d.DialContext(ctx, "tcp", p.kafkaAddr)
		if err != nil {
			t.Fatalf("connection %d: %v", len(conns), err)
		}
		conns = append(conns, c)
		if _, err := c.Write(frame); err != nil {
			t.Fatalf("connection %d: %v", len(conns), err)
		}
	}
	// Every connection answered: the broker holds all of them.
	for i, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(time.Minute))
		var size [4]byte
		if _, err := io.ReadFull(c, size[:]); err != nil {
			t.Fatalf("connection %d: no answer: %v", i, err)
		}
		if _, err := io.CopyN(io.Discard, c, int64(binary.BigEndian.Uint32(size[:]))); err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
	}
	after := rssBytes(t, pid)
	perConn := float64(after-before) / idleConnections
	t.Logf("broker RSS %.1f MiB before, %.1f MiB with %d idle connections: %.1f KiB per connection",
		float64(before)/(1<<20), float64(after)/(1<<20), idleConnections, perConn/1024)
	// Two goroutines' stacks, a 4 KiB read buffer and the connection's
	// state come to about 20 KiB; 64 KiB leaves room for the runtime's
	// rounding and would still catch a per-connection buffer of 64 KiB.
	if perConn > 64<<10 {
		t.Errorf("%.1f KiB of broker memory per idle connection, want at most 64", perConn/1024)
	}

	// The broker still serves as usual.
	roundTrip(t)

	// A 2 GiB length prefix closes that connection and only that one.
	bad, err := d.DialContext(ctx, "tcp", p.kafkaAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if _, err := bad.Write([]byte{0x80, 0, 0, 0}); err != nil {
		t.Fatal(err)
	}
	_ = bad.SetReadDeadline(time.Now().Add(time.Minute))
	if n, err := bufio.NewReader(bad).Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("after a 2 GiB length prefix: read %d bytes, %v; want the connection closed", n, err)
	}
	if _, err := conns[0].Write(frame); err != nil {
		t.Fatalf("an idle connection after the bad one: %v", err)
	}
	var size [4]byte
	if _, err := io.ReadFull(conns[0], size[:]); err != nil {
		t.Fatal(fmt.Errorf("an idle connection after the bad one: %w", err))
	}
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/strata-io/strata/history"
	"github.com/strata-io/strata/tiering"
)

const replayUsage = `Usage: strata replay --bucket URL --topic TOPIC [--partitions 0,1,…]
         [--from-offset N | --from-time RFC3339] [--to-offset N | --to-time RFC3339]
         --to HOST:PORT[,HOST:PORT…] [--to-topic TOPIC2] [--resume FILE]

Produces the records of a topic's history in a bucket into any Kafka
cluster, without a Strata broker: every record keeps its partition, key,
value, headers and timestamp, in offset order per partition (the target
assigns its own offsets). Transaction markers are left out. It only reads
the bucket; every segment object is verified (CRCs) before its records are
produced. The target topic (--to-topic, default TOPIC) is created with the
topic's partition count if it does not exist; an existing one needs at
least that many partitions. The producer is idempotent (acks=all), so
retries within a run never duplicate a record.

` + historyRangeUsage + `

--resume FILE keeps, per partition, the next offset to replay. It is read
at the start (a missing file means none yet) and rewritten atomically at
least every second from acknowledged records, and at the end. A run that is
interrupted (SIGINT, SIGTERM, an error) stops producing, waits (up to 2
minutes) for the records in flight to be acknowledged and saves FILE, so
running the same command again goes on where it stopped, with no record
twice. Only if the process dies without that (kill -9, a crash, a target
that does not answer) may the records in flight then be produced a second
time.

Two partitions are replayed at a time; each holds up to three segment
objects in memory (the one being produced, the next ones being fetched),
plus what the producer buffers.

Progress goes to stderr: a bar on a terminal, a line every 10 s otherwise.
The summary goes to stdout.

Exit status: 0 replayed, 1 failed or interrupted (unknown topic, missing or
corrupt segment object, target unreachable or refusing records), 2 usage
error.

Flags:
`

// Tuning of strata replay.
const (
	// Partitions are replayed replayParallel at a time, each holding up to
	// replayReadAhead+2 segment objects (see history.ReadSegments).
	replayParallel     = 2
	replayReadAhead    = 1
	replaySaveInterval = time.Second
	// replayFlushTimeout bounds the wait for the records in flight at the
	// end of a run. (kgo's RecordDeliveryTimeout would count from the
	// records' timestamps, which are history.)
	replayFlushTimeout = 2 * time.Minute
	resumeVersion      = 1
)

func runReplayCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	rp, err := parseReplay(args, stderr)
	if err == nil {
		err = rp.run(ctx, stdout, stderr)
	}
	return exitCodeOf(err, "strata replay", stderr)
}

// replayer runs one strata replay.
type replayer struct {
	hf         *historyFlags
	seeds      []string
	toTopic    string
	resumePath string
	// afterAck, if set (by tests), is called after each acknowledged
	// record with the number acknowledged so far in this run.
	afterAck func(acked int64)
	// clientOpts, if set (by tests), are added to the producer's options.
	clientOpts []kgo.Opt
}

// parseReplay parses the command line of strata replay.
func parseReplay(args []string, stderr io.Writer) (*replayer, error) {
	fset := flag.NewFlagSet("strata replay", flag.ContinueOnError)
	fset.SetOutput(stderr)
	rp := &replayer{hf: addHistoryFlags(fset)}
	to := fset.String("to", "", "`addresses` of the target Kafka cluster, host:port[,host:port…] (required)")
	fset.StringVar(&rp.toTopic, "to-topic", "", "`topic` to produce to (default --topic)")
	fset.StringVar(&rp.resumePath, "resume", "", "`file` keeping the next offset to replay per partition")
	fset.Usage = func() {
		fmt.Fprint(fset.Output(), replayUsage)
		fset.PrintDefaults()
	}
	pos, err := parseInterspersed(fset, args)
	if err != nil {
		return nil, err
	}
	if len(pos) > 0 {
		return nil, usageErrorf("unexpected argument %q", pos[0])
	}
	if *to == "" {
		return nil, usageErrorf("--to is required")
	}
	rp.seeds = strings.Split(*to, ",")
	return rp, nil
}

func (rp *replayer) run(ctx context.Context, stdout, stderr io.Writer) error {
	src, err := rp.hf.open(ctx)
	if err != nil {
		return err
	}
	if rp.toTopic == "" {
		rp.toTopic = src.topic.Name
	}
	acks := &replayAcks{next: map[int32]int64{}, afterAck: rp.afterAck}
	if rp.resumePath != "" {
		if acks.next, err = loadResume(rp.resumePath, src, rp.toTopic); err != nil {
			return err
		}
	}
	// Where each partition starts, fixed before any record is acknowledged.
	start := make(map[int32]int64, len(src.partitions))
	for _, p := range src.partitions {
		start[p] = max(src.r.FromOffset, acks.next[p])
	}
	pl, err := src.plan(ctx, func(p int32, e tiering.Entry) bool { return e.EndOffset > start[p] })
	if err != nil {
		return err
	}

	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(rp.seeds...),
		kgo.DefaultProduceTopic(rp.toTopic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
	}, rp.clientOpts...)...)
	if err != nil {
		return &usageError{err: fmt.Errorf("--to: %w", err)}
	}
	defer cl.Close()
	if err := ensureTopic(ctx, cl, rp.toTopic, src.topic.Partitions); err != nil {
		return err
	}

	// Producing stops when ctx ends or a record fails; records in flight
	// are still acknowledged (Flush) and saved.
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	acks.fail = cancel
	pl.note(stderr)
	prog := newProgress(stderr, "replayed", pl.bytes)
	g, gctx := errgroup.WithContext(runCtx)
	g.SetLimit(replayParallel)
	done := make(chan error, 1)
	go func() {
		for i, part := range pl.parts {
			p := src.partitions[i]
			r := src.r
			r.FromOffset = start[p]
			g.Go(func() error { return rp.partition(gctx, cl, part, p, r, pl.entries[i], acks, prog) })
		}
		done <- g.Wait()
	}()
	ticker := time.NewTicker(replaySaveInterval)
	defer ticker.Stop()
	var runErr, tickErr error
	for waiting := true; waiting; {
		select {
		case runErr = <-done:
			waiting = false
		case <-ticker.C:
			if tickErr = rp.save(src, acks); tickErr != nil {
				cancel()
				runErr = <-done
				waiting = false
			}
		}
	}
	// Flush waits for the records in flight, whether or not the run was
	// interrupted.
	flushCtx, flushCancel := context.WithTimeout(context.WithoutCancel(ctx), replayFlushTimeout)
	flushErr := cl.Flush(flushCtx)
	flushCancel()
	if flushErr != nil {
		flushErr = fmt.Errorf("wait for the records in flight: %w", flushErr)
	}
	prog.finish()
	saveErr := rp.save(src, acks)
	acked, ackErr := acks.result()
	switch {
	case ctx.Err() == nil && errors.Is(runErr, context.Canceled):
		runErr = nil // stopped by a failed record or save: ackErr or tickErr is the cause
	case runErr == nil && ctx.Err() != nil:
		runErr = ctx.Err() // interrupted after the last segment was queued
	}
	if err := errors.Join(ackErr, runErr, tickErr, flushErr, saveErr); err != nil {
		if rp.resumePath != "" {
			return fmt.Errorf("stopped after %d records acknowledged; run again to go on from %s: %w", acked, rp.resumePath, err)
		}
		return fmt.Errorf("stopped after %d records acknowledged (use --resume to be able to go on): %w", acked, err)
	}
	_, err = fmt.Fprintf(stdout, "replayed %d records of topic %s from %d segments into topic %s\n", acked, src.topic.Name, pl.segments, rp.toTopic)
	return err
}

// partition produces the records of partition p in r, from the segments
// entries.
func (rp *replayer) partition(ctx context.Context, cl *kgo.Client, part *history.Partition, p int32, r history.Range, entries []tiering.Entry, acks *replayAcks, prog *progress) error {
	// Records outlive ctx: once buffered they are produced and
	// acknowledged even if the run is interrupted.
	recCtx := context.WithoutCancel(ctx)
	for seg, err := range part.ReadSegments(ctx, entrySeq(entries), r, replayReadAhead) {
		if err != nil {
			return err
		}
		for _, rec := range seg.Records {
			if err := ctx.Err(); err != nil {
				return err
			}
			kr := &kgo.Record{
				Topic:     rp.toTopic,
				Partition: p,
				Key:       rec.Key,
				Value:     rec.Value,
				Timestamp: time.UnixMilli(rec.Timestamp),
			}
			for _, h := range rec.Headers {
				kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
			}
			offset := rec.Offset
			cl.Produce(recCtx, kr, func(_ *kgo.Record, err error) { acks.ack(p, offset, err) })
		}
		prog.add(seg.Entry.SizeBytes, int64(len(seg.Records)))
	}
	return nil
}

// replayAcks tracks the acknowledged records: per partition, the offset
// after the last record acknowledged with none failed before it. The
// idempotent producer acknowledges a partition's records in order.
type replayAcks struct {
	afterAck func(acked int64)
	fail     context.CancelFunc // stops the run

	mu     sync.Mutex // guards below
	next   map[int32]int64
	failed map[int32]bool
	acked  int64
	err    error // the first failure
}

func (a *replayAcks) ack(p int32, offset int64, err error) {
	a.mu.Lock()
	if err != nil {
		if a.err == nil {
			a.err = fmt.Errorf("produce partition %d offset %d: %w", p, offset, err)
		}
		if a.failed == nil {
			a.failed = map[int32]bool{}
		}
		a.failed[p] = true
		a.mu.Unlock()
		a.fail()
		return
	}
	if !a.failed[p] {
		a.next[p] = offset + 1
	}
	a.acked++
	n := a.acked
	a.mu.Unlock()
	if a.afterAck != nil {
		a.afterAck(n)
	}
}

// snapshot returns a copy of the next offsets.
func (a *replayAcks) snapshot() map[int32]int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[int32]int64, len(a.next))
	for p, off := range a.next {
		out[p] = off
	}
	return out
}

func (a *replayAcks) result() (acked int64, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.acked, a.err
}

// ensureTopic creates topic in the cluster of cl with partitions
// partitions unless it exists; an existing topic needs at least that many.
func ensureTopic(ctx context.Context, cl *kgo.Client, topic string, partitions int32) error {
	adm := kadm.NewClient(cl)
	details, err := adm.ListTopics(ctx, topic)
	if err != nil {
		return fmt.Errorf("look up topic %s in the target cluster: %w", topic, err)
	}
	if td, ok := details[topic]; ok && td.Err == nil {
		if n := int32(len(td.Partitions)); n < partitions {
			return fmt.Errorf("topic %s in the target cluster has %d partitions, the history has %d", topic, n, partitions)
		}
		return nil
	} else if ok && !errors.Is(td.Err, kerr.UnknownTopicOrPartition) {
		return fmt.Errorf("look up topic %s in the target cluster: %w", topic, td.Err)
	}
	resp, err := adm.CreateTopic(ctx, partitions, -1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("create topic %s in the target cluster: %w", topic, err)
	}
	return nil
}

// resumeFile is the JSON of --resume FILE.
type resumeFile struct {
	Version int    `json:"version"`
	Topic   string `json:"topic"`
	TopicID string `json:"topicId"`
	ToTopic string `json:"toTopic"`
	// Next is, by partition number, the next offset to replay.
	Next map[string]int64 `json:"next"`
}

// loadResume reads the resume file at name, which must belong to the same
// source topic and target topic. A missing file means nothing replayed yet.
func loadResume(name string, src *historySource, toTopic string) (map[int32]int64, error) {
	next := map[int32]int64{}
	body, err := os.ReadFile(name)
	if errors.Is(err, os.ErrNotExist) {
		return next, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read --resume file: %w", err)
	}
	var rf resumeFile
	if err := json.Unmarshal(body, &rf); err != nil {
		return nil, fmt.Errorf("--resume file %s: %w", name, err)
	}
	switch id := fmt.Sprintf("%x", src.topic.ID); {
	case rf.Version != resumeVersion:
		return nil, fmt.Errorf("--resume file %s has version %d, want %d", name, rf.Version, resumeVersion)
	case rf.TopicID != id || rf.ToTopic != toTopic:
		return nil, &usageError{err: fmt.Errorf("--resume file %s is for topic %s (ID %s) into %s, not topic %s (ID %s) into %s", name, rf.Topic, rf.TopicID, rf.ToTopic, src.topic.Name, id, toTopic)}
	}
	for ps, off := range rf.Next {
		p, err := parsePartition(ps)
		if err != nil || off < 0 {
			return nil, fmt.Errorf("--resume file %s: bad entry %q: %d", name, ps, off)
		}
		next[p] = off
	}
	return next, nil
}

// save writes the resume file, if any, atomically.
func (rp *replayer) save(src *historySource, acks *replayAcks) error {
	if rp.resumePath == "" {
		return nil
	}
	rf := resumeFile{Version: resumeVersion, Topic: src.topic.Name, TopicID: fmt.Sprintf("%x", src.topic.ID), ToTopic: rp.toTopic, Next: map[string]int64{}}
	for p, off := range acks.snapshot() {
		rf.Next[strconv.Itoa(int(p))] = off
	}
	body, err := json.MarshalIndent(rf, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(rp.resumePath, func(w io.Writer) error {
		_, err := w.Write(append(body, '\n'))
		return err
	})
}

package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/strata-io/strata/objectstore"
	"github.com/strata-io/strata/tiering"
)

const manifestUsage = `Usage: strata manifest show --bucket URL [--json] TOPIC PARTITION

Prints the manifest of one partition's remote tier: the head (writer epoch
and id, generation, logStartOffset, remoteEnd, chunk refs) and one line per
live segment (base and end offset, records, bytes, min and max timestamp in
Unix milliseconds, writer epoch, and the object key relative to the
partition prefix). It only reads the bucket.

TOPIC is the topic's name, as the bucket's topic metadata records it
(topics/<ID>/topic.json), or its ID as 32 hex digits, as it appears in the
bucket's keys (topics/<ID>/<PARTITION>/manifest): an ID also finds the
partitions of a deleted topic, whose objects stay in the bucket.

Exit status: 0 printed, 1 the manifest is missing, corrupt or unreadable,
2 usage error.

Flags:
`

// runManifestCommand runs `strata manifest <subcommand>`.
func runManifestCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runSubcommand(ctx, "strata manifest", manifestUsage, map[string]subcommand{"show": runManifestShow}, args, stdout, stderr)
}

func runManifestShow(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	const name = "strata manifest show"
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	bucket := fs.String("bucket", "", bucketFlagUsage)
	asJSON := fs.Bool("json", false, "print one JSON object instead of text")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), manifestUsage)
		fs.PrintDefaults()
	}
	err := func() error {
		pos, err := parseInterspersed(fs, args)
		if err != nil {
			return err
		}
		if len(pos) != 2 {
			return usageErrorf("want TOPIC PARTITION, got %d arguments", len(pos))
		}
		partition, err := parsePartition(pos[1])
		if err != nil {
			return &usageError{err: err}
		}
		rawURL, err := bucketFlag(*bucket)
		if err != nil {
			return err
		}
		b, err := openBucketForReading(ctx, rawURL)
		if err != nil {
			return err
		}
		topicID, err := findTopic(ctx, b, pos[0])
		if err != nil {
			return err
		}
		return showManifest(ctx, stdout, b, topicID, partition, *asJSON)
	}()
	return exitCodeOf(err, name, stderr)
}

// findTopic returns the ID of the topic the bucket's metadata names topic,
// or topic itself parsed as an ID when no topic has that name.
func findTopic(ctx context.Context, b objectstore.Bucket, topic string) ([16]byte, error) {
	t, err := lookupTopic(ctx, b, topic)
	if !errors.As(err, new(*unknownTopicError)) {
		return t.ID, err
	}
	id, idErr := parseTopicID(topic)
	if idErr != nil {
		return [16]byte{}, fmt.Errorf("%w, and it is not a topic ID: %w", err, idErr)
	}
	return id, nil
}

// showManifest prints the manifest of one partition to w, as text or JSON.
// It streams the entries, reading one chunk at a time, so a partition of
// 10^6 segments does not have to fit in memory.
func showManifest(ctx context.Context, w io.Writer, b objectstore.Bucket, topicID [16]byte, partition int32, asJSON bool) error {
	prefix := tiering.PartitionPrefix(topicID, partition)
	m, _, err := tiering.Load(ctx, b, prefix)
	if errors.Is(err, objectstore.ErrNotExist) {
		return fmt.Errorf("topic %x partition %d has no manifest (%smanifest): check the topic ID and partition, or the partition has never uploaded a segment", topicID, partition, prefix)
	}
	if err != nil {
		return err
	}
	if asJSON {
		return writeManifestJSON(ctx, w, b, topicID, partition, m)
	}
	return writeManifestText(ctx, w, b, topicID, partition, m)
}

// showFlushRows is the number of segment rows written between two flushes
// of the table: it bounds what the tabwriter buffers, at the price of
// column widths that may change every showFlushRows rows.
const showFlushRows = 1000

func writeManifestText(ctx context.Context, w io.Writer, b objectstore.Bucket, topicID [16]byte, partition int32, m *tiering.Manifest) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "topic ID\t%x\n", topicID)
	fmt.Fprintf(tw, "partition\t%d\n", partition)
	fmt.Fprintf(tw, "prefix\t%s\n", m.Prefix)
	fmt.Fprintf(tw, "writer epoch\t%d\n", m.WriterEpoch)
	fmt.Fprintf(tw, "writer ID\t%s\n", m.WriterID)
	fmt.Fprintf(tw, "generation\t%d\n", m.Generation)
	fmt.Fprintf(tw, "log start offset\t%d\n", m.LogStartOffset)
	fmt.Fprintf(tw, "remote end\t%d\n", m.RemoteEnd)
	fmt.Fprintf(tw, "chunk refs\t%d\n", len(m.Chunks))
	fmt.Fprintf(tw, "tail entries\t%d\n", len(m.Tail))
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(m.Chunks) > 0 {
		fmt.Fprintf(w, "\nchunk refs:\n")
		fmt.Fprintf(tw, "FIRST_BASE\tEND\tENTRIES\tBYTES\tMIN_TS\tMAX_TS\tKEY\n")
		for _, c := range m.Chunks {
			fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t%d\t%s\n", c.FirstBase, c.EndOffset, c.Count, c.Bytes, c.MinTimestamp, c.MaxTimestamp, c.Key)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "\nsegments:\n")
	fmt.Fprintf(tw, "BASE\tEND\tRECORDS\tBYTES\tMIN_TS\tMAX_TS\tEPOCH\tKEY\n")
	var (
		n     int
		bytes int64
	)
	for e, err := range m.Entries(ctx, b) {
		if err != nil {
			_ = tw.Flush() // print what we have before the error
			return err
		}
		fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", e.BaseOffset, e.EndOffset, e.Records, e.SizeBytes, e.MinTimestamp, e.MaxTimestamp, e.Epoch, e.Key)
		n++
		bytes += e.SizeBytes
		if n%showFlushRows == 0 {
			if err := tw.Flush(); err != nil {
				return err
			}
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d live segments, %d bytes, offsets [%d, %d)\n", n, bytes, m.LogStartOffset, m.RemoteEnd)
	return err
}

// manifestJSON is the head in `strata manifest show --json`. The entries
// follow it in the same object, under "entries".
type manifestJSON struct {
	TopicID        string      `json:"topicId"`
	Partition      int32       `json:"partition"`
	Prefix         string      `json:"prefix"`
	WriterEpoch    int64       `json:"writerEpoch"`
	WriterID       string      `json:"writerId"`
	Generation     int64       `json:"generation"`
	LogStartOffset int64       `json:"logStartOffset"`
	RemoteEnd      int64       `json:"remoteEnd"`
	Chunks         []chunkJSON `json:"chunks"`
}

type chunkJSON struct {
	Key          string `json:"key"`
	FirstBase    int64  `json:"firstBase"`
	EndOffset    int64  `json:"endOffset"`
	Count        int    `json:"count"`
	Bytes        int64  `json:"bytes"`
	MinTimestamp int64  `json:"minTimestamp"`
	MaxTimestamp int64  `json:"maxTimestamp"`
}

// entryJSON is one live segment; Key is relative to the prefix.
type entryJSON struct {
	BaseOffset   int64  `json:"baseOffset"`
	EndOffset    int64  `json:"endOffset"`
	Records      int64  `json:"records"`
	SizeBytes    int64  `json:"sizeBytes"`
	MinTimestamp int64  `json:"minTimestamp"`
	MaxTimestamp int64  `json:"maxTimestamp"`
	Epoch        int64  `json:"epoch"`
	Key          string `json:"key"`
}

// writeManifestJSON writes one JSON object: the fields of manifestJSON and
// "entries", an array of entryJSON with one element per line. The entries
// are streamed, not collected; if reading them fails, the output stops
// short and is not valid JSON.
func writeManifestJSON(ctx context.Context, w io.Writer, b objectstore.Bucket, topicID [16]byte, partition int32, m *tiering.Manifest) error {
	head := manifestJSON{
		TopicID:        hex.EncodeToString(topicID[:]),
		Partition:      partition,
		Prefix:         m.Prefix,
		WriterEpoch:    int64(m.WriterEpoch),
		WriterID:       m.WriterID.String(),
		Generation:     m.Generation,
		LogStartOffset: m.LogStartOffset,
		RemoteEnd:      m.RemoteEnd,
		Chunks:         make([]chunkJSON, 0, len(m.Chunks)),
	}
	for _, c := range m.Chunks {
		head.Chunks = append(head.Chunks, chunkJSON{
			Key: c.Key, FirstBase: c.FirstBase, EndOffset: c.EndOffset, Count: c.Count,
			Bytes: c.Bytes, MinTimestamp: c.MinTimestamp, MaxTimestamp: c.MaxTimestamp,
		})
	}
	out, err := json.Marshal(head)
	if err != nil {
		return err
	}
	// Reopen the object to append the entries to it.
	out = append(out[:len(out)-1], `,"entries":[`...)
	sep := "\n"
	for e, err := range m.Entries(ctx, b) {
		if err != nil {
			_, _ = w.Write(out)
			return err
		}
		line, err := json.Marshal(entryJSON{
			BaseOffset: e.BaseOffset, EndOffset: e.EndOffset, Records: e.Records, SizeBytes: e.SizeBytes,
			MinTimestamp: e.MinTimestamp, MaxTimestamp: e.MaxTimestamp, Epoch: int64(e.Epoch), Key: e.Key,
		})
		if err != nil {
			return err
		}
		out = append(append(out, sep...), line...)
		sep = ",\n"
		if len(out) >= 64<<10 {
			if _, err := w.Write(out); err != nil {
				return err
			}
			out = out[:0]
		}
	}
	out = append(out, "\n]}\n"...)
	_, err = w.Write(out)
	return err
}

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"iter"
	"math"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"golang.org/x/sync/errgroup"

	"github.com/strata-io/strata/batch"
	"github.com/strata-io/strata/history"
	"github.com/strata-io/strata/tiering"
)

const exportUsage = `Usage: strata export --bucket URL --topic TOPIC [--partitions 0,1,…]
         [--from-offset N | --from-time RFC3339] [--to-offset N | --to-time RFC3339]
         [--format parquet|arrow] --out DIR

Writes the records of a topic's history in a bucket to Apache Parquet
(default) or Arrow IPC files, zstd-compressed, one file per segment object,
without a broker. It only reads the bucket. Compressed record batches are
decompressed; transaction markers are left out. Columns:

  partition int32, offset int64, timestamp timestamp[ms, UTC],
  key binary (null for a null key), value binary (null for a null value),
  headers list<struct<key string, value binary>>

` + historyRangeUsage + `

Files are named after their segment object:

  DIR/TOPIC/PARTITION/<base>-<end>-<epoch>-<id>.parquet
      every record of the segment [base, end)
  DIR/TOPIC/PARTITION/<base>-<end>-<epoch>-<id>.o<lo>-<hi>[.t<from>-<to>].parquet
      only the records at offsets [lo, hi) (and times [from, to), Unix ms,
      when a time bound is given) of a segment the range cuts

(.arrow for --format arrow). A file is written under a temporary name and
renamed once complete, and a file that exists is not written again, so
running the same export again writes only what is new in the bucket. Every
segment object is verified (CRCs) before its records are written.

Two partitions are exported at a time; each holds up to three segment
objects in memory (the one being written, the next ones being fetched).

Progress goes to stderr: a bar on a terminal, a line every 10 s otherwise.
The summary goes to stdout.

Exit status: 0 exported, 1 failed (unknown topic, missing or corrupt
segment object, unreadable bucket, unwritable DIR), 2 usage error.

Flags:
`

// Export file formats and their file name extensions.
var exportFormats = map[string]string{"parquet": ".parquet", "arrow": ".arrow"}

// Tuning of strata export.
const (
	// Partitions are exported exportParallel at a time, each holding up to
	// exportReadAhead+2 segment objects (see history.ReadSegments).
	exportParallel  = 2
	exportReadAhead = 1
	exportBatchRows = 1 << 16 // rows per Arrow record batch and Parquet row group
)

func runExportCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	const name = "strata export"
	fset := flag.NewFlagSet(name, flag.ContinueOnError)
	fset.SetOutput(stderr)
	hf := addHistoryFlags(fset)
	format := fset.String("format", "parquet", "file `format`: parquet or arrow")
	out := fset.String("out", "", "`directory` to write the files under (required)")
	fset.Usage = func() {
		fmt.Fprint(fset.Output(), exportUsage)
		fset.PrintDefaults()
	}
	err := func() error {
		pos, err := parseInterspersed(fset, args)
		if err != nil {
			return err
		}
		if len(pos) > 0 {
			return usageErrorf("unexpected argument %q", pos[0])
		}
		ext, ok := exportFormats[*format]
		if !ok {
			return usageErrorf("--format %q: want parquet or arrow", *format)
		}
		if *out == "" {
			return usageErrorf("--out is required")
		}
		src, err := hf.open(ctx)
		if err != nil {
			return err
		}
		ex := &exporter{src: src, dir: *out, format: *format, ext: ext}
		return ex.run(ctx, stdout, stderr)
	}()
	return exitCodeOf(err, name, stderr)
}

// exporter runs one strata export.
type exporter struct {
	src    *historySource
	dir    string
	format string
	ext    string
}

func (ex *exporter) run(ctx context.Context, stdout, stderr io.Writer) error {
	var skipped atomic.Int64
	pl, err := ex.src.plan(ctx, func(p int32, e tiering.Entry) bool {
		if fileExists(ex.path(p, e, covers(ex.src.r, e))) {
			skipped.Add(1)
			return false
		}
		return true
	})
	if err != nil {
		return err
	}
	pl.note(stderr)
	prog := newProgress(stderr, "exported", pl.bytes)
	var files, records atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(exportParallel)
	for i, part := range pl.parts {
		p := ex.src.partitions[i]
		g.Go(func() error {
			for seg, err := range part.ReadSegments(gctx, entrySeq(pl.entries[i]), ex.src.r, exportReadAhead) {
				if err != nil {
					return err
				}
				if dst := ex.path(p, seg.Entry, seg.Whole); fileExists(dst) {
					skipped.Add(1) // the range cut records the entry did not show
				} else {
					if err := ex.write(dst, p, seg.Records); err != nil {
						return err
					}
					files.Add(1)
					records.Add(int64(len(seg.Records)))
				}
				prog.add(seg.Entry.SizeBytes, int64(len(seg.Records)))
			}
			return nil
		})
	}
	err = g.Wait()
	prog.finish()
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "exported %d records of topic %s into %d new files under %s; %d files were there already\n",
		records.Load(), ex.src.topic.Name, files.Load(), ex.dir, skipped.Load())
	return err
}

// entrySeq yields entries, for history.Partition.ReadSegments.
func entrySeq(entries []tiering.Entry) iter.Seq2[tiering.Entry, error] {
	return func(yield func(tiering.Entry, error) bool) {
		for _, e := range entries {
			if !yield(e, nil) {
				return
			}
		}
	}
}

// covers reports whether r holds every record of segment e, judged by its
// entry.
func covers(r history.Range, e tiering.Entry) bool {
	return r.FromOffset <= e.BaseOffset && e.EndOffset <= r.ToOffset && r.FromTime <= e.MinTimestamp && e.MaxTimestamp < r.ToTime
}

// path returns the file for the records of segment e of partition p in
// the range: named after the object if whole, after the object and the
// range otherwise (see exportUsage).
func (ex *exporter) path(p int32, e tiering.Entry, whole bool) string {
	name := path.Base(e.Key)
	if r := ex.src.r; !whole {
		name += fmt.Sprintf(".o%d-%d", max(r.FromOffset, e.BaseOffset), min(r.ToOffset, e.EndOffset))
		if r.FromTime != math.MinInt64 || r.ToTime != math.MaxInt64 {
			name += fmt.Sprintf(".t%s-%s", timeBound(r.FromTime, math.MinInt64), timeBound(r.ToTime, math.MaxInt64))
		}
	}
	return filepath.Join(ex.dir, ex.src.topic.Name, strconv.Itoa(int(p)), name+ex.ext)
}

// timeBound renders a time bound for a file name: Unix ms, or "" if none.
func timeBound(ms, none int64) string {
	if ms == none {
		return ""
	}
	return strconv.FormatInt(ms, 10)
}

func fileExists(name string) bool {
	_, err := os.Stat(name)
	return err == nil
}

// write writes recs of partition p to the file dst, atomically.
func (ex *exporter) write(dst string, p int32, recs []batch.Record) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return writeFileAtomic(dst, func(w io.Writer) error { return writeRecords(w, ex.format, p, recs) })
}

// exportSchema is the schema of the exported records; see exportUsage.
var exportSchema = arrow.NewSchema([]arrow.Field{
	{Name: "partition", Type: arrow.PrimitiveTypes.Int32},
	{Name: "offset", Type: arrow.PrimitiveTypes.Int64},
	{Name: "timestamp", Type: arrow.FixedWidthTypes.Timestamp_ms},
	{Name: "key", Type: arrow.BinaryTypes.Binary, Nullable: true},
	{Name: "value", Type: arrow.BinaryTypes.Binary, Nullable: true},
	{Name: "headers", Type: arrow.ListOfNonNullable(arrow.StructOf(
		arrow.Field{Name: "key", Type: arrow.BinaryTypes.String},
		arrow.Field{Name: "value", Type: arrow.BinaryTypes.Binary, Nullable: true},
	))},
}, nil)

// recordBatchWriter is what Parquet's and Arrow IPC's file writers share.
type recordBatchWriter interface {
	Write(arrow.RecordBatch) error
	Close() error
}

// writeRecords writes recs of partition p to w as one file of format, in
// record batches (Parquet row groups) of up to exportBatchRows rows.
func writeRecords(w io.Writer, format string, p int32, recs []batch.Record) (err error) {
	var fw recordBatchWriter
	switch format {
	case "parquet":
		props := parquet.NewWriterProperties(
			parquet.WithCompression(compress.Codecs.Zstd),
			parquet.WithMaxRowGroupLength(exportBatchRows),
			// Values are rarely repeated: a dictionary costs a hash of
			// each and is then dropped. Nor are min/max statistics of
			// values of use to a query.
			parquet.WithDictionaryFor("value", false),
			parquet.WithStatsFor("value", false),
		)
		fw, err = pqarrow.NewFileWriter(exportSchema, w, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	case "arrow":
		fw, err = ipc.NewFileWriter(w, ipc.WithSchema(exportSchema), ipc.WithZstd())
	default:
		err = fmt.Errorf("unknown format %q", format)
	}
	if err != nil {
		return err
	}
	defer func() {
		if cerr := fw.Close(); err == nil {
			err = cerr
		}
	}()
	b := array.NewRecordBuilder(memory.DefaultAllocator, exportSchema)
	defer b.Release()
	for len(recs) > 0 {
		n := min(len(recs), exportBatchRows)
		appendRecords(b, p, recs[:n])
		recs = recs[n:]
		rb := b.NewRecordBatch()
		err := fw.Write(rb)
		rb.Release()
		if err != nil {
			return err
		}
	}
	return nil
}

// appendRecords appends recs of partition p to b, built on exportSchema.
func appendRecords(b *array.RecordBuilder, p int32, recs []batch.Record) {
	var (
		parts   = b.Field(0).(*array.Int32Builder)
		offsets = b.Field(1).(*array.Int64Builder)
		times   = b.Field(2).(*array.TimestampBuilder)
		keys    = b.Field(3).(*array.BinaryBuilder)
		values  = b.Field(4).(*array.BinaryBuilder)
		headers = b.Field(5).(*array.ListBuilder)
		header  = headers.ValueBuilder().(*array.StructBuilder)
		hkeys   = header.FieldBuilder(0).(*array.StringBuilder)
		hvalues = header.FieldBuilder(1).(*array.BinaryBuilder)
	)
	appendBytes := func(bb *array.BinaryBuilder, v []byte) {
		if v == nil {
			bb.AppendNull()
		} else {
			bb.Append(v)
		}
	}
	for _, r := range recs {
		parts.Append(p)
		offsets.Append(r.Offset)
		times.Append(arrow.Timestamp(r.Timestamp))
		appendBytes(keys, r.Key)
		appendBytes(values, r.Value)
		headers.Append(true)
		for _, h := range r.Headers {
			header.Append(true)
			hkeys.Append(h.Key)
			appendBytes(hvalues, h.Value)
		}
	}
}

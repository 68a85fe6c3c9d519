package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/strata-io/strata/objectstore"
	"github.com/strata-io/strata/tiering"
)

const bucketUsage = `Usage: strata bucket verify --bucket URL [--prefix-only] [--verbose]

Checks every partition in the bucket, found by listing the keys under
topics/ that end in /manifest. For each partition it loads the manifest head
and checks its chunks (entries ordered, contiguous and non-overlapping,
logStartOffset inside the first live segment, epochs never falling and
never above the writer's epoch, no key used twice); then, one object at a
time, that each live segment's object exists, has the size its entry says,
and decodes: data, index and producer-snapshot CRCs (an object of format
version 1 has no snapshot), every record batch's CRC and offsets, and a
footer whose offsets, record count and timestamps equal the entry's.

Each problem is one line on stdout:
  PROBLEM topic=<id> partition=<n> offset=[<base>,<end>) key=<key>: <what>
(offset=? when the manifest head itself cannot be read). Objects under a
partition's segments/ or chunks/ that its manifest does not reference are
orphans: a crash between an upload and its commit, or retention that did
not finish deleting, leaves them. They are warnings, not problems:
  ORPHAN topic=<id> partition=<n> key=<key>: <why>
The last line is the summary:
  verified N partitions, M segments, B bytes: K problems, W orphans

Keys are the bucket's, below the URL's prefix. A partition being written
while it is verified may show orphans (uploads not yet committed) or, if
retention deletes a segment in between, a missing object; run it again.

Exit status: 0 no problems (orphans allowed), 1 problems found or the
bucket could not be read, 2 usage error.

Flags:
`

// runBucketCommand runs `strata bucket <subcommand>`.
func runBucketCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runSubcommand(ctx, "strata bucket", bucketUsage, map[string]subcommand{"verify": runBucketVerify}, args, stdout, stderr)
}

func runBucketVerify(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	const name = "strata bucket verify"
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	bucket := fs.String("bucket", "", bucketFlagUsage)
	prefixOnly := fs.Bool("prefix-only", false, "check the manifests against a listing of each partition's prefix (objects present, sizes right, orphans) without reading the segment objects: fast, but no checksums")
	verbose := fs.Bool("verbose", false, "also print one line per partition checked")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), bucketUsage)
		fs.PrintDefaults()
	}
	var v *verifier
	err := func() error {
		pos, err := parseInterspersed(fs, args)
		if err != nil {
			return err
		}
		if len(pos) > 0 {
			return usageErrorf("unexpected argument %q", pos[0])
		}
		rawURL, err := bucketFlag(*bucket)
		if err != nil {
			return err
		}
		b, err := openBucketForReading(ctx, rawURL)
		if err != nil {
			return err
		}
		v = &verifier{b: b, out: stdout, prefixOnly: *prefixOnly, verbose: *verbose}
		if err := v.run(ctx); err != nil {
			return fmt.Errorf("verify stopped after %d partitions: %w", v.partitions, err)
		}
		if v.partitions == 0 && v.orphans == 0 {
			fmt.Fprintf(stderr, "%s: no partitions under topics/ in this bucket; is the URL (and its prefix) right?\n", name)
		}
		return nil
	}()
	switch {
	case err != nil:
		return exitCodeOf(err, name, stderr)
	case v.problems > 0:
		return exitError
	default:
		return exitOK
	}
}

// verifier checks a bucket partition by partition; see bucketUsage. It
// holds one segment object in memory at a time, plus the listing of the
// partition being checked.
type verifier struct {
	b          objectstore.Bucket
	out        io.Writer
	prefixOnly bool
	verbose    bool

	// Totals for the summary.
	partitions, segments int
	bytes                int64
	problems, orphans    int
}

// listedPartition is what one partition's listing holds.
type listedPartition struct {
	prefix      string
	topic       string // 32 hex digits, as in the key
	partition   int32
	hasManifest bool
	objects     map[string]int64 // size by key relative to prefix, under segments/ and chunks/
}

// Keys relative to a partition prefix; see tiering's package doc.
const (
	manifestKey   = "manifest"
	segmentsDir   = "segments/"
	chunksDir     = "chunks/"
	topicsPrefix  = "topics/"
	topicIDDigits = 32
)

// run lists topics/ once and checks each partition as soon as its keys
// have all been listed: the keys of one partition prefix are adjacent in
// the listing's byte order. It prints the summary, and returns an error
// only if the bucket cannot be read well enough to go on.
func (v *verifier) run(ctx context.Context) error {
	var cur *listedPartition
	for info, err := range v.b.List(ctx, topicsPrefix) {
		if err != nil {
			return fmt.Errorf("list %s: %w", topicsPrefix, err)
		}
		prefix, topic, partition, ok := splitPartitionKey(info.Key)
		if !ok {
			continue // not a partition's object; nothing here to check
		}
		if cur == nil || cur.prefix != prefix {
			if cur != nil {
				if err := v.partition(ctx, cur); err != nil {
					return err
				}
			}
			cur = &listedPartition{prefix: prefix, topic: topic, partition: partition, objects: map[string]int64{}}
		}
		switch rel := info.Key[len(prefix):]; {
		case rel == manifestKey:
			cur.hasManifest = true
		case strings.HasPrefix(rel, segmentsDir), strings.HasPrefix(rel, chunksDir):
			cur.objects[rel] = info.Size
		}
	}
	if cur != nil {
		if err := v.partition(ctx, cur); err != nil {
			return err
		}
	}
	fmt.Fprintf(v.out, "verified %d partitions, %d segments, %d bytes: %d problems, %d orphans\n",
		v.partitions, v.segments, v.bytes, v.problems, v.orphans)
	return nil
}

// splitPartitionKey splits a key "topics/<32 hex>/<partition>/<rest>" into
// its partition prefix, topic ID and partition. It reports false for any
// other key.
func splitPartitionKey(key string) (prefix, topic string, partition int32, ok bool) {
	rest, ok := strings.CutPrefix(key, topicsPrefix)
	if !ok {
		return "", "", 0, false
	}
	topic, rest, ok = strings.Cut(rest, "/")
	if !ok || len(topic) != topicIDDigits || strings.ToLower(topic) != topic {
		return "", "", 0, false
	}
	if _, err := parseTopicID(topic); err != nil {
		return "", "", 0, false
	}
	p, rest, ok := strings.Cut(rest, "/")
	if !ok || rest == "" {
		return "", "", 0, false
	}
	partition, err := parsePartition(p)
	if err != nil || fmt.Sprint(partition) != p {
		return "", "", 0, false // "007" is not a key PartitionPrefix makes
	}
	return key[:len(key)-len(rest)], topic, partition, true
}

// fatal reports whether err stops the whole verify: the context ended, or
// the bucket failed in a way that says nothing about the data (after
// WithRetry's retries). A missing object or corrupt bytes are problems,
// reported and counted.
func fatal(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return true
	}
	return !errors.Is(err, objectstore.ErrNotExist) && !errors.Is(err, tiering.ErrCorrupt)
}

// problem prints one PROBLEM line. offsets is "[base,end)" or "?".
func (v *verifier) problem(p *listedPartition, offsets, key, format string, args ...any) {
	v.problems++
	fmt.Fprintf(v.out, "PROBLEM topic=%s partition=%d offset=%s key=%s: %s\n",
		p.topic, p.partition, offsets, key, fmt.Sprintf(format, args...))
}

func offsetRange(base, end int64) string { return fmt.Sprintf("[%d,%d)", base, end) }

// partition checks one listed partition.
func (v *verifier) partition(ctx context.Context, p *listedPartition) error {
	if !p.hasManifest {
		for _, key := range slices.Sorted(maps.Keys(p.objects)) {
			v.orphan(p, key, "the partition has no manifest")
		}
		return nil
	}
	v.partitions++
	problemsBefore, segmentsBefore, bytesBefore := v.problems, v.segments, v.bytes
	offsets, err := v.manifest(ctx, p)
	if err != nil {
		return err
	}
	if v.verbose {
		fmt.Fprintf(v.out, "CHECKED topic=%s partition=%d offset=%s segments=%d bytes=%d problems=%d\n",
			p.topic, p.partition, offsets, v.segments-segmentsBefore, v.bytes-bytesBefore, v.problems-problemsBefore)
	}
	return nil
}

// manifest checks the manifest of p and the objects it references, and
// reports p's orphans. It returns the remote tier's offsets ("?" if the
// head is unreadable) and an error only if the verify must stop.
func (v *verifier) manifest(ctx context.Context, p *listedPartition) (offsets string, _ error) {
	headKey := p.prefix + manifestKey
	m, _, err := tiering.Load(ctx, v.b, p.prefix)
	if err != nil {
		if fatal(ctx, err) {
			return "", err
		}
		// Without a head, which objects are orphans is unknown: report none.
		v.problem(p, "?", headKey, "manifest head unreadable: %v", err)
		return "?", nil
	}
	offsets = offsetRange(m.LogStartOffset, m.RemoteEnd)
	checkErr := m.Check(ctx, v.b)
	if checkErr != nil {
		if fatal(ctx, checkErr) {
			return "", checkErr
		}
		v.problem(p, offsets, headKey, "manifest check failed: %v", checkErr)
	}
	for _, c := range m.Chunks {
		delete(p.objects, c.Key)
	}
	for e, err := range m.Entries(ctx, v.b) {
		if err != nil {
			if fatal(ctx, err) {
				return "", err
			}
			// Check has read every chunk: report a chunk only if it went
			// bad since, or the same fault would show twice. Which objects
			// are orphans is unknown: report none.
			if checkErr == nil {
				v.problem(p, offsets, headKey, "reading the entries failed: %v", err)
			}
			return offsets, nil
		}
		size, listed := p.objects[e.Key]
		delete(p.objects, e.Key)
		if e.Epoch > m.WriterEpoch {
			v.problem(p, offsetRange(e.BaseOffset, e.EndOffset), p.prefix+e.Key,
				"entry epoch %d is above the manifest's writer epoch %d", e.Epoch, m.WriterEpoch)
		}
		if err := v.segment(ctx, p, e, size, listed); err != nil {
			return "", err
		}
	}
	// What no live entry or chunk ref took out of p.objects is an orphan,
	// also the segment of an entry that retention made dead (below
	// logStartOffset): its deletion did not finish.
	for _, key := range slices.Sorted(maps.Keys(p.objects)) {
		what := "segment object"
		if strings.HasPrefix(key, chunksDir) {
			what = "chunk"
		}
		v.orphan(p, key, what+" not referenced by the manifest")
	}
	return offsets, nil
}

// segment checks the object of one live entry. size and listed are what
// the partition's listing said about it. In prefix-only mode it compares
// sizes only; otherwise it reads and decodes the whole object.
func (v *verifier) segment(ctx context.Context, p *listedPartition, e tiering.Entry, size int64, listed bool) error {
	key := p.prefix + e.Key
	offsets := offsetRange(e.BaseOffset, e.EndOffset)
	v.segments++
	if v.prefixOnly {
		if !listed {
			// A listing is not a snapshot; ask before reporting.
			info, err := v.b.Head(ctx, key)
			if errors.Is(err, objectstore.ErrNotExist) {
				v.problem(p, offsets, key, "segment object is missing")
				return nil
			}
			if err != nil {
				return fmt.Errorf("head %s: %w", key, err)
			}
			size = info.Size
		}
		v.bytes += size
		if size != e.SizeBytes {
			v.problem(p, offsets, key, "segment object is %d bytes, its entry says %d", size, e.SizeBytes)
		}
		return nil
	}

	obj, _, err := v.b.Get(ctx, key)
	if errors.Is(err, objectstore.ErrNotExist) {
		v.problem(p, offsets, key, "segment object is missing")
		return nil
	}
	if err != nil {
		return fmt.Errorf("get %s: %w", key, err)
	}
	v.bytes += int64(len(obj))
	// One line per object, whatever is wrong with it.
	var issues []string
	if int64(len(obj)) != e.SizeBytes {
		issues = append(issues, fmt.Sprintf("is %d bytes, its entry says %d", len(obj), e.SizeBytes))
	}
	if seg, err := tiering.DecodeSegment(obj); err != nil {
		issues = append(issues, fmt.Sprintf("is corrupt: %v", err))
	} else if diff := footerDiff(seg.Footer, e); diff != "" {
		issues = append(issues, "disagrees with its entry: "+diff)
	}
	if len(issues) > 0 {
		v.problem(p, offsets, key, "segment object %s", strings.Join(issues, "; "))
	}
	return nil
}

// footerDiff describes how a segment's verified footer disagrees with its
// manifest entry, or returns "" if they agree. An object holding offsets
// outside its entry's range overlaps the neighbouring segments; one holding
// fewer leaves offsets without a home.
func footerDiff(f tiering.Footer, e tiering.Entry) string {
	var diffs []string
	if f.BaseOffset != e.BaseOffset || f.EndOffset != e.EndOffset {
		d := fmt.Sprintf("it holds offsets [%d,%d), the entry says [%d,%d)", f.BaseOffset, f.EndOffset, e.BaseOffset, e.EndOffset)
		if f.BaseOffset < e.BaseOffset {
			d += fmt.Sprintf("; offsets [%d,%d) overlap the segments below the entry", f.BaseOffset, min(f.EndOffset, e.BaseOffset))
		}
		if f.EndOffset > e.EndOffset {
			d += fmt.Sprintf("; offsets [%d,%d) overlap the segments above the entry", max(f.BaseOffset, e.EndOffset), f.EndOffset)
		}
		if f.BaseOffset > e.BaseOffset || f.EndOffset < e.EndOffset {
			d += "; the object lacks part of the entry's offsets"
		}
		diffs = append(diffs, d)
	}
	if f.RecordCount != e.Records {
		diffs = append(diffs, fmt.Sprintf("it holds %d records, the entry says %d", f.RecordCount, e.Records))
	}
	if f.MinTimestamp != e.MinTimestamp || f.MaxTimestamp != e.MaxTimestamp {
		diffs = append(diffs, fmt.Sprintf("its timestamps are [%d, %d], the entry says [%d, %d]", f.MinTimestamp, f.MaxTimestamp, e.MinTimestamp, e.MaxTimestamp))
	}
	return strings.Join(diffs, "; ")
}

// orphan prints one ORPHAN line for key, relative to p.prefix.
func (v *verifier) orphan(p *listedPartition, key, why string) {
	v.orphans++
	fmt.Fprintf(v.out, "ORPHAN topic=%s partition=%d key=%s%s: %s, %d bytes\n", p.topic, p.partition, p.prefix, key, why, p.objects[key])
}

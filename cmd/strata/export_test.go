package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// readExport reads every file under dir written by strata export in
// format back with arrow-go's readers, and returns the records ordered by
// partition, then offset, and the files by path relative to dir.
func readExport(t *testing.T, dir, format string) ([]testRecord, map[string]fs.FileInfo) {
	t.Helper()
	var recs []testRecord
	files := map[string]fs.FileInfo{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		files[filepath.ToSlash(rel)] = info
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		switch format {
		case "parquet":
			tbl, err := pqarrow.ReadTable(t.Context(), f, parquet.NewReaderProperties(nil), pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
			if err != nil {
				return err
			}
			defer tbl.Release()
			checkSchema(t, rel, tbl.Schema())
			tr := array.NewTableReader(tbl, 1000)
			defer tr.Release()
			for tr.Next() {
				recs = append(recs, fromArrow(tr.RecordBatch())...)
			}
			return tr.Err()
		case "arrow":
			r, err := ipc.NewFileReader(f)
			if err != nil {
				return err
			}
			defer r.Close()
			checkSchema(t, rel, r.Schema())
			for i := range r.NumRecords() {
				rb, err := r.RecordBatch(i)
				if err != nil {
					return err
				}
				recs = append(recs, fromArrow(rb)...)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.SortStableFunc(recs, func(a, b testRecord) int {
		if a.Partition != b.Partition {
			return int(a.Partition - b.Partition)
		}
		return int(a.Offset - b.Offset)
	})
	return recs, files
}

// checkSchema checks that a file's schema is exportSchema, but for field
// metadata and the name of the list's element field, which Parquet sets.
func checkSchema(t *testing.T, file string, s *arrow.Schema) {
	t.Helper()
	if s.NumFields() != exportSchema.NumFields() {
		t.Fatalf("%s: schema %v, want %v", file, s, exportSchema)
	}
	for i, f := range s.Fields() {
		want := exportSchema.Field(i)
		got := f.Type
		if l, ok := got.(*arrow.ListType); ok {
			got = arrow.ListOfNonNullable(l.Elem())
		}
		if f.Name != want.Name || f.Nullable != want.Nullable || !arrow.TypeEqual(got, want.Type) {
			t.Errorf("%s: field %d is %v, want %v", file, i, f, want)
		}
	}
}

// fromArrow converts the rows of a record batch on exportSchema.
func fromArrow(rb arrow.RecordBatch) []testRecord {
	var (
		parts   = rb.Column(0).(*array.Int32)
		offsets = rb.Column(1).(*array.Int64)
		times   = rb.Column(2).(*array.Timestamp)
		keys    = rb.Column(3).(*array.Binary)
		values  = rb.Column(4).(*array.Binary)
		headers = rb.Column(5).(*array.List)
		hs      = headers.ListValues().(*array.Struct)
		hkeys   = hs.Field(0).(*array.String)
		hvalues = hs.Field(1).(*array.Binary)
	)
	bin := func(a *array.Binary, i int) []byte {
		if a.IsNull(i) {
			return nil
		}
		return append([]byte{}, a.Value(i)...)
	}
	out := make([]testRecord, 0, rb.NumRows())
	for i := range int(rb.NumRows()) {
		r := testRecord{Partition: parts.Value(i), Offset: offsets.Value(i), Timestamp: int64(times.Value(i)), Key: bin(keys, i), Value: bin(values, i)}
		start, end := headers.ValueOffsets(i)
		for j := int(start); j < int(end); j++ {
			r.Headers = append(r.Headers, testHeader{Key: hkeys.Value(j), Value: bin(hvalues, j)})
		}
		out = append(out, r)
	}
	return out
}

func TestExport(t *testing.T) {
	fx := newHistoryFixture(t)
	if len(fx.records) != historyRecords {
		t.Fatalf("the broker served %d records, want %d", len(fx.records), historyRecords)
	}
	segments := len(segmentObjects(t, fx.dir))
	if segments < 2*historyPartitions {
		t.Fatalf("the bucket holds %d segment objects; the test wants several per partition", segments)
	}

	for _, format := range []string{"parquet", "arrow"} {
		t.Run(format+" everything, then nothing new", func(t *testing.T) {
			out := t.TempDir()
			code, stdout, stderr := runCommand(t, "export", "--bucket", fx.url, "--topic", historyTopic, "--format", format, "--out", out)
			if code != exitOK {
				t.Fatalf("exit %d, stderr:\n%s", code, stderr)
			}
			got, files := readExport(t, out, format)
			if d := diffRecords(got, fx.records); d != "" {
				t.Errorf("exported records differ from those consumed from the broker: %s", d)
			}
			if len(files) != segments {
				t.Errorf("%d files for %d segment objects: %v", len(files), segments, files)
			}
			for name := range files {
				if !strings.HasPrefix(name, historyTopic+"/") || !strings.HasSuffix(name, "."+format) || strings.Contains(name, ".o") {
					t.Errorf("file %s: want %s/<partition>/<segment>.%s", name, historyTopic, format)
				}
			}
			if want := "into " + strconv.Itoa(segments) + " new files"; !strings.Contains(stdout, want) {
				t.Errorf("stdout %q does not say %q", stdout, want)
			}

			code, stdout, stderr = runCommand(t, "export", "--bucket", fx.url, "--topic", historyTopic, "--format", format, "--out", out)
			if code != exitOK {
				t.Fatalf("second run: exit %d, stderr:\n%s", code, stderr)
			}
			if !strings.Contains(stdout, "into 0 new files") {
				t.Errorf("second run wrote files: %s", stdout)
			}
			_, again := readExport(t, out, format)
			for name, info := range again {
				if before, ok := files[name]; !ok || !before.ModTime().Equal(info.ModTime()) {
					t.Errorf("second run wrote %s", name)
				}
			}
		})
	}

	t.Run("offset range", func(t *testing.T) {
		out := t.TempDir()
		code, _, stderr := runCommand(t, "export", "--bucket", fx.url, "--topic", historyTopic, "--partitions", "1,2",
			"--from-offset", "30", "--to-offset", "150", "--out", out)
		if code != exitOK {
			t.Fatalf("exit %d, stderr:\n%s", code, stderr)
		}
		got, files := readExport(t, out, "parquet")
		want := filter(fx.records, func(r testRecord) bool { return r.Partition >= 1 && r.Offset >= 30 && r.Offset < 150 })
		if d := diffRecords(got, want); d != "" {
			t.Error(d)
		}
		var cut int
		for name := range files {
			if strings.Contains(name, ".o") {
				cut++
			}
		}
		if cut == 0 {
			t.Errorf("no file is named as cut by the range: %v", files)
		}
		// A later full export writes the whole segments next to them.
		code, _, stderr = runCommand(t, "export", "--bucket", fx.url, "--topic", historyTopic, "--out", out)
		if code != exitOK {
			t.Fatalf("full export: exit %d, stderr:\n%s", code, stderr)
		}
		_, all := readExport(t, out, "parquet")
		if len(all) != segments+cut {
			t.Errorf("after a full export %d files, want %d segments + %d cut", len(all), segments, cut)
		}
	})

	t.Run("time range", func(t *testing.T) {
		out := t.TempDir()
		from, to := historyBaseTime+100, historyBaseTime+400
		rfc := func(ms int64) string { return time.UnixMilli(ms).UTC().Format(time.RFC3339Nano) }
		code, _, stderr := runCommand(t, "export", "--bucket", fx.url, "--topic", historyTopic, "--format", "arrow",
			"--from-time", rfc(from), "--to-time", rfc(to), "--out", out)
		if code != exitOK {
			t.Fatalf("exit %d, stderr:\n%s", code, stderr)
		}
		got, _ := readExport(t, out, "arrow")
		want := filter(fx.records, func(r testRecord) bool { return r.Timestamp >= from && r.Timestamp < to })
		if len(want) != 300 {
			t.Fatalf("test data: %d records in the time range, want 300", len(want))
		}
		if d := diffRecords(got, want); d != "" {
			t.Error(d)
		}
	})

	t.Run("errors", func(t *testing.T) {
		damaged, dir := fx.copyBucket(t)
		objs := segmentObjects(t, dir)
		victim := objs[len(objs)/2]
		if err := os.Remove(victim); err != nil {
			t.Fatal(err)
		}
		// The dir backend keeps objects under objects/.
		key := strings.TrimPrefix(filepath.ToSlash(strings.TrimPrefix(victim, dir)), "/objects/")
		tests := []failureCase{
			{"unknown topic", []string{"--bucket", fx.url, "--topic", "nope", "--out", t.TempDir()}, exitError,
				[]string{`strata export: no topic named "nope" in the bucket (it has: events)`}},
			{"unknown partition", []string{"--bucket", fx.url, "--topic", historyTopic, "--partitions", "3", "--out", t.TempDir()}, exitError,
				[]string{"topic events has 3 partitions, no partition 3"}},
			{"missing segment object", []string{"--bucket", damaged, "--topic", historyTopic, "--out", t.TempDir()}, exitError,
				[]string{"tiering: segment object missing", key}},
			{"no --out", []string{"--bucket", fx.url, "--topic", historyTopic}, exitUsage, []string{"--out is required"}},
			{"bad format", []string{"--bucket", fx.url, "--topic", historyTopic, "--format", "csv", "--out", "x"}, exitUsage, []string{`--format "csv"`}},
			{"two starts", []string{"--bucket", fx.url, "--topic", historyTopic, "--from-offset", "1", "--from-time", "2026-01-01T00:00:00Z", "--out", "x"}, exitUsage,
				[]string{"give --from-offset or --from-time, not both"}},
		}
		checkFailures(t, "export", tests)
	})
}

package tiering

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// fixedEntry is testEntry with a key that does not change between runs.
func fixedEntry(base, end int64, epoch Epoch) Entry {
	e := testEntry(base, end, epoch)
	e.Key = fmt.Sprintf("segments/%020d-%020d-%d-%016x", base, end, epoch, base*7919)
	return e
}

// goldenManifest is the manifest the golden files hold: two chunks of two
// entries, the first partly trimmed, and a tail of two.
func goldenManifest() (m *Manifest, chunks [][]Entry) {
	chunks = [][]Entry{
		{fixedEntry(100, 110, 1), fixedEntry(110, 125, 1)},
		{fixedEntry(125, 130, 2), fixedEntry(130, 150, 2)},
	}
	m = &Manifest{
		Prefix:         testPrefix,
		WriterEpoch:    3,
		WriterID:       WriterID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		Generation:     42,
		LogStartOffset: 112,
		RemoteEnd:      162,
		Tail:           []Entry{fixedEntry(150, 151, 3), fixedEntry(151, 162, 3)},
	}
	for _, c := range chunks {
		m.Chunks = append(m.Chunks, summarizeChunk(fmt.Sprintf("chunks/%020d-%016x", c[0].BaseOffset, c[0].BaseOffset), c))
	}
	return m, chunks
}

// headFields returns the decoded fields of m, without the cache.
func headFields(m *Manifest) Manifest {
	c := *m
	c.cache = nil
	c.Prefix = ""
	return c
}

func TestHeadRoundTrip(t *testing.T) {
	m, chunks := goldenManifest()
	if err := m.validateHead(); err != nil {
		t.Fatal(err)
	}
	body := encodeHead(m)
	got, err := decodeHead(body)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(headFields(got), headFields(m)) {
		t.Fatalf("decoded %+v\nwant    %+v", headFields(got), headFields(m))
	}
	if again := encodeHead(got); !bytes.Equal(again, body) {
		t.Fatal("decode → encode changed the bytes")
	}
	for i, c := range chunks {
		entries, err := decodeChunk(encodeChunk(c), m.Chunks[i])
		if err != nil || !reflect.DeepEqual(entries, c) {
			t.Fatalf("chunk %d: %v, %v", i, entries, err)
		}
	}
	empty := &Manifest{WriterEpoch: 1, Generation: 1, LogStartOffset: 7, RemoteEnd: 7}
	got, err = decodeHead(encodeHead(empty))
	if err != nil || !reflect.DeepEqual(headFields(got), headFields(empty)) {
		t.Fatalf("empty head: %+v, %v", got, err)
	}
}

func TestManifestGolden(t *testing.T) {
	m, chunks := goldenManifest()
	name := fmt.Sprintf("manifest-head-v%d.golden", ManifestVersion)
	goldenCheck(t, name, encodeHead(m))
	chunkName := fmt.Sprintf("manifest-chunk-v%d.golden", ManifestVersion)
	goldenCheck(t, chunkName, encodeChunk(chunks[0]))

	head, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeHead(head)
	if err != nil {
		t.Fatalf("golden head: %v", err)
	}
	if !reflect.DeepEqual(headFields(got), headFields(m)) {
		t.Errorf("golden head decodes to %+v", headFields(got))
	}
	if !bytes.Equal(encodeHead(got), head) {
		t.Errorf("re-encoding the golden head gives different bytes")
	}
	chunk, err := os.ReadFile(filepath.Join("testdata", chunkName))
	if err != nil {
		t.Fatal(err)
	}
	entries, err := decodeChunk(chunk, m.Chunks[0])
	if err != nil || !reflect.DeepEqual(entries, chunks[0]) {
		t.Fatalf("golden chunk: %v, %v", entries, err)
	}
	if !bytes.Equal(encodeChunk(entries), chunk) {
		t.Errorf("re-encoding the golden chunk gives different bytes")
	}
}

func TestHeadEveryFlippedByteIsCorrupt(t *testing.T) {
	m, chunks := goldenManifest()
	head := encodeHead(m)
	chunk := encodeChunk(chunks[1])
	for _, mask := range []byte{0x01, 0x80, 0xff} {
		for i := range head {
			bad := bytes.Clone(head)
			bad[i] ^= mask
			if _, err := decodeHead(bad); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("head with byte %d ^ %#x: %v, want ErrCorrupt", i, mask, err)
			}
		}
		for i := range chunk {
			bad := bytes.Clone(chunk)
			bad[i] ^= mask
			if _, err := decodeChunk(bad, m.Chunks[1]); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("chunk with byte %d ^ %#x: %v, want ErrCorrupt", i, mask, err)
			}
		}
	}
}

func TestHeadTruncationsNeverPanic(t *testing.T) {
	m, chunks := goldenManifest()
	head := encodeHead(m)
	chunk := encodeChunk(chunks[0])
	for n := range len(head) {
		if _, err := decodeHead(head[:n]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("head cut to %d bytes: %v", n, err)
		}
	}
	for n := range len(chunk) {
		if _, err := decodeChunk(chunk[:n], m.Chunks[0]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("chunk cut to %d bytes: %v", n, err)
		}
	}
}

// TestHeadRejectsBrokenInvariants encodes heads that break one invariant
// each, with valid CRCs: decoding reports ErrCorrupt naming it.
func TestHeadRejectsBrokenInvariants(t *testing.T) {
	tests := []struct {
		name string
		edit func(m *Manifest)
		want string
	}{
		{"epoch zero", func(m *Manifest) { m.WriterEpoch = 0 }, "writer epoch 0"},
		{"generation zero", func(m *Manifest) { m.Generation = 0 }, "generation 0"},
		{"log start beyond remote end", func(m *Manifest) { m.LogStartOffset = 163 }, "logStartOffset 163"},
		{"remote end is not the last end", func(m *Manifest) { m.RemoteEnd = 170 }, "entries end at 162"},
		{"log start below the first entry", func(m *Manifest) { m.LogStartOffset = 99 }, "above logStartOffset 99"},
		{"first chunk wholly dead", func(m *Manifest) { m.LogStartOffset = 125 }, "at or below logStartOffset"},
		{"empty with a gap", func(m *Manifest) { m.Chunks, m.Tail, m.LogStartOffset = nil, nil, 150 }, "no entries"},
		{"tail gap", func(m *Manifest) { m.Tail[1].BaseOffset, m.Tail[1].Records = 152, 10 }, "starts at 152"},
		{"tail overlaps chunks", func(m *Manifest) { m.Tail[0].BaseOffset = 149 }, "tail starts at 149"},
		{"chunk gap", func(m *Manifest) { m.Chunks[1].FirstBase = 126 }, "starts at 126"},
		{"chunk count", func(m *Manifest) { m.Chunks[0].Count = 0 }, "0 entries"},
		{"chunk bytes", func(m *Manifest) { m.Chunks[0].Bytes = 1 }, "1 bytes"},
		{"tail epoch falls", func(m *Manifest) { m.Tail[1].Epoch = 2 }, "epoch 2 after epoch 3"},
		{"tail epoch above writer", func(m *Manifest) { m.Tail[1].Epoch = 4 }, "above the writer's"},
		{"entry key", func(m *Manifest) { m.Tail[1].Key = "a//b" }, "invalid object key"},
		{"entry records", func(m *Manifest) { m.Tail[1].Records = 12 }, "12 records"},
		{"entry timestamps", func(m *Manifest) { m.Tail[1].MinTimestamp = m.Tail[1].MaxTimestamp + 1 }, "min timestamp"},
		{"entry size", func(m *Manifest) { m.Tail[1].SizeBytes = 3 }, "size 3"},
		{"empty entry", func(m *Manifest) { m.Tail[1].EndOffset = 151 }, "offsets [151, 151)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := goldenManifest()
			tt.edit(m)
			_, err := decodeHead(encodeHead(m))
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want ErrCorrupt saying %q", err, tt.want)
			}
		})
	}
}

// TestChunkMustMatchItsRef decodes a good chunk against refs that disagree
// with it in one field each. (A chunk does not name its own key.)
func TestChunkMustMatchItsRef(t *testing.T) {
	m, chunks := goldenManifest()
	body := encodeChunk(chunks[0])
	edits := map[string]func(c *ChunkRef){
		"first": func(c *ChunkRef) { c.FirstBase++ },
		"end":   func(c *ChunkRef) { c.EndOffset++ },
		"count": func(c *ChunkRef) { c.Count++ },
		"min":   func(c *ChunkRef) { c.MinTimestamp-- },
		"max":   func(c *ChunkRef) { c.MaxTimestamp++ },
		"bytes": func(c *ChunkRef) { c.Bytes++ },
	}
	for name, edit := range edits {
		ref := m.Chunks[0]
		edit(&ref)
		if _, err := decodeChunk(body, ref); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
	gap := []Entry{fixedEntry(100, 110, 1), fixedEntry(111, 125, 1)}
	if _, err := decodeChunk(encodeChunk(gap), summarizeChunk("chunks/x", gap)); !errors.Is(err, ErrCorrupt) {
		t.Errorf("chunk with a gap: %v", err)
	}
}

// FuzzDecodeHead: bucket bytes never panic the head decoder, and what
// decodes re-encodes to the same bytes.
func FuzzDecodeHead(f *testing.F) {
	m, chunks := goldenManifest()
	f.Add(encodeHead(m))
	f.Add(encodeChunk(chunks[0]))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := decodeHead(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
		} else if !bytes.Equal(encodeHead(got), b) {
			t.Fatal("decode → encode changed the bytes")
		}
		if entries, err := decodeChunk(b, m.Chunks[0]); err == nil && !bytes.Equal(encodeChunk(entries), b) {
			t.Fatal("chunk decode → encode changed the bytes")
		}
	})
}

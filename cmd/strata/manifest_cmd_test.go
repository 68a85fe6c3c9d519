package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/strata-io/strata/tiering"
)

func TestManifestShowText(t *testing.T) {
	tb := newTestBucket(t)
	p := tb.parts[1]
	m := p.w.Manifest()
	code, out, errOut := runCommand(t, "manifest", "show", "--bucket", tb.url, fmt.Sprintf("%x", p.topic), "7")
	if code != exitOK || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	// The head, one "name  value" line each.
	wantHead := [][2]string{
		{"topic ID", fmt.Sprintf("%x", p.topic)},
		{"partition", "7"},
		{"prefix", p.prefix},
		{"writer epoch", "1"},
		{"writer ID", m.WriterID.String()},
		{"generation", "6"}, // Acquire and five appends
		{"log start offset", "0"},
		{"remote end", "30"},
		{"chunk refs", "2"},
		{"tail entries", "1"},
	}
	for i, kv := range wantHead {
		if i >= len(lines) || strings.Join(strings.Fields(lines[i]), " ") != kv[0]+" "+kv[1] {
			t.Fatalf("line %d of\n%s\nwant %q then %q", i+1, out, kv[0], kv[1])
		}
	}
	// The chunk refs and segment tables, whitespace-separated columns.
	var want []string
	want = append(want, "", "chunk refs:", "FIRST_BASE END ENTRIES BYTES MIN_TS MAX_TS KEY")
	for _, c := range m.Chunks {
		want = append(want, fmt.Sprintf("%d %d %d %d %d %d %s", c.FirstBase, c.EndOffset, c.Count, c.Bytes, c.MinTimestamp, c.MaxTimestamp, c.Key))
	}
	want = append(want, "", "segments:", "BASE END RECORDS BYTES MIN_TS MAX_TS EPOCH KEY")
	for _, e := range p.entries {
		want = append(want, fmt.Sprintf("%d %d %d %d %d %d %d %s", e.BaseOffset, e.EndOffset, e.Records, e.SizeBytes, e.MinTimestamp, e.MaxTimestamp, e.Epoch, e.Key))
	}
	want = append(want, fmt.Sprintf("5 live segments, %d bytes, offsets [0, 30)", bytesOf(p.entries...)))
	got := lines[len(wantHead):]
	if len(got) != len(want) {
		t.Fatalf("stdout:\n%s\nwant after the head:\n%s", out, strings.Join(want, "\n"))
	}
	for i := range want {
		if g := strings.Join(strings.Fields(got[i]), " "); g != want[i] {
			t.Errorf("line %d is %q, want %q", len(wantHead)+i+1, g, want[i])
		}
	}
}

func TestManifestShowJSON(t *testing.T) {
	tb := newTestBucket(t)
	p := tb.parts[1]
	m := p.w.Manifest()
	if _, err := p.w.Trim(t.Context(), 6); err != nil { // [0,4) goes; [4,9) stays live in the first chunk
		t.Fatal(err)
	}
	// Flags may follow the arguments.
	code, out, errOut := runCommand(t, "manifest", "show", fmt.Sprintf("%x", p.topic), "7", "--bucket", tb.url, "--json")
	if code != exitOK || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	var got struct {
		manifestJSON
		Entries []entryJSON `json:"entries"`
	}
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("%v in\n%s", err, out)
	}
	if got.TopicID != fmt.Sprintf("%x", p.topic) || got.Partition != 7 || got.Prefix != p.prefix ||
		got.WriterEpoch != 1 || got.WriterID != m.WriterID.String() || got.Generation != 7 ||
		got.LogStartOffset != 6 || got.RemoteEnd != 30 || len(got.Chunks) != 2 {
		t.Errorf("head %+v", got.manifestJSON)
	}
	for i, c := range m.Chunks {
		want := chunkJSON{Key: c.Key, FirstBase: c.FirstBase, EndOffset: c.EndOffset, Count: c.Count, Bytes: c.Bytes, MinTimestamp: c.MinTimestamp, MaxTimestamp: c.MaxTimestamp}
		if i < len(got.Chunks) && got.Chunks[i] != want {
			t.Errorf("chunk %d is %+v, want %+v", i, got.Chunks[i], want)
		}
	}
	live := p.entries[1:]
	if len(got.Entries) != len(live) {
		t.Fatalf("%d entries, want the %d live ones:\n%s", len(got.Entries), len(live), out)
	}
	for i, e := range live {
		want := entryJSON{
			BaseOffset: e.BaseOffset, EndOffset: e.EndOffset, Records: e.Records, SizeBytes: e.SizeBytes,
			MinTimestamp: e.MinTimestamp, MaxTimestamp: e.MaxTimestamp, Epoch: int64(e.Epoch), Key: e.Key,
		}
		if got.Entries[i] != want {
			t.Errorf("entry %d is %+v, want %+v", i, got.Entries[i], want)
		}
	}
}

// A partition with no segments yet prints its head and an empty list.
func TestManifestShowEmptyPartition(t *testing.T) {
	tb := newTestBucket(t)
	p := tb.addPartition(t, testTopicA, 5, tiering.WriterConfig{})
	code, out, _ := runCommand(t, "manifest", "show", "--bucket", tb.url, "--json", fmt.Sprintf("%x", p.topic), "5")
	want := fmt.Sprintf(`{"topicId":"%x","partition":5,"prefix":"%s","writerEpoch":1,"writerId":"%s","generation":1,"logStartOffset":0,"remoteEnd":0,"chunks":[],"entries":[`+"\n]}\n",
		p.topic, p.prefix, p.w.Manifest().WriterID)
	if code != exitOK || out != want {
		t.Errorf("exit %d, stdout %q, want %q", code, out, want)
	}
	code, out, _ = runCommand(t, "manifest", "show", "--bucket", tb.url, fmt.Sprintf("%x", p.topic), "5")
	if code != exitOK || !strings.HasSuffix(out, "\nsegments:\nBASE  END  RECORDS  BYTES  MIN_TS  MAX_TS  EPOCH  KEY\n0 live segments, 0 bytes, offsets [0, 0)\n") {
		t.Errorf("exit %d, stdout:\n%s", code, out)
	}
}

// The topic can be named as the bucket's topic metadata records it; the
// output is the same as for its ID, and an unknown name says which names
// the bucket has.
func TestManifestShowByTopicName(t *testing.T) {
	tb := newTestBucket(t)
	p := tb.parts[1]
	meta := fmt.Sprintf(`{"version": 1, "name": "orders", "id": "%x", "partitions": 8}`, p.topic)
	if _, err := tb.b.Put(t.Context(), fmt.Sprintf("topics/%x/topic.json", p.topic), []byte(meta)); err != nil {
		t.Fatal(err)
	}
	_, byID, _ := runCommand(t, "manifest", "show", "--bucket", tb.url, fmt.Sprintf("%x", p.topic), "7")
	code, byName, errOut := runCommand(t, "manifest", "show", "--bucket", tb.url, "orders", "7")
	if code != exitOK || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if byName != byID || !strings.Contains(byName, "remote end") {
		t.Errorf("by name:\n%s\nby ID:\n%s", byName, byID)
	}
	code, _, errOut = runCommand(t, "manifest", "show", "--bucket", tb.url, "payments", "7")
	if code != exitError || !strings.Contains(errOut, `no topic named "payments" in the bucket (it has: orders)`) {
		t.Errorf("unknown name: exit %d, stderr %q", code, errOut)
	}
}

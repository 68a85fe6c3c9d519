package broker

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestMetaFormatGolden(t *testing.T) {
	m := metaState{
		ClusterID:          "AAECAwQFBgcICQoLDA0ODw",
		NodeID:             0,
		ProducerIDBlockEnd: 3000,
		Topics: []metaTopic{
			{Name: "orders", ID: "0123456789abcdef0123456789abcdef", Partitions: 8, Configs: map[string]string{"retention.ms": "86400000"}},
			{Name: "events", ID: "fedcba9876543210fedcba9876543210", Partitions: 1},
		},
	}
	got, err := encodeMeta(m)
	if err != nil {
		t.Fatal(err)
	}
	want := checkGolden(t, "meta_v1.json", got, "metaVersion")
	back, err := decodeMeta(want)
	if err != nil {
		t.Fatal(err)
	}
	m.Version = metaVersion
	if !reflect.DeepEqual(back.Topics[1], m.Topics[0]) || back.ClusterID != m.ClusterID || back.ProducerIDBlockEnd != 3000 {
		t.Fatalf("decoded %+v", back)
	}

	for _, bad := range []string{
		strings.Replace(string(want), `"version": 1`, `"version": 2`, 1),
		strings.Replace(string(want), `"orders"`, `"events"`, 1),
		strings.Replace(string(want), `"partitions": 8`, `"partitions": 0`, 1),
		strings.Replace(string(want), `0123456789abcdef0123456789abcdef`, `xyz`, 1),
		strings.Replace(string(want), `"nodeId"`, `"unknownField"`, 1),
		`{`,
	} {
		if _, err := decodeMeta([]byte(bad)); err == nil {
			t.Errorf("decoded a bad file:\n%s", bad)
		}
	}
}

func TestOpenRemovesOrphansAndLocksDir(t *testing.T) {
	tb := startBroker(t)
	tb.createTopic("kept", 2, nil)
	dir := tb.cfg.DataDir

	// A second broker on the same directory is refused.
	cfg := tb.cfg
	if b, err := Open(context.Background(), cfg); err == nil {
		b.Close()
		t.Fatal("a second broker opened a locked data directory")
	}

	tb.shutdown()
	orphan := filepath.Join(dir, partitionsDir, partitionDir(newTopicID(), 0))
	foreign := filepath.Join(dir, partitionsDir, "not-a-partition")
	for _, d := range []string{orphan, foreign} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	tb = runBroker(t, cfg)
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Fatalf("orphan partition directory survived Open: %v", err)
	}
	if _, err := os.Stat(foreign); err != nil {
		t.Fatalf("Open removed a directory it does not own: %v", err)
	}
	if got := tb.Partitions(); len(got) != 2 || got[0].Topic != "kept" || got[1].Partition != 1 {
		t.Fatalf("partitions after restart: %+v", got)
	}
	eventually(t, "the broker to be ready", tb.Ready)
	tb.shutdown()
	if tb.Ready() {
		t.Fatal("stopped broker still ready")
	}
	if err := tb.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := tb.Run(context.Background()); err == nil {
		t.Fatal("Run after Close succeeded")
	}
}

// checkGolden compares got with testdata/name, which -update rewrites, and
// returns the golden bytes. A difference fails the test, telling to bump
// the format's version constant if the change is on purpose.
func checkGolden(t *testing.T, name string, got []byte, versionConst string) []byte {
	t.Helper()
	golden := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("encoding changed; if on purpose, bump %s and run with -update:\n%s", versionConst, got)
	}
	return want
}

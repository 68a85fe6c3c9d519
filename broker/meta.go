package broker

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// metaFile is the broker's metadata in the data directory.
const metaFile = "meta.json"

// metaVersion is the version of the metadata file format below.
const metaVersion = 1

// metaState is the broker metadata kept in DataDir/meta.json, version 1, a
// JSON object:
//
//	{
//	  "version": 1,                  // metaVersion; a newer file is refused
//	  "clusterId": "…",              // 22-character base64url of 16 random bytes
//	  "nodeId": 0,
//	  "producerIdBlockEnd": 1000,    // producer IDs below this may have been handed out
//	  "topics": [                    // sorted by name
//	    {
//	      "name": "orders",
//	      "id": "<32 hex digits>",   // topic ID; names the partition directories
//	      "partitions": 8,
//	      "configs": {"retention.ms": "86400000"}  // explicitly set topic configs only
//	    }
//	  ]
//	}
//
// The file is replaced atomically: written to a temporary file, fsynced,
// renamed over the old one, and the directory fsynced.
type metaState struct {
	Version            int         `json:"version"`
	ClusterID          string      `json:"clusterId"`
	NodeID             int32       `json:"nodeId"`
	ProducerIDBlockEnd int64       `json:"producerIdBlockEnd"`
	Topics             []metaTopic `json:"topics"`
}

type metaTopic struct {
	Name       string            `json:"name"`
	ID         string            `json:"id"`
	Partitions int32             `json:"partitions"`
	Configs    map[string]string `json:"configs,omitempty"`
}

// encodeMeta returns the file contents for m.
func encodeMeta(m metaState) ([]byte, error) {
	m.Version = metaVersion
	m.Topics = slices.Clone(m.Topics)
	if m.Topics == nil {
		m.Topics = []metaTopic{}
	}
	slices.SortFunc(m.Topics, func(a, b metaTopic) int { return strings.Compare(a.Name, b.Name) })
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// decodeMeta parses the file contents b, checking the version and that
// topic names and IDs are well formed and unique.
func decodeMeta(b []byte) (metaState, error) {
	var m metaState
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return metaState{}, fmt.Errorf("decode %s: %w", metaFile, err)
	}
	if m.Version != metaVersion {
		return metaState{}, fmt.Errorf("%s has version %d, this broker reads %d", metaFile, m.Version, metaVersion)
	}
	if m.ClusterID == "" {
		return metaState{}, fmt.Errorf("%s: empty cluster id", metaFile)
	}
	names := make(map[string]bool, len(m.Topics))
	ids := make(map[string]bool, len(m.Topics))
	for _, t := range m.Topics {
		if err := validateTopicName(t.Name); err != nil {
			return metaState{}, fmt.Errorf("%s: %w", metaFile, err)
		}
		if _, err := parseTopicID(t.ID); err != nil {
			return metaState{}, fmt.Errorf("%s: topic %q: %w", metaFile, t.Name, err)
		}
		if names[t.Name] || ids[t.ID] {
			return metaState{}, fmt.Errorf("%s: topic %q (id %s) listed twice", metaFile, t.Name, t.ID)
		}
		names[t.Name], ids[t.ID] = true, true
		if t.Partitions < 1 {
			return metaState{}, fmt.Errorf("%s: topic %q has %d partitions", metaFile, t.Name, t.Partitions)
		}
	}
	return m, nil
}

// loadMeta reads dir's metadata file, or returns a fresh state with a new
// cluster id if there is none.
func loadMeta(dir string) (m metaState, fresh bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, metaFile))
	if errors.Is(err, fs.ErrNotExist) {
		return metaState{Version: metaVersion, ClusterID: newClusterID()}, true, nil
	}
	if err != nil {
		return metaState{}, false, err
	}
	m, err = decodeMeta(b)
	return m, false, err
}

// saveMeta atomically replaces dir's metadata file with m.
func saveMeta(dir string, m metaState) (err error) {
	b, err := encodeMeta(m)
	if err != nil {
		return err
	}
	return writeFileAtomic(dir, metaFile, b)
}

// writeFileAtomic replaces dir/name with data: temp file, fsync, rename,
// fsync of dir.
func writeFileAtomic(dir, name string, data []byte) (err error) {
	f, err := os.CreateTemp(dir, name+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) (err error) {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := d.Close(); err == nil {
			err = cerr
		}
	}()
	return d.Sync()
}

// newClusterID returns a cluster id in Kafka's form: 16 random bytes,
// base64url without padding.
func newClusterID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// newTopicID returns a random topic ID (a version 4 UUID, never all zeros).
func newTopicID() [16]byte {
	var id [16]byte
	_, _ = rand.Read(id[:])
	id[6] = id[6]&0x0f | 0x40
	id[8] = id[8]&0x3f | 0x80
	return id
}

func formatTopicID(id [16]byte) string { return hex.EncodeToString(id[:]) }

func parseTopicID(s string) ([16]byte, error) {
	var id [16]byte
	if len(s) != 32 {
		return id, fmt.Errorf("topic id %q: want 32 hex digits", s)
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("topic id %q: %w", s, err)
	}
	if id == ([16]byte{}) {
		return id, fmt.Errorf("topic id is zero")
	}
	return id, nil
}

package broker

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

var update = flag.Bool("update", false, "rewrite the golden and seed files in testdata")

// decoded is what the connection makes of one frame.
type decoded struct {
	hdr requestHeader
	req kmsg.Request
	err string
}

// decodeStream reads frames from r as a connection does and decodes each,
// stopping at the first frame error.
func decodeStream(r io.Reader) ([]decoded, string) {
	br := bufio.NewReaderSize(r, 16) // small, so frames span many reads
	var out []decoded
	for {
		frame, err := readFrame(br, 1<<20, nil)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return out, ""
			}
			return out, err.Error()
		}
		hdr, req, err := decodeRequest(frame)
		d := decoded{hdr: hdr, req: req}
		if err != nil {
			d.err = err.Error()
		}
		out = append(out, d)
	}
}

// seedRequests are the requests written to testdata/requests: one of each
// API at its lowest and highest version.
func seedRequests() map[string][]byte {
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("seed"))
	batch := makeBatch(1, 0, 0, 1700000000000, []byte("seed-a"), []byte("seed-b"))
	out := make(map[string][]byte)
	for _, a := range apis {
		for _, v := range []int16{a.min, a.max} {
			req := kmsg.RequestForKey(a.key)
			req.SetVersion(v)
			switch r := req.(type) {
			case *kmsg.ProduceRequest:
				*r = *produceRequest("seed", 0, -1, batch)
				r.Version = v
				r.Topics[0].TopicID = [16]byte{1, 2, 3}
			case *kmsg.FetchRequest:
				*r = *fetchRequest(v, "seed", [16]byte{1, 2, 3}, 0, 5, time.Second)
			case *kmsg.MetadataRequest:
				rt := kmsg.NewMetadataRequestTopic()
				rt.Topic = kmsg.StringPtr("seed")
				r.Topics = append(r.Topics, rt)
			case *kmsg.CreateTopicsRequest:
				r.Topics = append(r.Topics, withConfig(ctTopic("seed", 3, 1), "retention.ms", "1000"))
			case *kmsg.ListOffsetsRequest:
				*r = *listOffsetsRequest(v, "seed", -1, 1000)
			case *kmsg.JoinGroupRequest:
				*r = *joinRequestFor("seed", "seed-member", true)
				r.Version = v
			case *kmsg.OffsetCommitRequest:
				*r = *commitRequestFor("seed", 42)
				r.Version = v
			case *kmsg.OffsetFetchRequest:
				rt := kmsg.NewOffsetFetchRequestTopic()
				rt.Topic, rt.Partitions = "sweep", []int32{0, 1}
				r.Group, r.Topics = "seed", append(r.Topics, rt)
				rg := kmsg.NewOffsetFetchRequestGroup()
				rg.Group = "seed"
				r.Groups = append(r.Groups, rg)
			}
			name := fmt.Sprintf("%02d-%s-v%d.bin", a.key, kmsg.NameForKey(a.key), v)
			out[name] = f.AppendRequest(nil, req, int32(a.key)*100+int32(v))
		}
	}
	// Two frames back to back, as a pipelining client sends them.
	out["pipelined.bin"] = append(bytes.Clone(out["00-Produce-v13.bin"]), out["01-Fetch-v18.bin"]...)
	return out
}

func TestRequestSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "requests")
	seeds := seedRequests()
	if *update {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, b := range seeds {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Every seed on disk is current and decodes without error.
	for name := range seeds {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || !bytes.Equal(data, seeds[name]) {
			t.Fatalf("%s is missing or stale (%v); run go test -run TestRequestSeeds -update", name, err)
		}
		ds, ferr := decodeStream(bytes.NewReader(data))
		if ferr != "" || len(ds) == 0 {
			t.Fatalf("%s: %d requests, frame error %q", name, len(ds), ferr)
		}
		for _, d := range ds {
			if d.err != "" {
				t.Fatalf("%s: %s", name, d.err)
			}
		}
	}
}

func FuzzDecodeRequest(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "requests", "*.bin"))
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, uint16(len(data)/2))
	}
	f.Fuzz(func(t *testing.T, data []byte, split uint16) {
		whole, wholeErr := decodeStream(bytes.NewReader(data))

		// The same bytes in two reads decode to the same requests.
		at := int(split) % (len(data) + 1)
		parts, partsErr := decodeStream(io.MultiReader(bytes.NewReader(data[:at]), bytes.NewReader(data[at:])))
		if wholeErr != partsErr || !reflect.DeepEqual(whole, parts) {
			t.Fatalf("split at %d: %d requests (%q), whole: %d (%q)", at, len(parts), partsErr, len(whole), wholeErr)
		}

		// decode → encode → decode is stable.
		for _, d := range whole {
			if d.req == nil {
				continue
			}
			again := kmsg.RequestForKey(d.hdr.key)
			again.SetVersion(d.hdr.version)
			if err := again.ReadFrom(d.req.AppendTo(nil)); err != nil {
				t.Fatalf("%s v%d: re-encoded request does not decode: %v", kmsg.NameForKey(d.hdr.key), d.hdr.version, err)
			}
			if !reflect.DeepEqual(normalize(d.req), normalize(again)) {
				t.Fatalf("%s v%d: decode→encode→decode changed the request", kmsg.NameForKey(d.hdr.key), d.hdr.version)
			}
		}
	})
}

// normalize returns a comparable form of req: its encoding, which is what
// the broker acts on. (Decoded structs differ in nil versus empty slices.)
func normalize(req kmsg.Request) []byte { return req.AppendTo(nil) }

package e2e

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// kafkaPythonScript produces or consumes with kafka-python and prints one
// JSON object per record. Bytes are hex so that the comparison is exact.
//
//	produce BOOTSTRAP TOPIC N CODEC: sends N records with keys and headers,
//	    acks='all', then prints each record's acknowledged partition and offset.
//	consume BOOTSTRAP TOPIC PARTITIONS N: reads every partition from the
//	    earliest offset without a group and prints N records.
//
// An optional last argument is a JSON object of more client settings
// (security_protocol, sasl_mechanism, …) for the producer or consumer.
//
// api_version is left to kafka-python's auto-detection, which probes
// ApiVersions and then uses Produce v7, Fetch v4, ListOffsets v1.
const kafkaPythonScript = `
import json, sys
import kafka
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

mode, bootstrap, topic = sys.argv[1], sys.argv[2], sys.argv[3]
extra = json.loads(sys.argv[6]) if len(sys.argv) > 6 else {}
if mode == 'produce':
    n, codec = int(sys.argv[4]), sys.argv[5]
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks='all', retries=0,
                             compression_type=None if codec == 'none' else codec,
                             linger_ms=5, **extra)
    futures = []
    for i in range(n):
        key = ('py-key-%d' % i).encode()
        value = ('py-value-%d-' % i).encode() + bytes(range(i % 256)) * 3
        headers = [('i', str(i).encode()), ('codec', codec.encode())]
        futures.append((i, producer.send(topic, key=key, value=value, headers=headers)))
    producer.flush(timeout=60)
    for i, fut in futures:
        md = fut.get(timeout=60)
        print(json.dumps({'i': i, 'partition': md.partition, 'offset': md.offset}))
    producer.close(timeout=10)
elif mode == 'consume':
    partitions, n = int(sys.argv[4]), int(sys.argv[5])
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                             enable_auto_commit=False, auto_offset_reset='earliest',
                             consumer_timeout_ms=20000, **extra)
    consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
    seen = 0
    for msg in consumer:
        print(json.dumps({
            'partition': msg.partition, 'offset': msg.offset,
            'key': msg.key.hex() if msg.key is not None else None,
            'value': msg.value.hex() if msg.value is not None else None,
            'headers': [[k, v.hex()] for k, v in msg.headers],
        }))
        seen += 1
        if seen == n:
            break
    consumer.close()
else:
    sys.exit('unknown mode ' + mode)
`

// pyRecord is one line the script prints in consume mode.
type pyRecord struct {
	Partition int32       `json:"partition"`
	Offset    int64       `json:"offset"`
	Key       string      `json:"key"`
	Value     string      `json:"value"`
	Headers   [][2]string `json:"headers"`
}

// pyAck is one line the script prints in produce mode.
type pyAck struct {
	I         int   `json:"i"`
	Partition int32 `json:"partition"`
	Offset    int64 `json:"offset"`
}

func runKafkaPython(t *testing.T, ctx context.Context, args ...string) []byte {
	t.Helper()
	return runScript(t, ctx, "kafka-python "+strings.Join(args, " "), systemPython, append([]string{"-c", kafkaPythonScript}, args...)...)
}

func decodeLines[T any](t *testing.T, what string, out []byte) []T {
	t.Helper()
	var recs []T
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var r T
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("%s: bad output line: %v\n%s", what, err, out)
		}
		recs = append(recs, r)
	}
	return recs
}

func TestKafkaPythonProduceConsume(t *testing.T) {
	requireTool(t, "kafka-python")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	p := startBroker(t, t.TempDir())

	const (
		n          = 500
		partitions = 3
	)
	// kafka-python itself speaks gzip; the other codecs need Python modules
	// Debian does not install with python3-kafka.
	for _, codec := range []string{"none", "gzip"} {
		t.Run(codec, func(t *testing.T) {
			topic := "python-" + codec
			createTopic(t, ctx, p, topic, partitions)

			acks := decodeLines[pyAck](t, "kafka-python produce", runKafkaPython(t, ctx, "produce", p.kafkaAddr, topic, strconv.Itoa(n), codec))
			if len(acks) != n {
				t.Fatalf("kafka-python produce: %d acks, want %d", len(acks), n)
			}
			// What the consumer must see: each record at its acked place.
			want := make([]pyRecord, 0, n)
			for _, a := range acks {
				value := fmt.Appendf(nil, "py-value-%d-", a.I)
				for range 3 {
					for b := range a.I % 256 {
						value = append(value, byte(b))
					}
				}
				want = append(want, pyRecord{
					Partition: a.Partition,
					Offset:    a.Offset,
					Key:       hexString(fmt.Sprintf("py-key-%d", a.I)),
					Value:     fmt.Sprintf("%x", value),
					Headers:   [][2]string{{"i", hexString(strconv.Itoa(a.I))}, {"codec", hexString(codec)}},
				})
			}
			byPlace := func(a, b pyRecord) int {
				return cmp.Or(cmp.Compare(a.Partition, b.Partition), cmp.Compare(a.Offset, b.Offset))
			}
			slices.SortFunc(want, byPlace)
			// Per partition the acked offsets are 0, 1, 2, … without gaps.
			next := make(map[int32]int64)
			for _, w := range want {
				if w.Offset != next[w.Partition] {
					t.Fatalf("kafka-python produce: partition %d acked offset %d, want %d (gap or duplicate)", w.Partition, w.Offset, next[w.Partition])
				}
				next[w.Partition]++
			}

			st := p.partitions(t, topic)
			for part := range int32(partitions) {
				if st[part].HighWatermark != next[part] {
					t.Errorf("/v1/partitions %s/%d: %+v, want highWatermark %d", topic, part, st[part], next[part])
				}
			}

			got := decodeLines[pyRecord](t, "kafka-python consume", runKafkaPython(t, ctx, "consume", p.kafkaAddr, topic, strconv.Itoa(partitions), strconv.Itoa(n)))
			slices.SortFunc(got, byPlace)
			if len(got) != n {
				t.Fatalf("kafka-python consume: %d records, want %d", len(got), n)
			}
			for i := range got {
				g, w := got[i], want[i]
				if g.Partition != w.Partition || g.Offset != w.Offset || g.Key != w.Key || g.Value != w.Value || !slices.Equal(g.Headers, w.Headers) {
					t.Fatalf("kafka-python consume, record %d:\n  got  %+v\n  want %+v", i, g, w)
				}
			}
		})
	}
}

func hexString(s string) string { return fmt.Sprintf("%x", s) }

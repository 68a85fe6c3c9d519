package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The group tests run each external client's group consumer twice against
// the real binary: the first run reads everything produced and commits;
// the broker is killed (SIGKILL) and restarted; after more records are
// produced, the second run must read exactly the new ones, so it resumed at
// the committed offsets. Last, a broker on a wiped data directory with the
// same bucket still has the group's committed offsets.

// groupArgs are the broker flags of the group tests: no initial rebalance
// delay, so each run's only member is assigned at once.
var groupArgs = []string{"--group-initial-rebalance-delay", "0"}

// place is one consumed record's partition and offset.
type place struct {
	Partition int32 `json:"partition"`
	Offset    int64 `json:"offset"`
}

// produceRecords produces n records round robin over topic's partitions
// and returns the end offsets afterwards.
func produceRecords(t *testing.T, ctx context.Context, p *proc, topic string, n int) map[int32]int64 {
	t.Helper()
	cl := newClient(t, p, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	for i := range n {
		if err := cl.ProduceSync(ctx, kgo.StringRecord(fmt.Sprintf("record %d", i))).FirstErr(); err != nil {
			t.Fatalf("produce to %s: %v", topic, err)
		}
	}
	_, end := offsets(t, ctx, cl, topic)
	return end
}

// checkExactly fails the test unless got holds every offset in [from, to)
// of every partition exactly once and nothing else.
func checkExactly(t *testing.T, who string, got []place, from, to map[int32]int64) {
	t.Helper()
	seen := make(map[place]int)
	for _, pl := range got {
		seen[pl]++
	}
	var bad []string
	for part, end := range to {
		for o := from[part]; o < end; o++ {
			if n := seen[place{part, o}]; n != 1 {
				bad = append(bad, fmt.Sprintf("partition %d offset %d read %d times", part, o, n))
			}
			delete(seen, place{part, o})
		}
	}
	for pl := range seen {
		bad = append(bad, fmt.Sprintf("partition %d offset %d read but outside [%d, %d)", pl.Partition, pl.Offset, from[pl.Partition], to[pl.Partition]))
	}
	if len(bad) > 0 {
		t.Fatalf("%s: want each offset from %v to %v exactly once:\n%s", who, from, to, strings.Join(bad[:min(len(bad), 10)], "\n"))
	}
}

// checkCommitted fails the test unless group's committed offsets of topic
// are want, through OffsetFetch and through GET /v1/groups (with no lag).
func checkCommitted(t *testing.T, ctx context.Context, p *proc, group, topic string, want map[int32]int64) {
	t.Helper()
	fo, err := kadm.NewClient(newClient(t, p)).FetchOffsets(ctx, group)
	if err == nil {
		err = fo.Error()
	}
	if err != nil {
		t.Fatalf("OffsetFetch %s: %v", group, err)
	}
	for part, off := range want {
		if got, ok := fo.Lookup(topic, part); !ok || got.At != off {
			t.Errorf("group %s committed %s[%d] = %+v, want %d", group, topic, part, got, off)
		}
	}
	var found bool
	for _, g := range p.groups(t) {
		if g.Group != group {
			continue
		}
		found = true
		for _, o := range g.Offsets {
			if o.Topic == topic && (o.CommittedOffset != want[o.Partition] || o.Lag != 0) {
				t.Errorf("GET /v1/groups %s: %+v, want committed %d and no lag", group, o, want[o.Partition])
			}
		}
	}
	if !found {
		t.Errorf("GET /v1/groups does not list group %s", group)
	}
}

// groupStatus is the part of an element of GET /v1/groups the tests read.
type groupStatus struct {
	Group   string `json:"group"`
	State   string `json:"state"`
	Members []struct {
		MemberID   string `json:"memberId"`
		Assignment []struct {
			Topic      string  `json:"topic"`
			Partitions []int32 `json:"partitions"`
		} `json:"assignment"`
	} `json:"members"`
	Offsets []struct {
		Topic           string `json:"topic"`
		Partition       int32  `json:"partition"`
		CommittedOffset int64  `json:"committedOffset"`
		HighWatermark   int64  `json:"highWatermark"`
		Lag             int64  `json:"lag"`
	} `json:"offsets"`
}

// groups returns GET /v1/groups.
func (p *proc) groups(t testing.TB) []groupStatus {
	t.Helper()
	body := p.get(t, "/v1/groups")
	var gs []groupStatus
	if err := json.Unmarshal(body, &gs); err != nil {
		t.Fatalf("GET /v1/groups: %v\n%s", err, body)
	}
	return gs
}

// testGroupClient drives one external client's group consumer: consume
// runs it on group until it has read n records and committed, returning
// what it read.
func testGroupClient(t *testing.T, consume func(ctx context.Context, p *proc, topic, group string, n int) []place) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	dataDir := t.TempDir()
	// The bucket outside the data directory, so that the data directory
	// can be wiped below while the bucket stays.
	args := append([]string{"--bucket", (&url.URL{Scheme: "file", Path: filepath.ToSlash(filepath.Join(t.TempDir(), "bucket"))}).String()}, groupArgs...)
	p := startBroker(t, dataDir, args...)
	const (
		topic      = "grouped"
		group      = "external"
		partitions = 3
	)
	createTopic(t, ctx, p, topic, partitions)
	end1 := produceRecords(t, ctx, p, topic, 60)
	got := consume(ctx, p, topic, group, 60)
	checkExactly(t, "first run", got, map[int32]int64{}, end1)
	checkCommitted(t, ctx, p, group, topic, end1)

	// A kill -9 and restart in between: the commits were fsynced before
	// they were answered, and the second run resumes at them.
	p.kill(t)
	p = startBroker(t, dataDir, args...)
	end2 := produceRecords(t, ctx, p, topic, 30)
	got = consume(ctx, p, topic, group, 30)
	checkExactly(t, "second run", got, end1, end2)
	checkCommitted(t, ctx, p, group, topic, end2)

	// A clean stop writes the group to the bucket; a broker on a wiped
	// data directory with the same bucket has the committed offsets.
	p.stop(t)
	p = startBroker(t, t.TempDir(), args...)
	checkCommitted(t, ctx, p, group, topic, end2)
}

func TestKcatGroupConsumer(t *testing.T) {
	requireTool(t, "kcat")
	testGroupClient(t, func(ctx context.Context, p *proc, topic, group string, n int) []place {
		// -e: exit once every assigned partition is at its end; kcat
		// commits its position when it closes. No -o: with -G it would
		// override the committed offsets.
		out := kcat(t, ctx, "", "-b", p.kafkaAddr, "-G", group, "-e",
			"-X", "auto.offset.reset=earliest", "-X", "auto.commit.interval.ms=100",
			"-f", `%p %o\n`, topic)
		var got []place
		for line := range strings.Lines(out) {
			var pl place
			if _, err := fmt.Sscanf(line, "%d %d", &pl.Partition, &pl.Offset); err != nil {
				t.Fatalf("kcat -G output line %q: %v", line, err)
			}
			got = append(got, pl)
		}
		if len(got) != n {
			t.Fatalf("kcat -G read %d records, want %d:\n%s", len(got), n, out)
		}
		return got
	})
}

// kafkaPythonGroupScript consumes N records with kafka-python's group
// consumer (group management, manual commit), prints each record's place
// as JSON, commits and leaves.
const kafkaPythonGroupScript = `
import json, sys
from kafka import KafkaConsumer

bootstrap, topic, group, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group,
                         enable_auto_commit=False, auto_offset_reset='earliest',
                         consumer_timeout_ms=60000)
seen = 0
for msg in consumer:
    print(json.dumps({'partition': msg.partition, 'offset': msg.offset}))
    seen += 1
    if seen == n:
        break
consumer.commit()
consumer.close()
`

func TestKafkaPythonGroupConsumer(t *testing.T) {
	requireTool(t, "kafka-python")
	testGroupClient(t, func(ctx context.Context, p *proc, topic, group string, n int) []place {
		out := runScript(t, ctx, "kafka-python", systemPython, "-c", kafkaPythonGroupScript, p.kafkaAddr, topic, group, strconv.Itoa(n))
		return decodeLines[place](t, "kafka-python group consumer", out)
	})
}

// kafkajsGroupScript consumes N records with kafkajs's group consumer,
// prints each record's place as JSON, commits and disconnects (leaving the
// group).
const kafkajsGroupScript = `
const [modules, bootstrap, topic, group, n] = process.argv.slice(1);
const { Kafka, logLevel } = require(modules + '/kafkajs');
(async () => {
  const kafka = new Kafka({ clientId: 'strata-e2e', brokers: [bootstrap], logLevel: logLevel.ERROR });
  const consumer = kafka.consumer({ groupId: group, sessionTimeout: 10000, heartbeatInterval: 500 });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  let seen = 0;
  await new Promise((resolve, reject) => {
    consumer.run({
      autoCommit: false,
      eachMessage: async ({ topic, partition, message }) => {
        console.log(JSON.stringify({ partition, offset: Number(message.offset) }));
        await consumer.commitOffsets([{ topic, partition, offset: (BigInt(message.offset) + 1n).toString() }]);
        if (++seen === Number(n)) resolve();
      },
    }).catch(reject);
  });
  await consumer.disconnect();
})().catch((e) => { console.error(e); process.exit(1); });
`

func TestKafkajsGroupConsumer(t *testing.T) {
	modules := requireKafkajs(t)
	testGroupClient(t, func(ctx context.Context, p *proc, topic, group string, n int) []place {
		out := runScript(t, ctx, "kafkajs", "/usr/bin/node", "-e", kafkajsGroupScript, modules, p.kafkaAddr, topic, group, strconv.Itoa(n))
		return decodeLines[place](t, "kafkajs group consumer", out)
	})
}

// runScript runs an external client's script and returns its stdout.
func runScript(t *testing.T, ctx context.Context, what, bin string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\nstderr:\n%s\nstdout:\n%s", what, err, stderr.String(), stdout.String())
	}
	return stdout.Bytes()
}

// kafkajsVersion is the kafkajs the tests install with npm into
// <repo>/.tools/kafkajs (gitignored), as miniotest installs MinIO.
const kafkajsVersion = "2.2.4"

// requireKafkajs returns the node_modules directory holding kafkajs,
// installing it on first use. Without node or npm, or when the install
// fails, the test skips loudly, or fails when CI=true.
func requireKafkajs(t *testing.T) string {
	t.Helper()
	modules, err := installKafkajs()
	if err == nil {
		return modules
	}
	const install = "install node and npm with: apt-get install -y nodejs npm (or run .ci/run); the test installs kafkajs itself"
	if os.Getenv("CI") == "true" {
		t.Fatalf("kafkajs is required in CI but unavailable (%v); %s", err, install)
	}
	t.Skipf("!!! SKIPPING: kafkajs unavailable (%v); %s", err, install)
	return ""
}

var installKafkajs = sync.OnceValues(func() (string, error) {
	if _, err := os.Stat("/usr/bin/node"); err != nil {
		return "", fmt.Errorf("node: %w", err)
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return "", err
	}
	root, err := filepath.Abs(filepath.Join("..", ".tools", "kafkajs"))
	if err != nil {
		return "", err
	}
	modules := filepath.Join(root, "node_modules")
	if installedKafkajs(modules) {
		return modules, nil
	}
	// Installed into a fresh directory and renamed, so that a failed or
	// concurrent install never leaves a half-installed one behind.
	if err := os.MkdirAll(filepath.Dir(root), 0o750); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(root), "kafkajs-install-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	fmt.Fprintf(os.Stderr, "e2e: installing kafkajs@%s into %s\n", kafkajsVersion, root)
	cmd := exec.Command(npm, "install", "--no-audit", "--no-fund", "--no-save", "--prefix", tmp, "kafkajs@"+kafkajsVersion)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("npm install kafkajs@%s: %v\n%s", kafkajsVersion, err, out)
	}
	if err := os.RemoveAll(root); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, root); err != nil {
		if installedKafkajs(modules) { // another test binary won the race
			return modules, nil
		}
		return "", err
	}
	if !installedKafkajs(modules) {
		return "", fmt.Errorf("npm install left no kafkajs %s in %s", kafkajsVersion, modules)
	}
	return modules, nil
})

// installedKafkajs reports whether modules holds kafkajs at kafkajsVersion.
func installedKafkajs(modules string) bool {
	b, err := os.ReadFile(filepath.Join(modules, "kafkajs", "package.json"))
	if err != nil {
		return false
	}
	var pkg struct {
		Version string `json:"version"`
	}
	return json.Unmarshal(b, &pkg) == nil && pkg.Version == kafkajsVersion
}

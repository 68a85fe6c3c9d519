package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// kcat runs kcat with args and stdin and returns its stdout. It fails the
// test on a non-zero exit, after kcatTimeout, or as soon as kcat reports an
// error on stderr: librdkafka logs protocol trouble there and then retries
// forever, so the first such line stops kcat and is the test's message.
func kcat(t *testing.T, ctx context.Context, stdin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, kcatTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kcat", args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout bytes.Buffer
	stderr := &stderrWatcher{onError: cancel}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	err := cmd.Run()
	switch {
	case stderr.firstError != "":
		t.Fatalf("kcat %s reported: %s\nstderr (first lines):\n%s", strings.Join(args, " "), stderr.firstError, stderr.head.String())
	case ctx.Err() != nil:
		t.Fatalf("kcat %s: still running after %v\nstderr (first lines):\n%s", strings.Join(args, " "), kcatTimeout, stderr.head.String())
	case err != nil:
		t.Fatalf("kcat %s: %v\nstderr (first lines):\n%s", strings.Join(args, " "), err, stderr.head.String())
	}
	return stdout.String()
}

const kcatTimeout = 30 * time.Second

// stderrWatcher keeps the first lines of kcat's stderr and calls onError at
// the first error line. os/exec writes to it from one goroutine and Run
// returns after the last write.
type stderrWatcher struct {
	onError    func()
	partial    []byte
	head       strings.Builder // the first stderrHeadLines lines
	lines      int
	firstError string
}

const stderrHeadLines = 40

func (w *stderrWatcher) Write(b []byte) (int, error) {
	w.partial = append(w.partial, b...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			return len(b), nil
		}
		line := string(w.partial[:i])
		w.partial = w.partial[i+1:]
		if w.lines++; w.lines <= stderrHeadLines {
			w.head.WriteString(line + "\n")
		}
		if w.firstError == "" && librdkafkaError(line) {
			w.firstError = line
			w.onError()
		}
	}
}

// librdkafkaError reports whether line, from kcat's stderr, is an error:
// a librdkafka log line of syslog level 0 to 3 ("%3|…|PROTOERR|…"), or one
// of kcat's own error messages.
func librdkafkaError(line string) bool {
	if len(line) >= 3 && line[0] == '%' && line[1] >= '0' && line[1] <= '3' && line[2] == '|' {
		return true
	}
	return strings.HasPrefix(line, "% ERROR") || strings.Contains(line, "Delivery failed")
}

// kcatCodecs returns the compression codecs this kcat's librdkafka was
// built with, "none" first.
func kcatCodecs(t *testing.T, ctx context.Context) []string {
	out := kcat(t, ctx, "", "-X", "dump")
	codecs := []string{"none"}
	for line := range strings.Lines(out) {
		features, ok := strings.CutPrefix(strings.TrimSpace(line), "builtin.features = ")
		if !ok {
			continue
		}
		for f := range strings.SplitSeq(features, ",") {
			if slices.Contains([]string{"gzip", "snappy", "lz4", "zstd"}, f) {
				codecs = append(codecs, f)
			}
		}
	}
	return codecs
}

func TestKcatProduceConsume(t *testing.T) {
	requireTool(t, "kcat")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p := startBroker(t, t.TempDir())
	codecs := kcatCodecs(t, ctx)
	if len(codecs) < 5 {
		t.Logf("this kcat lacks some codecs; testing %v", codecs)
	}

	const n = 300
	var topics []string
	for _, codec := range codecs {
		topic := "kcat-" + codec
		topics = append(topics, topic)
		t.Run(codec, func(t *testing.T) {
			createTopic(t, ctx, p, topic, 1)
			var input, want strings.Builder
			for i := range n {
				// Repetitive values so that the codecs have something to do.
				value := fmt.Sprintf("value %d %s %s", i, codec, strings.Repeat("abc", i%50))
				fmt.Fprintf(&input, "key-%03d:%s\n", i, value)
				fmt.Fprintf(&want, "0\t%d\tkey-%03d\t%s\tcodec=%s\n", i, i, value, codec)
			}
			kcat(t, ctx, input.String(), "-P", "-b", p.kafkaAddr, "-t", topic, "-p", "0", "-K", ":",
				"-H", "codec="+codec,
				"-X", "compression.codec="+codec,
				"-X", "acks=all",
				"-X", "enable.idempotence=true",
				"-X", "linger.ms=20")
			got := kcat(t, ctx, "", "-C", "-b", p.kafkaAddr, "-t", topic, "-p", "0",
				"-o", "beginning", "-e",
				"-f", `%p\t%o\t%k\t%s\t%h\n`)
			if got != want.String() {
				t.Fatalf("kcat -C read back differs from what kcat -P (%s) produced:\n%s", codec, lineDiff(got, want.String()))
			}
			st := p.partitions(t, topic)
			if st[0].HighWatermark != n {
				t.Errorf("/v1/partitions %s/0: %+v, want highWatermark %d", topic, st[0], n)
			}
		})
	}

	// kcat -L: the broker lists itself at its address and every topic with
	// its one partition led by that broker.
	var md kcatMetadata
	out := kcat(t, ctx, "", "-L", "-J", "-b", p.kafkaAddr)
	if err := json.Unmarshal([]byte(out), &md); err != nil {
		t.Fatalf("kcat -L -J: %v\n%s", err, out)
	}
	if len(md.Brokers) != 1 || md.Brokers[0].Name != p.kafkaAddr {
		t.Fatalf("kcat -L lists brokers %+v, want one at %s", md.Brokers, p.kafkaAddr)
	}
	for _, topic := range topics {
		i := slices.IndexFunc(md.Topics, func(mt kcatTopic) bool { return mt.Topic == topic })
		if i < 0 {
			t.Errorf("kcat -L does not list topic %s:\n%s", topic, out)
			continue
		}
		parts := md.Topics[i].Partitions
		if len(parts) != 1 || parts[0].Partition != 0 || parts[0].Leader != md.Brokers[0].ID {
			t.Errorf("kcat -L lists %s with partitions %+v, want partition 0 led by broker %d", topic, parts, md.Brokers[0].ID)
		}
	}
}

// kcatMetadata is the part of `kcat -L -J` output the test checks.
type kcatMetadata struct {
	Brokers []struct {
		ID   int32  `json:"id"`
		Name string `json:"name"`
	} `json:"brokers"`
	Topics []kcatTopic `json:"topics"`
}

type kcatTopic struct {
	Topic      string `json:"topic"`
	Partitions []struct {
		Partition int32 `json:"partition"`
		Leader    int32 `json:"leader"`
	} `json:"partitions"`
}

// lineDiff describes the first few lines where got and want differ.
func lineDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	var b strings.Builder
	fmt.Fprintf(&b, "got %d lines, want %d\n", len(g)-1, len(w)-1)
	shown := 0
	for i := range max(len(g), len(w)) {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			fmt.Fprintf(&b, "line %d:\n  got  %q\n  want %q\n", i+1, gl, wl)
			if shown++; shown == 5 {
				break
			}
		}
	}
	return b.String()
}

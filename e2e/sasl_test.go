package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// SASL end to end: users are made with `strata users add` before the broker
// starts, then stock clients authenticate over SASL_PLAINTEXT. The client
// settings are arguments, so the same tests can run over SASL_SSL once the
// listener speaks TLS.

const (
	saslAdminPassword = "e2e-admin-pw-Lq4"
	saslAlicePassword = "e2e-alice-pw-Vn8"
)

// usersAdd runs `strata users add NAME --password-stdin` on dataDir.
func usersAdd(t *testing.T, dataDir, name, password, mechanism string) {
	t.Helper()
	cmd := exec.Command(strataBinary(t), "users", "add", name, "--password-stdin", "--mechanism", mechanism, "--data-dir", dataDir)
	cmd.Env = childEnv()
	cmd.Stdin = strings.NewReader(password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("strata users add %s: %v\n%s", name, err, out)
	}
}

// startSASLBroker makes the users admin (a super-user) and alice, with
// credentials for both SCRAM mechanisms, and starts a broker with every
// mechanism enabled.
func startSASLBroker(t *testing.T) *proc {
	t.Helper()
	dir := t.TempDir()
	for _, m := range []string{"SCRAM-SHA-256", "SCRAM-SHA-512"} {
		usersAdd(t, dir, "admin", saslAdminPassword, m)
		usersAdd(t, dir, "alice", saslAlicePassword, m)
	}
	return startBroker(t, dir, "--sasl-mechanisms", "SCRAM-SHA-256,SCRAM-SHA-512,PLAIN", "--super-users", "admin")
}

// createTopicAs creates topic as admin over SCRAM-SHA-512.
func createTopicAs(t *testing.T, ctx context.Context, p *proc, topic string, n int32) {
	t.Helper()
	cl := newClient(t, p, kgo.SASL(scram.Auth{User: "admin", Pass: saslAdminPassword}.AsSha512Mechanism()))
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, n, -1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
}

// kcatSASL is the kcat settings of a SASL_PLAINTEXT client.
func kcatSASL(mechanism, user, password string) []string {
	return []string{
		"-X", "security.protocol=SASL_PLAINTEXT",
		"-X", "sasl.mechanisms=" + mechanism,
		"-X", "sasl.username=" + user,
		"-X", "sasl.password=" + password,
	}
}

func TestKcatSASL(t *testing.T) {
	requireTool(t, "kcat")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p := startSASLBroker(t)
	for _, m := range []string{"SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"} {
		t.Run(m, func(t *testing.T) {
			topic := "kcat-sasl-" + strings.ToLower(m)
			createTopicAs(t, ctx, p, topic, 1)
			sec := kcatSASL(m, "alice", saslAlicePassword)
			const n = 50
			var input, want strings.Builder
			for i := range n {
				fmt.Fprintf(&input, "value %d\n", i)
				fmt.Fprintf(&want, "%d\tvalue %d\n", i, i)
			}
			kcat(t, ctx, input.String(), append([]string{"-P", "-b", p.kafkaAddr, "-t", topic, "-p", "0", "-X", "acks=all"}, sec...)...)
			got := kcat(t, ctx, "", append([]string{"-C", "-b", p.kafkaAddr, "-t", topic, "-p", "0", "-o", "beginning", "-e", "-f", `%o\t%s\n`}, sec...)...)
			if got != want.String() {
				t.Fatalf("read back differs:\n%s", lineDiff(got, want.String()))
			}
		})
	}
	t.Run("wrong password", func(t *testing.T) {
		line := kcatFails(t, ctx, append([]string{"-L", "-b", p.kafkaAddr}, kcatSASL("SCRAM-SHA-256", "alice", "not-it")...)...)
		if !strings.Contains(line, "Authentication failed") {
			t.Fatalf("kcat with a wrong password reported %q, want an authentication failure", line)
		}
		if strings.Contains(p.logTail(), "not-it") {
			t.Fatal("the broker logged the wrong password")
		}
	})
}

// kcatFails runs kcat, which must report an error, and returns the first
// error line of its stderr.
func kcatFails(t *testing.T, ctx context.Context, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, kcatTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kcat", args...)
	stderr := &stderrWatcher{onError: cancel}
	cmd.Stderr = stderr
	_ = cmd.Run()
	if stderr.firstError == "" {
		t.Fatalf("kcat %s reported no error\nstderr:\n%s", strings.Join(args, " "), stderr.head.String())
	}
	return stderr.firstError
}

func TestKafkaPythonSASL(t *testing.T) {
	requireTool(t, "kafka-python")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	p := startSASLBroker(t)
	const n = 100
	for _, m := range []string{"SCRAM-SHA-256", "PLAIN"} {
		t.Run(m, func(t *testing.T) {
			topic := "python-sasl-" + strings.ToLower(m)
			createTopicAs(t, ctx, p, topic, 1)
			extra, err := json.Marshal(map[string]string{
				"security_protocol":   "SASL_PLAINTEXT",
				"sasl_mechanism":      m,
				"sasl_plain_username": "alice",
				"sasl_plain_password": saslAlicePassword,
			})
			if err != nil {
				t.Fatal(err)
			}
			acks := decodeLines[pyAck](t, "kafka-python produce", runKafkaPython(t, ctx, "produce", p.kafkaAddr, topic, strconv.Itoa(n), "none", string(extra)))
			if len(acks) != n {
				t.Fatalf("kafka-python produce: %d acks, want %d", len(acks), n)
			}
			got := decodeLines[pyRecord](t, "kafka-python consume", runKafkaPython(t, ctx, "consume", p.kafkaAddr, topic, "1", strconv.Itoa(n), string(extra)))
			if len(got) != n {
				t.Fatalf("kafka-python consume: %d records, want %d", len(got), n)
			}
			for i, r := range got {
				if r.Offset != int64(i) || !bytes.HasPrefix(mustHex(t, r.Value), fmt.Appendf(nil, "py-value-%d-", i)) {
					t.Fatalf("record %d: %+v", i, r)
				}
			}
		})
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	var b []byte
	if _, err := fmt.Sscanf(s, "%x", &b); err != nil && s != "" {
		t.Fatalf("hex %q: %v", s, err)
	}
	return b
}

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/strata-io/strata/internal/testcert"
)

// SASL end to end, as issue 8 asks: users are made with `strata users add`
// before the broker starts, the super-user grants ACLs over the wire, then
// stock clients authenticate with SCRAM (and PLAIN) over TLS (SASL_SSL), or
// over the default listener that --sasl-mechanisms alone makes
// SASL_PLAINTEXT.

const (
	saslAdminPassword = "e2e-admin-pw-Lq4"
	saslAlicePassword = "e2e-alice-pw-Vn8"
	saslBobPassword   = "e2e-bob-pw-Zt2"
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

// saslBroker is a broker with SASL on and the users admin (a super-user),
// alice and bob, with credentials for both SCRAM mechanisms. alice may do
// everything with the topics named "alice-…"; bob may do nothing.
type saslBroker struct {
	*proc
	bootstrap string          // what clients dial
	certs     *testcert.Certs // nil over SASL_PLAINTEXT
}

// startSASLBroker starts it with one SASL_SSL listener advertised as
// localhost (which the test certificate names), or, with tlsOff, with
// --sasl-mechanisms alone: the default listener, SASL_PLAINTEXT.
func startSASLBroker(t *testing.T, ctx context.Context, tlsOff bool) *saslBroker {
	t.Helper()
	dir := t.TempDir()
	for _, m := range []string{"SCRAM-SHA-256", "SCRAM-SHA-512"} {
		usersAdd(t, dir, "admin", saslAdminPassword, m)
		usersAdd(t, dir, "alice", saslAlicePassword, m)
		usersAdd(t, dir, "bob", saslBobPassword, m)
	}
	sasl := []string{"--sasl-mechanisms", "SCRAM-SHA-256,SCRAM-SHA-512,PLAIN", "--super-users", "admin"}
	sb := &saslBroker{}
	if tlsOff {
		sb.proc = startBroker(t, dir, sasl...)
		sb.bootstrap = sb.kafkaAddr
	} else {
		sb.certs = testcert.New(t, "unused")
		listeners := func(addr string) []string {
			_, port, _ := net.SplitHostPort(addr)
			sb.bootstrap = net.JoinHostPort("localhost", port)
			return []string{"--listeners", "SASL_SSL://" + addr, "--advertised-listeners", "SASL_SSL://" + sb.bootstrap}
		}
		sb.proc = startBrokerListening(t, dir, listeners, append(sasl,
			"--tls-cert-file", sb.certs.ServerCertFile, "--tls-key-file", sb.certs.ServerKeyFile)...)
	}
	res, err := kadm.NewClient(sb.client(t, "admin", saslAdminPassword)).CreateACLs(ctx, kadm.NewACLs().
		Allow("User:alice").AllowHosts().Topics("alice-").ResourcePatternType(kadm.ACLPatternPrefixed).
		Operations(kadm.OpAll))
	if err == nil {
		for _, r := range res {
			if r.Err != nil {
				err = r.Err
			}
		}
	}
	if err != nil {
		t.Fatalf("admin grants alice her topics: %v", err)
	}
	return sb
}

// client is a franz-go client authenticated as user over SCRAM-SHA-512.
func (sb *saslBroker) client(t *testing.T, user, password string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	opts = append([]kgo.Opt{kgo.SeedBrokers(sb.bootstrap), kgo.SASL(scram.Auth{User: user, Pass: password}.AsSha512Mechanism())}, opts...)
	if sb.certs != nil {
		opts = append(opts, kgo.DialTLSConfig(sb.certs.ClientConfig()))
	}
	return newClient(t, sb.proc, opts...)
}

// createTopic creates topic as admin.
func (sb *saslBroker) createTopic(t *testing.T, ctx context.Context, topic string, n int32) {
	t.Helper()
	resp, err := kadm.NewClient(sb.client(t, "admin", saslAdminPassword)).CreateTopic(ctx, n, -1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
}

// kcatArgs is the kcat settings of a client of sb.
func (sb *saslBroker) kcatArgs(mechanism, user, password string) []string {
	args := []string{"-b", sb.bootstrap,
		"-X", "sasl.mechanisms=" + mechanism,
		"-X", "sasl.username=" + user,
		"-X", "sasl.password=" + password,
	}
	if sb.certs == nil {
		return append(args, "-X", "security.protocol=SASL_PLAINTEXT")
	}
	return append(args, "-X", "security.protocol=SASL_SSL", "-X", "ssl.ca.location="+sb.certs.CAFile)
}

// pythonArgs is the JSON of kafka-python's settings for a client of sb.
func (sb *saslBroker) pythonArgs(t *testing.T, mechanism, user, password string) string {
	t.Helper()
	settings := map[string]any{
		"security_protocol":   "SASL_PLAINTEXT",
		"sasl_mechanism":      mechanism,
		"sasl_plain_username": user,
		"sasl_plain_password": password,
	}
	if sb.certs != nil {
		settings["security_protocol"] = "SASL_SSL"
		settings["ssl_cafile"] = sb.certs.CAFile
		settings["ssl_check_hostname"] = true
	}
	b, err := json.Marshal(settings)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestKcatSASL(t *testing.T) {
	requireTool(t, "kcat")
	for _, proto := range []string{"SASL_SSL", "SASL_PLAINTEXT"} {
		t.Run(proto, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			sb := startSASLBroker(t, ctx, proto == "SASL_PLAINTEXT")
			mechanisms := []string{"SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"}
			if proto == "SASL_PLAINTEXT" {
				mechanisms = mechanisms[:1]
			}
			for _, m := range mechanisms {
				t.Run(m, func(t *testing.T) {
					topic := "alice-kcat-" + strings.ToLower(m)
					sb.createTopic(t, ctx, topic, 1)
					sec := sb.kcatArgs(m, "alice", saslAlicePassword)
					const n = 50
					var input, want strings.Builder
					for i := range n {
						fmt.Fprintf(&input, "value %d\n", i)
						fmt.Fprintf(&want, "%d\tvalue %d\n", i, i)
					}
					kcat(t, ctx, input.String(), append([]string{"-P", "-t", topic, "-p", "0", "-X", "acks=all"}, sec...)...)
					got := kcat(t, ctx, "", append([]string{"-C", "-t", topic, "-p", "0", "-o", "beginning", "-e", "-f", `%o\t%s\n`}, sec...)...)
					if got != want.String() {
						t.Fatalf("read back differs:\n%s", lineDiff(got, want.String()))
					}
					// bob, authenticated but without ACLs, may not read it.
					line := kcatFails(t, ctx, append([]string{"-C", "-t", topic, "-p", "0", "-o", "beginning", "-e"}, sb.kcatArgs(m, "bob", saslBobPassword)...)...)
					if !strings.Contains(line, "authorization failed") {
						t.Fatalf("kcat as bob reading %s reported %q, want an authorization failure", topic, line)
					}
				})
			}
			t.Run("wrong password", func(t *testing.T) {
				line := kcatFails(t, ctx, append([]string{"-L"}, sb.kcatArgs("SCRAM-SHA-256", "alice", "not-it")...)...)
				if !strings.Contains(line, "Authentication failed") {
					t.Fatalf("kcat with a wrong password reported %q, want an authentication failure", line)
				}
			})
			t.Run("unknown user", func(t *testing.T) {
				line := kcatFails(t, ctx, append([]string{"-L"}, sb.kcatArgs("SCRAM-SHA-256", "mallory", "any")...)...)
				if !strings.Contains(line, "Authentication failed") {
					t.Fatalf("kcat as an unknown user reported %q, want an authentication failure", line)
				}
			})
			for _, secret := range []string{"not-it", saslAlicePassword, saslBobPassword, saslAdminPassword} {
				if strings.Contains(sb.logTail(), secret) {
					t.Fatalf("the broker logged the password %q", secret)
				}
			}
		})
	}
}

// TestFranzGoSASLSSLAuthorization is the franz-go part of issue 8's client
// matrix over SASL_SSL: what a user without ACLs can see and do, and what
// a wrong password gets.
func TestFranzGoSASLSSLAuthorization(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sb := startSASLBroker(t, ctx, false)
	sb.createTopic(t, ctx, "alice-orders", 2)
	sb.createTopic(t, ctx, "admin-only", 1)

	alice := sb.client(t, "alice", saslAlicePassword, kgo.DefaultProduceTopic("alice-orders"))
	for i := range 20 {
		if err := alice.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "order %d", i)}).FirstErr(); err != nil {
			t.Fatalf("alice produces to her topic: %v", err)
		}
	}
	// Metadata shows each user only the topics it may describe.
	for _, c := range []struct {
		user, password string
		want           []string
	}{
		{"alice", saslAlicePassword, []string{"alice-orders"}},
		{"bob", saslBobPassword, nil},
		{"admin", saslAdminPassword, []string{"admin-only", "alice-orders"}},
	} {
		topics, err := kadm.NewClient(sb.client(t, c.user, c.password)).ListTopics(ctx)
		if err != nil {
			t.Fatalf("%s lists topics: %v", c.user, err)
		}
		if got := topics.Names(); fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%s sees topics %v, want %v", c.user, got, c.want)
		}
	}
	// bob may neither write nor read alice's topic.
	bob := sb.client(t, "bob", saslBobPassword, kgo.DefaultProduceTopic("alice-orders"), kgo.ProduceRequestTimeout(5*time.Second),
		kgo.RecordDeliveryTimeout(10*time.Second))
	if err := bob.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Errorf("bob produces to alice-orders: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = "alice-orders"
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Timestamp = -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	// franz-go looks the topic up first, which fails the same way.
	resp, err := req.RequestWith(ctx, bob)
	if err == nil {
		err = kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode)
	}
	if !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Errorf("bob lists offsets of alice-orders: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	// A wrong password: SASL_AUTHENTICATION_FAILED.
	wrong := sb.client(t, "alice", "not-it", kgo.RetryTimeout(time.Second))
	if err := wrong.Ping(ctx); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Errorf("a client with a wrong password: %v, want SASL_AUTHENTICATION_FAILED", err)
	}
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
	sb := startSASLBroker(t, ctx, false)
	const n = 100
	for _, m := range []string{"SCRAM-SHA-256", "PLAIN"} {
		t.Run(m, func(t *testing.T) {
			topic := "alice-python-" + strings.ToLower(m)
			sb.createTopic(t, ctx, topic, 1)
			settings := sb.pythonArgs(t, m, "alice", saslAlicePassword)
			acks := decodeLines[pyAck](t, "kafka-python produce", runKafkaPython(t, ctx, "produce", sb.bootstrap, topic, strconv.Itoa(n), "none", settings))
			if len(acks) != n {
				t.Fatalf("kafka-python produce: %d acks, want %d", len(acks), n)
			}
			got := decodeLines[pyRecord](t, "kafka-python consume", runKafkaPython(t, ctx, "consume", sb.bootstrap, topic, "1", strconv.Itoa(n), settings))
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

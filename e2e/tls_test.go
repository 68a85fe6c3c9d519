package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/strata-io/strata/internal/testcert"
)

// startSSLBroker starts `strata serve` with one SSL listener on a free
// loopback port, advertised as localhost (which the test server
// certificate names), verifying client certificates if given. It returns
// the broker and the bootstrap address clients use, localhost:port.
func startSSLBroker(t *testing.T, certs *testcert.Certs) (*proc, string) {
	t.Helper()
	var bootstrap string
	listeners := func(addr string) []string {
		_, port, _ := net.SplitHostPort(addr)
		bootstrap = net.JoinHostPort("localhost", port)
		return []string{"--listeners", "SSL://" + addr, "--advertised-listeners", "SSL://" + bootstrap}
	}
	p := startBrokerListening(t, t.TempDir(), listeners,
		"--tls-cert-file", certs.ServerCertFile, "--tls-key-file", certs.ServerKeyFile,
		"--tls-client-ca-file", certs.CAFile, "--tls-client-auth", "requested",
		"--log-level", "debug")
	return p, bootstrap
}

func TestKcatSSLProduceConsume(t *testing.T) {
	requireTool(t, "kcat")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	certs := testcert.New(t, "kcat")
	p, bootstrap := startSSLBroker(t, certs)
	ssl := []string{"-b", bootstrap, "-X", "security.protocol=ssl", "-X", "ssl.ca.location=" + certs.CAFile}

	// Metadata over the SSL listener names the advertised address.
	var md kcatMetadata
	out := kcat(t, ctx, "", append([]string{"-L", "-J"}, ssl...)...)
	if err := json.Unmarshal([]byte(out), &md); err != nil {
		t.Fatalf("kcat -L -J over SSL: %v\n%s", err, out)
	}
	if len(md.Brokers) != 1 || md.Brokers[0].Name != bootstrap {
		t.Fatalf("kcat -L over SSL lists brokers %+v, want one at %s", md.Brokers, bootstrap)
	}

	for _, tc := range []struct {
		name   string
		args   []string
		wantCN string // principal of the client certificate, logged at debug
	}{
		{name: "server-auth", args: ssl},
		{name: "client-cert", args: append(append([]string{}, ssl...),
			"-X", "ssl.certificate.location="+certs.ClientCertFile, "-X", "ssl.key.location="+certs.ClientKeyFile),
			wantCN: "User:CN=kcat,OU=strata-test"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topic := "kcat-ssl-" + tc.name
			const n = 200
			var input, want strings.Builder
			for i := range n {
				fmt.Fprintf(&input, "key-%03d:value %d over TLS\n", i, i)
				fmt.Fprintf(&want, "%d\tkey-%03d\tvalue %d over TLS\n", i, i, i)
			}
			kcat(t, ctx, input.String(), append([]string{"-P", "-t", topic, "-p", "0", "-K", ":", "-X", "acks=all",
				"-X", "allow.auto.create.topics=true"}, tc.args...)...)
			got := kcat(t, ctx, "", append([]string{"-C", "-t", topic, "-p", "0", "-o", "beginning", "-e",
				"-f", `%o\t%k\t%s\n`}, tc.args...)...)
			if got != want.String() {
				t.Fatalf("kcat -C over SSL read back differs from what kcat -P produced:\n%s", lineDiff(got, want.String()))
			}
			if st := p.partitions(t, topic); st[0].HighWatermark != n {
				t.Errorf("/v1/partitions %s/0: %+v, want highWatermark %d", topic, st[0], n)
			}
			if tc.wantCN != "" && !strings.Contains(p.logTail(), tc.wantCN) {
				t.Errorf("the broker log does not show principal %s for kcat's client certificate", tc.wantCN)
			}
		})
	}
}

// kafkaPythonSSLScript produces N records over SSL and reads them back,
// printing each as a JSON object: BOOTSTRAP TOPIC N CAFILE.
const kafkaPythonSSLScript = `
import json, sys
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

bootstrap, topic, n, cafile = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
ssl = dict(security_protocol='SSL', ssl_cafile=cafile, ssl_check_hostname=True)
producer = KafkaProducer(bootstrap_servers=bootstrap, acks='all', retries=0, **ssl)
futures = [producer.send(topic, key=('k%d' % i).encode(), value=('v%d' % i).encode()) for i in range(n)]
producer.flush(timeout=60)
for f in futures:
    f.get(timeout=60)
producer.close(timeout=10)
consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                         auto_offset_reset='earliest', consumer_timeout_ms=20000, **ssl)
consumer.assign([TopicPartition(topic, 0)])
seen = 0
for msg in consumer:
    print(json.dumps({'offset': msg.offset, 'key': msg.key.decode(), 'value': msg.value.decode()}))
    seen += 1
    if seen == n:
        break
consumer.close()
`

func TestKafkaPythonSSLProduceConsume(t *testing.T) {
	requireTool(t, "kafka-python")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	certs := testcert.New(t, "python")
	p, bootstrap := startSSLBroker(t, certs)

	const topic, n = "python-ssl", 100
	out := runScript(t, ctx, "kafka-python over SSL", systemPython, "-c", kafkaPythonSSLScript, bootstrap, topic, strconv.Itoa(n), certs.CAFile)
	type rec struct {
		Offset int64  `json:"offset"`
		Key    string `json:"key"`
		Value  string `json:"value"`
	}
	got := decodeLines[rec](t, "kafka-python over SSL", out)
	if len(got) != n {
		t.Fatalf("kafka-python over SSL read %d records, want %d:\n%s", len(got), n, out)
	}
	for i, r := range got {
		if want := (rec{int64(i), fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i)}); r != want {
			t.Fatalf("kafka-python over SSL, record %d: %+v, want %+v", i, r, want)
		}
	}
	if st := p.partitions(t, topic); st[0].HighWatermark != n {
		t.Errorf("/v1/partitions %s/0: %+v, want highWatermark %d", topic, st[0], n)
	}
}

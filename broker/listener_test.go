package broker

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/auth"
	"github.com/strata-io/strata/internal/testcert"
	"github.com/strata-io/strata/locallog"
)

// seenRequests records, per client id, the listeners and principals of the
// requests a broker decoded.
type seenRequests struct {
	mu         sync.Mutex // guards below
	listeners  map[string]map[string]bool
	principals map[string]map[string]bool
}

func (s *seenRequests) observe(rc *request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	add := func(m map[string]map[string]bool, v string) {
		if m[rc.clientID] == nil {
			m[rc.clientID] = map[string]bool{}
		}
		m[rc.clientID][v] = true
	}
	add(s.listeners, rc.listener.Name)
	add(s.principals, rc.principal)
}

// only returns the one value recorded for clientID in m, or a description
// of what was recorded instead.
func (s *seenRequests) only(m map[string]map[string]bool, clientID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var vs []string
	for v := range m[clientID] {
		vs = append(vs, v)
	}
	if len(vs) != 1 {
		return fmt.Sprintf("%q", vs)
	}
	return vs[0]
}

// startListeners runs a broker with a PLAINTEXT listener on 127.0.0.1, an
// SSL one on localhost (client certificates verified if given) and a
// PLAINTEXT one advertised as broker.example:19092, recording every
// request in seen.
func startListeners(t *testing.T, certs *testcert.Certs, seen *seenRequests) *testBroker {
	t.Helper()
	cfg := Config{
		DataDir:          t.TempDir(),
		AutoCreateTopics: true,
		Fsync:            locallog.FsyncPolicy{Mode: locallog.FsyncAlways},
		Logger:           testLogger(t),
		RequestTimeout:   testTimeout,
		Listeners: []Listener{
			{Name: "PLAINTEXT", Addr: "127.0.0.1:0"},
			{Name: "SECURE", Addr: "localhost:0", Protocol: ProtocolSSL, TLS: certs.ServerConfig(tls.VerifyClientCertIfGiven)},
			{Name: "EXTERNAL", Addr: "127.0.0.1:0", Advertised: "broker.example:19092", Protocol: ProtocolPlaintext},
		},
	}
	b, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	b.onRequest = seen.observe
	return serveBroker(t, b, cfg)
}

// dialRawTLS is dialRaw over TLS.
func dialRawTLS(t *testing.T, addr string, cfg *tls.Config) *rawConn {
	t.Helper()
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: testTimeout}, Config: cfg}
	nc, err := d.DialContext(testContext(t), "tcp", addr)
	if err != nil {
		t.Fatalf("dial %s over TLS: %v", addr, err)
	}
	_ = nc.SetDeadline(time.Now().Add(testTimeout))
	t.Cleanup(func() { _ = nc.Close() })
	return &rawConn{t: t, nc: nc, fmt: kmsg.NewRequestFormatter(kmsg.FormatterClientID("raw-test"))}
}

// produceConsume creates topic, produces n records to it and reads them
// back from offset 0, all through cl.
func produceConsume(t *testing.T, cl *kgo.Client, topic string, n int) {
	t.Helper()
	ctx := testContext(t)
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, 1, -1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	for i := range n {
		r := &kgo.Record{Topic: topic, Value: []byte(topic + "-" + strconv.Itoa(i))}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce to %s: %v", topic, err)
		}
	}
	cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().At(0)}})
	var got []string
	for len(got) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consume %s: %v after %d of %d records", topic, err, len(got), n)
		}
		for _, fe := range fs.Errors() {
			t.Fatalf("consume %s: %v", topic, fe.Err)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	for i, v := range got {
		if want := topic + "-" + strconv.Itoa(i); v != want {
			t.Fatalf("consume %s: record %d is %q, want %q", topic, i, v, want)
		}
	}
}

func portOf(t *testing.T, addr string) int32 {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return int32(n)
}

func TestListenersPlaintextAndSSL(t *testing.T) {
	certs := testcert.New(t, "alice")
	seen := &seenRequests{listeners: map[string]map[string]bool{}, principals: map[string]map[string]bool{}}
	tb := startListeners(t, certs, seen)
	plainAddr, secureAddr, externalAddr := tb.ListenerAddr("PLAINTEXT"), tb.ListenerAddr("SECURE"), tb.ListenerAddr("EXTERNAL")
	if tb.Addr() != plainAddr || secureAddr == "" || externalAddr == "" || tb.ListenerAddr("NONE") != "" {
		t.Fatalf("Addr %q, listener addresses %q %q %q", tb.Addr(), plainAddr, secureAddr, externalAddr)
	}

	// Every answer that names the broker names it as the listener the
	// request came in on advertises it.
	checkAdvertised := func(name string, rc *rawConn, host string, port int32) {
		t.Helper()
		md := kmsg.NewPtrMetadataRequest()
		md.Version = 12
		if resp := rc.roundTrip(md).(*kmsg.MetadataResponse); len(resp.Brokers) != 1 || resp.Brokers[0].Host != host || resp.Brokers[0].Port != port {
			t.Errorf("%s: Metadata brokers %+v, want %s:%d", name, resp.Brokers, host, port)
		}
		fc := kmsg.NewPtrFindCoordinatorRequest()
		fc.Version = 4
		fc.CoordinatorKeys = []string{"g"}
		if resp := rc.roundTrip(fc).(*kmsg.FindCoordinatorResponse); len(resp.Coordinators) != 1 || resp.Coordinators[0].Host != host || resp.Coordinators[0].Port != port {
			t.Errorf("%s: FindCoordinator %+v, want %s:%d", name, resp.Coordinators, host, port)
		}
		dc := kmsg.NewPtrDescribeClusterRequest()
		if resp := rc.roundTrip(dc).(*kmsg.DescribeClusterResponse); len(resp.Brokers) != 1 || resp.Brokers[0].Host != host || resp.Brokers[0].Port != port {
			t.Errorf("%s: DescribeCluster brokers %+v, want %s:%d", name, resp.Brokers, host, port)
		}
	}
	checkAdvertised("PLAINTEXT", dialRaw(t, plainAddr), "127.0.0.1", portOf(t, plainAddr))
	checkAdvertised("SECURE", dialRawTLS(t, secureAddr, certs.ClientConfig()), "localhost", portOf(t, secureAddr))
	checkAdvertised("EXTERNAL", dialRaw(t, externalAddr), "broker.example", 19092)

	// franz-go follows the advertised addresses: the TLS clients reach the
	// SSL listener again at localhost, the plaintext one the PLAINTEXT
	// listener, and each produces and consumes.
	plain := tb.client(kgo.ClientID("plain"))
	produceConsume(t, plain, "over-plaintext", 20)
	anon := tb.client(kgo.SeedBrokers(secureAddr), kgo.ClientID("anon-ssl"), kgo.DialTLSConfig(certs.ClientConfig()))
	produceConsume(t, anon, "over-ssl", 20)
	alice := tb.client(kgo.SeedBrokers(secureAddr), kgo.ClientID("alice-ssl"), kgo.DialTLSConfig(certs.ClientConfigWithCert()))
	produceConsume(t, alice, "over-ssl-with-cert", 20)

	for _, c := range []struct{ clientID, listener, principal string }{
		{"plain", "PLAINTEXT", "User:ANONYMOUS"},
		{"anon-ssl", "SECURE", "User:ANONYMOUS"},
		{"alice-ssl", "SECURE", "User:CN=alice,OU=strata-test"},
	} {
		if got := seen.only(seen.listeners, c.clientID); got != c.listener {
			t.Errorf("client %s: requests came in on %s, want only %s", c.clientID, got, c.listener)
		}
		if got := seen.only(seen.principals, c.clientID); got != c.principal {
			t.Errorf("client %s: principal %s, want %s", c.clientID, got, c.principal)
		}
	}
}

// A client speaking plaintext to the TLS port is disconnected, and a
// client that never finishes its handshake does not hold up others.
func TestListenerTLSHandshakeFailures(t *testing.T) {
	certs := testcert.New(t, "bob")
	seen := &seenRequests{listeners: map[string]map[string]bool{}, principals: map[string]map[string]bool{}}
	tb := startListeners(t, certs, seen)
	secureAddr := tb.ListenerAddr("SECURE")

	bad := dialRaw(t, secureAddr)
	bad.send(kmsg.NewPtrApiVersionsRequest())
	bad.expectClosed()

	// A client certificate from another CA is refused.
	other := testcert.New(t, "mallory")
	cfg := other.ClientConfigWithCert()
	cfg.RootCAs = certs.CAPool()
	if nc, err := tls.Dial("tcp", secureAddr, cfg); err == nil {
		// TLS 1.3 reports the server's refusal at the first read.
		_ = nc.SetDeadline(time.Now().Add(testTimeout))
		_, err = nc.Read(make([]byte, 1))
		_ = nc.Close()
		if err == nil || strings.Contains(err.Error(), "timeout") {
			t.Errorf("a client certificate of an unknown CA: read %v, want the connection refused", err)
		}
	}

	// A client that connects and says nothing holds its handshake open
	// (until the request timeout, here testTimeout)...
	silent, err := net.DialTimeout("tcp", secureAddr, testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	// ...while others connect and are served, on both listeners.
	rc := dialRawTLS(t, secureAddr, certs.ClientConfig())
	if resp := rc.roundTrip(kmsg.NewPtrApiVersionsRequest()).(*kmsg.ApiVersionsResponse); resp.ErrorCode != 0 {
		t.Errorf("ApiVersions over TLS after failed handshakes: error %d", resp.ErrorCode)
	}
	produceConsume(t, tb.client(kgo.SeedBrokers(secureAddr), kgo.DialTLSConfig(certs.ClientConfig())), "after-failures", 5)
	produceConsume(t, tb.client(), "plain-after-failures", 5)
}

func TestValidateListeners(t *testing.T) {
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{{}}}
	tests := []struct {
		name    string
		cfg     Config
		wantErr string // empty: valid
		want    []Listener
	}{
		{name: "default", cfg: Config{},
			want: []Listener{{Name: "PLAINTEXT", Addr: DefaultListen, Protocol: ProtocolPlaintext}}},
		{name: "listen and advertised", cfg: Config{Listen: ":9092", AdvertisedAddr: "h:9092"},
			want: []Listener{{Name: "PLAINTEXT", Addr: ":9092", Advertised: "h:9092", Protocol: ProtocolPlaintext}}},
		{name: "protocol from name", cfg: Config{Listeners: []Listener{{Name: "SSL", Addr: ":1", TLS: tlsCfg}, {Name: "PLAINTEXT", Addr: ":2"}}},
			want: []Listener{{Name: "SSL", Addr: ":1", Protocol: ProtocolSSL, TLS: tlsCfg}, {Name: "PLAINTEXT", Addr: ":2", Protocol: ProtocolPlaintext}}},
		{name: "both", cfg: Config{Listen: ":1", Listeners: []Listener{{Name: "PLAINTEXT", Addr: ":2"}}}, wantErr: "not both"},
		{name: "no name", cfg: Config{Listeners: []Listener{{Addr: ":2", Protocol: ProtocolPlaintext}}}, wantErr: "no name"},
		{name: "repeated name", cfg: Config{Listeners: []Listener{{Name: "PLAINTEXT", Addr: ":1"}, {Name: "PLAINTEXT", Addr: ":2"}}}, wantErr: `"PLAINTEXT" repeats`},
		{name: "no address", cfg: Config{Listeners: []Listener{{Name: "PLAINTEXT"}}}, wantErr: "no address"},
		{name: "no protocol", cfg: Config{Listeners: []Listener{{Name: "INTERNAL", Addr: ":1"}}}, wantErr: "INTERNAL has no security protocol"},
		{name: "unknown protocol", cfg: Config{Listeners: []Listener{{Name: "A", Addr: ":1", Protocol: "TLS"}}}, wantErr: `unknown security protocol "TLS"`},
		{name: "ssl without certificate", cfg: Config{Listeners: []Listener{{Name: "SSL", Addr: ":1", TLS: &tls.Config{}}}}, wantErr: "needs a TLS configuration"},
		{name: "sasl without mechanisms", cfg: Config{Listeners: []Listener{{Name: "SASL_SSL", Addr: ":1", TLS: tlsCfg}}}, wantErr: "no SASL mechanism is enabled"},
		{name: "sasl", cfg: Config{SASLMechanisms: []string{"PLAIN"}, Listeners: []Listener{{Name: "SASL_SSL", Addr: ":1", TLS: tlsCfg}, {Name: "PLAINTEXT", Addr: ":2"}}},
			want: []Listener{{Name: "SASL_SSL", Addr: ":1", Protocol: ProtocolSASLSSL, TLS: tlsCfg}, {Name: "PLAINTEXT", Addr: ":2", Protocol: ProtocolPlaintext}}},
		{name: "mechanisms without a sasl listener", cfg: Config{SASLMechanisms: []string{"PLAIN"}, Listeners: []Listener{{Name: "PLAINTEXT", Addr: ":2"}}}, wantErr: "no listener uses SASL"},
		{name: "mechanisms make the default listener sasl", cfg: Config{SASLMechanisms: []string{"PLAIN"}},
			want: []Listener{{Name: "SASL_PLAINTEXT", Addr: DefaultListen, Protocol: ProtocolSASLPlaintext}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.validateListeners()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("error %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			case tt.wantErr == "" && fmt.Sprint(tt.cfg.Listeners) != fmt.Sprint(tt.want):
				t.Errorf("listeners %+v, want %+v", tt.cfg.Listeners, tt.want)
			}
		})
	}

	// Open refuses a SASL listener without mechanisms before touching the
	// data directory.
	_, err := Open(context.Background(), Config{DataDir: t.TempDir(), Listeners: []Listener{{Name: "SASL_PLAINTEXT", Addr: "127.0.0.1:0"}}})
	if err == nil || !strings.Contains(err.Error(), "SASL") {
		t.Errorf("Open with a SASL listener: %v, want an error about SASL", err)
	}
}

// TestRequiredClientCertificatesAuthorizeByTheirSubject runs an SSL listener
// that requires client certificates: authentication is then on, and ACLs
// name the certificate's subject as the principal.
func TestRequiredClientCertificatesAuthorizeByTheirSubject(t *testing.T) {
	certs := testcert.New(t, "carol")
	cfg := Config{
		DataDir:          t.TempDir(),
		AutoCreateTopics: true,
		Fsync:            locallog.FsyncPolicy{Mode: locallog.FsyncAlways},
		Logger:           testLogger(t),
		RequestTimeout:   testTimeout,
		Listeners: []Listener{
			{Name: "SSL", Addr: "localhost:0", Protocol: ProtocolSSL, TLS: certs.ServerConfig(tls.RequireAndVerifyClientCert)},
		},
	}
	b, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	tb := serveBroker(t, b, cfg)
	const carol = "User:CN=carol,OU=strata-test"
	ctx := testContext(t)
	cl := tb.client(kgo.SeedBrokers(tb.Addr()), kgo.DialTLSConfig(certs.ClientConfigWithCert()),
		kgo.DefaultProduceTopic("carol-topic"), kgo.AllowAutoTopicCreation(), kgo.RecordDeliveryTimeout(5*time.Second))
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); err == nil {
		t.Fatal("a client certificate without ACLs produced")
	}
	b.acls.Add(auth.Binding{ResourceType: auth.ResourceTopic, ResourceName: "carol-", PatternType: auth.PatternPrefixed,
		Principal: carol, Host: auth.WildcardHost, Operation: auth.OpAll, Permission: auth.PermissionAllow})
	produceConsume(t, tb.client(kgo.SeedBrokers(tb.Addr()), kgo.DialTLSConfig(certs.ClientConfigWithCert())), "carol-topic", 5)
}

package broker

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/strata-io/strata/auth"
)

const (
	adminPassword = "admin-secret-Xq7"
	alicePassword = "alice-secret-Zr9"
)

var allMechanisms = []string{auth.ScramSHA256, auth.ScramSHA512, auth.Plain}

// withUsers writes a users document into the data directory before the
// broker opens, as `strata users add` does: name → password, with
// credentials for both SCRAM mechanisms.
func withUsers(t *testing.T, users map[string]string) func(*Config) {
	return func(cfg *Config) {
		u := auth.NewUsers()
		for name, pw := range users {
			for _, m := range []string{auth.ScramSHA256, auth.ScramSHA512} {
				c, err := auth.NewCredential(m, pw, 0)
				if err != nil {
					t.Fatal(err)
				}
				u.Set(name, c)
			}
		}
		if err := saveUsers(context.Background(), cfg.DataDir, nil, u); err != nil {
			t.Fatal(err)
		}
	}
}

// saslOn turns authentication on with every mechanism and admin as the
// super-user.
func saslOn(cfg *Config) {
	cfg.SASLMechanisms = allMechanisms
	cfg.SuperUsers = []string{"admin"}
}

// startSASLBroker starts a broker with SASL on and the user admin.
func startSASLBroker(t *testing.T, opts ...func(*Config)) *testBroker {
	t.Helper()
	dir := t.TempDir()
	return startBroker(t, append([]func(*Config){
		func(cfg *Config) { cfg.DataDir = dir },
		saslOn,
		withUsers(t, map[string]string{"admin": adminPassword}),
	}, opts...)...)
}

// mechanismOpt makes a client authenticate; it also lets it create topics.
func mechanismOpt(mechanism, user, password string) kgo.Opt {
	return kgo.SASL(clientMechanism(mechanism, user, password))
}

func clientMechanism(mechanism, user, password string) sasl.Mechanism {
	switch mechanism {
	case auth.ScramSHA256:
		return scram.Auth{User: user, Pass: password}.AsSha256Mechanism()
	case auth.ScramSHA512:
		return scram.Auth{User: user, Pass: password}.AsSha512Mechanism()
	}
	return plain.Auth{User: user, Pass: password}.AsMechanism()
}

// addUser creates user with password for both SCRAM mechanisms through
// AlterUserScramCredentials, as admin.
func addUser(t *testing.T, tb *testBroker, user, password string) {
	t.Helper()
	adm := kadm.NewClient(tb.client(mechanismOpt(auth.ScramSHA256, "admin", adminPassword)))
	res, err := adm.AlterUserSCRAMs(testContext(t), nil, []kadm.UpsertSCRAM{
		{User: user, Mechanism: kadm.ScramSha256, Iterations: 4096, Password: password},
	})
	if err == nil {
		err = res[user].Err
	}
	if err != nil {
		t.Fatalf("add user %s (SCRAM-SHA-256): %v", user, err)
	}
	res, err = adm.AlterUserSCRAMs(testContext(t), nil, []kadm.UpsertSCRAM{
		{User: user, Mechanism: kadm.ScramSha512, Iterations: 8192, Password: password},
	})
	if err == nil {
		err = res[user].Err
	}
	if err != nil {
		t.Fatalf("add user %s (SCRAM-SHA-512): %v", user, err)
	}
}

// saslProduceConsume produces three records to topic with a client made
// with opts, and reads them back.
func saslProduceConsume(t *testing.T, tb *testBroker, topic string, opts ...kgo.Opt) {
	t.Helper()
	ctx := testContext(t)
	cl := tb.client(append(opts, kgo.AllowAutoTopicCreation())...)
	for i := range 3 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, "v%d", i)}).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	cons := tb.client(append(opts, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	var got []string
	for len(got) < 3 {
		fs := cons.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("consume: %v", err)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	if strings.Join(got, ",") != "v0,v1,v2" {
		t.Fatalf("consumed %v", got)
	}
}

// allowTopics lets user do everything with the topics whose names start
// with prefix, through CreateAcls as admin: with authentication on, a user
// without ACLs may do nothing.
func allowTopics(t *testing.T, tb *testBroker, user, prefix string) {
	t.Helper()
	adm := kadm.NewClient(tb.client(mechanismOpt(auth.ScramSHA256, "admin", adminPassword)))
	res, err := adm.CreateACLs(testContext(t), kadm.NewACLs().Allow("User:"+user).AllowHosts().
		Topics(prefix).ResourcePatternType(kadm.ACLPatternPrefixed).Operations(kadm.OpAll))
	if err == nil {
		for _, r := range res {
			if r.Err != nil {
				err = r.Err
			}
		}
	}
	if err != nil {
		t.Fatalf("allow %s the topics %s*: %v", user, prefix, err)
	}
}

func saslCount(tb *testBroker, mechanism, outcome string) float64 {
	var m dto.Metric
	if err := tb.metrics.saslAuths.WithLabelValues(mechanism, outcome).Write(&m); err != nil {
		tb.t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func TestSASLProduceConsumeEveryMechanism(t *testing.T) {
	tb := startSASLBroker(t)
	addUser(t, tb, "alice", alicePassword)
	allowTopics(t, tb, "alice", "t-")
	for _, m := range allMechanisms {
		t.Run(m, func(t *testing.T) {
			before := saslCount(tb, m, "success")
			saslProduceConsume(t, tb, "t-"+strings.ToLower(m), mechanismOpt(m, "alice", alicePassword))
			if saslCount(tb, m, "success") <= before {
				t.Fatalf("no %s authentication counted", m)
			}
		})
	}
}

func TestSASLBadCredentialsFailAndClose(t *testing.T) {
	tb := startSASLBroker(t)
	for _, m := range allMechanisms {
		for _, c := range []struct{ name, user, pass string }{
			{"wrong password", "admin", "nope"},
			{"unknown user", "mallory", adminPassword},
		} {
			t.Run(m+"/"+c.name, func(t *testing.T) {
				cl := tb.client(mechanismOpt(m, c.user, c.pass), kgo.RequestRetries(0))
				err := cl.Ping(testContext(t))
				if !errors.Is(err, kerr.SaslAuthenticationFailed) {
					t.Fatalf("Ping: %v, want SASL_AUTHENTICATION_FAILED", err)
				}
				if !strings.Contains(err.Error(), "invalid credentials with SASL mechanism "+m) {
					t.Fatalf("message %q", err)
				}
			})
		}
	}
	// Over a raw connection: the answer, then the connection closes.
	rc := dialRaw(t, tb.Addr())
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Version, hs.Mechanism = 1, auth.Plain
	if r := rc.roundTrip(hs).(*kmsg.SASLHandshakeResponse); r.ErrorCode != 0 {
		t.Fatalf("handshake: error %d", r.ErrorCode)
	}
	req := kmsg.NewPtrSASLAuthenticateRequest()
	req.Version, req.SASLAuthBytes = 2, []byte("\x00admin\x00wrong")
	r := rc.roundTrip(req).(*kmsg.SASLAuthenticateResponse)
	if r.ErrorCode != kerr.SaslAuthenticationFailed.Code {
		t.Fatalf("authenticate: error %d", r.ErrorCode)
	}
	rc.expectClosed()
}

func TestSASLRequestBeforeAuthenticationClosesConnection(t *testing.T) {
	tb := startSASLBroker(t)
	rc := dialRaw(t, tb.Addr())
	av := kmsg.NewPtrApiVersionsRequest()
	av.Version, av.ClientSoftwareName, av.ClientSoftwareVersion = 3, "raw", "1"
	if r := rc.roundTrip(av).(*kmsg.ApiVersionsResponse); r.ErrorCode != 0 {
		t.Fatalf("ApiVersions: error %d", r.ErrorCode)
	}
	md := kmsg.NewPtrMetadataRequest()
	md.Version = 9
	rc.send(md)
	rc.expectClosed()

	// Authenticating without a handshake: ILLEGAL_SASL_STATE, then closed.
	rc = dialRaw(t, tb.Addr())
	req := kmsg.NewPtrSASLAuthenticateRequest()
	req.Version, req.SASLAuthBytes = 1, []byte("\x00admin\x00"+adminPassword)
	if r := rc.roundTrip(req).(*kmsg.SASLAuthenticateResponse); r.ErrorCode != kerr.IllegalSaslState.Code {
		t.Fatalf("authenticate without handshake: error %d", r.ErrorCode)
	}
	rc.expectClosed()
}

func TestSASLUnsupportedMechanismMayRetry(t *testing.T) {
	tb := startSASLBroker(t, func(cfg *Config) { cfg.SASLMechanisms = []string{auth.ScramSHA512} })
	rc := dialRaw(t, tb.Addr())
	for _, m := range []string{"GSSAPI", auth.Plain} {
		hs := kmsg.NewPtrSASLHandshakeRequest()
		hs.Version, hs.Mechanism = 1, m
		r := rc.roundTrip(hs).(*kmsg.SASLHandshakeResponse)
		if r.ErrorCode != kerr.UnsupportedSaslMechanism.Code || strings.Join(r.SupportedMechanisms, ",") != auth.ScramSHA512 {
			t.Fatalf("%s: error %d, mechanisms %v", m, r.ErrorCode, r.SupportedMechanisms)
		}
	}
	authenticateRaw(t, rc, auth.ScramSHA512, "admin", adminPassword)
	md := kmsg.NewPtrMetadataRequest()
	md.Version = 9
	rc.roundTrip(md)
}

// authenticateRaw runs a v1 handshake and SaslAuthenticate v1 exchange on
// rc and returns the final answer.
func authenticateRaw(t *testing.T, rc *rawConn, mechanism, user, password string) *kmsg.SASLAuthenticateResponse {
	t.Helper()
	return authenticateRawV(t, rc, 1, mechanism, user, password)
}

// authenticateRawV is authenticateRaw with SaslAuthenticate version v.
func authenticateRawV(t *testing.T, rc *rawConn, v int16, mechanism, user, password string) *kmsg.SASLAuthenticateResponse {
	t.Helper()
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Version, hs.Mechanism = 1, mechanism
	if r := rc.roundTrip(hs).(*kmsg.SASLHandshakeResponse); r.ErrorCode != 0 {
		t.Fatalf("handshake %s: error %d", mechanism, r.ErrorCode)
	}
	sess, msg, err := clientMechanism(mechanism, user, password).Authenticate(context.Background(), "strata")
	if err != nil {
		t.Fatal(err)
	}
	for {
		req := kmsg.NewPtrSASLAuthenticateRequest()
		req.Version, req.SASLAuthBytes = v, msg
		r := rc.roundTrip(req).(*kmsg.SASLAuthenticateResponse)
		if r.ErrorCode != 0 {
			t.Fatalf("authenticate: error %d", r.ErrorCode)
		}
		done, next, err := sess.Challenge(r.SASLAuthBytes)
		if err != nil {
			t.Fatalf("challenge: %v", err)
		}
		if done {
			return r
		}
		msg = next
	}
}

// rawTokens runs the SaslHandshake v0 flow kafka-python uses: after the
// handshake, size-prefixed tokens with no request header. It reports
// whether authentication succeeded (false: the connection was closed).
func rawTokens(t *testing.T, rc *rawConn, mechanism, user, password string) bool {
	t.Helper()
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Version, hs.Mechanism = 0, mechanism
	if r := rc.roundTrip(hs).(*kmsg.SASLHandshakeResponse); r.ErrorCode != 0 {
		t.Fatalf("handshake v0 %s: error %d", mechanism, r.ErrorCode)
	}
	sess, msg, err := clientMechanism(mechanism, user, password).Authenticate(context.Background(), "strata")
	if err != nil {
		t.Fatal(err)
	}
	for {
		rc.write(binary.BigEndian.AppendUint32(nil, uint32(len(msg))))
		rc.write(msg)
		frame, err := rc.readFrame()
		if err != nil {
			return false
		}
		if mechanism == auth.Plain {
			if len(frame) != 0 {
				t.Fatalf("PLAIN success: want an empty frame, got %d bytes", len(frame))
			}
			return true
		}
		done, next, err := sess.Challenge(frame)
		if err != nil {
			t.Fatalf("challenge: %v", err)
		}
		if done {
			return true
		}
		msg = next
	}
}

func TestSASLAuthenticateEveryVersion(t *testing.T) {
	tb := startSASLBroker(t, func(cfg *Config) { cfg.ReauthMax = time.Hour })
	for v := int16(0); v <= 2; v++ {
		for _, m := range allMechanisms {
			rc := dialRaw(t, tb.Addr())
			r := authenticateRawV(t, rc, v, m, "admin", adminPassword)
			if want := map[bool]int64{true: time.Hour.Milliseconds()}[v >= 1]; r.SessionLifetimeMillis != want {
				t.Errorf("v%d %s: session lifetime %d, want %d", v, m, r.SessionLifetimeMillis, want)
			}
			md := kmsg.NewPtrMetadataRequest()
			md.Version = 9
			rc.roundTrip(md)
		}
	}
}

func TestSASLHandshakeV0RawTokens(t *testing.T) {
	tb := startSASLBroker(t)
	for _, m := range allMechanisms {
		t.Run(m, func(t *testing.T) {
			rc := dialRaw(t, tb.Addr())
			if !rawTokens(t, rc, m, "admin", adminPassword) {
				t.Fatal("authentication failed")
			}
			md := kmsg.NewPtrMetadataRequest()
			md.Version = 1
			if r := rc.roundTrip(md).(*kmsg.MetadataResponse); len(r.Brokers) != 1 {
				t.Fatalf("metadata after raw authentication: %+v", r)
			}

			rc = dialRaw(t, tb.Addr())
			if rawTokens(t, rc, m, "admin", "wrong") {
				t.Fatal("wrong password authenticated")
			}
			rc.expectClosed()
		})
	}
}

func TestSASLUsersSurviveRestartAndWipedDataDir(t *testing.T) {
	bucket := "file://" + filepath.ToSlash(t.TempDir())
	tb := startSASLBroker(t, func(cfg *Config) { cfg.Bucket = bucket })
	addUser(t, tb, "alice", alicePassword)
	// A new, empty data directory on the same bucket.
	cfg := tb.cfg
	tb.shutdown()
	cfg.DataDir = t.TempDir()
	tb = runBroker(t, cfg)
	if err := tb.client(mechanismOpt(auth.ScramSHA512, "alice", alicePassword)).Ping(testContext(t)); err != nil {
		t.Fatalf("after wiping the data directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, securityDir, usersFile)); err != nil {
		t.Fatalf("users not restored locally: %v", err)
	}
	tb = tb.restart()
	if err := tb.client(mechanismOpt(auth.ScramSHA256, "alice", alicePassword)).Ping(testContext(t)); err != nil {
		t.Fatalf("after restart: %v", err)
	}
	// A read-only broker on the bucket knows the users and refuses changes.
	ro := startBroker(t, saslOn, func(c *Config) { c.Bucket, c.ReadOnly = bucket, true })
	if err := ro.client(mechanismOpt(auth.Plain, "alice", alicePassword)).Ping(testContext(t)); err != nil {
		t.Fatalf("read-only broker: %v", err)
	}
	adm := kadm.NewClient(ro.client(mechanismOpt(auth.Plain, "admin", adminPassword)))
	res, err := adm.AlterUserSCRAMs(testContext(t), []kadm.DeleteSCRAM{{User: "alice", Mechanism: kadm.ScramSha256}}, nil)
	if !errors.Is(err, kerr.ClusterAuthorizationFailed) && !errors.Is(res["alice"].Err, kerr.ClusterAuthorizationFailed) {
		t.Fatalf("alter on a read-only broker: %v %v", err, res)
	}
}

func TestSASLReauthentication(t *testing.T) {
	const lifetime = 500 * time.Millisecond
	tb := startSASLBroker(t, func(cfg *Config) { cfg.ReauthMax = lifetime })
	ctx := testContext(t)
	cl := tb.client(mechanismOpt(auth.ScramSHA256, "admin", adminPassword), kgo.AllowAutoTopicCreation())
	start := saslCount(tb, auth.ScramSHA256, "success")
	// Keep producing until the client has re-authenticated several times;
	// every produce must succeed.
	n := 0
	for saslCount(tb, auth.ScramSHA256, "success") < start+5 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "reauth", Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", n, err)
		}
		n++
		if ctx.Err() != nil {
			t.Fatal("timed out waiting for re-authentications")
		}
	}
	if f := saslCount(tb, auth.ScramSHA256, "failure"); f != 0 {
		t.Fatalf("%v failed authentications", f)
	}

	// A raw client that does not re-authenticate is cut off at its next
	// request after the session ends.
	rc := dialRaw(t, tb.Addr())
	r := authenticateRaw(t, rc, auth.Plain, "admin", adminPassword)
	got := time.Now()
	if r.SessionLifetimeMillis != lifetime.Milliseconds() {
		t.Fatalf("session lifetime %d ms, want %d", r.SessionLifetimeMillis, lifetime.Milliseconds())
	}
	md := kmsg.NewPtrMetadataRequest()
	md.Version = 9
	rc.roundTrip(md)
	// The broker set the expiry before answering, so it has passed once
	// the lifetime has passed since the answer arrived.
	time.Sleep(time.Until(got.Add(lifetime + 10*time.Millisecond)))
	rc.send(md)
	rc.expectClosed()

	// Re-authenticating as someone else closes the connection.
	addUser(t, tb, "alice", alicePassword)
	rc = dialRaw(t, tb.Addr())
	authenticateRaw(t, rc, auth.Plain, "admin", adminPassword)
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Version, hs.Mechanism = 1, auth.Plain
	rc.roundTrip(hs)
	req := kmsg.NewPtrSASLAuthenticateRequest()
	req.Version, req.SASLAuthBytes = 1, []byte("\x00alice\x00"+alicePassword)
	if r := rc.roundTrip(req).(*kmsg.SASLAuthenticateResponse); r.ErrorCode != kerr.SaslAuthenticationFailed.Code {
		t.Fatalf("re-authentication as another principal: error %d", r.ErrorCode)
	}
	rc.expectClosed()
}

func TestSASLAuthenticationTimeout(t *testing.T) {
	tb := startSASLBroker(t, func(cfg *Config) { cfg.RequestTimeout = 200 * time.Millisecond })
	rc := dialRaw(t, tb.Addr())
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Version, hs.Mechanism = 1, auth.ScramSHA256
	rc.roundTrip(hs)
	// Then nothing: the broker gives up on the exchange.
	rc.expectClosed()
}

func TestSASLScramCredentialAdmin(t *testing.T) {
	tb := startSASLBroker(t)
	addUser(t, tb, "alice", alicePassword)
	ctx := testContext(t)
	admin := tb.client(mechanismOpt(auth.ScramSHA512, "admin", adminPassword))

	d := kmsg.NewPtrDescribeUserSCRAMCredentialsRequest()
	d.Users = []kmsg.DescribeUserSCRAMCredentialsRequestUser{{Name: "alice"}, {Name: "nobody"}, {Name: "admin"}, {Name: "admin"}}
	dr, err := d.RequestWith(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int16{"alice": 0, "nobody": kerr.ResourceNotFound.Code, "admin": kerr.DuplicateResource.Code}
	if len(dr.Results) != len(want) {
		t.Fatalf("describe: %+v", dr.Results)
	}
	for _, r := range dr.Results {
		if r.ErrorCode != want[r.User] {
			t.Errorf("describe %s: error %d, want %d", r.User, r.ErrorCode, want[r.User])
		}
		if r.User == "alice" && (len(r.CredentialInfos) != 2 || r.CredentialInfos[0].Mechanism != 1 || r.CredentialInfos[1].Iterations != 8192) {
			t.Errorf("describe alice: %+v", r.CredentialInfos)
		}
	}

	a := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
	del := func(name string, mech int8) kmsg.AlterUserSCRAMCredentialsRequestDeletion {
		return kmsg.AlterUserSCRAMCredentialsRequestDeletion{Name: name, Mechanism: mech}
	}
	up := func(name string, mech int8, iter int32) kmsg.AlterUserSCRAMCredentialsRequestUpsertion {
		return kmsg.AlterUserSCRAMCredentialsRequestUpsertion{Name: name, Mechanism: mech, Iterations: iter, Salt: []byte("salt"), SaltedPassword: bytes.Repeat([]byte{7}, 32)}
	}
	a.Deletions = []kmsg.AlterUserSCRAMCredentialsRequestDeletion{del("ghost", 1), del("alice", 2)}
	a.Upsertions = []kmsg.AlterUserSCRAMCredentialsRequestUpsertion{up("bob", 0, 4096), up("carol", 1, 10), up("alice", 2, 4096), up("dave", 1, 4096)}
	ar, err := a.RequestWith(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	wantAlter := map[string]int16{
		"ghost": kerr.ResourceNotFound.Code, "alice": kerr.DuplicateResource.Code,
		"bob": kerr.UnsupportedSaslMechanism.Code, "carol": kerr.UnacceptableCredential.Code, "dave": 0,
	}
	for _, r := range ar.Results {
		if r.ErrorCode != wantAlter[r.User] {
			t.Errorf("alter %s: error %d, want %d", r.User, r.ErrorCode, wantAlter[r.User])
		}
		delete(wantAlter, r.User)
	}
	if len(wantAlter) != 0 {
		t.Errorf("no results for %v", wantAlter)
	}
	if _, ok := tb.users.Lookup("alice", auth.ScramSHA512); !ok {
		t.Error("a failed change to alice was applied")
	}
	if _, ok := tb.users.Lookup("dave", auth.ScramSHA256); !ok {
		t.Error("dave was not added")
	}

	// Not a super-user: refused.
	alice := tb.client(mechanismOpt(auth.ScramSHA256, "alice", alicePassword))
	dr, err = kmsg.NewPtrDescribeUserSCRAMCredentialsRequest().RequestWith(ctx, alice)
	if err != nil || dr.ErrorCode != kerr.ClusterAuthorizationFailed.Code {
		t.Fatalf("describe as alice: %v, error %d", err, dr.ErrorCode)
	}
	a = kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
	a.Deletions = []kmsg.AlterUserSCRAMCredentialsRequestDeletion{del("admin", 1)}
	ar, err = a.RequestWith(ctx, alice)
	if err != nil || ar.Results[0].ErrorCode != kerr.ClusterAuthorizationFailed.Code {
		t.Fatalf("alter as alice: %v %+v", err, ar.Results)
	}
	if _, ok := tb.users.Lookup("admin", auth.ScramSHA256); !ok {
		t.Fatal("alice deleted admin's credential")
	}
}

// syncBuffer is a bytes.Buffer for a logger used from many goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestSASLLogsNoSecrets(t *testing.T) {
	var logs syncBuffer
	tb := startSASLBroker(t, func(cfg *Config) {
		cfg.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	const wrong = "wrong-pass-Kk3"
	for _, m := range allMechanisms {
		_ = tb.client(mechanismOpt(m, "admin", wrong), kgo.RequestRetries(0)).Ping(testContext(t))
		if err := tb.client(mechanismOpt(m, "admin", adminPassword)).Ping(testContext(t)); err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		rc := dialRaw(t, tb.Addr())
		rawTokens(t, rc, m, "admin", wrong)
		rc.expectClosed()
	}
	addUser(t, tb, "alice", alicePassword)
	out := logs.String()
	for _, secret := range []string{adminPassword, alicePassword, wrong} {
		if strings.Contains(out, secret) {
			t.Errorf("the log contains a password:\n%s", out)
		}
	}
	if !strings.Contains(out, "authentication failed") || !strings.Contains(out, "user=admin") {
		t.Errorf("the log does not say who failed to authenticate:\n%s", out)
	}
}

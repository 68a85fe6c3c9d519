package broker

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/auth"
)

// aclOpts turns authentication on through the test hook: each request's
// principal is "User:<client id>"; "admin" and "kgo" (franz-go's default
// client id, which tb.createTopic uses) are super-users.
func aclOpts(cfg *Config) {
	cfg.principalOf = auth.UserPrincipal
	cfg.SuperUsers = []string{"admin", "kgo"}
}

// as returns a client of tb that authenticates as user.
func (tb *testBroker) as(user string, opts ...kgo.Opt) *kgo.Client {
	tb.t.Helper()
	return tb.client(append([]kgo.Opt{kgo.ClientID(user)}, opts...)...)
}

func (tb *testBroker) adminAs(user string) *kadm.Client {
	tb.t.Helper()
	return kadm.NewClient(tb.as(user))
}

// grant creates the ACLs of b as the super-user, failing the test on any
// error.
func (tb *testBroker) grant(b *kadm.ACLBuilder) {
	tb.t.Helper()
	res, err := tb.adminAs("admin").CreateACLs(testContext(tb.t), b)
	if err != nil {
		tb.t.Fatalf("CreateACLs: %v", err)
	}
	for _, r := range res {
		if r.Err != nil {
			tb.t.Fatalf("CreateACLs %+v: %v", r, r.Err)
		}
	}
}

func TestACLRoundTrip(t *testing.T) {
	tb := startBroker(t, aclOpts)
	adm := tb.adminAs("admin")
	ctx := testContext(t)
	tb.grant(kadm.NewACLs().Allow("User:alice").AllowHosts().Topics("orders").Operations(kadm.OpRead, kadm.OpWrite))
	tb.grant(kadm.NewACLs().Allow("User:alice").AllowHosts().Topics("logs-").ResourcePatternType(kadm.ACLPatternPrefixed).Operations(kadm.OpRead))
	tb.grant(kadm.NewACLs().Allow("User:*").AllowHosts().Topics("*").Operations(kadm.OpDescribe))
	tb.grant(kadm.NewACLs().Deny("User:bob").DenyHosts("10.0.0.1").Groups("g").Operations(kadm.OpRead))

	count := func(b *kadm.ACLBuilder) int {
		t.Helper()
		res, err := adm.DescribeACLs(ctx, b)
		if err != nil {
			t.Fatalf("DescribeACLs: %v", err)
		}
		n := 0
		for _, r := range res {
			if r.Err != nil {
				t.Fatalf("DescribeACLs: %v", r.Err)
			}
			n += len(r.Described)
		}
		return n
	}
	if n := count(kadm.NewACLs().AnyResource().Allow().Deny().AllowHosts().DenyHosts().Operations(kadm.OpAny).ResourcePatternType(kadm.ACLPatternAny)); n != 5 {
		t.Errorf("all ACLs: %d, want 5", n)
	}
	// MATCH on topic logs-app: the prefixed ACL and the wildcard.
	if n := count(kadm.NewACLs().Topics("logs-app").Allow().Deny().AllowHosts().DenyHosts().Operations(kadm.OpAny).ResourcePatternType(kadm.ACLPatternMatch)); n != 2 {
		t.Errorf("MATCH logs-app: %d ACLs, want 2", n)
	}
	// LITERAL on logs-: none (the ACL is prefixed).
	if n := count(kadm.NewACLs().Topics("logs-").Allow().Deny().AllowHosts().DenyHosts().Operations(kadm.OpAny).ResourcePatternType(kadm.ACLPatternLiteral)); n != 0 {
		t.Errorf("LITERAL logs-: %d ACLs, want 0", n)
	}
	if n := count(kadm.NewACLs().Groups("g").Allow().Deny().AllowHosts().DenyHosts().Operations(kadm.OpAny).ResourcePatternType(kadm.ACLPatternAny)); n != 1 {
		t.Errorf("group g: %d ACLs, want 1", n)
	}

	del, err := adm.DeleteACLs(ctx, kadm.NewACLs().Topics("orders").Allow("User:alice").AllowHosts().Operations(kadm.OpAny).ResourcePatternType(kadm.ACLPatternLiteral))
	if err != nil {
		t.Fatalf("DeleteACLs: %v", err)
	}
	deleted := 0
	for _, r := range del {
		if r.Err != nil {
			t.Fatalf("DeleteACLs: %v", r.Err)
		}
		for _, d := range r.Deleted {
			if d.Name != "orders" || d.Principal != "User:alice" {
				t.Errorf("deleted %+v", d)
			}
		}
		deleted += len(r.Deleted)
	}
	if deleted != 2 {
		t.Errorf("deleted %d ACLs, want 2", deleted)
	}
	if n := count(kadm.NewACLs().AnyResource().Allow().Deny().AllowHosts().DenyHosts().Operations(kadm.OpAny).ResourcePatternType(kadm.ACLPatternAny)); n != 3 {
		t.Errorf("after delete: %d ACLs, want 3", n)
	}

	// Invalid creations: INVALID_REQUEST each, with a message.
	rc := dialRaw(t, tb.Addr())
	rc.fmt = kmsg.NewRequestFormatter(kmsg.FormatterClientID("admin"))
	req := kmsg.NewPtrCreateACLsRequest()
	bad := kmsg.NewCreateACLsRequestCreation()
	bad.ResourceType, bad.ResourceName, bad.Principal, bad.Host = kmsg.ACLResourceTypeCluster, "other", "User:x", "*"
	bad.Operation, bad.PermissionType = kmsg.ACLOperationAlter, kmsg.ACLPermissionTypeAllow
	unknown := bad
	unknown.ResourceName, unknown.Operation = auth.ClusterName, 99
	req.Creations = []kmsg.CreateACLsRequestCreation{bad, unknown}
	req.SetVersion(3)
	resp := rc.roundTrip(req).(*kmsg.CreateACLsResponse)
	for i, r := range resp.Results {
		if r.ErrorCode != kerr.InvalidRequest.Code || r.ErrorMessage == nil {
			t.Errorf("creation %d: error %d %v, want INVALID_REQUEST with a message", i, r.ErrorCode, r.ErrorMessage)
		}
	}
	// A non-super-user without DESCRIBE or ALTER on the cluster.
	alice := dialRaw(t, tb.Addr())
	alice.fmt = kmsg.NewRequestFormatter(kmsg.FormatterClientID("alice"))
	dreq := kmsg.NewPtrDescribeACLsRequest()
	dreq.Operation, dreq.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
	if got := alice.roundTrip(dreq).(*kmsg.DescribeACLsResponse); got.ErrorCode != kerr.ClusterAuthorizationFailed.Code || len(got.Resources) != 0 {
		t.Errorf("alice DescribeACLs: error %v, %d resources; want CLUSTER_AUTHORIZATION_FAILED", kerr.ErrorForCode(got.ErrorCode), len(got.Resources))
	}
	req.Creations = req.Creations[:1]
	req.Creations[0].ResourceName = auth.ClusterName
	if got := alice.roundTrip(req).(*kmsg.CreateACLsResponse); got.Results[0].ErrorCode != kerr.ClusterAuthorizationFailed.Code {
		t.Errorf("alice CreateACLs: error %v, want CLUSTER_AUTHORIZATION_FAILED", kerr.ErrorForCode(got.Results[0].ErrorCode))
	}
}

func TestACLsSurviveRestartAndWipedDataDir(t *testing.T) {
	bucket := fileBucketURL(t)
	tb := startBroker(t, aclOpts, func(cfg *Config) { cfg.Bucket = bucket })
	tb.grant(kadm.NewACLs().Allow("User:alice").AllowHosts().Topics("t-").ResourcePatternType(kadm.ACLPatternPrefixed).Operations(kadm.OpWrite))
	if _, err := os.Stat(filepath.Join(tb.cfg.DataDir, securityDir, aclsFile)); err != nil {
		t.Fatalf("local ACL document: %v", err)
	}
	check := func(tb *testBroker, when string) {
		t.Helper()
		if !tb.authz.Authorize("User:alice", "127.0.0.1", auth.OpWrite, auth.ResourceTopic, "t-1") {
			t.Errorf("%s: alice may not write t-1", when)
		}
		if tb.authz.Authorize("User:alice", "127.0.0.1", auth.OpWrite, auth.ResourceTopic, "u-1") {
			t.Errorf("%s: alice may write u-1", when)
		}
	}
	tb = tb.restart()
	check(tb, "after restart")
	tb.shutdown()
	cfg := tb.cfg
	cfg.DataDir = t.TempDir()
	tb = runBroker(t, cfg)
	check(tb, "after a wiped data directory")
	if _, err := os.Stat(filepath.Join(cfg.DataDir, securityDir, aclsFile)); err != nil {
		t.Errorf("local ACL document not restored: %v", err)
	}
	// A read-only broker on the bucket loads them and refuses changes.
	ro := startBroker(t, aclOpts, func(c *Config) { c.Bucket, c.ReadOnly = bucket, true })
	check(ro, "read-only broker")
	res, err := ro.adminAs("admin").CreateACLs(testContext(t), kadm.NewACLs().Allow("User:bob").AllowHosts().Topics("x").Operations(kadm.OpRead))
	if err == nil && (len(res) == 0 || res[0].Err == nil) {
		t.Errorf("read-only broker accepted CreateACLs: %+v", res)
	}
}

// A user without ACLs is refused everything, each with Kafka's error.
func TestACLDeniesUserWithoutACLs(t *testing.T) {
	tb := startBroker(t, aclOpts, groupOpts)
	tb.createTopic("secret", 1, nil)
	if err := tb.as("admin").ProduceSync(testContext(t), &kgo.Record{Topic: "secret", Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatalf("admin produce: %v", err)
	}
	ctx := testContext(t)
	rc := dialRaw(t, tb.Addr())
	rc.fmt = kmsg.NewRequestFormatter(kmsg.FormatterClientID("mallory"))
	code := func(resp kmsg.Response) int16 { return firstErrorCode(reflect.ValueOf(resp)) }
	id := tb.topics().byName["secret"].id

	cases := []struct {
		name string
		req  kmsg.Request
		want *kerr.Error
	}{
		{"produce", produceRequest("secret", 0, -1, makeBatch(-1, -1, -1, 0, []byte("v"))), kerr.TopicAuthorizationFailed},
		{"produce unknown topic", produceRequest("nope", 0, -1, makeBatch(-1, -1, -1, 0, []byte("v"))), kerr.TopicAuthorizationFailed},
		{"fetch", fetchRequest(12, "secret", id, 0, 0, 0), kerr.TopicAuthorizationFailed},
		{"fetch by id", fetchRequest(13, "", id, 0, 0, 0), kerr.TopicAuthorizationFailed},
		{"list offsets", listOffsetsRequest(7, "secret", -1), kerr.TopicAuthorizationFailed},
		{"init producer id", kmsg.NewPtrInitProducerIDRequest(), kerr.ClusterAuthorizationFailed},
		{"commit", commitRequestFor("g", 1), kerr.GroupAuthorizationFailed},
		{"join", joinRequestFor("g", "", false), kerr.GroupAuthorizationFailed},
		{"delete records", func() kmsg.Request {
			r := kmsg.NewPtrDeleteRecordsRequest()
			rt := kmsg.NewDeleteRecordsRequestTopic()
			rt.Topic = "secret"
			p := kmsg.NewDeleteRecordsRequestTopicPartition()
			rt.Partitions = append(rt.Partitions, p)
			r.Topics = append(r.Topics, rt)
			return r
		}(), kerr.TopicAuthorizationFailed},
	}
	for _, c := range cases {
		if got := code(rc.roundTrip(c.req)); got != c.want.Code {
			t.Errorf("%s: error %v, want %v", c.name, kerr.ErrorForCode(got), c.want)
		}
	}
	if ok, _ := tb.topics().byName["nope"]; ok != nil {
		t.Errorf("an unauthorized produce auto-created a topic")
	}

	adm := tb.adminAs("mallory")
	md, err := adm.Metadata(ctx)
	if err != nil {
		t.Fatalf("metadata: %v", err)
	}
	if len(md.Topics) != 0 {
		t.Errorf("metadata shows %v to mallory", md.Topics.Names())
	}
	// A named topic, existing or not (and then never auto-created).
	for _, name := range []string{"secret", "fresh"} {
		mreq := kmsg.NewPtrMetadataRequest()
		mt := kmsg.NewMetadataRequestTopic()
		mt.Topic = kmsg.StringPtr(name)
		mreq.Topics = append(mreq.Topics, mt)
		mreq.AllowAutoTopicCreation = true
		mreq.SetVersion(12)
		resp := rc.roundTrip(mreq).(*kmsg.MetadataResponse)
		if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != kerr.TopicAuthorizationFailed.Code || len(resp.Topics[0].Partitions) != 0 {
			t.Errorf("metadata of %s: %+v, want TOPIC_AUTHORIZATION_FAILED", name, resp.Topics)
		}
	}
	if tb.topics().byName["fresh"] != nil {
		t.Errorf("metadata auto-created a topic mallory may not describe")
	}
	ct, err := adm.CreateTopic(ctx, 1, -1, nil, "new")
	if err == nil {
		err = ct.Err
	}
	if !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Errorf("create topic: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	dt, err := adm.DeleteTopics(ctx, "secret")
	if err == nil {
		err = dt["secret"].Err
	}
	if !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Errorf("delete topic: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	fo, err := adm.FetchOffsets(ctx, "g")
	if err == nil {
		err = fo.Error()
	}
	if !errors.Is(err, kerr.GroupAuthorizationFailed) {
		t.Errorf("fetch offsets: %v, want GROUP_AUTHORIZATION_FAILED", err)
	}
	dc, err := adm.DescribeTopicConfigs(ctx, "secret")
	if err == nil {
		_, err = dc.On("secret", nil)
	}
	if !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Errorf("describe configs: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	ac, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: kmsg.StringPtr("1000")}}, "secret")
	if err == nil {
		var r kadm.AlterConfigsResponse
		if r, err = ac.On("secret", nil); err == nil {
			err = r.Err
		}
	}
	if !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Errorf("alter configs: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	if tb.topics().byName["secret"] == nil {
		t.Fatal("secret was deleted")
	}
}

// firstErrorCode returns the first non-zero ErrorCode (or ConfigErrorCode)
// field anywhere in v.
func firstErrorCode(v reflect.Value) int16 {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return 0
		}
		return firstErrorCode(v.Elem())
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if (f.Name == "ErrorCode" || f.Name == "ConfigErrorCode") && v.Field(i).Int() != 0 {
				return int16(v.Field(i).Int())
			}
			if c := firstErrorCode(v.Field(i)); c != 0 {
				return c
			}
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return 0
		}
		for i := range v.Len() {
			if c := firstErrorCode(v.Index(i)); c != 0 {
				return c
			}
		}
	}
	return 0
}

// With exactly the ACLs Kafka documents for a producer and a consumer
// group, both work end to end; metadata shows each only its topics.
func TestACLProducerAndConsumerWithTheirACLs(t *testing.T) {
	tb := startBroker(t, aclOpts, groupOpts)
	tb.createTopic("orders", 2, nil)
	tb.createTopic("payroll", 1, nil)
	tb.grant(kadm.NewACLs().Allow("User:alice").AllowHosts().Topics("orders").Operations(kadm.OpWrite))
	tb.grant(kadm.NewACLs().Allow("User:bob").AllowHosts().Topics("orders").Operations(kadm.OpRead))
	tb.grant(kadm.NewACLs().Allow("User:bob").AllowHosts().Groups("billing").Operations(kadm.OpRead))
	ctx := testContext(t)

	prod := tb.as("alice") // idempotent by default: InitProducerId by WRITE on a topic
	for i := range 10 {
		if err := prod.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte{byte(i)}}).FirstErr(); err != nil {
			t.Fatalf("alice produce: %v", err)
		}
	}
	if err := prod.ProduceSync(ctx, &kgo.Record{Topic: "payroll", Value: []byte("x")}).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Errorf("alice produce to payroll: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	cons := tb.as("bob", kgo.ConsumerGroup("billing"), kgo.ConsumeTopics("orders"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := 0
	for got < 10 {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of 10: %v", got, err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s[%d]: %v", topic, p, err) })
		got += fs.NumRecords()
	}
	if err := cons.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("bob commit: %v", err)
	}
	for user, want := range map[string][]string{"alice": {"orders"}, "bob": {"orders"}, "admin": {"orders", "payroll"}, "eve": nil} {
		md, err := tb.adminAs(user).Metadata(ctx)
		if err != nil {
			t.Fatalf("%s metadata: %v", user, err)
		}
		names := md.Topics.Names()
		slices.Sort(names)
		if !slices.Equal(names, want) {
			t.Errorf("%s sees topics %v, want %v", user, names, want)
		}
	}
}

// Prefixed ACLs grant exactly their prefix; DENY beats ALLOW; super-users
// bypass everything.
func TestACLPrefixDenyAndSuperUser(t *testing.T) {
	tb := startBroker(t, aclOpts)
	for _, n := range []string{"logs-app", "logs-secret", "logsx", "other"} {
		tb.createTopic(n, 1, nil)
	}
	tb.grant(kadm.NewACLs().Allow("User:carol").AllowHosts().Topics("logs-").ResourcePatternType(kadm.ACLPatternPrefixed).Operations(kadm.OpDescribe))
	tb.grant(kadm.NewACLs().Deny("User:*").DenyHosts().Topics("logs-secret").Operations(kadm.OpAll))
	ctx := testContext(t)
	md, err := tb.adminAs("carol").Metadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if names := md.Topics.Names(); !slices.Equal(names, []string{"logs-app"}) {
		t.Errorf("carol sees %v, want [logs-app]", names)
	}
	md, err = tb.adminAs("admin").Metadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(md.Topics); n != 4 {
		t.Errorf("super-user sees %d topics, want 4 (a DENY does not apply to super-users)", n)
	}
}

// With authentication off nothing is checked, and the ACL APIs answer
// SECURITY_DISABLED as Kafka does without an authorizer.
func TestACLAPIsWithAuthenticationOff(t *testing.T) {
	tb := startBroker(t)
	rc := dialRaw(t, tb.Addr())
	for _, req := range []kmsg.Request{kmsg.NewPtrDescribeACLsRequest(), func() kmsg.Request {
		r := kmsg.NewPtrCreateACLsRequest()
		r.Creations = []kmsg.CreateACLsRequestCreation{kmsg.NewCreateACLsRequestCreation()}
		return r
	}(), func() kmsg.Request {
		r := kmsg.NewPtrDeleteACLsRequest()
		r.Filters = []kmsg.DeleteACLsRequestFilter{kmsg.NewDeleteACLsRequestFilter()}
		return r
	}()} {
		for v := int16(0); v <= 3; v++ {
			req.SetVersion(v)
			if got := firstErrorCode(reflect.ValueOf(rc.roundTrip(req))); got != kerr.SecurityDisabled.Code {
				t.Errorf("%s v%d: error %v, want SECURITY_DISABLED", kmsg.NameForKey(req.Key()), v, kerr.ErrorForCode(got))
			}
		}
	}
	if tb.authz != nil {
		t.Error("an authorizer with authentication off")
	}
}

// apiAuthorization is what each API of the table needs; a new API must be
// added here, with its rule enforced in its handler and listed in the
// README's table.
var apiAuthorization = map[kmsg.Key]string{
	kmsg.Produce:                      "WRITE topic",
	kmsg.Fetch:                        "READ topic",
	kmsg.ListOffsets:                  "DESCRIBE topic",
	kmsg.Metadata:                     "DESCRIBE topic (filter); CREATE cluster or topic to auto-create",
	kmsg.OffsetCommit:                 "READ group, READ topic",
	kmsg.OffsetFetch:                  "DESCRIBE group, DESCRIBE topic",
	kmsg.FindCoordinator:              "DESCRIBE group",
	kmsg.JoinGroup:                    "READ group",
	kmsg.Heartbeat:                    "READ group",
	kmsg.LeaveGroup:                   "READ group",
	kmsg.SyncGroup:                    "READ group",
	kmsg.DescribeGroups:               "DESCRIBE group",
	kmsg.ListGroups:                   "DESCRIBE cluster, else DESCRIBE group (filter)",
	kmsg.ApiVersions:                  "none",
	kmsg.CreateTopics:                 "CREATE cluster or topic",
	kmsg.DeleteTopics:                 "DELETE topic",
	kmsg.DeleteRecords:                "DELETE topic",
	kmsg.InitProducerID:               "IDEMPOTENT_WRITE cluster or WRITE on some topic",
	kmsg.OffsetForLeaderEpoch:         "DESCRIBE topic",
	kmsg.DescribeACLs:                 "DESCRIBE cluster",
	kmsg.CreateACLs:                   "ALTER cluster",
	kmsg.DeleteACLs:                   "ALTER cluster",
	kmsg.DescribeConfigs:              "DESCRIBE_CONFIGS topic or cluster",
	kmsg.AlterConfigs:                 "ALTER_CONFIGS topic or cluster",
	kmsg.CreatePartitions:             "ALTER topic",
	kmsg.DeleteGroups:                 "DELETE group",
	kmsg.IncrementalAlterConfigs:      "ALTER_CONFIGS topic or cluster",
	kmsg.OffsetDelete:                 "DELETE group, READ topic",
	kmsg.DescribeCluster:              "none (authorized operations need DESCRIBE cluster)",
	kmsg.SASLHandshake:                "none",
	kmsg.SASLAuthenticate:             "none",
	kmsg.DescribeUserSCRAMCredentials: "DESCRIBE cluster",
	kmsg.AlterUserSCRAMCredentials:    "ALTER cluster",
}

// TestEveryAPIIsAuthorized walks the API table: every API has a rule above,
// and every API whose rule names a resource refuses a user without ACLs
// with an authorization error (or, for the filtering ones, an empty
// answer).
func TestEveryAPIIsAuthorized(t *testing.T) {
	for _, a := range apis {
		if _, ok := apiAuthorization[kmsg.Key(a.key)]; !ok {
			t.Errorf("%s has no authorization rule: add it to apiAuthorization and enforce it", kmsg.NameForKey(a.key))
		}
	}
	for k := range apiAuthorization {
		if lookupAPI(int16(k)) == nil {
			t.Errorf("apiAuthorization lists %s, which the broker does not speak", kmsg.NameForKey(int16(k)))
		}
	}

	tb := startBroker(t, aclOpts, groupOpts)
	tb.createTopic("secret", 1, nil)
	tb.createTopic("sweep", 1, nil) // commitRequestFor's topic
	id := tb.topics().byName["secret"].id
	g := groupSweep{t: t, c: dialRaw(t, tb.Addr())}
	g.c.fmt = kmsg.NewRequestFormatter(kmsg.FormatterClientID("admin"))
	g.commit("secret-group")
	rc := dialRaw(t, tb.Addr())
	rc.fmt = kmsg.NewRequestFormatter(kmsg.FormatterClientID("mallory"))

	denied := map[kmsg.Key]kmsg.Request{
		kmsg.Produce:        produceRequest("secret", 0, -1, makeBatch(-1, -1, -1, 0, []byte("v"))),
		kmsg.Fetch:          fetchRequest(12, "secret", id, 0, 0, 0),
		kmsg.ListOffsets:    listOffsetsRequest(7, "secret", -1),
		kmsg.OffsetCommit:   commitRequestFor("secret-group", 1),
		kmsg.JoinGroup:      joinRequestFor("secret-group", "", false),
		kmsg.OffsetDelete:   offsetDeleteRequestFor("secret-group"),
		kmsg.InitProducerID: kmsg.NewPtrInitProducerIDRequest(),
		kmsg.DescribeACLs:   kmsg.NewPtrDescribeACLsRequest(),
		kmsg.FindCoordinator: func() kmsg.Request {
			r := kmsg.NewPtrFindCoordinatorRequest()
			r.CoordinatorKey, r.CoordinatorKeys = "secret-group", []string{"secret-group"}
			return r
		}(),
		kmsg.Heartbeat: func() kmsg.Request { r := kmsg.NewPtrHeartbeatRequest(); r.Group = "secret-group"; return r }(),
		kmsg.LeaveGroup: func() kmsg.Request {
			r := kmsg.NewPtrLeaveGroupRequest()
			r.Group = "secret-group"
			r.SetVersion(0)
			return r
		}(),
		kmsg.SyncGroup: func() kmsg.Request { r := kmsg.NewPtrSyncGroupRequest(); r.Group = "secret-group"; return r }(),
		kmsg.DescribeGroups: func() kmsg.Request {
			r := kmsg.NewPtrDescribeGroupsRequest()
			r.Groups = []string{"secret-group"}
			return r
		}(),
		kmsg.DeleteGroups: func() kmsg.Request {
			r := kmsg.NewPtrDeleteGroupsRequest()
			r.Groups = []string{"secret-group"}
			return r
		}(),
		kmsg.OffsetFetch: func() kmsg.Request {
			r := kmsg.NewPtrOffsetFetchRequest()
			r.Group = "secret-group"
			r.SetVersion(7)
			return r
		}(),
		kmsg.CreateTopics: func() kmsg.Request {
			r := kmsg.NewPtrCreateTopicsRequest()
			rt := kmsg.NewCreateTopicsRequestTopic()
			rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "new", 1, 1
			r.Topics = append(r.Topics, rt)
			return r
		}(),
		kmsg.DeleteTopics: func() kmsg.Request {
			r := kmsg.NewPtrDeleteTopicsRequest()
			r.TopicNames = []string{"secret"}
			r.SetVersion(5)
			return r
		}(),
		kmsg.DeleteRecords: func() kmsg.Request {
			r := kmsg.NewPtrDeleteRecordsRequest()
			rt := kmsg.NewDeleteRecordsRequestTopic()
			rt.Topic = "secret"
			rt.Partitions = append(rt.Partitions, kmsg.NewDeleteRecordsRequestTopicPartition())
			r.Topics = append(r.Topics, rt)
			return r
		}(),
		kmsg.OffsetForLeaderEpoch: func() kmsg.Request {
			r := kmsg.NewPtrOffsetForLeaderEpochRequest()
			rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
			rt.Topic = "secret"
			rt.Partitions = append(rt.Partitions, kmsg.NewOffsetForLeaderEpochRequestTopicPartition())
			r.Topics = append(r.Topics, rt)
			return r
		}(),
		kmsg.CreateACLs: func() kmsg.Request {
			r := kmsg.NewPtrCreateACLsRequest()
			r.Creations = []kmsg.CreateACLsRequestCreation{kmsg.NewCreateACLsRequestCreation()}
			return r
		}(),
		kmsg.DeleteACLs: func() kmsg.Request {
			r := kmsg.NewPtrDeleteACLsRequest()
			r.Filters = []kmsg.DeleteACLsRequestFilter{kmsg.NewDeleteACLsRequestFilter()}
			return r
		}(),
		kmsg.DescribeConfigs: func() kmsg.Request {
			r := kmsg.NewPtrDescribeConfigsRequest()
			rr := kmsg.NewDescribeConfigsRequestResource()
			rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeBroker, "0"
			r.Resources = append(r.Resources, rr)
			return r
		}(),
		kmsg.AlterConfigs: func() kmsg.Request {
			r := kmsg.NewPtrAlterConfigsRequest()
			rr := kmsg.NewAlterConfigsRequestResource()
			rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, "secret"
			r.Resources = append(r.Resources, rr)
			return r
		}(),
		kmsg.IncrementalAlterConfigs: func() kmsg.Request {
			r := kmsg.NewPtrIncrementalAlterConfigsRequest()
			rr := kmsg.NewIncrementalAlterConfigsRequestResource()
			rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, "secret"
			r.Resources = append(r.Resources, rr)
			return r
		}(),
		kmsg.CreatePartitions: func() kmsg.Request {
			r := kmsg.NewPtrCreatePartitionsRequest()
			rt := kmsg.NewCreatePartitionsRequestTopic()
			rt.Topic, rt.Count = "secret", 2
			r.Topics = append(r.Topics, rt)
			return r
		}(),
		kmsg.DescribeUserSCRAMCredentials: kmsg.NewPtrDescribeUserSCRAMCredentialsRequest(),
		kmsg.AlterUserSCRAMCredentials: func() kmsg.Request {
			r := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
			r.Upsertions = []kmsg.AlterUserSCRAMCredentialsRequestUpsertion{{
				Name: "mallory", Mechanism: 1, Iterations: 4096, Salt: []byte("salt"), SaltedPassword: make([]byte, 32),
			}}
			return r
		}(),
	}
	authCodes := []int16{kerr.TopicAuthorizationFailed.Code, kerr.GroupAuthorizationFailed.Code, kerr.ClusterAuthorizationFailed.Code}
	for _, a := range apis {
		k := kmsg.Key(a.key)
		switch k {
		case kmsg.ApiVersions, kmsg.DescribeCluster, kmsg.SASLHandshake, kmsg.SASLAuthenticate:
			continue
		case kmsg.Metadata:
			resp := rc.roundTrip(kmsg.NewPtrMetadataRequest()).(*kmsg.MetadataResponse)
			if len(resp.Topics) != 0 {
				t.Errorf("Metadata: mallory sees %d topics", len(resp.Topics))
			}
			continue
		case kmsg.ListGroups:
			resp := rc.roundTrip(kmsg.NewPtrListGroupsRequest()).(*kmsg.ListGroupsResponse)
			if len(resp.Groups) != 0 {
				t.Errorf("ListGroups: mallory sees %d groups", len(resp.Groups))
			}
			continue
		}
		req, ok := denied[k]
		if !ok {
			t.Errorf("%s: no denial case", kmsg.NameForKey(a.key))
			continue
		}
		if req.GetVersion() == 0 && k != kmsg.LeaveGroup {
			req.SetVersion(a.max)
		}
		if got := firstErrorCode(reflect.ValueOf(rc.roundTrip(req))); !slices.Contains(authCodes, got) {
			t.Errorf("%s v%d as a user without ACLs: error %v, want an authorization error", kmsg.NameForKey(a.key), req.GetVersion(), kerr.ErrorForCode(got))
		}
	}
}

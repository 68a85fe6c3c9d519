package auth

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func ptr(s string) *string { return &s }

func TestEnumNamesAreKafkas(t *testing.T) {
	for _, tc := range []struct {
		got, want string
	}{
		{ResourceTopic.String(), "TOPIC"}, {ResourceTransactionalID.String(), "TRANSACTIONAL_ID"},
		{ResourceDelegationToken.String(), "DELEGATION_TOKEN"}, {ResourceUser.String(), "USER"},
		{PatternLiteral.String(), "LITERAL"}, {PatternPrefixed.String(), "PREFIXED"}, {PatternMatch.String(), "MATCH"},
		{OpRead.String(), "READ"}, {OpClusterAction.String(), "CLUSTER_ACTION"}, {OpDescribeConfigs.String(), "DESCRIBE_CONFIGS"},
		{OpIdempotentWrite.String(), "IDEMPOTENT_WRITE"}, {OpDescribeTokens.String(), "DESCRIBE_TOKENS"},
		{PermissionAllow.String(), "ALLOW"}, {PermissionDeny.String(), "DENY"},
		{Operation(42).String(), "UNKNOWN(42)"}, {ResourceType(-1).String(), "UNKNOWN(-1)"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
	// Kafka's wire codes.
	if ResourceUser != 7 || PatternPrefixed != 4 || OpDescribeTokens != 14 || PermissionAllow != 3 || OpAlterConfigs != 11 {
		t.Error("an enum value differs from Kafka's code")
	}
	for o := OpUnknown; o <= OpDescribeTokens; o++ {
		if back, err := ParseOperation(strings.ToLower(o.String())); err != nil || back != o {
			t.Errorf("ParseOperation(%q) = %v, %v", o, back, err)
		}
	}
	if _, err := ParseResourceType("TABLE"); err == nil {
		t.Error("ParseResourceType(TABLE) succeeded")
	}
}

func TestBindingValidate(t *testing.T) {
	good := Binding{ResourceTopic, "orders", PatternLiteral, "User:alice", "*", OpRead, PermissionAllow}
	if err := good.Validate(); err != nil {
		t.Fatalf("good binding: %v", err)
	}
	cluster := Binding{ResourceCluster, "kafka-cluster", PatternLiteral, "User:*", "10.0.0.1", OpClusterAction, PermissionDeny}
	if err := cluster.Validate(); err != nil {
		t.Fatalf("cluster binding: %v", err)
	}
	for _, tc := range []struct {
		field  string
		change func(*Binding)
	}{
		{"resource type", func(b *Binding) { b.ResourceType = ResourceAny }},
		{"resource type", func(b *Binding) { b.ResourceType = ResourceUnknown }},
		{"resource type", func(b *Binding) { b.ResourceType = 8 }},
		{"pattern type", func(b *Binding) { b.PatternType = PatternMatch }},
		{"pattern type", func(b *Binding) { b.PatternType = PatternAny }},
		{"pattern type", func(b *Binding) { b.PatternType = PatternUnknown }},
		{"operation", func(b *Binding) { b.Operation = OpAny }},
		{"operation", func(b *Binding) { b.Operation = OpUnknown }},
		{"operation", func(b *Binding) { b.Operation = 15 }},
		{"permission", func(b *Binding) { b.Permission = PermissionAny }},
		{"permission", func(b *Binding) { b.Permission = PermissionUnknown }},
		{"resource name", func(b *Binding) { b.ResourceName = "" }},
		{"CLUSTER", func(b *Binding) { b.ResourceType = ResourceCluster }},
		{"host", func(b *Binding) { b.Host = "" }},
		{"principal", func(b *Binding) { b.Principal = "alice" }},
		{"principal", func(b *Binding) { b.Principal = "User:" }},
		{"principal", func(b *Binding) { b.Principal = ":alice" }},
		{"principal", func(b *Binding) { b.Principal = "" }},
	} {
		b := good
		tc.change(&b)
		err := b.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%+v: Validate = %v, want an error naming %q", b, err, tc.field)
		}
	}
}

func TestFilterMatches(t *testing.T) {
	lit := Binding{ResourceTopic, "orders", PatternLiteral, "User:alice", "*", OpRead, PermissionAllow}
	wild := Binding{ResourceTopic, "*", PatternLiteral, "User:alice", "*", OpRead, PermissionAllow}
	pre := Binding{ResourceTopic, "ord", PatternPrefixed, "User:alice", "*", OpRead, PermissionAllow}
	other := Binding{ResourceTopic, "payments", PatternLiteral, "User:alice", "*", OpRead, PermissionAllow}
	preName := Binding{ResourceTopic, "orders", PatternPrefixed, "User:alice", "*", OpRead, PermissionAllow}
	group := Binding{ResourceGroup, "orders", PatternLiteral, "User:alice", "*", OpRead, PermissionAllow}
	all := []Binding{lit, wild, pre, other, preName, group}
	anyF := Filter{ResourceType: ResourceAny, PatternType: PatternAny, Operation: OpAny, Permission: PermissionAny}

	for _, tc := range []struct {
		name   string
		change func(*Filter)
		want   []Binding
	}{
		{"everything any, nil fields", func(*Filter) {}, all},
		{"resource type", func(f *Filter) { f.ResourceType = ResourceGroup }, []Binding{group}},
		{"any pattern, named", func(f *Filter) { f.ResourceName = ptr("orders") }, []Binding{lit, preName, group}},
		{"literal, named", func(f *Filter) { f.PatternType, f.ResourceName = PatternLiteral, ptr("orders") }, []Binding{lit, group}},
		{"literal, unnamed", func(f *Filter) { f.PatternType = PatternLiteral }, []Binding{lit, wild, other, group}},
		{"literal *, named *", func(f *Filter) { f.PatternType, f.ResourceName = PatternLiteral, ptr("*") }, []Binding{wild}},
		{"prefixed, named", func(f *Filter) { f.PatternType, f.ResourceName = PatternPrefixed, ptr("ord") }, []Binding{pre}},
		{"prefixed, unnamed", func(f *Filter) { f.PatternType = PatternPrefixed }, []Binding{pre, preName}},
		{"match topic orders", func(f *Filter) {
			f.ResourceType, f.PatternType, f.ResourceName = ResourceTopic, PatternMatch, ptr("orders")
		}, []Binding{lit, wild, pre, preName}},
		{"match topic order (shorter)", func(f *Filter) {
			f.ResourceType, f.PatternType, f.ResourceName = ResourceTopic, PatternMatch, ptr("order")
		}, []Binding{wild, pre}},
		{"match, unnamed", func(f *Filter) { f.PatternType = PatternMatch }, all},
		{"principal exact", func(f *Filter) { f.Principal = ptr("User:alice") }, all},
		{"principal wildcard is literal", func(f *Filter) { f.Principal = ptr("User:*") }, nil},
		{"host exact", func(f *Filter) { f.Host = ptr("*") }, all},
		{"host other", func(f *Filter) { f.Host = ptr("10.0.0.1") }, nil},
		{"operation", func(f *Filter) { f.Operation = OpWrite }, nil},
		{"permission", func(f *Filter) { f.Permission = PermissionDeny }, nil},
		{"permission allow", func(f *Filter) { f.Permission = PermissionAllow }, all},
	} {
		f := anyF
		tc.change(&f)
		var got []Binding
		for _, b := range all {
			if f.Matches(b) {
				got = append(got, b)
			}
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s:\n got  %v\n want %v", tc.name, got, tc.want)
		}
	}
}

func TestACLsStoresDuplicatesOnce(t *testing.T) {
	a := NewACLs()
	b := Binding{ResourceTopic, "orders", PatternLiteral, "User:alice", "*", OpRead, PermissionAllow}
	a.Add(b, b)
	a.Add(b)
	if a.Len() != 1 {
		t.Fatalf("Len = %d, want 1", a.Len())
	}
	if got := a.Describe(Filter{ResourceType: ResourceAny, PatternType: PatternAny, Operation: OpAny, Permission: PermissionAny}); len(got) != 1 {
		t.Fatalf("Describe = %v", got)
	}
}

func sampleBindings() []Binding {
	return []Binding{
		{ResourceTopic, "orders", PatternLiteral, "User:bob", "*", OpWrite, PermissionAllow},
		{ResourceTopic, "orders", PatternLiteral, "User:alice", "*", OpRead, PermissionAllow},
		{ResourceGroup, "app-", PatternPrefixed, "User:alice", "*", OpRead, PermissionAllow},
		{ResourceCluster, "kafka-cluster", PatternLiteral, "User:*", "10.0.0.9", OpAll, PermissionDeny},
		{ResourceTopic, "*", PatternLiteral, "User:carol", "*", OpDescribe, PermissionAllow},
	}
}

func TestACLsDescribeAndDelete(t *testing.T) {
	a := NewACLs()
	a.Add(sampleBindings()...)
	bs := sampleBindings()
	want := []Binding{bs[4], bs[1], bs[0], bs[2], bs[3]} // type, then name, then principal
	all := Filter{ResourceType: ResourceAny, PatternType: PatternAny, Operation: OpAny, Permission: PermissionAny}
	if got := a.Describe(all); !reflect.DeepEqual(got, want) {
		t.Fatalf("Describe =\n %v\nwant\n %v", got, want)
	}
	f := all
	f.ResourceType, f.PatternType, f.ResourceName = ResourceTopic, PatternMatch, ptr("orders")
	gone := a.Delete(f)
	if wantGone := []Binding{bs[4], bs[1], bs[0]}; !reflect.DeepEqual(gone, wantGone) {
		t.Fatalf("Delete returned %v, want %v", gone, wantGone)
	}
	if a.Len() != 2 {
		t.Fatalf("Len after delete = %d, want 2", a.Len())
	}
	az := NewAuthorizer(a, nil)
	if az.Authorize("User:alice", "1.2.3.4", OpRead, ResourceTopic, "orders") {
		t.Fatal("a deleted binding still allows")
	}
	if !az.Authorize("User:alice", "1.2.3.4", OpRead, ResourceGroup, "app-1") {
		t.Fatal("a kept binding no longer allows")
	}
	if gone := a.Delete(f); len(gone) != 0 {
		t.Fatalf("second Delete removed %v", gone)
	}
}

func TestACLsJSONRoundTrip(t *testing.T) {
	a := NewACLs()
	a.Add(sampleBindings()...)
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	var back ACLs
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	all := Filter{ResourceType: ResourceAny, PatternType: PatternAny, Operation: OpAny, Permission: PermissionAny}
	if !reflect.DeepEqual(back.Describe(all), a.Describe(all)) {
		t.Fatalf("round trip gives %v, want %v", back.Describe(all), a.Describe(all))
	}
	if !NewAuthorizer(&back, nil).Authorize("User:alice", "h", OpRead, ResourceGroup, "app-x") {
		t.Fatal("decoded ACLs are not indexed for Authorize")
	}
	again, _ := json.Marshal(&back)
	if string(again) != string(b) {
		t.Fatalf("re-encoding differs:\n%s\n%s", b, again)
	}
}

func TestACLsReadsGoldenV1(t *testing.T) {
	path := filepath.Join("testdata", "acls_v1.json")
	if *update {
		a := NewACLs()
		a.Add(sampleBindings()...)
		b, _ := json.MarshalIndent(a, "", "  ")
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var a ACLs
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatal(err)
	}
	want := NewACLs()
	want.Add(sampleBindings()...)
	all := Filter{ResourceType: ResourceAny, PatternType: PatternAny, Operation: OpAny, Permission: PermissionAny}
	if !reflect.DeepEqual(a.Describe(all), want.Describe(all)) {
		t.Fatalf("golden ACLs %v, want %v", a.Describe(all), want.Describe(all))
	}
}

func TestACLsUnmarshalRefusesBadDocuments(t *testing.T) {
	const acl = `{"resource_type":"TOPIC","resource_name":"t","pattern_type":"LITERAL","principal":"User:a","host":"*","operation":"READ","permission":"ALLOW"}`
	for name, doc := range map[string]string{
		"garbage":        `{{{`,
		"empty":          ``,
		"no version":     `{"acls":[]}`,
		"version 2":      `{"version":2,"acls":[]}`,
		"unknown field":  `{"version":1,"acls":[],"x":1}`,
		"acl field":      `{"version":1,"acls":[` + strings.Replace(acl, "{", `{"x":1,`, 1) + `]}`,
		"duplicate":      `{"version":1,"acls":[` + acl + `,` + acl + `]}`,
		"unknown enum":   `{"version":1,"acls":[` + strings.Replace(acl, "TOPIC", "TABLE", 1) + `]}`,
		"invalid (ANY)":  `{"version":1,"acls":[` + strings.Replace(acl, "READ", "ANY", 1) + `]}`,
		"invalid (host)": `{"version":1,"acls":[` + strings.Replace(acl, `"host":"*"`, `"host":""`, 1) + `]}`,
		"acls not array": `{"version":1,"acls":{}}`,
	} {
		a := NewACLs()
		a.Add(sampleBindings()...)
		if err := a.UnmarshalJSON([]byte(doc)); err == nil {
			t.Errorf("%s: accepted %s", name, doc)
		}
		if a.Len() != len(sampleBindings()) {
			t.Errorf("%s: a refused document changed the ACLs", name)
		}
	}
}

package auth

import (
	"fmt"
	"testing"
)

func TestAuthorize(t *testing.T) {
	allow := func(rt ResourceType, name string, pt PatternType, principal, host string, op Operation) Binding {
		return Binding{rt, name, pt, principal, host, op, PermissionAllow}
	}
	deny := func(rt ResourceType, name string, pt PatternType, principal, host string, op Operation) Binding {
		return Binding{rt, name, pt, principal, host, op, PermissionDeny}
	}
	type req struct {
		principal, host string
		op              Operation
		rt              ResourceType
		name            string
	}
	const ip = "10.1.2.3"
	for _, tc := range []struct {
		name string
		acls []Binding
		req  req
		want bool
	}{
		{"no ACL denies", nil, req{"User:alice", ip, OpRead, ResourceTopic, "orders"}, false},
		{"super user needs no ACL", nil, req{"User:admin", ip, OpAlter, ResourceCluster, "kafka-cluster"}, true},
		{"super user given as a bare name", nil, req{"User:root", ip, OpDelete, ResourceTopic, "x"}, true},
		{"super user beats deny",
			[]Binding{deny(ResourceTopic, "*", PatternLiteral, "User:*", "*", OpAll)},
			req{"User:admin", ip, OpWrite, ResourceTopic, "orders"}, true},
		{"literal allows",
			[]Binding{allow(ResourceTopic, "orders", PatternLiteral, "User:alice", "*", OpRead)},
			req{"User:alice", ip, OpRead, ResourceTopic, "orders"}, true},
		{"literal is not a prefix",
			[]Binding{allow(ResourceTopic, "orders", PatternLiteral, "User:alice", "*", OpRead)},
			req{"User:alice", ip, OpRead, ResourceTopic, "orders-eu"}, false},
		{"another principal's ACL does not count",
			[]Binding{allow(ResourceTopic, "orders", PatternLiteral, "User:bob", "*", OpRead)},
			req{"User:alice", ip, OpRead, ResourceTopic, "orders"}, false},
		{"other operation does not count",
			[]Binding{allow(ResourceTopic, "orders", PatternLiteral, "User:alice", "*", OpWrite)},
			req{"User:alice", ip, OpCreate, ResourceTopic, "orders"}, false},
		{"wildcard resource",
			[]Binding{allow(ResourceTopic, "*", PatternLiteral, "User:alice", "*", OpRead)},
			req{"User:alice", ip, OpRead, ResourceTopic, "anything"}, true},
		{"prefixed matches a longer name",
			[]Binding{allow(ResourceTopic, "ord", PatternPrefixed, "User:alice", "*", OpRead)},
			req{"User:alice", ip, OpRead, ResourceTopic, "orders"}, true},
		{"prefixed matches the name itself",
			[]Binding{allow(ResourceTopic, "orders", PatternPrefixed, "User:alice", "*", OpRead)},
			req{"User:alice", ip, OpRead, ResourceTopic, "orders"}, true},
		{"prefixed does not match a shorter name",
			[]Binding{allow(ResourceTopic, "orders", PatternPrefixed, "User:alice", "*", OpRead)},
			req{"User:alice", ip, OpRead, ResourceTopic, "ord"}, false},
		{"prefixed * is a literal prefix, not a wildcard",
			[]Binding{allow(ResourceTopic, "*", PatternPrefixed, "User:alice", "*", OpRead)},
			req{"User:alice", ip, OpRead, ResourceTopic, "orders"}, false},
		{"User:* matches every user",
			[]Binding{allow(ResourceTopic, "orders", PatternLiteral, "User:*", "*", OpRead)},
			req{"User:alice", ip, OpRead, ResourceTopic, "orders"}, true},
		{"host matches",
			[]Binding{allow(ResourceTopic, "orders", PatternLiteral, "User:alice", ip, OpRead)},
			req{"User:alice", ip, OpRead, ResourceTopic, "orders"}, true},
		{"host mismatch",
			[]Binding{allow(ResourceTopic, "orders", PatternLiteral, "User:alice", "10.9.9.9", OpRead)},
			req{"User:alice", ip, OpRead, ResourceTopic, "orders"}, false},
		{"deny beats allow",
			[]Binding{
				allow(ResourceTopic, "orders", PatternLiteral, "User:alice", "*", OpRead),
				deny(ResourceTopic, "orders", PatternLiteral, "User:alice", "*", OpRead),
			},
			req{"User:alice", ip, OpRead, ResourceTopic, "orders"}, false},
		{"deny via wildcard principal, host and prefix beats literal allow",
			[]Binding{
				allow(ResourceTopic, "orders", PatternLiteral, "User:alice", ip, OpRead),
				deny(ResourceTopic, "o", PatternPrefixed, "User:*", "*", OpRead),
			},
			req{"User:alice", ip, OpRead, ResourceTopic, "orders"}, false},
		{"deny for another host does not count",
			[]Binding{
				allow(ResourceTopic, "orders", PatternLiteral, "User:alice", "*", OpRead),
				deny(ResourceTopic, "orders", PatternLiteral, "User:alice", "10.9.9.9", OpRead),
			},
			req{"User:alice", ip, OpRead, ResourceTopic, "orders"}, true},
		{"deny All denies every operation",
			[]Binding{
				allow(ResourceTopic, "orders", PatternLiteral, "User:alice", "*", OpWrite),
				deny(ResourceTopic, "*", PatternLiteral, "User:alice", "*", OpAll),
			},
			req{"User:alice", ip, OpWrite, ResourceTopic, "orders"}, false},
		{"deny of Read does not deny an implied Describe",
			[]Binding{
				allow(ResourceTopic, "orders", PatternLiteral, "User:alice", "*", OpWrite),
				deny(ResourceTopic, "orders", PatternLiteral, "User:alice", "*", OpRead),
			},
			req{"User:alice", ip, OpDescribe, ResourceTopic, "orders"}, true},
		{"allow All allows every operation",
			[]Binding{allow(ResourceGroup, "g", PatternLiteral, "User:alice", "*", OpAll)},
			req{"User:alice", ip, OpDelete, ResourceGroup, "g"}, true},
		{"Read implies Describe",
			[]Binding{allow(ResourceTopic, "orders", PatternLiteral, "User:alice", "*", OpRead)},
			req{"User:alice", ip, OpDescribe, ResourceTopic, "orders"}, true},
		{"Write implies Describe",
			[]Binding{allow(ResourceTopic, "orders", PatternLiteral, "User:alice", "*", OpWrite)},
			req{"User:alice", ip, OpDescribe, ResourceTopic, "orders"}, true},
		{"Delete implies Describe",
			[]Binding{allow(ResourceTopic, "orders", PatternLiteral, "User:alice", "*", OpDelete)},
			req{"User:alice", ip, OpDescribe, ResourceTopic, "orders"}, true},
		{"Alter implies Describe",
			[]Binding{allow(ResourceTopic, "orders", PatternLiteral, "User:alice", "*", OpAlter)},
			req{"User:alice", ip, OpDescribe, ResourceTopic, "orders"}, true},
		{"Create does not imply Describe",
			[]Binding{allow(ResourceTopic, "orders", PatternLiteral, "User:alice", "*", OpCreate)},
			req{"User:alice", ip, OpDescribe, ResourceTopic, "orders"}, false},
		{"Describe does not imply Read",
			[]Binding{allow(ResourceTopic, "orders", PatternLiteral, "User:alice", "*", OpDescribe)},
			req{"User:alice", ip, OpRead, ResourceTopic, "orders"}, false},
		{"AlterConfigs implies DescribeConfigs",
			[]Binding{allow(ResourceTopic, "orders", PatternLiteral, "User:alice", "*", OpAlterConfigs)},
			req{"User:alice", ip, OpDescribeConfigs, ResourceTopic, "orders"}, true},
		{"AlterConfigs does not imply Describe",
			[]Binding{allow(ResourceTopic, "orders", PatternLiteral, "User:alice", "*", OpAlterConfigs)},
			req{"User:alice", ip, OpDescribe, ResourceTopic, "orders"}, false},
		{"another resource type does not match",
			[]Binding{allow(ResourceGroup, "orders", PatternLiteral, "User:alice", "*", OpRead)},
			req{"User:alice", ip, OpRead, ResourceTopic, "orders"}, false},
		{"cluster action",
			[]Binding{allow(ResourceCluster, "kafka-cluster", PatternLiteral, "User:broker", "*", OpClusterAction)},
			req{"User:broker", ip, OpClusterAction, ResourceCluster, "kafka-cluster"}, true},
		{"operation Any is never allowed",
			[]Binding{allow(ResourceTopic, "orders", PatternLiteral, "User:alice", "*", OpAll)},
			req{"User:alice", ip, OpAny, ResourceTopic, "orders"}, false},
		{"a Match binding (not valid) grants nothing",
			[]Binding{allow(ResourceTopic, "orders", PatternMatch, "User:alice", "*", OpRead)},
			req{"User:alice", ip, OpRead, ResourceTopic, "orders"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := NewACLs()
			a.Add(tc.acls...)
			az := NewAuthorizer(a, []string{"User:admin", "root"})
			r := tc.req
			if got := az.Authorize(r.principal, r.host, r.op, r.rt, r.name); got != tc.want {
				t.Fatalf("Authorize(%q, %q, %s, %s, %q) = %v, want %v", r.principal, r.host, r.op, r.rt, r.name, got, tc.want)
			}
		})
	}
}

func TestAuthorizerSeesLaterChanges(t *testing.T) {
	a := NewACLs()
	az := NewAuthorizer(a, nil)
	b := Binding{ResourceTopic, "t", PatternLiteral, "User:alice", "*", OpRead, PermissionAllow}
	a.Add(b)
	if !az.Authorize("User:alice", "h", OpRead, ResourceTopic, "t") {
		t.Fatal("an added binding does not allow")
	}
	a.Delete(Filter{ResourceType: ResourceAny, PatternType: PatternAny, Operation: OpAny, Permission: PermissionAny})
	if az.Authorize("User:alice", "h", OpRead, ResourceTopic, "t") {
		t.Fatal("a deleted binding still allows")
	}
}

func TestSuperUserNormalisesBareNames(t *testing.T) {
	az := NewAuthorizer(NewACLs(), []string{"admin", "User:ops", "Group:x"})
	for p, want := range map[string]bool{"User:admin": true, "User:ops": true, "Group:x": true, "admin": false, "User:alice": false} {
		if got := az.SuperUser(p); got != want {
			t.Errorf("SuperUser(%q) = %v, want %v", p, got, want)
		}
	}
}

func TestAuthorizeDoesNotAllocate(t *testing.T) {
	az, _ := benchAuthorizer()
	n := testing.AllocsPerRun(100, func() {
		az.Authorize("User:u7", "10.0.0.1", OpDescribe, ResourceTopic, "topic-7-x")
	})
	if n != 0 {
		t.Fatalf("Authorize allocates %v times per call", n)
	}
}

// benchAuthorizer has 1000 bindings: 50 users with 20 topic ACLs each
// (literal and prefixed, allow and deny), and some for User:*.
func benchAuthorizer() (*Authorizer, int) {
	a := NewACLs()
	ops := []Operation{OpRead, OpWrite, OpCreate, OpDelete, OpAlter}
	for u := range 50 {
		p := fmt.Sprintf("User:u%d", u)
		for i := range 18 {
			pt, name := PatternLiteral, fmt.Sprintf("topic-%d-%d", u, i)
			if i%3 == 0 {
				pt, name = PatternPrefixed, fmt.Sprintf("topic-%d-", i)
			}
			perm := PermissionAllow
			if i%7 == 0 {
				perm = PermissionDeny
			}
			a.Add(Binding{ResourceTopic, name, pt, p, "*", ops[i%len(ops)], perm})
		}
		a.Add(Binding{ResourceGroup, "g", PatternPrefixed, "User:*", "*", OpRead, PermissionAllow},
			Binding{ResourceTopic, fmt.Sprintf("shared-%d", u), PatternLiteral, "User:*", "*", OpDescribe, PermissionAllow},
			Binding{ResourceTopic, fmt.Sprintf("pub-%d", u), PatternPrefixed, "User:*", "*", OpRead, PermissionAllow})
	}
	return NewAuthorizer(a, []string{"admin"}), a.Len()
}

func BenchmarkAuthorize(b *testing.B) {
	az, n := benchAuthorizer()
	b.ReportMetric(float64(n), "bindings")
	b.ReportAllocs()
	for b.Loop() {
		az.Authorize("User:u7", "10.0.0.1", OpDescribe, ResourceTopic, "topic-7-x")
	}
}

func BenchmarkAuthorizeParallel(b *testing.B) {
	az, _ := benchAuthorizer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			az.Authorize("User:u7", "10.0.0.1", OpRead, ResourceTopic, "topic-7-3")
		}
	})
}

package auth

import "strings"

// Authorizer decides whether a principal may perform an operation on a
// resource, as Kafka's StandardAuthorizer does with
// allow.everyone.if.no.acl.found=false. It reads its ACLs live: bindings
// added or deleted later take effect on the next call. It is safe for
// concurrent use.
type Authorizer struct {
	acls       *ACLs
	superUsers map[string]struct{}
}

// NewAuthorizer returns an Authorizer over acls in which superUsers may do
// everything. Super-users are principals ("User:admin"); a bare name
// ("admin", no colon) means "User:admin".
func NewAuthorizer(acls *ACLs, superUsers []string) *Authorizer {
	a := &Authorizer{acls: acls, superUsers: make(map[string]struct{}, len(superUsers))}
	for _, s := range superUsers {
		if !strings.Contains(s, ":") {
			s = UserPrincipal(s)
		}
		a.superUsers[s] = struct{}{}
	}
	return a
}

// SuperUser reports whether principal is one of the super-users.
func (a *Authorizer) SuperUser(principal string) bool {
	_, ok := a.superUsers[principal]
	return ok
}

// Authorize reports whether principal, connected from host (an IP address
// without a leading slash, such as "127.0.0.1"), may perform op on the
// resource of type rt named name.
//
// A super-user may do anything. Otherwise the bindings that count are those
// for rt whose pattern covers name (literal name, literal "*", or a prefix of
// name), whose principal is principal or "User:*" and whose host is host or
// "*". Any such DENY of op or of All refuses. Otherwise an ALLOW of op or of
// All permits, and so does an ALLOW that implies op: Read, Write, Delete and
// Alter imply Describe; AlterConfigs implies DescribeConfigs. Without a
// matching ALLOW the answer is no.
//
// Authorize takes only a read lock and does not allocate.
func (a *Authorizer) Authorize(principal, host string, op Operation, rt ResourceType, name string) bool {
	if a.SuperUser(principal) {
		return true
	}
	if op <= OpAny || rt <= ResourceAny {
		return false // no binding is for "any" (Binding.Validate refuses it)
	}
	a.acls.mu.RLock()
	defer a.acls.mu.RUnlock()
	var v verdict
	v.check(a.acls.index[indexKey{rt, principal}], host, op, name)
	if principal != WildcardPrincipal {
		v.check(a.acls.index[indexKey{rt, WildcardPrincipal}], host, op, name)
	}
	return v.allowed && !v.denied
}

// verdict accumulates what the matching bindings say.
type verdict struct {
	allowed, denied bool
}

func (v *verdict) check(bk *bucket, host string, op Operation, name string) {
	if bk == nil {
		return
	}
	v.checkAll(bk.literal[name], host, op)
	if name != WildcardResource {
		v.checkAll(bk.literal[WildcardResource], host, op)
	}
	for _, b := range bk.prefixed {
		if strings.HasPrefix(name, b.ResourceName) {
			v.checkOne(b, host, op)
		}
	}
}

func (v *verdict) checkAll(bs []Binding, host string, op Operation) {
	for _, b := range bs {
		v.checkOne(b, host, op)
	}
}

func (v *verdict) checkOne(b Binding, host string, op Operation) {
	if b.Host != host && b.Host != WildcardHost {
		return
	}
	switch b.Permission {
	case PermissionDeny:
		if b.Operation == op || b.Operation == OpAll {
			v.denied = true
		}
	case PermissionAllow:
		if b.Operation == op || b.Operation == OpAll || implies(b.Operation, op) {
			v.allowed = true
		}
	}
}

// implies reports whether an ALLOW of granted also allows op.
func implies(granted, op Operation) bool {
	switch op {
	case OpDescribe:
		return granted == OpRead || granted == OpWrite || granted == OpDelete || granted == OpAlter
	case OpDescribeConfigs:
		return granted == OpAlterConfigs
	}
	return false
}

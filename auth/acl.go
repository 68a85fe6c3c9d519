package auth

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ResourceType is the kind of resource an ACL protects. The values are
// Kafka's wire codes.
type ResourceType int8

// Kafka's resource types.
const (
	ResourceUnknown         ResourceType = 0
	ResourceAny             ResourceType = 1
	ResourceTopic           ResourceType = 2
	ResourceGroup           ResourceType = 3
	ResourceCluster         ResourceType = 4
	ResourceTransactionalID ResourceType = 5
	ResourceDelegationToken ResourceType = 6
	ResourceUser            ResourceType = 7
)

// PatternType says how an ACL's resource name matches resource names. The
// values are Kafka's wire codes; Any and Match occur only in filters.
type PatternType int8

// Kafka's pattern types.
const (
	PatternUnknown  PatternType = 0
	PatternAny      PatternType = 1
	PatternMatch    PatternType = 2
	PatternLiteral  PatternType = 3
	PatternPrefixed PatternType = 4
)

// Operation is what a principal does to a resource. The values are Kafka's
// wire codes.
type Operation int8

// Kafka's operations.
const (
	OpUnknown         Operation = 0
	OpAny             Operation = 1
	OpAll             Operation = 2
	OpRead            Operation = 3
	OpWrite           Operation = 4
	OpCreate          Operation = 5
	OpDelete          Operation = 6
	OpAlter           Operation = 7
	OpDescribe        Operation = 8
	OpClusterAction   Operation = 9
	OpDescribeConfigs Operation = 10
	OpAlterConfigs    Operation = 11
	OpIdempotentWrite Operation = 12
	OpCreateTokens    Operation = 13
	OpDescribeTokens  Operation = 14
)

// Permission says whether an ACL allows or denies. The values are Kafka's
// wire codes.
type Permission int8

// Kafka's permission types.
const (
	PermissionUnknown Permission = 0
	PermissionAny     Permission = 1
	PermissionDeny    Permission = 2
	PermissionAllow   Permission = 3
)

var (
	resourceTypeNames = []string{"UNKNOWN", "ANY", "TOPIC", "GROUP", "CLUSTER", "TRANSACTIONAL_ID", "DELEGATION_TOKEN", "USER"}
	patternTypeNames  = []string{"UNKNOWN", "ANY", "MATCH", "LITERAL", "PREFIXED"}
	operationNames    = []string{"UNKNOWN", "ANY", "ALL", "READ", "WRITE", "CREATE", "DELETE", "ALTER", "DESCRIBE",
		"CLUSTER_ACTION", "DESCRIBE_CONFIGS", "ALTER_CONFIGS", "IDEMPOTENT_WRITE", "CREATE_TOKENS", "DESCRIBE_TOKENS"}
	permissionNames = []string{"UNKNOWN", "ANY", "DENY", "ALLOW"}
)

func name(names []string, v int8) string {
	if v >= 0 && int(v) < len(names) {
		return names[v]
	}
	return "UNKNOWN(" + strconv.Itoa(int(v)) + ")"
}

func parse(names []string, what, s string) (int8, error) {
	for i, n := range names {
		if strings.EqualFold(n, s) {
			return int8(i), nil
		}
	}
	return 0, fmt.Errorf("unknown %s %q", what, s)
}

// String returns Kafka's name of t, such as "TOPIC".
func (t ResourceType) String() string { return name(resourceTypeNames, int8(t)) }

// String returns Kafka's name of p, such as "LITERAL".
func (p PatternType) String() string { return name(patternTypeNames, int8(p)) }

// String returns Kafka's name of o, such as "DESCRIBE_CONFIGS".
func (o Operation) String() string { return name(operationNames, int8(o)) }

// String returns Kafka's name of p, such as "ALLOW".
func (p Permission) String() string { return name(permissionNames, int8(p)) }

// ParseResourceType returns the resource type Kafka names s, ignoring case.
func ParseResourceType(s string) (ResourceType, error) {
	v, err := parse(resourceTypeNames, "resource type", s)
	return ResourceType(v), err
}

// ParsePatternType returns the pattern type Kafka names s, ignoring case.
func ParsePatternType(s string) (PatternType, error) {
	v, err := parse(patternTypeNames, "pattern type", s)
	return PatternType(v), err
}

// ParseOperation returns the operation Kafka names s, ignoring case.
func ParseOperation(s string) (Operation, error) {
	v, err := parse(operationNames, "operation", s)
	return Operation(v), err
}

// ParsePermission returns the permission Kafka names s, ignoring case.
func ParsePermission(s string) (Permission, error) {
	v, err := parse(permissionNames, "permission", s)
	return Permission(v), err
}

// ClusterName is the only resource name of the Cluster resource.
const ClusterName = "kafka-cluster"

// WildcardResource, as a Literal resource name, matches every resource of
// its type.
const WildcardResource = "*"

// WildcardPrincipal, as a binding's principal, matches every user.
const WildcardPrincipal = "User:*"

// WildcardHost, as a binding's host, matches every host.
const WildcardHost = "*"

// Binding is one ACL: Permission for Principal, connecting from Host, to
// perform Operation on the resources of ResourceType that ResourceName
// matches under PatternType. It is comparable; two equal Bindings are one
// ACL.
type Binding struct {
	ResourceType ResourceType
	ResourceName string
	PatternType  PatternType
	Principal    string
	Host         string
	Operation    Operation
	Permission   Permission
}

// Validate returns why Kafka's CreateAcls would refuse b, naming the field,
// or nil: the enums must be concrete (not Unknown, Any or Match, and in
// range), the resource name non-empty and "kafka-cluster" for the Cluster,
// the principal of the form "Type:name" and the host non-empty ("*" is every
// host).
func (b Binding) Validate() error {
	switch {
	case b.ResourceType <= ResourceAny || b.ResourceType > ResourceUser:
		return fmt.Errorf("acl: invalid resource type %s", b.ResourceType)
	case b.PatternType != PatternLiteral && b.PatternType != PatternPrefixed:
		return fmt.Errorf("acl: invalid pattern type %s: want LITERAL or PREFIXED", b.PatternType)
	case b.Operation <= OpAny || b.Operation > OpDescribeTokens:
		return fmt.Errorf("acl: invalid operation %s", b.Operation)
	case b.Permission != PermissionAllow && b.Permission != PermissionDeny:
		return fmt.Errorf("acl: invalid permission %s: want ALLOW or DENY", b.Permission)
	case b.ResourceName == "":
		return errors.New("acl: empty resource name")
	case b.ResourceType == ResourceCluster && b.ResourceName != ClusterName:
		return fmt.Errorf("acl: resource name %q: the only valid name for the CLUSTER resource is %q", b.ResourceName, ClusterName)
	case b.Host == "":
		return errors.New(`acl: empty host: use "*" for every host`)
	}
	if typ, name, ok := strings.Cut(b.Principal, ":"); !ok || typ == "" || name == "" {
		return fmt.Errorf("acl: principal %q is not of the form Type:name", b.Principal)
	}
	return nil
}

// String formats b like Kafka's AclBinding, for logs and errors.
func (b Binding) String() string {
	return fmt.Sprintf("(pattern=(%s, %q, %s), entry=(principal=%q, host=%q, operation=%s, permission=%s))",
		b.ResourceType, b.ResourceName, b.PatternType, b.Principal, b.Host, b.Operation, b.Permission)
}

// Filter selects bindings for DescribeAcls and DeleteAcls, as Kafka's
// AclBindingFilter does. A nil pointer, ResourceAny, PatternAny, OpAny or
// PermissionAny matches every value of its field.
type Filter struct {
	ResourceType ResourceType
	ResourceName *string
	PatternType  PatternType
	Principal    *string
	Host         *string
	Operation    Operation
	Permission   Permission
}

// Matches reports whether f selects b. Principal and host are compared
// exactly ("User:*" selects only bindings for "User:*"). The resource name
// depends on the pattern type: PatternAny selects bindings of any pattern
// type whose name equals the given one; PatternLiteral and PatternPrefixed
// select bindings of that type with that exact name; PatternMatch selects
// every binding that applies to the named resource: literal with the same
// name, literal "*", and prefixed whose prefix starts the name.
func (f Filter) Matches(b Binding) bool {
	if f.ResourceType != ResourceAny && f.ResourceType != b.ResourceType {
		return false
	}
	if f.PatternType != PatternAny && f.PatternType != PatternMatch && f.PatternType != b.PatternType {
		return false
	}
	if f.ResourceName != nil && !f.nameMatches(b) {
		return false
	}
	if f.Principal != nil && *f.Principal != b.Principal {
		return false
	}
	if f.Host != nil && *f.Host != b.Host {
		return false
	}
	if f.Operation != OpAny && f.Operation != b.Operation {
		return false
	}
	return f.Permission == PermissionAny || f.Permission == b.Permission
}

func (f Filter) nameMatches(b Binding) bool {
	name := *f.ResourceName
	if f.PatternType != PatternMatch {
		return name == b.ResourceName
	}
	return appliesTo(b, name)
}

// appliesTo reports whether b's resource pattern covers the resource name.
func appliesTo(b Binding, name string) bool {
	switch b.PatternType {
	case PatternLiteral:
		return b.ResourceName == name || b.ResourceName == WildcardResource
	case PatternPrefixed:
		return strings.HasPrefix(name, b.ResourceName)
	}
	return false
}

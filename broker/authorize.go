package broker

import (
	"math"
	"strings"

	"github.com/strata-io/strata/auth"
)

// Authorization follows Kafka's KafkaApis: each handler asks allowed for
// the operation each part of its request needs, and answers a refused part
// with the Kafka error of its resource (TOPIC_AUTHORIZATION_FAILED,
// GROUP_AUTHORIZATION_FAILED, CLUSTER_AUTHORIZATION_FAILED) in place of
// doing it. A topic the client may not describe is never auto-created and
// its existence is not revealed. With authentication off (b.authz nil)
// everything is allowed, as before ACLs existed.

// allowed reports whether rc's principal may perform op on the resource of
// type rt named name: always when authentication is off.
func (b *Broker) allowed(rc *request, op auth.Operation, rt auth.ResourceType, name string) bool {
	if b.authz == nil {
		return true
	}
	return b.authz.Authorize(rc.principal, strings.TrimPrefix(rc.host, "/"), op, rt, name)
}

// allowedCluster is allowed for the cluster resource.
func (b *Broker) allowedCluster(rc *request, op auth.Operation) bool {
	return b.allowed(rc, op, auth.ResourceCluster, auth.ClusterName)
}

// allowedOnSomeTopic reports whether rc's principal may perform op on at
// least one topic, as Kafka's authorizeByResourceType does for
// InitProducerId: some ALLOW of op (or ALL) for the principal or "User:*"
// and the client's host, on a topic pattern that no DENY covers entirely.
func (b *Broker) allowedOnSomeTopic(rc *request, op auth.Operation) bool {
	if b.authz == nil || b.authz.SuperUser(rc.principal) {
		return true
	}
	host := strings.TrimPrefix(rc.host, "/")
	all := auth.Filter{ResourceType: auth.ResourceTopic, PatternType: auth.PatternAny, Operation: auth.OpAny, Permission: auth.PermissionAny}
	var allows, denies []auth.Binding
	for _, bd := range b.acls.Describe(all) {
		if bd.Principal != rc.principal && bd.Principal != auth.WildcardPrincipal ||
			bd.Host != host && bd.Host != auth.WildcardHost ||
			bd.Operation != op && bd.Operation != auth.OpAll {
			continue
		}
		if bd.Permission == auth.PermissionDeny {
			denies = append(denies, bd)
		} else {
			allows = append(allows, bd)
		}
	}
	for _, a := range allows {
		if !deniedEntirely(a, denies) {
			return true
		}
	}
	return false
}

// deniedEntirely reports whether the denies cover every topic the allow a
// names.
func deniedEntirely(a auth.Binding, denies []auth.Binding) bool {
	for _, d := range denies {
		switch {
		case d.PatternType == auth.PatternLiteral && d.ResourceName == auth.WildcardResource:
			return true
		case d.PatternType == auth.PatternPrefixed && strings.HasPrefix(a.ResourceName, d.ResourceName) && a.ResourceName != auth.WildcardResource:
			return true
		case d.PatternType == auth.PatternLiteral && a.PatternType == auth.PatternLiteral && d.ResourceName == a.ResourceName:
			return true
		}
	}
	return false
}

// The operations a resource type supports, as Kafka reports them in
// authorized-operation bit fields (KIP-430).
var (
	topicOps   = []auth.Operation{auth.OpRead, auth.OpWrite, auth.OpCreate, auth.OpDelete, auth.OpAlter, auth.OpDescribe, auth.OpDescribeConfigs, auth.OpAlterConfigs}
	clusterOps = []auth.Operation{auth.OpCreate, auth.OpAlter, auth.OpDescribe, auth.OpClusterAction, auth.OpDescribeConfigs, auth.OpAlterConfigs, auth.OpIdempotentWrite}
	groupOps   = []auth.Operation{auth.OpRead, auth.OpDescribe, auth.OpDelete}
)

// authorizedOperations is the bit field (1 << operation code) of the
// operations of ops that rc's principal may perform on the resource.
func (b *Broker) authorizedOperations(rc *request, rt auth.ResourceType, name string, ops []auth.Operation) int32 {
	var bits int32
	for _, op := range ops {
		if b.allowed(rc, op, rt, name) {
			bits |= 1 << op
		}
	}
	return bits
}

// notRequested is the value of an authorized-operations field the client
// did not ask for.
const notRequested = math.MinInt32

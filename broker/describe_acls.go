package broker

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/auth"
)

// handleDescribeAcls lists the ACLs a filter selects, grouped by resource
// pattern. It needs DESCRIBE on the cluster; with authentication off there
// is no authorizer and the answer is SECURITY_DISABLED, as in Kafka. v0
// knows only literal ACLs.
func (b *Broker) handleDescribeAcls(rc *request) (reply, error) {
	req := rc.kreq.(*kmsg.DescribeACLsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeACLsResponse)
	if req.Version == 0 {
		req.ResourcePatternType = kmsg.ACLResourcePatternTypeLiteral
	}
	err := b.checkACLAccess(rc, auth.OpDescribe)
	var f auth.Filter
	if err == nil {
		f, err = aclFilter(req.ResourceType, req.ResourceName, req.ResourcePatternType, req.Principal, req.Host, req.Operation, req.PermissionType)
	}
	if err != nil {
		resp.ErrorCode, resp.ErrorMessage = errorCode(err), errorMessage(err)
		return reply{resp: resp}, nil
	}
	for _, bd := range b.acls.Describe(f) {
		n := len(resp.Resources)
		if n == 0 || !samePattern(&resp.Resources[n-1], bd) {
			r := kmsg.NewDescribeACLsResponseResource()
			r.ResourceType = kmsg.ACLResourceType(bd.ResourceType)
			r.ResourceName = bd.ResourceName
			r.ResourcePatternType = kmsg.ACLResourcePatternType(bd.PatternType)
			resp.Resources = append(resp.Resources, r)
			n++
		}
		a := kmsg.NewDescribeACLsResponseResourceACL()
		a.Principal, a.Host = bd.Principal, bd.Host
		a.Operation, a.PermissionType = kmsg.ACLOperation(bd.Operation), kmsg.ACLPermissionType(bd.Permission)
		resp.Resources[n-1].ACLs = append(resp.Resources[n-1].ACLs, a)
	}
	return reply{resp: resp}, nil
}

func samePattern(r *kmsg.DescribeACLsResponseResource, bd auth.Binding) bool {
	return r.ResourceType == kmsg.ACLResourceType(bd.ResourceType) && r.ResourceName == bd.ResourceName &&
		r.ResourcePatternType == kmsg.ACLResourcePatternType(bd.PatternType)
}

// checkACLAccess returns why rc may not use an ACL API that needs op on
// the cluster: SECURITY_DISABLED with authentication off, else
// CLUSTER_AUTHORIZATION_FAILED without the ACL.
func (b *Broker) checkACLAccess(rc *request, op auth.Operation) error {
	switch {
	case b.authz == nil:
		return errSecurityDisabled
	case !b.allowedCluster(rc, op):
		return fmt.Errorf("%w: %s on the cluster is needed", errClusterAuthorization, op)
	}
	return nil
}

// aclFilter converts a DescribeAcls or DeleteAcls filter. Kafka refuses a
// filter with an UNKNOWN (or out-of-range) value with INVALID_REQUEST.
func aclFilter(rt kmsg.ACLResourceType, name *string, pt kmsg.ACLResourcePatternType, principal, host *string,
	op kmsg.ACLOperation, perm kmsg.ACLPermissionType,
) (auth.Filter, error) {
	f := auth.Filter{
		ResourceType: auth.ResourceType(rt),
		ResourceName: name,
		PatternType:  auth.PatternType(pt),
		Principal:    principal,
		Host:         host,
		Operation:    auth.Operation(op),
		Permission:   auth.Permission(perm),
	}
	switch {
	case f.ResourceType <= auth.ResourceUnknown || f.ResourceType > auth.ResourceUser:
		return f, fmt.Errorf("%w: resource type %s", errInvalidRequest, f.ResourceType)
	case f.PatternType <= auth.PatternUnknown || f.PatternType > auth.PatternPrefixed:
		return f, fmt.Errorf("%w: pattern type %s", errInvalidRequest, f.PatternType)
	case f.Operation <= auth.OpUnknown || f.Operation > auth.OpDescribeTokens:
		return f, fmt.Errorf("%w: operation %s", errInvalidRequest, f.Operation)
	case f.Permission <= auth.PermissionUnknown || f.Permission > auth.PermissionAllow:
		return f, fmt.Errorf("%w: permission %s", errInvalidRequest, f.Permission)
	}
	return f, nil
}

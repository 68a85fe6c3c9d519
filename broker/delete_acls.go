package broker

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/auth"
)

// handleDeleteAcls removes the ACLs each filter selects and answers, per
// filter, the ACLs it removed. It needs ALTER on the cluster
// (SECURITY_DISABLED with authentication off); a filter with an unknown
// value is INVALID_REQUEST on its own. The deletion is persisted before
// the answer. v0 filters select literal ACLs. A read-only broker refuses.
func (b *Broker) handleDeleteAcls(rc *request) (reply, error) {
	req := rc.kreq.(*kmsg.DeleteACLsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteACLsResponse)
	errs := make([]error, len(req.Filters))
	filters := make([]*auth.Filter, len(req.Filters))
	access := b.checkACLAccess(rc, auth.OpAlter)
	some := false
	for i, rf := range req.Filters {
		if access != nil {
			errs[i] = access
			continue
		}
		pt := rf.ResourcePatternType
		if req.Version == 0 {
			pt = kmsg.ACLResourcePatternTypeLiteral
		}
		f, err := aclFilter(rf.ResourceType, rf.ResourceName, pt, rf.Principal, rf.Host, rf.Operation, rf.PermissionType)
		if err != nil {
			errs[i] = err
			continue
		}
		filters[i], some = &f, true
	}
	deleted := make([][]auth.Binding, len(req.Filters))
	if some {
		err := b.changeACLs(func(next *auth.ACLs) {
			for i, f := range filters {
				if f != nil {
					deleted[i] = next.Delete(*f)
				}
			}
		})
		if err != nil {
			for i, f := range filters {
				if f != nil {
					errs[i], deleted[i] = err, nil
				}
			}
		}
	}
	for i := range req.Filters {
		r := kmsg.NewDeleteACLsResponseResult()
		r.ErrorCode, r.ErrorMessage = errorCode(errs[i]), errorMessage(errs[i])
		for _, bd := range deleted[i] {
			m := kmsg.NewDeleteACLsResponseResultMatchingACL()
			m.ResourceType = kmsg.ACLResourceType(bd.ResourceType)
			m.ResourceName = bd.ResourceName
			m.ResourcePatternType = kmsg.ACLResourcePatternType(bd.PatternType)
			m.Principal, m.Host = bd.Principal, bd.Host
			m.Operation, m.PermissionType = kmsg.ACLOperation(bd.Operation), kmsg.ACLPermissionType(bd.Permission)
			r.MatchingACLs = append(r.MatchingACLs, m)
		}
		resp.Results = append(resp.Results, r)
	}
	return reply{resp: resp}, nil
}

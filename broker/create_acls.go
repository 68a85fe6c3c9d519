package broker

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/auth"
)

// handleCreateAcls adds ACLs. It needs ALTER on the cluster
// (SECURITY_DISABLED with authentication off). Each creation is checked on
// its own (auth.Binding.Validate: INVALID_REQUEST with the reason); the
// valid ones are persisted, locally and in the bucket, before the answer.
// v0 creations are literal. A read-only broker refuses.
func (b *Broker) handleCreateAcls(rc *request) (reply, error) {
	req := rc.kreq.(*kmsg.CreateACLsRequest)
	resp := req.ResponseKind().(*kmsg.CreateACLsResponse)
	errs := make([]error, len(req.Creations))
	var valid []auth.Binding
	var validIdx []int
	access := b.checkACLAccess(rc, auth.OpAlter)
	for i, c := range req.Creations {
		if access != nil {
			errs[i] = access
			continue
		}
		pt := auth.PatternType(c.ResourcePatternType)
		if req.Version == 0 {
			pt = auth.PatternLiteral
		}
		bd := auth.Binding{
			ResourceType: auth.ResourceType(c.ResourceType),
			ResourceName: c.ResourceName,
			PatternType:  pt,
			Principal:    c.Principal,
			Host:         c.Host,
			Operation:    auth.Operation(c.Operation),
			Permission:   auth.Permission(c.PermissionType),
		}
		if err := bd.Validate(); err != nil {
			errs[i] = fmt.Errorf("%w: %w", errInvalidRequest, err)
			continue
		}
		valid = append(valid, bd)
		validIdx = append(validIdx, i)
	}
	if len(valid) > 0 {
		if err := b.changeACLs(func(next *auth.ACLs) { next.Add(valid...) }); err != nil {
			for _, i := range validIdx {
				errs[i] = err
			}
		} else {
			b.logger.Info("ACLs created", "principal", rc.principal, "count", len(valid))
		}
	}
	for _, err := range errs {
		r := kmsg.NewCreateACLsResponseResult()
		r.ErrorCode, r.ErrorMessage = errorCode(err), errorMessage(err)
		resp.Results = append(resp.Results, r)
	}
	return reply{resp: resp}, nil
}

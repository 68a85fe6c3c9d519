package broker

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/auth"
)

// handleFindCoordinator answers that this broker coordinates every group:
// the broker is a cluster of one. v4+ asks for many keys at once. Only
// groups (key type 0) have a coordinator; transactions are not supported.
func (b *Broker) handleFindCoordinator(rc *request) (reply, error) {
	req := rc.kreq.(*kmsg.FindCoordinatorRequest)
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	host, port := rc.listener.advertised()
	check := func(key string) error {
		switch {
		case req.CoordinatorType != 0:
			return fmt.Errorf("%w: coordinator type %d: only groups (0) have a coordinator", errInvalidRequest, req.CoordinatorType)
		case key == "":
			return fmt.Errorf("%w: the empty group id", errInvalidGroupID)
		case !b.allowed(rc, auth.OpDescribe, auth.ResourceGroup, key):
			return fmt.Errorf("%w: DESCRIBE on group %q is needed", errGroupAuthorization, key)
		}
		return nil
	}
	if req.Version < 4 {
		err := check(req.CoordinatorKey)
		resp.ErrorCode, resp.ErrorMessage = errorCode(err), errorMessage(err)
		resp.NodeID, resp.Host, resp.Port = b.nodeID, host, port
		if err != nil {
			resp.NodeID, resp.Host, resp.Port = -1, "", -1
		}
		return reply{resp: resp}, nil
	}
	for _, key := range req.CoordinatorKeys {
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		c.Key = key
		err := check(key)
		c.ErrorCode, c.ErrorMessage = errorCode(err), errorMessage(err)
		c.NodeID, c.Host, c.Port = b.nodeID, host, port
		if err != nil {
			c.NodeID, c.Host, c.Port = -1, "", -1
		}
		resp.Coordinators = append(resp.Coordinators, c)
	}
	return reply{resp: resp}, nil
}

package broker

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleHeartbeat keeps a member's session alive and tells it when the
// group rebalances (REBALANCE_IN_PROGRESS) or it is no longer a member.
func (b *Broker) handleHeartbeat(rc *request) (reply, error) {
	req := rc.kreq.(*kmsg.HeartbeatRequest)
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	var instanceID string
	if req.InstanceID != nil {
		instanceID = *req.InstanceID
	}
	if err := b.checkGroupRead(rc, req.Group); err != nil {
		resp.ErrorCode = errorCode(err)
		return reply{resp: resp}, nil
	}
	resp.ErrorCode = errorCode(b.groups.heartbeat(req.Group, req.MemberID, instanceID, req.Generation))
	return reply{resp: resp}, nil
}

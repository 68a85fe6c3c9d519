package broker

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleLeaveGroup removes members: one by member id before v3, a batch
// (by member id or, for static members, instance id) from v3 on, each with
// its own error.
func (b *Broker) handleLeaveGroup(rc *request) (reply, error) {
	req := rc.kreq.(*kmsg.LeaveGroupRequest)
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	if err := b.checkGroupRead(rc, req.Group); err != nil {
		resp.ErrorCode = errorCode(err)
		return reply{resp: resp}, nil
	}
	var leaving []leavingMember
	if req.Version < 3 {
		leaving = []leavingMember{{memberID: req.MemberID}}
	}
	for _, m := range req.Members {
		lm := leavingMember{memberID: m.MemberID}
		if m.InstanceID != nil {
			lm.instanceID = *m.InstanceID
		}
		if m.Reason != nil {
			lm.reason = *m.Reason
		}
		leaving = append(leaving, lm)
	}
	errs, err := b.groups.leave(req.Group, leaving)
	if req.Version < 3 {
		if err == nil {
			err = errs[0]
		}
		resp.ErrorCode = errorCode(err)
		return reply{resp: resp}, nil
	}
	resp.ErrorCode = errorCode(err)
	if err != nil {
		return reply{resp: resp}, nil
	}
	for i, m := range req.Members {
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID, rm.InstanceID = m.MemberID, m.InstanceID
		rm.ErrorCode = errorCode(errs[i])
		resp.Members = append(resp.Members, rm)
	}
	return reply{resp: resp}, nil
}

package broker

import (
	"bytes"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleSyncGroup hands out the leader's assignment. A follower's answer
// waits for the leader's SyncGroup, so it is given in finish.
func (b *Broker) handleSyncGroup(rc *request) (reply, error) {
	req := rc.kreq.(*kmsg.SyncGroupRequest)
	resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
	sr := syncRequest{
		memberID:     req.MemberID,
		generation:   req.Generation,
		protocolType: req.ProtocolType,
		protocol:     req.Protocol,
		assignments:  make(map[string][]byte, len(req.GroupAssignment)),
	}
	if req.InstanceID != nil {
		sr.instanceID = *req.InstanceID
	}
	for _, a := range req.GroupAssignment {
		sr.assignments[a.MemberID] = bytes.Clone(a.MemberAssignment) // kept by the group; the request aliases its frame
	}
	fill := func(r syncResult) kmsg.Response {
		resp.ErrorCode = errorCode(r.err)
		if r.err == nil {
			resp.ProtocolType = kmsg.StringPtr(r.protocolType)
			resp.Protocol = kmsg.StringPtr(r.protocol)
			resp.MemberAssignment = r.assignment
		}
		return resp
	}
	if err := b.checkGroupRead(rc, req.Group); err != nil {
		return reply{resp: fill(syncResult{err: err})}, nil
	}
	r, wait := b.groups.sync(req.Group, sr)
	if wait == nil {
		return reply{resp: fill(r)}, nil
	}
	return awaitReply(rc, resp, wait, syncResult{err: errShuttingDown}, fill), nil
}

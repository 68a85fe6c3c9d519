package broker

import (
	"bytes"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/auth"
)

// handleJoinGroup adds the member to the group or rejoins it. The answer
// usually waits for the join phase to end (every member rejoined, or the
// rebalance timeout), so it is given in finish; a broker shutting down
// answers the waiting ones NOT_COORDINATOR, which clients retry.
func (b *Broker) handleJoinGroup(rc *request) (reply, error) {
	req := rc.kreq.(*kmsg.JoinGroupRequest)
	resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
	jr := joinRequest{
		version:      req.Version,
		memberID:     req.MemberID,
		clientID:     rc.clientID,
		clientHost:   rc.host,
		protocolType: req.ProtocolType,
		session:      time.Duration(req.SessionTimeoutMillis) * time.Millisecond,
		rebalance:    time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond,
	}
	if req.Version == 0 || jr.rebalance <= 0 {
		jr.rebalance = jr.session // v0 has no rebalance timeout
	}
	if req.InstanceID != nil {
		jr.instanceID = *req.InstanceID
	}
	for _, p := range req.Protocols {
		// Cloned: the group keeps it, and the request aliases its frame.
		jr.protocols = append(jr.protocols, memberProtocol{Name: p.Name, Metadata: bytes.Clone(p.Metadata)})
	}
	fill := func(r joinResult) kmsg.Response {
		resp.ErrorCode = errorCode(r.err)
		resp.MemberID = r.memberID
		resp.Generation = -1
		if r.err == nil {
			resp.Generation = r.generation
			resp.ProtocolType = kmsg.StringPtr(r.protocolType)
			resp.Protocol = kmsg.StringPtr(r.protocol)
			resp.LeaderID = r.leader
			resp.Members = r.members
			resp.SkipAssignment = r.skipAssignment
		}
		return resp
	}
	if err := b.checkGroupRead(rc, req.Group); err != nil {
		return reply{resp: fill(joinResult{err: err, memberID: req.MemberID})}, nil
	}
	if err := checkGroupID(req.Group); err != nil {
		return reply{resp: fill(joinResult{err: err, memberID: req.MemberID})}, nil
	}
	r, wait := b.groups.join(req.Group, jr)
	if wait == nil {
		return reply{resp: fill(r)}, nil
	}
	return awaitReply(rc, resp, wait, joinResult{err: errShuttingDown, memberID: req.MemberID}, fill), nil
}

// errShuttingDown answers the group requests still waiting when the broker
// shuts down; clients look for the coordinator again and retry.
var errShuttingDown = fmt.Errorf("%w: the broker is shutting down", errNotCoordinator)

// awaitReply is the reply of a group request that waits for others (a
// JoinGroup for the join phase to end, a follower's SyncGroup for the
// leader's): finish answers with what arrives on wait, or with gone when
// the broker starts shutting down or the connection ends first.
func awaitReply[T any](rc *request, resp kmsg.Response, wait <-chan T, gone T, fill func(T) kmsg.Response) reply {
	return reply{resp: resp, finish: func() kmsg.Response {
		select {
		case r := <-wait:
			return fill(r)
		case <-rc.pollCtx.Done():
			return fill(gone)
		}
	}}
}

// checkGroupRead returns GROUP_AUTHORIZATION_FAILED unless rc may READ
// the group, which every request of a member and every commit needs.
func (b *Broker) checkGroupRead(rc *request, group string) error {
	if !b.allowed(rc, auth.OpRead, auth.ResourceGroup, group) {
		return fmt.Errorf("%w: READ on group %q is needed", errGroupAuthorization, group)
	}
	return nil
}

// checkGroupID refuses group ids the coordinator cannot store: empty or
// longer than maxGroupIDBytes.
func checkGroupID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: the empty group id", errInvalidGroupID)
	case len(id) > maxGroupIDBytes:
		return fmt.Errorf("%w: longer than %d bytes", errInvalidGroupID, maxGroupIDBytes)
	}
	return nil
}

package broker

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/auth"
)

// groupOperations is the authorized-operations bit field of a group when
// asked for (v3+) with authentication off: READ (3), DELETE (6) and
// DESCRIBE (8).
const groupOperations = 1<<3 | 1<<6 | 1<<8

// handleDescribeGroups describes each group: an unknown one as Dead, as
// Kafka does before v6. Members' metadata and assignments are given only
// for a Stable group.
func (b *Broker) handleDescribeGroups(rc *request) (reply, error) {
	req := rc.kreq.(*kmsg.DescribeGroupsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for _, id := range req.Groups {
		g := kmsg.NewDescribeGroupsResponseGroup()
		g.Group = id
		g.AuthorizedOperations = notRequested
		if !b.allowed(rc, auth.OpDescribe, auth.ResourceGroup, id) {
			g.ErrorCode = errorCode(errGroupAuthorization)
			resp.Groups = append(resp.Groups, g)
			continue
		}
		if req.IncludeAuthorizedOperations {
			g.AuthorizedOperations = groupOperations
			if b.authz != nil {
				g.AuthorizedOperations = b.authorizedOperations(rc, auth.ResourceGroup, id, groupOps)
			}
		}
		d := b.groups.describe(id)
		g.State, g.ProtocolType, g.Protocol = d.state, d.protocolType, d.protocol
		for _, m := range d.members {
			rm := kmsg.NewDescribeGroupsResponseGroupMember()
			rm.MemberID, rm.ClientID, rm.ClientHost = m.id, m.clientID, m.clientHost
			if m.instanceID != "" {
				rm.InstanceID = kmsg.StringPtr(m.instanceID)
			}
			rm.ProtocolMetadata, rm.MemberAssignment = m.metadata, m.assignment
			g.Members = append(g.Members, rm)
		}
		resp.Groups = append(resp.Groups, g)
	}
	return reply{resp: resp}, nil
}

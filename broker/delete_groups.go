package broker

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/auth"
)

// handleDeleteGroups deletes empty groups with their committed offsets,
// locally and in the bucket; a group with members is NON_EMPTY_GROUP.
func (b *Broker) handleDeleteGroups(rc *request) (reply, error) {
	req := rc.kreq.(*kmsg.DeleteGroupsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	for _, id := range req.Groups {
		g := kmsg.NewDeleteGroupsResponseGroup()
		g.Group = id
		err := checkGroupID(id)
		if err == nil && !b.allowed(rc, auth.OpDelete, auth.ResourceGroup, id) {
			err = fmt.Errorf("%w: DELETE on group %q is needed", errGroupAuthorization, id)
		}
		if err == nil {
			err = b.groups.deleteGroup(id)
		}
		g.ErrorCode, g.ErrorMessage = errorCode(err), errorMessage(err)
		resp.Groups = append(resp.Groups, g)
	}
	return reply{resp: resp}, nil
}

package broker

import (
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/auth"
)

// handleListGroups lists every group, filtered by state (v4+) and type
// (v5+; every group here is "classic"). A client that may not DESCRIBE the
// cluster sees only the groups it may DESCRIBE, as in Kafka.
func (b *Broker) handleListGroups(rc *request) (reply, error) {
	req := rc.kreq.(*kmsg.ListGroupsRequest)
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	if len(req.TypesFilter) > 0 && !slices.ContainsFunc(req.TypesFilter, func(t string) bool { return strings.EqualFold(t, "classic") }) {
		return reply{resp: resp}, nil
	}
	all := b.allowedCluster(rc, auth.OpDescribe)
	for _, gs := range b.groups.overview() {
		if !all && !b.allowed(rc, auth.OpDescribe, auth.ResourceGroup, gs.id) {
			continue
		}
		if len(req.StatesFilter) > 0 && !slices.ContainsFunc(req.StatesFilter, func(s string) bool { return strings.EqualFold(s, gs.state) }) {
			continue
		}
		g := kmsg.NewListGroupsResponseGroup()
		g.Group, g.ProtocolType, g.GroupState, g.GroupType = gs.id, gs.protocolType, gs.state, "classic"
		resp.Groups = append(resp.Groups, g)
	}
	return reply{resp: resp}, nil
}

package broker

import (
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleListGroups lists every group, filtered by state (v4+) and type
// (v5+; every group here is "classic").
func (b *Broker) handleListGroups(rc *request) (reply, error) {
	req := rc.kreq.(*kmsg.ListGroupsRequest)
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	if len(req.TypesFilter) > 0 && !slices.ContainsFunc(req.TypesFilter, func(t string) bool { return strings.EqualFold(t, "classic") }) {
		return reply{resp: resp}, nil
	}
	for _, gs := range b.groups.overview() {
		if len(req.StatesFilter) > 0 && !slices.ContainsFunc(req.StatesFilter, func(s string) bool { return strings.EqualFold(s, gs.state) }) {
			continue
		}
		g := kmsg.NewListGroupsResponseGroup()
		g.Group, g.ProtocolType, g.GroupState, g.GroupType = gs.id, gs.protocolType, gs.state, "classic"
		resp.Groups = append(resp.Groups, g)
	}
	return reply{resp: resp}, nil
}

package broker

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/auth"
)

// handleOffsetDelete deletes committed offsets of a group, except those of
// topics its members subscribe to (GROUP_SUBSCRIBED_TO_TOPIC). It needs
// DELETE on the group and READ on each topic.
func (b *Broker) handleOffsetDelete(rc *request) (reply, error) {
	req := rc.kreq.(*kmsg.OffsetDeleteRequest)
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	if !b.allowed(rc, auth.OpDelete, auth.ResourceGroup, req.Group) {
		resp.ErrorCode = errorCode(errGroupAuthorization)
		return reply{resp: resp}, nil
	}
	if err := checkGroupID(req.Group); err != nil {
		resp.ErrorCode = errorCode(err)
		return reply{resp: resp}, nil
	}
	set := b.topics()
	var tps []topicPartition
	errs := make(map[topicPartition]error)
	for _, rt := range req.Topics {
		t := set.byName[rt.Topic]
		for _, rp := range rt.Partitions {
			tp := topicPartition{rt.Topic, rp.Partition}
			if !b.allowed(rc, auth.OpRead, auth.ResourceTopic, rt.Topic) {
				errs[tp] = fmt.Errorf("%w: READ on topic %q is needed", errTopicAuthorization, rt.Topic)
				continue
			}
			if t == nil || rp.Partition < 0 || int(rp.Partition) >= len(t.partitions) {
				errs[tp] = fmt.Errorf("%w: %s[%d]", errUnknownTopicOrPartition, rt.Topic, rp.Partition)
				continue
			}
			tps = append(tps, tp)
		}
	}
	perTP, err := b.groups.deleteOffsets(req.Group, tps)
	if err != nil {
		resp.ErrorCode = errorCode(err)
		return reply{resp: resp}, nil
	}
	for tp, e := range perTP {
		errs[tp] = e
	}
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetDeleteResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetDeleteResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.ErrorCode = errorCode(errs[topicPartition{rt.Topic, rp.Partition}])
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return reply{resp: resp}, nil
}

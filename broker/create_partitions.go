package broker

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/auth"
)

// handleCreatePartitions grows topics to a new partition count. A manual
// assignment may only name this broker. Each topic needs ALTER on it.
func (b *Broker) handleCreatePartitions(rc *request) (reply, error) {
	req := rc.kreq.(*kmsg.CreatePartitionsRequest)
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	count := make(map[string]int, len(req.Topics))
	for _, rt := range req.Topics {
		count[rt.Topic]++
	}
	for _, rt := range req.Topics {
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		var err error
		switch {
		case !b.allowed(rc, auth.OpAlter, auth.ResourceTopic, rt.Topic):
			err = fmt.Errorf("%w: ALTER on topic %q is needed", errTopicAuthorization, rt.Topic)
		case count[rt.Topic] > 1:
			err = fmt.Errorf("%w: topic %q listed more than once", errInvalidRequest, rt.Topic)
		default:
			err = b.checkAssignment(rt)
		}
		if err == nil {
			err = b.addPartitions(rt.Topic, rt.Count, req.ValidateOnly)
		}
		st.ErrorCode = errorCode(err)
		st.ErrorMessage = errorMessage(err)
		resp.Topics = append(resp.Topics, st)
	}
	return reply{resp: resp}, nil
}

// checkAssignment checks a CreatePartitions assignment: one entry per new
// partition, each naming only this broker.
func (b *Broker) checkAssignment(rt kmsg.CreatePartitionsRequestTopic) error {
	if rt.Assignment == nil {
		return nil
	}
	t := b.topics().byName[rt.Topic]
	if t == nil {
		return fmt.Errorf("%w: topic %q", errUnknownTopicOrPartition, rt.Topic)
	}
	if want := int(rt.Count) - len(t.partitions); len(rt.Assignment) != want {
		return fmt.Errorf("%w: %d assignments for %d new partitions", errInvalidAssignment, len(rt.Assignment), want)
	}
	for _, a := range rt.Assignment {
		if len(a.Replicas) != 1 || a.Replicas[0] != b.nodeID {
			return fmt.Errorf("%w: the only replica can be broker %d", errInvalidAssignment, b.nodeID)
		}
	}
	return nil
}

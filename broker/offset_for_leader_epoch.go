package broker

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/auth"
)

// handleOffsetForLeaderEpoch answers the end offset of a leader epoch, which
// consumers use to detect log truncation (KIP-320). The broker has only
// ever had leader epoch 0, so epoch 0 ends at the log end and any other
// epoch is unknown (-1, -1).
func (b *Broker) handleOffsetForLeaderEpoch(rc *request) (reply, error) {
	req := rc.kreq.(*kmsg.OffsetForLeaderEpochRequest)
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetForLeaderEpochResponseTopic()
		st.Topic = rt.Topic
		for _, in := range rt.Partitions {
			sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			sp.Partition = in.Partition
			var p *partition
			var err error
			if !b.allowed(rc, auth.OpDescribe, auth.ResourceTopic, rt.Topic) {
				err = fmt.Errorf("%w: DESCRIBE on topic %q is needed", errTopicAuthorization, rt.Topic)
			} else {
				p, err = b.lookupPartition(rt.Topic, in.Partition)
			}
			if err == nil {
				err = checkLeaderEpoch(in.CurrentLeaderEpoch)
			}
			if err != nil {
				sp.ErrorCode = errorCode(err)
			} else if in.LeaderEpoch == 0 {
				sp.LeaderEpoch, sp.EndOffset = 0, p.log.Offsets().LogEnd
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return reply{resp: resp}, nil
}

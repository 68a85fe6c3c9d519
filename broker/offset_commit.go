package broker

import (
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/auth"
)

// handleOffsetCommit stores a group's offsets (coordinator.commit says
// which commits a group accepts). Each partition is answered on its own:
// an unknown topic or partition, or metadata beyond
// offset.metadata.max.bytes, fails only that partition. The answer is
// given once the offsets are fsynced locally; the bucket copy follows
// (group_store.go). The client needs READ on the group
// (GROUP_AUTHORIZATION_FAILED for every partition) and on each topic
// (TOPIC_AUTHORIZATION_FAILED for its partitions).
func (b *Broker) handleOffsetCommit(rc *request) (reply, error) {
	req := rc.kreq.(*kmsg.OffsetCommitRequest)
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	now := time.Now()
	set := b.topics()
	offsets := make(map[topicPartition]committedOffset)
	errs := make(map[topicPartition]error)
	groupErr := b.checkGroupRead(rc, req.Group)
	if groupErr == nil {
		groupErr = checkGroupID(req.Group)
	}
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			tp := topicPartition{rt.Topic, rp.Partition}
			var metadata string
			if rp.Metadata != nil {
				metadata = *rp.Metadata
			}
			t := set.byName[rt.Topic]
			switch {
			case groupErr != nil:
				errs[tp] = groupErr
			case !b.allowed(rc, auth.OpRead, auth.ResourceTopic, rt.Topic):
				errs[tp] = fmt.Errorf("%w: READ on topic %q is needed", errTopicAuthorization, rt.Topic)
			case t == nil || rp.Partition < 0 || int(rp.Partition) >= len(t.partitions):
				errs[tp] = fmt.Errorf("%w: %s[%d]", errUnknownTopicOrPartition, rt.Topic, rp.Partition)
			case len(metadata) > b.groups.cfg.maxMetadataBytes:
				errs[tp] = fmt.Errorf("%w: %d bytes", errOffsetMetadataTooLarge, len(metadata))
			default:
				leaderEpoch := int32(-1)
				if req.Version >= 6 {
					leaderEpoch = rp.LeaderEpoch
				}
				offsets[tp] = committedOffset{offset: rp.Offset, leaderEpoch: leaderEpoch, metadata: metadata, committed: now}
			}
		}
	}
	if len(offsets) > 0 {
		cr := commitRequest{memberID: req.MemberID, generation: req.Generation}
		if req.Version == 0 {
			cr.generation = -1
		}
		if req.InstanceID != nil {
			cr.instanceID = *req.InstanceID
		}
		if err := b.groups.commit(req.Group, cr, offsets); err != nil {
			for tp := range offsets {
				errs[tp] = err
			}
		}
	}
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetCommitResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetCommitResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.ErrorCode = errorCode(errs[topicPartition{rt.Topic, rp.Partition}])
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return reply{resp: resp}, nil
}

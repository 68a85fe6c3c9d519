package broker

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/auth"
	"github.com/strata-io/strata/locallog"
)

// handleDeleteRecords moves partitions' log start forward. An offset of -1
// means the high watermark; an offset above it is OFFSET_OUT_OF_RANGE; an
// offset at or below the log start changes nothing. The answer is the new
// log start (the low watermark). It needs DELETE on each topic.
func (b *Broker) handleDeleteRecords(rc *request) (reply, error) {
	req := rc.kreq.(*kmsg.DeleteRecordsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewDeleteRecordsResponseTopic()
		st.Topic = rt.Topic
		for _, in := range rt.Partitions {
			sp := kmsg.NewDeleteRecordsResponseTopicPartition()
			sp.Partition = in.Partition
			low, err := int64(-1), error(nil)
			if !b.allowed(rc, auth.OpDelete, auth.ResourceTopic, rt.Topic) {
				err = fmt.Errorf("%w: DELETE on topic %q is needed", errTopicAuthorization, rt.Topic)
			} else {
				low, err = b.deleteRecords(rc.ctx, rt.Topic, in.Partition, in.Offset)
			}
			sp.LowWatermark, sp.ErrorCode = low, errorCode(err)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return reply{resp: resp}, nil
}

// deleteRecords moves the log start of one partition to offset. On a tiered
// partition it first trims the remote tier (and deletes the segment objects
// that drop out), then the local log, so no offset below the new start stays
// readable in either tier.
func (b *Broker) deleteRecords(ctx context.Context, topic string, index int32, offset int64) (int64, error) {
	if err := b.writable(); err != nil {
		return -1, err
	}
	p, err := b.lookupPartition(topic, index)
	if err != nil {
		return -1, err
	}
	o := p.effectiveOffsets()
	if offset == -1 {
		offset = o.HighWatermark
	}
	switch {
	case offset < 0 || offset > o.HighWatermark:
		return -1, fmt.Errorf("%w: %d is outside [0, %d]", locallog.ErrOffsetOutOfRange, offset, o.HighWatermark)
	case offset <= o.LogStart:
		return o.LogStart, nil
	}
	if p.tier != nil {
		if err := b.trimRemote(ctx, p, offset); err != nil {
			return -1, fmt.Errorf("%w: %w", errRemoteStorage, err)
		}
	}
	if offset > p.log.Offsets().LogStart {
		if _, err := p.log.DeleteRecords(offset); err != nil {
			return -1, storageErr(err)
		}
	}
	return p.effectiveOffsets().LogStart, nil
}

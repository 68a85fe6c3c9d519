package broker

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/locallog"
)

// handleDeleteRecords moves partitions' log start forward. An offset of -1
// means the high watermark; an offset above it is OFFSET_OUT_OF_RANGE; an
// offset at or below the log start changes nothing. The answer is the new
// log start (the low watermark).
func (b *Broker) handleDeleteRecords(rc *request) (reply, error) {
	req := rc.kreq.(*kmsg.DeleteRecordsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewDeleteRecordsResponseTopic()
		st.Topic = rt.Topic
		for _, in := range rt.Partitions {
			sp := kmsg.NewDeleteRecordsResponseTopicPartition()
			sp.Partition = in.Partition
			low, err := b.deleteRecords(rt.Topic, in.Partition, in.Offset)
			sp.LowWatermark, sp.ErrorCode = low, errorCode(err)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return reply{resp: resp}, nil
}

func (b *Broker) deleteRecords(topic string, index int32, offset int64) (int64, error) {
	p, err := b.lookupPartition(topic, index)
	if err != nil {
		return -1, err
	}
	o := p.log.Offsets()
	if offset == -1 {
		offset = o.HighWatermark
	}
	switch {
	case offset < 0 || offset > o.HighWatermark:
		return -1, fmt.Errorf("%w: %d is outside [0, %d]", locallog.ErrOffsetOutOfRange, offset, o.HighWatermark)
	case offset <= o.LogStart:
		return o.LogStart, nil
	}
	low, err := p.log.DeleteRecords(offset)
	if err != nil {
		return -1, storageErr(err)
	}
	return low, nil
}

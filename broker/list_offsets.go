package broker

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Special ListOffsets timestamps and the request version that introduced
// each.
const (
	listLatest            = -1 // the high watermark
	listEarliest          = -2 // the log start
	listMaxTimestamp      = -3 // the record with the largest timestamp (KIP-734)
	listEarliestLocal     = -4 // the local tier's start (KIP-405)
	listLatestTiered      = -5 // the remote tier's end (KIP-1005)
	listEarliestPendingUp = -6 // the first offset not yet uploaded (KIP-1023)
)

var listOffsetsMinVersion = map[int64]int16{
	listLatest:            1,
	listEarliest:          1,
	listMaxTimestamp:      7,
	listEarliestLocal:     8,
	listLatestTiered:      9,
	listEarliestPendingUp: 11,
}

// handleListOffsets answers offsets by timestamp. A partition with no
// answer (no record at or after the timestamp, or nothing tiered yet) keeps
// offset -1, timestamp -1.
func (b *Broker) handleListOffsets(rc *request) (reply, error) {
	req := rc.kreq.(*kmsg.ListOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)

	type tp struct {
		t string
		p int32
	}
	count := make(map[tp]int)
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			count[tp{rt.Topic, rp.Partition}]++
		}
	}
	for _, rt := range req.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		for _, in := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = in.Partition
			var err error
			if count[tp{rt.Topic, in.Partition}] > 1 {
				err = fmt.Errorf("%w: %s[%d] listed twice", errInvalidRequest, rt.Topic, in.Partition)
			} else {
				err = b.listOffset(req.Version, rt.Topic, in, &sp)
			}
			sp.ErrorCode = errorCode(err)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return reply{resp: resp}, nil
}

// listOffset answers one partition into sp.
func (b *Broker) listOffset(version int16, topic string, in kmsg.ListOffsetsRequestTopicPartition, sp *kmsg.ListOffsetsResponseTopicPartition) error {
	ts := in.Timestamp
	if minVersion, ok := listOffsetsMinVersion[ts]; ts < 0 && (!ok || version < minVersion) {
		return fmt.Errorf("%w: timestamp %d in ListOffsets v%d", errUnsupportedVersion, ts, version)
	}
	p, err := b.lookupPartition(topic, in.Partition)
	if err != nil {
		return err
	}
	if err := checkLeaderEpoch(in.CurrentLeaderEpoch); err != nil {
		return err
	}
	o := p.log.Offsets()
	found := func(offset, timestamp int64) {
		// A record at or past the high watermark is not visible yet.
		if offset >= 0 && offset < o.HighWatermark {
			sp.Offset, sp.Timestamp, sp.LeaderEpoch = offset, timestamp, 0
		}
	}
	switch ts {
	case listLatest:
		sp.Offset, sp.LeaderEpoch = o.HighWatermark, 0
	case listEarliest, listEarliestLocal:
		sp.Offset, sp.LeaderEpoch = o.LogStart, 0
	case listLatestTiered, listEarliestPendingUp:
		// Nothing is tiered yet.
	case listMaxTimestamp:
		offset, timestamp, err := p.log.MaxTimestamp()
		if err != nil {
			return storageErr(err)
		}
		found(offset, timestamp)
	default:
		offset, timestamp, err := p.log.OffsetForTimestamp(ts)
		if err != nil {
			return storageErr(err)
		}
		found(offset, timestamp)
	}
	return nil
}

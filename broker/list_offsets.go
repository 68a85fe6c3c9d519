package broker

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/auth"
	"github.com/strata-io/strata/tiering"
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
			if !b.allowed(rc, auth.OpDescribe, auth.ResourceTopic, rt.Topic) {
				err = fmt.Errorf("%w: DESCRIBE on topic %q is needed", errTopicAuthorization, rt.Topic)
			} else if count[tp{rt.Topic, in.Partition}] > 1 {
				err = fmt.Errorf("%w: %s[%d] listed twice", errInvalidRequest, rt.Topic, in.Partition)
			} else {
				err = b.listOffset(rc.ctx, req.Version, rt.Topic, in, &sp)
			}
			sp.ErrorCode = errorCode(err)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return reply{resp: resp}, nil
}

// listOffset answers one partition into sp.
func (b *Broker) listOffset(ctx context.Context, version int16, topic string, in kmsg.ListOffsetsRequestTopicPartition, sp *kmsg.ListOffsetsResponseTopicPartition) error {
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
	var m *tiering.Manifest // nil: tiering off
	if p.tier != nil {
		m = p.tier.manifest()
	}
	start := logStart(o, m)
	found := func(offset, timestamp int64) {
		// A record at or past the high watermark is not visible yet;
		// one below the log start is gone.
		if offset >= 0 && offset < o.HighWatermark {
			sp.Offset, sp.Timestamp, sp.LeaderEpoch = max(offset, start), timestamp, 0
		}
	}
	switch ts {
	case listLatest:
		sp.Offset, sp.LeaderEpoch = o.HighWatermark, 0
	case listEarliest:
		sp.Offset, sp.LeaderEpoch = start, 0
	case listEarliestLocal:
		sp.Offset, sp.LeaderEpoch = o.LogStart, 0
	case listLatestTiered:
		if m != nil && !m.Empty() {
			sp.Offset, sp.LeaderEpoch = m.RemoteEnd-1, 0
		}
	case listEarliestPendingUp:
		if m != nil && m.RemoteEnd < o.HighWatermark {
			sp.Offset, sp.LeaderEpoch = max(m.RemoteEnd, o.LogStart), 0
		}
	case listMaxTimestamp:
		offset, timestamp, err := p.log.MaxTimestamp()
		if err != nil {
			return storageErr(err)
		}
		if m != nil && !m.Empty() {
			roff, rts, err := b.remoteMaxTimestamp(ctx, p, m)
			if err != nil {
				return err
			}
			// Remote offsets come first, so on a tie the remote record
			// is the first with the largest timestamp.
			if roff >= 0 && (offset < 0 || rts >= timestamp) {
				offset, timestamp = roff, rts
			}
		}
		found(offset, timestamp)
	default:
		if m != nil && !m.Empty() {
			offset, timestamp, err := b.remoteOffsetForTimestamp(ctx, p, m, ts)
			if err != nil {
				return err
			}
			if offset >= 0 {
				found(offset, timestamp)
				return nil
			}
		}
		offset, timestamp, err := p.log.OffsetForTimestamp(ts)
		if err != nil {
			return storageErr(err)
		}
		found(offset, timestamp)
	}
	return nil
}

// remoteOffsetForTimestamp returns the first record of m's remote tier with
// a timestamp of at least ts, or offset -1 if there is none.
func (b *Broker) remoteOffsetForTimestamp(ctx context.Context, p *partition, m *tiering.Manifest, ts int64) (int64, int64, error) {
	e, ok, err := m.LookupTimestamp(ctx, b.tiers.bucket, ts)
	if err != nil {
		return -1, -1, fmt.Errorf("%w: look up timestamp %d in %s: %w", errRemoteStorage, ts, p.tier.prefix, err)
	}
	if !ok {
		return -1, -1, nil
	}
	offset, timestamp, err := b.tiers.reader.OffsetForTimestamp(ctx, p.tier.prefix, e, ts)
	if err != nil {
		return -1, -1, fmt.Errorf("%w: search %s%s for timestamp %d: %w", errRemoteStorage, p.tier.prefix, e.Key, ts, err)
	}
	return offset, timestamp, nil
}

// remoteMaxTimestamp returns the first record of m's remote tier with the
// largest timestamp, or offset -1 if there is none. It walks the entries,
// reading the manifest's chunks.
func (b *Broker) remoteMaxTimestamp(ctx context.Context, p *partition, m *tiering.Manifest) (int64, int64, error) {
	var best tiering.Entry
	found := false
	for e, err := range m.Entries(ctx, b.tiers.bucket) {
		if err != nil {
			return -1, -1, fmt.Errorf("%w: read manifest %s: %w", errRemoteStorage, p.tier.prefix, err)
		}
		if !found || e.MaxTimestamp > best.MaxTimestamp {
			best, found = e, true
		}
	}
	if !found {
		return -1, -1, nil
	}
	offset, timestamp, err := b.tiers.reader.OffsetForTimestamp(ctx, p.tier.prefix, best, best.MaxTimestamp)
	if err != nil {
		return -1, -1, fmt.Errorf("%w: search %s%s for timestamp %d: %w", errRemoteStorage, p.tier.prefix, best.Key, best.MaxTimestamp, err)
	}
	return offset, timestamp, nil
}

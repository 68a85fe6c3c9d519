package broker

import (
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/auth"
)

// handleOffsetFetch returns committed offsets: of the partitions asked for
// (-1 for one without a committed offset, as for a group that does not
// exist) or, with no topics given, of every partition the group committed.
// v8+ asks for several groups at once.
func (b *Broker) handleOffsetFetch(rc *request) (reply, error) {
	req := rc.kreq.(*kmsg.OffsetFetchRequest)
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	if req.Version < 8 {
		asked := askedTopics(req.Topics, func(t kmsg.OffsetFetchRequestTopic) fetchTopic { return fetchTopic{t.Topic, t.Partitions} })
		code, topics := b.fetchGroupOffsets(rc, req.Group, asked, req.Topics == nil)
		resp.ErrorCode = code
		for _, ft := range topics {
			rt := kmsg.NewOffsetFetchResponseTopic()
			rt.Topic = ft.topic
			for _, o := range ft.offsets {
				rp := kmsg.NewOffsetFetchResponseTopicPartition()
				rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata = o.partition, o.offset, o.leaderEpoch, kmsg.StringPtr(o.metadata)
				rp.ErrorCode = o.errorCode
				if code != 0 {
					rp.ErrorCode = code
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return reply{resp: resp}, nil
	}
	for _, rg := range req.Groups {
		asked := askedTopics(rg.Topics, func(t kmsg.OffsetFetchRequestGroupTopic) fetchTopic { return fetchTopic{t.Topic, t.Partitions} })
		code, topics := b.fetchGroupOffsets(rc, rg.Group, asked, rg.Topics == nil)
		g := kmsg.NewOffsetFetchResponseGroup()
		g.Group, g.ErrorCode = rg.Group, code
		for _, ft := range topics {
			rt := kmsg.NewOffsetFetchResponseGroupTopic()
			rt.Topic = ft.topic
			for _, o := range ft.offsets {
				rp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
				rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata = o.partition, o.offset, o.leaderEpoch, kmsg.StringPtr(o.metadata)
				rp.ErrorCode = o.errorCode
				rt.Partitions = append(rt.Partitions, rp)
			}
			g.Topics = append(g.Topics, rt)
		}
		resp.Groups = append(resp.Groups, g)
	}
	return reply{resp: resp}, nil
}

// fetchTopic is one topic of an OffsetFetch: the partitions asked for, or
// the ones found.
type fetchTopic struct {
	topic      string
	partitions []int32
}

// askedTopics converts the topics of a request, of either version family.
func askedTopics[T any](ts []T, conv func(T) fetchTopic) []fetchTopic {
	out := make([]fetchTopic, 0, len(ts))
	for _, t := range ts {
		out = append(out, conv(t))
	}
	return out
}

type fetchedTopic struct {
	topic   string
	offsets []fetchedOffset
}

type fetchedOffset struct {
	partition   int32
	offset      int64
	leaderEpoch int32
	metadata    string
	errorCode   int16 // TOPIC_AUTHORIZATION_FAILED for a topic the client may not describe
}

// fetchGroupOffsets looks up the offsets asked for in group (all of the
// group's when all is set) and returns a group-level error code. As in
// Kafka, the client needs DESCRIBE on the group (GROUP_AUTHORIZATION_FAILED,
// with the asked partitions listed for the versions without a group-level
// error) and on each topic: a topic it may not describe is left out of
// "all" and answered TOPIC_AUTHORIZATION_FAILED when named.
func (b *Broker) fetchGroupOffsets(rc *request, groupID string, asked []fetchTopic, all bool) (int16, []fetchedTopic) {
	if !b.allowed(rc, auth.OpDescribe, auth.ResourceGroup, groupID) {
		out := make([]fetchedTopic, 0, len(asked))
		for _, ft := range asked {
			res := fetchedTopic{topic: ft.topic}
			for _, p := range ft.partitions {
				res.offsets = append(res.offsets, fetchedOffset{partition: p, offset: -1, leaderEpoch: -1})
			}
			out = append(out, res)
		}
		return errorCode(errGroupAuthorization), out
	}
	if err := checkGroupID(groupID); err != nil {
		return errorCode(err), nil
	}
	committed := b.groups.fetchOffsets(groupID)
	if all {
		byTopic := make(map[string][]int32)
		for tp := range committed {
			byTopic[tp.topic] = append(byTopic[tp.topic], tp.partition)
		}
		asked = asked[:0]
		for t, ps := range byTopic {
			if !b.allowed(rc, auth.OpDescribe, auth.ResourceTopic, t) {
				continue
			}
			slices.Sort(ps)
			asked = append(asked, fetchTopic{t, ps})
		}
		slices.SortFunc(asked, func(a, b fetchTopic) int { return strings.Compare(a.topic, b.topic) })
	}
	out := make([]fetchedTopic, 0, len(asked))
	for _, ft := range asked {
		res := fetchedTopic{topic: ft.topic}
		describable := b.allowed(rc, auth.OpDescribe, auth.ResourceTopic, ft.topic)
		for _, p := range ft.partitions {
			o, ok := committed[topicPartition{ft.topic, p}]
			fo := fetchedOffset{partition: p, offset: -1, leaderEpoch: -1}
			if !describable {
				fo.errorCode = errorCode(errTopicAuthorization)
			} else if ok {
				fo.offset, fo.leaderEpoch, fo.metadata = o.offset, o.leaderEpoch, o.metadata
			}
			res.offsets = append(res.offsets, fo)
		}
		out = append(out, res)
	}
	return 0, out
}

package broker

import (
	"cmp"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupOverview is one group as ListGroups lists it.
type groupOverview struct {
	id, protocolType, state string
}

// overview lists every group, ordered by id.
func (c *coordinator) overview() []groupOverview {
	var out []groupOverview
	for _, g := range c.snapshotGroups() {
		g.mu.Lock()
		if !g.dead {
			out = append(out, groupOverview{g.id, g.protocolType, g.state.String()})
		}
		g.mu.Unlock()
	}
	return out
}

// snapshotGroups returns every group, ordered by id.
func (c *coordinator) snapshotGroups() []*group {
	c.mu.Lock()
	out := make([]*group, 0, len(c.groups))
	for _, g := range c.groups {
		out = append(out, g)
	}
	c.mu.Unlock()
	slices.SortFunc(out, func(a, b *group) int { return strings.Compare(a.id, b.id) })
	return out
}

// groupDescription is one group as DescribeGroups describes it.
type groupDescription struct {
	state, protocolType, protocol string
	generation                    int32
	leader                        string
	members                       []memberDescription
}

type memberDescription struct {
	id, instanceID, clientID, clientHost string
	metadata, assignment                 []byte
}

// describe describes group id: Dead if there is no such group. As in
// Kafka, the protocol and the members' metadata and assignments are given
// only while the group is Stable.
func (c *coordinator) describe(id string) groupDescription {
	g := c.lockGroup(id, false)
	if g == nil {
		return groupDescription{state: groupDead.String()}
	}
	defer g.mu.Unlock()
	return g.describeLocked()
}

func (g *group) describeLocked() groupDescription {
	d := groupDescription{state: g.state.String(), protocolType: g.protocolType, generation: g.generation, leader: g.leader}
	stable := g.state == groupStable
	if stable {
		d.protocol = g.protocol
	}
	for _, m := range g.sortedMembersLocked() {
		md := memberDescription{id: m.id, instanceID: m.instanceID, clientID: m.clientID, clientHost: m.clientHost}
		if stable {
			md.assignment = m.assignment
			for _, p := range m.protocols {
				if p.Name == g.protocol {
					md.metadata = p.Metadata
				}
			}
		}
		d.members = append(d.members, md)
	}
	return d
}

// GroupStatus is one consumer group as GET /v1/groups reports it.
type GroupStatus struct {
	Group        string              `json:"group"`
	State        string              `json:"state"`
	ProtocolType string              `json:"protocolType"`
	Protocol     string              `json:"protocol"` // set while Stable
	Generation   int32               `json:"generation"`
	Leader       string              `json:"leader,omitempty"`
	Members      []GroupMemberStatus `json:"members"`
	Offsets      []GroupOffsetStatus `json:"offsets"`
}

// GroupMemberStatus is one member of a group. Assignment is decoded for
// consumer groups (protocol type "consumer") while the group is Stable.
type GroupMemberStatus struct {
	MemberID   string            `json:"memberId"`
	InstanceID string            `json:"instanceId,omitempty"`
	ClientID   string            `json:"clientId"`
	ClientHost string            `json:"clientHost"`
	Assignment []TopicPartitions `json:"assignment"`
}

// TopicPartitions names partitions of one topic.
type TopicPartitions struct {
	Topic      string  `json:"topic"`
	Partitions []int32 `json:"partitions"`
}

// GroupOffsetStatus is one committed offset and the lag behind it: the
// partition's high watermark minus the committed offset (never below
// zero). HighWatermark and Lag are -1 for a partition that does not exist.
type GroupOffsetStatus struct {
	Topic           string `json:"topic"`
	Partition       int32  `json:"partition"`
	CommittedOffset int64  `json:"committedOffset"`
	Metadata        string `json:"metadata"`
	HighWatermark   int64  `json:"highWatermark"`
	Lag             int64  `json:"lag"`
}

// Groups returns every group with its members, assignments, committed
// offsets and lag, ordered by group id, topic and partition; an empty
// slice, not nil, when there are none.
func (b *Broker) Groups() []GroupStatus {
	set := b.topics()
	out := []GroupStatus{}
	for _, g := range b.groups.snapshotGroups() {
		g.mu.Lock()
		if g.dead {
			g.mu.Unlock()
			continue
		}
		d := g.describeLocked()
		offsets := make(map[topicPartition]committedOffset, len(g.offsets))
		for tp, o := range g.offsets {
			offsets[tp] = o
		}
		g.mu.Unlock()

		st := GroupStatus{
			Group: g.id, State: d.state, ProtocolType: d.protocolType, Protocol: d.protocol,
			Generation: d.generation, Leader: d.leader,
			Members: []GroupMemberStatus{}, Offsets: []GroupOffsetStatus{},
		}
		for _, m := range d.members {
			ms := GroupMemberStatus{MemberID: m.id, InstanceID: m.instanceID, ClientID: m.clientID, ClientHost: m.clientHost, Assignment: []TopicPartitions{}}
			if d.protocolType == "consumer" && len(m.assignment) > 0 {
				var a kmsg.ConsumerMemberAssignment
				if a.ReadFrom(m.assignment) == nil {
					for _, t := range a.Topics {
						ms.Assignment = append(ms.Assignment, TopicPartitions{Topic: t.Topic, Partitions: slices.Sorted(slices.Values(t.Partitions))})
					}
					slices.SortFunc(ms.Assignment, func(x, y TopicPartitions) int { return strings.Compare(x.Topic, y.Topic) })
				}
			}
			st.Members = append(st.Members, ms)
		}
		for tp, o := range offsets {
			os := GroupOffsetStatus{Topic: tp.topic, Partition: tp.partition, CommittedOffset: o.offset, Metadata: o.metadata, HighWatermark: -1, Lag: -1}
			if t := set.byName[tp.topic]; t != nil && tp.partition < int32(len(t.partitions)) {
				os.HighWatermark = t.partitions[tp.partition].log.Offsets().HighWatermark
				os.Lag = max(os.HighWatermark-o.offset, 0)
			}
			st.Offsets = append(st.Offsets, os)
		}
		slices.SortFunc(st.Offsets, func(x, y GroupOffsetStatus) int {
			return cmp.Or(strings.Compare(x.Topic, y.Topic), cmp.Compare(x.Partition, y.Partition))
		})
		out = append(out, st)
	}
	return out
}

package broker

import (
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Authorized-operation bitfields for Metadata v8+ and DescribeCluster: with
// no ACLs every operation on a resource is allowed. Bits are
// kmsg.ACLOperation values.
var (
	topicOperations = aclBits(kmsg.ACLOperationRead, kmsg.ACLOperationWrite, kmsg.ACLOperationCreate,
		kmsg.ACLOperationDelete, kmsg.ACLOperationAlter, kmsg.ACLOperationDescribe,
		kmsg.ACLOperationDescribeConfigs, kmsg.ACLOperationAlterConfigs)
	clusterOperations = aclBits(kmsg.ACLOperationCreate, kmsg.ACLOperationAlter, kmsg.ACLOperationDescribe,
		kmsg.ACLOperationClusterAction, kmsg.ACLOperationDescribeConfigs, kmsg.ACLOperationAlterConfigs,
		kmsg.ACLOperationIdempotentWrite)
)

func aclBits(ops ...kmsg.ACLOperation) int32 {
	var bits int32
	for _, op := range ops {
		bits |= 1 << op
	}
	return bits
}

// handleMetadata describes this broker and the requested topics, all led by
// it at leader epoch 0. With auto-creation on (and allowed by the request
// on v4+), unknown topics are created with the default partition count.
func (b *Broker) handleMetadata(rc *request) (reply, error) {
	req := rc.kreq.(*kmsg.MetadataRequest)
	resp := req.ResponseKind().(*kmsg.MetadataResponse)

	host, port := rc.listener.advertised()
	br := kmsg.NewMetadataResponseBroker()
	br.NodeID, br.Host, br.Port = b.nodeID, host, port
	resp.Brokers = []kmsg.MetadataResponseBroker{br}
	resp.ClusterID = kmsg.StringPtr(b.clusterID)
	resp.ControllerID = b.nodeID
	if req.IncludeClusterAuthorizedOperations {
		resp.AuthorizedOperations = clusterOperations
	}

	addTopic := func(t *topic) {
		rt := kmsg.NewMetadataResponseTopic()
		rt.Topic = kmsg.StringPtr(t.name)
		rt.TopicID = t.id
		if req.IncludeTopicAuthorizedOperations {
			rt.AuthorizedOperations = topicOperations
		}
		for _, p := range t.partitions {
			rp := kmsg.NewMetadataResponseTopicPartition()
			rp.Partition = p.index
			rp.Leader = b.nodeID
			rp.LeaderEpoch = 0
			rp.Replicas = []int32{b.nodeID}
			rp.ISR = []int32{b.nodeID}
			rp.OfflineReplicas = []int32{}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	addError := func(name *string, id [16]byte, err error) {
		rt := kmsg.NewMetadataResponseTopic()
		rt.Topic, rt.TopicID = name, id
		rt.ErrorCode = errorCode(err)
		resp.Topics = append(resp.Topics, rt)
	}

	// All topics: a null list on v1+, an empty one on v0.
	if req.Topics == nil || req.Version == 0 && len(req.Topics) == 0 {
		set := b.topics()
		names := make([]string, 0, len(set.byName))
		for name := range set.byName {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			addTopic(set.byName[name])
		}
		return reply{resp: resp}, nil
	}

	autoCreate := b.cfg.AutoCreateTopics && (req.Version < 4 || req.AllowAutoTopicCreation)
	seen := make(map[string]bool, len(req.Topics))
	for _, rt := range req.Topics {
		var t *topic
		switch {
		case rt.Topic == nil && rt.TopicID != [16]byte{}:
			if t = b.topics().byID[rt.TopicID]; t == nil {
				addError(nil, rt.TopicID, fmt.Errorf("%w: %s", errUnknownTopicID, formatTopicID(rt.TopicID)))
				continue
			}
		case rt.Topic == nil:
			addError(nil, rt.TopicID, fmt.Errorf("%w: neither a name nor an ID", errInvalidTopic))
			continue
		default:
			name := *rt.Topic
			if err := validateTopicName(name); err != nil {
				addError(rt.Topic, [16]byte{}, err)
				continue
			}
			if t = b.topics().byName[name]; t == nil {
				if !autoCreate {
					addError(rt.Topic, [16]byte{}, fmt.Errorf("%w: topic %q", errUnknownTopicOrPartition, name))
					continue
				}
				var err error
				if t, err = b.autoCreateTopic(name); err != nil {
					addError(rt.Topic, [16]byte{}, err)
					continue
				}
			}
		}
		if seen[t.name] {
			continue
		}
		seen[t.name] = true
		addTopic(t)
	}
	return reply{resp: resp}, nil
}

package broker

import (
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/auth"
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

// clusterAuthorizedOperations is the cluster's authorized-operation bit
// field for rc: every operation with authentication off, none without
// DESCRIBE on the cluster (as Kafka).
func (b *Broker) clusterAuthorizedOperations(rc *request) int32 {
	switch {
	case b.authz == nil:
		return clusterOperations
	case !b.allowedCluster(rc, auth.OpDescribe):
		return 0
	}
	return b.authorizedOperations(rc, auth.ResourceCluster, auth.ClusterName, clusterOps)
}

// topicAuthorizedOperations is the topic's authorized-operation bit field
// for rc.
func (b *Broker) topicAuthorizedOperations(rc *request, name string) int32 {
	if b.authz == nil {
		return topicOperations
	}
	return b.authorizedOperations(rc, auth.ResourceTopic, name, topicOps)
}

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
//
// Authorization, as Kafka: a listing of all topics holds only those the
// client may DESCRIBE; a named one it may not is TOPIC_AUTHORIZATION_FAILED
// whether it exists or not, and auto-creation needs CREATE on the cluster
// or the topic (else TOPIC_AUTHORIZATION_FAILED). The authorized-operation
// fields are filled when asked for: the cluster's only for a client that
// may DESCRIBE the cluster (0 otherwise).
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
		resp.AuthorizedOperations = b.clusterAuthorizedOperations(rc)
	}

	addTopic := func(t *topic) {
		rt := kmsg.NewMetadataResponseTopic()
		rt.Topic = kmsg.StringPtr(t.name)
		rt.TopicID = t.id
		if req.IncludeTopicAuthorizedOperations {
			rt.AuthorizedOperations = b.topicAuthorizedOperations(rc, t.name)
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
			if b.allowed(rc, auth.OpDescribe, auth.ResourceTopic, name) {
				addTopic(set.byName[name])
			}
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
			if !b.allowed(rc, auth.OpDescribe, auth.ResourceTopic, t.name) {
				addError(nil, rt.TopicID, errTopicAuthorization)
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
			if !b.allowed(rc, auth.OpDescribe, auth.ResourceTopic, name) {
				addError(rt.Topic, [16]byte{}, errTopicAuthorization)
				continue
			}
			if t = b.topics().byName[name]; t == nil {
				if autoCreate && !b.mayCreateTopic(rc, name) {
					addError(rt.Topic, [16]byte{}, errTopicAuthorization)
					continue
				}
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

package broker

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/auth"
)

// handleCreateTopics creates topics, each with its own answer. A partition
// count of -1 means the broker default; the replication factor must be -1
// or 1, and a manual assignment may only name this broker. Each topic
// needs CREATE on the cluster or on the topic.
func (b *Broker) handleCreateTopics(rc *request) (reply, error) {
	req := rc.kreq.(*kmsg.CreateTopicsRequest)
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)

	count := make(map[string]int, len(req.Topics))
	for _, rt := range req.Topics {
		count[rt.Topic]++
	}
	for i := range req.Topics {
		rt := &req.Topics[i]
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic = rt.Topic
		var err error
		var t *topic
		spec, err := b.createTopicSpec(rt)
		if err == nil && !b.mayCreateTopic(rc, rt.Topic) {
			err = fmt.Errorf("%w: CREATE on the cluster or topic %q is needed", errTopicAuthorization, rt.Topic)
		}
		if err == nil && count[rt.Topic] > 1 {
			err = fmt.Errorf("%w: topic %q listed more than once", errInvalidRequest, rt.Topic)
		}
		if err == nil {
			t, err = b.createTopic(spec, req.ValidateOnly)
		}
		if err != nil {
			st.ErrorCode = errorCode(err)
			st.ErrorMessage = errorMessage(err)
			resp.Topics = append(resp.Topics, st)
			continue
		}
		if t != nil {
			st.TopicID = t.id
		}
		st.NumPartitions = spec.partitions
		st.ReplicationFactor = 1
		if !b.allowed(rc, auth.OpDescribeConfigs, auth.ResourceTopic, rt.Topic) {
			// As Kafka: the configs only for a client that may describe them.
			st.ConfigErrorCode = errorCode(errTopicAuthorization)
			resp.Topics = append(resp.Topics, st)
			continue
		}
		for _, e := range spec.configs.describe(&b.cfg) {
			c := kmsg.NewCreateTopicsResponseTopicConfig()
			c.Name, c.Value = e.name, kmsg.StringPtr(e.value)
			c.ReadOnly, c.Source = e.readOnly, int8(e.source)
			st.Configs = append(st.Configs, c)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return reply{resp: resp}, nil
}

// createTopicSpec checks the parts of a CreateTopics entry that do not
// depend on the existing topics.
func (b *Broker) createTopicSpec(rt *kmsg.CreateTopicsRequestTopic) (topicSpec, error) {
	spec := topicSpec{name: rt.Topic, partitions: rt.NumPartitions, configs: topicConfigs{}}
	for _, c := range rt.Configs {
		if c.Value == nil {
			return spec, fmt.Errorf("%w: null value for %q", errInvalidConfig, c.Name)
		}
		spec.configs[c.Name] = *c.Value
	}
	if len(rt.ReplicaAssignment) > 0 {
		if rt.NumPartitions != -1 || rt.ReplicationFactor != -1 {
			return spec, fmt.Errorf("%w: a replica assignment needs partitions and replication factor -1", errInvalidRequest)
		}
		seen := make(map[int32]bool, len(rt.ReplicaAssignment))
		for _, a := range rt.ReplicaAssignment {
			if a.Partition < 0 || int(a.Partition) >= len(rt.ReplicaAssignment) || seen[a.Partition] {
				return spec, fmt.Errorf("%w: partitions must be 0 to %d, each once", errInvalidAssignment, len(rt.ReplicaAssignment)-1)
			}
			seen[a.Partition] = true
			if len(a.Replicas) != 1 || a.Replicas[0] != b.nodeID {
				return spec, fmt.Errorf("%w: partition %d: the only replica can be broker %d", errInvalidAssignment, a.Partition, b.nodeID)
			}
		}
		spec.partitions = int32(len(rt.ReplicaAssignment))
		return spec, nil
	}
	if rt.ReplicationFactor != -1 && rt.ReplicationFactor != 1 {
		return spec, fmt.Errorf("%w: %d, this cluster has one broker", errInvalidReplication, rt.ReplicationFactor)
	}
	if spec.partitions == -1 {
		spec.partitions = b.cfg.DefaultPartitions
	}
	return spec, nil
}

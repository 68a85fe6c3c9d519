package broker

import (
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/auth"
)

// handleDescribeConfigs describes topic configs (every supported config,
// with DEFAULT_CONFIG or DYNAMIC_TOPIC_CONFIG as its source) and, for the
// broker resource, a short read-only list of static settings. A topic
// needs DESCRIBE_CONFIGS on it, the broker DESCRIBE_CONFIGS on the cluster.
func (b *Broker) handleDescribeConfigs(rc *request) (reply, error) {
	req := rc.kreq.(*kmsg.DescribeConfigsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	for _, rr := range req.Resources {
		r := kmsg.NewDescribeConfigsResponseResource()
		r.ResourceType, r.ResourceName = rr.ResourceType, rr.ResourceName
		err := b.checkConfigAccess(rc, auth.OpDescribeConfigs, rr.ResourceType, rr.ResourceName)
		var entries []configEntry
		if err == nil {
			entries, err = b.describeResource(rr.ResourceType, rr.ResourceName)
		}
		if err != nil {
			r.ErrorCode, r.ErrorMessage = errorCode(err), errorMessage(err)
			resp.Resources = append(resp.Resources, r)
			continue
		}
		var want map[string]bool // nil: all, as for a null or empty list in Kafka
		if len(rr.ConfigNames) > 0 {
			want = make(map[string]bool, len(rr.ConfigNames))
			for _, n := range rr.ConfigNames {
				want[n] = true
			}
		}
		for _, e := range entries {
			if want != nil && !want[e.name] {
				continue
			}
			r.Configs = append(r.Configs, describeEntry(e, req.IncludeSynonyms))
		}
		resp.Resources = append(resp.Resources, r)
	}
	return reply{resp: resp}, nil
}

// checkConfigAccess returns why rc may not perform op (DESCRIBE_CONFIGS or
// ALTER_CONFIGS) on a config resource: TOPIC_AUTHORIZATION_FAILED for a
// topic, CLUSTER_AUTHORIZATION_FAILED for the broker (whose configs are
// the cluster's). Other resource types are left to the handler.
func (b *Broker) checkConfigAccess(rc *request, op auth.Operation, typ kmsg.ConfigResourceType, name string) error {
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
		if !b.allowed(rc, op, auth.ResourceTopic, name) {
			return fmt.Errorf("%w: %s on topic %q is needed", errTopicAuthorization, op, name)
		}
	case kmsg.ConfigResourceTypeBroker:
		if !b.allowedCluster(rc, op) {
			return fmt.Errorf("%w: %s on the cluster is needed", errClusterAuthorization, op)
		}
	}
	return nil
}

func (b *Broker) describeResource(typ kmsg.ConfigResourceType, name string) ([]configEntry, error) {
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
		t := b.topics().byName[name]
		if t == nil {
			return nil, fmt.Errorf("%w: topic %q", errUnknownTopicOrPartition, name)
		}
		return t.configs.describe(&b.cfg), nil
	case kmsg.ConfigResourceTypeBroker:
		if name != "" && name != strconv.Itoa(int(b.nodeID)) {
			return nil, fmt.Errorf("%w: broker %q is not this broker (%d)", errInvalidRequest, name, b.nodeID)
		}
		return b.brokerConfigs(), nil
	}
	return nil, fmt.Errorf("%w: resource type %v is not supported", errInvalidRequest, typ)
}

// describeEntry converts e to its DescribeConfigs form. Synonyms list the
// sources a value could come from, highest precedence first.
func describeEntry(e configEntry, synonyms bool) kmsg.DescribeConfigsResponseResourceConfig {
	c := kmsg.NewDescribeConfigsResponseResourceConfig()
	c.Name, c.Value = e.name, kmsg.StringPtr(e.value)
	c.ReadOnly = e.readOnly
	c.IsDefault = e.source == kmsg.ConfigSourceDefaultConfig || e.source == kmsg.ConfigSourceStaticBrokerConfig
	c.Source = e.source
	c.ConfigType = e.typ
	if synonyms {
		s := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
		s.Name, s.Value, s.Source = e.name, kmsg.StringPtr(e.value), e.source
		c.ConfigSynonyms = append(c.ConfigSynonyms, s)
	}
	return c
}

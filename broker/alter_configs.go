package broker

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/auth"
)

// handleAlterConfigs replaces a topic's explicitly set configs with the
// request's set: configs it does not name return to their defaults.
// Changes apply to the partitions at once and are persisted. Broker
// configs are read-only. A topic needs ALTER_CONFIGS on it, the broker
// ALTER_CONFIGS on the cluster.
func (b *Broker) handleAlterConfigs(rc *request) (reply, error) {
	req := rc.kreq.(*kmsg.AlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	for _, rr := range req.Resources {
		r := kmsg.NewAlterConfigsResponseResource()
		r.ResourceType, r.ResourceName = rr.ResourceType, rr.ResourceName
		err := b.checkConfigAccess(rc, auth.OpAlterConfigs, rr.ResourceType, rr.ResourceName)
		if err == nil {
			err = b.checkAlterResource(rr.ResourceType)
		}
		if err == nil {
			err = b.alterTopicConfigs(rr.ResourceName, req.ValidateOnly, func(topicConfigs) (topicConfigs, error) {
				next := make(topicConfigs, len(rr.Configs))
				for _, c := range rr.Configs {
					if _, dup := next[c.Name]; dup {
						return nil, fmt.Errorf("%w: config %q given twice", errInvalidRequest, c.Name)
					}
					if c.Value == nil {
						return nil, fmt.Errorf("%w: null value for %q", errInvalidConfig, c.Name)
					}
					next[c.Name] = *c.Value
				}
				return next, nil
			})
		}
		r.ErrorCode, r.ErrorMessage = errorCode(err), errorMessage(err)
		resp.Resources = append(resp.Resources, r)
	}
	return reply{resp: resp}, nil
}

// checkAlterResource accepts topics, the only resources whose configs
// can change.
func (b *Broker) checkAlterResource(typ kmsg.ConfigResourceType) error {
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
		return nil
	case kmsg.ConfigResourceTypeBroker:
		return fmt.Errorf("%w: broker configs are read-only; set them with flags", errInvalidRequest)
	}
	return fmt.Errorf("%w: resource type %v is not supported", errInvalidRequest, typ)
}

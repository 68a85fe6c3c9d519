package broker

import (
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/auth"
)

// handleIncrementalAlterConfigs changes single topic configs: SET, DELETE
// (back to the default), and APPEND or SUBTRACT for list configs. Each
// resource's changes apply together or not at all. Authorization as for
// AlterConfigs.
func (b *Broker) handleIncrementalAlterConfigs(rc *request) (reply, error) {
	req := rc.kreq.(*kmsg.IncrementalAlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	for _, rr := range req.Resources {
		r := kmsg.NewIncrementalAlterConfigsResponseResource()
		r.ResourceType, r.ResourceName = rr.ResourceType, rr.ResourceName
		err := b.checkConfigAccess(rc, auth.OpAlterConfigs, rr.ResourceType, rr.ResourceName)
		if err == nil {
			err = b.checkAlterResource(rr.ResourceType)
		}
		if err == nil {
			err = b.alterTopicConfigs(rr.ResourceName, req.ValidateOnly, func(cur topicConfigs) (topicConfigs, error) {
				return b.applyConfigOps(cur, rr.Configs)
			})
		}
		r.ErrorCode, r.ErrorMessage = errorCode(err), errorMessage(err)
		resp.Resources = append(resp.Resources, r)
	}
	return reply{resp: resp}, nil
}

// applyConfigOps applies ops to cur and returns the result.
func (b *Broker) applyConfigOps(cur topicConfigs, ops []kmsg.IncrementalAlterConfigsRequestResourceConfig) (topicConfigs, error) {
	seen := make(map[string]bool, len(ops))
	for _, op := range ops {
		if seen[op.Name] {
			return nil, fmt.Errorf("%w: config %q given twice", errInvalidRequest, op.Name)
		}
		seen[op.Name] = true
		def := lookupTopicConfig(op.Name)
		if def == nil {
			return nil, fmt.Errorf("%w: unknown or unsupported topic config %q", errInvalidConfig, op.Name)
		}
		if op.Op != kmsg.IncrementalAlterConfigOpDelete && op.Value == nil {
			return nil, fmt.Errorf("%w: null value for %q", errInvalidConfig, op.Name)
		}
		switch op.Op {
		case kmsg.IncrementalAlterConfigOpSet:
			cur[op.Name] = *op.Value
		case kmsg.IncrementalAlterConfigOpDelete:
			delete(cur, op.Name)
		case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
			if def.typ != kmsg.ConfigTypeList {
				return nil, fmt.Errorf("%w: %s is not a list config", errInvalidConfig, op.Name)
			}
			v, ok := cur[op.Name]
			if !ok {
				v = def.def(&b.cfg)
			}
			cur[op.Name] = editList(v, *op.Value, op.Op == kmsg.IncrementalAlterConfigOpAppend)
		default:
			return nil, fmt.Errorf("%w: unknown config operation %d", errInvalidRequest, op.Op)
		}
	}
	return cur, nil
}

// editList adds the comma-separated items of change to list (append) or
// removes them (subtract).
func editList(list, change string, add bool) string {
	var items []string
	for it := range strings.SplitSeq(list, ",") {
		if it = strings.TrimSpace(it); it != "" {
			items = append(items, it)
		}
	}
	for it := range strings.SplitSeq(change, ",") {
		it = strings.TrimSpace(it)
		switch {
		case it == "":
		case add && !slices.Contains(items, it):
			items = append(items, it)
		case !add:
			items = slices.DeleteFunc(items, func(s string) bool { return s == it })
		}
	}
	return strings.Join(items, ",")
}

package broker

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/auth"
)

// handleDeleteTopics deletes topics by name or, on v6+, by topic ID. The
// topic disappears from metadata at once; its partition directories are
// removed right after. Each topic needs DELETE on it.
func (b *Broker) handleDeleteTopics(rc *request) (reply, error) {
	req := rc.kreq.(*kmsg.DeleteTopicsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	if req.Version <= 5 {
		for _, name := range req.TopicNames {
			rt := kmsg.NewDeleteTopicsRequestTopic()
			rt.Topic = kmsg.StringPtr(name)
			req.Topics = append(req.Topics, rt)
		}
	}
	for _, rt := range req.Topics {
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		var err error
		var t *topic
		switch {
		case rt.Topic != nil && rt.TopicID != [16]byte{}:
			err = fmt.Errorf("%w: give a topic name or an ID, not both", errInvalidRequest)
		case rt.Topic != nil:
			if !b.allowed(rc, auth.OpDelete, auth.ResourceTopic, *rt.Topic) {
				err = fmt.Errorf("%w: DELETE on topic %q is needed", errTopicAuthorization, *rt.Topic)
				break
			}
			t, err = b.deleteTopic(*rt.Topic, [16]byte{})
		case rt.TopicID != [16]byte{}:
			// As Kafka: an unknown ID is UNKNOWN_TOPIC_ID; a known one
			// needs DESCRIBE (else its name stays hidden) and DELETE.
			if known := b.topics().byID[rt.TopicID]; known != nil && !b.allowed(rc, auth.OpDelete, auth.ResourceTopic, known.name) {
				err = fmt.Errorf("%w: DELETE on topic ID %s is needed", errTopicAuthorization, formatTopicID(rt.TopicID))
				if b.allowed(rc, auth.OpDescribe, auth.ResourceTopic, known.name) {
					st.Topic = kmsg.StringPtr(known.name)
				}
				break
			}
			t, err = b.deleteTopic("", rt.TopicID)
		default:
			err = fmt.Errorf("%w: neither a topic name nor an ID", errInvalidRequest)
		}
		if t != nil {
			st.Topic, st.TopicID = kmsg.StringPtr(t.name), t.id
		}
		st.ErrorCode = errorCode(err)
		st.ErrorMessage = errorMessage(err)
		resp.Topics = append(resp.Topics, st)
	}
	return reply{resp: resp}, nil
}

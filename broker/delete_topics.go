package broker

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleDeleteTopics deletes topics by name or, on v6+, by topic ID. The
// topic disappears from metadata at once; its partition directories are
// removed right after.
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
			t, err = b.deleteTopic(*rt.Topic, [16]byte{})
		case rt.TopicID != [16]byte{}:
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

package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/auth"
	"github.com/strata-io/strata/batch"
	"github.com/strata-io/strata/locallog"
)

// handleProduce appends each partition's record batch to its log, in
// request order, on the connection's reader: that keeps one connection's
// idempotent sequences in order. With acks=all the wait for durability
// (the group commit) happens in finish, off the reader, so the next
// pipelined request is appended meanwhile and shares the fsync.
func (b *Broker) handleProduce(rc *request) (reply, error) {
	req := rc.kreq.(*kmsg.ProduceRequest)
	resp := req.ResponseKind().(*kmsg.ProduceResponse)

	var acksErr error
	switch req.Acks {
	case -1, 0, 1:
	default:
		acksErr = fmt.Errorf("%w: got %d", errInvalidRequiredAcks, req.Acks)
	}

	type wait struct {
		p   *partition
		end int64
		rp  *kmsg.ProduceResponseTopicPartition
	}
	var waits []wait
	failed := false
	resp.Topics = make([]kmsg.ProduceResponseTopic, len(req.Topics))
	for i := range req.Topics {
		rt := &req.Topics[i]
		st := &resp.Topics[i]
		*st = kmsg.NewProduceResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		t, terr := b.produceTopic(rc, req.Version, rt)
		if t != nil {
			st.Topic, st.TopicID = t.name, t.id
		}
		st.Partitions = make([]kmsg.ProduceResponseTopicPartition, len(rt.Partitions))
		for j := range rt.Partitions {
			in := &rt.Partitions[j]
			rp := &st.Partitions[j]
			*rp = kmsg.NewProduceResponseTopicPartition()
			rp.Partition = in.Partition
			err := acksErr
			if err == nil {
				err = terr
			}
			var p *partition
			if err == nil {
				p, err = t.partition(in.Partition)
			}
			var res locallog.AppendResult
			if err == nil {
				res, err = b.appendBatch(t, p, in.Records)
			}
			if err != nil {
				failed = true
				rp.BaseOffset = -1
				rp.ErrorCode = errorCode(err)
				if req.Version >= 8 {
					rp.ErrorMessage = errorMessage(err)
				}
				continue
			}
			rp.BaseOffset = res.BaseOffset
			rp.LogStartOffset = res.LogStart
			waits = append(waits, wait{p: p, end: res.LastOffset + 1, rp: rp})
		}
	}

	switch {
	case req.Acks == 0:
		return reply{noResponse: true, closeConn: failed}, nil
	case req.Acks == 1 || len(waits) == 0:
		return reply{resp: resp}, nil
	}
	timeout := time.Duration(req.TimeoutMillis) * time.Millisecond
	finish := func() kmsg.Response {
		// A timeout of zero or less would fail every acks=all request
		// with fsync on, so it means no limit beyond the connection's.
		ctx, cancel := rc.ctx, context.CancelFunc(func() {})
		if timeout > 0 {
			ctx, cancel = context.WithTimeout(rc.ctx, timeout)
		}
		defer cancel()
		fail := func(w wait, err error) {
			w.rp.BaseOffset, w.rp.LogStartOffset = -1, -1
			w.rp.ErrorCode = errorCode(err)
			if req.Version >= 8 {
				w.rp.ErrorMessage = errorMessage(err)
			}
		}
		// One after the other: the write-ahead log's first fsync covers
		// every partition of the request (all appended before this runs),
		// so the later waits find their records durable already.
		for _, w := range waits {
			if err := w.p.log.WaitDurable(ctx, w.end); err != nil {
				fail(w, storageErr(err))
			}
		}
		return resp
	}
	return reply{resp: resp, finish: finish}, nil
}

// produceTopic resolves a produce request's topic: by ID on v13+, else by
// name, creating it if auto-creation is on. The client needs WRITE on the
// topic (TOPIC_AUTHORIZATION_FAILED, checked before the topic is looked
// up by name, so its existence is not revealed), and to auto-create it
// CREATE on the cluster or the topic.
func (b *Broker) produceTopic(rc *request, version int16, rt *kmsg.ProduceRequestTopic) (*topic, error) {
	if version >= 13 {
		t := b.topics().byID[rt.TopicID]
		switch {
		case t == nil:
			return nil, fmt.Errorf("%w: %s", errUnknownTopicID, formatTopicID(rt.TopicID))
		case !b.allowed(rc, auth.OpWrite, auth.ResourceTopic, t.name):
			return nil, fmt.Errorf("%w: WRITE on topic ID %s is needed", errTopicAuthorization, formatTopicID(rt.TopicID))
		}
		return t, nil
	}
	if !b.allowed(rc, auth.OpWrite, auth.ResourceTopic, rt.Topic) {
		return nil, fmt.Errorf("%w: WRITE on topic %q is needed", errTopicAuthorization, rt.Topic)
	}
	if t := b.topics().byName[rt.Topic]; t != nil {
		return t, nil
	}
	if !b.cfg.AutoCreateTopics || !b.mayCreateTopic(rc, rt.Topic) {
		return nil, fmt.Errorf("%w: topic %q", errUnknownTopicOrPartition, rt.Topic)
	}
	return b.autoCreateTopic(rt.Topic)
}

// mayCreateTopic reports whether rc may create the topic: CREATE on the
// cluster or on the topic.
func (b *Broker) mayCreateTopic(rc *request, name string) bool {
	return b.allowedCluster(rc, auth.OpCreate) || b.allowed(rc, auth.OpCreate, auth.ResourceTopic, name)
}

// appendBatch checks one partition's records and appends them. records
// must be exactly one batch (Kafka requires it from Produce v3 on), no
// larger than the topic's max.message.bytes, valid, and not transactional.
func (b *Broker) appendBatch(t *topic, p *partition, records []byte) (locallog.AppendResult, error) {
	if err := b.writable(); err != nil {
		return locallog.AppendResult{}, err
	}
	if limit := t.settings.maxMessageBytes; len(records) > int(limit) {
		return locallog.AppendResult{}, fmt.Errorf("%w: %d bytes, max.message.bytes of %s is %d", errMessageTooLarge, len(records), t.name, limit)
	}
	h, err := batch.Validate(records)
	if err != nil {
		return locallog.AppendResult{}, err
	}
	if h.Transactional() {
		return locallog.AppendResult{}, fmt.Errorf("%w: transactional batch from producer %d", errTransactionsUnsupported, h.ProducerID)
	}
	if err := b.admit(p, len(records)); err != nil {
		return locallog.AppendResult{}, err
	}
	res, err := p.log.Append(records)
	if err != nil {
		return res, fmt.Errorf("%s[%d]: %w", t.name, p.index, storageErr(err))
	}
	b.appended(p, len(records))
	if !res.Duplicate {
		b.metrics.produceBytes.Add(float64(len(records)))
		b.metrics.produceRecords.Add(float64(res.LastOffset - res.BaseOffset + 1))
	}
	return res, nil
}

// storageErr marks err from the local log as a storage error unless it
// already has a Kafka code of its own.
func storageErr(err error) error {
	for _, e := range errorCodes {
		if errors.Is(err, e.err) {
			return err
		}
	}
	return fmt.Errorf("%w: %w", errStorage, err)
}

package broker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/auth"
	"github.com/strata-io/strata/batch"
	"github.com/strata-io/strata/locallog"
)

// maxFetchBytes caps a fetch's MaxBytes, as Kafka's broker setting
// fetch.max.bytes does (same default): a client cannot make the broker
// build an answer of gigabytes. The first batch may still exceed it
// (KIP-74).
const maxFetchBytes = 55 << 20

// fetchTarget is one partition of a fetch and where its answer goes.
type fetchTarget struct {
	p        *partition // nil when err is set
	err      error
	offset   int64
	maxBytes int32
	rp       *kmsg.FetchResponseTopicPartition
	// parts is rp's record data as it lies in memory, nil for none; see
	// fetchAnswer.
	parts [][]byte
}

// fetchAnswer is a Fetch response whose partitions' record data is held
// by their targets as parts, as it was read: one slice of the local log's
// read window, or a piece of each cached block of a remote segment. The
// connection writes the parts where they lie (fetchFrame), so that record
// bytes are not copied into the response on their way to the client.
// Encoded with AppendTo, as any response, it joins the parts first.
type fetchAnswer struct {
	*kmsg.FetchResponse
	targets []fetchTarget // one per partition of the response, in order
}

// records returns the parts of each partition, in the order of the
// response's partitions.
func (a *fetchAnswer) records() [][][]byte {
	out := make([][][]byte, len(a.targets))
	for i := range a.targets {
		out[i] = a.targets[i].parts
	}
	return out
}

// recordBytes returns how many bytes of record data the answer holds.
func (a *fetchAnswer) recordBytes() int {
	n := 0
	for i := range a.targets {
		for _, p := range a.targets[i].parts {
			n += len(p)
		}
	}
	return n
}

// AppendTo encodes the answer with each partition's parts joined into its
// RecordBatches.
func (a *fetchAnswer) AppendTo(dst []byte) []byte {
	for i := range a.targets {
		if ft := &a.targets[i]; len(ft.parts) > 1 {
			ft.rp.RecordBatches = slices.Concat(ft.parts...)
		}
	}
	return a.FetchResponse.AppendTo(dst)
}

// handleFetch reads each requested partition from its local log. If the
// answer holds fewer than MinBytes and no partition failed, it waits (in
// finish, off the connection's reader) until appends make enough data
// visible or MaxWait passes. Appends wake it through Partition.Watch; the
// MaxWait timer only ends the wait.
//
// Fetch sessions (KIP-227) are not supported: a request to create one is
// answered with session ID 0, which tells the client to keep sending full
// fetches, and an incremental fetch gets FETCH_SESSION_ID_NOT_FOUND.
func (b *Broker) handleFetch(rc *request) (reply, error) {
	req := rc.kreq.(*kmsg.FetchRequest)
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	ans := &fetchAnswer{FetchResponse: resp}
	if req.Version >= 7 && req.SessionEpoch > 0 {
		resp.ErrorCode = errorCode(errFetchSessionNotFound)
		return reply{resp: resp}, nil
	}

	// The set the partitions are resolved in; a long poll watches it for
	// deletions.
	set := b.topics()
	targets := fetchTargets(set, req, resp, func(name string) bool {
		return b.allowed(rc, auth.OpRead, auth.ResourceTopic, name)
	})
	ans.targets = targets
	fill := func() (nbytes int, failed bool) {
		maxBytes := min(req.MaxBytes, maxFetchBytes)
		b.prefetchRemote(rc.ctx, targets, maxBytes)
		budget, minOne := int(maxBytes), true
		for i := range targets {
			n, err := b.fillPartition(rc.ctx, &targets[i], req.IsolationLevel, &budget, &minOne)
			nbytes += n
			failed = failed || err != nil
		}
		return nbytes, failed
	}
	nbytes, failed := fill()
	wait := time.Duration(req.MaxWaitMillis)*time.Millisecond - time.Since(rc.at)
	if failed || nbytes >= int(req.MinBytes) || wait <= 0 || len(targets) == 0 {
		return reply{resp: ans}, nil
	}

	wake := make(chan struct{}, 1)
	notify := func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	cancels := make([]func(), 0, len(targets))
	for _, ft := range targets {
		cancels = append(cancels, ft.p.log.Watch(notify))
	}
	// moved reports whether any partition's bounds changed since its
	// answer was last read; only then can a new read find more.
	moved := func() bool {
		for _, ft := range targets {
			o := ft.p.effectiveOffsets()
			if o.HighWatermark != ft.rp.HighWatermark || o.LogStart != ft.rp.LogStartOffset {
				return true
			}
		}
		return false
	}
	b.waitingFetches.Add(1)
	finish := func() kmsg.Response {
		defer func() {
			for _, cancel := range cancels {
				cancel()
			}
			b.waitingFetches.Add(-1)
		}()
		timer := time.NewTimer(wait)
		defer timer.Stop()
		for {
			// Checked before every wait, so an append between the
			// first read and the Watch registration is not missed.
			if moved() {
				if nbytes, failed := fill(); failed || nbytes >= int(req.MinBytes) {
					return ans
				}
			}
			select {
			case <-wake:
				continue
			case <-set.replaced:
				// Topics changed; if one of ours is gone, answer now (its
				// partitions report the error).
				if set = b.topics(); allPresent(set, targets) {
					continue
				}
				markDeleted(set, targets)
			case <-timer.C:
			case <-rc.pollCtx.Done(): // shutting down: answer with what there is
			}
			fill()
			return ans
		}
	}
	return reply{resp: ans, finish: finish}, nil
}

// allPresent reports whether every target's topic is still in set.
func allPresent(set *topicSet, targets []fetchTarget) bool {
	for _, ft := range targets {
		if set.byID[ft.p.topicID] == nil {
			return false
		}
	}
	return true
}

// markDeleted gives each target whose topic is no longer in set the error
// a fetch of an unknown topic gets, so the answer does not depend on how
// far the deletion of its log has got.
func markDeleted(set *topicSet, targets []fetchTarget) {
	for i := range targets {
		if ft := &targets[i]; ft.p != nil && set.byID[ft.p.topicID] == nil {
			ft.err = fmt.Errorf("%w: topic deleted during the fetch", errUnknownTopicOrPartition)
		}
	}
}

// fetchTargets lays out the response, one topic per request topic and one
// partition per request partition, and resolves each partition. A topic
// mayRead refuses is TOPIC_AUTHORIZATION_FAILED: by name before it is
// looked up, by ID (which only its topic's clients know) once the ID is
// known.
func fetchTargets(set *topicSet, req *kmsg.FetchRequest, resp *kmsg.FetchResponse, mayRead func(topic string) bool) []fetchTarget {
	var targets []fetchTarget
	resp.Topics = make([]kmsg.FetchResponseTopic, len(req.Topics))
	for i := range req.Topics {
		rt := &req.Topics[i]
		st := &resp.Topics[i]
		*st = kmsg.NewFetchResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		var t *topic
		var terr error
		if req.Version >= 13 {
			if t = set.byID[rt.TopicID]; t == nil {
				terr = fmt.Errorf("%w: %s", errUnknownTopicID, formatTopicID(rt.TopicID))
			} else if !mayRead(t.name) {
				t, terr = nil, fmt.Errorf("%w: READ on topic ID %s is needed", errTopicAuthorization, formatTopicID(rt.TopicID))
			}
		} else if !mayRead(rt.Topic) {
			terr = fmt.Errorf("%w: READ on topic %q is needed", errTopicAuthorization, rt.Topic)
		} else if t = set.byName[rt.Topic]; t == nil {
			terr = fmt.Errorf("%w: topic %q", errUnknownTopicOrPartition, rt.Topic)
		}
		if t != nil {
			st.Topic, st.TopicID = t.name, t.id
		}
		st.Partitions = make([]kmsg.FetchResponseTopicPartition, len(rt.Partitions))
		for j := range rt.Partitions {
			in := &rt.Partitions[j]
			rp := &st.Partitions[j]
			*rp = kmsg.NewFetchResponseTopicPartition()
			rp.Partition = in.Partition
			ft := fetchTarget{err: terr, offset: in.FetchOffset, maxBytes: in.PartitionMaxBytes, rp: rp}
			if ft.err == nil {
				ft.p, ft.err = t.partition(in.Partition)
			}
			if ft.err == nil {
				ft.err = checkLeaderEpoch(in.CurrentLeaderEpoch)
			}
			if ft.err != nil {
				ft.p = nil
			}
			targets = append(targets, ft)
		}
	}
	return targets
}

// prefetchRemote starts, all at once, the bucket reads that the partitions
// of a fetch whose offsets live in the remote tier will need, so that their
// round trips overlap instead of adding up partition after partition. It
// only warms the remote reader's cache; the answer is then read partition by
// partition by fillPartition, each from the one segment resolve picks.
// Failures are left for that read to report.
func (b *Broker) prefetchRemote(ctx context.Context, targets []fetchTarget, maxBytes int32) {
	if b.tiers == nil {
		return
	}
	var wg sync.WaitGroup
	for i := range targets {
		ft := &targets[i]
		if ft.err != nil || ft.p.tier == nil {
			continue
		}
		r, err := b.resolve(ctx, ft.p, ft.offset)
		if err != nil || r.tier != tierRemote {
			continue
		}
		wg.Go(func() {
			_ = b.tiers.reader.Prefetch(ctx, ft.p.tier.prefix, r.entry, ft.offset, min(ft.maxBytes, maxBytes))
		})
	}
	wg.Wait()
}

// fillPartition (re)writes ft's answer from its log and returns the bytes
// it holds. budget is what is left of the request's MaxBytes; minOne is
// true until some partition returned data, and lets the first batch exceed
// the limits so that a consumer always makes progress (KIP-74).
func (b *Broker) fillPartition(ctx context.Context, ft *fetchTarget, isolation int8, budget *int, minOne *bool) (int, error) {
	rp := ft.rp
	rp.RecordBatches = []byte{} // not null: some clients reject a null record set
	rp.AbortedTransactions = nil
	ft.parts = nil
	if ft.err != nil {
		rp.ErrorCode = errorCode(ft.err)
		rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = -1, -1, -1
		b.metrics.fetchFailed(ft.err)
		return 0, ft.err
	}
	parts, n, offs, err := b.readPartition(ctx, ft.p, ft.offset, ft.maxBytes, budget, minOne)
	rp.ErrorCode = errorCode(err)
	// No transactions: everything below the high watermark is stable.
	rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = offs.HighWatermark, offs.HighWatermark, offs.LogStart
	if err != nil {
		b.metrics.fetchFailed(err)
		return 0, err
	}
	b.metrics.fetchBytes.Add(float64(n))
	if isolation == 1 {
		rp.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
	}
	ft.parts = parts
	if len(parts) == 1 {
		rp.RecordBatches = parts[0]
	}
	return n, nil
}

// readPartition answers one partition of a fetch with a single read: whole
// batches from the one segment, remote or local, that holds offset (see
// resolve), up to maxBytes and what is left of budget (the first batch of
// a fetch may exceed both, so a consumer always makes progress). It
// returns the data as the parts it lies in, and its size. The answer stops
// at the segment's end and the client's next fetch goes on from there
// (DESIGN.md, "the one rule"): nothing is stitched together from two
// segments.
func (b *Broker) readPartition(ctx context.Context, p *partition, offset int64, maxBytes int32, budget *int, minOne *bool) ([][]byte, int, locallog.Offsets, error) {
	room := min(int(maxBytes), *budget)
	if room < batch.HeaderSize && !*minOne {
		return nil, 0, p.effectiveOffsets(), nil
	}
	parts, offs, err := b.readAt(ctx, p, offset, int32(max(room, 1))) // 1: the first batch, whatever its size
	if errors.Is(err, locallog.ErrOffsetOutOfRange) && offset > offs.HighWatermark && offset <= offs.LogEnd {
		// Written but not yet visible (with fsync always, not yet
		// durable): like Kafka between the high watermark and the log
		// end, nothing to return yet, and no error.
		return nil, 0, offs, nil
	}
	if err != nil {
		return nil, 0, offs, storageErr(err)
	}
	n := 0
	for _, part := range parts {
		n += len(part)
	}
	if n > room && !*minOne {
		return nil, 0, offs, nil
	}
	if n > 0 {
		*minOne = false
		*budget -= n
	}
	return parts, n, offs, nil
}

// checkLeaderEpoch checks a request's current leader epoch against the
// broker's, which is always 0; -1 means the client does not know it.
func checkLeaderEpoch(epoch int32) error {
	switch {
	case epoch == -1 || epoch == 0:
		return nil
	case epoch > 0:
		return fmt.Errorf("%w: %d, the broker's is 0", errUnknownLeaderEpoch, epoch)
	}
	return fmt.Errorf("%w: %d, the broker's is 0", errFencedLeaderEpoch, epoch)
}

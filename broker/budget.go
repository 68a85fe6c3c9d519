package broker

import (
	"errors"
	"fmt"
	"sync/atomic"
)

// errLocalBudget: a produce would take the bytes held only on local disk
// over Config.LocalBudgetBytes, because uploads to the bucket fall behind
// (or the bucket is unavailable). The batch is not appended.
//
// It maps to KAFKA_STORAGE_ERROR, which every mainstream client retries
// with the same batch (and, for idempotent producers, the same sequence):
// franz-go (kerr marks it retriable; kgo's sink retries retriable produce
// errors), the Java client (KafkaStorageException is a retriable
// InvalidMetadataException: refresh metadata, then retry) and librdkafka
// (refresh and retry). NOT_ENOUGH_REPLICAS is retried as well but would
// tell operators about replicas this single broker does not have; a
// storage error names the actual cause, and it is what the broker already
// answers when the remote tier cannot serve a read.
var errLocalBudget = errors.New("local disk budget for data not yet in the bucket is used up; uploads are behind")

// localBudget bounds the bytes of tiered partitions held only locally: at
// or above each partition's remote end. held is an estimate: it is
// recomputed from the local logs' segments after each upload commit and
// on every remote-retention tick (RetentionCheckInterval), and the produce
// path adds the bytes it appends in between. So the budget is soft by at
// most the appends racing one recomputation, and the check costs one
// atomic load per partition of a produce request, whatever the number of
// partitions.
type localBudget struct {
	limit int64 // < 0: unlimited
	held  atomic.Int64
	over  atomic.Bool // last reported state, for logging changes only
}

// localOnlyBytes sums, over the tiered partitions, the local segments not
// wholly below the remote end: the active segment and the sealed segments
// not yet uploaded.
func (b *Broker) localOnlyBytes() int64 {
	var total int64
	for _, tp := range b.topics().byName {
		for _, p := range tp.partitions {
			if p.tier == nil {
				continue
			}
			remoteEnd := p.log.RemoteEnd()
			for _, seg := range p.log.Segments() {
				if seg.EndOffset > remoteEnd || !seg.Sealed {
					total += seg.SizeBytes
				}
			}
		}
	}
	return total
}

// recountBudget recomputes the bytes held only locally.
func (b *Broker) recountBudget() {
	if b.tiers == nil || b.budget.limit < 0 {
		return
	}
	b.budget.held.Store(b.localOnlyBytes())
}

// admit checks that appending n bytes to tiered partition p keeps within
// the local budget, and returns a retriable error if it would not. Once
// over, produce is refused until the bytes held only locally are below 90%
// of the budget, so that the state (and its log lines) does not flap with
// every upload near the edge. The state changes are logged, not each
// refusal.
func (b *Broker) admit(p *partition, n int) error {
	if p.tier == nil || b.budget.limit < 0 {
		return nil
	}
	limit := b.budget.limit
	over := b.budget.over.Load()
	if over {
		limit -= limit / 10
	}
	held := b.budget.held.Load()
	if held+int64(n) <= limit {
		if over && b.budget.over.CompareAndSwap(true, false) {
			b.logger.Info("local budget: uploads caught up, produce to tiered partitions resumes",
				"local_only_bytes", held, "budget_bytes", b.budget.limit)
		}
		return nil
	}
	if !over && b.budget.over.CompareAndSwap(false, true) {
		b.logger.Warn("local budget used up: produce to tiered partitions fails with a retriable error until uploads catch up",
			"local_only_bytes", held, "budget_bytes", b.budget.limit)
	}
	return fmt.Errorf("%w: %s[%d]: %d bytes held only locally, budget %d", errLocalBudget, p.topic, p.index, held, b.budget.limit)
}

// appended counts n bytes appended to p against the budget.
func (b *Broker) appended(p *partition, n int) {
	if p.tier != nil && b.budget.limit >= 0 {
		b.budget.held.Add(int64(n))
	}
}

package broker

import (
	"context"
	"fmt"
	"math"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/auth"
)

// producerIDBlock is how many producer IDs one metadata write reserves.
const producerIDBlock = 1000

// handleInitProducerID hands an idempotent producer a new producer ID with
// epoch 0. As in Kafka, a producer without a transactional ID that sends
// its current ID and epoch (v3+, KIP-360) also gets a fresh ID: new IDs are
// as good as a bumped epoch and never collide. Transactional IDs are
// refused: the broker does not support transactions.
func (b *Broker) handleInitProducerID(rc *request) (reply, error) {
	req := rc.kreq.(*kmsg.InitProducerIDRequest)
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	if req.TransactionalID != nil {
		resp.ErrorCode = errorCode(fmt.Errorf("%w: transactional id %q", errTransactionsUnsupported, *req.TransactionalID))
		return reply{resp: resp}, nil
	}
	// Kafka 3.x: IDEMPOTENT_WRITE on the cluster, or WRITE on some topic.
	if !b.allowedCluster(rc, auth.OpIdempotentWrite) && !b.allowedOnSomeTopic(rc, auth.OpWrite) {
		resp.ErrorCode = errorCode(fmt.Errorf("%w: IDEMPOTENT_WRITE on the cluster or WRITE on a topic is needed", errClusterAuthorization))
		return reply{resp: resp}, nil
	}
	if err := b.writable(); err != nil {
		resp.ErrorCode = errorCode(fmt.Errorf("%w: %w", errClusterReadOnly, err))
		return reply{resp: resp}, nil
	}
	id, err := b.allocateProducerID()
	if err != nil {
		b.logger.Error("allocate producer id", "err", err)
		resp.ErrorCode = errorCode(err)
		return reply{resp: resp}, nil
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return reply{resp: resp}, nil
}

// allocateProducerID returns a producer ID never handed out before, even
// across restarts and rebuilds from the bucket: IDs are reserved in blocks
// whose end is persisted in the metadata file, and with tiering in the
// bucket's cluster.json, before any ID of the block is used. While the
// bucket cannot be written, a new block is refused with a retriable error
// (the producer retries InitProducerID); IDs of the current block are
// still handed out.
func (b *Broker) allocateProducerID() (int64, error) {
	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	if b.pidNext >= b.pidBlockEnd {
		if b.pidBlockEnd > math.MaxInt64-producerIDBlock {
			return 0, fmt.Errorf("%w: producer IDs exhausted", errStorage)
		}
		end := b.pidNext + producerIDBlock
		if err := b.saveMetaLocked(b.topics().byName, end); err != nil {
			return 0, err
		}
		if b.tiers != nil {
			ctx, cancel := context.WithTimeout(context.Background(), bucketMetaTimeout)
			err := b.putProducerIDBlock(ctx, end)
			cancel()
			if err != nil {
				return 0, fmt.Errorf("%w: record producer ids below %d in the bucket: %w", errCoordinatorNotAvailable, end, err)
			}
		}
		b.pidBlockEnd = end
	}
	id := b.pidNext
	b.pidNext++
	return id, nil
}

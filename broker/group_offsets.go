package broker

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Committed offsets of a group (group.go has the membership protocol):
// which commits a group accepts, fetches, deletes and expiry.

// commitRequest is an OffsetCommit's group part.
type commitRequest struct {
	memberID, instanceID string
	generation           int32
}

// commit stores offsets for groupID after Kafka's checks: a commit outside
// group management (generation -1, no member) is accepted only by an empty
// group; a member's needs its current generation; a group completing a
// rebalance answers REBALANCE_IN_PROGRESS, while one preparing it still
// accepts its current generation's commits (the consumers commit as they
// give up partitions). The offsets are on local disk when it returns nil.
func (c *coordinator) commit(groupID string, cr commitRequest, offsets map[topicPartition]committedOffset) error {
	g := c.lockGroup(groupID, cr.generation < 0)
	switch {
	case g == nil && cr.generation >= 0:
		// As Kafka: a member of a group that is gone commits for a
		// generation that no longer exists.
		return fmt.Errorf("%w: group %q does not exist", errIllegalGeneration, groupID)
	case g == nil:
		return fmt.Errorf("%w: shutting down", errCoordinatorNotAvailable)
	}
	defer g.mu.Unlock()
	switch {
	case cr.generation < 0 && len(g.members) == 0 && g.state == groupEmpty:
	case cr.generation >= 0 || cr.memberID != "" || cr.instanceID != "":
		m, err := g.checkMemberLocked(cr.memberID, cr.instanceID)
		if err != nil {
			return err
		}
		if cr.generation != g.generation {
			return fmt.Errorf("%w: generation %d, the group is at %d", errIllegalGeneration, cr.generation, g.generation)
		}
		if g.state == groupCompletingRebalance {
			return fmt.Errorf("%w: group %q", errRebalanceInProgress, g.id)
		}
		g.touchLocked(m)
	default:
		return fmt.Errorf("%w: group %q has members; only they commit", errUnknownMemberID, g.id)
	}
	prev := make(map[topicPartition]committedOffset, len(offsets))
	for tp, o := range offsets {
		if old, ok := g.offsets[tp]; ok {
			prev[tp] = old
		}
		g.offsets[tp] = o
	}
	if err := g.persistLocked(); err != nil {
		// Not on disk: not committed, so not served by OffsetFetch either.
		for tp := range offsets {
			if old, ok := prev[tp]; ok {
				g.offsets[tp] = old
			} else {
				delete(g.offsets, tp)
			}
		}
		return err
	}
	return nil
}

// fetchOffsets returns groupID's committed offsets, all of them when
// wanted is nil.
func (c *coordinator) fetchOffsets(groupID string) map[topicPartition]committedOffset {
	g := c.lockGroup(groupID, false)
	if g == nil {
		return nil
	}
	defer g.mu.Unlock()
	out := make(map[topicPartition]committedOffset, len(g.offsets))
	for tp, o := range g.offsets {
		out[tp] = o
	}
	return out
}

// deleteGroup deletes an empty group with its offsets.
func (c *coordinator) deleteGroup(groupID string) error {
	g := c.lockGroup(groupID, false)
	if g == nil {
		return fmt.Errorf("%w: %q", errGroupIDNotFound, groupID)
	}
	defer g.mu.Unlock()
	if len(g.members) > 0 || g.state != groupEmpty {
		return fmt.Errorf("%w: %q is %s with %d members", errNonEmptyGroup, groupID, g.state, len(g.members))
	}
	c.removeGroupLocked(g)
	return nil
}

// removeGroupLocked deletes g, whose lock the caller holds, from the map
// and from storage.
func (c *coordinator) removeGroupLocked(g *group) {
	g.dead = true
	g.setStateLocked(groupDead)
	g.stopTimersLocked()
	c.mu.Lock()
	if c.groups[g.id] == g {
		delete(c.groups, g.id)
	}
	c.mu.Unlock()
	c.store.remove(g.id)
	c.logger.Info("group deleted", "group", g.id)
}

// deleteOffsets deletes committed offsets of groupID (OffsetDelete). The
// offsets of a topic that a member of the group subscribes to stay, with
// GROUP_SUBSCRIBED_TO_TOPIC.
func (c *coordinator) deleteOffsets(groupID string, tps []topicPartition) (map[topicPartition]error, error) {
	g := c.lockGroup(groupID, false)
	if g == nil {
		return nil, fmt.Errorf("%w: %q", errGroupIDNotFound, groupID)
	}
	defer g.mu.Unlock()
	if g.state == groupDead {
		return nil, fmt.Errorf("%w: %q", errGroupIDNotFound, groupID)
	}
	subscribed := g.subscribedTopicsLocked()
	errs := make(map[topicPartition]error)
	changed := false
	for _, tp := range tps {
		if subscribed[tp.topic] {
			errs[tp] = fmt.Errorf("%w: %s", errGroupSubscribedToTopic, tp.topic)
			continue
		}
		if _, ok := g.offsets[tp]; ok {
			delete(g.offsets, tp)
			changed = true
		}
	}
	if changed {
		if err := g.persistLocked(); err != nil {
			return nil, err
		}
	}
	return errs, nil
}

// subscribedTopicsLocked returns the topics the members of a consumer
// group subscribe to, from their protocol metadata.
func (g *group) subscribedTopicsLocked() map[string]bool {
	out := make(map[string]bool)
	if g.protocolType != "consumer" {
		return out
	}
	for _, m := range g.members {
		for _, p := range m.protocols {
			if p.Name != g.protocol && g.protocol != "" {
				continue
			}
			var md kmsg.ConsumerMemberMetadata
			if md.ReadFrom(p.Metadata) != nil {
				continue
			}
			for _, t := range md.Topics {
				out[t] = true
			}
		}
	}
	return out
}

// expireOffsets drops offsets that offsets.retention.minutes no longer
// keeps: in a group without members, those of a group using the group
// protocol once it has been empty that long, and those of a group that
// only stores offsets that long after their commit (Kafka's rules since
// KIP-211). A group left with neither members nor offsets is deleted.
func (c *coordinator) expireOffsets(now time.Time) {
	for _, g := range c.snapshotGroups() {
		g.mu.Lock()
		if g.dead || g.state != groupEmpty {
			g.mu.Unlock()
			continue
		}
		n := 0
		for tp, o := range g.offsets {
			since := o.committed
			if g.protocolType != "" {
				since = g.stateSince
			}
			if now.Sub(since) >= c.cfg.retention {
				delete(g.offsets, tp)
				n++
			}
		}
		switch {
		case len(g.offsets) == 0:
			c.logger.Info("offsets expired; removing the empty group", "group", g.id, "expired", n)
			c.removeGroupLocked(g)
		case n > 0:
			c.logger.Info("offsets expired", "group", g.id, "expired", n)
			_ = g.persistLocked() // logged; the next check tries again
		}
		g.mu.Unlock()
	}
}

// maxOffsetMetadataBytes is offset.metadata.max.bytes: the longest
// metadata string a committed offset may carry.
const maxOffsetMetadataBytes = 4096

// runOffsetExpiry expires offsets every offsetsRetentionCheck until ctx
// ends.
func (b *Broker) runOffsetExpiry(ctx context.Context) {
	t := time.NewTicker(b.cfg.offsetsRetentionCheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			b.groups.expireOffsets(now)
		}
	}
}

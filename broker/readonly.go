package broker

import (
	"context"
	"errors"
	"fmt"
	"maps"

	"github.com/strata-io/strata/objectstore"
	"github.com/strata-io/strata/tiering"
)

// A read-only broker (Config.ReadOnly) serves the topics another broker
// writes to a bucket, and never writes to the bucket itself. Several may
// serve one bucket.
//
// Its topics are the bucket's topic.json objects; each partition's home is
// the remote tier alone. The partition still has a local log, always
// empty, that starts at the followed manifest's remote end: it gives the
// partition its high watermark, its log end, and the wake-ups of long-poll
// fetches, and resolve sends every offset below the remote end to the
// bucket as on any tiered partition. Every PollInterval the broker reloads
// the topic list and each manifest; a manifest that moved is stored first
// and the local log skipped to its remote end after (locallog SkipTo), so a
// fetch never finds an offset in neither tier: a committed segment becomes
// readable at the next poll, and a segment that is uploaded but not
// committed never is. Nothing local outlives a restart: the partitions are
// made anew from the bucket at Open.
//
// Produce, InitProducerID, DeleteRecords and the topic admin writes are
// refused with an authorization error, which clients do not retry.

// writable returns errReadOnly on a read-only broker.
func (b *Broker) writable() error {
	if b.cfg.ReadOnly {
		return errReadOnly
	}
	return nil
}

// openReadOnly makes the topics of the bucket, for Open on a read-only
// broker. Bucket errors are retried until ctx ends.
func (b *Broker) openReadOnly(ctx context.Context) (map[string]*topic, error) {
	err := b.withBucketRetry(ctx, "read cluster metadata from the bucket", func(ctx context.Context) error {
		id, err := readBucketClusterID(ctx, b.tiers.bucket)
		if err == nil && id != "" {
			b.clusterID = id
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	mts, err := b.listBucketTopics(ctx)
	if err != nil {
		return nil, err
	}
	topics := make(map[string]*topic, len(mts))
	for _, mt := range mts {
		t, err := b.followTopic(ctx, mt, nil)
		if err != nil {
			return nil, err
		}
		topics[t.name] = t
	}
	return topics, nil
}

// readBucketClusterID returns the cluster id cluster.json records, or ""
// if there is none.
func readBucketClusterID(ctx context.Context, bucket objectstore.Bucket) (string, error) {
	body, _, err := bucket.Get(ctx, clusterMetaKey)
	if errors.Is(err, objectstore.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	bc, err := decodeBucketCluster(body)
	if err != nil {
		return "", &permanentError{err}
	}
	return bc.ClusterID, nil
}

// followTopic returns the topic mt describes with the partitions it lacks
// made: all of them for a new topic (old nil), or those beyond old's.
func (b *Broker) followTopic(ctx context.Context, mt metaTopic, old *topic) (*topic, error) {
	id, err := parseTopicID(mt.ID)
	if err != nil {
		return nil, err
	}
	t := &topic{name: mt.Name, id: id, configs: topicConfigs(mt.Configs)}
	if old != nil {
		t.partitions = old.partitions[:len(old.partitions):len(old.partitions)]
	}
	if t.configs == nil {
		t.configs = topicConfigs{}
	}
	if t.settings, err = t.configs.settings(&b.cfg); err != nil {
		return nil, fmt.Errorf("topic %s: %w", t.name, err)
	}
	pcfg := t.settings.partitionConfig(true)
	for i := int32(len(t.partitions)); i < mt.Partitions; i++ {
		prefix := tiering.PartitionPrefix(id, i)
		m, err := b.loadFollowed(ctx, prefix)
		if err != nil {
			return nil, err
		}
		name := partitionDir(id, i)
		if err := b.log.RemovePartition(name); err != nil {
			return nil, fmt.Errorf("topic %s partition %d: %w", t.name, i, err)
		}
		lp, err := b.log.CreatePartitionAt(name, pcfg, m.RemoteEnd)
		if err != nil {
			return nil, fmt.Errorf("topic %s partition %d: %w", t.name, i, err)
		}
		p := &partition{topic: t.name, topicID: id, index: i, log: lp, tier: &partitionTier{prefix: prefix}}
		p.tier.followed.Store(m)
		lp.SetRemoteEnd(m.RemoteEnd)
		t.partitions = append(t.partitions, p)
	}
	return t, nil
}

// loadFollowed loads the manifest under prefix, retrying bucket errors
// until ctx ends; a partition that never uploaded has an empty one.
func (b *Broker) loadFollowed(ctx context.Context, prefix string) (*tiering.Manifest, error) {
	var m *tiering.Manifest
	err := b.withBucketRetry(ctx, "load manifest "+prefix, func(ctx context.Context) error {
		var err error
		m, _, err = tiering.Load(ctx, b.tiers.bucket, prefix)
		if errors.Is(err, objectstore.ErrNotExist) {
			m, err = &tiering.Manifest{Prefix: prefix}, nil
		}
		return err
	})
	return m, err
}

// runFollow polls the bucket every PollInterval until ctx ends.
func (b *Broker) runFollow(ctx context.Context) {
	every(ctx, b.cfg.PollInterval, b.followOnce)
}

// followOnce brings the topic set and every partition up to the bucket.
// Failures are logged and retried at the next poll.
func (b *Broker) followOnce(ctx context.Context) {
	pctx, cancel := context.WithTimeout(ctx, max(b.cfg.PollInterval, bucketMetaTimeout))
	defer cancel()
	if mts, err := readBucketTopics(pctx, b.tiers.bucket); err != nil {
		b.logger.Warn("read topic metadata from the bucket", "err", err)
	} else if err := b.followTopics(pctx, mts); err != nil {
		b.logger.Warn("follow the bucket's topics", "err", err)
	}
	if err := b.followACLs(pctx); err != nil {
		b.logger.Warn("read ACLs from the bucket", "err", err)
	}
	for _, t := range b.topics().byName {
		for _, p := range t.partitions {
			if err := b.followPartition(pctx, p); err != nil {
				b.logger.Warn("follow manifest", "topic", p.topic, "partition", p.index, "err", err)
			}
		}
	}
}

// followTopics publishes the topic set mts describes: new topics and
// partitions are made, topics gone from the bucket are dropped.
func (b *Broker) followTopics(ctx context.Context, mts []metaTopic) error {
	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	cur := b.topics()
	next := make(map[string]*topic, len(mts))
	changed := len(mts) != len(cur.byName)
	var errs []error
	for _, mt := range mts {
		old := cur.byName[mt.Name]
		if old != nil && formatTopicID(old.id) == mt.ID && int32(len(old.partitions)) >= mt.Partitions {
			next[mt.Name] = old
			continue
		}
		if old != nil && formatTopicID(old.id) != mt.ID {
			old = nil // deleted and made again under a new id
		}
		t, err := b.followTopic(ctx, mt, old)
		if err != nil {
			errs = append(errs, err)
			if old != nil {
				next[mt.Name] = old
			}
			continue
		}
		next[mt.Name] = t
		changed = true
		b.logger.Info("following topic", "topic", t.name, "id", mt.ID, "partitions", len(t.partitions))
	}
	if !changed {
		return errors.Join(errs...)
	}
	var gone []*partition
	for name, t := range cur.byName {
		if n := next[name]; n == nil || n.id != t.id {
			gone = append(gone, t.partitions...)
			b.logger.Info("topic gone from the bucket", "topic", name)
		}
	}
	old := b.topicSet.Swap(newTopicSet(maps.Clone(next)))
	close(old.replaced)
	b.removePartitions(gone)
	return errors.Join(errs...)
}

// followPartition reloads p's manifest; if it moved, it is stored and then
// the empty local log is skipped to the new remote end, waking long polls.
func (b *Broker) followPartition(ctx context.Context, p *partition) error {
	m, _, err := tiering.Load(ctx, b.tiers.bucket, p.tier.prefix)
	if errors.Is(err, objectstore.ErrNotExist) {
		return nil // nothing uploaded yet
	}
	if err != nil {
		return err
	}
	if cur := p.tier.followed.Load(); cur != nil && m.Generation == cur.Generation && m.WriterEpoch == cur.WriterEpoch {
		return nil
	}
	p.tier.followed.Store(m)
	p.log.SetRemoteEnd(m.RemoteEnd)
	return p.log.SkipTo(m.RemoteEnd)
}

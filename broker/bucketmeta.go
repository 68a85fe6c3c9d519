package broker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/strata-io/strata/objectstore"
	"github.com/strata-io/strata/tiering"
)

// Topic and cluster metadata in the bucket, so that a broker whose data
// directory was lost can rebuild every topic from the bucket alone:
//
//	cluster.json                 {"version": 1, "clusterId": "…", "producerIdBlockEnd": 3000}
//	topics/<topic id>/topic.json {"version": 1, "name": "orders", "id": "<32 hex>",
//	                              "partitions": 8, "configs": {"retention.ms": "86400000"}}
//
// topic.json sits next to the partition prefixes of tiering.PartitionPrefix
// ("topics/<topic id>/<partition>/"). It is written with a plain Put after
// the local meta.json is saved, on every create, config change and
// partition-count change, and deleted when the topic is deleted (the
// partitions' objects stay: they are under the topic id, never reused). The
// local meta.json stays the source for a running broker; a failed write is
// logged.
const (
	bucketMetaVersion = 1
	clusterMetaKey    = "cluster.json"
	topicMetaName     = "topic.json"
	// bucketMetaTimeout bounds one write of topic metadata, retries included.
	bucketMetaTimeout = 10 * time.Second
)

type bucketCluster struct {
	Version   int    `json:"version"`
	ClusterID string `json:"clusterId"`
	// ProducerIDBlockEnd: producer IDs below it may have been handed out.
	// A broker rebuilt from the bucket continues above it, so that an
	// idempotent producer's ID is never given to a second producer.
	ProducerIDBlockEnd int64 `json:"producerIdBlockEnd,omitempty"`
}

type bucketTopic struct {
	Version    int               `json:"version"`
	Name       string            `json:"name"`
	ID         string            `json:"id"`
	Partitions int32             `json:"partitions"`
	Configs    map[string]string `json:"configs,omitempty"`
}

// topicMetaKey is the key of the topic metadata of the topic with id.
func topicMetaKey(id [16]byte) string {
	return "topics/" + formatTopicID(id) + "/" + topicMetaName
}

func encodeBucketTopic(t *topic) ([]byte, error) {
	b, err := json.MarshalIndent(bucketTopic{
		Version:    bucketMetaVersion,
		Name:       t.name,
		ID:         formatTopicID(t.id),
		Partitions: int32(len(t.partitions)),
		Configs:    t.configs,
	}, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// decodeBucketTopic parses a topic.json found under key and checks it
// against the key's topic id.
func decodeBucketTopic(key string, b []byte) (metaTopic, error) {
	var bt bucketTopic
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&bt); err != nil {
		return metaTopic{}, fmt.Errorf("%s: %w", key, err)
	}
	switch {
	case bt.Version != bucketMetaVersion:
		return metaTopic{}, fmt.Errorf("%s has version %d, this broker reads %d", key, bt.Version, bucketMetaVersion)
	case bt.Partitions < 1 || bt.Partitions > maxPartitions:
		return metaTopic{}, fmt.Errorf("%s: %d partitions", key, bt.Partitions)
	}
	if err := validateTopicName(bt.Name); err != nil {
		return metaTopic{}, fmt.Errorf("%s: %w", key, err)
	}
	id, err := parseTopicID(bt.ID)
	if err != nil {
		return metaTopic{}, fmt.Errorf("%s: %w", key, err)
	}
	if topicMetaKey(id) != key {
		return metaTopic{}, fmt.Errorf("%s holds topic id %s", key, bt.ID)
	}
	return metaTopic{Name: bt.Name, ID: bt.ID, Partitions: bt.Partitions, Configs: bt.Configs}, nil
}

// putTopicMeta writes t's metadata to the bucket. The caller holds adminMu
// (so writes of one topic are ordered) and has saved the local metadata.
func (b *Broker) putTopicMeta(t *topic) {
	if b.tiers == nil {
		return
	}
	body, err := encodeBucketTopic(t)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), bucketMetaTimeout)
		_, err = b.tiers.bucket.Put(ctx, topicMetaKey(t.id), body)
		cancel()
	}
	if err != nil {
		b.logger.Error("write topic metadata to the bucket; a broker rebuilt from the bucket will not see this change",
			"topic", t.name, "key", topicMetaKey(t.id), "err", err)
	}
}

// deleteTopicMeta deletes t's metadata from the bucket. The caller holds
// adminMu and has saved the local metadata.
func (b *Broker) deleteTopicMeta(t *topic) {
	if b.tiers == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), bucketMetaTimeout)
	defer cancel()
	if err := b.tiers.bucket.Delete(ctx, topicMetaKey(t.id)); err != nil {
		b.logger.Error("delete topic metadata from the bucket; a broker rebuilt from the bucket would bring the topic back",
			"topic", t.name, "key", topicMetaKey(t.id), "err", err)
	}
}

// withBucketRetry runs op until it succeeds, fails with an error that
// retrying cannot fix (ErrCorrupt, or one wrapped in permanentError), or
// ctx ends, backing off between tries and logging each failure. Recovery
// in Open passes Open's context, so a broker whose bucket is unreachable
// at start-up waits for it (not ready) until it is shut down; admin
// requests bound their wait with acquireTimeout.
func (b *Broker) withBucketRetry(ctx context.Context, what string, op func(ctx context.Context) error) error {
	backoff := b.cfg.bucketBackoff
	for attempt := 1; ; attempt++ {
		err := op(ctx)
		var perm *permanentError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &perm):
			return fmt.Errorf("%s: %w", what, perm.err)
		case errors.Is(err, tiering.ErrCorrupt) || ctx.Err() != nil:
			return fmt.Errorf("%s: %w", what, err)
		}
		d := backoff.Delay(attempt, 0.5)
		b.logger.Warn(what, "err", err, "retry_in", d)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s: %w", what, err)
		case <-t.C:
		}
	}
}

// permanentError marks an error withBucketRetry does not retry.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }

// syncClusterMeta reconciles the cluster id with the bucket's cluster.json:
// a broker with no topics of its own (a fresh or wiped data directory)
// adopts the bucket's id; otherwise, or if there is none, it records its
// own with a create-only write. It reports whether meta.ClusterID changed.
func (b *Broker) syncClusterMeta(ctx context.Context, meta *metaState) (changed bool, err error) {
	adopt := len(meta.Topics) == 0
	err = b.withBucketRetry(ctx, "read cluster metadata from the bucket", func(ctx context.Context) error {
		body, _, err := b.tiers.bucket.Get(ctx, clusterMetaKey)
		if errors.Is(err, objectstore.ErrNotExist) {
			body, err = json.Marshal(bucketCluster{Version: bucketMetaVersion, ClusterID: meta.ClusterID})
			if err != nil {
				return &permanentError{err}
			}
			_, err = b.tiers.bucket.PutIfAbsent(ctx, clusterMetaKey, append(body, '\n'))
			if errors.Is(err, objectstore.ErrPreconditionFailed) {
				return errors.New("cluster.json appeared while writing it")
			}
			return err
		}
		if err != nil {
			return err
		}
		bc, err := decodeBucketCluster(body)
		if err != nil {
			return &permanentError{err}
		}
		switch {
		case bc.ClusterID == meta.ClusterID:
		case adopt:
			meta.ClusterID, changed = bc.ClusterID, true
		default:
			b.logger.Warn("the bucket belongs to another cluster id; keeping the local one",
				"local", meta.ClusterID, "bucket", bc.ClusterID)
		}
		if bc.ProducerIDBlockEnd > meta.ProducerIDBlockEnd {
			meta.ProducerIDBlockEnd, changed = bc.ProducerIDBlockEnd, true
		}
		return nil
	})
	if err != nil {
		return changed, err
	}
	// A block reserved locally but not yet in the bucket (written by an
	// older version, or the bucket write failed before a crash).
	err = b.withBucketRetry(ctx, "record producer ids in the bucket", func(ctx context.Context) error {
		return b.putProducerIDBlock(ctx, meta.ProducerIDBlockEnd)
	})
	return changed, err
}

// decodeBucketCluster decodes and checks cluster.json.
func decodeBucketCluster(body []byte) (bucketCluster, error) {
	var bc bucketCluster
	if err := json.Unmarshal(body, &bc); err != nil || bc.Version != bucketMetaVersion || bc.ClusterID == "" {
		return bucketCluster{}, fmt.Errorf("%s: version %d, cluster id %q, %v", clusterMetaKey, bc.Version, bc.ClusterID, err)
	}
	return bc, nil
}

// putProducerIDBlock records in cluster.json that producer IDs below end
// may be in use, unless it records as much already. It rewrites the object
// with a conditional write, so a concurrent change is not lost.
func (b *Broker) putProducerIDBlock(ctx context.Context, end int64) error {
	body, info, err := b.tiers.bucket.Get(ctx, clusterMetaKey)
	if err != nil {
		return err
	}
	bc, err := decodeBucketCluster(body)
	if err != nil {
		return &permanentError{err}
	}
	if bc.ProducerIDBlockEnd >= end {
		return nil
	}
	bc.ProducerIDBlockEnd = end
	if body, err = json.Marshal(bc); err != nil {
		return &permanentError{err}
	}
	_, err = b.tiers.bucket.PutIfMatch(ctx, clusterMetaKey, append(body, '\n'), info.ETag)
	return err
}

// listBucketTopics reads every topic.json in the bucket.
func (b *Broker) listBucketTopics(ctx context.Context) ([]metaTopic, error) {
	var out []metaTopic
	err := b.withBucketRetry(ctx, "list topic metadata in the bucket", func(ctx context.Context) error {
		var err error
		out, err = readBucketTopics(ctx, b.tiers.bucket)
		return err
	})
	return out, err
}

// readBucketTopics reads every topic.json in bucket once. A topic.json
// that does not decode is a permanentError.
func readBucketTopics(ctx context.Context, bucket objectstore.Bucket) ([]metaTopic, error) {
	var keys []string
	for info, err := range bucket.List(ctx, "topics/") {
		if err != nil {
			return nil, err
		}
		rest := strings.TrimPrefix(info.Key, "topics/")
		if id, name, ok := strings.Cut(rest, "/"); ok && name == topicMetaName && len(id) == 32 {
			keys = append(keys, info.Key)
		}
	}
	var out []metaTopic
	for _, key := range keys {
		body, _, err := bucket.Get(ctx, key)
		if errors.Is(err, objectstore.ErrNotExist) {
			continue // deleted since the listing
		}
		if err != nil {
			return nil, err
		}
		mt, err := decodeBucketTopic(key, body)
		if err != nil {
			return nil, &permanentError{err}
		}
		out = append(out, mt)
	}
	return out, nil
}

// BucketTopic is a topic as the bucket's metadata records it.
type BucketTopic struct {
	Name       string
	ID         [16]byte
	Partitions int32
}

// BucketTopics returns the topics recorded in bucket (a broker's bucket,
// prefix included), for tools that read a bucket without a broker.
func BucketTopics(ctx context.Context, bucket objectstore.Bucket) ([]BucketTopic, error) {
	mts, err := readBucketTopics(ctx, bucket)
	if err != nil {
		return nil, fmt.Errorf("read topic metadata: %w", err)
	}
	out := make([]BucketTopic, 0, len(mts))
	for _, mt := range mts {
		id, _ := parseTopicID(mt.ID) // checked by decodeBucketTopic
		out = append(out, BucketTopic{Name: mt.Name, ID: id, Partitions: mt.Partitions})
	}
	return out, nil
}

// rebuildFromBucket recreates the topics recorded in the bucket in a data
// directory that has none (fresh or wiped): every partition whose remote
// tier holds offsets gets an empty local log starting at the remote end,
// so the remote tier serves everything below it and new appends never
// reuse an offset. Records that were never uploaded are lost. It adds the
// topics to meta and saves it; the caller then recovers them as usual.
func (b *Broker) rebuildFromBucket(ctx context.Context, meta *metaState) error {
	topics, err := b.listBucketTopics(ctx)
	if err != nil {
		return err
	}
	if len(topics) == 0 {
		return nil
	}
	names := make(map[string]bool, len(topics))
	for _, mt := range topics {
		if names[mt.Name] {
			return fmt.Errorf("rebuild from the bucket: two topics named %q", mt.Name)
		}
		names[mt.Name] = true
	}
	for _, mt := range topics {
		id, _ := parseTopicID(mt.ID) // checked by decodeBucketTopic
		settings, err := topicConfigs(mt.Configs).settings(&b.cfg)
		if err != nil {
			return fmt.Errorf("rebuild topic %s from the bucket: %w", mt.Name, err)
		}
		pcfg := settings.partitionConfig(true)
		var remoteEnd int64
		for i := range mt.Partitions {
			prefix := tiering.PartitionPrefix(id, i)
			// Taken over, not just read: that fences a broker still
			// uploading to it, so the remote end the local log starts at
			// is still the remote end when attachTier takes it over again.
			var m *tiering.Manifest
			err := b.withBucketRetry(ctx, "take over manifest "+prefix, func(ctx context.Context) error {
				w, err := tiering.Acquire(ctx, b.tiers.bucket, prefix, tiering.WriterConfig{})
				if err == nil {
					m = w.Manifest()
				}
				return err
			})
			if err != nil {
				return fmt.Errorf("rebuild topic %s from the bucket: %w", mt.Name, err)
			}
			// The local log has no topics, so any directory left here
			// (an earlier rebuild that crashed before saving the
			// metadata) is an orphan.
			name := partitionDir(id, i)
			if err := b.log.RemovePartition(name); err != nil {
				return fmt.Errorf("rebuild topic %s from the bucket: %w", mt.Name, err)
			}
			if m.RemoteEnd == 0 {
				continue // OpenPartition creates it empty at offset 0
			}
			lp, err := b.log.CreatePartitionAt(name, pcfg, m.RemoteEnd)
			if err != nil {
				return fmt.Errorf("rebuild topic %s from the bucket: %w", mt.Name, err)
			}
			if err := b.restoreProducers(ctx, lp, prefix, m); err != nil {
				return fmt.Errorf("rebuild topic %s from the bucket: %w", mt.Name, err)
			}
			remoteEnd += m.RemoteEnd
		}
		meta.Topics = append(meta.Topics, mt)
		b.logger.Info("topic rebuilt from the bucket", "topic", mt.Name, "id", mt.ID,
			"partitions", mt.Partitions, "remote_end_total", remoteEnd)
	}
	if err := saveMeta(b.cfg.DataDir, *meta); err != nil {
		return fmt.Errorf("rebuild from the bucket: %w", err)
	}
	return nil
}

// reconcileTopicMeta writes the topic.json of every topic whose copy in the
// bucket is missing or stale: one written before topic metadata was kept in
// the bucket, or whose write failed. It spends at most bucketMetaTimeout in
// all and logs what it could not write; the next start tries again.
func (b *Broker) reconcileTopicMeta(ctx context.Context, topics map[string]*topic) {
	ctx, cancel := context.WithTimeout(ctx, bucketMetaTimeout)
	defer cancel()
	for _, t := range topics {
		want, err := encodeBucketTopic(t)
		if err != nil {
			b.logger.Error("encode topic metadata", "topic", t.name, "err", err)
			continue
		}
		key := topicMetaKey(t.id)
		have, _, err := b.tiers.bucket.Get(ctx, key)
		if err == nil && bytes.Equal(have, want) {
			continue
		}
		if err == nil || errors.Is(err, objectstore.ErrNotExist) {
			_, err = b.tiers.bucket.Put(ctx, key, want)
		}
		if err != nil {
			b.logger.Error("write topic metadata to the bucket; retrying at the next start", "topic", t.name, "key", key, "err", err)
			if ctx.Err() != nil {
				return
			}
		}
	}
}

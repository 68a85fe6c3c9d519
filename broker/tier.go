package broker

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/strata-io/strata/cache"
	"github.com/strata-io/strata/internal/failpoint"
	"github.com/strata-io/strata/locallog"
	"github.com/strata-io/strata/objectstore"
	"github.com/strata-io/strata/objectstore/bucketurl"
	"github.com/strata-io/strata/tiering"
)

// acquireTimeout bounds how long an admin request (creating a topic or
// partitions) retries taking over a new partition's manifest while the
// bucket fails. Recovery at start-up retries until shutdown.
const acquireTimeout = 30 * time.Second

// tiers is the broker's remote tier: one bucket, one read cache, one
// reader and one uploader shared by every partition. It is nil when
// Config.Bucket is empty.
type tiers struct {
	bucket   objectstore.Bucket
	cache    *cache.Cache
	reader   *tiering.Reader
	uploader *tiering.Uploader
}

// partitionTier is one partition's handle on the remote tier. It is set
// before the partition is published and never changes.
type partitionTier struct {
	prefix string          // tiering.PartitionPrefix of the partition
	w      *tiering.Writer // the only committer of the partition's manifest; nil on a read-only broker
	// followed is, on a read-only broker, the manifest last loaded.
	followed atomic.Pointer[tiering.Manifest]
}

// manifest returns the partition's current manifest snapshot.
func (t *partitionTier) manifest() *tiering.Manifest {
	if t.w != nil {
		return t.w.Manifest()
	}
	return t.followed.Load()
}

// openTiers opens the bucket of cfg.Bucket and the shared remote-tier
// machinery, or returns nil when tiering is off.
func openTiers(ctx context.Context, cfg *Config, obs objectstore.Observer) (*tiers, error) {
	if cfg.Bucket == "" {
		return nil, nil
	}
	bare, err := bucketurl.Open(ctx, cfg.Bucket)
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", bucketurl.Redact(cfg.Bucket), err)
	}
	if cfg.wrapBucket != nil {
		bare = cfg.wrapBucket(bare)
	}
	bucket := objectstore.WithRetry(objectstore.Observe(bare, obs), objectstore.RetryConfig{AttemptTimeout: cfg.BucketTimeout})
	c := cache.New(DefaultCacheBytes)
	return &tiers{
		bucket:   bucket,
		cache:    c,
		reader:   tiering.NewReader(bucket, c, cfg.readerConfig),
		uploader: tiering.NewUploader(bucket, tiering.UploaderConfig{Logger: cfg.Logger, Failpoint: cfg.UploadFailpoint, Backoff: cfg.uploadBackoff}),
	}, nil
}

// close stops the reader's read-aheads and then closes the cache. The
// uploader has stopped with Run.
func (ts *tiers) close() error {
	if ts == nil {
		return nil
	}
	_ = ts.reader.Close()
	return ts.cache.Close()
}

// onSeal tells the uploader that the local partition name has a new sealed
// segment. It runs under the partition's lock and only queues work.
func (b *Broker) onSeal(name string) {
	if prefix, ok := b.tierNames.Load(name); ok {
		b.tiers.uploader.Notify(prefix.(string))
	}
}

// attachTier makes p tiered: it takes over p's manifest (a restart or a
// second broker on the bucket takes a higher epoch), tells the local log
// where the remote tier ends, and registers p with the uploader. Bucket
// failures are retried with backoff until ctx ends.
func (b *Broker) attachTier(ctx context.Context, p *partition) error {
	prefix := tiering.PartitionPrefix(p.topicID, p.index)
	var w *tiering.Writer
	err := b.withBucketRetry(ctx, "take over manifest "+prefix, func(ctx context.Context) error {
		var err error
		w, err = tiering.Acquire(ctx, b.tiers.bucket, prefix, tiering.WriterConfig{})
		return err
	})
	if err != nil {
		return err
	}
	m := w.Manifest()
	if end := p.log.Offsets().LogEnd; m.RemoteEnd > end {
		// The local log lost records the bucket holds (a partition
		// directory lost or restored from an older copy while meta.json
		// survived). New appends would reuse their offsets. Open rebuilds
		// from the bucket only a data directory with no topics, where
		// each partition is created starting at its remote end.
		return fmt.Errorf("%w: local log of %s[%d] ends at %d, below the remote end %d; to rebuild from the bucket, start the broker on an empty data directory",
			errStorage, p.topic, p.index, end, m.RemoteEnd)
	}
	p.log.SetRemoteEnd(m.RemoteEnd)
	p.tier = &partitionTier{prefix: prefix, w: w}
	b.tierNames.Store(partitionDir(p.topicID, p.index), prefix)
	b.tiers.uploader.Add(prefix, w, localSource{p.log, b.recountBudget})
	return nil
}

// detachTier stops p's uploads. The topic's objects stay in the bucket:
// deleting a topic does not delete its remote history (they are under the
// topic id, which is never reused).
func (b *Broker) detachTier(p *partition) {
	if p.tier == nil {
		return
	}
	b.tierNames.Delete(partitionDir(p.topicID, p.index))
	b.tiers.uploader.Remove(p.tier.prefix)
}

// localSource is a local partition as the uploader sees it.
type localSource struct {
	lp         *locallog.Partition
	onUploaded func() // recounts the local budget
}

func (s localSource) Sealed() []tiering.SealedInfo {
	var out []tiering.SealedInfo
	for _, seg := range s.lp.Segments() {
		if seg.Sealed {
			out = append(out, tiering.SealedInfo{BaseOffset: seg.BaseOffset, EndOffset: seg.EndOffset, SizeBytes: seg.SizeBytes})
		}
	}
	return out
}

func (s localSource) ReadSealed(base int64) (tiering.SealedSegment, error) {
	seg, err := s.lp.ReadSealed(base)
	if errors.Is(err, locallog.ErrCorrupt) {
		err = fmt.Errorf("%w: %w", tiering.ErrCorrupt, err)
	}
	return tiering.SealedSegment{Data: seg.Data, Offsets: seg.Offsets, Times: seg.Times, ProducerSnapshot: seg.ProducerSnapshot}, err
}

// restoreProducers gives lp, a partition just created empty at the remote
// end of m (a rebuild from the bucket), the idempotent-producer state
// uploaded with m's last segment, so that a producer retrying a batch the
// bucket already holds gets its original offset instead of a second copy
// or an out-of-order error. Reading the snapshot costs one ranged get of
// the last segment object's tail. A snapshot that is missing (the segment
// was uploaded by a version that kept none, or the remote tier is empty),
// corrupt or whose object is gone leaves lp without producer state, with a
// warning: rebuilding goes on, and retries of such producers are appended
// again. It returns an error only if ctx ends or the local snapshot file
// cannot be written.
func (b *Broker) restoreProducers(ctx context.Context, lp *locallog.Partition, prefix string, m *tiering.Manifest) error {
	if m.Empty() {
		return nil
	}
	var snap []byte
	err := b.withBucketRetry(ctx, "read producer snapshot of "+prefix, func(ctx context.Context) error {
		e, err := m.Lookup(ctx, b.tiers.bucket, m.RemoteEnd-1)
		if err != nil {
			return err
		}
		snap, err = b.tiers.reader.ProducerSnapshot(ctx, prefix, e)
		if errors.Is(err, tiering.ErrMissingObject) {
			return &permanentError{err}
		}
		return err
	})
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		b.logger.Warn("producer state not restored: idempotent producers start afresh", "prefix", prefix, "remote_end", m.RemoteEnd, "err", err)
		return nil
	}
	if snap == nil {
		b.logger.Info("no producer snapshot in the bucket: idempotent producers start afresh", "prefix", prefix, "remote_end", m.RemoteEnd)
		return nil
	}
	if err := lp.RestoreProducers(snap); err != nil {
		if !errors.Is(err, locallog.ErrCorrupt) {
			return err
		}
		b.logger.Warn("producer state not restored: idempotent producers start afresh", "prefix", prefix, "remote_end", m.RemoteEnd, "err", err)
	}
	return nil
}

// Uploaded moves the local log's remote end and applies local retention at
// once, so that with local.retention.bytes=0 a segment leaves the disk as
// soon as its upload is committed.
func (s localSource) Uploaded(remoteEnd int64) {
	s.lp.SetRemoteEnd(remoteEnd)
	_, _ = s.lp.EnforceRetention(time.Now()) // the log's own loop retries and logs
	if s.onUploaded != nil {
		s.onUploaded()
	}
}

// runRemoteRetention applies retention.ms and retention.bytes to the remote
// tier of every tiered partition every RetentionCheckInterval until ctx
// ends.
func (b *Broker) runRemoteRetention(ctx context.Context) {
	every(ctx, b.cfg.RetentionCheckInterval, func(ctx context.Context) {
		b.recountBudget()
		for _, tp := range b.topics().byName {
			for _, p := range tp.partitions {
				if ctx.Err() != nil {
					return
				}
				if err := b.retainRemote(ctx, p, tp.settings, time.Now()); err != nil && ctx.Err() == nil {
					b.logger.Warn("remote retention", "topic", p.topic, "partition", p.index, "err", err)
				}
			}
		}
	})
}

// retainRemote drops the oldest remote segments of p that retention.ms or
// retention.bytes no longer keep: whole segments only, by first moving the
// manifest's log start (Trim) and then deleting the objects. retention.bytes
// counts the remote segments and the local ones above the remote end.
func (b *Broker) retainRemote(ctx context.Context, p *partition, s topicSettings, now time.Time) error {
	if p.tier == nil || p.tier.w.Fenced() {
		return nil
	}
	m := p.tier.w.Manifest()
	if m.Empty() || s.retentionMs < 0 && s.retentionBytes < 0 {
		return nil
	}
	var total int64
	for _, seg := range p.log.Segments() {
		if seg.BaseOffset >= m.RemoteEnd {
			total += seg.SizeBytes
		}
	}
	var entries []tiering.Entry
	for e, err := range m.Entries(ctx, b.tiers.bucket) {
		if err != nil {
			return err
		}
		entries = append(entries, e)
		total += e.SizeBytes
	}
	cut := m.LogStartOffset
	for _, e := range entries {
		expired := s.retentionMs >= 0 && e.MaxTimestamp < now.UnixMilli()-s.retentionMs
		tooBig := s.retentionBytes >= 0 && total > s.retentionBytes
		if !expired && !tooBig {
			break
		}
		cut = e.EndOffset
		total -= e.SizeBytes
	}
	return b.trimRemote(ctx, p, cut)
}

// trimRemote moves the remote tier's start of p to before, deletes the
// segment objects that dropped out, and moves the local log's start along
// so both tiers agree on where the log starts. A before beyond the remote
// end empties the remote tier and moves it to start at before (StartAt), so
// that logStart <= remoteEnd holds and the segment holding before, once
// uploaded, is served from before on, not from its base.
func (b *Broker) trimRemote(ctx context.Context, p *partition, before int64) error {
	m := p.tier.w.Manifest()
	if before <= m.LogStartOffset {
		return nil
	}
	removed, err := p.tier.w.Trim(ctx, min(before, m.RemoteEnd))
	if err != nil {
		return fmt.Errorf("trim manifest %s to %d: %w", p.tier.prefix, before, err)
	}
	if len(removed) > 0 {
		failpoint.Hit("remote-trim")
		b.logger.Info("remote retention", "topic", p.topic, "partition", p.index,
			"log_start", min(before, m.RemoteEnd), "segments_removed", len(removed))
	}
	if before > m.RemoteEnd {
		if err := p.tier.w.StartAt(ctx, before); err != nil {
			return err
		}
	}
	var errs []error
	for _, e := range removed {
		// A failed delete leaves an orphan for the bucket sweep.
		if err := b.tiers.bucket.Delete(ctx, p.tier.prefix+e.Key); err != nil {
			errs = append(errs, err)
		}
	}
	if o := p.log.Offsets(); before > o.LogStart && before <= o.HighWatermark {
		if _, err := p.log.DeleteRecords(before); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

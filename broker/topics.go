package broker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"

	"github.com/strata-io/strata/locallog"
)

const (
	maxTopicNameLen = 249
	// maxPartitions bounds one topic's partition count, so that one request
	// cannot make the broker create an unbounded number of directories.
	maxPartitions = 10000
)

// topic is one topic as the broker serves it. A *topic is immutable once
// published in a topicSet; a change (new partitions, new configs) publishes
// a new *topic that shares the unchanged partitions.
type topic struct {
	name       string
	id         [16]byte
	partitions []*partition
	configs    topicConfigs
	settings   topicSettings
}

// partition is one partition of a topic and its local log.
type partition struct {
	topic   string
	topicID [16]byte
	index   int32
	log     *locallog.Partition
	tier    *partitionTier // nil when tiering is off
}

// partitionDir names a partition's directory in the local log: the topic ID,
// not the name, so that deleting and recreating a topic never mixes data.
func partitionDir(id [16]byte, index int32) string {
	return fmt.Sprintf("%s-%d", formatTopicID(id), index)
}

// topicSet is one published view of all topics. It is never modified;
// writers build a new set and publish it, which closes replaced.
type topicSet struct {
	byName map[string]*topic
	byID   map[[16]byte]*topic
	// replaced is closed when a newer set is published; long polls wait on
	// it to notice deleted topics.
	replaced chan struct{}
}

func newTopicSet(ts map[string]*topic) *topicSet {
	s := &topicSet{byName: ts, byID: make(map[[16]byte]*topic, len(ts)), replaced: make(chan struct{})}
	for _, t := range ts {
		s.byID[t.id] = t
	}
	return s
}

// topics returns the current topic set.
func (b *Broker) topics() *topicSet { return b.topicSet.Load() }

// lookupPartition finds a partition by topic name.
func (b *Broker) lookupPartition(name string, index int32) (*partition, error) {
	t := b.topics().byName[name]
	if t == nil {
		return nil, fmt.Errorf("%w: topic %q", errUnknownTopicOrPartition, name)
	}
	return t.partition(index)
}

func (t *topic) partition(index int32) (*partition, error) {
	if index < 0 || int(index) >= len(t.partitions) {
		return nil, fmt.Errorf("%w: %s has no partition %d", errUnknownTopicOrPartition, t.name, index)
	}
	return t.partitions[index], nil
}

// validateTopicName applies Kafka's rules for topic names.
func validateTopicName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: the empty name", errInvalidTopic)
	case name == "." || name == "..":
		return fmt.Errorf("%w: %q", errInvalidTopic, name)
	case len(name) > maxTopicNameLen:
		return fmt.Errorf("%w: name longer than %d characters", errInvalidTopic, maxTopicNameLen)
	}
	for _, c := range []byte(name) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w: %q has characters other than ASCII letters, digits, '.', '_' and '-'", errInvalidTopic, name)
		}
	}
	return nil
}

// topicSpec is a topic to create.
type topicSpec struct {
	name       string
	partitions int32
	configs    topicConfigs
}

// checkNewTopicLocked validates spec against the current topics. The caller
// holds adminMu.
func (b *Broker) checkNewTopicLocked(spec topicSpec) (topicSettings, error) {
	if err := validateTopicName(spec.name); err != nil {
		return topicSettings{}, err
	}
	set := b.topics()
	if _, ok := set.byName[spec.name]; ok {
		return topicSettings{}, fmt.Errorf("%w: %q", errTopicExists, spec.name)
	}
	// '.' and '_' collide in metric names, so Kafka refuses topics that
	// differ only in them.
	norm := strings.ReplaceAll(spec.name, ".", "_")
	for name := range set.byName {
		if strings.ReplaceAll(name, ".", "_") == norm {
			return topicSettings{}, fmt.Errorf("%w: %q collides with existing topic %q", errInvalidTopic, spec.name, name)
		}
	}
	if spec.partitions < 1 || spec.partitions > maxPartitions {
		return topicSettings{}, fmt.Errorf("%w: %d, want 1 to %d", errInvalidPartitions, spec.partitions, maxPartitions)
	}
	return spec.configs.settings(&b.cfg)
}

// createTopic creates, persists and publishes the topic spec, or reports
// why it cannot. With validateOnly it only checks.
func (b *Broker) createTopic(spec topicSpec, validateOnly bool) (*topic, error) {
	if err := b.writable(); err != nil {
		return nil, err
	}
	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	settings, err := b.checkNewTopicLocked(spec)
	if err != nil || validateOnly {
		return nil, err
	}
	t := &topic{name: spec.name, id: newTopicID(), configs: spec.configs, settings: settings}
	if t.configs == nil {
		t.configs = topicConfigs{}
	}
	// Directories first, metadata second: a crash in between leaves
	// orphan directories, which Open removes.
	ctx, cancel := context.WithTimeout(context.Background(), acquireTimeout)
	defer cancel()
	if err := b.openPartitionsLocked(ctx, t, 0, int(spec.partitions), false); err != nil {
		return nil, err
	}
	next := maps.Clone(b.topics().byName)
	next[t.name] = t
	if err := b.publishLocked(next); err != nil {
		b.removePartitions(t.partitions)
		return nil, err
	}
	b.putTopicMeta(t)
	b.logger.Info("topic created", "topic", t.name, "id", formatTopicID(t.id), "partitions", len(t.partitions))
	return t, nil
}

// openPartitionsLocked opens partitions [from, to) of t in the local log,
// attaches them to the remote tier when tiering is on, and appends them to
// t.partitions. On failure new partitions are removed again, but recovered
// ones (recovering: called by Open) are left on disk untouched. The caller
// holds adminMu, or is Open.
func (b *Broker) openPartitionsLocked(ctx context.Context, t *topic, from, to int, recovering bool) error {
	pcfg := t.settings.partitionConfig(b.tiers != nil)
	var opened []*partition
	fail := func(i int, err error) error {
		if recovering {
			for _, p := range opened {
				b.detachTier(p)
			}
		} else {
			b.removePartitions(opened)
		}
		return fmt.Errorf("%w: topic %s partition %d: %w", errStorage, t.name, i, err)
	}
	for i := from; i < to; i++ {
		lp, err := b.log.OpenPartition(partitionDir(t.id, int32(i)), pcfg)
		if err != nil {
			return fail(i, err)
		}
		p := &partition{topic: t.name, topicID: t.id, index: int32(i), log: lp}
		opened = append(opened, p)
		if b.tiers != nil {
			if err := b.attachTier(ctx, p); err != nil {
				return fail(i, err)
			}
		}
	}
	t.partitions = append(t.partitions, opened...)
	return nil
}

// removePartitions deletes the partitions' local logs, logging failures:
// what is left behind is an orphan directory that Open removes.
func (b *Broker) removePartitions(ps []*partition) {
	for _, p := range ps {
		b.detachTier(p)
		if err := b.log.RemovePartition(partitionDir(p.topicID, p.index)); err != nil {
			b.logger.Error("remove partition", "topic", p.topic, "partition", p.index, "err", err)
		}
	}
}

// deleteTopic deletes the topic named name, or the topic with ID id when
// name is empty.
func (b *Broker) deleteTopic(name string, id [16]byte) (*topic, error) {
	if err := b.writable(); err != nil {
		return nil, err
	}
	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	set := b.topics()
	var t *topic
	if name != "" {
		if t = set.byName[name]; t == nil {
			return nil, fmt.Errorf("%w: topic %q", errUnknownTopicOrPartition, name)
		}
	} else if t = set.byID[id]; t == nil {
		return nil, fmt.Errorf("%w: %s", errUnknownTopicID, formatTopicID(id))
	}
	next := maps.Clone(set.byName)
	delete(next, t.name)
	if err := b.publishLocked(next); err != nil {
		return nil, err
	}
	b.deleteTopicMeta(t)
	b.removePartitions(t.partitions)
	b.logger.Info("topic deleted", "topic", t.name, "id", formatTopicID(t.id))
	return t, nil
}

// addPartitions grows the topic named name to count partitions.
func (b *Broker) addPartitions(name string, count int32, validateOnly bool) error {
	if err := b.writable(); err != nil {
		return err
	}
	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	old := b.topics().byName[name]
	if old == nil {
		return fmt.Errorf("%w: topic %q", errUnknownTopicOrPartition, name)
	}
	have := int32(len(old.partitions))
	switch {
	case count < have:
		return fmt.Errorf("%w: topic %s has %d partitions; the count cannot shrink to %d", errInvalidPartitions, name, have, count)
	case count == have:
		return fmt.Errorf("%w: topic %s already has %d partitions", errInvalidPartitions, name, have)
	case count > maxPartitions:
		return fmt.Errorf("%w: %d, at most %d", errInvalidPartitions, count, maxPartitions)
	}
	if validateOnly {
		return nil
	}
	t := *old
	t.partitions = t.partitions[:len(t.partitions):len(t.partitions)]
	ctx, cancel := context.WithTimeout(context.Background(), acquireTimeout)
	defer cancel()
	if err := b.openPartitionsLocked(ctx, &t, int(have), int(count), false); err != nil {
		return err
	}
	next := maps.Clone(b.topics().byName)
	next[name] = &t
	if err := b.publishLocked(next); err != nil {
		b.removePartitions(t.partitions[have:])
		return err
	}
	b.putTopicMeta(&t)
	b.logger.Info("partitions added", "topic", name, "from", have, "to", count)
	return nil
}

// alterTopicConfigs replaces the explicit configs of the topic named name
// with what change returns, applying them to every partition. With
// validateOnly it only checks.
func (b *Broker) alterTopicConfigs(name string, validateOnly bool, change func(topicConfigs) (topicConfigs, error)) error {
	if err := b.writable(); err != nil {
		return err
	}
	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	old := b.topics().byName[name]
	if old == nil {
		return fmt.Errorf("%w: topic %q", errUnknownTopicOrPartition, name)
	}
	configs, err := change(maps.Clone(old.configs))
	if err != nil {
		return err
	}
	settings, err := configs.settings(&b.cfg)
	if err != nil || validateOnly {
		return err
	}
	t := *old
	t.configs, t.settings = configs, settings
	next := maps.Clone(b.topics().byName)
	next[name] = &t
	if err := b.publishLocked(next); err != nil {
		return err
	}
	pcfg := settings.partitionConfig(b.tiers != nil)
	for _, p := range t.partitions {
		p.log.SetConfig(pcfg)
	}
	b.putTopicMeta(&t)
	b.logger.Info("topic configs altered", "topic", name, "configs", configs)
	return nil
}

// publishLocked persists topics as the new metadata and then publishes
// them. On error nothing is published. The caller holds adminMu.
func (b *Broker) publishLocked(topics map[string]*topic) error {
	if err := b.saveMetaLocked(topics, b.pidBlockEnd); err != nil {
		return err
	}
	old := b.topicSet.Swap(newTopicSet(topics))
	close(old.replaced)
	return nil
}

// saveMetaLocked writes the metadata file for topics and the producer-id
// block end. The caller holds adminMu.
func (b *Broker) saveMetaLocked(topics map[string]*topic, pidBlockEnd int64) error {
	m := metaState{ClusterID: b.clusterID, NodeID: b.nodeID, ProducerIDBlockEnd: pidBlockEnd}
	for _, t := range topics {
		m.Topics = append(m.Topics, metaTopic{
			Name:       t.name,
			ID:         formatTopicID(t.id),
			Partitions: int32(len(t.partitions)),
			Configs:    t.configs,
		})
	}
	if err := saveMeta(b.cfg.DataDir, m); err != nil {
		return fmt.Errorf("%w: save metadata: %w", errStorage, err)
	}
	return nil
}

// autoCreateTopic creates name with the broker's defaults if it does not
// exist, for Metadata and Produce with auto-creation on. It returns the
// topic either way.
func (b *Broker) autoCreateTopic(name string) (*topic, error) {
	if t := b.topics().byName[name]; t != nil {
		return t, nil
	}
	t, err := b.createTopic(topicSpec{name: name, partitions: b.cfg.DefaultPartitions}, false)
	if errors.Is(err, errTopicExists) {
		if t := b.topics().byName[name]; t != nil {
			return t, nil
		}
	}
	return t, err
}

package broker

import (
	"bytes"
	"cmp"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/strata-io/strata/internal/failpoint"
	"github.com/strata-io/strata/objectstore"
	"github.com/strata-io/strata/tiering"
)

// Group persistence. Each group (its committed offsets and the members and
// assignments of its last Stable generation) is one JSON document, kept
//
//   - locally in DataDir/groups/<hex group id>.json, replaced atomically
//     (temp file, fsync, rename, directory fsync) on every change, before
//     the change is acknowledged: an OffsetCommit is answered after this
//     fsync;
//   - in the bucket, with tiering on, under groups/<hex group id>/group.json.
//
// The bucket copy is written behind: a change queues the group's latest
// document and one writer (groupStore.run) puts it after groupBucketDelay,
// so a burst of commits costs one PUT per group, and retries with backoff
// while the bucket fails. The trade-off: a broker whose data directory is
// lost rebuilds from a bucket copy up to groupBucketDelay (plus any bucket
// outage) old, so its consumers may re-read a few records; a clean shutdown
// writes everything pending first, and a restart on the same data
// directory loses nothing (every start re-queues every group, so the
// bucket catches up after a crash). Deleting a group deletes both copies.
// A data directory without a groups directory (fresh or wiped) loads the
// groups from the bucket at Open.
//
// The document, version 1:
//
//	{
//	  "version": 1,
//	  "group": "orders-app",
//	  "protocolType": "consumer",      // "" for a group that only stores offsets
//	  "protocol": "range",             // of the persisted generation; "" when empty
//	  "generation": 7,
//	  "leader": "<member id>",
//	  "stateSinceMs": 1700000000000,   // Empty since then: offset expiry counts from here
//	  "members": [{"memberId": "…", "instanceId": "…", "clientId": "…", "clientHost": "…",
//	               "sessionTimeoutMs": 45000, "rebalanceTimeoutMs": 60000,
//	               "protocols": [{"name": "range", "metadata": "<base64>"}],
//	               "assignment": "<base64>"}],           // in joining order
//	  "offsets": [{"topic": "orders", "partition": 0, "offset": 42,
//	               "leaderEpoch": -1, "metadata": "", "commitMs": 1700000000000}]  // sorted
//	}
const (
	groupDocVersion  = 1
	groupsDir        = "groups"
	groupBucketDir   = "groups/"
	groupBucketName  = "group.json"
	groupBucketDelay = 500 * time.Millisecond
	// groupFlushTimeout bounds the last bucket writes at shutdown.
	groupFlushTimeout = 5 * time.Second
	// maxGroupIDBytes bounds group ids: the hex file name must fit in 255
	// bytes.
	maxGroupIDBytes = 120
)

type storedGroup struct {
	Version      int             `json:"version"`
	Group        string          `json:"group"`
	ProtocolType string          `json:"protocolType"`
	Protocol     string          `json:"protocol"`
	Generation   int32           `json:"generation"`
	Leader       string          `json:"leader"`
	StateSinceMs int64           `json:"stateSinceMs"`
	Members      []storedMember  `json:"members"`
	Offsets      []storedOffsets `json:"offsets"`
}

type storedMember struct {
	MemberID           string           `json:"memberId"`
	InstanceID         string           `json:"instanceId,omitempty"`
	ClientID           string           `json:"clientId"`
	ClientHost         string           `json:"clientHost"`
	SessionTimeoutMs   int64            `json:"sessionTimeoutMs"`
	RebalanceTimeoutMs int64            `json:"rebalanceTimeoutMs"`
	Protocols          []memberProtocol `json:"protocols"`
	Assignment         []byte           `json:"assignment"`
}

type storedOffsets struct {
	Topic       string `json:"topic"`
	Partition   int32  `json:"partition"`
	Offset      int64  `json:"offset"`
	LeaderEpoch int32  `json:"leaderEpoch"`
	Metadata    string `json:"metadata"`
	CommitMs    int64  `json:"commitMs"`
}

// persistedMembers is the member part of a group's document: the last
// Stable generation, or an empty one.
type persistedMembers struct {
	generation int32
	protocol   string
	leader     string
	members    []storedMember
}

// snapshotMembersLocked captures g's current generation for persistence.
func (g *group) snapshotMembersLocked() persistedMembers {
	pm := persistedMembers{generation: g.generation, protocol: g.protocol, leader: g.leader}
	for _, m := range g.sortedMembersLocked() {
		pm.members = append(pm.members, storedMember{
			MemberID: m.id, InstanceID: m.instanceID, ClientID: m.clientID, ClientHost: m.clientHost,
			SessionTimeoutMs: m.session.Milliseconds(), RebalanceTimeoutMs: m.rebalance.Milliseconds(),
			Protocols: m.protocols, Assignment: m.assignment,
		})
	}
	return pm
}

// persistLocked saves g's document locally (fsynced) and queues it for the
// bucket. A failure is logged and returned as COORDINATOR_NOT_AVAILABLE,
// which clients retry.
func (g *group) persistLocked() error {
	doc, err := encodeGroup(g.storedLocked())
	if err == nil {
		err = g.c.store.save(g.id, doc)
	}
	if err != nil {
		g.c.logger.Error("save group", "group", g.id, "err", err)
		return fmt.Errorf("%w: save group %q: %w", errCoordinatorNotAvailable, g.id, err)
	}
	return nil
}

// storedLocked is g's document: its offsets and its last Stable
// generation.
func (g *group) storedLocked() storedGroup {
	if len(g.stable.members) == 0 {
		g.stable = persistedMembers{generation: g.generation}
	}
	sg := storedGroup{
		Version:      groupDocVersion,
		Group:        g.id,
		ProtocolType: g.protocolType,
		Protocol:     g.stable.protocol,
		Generation:   g.stable.generation,
		Leader:       g.stable.leader,
		StateSinceMs: g.stateSince.UnixMilli(),
		Members:      g.stable.members,
		Offsets:      make([]storedOffsets, 0, len(g.offsets)),
	}
	for tp, o := range g.offsets {
		sg.Offsets = append(sg.Offsets, storedOffsets{
			Topic: tp.topic, Partition: tp.partition, Offset: o.offset,
			LeaderEpoch: o.leaderEpoch, Metadata: o.metadata, CommitMs: o.committed.UnixMilli(),
		})
	}
	return sg
}

// encodeGroup returns the document of sg, offsets sorted.
func encodeGroup(sg storedGroup) ([]byte, error) {
	sg.Version = groupDocVersion
	if sg.Members == nil {
		sg.Members = []storedMember{}
	}
	sg.Offsets = slices.Clone(sg.Offsets)
	if sg.Offsets == nil {
		sg.Offsets = []storedOffsets{}
	}
	slices.SortFunc(sg.Offsets, func(a, b storedOffsets) int {
		return cmp.Or(strings.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	doc, err := json.MarshalIndent(sg, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(doc, '\n'), nil
}

// decodeGroup parses a group document and checks it names wantID.
func decodeGroup(b []byte, wantID string) (storedGroup, error) {
	var sg storedGroup
	if err := json.NewDecoder(bytes.NewReader(b)).Decode(&sg); err != nil {
		return sg, err
	}
	switch {
	case sg.Version != groupDocVersion:
		return sg, fmt.Errorf("version %d, this broker reads %d", sg.Version, groupDocVersion)
	case sg.Group != wantID:
		return sg, fmt.Errorf("holds group %q", sg.Group)
	}
	for _, m := range sg.Members {
		if m.MemberID == "" || m.SessionTimeoutMs <= 0 || m.RebalanceTimeoutMs <= 0 {
			return sg, fmt.Errorf("member %q: empty id or timeouts not positive", m.MemberID)
		}
	}
	for _, o := range sg.Offsets {
		if o.Partition < 0 {
			return sg, fmt.Errorf("offset of %s partition %d", o.Topic, o.Partition)
		}
	}
	return sg, nil
}

// restoreGroup rebuilds a group from its document: a group with members
// comes back Stable at its generation, and each member must heartbeat
// within its session timeout from now.
func (c *coordinator) restoreGroup(sg storedGroup) {
	g := c.newGroup(sg.Group)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.protocolType, g.generation = sg.ProtocolType, sg.Generation
	g.stateSince = time.UnixMilli(sg.StateSinceMs)
	for _, o := range sg.Offsets {
		g.offsets[topicPartition{o.Topic, o.Partition}] = committedOffset{
			offset: o.Offset, leaderEpoch: o.LeaderEpoch, metadata: o.Metadata, committed: time.UnixMilli(o.CommitMs),
		}
	}
	g.stable = persistedMembers{generation: sg.Generation, protocol: sg.Protocol, leader: sg.Leader, members: sg.Members}
	if len(sg.Members) > 0 {
		g.state, g.protocol, g.leader = groupStable, sg.Protocol, sg.Leader
		for _, sm := range sg.Members {
			g.joinSeq++
			m := &member{
				id: sm.MemberID, instanceID: sm.InstanceID, clientID: sm.ClientID, clientHost: sm.ClientHost,
				protocols: sm.Protocols, assignment: sm.Assignment,
				session: time.Duration(sm.SessionTimeoutMs) * time.Millisecond, rebalance: time.Duration(sm.RebalanceTimeoutMs) * time.Millisecond,
				joinSeq: g.joinSeq,
			}
			g.members[m.id] = m
			if m.instanceID != "" {
				g.static[m.instanceID] = m.id
			}
			g.touchLocked(m)
		}
	}
	c.groups[g.id] = g
}

// groupStore keeps group documents on local disk and, behind, in the
// bucket.
type groupStore struct {
	dir    string
	bucket objectstore.Bucket // nil: local only
	logger *slog.Logger

	mu      sync.Mutex              // guards below
	pending map[string]pendingWrite // group id → what the bucket still needs
	wake    chan struct{}
}

// pendingWrite is the latest document of a group not yet in the bucket,
// or its deletion.
type pendingWrite struct {
	doc    []byte
	delete bool
}

func groupFileName(id string) string { return hex.EncodeToString([]byte(id)) + ".json" }

func groupBucketKey(id string) string {
	return groupBucketDir + hex.EncodeToString([]byte(id)) + "/" + groupBucketName
}

// save writes doc as group id's local document and queues it for the
// bucket.
func (s *groupStore) save(id string, doc []byte) error {
	if err := writeFileAtomic(s.dir, groupFileName(id), doc); err != nil {
		return err
	}
	failpoint.Hit("group-commit")
	s.queue(id, pendingWrite{doc: doc})
	return nil
}

// remove deletes group id's local document and queues the deletion of its
// bucket copy. A local failure is logged: a group file left behind comes
// back at the next start, where it expires again.
func (s *groupStore) remove(id string) {
	err := os.Remove(filepath.Join(s.dir, groupFileName(id)))
	if err == nil {
		err = syncDir(s.dir)
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.logger.Error("delete group file", "group", id, "err", err)
	}
	s.queue(id, pendingWrite{delete: true})
}

func (s *groupStore) queue(id string, w pendingWrite) {
	if s.bucket == nil {
		return
	}
	s.mu.Lock()
	s.pending[id] = w
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// run writes queued documents to the bucket until ctx ends, then writes
// what is still pending, for at most groupFlushTimeout.
func (s *groupStore) run(ctx context.Context) {
	if s.bucket == nil {
		return
	}
	defer func() {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), groupFlushTimeout)
		defer cancel()
		if err := s.flush(fctx); err != nil {
			s.logger.Error("write groups to the bucket at shutdown; the local copies are complete", "err", err)
		}
	}()
	backoff := tiering.Backoff{Min: 100 * time.Millisecond, Max: 10 * time.Second}
	attempt := 0
	wait := func(d time.Duration) bool {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		}
		if !wait(groupBucketDelay) { // coalesce a burst of commits
			return
		}
		if err := s.flush(ctx); err != nil {
			attempt++
			d := backoff.Delay(attempt, 0.5)
			s.logger.Warn("write groups to the bucket", "err", err, "retry_in", d)
			if !wait(d) {
				return
			}
			s.queueWake()
			continue
		}
		attempt = 0
	}
}

func (s *groupStore) queueWake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// flush writes every pending document to the bucket. A failed one stays
// pending unless a newer one was queued meanwhile.
func (s *groupStore) flush(ctx context.Context) error {
	s.mu.Lock()
	batch := s.pending
	s.pending = make(map[string]pendingWrite)
	s.mu.Unlock()
	var errs []error
	for id, w := range batch {
		key := groupBucketKey(id)
		var err error
		if w.delete {
			err = s.bucket.Delete(ctx, key)
		} else {
			_, err = s.bucket.Put(ctx, key, w.doc)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("group %q: %w", id, err))
			s.mu.Lock()
			if _, newer := s.pending[id]; !newer {
				s.pending[id] = w
			}
			s.mu.Unlock()
		}
	}
	return errors.Join(errs...)
}

// openGroups sets up the group coordinator and loads every group into it:
// from DataDir/groups, which, when it does not exist yet (a fresh or wiped
// data directory), is first filled from the bucket. Every group loaded
// from local disk is queued for the bucket, which may have missed its last
// change. A read-only broker's groups are its own: kept locally only,
// never read from or written to the bucket it serves.
func (b *Broker) openGroups(ctx context.Context) error {
	dir := filepath.Join(b.cfg.DataDir, groupsDir)
	store := &groupStore{dir: dir, logger: b.logger, pending: make(map[string]pendingWrite), wake: make(chan struct{}, 1)}
	inBucket := b.tiers != nil && !b.cfg.ReadOnly
	if inBucket {
		store.bucket = b.tiers.bucket
	}
	b.groups = newCoordinator(groupConfig{
		minSession:       b.cfg.GroupMinSessionTimeout,
		maxSession:       b.cfg.GroupMaxSessionTimeout,
		initialDelay:     max(b.cfg.GroupInitialRebalanceDelay, 0),
		retention:        b.cfg.OffsetsRetention,
		maxMetadataBytes: maxOffsetMetadataBytes,
	}, b.logger, store)
	_, err := os.Stat(dir)
	fresh := errors.Is(err, fs.ErrNotExist)
	if err != nil && !fresh {
		return err
	}
	if fresh && inBucket {
		// Restored into a side directory and renamed, so that a crash
		// midway restores again at the next start.
		tmp := dir + ".restore"
		if err := os.RemoveAll(tmp); err != nil {
			return err
		}
		if err := os.MkdirAll(tmp, 0o755); err != nil {
			return err
		}
		if err := b.restoreGroupsFromBucket(ctx, tmp); err != nil {
			return err
		}
		if err := os.Rename(tmp, dir); err != nil {
			return err
		}
		if err := syncDir(b.cfg.DataDir); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		if strings.Contains(name, ".tmp-") {
			_ = os.Remove(filepath.Join(dir, name)) // left by a crash mid-write
			continue
		}
		hexID, ok := strings.CutSuffix(name, ".json")
		id, herr := hex.DecodeString(hexID)
		if !ok || herr != nil {
			continue
		}
		body, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		sg, err := decodeGroup(body, string(id))
		if err != nil {
			return fmt.Errorf("group file %s: %w", name, err)
		}
		b.groups.restoreGroup(sg)
		if !fresh {
			b.groups.store.queue(sg.Group, pendingWrite{doc: body})
		}
	}
	if n := len(b.groups.groups); n > 0 {
		b.logger.Info("groups loaded", "groups", n, "from_bucket", fresh && inBucket)
	}
	return nil
}

// restoreGroupsFromBucket copies every group document in the bucket into
// dir.
func (b *Broker) restoreGroupsFromBucket(ctx context.Context, dir string) error {
	return b.withBucketRetry(ctx, "load groups from the bucket", func(ctx context.Context) error {
		var keys []string
		for info, err := range b.tiers.bucket.List(ctx, groupBucketDir) {
			if err != nil {
				return err
			}
			rest := strings.TrimPrefix(info.Key, groupBucketDir)
			if hexID, name, ok := strings.Cut(rest, "/"); ok && name == groupBucketName && hexID != "" {
				keys = append(keys, info.Key)
			}
		}
		for _, key := range keys {
			hexID, _, _ := strings.Cut(strings.TrimPrefix(key, groupBucketDir), "/")
			id, err := hex.DecodeString(hexID)
			if err != nil {
				continue // not a key this broker wrote
			}
			body, _, err := b.tiers.bucket.Get(ctx, key)
			if errors.Is(err, objectstore.ErrNotExist) {
				continue // deleted since the listing
			}
			if err != nil {
				return err
			}
			if _, err := decodeGroup(body, string(id)); err != nil {
				return &permanentError{fmt.Errorf("%s: %w", key, err)}
			}
			if err := writeFileAtomic(dir, groupFileName(string(id)), body); err != nil {
				return &permanentError{err}
			}
		}
		return nil
	})
}

package broker

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// The group coordinator: Kafka's classic group protocol (JoinGroup,
// SyncGroup, Heartbeat, LeaveGroup) and committed offsets, for every group,
// on this one broker. It follows Kafka's GroupCoordinator:
//
//	Empty ──join──▶ PreparingRebalance ──all joined / timeout──▶ CompletingRebalance
//	  ▲                   ▲      │                                  │ leader's SyncGroup
//	  └── last member ────┘      └── no members left ─▶ Empty       ▼
//	      leaves/expires           ◀───── join, leave, expiry ───── Stable
//
// A group's state is guarded by its own mutex; coordinator.mu guards only
// the map of groups and is a leaf (taken under group.mu, never the other
// way round). Persistence (group_store.go) runs
// under group.mu, so the writes of one group are ordered.

// groupState is a classic group's state, named as Kafka names it in
// ListGroups and DescribeGroups.
type groupState int8

const (
	groupEmpty groupState = iota
	groupPreparingRebalance
	groupCompletingRebalance
	groupStable
	groupDead
)

func (s groupState) String() string {
	switch s {
	case groupEmpty:
		return "Empty"
	case groupPreparingRebalance:
		return "PreparingRebalance"
	case groupCompletingRebalance:
		return "CompletingRebalance"
	case groupStable:
		return "Stable"
	default:
		return "Dead"
	}
}

// groupConfig holds the coordinator's settings, from Config.
type groupConfig struct {
	minSession, maxSession time.Duration
	initialDelay           time.Duration // 0: none
	retention              time.Duration // offsets.retention.minutes
	maxMetadataBytes       int
}

// coordinator owns every group.
type coordinator struct {
	cfg    groupConfig
	logger *slog.Logger
	store  *groupStore

	closed atomic.Bool // set by close: timers do nothing any more

	mu     sync.Mutex // guards below
	groups map[string]*group
}

// topicPartition names one partition of a committed offset.
type topicPartition struct {
	topic     string
	partition int32
}

// committedOffset is one committed offset of a group.
type committedOffset struct {
	offset      int64
	leaderEpoch int32
	metadata    string
	committed   time.Time
}

// group is one consumer group.
type group struct {
	c  *coordinator
	id string

	mu           sync.Mutex // guards below
	state        groupState
	stateSince   time.Time // when the state last changed; offsets of an empty group expire from here
	protocolType string
	protocol     string // chosen at the last completed join; "" when Empty
	generation   int32
	leader       string
	members      map[string]*member
	static       map[string]string      // group.instance.id → member id
	pending      map[string]*time.Timer // member ids handed out with MEMBER_ID_REQUIRED
	offsets      map[topicPartition]committedOffset
	joinTimer    *time.Timer
	initialJoin  bool // the join phase is the initial delay: it ends only on the timer
	// pendingSync holds the members of the current generation that have
	// not sent SyncGroup yet; those still missing when syncTimer fires
	// (the rebalance timeout after the join) are removed, as in Kafka.
	pendingSync map[string]bool
	syncTimer   *time.Timer
	joinSeq     uint64
	dead        bool // deleted: every later request sees a new group

	// stable is the member part persisted with the group: the members and
	// assignments of the last Stable generation, or none once Empty. Like
	// Kafka, a broker that restarts mid-rebalance brings back the last
	// stable generation, whose members then rejoin.
	stable persistedMembers
}

// member is one member of a group.
type member struct {
	id, instanceID       string
	clientID, clientHost string
	protocols            []memberProtocol
	session, rebalance   time.Duration
	assignment           []byte
	joinSeq              uint64 // order of joining; the earliest joined member leads

	lastSeen time.Time
	timer    *time.Timer
	joinCh   chan joinResult // set while a JoinGroup waits for the join to complete
	syncCh   chan syncResult // set while a SyncGroup waits for the leader's assignment
}

type memberProtocol struct {
	Name     string `json:"name"`
	Metadata []byte `json:"metadata"`
}

// joinResult is what a JoinGroup is answered with.
type joinResult struct {
	err            error
	memberID       string
	generation     int32
	protocolType   string
	protocol       string
	leader         string
	members        []kmsg.JoinGroupResponseMember
	skipAssignment bool
}

// syncResult is what a SyncGroup is answered with.
type syncResult struct {
	err          error
	protocolType string
	protocol     string
	assignment   []byte
}

func newCoordinator(cfg groupConfig, logger *slog.Logger, store *groupStore) *coordinator {
	return &coordinator{cfg: cfg, logger: logger, store: store, groups: make(map[string]*group)}
}

// newGroup returns a new empty group; the caller adds it to the map.
func (c *coordinator) newGroup(id string) *group {
	return &group{
		c:          c,
		id:         id,
		stateSince: time.Now(),
		members:    make(map[string]*member),
		static:     make(map[string]string),
		pending:    make(map[string]*time.Timer),
		offsets:    make(map[topicPartition]committedOffset),
	}
}

// lockGroup returns the group id locked, creating it if create is set, or
// nil. A group deleted between the map lookup and the lock is looked up
// again.
func (c *coordinator) lockGroup(id string, create bool) *group {
	for {
		c.mu.Lock()
		g := c.groups[id]
		if g == nil {
			if !create || c.closed.Load() {
				c.mu.Unlock()
				return nil
			}
			g = c.newGroup(id)
			c.groups[id] = g
		}
		c.mu.Unlock()
		g.mu.Lock()
		if !g.dead {
			return g
		}
		g.mu.Unlock()
	}
}

// close stops every timer; later timer callbacks do nothing. Waiting
// JoinGroup and SyncGroup requests are answered by their connections'
// shutdown.
func (c *coordinator) close() {
	c.closed.Store(true)
	for _, g := range c.snapshotGroups() {
		g.mu.Lock()
		g.stopTimersLocked()
		g.mu.Unlock()
	}
}

func (g *group) stopTimersLocked() {
	if g.joinTimer != nil {
		g.joinTimer.Stop()
	}
	g.stopSyncTimerLocked()
	for _, m := range g.members {
		if m.timer != nil {
			m.timer.Stop()
		}
	}
	for _, t := range g.pending {
		t.Stop()
	}
}

// newMemberID returns a member id in Kafka's form: the client id, a dash
// and a random UUID.
func newMemberID(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return prefix + "-" + h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// setStateLocked moves g to s.
func (g *group) setStateLocked(s groupState) {
	if g.state != s {
		g.state, g.stateSince = s, time.Now()
	}
}

// joinRequest is a JoinGroup as the coordinator sees it.
type joinRequest struct {
	version      int16
	memberID     string
	instanceID   string
	clientID     string
	clientHost   string
	protocolType string
	protocols    []memberProtocol
	session      time.Duration
	rebalance    time.Duration
}

// join handles a JoinGroup. It returns either an immediate result or a
// channel the caller waits on for the join to complete.
func (c *coordinator) join(groupID string, jr joinRequest) (joinResult, <-chan joinResult) {
	switch {
	case groupID == "":
		return joinResult{err: fmt.Errorf("%w: the empty group id", errInvalidGroupID)}, nil
	case jr.session < c.cfg.minSession || jr.session > c.cfg.maxSession:
		return joinResult{err: fmt.Errorf("%w: %v, the broker allows %v to %v", errInvalidSessionTimeout, jr.session, c.cfg.minSession, c.cfg.maxSession)}, nil
	case jr.protocolType == "" || len(jr.protocols) == 0:
		return joinResult{err: fmt.Errorf("%w: empty protocol type or no protocols", errInconsistentGroupProtocol)}, nil
	}
	g := c.lockGroup(groupID, jr.memberID == "")
	if g == nil {
		return joinResult{err: fmt.Errorf("%w: group %q does not exist", errUnknownMemberID, groupID)}, nil
	}
	defer g.mu.Unlock()
	if !g.supportsLocked(jr.protocolType, jr.protocols, jr.memberID) {
		return joinResult{err: fmt.Errorf("%w: protocol type %q or protocols do not match the group's", errInconsistentGroupProtocol, jr.protocolType)}, nil
	}
	if jr.memberID == "" {
		return g.joinUnknownLocked(jr)
	}
	return g.joinKnownLocked(jr)
}

// supportsLocked reports whether a member with these protocols may join:
// any protocol type and protocol starts an empty group; otherwise the type
// must be the group's and one protocol must be supported by every other
// member.
func (g *group) supportsLocked(protocolType string, protocols []memberProtocol, self string) bool {
	if len(g.members) == 0 || len(g.members) == 1 && g.members[self] != nil {
		return true
	}
	if protocolType != g.protocolType {
		return false
	}
	for _, p := range protocols {
		all := true
		for id, m := range g.members {
			if id != self && !slices.ContainsFunc(m.protocols, func(mp memberProtocol) bool { return mp.Name == p.Name }) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

// joinUnknownLocked handles a JoinGroup without a member id.
func (g *group) joinUnknownLocked(jr joinRequest) (joinResult, <-chan joinResult) {
	if jr.instanceID != "" {
		if oldID, ok := g.static[jr.instanceID]; ok {
			return g.replaceStaticLocked(oldID, jr)
		}
		m := g.addMemberLocked(newMemberID(jr.instanceID), jr)
		return g.awaitJoinLocked(m)
	}
	id := newMemberID(memberIDPrefix(jr.clientID))
	if jr.version >= 4 {
		// KIP-394: the member learns its id first and joins with it, so
		// that a retried join does not leave a ghost member behind.
		g.pending[id] = time.AfterFunc(jr.session, func() { g.expirePending(id) })
		return joinResult{err: fmt.Errorf("%w: rejoin with the member id given", errMemberIDRequired), memberID: id}, nil
	}
	m := g.addMemberLocked(id, jr)
	return g.awaitJoinLocked(m)
}

// memberIDPrefix is the client id, or Kafka's placeholder for none.
func memberIDPrefix(clientID string) string {
	if clientID == "" {
		return "member"
	}
	return clientID
}

// joinKnownLocked handles a JoinGroup with a member id.
func (g *group) joinKnownLocked(jr joinRequest) (joinResult, <-chan joinResult) {
	if t, ok := g.pending[jr.memberID]; ok {
		t.Stop()
		delete(g.pending, jr.memberID)
		m := g.addMemberLocked(jr.memberID, jr)
		return g.awaitJoinLocked(m)
	}
	m, err := g.checkMemberLocked(jr.memberID, jr.instanceID)
	if err != nil {
		return joinResult{err: err, memberID: jr.memberID}, nil
	}
	changed := !slices.EqualFunc(m.protocols, jr.protocols, func(a, b memberProtocol) bool {
		return a.Name == b.Name && string(a.Metadata) == string(b.Metadata)
	})
	m.protocols, m.session, m.rebalance, m.clientHost = jr.protocols, jr.session, jr.rebalance, jr.clientHost
	g.touchLocked(m)
	switch g.state {
	case groupCompletingRebalance, groupStable:
		if !changed && (g.state == groupCompletingRebalance || m.id != g.leader) {
			// A member that lost the join response, or a follower
			// rejoining with nothing new: answer with the current
			// generation instead of rebalancing everyone (the leader of
			// a generation still to be synced gets the members again).
			r := g.currentJoinResultLocked(m, g.leader)
			if m.id == g.leader {
				r.members = g.memberListLocked()
			}
			return r, nil
		}
		g.prepareRebalanceLocked("member " + m.id + " rejoined")
	}
	return g.awaitJoinLocked(m)
}

// checkMemberLocked finds memberID in g, checking a static member's
// instance id: another member id holding instanceID is FENCED_INSTANCE_ID.
func (g *group) checkMemberLocked(memberID, instanceID string) (*member, error) {
	if instanceID != "" {
		if id, ok := g.static[instanceID]; ok && id != memberID {
			return nil, fmt.Errorf("%w: instance %q is held by member %s", errFencedInstanceID, instanceID, id)
		}
	}
	m := g.members[memberID]
	if m == nil {
		return nil, fmt.Errorf("%w: %s in group %q", errUnknownMemberID, memberID, g.id)
	}
	return m, nil
}

// replaceStaticLocked lets a new incarnation of a static member (same
// group.instance.id, no member id) take over the old one's place: the old
// member id is fenced, and in a Stable group whose protocol does not change
// the new member keeps the old assignment without a rebalance.
func (g *group) replaceStaticLocked(oldID string, jr joinRequest) (joinResult, <-chan joinResult) {
	m := g.members[oldID]
	fenced := fmt.Errorf("%w: instance %q rejoined as a new member", errFencedInstanceID, jr.instanceID)
	if m.joinCh != nil {
		m.joinCh <- joinResult{err: fenced, memberID: oldID}
		m.joinCh = nil
	}
	if m.syncCh != nil {
		m.syncCh <- syncResult{err: fenced}
		m.syncCh = nil
	}
	oldLeader := g.leader
	delete(g.members, oldID)
	m.id = newMemberID(jr.instanceID)
	g.members[m.id], g.static[jr.instanceID] = m, m.id
	if g.leader == oldID {
		g.leader = m.id
	}
	m.protocols, m.session, m.rebalance, m.clientID, m.clientHost = jr.protocols, jr.session, jr.rebalance, jr.clientID, jr.clientHost
	g.touchLocked(m)
	g.c.logger.Info("static member replaced", "group", g.id, "instance", jr.instanceID, "old", oldID, "new", m.id)
	switch g.state {
	case groupStable:
		if g.selectProtocolLocked() == g.protocol {
			g.stable = g.snapshotMembersLocked()
			_ = g.persistLocked() // logged; the bucket and disk keep the old member id until the next change
			if jr.version >= 9 {
				// KIP-814: a leader learns it leads, but skips the assignor.
				r := g.currentJoinResultLocked(m, g.leader)
				if m.id == g.leader {
					r.members, r.skipAssignment = g.memberListLocked(), true
				}
				return r, nil
			}
			// Older clients are told the old leader, so that none of them
			// runs an assignment a Stable group would ignore.
			return g.currentJoinResultLocked(m, oldLeader), nil
		}
		g.prepareRebalanceLocked("static member " + jr.instanceID + " changed its protocols")
	case groupCompletingRebalance:
		g.prepareRebalanceLocked("static member " + jr.instanceID + " rejoined during the sync")
	}
	return g.awaitJoinLocked(m)
}

// currentJoinResultLocked answers m's join with the current generation,
// naming leader, without the member list.
func (g *group) currentJoinResultLocked(m *member, leader string) joinResult {
	return joinResult{
		memberID:     m.id,
		generation:   g.generation,
		protocolType: g.protocolType,
		protocol:     g.protocol,
		leader:       leader,
	}
}

// addMemberLocked adds a member that is joining and starts a rebalance if
// the group is not already in one.
func (g *group) addMemberLocked(id string, jr joinRequest) *member {
	if len(g.members) == 0 {
		g.protocolType = jr.protocolType
	}
	g.joinSeq++
	m := &member{
		id: id, instanceID: jr.instanceID, clientID: jr.clientID, clientHost: jr.clientHost,
		protocols: jr.protocols,
		session:   jr.session, rebalance: jr.rebalance, joinSeq: g.joinSeq,
	}
	g.members[id] = m
	if jr.instanceID != "" {
		g.static[jr.instanceID] = id
	}
	g.touchLocked(m)
	switch g.state {
	case groupEmpty, groupStable, groupCompletingRebalance:
		g.prepareRebalanceLocked("member " + id + " joined")
	}
	return m
}

// awaitJoinLocked parks m's JoinGroup until the join completes, and
// completes it now if m was the last one missing.
func (g *group) awaitJoinLocked(m *member) (joinResult, <-chan joinResult) {
	if m.joinCh != nil {
		// A retried JoinGroup replaces one still waiting, whose client
		// has given up on it.
		m.joinCh <- joinResult{err: fmt.Errorf("%w: superseded by a newer JoinGroup", errRebalanceInProgress), memberID: m.id}
	}
	ch := make(chan joinResult, 1)
	m.joinCh = ch
	g.maybeCompleteJoinLocked()
	return joinResult{}, ch
}

// prepareRebalanceLocked starts a rebalance: members waiting in SyncGroup
// are told REBALANCE_IN_PROGRESS, and the join phase waits for every member
// to rejoin, at most the largest rebalance timeout (or, for a group that
// was empty, the initial delay, so that members starting together join one
// generation).
func (g *group) prepareRebalanceLocked(reason string) {
	if g.state == groupCompletingRebalance {
		for _, m := range g.members {
			m.assignment = nil
			if m.syncCh != nil {
				m.syncCh <- syncResult{err: fmt.Errorf("%w: %s", errRebalanceInProgress, reason)}
				m.syncCh = nil
			}
		}
	}
	var delay time.Duration
	for _, m := range g.members {
		delay = max(delay, m.rebalance)
	}
	g.initialJoin = g.state == groupEmpty && g.c.cfg.initialDelay > 0
	if g.initialJoin {
		delay = min(delay, g.c.cfg.initialDelay)
	}
	g.stopSyncTimerLocked()
	g.setStateLocked(groupPreparingRebalance)
	g.armJoinTimerLocked(delay)
	g.c.logger.Info("group rebalancing", "group", g.id, "generation", g.generation, "members", len(g.members), "reason", reason)
}

func (g *group) armJoinTimerLocked(d time.Duration) {
	if g.joinTimer != nil {
		g.joinTimer.Stop()
	}
	gen := g.generation
	g.joinTimer = time.AfterFunc(d, func() { g.joinTimeout(gen) })
}

// joinTimeout ends the join phase of generation gen when its time is up.
func (g *group) joinTimeout(gen int32) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.c.closed.Load() || g.dead || g.state != groupPreparingRebalance || g.generation != gen {
		return
	}
	g.initialJoin = false
	g.completeJoinLocked()
}

// maybeCompleteJoinLocked completes the join phase once every member and
// no pending member id has joined.
func (g *group) maybeCompleteJoinLocked() {
	if g.state != groupPreparingRebalance || g.initialJoin || len(g.pending) > 0 {
		return
	}
	for _, m := range g.members {
		if m.joinCh == nil {
			return
		}
	}
	g.completeJoinLocked()
}

// completeJoinLocked ends the join phase: dynamic members that did not
// rejoin are dropped (static ones stay, as in Kafka), the generation moves
// on, and every waiting member gets its answer, the leader with the
// member list. A group left without members becomes Empty.
func (g *group) completeJoinLocked() {
	if g.joinTimer != nil {
		g.joinTimer.Stop()
	}
	for _, m := range g.members {
		if m.joinCh == nil && m.instanceID == "" {
			g.c.logger.Info("member removed: did not rejoin in time", "group", g.id, "member", m.id)
			g.removeMemberLocked(m, nil)
		}
	}
	var leader *member
	for _, m := range g.members {
		if m.joinCh != nil && (leader == nil || m.joinSeq < leader.joinSeq) {
			leader = m
		}
	}
	if cur := g.members[g.leader]; cur != nil && cur.joinCh != nil {
		leader = cur
	}
	if leader == nil && len(g.members) > 0 {
		// Only static members that have not rejoined: wait for them to
		// rejoin or expire.
		var delay time.Duration
		for _, m := range g.members {
			delay = max(delay, m.rebalance)
		}
		g.armJoinTimerLocked(delay)
		return
	}
	g.generation++
	if len(g.members) == 0 {
		g.protocol, g.leader = "", ""
		g.setStateLocked(groupEmpty)
		g.stable = persistedMembers{}
		g.c.logger.Info("group empty", "group", g.id, "generation", g.generation)
		g.persistLocked()
		return
	}
	g.leader = leader.id
	g.protocol = g.selectProtocolLocked()
	g.setStateLocked(groupCompletingRebalance)
	g.pendingSync = make(map[string]bool, len(g.members))
	var syncDelay time.Duration
	for id, m := range g.members {
		g.pendingSync[id] = true
		syncDelay = max(syncDelay, m.rebalance)
	}
	gen := g.generation
	g.syncTimer = time.AfterFunc(syncDelay, func() { g.syncTimeout(gen) })
	g.c.logger.Info("group joined", "group", g.id, "generation", g.generation, "protocol", g.protocol,
		"leader", g.leader, "members", len(g.members))
	for _, m := range g.members {
		if m.joinCh == nil {
			continue
		}
		r := g.currentJoinResultLocked(m, g.leader)
		if m.id == g.leader {
			r.members = g.memberListLocked()
		}
		m.joinCh <- r
		m.joinCh = nil
		g.touchLocked(m)
	}
}

func (g *group) stopSyncTimerLocked() {
	if g.syncTimer != nil {
		g.syncTimer.Stop()
		g.syncTimer = nil
	}
	g.pendingSync = nil
}

// syncTimeout removes the members of generation gen that have not sent
// SyncGroup within the rebalance timeout after the join, and rebalances
// the rest: a member that never syncs would otherwise hold its partitions
// unassigned for good.
func (g *group) syncTimeout(gen int32) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.c.closed.Load() || g.dead || g.generation != gen || len(g.pendingSync) == 0 ||
		g.state != groupCompletingRebalance && g.state != groupStable {
		return
	}
	for id := range g.pendingSync {
		if m := g.members[id]; m != nil {
			g.c.logger.Info("member removed: no SyncGroup within the rebalance timeout", "group", g.id, "member", id)
			g.removeMemberLocked(m, nil)
		}
	}
	g.prepareRebalanceLocked("members did not sync")
	g.maybeCompleteJoinLocked()
}

// selectProtocolLocked picks the protocol every member supports that most
// members list first among those, as Kafka does.
func (g *group) selectProtocolLocked() string {
	var candidates []string
	for _, m := range g.members {
		for _, p := range m.protocols {
			if slices.Contains(candidates, p.Name) {
				continue
			}
			all := true
			for _, o := range g.members {
				if !slices.ContainsFunc(o.protocols, func(op memberProtocol) bool { return op.Name == p.Name }) {
					all = false
					break
				}
			}
			if all {
				candidates = append(candidates, p.Name)
			}
		}
	}
	votes := make(map[string]int)
	for _, m := range g.members {
		for _, p := range m.protocols {
			if slices.Contains(candidates, p.Name) {
				votes[p.Name]++
				break
			}
		}
	}
	best := ""
	for _, c := range candidates {
		if best == "" || votes[c] > votes[best] {
			best = c
		}
	}
	return best
}

// memberListLocked is the leader's member list: each member with its
// metadata for the chosen protocol, ordered by joining.
func (g *group) memberListLocked() []kmsg.JoinGroupResponseMember {
	ms := g.sortedMembersLocked()
	out := make([]kmsg.JoinGroupResponseMember, 0, len(ms))
	for _, m := range ms {
		rm := kmsg.NewJoinGroupResponseMember()
		rm.MemberID = m.id
		if m.instanceID != "" {
			rm.InstanceID = kmsg.StringPtr(m.instanceID)
		}
		for _, p := range m.protocols {
			if p.Name == g.protocol {
				rm.ProtocolMetadata = p.Metadata
				break
			}
		}
		out = append(out, rm)
	}
	return out
}

func (g *group) sortedMembersLocked() []*member {
	ms := make([]*member, 0, len(g.members))
	for _, m := range g.members {
		ms = append(ms, m)
	}
	slices.SortFunc(ms, func(a, b *member) int { return cmp.Compare(a.joinSeq, b.joinSeq) })
	return ms
}

// touchLocked records that m was heard from and restarts its session
// timer.
func (g *group) touchLocked(m *member) {
	m.lastSeen = time.Now()
	if m.timer == nil {
		m.timer = time.AfterFunc(m.session, func() { g.sessionTimeout(m) })
		return
	}
	m.timer.Reset(m.session)
}

// sessionTimeout removes m if it has not been heard from for its session
// timeout. A member waiting in JoinGroup or SyncGroup is alive: the join
// phase's own timeout covers it.
func (g *group) sessionTimeout(m *member) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.c.closed.Load() || g.dead || g.members[m.id] != m {
		return
	}
	if left := m.session - time.Since(m.lastSeen); left > 0 {
		m.timer.Reset(left)
		return
	}
	if m.joinCh != nil || m.syncCh != nil {
		m.timer.Reset(m.session)
		return
	}
	g.c.logger.Info("member removed: session timed out", "group", g.id, "member", m.id, "session", m.session)
	g.removeMemberLocked(m, fmt.Errorf("%w: session timed out", errUnknownMemberID))
	g.memberGoneLocked("member " + m.id + " session timed out")
}

// expirePending forgets a member id handed out with MEMBER_ID_REQUIRED
// that was not used within the session timeout.
func (g *group) expirePending(id string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.pending[id]; !ok || g.dead || g.c.closed.Load() {
		return
	}
	delete(g.pending, id)
	g.maybeCompleteJoinLocked()
}

// removeMemberLocked drops m from g; its waiting JoinGroup or SyncGroup,
// if any, is answered with err (UNKNOWN_MEMBER_ID if nil).
func (g *group) removeMemberLocked(m *member, err error) {
	if err == nil {
		err = fmt.Errorf("%w: removed from group %q", errUnknownMemberID, g.id)
	}
	if m.joinCh != nil {
		m.joinCh <- joinResult{err: err, memberID: m.id}
		m.joinCh = nil
	}
	if m.syncCh != nil {
		m.syncCh <- syncResult{err: err}
		m.syncCh = nil
	}
	if m.timer != nil {
		m.timer.Stop()
	}
	delete(g.pendingSync, m.id)
	delete(g.members, m.id)
	if m.instanceID != "" && g.static[m.instanceID] == m.id {
		delete(g.static, m.instanceID)
	}
}

// memberGoneLocked moves g on after members left or expired: a settled
// group rebalances, a joining one may now be complete.
func (g *group) memberGoneLocked(reason string) {
	switch g.state {
	case groupStable, groupCompletingRebalance:
		g.prepareRebalanceLocked(reason)
		g.maybeCompleteJoinLocked()
	case groupPreparingRebalance:
		g.maybeCompleteJoinLocked()
	}
}

// syncRequest is a SyncGroup as the coordinator sees it.
type syncRequest struct {
	memberID, instanceID   string
	generation             int32
	protocolType, protocol *string // v5+; nil when not sent
	assignments            map[string][]byte
}

// sync handles a SyncGroup: the leader's assignment ends the rebalance and
// answers every member; a follower waits for it. In a Stable group every
// member gets its current assignment.
func (c *coordinator) sync(groupID string, sr syncRequest) (syncResult, <-chan syncResult) {
	if groupID == "" {
		return syncResult{err: fmt.Errorf("%w: the empty group id", errInvalidGroupID)}, nil
	}
	g := c.lockGroup(groupID, false)
	if g == nil {
		return syncResult{err: fmt.Errorf("%w: group %q does not exist", errUnknownMemberID, groupID)}, nil
	}
	defer g.mu.Unlock()
	m, err := g.checkMemberLocked(sr.memberID, sr.instanceID)
	switch {
	case err != nil:
		return syncResult{err: err}, nil
	case sr.generation != g.generation:
		return syncResult{err: fmt.Errorf("%w: generation %d, the group is at %d", errIllegalGeneration, sr.generation, g.generation)}, nil
	case sr.protocolType != nil && *sr.protocolType != g.protocolType || sr.protocol != nil && *sr.protocol != g.protocol:
		return syncResult{err: fmt.Errorf("%w: protocol does not match the group's", errInconsistentGroupProtocol)}, nil
	}
	g.touchLocked(m)
	if g.state != groupPreparingRebalance {
		delete(g.pendingSync, m.id)
	}
	switch g.state {
	case groupPreparingRebalance:
		return syncResult{err: fmt.Errorf("%w: group %q", errRebalanceInProgress, g.id)}, nil
	case groupStable:
		return syncResult{protocolType: g.protocolType, protocol: g.protocol, assignment: m.assignment}, nil
	case groupCompletingRebalance:
	default:
		return syncResult{err: fmt.Errorf("%w: group %q is %s", errUnknownMemberID, g.id, g.state)}, nil
	}
	if m.syncCh != nil {
		m.syncCh <- syncResult{err: fmt.Errorf("%w: superseded by a newer SyncGroup", errRebalanceInProgress)}
	}
	ch := make(chan syncResult, 1)
	m.syncCh = ch
	if m.id == g.leader {
		for _, o := range g.members {
			o.assignment = sr.assignments[o.id] // missing: an empty assignment
		}
		prev := g.stable
		g.stable = g.snapshotMembersLocked()
		if err := g.persistLocked(); err != nil {
			// As Kafka: a generation whose assignment cannot be stored is
			// abandoned; every waiting member, the leader too, is told to
			// rejoin.
			g.stable = prev
			g.prepareRebalanceLocked("group metadata could not be saved")
			return syncResult{}, ch
		}
		g.setStateLocked(groupStable)
		for _, o := range g.members {
			if o.syncCh != nil {
				o.syncCh <- syncResult{protocolType: g.protocolType, protocol: g.protocol, assignment: o.assignment}
				o.syncCh = nil
				g.touchLocked(o)
			}
		}
		g.c.logger.Info("group stable", "group", g.id, "generation", g.generation, "members", len(g.members))
	}
	return syncResult{}, ch
}

// heartbeat handles a Heartbeat.
func (c *coordinator) heartbeat(groupID, memberID, instanceID string, generation int32) error {
	if groupID == "" {
		return fmt.Errorf("%w: the empty group id", errInvalidGroupID)
	}
	g := c.lockGroup(groupID, false)
	if g == nil {
		return fmt.Errorf("%w: group %q does not exist", errUnknownMemberID, groupID)
	}
	defer g.mu.Unlock()
	m, err := g.checkMemberLocked(memberID, instanceID)
	if err != nil {
		return err
	}
	if generation != g.generation {
		return fmt.Errorf("%w: generation %d, the group is at %d", errIllegalGeneration, generation, g.generation)
	}
	g.touchLocked(m)
	if g.state == groupPreparingRebalance {
		return fmt.Errorf("%w: group %q", errRebalanceInProgress, g.id)
	}
	return nil
}

// leave removes one member (LeaveGroup): by member id, or by instance id
// for a static member, whose member id, if given, must match.
func (c *coordinator) leave(groupID string, members []leavingMember) ([]error, error) {
	if groupID == "" {
		return nil, fmt.Errorf("%w: the empty group id", errInvalidGroupID)
	}
	errs := make([]error, len(members))
	g := c.lockGroup(groupID, false)
	if g == nil {
		for i := range errs {
			errs[i] = fmt.Errorf("%w: group %q does not exist", errUnknownMemberID, groupID)
		}
		return errs, nil
	}
	defer g.mu.Unlock()
	left := 0
	for i, lm := range members {
		id := lm.memberID
		if lm.instanceID != "" {
			held, ok := g.static[lm.instanceID]
			switch {
			case !ok:
				errs[i] = fmt.Errorf("%w: instance %q", errUnknownMemberID, lm.instanceID)
				continue
			case id != "" && id != held:
				errs[i] = fmt.Errorf("%w: instance %q is held by member %s", errFencedInstanceID, lm.instanceID, held)
				continue
			}
			id = held
		}
		if t, ok := g.pending[id]; ok {
			t.Stop()
			delete(g.pending, id)
			left++
			continue
		}
		m := g.members[id]
		if m == nil {
			errs[i] = fmt.Errorf("%w: %s in group %q", errUnknownMemberID, id, g.id)
			continue
		}
		g.c.logger.Info("member left", "group", g.id, "member", id, "reason", lm.reason)
		g.removeMemberLocked(m, nil)
		left++
	}
	if left > 0 {
		g.memberGoneLocked("members left")
	}
	return errs, nil
}

type leavingMember struct {
	memberID, instanceID, reason string
}

package broker

import (
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// rawMember is one group member speaking the protocol on a connection of
// its own, so that its JoinGroup and SyncGroup may wait while others act.
type rawMember struct {
	t        *testing.T
	c        *rawConn
	group    string
	instance string // "" for a dynamic member
	id       string
	gen      int32

	rebalanceMs int32 // the rebalance timeout it asks for; 0 for 10s
}

func newRawMember(t *testing.T, tb *testBroker, group, instance string) *rawMember {
	return &rawMember{t: t, c: dialRaw(t, tb.Addr()), group: group, instance: instance}
}

// joinAsync sends JoinGroup v9 with the member's current id; the answer
// arrives on the channel.
func (m *rawMember) joinAsync() <-chan *kmsg.JoinGroupResponse {
	req := joinRequestFor(m.group, m.id, false)
	if m.instance != "" {
		req.InstanceID = kmsg.StringPtr(m.instance)
	}
	req.SessionTimeoutMillis = 5000
	if m.rebalanceMs > 0 {
		req.RebalanceTimeoutMillis = m.rebalanceMs
	}
	req.SetVersion(9)
	ch := make(chan *kmsg.JoinGroupResponse, 1)
	go func() {
		resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
		resp.SetVersion(9)
		corr := m.c.send(req)
		if got := m.c.recv(resp); got != corr {
			m.t.Errorf("join: correlation id %d, want %d", got, corr)
		}
		ch <- resp
	}()
	return ch
}

// joined takes a join answer, remembering the member id and generation.
func (m *rawMember) joined(ch <-chan *kmsg.JoinGroupResponse, wantErr *kerr.Error) *kmsg.JoinGroupResponse {
	m.t.Helper()
	resp := <-ch
	if resp.ErrorCode != code(wantErr) {
		m.t.Fatalf("join %s: error %v, want %v", m.group, kerr.ErrorForCode(resp.ErrorCode), wantErr)
	}
	if resp.MemberID != "" {
		m.id = resp.MemberID
	}
	if resp.ErrorCode == 0 {
		m.gen = resp.Generation
	}
	return resp
}

// join is a dynamic member's whole join: MEMBER_ID_REQUIRED first.
func (m *rawMember) join() *kmsg.JoinGroupResponse {
	m.t.Helper()
	if m.id == "" && m.instance == "" {
		m.joined(m.joinAsync(), kerr.MemberIDRequired)
	}
	return m.joined(m.joinAsync(), nil)
}

func (m *rawMember) syncAsync(assign map[string]string) <-chan *kmsg.SyncGroupResponse {
	req := kmsg.NewPtrSyncGroupRequest()
	req.SetVersion(5)
	req.Group, req.MemberID, req.Generation = m.group, m.id, m.gen
	if m.instance != "" {
		req.InstanceID = kmsg.StringPtr(m.instance)
	}
	for id, a := range assign {
		ga := kmsg.NewSyncGroupRequestGroupAssignment()
		ga.MemberID, ga.MemberAssignment = id, []byte(a)
		req.GroupAssignment = append(req.GroupAssignment, ga)
	}
	ch := make(chan *kmsg.SyncGroupResponse, 1)
	go func() {
		resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
		resp.SetVersion(5)
		m.c.send(req)
		m.c.recv(resp)
		ch <- resp
	}()
	return ch
}

func (m *rawMember) synced(ch <-chan *kmsg.SyncGroupResponse, wantErr *kerr.Error, wantAssignment string) {
	m.t.Helper()
	resp := <-ch
	if resp.ErrorCode != code(wantErr) || wantErr == nil && string(resp.MemberAssignment) != wantAssignment {
		m.t.Fatalf("sync %s: error %v assignment %q, want %v %q", m.id, kerr.ErrorForCode(resp.ErrorCode), resp.MemberAssignment, wantErr, wantAssignment)
	}
}

func (m *rawMember) heartbeat(gen int32) *kerr.Error {
	req := kmsg.NewPtrHeartbeatRequest()
	req.SetVersion(4)
	req.Group, req.MemberID, req.Generation = m.group, m.id, gen
	if m.instance != "" {
		req.InstanceID = kmsg.StringPtr(m.instance)
	}
	return errorFor(m.c.roundTrip(req).(*kmsg.HeartbeatResponse).ErrorCode)
}

func (m *rawMember) commit(gen int32, offset int64) *kerr.Error {
	req := commitRequestFor(m.group, offset)
	req.SetVersion(8)
	req.MemberID, req.Generation = m.id, gen
	if m.instance != "" {
		req.InstanceID = kmsg.StringPtr(m.instance)
	}
	return errorFor(m.c.roundTrip(req).(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode)
}

// secondJoins makes b join the Stable group a is alone in: a learns of the
// rebalance from its heartbeat and rejoins, and both get the next
// generation.
func secondJoins(t *testing.T, a, b *rawMember) {
	t.Helper()
	if b.instance == "" {
		b.joined(b.joinAsync(), kerr.MemberIDRequired)
	}
	bJoin := b.joinAsync()
	eventually(t, "the group rebalancing", func() bool { return a.heartbeat(a.gen) == kerr.RebalanceInProgress })
	a.joined(a.joinAsync(), nil)
	b.joined(bJoin, nil)
}

func code(e *kerr.Error) int16 {
	if e == nil {
		return 0
	}
	return e.Code
}

func errorFor(c int16) *kerr.Error {
	if c == 0 {
		return nil
	}
	return kerr.ErrorForCode(c).(*kerr.Error)
}

func wantErr(t *testing.T, what string, got, want *kerr.Error) {
	t.Helper()
	if got != want {
		t.Errorf("%s: %v, want %v", what, got, want)
	}
}

// TestGroupGenerationAndMemberChecks walks a group through two
// generations and checks Kafka's answers to stale and unknown members,
// commits during each phase of a rebalance, and deletes.
func TestGroupGenerationAndMemberChecks(t *testing.T) {
	tb := startBroker(t, groupOpts)
	tb.createTopic("sweep", 1, nil)
	a := newRawMember(t, tb, "checks", "")
	b := newRawMember(t, tb, "checks", "")

	// MEMBER_ID_REQUIRED, then the join with the id; a alone leads.
	if r := a.join(); r.LeaderID != a.id || r.Generation != 1 || len(r.Members) != 1 {
		t.Fatalf("first join: %+v", r)
	}
	wantErr(t, "heartbeat of a member never seen", (&rawMember{c: a.c, group: "checks", id: "stranger"}).heartbeat(1), kerr.UnknownMemberID)
	wantErr(t, "heartbeat with a future generation", a.heartbeat(2), kerr.IllegalGeneration)
	wantErr(t, "commit while completing the rebalance", a.commit(1, 1), kerr.RebalanceInProgress)
	a.synced(a.syncAsync(map[string]string{a.id: "a1"}), nil, "a1")
	wantErr(t, "heartbeat when stable", a.heartbeat(1), nil)
	wantErr(t, "commit when stable", a.commit(1, 2), nil)
	wantErr(t, "commit outside group management to a group with members",
		(&rawMember{c: a.c, group: "checks"}).commit(-1, 3), kerr.UnknownMemberID)

	// b joins: the group prepares a rebalance. a learns of it from its
	// heartbeat, may still commit with its generation (Kafka lets members
	// commit while they give up partitions), and cannot sync.
	b.joined(b.joinAsync(), kerr.MemberIDRequired)
	bJoin := b.joinAsync()
	eventually(t, "the group rebalancing", func() bool { return tb.groups.describe("checks").state == "PreparingRebalance" })
	wantErr(t, "heartbeat while preparing the rebalance", a.heartbeat(1), kerr.RebalanceInProgress)
	wantErr(t, "commit while preparing the rebalance", a.commit(1, 4), nil)
	a.synced(a.syncAsync(nil), kerr.RebalanceInProgress, "")
	aJoin := a.joinAsync()
	ra, rb := a.joined(aJoin, nil), b.joined(bJoin, nil)
	if ra.Generation != 2 || rb.Generation != 2 || ra.LeaderID != a.id || len(ra.Members) != 2 || len(rb.Members) != 0 {
		t.Fatalf("second join: leader %+v, follower %+v", ra, rb)
	}
	wantErr(t, "heartbeat of the old generation", a.heartbeat(1), kerr.IllegalGeneration)
	wantErr(t, "commit of the old generation", a.commit(1, 5), kerr.IllegalGeneration)
	// The follower's sync waits for the leader's.
	bSync := b.syncAsync(nil)
	a.synced(a.syncAsync(map[string]string{a.id: "a2", b.id: "b2"}), nil, "a2")
	b.synced(bSync, nil, "b2")
	wantErr(t, "commit of the new generation", b.commit(2, 6), nil)

	// A group with members is not deleted; its subscribed topic's offsets
	// are not deleted either.
	adm := tb.admin()
	ctx := testContext(t)
	if _, err := adm.DeleteGroup(ctx, "checks"); !errors.Is(err, kerr.NonEmptyGroup) {
		t.Errorf("delete of a group with members: %v, want NON_EMPTY_GROUP", err)
	}
	if r := a.c.roundTrip(offsetDeleteRequestFor("checks")).(*kmsg.OffsetDeleteResponse); r.ErrorCode != 0 || r.Topics[0].Partitions[0].ErrorCode != kerr.GroupSubscribedToTopic.Code {
		t.Errorf("offset delete of a subscribed topic: %+v, want GROUP_SUBSCRIBED_TO_TOPIC", r)
	}

	// Batch leave: one known member, one stranger.
	lv := kmsg.NewPtrLeaveGroupRequest()
	lv.SetVersion(5)
	lv.Group = "checks"
	for _, id := range []string{a.id, "stranger"} {
		lm := kmsg.NewLeaveGroupRequestMember()
		lm.MemberID = id
		lv.Members = append(lv.Members, lm)
	}
	r := a.c.roundTrip(lv).(*kmsg.LeaveGroupResponse)
	if r.ErrorCode != 0 || len(r.Members) != 2 || r.Members[0].ErrorCode != 0 || r.Members[1].ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("batch leave: %+v", r)
	}
	// b is alone: its heartbeat says rebalance; it rejoins and leads.
	eventually(t, "rebalance after the leave", func() bool { return b.heartbeat(2) == kerr.RebalanceInProgress })
	if r := b.join(); r.Generation != 3 || r.LeaderID != b.id {
		t.Fatalf("rejoin after the leave: %+v", r)
	}
	b.synced(b.syncAsync(map[string]string{b.id: "b3"}), nil, "b3")
	lv.Members = lv.Members[:1]
	lv.Members[0].MemberID = b.id
	if r := b.c.roundTrip(lv).(*kmsg.LeaveGroupResponse); r.ErrorCode != 0 || r.Members[0].ErrorCode != 0 {
		t.Fatalf("last leave: %+v", r)
	}
	if d := tb.groups.describe("checks"); d.state != "Empty" || d.generation != 4 {
		t.Errorf("after every member left: %s generation %d, want Empty 4", d.state, d.generation)
	}
	// The offsets stay, and an empty group is deleted with them.
	fo, err := adm.FetchOffsets(ctx, "checks")
	if o, _ := fo.Lookup("sweep", 0); err != nil || o.At != 6 {
		t.Errorf("committed offset after the members left: %+v %v, want 6", o, err)
	}
	if r, err := adm.DeleteGroup(ctx, "checks"); err != nil || r.Err != nil {
		t.Errorf("delete of an empty group: %v %v", err, r.Err)
	}
	if d := tb.groups.describe("checks"); d.state != "Dead" {
		t.Errorf("after the delete: %s, want Dead", d.state)
	}
}

// TestGroupStaticMembership checks static members (group.instance.id): a
// new incarnation takes over without a rebalance and keeps the
// assignment, the old one is fenced, and leaving by instance id needs the
// right member id.
func TestGroupStaticMembership(t *testing.T) {
	tb := startBroker(t, groupOpts)
	tb.createTopic("sweep", 1, nil)
	s1 := newRawMember(t, tb, "static", "one")
	s2 := newRawMember(t, tb, "static", "two")
	// Static members join without MEMBER_ID_REQUIRED.
	s1.joined(s1.joinAsync(), nil)
	s1.synced(s1.syncAsync(map[string]string{s1.id: "s1-gen1"}), nil, "s1-gen1")
	secondJoins(t, s1, s2)
	sync2 := s2.syncAsync(nil)
	s1.synced(s1.syncAsync(map[string]string{s1.id: "s1-gen2", s2.id: "s2-gen2"}), nil, "s1-gen2")
	s2.synced(sync2, nil, "s2-gen2")

	// s2 restarts: a new incarnation with the same instance id and no
	// member id. The Stable group keeps its generation, answers at once,
	// and the new member id gets the old assignment.
	old := *s2
	s2new := newRawMember(t, tb, "static", "two")
	r := s2new.joined(s2new.joinAsync(), nil)
	if r.Generation != 2 || s2new.id == old.id || r.LeaderID != s1.id || len(r.Members) != 0 {
		t.Fatalf("static rejoin: %+v (old id %s)", r, old.id)
	}
	s2new.synced(s2new.syncAsync(nil), nil, "s2-gen2")
	if d := tb.groups.describe("static"); d.state != "Stable" || d.generation != 2 {
		t.Errorf("after the static rejoin: %s generation %d, want Stable 2 (no rebalance)", d.state, d.generation)
	}
	wantErr(t, "heartbeat of the replaced incarnation", old.heartbeat(2), kerr.FencedInstanceID)
	wantErr(t, "commit of the replaced incarnation", old.commit(2, 1), kerr.FencedInstanceID)
	wantErr(t, "heartbeat of the new incarnation", s2new.heartbeat(2), nil)

	// Leave by instance id: with the replaced member id it is fenced, with
	// none it removes whoever holds the instance.
	lv := kmsg.NewPtrLeaveGroupRequest()
	lv.SetVersion(5)
	lv.Group = "static"
	for _, m := range []struct{ id, instance string }{{old.id, "two"}, {"", "one"}} {
		lm := kmsg.NewLeaveGroupRequestMember()
		lm.MemberID, lm.InstanceID = m.id, kmsg.StringPtr(m.instance)
		lv.Members = append(lv.Members, lm)
	}
	lr := s1.c.roundTrip(lv).(*kmsg.LeaveGroupResponse)
	if lr.ErrorCode != 0 || lr.Members[0].ErrorCode != kerr.FencedInstanceID.Code || lr.Members[1].ErrorCode != 0 {
		t.Fatalf("leave by instance id: %+v", lr)
	}
	d := tb.groups.describe("static")
	if len(d.members) != 1 || d.members[0].instanceID != "two" {
		t.Errorf("members after the leave: %+v, want only instance two", d.members)
	}
}

// TestGroupMemberThatNeverSyncsIsRemoved: a member that joined but sends no
// SyncGroup within the rebalance timeout is removed, although it
// heartbeats, and the rest of the group rebalances without it.
func TestGroupMemberThatNeverSyncsIsRemoved(t *testing.T) {
	tb := startBroker(t, groupOpts)
	tb.createTopic("sweep", 1, nil)
	a := newRawMember(t, tb, "laggard", "")
	b := newRawMember(t, tb, "laggard", "")
	a.rebalanceMs, b.rebalanceMs = 300, 300
	a.join()
	a.synced(a.syncAsync(map[string]string{a.id: "a1"}), nil, "a1")
	secondJoins(t, a, b)
	a.synced(a.syncAsync(map[string]string{a.id: "a2", b.id: "b2"}), nil, "a2")
	// b heartbeats but never syncs.
	eventually(t, "b removed", func() bool { return b.heartbeat(2) == kerr.UnknownMemberID })
	wantErr(t, "heartbeat of the member that synced", a.heartbeat(2), kerr.RebalanceInProgress)
	if r := a.join(); r.Generation != 3 || len(r.Members) != 1 {
		t.Fatalf("rejoin without the laggard: %+v", r)
	}
}

package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-io/strata/objectstore"
	"github.com/strata-io/strata/objectstore/faulty"
)

// groupOpts makes groups quick to test: members may ask for short session
// timeouts and the first join does not wait long for company.
func groupOpts(cfg *Config) {
	cfg.GroupMinSessionTimeout = 100 * time.Millisecond
	cfg.GroupInitialRebalanceDelay = 50 * time.Millisecond
}

// groupLedger checks, across all members of a group, that every partition
// is consumed in order, each offset exactly once: after every rebalance a
// partition's new owner resumes exactly at the committed offset.
type groupLedger struct {
	t        *testing.T
	mu       sync.Mutex
	next     map[int32]int64 // per partition, the offset expected next
	consumed int
	bad      []string
}

func newGroupLedger(t *testing.T) *groupLedger {
	return &groupLedger{t: t, next: make(map[int32]int64)}
}

func (l *groupLedger) record(member string, r *kgo.Record) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if want := l.next[r.Partition]; r.Offset != want && len(l.bad) < 10 {
		l.bad = append(l.bad, fmt.Sprintf("%s read partition %d offset %d, want %d (re-read or skipped)", member, r.Partition, r.Offset, want))
	}
	l.next[r.Partition] = max(l.next[r.Partition], r.Offset+1)
	l.consumed++
}

func (l *groupLedger) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.consumed
}

func (l *groupLedger) check() {
	l.t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, b := range l.bad {
		l.t.Error(b)
	}
}

// groupMember is one kgo group consumer run by a test. It processes and
// commits each poll before it lets a rebalance happen
// (BlockRebalanceOnPoll), so no record is read twice.
type groupMember struct {
	name    string
	cl      *kgo.Client
	crashed atomic.Bool // the connections are cut: the client can no longer reach the broker
	crash   chan struct{}
	done    chan struct{}
	conns   sync.Map // net.Conn → struct{}
}

func startGroupMember(t *testing.T, tb *testBroker, l *groupLedger, name, group, topic string, balancer kgo.GroupBalancer, extra ...kgo.Opt) *groupMember {
	t.Helper()
	m := &groupMember{name: name, crash: make(chan struct{}), done: make(chan struct{})}
	var d net.Dialer
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(tb.Addr()),
		kgo.ClientID(name),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.Balancers(balancer),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.SessionTimeout(time.Second),
		kgo.HeartbeatInterval(100 * time.Millisecond),
		kgo.RebalanceTimeout(10 * time.Second),
		kgo.FetchMaxWait(100 * time.Millisecond),
		kgo.RetryTimeout(5 * time.Second),
		kgo.Dialer(func(ctx context.Context, network, host string) (net.Conn, error) {
			if m.crashed.Load() {
				return nil, errors.New("crashed")
			}
			c, err := d.DialContext(ctx, network, host)
			if err == nil {
				m.conns.Store(c, struct{}{})
			}
			return c, err
		}),
	}, extra...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatalf("kgo.NewClient: %v", err)
	}
	m.cl = cl
	go func() {
		defer close(m.done)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			select {
			case <-m.crash:
				cancel()
			case <-m.done:
			}
		}()
		for {
			fs := cl.PollFetches(ctx)
			if fs.IsClientClosed() || ctx.Err() != nil {
				cl.AllowRebalance()
				return
			}
			var recs []*kgo.Record
			fs.EachRecord(func(r *kgo.Record) {
				l.record(name, r)
				recs = append(recs, r)
			})
			if len(recs) > 0 {
				if err := cl.CommitRecords(ctx, recs...); err != nil && ctx.Err() == nil {
					t.Errorf("%s: commit: %v", name, err)
				}
			}
			cl.AllowRebalance()
		}
	}()
	t.Cleanup(func() {
		m.stopPolling()
		cl.Close()
	})
	return m
}

func (m *groupMember) stopPolling() {
	select {
	case <-m.crash:
	default:
		close(m.crash)
	}
	<-m.done
}

// leave stops polling and closes the client, which leaves the group.
func (m *groupMember) leave() {
	m.stopPolling()
	m.cl.Close()
}

// crashNow stops polling (after the last poll's commit) and cuts every
// connection: the member never leaves, the broker must expire it.
func (m *groupMember) crashNow() {
	m.stopPolling()
	m.crashed.Store(true)
	m.conns.Range(func(k, _ any) bool {
		_ = k.(net.Conn).Close()
		return true
	})
}

// describeGroup returns the group's state and members as DescribeGroups
// gives them.
func describeGroup(t *testing.T, adm *kadm.Client, group string) kadm.DescribedGroup {
	t.Helper()
	dg, err := adm.DescribeGroups(testContext(t), group)
	if err != nil {
		t.Fatalf("describe group: %v", err)
	}
	return dg[group]
}

// waitStable waits until group is Stable with n members whose
// assignments cover the topic's partitions.
func waitStable(t *testing.T, adm *kadm.Client, group string, n, partitions int) {
	t.Helper()
	eventually(t, fmt.Sprintf("group %s stable with %d members", group, n), func() bool {
		dg, err := adm.DescribeGroups(testContext(t), group)
		if err != nil {
			return false
		}
		g := dg[group]
		if g.State != "Stable" || len(g.Members) != n {
			return false
		}
		assigned := 0
		for _, m := range g.Members {
			if ca, ok := m.Assigned.AsConsumer(); ok {
				for _, tp := range ca.Topics {
					assigned += len(tp.Partitions)
				}
			}
		}
		return assigned == partitions
	})
}

func TestGroupKgoRebalances(t *testing.T) {
	for _, tc := range []struct {
		name     string
		balancer func() kgo.GroupBalancer
	}{
		{"range", kgo.RangeBalancer},
		{"roundrobin", kgo.RoundRobinBalancer},
		{"sticky", kgo.StickyBalancer},
		{"cooperative-sticky", kgo.CooperativeStickyBalancer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb := startBroker(t, groupOpts)
			const (
				topic      = "orders"
				group      = "workers"
				partitions = 6
				perRound   = 20
			)
			tb.createTopic(topic, partitions, nil)
			producer := tb.client(kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
			adm := tb.admin()
			ctx := testContext(t)
			l := newGroupLedger(t)
			produced := 0
			round := func(what string) {
				t.Helper()
				for i := range perRound * partitions {
					if err := producer.ProduceSync(ctx, kgo.StringRecord(fmt.Sprintf("%s %d", what, i))).FirstErr(); err != nil {
						t.Fatalf("produce: %v", err)
					}
				}
				produced += perRound * partitions
				eventually(t, "every record consumed after "+what, func() bool { return l.count() >= produced })
				// Each member commits after processing a poll: wait for the
				// commits too, so that a crash below loses none.
				waitCommitted(t, tb, group, partitions)
			}
			start := func(name string) *groupMember {
				return startGroupMember(t, tb, l, name, group, topic, tc.balancer())
			}

			a := start("a")
			waitStable(t, adm, group, 1, partitions)
			round("a joined")

			b := start("b")
			waitStable(t, adm, group, 2, partitions)
			round("b joined")

			c := start("c")
			waitStable(t, adm, group, 3, partitions)
			round("c joined")

			b.leave()
			waitStable(t, adm, group, 2, partitions)
			round("b left")

			genBefore := describeGroupGeneration(t, tb, group)
			c.crashNow()
			// The crashed member is expired by its session timeout and
			// the rest rebalance without it.
			waitStable(t, adm, group, 1, partitions)
			if gen := describeGroupGeneration(t, tb, group); gen <= genBefore {
				t.Errorf("generation %d after the crash, want above %d", gen, genBefore)
			}
			round("c crashed")

			d := start("d")
			waitStable(t, adm, group, 2, partitions)
			round("d joined")

			l.check()
			// The committed offsets are the partitions' ends, and the
			// status says there is no lag.
			lag := map[int32]int64{}
			for _, gs := range tb.Groups() {
				if gs.Group != group {
					continue
				}
				for _, o := range gs.Offsets {
					lag[o.Partition] = o.Lag
					if o.CommittedOffset != o.HighWatermark {
						t.Errorf("partition %d: committed %d, high watermark %d", o.Partition, o.CommittedOffset, o.HighWatermark)
					}
				}
				if len(gs.Members) != 2 {
					t.Errorf("status lists %d members, want 2", len(gs.Members))
				}
			}
			if len(lag) != partitions {
				t.Errorf("status has offsets of %d partitions, want %d", len(lag), partitions)
			}
			lg, err := adm.ListGroups(ctx, "Stable")
			if err != nil || lg[group].State != "Stable" || lg[group].ProtocolType != "consumer" {
				t.Errorf("ListGroups: %+v %v", lg, err)
			}
			a.leave()
			d.leave()
			eventually(t, "group empty", func() bool { return describeGroup(t, adm, group).State == "Empty" })
		})
	}
}

// waitCommitted waits until group has committed every one of the
// partitions' high watermarks.
func waitCommitted(t *testing.T, tb *testBroker, group string, partitions int) {
	t.Helper()
	eventually(t, "group "+group+" committed every record", func() bool {
		for _, gs := range tb.Groups() {
			if gs.Group != group || len(gs.Offsets) != partitions {
				continue
			}
			for _, o := range gs.Offsets {
				if o.Lag != 0 {
					return false
				}
			}
			return true
		}
		return false
	})
}

// describeGroupGeneration returns the group's current generation.
func describeGroupGeneration(t *testing.T, tb *testBroker, group string) int32 {
	t.Helper()
	d := tb.groups.describe(group)
	return d.generation
}

func TestGroupSurvivesBrokerRestart(t *testing.T) {
	tb := startBroker(t, groupOpts)
	const (
		topic      = "restart"
		group      = "survivors"
		partitions = 3
	)
	tb.createTopic(topic, partitions, nil)
	ctx := testContext(t)
	l := newGroupLedger(t)
	produced := 0
	produce := func(tb *testBroker, n int) {
		t.Helper()
		cl := tb.client(kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
		for i := range n {
			if err := cl.ProduceSync(ctx, kgo.StringRecord(fmt.Sprint(i))).FirstErr(); err != nil {
				t.Fatalf("produce: %v", err)
			}
		}
		cl.Close()
		produced += n
		eventually(t, "every record consumed", func() bool { return l.count() >= produced })
		waitCommitted(t, tb, group, partitions)
	}
	a := startGroupMember(t, tb, l, "a", group, topic, kgo.RangeBalancer())
	b := startGroupMember(t, tb, l, "b", group, topic, kgo.RangeBalancer())
	waitStable(t, tb.admin(), group, 2, partitions)
	produce(tb, 30)
	gen := describeGroupGeneration(t, tb, group)

	// The same address, so that the members find the broker again.
	tb.cfg.Listen = tb.Addr()
	tb = tb.restart()
	// The group comes back Stable at its generation with its members,
	// who go on heartbeating and consuming without a rebalance.
	if d := tb.groups.describe(group); d.state != "Stable" || d.generation != gen || len(d.members) != 2 {
		t.Fatalf("after restart: %s generation %d with %d members, want Stable %d with 2", d.state, d.generation, len(d.members), gen)
	}
	produce(tb, 30)
	// A member leaving after the restart rebalances the group; the other
	// takes over its partitions at their committed offsets.
	b.leave()
	waitStable(t, tb.admin(), group, 1, partitions)
	produce(tb, 30)
	a.leave()
	l.check()
}

func TestGroupOffsetsRebuiltFromBucket(t *testing.T) {
	bucket := fileBucketURL(t)
	opts := func(cfg *Config) {
		groupOpts(cfg)
		cfg.Bucket = bucket
	}
	tb := startBroker(t, opts)
	const topic = "kept"
	tb.createTopic(topic, 2, nil)
	ctx := testContext(t)
	adm := tb.admin()
	// A group using the group protocol, and one that only stores offsets.
	l := newGroupLedger(t)
	cl := tb.client(kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	for i := range 20 {
		if err := cl.ProduceSync(ctx, kgo.StringRecord(fmt.Sprint(i))).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	m := startGroupMember(t, tb, l, "a", "members", topic, kgo.CooperativeStickyBalancer())
	eventually(t, "every record consumed", func() bool { return l.count() >= 20 })
	waitCommitted(t, tb, "members", 2)
	m.leave()
	if r, err := adm.CommitOffsets(ctx, "standalone", offsetsOf(topic, 1, 7)); err != nil || r.Error() != nil {
		t.Fatalf("commit: %v %v", err, r.Error())
	}
	if r, err := adm.CommitOffsets(ctx, "doomed", offsetsOf(topic, 0, 3)); err != nil || r.Error() != nil {
		t.Fatalf("commit: %v %v", err, r.Error())
	}
	want := map[string]map[int32]int64{
		"members":    {0: 10, 1: 10},
		"standalone": {1: 7},
	}
	check := func(tb *testBroker, when string) {
		t.Helper()
		adm := tb.admin()
		for group, parts := range want {
			fo, err := adm.FetchOffsets(ctx, group)
			if err != nil {
				t.Fatalf("%s: fetch offsets of %s: %v", when, group, err)
			}
			for p, off := range parts {
				if got, ok := fo.Lookup(topic, p); !ok || got.At != off {
					t.Errorf("%s: %s %s[%d] committed %+v, want %d", when, group, topic, p, got, off)
				}
			}
		}
	}
	check(tb, "before")

	// Deleting a group deletes its bucket copy too.
	if r, err := adm.DeleteGroup(ctx, "doomed"); err != nil || r.Err != nil {
		t.Fatalf("delete group: %v %v", err, r.Err)
	}
	eventually(t, "the deleted group's bucket object gone", func() bool {
		_, _, err := tb.tiers.bucket.Get(ctx, groupBucketKey("doomed"))
		return objectstoreNotExist(err)
	})

	// A new data directory with the same bucket: the groups come back
	// from the bucket (written behind and at shutdown).
	tb.shutdown()
	fresh := runBroker(t, func() Config { c := tb.cfg; c.DataDir = t.TempDir(); return c }())
	check(fresh, "rebuilt from the bucket")
	if d := fresh.groups.describe("doomed"); d.state != "Dead" {
		t.Errorf("deleted group came back as %s", d.state)
	}
	if d := fresh.groups.describe("members"); d.protocolType != "consumer" || d.state != "Empty" {
		t.Errorf("rebuilt group: %+v, want an Empty consumer group", d)
	}
	// And the local copy is now complete: a restart without the bucket's
	// help keeps them.
	fresh = fresh.restart()
	check(fresh, "restarted")
}

func TestGroupOffsetsExpire(t *testing.T) {
	tb := startBroker(t, groupOpts, func(cfg *Config) {
		cfg.OffsetsRetention = 200 * time.Millisecond
		cfg.offsetsRetentionCheck = 10 * time.Millisecond
	})
	tb.createTopic("brief", 1, nil)
	ctx := testContext(t)
	adm := tb.admin()
	start := time.Now()
	if r, err := adm.CommitOffsets(ctx, "fleeting", offsetsOf("brief", 0, 5)); err != nil || r.Error() != nil {
		t.Fatalf("commit: %v %v", err, r.Error())
	}
	eventually(t, "the empty group's offsets expired", func() bool {
		return tb.groups.describe("fleeting").state == "Dead"
	})
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("offsets expired after %v, before the retention of 200ms", d)
	}
	fo, err := adm.FetchOffsets(ctx, "fleeting")
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := fo.Lookup("brief", 0); ok && o.At >= 0 {
		t.Errorf("expired offset still fetched: %+v", o)
	}
}

// TestGroupCommitDoesNotWaitForBucket: an OffsetCommit is answered once
// the group's local file is fsynced, while the bucket fails; the bucket
// copy follows when the bucket is back.
func TestGroupCommitDoesNotWaitForBucket(t *testing.T) {
	var fb *faulty.Bucket
	tb := startBroker(t, groupOpts, func(cfg *Config) {
		cfg.Bucket = fileBucketURL(t)
		cfg.wrapBucket = func(b objectstore.Bucket) objectstore.Bucket {
			fb = faulty.New(b, 1)
			return fb
		}
	})
	tb.createTopic("behind", 1, nil)
	ctx := testContext(t)
	fb.Inject(faulty.Rule{KeyPrefix: groupBucketDir, Action: faulty.Fail})
	if r, err := tb.admin().CommitOffsets(ctx, "patient", offsetsOf("behind", 0, 42)); err != nil || r.Error() != nil {
		t.Fatalf("commit with the bucket failing: %v %v", err, r.Error())
	}
	eventually(t, "a failed write of the group to the bucket", func() bool { return fb.Fired() > 0 })
	fb.Clear()
	eventually(t, "the group's bucket copy", func() bool {
		body, _, err := tb.tiers.bucket.Get(ctx, groupBucketKey("patient"))
		if err != nil {
			return false
		}
		sg, err := decodeGroup(body, "patient")
		return err == nil && len(sg.Offsets) == 1 && sg.Offsets[0].Offset == 42
	})
}

package broker

import (
	"bytes"
	"log/slog"
	"reflect"
	"testing"
)

func TestGroupFormatGolden(t *testing.T) {
	sg := storedGroup{
		Group:        "orders-app",
		ProtocolType: "consumer",
		Protocol:     "range",
		Generation:   7,
		Leader:       "app-1-aaaa",
		StateSinceMs: 1700000000000,
		Members: []storedMember{
			{MemberID: "app-1-aaaa", ClientID: "app-1", ClientHost: "/10.0.0.1", SessionTimeoutMs: 45000, RebalanceTimeoutMs: 60000,
				Protocols: []memberProtocol{{Name: "range", Metadata: []byte{0, 1, 2}}}, Assignment: []byte{3, 4}},
			{MemberID: "node-2-bbbb", InstanceID: "node-2", ClientID: "app-2", ClientHost: "/10.0.0.2", SessionTimeoutMs: 45000, RebalanceTimeoutMs: 60000,
				Protocols: []memberProtocol{{Name: "range", Metadata: []byte{5}}}, Assignment: []byte{6}},
		},
		Offsets: []storedOffsets{
			{Topic: "orders", Partition: 1, Offset: 42, LeaderEpoch: -1, Metadata: "", CommitMs: 1700000000001},
			{Topic: "orders", Partition: 0, Offset: 7, LeaderEpoch: 0, Metadata: "m", CommitMs: 1700000000002},
		},
	}
	got, err := encodeGroup(sg)
	if err != nil {
		t.Fatal(err)
	}
	want := checkGolden(t, "group_v1.json", got, "groupDocVersion")
	back, err := decodeGroup(want, "orders-app")
	if err != nil {
		t.Fatal(err)
	}
	// Restored into a coordinator, the group stores the same document.
	c := newCoordinator(groupConfig{}, slog.Default(), &groupStore{})
	c.restoreGroup(back)
	g := c.groups["orders-app"]
	g.mu.Lock()
	again, err := encodeGroup(g.storedLocked())
	if d := g.describeLocked(); d.state != "Stable" || len(d.members) != 2 || d.members[1].instanceID != "node-2" {
		t.Errorf("restored group: %+v", d)
	}
	g.mu.Unlock()
	c.close()
	if err != nil || !bytes.Equal(again, want) {
		t.Fatalf("restored and stored again: %v\n%s", err, again)
	}
	if _, err := decodeGroup(want, "other"); err == nil {
		t.Error("a document under another group's name decoded")
	}
	for _, bad := range []string{`{"version": 2, "group": "orders-app"}`, `{"version": 1, "group": "orders-app", "members": [{"memberId": ""}]}`, `not json`} {
		if _, err := decodeGroup([]byte(bad), "orders-app"); err == nil {
			t.Errorf("decodeGroup(%s) succeeded", bad)
		}
	}
	if !reflect.DeepEqual(back.Members[1].Protocols, sg.Members[1].Protocols) {
		t.Errorf("protocols round trip: %+v", back.Members[1].Protocols)
	}
}

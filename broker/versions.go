package broker

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// api is one Kafka API the broker answers: its key, the request versions it
// accepts and the handler that answers them.
type api struct {
	key    int16
	min    int16
	max    int16
	handle func(b *Broker, rc *request) (reply, error)
}

// apis is the one table of what the broker speaks. ApiVersions advertises
// exactly these ranges, the connection refuses anything outside them, and
// TestEveryAdvertisedVersion sends every version listed here. Keep it in
// sync with the table in README.md.
//
//	key  API                      versions  notes
//	  0  Produce                   3-13     acks 0/1/all; one batch per partition; no transactions
//	  1  Fetch                     4-18     long poll; no fetch sessions (SessionID 0); topic IDs v13+
//	  2  ListOffsets               1-11     -1 latest, -2 earliest, -3 max timestamp, -4 local start, by timestamp
//	  3  Metadata                  0-13     topic IDs v10+; auto-creates topics when enabled
//	  8  OffsetCommit              0-9      offsets fsynced locally, then copied to the bucket
//	  9  OffsetFetch               0-9      several groups in one request v8+
//	 10  FindCoordinator           0-6      always this broker; group keys only; batched keys v4+
//	 11  JoinGroup                 0-9      MEMBER_ID_REQUIRED v4+; static members v5+; SkipAssignment v9
//	 12  Heartbeat                 0-4
//	 13  LeaveGroup                0-5      batch leave v3+
//	 14  SyncGroup                 0-5
//	 15  DescribeGroups            0-5
//	 16  ListGroups                0-5      state filter v4+, type filter v5+
//	 17  SaslHandshake             0-1      v0: raw SASL tokens follow; ILLEGAL_SASL_STATE with SASL off
//	 18  ApiVersions               0-5      unknown versions answered in v0 with UNSUPPORTED_VERSION (KIP-511)
//	 19  CreateTopics              2-7      validate_only; replication factor -1 or 1
//	 20  DeleteTopics              1-6      by name, or by topic ID on v6+
//	 21  DeleteRecords             0-2
//	 22  InitProducerId            0-5      idempotent producers only
//	 23  OffsetForLeaderEpoch      2-4      one leader epoch, 0
//	 29  DescribeAcls              0-3      DESCRIBE on the cluster; SECURITY_DISABLED with authentication off
//	 30  CreateAcls                0-3      ALTER on the cluster; persisted locally and in the bucket
//	 31  DeleteAcls                0-3      ALTER on the cluster; answers the ACLs each filter removed
//	 32  DescribeConfigs           1-4      topic configs; broker resource: a short read-only list
//	 33  AlterConfigs              0-2      topic configs
//	 36  SaslAuthenticate          0-2      PLAIN, SCRAM-SHA-256/512; session lifetime v1+ (KIP-368)
//	 37  CreatePartitions          0-3
//	 42  DeleteGroups              0-2      empty groups only
//	 44  IncrementalAlterConfigs   0-1      topic configs
//	 47  OffsetDelete              0        not for topics the group subscribes to
//	 50  DescribeUserScramCredentials 0     DESCRIBE on the cluster when authentication is on
//	 51  AlterUserScramCredentials 0        salted credentials only; saved locally and to the bucket
//	 60  DescribeCluster           0-2
//
// The table is filled in init because ApiVersions, one of its handlers,
// reads it.
var apis []api

func init() {
	apis = []api{
		{int16(kmsg.Produce), 3, 13, (*Broker).handleProduce},
		{int16(kmsg.Fetch), 4, 18, (*Broker).handleFetch},
		{int16(kmsg.ListOffsets), 1, 11, (*Broker).handleListOffsets},
		{int16(kmsg.Metadata), 0, 13, (*Broker).handleMetadata},
		{int16(kmsg.OffsetCommit), 0, 9, (*Broker).handleOffsetCommit},
		{int16(kmsg.OffsetFetch), 0, 9, (*Broker).handleOffsetFetch},
		{int16(kmsg.FindCoordinator), 0, 6, (*Broker).handleFindCoordinator},
		{int16(kmsg.JoinGroup), 0, 9, (*Broker).handleJoinGroup},
		{int16(kmsg.Heartbeat), 0, 4, (*Broker).handleHeartbeat},
		{int16(kmsg.LeaveGroup), 0, 5, (*Broker).handleLeaveGroup},
		{int16(kmsg.SyncGroup), 0, 5, (*Broker).handleSyncGroup},
		{int16(kmsg.DescribeGroups), 0, 5, (*Broker).handleDescribeGroups},
		{int16(kmsg.ListGroups), 0, 5, (*Broker).handleListGroups},
		{int16(kmsg.SASLHandshake), 0, 1, (*Broker).handleSaslHandshake},
		{int16(kmsg.ApiVersions), 0, 5, (*Broker).handleApiVersions},
		{int16(kmsg.CreateTopics), 2, 7, (*Broker).handleCreateTopics},
		{int16(kmsg.DeleteTopics), 1, 6, (*Broker).handleDeleteTopics},
		{int16(kmsg.DeleteRecords), 0, 2, (*Broker).handleDeleteRecords},
		{int16(kmsg.DeleteGroups), 0, 2, (*Broker).handleDeleteGroups},
		{int16(kmsg.OffsetDelete), 0, 0, (*Broker).handleOffsetDelete},
		{int16(kmsg.InitProducerID), 0, 5, (*Broker).handleInitProducerID},
		{int16(kmsg.OffsetForLeaderEpoch), 2, 4, (*Broker).handleOffsetForLeaderEpoch},
		{int16(kmsg.DescribeACLs), 0, 3, (*Broker).handleDescribeAcls},
		{int16(kmsg.CreateACLs), 0, 3, (*Broker).handleCreateAcls},
		{int16(kmsg.DeleteACLs), 0, 3, (*Broker).handleDeleteAcls},
		{int16(kmsg.DescribeConfigs), 1, 4, (*Broker).handleDescribeConfigs},
		{int16(kmsg.AlterConfigs), 0, 2, (*Broker).handleAlterConfigs},
		{int16(kmsg.SASLAuthenticate), 0, 2, (*Broker).handleSaslAuthenticate},
		{int16(kmsg.CreatePartitions), 0, 3, (*Broker).handleCreatePartitions},
		{int16(kmsg.IncrementalAlterConfigs), 0, 1, (*Broker).handleIncrementalAlterConfigs},
		{int16(kmsg.DescribeUserSCRAMCredentials), 0, 0, (*Broker).handleDescribeUserScramCredentials},
		{int16(kmsg.AlterUserSCRAMCredentials), 0, 0, (*Broker).handleAlterUserScramCredentials},
		{int16(kmsg.DescribeCluster), 0, 2, (*Broker).handleDescribeCluster},
	}
	apiByKey = indexAPIs(apis)
}

// apiByKey indexes apis by key; nil entries are keys the broker does not
// speak.
var apiByKey []*api

func indexAPIs(apis []api) []*api {
	var maxKey int16
	for _, a := range apis {
		maxKey = max(maxKey, a.key)
	}
	idx := make([]*api, maxKey+1)
	for i := range apis {
		a := &apis[i]
		if idx[a.key] != nil {
			panic("broker: API key listed twice in apis")
		}
		if a.min > a.max || kmsg.RequestForKey(a.key) == nil || a.max > kmsg.RequestForKey(a.key).MaxVersion() {
			panic("broker: bad version range in apis for " + kmsg.NameForKey(a.key))
		}
		idx[a.key] = a
	}
	return idx
}

// lookupAPI returns the table entry for key, or nil if the broker does not
// speak that API.
func lookupAPI(key int16) *api {
	if key < 0 || int(key) >= len(apiByKey) {
		return nil
	}
	return apiByKey[key]
}

// advertisedAPIs returns the ApiVersions entries for every API in the table,
// ordered by key.
func advertisedAPIs() []kmsg.ApiVersionsResponseApiKey {
	out := make([]kmsg.ApiVersionsResponseApiKey, 0, len(apis))
	for _, a := range apis {
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey, k.MinVersion, k.MaxVersion = a.key, a.min, a.max
		out = append(out, k)
	}
	slices.SortFunc(out, func(x, y kmsg.ApiVersionsResponseApiKey) int { return int(x.ApiKey) - int(y.ApiKey) })
	return out
}

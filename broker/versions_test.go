package broker

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/auth"
)

// TestEveryAdvertisedVersion sends one ordinary request of every version of
// every API that ApiVersions advertises, decodes the answer at that
// version and checks it succeeded: with authentication off (the ACL APIs
// answer SECURITY_DISABLED), and on, as a super-user.
func TestEveryAdvertisedVersion(t *testing.T) {
	t.Run("authentication off", func(t *testing.T) { testEveryAdvertisedVersion(t, false) })
	t.Run("super-user", func(t *testing.T) { testEveryAdvertisedVersion(t, true) })
}

func testEveryAdvertisedVersion(t *testing.T, secure bool) {
	tb := startBroker(t, groupOpts, func(cfg *Config) {
		if secure {
			cfg.principalOf = auth.UserPrincipal
			cfg.SuperUsers = []string{"raw-test", "kgo"} // the client ids of dialRaw and tb.createTopic
		}
	})
	// aclResult checks an ACL API's error code: SECURITY_DISABLED with
	// authentication off, none on.
	aclResult := func(code int16) error {
		want := kerr.SecurityDisabled.Code
		if secure {
			want = 0
		}
		if code != want {
			return fmt.Errorf("error %v, want %v", kerr.ErrorForCode(code), kerr.ErrorForCode(want))
		}
		return nil
	}
	tb.createTopic("sweep", 1, nil)
	tb.createTopic("sweep-grow", 1, nil)
	topicID := tb.topics().byName["sweep"].id
	rc := dialRaw(t, tb.Addr())
	var produced int64
	setup := dialRaw(t, tb.Addr())
	g := groupSweep{t: t, c: setup}

	type check func(kmsg.Response) error
	cases := map[kmsg.Key]func(v int16) (kmsg.Request, check){
		kmsg.Produce: func(v int16) (kmsg.Request, check) {
			req := produceRequest("sweep", 0, -1, makeBatch(-1, -1, -1, time.Now().UnixMilli(), []byte("v")))
			req.Topics[0].TopicID = topicID
			return req, func(r kmsg.Response) error {
				p := r.(*kmsg.ProduceResponse).Topics[0].Partitions[0]
				if p.ErrorCode != 0 || p.BaseOffset != produced {
					return fmt.Errorf("error %d offset %d, want offset %d", p.ErrorCode, p.BaseOffset, produced)
				}
				produced++
				return nil
			}
		},
		kmsg.Fetch: func(v int16) (kmsg.Request, check) {
			req := fetchRequest(v, "sweep", topicID, 0, 0, 0)
			return req, func(r kmsg.Response) error {
				resp := r.(*kmsg.FetchResponse)
				p := resp.Topics[0].Partitions[0]
				if resp.ErrorCode != 0 || p.ErrorCode != 0 || p.HighWatermark != produced || len(p.RecordBatches) == 0 {
					return fmt.Errorf("error %d/%d hwm %d, %d bytes", resp.ErrorCode, p.ErrorCode, p.HighWatermark, len(p.RecordBatches))
				}
				return nil
			}
		},
		kmsg.ListOffsets: func(v int16) (kmsg.Request, check) {
			return listOffsetsRequest(v, "sweep", -1), func(r kmsg.Response) error {
				p := r.(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
				if p.ErrorCode != 0 || p.Offset != produced {
					return fmt.Errorf("error %d offset %d", p.ErrorCode, p.Offset)
				}
				return nil
			}
		},
		kmsg.Metadata: func(v int16) (kmsg.Request, check) {
			req := kmsg.NewPtrMetadataRequest()
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr("sweep")
			req.Topics = append(req.Topics, rt)
			return req, func(r kmsg.Response) error {
				resp := r.(*kmsg.MetadataResponse)
				if len(resp.Brokers) != 1 || len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 || len(resp.Topics[0].Partitions) != 1 {
					return fmt.Errorf("%+v", resp)
				}
				if v >= 10 && resp.Topics[0].TopicID != topicID {
					return fmt.Errorf("topic id %x", resp.Topics[0].TopicID)
				}
				return nil
			}
		},
		kmsg.ApiVersions: func(v int16) (kmsg.Request, check) {
			req := kmsg.NewPtrApiVersionsRequest()
			req.ClientSoftwareName, req.ClientSoftwareVersion = "sweep", "1"
			return req, func(r kmsg.Response) error {
				resp := r.(*kmsg.ApiVersionsResponse)
				if resp.ErrorCode != 0 || len(resp.ApiKeys) != len(apis) {
					return fmt.Errorf("error %d, %d keys", resp.ErrorCode, len(resp.ApiKeys))
				}
				return nil
			}
		},
		kmsg.CreateTopics: func(v int16) (kmsg.Request, check) {
			req := kmsg.NewPtrCreateTopicsRequest()
			req.Topics = append(req.Topics, ctTopic(fmt.Sprintf("sweep-ct-%d", v), 1, -1))
			return req, func(r kmsg.Response) error {
				if c := r.(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode; c != 0 {
					return fmt.Errorf("error %d", c)
				}
				return nil
			}
		},
		kmsg.DeleteTopics: func(v int16) (kmsg.Request, check) {
			req := kmsg.NewPtrDeleteTopicsRequest()
			name := fmt.Sprintf("sweep-ct-%d", v+1) // CreateTopics made v2-v7
			req.TopicNames = []string{name}
			rt := kmsg.NewDeleteTopicsRequestTopic()
			rt.Topic = kmsg.StringPtr(name)
			req.Topics = append(req.Topics, rt)
			return req, func(r kmsg.Response) error {
				if c := r.(*kmsg.DeleteTopicsResponse).Topics[0].ErrorCode; c != 0 {
					return fmt.Errorf("error %d", c)
				}
				return nil
			}
		},
		kmsg.DeleteRecords: func(v int16) (kmsg.Request, check) {
			req := kmsg.NewPtrDeleteRecordsRequest()
			rt := kmsg.NewDeleteRecordsRequestTopic()
			rt.Topic = "sweep"
			rp := kmsg.NewDeleteRecordsRequestTopicPartition()
			rp.Offset = 1
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			return req, func(r kmsg.Response) error {
				p := r.(*kmsg.DeleteRecordsResponse).Topics[0].Partitions[0]
				if p.ErrorCode != 0 || p.LowWatermark != 1 {
					return fmt.Errorf("error %d low %d", p.ErrorCode, p.LowWatermark)
				}
				return nil
			}
		},
		kmsg.InitProducerID: func(v int16) (kmsg.Request, check) {
			return kmsg.NewPtrInitProducerIDRequest(), func(r kmsg.Response) error {
				resp := r.(*kmsg.InitProducerIDResponse)
				if resp.ErrorCode != 0 || resp.ProducerID < 0 {
					return fmt.Errorf("%+v", resp)
				}
				return nil
			}
		},
		kmsg.OffsetForLeaderEpoch: func(v int16) (kmsg.Request, check) {
			req := kmsg.NewPtrOffsetForLeaderEpochRequest()
			req.ReplicaID = -1
			rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
			rt.Topic = "sweep"
			rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
			rp.LeaderEpoch = 0
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			return req, func(r kmsg.Response) error {
				p := r.(*kmsg.OffsetForLeaderEpochResponse).Topics[0].Partitions[0]
				if p.ErrorCode != 0 || p.EndOffset != produced {
					return fmt.Errorf("%+v", p)
				}
				return nil
			}
		},
		kmsg.DescribeConfigs: func(v int16) (kmsg.Request, check) {
			req := kmsg.NewPtrDescribeConfigsRequest()
			rr := kmsg.NewDescribeConfigsRequestResource()
			rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, "sweep"
			req.Resources = append(req.Resources, rr)
			return req, func(r kmsg.Response) error {
				res := r.(*kmsg.DescribeConfigsResponse).Resources[0]
				if res.ErrorCode != 0 || len(res.Configs) != len(topicConfigDefs) {
					return fmt.Errorf("error %d, %d configs", res.ErrorCode, len(res.Configs))
				}
				return nil
			}
		},
		kmsg.AlterConfigs: func(v int16) (kmsg.Request, check) {
			req := kmsg.NewPtrAlterConfigsRequest()
			rr := kmsg.NewAlterConfigsRequestResource()
			rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, "sweep"
			c := kmsg.NewAlterConfigsRequestResourceConfig()
			c.Name, c.Value = "retention.ms", kmsg.StringPtr("86400000")
			rr.Configs = append(rr.Configs, c)
			req.Resources = append(req.Resources, rr)
			return req, func(r kmsg.Response) error {
				if c := r.(*kmsg.AlterConfigsResponse).Resources[0].ErrorCode; c != 0 {
					return fmt.Errorf("error %d", c)
				}
				return nil
			}
		},
		kmsg.CreatePartitions: func(v int16) (kmsg.Request, check) {
			req := kmsg.NewPtrCreatePartitionsRequest()
			rt := kmsg.NewCreatePartitionsRequestTopic()
			rt.Topic, rt.Count = "sweep-grow", int32(v+2)
			req.Topics = append(req.Topics, rt)
			return req, func(r kmsg.Response) error {
				if c := r.(*kmsg.CreatePartitionsResponse).Topics[0].ErrorCode; c != 0 {
					return fmt.Errorf("error %d", c)
				}
				return nil
			}
		},
		kmsg.IncrementalAlterConfigs: func(v int16) (kmsg.Request, check) {
			req := kmsg.NewPtrIncrementalAlterConfigsRequest()
			rr := kmsg.NewIncrementalAlterConfigsRequestResource()
			rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, "sweep"
			c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
			c.Name, c.Value = "segment.ms", kmsg.StringPtr("60000")
			rr.Configs = append(rr.Configs, c)
			req.Resources = append(req.Resources, rr)
			return req, func(r kmsg.Response) error {
				if c := r.(*kmsg.IncrementalAlterConfigsResponse).Resources[0].ErrorCode; c != 0 {
					return fmt.Errorf("error %d", c)
				}
				return nil
			}
		},
		kmsg.OffsetCommit: func(v int16) (kmsg.Request, check) {
			return commitRequestFor("sweep-commit", int64(v)), func(r kmsg.Response) error {
				if c := r.(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode; c != 0 {
					return fmt.Errorf("error %d", c)
				}
				return nil
			}
		},
		kmsg.OffsetFetch: func(v int16) (kmsg.Request, check) {
			req := kmsg.NewPtrOffsetFetchRequest()
			if v < 8 {
				req.Group = "sweep-commit"
				rt := kmsg.NewOffsetFetchRequestTopic()
				rt.Topic, rt.Partitions = "sweep", []int32{0}
				req.Topics = append(req.Topics, rt)
			} else {
				for _, group := range []string{"sweep-commit", "sweep-none"} {
					rg := kmsg.NewOffsetFetchRequestGroup()
					rg.Group = group
					rt := kmsg.NewOffsetFetchRequestGroupTopic()
					rt.Topic, rt.Partitions = "sweep", []int32{0}
					rg.Topics = append(rg.Topics, rt)
					req.Groups = append(req.Groups, rg)
				}
			}
			return req, func(r kmsg.Response) error {
				resp := r.(*kmsg.OffsetFetchResponse)
				if v < 8 {
					p := resp.Topics[0].Partitions[0]
					if resp.ErrorCode != 0 || p.ErrorCode != 0 || p.Offset != 9 {
						return fmt.Errorf("error %d/%d offset %d, want 9", resp.ErrorCode, p.ErrorCode, p.Offset)
					}
					return nil
				}
				if len(resp.Groups) != 2 || resp.Groups[0].Topics[0].Partitions[0].Offset != 9 || resp.Groups[1].Topics[0].Partitions[0].Offset != -1 {
					return fmt.Errorf("%+v", resp.Groups)
				}
				return nil
			}
		},
		kmsg.FindCoordinator: func(v int16) (kmsg.Request, check) {
			req := kmsg.NewPtrFindCoordinatorRequest()
			req.CoordinatorKey, req.CoordinatorKeys = "sweep", []string{"sweep-a", "sweep-b"}
			return req, func(r kmsg.Response) error {
				resp := r.(*kmsg.FindCoordinatorResponse)
				if v < 4 {
					if resp.ErrorCode != 0 || resp.NodeID != tb.nodeID || resp.Port != tb.listeners[0].port {
						return fmt.Errorf("%+v", resp)
					}
					return nil
				}
				if len(resp.Coordinators) != 2 || resp.Coordinators[1].Key != "sweep-b" || resp.Coordinators[1].ErrorCode != 0 || resp.Coordinators[1].Port != tb.listeners[0].port {
					return fmt.Errorf("%+v", resp.Coordinators)
				}
				return nil
			}
		},
		kmsg.JoinGroup: func(v int16) (kmsg.Request, check) {
			req := joinRequestFor(fmt.Sprintf("sweep-join-%d", v), "", v >= 5)
			return req, func(r kmsg.Response) error {
				resp := r.(*kmsg.JoinGroupResponse)
				if v == 4 {
					// KIP-394: a dynamic member learns its id first.
					if resp.ErrorCode != kerr.MemberIDRequired.Code || resp.MemberID == "" {
						return fmt.Errorf("error %d member %q, want MEMBER_ID_REQUIRED with an id", resp.ErrorCode, resp.MemberID)
					}
					return nil
				}
				if resp.ErrorCode != 0 || resp.Generation != 1 || resp.LeaderID != resp.MemberID || len(resp.Members) != 1 {
					return fmt.Errorf("%+v", resp)
				}
				return nil
			}
		},
		kmsg.SyncGroup: func(v int16) (kmsg.Request, check) {
			join := g.join(fmt.Sprintf("sweep-sync-%d", v))
			return g.syncRequest(join), func(r kmsg.Response) error {
				resp := r.(*kmsg.SyncGroupResponse)
				if resp.ErrorCode != 0 || string(resp.MemberAssignment) != "assigned" {
					return fmt.Errorf("%+v", resp)
				}
				return nil
			}
		},
		kmsg.Heartbeat: func(v int16) (kmsg.Request, check) {
			join := g.stable(fmt.Sprintf("sweep-hb-%d", v))
			req := kmsg.NewPtrHeartbeatRequest()
			req.Group, req.MemberID, req.Generation = join.group, join.MemberID, join.Generation
			return req, func(r kmsg.Response) error {
				if c := r.(*kmsg.HeartbeatResponse).ErrorCode; c != 0 {
					return fmt.Errorf("error %d", c)
				}
				return nil
			}
		},
		kmsg.LeaveGroup: func(v int16) (kmsg.Request, check) {
			join := g.stable(fmt.Sprintf("sweep-leave-%d", v))
			req := kmsg.NewPtrLeaveGroupRequest()
			req.Group, req.MemberID = join.group, join.MemberID
			lm := kmsg.NewLeaveGroupRequestMember()
			lm.MemberID, lm.InstanceID = join.MemberID, kmsg.StringPtr("sweep-instance")
			req.Members = append(req.Members, lm)
			return req, func(r kmsg.Response) error {
				resp := r.(*kmsg.LeaveGroupResponse)
				if resp.ErrorCode != 0 || v >= 3 && (len(resp.Members) != 1 || resp.Members[0].ErrorCode != 0) {
					return fmt.Errorf("%+v", resp)
				}
				if st := tb.groups.describe(join.group).state; st != "Empty" {
					return fmt.Errorf("group %s after the leave", st)
				}
				return nil
			}
		},
		kmsg.DescribeGroups: func(v int16) (kmsg.Request, check) {
			g.stable("sweep-describe")
			req := kmsg.NewPtrDescribeGroupsRequest()
			req.Groups = []string{"sweep-describe", "sweep-none"}
			return req, func(r kmsg.Response) error {
				gs := r.(*kmsg.DescribeGroupsResponse).Groups
				if len(gs) != 2 || gs[0].ErrorCode != 0 || gs[0].State != "Stable" || len(gs[0].Members) != 1 ||
					string(gs[0].Members[0].MemberAssignment) != "assigned" || gs[1].State != "Dead" {
					return fmt.Errorf("%+v", gs)
				}
				return nil
			}
		},
		kmsg.ListGroups: func(v int16) (kmsg.Request, check) {
			req := kmsg.NewPtrListGroupsRequest()
			req.StatesFilter = []string{"stable"}
			return req, func(r kmsg.Response) error {
				resp := r.(*kmsg.ListGroupsResponse)
				if resp.ErrorCode != 0 || len(resp.Groups) == 0 {
					return fmt.Errorf("%+v", resp)
				}
				for _, lg := range resp.Groups {
					if v >= 4 && lg.GroupState != "Stable" {
						return fmt.Errorf("state filter: %+v", lg)
					}
				}
				return nil
			}
		},
		kmsg.DeleteGroups: func(v int16) (kmsg.Request, check) {
			group := fmt.Sprintf("sweep-delete-%d", v)
			g.commit(group)
			req := kmsg.NewPtrDeleteGroupsRequest()
			req.Groups = []string{group}
			return req, func(r kmsg.Response) error {
				if c := r.(*kmsg.DeleteGroupsResponse).Groups[0].ErrorCode; c != 0 {
					return fmt.Errorf("error %d", c)
				}
				return nil
			}
		},
		kmsg.OffsetDelete: func(v int16) (kmsg.Request, check) {
			g.commit("sweep-offset-delete")
			return offsetDeleteRequestFor("sweep-offset-delete"), func(r kmsg.Response) error {
				resp := r.(*kmsg.OffsetDeleteResponse)
				if resp.ErrorCode != 0 || resp.Topics[0].Partitions[0].ErrorCode != 0 {
					return fmt.Errorf("%+v", resp)
				}
				return nil
			}
		},
		kmsg.CreateACLs: func(v int16) (kmsg.Request, check) {
			return createACLRequest(v), func(r kmsg.Response) error {
				resp := r.(*kmsg.CreateACLsResponse)
				if len(resp.Results) != 1 {
					return fmt.Errorf("%+v", resp)
				}
				return aclResult(resp.Results[0].ErrorCode)
			}
		},
		kmsg.DescribeACLs: func(v int16) (kmsg.Request, check) {
			// The table lists DescribeAcls first: create what it finds.
			setup.roundTrip(createACLRequest(v))
			req := kmsg.NewPtrDescribeACLsRequest()
			req.ResourceType, req.ResourceName = kmsg.ACLResourceTypeTopic, kmsg.StringPtr(fmt.Sprintf("sweep-acl-%d", v))
			req.Operation, req.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
			return req, func(r kmsg.Response) error {
				resp := r.(*kmsg.DescribeACLsResponse)
				if err := aclResult(resp.ErrorCode); err != nil || !secure {
					return err
				}
				if len(resp.Resources) != 1 || len(resp.Resources[0].ACLs) != 1 || resp.Resources[0].ACLs[0].Principal != "User:sweep" {
					return fmt.Errorf("%+v", resp)
				}
				return nil
			}
		},
		kmsg.DeleteACLs: func(v int16) (kmsg.Request, check) {
			req := kmsg.NewPtrDeleteACLsRequest()
			f := kmsg.NewDeleteACLsRequestFilter()
			f.ResourceType, f.ResourceName = kmsg.ACLResourceTypeTopic, kmsg.StringPtr(fmt.Sprintf("sweep-acl-%d", v))
			f.Operation, f.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
			req.Filters = append(req.Filters, f)
			return req, func(r kmsg.Response) error {
				resp := r.(*kmsg.DeleteACLsResponse)
				if len(resp.Results) != 1 {
					return fmt.Errorf("%+v", resp)
				}
				if err := aclResult(resp.Results[0].ErrorCode); err != nil || !secure {
					return err
				}
				if len(resp.Results[0].MatchingACLs) != 1 {
					return fmt.Errorf("deleted %+v", resp.Results[0].MatchingACLs)
				}
				return nil
			}
		},
		// SASL is off on this broker: the handshake and authenticate answer
		// as on a Kafka PLAINTEXT listener (sasl_test.go runs them on).
		kmsg.SASLHandshake: func(v int16) (kmsg.Request, check) {
			req := kmsg.NewPtrSASLHandshakeRequest()
			req.Mechanism = "PLAIN"
			return req, func(r kmsg.Response) error {
				if c := r.(*kmsg.SASLHandshakeResponse).ErrorCode; c != kerr.IllegalSaslState.Code {
					return fmt.Errorf("error %d", c)
				}
				return nil
			}
		},
		kmsg.SASLAuthenticate: func(v int16) (kmsg.Request, check) {
			req := kmsg.NewPtrSASLAuthenticateRequest()
			req.SASLAuthBytes = []byte("\x00u\x00p")
			return req, func(r kmsg.Response) error {
				if c := r.(*kmsg.SASLAuthenticateResponse).ErrorCode; c != kerr.IllegalSaslState.Code {
					return fmt.Errorf("error %d", c)
				}
				return nil
			}
		},
		kmsg.DescribeUserSCRAMCredentials: func(v int16) (kmsg.Request, check) {
			return kmsg.NewPtrDescribeUserSCRAMCredentialsRequest(), func(r kmsg.Response) error {
				if resp := r.(*kmsg.DescribeUserSCRAMCredentialsResponse); resp.ErrorCode != 0 || len(resp.Results) != 0 {
					return fmt.Errorf("%+v", resp)
				}
				return nil
			}
		},
		kmsg.AlterUserSCRAMCredentials: func(v int16) (kmsg.Request, check) {
			req := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
			req.Upsertions = []kmsg.AlterUserSCRAMCredentialsRequestUpsertion{{
				Name: "sweep", Mechanism: 1, Iterations: 4096, Salt: []byte("salt"), SaltedPassword: make([]byte, 32),
			}}
			return req, func(r kmsg.Response) error {
				if rs := r.(*kmsg.AlterUserSCRAMCredentialsResponse).Results; len(rs) != 1 || rs[0].ErrorCode != 0 {
					return fmt.Errorf("%+v", rs)
				}
				return nil
			}
		},
		kmsg.DescribeCluster: func(v int16) (kmsg.Request, check) {
			return kmsg.NewPtrDescribeClusterRequest(), func(r kmsg.Response) error {
				resp := r.(*kmsg.DescribeClusterResponse)
				if resp.ErrorCode != 0 || resp.ClusterID != tb.clusterID || len(resp.Brokers) != 1 || resp.Brokers[0].Port != tb.listeners[0].port {
					return fmt.Errorf("%+v", resp)
				}
				return nil
			}
		},
	}
	for _, a := range apis {
		mk, ok := cases[kmsg.Key(a.key)]
		if !ok {
			t.Errorf("%s is advertised but has no case here", kmsg.NameForKey(a.key))
			continue
		}
		for v := a.min; v <= a.max; v++ {
			req, check := mk(v)
			req.SetVersion(v)
			if err := check(rc.roundTrip(req)); err != nil {
				t.Errorf("%s v%d: %v", kmsg.NameForKey(a.key), v, err)
			}
		}
	}
}

// createACLRequest is a CreateAcls request, at version v, of one ACL on
// the topic sweep-acl-<v>.
func createACLRequest(v int16) *kmsg.CreateACLsRequest {
	req := kmsg.NewPtrCreateACLsRequest()
	req.SetVersion(v)
	c := kmsg.NewCreateACLsRequestCreation()
	c.ResourceType, c.ResourceName, c.Principal, c.Host = kmsg.ACLResourceTypeTopic, fmt.Sprintf("sweep-acl-%d", v), "User:sweep", "*"
	c.Operation, c.PermissionType = kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow
	req.Creations = append(req.Creations, c)
	return req
}

// groupSweep prepares groups for TestEveryAdvertisedVersion on a
// connection of its own, at fixed versions.
type groupSweep struct {
	t *testing.T
	c *rawConn
}

type sweepJoin struct {
	*kmsg.JoinGroupResponse
	group string
}

// joinRequestFor is a consumer-protocol JoinGroup of group, as a static
// member when static is set.
func joinRequestFor(group, memberID string, static bool) *kmsg.JoinGroupRequest {
	req := kmsg.NewPtrJoinGroupRequest()
	req.Group, req.MemberID, req.ProtocolType = group, memberID, "consumer"
	req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 10000, 10000
	if static {
		req.InstanceID = kmsg.StringPtr("sweep-instance")
	}
	md := kmsg.NewConsumerMemberMetadata()
	md.Topics = []string{"sweep"}
	p := kmsg.NewJoinGroupRequestProtocol()
	p.Name, p.Metadata = "range", md.AppendTo(nil)
	req.Protocols = append(req.Protocols, p)
	return req
}

// join makes a static member join group alone; the group is then
// CompletingRebalance.
func (g groupSweep) join(group string) sweepJoin {
	g.t.Helper()
	req := joinRequestFor(group, "", true)
	req.SetVersion(5)
	resp := g.c.roundTrip(req).(*kmsg.JoinGroupResponse)
	if resp.ErrorCode != 0 {
		g.t.Fatalf("join %s: error %d", group, resp.ErrorCode)
	}
	return sweepJoin{resp, group}
}

// syncRequest is the leader's SyncGroup after join.
func (g groupSweep) syncRequest(join sweepJoin) *kmsg.SyncGroupRequest {
	req := kmsg.NewPtrSyncGroupRequest()
	req.Group, req.MemberID, req.Generation = join.group, join.MemberID, join.Generation
	req.InstanceID = kmsg.StringPtr("sweep-instance")
	req.ProtocolType, req.Protocol = kmsg.StringPtr("consumer"), kmsg.StringPtr("range")
	a := kmsg.NewSyncGroupRequestGroupAssignment()
	a.MemberID, a.MemberAssignment = join.MemberID, []byte("assigned")
	req.GroupAssignment = append(req.GroupAssignment, a)
	return req
}

// stable makes a static member join group alone and sync: the group is
// then Stable.
func (g groupSweep) stable(group string) sweepJoin {
	g.t.Helper()
	join := g.join(group)
	req := g.syncRequest(join)
	req.SetVersion(5)
	if resp := g.c.roundTrip(req).(*kmsg.SyncGroupResponse); resp.ErrorCode != 0 {
		g.t.Fatalf("sync %s: error %d", group, resp.ErrorCode)
	}
	return join
}

// commitRequestFor commits offset for partition 0 of topic sweep outside
// group management.
func commitRequestFor(group string, offset int64) *kmsg.OffsetCommitRequest {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.Generation = group, -1
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = "sweep"
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Offset = offset
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// commit commits an offset for group, creating it.
func (g groupSweep) commit(group string) {
	g.t.Helper()
	req := commitRequestFor(group, 1)
	req.SetVersion(8)
	if c := g.c.roundTrip(req).(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode; c != 0 {
		g.t.Fatalf("commit %s: error %d", group, c)
	}
}

// offsetDeleteRequestFor deletes group's offset of partition 0 of topic
// sweep.
func offsetDeleteRequestFor(group string) *kmsg.OffsetDeleteRequest {
	req := kmsg.NewPtrOffsetDeleteRequest()
	req.Group = group
	rt := kmsg.NewOffsetDeleteRequestTopic()
	rt.Topic = "sweep"
	rt.Partitions = append(rt.Partitions, kmsg.NewOffsetDeleteRequestTopicPartition())
	req.Topics = append(req.Topics, rt)
	return req
}

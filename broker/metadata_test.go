package broker

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestMetadataTopicSelection(t *testing.T) {
	tb := startBroker(t, func(c *Config) { c.AutoCreateTopics = false })
	tb.createTopic("a", 1, nil)
	tb.createTopic("b", 2, nil)
	rc := dialRaw(t, tb.Addr())
	md := func(version int16, topics []kmsg.MetadataRequestTopic) *kmsg.MetadataResponse {
		req := kmsg.NewPtrMetadataRequest()
		req.Version = version
		req.Topics = topics
		req.AllowAutoTopicCreation = true
		return rc.roundTrip(req).(*kmsg.MetadataResponse)
	}
	names := func(resp *kmsg.MetadataResponse) []string {
		var out []string
		for _, t := range resp.Topics {
			if t.ErrorCode == 0 {
				out = append(out, *t.Topic)
			}
		}
		return out
	}
	if got := names(md(0, []kmsg.MetadataRequestTopic{})); len(got) != 2 {
		t.Errorf("v0 with no topics: %v, want all", got)
	}
	if got := names(md(1, []kmsg.MetadataRequestTopic{})); len(got) != 0 {
		t.Errorf("v1 with an empty list: %v, want none", got)
	}
	if got := names(md(12, nil)); len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Errorf("v12 with a null list: %v, want [a b]", got)
	}
	byID := kmsg.NewMetadataRequestTopic()
	byID.TopicID = tb.topics().byName["b"].id
	resp := md(12, []kmsg.MetadataRequestTopic{byID})
	if got := names(resp); len(got) != 1 || got[0] != "b" || len(resp.Topics[0].Partitions) != 2 {
		t.Errorf("v12 by topic ID: %+v", resp.Topics)
	}
	unknownID := kmsg.NewMetadataRequestTopic()
	unknownID.TopicID = [16]byte{9}
	if resp := md(12, []kmsg.MetadataRequestTopic{unknownID}); resp.Topics[0].ErrorCode != kerr.UnknownTopicID.Code {
		t.Errorf("unknown topic ID: error %d", resp.Topics[0].ErrorCode)
	}
	missing := kmsg.NewMetadataRequestTopic()
	missing.Topic = kmsg.StringPtr("missing")
	if resp := md(12, []kmsg.MetadataRequestTopic{missing}); resp.Topics[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("unknown topic, auto-creation off: error %d", resp.Topics[0].ErrorCode)
	}
	if resp.Brokers[0].NodeID != 0 || resp.ControllerID != 0 || *resp.ClusterID != tb.clusterID || resp.Brokers[0].Port != tb.listeners[0].port {
		t.Errorf("broker: %+v controller %d", resp.Brokers, resp.ControllerID)
	}
}

func TestClusterIdentityChecks(t *testing.T) {
	tb := startBroker(t)
	rc := dialRaw(t, tb.Addr())

	dc := kmsg.NewPtrDescribeClusterRequest()
	dc.Version = 1
	dc.EndpointType = endpointController
	if resp := rc.roundTrip(dc).(*kmsg.DescribeClusterResponse); resp.ErrorCode != kerr.MismatchedEndpointType.Code {
		t.Errorf("DescribeCluster for controllers: error %d", resp.ErrorCode)
	}

	av := kmsg.NewPtrApiVersionsRequest()
	av.Version = 5
	av.ClientSoftwareName, av.ClientSoftwareVersion = "test", "1"
	av.ClusterID, av.NodeID = kmsg.StringPtr(tb.clusterID), 0
	if resp := rc.roundTrip(av).(*kmsg.ApiVersionsResponse); resp.ErrorCode != 0 {
		t.Errorf("ApiVersions v5 naming this broker: error %d", resp.ErrorCode)
	}
	av.ClusterID = kmsg.StringPtr("another-cluster")
	if resp := rc.roundTrip(av).(*kmsg.ApiVersionsResponse); resp.ErrorCode != kerr.RebootstrapRequired.Code {
		t.Errorf("ApiVersions v5 naming another cluster: error %d", resp.ErrorCode)
	}
	av.NodeID = -1
	if resp := rc.roundTrip(av).(*kmsg.ApiVersionsResponse); resp.ErrorCode != kerr.InvalidRequest.Code {
		t.Errorf("ApiVersions v5 with a cluster but no node: error %d", resp.ErrorCode)
	}
}

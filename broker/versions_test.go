package broker

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestEveryAdvertisedVersion sends one ordinary request of every version of
// every API that ApiVersions advertises, decodes the answer at that
// version and checks it succeeded.
func TestEveryAdvertisedVersion(t *testing.T) {
	tb := startBroker(t)
	tb.createTopic("sweep", 1, nil)
	tb.createTopic("sweep-grow", 1, nil)
	topicID := tb.topics().byName["sweep"].id
	rc := dialRaw(t, tb.Addr())
	var produced int64

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
		kmsg.DescribeCluster: func(v int16) (kmsg.Request, check) {
			return kmsg.NewPtrDescribeClusterRequest(), func(r kmsg.Response) error {
				resp := r.(*kmsg.DescribeClusterResponse)
				if resp.ErrorCode != 0 || resp.ClusterID != tb.clusterID || len(resp.Brokers) != 1 || resp.Brokers[0].Port != tb.port {
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

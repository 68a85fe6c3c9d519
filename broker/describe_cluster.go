package broker

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Endpoint types of DescribeCluster v1+ (KIP-919).
const (
	endpointBroker     = 1
	endpointController = 2
)

// handleDescribeCluster describes the one-broker cluster. As in Kafka it
// needs no ACL (like Metadata, it only names the brokers); the cluster's
// authorized operations, when asked for, are 0 without DESCRIBE on the
// cluster.
func (b *Broker) handleDescribeCluster(rc *request) (reply, error) {
	req := rc.kreq.(*kmsg.DescribeClusterRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	resp.EndpointType = endpointBroker
	if req.Version >= 1 && req.EndpointType != endpointBroker {
		err := errUnsupportedEndpointType
		if req.EndpointType == endpointController {
			err = errEndpointType
		}
		resp.ErrorCode, resp.ErrorMessage = errorCode(err), errorMessage(err)
		return reply{resp: resp}, nil
	}
	resp.ClusterID = b.clusterID
	resp.ControllerID = b.nodeID
	host, port := rc.listener.advertised()
	br := kmsg.NewDescribeClusterResponseBroker()
	br.NodeID, br.Host, br.Port = b.nodeID, host, port
	resp.Brokers = []kmsg.DescribeClusterResponseBroker{br}
	if req.IncludeClusterAuthorizedOperations {
		resp.ClusterAuthorizedOperations = b.clusterAuthorizedOperations(rc)
	}
	return reply{resp: resp}, nil
}

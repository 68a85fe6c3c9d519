package broker

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleApiVersions answers ApiVersions with the version table in
// versions.go. A version the broker does not know never reaches here: the
// connection answers it in v0 with UNSUPPORTED_VERSION (KIP-511).
func (b *Broker) handleApiVersions(rc *request) (reply, error) {
	req := rc.kreq.(*kmsg.ApiVersionsRequest)
	resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
	// v3+ names the client software; Kafka refuses names it would not
	// accept in metric tags.
	if req.Version >= 3 && (!validClientSoftware(req.ClientSoftwareName) || !validClientSoftware(req.ClientSoftwareVersion)) {
		resp.ErrorCode = errorCode(errInvalidRequest)
		return reply{resp: resp}, nil
	}
	// v5+ may name the cluster and node the client means to reach
	// (KIP-1242); both or neither.
	if req.Version >= 5 {
		hasCluster, hasNode := req.ClusterID != nil, req.NodeID != -1
		switch {
		case hasCluster != hasNode:
			resp.ErrorCode = errorCode(errInvalidRequest)
			return reply{resp: resp}, nil
		case hasCluster && (*req.ClusterID != b.clusterID || req.NodeID != b.nodeID):
			resp.ErrorCode = errorCode(errRebootstrap)
			return reply{resp: resp}, nil
		}
	}
	resp.ApiKeys = advertisedAPIs()
	return reply{resp: resp}, nil
}

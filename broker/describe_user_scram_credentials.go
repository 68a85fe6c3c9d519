package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/auth"
)

// scramMechanisms maps the mechanism numbers of the SCRAM credential APIs
// (KIP-554) to names; 0 is UNKNOWN.
var scramMechanisms = map[int8]string{1: auth.ScramSHA256, 2: auth.ScramSHA512}

func scramMechanismNumber(name string) int8 {
	for n, m := range scramMechanisms {
		if m == name {
			return n
		}
	}
	return 0
}

// handleDescribeUserScramCredentials lists the mechanisms and iteration
// counts of every user's credentials (Users null or empty) or of the named
// users, never a salt or key. It needs DESCRIBE on the cluster.
func (b *Broker) handleDescribeUserScramCredentials(rc *request) (reply, error) {
	req := rc.kreq.(*kmsg.DescribeUserSCRAMCredentialsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeUserSCRAMCredentialsResponse)
	if !b.allowedCluster(rc, auth.OpDescribe) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return reply{resp: resp}, nil
	}
	result := func(info auth.UserInfo) kmsg.DescribeUserSCRAMCredentialsResponseResult {
		r := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
		r.User = info.Name
		for _, c := range info.Credentials {
			ci := kmsg.NewDescribeUserSCRAMCredentialsResponseResultCredentialInfo()
			ci.Mechanism, ci.Iterations = scramMechanismNumber(c.Mechanism), int32(c.Iterations)
			r.CredentialInfos = append(r.CredentialInfos, ci)
		}
		return r
	}
	all := b.users.List()
	if len(req.Users) == 0 {
		for _, info := range all {
			resp.Results = append(resp.Results, result(info))
		}
		return reply{resp: resp}, nil
	}
	byName := make(map[string]auth.UserInfo, len(all))
	for _, info := range all {
		byName[info.Name] = info
	}
	seen := make(map[string]int, len(req.Users))
	for _, u := range req.Users {
		seen[u.Name]++
	}
	for _, u := range req.Users {
		n := seen[u.Name]
		if n == 0 {
			continue // answered already
		}
		seen[u.Name] = 0
		info, ok := byName[u.Name]
		r := result(info)
		r.User = u.Name
		switch {
		case n > 1:
			r.ErrorCode = kerr.DuplicateResource.Code
			r.ErrorMessage = kmsg.StringPtr("Cannot describe SCRAM credentials for the same user twice in a single request: " + u.Name)
			r.CredentialInfos = nil
		case !ok:
			r.ErrorCode = kerr.ResourceNotFound.Code
			r.ErrorMessage = kmsg.StringPtr("Attempt to describe a user credential that does not exist: " + u.Name)
		}
		resp.Results = append(resp.Results, r)
	}
	return reply{resp: resp}, nil
}

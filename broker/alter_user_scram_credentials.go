package broker

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/auth"
	"github.com/strata-io/strata/objectstore"
)

// handleAlterUserScramCredentials applies deletions and upsertions (a salt
// and a salted password each, which never leave this function: only the
// derived keys are kept) and saves the users, locally and to the bucket,
// before answering. Each user gets one result; a user named twice in one
// request, a missing credential to delete, an unknown mechanism or bad
// iterations fail that user's changes only. It needs ALTER on the cluster.
func (b *Broker) handleAlterUserScramCredentials(rc *request) (reply, error) {
	req := rc.kreq.(*kmsg.AlterUserSCRAMCredentialsRequest)
	resp := req.ResponseKind().(*kmsg.AlterUserSCRAMCredentialsResponse)

	var order []string
	changes := make(map[string][]scramChange)
	add := func(name string, ch scramChange) {
		if _, ok := changes[name]; !ok {
			order = append(order, name)
		}
		changes[name] = append(changes[name], ch)
	}
	for i := range req.Deletions {
		add(req.Deletions[i].Name, scramChange{del: &req.Deletions[i]})
	}
	for i := range req.Upsertions {
		add(req.Upsertions[i].Name, scramChange{upsert: &req.Upsertions[i]})
	}
	results := make(map[string]*kmsg.AlterUserSCRAMCredentialsResponseResult, len(order))
	for _, name := range order {
		r := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
		r.User = name
		resp.Results = append(resp.Results, r)
	}
	for i := range resp.Results {
		results[resp.Results[i].User] = &resp.Results[i]
	}
	fail := func(name string, code int16, msg string) {
		r := results[name]
		if r.ErrorCode == 0 {
			r.ErrorCode, r.ErrorMessage = code, kmsg.StringPtr(msg)
		}
	}
	switch {
	case !b.allowedCluster(rc, auth.OpAlter):
		for _, name := range order {
			fail(name, kerr.ClusterAuthorizationFailed.Code, "")
		}
		return reply{resp: resp}, nil
	case b.cfg.ReadOnly:
		for _, name := range order {
			fail(name, kerr.ClusterAuthorizationFailed.Code, errReadOnly.Error())
		}
		return reply{resp: resp}, nil
	}

	b.usersMu.Lock()
	defer b.usersMu.Unlock()
	// Validate everything first, against the users as they are.
	type apply struct {
		name string
		del  string // mechanism to delete
		cred *auth.Credential
	}
	var applies []apply
	for _, name := range order {
		chs := changes[name]
		mechs := make(map[int8]bool)
		var ops []apply
		for _, ch := range chs {
			mech := ch.mechanism()
			if mechs[mech] {
				fail(name, kerr.DuplicateResource.Code, "A user credential cannot be altered twice in the same request")
				break
			}
			mechs[mech] = true
			mechName, ok := scramMechanisms[mech]
			if !ok {
				fail(name, kerr.UnsupportedSaslMechanism.Code, "Unknown SCRAM mechanism")
				break
			}
			if name == "" {
				fail(name, kerr.UnacceptableCredential.Code, "Username must not be empty")
				break
			}
			if ch.del != nil {
				if _, ok := b.users.Lookup(name, mechName); !ok {
					fail(name, kerr.ResourceNotFound.Code, "Attempt to delete a user credential that does not exist")
					break
				}
				ops = append(ops, apply{name: name, del: mechName})
				continue
			}
			u := ch.upsert
			if u.Iterations < auth.MinIterations || u.Iterations > auth.MaxIterations {
				fail(name, kerr.UnacceptableCredential.Code, fmt.Sprintf("Iterations %d must be from %d to %d", u.Iterations, auth.MinIterations, auth.MaxIterations))
				break
			}
			cred, err := auth.CredentialFromSalted(mechName, int(u.Iterations), u.Salt, u.SaltedPassword)
			if err != nil {
				// The error names the step, never the bytes.
				fail(name, kerr.UnacceptableCredential.Code, err.Error())
				break
			}
			ops = append(ops, apply{name: name, cred: &cred})
		}
		if results[name].ErrorCode == 0 {
			applies = append(applies, ops...)
		}
	}
	if len(applies) == 0 {
		return reply{resp: resp}, nil
	}
	// Apply to a copy, persist, then publish: a failed save changes
	// nothing.
	next, err := cloneUsers(b.users)
	if err != nil {
		return reply{}, err
	}
	for _, a := range applies {
		if a.cred != nil {
			next.Set(a.name, *a.cred)
		} else {
			next.Delete(a.name, a.del)
		}
	}
	var bucket objectstore.Bucket
	if b.tiers != nil {
		bucket = b.tiers.bucket
	}
	ctx, cancel := context.WithTimeout(rc.ctx, bucketMetaTimeout)
	defer cancel()
	if err := saveUsers(ctx, b.cfg.DataDir, bucket, next); err != nil {
		b.logger.Error("save users", "err", err)
		for _, a := range applies {
			fail(a.name, kerr.UnknownServerError.Code, "saving the credentials failed")
		}
		return reply{resp: resp}, nil
	}
	doc, err := next.MarshalJSON()
	if err == nil {
		err = b.users.UnmarshalJSON(doc)
	}
	if err != nil {
		return reply{}, fmt.Errorf("publish users: %w", err)
	}
	for _, a := range applies {
		op := "upserted"
		if a.cred == nil {
			op = "deleted " + a.del
		}
		b.logger.Info("user credential changed", "user", a.name, "change", op, "by", rc.principal)
	}
	return reply{resp: resp}, nil
}

// scramChange is one deletion or upsertion of an AlterUserScramCredentials
// request.
type scramChange struct {
	del    *kmsg.AlterUserSCRAMCredentialsRequestDeletion
	upsert *kmsg.AlterUserSCRAMCredentialsRequestUpsertion
}

func (ch scramChange) mechanism() int8 {
	if ch.del != nil {
		return ch.del.Mechanism
	}
	return ch.upsert.Mechanism
}

// cloneUsers returns a deep copy of u.
func cloneUsers(u *auth.Users) (*auth.Users, error) {
	doc, err := u.MarshalJSON()
	if err != nil {
		return nil, err
	}
	c := auth.NewUsers()
	if err := c.UnmarshalJSON(doc); err != nil {
		return nil, err
	}
	return c, nil
}

package broker

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/strata-io/strata/auth"
	"github.com/strata-io/strata/objectstore"
)

// The ACLs are one document, auth.ACLs' JSON (its format is described at
// auth's aclsDoc, version auth.ACLsVersion), kept in two places:
//
//	<data dir>/security/acls.json   the running broker's copy
//	security/acls.json              the bucket's, when Config.Bucket is set
//
// A change is written locally (atomically) first, then put to the bucket,
// and only then applied and answered. At Open a missing local document
// (a fresh or wiped data directory) is restored from the bucket, and a
// local one the bucket does not hold is pushed to it. A read-only broker
// reads only the bucket's, at Open and at every poll, and never writes.
const (
	aclsFile = "acls.json"
	aclsKey  = securityDir + "/" + aclsFile
)

// openACLs loads the ACLs for Open and, with authentication on, makes the
// authorizer that enforces them.
func (b *Broker) openACLs(ctx context.Context) error {
	b.acls = auth.NewACLs()
	if b.cfg.authenticationOn() {
		b.authz = auth.NewAuthorizer(b.acls, b.cfg.SuperUsers)
	}
	var bucket objectstore.Bucket
	if b.tiers != nil {
		bucket = b.tiers.bucket
	}
	return b.withBucketRetry(ctx, "sync ACLs with the bucket", func(ctx context.Context) error {
		if !b.cfg.ReadOnly {
			return syncSecurityDoc(ctx, b.cfg.DataDir, bucket, aclsFile, b.acls.UnmarshalJSON)
		}
		doc, err := readBucketSecurityDoc(ctx, bucket, aclsFile)
		if err != nil || doc == nil {
			return err
		}
		if err := b.acls.UnmarshalJSON(doc); err != nil {
			return &permanentError{fmt.Errorf("bucket %s: %w", aclsKey, err)}
		}
		return nil
	})
}

// followACLs reloads a read-only broker's ACLs from the bucket; for
// followOnce.
func (b *Broker) followACLs(ctx context.Context) error {
	body, _, err := b.tiers.bucket.Get(ctx, aclsKey)
	switch {
	case errors.Is(err, objectstore.ErrNotExist):
		body = []byte(`{"version":1,"acls":[]}`)
	case err != nil:
		return err
	}
	return b.acls.UnmarshalJSON(body)
}

// changeACLs applies change to a copy of the ACLs, persists the copy
// (locally, then in the bucket) and only then makes it the ACLs in force.
// If persisting fails the ACLs are unchanged. A read-only broker refuses.
func (b *Broker) changeACLs(change func(next *auth.ACLs)) error {
	if err := b.writable(); err != nil {
		return fmt.Errorf("%w: %w", errClusterReadOnly, err)
	}
	b.aclMu.Lock()
	defer b.aclMu.Unlock()
	cur, err := b.acls.MarshalJSON()
	if err != nil {
		return err
	}
	next := auth.NewACLs()
	if err := next.UnmarshalJSON(cur); err != nil {
		return err
	}
	change(next)
	doc, err := next.MarshalJSON()
	if err != nil || bytes.Equal(doc, cur) {
		return err
	}
	if err := writeSecurityFile(b.cfg.DataDir, aclsFile, doc); err != nil {
		return fmt.Errorf("%w: save ACLs: %w", errStorage, err)
	}
	if b.tiers != nil {
		ctx, cancel := context.WithTimeout(context.Background(), bucketMetaTimeout)
		_, err := b.tiers.bucket.Put(ctx, aclsKey, doc)
		cancel()
		if err != nil {
			// Like topic metadata: the local copy is the running broker's
			// source, and Open pushes it to the bucket.
			b.logger.Error("write ACLs to the bucket; a broker rebuilt from the bucket before the next start will not see this change",
				"key", aclsKey, "err", err)
		}
	}
	return b.acls.UnmarshalJSON(doc)
}

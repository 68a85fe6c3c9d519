package broker

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/strata-io/strata/auth"
	"github.com/strata-io/strata/objectstore"
	"github.com/strata-io/strata/objectstore/bucketurl"
)

// The SCRAM credentials of every user (auth.Users, the document its
// MarshalJSON describes: salts, iteration counts and derived keys, never a
// password) live in two places:
//
//	<data dir>/security/users.json   the broker's copy, written atomically (fsynced)
//	security/users.json              in the bucket, so a restore keeps the users
//
// Every change writes the local file first, then the bucket object (with a
// bucket, never on a read-only broker), before it is answered. At Open a
// missing local file is restored from the bucket (a wiped data directory)
// and a local file the bucket does not hold as is is pushed to it (changes
// made with `strata users` while the bucket was unreachable). A read-only
// broker reads the bucket's document only.
const (
	usersFile = "users.json"
	usersKey  = securityDir + "/" + usersFile
)

// loadUsers reads the users at Open, restoring or pushing the document as
// described above. Bucket errors are retried until ctx ends.
func (b *Broker) loadUsers(ctx context.Context) (*auth.Users, error) {
	var bucket objectstore.Bucket
	if b.tiers != nil {
		bucket = b.tiers.bucket
	}
	var u *auth.Users
	what, sync := "sync users with the bucket", syncUsers
	if b.cfg.ReadOnly {
		what, sync = "read users from the bucket", readBucketUsers
	}
	err := b.withBucketRetry(ctx, what, func(ctx context.Context) error {
		var err error
		u, err = sync(ctx, b.cfg.DataDir, bucket)
		return err
	})
	return u, err
}

// syncUsers reads the users of dataDir as syncSecurityDoc keeps them in
// step with bucket (nil: none). No document anywhere means no users.
func syncUsers(ctx context.Context, dataDir string, bucket objectstore.Bucket) (*auth.Users, error) {
	u := auth.NewUsers()
	if err := syncSecurityDoc(ctx, dataDir, bucket, usersFile, u.UnmarshalJSON); err != nil {
		return nil, err
	}
	return u, nil
}

// readBucketUsers reads only the bucket's users, for a read-only broker.
func readBucketUsers(ctx context.Context, _ string, bucket objectstore.Bucket) (*auth.Users, error) {
	u := auth.NewUsers()
	doc, err := readBucketSecurityDoc(ctx, bucket, usersFile)
	if err != nil || doc == nil {
		return u, err
	}
	if err := u.UnmarshalJSON(doc); err != nil {
		return nil, &permanentError{fmt.Errorf("bucket %s: %w", usersKey, err)}
	}
	return u, nil
}

// saveUsers persists u: the local document, then the bucket's (nil: none).
func saveUsers(ctx context.Context, dataDir string, bucket objectstore.Bucket, u *auth.Users) error {
	doc, err := u.MarshalJSON()
	if err != nil {
		return fmt.Errorf("encode users: %w", err)
	}
	if err := writeSecurityFile(dataDir, usersFile, doc); err != nil {
		return fmt.Errorf("write users: %w", err)
	}
	if bucket != nil {
		if _, err := bucket.Put(ctx, usersKey, doc); err != nil {
			return fmt.Errorf("write %s to the bucket: %w", usersKey, err)
		}
	}
	return nil
}

// EditUsers is `strata users`: with the broker of dataDir not running (it
// takes the data directory's lock), it reads the users as a starting broker
// would (restoring a missing local document from the bucket at bucketURL,
// empty for none), calls edit, and, if edit returns nil and changed is
// true, saves them locally and to the bucket. A broker picks the change up
// at its next start.
func EditUsers(ctx context.Context, dataDir, bucketURL string, edit func(u *auth.Users) (changed bool, err error)) (err error) {
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return err
	}
	lock, err := lockDir(dataDir)
	if err != nil {
		return err
	}
	defer func() { _ = lock.Close() }()
	var bucket objectstore.Bucket
	if bucketURL != "" {
		bare, err := bucketurl.Open(ctx, bucketURL)
		if err != nil {
			return fmt.Errorf("bucket %s: %w", bucketurl.Redact(bucketURL), err)
		}
		bucket = objectstore.WithRetry(bare, objectstore.RetryConfig{})
	}
	u, err := syncUsers(ctx, dataDir, bucket)
	var perm *permanentError
	if errors.As(err, &perm) {
		return perm.err
	}
	if err != nil {
		return err
	}
	changed, err := edit(u)
	if err != nil || !changed {
		return err
	}
	return saveUsers(ctx, dataDir, bucket, u)
}

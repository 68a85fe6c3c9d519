package broker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

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
	if b.cfg.ReadOnly {
		var u *auth.Users
		err := b.withBucketRetry(ctx, "read users from the bucket", func(ctx context.Context) error {
			var err error
			u, _, err = readBucketUsers(ctx, bucket)
			return err
		})
		return u, err
	}
	var u *auth.Users
	err := b.withBucketRetry(ctx, "sync users with the bucket", func(ctx context.Context) error {
		var err error
		u, err = syncUsers(ctx, b.cfg.DataDir, bucket)
		return err
	})
	return u, err
}

// syncUsers reads the local users document of dataDir, restores it from
// bucket (nil: none) if it is missing, or pushes it there if the bucket's
// copy differs, and returns the users. No document anywhere means no users.
func syncUsers(ctx context.Context, dataDir string, bucket objectstore.Bucket) (*auth.Users, error) {
	local, err := os.ReadFile(filepath.Join(dataDir, securityDir, usersFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read users: %w", err)
	}
	if err != nil { // no local document
		u, remote, err := readBucketUsers(ctx, bucket)
		if err != nil || remote == nil {
			return u, err
		}
		if err := writeLocalUsers(dataDir, remote); err != nil {
			return nil, err
		}
		return u, nil
	}
	u := auth.NewUsers()
	if err := u.UnmarshalJSON(local); err != nil {
		return nil, &permanentError{fmt.Errorf("%s: %w", filepath.Join(dataDir, securityDir, usersFile), err)}
	}
	if bucket != nil {
		remote, _, err := bucket.Get(ctx, usersKey)
		if err != nil && !errors.Is(err, objectstore.ErrNotExist) {
			return nil, fmt.Errorf("read %s from the bucket: %w", usersKey, err)
		}
		if !bytes.Equal(remote, local) {
			if _, err := bucket.Put(ctx, usersKey, local); err != nil {
				return nil, fmt.Errorf("write %s to the bucket: %w", usersKey, err)
			}
		}
	}
	return u, nil
}

// readBucketUsers reads the bucket's users document; with no bucket or no
// document it returns no users and a nil document.
func readBucketUsers(ctx context.Context, bucket objectstore.Bucket) (*auth.Users, []byte, error) {
	u := auth.NewUsers()
	if bucket == nil {
		return u, nil, nil
	}
	doc, _, err := bucket.Get(ctx, usersKey)
	if errors.Is(err, objectstore.ErrNotExist) {
		return u, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read %s from the bucket: %w", usersKey, err)
	}
	if err := u.UnmarshalJSON(doc); err != nil {
		return nil, nil, &permanentError{fmt.Errorf("bucket %s: %w", usersKey, err)}
	}
	return u, doc, nil
}

func writeLocalUsers(dataDir string, doc []byte) error {
	dir := filepath.Join(dataDir, securityDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("write users: %w", err)
	}
	if err := writeFileAtomic(dir, usersFile, doc); err != nil {
		return fmt.Errorf("write users: %w", err)
	}
	return nil
}

// saveUsers persists u: the local document, then the bucket's (nil: none).
func saveUsers(ctx context.Context, dataDir string, bucket objectstore.Bucket, u *auth.Users) error {
	doc, err := u.MarshalJSON()
	if err != nil {
		return fmt.Errorf("encode users: %w", err)
	}
	if err := writeLocalUsers(dataDir, doc); err != nil {
		return err
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

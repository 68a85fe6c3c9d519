package broker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/strata-io/strata/objectstore"
)

// The security documents (users.json: SCRAM credentials, users_store.go;
// acls.json: ACLs, acls_store.go) live in the data directory's security
// directory and, with a bucket, under the same names below securityDir in
// the bucket, so that a broker rebuilt from the bucket keeps them. Both are
// kept in step the same way at start-up (syncSecurityDoc); how a change is
// written is each document's business.
const securityDir = "security"

// syncSecurityDoc hands take the security document name as a starting
// broker takes it: the local copy, pushed to bucket (nil: none) if the
// bucket's differs (a change made while the bucket was unreachable); or,
// with no local copy (a fresh or wiped data directory), the bucket's,
// restored locally. take decodes it, before it is pushed or restored; its
// error comes back as a permanentError, so that withBucketRetry does not
// retry it. With no document anywhere take is not called. Bucket errors
// come back as they are.
func syncSecurityDoc(ctx context.Context, dataDir string, bucket objectstore.Bucket, name string, take func([]byte) error) error {
	path := filepath.Join(dataDir, securityDir, name)
	local, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read %s: %w", path, err)
	}
	if err != nil { // no local copy
		remote, err := readBucketSecurityDoc(ctx, bucket, name)
		if err != nil || remote == nil {
			return err
		}
		if err := take(remote); err != nil {
			return &permanentError{fmt.Errorf("bucket %s/%s: %w", securityDir, name, err)}
		}
		if err := writeSecurityFile(dataDir, name, remote); err != nil {
			return fmt.Errorf("restore %s from the bucket: %w", name, err)
		}
		return nil
	}
	if err := take(local); err != nil {
		return &permanentError{fmt.Errorf("%s: %w", path, err)}
	}
	if bucket == nil {
		return nil
	}
	remote, err := readBucketSecurityDoc(ctx, bucket, name)
	if err != nil {
		return err
	}
	if !bytes.Equal(remote, local) {
		if _, err := bucket.Put(ctx, securityDir+"/"+name, local); err != nil {
			return fmt.Errorf("write %s/%s to the bucket: %w", securityDir, name, err)
		}
	}
	return nil
}

// readBucketSecurityDoc returns the bucket's security document name, or
// nil if there is none (or no bucket).
func readBucketSecurityDoc(ctx context.Context, bucket objectstore.Bucket, name string) ([]byte, error) {
	if bucket == nil {
		return nil, nil
	}
	doc, _, err := bucket.Get(ctx, securityDir+"/"+name)
	if errors.Is(err, objectstore.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s/%s from the bucket: %w", securityDir, name, err)
	}
	return doc, nil
}

// writeSecurityFile atomically replaces name in the data directory's
// security directory, creating the directory if needed.
func writeSecurityFile(dataDir, name string, data []byte) error {
	dir := filepath.Join(dataDir, securityDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return writeFileAtomic(dir, name, data)
}

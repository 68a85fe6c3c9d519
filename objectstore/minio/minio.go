package minio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"math"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/strata-io/strata/objectstore"
	"github.com/strata-io/strata/objectstore/internal/respbody"
	"github.com/strata-io/strata/objectstore/internal/tlserr"
)

// Config says which bucket to use and how to reach it.
type Config struct {
	// Endpoint is the store's host:port. Required.
	Endpoint string
	// Bucket is the bucket's name. Required.
	Bucket string
	// Secure uses HTTPS.
	Secure bool
	// Region is the bucket's region; empty lets minio-go find out.
	Region string
	// Credentials, if set, replace the environment chain.
	Credentials *credentials.Credentials
}

// EnvCredentials is the default credential chain: AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY, then MINIO_ROOT_USER and MINIO_ROOT_PASSWORD, then
// the AWS shared credentials file (AWS_PROFILE). With none set, requests go
// unsigned.
func EnvCredentials() *credentials.Credentials {
	return credentials.NewChainCredentials([]credentials.Provider{
		&credentials.EnvAWS{},
		&credentials.EnvMinio{},
		&credentials.FileAWSCredentials{},
	})
}

// Bucket is an objectstore.Bucket in one bucket of an S3-compatible store.
type Bucket struct {
	client *minio.Client
	core   minio.Core
	bucket string
	desc   string
}

// New returns the bucket cfg names. It does not contact the store.
func New(cfg Config) (*Bucket, error) {
	if cfg.Endpoint == "" || cfg.Bucket == "" {
		return nil, errors.New("minio: endpoint and bucket are required")
	}
	creds := cfg.Credentials
	if creds == nil {
		creds = EnvCredentials()
	}
	client, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:      creds,
		Secure:     cfg.Secure,
		Region:     cfg.Region,
		MaxRetries: 1, // WithRetry retries; see the package doc
	})
	if err != nil {
		return nil, fmt.Errorf("minio: %w", err)
	}
	scheme := "http"
	if cfg.Secure {
		scheme = "https"
	}
	return &Bucket{client: client, core: minio.Core{Client: client}, bucket: cfg.Bucket, desc: fmt.Sprintf("minio://%s/%s (%s)", cfg.Endpoint, cfg.Bucket, scheme)}, nil
}

// String names the bucket for logs; it holds no secret.
func (b *Bucket) String() string { return b.desc }

// mapErr translates a minio-go error into the objectstore sentinels,
// keeping the original reachable.
func mapErr(ctx context.Context, op objectstore.Op, key string, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%s %q: %w", op, key, err) // the caller's context ended: not transient
	}
	wrap := func(sentinel error) error { return fmt.Errorf("%s %q: %w: %w", op, key, sentinel, err) }
	resp := minio.ToErrorResponse(err)
	switch resp.Code {
	case "NoSuchKey", "NotFound":
		return wrap(objectstore.ErrNotExist)
	case "NoSuchBucket":
		return fmt.Errorf("%s %q: bucket does not exist: %w", op, key, err)
	case "PreconditionFailed", "ConditionalRequestConflict":
		return wrap(objectstore.ErrPreconditionFailed)
	case "InvalidRange":
		return wrap(objectstore.ErrInvalidRange)
	case "SlowDown", "SlowDownRead", "SlowDownWrite", "RequestTimeout", "InternalError",
		"ServiceUnavailable", "XMinioServerNotInitialized", "XMinioReadQuorum", "XMinioWriteQuorum":
		return objectstore.Unavailable(fmt.Errorf("%s %q: %w", op, key, err))
	}
	switch resp.StatusCode {
	case http.StatusNotFound:
		return wrap(objectstore.ErrNotExist)
	case http.StatusPreconditionFailed:
		return wrap(objectstore.ErrPreconditionFailed)
	case http.StatusRequestedRangeNotSatisfiable:
		return wrap(objectstore.ErrInvalidRange)
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return objectstore.Unavailable(fmt.Errorf("%s %q: %w", op, key, err))
	}
	if tlserr.Is(err) {
		// A certificate that does not verify, or a server that does not
		// speak TLS, is configuration: retrying cannot help.
		return fmt.Errorf("%s %q: %w", op, key, err)
	}
	if transportErr(err) {
		return objectstore.Unavailable(fmt.Errorf("%s %q: %w", op, key, err))
	}
	return fmt.Errorf("%s %q: %w", op, key, err)
}

// transportErr reports a failure to talk to the store at all: a refused or
// reset connection, a timeout, a cut response.
func transportErr(err error) bool {
	var (
		urlErr *url.Error
		netErr net.Error
	)
	return errors.As(err, &urlErr) || errors.As(err, &netErr) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE)
}

func etagOf(s string) objectstore.ETag { return objectstore.ETag(strings.Trim(s, `"`)) }

func check(op objectstore.Op, key string) error {
	if err := objectstore.ValidateKey(key); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

func (b *Bucket) put(ctx context.Context, op objectstore.Op, key string, body []byte, opts minio.PutObjectOptions) (objectstore.ETag, error) {
	if err := check(op, key); err != nil {
		return "", err
	}
	info, err := b.client.PutObject(ctx, b.bucket, key, bytes.NewReader(body), int64(len(body)), opts)
	if err != nil {
		return "", mapErr(ctx, op, key, err)
	}
	return etagOf(info.ETag), nil
}

// Put implements objectstore.Bucket. Bodies above minio-go's part size
// (16 MiB) go up as a multipart upload.
func (b *Bucket) Put(ctx context.Context, key string, body []byte) (objectstore.ETag, error) {
	return b.put(ctx, objectstore.OpPut, key, body, minio.PutObjectOptions{})
}

// PutIfAbsent implements objectstore.Bucket with If-None-Match: *.
func (b *Bucket) PutIfAbsent(ctx context.Context, key string, body []byte) (objectstore.ETag, error) {
	opts := minio.PutObjectOptions{DisableMultipart: true}
	opts.SetMatchETagExcept("*")
	return b.put(ctx, objectstore.OpPutIfAbsent, key, body, opts)
}

// PutIfMatch implements objectstore.Bucket with If-Match.
func (b *Bucket) PutIfMatch(ctx context.Context, key string, body []byte, etag objectstore.ETag) (objectstore.ETag, error) {
	if etag == "" || etag == "*" {
		return "", fmt.Errorf("put-if-match %q: ETag %q matches nothing: %w", key, etag, objectstore.ErrPreconditionFailed)
	}
	opts := minio.PutObjectOptions{DisableMultipart: true}
	opts.SetMatchETag(string(etag))
	tag, err := b.put(ctx, objectstore.OpPutIfMatch, key, body, opts)
	if errors.Is(err, objectstore.ErrNotExist) {
		// MinIO answers 404 NoSuchKey when there is nothing to match.
		return "", fmt.Errorf("put-if-match %q: no object to match (%v): %w", key, err, objectstore.ErrPreconditionFailed)
	}
	return tag, err
}

// get makes one GET with opts (through minio.Core, which neither
// re-requests nor seeks) and reads the whole answer. The Size of the
// returned info is the length of the answer.
func (b *Bucket) get(ctx context.Context, op objectstore.Op, key string, opts minio.GetObjectOptions) ([]byte, minio.ObjectInfo, error) {
	rc, info, _, err := b.core.GetObject(ctx, b.bucket, key, opts)
	if err != nil {
		return nil, minio.ObjectInfo{}, mapErr(ctx, op, key, err)
	}
	defer rc.Close()
	body, err := respbody.Read(rc, info.Size)
	if err != nil {
		if ctx.Err() != nil {
			return nil, minio.ObjectInfo{}, fmt.Errorf("%s %q: read body: %w", op, key, err)
		}
		return nil, minio.ObjectInfo{}, objectstore.Unavailable(fmt.Errorf("%s %q: read body: %w", op, key, err))
	}
	return body, info, nil
}

// Get implements objectstore.Bucket.
func (b *Bucket) Get(ctx context.Context, key string) ([]byte, objectstore.Info, error) {
	const op = objectstore.OpGet
	if err := check(op, key); err != nil {
		return nil, objectstore.Info{}, err
	}
	body, info, err := b.get(ctx, op, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, objectstore.Info{}, err
	}
	return body, objectstore.Info{Key: key, Size: int64(len(body)), ETag: etagOf(info.ETag), LastModified: info.LastModified.UTC()}, nil
}

// GetRange implements objectstore.Bucket with a ranged GET; a range that
// yields no bytes is settled with a HEAD, as S3 cannot express it.
func (b *Bucket) GetRange(ctx context.Context, key string, off, n int64) ([]byte, error) {
	const op = objectstore.OpGetRange
	if err := check(op, key); err != nil {
		return nil, err
	}
	if off < 0 || n < 0 {
		_, err := objectstore.ValidateRange(off, n, 0)
		return nil, fmt.Errorf("%s %q: %w", op, key, err)
	}
	if n == 0 {
		return b.emptyRange(ctx, key, off, true)
	}
	var opts minio.GetObjectOptions
	last := off + n - 1
	if n > math.MaxInt64-off {
		last = math.MaxInt64
	}
	if err := opts.SetRange(off, last); err != nil {
		return nil, fmt.Errorf("%s %q: %w", op, key, err)
	}
	body, _, err := b.get(ctx, op, key, opts)
	if errors.Is(err, objectstore.ErrInvalidRange) {
		return b.emptyRange(ctx, key, off, false)
	}
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > n {
		return nil, fmt.Errorf("%s %q: asked for %d bytes, got %d", op, key, n, len(body))
	}
	return body, nil
}

// emptyRange answers a range of no bytes: n == 0 (anyLength) or a range
// the store refused (416) because it starts at or past the end.
func (b *Bucket) emptyRange(ctx context.Context, key string, off int64, anyLength bool) ([]byte, error) {
	info, err := b.Head(ctx, key)
	if err != nil {
		return nil, err
	}
	if _, err := objectstore.ValidateRange(off, 0, info.Size); err != nil {
		return nil, fmt.Errorf("get-range %q: %w", key, err)
	}
	if off == info.Size || anyLength {
		return []byte{}, nil
	}
	// The object grew between the ranged GET and the HEAD.
	return nil, objectstore.Unavailable(fmt.Errorf("get-range %q: object changed during the read", key))
}

// Head implements objectstore.Bucket.
func (b *Bucket) Head(ctx context.Context, key string) (objectstore.Info, error) {
	const op = objectstore.OpHead
	if err := check(op, key); err != nil {
		return objectstore.Info{}, err
	}
	info, err := b.client.StatObject(ctx, b.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return objectstore.Info{}, mapErr(ctx, op, key, err)
	}
	return objectstore.Info{Key: key, Size: info.Size, ETag: etagOf(info.ETag), LastModified: info.LastModified.UTC()}, nil
}

// Delete implements objectstore.Bucket.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	const op = objectstore.OpDelete
	if err := check(op, key); err != nil {
		return err
	}
	err := b.client.RemoveObject(ctx, b.bucket, key, minio.RemoveObjectOptions{})
	if err := mapErr(ctx, op, key, err); err != nil && !errors.Is(err, objectstore.ErrNotExist) {
		return err
	}
	return nil
}

// List implements objectstore.Bucket with ListObjectsV2.
func (b *Bucket) List(ctx context.Context, prefix string) iter.Seq2[objectstore.Info, error] {
	const op = objectstore.OpList
	if err := objectstore.ValidatePrefix(prefix); err != nil {
		return objectstore.ErrorSeq(fmt.Errorf("%s: %w", op, err))
	}
	return func(yield func(objectstore.Info, error) bool) {
		if err := ctx.Err(); err != nil {
			yield(objectstore.Info{}, fmt.Errorf("%s %q: %w", op, prefix, err))
			return
		}
		// Stopping early cancels minio-go's listing goroutine.
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		last := ""
		for o := range b.client.ListObjectsIter(ctx, b.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
			if o.Err != nil {
				yield(objectstore.Info{}, mapErr(ctx, op, prefix, o.Err))
				return
			}
			if last != "" && o.Key <= last {
				yield(objectstore.Info{}, fmt.Errorf("%s %q: store listed %q after %q", op, prefix, o.Key, last))
				return
			}
			last = o.Key
			info := objectstore.Info{Key: o.Key, Size: o.Size, ETag: etagOf(o.ETag), LastModified: o.LastModified.UTC()}
			if !yield(info, nil) {
				return
			}
		}
	}
}

var _ objectstore.Bucket = (*Bucket)(nil)

package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"iter"
	"math"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/strata-io/strata/objectstore"
	"github.com/strata-io/strata/objectstore/internal/respbody"
	"github.com/strata-io/strata/objectstore/internal/tlserr"
)

// contentLength is the announced length of a response, or -1.
func contentLength(n *int64) int64 {
	if n == nil {
		return -1
	}
	return *n
}

// DefaultRegion is used when neither Config.Region nor the AWS chain names
// one; S3-compatible stores accept it.
const DefaultRegion = "us-east-1"

// Config says which bucket to use and how to reach it.
type Config struct {
	// Bucket is the bucket's name. Required.
	Bucket string
	// Region overrides the AWS chain's region (AWS_REGION, config file);
	// DefaultRegion if neither sets one.
	Region string
	// Endpoint is the base URL of an S3-compatible store
	// ("http://127.0.0.1:9000"); empty for AWS S3.
	Endpoint string
	// PathStyle addresses the bucket in the path (endpoint/bucket/key)
	// instead of the host name; most S3-compatible stores need it.
	PathStyle bool
	// Credentials, if set, replace the standard AWS credential chain.
	Credentials aws.CredentialsProvider
}

// Bucket is an objectstore.Bucket in one S3 bucket.
type Bucket struct {
	client *s3.Client
	bucket string
	desc   string
}

// Open loads the AWS configuration (region, credentials chain) and returns
// the bucket cfg names. It does not contact the store, so it succeeds while
// the store is unreachable; the first call reports that.
func Open(ctx context.Context, cfg Config) (*Bucket, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("s3: no bucket name")
	}
	var opts []func(*config.LoadOptions) error
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	if cfg.Credentials != nil {
		opts = append(opts, config.WithCredentialsProvider(cfg.Credentials))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("s3: load AWS configuration: %w", err)
	}
	if awsCfg.Region == "" {
		awsCfg.Region = DefaultRegion
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.PathStyle
		o.Retryer = aws.NopRetryer{} // WithRetry retries; see the package doc
		// MinIO sends no checksum for objects put without one, and the SDK
		// logs each such GET; tiering verifies its own checksums.
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	desc := "s3://" + cfg.Bucket
	if cfg.Endpoint != "" {
		desc += " at " + cfg.Endpoint
	}
	return &Bucket{client: client, bucket: cfg.Bucket, desc: desc}, nil
}

// String names the bucket for logs; it holds no secret.
func (b *Bucket) String() string { return b.desc }

var retryables = retry.IsErrorRetryables(retry.DefaultRetryables)

// mapErr translates an SDK error into the objectstore sentinels, keeping
// the original reachable.
func mapErr(ctx context.Context, op objectstore.Op, key string, err error) error {
	if err == nil {
		return nil
	}
	wrap := func(sentinel error) error { return fmt.Errorf("%s %q: %w: %w", op, key, sentinel, err) }
	if ctx.Err() != nil {
		return fmt.Errorf("%s %q: %w", op, key, err) // the caller's context ended: not transient
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode() {
		case "NoSuchKey", "NotFound":
			return wrap(objectstore.ErrNotExist)
		case "NoSuchBucket":
			return fmt.Errorf("%s %q: bucket does not exist: %w", op, key, err)
		case "PreconditionFailed", "ConditionalRequestConflict":
			return wrap(objectstore.ErrPreconditionFailed)
		case "InvalidRange":
			return wrap(objectstore.ErrInvalidRange)
		}
	}
	var respErr *smithyhttp.ResponseError
	if errors.As(err, &respErr) {
		switch respErr.HTTPStatusCode() {
		case http.StatusNotFound:
			return wrap(objectstore.ErrNotExist)
		case http.StatusPreconditionFailed:
			return wrap(objectstore.ErrPreconditionFailed)
		case http.StatusRequestedRangeNotSatisfiable:
			return wrap(objectstore.ErrInvalidRange)
		case http.StatusTooManyRequests:
			return objectstore.Unavailable(fmt.Errorf("%s %q: %w", op, key, err))
		}
	}
	if tlserr.Is(err) {
		// A certificate that does not verify, or a server that does not
		// speak TLS, is configuration: retrying cannot help.
		return fmt.Errorf("%s %q: %w", op, key, err)
	}
	if retryables.IsErrorRetryable(err) == aws.TrueTernary {
		return objectstore.Unavailable(fmt.Errorf("%s %q: %w", op, key, err))
	}
	return fmt.Errorf("%s %q: %w", op, key, err)
}

// bodyErr marks a failure while reading a response body transient, unless
// the caller's context ended.
func bodyErr(ctx context.Context, op objectstore.Op, key string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s %q: read body: %w", op, key, err)
	}
	return objectstore.Unavailable(fmt.Errorf("%s %q: read body: %w", op, key, err))
}

func etagOf(s *string) objectstore.ETag {
	return objectstore.ETag(strings.Trim(aws.ToString(s), `"`))
}

func quote(etag objectstore.ETag) string { return `"` + string(etag) + `"` }

func check(op objectstore.Op, key string) error {
	if err := objectstore.ValidateKey(key); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

func (b *Bucket) put(ctx context.Context, op objectstore.Op, key string, body []byte, in *s3.PutObjectInput) (objectstore.ETag, error) {
	if err := check(op, key); err != nil {
		return "", err
	}
	in.Bucket = aws.String(b.bucket)
	in.Key = aws.String(key)
	in.Body = bytes.NewReader(body)
	in.ContentLength = aws.Int64(int64(len(body)))
	out, err := b.client.PutObject(ctx, in)
	if err != nil {
		return "", mapErr(ctx, op, key, err)
	}
	return etagOf(out.ETag), nil
}

// Put implements objectstore.Bucket.
func (b *Bucket) Put(ctx context.Context, key string, body []byte) (objectstore.ETag, error) {
	return b.put(ctx, objectstore.OpPut, key, body, &s3.PutObjectInput{})
}

// PutIfAbsent implements objectstore.Bucket with If-None-Match: *.
func (b *Bucket) PutIfAbsent(ctx context.Context, key string, body []byte) (objectstore.ETag, error) {
	return b.put(ctx, objectstore.OpPutIfAbsent, key, body, &s3.PutObjectInput{IfNoneMatch: aws.String("*")})
}

// PutIfMatch implements objectstore.Bucket with If-Match.
func (b *Bucket) PutIfMatch(ctx context.Context, key string, body []byte, etag objectstore.ETag) (objectstore.ETag, error) {
	if etag == "" {
		return "", fmt.Errorf("put-if-match %q: empty ETag: %w", key, objectstore.ErrPreconditionFailed)
	}
	tag, err := b.put(ctx, objectstore.OpPutIfMatch, key, body, &s3.PutObjectInput{IfMatch: aws.String(quote(etag))})
	if errors.Is(err, objectstore.ErrNotExist) {
		// S3 and MinIO answer 404 NoSuchKey when there is nothing to match.
		return "", fmt.Errorf("put-if-match %q: no object to match (%v): %w", key, err, objectstore.ErrPreconditionFailed)
	}
	return tag, err
}

// Get implements objectstore.Bucket.
func (b *Bucket) Get(ctx context.Context, key string) ([]byte, objectstore.Info, error) {
	const op = objectstore.OpGet
	if err := check(op, key); err != nil {
		return nil, objectstore.Info{}, err
	}
	out, err := b.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b.bucket), Key: aws.String(key)})
	if err != nil {
		return nil, objectstore.Info{}, mapErr(ctx, op, key, err)
	}
	defer out.Body.Close()
	body, err := respbody.Read(out.Body, contentLength(out.ContentLength))
	if err != nil {
		return nil, objectstore.Info{}, bodyErr(ctx, op, key, err)
	}
	info := objectstore.Info{Key: key, Size: int64(len(body)), ETag: etagOf(out.ETag), LastModified: aws.ToTime(out.LastModified).UTC()}
	return body, info, nil
}

// GetRange implements objectstore.Bucket with a ranged GET; a range that
// starts at or past the end is settled with a HEAD.
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
		info, err := b.Head(ctx, key)
		if err != nil {
			return nil, err
		}
		if _, err := objectstore.ValidateRange(off, n, info.Size); err != nil {
			return nil, fmt.Errorf("%s %q: %w", op, key, err)
		}
		return []byte{}, nil
	}
	out, err := b.client.GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(b.bucket),
		Key:    aws.String(key),
		Range:  aws.String(fmt.Sprintf("bytes=%d-%d", off, lastByte(off, n))),
	})
	if errors.Is(mapErr(ctx, op, key, err), objectstore.ErrInvalidRange) {
		return b.emptyRange(ctx, key, off)
	}
	if err != nil {
		return nil, mapErr(ctx, op, key, err)
	}
	defer out.Body.Close()
	body, err := respbody.Read(out.Body, contentLength(out.ContentLength))
	if err != nil {
		return nil, bodyErr(ctx, op, key, err)
	}
	if out.ContentRange == nil {
		// The server ignored the range and sent the whole object.
		end, err := objectstore.ValidateRange(off, n, int64(len(body)))
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", op, key, err)
		}
		return body[off:end:end], nil
	}
	if int64(len(body)) > n {
		return nil, fmt.Errorf("%s %q: asked for %d bytes, got %d", op, key, n, len(body))
	}
	return body, nil
}

// lastByte is the last byte of the range of n > 0 bytes at off, as HTTP
// ranges name it, without overflowing.
func lastByte(off, n int64) int64 {
	if n > math.MaxInt64-off {
		return math.MaxInt64
	}
	return off + n - 1
}

// emptyRange answers a range S3 refused (416) because it starts at or past
// the end, which for us is no bytes (off == size) or ErrInvalidRange.
func (b *Bucket) emptyRange(ctx context.Context, key string, off int64) ([]byte, error) {
	info, err := b.Head(ctx, key)
	if err != nil {
		return nil, err
	}
	if _, err := objectstore.ValidateRange(off, 0, info.Size); err != nil {
		return nil, fmt.Errorf("get-range %q: %w", key, err)
	}
	if off == info.Size {
		return []byte{}, nil
	}
	// The object grew between the ranged GET and the HEAD; the caller
	// may ask again.
	return nil, objectstore.Unavailable(fmt.Errorf("get-range %q: object changed during the read", key))
}

// Head implements objectstore.Bucket.
func (b *Bucket) Head(ctx context.Context, key string) (objectstore.Info, error) {
	const op = objectstore.OpHead
	if err := check(op, key); err != nil {
		return objectstore.Info{}, err
	}
	out, err := b.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(b.bucket), Key: aws.String(key)})
	if err != nil {
		return objectstore.Info{}, mapErr(ctx, op, key, err)
	}
	return objectstore.Info{Key: key, Size: aws.ToInt64(out.ContentLength), ETag: etagOf(out.ETag), LastModified: aws.ToTime(out.LastModified).UTC()}, nil
}

// Delete implements objectstore.Bucket. S3 answers 204 whether or not the
// object existed.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	const op = objectstore.OpDelete
	if err := check(op, key); err != nil {
		return err
	}
	_, err := b.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(b.bucket), Key: aws.String(key)})
	if err := mapErr(ctx, op, key, err); err != nil && !errors.Is(err, objectstore.ErrNotExist) {
		return err
	}
	return nil
}

// List implements objectstore.Bucket with ListObjectsV2, one page of up to
// 1000 keys at a time.
func (b *Bucket) List(ctx context.Context, prefix string) iter.Seq2[objectstore.Info, error] {
	const op = objectstore.OpList
	if err := objectstore.ValidatePrefix(prefix); err != nil {
		return objectstore.ErrorSeq(fmt.Errorf("%s: %w", op, err))
	}
	return func(yield func(objectstore.Info, error) bool) {
		p := s3.NewListObjectsV2Paginator(b.client, &s3.ListObjectsV2Input{
			Bucket: aws.String(b.bucket),
			Prefix: aws.String(prefix),
		})
		last := ""
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				yield(objectstore.Info{}, mapErr(ctx, op, prefix, err))
				return
			}
			for _, o := range page.Contents {
				info := infoOf(o)
				if last != "" && info.Key <= last {
					yield(objectstore.Info{}, fmt.Errorf("%s %q: store listed %q after %q", op, prefix, info.Key, last))
					return
				}
				last = info.Key
				if !yield(info, nil) {
					return
				}
			}
		}
	}
}

func infoOf(o types.Object) objectstore.Info {
	return objectstore.Info{
		Key:          aws.ToString(o.Key),
		Size:         aws.ToInt64(o.Size),
		ETag:         etagOf(o.ETag),
		LastModified: aws.ToTime(o.LastModified).UTC(),
	}
}

var _ objectstore.Bucket = (*Bucket)(nil)

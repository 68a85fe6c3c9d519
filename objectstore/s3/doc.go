// Package s3 is an objectstore.Bucket on Amazon S3 or an S3-compatible store
// (MinIO, …) through aws-sdk-go-v2. It imports objectstore and the AWS SDK
// only.
//
// Credentials come from the standard AWS chain (environment variables
// AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN, shared config
// and credential files, AWS_PROFILE, web identity, container and instance
// roles); Config.Credentials replaces the chain, for tests. For an
// S3-compatible store set Config.Endpoint, and usually PathStyle.
//
// Conditional writes use If-None-Match: * (PutIfAbsent) and If-Match
// (PutIfMatch), which S3 and MinIO honour on PutObject. The SDK's own retries
// are off: a conditional write retried inside the SDK after a timeout could
// find its own object and report a lost race. Wrap the Bucket in
// objectstore.WithRetry, which retries what this package marks
// objectstore.ErrUnavailable (throttling, 5xx, timeouts, broken connections)
// and resolves such ambiguous conditional writes. A server certificate that
// does not verify, or an https:// endpoint that does not speak TLS, is a
// configuration error and not marked.
//
// Error mapping: NoSuchKey and 404 are objectstore.ErrNotExist (NoSuchBucket
// is a configuration error of its own); 412 PreconditionFailed and 409
// ConditionalRequestConflict are objectstore.ErrPreconditionFailed; 416 on a
// range is checked against the object's size.
package s3

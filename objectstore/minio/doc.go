// Package minio is an objectstore.Bucket on MinIO or another S3-compatible
// store through minio-go (the client library; the MinIO server is never
// imported). It imports objectstore and minio-go only.
//
// Credentials come from the environment: AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY (or MINIO_ROOT_USER and MINIO_ROOT_PASSWORD), then the
// AWS shared credentials file; Config.Credentials replaces that chain, for
// tests.
//
// Conditional writes send If-None-Match: * and If-Match: "etag" on a
// single-part PUT (PutObjectOptions.SetMatchETagExcept and SetMatchETag).
// minio-go's own retries are off, as in objectstore/s3 and for the same
// reason: wrap the Bucket in objectstore.WithRetry. Errors map as in
// objectstore/s3.
package minio

// Package bucketurl turns a bucket URL into an objectstore.Bucket. It is the
// one package that imports every backend (dir, s3, minio), which is why it is
// not objectstore itself.
//
// The URLs:
//
//	file:///abs/path             a local directory (objectstore/dir); a plain
//	                             path without a scheme means the same
//	s3://bucket/prefix?region=R&endpoint=URL&path-style=true
//	                             S3, or an S3-compatible store at endpoint
//	                             (objectstore/s3)
//	minio://host:port/bucket/prefix?secure=false&region=R
//	                             an S3-compatible store through minio-go
//	                             (objectstore/minio); secure defaults to true
//
// A prefix is applied to every key with objectstore.WithPrefix; it is
// normalized to end with '/'. Credentials never come from the URL: a URL
// with user information is refused, and they are taken from the environment
// (the AWS chain, see the backends). Redact, and Location.String, render a
// URL for logs without anything secret in it.
package bucketurl

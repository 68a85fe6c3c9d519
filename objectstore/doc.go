// Package objectstore is Strata's view of an object store: one small Bucket
// interface, its sentinel errors, and decorators that add behaviour to any
// Bucket (WithRetry, WithPrefix).
//
// Responsibility. A Bucket stores whole objects under string keys and reads
// them back whole or by byte range; it lists keys by prefix in lexical order
// and deletes idempotently. Two conditional writes, PutIfAbsent (create-only)
// and PutIfMatch (compare-and-swap on the ETag), are the only coordination
// primitive: tiering builds its manifest and its fencing on them. Nothing in
// this package knows what a segment or a manifest is.
//
// Imports. The standard library only. Backends live in subpackages (dir, mem,
// s3, minio) and import this package, never the other way round; the SDKs
// stay inside their backend. objectstore/faulty wraps a Bucket to inject
// faults in tests, objectstore/storetest is the conformance suite every
// backend runs, and objectstore/bucketurl turns a bucket URL
// (file://, s3://, minio://) into a Bucket, so it is the one package that
// imports every backend.
//
// Invariants every Bucket keeps (storetest checks them):
//   - A successful Put, PutIfAbsent or PutIfMatch is visible, whole, to every
//     later call (read-after-write); a reader never sees a partial object.
//   - Of N concurrent PutIfAbsent calls on one missing key exactly one
//     succeeds; of N concurrent PutIfMatch calls with the same current ETag
//     exactly one succeeds; the others report ErrPreconditionFailed and leave
//     the object as the winner wrote it.
//   - An object's ETag changes whenever its content changes. Writing the same
//     bytes again may give the same ETag (it does on S3, dir and mem). ETags
//     are opaque: compare them only with ETags of the same Bucket.
//   - List yields keys in strictly increasing byte order.
//   - Errors are the sentinels of errors.go, wrapped with context: callers use
//     errors.Is and never inspect a backend's own error types.
package objectstore

// Package mem is an in-memory objectstore.Bucket for tests and for tools that
// need a scratch bucket. Objects live in a sorted map under one mutex; the
// ETag is a content hash, as in objectstore/dir. It imports only objectstore.
package mem

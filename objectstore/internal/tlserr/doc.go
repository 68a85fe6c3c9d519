// Package tlserr recognizes, for the s3 and minio backends, the errors of a
// TLS set-up that cannot succeed however often it is retried: a server
// certificate that does not verify, or a server that does not speak TLS. The
// backends report them as configuration errors, not objectstore.ErrUnavailable,
// so that objectstore.WithRetry does not retry them. It imports only the
// standard library.
package tlserr

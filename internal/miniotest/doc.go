// Package miniotest runs a real MinIO server, as a separate process, for the
// tests of the s3 and minio backends and for any other package's tests that
// need an S3-compatible bucket (tiering's, from TestMain).
//
// The minio binary is built from source with `go install` at a pinned
// version (Version) into <repo>/.tools/bin (gitignored) the first time a test
// needs it, which takes a few minutes on two cores; later runs reuse it. An
// flock on .tools/bin/.minio-install.lock makes parallel test binaries wait
// for one install instead of building it twice. MinIO is AGPL: it is only
// ever run as a separate process, never imported.
//
// Policy when the server cannot be had: with CI=true the test fails with the
// reason (it never skips); outside CI, STRATA_SKIP_MINIO=1 skips the tests
// that need MinIO, loudly, without trying to install it; otherwise the test
// fails. STRATA_MINIO_BIN names a minio binary to use instead of the
// installed one.
//
// StartTLS runs the server with HTTPS only, under a certificate of
// internal/testcert; EndpointURL and HTTPClient reach it with the test CA.
package miniotest

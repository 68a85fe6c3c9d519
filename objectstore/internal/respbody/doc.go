// Package respbody reads HTTP response bodies of announced length into one
// exactly sized slice, for the s3 and minio backends. It imports only the
// standard library.
package respbody

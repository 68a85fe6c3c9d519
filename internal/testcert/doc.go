// Package testcert makes a throwaway certificate authority for tests: a CA,
// a server certificate for localhost, 127.0.0.1 and ::1, and a client
// certificate, written as PEM files to a temporary directory. Keys are
// ECDSA P-256; certificates are valid for a day. Only tests use it.
//
// It imports nothing of ours. Non-test code must not import it: the keys
// are for tests only.
package testcert

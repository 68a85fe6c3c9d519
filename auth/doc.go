// Package auth is Strata's security model: who a client is (SASL
// authentication with SCRAM-SHA-256, SCRAM-SHA-512 and PLAIN), which users
// exist (Users, their salted SCRAM credentials), and what each principal may
// do (ACLs in Kafka's model, checked by an Authorizer).
//
// The broker drives a Session per SaslAuthenticate exchange, stores Users and
// ACLs in the bucket as the versioned JSON documents their MarshalJSON
// methods describe, and asks Authorizer.Authorize before every operation on a
// topic, group, transactional id or the cluster. The numeric values of
// ResourceType, PatternType, Operation and Permission are Kafka's, so the
// broker converts wire values with a plain type conversion.
//
// auth is a leaf: it imports only the standard library and
// github.com/xdg-go/scram (the server side of SCRAM). It never imports the
// Kafka wire packages (kmsg, kgo, kerr); internal/layering enforces that.
//
// Invariants:
//
//   - No secret is stored or logged. A Credential holds only the salt, the
//     iteration count and the derived StoredKey and ServerKey; passwords are
//     used once to derive them and dropped. No error text contains a
//     password, a salted password or a key.
//   - Every failed authentication, whether the password is wrong or the user
//     does not exist, returns an error that errors.Is ErrAuthenticationFailed
//     with the same message, and SCRAM runs the full exchange with a stand-in
//     credential for an unknown user, so a client cannot probe which users
//     exist.
//   - Principals are Kafka's "Type:name" strings; an authenticated client is
//     always "User:<name>" (UserPrincipal), and Anonymous is "User:ANONYMOUS".
//   - Users, ACLs and Authorizer are safe for concurrent use. Authorize takes
//     only a read lock and does not allocate.
package auth

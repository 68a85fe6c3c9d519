package auth

import "errors"

// ErrAuthenticationFailed is wrapped by every error a Session returns: a
// wrong password and an unknown user give exactly this error (the same
// message), a malformed client message gives it with a reason that never
// repeats the client's bytes.
var ErrAuthenticationFailed = errors.New("authentication failed: invalid credentials")

// ErrUnsupportedMechanism is returned (wrapped) by NewSession,
// NewCredential and CredentialFromSalted for a SASL mechanism this package
// does not implement.
var ErrUnsupportedMechanism = errors.New("unsupported SASL mechanism")

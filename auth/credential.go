package auth

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"
)

// SASL mechanism names, as clients send them in SaslHandshake.
const (
	ScramSHA256 = "SCRAM-SHA-256"
	ScramSHA512 = "SCRAM-SHA-512"
	Plain       = "PLAIN"
)

// Anonymous is the principal of a client that did not authenticate.
const Anonymous = "User:ANONYMOUS"

// SCRAM iteration bounds, Kafka's: 4096 is both the minimum and the default.
const (
	MinIterations     = 4096
	MaxIterations     = 16384
	DefaultIterations = MinIterations
)

// saltSize is the length of the random salt NewCredential draws.
const saltSize = 32

// UserPrincipal returns the Kafka principal of the user name: "User:"+name.
func UserPrincipal(name string) string { return "User:" + name }

// SupportedMechanism reports whether m is a SASL mechanism NewSession
// accepts: SCRAM-SHA-256, SCRAM-SHA-512 or PLAIN (exact, case-sensitive, as
// Kafka compares them).
func SupportedMechanism(m string) bool {
	return m == Plain || scramHash(m) != nil
}

// scramHash returns the hash of a SCRAM mechanism, or nil for anything else.
func scramHash(mechanism string) func() hash.Hash {
	switch mechanism {
	case ScramSHA256:
		return sha256.New
	case ScramSHA512:
		return sha512.New
	}
	return nil
}

// Credential is one user's SCRAM credential for one mechanism (RFC 5802
// §3): the salt and iteration count a client needs to salt its password, and
// StoredKey = H(HMAC(SaltedPassword, "Client Key")) and ServerKey =
// HMAC(SaltedPassword, "Server Key"). It never holds the password or the
// salted password, so it may be stored and listed. Its byte slices must be
// treated as immutable.
type Credential struct {
	Mechanism  string `json:"mechanism"`
	Iterations int    `json:"iterations"`
	Salt       []byte `json:"salt"`
	StoredKey  []byte `json:"stored_key"`
	ServerKey  []byte `json:"server_key"`
}

// NewCredential salts password with 32 random bytes from crypto/rand and
// derives the credential for mechanism (SCRAM-SHA-256 or SCRAM-SHA-512).
// Iterations 0 means DefaultIterations; otherwise it must lie in
// [MinIterations, MaxIterations]. The password is used as its UTF-8 bytes,
// without SASLprep, as Kafka does.
func NewCredential(mechanism, password string, iterations int) (Credential, error) {
	if iterations == 0 {
		iterations = DefaultIterations
	}
	if err := checkScramParams(mechanism, iterations); err != nil {
		return Credential{}, err
	}
	salt := make([]byte, saltSize)
	_, _ = rand.Read(salt) // crypto/rand.Read never fails (it crashes the program instead)
	return deriveCredential(mechanism, password, salt, iterations)
}

// CredentialFromSalted derives the credential for mechanism from a salt and
// the salted password PBKDF2(password, salt, iterations), which is what
// AlterUserScramCredentials carries. It gives the same Credential as
// NewCredential would for the same password, salt and iterations. The salt
// and the salted password must be non-empty and iterations must lie in
// [MinIterations, MaxIterations].
func CredentialFromSalted(mechanism string, iterations int, salt, saltedPassword []byte) (Credential, error) {
	if err := checkScramParams(mechanism, iterations); err != nil {
		return Credential{}, err
	}
	if len(salt) == 0 {
		return Credential{}, errors.New("scram credential: empty salt")
	}
	if len(saltedPassword) == 0 {
		return Credential{}, errors.New("scram credential: empty salted password")
	}
	h := scramHash(mechanism)
	return Credential{
		Mechanism:  mechanism,
		Iterations: iterations,
		Salt:       clone(salt),
		StoredKey:  storedKey(h, saltedPassword),
		ServerKey:  computeHMAC(h, saltedPassword, "Server Key"),
	}, nil
}

// Validate reports why c could not be used to authenticate: an unsupported
// mechanism, iterations out of bounds, an empty salt, or keys whose length
// is not the mechanism's hash size.
func (c Credential) Validate() error {
	if err := checkScramParams(c.Mechanism, c.Iterations); err != nil {
		return err
	}
	if len(c.Salt) == 0 {
		return errors.New("scram credential: empty salt")
	}
	size := scramHash(c.Mechanism)().Size()
	if len(c.StoredKey) != size || len(c.ServerKey) != size {
		return fmt.Errorf("scram credential: %s keys must be %d bytes, have %d and %d",
			c.Mechanism, size, len(c.StoredKey), len(c.ServerKey))
	}
	return nil
}

func checkScramParams(mechanism string, iterations int) error {
	if scramHash(mechanism) == nil {
		return fmt.Errorf("scram credential: %w %q", ErrUnsupportedMechanism, mechanism)
	}
	if iterations < MinIterations || iterations > MaxIterations {
		return fmt.Errorf("scram credential: iterations %d outside [%d, %d]", iterations, MinIterations, MaxIterations)
	}
	return nil
}

// deriveCredential is NewCredential with a given salt; mechanism and
// iterations must already be checked.
func deriveCredential(mechanism, password string, salt []byte, iterations int) (Credential, error) {
	salted, err := saltPassword(scramHash(mechanism), password, salt, iterations)
	if err != nil {
		return Credential{}, err
	}
	return CredentialFromSalted(mechanism, iterations, salt, salted)
}

// saltPassword is RFC 5802's Hi(password, salt, i): PBKDF2-HMAC with an
// output as long as the hash.
func saltPassword(h func() hash.Hash, password string, salt []byte, iterations int) ([]byte, error) {
	salted, err := pbkdf2.Key(h, password, salt, iterations, h().Size())
	if err != nil {
		// The error would not contain the password, but name the step only.
		return nil, errors.New("scram credential: pbkdf2 failed")
	}
	return salted, nil
}

// storedKey is H(HMAC(saltedPassword, "Client Key")).
func storedKey(h func() hash.Hash, saltedPassword []byte) []byte {
	d := h()
	d.Write(computeHMAC(h, saltedPassword, "Client Key"))
	return d.Sum(nil)
}

func computeHMAC(h func() hash.Hash, key []byte, data string) []byte {
	m := hmac.New(h, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

func (c Credential) clone() Credential {
	c.Salt, c.StoredKey, c.ServerKey = clone(c.Salt), clone(c.StoredKey), clone(c.ServerKey)
	return c
}

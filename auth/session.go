package auth

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/xdg-go/scram"
)

// Session is the server side of one SASL exchange. It is used by one
// connection at a time and is not safe for concurrent use.
type Session interface {
	// Step takes the client's next message and returns the server's answer.
	// done is true when the exchange is over. A non-nil error means
	// authentication failed: it wraps ErrAuthenticationFailed, out is nil,
	// done is true, and every later Step fails too.
	Step(in []byte) (out []byte, done bool, err error)
	// Principal returns "User:<name>" once Step has returned done without an
	// error, and "" before that or after a failure.
	Principal() string
}

// NewSession starts the server side of a SASL exchange for mechanism
// (SCRAM-SHA-256, SCRAM-SHA-512 or PLAIN) against users, which it reads at
// each Step and does not modify. It returns an error wrapping
// ErrUnsupportedMechanism for any other mechanism.
func NewSession(mechanism string, users *Users) (Session, error) {
	return newSession(mechanism, users, nil)
}

// newSession is NewSession with a fixed SCRAM server nonce, for RFC test
// vectors; nonce nil draws it from crypto/rand.
func newSession(mechanism string, users *Users, nonce scram.NonceGeneratorFcn) (Session, error) {
	if mechanism == Plain {
		return &plainSession{users: users}, nil
	}
	h := scramHashGen(mechanism)
	if h == nil {
		return nil, fmt.Errorf("sasl: %w %q", ErrUnsupportedMechanism, mechanism)
	}
	s := &scramSession{mechanism: mechanism, users: users}
	srv, err := h.NewServer(s.lookup)
	if err != nil {
		return nil, fmt.Errorf("sasl: %s server: %w", mechanism, err)
	}
	if nonce != nil {
		srv = srv.WithNonceGenerator(nonce)
	}
	s.conv = srv.NewConversation()
	return s, nil
}

func scramHashGen(mechanism string) scram.HashGeneratorFcn {
	switch mechanism {
	case ScramSHA256:
		return scram.SHA256
	case ScramSHA512:
		return scram.SHA512
	}
	return nil
}

// failed returns the error of a failed exchange for a reason the client
// may see; an empty reason is a bad password or an unknown user, which must
// read the same.
func failed(reason string) error {
	if reason == "" {
		return ErrAuthenticationFailed
	}
	return fmt.Errorf("%w: %s", ErrAuthenticationFailed, reason)
}

var errSessionOver = failed("the SASL exchange is already over")

// scramSession is RFC 5802/7677 SCRAM as Kafka speaks it (KIP-84): no
// channel binding, an authorization id only if it equals the user name, and
// client-first extensions allowed but "tokenauth=true" (KIP-48 delegation
// tokens) refused.
type scramSession struct {
	mechanism string
	users     *Users
	conv      *scram.ServerConversation
	step      int  // messages taken so far
	known     bool // the user of the client-first message exists
	over      bool
	principal string

	// Kept from step 1 for the proof check of step 2.
	cred        scram.StoredCredentials
	gs2Header   string // "n,," or "n,a=<authzid>,"
	firstBare   string // client-first-message-bare
	serverFirst string
}

func (s *scramSession) Step(in []byte) ([]byte, bool, error) {
	if s.over {
		return nil, true, errSessionOver
	}
	out, done, err := s.step1or2(in)
	if err != nil || done {
		s.over = true
	}
	if err != nil {
		return nil, true, err
	}
	return out, done, nil
}

func (s *scramSession) step1or2(in []byte) ([]byte, bool, error) {
	s.step++
	switch s.step {
	case 1:
		if reason := checkClientFirst(string(in)); reason != "" {
			return nil, true, failed(reason)
		}
		out, err := s.conv.Step(string(in))
		if err != nil {
			// Not an unknown user: lookup never fails (see there).
			return nil, true, failed("invalid SCRAM client-first message")
		}
		if z := s.conv.AuthzID(); z != "" && z != s.conv.Username() {
			return nil, true, failed("the authorization id differs from the user name")
		}
		msg := string(in)
		i := strings.IndexByte(msg, ',')
		j := i + 1 + strings.IndexByte(msg[i+1:], ',') // checkClientFirst saw 4 fields
		s.gs2Header, s.firstBare, s.serverFirst = msg[:j+1], msg[j+1:], out
		return []byte(out), false, nil
	case 2:
		out, ok := s.clientFinal(string(in))
		if !ok || !s.known {
			return nil, true, failed("")
		}
		s.principal = UserPrincipal(s.conv.Username())
		return []byte(out), true, nil
	}
	return nil, true, errSessionOver
}

func (s *scramSession) Principal() string { return s.principal }

// clientFinal checks the client-final message (RFC 5802 §3: channel
// binding "c=", nonce "r=", optional extensions, proof "p=" last) and
// returns the server-final message if the proof holds. As Kafka's
// ScramSaslServer, it accepts a nonce that ends with the server-first
// nonce rather than equals it: librdkafka 2.0 repeats its client nonce
// there, and computes its proof over the message as sent.
func (s *scramSession) clientFinal(msg string) (string, bool) {
	withoutProof, proof64, ok := strings.Cut(msg, ",p=")
	if !ok || strings.Contains(proof64, ",") {
		return "", false
	}
	fields := strings.Split(withoutProof, ",")
	if len(fields) < 2 || fields[0] != "c="+base64.StdEncoding.EncodeToString([]byte(s.gs2Header)) {
		return "", false
	}
	nonce, ok := strings.CutPrefix(fields[1], "r=")
	serverNonce := ""
	for _, f := range strings.Split(s.serverFirst, ",") {
		if n, ok := strings.CutPrefix(f, "r="); ok {
			serverNonce = n
		}
	}
	if !ok || serverNonce == "" || !strings.HasSuffix(nonce, serverNonce) {
		return "", false
	}
	h := scramHash(s.mechanism)
	proof, err := base64.StdEncoding.DecodeString(proof64)
	if err != nil || len(proof) != h().Size() || len(s.cred.StoredKey) != len(proof) {
		return "", false
	}
	authMessage := s.firstBare + "," + s.serverFirst + "," + withoutProof
	clientKey := computeHMAC(h, s.cred.StoredKey, authMessage)
	for i := range clientKey {
		clientKey[i] ^= proof[i]
	}
	d := h()
	d.Write(clientKey)
	if subtle.ConstantTimeCompare(d.Sum(nil), s.cred.StoredKey) != 1 {
		return "", false
	}
	return "v=" + base64.StdEncoding.EncodeToString(computeHMAC(h, s.cred.ServerKey, authMessage)), true
}

// lookup gives the SCRAM server the user's stored credential. For an unknown
// user (or an unusable credential) it returns a stand-in whose salt is the
// same on every attempt for that name and whose keys match no password, so
// the exchange runs to the final proof check exactly as for a wrong password.
func (s *scramSession) lookup(user string) (scram.StoredCredentials, error) {
	c, ok := s.users.Lookup(user, s.mechanism)
	if ok && c.Validate() == nil {
		s.known = true
	} else {
		c = standIn(s.mechanism, user)
	}
	s.cred = scram.StoredCredentials{
		KeyFactors: scram.KeyFactors{Salt: string(c.Salt), Iters: c.Iterations},
		StoredKey:  c.StoredKey,
		ServerKey:  c.ServerKey,
	}
	return s.cred, nil
}

// standInKey keys the stand-in salts; it lives for the process, so an
// unknown user's salt is stable while the broker runs but not predictable.
var standInKey = func() []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k) // crypto/rand.Read never fails (it crashes the program instead)
	return k
}()

// standIn returns a credential for a user that does not exist: a salt
// derived from the name, DefaultIterations, and random keys.
func standIn(mechanism, user string) Credential {
	m := hmac.New(sha256.New, standInKey)
	m.Write([]byte(mechanism))
	m.Write([]byte{0})
	m.Write([]byte(user))
	size := scramHash(mechanism)().Size()
	keys := make([]byte, 2*size)
	_, _ = rand.Read(keys)
	return Credential{
		Mechanism:  mechanism,
		Iterations: DefaultIterations,
		Salt:       m.Sum(nil),
		StoredKey:  keys[:size],
		ServerKey:  keys[size:],
	}
}

// checkClientFirst checks what xdg-go/scram leaves to the application in a
// client-first message: gs2-header "," "n=" user "," "r=" nonce, then
// Kafka's extensions as "key=value" fields. It returns why the message is
// refused, or "" to go on.
func checkClientFirst(msg string) string {
	fields := strings.Split(msg, ",")
	if len(fields) < 4 {
		return "invalid SCRAM client-first message"
	}
	if len(fields[3]) <= len("r=") || !strings.HasPrefix(fields[3], "r=") {
		return "invalid SCRAM client-first message"
	}
	for _, ext := range fields[4:] {
		key, value, ok := strings.Cut(ext, "=")
		if !ok || key == "" {
			return "invalid SCRAM client-first message"
		}
		if key == "tokenauth" && strings.EqualFold(value, "true") {
			return "delegation tokens are not supported"
		}
	}
	return ""
}

// plainSession is RFC 4616 PLAIN, checked against the user's stored SCRAM
// credential (SCRAM-SHA-512 if it has one, else SCRAM-SHA-256).
type plainSession struct {
	users     *Users
	over      bool
	principal string
}

func (s *plainSession) Step(in []byte) ([]byte, bool, error) {
	if s.over {
		return nil, true, errSessionOver
	}
	s.over = true
	user, err := s.verify(in)
	if err != nil {
		return nil, true, err
	}
	s.principal = UserPrincipal(user)
	return nil, true, nil
}

// verify parses authzid NUL authcid NUL passwd and checks the password. An
// unknown user costs the same PBKDF2 work as a known one.
func (s *plainSession) verify(in []byte) (string, error) {
	parts := bytes.Split(in, []byte{0})
	if len(parts) != 3 {
		return "", failed("invalid PLAIN message: want authzid NUL authcid NUL passwd")
	}
	authzid, user, password := string(parts[0]), string(parts[1]), string(parts[2])
	if user == "" {
		return "", failed("invalid PLAIN message: empty user name")
	}
	if password == "" {
		return "", failed("invalid PLAIN message: empty password")
	}
	if authzid != "" && authzid != user {
		return "", failed("the authorization id differs from the user name")
	}
	c, ok := s.users.Lookup(user, ScramSHA512)
	if !ok || c.Validate() != nil {
		c, ok = s.users.Lookup(user, ScramSHA256)
	}
	if !ok || c.Validate() != nil {
		ok, c = false, standIn(ScramSHA512, user)
	}
	h := scramHash(c.Mechanism)
	salted, err := saltPassword(h, password, c.Salt, c.Iterations)
	if err != nil {
		return "", failed("")
	}
	match := subtle.ConstantTimeCompare(storedKey(h, salted), c.StoredKey) == 1
	if !ok || !match {
		return "", failed("")
	}
	return user, nil
}

func (s *plainSession) Principal() string { return s.principal }

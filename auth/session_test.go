package auth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// testUsers has alice with both SCRAM credentials and bob with only
// SCRAM-SHA-256.
func testUsers(t testing.TB) *Users {
	t.Helper()
	u := NewUsers()
	for _, c := range []struct{ user, mech, pass string }{
		{"alice", ScramSHA256, "alice-secret"},
		{"alice", ScramSHA512, "alice-secret"},
		{"bob", ScramSHA256, "bob-secret"},
	} {
		cred, err := NewCredential(c.mech, c.pass, 0)
		if err != nil {
			t.Fatal(err)
		}
		u.Set(c.user, cred)
	}
	return u
}

// runSCRAM drives a Session with franz-go's SCRAM client, in process, and
// returns the principal or the server's error.
func runSCRAM(t *testing.T, mech string, users *Users, a scram.Auth) (string, error) {
	t.Helper()
	var m sasl.Mechanism
	if mech == ScramSHA256 {
		m = a.AsSha256Mechanism()
	} else {
		m = a.AsSha512Mechanism()
	}
	client, msg, err := m.Authenticate(context.Background(), "broker:9092")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewSession(mech, users)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		out, done, err := srv.Step(msg)
		if err != nil {
			if out != nil || !done {
				t.Fatalf("failed step returned out=%q done=%v", out, done)
			}
			if srv.Principal() != "" {
				t.Fatalf("failed session has principal %q", srv.Principal())
			}
			return "", err
		}
		clientDone, next, cerr := client.Challenge(out)
		if cerr != nil {
			t.Fatalf("client refused the server's answer %q: %v", out, cerr)
		}
		if done {
			if !clientDone {
				t.Fatal("server done, client not")
			}
			return srv.Principal(), nil
		}
		msg = next
	}
	t.Fatal("exchange did not end in 2 steps")
	return "", nil
}

func TestSCRAMWithFranzGoClient(t *testing.T) {
	users := testUsers(t)
	for _, mech := range []string{ScramSHA256, ScramSHA512} {
		t.Run(mech, func(t *testing.T) {
			p, err := runSCRAM(t, mech, users, scram.Auth{User: "alice", Pass: "alice-secret"})
			if err != nil {
				t.Fatalf("good password: %v", err)
			}
			if p != "User:alice" {
				t.Fatalf("principal %q, want User:alice", p)
			}

			_, wrong := runSCRAM(t, mech, users, scram.Auth{User: "alice", Pass: "alice-secreT"})
			_, unknown := runSCRAM(t, mech, users, scram.Auth{User: "mallory", Pass: "alice-secret"})
			for what, err := range map[string]error{"wrong password": wrong, "unknown user": unknown} {
				if !errors.Is(err, ErrAuthenticationFailed) {
					t.Errorf("%s: %v, want ErrAuthenticationFailed", what, err)
				}
				if err != nil && (strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "mallory")) {
					t.Errorf("%s: error %q repeats client input", what, err)
				}
			}
			if wrong == nil || unknown == nil || wrong.Error() != unknown.Error() {
				t.Errorf("wrong password says %v, unknown user says %v; want the same", wrong, unknown)
			}
		})
	}
}

func TestSCRAMUserWithoutThatMechanismFails(t *testing.T) {
	_, err := runSCRAM(t, ScramSHA512, testUsers(t), scram.Auth{User: "bob", Pass: "bob-secret"})
	if !errors.Is(err, ErrAuthenticationFailed) {
		t.Fatalf("bob has no SCRAM-SHA-512 credential, got %v", err)
	}
}

func TestSCRAMRefusesDelegationTokens(t *testing.T) {
	_, err := runSCRAM(t, ScramSHA256, testUsers(t), scram.Auth{User: "alice", Pass: "alice-secret", IsToken: true})
	if !errors.Is(err, ErrAuthenticationFailed) || !strings.Contains(err.Error(), "delegation token") {
		t.Fatalf("tokenauth=true: %v, want a refusal naming delegation tokens", err)
	}
}

func TestSCRAMAcceptsAuthzIDEqualToUserOnly(t *testing.T) {
	users := testUsers(t)
	p, err := runSCRAM(t, ScramSHA256, users, scram.Auth{Zid: "alice", User: "alice", Pass: "alice-secret"})
	if err != nil || p != "User:alice" {
		t.Fatalf("authzid = user: %q, %v", p, err)
	}
	_, err = runSCRAM(t, ScramSHA256, users, scram.Auth{Zid: "bob", User: "alice", Pass: "alice-secret"})
	if !errors.Is(err, ErrAuthenticationFailed) {
		t.Fatalf("authzid bob for alice: %v, want ErrAuthenticationFailed", err)
	}
}

func TestSCRAMUnknownUserGetsAStableSalt(t *testing.T) {
	first := func() string {
		s, _ := NewSession(ScramSHA256, testUsers(t))
		out, _, err := s.Step([]byte("n,,n=mallory,r=abc"))
		if err != nil {
			t.Fatal(err)
		}
		_, rest, _ := strings.Cut(string(out), ",") // drop the nonce
		return rest
	}
	if a, b := first(), first(); a != b || !strings.HasSuffix(a, ",i=4096") {
		t.Fatalf("unknown user's server-first messages %q and %q: want equal, 4096 iterations", a, b)
	}
}

func TestSCRAMRefusesMalformedMessages(t *testing.T) {
	for _, tc := range []struct{ name, first, final string }{
		{"empty", "", ""},
		{"no nonce", "n,,n=alice", ""},
		{"empty nonce", "n,,n=alice,r=", ""},
		{"channel binding", "p=tls-unique,,n=alice,r=abc", ""},
		{"bad gs2 flag", "x,,n=alice,r=abc", ""},
		{"mandatory extension", "n,,m=ext,n=alice,r=abc", ""},
		{"bad extension", "n,,n=alice,r=abc,noequals", ""},
		{"bad name escape", "n,,n=al=ice,r=abc", ""},
		{"final: garbage", "n,,n=alice,r=abc", "garbage"},
		{"final: wrong nonce", "n,,n=alice,r=abc", "c=biws,r=abc,p=AAAA"},
		{"final: proof not base64", "n,,n=alice,r=abc", "c=biws,r=abc,p=!!"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := NewSession(ScramSHA256, testUsers(t))
			_, done, err := s.Step([]byte(tc.first))
			if tc.final == "" {
				if !errors.Is(err, ErrAuthenticationFailed) || !done {
					t.Fatalf("first step: done=%v err=%v, want done with ErrAuthenticationFailed", done, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("first step: %v", err)
			}
			if _, done, err = s.Step([]byte(tc.final)); !errors.Is(err, ErrAuthenticationFailed) || !done {
				t.Fatalf("final step: done=%v err=%v, want done with ErrAuthenticationFailed", done, err)
			}
		})
	}
}

func TestSessionStepAfterTheEndFails(t *testing.T) {
	users := testUsers(t)
	s, _ := NewSession(Plain, users)
	if _, done, err := s.Step([]byte("\x00alice\x00alice-secret")); err != nil || !done {
		t.Fatalf("PLAIN: done=%v err=%v", done, err)
	}
	if _, _, err := s.Step([]byte("\x00alice\x00alice-secret")); !errors.Is(err, ErrAuthenticationFailed) {
		t.Fatalf("second PLAIN step: %v, want ErrAuthenticationFailed", err)
	}
	if s.Principal() != "User:alice" {
		t.Fatalf("principal changed to %q", s.Principal())
	}
	s, _ = NewSession(ScramSHA256, users)
	s.Step([]byte("garbage"))
	if _, _, err := s.Step([]byte("n,,n=alice,r=abc")); !errors.Is(err, ErrAuthenticationFailed) {
		t.Fatalf("SCRAM step after failure: %v, want ErrAuthenticationFailed", err)
	}
}

func TestNewSessionRefusesUnsupportedMechanism(t *testing.T) {
	for _, m := range []string{"GSSAPI", "OAUTHBEARER", "SCRAM-SHA-1", "plain", ""} {
		if _, err := NewSession(m, NewUsers()); !errors.Is(err, ErrUnsupportedMechanism) {
			t.Errorf("NewSession(%q) = %v, want ErrUnsupportedMechanism", m, err)
		}
	}
}

func TestPlain(t *testing.T) {
	users := testUsers(t)
	for _, tc := range []struct {
		name, msg, principal string // principal "" means authentication fails
		sameAsWrongPassword  bool
	}{
		{name: "good", msg: "\x00alice\x00alice-secret", principal: "User:alice"},
		{name: "good, authzid = user", msg: "alice\x00alice\x00alice-secret", principal: "User:alice"},
		{name: "good, only SCRAM-SHA-256", msg: "\x00bob\x00bob-secret", principal: "User:bob"},
		{name: "wrong password", msg: "\x00alice\x00bob-secret", sameAsWrongPassword: true},
		{name: "unknown user", msg: "\x00mallory\x00alice-secret", sameAsWrongPassword: true},
		{name: "other authzid", msg: "bob\x00alice\x00alice-secret"},
		{name: "no NULs", msg: "alice-secret"},
		{name: "one NUL", msg: "alice\x00alice-secret"},
		{name: "too many parts", msg: "\x00alice\x00alice-secret\x00"},
		{name: "empty user", msg: "\x00\x00alice-secret"},
		{name: "empty password", msg: "\x00alice\x00"},
		{name: "empty", msg: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewSession(Plain, users)
			if err != nil {
				t.Fatal(err)
			}
			out, done, err := s.Step([]byte(tc.msg))
			if !done || len(out) != 0 {
				t.Fatalf("done=%v out=%q, want done with no answer", done, out)
			}
			if tc.principal != "" {
				if err != nil || s.Principal() != tc.principal {
					t.Fatalf("principal %q err %v, want %q", s.Principal(), err, tc.principal)
				}
				return
			}
			if !errors.Is(err, ErrAuthenticationFailed) {
				t.Fatalf("err %v, want ErrAuthenticationFailed", err)
			}
			if s.Principal() != "" {
				t.Fatalf("failed session has principal %q", s.Principal())
			}
			if strings.Contains(err.Error(), "secret") {
				t.Fatalf("error %q repeats the password", err)
			}
			if tc.sameAsWrongPassword && err != ErrAuthenticationFailed {
				t.Fatalf("err %q, want exactly ErrAuthenticationFailed", err)
			}
		})
	}
}

func TestPrincipalIsEmptyBeforeDone(t *testing.T) {
	s, _ := NewSession(ScramSHA512, testUsers(t))
	if _, done, err := s.Step([]byte("n,,n=alice,r=abc")); err != nil || done {
		t.Fatalf("first step: done=%v err=%v", done, err)
	}
	if p := s.Principal(); p != "" {
		t.Fatalf("principal %q before the exchange ended", p)
	}
}

// TestSCRAMAcceptsANonceThatEndsWithTheServerNonce is librdkafka 2.0's
// client-final message, which repeats the client nonce before the
// server-first nonce and signs what it sent; Kafka accepts it, and so do
// we. A nonce that does not end with the server's is refused.
func TestSCRAMAcceptsANonceThatEndsWithTheServerNonce(t *testing.T) {
	users := NewUsers()
	c, err := NewCredential(ScramSHA256, "pencil", 0)
	if err != nil {
		t.Fatal(err)
	}
	users.Set("user", c)
	for _, tc := range []struct {
		name   string
		prefix string // before the server nonce in the client-final nonce
		ok     bool
	}{
		{"exact", "", true},
		{"client nonce repeated", "cnonce-1", true},
		{"server nonce altered", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sess, err := NewSession(ScramSHA256, users)
			if err != nil {
				t.Fatal(err)
			}
			out, _, err := sess.Step([]byte("n,,n=user,r=cnonce-1"))
			if err != nil {
				t.Fatal(err)
			}
			serverFirst := string(out)
			var nonce, salt64 string
			iters := 0
			for _, f := range strings.Split(serverFirst, ",") {
				switch {
				case strings.HasPrefix(f, "r="):
					nonce = f[2:]
				case strings.HasPrefix(f, "s="):
					salt64 = f[2:]
				case strings.HasPrefix(f, "i="):
					iters, _ = strconv.Atoi(f[2:])
				}
			}
			if !tc.ok {
				nonce += "x"
			}
			salt, _ := base64.StdEncoding.DecodeString(salt64)
			salted, err := saltPassword(sha256.New, "pencil", salt, iters)
			if err != nil {
				t.Fatal(err)
			}
			clientKey := computeHMAC(sha256.New, salted, "Client Key")
			withoutProof := "c=biws,r=" + tc.prefix + nonce
			sig := computeHMAC(sha256.New, storedKey(sha256.New, salted), "n=user,r=cnonce-1,"+serverFirst+","+withoutProof)
			for i := range sig {
				sig[i] ^= clientKey[i]
			}
			_, done, err := sess.Step([]byte(withoutProof + ",p=" + base64.StdEncoding.EncodeToString(sig)))
			if got := err == nil && done && sess.Principal() == "User:user"; got != tc.ok {
				t.Fatalf("accepted %v (err %v), want %v", got, err, tc.ok)
			}
		})
	}
}

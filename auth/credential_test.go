package auth

import (
	"bytes"
	"crypto/pbkdf2"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func TestNewCredentialDefaultsToKafkasMinimumIterations(t *testing.T) {
	for _, mech := range []string{ScramSHA256, ScramSHA512} {
		c, err := NewCredential(mech, "secret", 0)
		if err != nil {
			t.Fatal(err)
		}
		if c.Iterations != 4096 || c.Mechanism != mech || len(c.Salt) != 32 {
			t.Errorf("%s: got mechanism %q, %d iterations, %d-byte salt; want %q, 4096, 32",
				mech, c.Mechanism, c.Iterations, len(c.Salt), mech)
		}
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", mech, err)
		}
	}
}

func TestNewCredentialDrawsAFreshSalt(t *testing.T) {
	a, _ := NewCredential(ScramSHA256, "secret", 0)
	b, _ := NewCredential(ScramSHA256, "secret", 0)
	if bytes.Equal(a.Salt, b.Salt) || bytes.Equal(a.StoredKey, b.StoredKey) {
		t.Fatal("two credentials for one password share a salt or a key")
	}
}

func TestNewCredentialRefusesBadParameters(t *testing.T) {
	for _, tc := range []struct {
		mech  string
		iters int
	}{
		{ScramSHA256, 4095}, {ScramSHA512, 16385}, {ScramSHA256, -1}, {Plain, 4096}, {"SCRAM-SHA-1", 4096}, {"scram-sha-256", 4096},
	} {
		if _, err := NewCredential(tc.mech, "secret", tc.iters); err == nil {
			t.Errorf("NewCredential(%q, %d) succeeded", tc.mech, tc.iters)
		}
	}
	if _, err := NewCredential(ScramSHA512, "secret", 16384); err != nil {
		t.Errorf("16384 iterations (Kafka's maximum): %v", err)
	}
	_, err := NewCredential(Plain, "secret", 0)
	if !errors.Is(err, ErrUnsupportedMechanism) {
		t.Errorf("PLAIN credential: %v, want ErrUnsupportedMechanism", err)
	}
}

func TestCredentialFromSaltedEqualsNewCredential(t *testing.T) {
	for _, mech := range []string{ScramSHA256, ScramSHA512} {
		want, err := NewCredential(mech, "hunter2", 8192)
		if err != nil {
			t.Fatal(err)
		}
		h := scramHash(mech)
		salted, err := pbkdf2.Key(h, "hunter2", want.Salt, 8192, h().Size())
		if err != nil {
			t.Fatal(err)
		}
		got, err := CredentialFromSalted(mech, 8192, want.Salt, salted)
		if err != nil {
			t.Fatal(err)
		}
		if got.Mechanism != want.Mechanism || got.Iterations != want.Iterations || !bytes.Equal(got.Salt, want.Salt) ||
			!bytes.Equal(got.StoredKey, want.StoredKey) || !bytes.Equal(got.ServerKey, want.ServerKey) {
			t.Errorf("%s: CredentialFromSalted = %+v, NewCredential = %+v", mech, got, want)
		}
	}
}

func TestCredentialFromSaltedRefusesEmptySaltOrPassword(t *testing.T) {
	if _, err := CredentialFromSalted(ScramSHA256, 4096, nil, []byte("x")); err == nil {
		t.Error("empty salt accepted")
	}
	if _, err := CredentialFromSalted(ScramSHA256, 4096, []byte("s"), nil); err == nil {
		t.Error("empty salted password accepted")
	}
	if _, err := CredentialFromSalted(ScramSHA256, 100, []byte("s"), []byte("x")); err == nil {
		t.Error("100 iterations accepted")
	}
}

// RFC 7677 §3: user "user", password "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ==,
// 4096 iterations; the whole exchange with both nonces fixed.
func TestSCRAMSHA256MatchesRFC7677TestVector(t *testing.T) {
	salt, _ := base64.StdEncoding.DecodeString("W22ZaJ0SNY7soEsUEjb6gQ==")
	c, err := deriveCredential(ScramSHA256, "pencil", salt, 4096)
	if err != nil {
		t.Fatal(err)
	}
	users := NewUsers()
	users.Set("user", c)
	s, err := newSession(ScramSHA256, users, func() string { return "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0" })
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct{ client, server string }{
		{"n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
			"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"},
		{"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
			"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="},
	}
	for i, st := range steps {
		out, done, err := s.Step([]byte(st.client))
		if err != nil {
			t.Fatalf("step %d: %v", i+1, err)
		}
		if string(out) != st.server {
			t.Fatalf("step %d: server said %q, want %q", i+1, out, st.server)
		}
		if done != (i == 1) {
			t.Fatalf("step %d: done = %v", i+1, done)
		}
	}
	if p := s.Principal(); p != "User:user" {
		t.Fatalf("principal %q, want User:user", p)
	}
}

func TestCredentialValidateRefusesWrongKeyLength(t *testing.T) {
	c, _ := NewCredential(ScramSHA512, "x", 0)
	c.StoredKey = c.StoredKey[:32]
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "64 bytes") {
		t.Fatalf("Validate = %v, want a key-length error", err)
	}
}

func TestSupportedMechanism(t *testing.T) {
	for m, want := range map[string]bool{
		ScramSHA256: true, ScramSHA512: true, Plain: true,
		"GSSAPI": false, "OAUTHBEARER": false, "plain": false, "": false,
	} {
		if got := SupportedMechanism(m); got != want {
			t.Errorf("SupportedMechanism(%q) = %v", m, got)
		}
	}
}

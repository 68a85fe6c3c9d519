package auth

import (
	"errors"
	"testing"
)

// FuzzSessionStep feeds arbitrary client messages to PLAIN and SCRAM
// sessions. Properties: no panic; a failure is ErrAuthenticationFailed with
// done set and no answer; a session that fails or ends stays failed or ended;
// a principal exists only after success.
func FuzzSessionStep(f *testing.F) {
	users := NewUsers()
	for _, mech := range []string{ScramSHA256, ScramSHA512} {
		c, err := NewCredential(mech, "pw", 0)
		if err != nil {
			f.Fatal(err)
		}
		users.Set("alice", c)
	}
	mechs := []string{Plain, ScramSHA256, ScramSHA512}
	f.Add(uint8(0), []byte("\x00alice\x00pw"), []byte(nil))
	f.Add(uint8(1), []byte("n,,n=alice,r=abc"), []byte("c=biws,r=abc,p=AAAA"))
	f.Add(uint8(2), []byte("n,a=alice,n=alice,r=abc,tokenauth=false"), []byte("c=biws,r=x,p="))
	f.Fuzz(func(t *testing.T, which uint8, first, second []byte) {
		s, err := NewSession(mechs[int(which)%len(mechs)], users)
		if err != nil {
			t.Fatal(err)
		}
		ended := false
		for _, msg := range [][]byte{first, second, first} {
			out, done, err := s.Step(msg)
			if ended && err == nil {
				t.Fatal("Step succeeded after the exchange ended")
			}
			if err != nil {
				if !errors.Is(err, ErrAuthenticationFailed) || !done || out != nil {
					t.Fatalf("failed step: out=%q done=%v err=%v", out, done, err)
				}
				if !ended && s.Principal() != "" {
					t.Fatalf("failed session has principal %q", s.Principal())
				}
			} else if !done && s.Principal() != "" {
				t.Fatalf("principal %q before the end", s.Principal())
			}
			ended = ended || done
		}
	})
}

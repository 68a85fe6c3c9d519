package auth

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestUsersSetLookupDelete(t *testing.T) {
	u := testUsers(t)
	if u.Len() != 2 {
		t.Fatalf("Len = %d, want 2", u.Len())
	}
	c, ok := u.Lookup("alice", ScramSHA512)
	if !ok || c.Mechanism != ScramSHA512 {
		t.Fatalf("Lookup(alice, 512) = %+v, %v", c, ok)
	}
	c.Salt[0] ^= 0xff // a copy: the stored credential must not change
	if again, _ := u.Lookup("alice", ScramSHA512); again.Salt[0] == c.Salt[0] {
		t.Fatal("Lookup returned the stored salt, not a copy")
	}
	if _, ok := u.Lookup("bob", ScramSHA512); ok {
		t.Fatal("bob has no SCRAM-SHA-512 credential")
	}
	if u.Delete("bob", ScramSHA512) || u.Delete("carol", ScramSHA256) {
		t.Fatal("Delete of a missing credential reported true")
	}
	if !u.Delete("bob", ScramSHA256) || u.Len() != 1 {
		t.Fatalf("after deleting bob's only credential Len = %d, want 1", u.Len())
	}
}

func TestUsersListIsSortedAndHoldsNoKeys(t *testing.T) {
	u := testUsers(t)
	u.Set("aaron", mustCredential(t, ScramSHA512, "x", 8192))
	want := []UserInfo{
		{Name: "aaron", Credentials: []CredentialInfo{{ScramSHA512, 8192}}},
		{Name: "alice", Credentials: []CredentialInfo{{ScramSHA256, 4096}, {ScramSHA512, 4096}}},
		{Name: "bob", Credentials: []CredentialInfo{{ScramSHA256, 4096}}},
	}
	if got := u.List(); !reflect.DeepEqual(got, want) {
		t.Fatalf("List = %+v\nwant   %+v", got, want)
	}
}

func mustCredential(t testing.TB, mech, pass string, iters int) Credential {
	t.Helper()
	c, err := NewCredential(mech, pass, iters)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestUsersJSONRoundTrip(t *testing.T) {
	u := testUsers(t)
	b, err := json.Marshal(u)
	if err != nil {
		t.Fatal(err)
	}
	var back Users // the zero value decodes
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.List(), u.List()) {
		t.Fatalf("round trip lists %+v, want %+v", back.List(), u.List())
	}
	for _, k := range [][2]string{{"alice", ScramSHA256}, {"alice", ScramSHA512}, {"bob", ScramSHA256}} {
		got, _ := back.Lookup(k[0], k[1])
		want, _ := u.Lookup(k[0], k[1])
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%v: %+v, want %+v", k, got, want)
		}
	}
	again, _ := json.Marshal(&back)
	if string(again) != string(b) {
		t.Fatalf("re-encoding differs:\n%s\n%s", b, again)
	}
	if strings.Contains(string(b), "secret") {
		t.Fatal("the document contains a password")
	}
}

// The golden file pins the version-1 layout: this build must keep reading it.
func TestUsersReadsGoldenV1(t *testing.T) {
	path := filepath.Join("testdata", "users_v1.json")
	if *update {
		u := NewUsers()
		c, _ := CredentialFromSalted(ScramSHA256, 4096, []byte("0123456789abcdef"), []byte("salted-password-32-bytes-long..."))
		u.Set("alice", c)
		c, _ = CredentialFromSalted(ScramSHA512, 8192, []byte("fedcba9876543210"), []byte("salted"))
		u.Set("alice", c)
		b, _ := json.MarshalIndent(u, "", "  ")
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var u Users
	if err := json.Unmarshal(b, &u); err != nil {
		t.Fatal(err)
	}
	want := []UserInfo{{Name: "alice", Credentials: []CredentialInfo{{ScramSHA256, 4096}, {ScramSHA512, 8192}}}}
	if !reflect.DeepEqual(u.List(), want) {
		t.Fatalf("golden users %+v, want %+v", u.List(), want)
	}
}

func TestUsersUnmarshalRefusesBadDocuments(t *testing.T) {
	good := mustCredential(t, ScramSHA256, "x", 0)
	cred, _ := json.Marshal(good)
	short := good
	short.StoredKey = short.StoredKey[:5]
	shortJSON, _ := json.Marshal(short)
	for name, doc := range map[string]string{
		"garbage":            `not json`,
		"empty":              ``,
		"array":              `[]`,
		"no version":         `{"users":{}}`,
		"version 2":          `{"version":2,"users":{}}`,
		"version 0":          `{"version":0,"users":{}}`,
		"version string":     `{"version":"1","users":{}}`,
		"unknown field":      `{"version":1,"users":{},"extra":true}`,
		"trailing data":      `{"version":1,"users":{}} {}`,
		"empty name":         `{"version":1,"users":{"":[` + string(cred) + `]}}`,
		"no credentials":     `{"version":1,"users":{"alice":[]}}`,
		"duplicate mech":     `{"version":1,"users":{"alice":[` + string(cred) + `,` + string(cred) + `]}}`,
		"short key":          `{"version":1,"users":{"alice":[` + string(shortJSON) + `]}}`,
		"bad mechanism":      `{"version":1,"users":{"alice":[` + strings.Replace(string(cred), ScramSHA256, "PLAIN", 1) + `]}}`,
		"unknown cred field": `{"version":1,"users":{"alice":[` + strings.Replace(string(cred), "{", `{"password":"x",`, 1) + `]}}`,
		"salt not base64":    `{"version":1,"users":{"alice":[{"mechanism":"SCRAM-SHA-256","iterations":4096,"salt":"!!"}]}}`,
	} {
		u := testUsers(t)
		before := u.List()
		if err := u.UnmarshalJSON([]byte(doc)); err == nil {
			t.Errorf("%s: accepted %s", name, doc)
		}
		if !reflect.DeepEqual(u.List(), before) {
			t.Errorf("%s: a refused document changed the users", name)
		}
	}
	var u Users
	err := u.UnmarshalJSON([]byte(`{"version":2,"users":{}}`))
	if err == nil || !strings.Contains(err.Error(), "version 2") {
		t.Errorf("version 2: error %v should name the version", err)
	}
}

package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Users is the set of users and their SCRAM credentials: user name →
// mechanism → Credential. The zero value is empty and ready to use; Users is
// safe for concurrent use.
type Users struct {
	mu    sync.RWMutex                     // guards below
	users map[string]map[string]Credential // user → mechanism → credential
}

// UserInfo describes one user for DescribeUserScramCredentials: its name and
// the mechanisms and iteration counts of its credentials, never the keys.
type UserInfo struct {
	Name        string
	Credentials []CredentialInfo // sorted by mechanism
}

// CredentialInfo is the public part of a Credential.
type CredentialInfo struct {
	Mechanism  string
	Iterations int
}

// NewUsers returns an empty set of users.
func NewUsers() *Users { return &Users{} }

// Set stores c as user's credential for c.Mechanism, replacing any earlier
// one for that mechanism. It does not check c: build it with NewCredential
// or CredentialFromSalted. A credential that fails Validate is kept but never
// authenticates anyone.
func (u *Users) Set(user string, c Credential) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.users == nil {
		u.users = make(map[string]map[string]Credential)
	}
	m := u.users[user]
	if m == nil {
		m = make(map[string]Credential)
		u.users[user] = m
	}
	m[c.Mechanism] = c.clone()
}

// Delete removes user's credential for mechanism and reports whether there
// was one. A user left without credentials no longer exists.
func (u *Users) Delete(user, mechanism string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	m, ok := u.users[user]
	if !ok {
		return false
	}
	if _, ok := m[mechanism]; !ok {
		return false
	}
	delete(m, mechanism)
	if len(m) == 0 {
		delete(u.users, user)
	}
	return true
}

// Lookup returns a copy of user's credential for mechanism.
func (u *Users) Lookup(user, mechanism string) (Credential, bool) {
	u.mu.RLock()
	defer u.mu.RUnlock()
	c, ok := u.users[user][mechanism]
	if !ok {
		return Credential{}, false
	}
	return c.clone(), true
}

// List describes every user, sorted by name, each with its credentials
// sorted by mechanism.
func (u *Users) List() []UserInfo {
	u.mu.RLock()
	defer u.mu.RUnlock()
	out := make([]UserInfo, 0, len(u.users))
	for name, m := range u.users {
		info := UserInfo{Name: name}
		for _, c := range m {
			info.Credentials = append(info.Credentials, CredentialInfo{Mechanism: c.Mechanism, Iterations: c.Iterations})
		}
		slices.SortFunc(info.Credentials, func(a, b CredentialInfo) int { return strings.Compare(a.Mechanism, b.Mechanism) })
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b UserInfo) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Len returns the number of users.
func (u *Users) Len() int {
	u.mu.RLock()
	defer u.mu.RUnlock()
	return len(u.users)
}

// UsersVersion is the version of the document Users.MarshalJSON writes.
const UsersVersion = 1

// usersDoc is the stored form of Users, version 1:
//
//	{
//	  "version": 1,
//	  "users": {
//	    "<name>": [
//	      {"mechanism": "SCRAM-SHA-256", "iterations": 4096,
//	       "salt": "<base64>", "stored_key": "<base64>", "server_key": "<base64>"},
//	      ...
//	    ],
//	    ...
//	  }
//	}
//
// Each user has at least one credential and at most one per mechanism,
// listed in mechanism order; every credential passes Credential.Validate.
// Byte fields are standard base64 with padding (encoding/json's []byte).
// Unknown fields are refused; a change of layout bumps UsersVersion.
type usersDoc struct {
	Version int                     `json:"version"`
	Users   map[string][]Credential `json:"users"`
}

// MarshalJSON encodes u as the version-1 document described at usersDoc.
// The output is deterministic.
func (u *Users) MarshalJSON() ([]byte, error) {
	u.mu.RLock()
	defer u.mu.RUnlock()
	doc := usersDoc{Version: UsersVersion, Users: make(map[string][]Credential, len(u.users))}
	for name, m := range u.users {
		cs := make([]Credential, 0, len(m))
		for _, c := range m {
			cs = append(cs, c)
		}
		slices.SortFunc(cs, func(a, b Credential) int { return strings.Compare(a.Mechanism, b.Mechanism) })
		doc.Users[name] = cs
	}
	return json.Marshal(doc)
}

// UnmarshalJSON replaces u's contents with the users of a document written
// by MarshalJSON. It refuses, leaving u unchanged, a document of another
// version, malformed JSON, unknown fields, an empty user name, a user without
// credentials, two credentials for one mechanism, and any credential that
// fails Validate.
func (u *Users) UnmarshalJSON(b []byte) error {
	if err := checkVersion(b, "users", UsersVersion); err != nil {
		return err
	}
	var doc usersDoc
	if err := decodeStrict(b, &doc); err != nil {
		return fmt.Errorf("users document: %w", err)
	}
	users := make(map[string]map[string]Credential, len(doc.Users))
	for name, cs := range doc.Users {
		if name == "" {
			return errors.New("users document: empty user name")
		}
		if len(cs) == 0 {
			return fmt.Errorf("users document: user %q has no credentials", name)
		}
		m := make(map[string]Credential, len(cs))
		for _, c := range cs {
			if err := c.Validate(); err != nil {
				return fmt.Errorf("users document: user %q: %w", name, err)
			}
			if _, dup := m[c.Mechanism]; dup {
				return fmt.Errorf("users document: user %q has two %s credentials", name, c.Mechanism)
			}
			m[c.Mechanism] = c
		}
		users[name] = m
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.users = users
	return nil
}

// checkVersion reads only the "version" field of a stored document, so a
// newer document is refused for its version rather than for its new fields.
func checkVersion(b []byte, what string, want int) error {
	var v struct {
		Version *int `json:"version"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("%s document: %w", what, err)
	}
	if v.Version == nil {
		return fmt.Errorf("%s document: no version", what)
	}
	if *v.Version != want {
		return fmt.Errorf("%s document: unsupported version %d (this build reads %d)", what, *v.Version, want)
	}
	return nil
}

// decodeStrict decodes exactly one JSON value into v, refusing unknown
// fields and trailing data.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the document")
	}
	return nil
}

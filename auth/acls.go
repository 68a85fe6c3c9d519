package auth

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// ACLs is a set of bindings: adding one twice stores it once. The zero value
// is empty and ready to use; ACLs is safe for concurrent use.
type ACLs struct {
	mu    sync.RWMutex         // guards below
	set   map[Binding]struct{} // every binding
	index map[indexKey]*bucket // the literal and prefixed bindings of set, for Authorize
}

// indexKey groups bindings the way Authorize looks them up: by resource type
// and principal.
type indexKey struct {
	rt        ResourceType
	principal string
}

// bucket holds the bindings of one indexKey by how their name matches.
type bucket struct {
	literal  map[string][]Binding // by exact resource name, "*" included
	prefixed []Binding
}

// NewACLs returns an empty set of bindings.
func NewACLs() *ACLs { return &ACLs{} }

// Add stores each binding not already present. It does not validate them:
// call Binding.Validate first (CreateAcls reports its error per binding). A
// binding whose pattern type is neither Literal nor Prefixed is stored and
// described but never grants or denies anything.
func (a *ACLs) Add(bs ...Binding) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, b := range bs {
		if _, ok := a.set[b]; ok {
			continue
		}
		if a.set == nil {
			a.set = make(map[Binding]struct{})
		}
		a.set[b] = struct{}{}
		a.indexLocked(b)
	}
}

func (a *ACLs) indexLocked(b Binding) {
	if b.PatternType != PatternLiteral && b.PatternType != PatternPrefixed {
		return
	}
	if a.index == nil {
		a.index = make(map[indexKey]*bucket)
	}
	k := indexKey{b.ResourceType, b.Principal}
	bk := a.index[k]
	if bk == nil {
		bk = &bucket{literal: make(map[string][]Binding)}
		a.index[k] = bk
	}
	if b.PatternType == PatternLiteral {
		bk.literal[b.ResourceName] = append(bk.literal[b.ResourceName], b)
	} else {
		bk.prefixed = append(bk.prefixed, b)
	}
}

// Delete removes every binding f matches and returns them in Describe's
// order.
func (a *ACLs) Delete(f Filter) []Binding {
	a.mu.Lock()
	defer a.mu.Unlock()
	var gone []Binding
	for b := range a.set {
		if f.Matches(b) {
			gone = append(gone, b)
			delete(a.set, b)
		}
	}
	if len(gone) > 0 {
		a.index = nil
		for b := range a.set {
			a.indexLocked(b)
		}
	}
	sortBindings(gone)
	return gone
}

// Describe returns the bindings f matches, sorted by resource type, name,
// pattern type, principal, host, operation and permission.
func (a *ACLs) Describe(f Filter) []Binding {
	a.mu.RLock()
	defer a.mu.RUnlock()
	var out []Binding
	for b := range a.set {
		if f.Matches(b) {
			out = append(out, b)
		}
	}
	sortBindings(out)
	return out
}

// Len returns the number of bindings.
func (a *ACLs) Len() int {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return len(a.set)
}

func sortBindings(bs []Binding) {
	slices.SortFunc(bs, func(x, y Binding) int {
		return cmp.Or(
			cmp.Compare(x.ResourceType, y.ResourceType),
			strings.Compare(x.ResourceName, y.ResourceName),
			cmp.Compare(x.PatternType, y.PatternType),
			strings.Compare(x.Principal, y.Principal),
			strings.Compare(x.Host, y.Host),
			cmp.Compare(x.Operation, y.Operation),
			cmp.Compare(x.Permission, y.Permission),
		)
	})
}

// ACLsVersion is the version of the document ACLs.MarshalJSON writes.
const ACLsVersion = 1

// aclsDoc is the stored form of ACLs, version 1:
//
//	{
//	  "version": 1,
//	  "acls": [
//	    {"resource_type": "TOPIC", "resource_name": "orders", "pattern_type": "LITERAL",
//	     "principal": "User:alice", "host": "*", "operation": "READ", "permission": "ALLOW"},
//	    ...
//	  ]
//	}
//
// The enums are Kafka's names (ResourceType.String and friends), not codes,
// so the document reads like kafka-acls output. Bindings are in Describe's
// order, each passes Binding.Validate, none appears twice. Unknown fields are
// refused; a change of layout bumps ACLsVersion.
type aclsDoc struct {
	Version int          `json:"version"`
	ACLs    []aclBinding `json:"acls"`
}

type aclBinding struct {
	ResourceType string `json:"resource_type"`
	ResourceName string `json:"resource_name"`
	PatternType  string `json:"pattern_type"`
	Principal    string `json:"principal"`
	Host         string `json:"host"`
	Operation    string `json:"operation"`
	Permission   string `json:"permission"`
}

// MarshalJSON encodes a as the version-1 document described at aclsDoc.
// The output is deterministic.
func (a *ACLs) MarshalJSON() ([]byte, error) {
	bs := a.Describe(Filter{ResourceType: ResourceAny, PatternType: PatternAny, Operation: OpAny, Permission: PermissionAny})
	doc := aclsDoc{Version: ACLsVersion, ACLs: make([]aclBinding, len(bs))}
	for i, b := range bs {
		doc.ACLs[i] = aclBinding{
			ResourceType: b.ResourceType.String(),
			ResourceName: b.ResourceName,
			PatternType:  b.PatternType.String(),
			Principal:    b.Principal,
			Host:         b.Host,
			Operation:    b.Operation.String(),
			Permission:   b.Permission.String(),
		}
	}
	return json.Marshal(doc)
}

// UnmarshalJSON replaces a's contents with the bindings of a document
// written by MarshalJSON. It refuses, leaving a unchanged, a document of
// another version, malformed JSON, unknown fields or enum names, a duplicate
// binding, and any binding that fails Validate.
func (a *ACLs) UnmarshalJSON(data []byte) error {
	if err := checkVersion(data, "acls", ACLsVersion); err != nil {
		return err
	}
	var doc aclsDoc
	if err := decodeStrict(data, &doc); err != nil {
		return fmt.Errorf("acls document: %w", err)
	}
	fresh := &ACLs{}
	for i, j := range doc.ACLs {
		b, err := j.binding()
		if err != nil {
			return fmt.Errorf("acls document: acl %d: %w", i, err)
		}
		if err := b.Validate(); err != nil {
			return fmt.Errorf("acls document: acl %d: %w", i, err)
		}
		if _, dup := fresh.set[b]; dup {
			return fmt.Errorf("acls document: acl %d repeats %s", i, b)
		}
		fresh.Add(b)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.set, a.index = fresh.set, fresh.index
	return nil
}

func (j aclBinding) binding() (Binding, error) {
	b := Binding{ResourceName: j.ResourceName, Principal: j.Principal, Host: j.Host}
	var err error
	if b.ResourceType, err = ParseResourceType(j.ResourceType); err != nil {
		return Binding{}, err
	}
	if b.PatternType, err = ParsePatternType(j.PatternType); err != nil {
		return Binding{}, err
	}
	if b.Operation, err = ParseOperation(j.Operation); err != nil {
		return Binding{}, err
	}
	if b.Permission, err = ParsePermission(j.Permission); err != nil {
		return Binding{}, err
	}
	return b, nil
}

package objectstore

import (
	"context"
	"fmt"
	"iter"
	"strings"
)

// WithPrefix returns a Bucket that keeps its objects under prefix in b: key k
// is stored as prefix+k, List sees only keys under prefix and yields them
// with prefix removed. A prefix normally ends with '/' ("strata/"); the empty
// prefix returns b itself. prefix+k must still pass ValidateKey, so a prefix
// must not start with '/' nor contain "//".
func WithPrefix(b Bucket, prefix string) Bucket {
	if prefix == "" {
		return b
	}
	return &prefixed{b: b, prefix: prefix}
}

type prefixed struct {
	b      Bucket
	prefix string
}

func (p *prefixed) String() string { return Describe(p.b) + " prefix " + p.prefix }

// key checks key on its own (so "" or "../x" are rejected even when prefix
// would make them valid) and returns it with the prefix.
func (p *prefixed) key(key string) (string, error) {
	if err := ValidateKey(key); err != nil {
		return "", err
	}
	return p.prefix + key, nil
}

func (p *prefixed) Put(ctx context.Context, key string, body []byte) (ETag, error) {
	k, err := p.key(key)
	if err != nil {
		return "", err
	}
	return p.b.Put(ctx, k, body)
}

func (p *prefixed) PutIfAbsent(ctx context.Context, key string, body []byte) (ETag, error) {
	k, err := p.key(key)
	if err != nil {
		return "", err
	}
	return p.b.PutIfAbsent(ctx, k, body)
}

func (p *prefixed) PutIfMatch(ctx context.Context, key string, body []byte, etag ETag) (ETag, error) {
	k, err := p.key(key)
	if err != nil {
		return "", err
	}
	return p.b.PutIfMatch(ctx, k, body, etag)
}

func (p *prefixed) Get(ctx context.Context, key string) ([]byte, Info, error) {
	k, err := p.key(key)
	if err != nil {
		return nil, Info{}, err
	}
	body, info, err := p.b.Get(ctx, k)
	if err != nil {
		return nil, Info{}, err
	}
	info.Key = key
	return body, info, nil
}

func (p *prefixed) GetRange(ctx context.Context, key string, off, n int64) ([]byte, error) {
	k, err := p.key(key)
	if err != nil {
		return nil, err
	}
	return p.b.GetRange(ctx, k, off, n)
}

func (p *prefixed) Head(ctx context.Context, key string) (Info, error) {
	k, err := p.key(key)
	if err != nil {
		return Info{}, err
	}
	info, err := p.b.Head(ctx, k)
	if err != nil {
		return Info{}, err
	}
	info.Key = key
	return info, nil
}

func (p *prefixed) Delete(ctx context.Context, key string) error {
	k, err := p.key(key)
	if err != nil {
		return err
	}
	return p.b.Delete(ctx, k)
}

func (p *prefixed) List(ctx context.Context, prefix string) iter.Seq2[Info, error] {
	if err := ValidatePrefix(prefix); err != nil {
		return ErrorSeq(err)
	}
	return func(yield func(Info, error) bool) {
		for info, err := range p.b.List(ctx, p.prefix+prefix) {
			if err != nil {
				yield(Info{}, err)
				return
			}
			k, ok := strings.CutPrefix(info.Key, p.prefix)
			if !ok {
				yield(Info{}, fmt.Errorf("list %q: backend returned key %q outside the prefix", p.prefix+prefix, info.Key))
				return
			}
			info.Key = k
			if !yield(info, nil) {
				return
			}
		}
	}
}

// Describe names b for logs and errors: its String method if it has one
// (every Bucket of this module's backends and decorators has one, and none
// shows a secret), else its type.
func Describe(b Bucket) string {
	if s, ok := b.(fmt.Stringer); ok {
		return s.String()
	}
	return fmt.Sprintf("%T", b)
}

package mem

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"iter"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/strata-io/strata/objectstore"
)

// Bucket is an in-memory objectstore.Bucket. The zero value is not usable;
// call New.
type Bucket struct {
	now func() time.Time

	mu   sync.Mutex // guards below
	objs map[string]object
	keys []string // sorted keys of objs
}

type object struct {
	body []byte
	info objectstore.Info
}

// New returns an empty Bucket.
func New() *Bucket {
	return &Bucket{now: time.Now, objs: make(map[string]object)}
}

// String names the bucket for logs.
func (b *Bucket) String() string { return "mem:" }

func etagOf(body []byte) objectstore.ETag {
	sum := sha256.Sum256(body)
	return objectstore.ETag(hex.EncodeToString(sum[:16]))
}

// putLocked stores a copy of body under key.
func (b *Bucket) putLocked(key string, body []byte) objectstore.ETag {
	o := object{
		body: slices.Clone(body),
		info: objectstore.Info{Key: key, Size: int64(len(body)), ETag: etagOf(body), LastModified: b.now().UTC()},
	}
	if o.body == nil {
		o.body = []byte{}
	}
	if _, ok := b.objs[key]; !ok {
		i, _ := slices.BinarySearch(b.keys, key)
		b.keys = slices.Insert(b.keys, i, key)
	}
	b.objs[key] = o
	return o.info.ETag
}

func check(ctx context.Context, op objectstore.Op, key string) error {
	if err := objectstore.ValidateKey(key); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return ctx.Err()
}

// Put implements objectstore.Bucket.
func (b *Bucket) Put(ctx context.Context, key string, body []byte) (objectstore.ETag, error) {
	if err := check(ctx, objectstore.OpPut, key); err != nil {
		return "", err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.putLocked(key, body), nil
}

// PutIfAbsent implements objectstore.Bucket.
func (b *Bucket) PutIfAbsent(ctx context.Context, key string, body []byte) (objectstore.ETag, error) {
	if err := check(ctx, objectstore.OpPutIfAbsent, key); err != nil {
		return "", err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.objs[key]; ok {
		return "", fmt.Errorf("put-if-absent %q: %w", key, objectstore.ErrPreconditionFailed)
	}
	return b.putLocked(key, body), nil
}

// PutIfMatch implements objectstore.Bucket.
func (b *Bucket) PutIfMatch(ctx context.Context, key string, body []byte, etag objectstore.ETag) (objectstore.ETag, error) {
	if err := check(ctx, objectstore.OpPutIfMatch, key); err != nil {
		return "", err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	o, ok := b.objs[key]
	if !ok || o.info.ETag != etag {
		return "", fmt.Errorf("put-if-match %q: %w", key, objectstore.ErrPreconditionFailed)
	}
	return b.putLocked(key, body), nil
}

func (b *Bucket) lookup(ctx context.Context, op objectstore.Op, key string) (object, error) {
	if err := check(ctx, op, key); err != nil {
		return object{}, err
	}
	b.mu.Lock()
	o, ok := b.objs[key]
	b.mu.Unlock()
	if !ok {
		return object{}, fmt.Errorf("%s %q: %w", op, key, objectstore.ErrNotExist)
	}
	return o, nil
}

// Get implements objectstore.Bucket. The caller owns the returned slice.
func (b *Bucket) Get(ctx context.Context, key string) ([]byte, objectstore.Info, error) {
	o, err := b.lookup(ctx, objectstore.OpGet, key)
	if err != nil {
		return nil, objectstore.Info{}, err
	}
	return slices.Clone(o.body), o.info, nil
}

// GetRange implements objectstore.Bucket. The caller owns the returned slice.
func (b *Bucket) GetRange(ctx context.Context, key string, off, n int64) ([]byte, error) {
	o, err := b.lookup(ctx, objectstore.OpGetRange, key)
	if err != nil {
		return nil, err
	}
	end, err := objectstore.ValidateRange(off, n, o.info.Size)
	if err != nil {
		return nil, fmt.Errorf("get-range %q: %w", key, err)
	}
	return slices.Clone(o.body[off:end]), nil
}

// Head implements objectstore.Bucket.
func (b *Bucket) Head(ctx context.Context, key string) (objectstore.Info, error) {
	o, err := b.lookup(ctx, objectstore.OpHead, key)
	return o.info, err
}

// Delete implements objectstore.Bucket.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	if err := check(ctx, objectstore.OpDelete, key); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.objs[key]; ok {
		delete(b.objs, key)
		i, _ := slices.BinarySearch(b.keys, key)
		b.keys = slices.Delete(b.keys, i, i+1)
	}
	return nil
}

// List implements objectstore.Bucket. It does not hold the lock while the
// caller's loop body runs, so the body may call the bucket.
func (b *Bucket) List(ctx context.Context, prefix string) iter.Seq2[objectstore.Info, error] {
	if err := objectstore.ValidatePrefix(prefix); err != nil {
		return objectstore.ErrorSeq(fmt.Errorf("list: %w", err))
	}
	return func(yield func(objectstore.Info, error) bool) {
		after, started := "", false
		for {
			if err := ctx.Err(); err != nil {
				yield(objectstore.Info{}, fmt.Errorf("list %q: %w", prefix, err))
				return
			}
			info, ok := b.next(prefix, after, started)
			if !ok {
				return
			}
			after, started = info.Key, true
			if !yield(info, nil) {
				return
			}
		}
	}
}

// next returns the first object under prefix whose key is greater than
// after (or the first one at all, if !started).
func (b *Bucket) next(prefix, after string, started bool) (objectstore.Info, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	from := prefix
	if started && after >= prefix {
		from = after + "\x00"
	}
	i, _ := slices.BinarySearch(b.keys, from)
	if i == len(b.keys) || !strings.HasPrefix(b.keys[i], prefix) {
		return objectstore.Info{}, false
	}
	return b.objs[b.keys[i]].info, true
}

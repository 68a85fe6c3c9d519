package objectstore

import (
	"context"
	"iter"
	"time"
)

// Observer is told about every call a Bucket wrapped by Observe makes: the
// operation, its key (the prefix for List), how it ended and how long it
// took. It is called on the caller's goroutine and must be quick and safe
// for concurrent use.
type Observer func(op Op, key string, err error, d time.Duration)

// Observe returns b with every call reported to obs, for metrics and cost
// accounting. Wrapped under WithRetry, it sees each attempt, as the store
// bills them. A List is one call, however many pages the backend read.
func Observe(b Bucket, obs Observer) Bucket { return &observed{b: b, obs: obs} }

type observed struct {
	b   Bucket
	obs Observer
}

func (o *observed) String() string { return Describe(o.b) }

func (o *observed) Put(ctx context.Context, key string, body []byte) (ETag, error) {
	start := time.Now()
	etag, err := o.b.Put(ctx, key, body)
	o.obs(OpPut, key, err, time.Since(start))
	return etag, err
}

func (o *observed) PutIfAbsent(ctx context.Context, key string, body []byte) (ETag, error) {
	start := time.Now()
	etag, err := o.b.PutIfAbsent(ctx, key, body)
	o.obs(OpPutIfAbsent, key, err, time.Since(start))
	return etag, err
}

func (o *observed) PutIfMatch(ctx context.Context, key string, body []byte, match ETag) (ETag, error) {
	start := time.Now()
	etag, err := o.b.PutIfMatch(ctx, key, body, match)
	o.obs(OpPutIfMatch, key, err, time.Since(start))
	return etag, err
}

func (o *observed) Get(ctx context.Context, key string) ([]byte, Info, error) {
	start := time.Now()
	body, info, err := o.b.Get(ctx, key)
	o.obs(OpGet, key, err, time.Since(start))
	return body, info, err
}

func (o *observed) GetRange(ctx context.Context, key string, off, n int64) ([]byte, error) {
	start := time.Now()
	body, err := o.b.GetRange(ctx, key, off, n)
	o.obs(OpGetRange, key, err, time.Since(start))
	return body, err
}

func (o *observed) Head(ctx context.Context, key string) (Info, error) {
	start := time.Now()
	info, err := o.b.Head(ctx, key)
	o.obs(OpHead, key, err, time.Since(start))
	return info, err
}

func (o *observed) Delete(ctx context.Context, key string) error {
	start := time.Now()
	err := o.b.Delete(ctx, key)
	o.obs(OpDelete, key, err, time.Since(start))
	return err
}

func (o *observed) List(ctx context.Context, prefix string) iter.Seq2[Info, error] {
	return func(yield func(Info, error) bool) {
		start := time.Now()
		var failed error
		defer func() { o.obs(OpList, prefix, failed, time.Since(start)) }()
		for info, err := range o.b.List(ctx, prefix) {
			if err != nil {
				failed = err
			}
			if !yield(info, err) {
				return
			}
		}
	}
}

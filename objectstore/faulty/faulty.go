package faulty

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/strata-io/strata/objectstore"
)

// ErrHalted is returned by every call of a halted Bucket. It is not
// transient: a crashed process does not retry.
var ErrHalted = errors.New("faulty: bucket halted (simulated crash)")

// ErrInjected is the default error of a failing rule, marked transient
// (objectstore.ErrUnavailable), like the throttling or 5xx it stands for.
var ErrInjected = objectstore.Unavailable(errors.New("faulty: injected failure"))

// ErrTimeout is what TimeoutAfterWrite reports: a transient timeout of a
// call whose write nevertheless happened.
var ErrTimeout = objectstore.Unavailable(errors.New("faulty: injected timeout (the call took effect)"))

// Action is what a rule does to a call it fires on.
type Action int

const (
	// Fail returns the rule's Err without calling the wrapped bucket. For
	// List with AfterItems > 0, the wrapped listing runs and the error
	// comes after that many items.
	Fail Action = iota + 1
	// FailAfter calls the wrapped bucket and then returns Err instead of its
	// result: a write that happened but reported failure.
	FailAfter
	// Delay waits Latency (or until the context ends) and then proceeds.
	Delay
	// LoseRace returns objectstore.ErrPreconditionFailed from a conditional
	// write without calling the wrapped bucket, as if another writer had
	// won an instant earlier (but nothing was written).
	LoseRace
	// CompetingWrite first stores Body under the call's key with an
	// unconditional Put, then makes the call, which then loses its
	// precondition as a real race would.
	CompetingWrite
	// Halt halts the bucket before the call: it and every later call
	// return ErrHalted.
	Halt
	// HaltAfter makes the call and then halts the bucket: the call's effect
	// happens but it returns ErrHalted, as if the process died before it
	// learned the result; every later call returns ErrHalted.
	HaltAfter
)

// Rule is one fault.
type Rule struct {
	// Op is the operation the rule applies to; "" means every operation.
	// Conditional matches PutIfAbsent and PutIfMatch.
	Op objectstore.Op
	// KeyPrefix restricts the rule to keys (or List prefixes) starting with
	// it.
	KeyPrefix string
	// Nth, if > 0, makes the rule fire once, on the Nth call it matches.
	Nth int
	// Rate, if > 0, makes the rule fire on each matching call with this
	// probability. Nth and Rate are exclusive.
	Rate float64
	// Action says what firing does.
	Action Action
	// Err is returned by Fail and FailAfter (default ErrInjected).
	Err error
	// Latency is the wait of Delay.
	Latency time.Duration
	// Body is what CompetingWrite stores.
	Body []byte
	// AfterItems is how many items a failing List yields before the error.
	AfterItems int
}

// Conditional is an Op that matches both conditional writes.
const Conditional objectstore.Op = "conditional"

// Convenience constructors for the common rules.

// FailNth fails the nth call of op with err (ErrInjected if nil).
func FailNth(op objectstore.Op, n int, err error) Rule {
	return Rule{Op: op, Nth: n, Action: Fail, Err: err}
}

// FailRate fails each call of op with probability p, with ErrInjected.
func FailRate(op objectstore.Op, p float64) Rule { return Rule{Op: op, Rate: p, Action: Fail} }

// Latency delays every call of op by d.
func Latency(op objectstore.Op, d time.Duration) Rule {
	return Rule{Op: op, Action: Delay, Latency: d}
}

// LoseRaceNth makes the nth conditional write lose without writing.
func LoseRaceNth(n int) Rule { return Rule{Op: Conditional, Nth: n, Action: LoseRace} }

// CompetingWriteNth makes another writer store body just before the nth
// conditional write, which then loses.
func CompetingWriteNth(n int, body []byte) Rule {
	return Rule{Op: Conditional, Nth: n, Action: CompetingWrite, Body: body}
}

// TimeoutAfterWrite makes the nth call of op take effect and then report
// ErrTimeout.
func TimeoutAfterWrite(op objectstore.Op, n int) Rule {
	return Rule{Op: op, Nth: n, Action: FailAfter, Err: ErrTimeout}
}

// HaltAt halts the bucket at the nth call of op, before it takes effect.
func HaltAt(op objectstore.Op, n int) Rule { return Rule{Op: op, Nth: n, Action: Halt} }

// HaltAfterNth halts the bucket just after the nth call of op took effect.
func HaltAfterNth(op objectstore.Op, n int) Rule { return Rule{Op: op, Nth: n, Action: HaltAfter} }

// Bucket is an objectstore.Bucket that passes calls to another Bucket,
// except where a rule fires.
type Bucket struct {
	b objectstore.Bucket

	mu     sync.Mutex // guards below
	rnd    *rand.Rand
	rules  []*rule
	calls  map[objectstore.Op]int
	fired  int
	halted bool
}

type rule struct {
	Rule
	seen int // matching calls since the rule was added
}

// New wraps b. seed seeds the generator of Rate rules.
func New(b objectstore.Bucket, seed uint64) *Bucket {
	return &Bucket{b: b, rnd: rand.New(rand.NewPCG(seed, 0x5eed)), calls: map[objectstore.Op]int{}}
}

// String names the bucket for logs.
func (f *Bucket) String() string { return "faulty " + objectstore.Describe(f.b) }

// Inject adds rules. It panics on a rule that cannot fire as meant, a bug in
// the test.
func (f *Bucket) Inject(rules ...Rule) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range rules {
		if r.Action < Fail || r.Action > HaltAfter {
			panic(fmt.Sprintf("faulty: rule %+v has no action", r))
		}
		if r.Nth > 0 && r.Rate > 0 {
			panic(fmt.Sprintf("faulty: rule %+v has both Nth and Rate", r))
		}
		if r.Err == nil {
			r.Err = ErrInjected
		}
		f.rules = append(f.rules, &rule{Rule: r})
	}
}

// Clear removes every rule and ends a halt, as if the crashed process had
// restarted; call counters keep counting.
func (f *Bucket) Clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules = nil
	f.halted = false
}

// Halt halts the bucket now: every later call returns ErrHalted.
func (f *Bucket) Halt() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.halted = true
}

// Halted reports whether the bucket is halted.
func (f *Bucket) Halted() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.halted
}

// Calls returns how many calls of op the bucket has received, halted ones
// included.
func (f *Bucket) Calls(op objectstore.Op) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

// Fired returns how many times a rule has fired.
func (f *Bucket) Fired() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fired
}

func (r *rule) matches(op objectstore.Op, key string) bool {
	switch r.Op {
	case "", op:
	case Conditional:
		if op != objectstore.OpPutIfAbsent && op != objectstore.OpPutIfMatch {
			return false
		}
	default:
		return false
	}
	return strings.HasPrefix(key, r.KeyPrefix)
}

// decide counts the call and returns the rule that fires on it, if any.
func (f *Bucket) decide(op objectstore.Op, key string) (Rule, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[op]++
	if f.halted {
		return Rule{}, false, ErrHalted
	}
	var (
		fired Rule
		found bool
	)
	kept := f.rules[:0]
	for _, r := range f.rules {
		if !r.matches(op, key) {
			kept = append(kept, r)
			continue
		}
		r.seen++
		fires := false
		switch {
		case r.Nth > 0:
			fires = r.seen == r.Nth
		case r.Rate > 0:
			fires = f.rnd.Float64() < r.Rate
		default:
			fires = true
		}
		if fires && !found {
			fired, found = r.Rule, true
			f.fired++
		}
		if !(r.Nth > 0 && r.seen >= r.Nth) {
			kept = append(kept, r) // an Nth rule is spent once its call came
		}
	}
	clear(f.rules[len(kept):])
	f.rules = kept
	if found && fired.Action == Halt {
		f.halted = true
		return Rule{}, false, ErrHalted
	}
	return fired, found, nil
}

func (f *Bucket) halt() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.halted = true
}

func wait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// call runs one call of op on key through the rules; do makes the call on
// the wrapped bucket.
func (f *Bucket) call(ctx context.Context, op objectstore.Op, key string, do func() error) error {
	r, fired, err := f.decide(op, key)
	if err != nil {
		return fmt.Errorf("%s %q: %w", op, key, err)
	}
	if !fired {
		return do()
	}
	switch r.Action {
	case Fail:
		return fmt.Errorf("%s %q: %w", op, key, r.Err)
	case FailAfter:
		_ = do() // the effect happens; the caller hears a failure
		return fmt.Errorf("%s %q: %w", op, key, r.Err)
	case Delay:
		if err := wait(ctx, r.Latency); err != nil {
			return fmt.Errorf("%s %q: %w", op, key, err)
		}
		return do()
	case LoseRace:
		if op == objectstore.OpPutIfAbsent || op == objectstore.OpPutIfMatch {
			return fmt.Errorf("%s %q: lost an injected race: %w", op, key, objectstore.ErrPreconditionFailed)
		}
		return do()
	case CompetingWrite:
		if _, err := f.b.Put(ctx, key, r.Body); err != nil {
			return fmt.Errorf("%s %q: competing write: %w", op, key, err)
		}
		return do()
	case HaltAfter:
		_ = do()
		f.halt()
		return fmt.Errorf("%s %q: %w", op, key, ErrHalted)
	}
	return do()
}

// Put implements objectstore.Bucket.
func (f *Bucket) Put(ctx context.Context, key string, body []byte) (etag objectstore.ETag, err error) {
	err = f.call(ctx, objectstore.OpPut, key, func() (err error) {
		etag, err = f.b.Put(ctx, key, body)
		return err
	})
	if err != nil {
		return "", err
	}
	return etag, nil
}

// PutIfAbsent implements objectstore.Bucket.
func (f *Bucket) PutIfAbsent(ctx context.Context, key string, body []byte) (etag objectstore.ETag, err error) {
	err = f.call(ctx, objectstore.OpPutIfAbsent, key, func() (err error) {
		etag, err = f.b.PutIfAbsent(ctx, key, body)
		return err
	})
	if err != nil {
		return "", err
	}
	return etag, nil
}

// PutIfMatch implements objectstore.Bucket.
func (f *Bucket) PutIfMatch(ctx context.Context, key string, body []byte, match objectstore.ETag) (etag objectstore.ETag, err error) {
	err = f.call(ctx, objectstore.OpPutIfMatch, key, func() (err error) {
		etag, err = f.b.PutIfMatch(ctx, key, body, match)
		return err
	})
	if err != nil {
		return "", err
	}
	return etag, nil
}

// Get implements objectstore.Bucket.
func (f *Bucket) Get(ctx context.Context, key string) (body []byte, info objectstore.Info, err error) {
	err = f.call(ctx, objectstore.OpGet, key, func() (err error) {
		body, info, err = f.b.Get(ctx, key)
		return err
	})
	if err != nil {
		return nil, objectstore.Info{}, err
	}
	return body, info, nil
}

// GetRange implements objectstore.Bucket.
func (f *Bucket) GetRange(ctx context.Context, key string, off, n int64) (body []byte, err error) {
	err = f.call(ctx, objectstore.OpGetRange, key, func() (err error) {
		body, err = f.b.GetRange(ctx, key, off, n)
		return err
	})
	if err != nil {
		return nil, err
	}
	return body, nil
}

// Head implements objectstore.Bucket.
func (f *Bucket) Head(ctx context.Context, key string) (info objectstore.Info, err error) {
	err = f.call(ctx, objectstore.OpHead, key, func() (err error) {
		info, err = f.b.Head(ctx, key)
		return err
	})
	if err != nil {
		return objectstore.Info{}, err
	}
	return info, nil
}

// Delete implements objectstore.Bucket.
func (f *Bucket) Delete(ctx context.Context, key string) error {
	return f.call(ctx, objectstore.OpDelete, key, func() error { return f.b.Delete(ctx, key) })
}

// List implements objectstore.Bucket. A rule fires when the iteration
// starts.
func (f *Bucket) List(ctx context.Context, prefix string) iter.Seq2[objectstore.Info, error] {
	return func(yield func(objectstore.Info, error) bool) {
		op := objectstore.OpList
		r, fired, err := f.decide(op, prefix)
		if err != nil {
			yield(objectstore.Info{}, fmt.Errorf("%s %q: %w", op, prefix, err))
			return
		}
		failAt := -1
		if fired {
			switch r.Action {
			case Fail:
				failAt = r.AfterItems
			case Delay:
				if err := wait(ctx, r.Latency); err != nil {
					yield(objectstore.Info{}, fmt.Errorf("%s %q: %w", op, prefix, err))
					return
				}
			case Halt, HaltAfter:
				f.halt()
				yield(objectstore.Info{}, fmt.Errorf("%s %q: %w", op, prefix, ErrHalted))
				return
			case FailAfter:
				failAt = -2 // list everything, then fail
			}
		}
		n := 0
		for info, err := range f.b.List(ctx, prefix) {
			if n == failAt {
				yield(objectstore.Info{}, fmt.Errorf("%s %q: %w", op, prefix, r.Err))
				return
			}
			if !yield(info, err) || err != nil {
				return
			}
			n++
		}
		if failAt == -2 || failAt >= n {
			yield(objectstore.Info{}, fmt.Errorf("%s %q: %w", op, prefix, r.Err))
		}
	}
}

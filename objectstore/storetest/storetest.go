package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-io/strata/objectstore"
)

// Run runs the suite as subtests of t. newBucket returns an empty bucket for
// one subtest; it registers any cleanup with t.Cleanup and fails t if it
// cannot. Subtests run in sequence (a backend's own test may run Run inside
// a parallel test).
func Run(t *testing.T, newBucket func(t *testing.T) objectstore.Bucket) {
	t.Helper()
	tests := []struct {
		name string
		f    func(t *testing.T, b objectstore.Bucket)
	}{
		{"PutGetHead", testPutGetHead},
		{"OverwriteChangesETag", testOverwrite},
		{"EmptyObject", testEmptyObject},
		{"GetRangeEdges", testGetRangeEdges},
		{"LargeObject", testLargeObject},
		{"MissingObject", testMissing},
		{"DeleteIsIdempotent", testDelete},
		{"PutIfAbsent", testPutIfAbsent},
		{"PutIfMatch", testPutIfMatch},
		{"PutIfAbsentRaceHasOneWinner", testPutIfAbsentRace},
		{"PutIfMatchRaceHasOneWinner", testPutIfMatchRace},
		{"ListByPrefixInOrder", testList},
		{"ListManyKeys", testListMany},
		{"ListStopsEarly", testListStopsEarly},
		{"UnusualKeys", testUnusualKeys},
		{"InvalidKeys", testInvalidKeys},
		{"CallerOwnsSlices", testCallerOwnsSlices},
		{"CanceledContext", testCanceledContext},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.f(t, newBucket(t))
		})
	}
}

func ctxOf(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func mustPut(t *testing.T, b objectstore.Bucket, key string, body []byte) objectstore.ETag {
	t.Helper()
	etag, err := b.Put(ctxOf(t), key, body)
	if err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
	if etag == "" {
		t.Fatalf("Put(%q) returned an empty ETag", key)
	}
	return etag
}

// wantBody checks that key holds exactly body, by Get and Head.
func wantBody(t *testing.T, b objectstore.Bucket, key string, body []byte) objectstore.Info {
	t.Helper()
	ctx := ctxOf(t)
	got, info, err := b.Get(ctx, key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	if !bytes.Equal(got, body) {
		t.Fatalf("Get(%q) = %d bytes %s, want %d bytes %s", key, len(got), abbrev(got), len(body), abbrev(body))
	}
	if info.Key != key || info.Size != int64(len(body)) || info.ETag == "" {
		t.Fatalf("Get(%q) info = %+v, want key %q, size %d and an ETag", key, info, key, len(body))
	}
	head, err := b.Head(ctx, key)
	if err != nil {
		t.Fatalf("Head(%q): %v", key, err)
	}
	if head.Key != info.Key || head.Size != info.Size || head.ETag != info.ETag {
		t.Fatalf("Head(%q) = %+v, Get said %+v", key, head, info)
	}
	return info
}

func abbrev(b []byte) string {
	if len(b) > 16 {
		return fmt.Sprintf("%q…", b[:16])
	}
	return fmt.Sprintf("%q", b)
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: error %v, want %v", what, err, target)
	}
}

func testPutGetHead(t *testing.T, b objectstore.Bucket) {
	body := randomBytes(1, 4096)
	before := time.Now()
	etag := mustPut(t, b, "topics/t/0/segment", body)
	info := wantBody(t, b, "topics/t/0/segment", body)
	if info.ETag != etag {
		t.Errorf("Get ETag %q, Put returned %q", info.ETag, etag)
	}
	// S3 keeps LastModified in whole seconds; allow a generous window for
	// clock skew between the test and a local server.
	if lm := info.LastModified; lm.Before(before.Add(-time.Minute)) || lm.After(time.Now().Add(time.Minute)) {
		t.Errorf("LastModified %v, want about %v", lm, before)
	}
}

func testOverwrite(t *testing.T, b objectstore.Bucket) {
	e1 := mustPut(t, b, "k", []byte("first"))
	e2 := mustPut(t, b, "k", []byte("second, longer"))
	if e1 == e2 {
		t.Errorf("overwrite with different bytes kept ETag %q", e1)
	}
	if info := wantBody(t, b, "k", []byte("second, longer")); info.ETag != e2 {
		t.Errorf("ETag after overwrite %q, Put returned %q", info.ETag, e2)
	}
}

func testEmptyObject(t *testing.T, b objectstore.Bucket) {
	ctx := ctxOf(t)
	mustPut(t, b, "empty", nil)
	wantBody(t, b, "empty", nil)
	got, err := b.GetRange(ctx, "empty", 0, 10)
	if err != nil || len(got) != 0 {
		t.Errorf("GetRange(empty, 0, 10) = %q, %v; want no bytes", got, err)
	}
	_, err = b.GetRange(ctx, "empty", 1, 1)
	wantErr(t, "GetRange(empty, 1, 1)", err, objectstore.ErrInvalidRange)
	if _, err := b.PutIfAbsent(ctx, "empty2", []byte{}); err != nil {
		t.Fatalf("PutIfAbsent(empty2, empty): %v", err)
	}
	wantBody(t, b, "empty2", nil)
}

func testGetRangeEdges(t *testing.T, b objectstore.Bucket) {
	ctx := ctxOf(t)
	body := randomBytes(2, 1000)
	mustPut(t, b, "r", body)
	for _, tc := range []struct {
		off, n   int64
		from, to int // expected body[from:to]
	}{
		{0, 10, 0, 10},
		{0, 1000, 0, 1000},
		{0, 2000, 0, 1000},
		{10, 1, 10, 11},
		{990, 100, 990, 1000},
		{999, 1, 999, 1000},
		{1000, 10, 1000, 1000},
		{5, 0, 5, 5},
		{0, 0, 0, 0},
		{990, math.MaxInt64, 990, 1000},
		{0, math.MaxInt64, 0, 1000},
	} {
		got, err := b.GetRange(ctx, "r", tc.off, tc.n)
		if err != nil {
			t.Errorf("GetRange(%d, %d): %v", tc.off, tc.n, err)
			continue
		}
		if want := body[tc.from:tc.to]; !bytes.Equal(got, want) {
			t.Errorf("GetRange(%d, %d) = %d bytes, want body[%d:%d]", tc.off, tc.n, len(got), tc.from, tc.to)
		}
	}
	for _, tc := range []struct{ off, n int64 }{{1001, 1}, {5000, 10}, {-1, 5}, {0, -1}} {
		_, err := b.GetRange(ctx, "r", tc.off, tc.n)
		wantErr(t, fmt.Sprintf("GetRange(%d, %d)", tc.off, tc.n), err, objectstore.ErrInvalidRange)
	}
}

// testLargeObject writes an object bigger than the SDKs' multipart
// thresholds (minio-go switches at 16 MiB).
func testLargeObject(t *testing.T, b objectstore.Bucket) {
	ctx := ctxOf(t)
	body := randomBytes(3, 17<<20+123)
	mustPut(t, b, "big", body)
	wantBody(t, b, "big", body)
	tail, err := b.GetRange(ctx, "big", int64(len(body))-4096, 1<<20)
	if err != nil || !bytes.Equal(tail, body[len(body)-4096:]) {
		t.Fatalf("GetRange of the tail: %d bytes, %v", len(tail), err)
	}
}

func testMissing(t *testing.T, b objectstore.Bucket) {
	ctx := ctxOf(t)
	mustPut(t, b, "present", []byte("x"))
	_, _, err := b.Get(ctx, "missing")
	wantErr(t, "Get(missing)", err, objectstore.ErrNotExist)
	_, err = b.Head(ctx, "missing")
	wantErr(t, "Head(missing)", err, objectstore.ErrNotExist)
	_, err = b.GetRange(ctx, "missing", 0, 10)
	wantErr(t, "GetRange(missing)", err, objectstore.ErrNotExist)
	_, err = b.GetRange(ctx, "missing", 0, 0)
	wantErr(t, "GetRange(missing, 0, 0)", err, objectstore.ErrNotExist)
	_, _, err = b.Get(ctx, "present/child")
	wantErr(t, "Get(present/child)", err, objectstore.ErrNotExist)
	_, err = b.PutIfMatch(ctx, "missing", []byte("y"), "0123456789abcdef0123456789abcdef")
	wantErr(t, "PutIfMatch(missing)", err, objectstore.ErrPreconditionFailed)
	if _, err := b.Head(ctx, "missing"); !errors.Is(err, objectstore.ErrNotExist) {
		t.Fatalf("a failed PutIfMatch created the object: Head: %v", err)
	}
}

func testDelete(t *testing.T, b objectstore.Bucket) {
	ctx := ctxOf(t)
	mustPut(t, b, "d/x", []byte("x"))
	mustPut(t, b, "d/y", []byte("y"))
	for i := range 2 {
		if err := b.Delete(ctx, "d/x"); err != nil {
			t.Fatalf("Delete #%d: %v", i+1, err)
		}
	}
	if err := b.Delete(ctx, "never/existed"); err != nil {
		t.Fatalf("Delete(never/existed): %v", err)
	}
	_, _, err := b.Get(ctx, "d/x")
	wantErr(t, "Get after Delete", err, objectstore.ErrNotExist)
	if keys := listKeys(t, b, "d/"); !slices.Equal(keys, []string{"d/y"}) {
		t.Fatalf("List(d/) after Delete = %q", keys)
	}
	wantBody(t, b, "d/y", []byte("y"))
	// A deleted key can be created again, also create-only.
	if _, err := b.PutIfAbsent(ctx, "d/x", []byte("again")); err != nil {
		t.Fatalf("PutIfAbsent after Delete: %v", err)
	}
	wantBody(t, b, "d/x", []byte("again"))
}

func testPutIfAbsent(t *testing.T, b objectstore.Bucket) {
	ctx := ctxOf(t)
	etag, err := b.PutIfAbsent(ctx, "m/manifest", []byte("v1"))
	if err != nil {
		t.Fatalf("PutIfAbsent on a missing key: %v", err)
	}
	if info := wantBody(t, b, "m/manifest", []byte("v1")); info.ETag != etag {
		t.Errorf("ETag %q, PutIfAbsent returned %q", info.ETag, etag)
	}
	_, err = b.PutIfAbsent(ctx, "m/manifest", []byte("v2"))
	wantErr(t, "second PutIfAbsent", err, objectstore.ErrPreconditionFailed)
	_, err = b.PutIfAbsent(ctx, "m/manifest", []byte("v1"))
	wantErr(t, "PutIfAbsent with the same bytes", err, objectstore.ErrPreconditionFailed)
	wantBody(t, b, "m/manifest", []byte("v1"))
}

func testPutIfMatch(t *testing.T, b objectstore.Bucket) {
	ctx := ctxOf(t)
	e1 := mustPut(t, b, "m", []byte("v1"))
	_, err := b.PutIfMatch(ctx, "m", []byte("bad"), "0123456789abcdef0123456789abcdef")
	wantErr(t, "PutIfMatch with a made-up ETag", err, objectstore.ErrPreconditionFailed)
	wantBody(t, b, "m", []byte("v1"))
	e2, err := b.PutIfMatch(ctx, "m", []byte("v2"), e1)
	if err != nil {
		t.Fatalf("PutIfMatch with the current ETag: %v", err)
	}
	if e2 == e1 {
		t.Errorf("PutIfMatch kept ETag %q", e1)
	}
	if info := wantBody(t, b, "m", []byte("v2")); info.ETag != e2 {
		t.Errorf("ETag %q, PutIfMatch returned %q", info.ETag, e2)
	}
	_, err = b.PutIfMatch(ctx, "m", []byte("v3"), e1)
	wantErr(t, "PutIfMatch with the previous ETag", err, objectstore.ErrPreconditionFailed)
	wantBody(t, b, "m", []byte("v2"))
	if _, err := b.PutIfMatch(ctx, "m", []byte("v3"), e2); err != nil {
		t.Fatalf("PutIfMatch chained on the returned ETag: %v", err)
	}
	wantBody(t, b, "m", []byte("v3"))
}

const racers = 8

// race runs f(i) for i in [0, racers) at once and returns their errors.
func race(f func(i int) error) []error {
	errs := make([]error, racers)
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range racers {
		done.Go(func() {
			start.Wait()
			errs[i] = f(i)
		})
	}
	start.Done()
	done.Wait()
	return errs
}

// winner checks that exactly one of errs is nil and the rest are
// ErrPreconditionFailed, and returns the winner's index.
func winner(t *testing.T, errs []error) int {
	t.Helper()
	won := -1
	for i, err := range errs {
		switch {
		case err == nil && won >= 0:
			t.Fatalf("racers %d and %d both won", won, i)
		case err == nil:
			won = i
		case !errors.Is(err, objectstore.ErrPreconditionFailed):
			t.Fatalf("racer %d: %v, want nil or ErrPreconditionFailed", i, err)
		}
	}
	if won < 0 {
		t.Fatalf("no racer won: %v", errs)
	}
	return won
}

func testPutIfAbsentRace(t *testing.T, b objectstore.Bucket) {
	ctx := ctxOf(t)
	for round := range 3 {
		key := fmt.Sprintf("race/%d", round)
		etags := make([]objectstore.ETag, racers)
		errs := race(func(i int) (err error) {
			etags[i], err = b.PutIfAbsent(ctx, key, fmt.Appendf(nil, "racer %d", i))
			return err
		})
		w := winner(t, errs)
		if info := wantBody(t, b, key, fmt.Appendf(nil, "racer %d", w)); info.ETag != etags[w] {
			t.Fatalf("round %d: ETag %q, winner got %q", round, info.ETag, etags[w])
		}
	}
}

func testPutIfMatchRace(t *testing.T, b objectstore.Bucket) {
	ctx := ctxOf(t)
	etag := mustPut(t, b, "cas", []byte("round 0"))
	for round := 1; round <= 4; round++ {
		from := etag
		etags := make([]objectstore.ETag, racers)
		errs := race(func(i int) (err error) {
			etags[i], err = b.PutIfMatch(ctx, "cas", fmt.Appendf(nil, "round %d racer %d", round, i), from)
			return err
		})
		w := winner(t, errs)
		info := wantBody(t, b, "cas", fmt.Appendf(nil, "round %d racer %d", round, w))
		if info.ETag != etags[w] {
			t.Fatalf("round %d: ETag %q, winner got %q", round, info.ETag, etags[w])
		}
		etag = info.ETag
	}
}

func listKeys(t *testing.T, b objectstore.Bucket, prefix string) []string {
	t.Helper()
	var keys []string
	for info, err := range b.List(ctxOf(t), prefix) {
		if err != nil {
			t.Fatalf("List(%q): %v", prefix, err)
		}
		keys = append(keys, info.Key)
	}
	return keys
}

func testList(t *testing.T, b objectstore.Bucket) {
	ctx := ctxOf(t)
	// The keys cross the edges of a directory walk: '.' (0x2e) sorts before
	// '/' (0x2f), which sorts before '0' (0x30).
	// No key is also the "directory" of another ("a/b" next to "a/b/c"):
	// see objectstore.ValidateKey.
	keys := []string{
		"b", "a.b", "a0", "ab", "a/b.c", "a/b/c", "a/bc", "a/b0", "a-z/1",
		"topics/t1/0/00000000000000000100.seg", "topics/t1/0/00000000000000000000.seg",
		"topics/t1/1/00000000000000000000.seg", "topics/t10/0/00000000000000000000.seg",
	}
	sizes := map[string]int{}
	for i, k := range keys {
		sizes[k] = i
		mustPut(t, b, k, bytes.Repeat([]byte{'x'}, i))
	}
	sorted := slices.Sorted(slices.Values(keys))
	for _, prefix := range []string{"", "a", "a/", "a/b", "a/b/", "a.", "topics/t1", "topics/t1/", "topics/t1/0/0000000000000000010", "x", "b", "b/"} {
		var want []string
		for _, k := range sorted {
			if strings.HasPrefix(k, prefix) {
				want = append(want, k)
			}
		}
		var got []string
		for info, err := range b.List(ctx, prefix) {
			if err != nil {
				t.Fatalf("List(%q): %v", prefix, err)
			}
			got = append(got, info.Key)
			if info.Size != int64(sizes[info.Key]) || info.ETag == "" || info.LastModified.IsZero() {
				t.Errorf("List(%q) yielded %+v, want size %d, an ETag and a time", prefix, info, sizes[info.Key])
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("List(%q) = %q, want %q", prefix, got, want)
		}
	}
	for info, err := range b.List(ctx, "a/b/") {
		if err != nil {
			t.Fatal(err)
		}
		head, err := b.Head(ctx, info.Key)
		if err != nil || head.ETag != info.ETag || head.Size != info.Size {
			t.Errorf("List yielded %+v, Head says %+v, %v", info, head, err)
		}
	}
}

func testListMany(t *testing.T, b objectstore.Bucket) {
	const n = 1100 // more than one page of S3's ListObjectsV2 (1000)
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("many/%x/%05d", i%7, i)
	}
	putAll(t, b, keys)
	mustPut(t, b, "many.", []byte("outside the prefix many/, before it"))
	mustPut(t, b, "manz", []byte("after it"))
	got := listKeys(t, b, "many/")
	if want := slices.Sorted(slices.Values(keys)); !slices.Equal(got, want) {
		t.Fatalf("List(many/) yielded %d keys (first %q), want %d", len(got), got[:min(3, len(got))], len(want))
	}
}

// putAll writes key -> key for every key, a few at a time.
func putAll(t *testing.T, b objectstore.Bucket, keys []string) {
	t.Helper()
	ctx := ctxOf(t)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	sem := make(chan struct{}, 16)
	for _, k := range keys {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if _, err := b.Put(ctx, k, []byte(k)); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("put %d keys: %v", len(keys), err)
	}
}

func testListStopsEarly(t *testing.T, b objectstore.Bucket) {
	ctx := ctxOf(t)
	keys := make([]string, 30)
	for i := range keys {
		keys[i] = fmt.Sprintf("s/%02d", i)
	}
	putAll(t, b, keys)
	var got []string
	for info, err := range b.List(ctx, "s/") {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, info.Key)
		if len(got) == 5 {
			break
		}
	}
	if !slices.Equal(got, keys[:5]) {
		t.Fatalf("first 5 keys = %q", got)
	}
	// The loop body may call the bucket.
	for info, err := range b.List(ctx, "s/") {
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Head(ctx, info.Key); err != nil {
			t.Fatalf("Head inside List: %v", err)
		}
	}
}

func testUnusualKeys(t *testing.T, b objectstore.Bucket) {
	keys := []string{
		"with space/and  two",
		"ünïcödé/日本語/🙂",
		"punct/+%?#&=~!$'()*,;:@[]{}^`|\"<>\\",
		"dots/.hidden/..x/x..",
		"percent/%2F%00%ZZ",
		"trailing.dot.",
		"-dash/_under",
		strings.Repeat("long/", 150) + "end",
		strings.Repeat("s", 200),
	}
	for i, k := range keys {
		mustPut(t, b, k, randomBytes(uint64(100+i), 10+i))
	}
	for i, k := range keys {
		wantBody(t, b, k, randomBytes(uint64(100+i), 10+i))
	}
	if got, want := listKeys(t, b, ""), slices.Sorted(slices.Values(keys)); !slices.Equal(got, want) {
		t.Fatalf("List = %q, want %q", got, want)
	}
	if got := listKeys(t, b, "punct/+%?#"); !slices.Equal(got, []string{keys[2]}) {
		t.Fatalf("List(punct/+%%?#) = %q", got)
	}
	for _, k := range keys {
		if err := b.Delete(ctxOf(t), k); err != nil {
			t.Fatalf("Delete(%q): %v", k, err)
		}
	}
	if got := listKeys(t, b, ""); len(got) != 0 {
		t.Fatalf("List after deleting all = %q", got)
	}
}

func testInvalidKeys(t *testing.T, b objectstore.Bucket) {
	ctx := ctxOf(t)
	for _, k := range []string{
		"", "/abs", "dir/", "a//b", ".", "..", "./a", "a/./b", "a/..", "../escape",
		"nul\x00byte", "tab\tkey", "bad\xffutf8", strings.Repeat("k", objectstore.MaxKeyBytes+1),
	} {
		_, err := b.Put(ctx, k, []byte("x"))
		wantErr(t, fmt.Sprintf("Put(%q)", k), err, objectstore.ErrInvalidKey)
		_, err = b.PutIfAbsent(ctx, k, []byte("x"))
		wantErr(t, fmt.Sprintf("PutIfAbsent(%q)", k), err, objectstore.ErrInvalidKey)
		_, _, err = b.Get(ctx, k)
		wantErr(t, fmt.Sprintf("Get(%q)", k), err, objectstore.ErrInvalidKey)
		err = b.Delete(ctx, k)
		wantErr(t, fmt.Sprintf("Delete(%q)", k), err, objectstore.ErrInvalidKey)
	}
	if got := listKeys(t, b, ""); len(got) != 0 {
		t.Fatalf("invalid keys created objects: %q", got)
	}
}

func testCallerOwnsSlices(t *testing.T, b objectstore.Bucket) {
	ctx := ctxOf(t)
	body := []byte("original")
	mustPut(t, b, "own", body)
	copy(body, "CHANGED!")
	got, _, err := b.Get(ctx, "own")
	if err != nil || string(got) != "original" {
		t.Fatalf("Get after changing Put's slice = %q, %v", got, err)
	}
	copy(got, "mutated!")
	rng, err := b.GetRange(ctx, "own", 0, 4)
	if err != nil {
		t.Fatal(err)
	}
	copy(rng, "XXXX")
	wantBody(t, b, "own", []byte("original"))
}

func testCanceledContext(t *testing.T, b objectstore.Bucket) {
	mustPut(t, b, "c", []byte("x"))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := b.Put(ctx, "c2", []byte("y")); !errors.Is(err, context.Canceled) {
		t.Errorf("Put with a canceled context: %v, want context.Canceled", err)
	}
	if _, _, err := b.Get(ctx, "c"); !errors.Is(err, context.Canceled) {
		t.Errorf("Get with a canceled context: %v, want context.Canceled", err)
	}
	var listErr error
	for _, err := range b.List(ctx, "") {
		listErr = err
		break
	}
	if !errors.Is(listErr, context.Canceled) {
		t.Errorf("List with a canceled context yielded %v first, want context.Canceled", listErr)
	}
}

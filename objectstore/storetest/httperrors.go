package storetest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/strata-io/strata/objectstore"
)

// RunHTTPErrors checks how an S3-protocol backend maps error answers to the
// sentinels, for every S3-compatible backend alike: open must return a
// backend talking to the server at the given "http://host:port" URL. A fake
// server answers each request with a status and an S3 error document; each
// error must be exactly the sentinel expected (or none), and the backend
// must send exactly one request (retrying is objectstore.WithRetry's job,
// not the SDK's). A closed port is ErrUnavailable; a canceled context is
// context.Canceled and not ErrUnavailable.
func RunHTTPErrors(t *testing.T, open func(t *testing.T, url string) objectstore.Bucket) {
	all := []error{objectstore.ErrUnavailable, objectstore.ErrNotExist, objectstore.ErrPreconditionFailed}
	for _, tc := range []struct {
		status int
		code   string
		want   error // nil: none of all
	}{
		{503, "SlowDown", objectstore.ErrUnavailable},
		{503, "ServiceUnavailable", objectstore.ErrUnavailable},
		{500, "InternalError", objectstore.ErrUnavailable},
		{502, "BadGateway", objectstore.ErrUnavailable},
		{429, "TooManyRequests", objectstore.ErrUnavailable},
		{400, "RequestTimeout", objectstore.ErrUnavailable},
		{404, "NoSuchKey", objectstore.ErrNotExist},
		{412, "PreconditionFailed", objectstore.ErrPreconditionFailed},
		{409, "ConditionalRequestConflict", objectstore.ErrPreconditionFailed},
		{403, "AccessDenied", nil},
		{404, "NoSuchBucket", nil},
	} {
		t.Run(fmt.Sprintf("%d %s", tc.status, tc.code), func(t *testing.T) {
			var n atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n.Add(1)
				w.Header().Set("Content-Type", "application/xml")
				w.WriteHeader(tc.status)
				fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>test</Message></Error>`, tc.code)
			}))
			t.Cleanup(srv.Close)
			b := open(t, srv.URL)
			var err error
			if tc.code == "NoSuchKey" {
				_, _, err = b.Get(t.Context(), "k")
			} else {
				_, err = b.PutIfAbsent(t.Context(), "k", []byte("x"))
			}
			for _, sentinel := range all {
				if got := errors.Is(err, sentinel); got != (sentinel == tc.want) {
					t.Errorf("errors.Is(%v, %v) = %v", err, sentinel, got)
				}
			}
			if n.Load() != 1 {
				t.Errorf("%d requests: the backend retried", n.Load())
			}
		})
	}
	t.Run("ClosedPortIsUnavailable", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		b := open(t, "http://"+addr)
		if _, err := b.Head(t.Context(), "k"); !errors.Is(err, objectstore.ErrUnavailable) {
			t.Fatalf("Head on a closed port: %v, want ErrUnavailable", err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := b.Head(ctx, "k"); errors.Is(err, objectstore.ErrUnavailable) || !errors.Is(err, context.Canceled) {
			t.Fatalf("Head with a canceled context: %v, want context.Canceled and not ErrUnavailable", err)
		}
	})
}

package minio_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/strata-io/strata/objectstore"
	"github.com/strata-io/strata/objectstore/minio"
)

// fakeS3 answers every request with status and an S3 error document of
// code, and counts the requests.
func fakeS3(t *testing.T, status int, code string) (*minio.Bucket, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(status)
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>test</Message></Error>`, code)
	}))
	t.Cleanup(srv.Close)
	return open(t, strings.TrimPrefix(srv.URL, "http://")), &n
}

func open(t *testing.T, endpoint string) *minio.Bucket {
	t.Helper()
	b, err := minio.New(minio.Config{
		Endpoint: endpoint, Bucket: "bkt", Region: "us-east-1",
		Credentials: credentials.NewStaticV4("k", "s", ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestErrorsMapToSentinels(t *testing.T) {
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
			b, n := fakeS3(t, tc.status, tc.code)
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
				t.Errorf("%d requests: minio-go retried", n.Load())
			}
		})
	}
}

func TestConnectionRefusedIsUnavailable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	b := open(t, addr)
	if _, err := b.Head(t.Context(), "k"); !errors.Is(err, objectstore.ErrUnavailable) {
		t.Fatalf("Head on a closed port: %v, want ErrUnavailable", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := b.Head(ctx, "k"); errors.Is(err, objectstore.ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Head with a canceled context: %v, want context.Canceled and not ErrUnavailable", err)
	}
}

package bucketurl_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/strata-io/strata/internal/miniotest"
	"github.com/strata-io/strata/internal/testcert"
	"github.com/strata-io/strata/objectstore"
	"github.com/strata-io/strata/objectstore/bucketurl"
)

// The child mode of TestOpenOverHTTPS: the test binary re-executed with
// tlsChildEnv=1 opens tlsChildURLEnv and checks that it behaves as
// tlsChildWantEnv says.
const (
	tlsChildEnv     = "STRATA_TLS_CHILD"
	tlsChildURLEnv  = "STRATA_TLS_CHILD_URL"
	tlsChildWantEnv = "STRATA_TLS_CHILD_WANT"
)

// What a child expects of its bucket.
const (
	wantWorks     = "works"      // every operation succeeds
	wantCertError = "cert-error" // every operation fails verifying the server's certificate
	wantPlainHTTP = "plain-http" // the client speaks HTTP to the HTTPS server and fails
)

// TestOpenOverHTTPS opens s3:// and minio:// URLs of a MinIO that serves
// only HTTPS, with a certificate from a private CA, and checks that both
// backends reach it over TLS and verify its certificate: with the CA
// trusted the way an operator trusts one (SSL_CERT_FILE) put, get, ranged
// get, list and delete work; without it each fails with a certificate
// error that is not marked transient (objectstore.ErrUnavailable), since
// retrying cannot help; minio://…?secure=false and an s3 URL with an http://
// endpoint, which speak plain HTTP, fail too.
//
// Go loads the system pool, and reads SSL_CERT_FILE, once per process, so
// each case runs in a child process: this test binary, re-executed with
// STRATA_TLS_CHILD=1.
func TestOpenOverHTTPS(t *testing.T) {
	if os.Getenv(tlsChildEnv) == "1" {
		tlsChild(t)
		return
	}
	certs := testcert.New(t, "unused")
	srv := miniotest.StartTLS(t, certs)
	for _, tc := range []struct {
		name    string
		url     func(bucket string) string
		trustCA bool
		want    string
	}{
		{"s3 with the CA trusted", func(b string) string { return srv.BucketURL("s3", b, "strata") }, true, wantWorks},
		{"minio with the CA trusted", func(b string) string { return srv.BucketURL("minio", b, "strata") }, true, wantWorks},
		{"minio secure=true with the CA trusted", func(b string) string { return srv.BucketURL("minio", b, "strata") + "?secure=true" }, true, wantWorks},
		{"s3 without the CA", func(b string) string { return srv.BucketURL("s3", b, "strata") }, false, wantCertError},
		{"minio without the CA", func(b string) string { return srv.BucketURL("minio", b, "strata") }, false, wantCertError},
		{"minio secure=false", func(b string) string { return srv.BucketURL("minio", b, "strata") + "?secure=false" }, true, wantPlainHTTP},
		{"s3 http endpoint", func(b string) string {
			return strings.Replace(srv.BucketURL("s3", b, "strata"), "https%3A", "http%3A", 1)
		}, true, wantPlainHTTP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := tc.url(srv.NewBucket(t))
			env := []string{tlsChildEnv + "=1", tlsChildURLEnv + "=" + raw, tlsChildWantEnv + "=" + tc.want}
			env = append(env, srv.Env()...)
			if tc.trustCA {
				env = append(env, "SSL_CERT_FILE="+certs.CAFile)
			}
			for _, kv := range os.Environ() {
				k, _, _ := strings.Cut(kv, "=")
				if !strings.HasPrefix(k, "AWS_") && !strings.HasPrefix(k, "MINIO_") &&
					!strings.HasPrefix(k, "SSL_CERT_") && !strings.HasPrefix(k, "STRATA_TLS_CHILD") {
					env = append(env, kv)
				}
			}
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestOpenOverHTTPS$", "-test.v")
			cmd.Env = env
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("child for %s (%s): %v\n%s", raw, tc.want, err, out)
			}
			if !strings.Contains(string(out), "tls child: "+tc.want+" confirmed") {
				t.Fatalf("child for %s (%s) did not confirm:\n%s", raw, tc.want, out)
			}
		})
	}
}

// tlsChild is TestOpenOverHTTPS in a child process.
func tlsChild(t *testing.T) {
	ctx := t.Context()
	raw, want := os.Getenv(tlsChildURLEnv), os.Getenv(tlsChildWantEnv)
	b, err := bucketurl.Open(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	switch want {
	case wantWorks:
		checkWorks(ctx, t, b)
	case wantCertError:
		checkEachOp(ctx, t, b, func(op string, err error) {
			var verr *tls.CertificateVerificationError
			var unknown x509.UnknownAuthorityError
			if !errors.As(err, &verr) || !errors.As(err, &unknown) {
				t.Errorf("%s without the CA: %v, want an unknown-authority certificate error", op, err)
			}
			if errors.Is(err, objectstore.ErrUnavailable) {
				t.Errorf("%s without the CA: %v is marked transient; retrying cannot fix it", op, err)
			}
		})
	case wantPlainHTTP:
		checkEachOp(ctx, t, b, func(op string, err error) {
			// A Get of the missing key or a List of the empty bucket that
			// got through would say ErrNotExist or nothing.
			if err == nil || errors.Is(err, objectstore.ErrNotExist) {
				t.Errorf("%s over plain HTTP to the HTTPS server: %v, want a failure to get through", op, err)
			}
			t.Logf("%s over plain HTTP: %v", op, err)
		})
	default:
		t.Fatalf("%s=%q", tlsChildWantEnv, want)
	}
	if !t.Failed() {
		t.Logf("tls child: %s confirmed", want)
	}
}

func checkWorks(ctx context.Context, t *testing.T, b objectstore.Bucket) {
	t.Helper()
	if _, err := b.Put(ctx, "a", []byte("hello over tls")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(ctx, "b", []byte("second")); err != nil {
		t.Fatal(err)
	}
	if body, _, err := b.Get(ctx, "a"); err != nil || string(body) != "hello over tls" {
		t.Fatalf("Get = %q, %v", body, err)
	}
	if body, err := b.GetRange(ctx, "a", 11, 3); err != nil || string(body) != "tls" {
		t.Fatalf("GetRange = %q, %v", body, err)
	}
	if keys := listKeys(ctx, t, b); !slices.Equal(keys, []string{"a", "b"}) {
		t.Fatalf("List = %q", keys)
	}
	if err := b.Delete(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Get(ctx, "a"); !errors.Is(err, objectstore.ErrNotExist) {
		t.Fatalf("Get after Delete = %v", err)
	}
	if keys := listKeys(ctx, t, b); !slices.Equal(keys, []string{"b"}) {
		t.Fatalf("List after Delete = %q", keys)
	}
}

func listKeys(ctx context.Context, t *testing.T, b objectstore.Bucket) []string {
	t.Helper()
	var keys []string
	for info, err := range b.List(ctx, "") {
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		keys = append(keys, info.Key)
	}
	return keys
}

// checkEachOp makes each kind of call once and hands its error to check.
func checkEachOp(ctx context.Context, t *testing.T, b objectstore.Bucket, check func(op string, err error)) {
	t.Helper()
	_, err := b.Put(ctx, "a", []byte("x"))
	check("Put", err)
	_, _, err = b.Get(ctx, "a")
	check("Get", err)
	_, err = b.GetRange(ctx, "a", 0, 1)
	check("GetRange", err)
	for _, err = range b.List(ctx, "") {
		break
	}
	check("List", err)
	check("Delete", b.Delete(ctx, "a"))
}
